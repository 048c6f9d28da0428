//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON: `add`,
//! `replace` and `remove`, any case; with a path (`name.givenName`,
//! `emails[type eq "work"].value`, an extension URN) or without one (an
//! object whose keys may be dotted or URN-prefixed, as Entra sends). The
//! result is then written like a PUT, so that one set of rules decides what
//! a User may become.

use serde_json::{Map, Value};

use crate::domain::scim_filter::{self, AttrPath, CompareOp, Filter};

/// Why a PATCH cannot be applied: SCIM's `scimType` and a sentence.
#[derive(Debug, Clone)]
pub struct PatchError(pub &'static str, pub String);

fn invalid(scim_type: &'static str, detail: impl Into<String>) -> PatchError {
    PatchError(scim_type, detail.into())
}

const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Applies a PatchOp body to `doc`. `single` names the multi-valued
/// attributes that hold one value here (a User's one email, phone and
/// role): `add` to them replaces, as for a single-valued attribute.
/// `kept` names the attributes a resource always has here (a User's
/// names, a Group's name): removing them is `mutability`, not a silent
/// no-op.
pub fn apply(
    doc: &mut Value,
    body: &Value,
    extension_urns: &[&str],
    single: &[&str],
    kept: &[&str],
) -> Result<(), PatchError> {
    if let Some(schemas) = body.get("schemas").and_then(Value::as_array)
        && !schemas.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA))
    {
        return Err(invalid("invalidSyntax", "a PATCH needs the PatchOp schema"));
    }
    let operations = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("invalidSyntax", "a PATCH needs Operations"))?;
    for operation in operations {
        let op = match get_ci(operation, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
        {
            Some(op) if op == "add" => Op::Add,
            Some(op) if op == "replace" => Op::Replace,
            Some(op) if op == "remove" => Op::Remove,
            _ => {
                return Err(invalid(
                    "invalidSyntax",
                    "op must be add, replace or remove",
                ));
            }
        };
        let value = get_ci(operation, "value").cloned();
        // Adding to an attribute that holds one value here replaces it.
        let op_for = |path: &str| {
            let plain = !path.contains('[') && !path.contains('.');
            if op == Op::Add && plain && single.iter().any(|s| s.eq_ignore_ascii_case(path)) {
                Op::Replace
            } else {
                op
            }
        };
        let path_text = get_ci(operation, "path")
            .and_then(Value::as_str)
            .map(str::trim);
        if op == Op::Remove
            && let Some(path) = path_text
        {
            let plain = path.split(['[', '.']).next().unwrap_or(path);
            let name = plain.rsplit(':').next().unwrap_or(plain);
            if kept.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                return Err(invalid(
                    "mutability",
                    format!("{name} cannot be removed: it always has a value here"),
                ));
            }
        }
        match path_text {
            Some(path) if !path.trim().is_empty() => {
                apply_path(doc, op_for(path.trim()), path.trim(), value, extension_urns)?
            }
            _ => {
                if op == Op::Remove {
                    return Err(invalid("noTarget", "remove needs a path"));
                }
                let Some(Value::Object(fields)) = value else {
                    return Err(invalid(
                        "invalidValue",
                        "an operation without a path needs an object value",
                    ));
                };
                for (key, value) in fields {
                    apply_path(doc, op_for(&key), &key, Some(value), extension_urns)?;
                }
            }
        }
    }
    Ok(())
}

/// A field of an object, by name, ignoring case.
pub fn get_ci<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The key of `name` in `object` (its own spelling), if present.
fn key_ci(object: &Map<String, Value>, name: &str) -> Option<String> {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// The object a path's attribute lives in: the resource, or an extension's
/// object (created when needed).
fn container<'a>(
    doc: &'a mut Value,
    uri: Option<&str>,
    extension_urns: &[&str],
) -> Result<&'a mut Map<String, Value>, PatchError> {
    let root = doc
        .as_object_mut()
        .ok_or_else(|| invalid("invalidSyntax", "the resource is not an object"))?;
    let Some(uri) = uri else {
        return Ok(root);
    };
    let Some(urn) = extension_urns.iter().find(|u| u.eq_ignore_ascii_case(uri)) else {
        // The core schema's own URN names the resource itself.
        if uri.starts_with("urn:ietf:params:scim:schemas:core:") {
            return Ok(root);
        }
        return Err(invalid(
            "invalidPath",
            format!("{uri} is not a schema of this resource"),
        ));
    };
    let key = key_ci(root, urn).unwrap_or_else(|| (*urn).to_owned());
    let entry = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    Ok(entry.as_object_mut().expect("made an object just above"))
}

