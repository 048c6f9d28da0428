//! SCIM resources as JSON: a member as a User (the mapping in
//! `docs/scim.md`), the discovery documents, and the `attributes` /
//! `excludedAttributes` projection.

use serde_json::{Map, Value, json};

use crate::domain::scim_filter::boolean;
use crate::service::{MemberView, SCIM_MAX_RESULTS};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The membership attributes that carry the enterprise extension: SCIM
/// name, attribute key.
pub const ENTERPRISE_KEYS: [(&str, &str); 5] = [
    ("employeeNumber", "employeeNumber"),
    ("department", "department"),
    ("costCenter", "costCenter"),
    ("organization", "organization"),
    ("division", "division"),
];
/// The attribute key of `manager.value`.
pub const MANAGER_KEY: &str = "manager";

/// The weak ETag of a version (`meta.version` and the `ETag` header).
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

fn time(t: chrono::NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A member as a SCIM User, as the org sees them.
pub fn user(member: &MemberView, base: &str) -> Value {
    let (u, m) = (&member.user, &member.membership);
    let id = u.id.to_string();
    let mut schemas = vec![json!(USER_SCHEMA)];
    let mut user = json!({
        "id": id,
        "userName": m.idp_user_name.as_deref().unwrap_or(&u.email),
        "name": {
            "givenName": u.first_name,
            "familyName": u.last_name,
        },
        "displayName": u.name,
        "emails": [{ "value": u.email, "type": "work", "primary": true }],
        "active": m.status.as_str() == "active",
        "roles": [{ "value": m.role.as_str(), "primary": true }],
        "groups": member.groups.iter().map(|g| json!({
            "value": g.id.to_string(),
            "display": g.name,
            "$ref": format!("{base}/Groups/{}", g.id),
        })).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "User",
            "created": time(m.created_at),
            "lastModified": time(m.updated_at),
            "location": format!("{base}/Users/{id}"),
            "version": etag(m.version),
        },
    });
    if let Some(external_id) = &m.external_id {
        user["externalId"] = json!(external_id);
    }
    if let Some(mobile) = &u.mobile {
        user["phoneNumbers"] = json!([{ "value": mobile, "type": "mobile" }]);
    }
    if let Some(locale) = &u.locale {
        user["locale"] = json!(locale);
    }
    if let Some(timezone) = &u.timezone {
        user["timezone"] = json!(timezone);
    }
    let mut enterprise = Map::new();
    for (scim, key) in ENTERPRISE_KEYS {
        if let Some(value) = m.attributes.get(key).filter(|v| !v.is_null()) {
            enterprise.insert(scim.into(), value.clone());
        }
    }
    if let Some(manager) = m.attributes.get(MANAGER_KEY).filter(|v| !v.is_null()) {
        enterprise.insert("manager".into(), json!({ "value": manager }));
    }
    if !enterprise.is_empty() {
        schemas.push(json!(ENTERPRISE_SCHEMA));
        user[ENTERPRISE_SCHEMA] = Value::Object(enterprise);
    }
    user["schemas"] = Value::Array(schemas);
    user
}

/// Which attributes an answer holds (RFC 7644 §3.4.2.5): `id`, `schemas`
/// and `meta` always.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    only: Vec<String>,
    excluded: Vec<String>,
}

impl Projection {
    pub fn new(only: Vec<String>, excluded: Vec<String>) -> Self {
        Self { only, excluded }
    }

    /// The top-level attribute a (lower-cased) path names: an extension's
    /// URN names its whole object.
    fn top(path: &str) -> &str {
        let extension = ENTERPRISE_SCHEMA.to_ascii_lowercase();
        if path.starts_with(&extension) {
            return &path[..extension.len()];
        }
        let path = Self::unqualified(path);
        path.split('.').next().unwrap_or(path)
    }

    /// Whether `attributes` names `path` (or its top-level attribute):
    /// what an attribute returned only on request needs.
    pub fn asks_for(&self, path: &str) -> bool {
        self.only.iter().any(|p| {
            let p = Self::unqualified(p);
            p == path || p == Self::top(path)
        })
    }

    /// A path without the core schema's URN in front.
    fn unqualified(path: &str) -> &str {
        path.strip_prefix(&USER_SCHEMA.to_ascii_lowercase())
            .or_else(|| path.strip_prefix(&GROUP_SCHEMA.to_ascii_lowercase()))
            .map(|p| p.trim_start_matches(':'))
            .unwrap_or(path)
    }