fn apply_path(
    doc: &mut Value,
    op: Op,
    path_text: &str,
    value: Option<Value>,
    extension_urns: &[&str],
) -> Result<(), PatchError> {
    // A whole extension, as a key: merge its object.
    if let Some(urn) = extension_urns
        .iter()
        .find(|u| u.eq_ignore_ascii_case(path_text))
    {
        let target = container(doc, Some(urn), extension_urns)?;
        match (op, value) {
            (Op::Remove, _) => target.clear(),
            (_, Some(Value::Object(fields))) => {
                for (k, v) in fields {
                    let key = key_ci(target, &k).unwrap_or(k);
                    target.insert(key, v);
                }
            }
            _ => return Err(invalid("invalidValue", format!("{urn} takes an object"))),
        }
        return Ok(());
    }
    let (path, filter, sub_after) = parse_target(path_text)?;
    let target = container(doc, path.uri.as_deref(), extension_urns)?;
    let key = key_ci(target, &path.name).unwrap_or_else(|| camel(&path.name));
    let Some(filter) = filter else {
        // `attr` or `attr.sub`.
        match (path.sub.as_deref(), op) {
            // `remove` with the values to remove (Entra sends a list, some
            // send one object): only those go, never all of them.
            (None, Op::Remove) if value.as_ref().is_some_and(|v| !v.is_null()) => {
                let listed = match value {
                    Some(Value::Array(items)) => items,
                    Some(item @ Value::Object(_)) => vec![item],
                    _ => {
                        return Err(invalid(
                            "invalidValue",
                            "a remove's value lists the values to remove",
                        ));
                    }
                };
                let gone: Vec<String> = listed
                    .iter()
                    .filter_map(|v| get_ci(v, "value").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect();
                if let Some(Value::Array(items)) = target.get_mut(&key) {
                    items.retain(|item| {
                        get_ci(item, "value")
                            .and_then(Value::as_str)
                            .is_none_or(|v| !gone.iter().any(|g| g == v))
                    });
                }
            }
            (None, Op::Remove) => {
                target.remove(&key);
            }
            (None, Op::Add) if target.get(&key).is_some_and(Value::is_array) => {
                let list = target
                    .get_mut(&key)
                    .and_then(Value::as_array_mut)
                    .expect("an array");
                match value {
                    Some(Value::Array(items)) => list.extend(items),
                    Some(item) => list.push(item),
                    None => return Err(invalid("invalidValue", "add needs a value")),
                }
            }
            (None, _) => {
                let value = value.ok_or_else(|| invalid("invalidValue", "a value is needed"))?;
                target.insert(key, value);
            }
            (Some(sub), op) => {
                let parent = target
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                let Some(parent) = parent.as_object_mut() else {
                    return Err(invalid(
                        "invalidPath",
                        format!("{} has no sub-attributes", path.name),
                    ));
                };
                let sub_key = key_ci(parent, sub).unwrap_or_else(|| camel(sub));
                if op == Op::Remove {
                    parent.remove(&sub_key);
                } else {
                    let value =
                        value.ok_or_else(|| invalid("invalidValue", "a value is needed"))?;
                    parent.insert(sub_key, value);
                }
            }
        }
        return Ok(());
    };
    // `attr[filter]` or `attr[filter].sub`: the matching values.
    let Some(Value::Array(items)) = target.get_mut(&key) else {
        if op == Op::Remove {
            return Ok(());
        }
        // Nothing matches yet: add the value, with what the filter fixes.
        let mut item = match value {
            Some(Value::Object(fields)) => fields,
            Some(v) if sub_after.is_some() => {
                let mut m = Map::new();
                m.insert(camel(sub_after.as_deref().unwrap_or("value")), v);
                m
            }
            _ => return Err(invalid("noTarget", format!("nothing matches {path_text}"))),
        };
        fixed_by(&filter, &mut item);
        target.insert(key, Value::Array(vec![Value::Object(item)]));
        return Ok(());
    };
    let matching: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| matches(&filter, item))
        .map(|(i, _)| i)
        .collect();
    match (op, sub_after.as_deref()) {
        (Op::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !matching.contains(&i);
                i += 1;
                keep
            });
        }
        (Op::Remove, Some(sub)) => {
            for &i in &matching {
                if let Some(object) = items[i].as_object_mut()
                    && let Some(k) = key_ci(object, sub)
                {
                    object.remove(&k);
                }
            }
        }
        (_, None) => {
            let value = value.ok_or_else(|| invalid("invalidValue", "a value is needed"))?;
            for &i in &matching {
                items[i] = value.clone();
            }
            if matching.is_empty() {
                items.push(value);
            }
        }
        (_, Some(sub)) => {
            let value = value.ok_or_else(|| invalid("invalidValue", "a value is needed"))?;
            if matching.is_empty() {
                let mut item = Map::new();
                item.insert(camel(sub), value);
                fixed_by(&filter, &mut item);
                items.push(Value::Object(item));
            } else {
                for &i in &matching {
                    if let Some(object) = items[i].as_object_mut() {
                        let k = key_ci(object, sub).unwrap_or_else(|| camel(sub));
                        object.insert(k, value.clone());
                    }
                }
            }
        }
    }
    Ok(())
}

/// Splits a PATCH path into the attribute, its value filter and the
/// sub-attribute after the filter.
fn parse_target(text: &str) -> Result<(AttrPath, Option<Filter>, Option<String>), PatchError> {
    let bad = |e: scim_filter::FilterError| invalid("invalidPath", e.0);
    let Some(open) = text.find('[') else {
        return Ok((scim_filter::parse_path(text).map_err(bad)?, None, None));
    };
    let close = text
        .rfind(']')
        .filter(|c| *c > open)
        .ok_or_else(|| invalid("invalidPath", "a \"[\" in the path is not closed"))?;
    let path = scim_filter::parse_path(&text[..open]).map_err(bad)?;
    let filter = scim_filter::parse(&text[open + 1..close]).map_err(bad)?;
    let rest = text[close + 1..].trim();
    let sub = match rest.strip_prefix('.') {
        Some(sub) if !sub.is_empty() && !sub.contains('.') => Some(sub.to_ascii_lowercase()),
        None if rest.is_empty() => None,
        _ => return Err(invalid("invalidPath", format!("\"{text}\" is not a path"))),
    };
    Ok((path, Some(filter), sub))
}

/// What an `eq` filter fixes on a value added because none matched
/// (`emails[type eq "work"].value` adds `{type: work, value: …}`).
fn fixed_by(filter: &Filter, item: &mut Map<String, Value>) {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } => {
            let name = path.sub.as_deref().unwrap_or(&path.name);
            if key_ci(item, name).is_none() {
                item.insert(camel(name), value.clone());
            }
        }
        Filter::And(a, b) => {
            fixed_by(a, item);
            fixed_by(b, item);
        }
        _ => {}
    }
}

/// Whether a value of a multi-valued attribute matches a filter on its
/// sub-attributes (strings compared ignoring case).
fn matches(filter: &Filter, item: &Value) -> bool {
    match filter {
        Filter::Compare { path, op, value } => {
            let name = path.sub.as_deref().unwrap_or(&path.name);
            let Some(actual) = get_ci(item, name) else {
                return *op == CompareOp::Ne;
            };
            compare(actual, *op, value)
        }
        Filter::Present(path) => {
            let name = path.sub.as_deref().unwrap_or(&path.name);
            get_ci(item, name).is_some_and(|v| !v.is_null())
        }
        Filter::And(a, b) => matches(a, item) && matches(b, item),
        Filter::Or(a, b) => matches(a, item) || matches(b, item),
        Filter::Not(inner) => !matches(inner, item),
        Filter::ValuePath { .. } => false,
    }
}

fn compare(actual: &Value, op: CompareOp, expected: &Value) -> bool {
    if let (Some(a), Some(e)) = (actual.as_str(), expected.as_str()) {
        let (a, e) = (a.to_lowercase(), e.to_lowercase());
        return match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            CompareOp::Co => a.contains(&e),
            CompareOp::Sw => a.starts_with(&e),
            CompareOp::Ew => a.ends_with(&e),
            CompareOp::Gt => a > e,
            CompareOp::Ge => a >= e,
            CompareOp::Lt => a < e,
            CompareOp::Le => a <= e,
        };
    }
    let truthy = |v: &Value| match v {
        Value::String(s) => Some(Value::Bool(s.eq_ignore_ascii_case("true"))),
        other => Some(other.clone()),
    };
    match op {
        CompareOp::Eq => truthy(actual) == truthy(expected),
        CompareOp::Ne => truthy(actual) != truthy(expected),
        _ => false,
    }
}