    /// Whether the answer will hold the top-level attribute `name`.
    pub fn wants(&self, name: &str) -> bool {
        if !self.only.is_empty() {
            return self.only.iter().any(|p| Self::top(p) == name);
        }
        !self.excluded.iter().any(|p| Self::top(p) == name)
    }

    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(fields) = resource else {
            return resource;
        };
        let always = |k: &str| matches!(k, "id" | "schemas" | "meta");
        let kept = fields
            .into_iter()
            .filter(|(k, _)| always(k) || self.wants(&k.to_ascii_lowercase()))
            .collect();
        Value::Object(kept)
    }
}

pub fn service_provider_config(base: &str, max_payload: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": super::MAX_BULK_OPERATIONS,
            "maxPayloadSize": max_payload,
        },
        "filter": { "supported": true, "maxResults": SCIM_MAX_RESULTS },
        "changePassword": { "supported": false },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "An org's API token with the scim scope",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A group of the org",
            "schema": GROUP_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") },
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A member of the org",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_SCHEMA, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") },
        }),
    ]
}

fn attribute(name: &str, kind: &str, multi: bool, mutability: &str, subs: Vec<Value>) -> Value {
    let mut a = json!({
        "name": name,
        "type": kind,
        "multiValued": multi,
        // Every member has an email: from emails, or a userName that is one.
        "required": name == "userName" || name == "emails",
        "caseExact": name == "externalId" || name == "id",
        "mutability": mutability,
        "returned": "default",
        "uniqueness": if name == "userName" { "server" } else { "none" },
    });
    if !subs.is_empty() {
        a["subAttributes"] = Value::Array(subs);
    }
    a
}

/// Suggested locales (`canonicalValues`); any BCP 47 tag is taken.
const COMMON_LOCALES: [&str; 40] = [
    "en-US", "en-GB", "en-CA", "en-AU", "en-IN", "de-DE", "de-AT", "de-CH", "fr-FR", "fr-CA",
    "fr-BE", "es-ES", "es-MX", "it-IT", "nl-NL", "nl-BE", "pt-BR", "pt-PT", "sv-SE", "da-DK",
    "nb-NO", "fi-FI", "pl-PL", "cs-CZ", "hu-HU", "ro-RO", "el-GR", "tr-TR", "ru-RU", "uk-UA",
    "he-IL", "ar-SA", "hi-IN", "ja-JP", "ko-KR", "zh-CN", "zh-TW", "th-TH", "id-ID", "vi-VN",
];

pub fn schemas(base: &str) -> Vec<Value> {
    let s = |name: &str| attribute(name, "string", false, "readWrite", vec![]);
    let with_values = |name: &str, values: Value| {
        let mut a = s(name);
        a["canonicalValues"] = values;
        a
    };
    // Required: what every member has (create defaults role and active).
    let required = |mut a: Value| {
        a["required"] = json!(true);
        a
    };
    let reference = |to: &str, mutability: &str| {
        let mut a = attribute("$ref", "reference", false, mutability, vec![]);
        a["referenceTypes"] = json!([to]);
        a
    };
    // Derived here: the display name, and the one email or role.
    let read_only = |name: &str, kind: &str| attribute(name, kind, false, "readOnly", vec![]);
    // A member's one email and one role are primary.
    let mut primary = attribute("primary", "boolean", false, "readWrite", vec![]);
    primary["canonicalValues"] = json!(["true"]);
    let mut display = read_only("display", "string");
    display["returned"] = json!("request");
    let role_value = with_values("value", json!(["user", "admin"]));
    // What Roster takes: BCP 47 tags and IANA time zone names.
    let locale = with_values("locale", json!(&COMMON_LOCALES[..]));
    let timezone = with_values(
        "timezone",
        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect(),
    );
    let mut display_name = s("displayName");
    display_name["required"] = json!(true);
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": USER_SCHEMA,
        "name": "User",
        "description": "A member of the org",
        "attributes": [
            s("userName"),
            s("externalId"),
            required(attribute("name", "complex", false, "readWrite", vec![required(s("givenName")), s("familyName")])),
            required(s("displayName")),
            attribute("emails", "complex", true, "readWrite", vec![required(s("value")), with_values("type", json!(["work"])), primary.clone()]),
            attribute("phoneNumbers", "complex", true, "readWrite", vec![s("value"), with_values("type", json!(["mobile"]))]),
            locale,
            timezone,
            required(attribute("active", "boolean", false, "readWrite", vec![])),
            required(attribute("roles", "complex", true, "readWrite", vec![required(role_value), primary])),
            attribute("groups", "complex", true, "readOnly", vec![s("value"), s("display"), reference("Group", "readOnly")]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}") },
    });
    let mut enterprise_attributes: Vec<Value> = ENTERPRISE_KEYS.iter().map(|(n, _)| s(n)).collect();
    enterprise_attributes.push(attribute(
        "manager",
        "complex",
        false,
        "readWrite",
        vec![s("value")],
    ));
    let enterprise = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": ENTERPRISE_SCHEMA,
        "name": "EnterpriseUser",
        "description": "Enterprise attributes, kept as the membership's attributes",
        "attributes": enterprise_attributes,
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{ENTERPRISE_SCHEMA}") },
    });
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A group of the org",
        "attributes": [
            display_name,
            s("externalId"),
            attribute("members", "complex", true, "readWrite", vec![s("value"), display, with_values("type", json!(["User"])), reference("User", "immutable")]),
        ],
        "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}") },
    });
    vec![user, enterprise, group]
}