/// A lower-cased attribute name in the spelling resources use.
fn camel(lower: &str) -> String {
    const KNOWN: [&str; 22] = [
        "userName",
        "externalId",
        "displayName",
        "givenName",
        "familyName",
        "formatted",
        "phoneNumbers",
        "emails",
        "active",
        "roles",
        "locale",
        "timezone",
        "value",
        "type",
        "primary",
        "display",
        "members",
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(lower))
        .map(|k| (*k).to_owned())
        .unwrap_or_else(|| lower.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn user() -> Value {
        json!({
            "userName": "ann@example.com",
            "name": { "givenName": "Ann", "familyName": "Lee" },
            "emails": [{ "value": "ann@example.com", "type": "work", "primary": true }],
            "active": true,
        })
    }

    fn patch(doc: &mut Value, ops: Value) {
        let body = json!({ "schemas": [PATCH_SCHEMA], "Operations": ops });
        apply(doc, &body, &[EXT], &["emails", "roles"], &[]).unwrap();
    }

    #[test]
    fn applies_what_idps_send() {
        let mut doc = user();
        // Entra: capitalised op, no path, dotted and URN keys, "False".
        patch(
            &mut doc,
            json!([{ "op": "Replace", "value": {
                "name.givenName": "Annie",
                "active": "False",
                (format!("{EXT}:department")): "Sales",
            } }]),
        );
        assert_eq!(doc["name"]["givenName"], "Annie");
        assert_eq!(doc["active"], "False");
        assert_eq!(doc[EXT]["department"], "Sales");
        // A filtered path with a sub-attribute.
        patch(
            &mut doc,
            json!([{ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "annie@example.com" }]),
        );
        assert_eq!(doc["emails"][0]["value"], "annie@example.com");
        assert_eq!(doc["emails"][0]["type"], "work");
        // add on a single-valued attribute replaces it.
        patch(
            &mut doc,
            json!([{ "op": "add", "path": "displayName", "value": "A. Lee" }]),
        );
        assert_eq!(doc["displayName"], "A. Lee");
        // A value path that matches nothing yet adds a value.
        patch(
            &mut doc,
            json!([{ "op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+3161234" }]),
        );
        assert_eq!(
            doc["phoneNumbers"],
            json!([{ "value": "+3161234", "type": "mobile" }])
        );
        patch(
            &mut doc,
            json!([{ "op": "remove", "path": "phoneNumbers[type eq \"mobile\"]" }]),
        );
        assert_eq!(doc["phoneNumbers"], json!([]));
        patch(
            &mut doc,
            json!([{ "op": "remove", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName" }]),
        );
        assert!(doc.get("displayName").is_none());
    }

    #[test]
    fn removes_group_members_by_value_only() {
        let mut group =
            json!({ "members": [{ "value": "a" }, { "value": "b" }, { "value": "c" }] });
        patch(
            &mut group,
            json!([{ "op": "Remove", "path": "members", "value": [{ "value": "a" }] }]),
        );
        assert_eq!(
            group["members"],
            json!([{ "value": "b" }, { "value": "c" }])
        );
        let mut group =
            json!({ "members": [{ "value": "a" }, { "value": "b" }, { "value": "c" }] });
        patch(
            &mut group,
            json!([{ "op": "remove", "path": "members[value eq \"b\"]" }]),
        );
        assert_eq!(
            group["members"],
            json!([{ "value": "a" }, { "value": "c" }])
        );
        // One object instead of a list: still only that member.
        patch(
            &mut group,
            json!([{ "op": "remove", "path": "members", "value": { "value": "a" } }]),
        );
        assert_eq!(group["members"], json!([{ "value": "c" }]));
    }

    #[test]
    fn add_to_a_one_value_attribute_replaces_it() {
        let mut doc = user();
        patch(
            &mut doc,
            json!([{ "op": "add", "path": "emails", "value": [{ "value": "new@example.com", "type": "work" }] }]),
        );
        assert_eq!(
            doc["emails"],
            json!([{ "value": "new@example.com", "type": "work" }])
        );
    }

    #[test]
    fn refuses_what_is_not_a_patch() {
        let mut doc = user();
        for body in [
            json!({ "Operations": [{ "op": "move", "path": "a" }] }),
            json!({ "Operations": [{ "op": "remove" }] }),
            json!({ "Operations": [{ "op": "add", "value": "x" }] }),
            json!({ "Operations": [{ "op": "add", "path": "emails[type eq", "value": "x" }] }),
            json!({ "Operations": [{ "op": "add", "path": "emails[type eq \"work\"].value.x", "value": "x" }] }),
            json!({ "Operations": [{ "op": "remove", "path": "name.givenName" }] }),
            json!({ "schemas": ["x"], "Operations": [] }),
            json!({}),
        ] {
            assert!(
                apply(&mut doc, &body, &[EXT], &[], &["name"]).is_err(),
                "{body}"
            );
        }
    }
}