/// Why a User body cannot be taken: SCIM's `scimType` and a sentence.
#[derive(Debug, Clone)]
pub struct BadUser(pub &'static str, pub String);

/// The value of a multi-valued attribute to use: the primary one, else
/// the one of `kind`, else the first.
fn pick<'a>(list: Option<&'a Value>, kind: &str) -> Option<&'a Value> {
    let items = list?.as_array()?;
    let get = |item: &'a Value, name: &str| super::patch::get_ci(item, name);
    items
        .iter()
        .find(|i| get(i, "primary").and_then(boolean) == Some(true))
        .or_else(|| {
            items.iter().find(|i| {
                get(i, "type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case(kind))
            })
        })
        .or_else(|| items.first())
        .and_then(|i| get(i, "value"))
}

/// The email a User's `emails` holds (the primary, else the work one, else
/// the first).
pub fn picked_email(user: &Value) -> Option<String> {
    pick(super::patch::get_ci(user, "emails"), "work")
        .and_then(Value::as_str)
        .filter(|e| !e.trim().is_empty())
        .map(str::to_owned)
}

/// A User body as a member record. With `replace` (PUT, and PATCH once
/// applied), what is left out is cleared where it can be: `externalId`,
/// phone, locale, time zone and the enterprise attributes; `active`,
/// roles and names stay as they are. `current` is the membership's
/// attributes, of which the enterprise keys are replaced and the rest
/// kept.
pub fn record_from_user(
    body: &Value,
    replace: bool,
    current: Option<&Value>,
) -> Result<crate::service::MemberRecord, BadUser> {
    use super::patch::get_ci;
    let bad = |detail: String| BadUser("invalidValue", detail);
    if !body.is_object() {
        return Err(BadUser(
            "invalidSyntax",
            "a User must be a JSON object".into(),
        ));
    }
    let text = |name: &str| -> Result<Option<String>, BadUser> {
        match get_ci(body, name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!("{name} must be a string"))),
        }
    };
    let cleared = |value: Option<String>| match value {
        None if replace => Some(String::new()),
        other => other,
    };
    let name = get_ci(body, "name");
    let name_part = |part: &str| {
        name.and_then(|n| get_ci(n, part))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    // The email is the one `emails` gives, else a userName that is an
    // email; a userName that is not the email is kept beside it.
    let user_name = text("userName")?;
    let email = picked_email(body).or_else(|| {
        user_name
            .clone()
            .filter(|n| crate::domain::Email::parse(n).is_ok())
    });
    if !replace && email.is_none() {
        return Err(bad(
            "a User needs an email: a userName that is one, or a value in emails".into(),
        ));
    }
    let idp_user_name = user_name.map(|n| match &email {
        Some(e) if e.trim().eq_ignore_ascii_case(n.trim()) => String::new(),
        _ => n,
    });
    // Okta sends locales as en_US, and RFC 3966 numbers start with tel:.
    let mobile = pick(get_ci(body, "phoneNumbers"), "mobile")
        .and_then(Value::as_str)
        .map(|m| m.strip_prefix("tel:").unwrap_or(m).to_owned());
    let locale = text("locale")?.map(|l| l.replace('_', "-"));
    let status = match get_ci(body, "active") {
        None | Some(Value::Null) => None,
        Some(v) => Some(match boolean(v) {
            Some(true) => crate::domain::MemberStatus::Active,
            Some(false) => crate::domain::MemberStatus::Retired,
            None => return Err(bad("active must be true or false".into())),
        }),
    };
    let role = match pick(get_ci(body, "roles"), "").and_then(Value::as_str) {
        None => None,
        Some(r) => Some(crate::domain::Role::parse(r).map_err(|_| {
            bad(format!(
                "roles holds \"{r}\"; a member's role is user or admin"
            ))
        })?),
    };
    // The enterprise extension, as attributes under fixed keys.
    let extension = get_ci(body, ENTERPRISE_SCHEMA);
    let mut attributes = current
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut touched = false;
    for (scim, key) in ENTERPRISE_KEYS {
        match extension.and_then(|e| get_ci(e, scim)) {
            Some(Value::Null) | None if replace => {
                touched |= attributes.remove(key).is_some();
            }
            None => {}
            Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                attributes.insert(key.into(), value.clone());
                touched = true;
            }
            Some(Value::Null) => {}
            Some(_) => return Err(bad(format!("{scim} must be a string"))),
        }
    }
    let manager = extension
        .and_then(|e| get_ci(e, "manager"))
        .map(|m| get_ci(m, "value").cloned().unwrap_or_else(|| m.clone()));
    match manager {
        Some(Value::String(id)) => {
            attributes.insert(MANAGER_KEY.into(), Value::String(id));
            touched = true;
        }
        None | Some(Value::Null) if replace => {
            touched |= attributes.remove(MANAGER_KEY).is_some();
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(bad("manager.value must be a string".into())),
    }
    Ok(crate::service::MemberRecord {
        email,
        external_id: cleared(text("externalId")?),
        first_name: name_part("givenName"),
        last_name: name_part("familyName"),
        name: text("displayName")?.or_else(|| name_part("formatted")),
        mobile: cleared(mobile),
        locale: cleared(locale),
        timezone: cleared(text("timezone")?),
        role,
        status,
        attributes: (touched || (!replace && !attributes.is_empty()))
            .then_some(Value::Object(attributes).into()),
        groups: None,
        send_invite: false,
        user_id: None,
        idp_user_name,
    })
}

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A group as a SCIM Group; `members` only when they were loaded, and
/// their `display` (returned on request) only with `display`.
pub fn group(group: &crate::service::ScimGroup, base: &str, display: bool) -> Value {
    let g = &group.group;
    let id = g.id.to_string();
    let mut value = json!({
        "schemas": [GROUP_SCHEMA],
        "id": id,
        "displayName": g.name,
        "meta": {
            "resourceType": "Group",
            "created": time(g.created_at),
            "lastModified": time(g.updated_at),
            "location": format!("{base}/Groups/{id}"),
            "version": etag(g.version),
        },
    });
    if let Some(external_id) = &g.external_id {
        value["externalId"] = json!(external_id);
    }
    if let Some(members) = &group.members {
        value["members"] = members
            .iter()
            .map(|(user, name)| {
                let mut member = json!({
                    "value": user.to_string(),
                    "type": "User",
                    "$ref": format!("{base}/Users/{user}"),
                });
                if display {
                    member["display"] = json!(name);
                }
                member
            })
            .collect();
    }
    value
}

/// A Group body as what the group becomes. With `replace`, a missing
/// `externalId` clears it; `members` left out stay as they are unless
/// `replace` (then there are none).
pub fn group_input(body: &Value, replace: bool) -> Result<crate::service::ScimGroupInput, BadUser> {
    use super::patch::get_ci;
    let bad = |detail: &str| BadUser("invalidValue", detail.to_owned());
    if !body.is_object() {
        return Err(BadUser(
            "invalidSyntax",
            "a Group must be a JSON object".into(),
        ));
    }
    let display_name = get_ci(body, "displayName")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("displayName is required"))?
        .to_owned();
    let external_id = match get_ci(body, "externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("externalId must be a string")),
    };
    let members = match get_ci(body, "members") {
        None | Some(Value::Null) if replace => Some(Vec::new()),
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|m| {
                    get_ci(m, "value")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| bad("each member needs a value (a user id)"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(bad("members must be a list")),
    };
    Ok(crate::service::ScimGroupInput {
        display_name,
        external_id,
        members,
    })
}
