//! SCIM 2.0 under `/scim/v2`: the second API beside GraphQL, over the same
//! service layer. The org is the token's; the token needs the `scim` scope.
//! Answers are `application/scim+json` with SCIM's error shape. What is
//! supported (discovery, Users and Groups with filters, PATCH and ETags)
//! and what is not yet (`/Bulk`, `/.search` at the root) is in
//! `docs/scim.md`; an operation not supported answers `501` in SCIM's
//! error shape.

mod patch;
mod resources;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Channel, Principal};
use crate::domain::scim_filter::{self, UserSort};
use crate::error::{Code, Error};
use crate::http::{AppState, Refusal, caller_of};
use crate::service::{SCIM_MAX_RESULTS, ScimGroupQuery, ScimUserQuery};

pub const SCIM_JSON: &str = "application/scim+json";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SEARCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The most operations one `/Bulk` request may carry (announced in the
/// ServiceProviderConfig).
pub const MAX_BULK_OPERATIONS: usize = 1000;

/// The `/scim/v2` routes; request bodies are read up to `max_body_bytes`
/// (413 beyond).
pub fn routes(max_body_bytes: usize) -> actix_web::Scope {
    web::scope("/scim/v2")
        .app_data(web::PayloadConfig::new(max_body_bytes))
        .route("/Bulk", web::post().to(bulk))
        .route(
            "/ServiceProviderConfig",
            web::get().to(service_provider_config),
        )
        .route("/ResourceTypes", web::get().to(resource_types))
        .route("/ResourceTypes/{name}", web::get().to(resource_type))
        .route("/Schemas", web::get().to(schemas))
        .route("/Schemas/{id}", web::get().to(schema))
        .route("/Users", web::get().to(list_users))
        .route("/Users", web::post().to(create_user))
        .route("/Users/.search", web::post().to(search_users))
        .route("/Users/{id}", web::get().to(get_user))
        .route("/Users/{id}", web::put().to(replace_user))
        .route("/Users/{id}", web::patch().to(patch_user))
        .route("/Users/{id}", web::delete().to(delete_user))
        .route("/Groups", web::get().to(list_groups))
        .route("/Groups", web::post().to(create_group))
        .route("/Groups/.search", web::post().to(search_groups))
        .route("/Groups/{id}", web::get().to(get_group))
        .route("/Groups/{id}", web::put().to(replace_group))
        .route("/Groups/{id}", web::patch().to(patch_group))
        .route("/Groups/{id}", web::delete().to(delete_group))
        .default_service(web::to(not_supported))
}

/// A SCIM answer.
fn answer(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, SCIM_JSON))
        .body(body.to_string())
}

/// A SCIM error: `status`, `scimType` (when there is one) and `detail`.
fn error(status: StatusCode, scim_type: Option<&str>, detail: &str) -> HttpResponse {
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.as_u16().to_string(),
        "detail": detail,
    });
    if let Some(scim_type) = scim_type {
        body["scimType"] = json!(scim_type);
    }
    let mut response = answer(status, &body);
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// A service error as SCIM says it; `filter` marks errors of a list's
/// filter (`invalidFilter`).
fn from_service(e: &Error, filter: bool) -> HttpResponse {
    match e.code() {
        Code::NotFound => error(StatusCode::NOT_FOUND, None, &e.to_string()),
        Code::InvalidInput if filter => error(
            StatusCode::BAD_REQUEST,
            Some("invalidFilter"),
            &e.to_string(),
        ),
        Code::InvalidInput => error(
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            &e.to_string(),
        ),
        Code::Duplicate => error(StatusCode::CONFLICT, Some("uniqueness"), &e.to_string()),
        Code::Conflict => error(StatusCode::PRECONDITION_FAILED, None, &e.to_string()),
        Code::Forbidden => error(StatusCode::FORBIDDEN, None, &e.to_string()),
        Code::LastAdmin | Code::SelfAction => {
            error(StatusCode::CONFLICT, Some("mutability"), &e.to_string())
        }
        Code::RateLimited => error(StatusCode::TOO_MANY_REQUESTS, None, &e.to_string()),
        Code::Unavailable => error(StatusCode::SERVICE_UNAVAILABLE, None, &e.to_string()),
        Code::Internal => error(StatusCode::INTERNAL_SERVER_ERROR, None, "internal error"),
    }
}

/// The caller, on the `scim` channel, or the SCIM error.
async fn caller(req: &HttpRequest, state: &AppState) -> Result<Principal, HttpResponse> {
    match caller_of(req, &state.service).await {
        Ok(mut principal) => {
            if let Err(e) = crate::service::scim_access(&principal) {
                return Err(from_service(&e, false));
            }
            principal.channel = Channel::Scim;
            Ok(principal)
        }
        Err(Refusal::Unauthenticated(reason)) => {
            Err(error(StatusCode::UNAUTHORIZED, None, &reason))
        }
        Err(Refusal::Unavailable) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "the service is busy; try again shortly",
        )),
    }
}

/// The base URL of the SCIM API as the client reached it (for `location`).
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/scim/v2", info.scheme(), info.host())
}

/// What no route answers: a known resource with a method it does not
/// take (405, with `Allow`), the cross-resource search not built yet
/// (501), or nothing at all (404).
async fn not_supported(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = caller(&req, &state).await {
        return refused;
    }
    let path = req.path().trim_start_matches("/scim/v2").trim_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    let allow = match segments.as_slice() {
        [".search"] => {
            return error(
                StatusCode::NOT_IMPLEMENTED,
                None,
                "searching across resource types is not supported yet; use /Users/.search or /Groups/.search",
            );
        }
        ["ServiceProviderConfig"] | ["ResourceTypes" | "Schemas", ..] => "GET",
        ["Users" | "Groups"] => "GET, POST",
        ["Users" | "Groups", ".search"] | ["Bulk"] => "POST",
        ["Users" | "Groups", _] => "GET, PUT, PATCH, DELETE",
        _ => return error(StatusCode::NOT_FOUND, None, "no such SCIM endpoint"),
    };
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        &format!("{} is not allowed here; use {allow}", req.method()),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

async fn service_provider_config(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = caller(&req, &state).await {
        return refused;
    }
    answer(
        StatusCode::OK,
        &resources::service_provider_config(&base_url(&req), state.max_body_bytes),
    )
}

/// A discovery document list (`/ResourceTypes`, `/Schemas`) for any
/// token `caller` takes.
async fn discovery_list(
    req: &HttpRequest,
    state: &AppState,
    documents: fn(&str) -> Vec<Value>,
) -> HttpResponse {
    if let Err(refused) = caller(req, state).await {
        return refused;
    }
    let all = documents(&base_url(req));
    answer(StatusCode::OK, &list(all.len() as i64, 1, all))
}

/// One discovery document, by its `id`.
async fn discovery_one(
    req: &HttpRequest,
    state: &AppState,
    documents: fn(&str) -> Vec<Value>,
    id: &str,
    missing: &str,
) -> HttpResponse {
    if let Err(refused) = caller(req, state).await {
        return refused;
    }
    match documents(&base_url(req))
        .into_iter()
        .find(|d| d["id"] == id)
    {
        Some(found) => answer(StatusCode::OK, &found),
        None => error(StatusCode::NOT_FOUND, None, missing),
    }
}

async fn resource_types(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    discovery_list(&req, &state, resources::resource_types).await
}

async fn resource_type(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> HttpResponse {
    let missing = "no such resource type";
    discovery_one(&req, &state, resources::resource_types, &name, missing).await
}

async fn schemas(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    discovery_list(&req, &state, resources::schemas).await
}

async fn schema(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    discovery_one(&req, &state, resources::schemas, &id, "no such schema").await
}

/// A `ListResponse`.
fn list(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// A list's parameters, from the query string or a `.search` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    filter: Option<String>,
    start_index: Option<Value>,
    count: Option<Value>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    attributes: Option<Value>,
    excluded_attributes: Option<Value>,
    schemas: Option<Vec<String>>,
}

/// An integer parameter, given as a number or as text (query strings).
fn integer(value: &Option<Value>, name: &str) -> Result<Option<i64>, String> {
    let bad = || format!("{name} must be an integer");
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// `attributes` / `excludedAttributes`: a comma-separated string or a
/// list, lower-cased.
fn names(value: &Option<Value>) -> Vec<String> {
    let words: Vec<String> = match value {
        Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    words
        .into_iter()
        .map(|w| w.trim().to_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

async fn users(req: HttpRequest, state: web::Data<AppState>, params: ListParams) -> HttpResponse {
    let who = match caller(&req, &state).await {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let listing = match listing(&params) {
        Ok(listing) => listing,
        Err(bad) => return *bad,
    };
    let sort = match params.sort_by.as_deref().map(str::to_ascii_lowercase) {
        None => UserSort::Id,
        Some(s) if s == "id" => UserSort::Id,
        Some(s) if s == "username" || s == "emails" || s == "emails.value" => UserSort::UserName,
        Some(s) if s == "meta.created" => UserSort::Created,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                &format!("sorting by {other} is not supported (userName or meta.created)"),
            );
        }
    };
    let descending = params
        .sort_order
        .as_deref()
        .is_some_and(|o| o.eq_ignore_ascii_case("descending"));
    let projection = listing.projection;
    let query = ScimUserQuery {
        filter: listing.filter,
        start_index: listing.start_index,
        count: listing.count,
        sort,
        descending,
        with_groups: projection.wants("groups"),
    };
    match state.service.scim_users(&who, query).await {
        Ok(page) => {
            let base = base_url(&req);
            let items = page
                .items
                .iter()
                .map(|m| projection.apply(resources::user(m, &base)))
                .collect();
            answer(StatusCode::OK, &list(page.total, page.start_index, items))
        }
        Err(e) => from_service(&e, true),
    }
}

/// A request body as JSON, or the SCIM error.
fn json_body(body: &[u8]) -> Result<Value, Box<HttpResponse>> {
    serde_json::from_slice(body).map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "the body must be a JSON object",
        ))
    })
}

/// The version `If-Match` names: `None` when absent or `*`; a tag that is
/// not one of ours can never match (412).
fn if_match(req: &HttpRequest) -> Result<Option<i64>, Box<HttpResponse>> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| {
            Box::new(error(
                StatusCode::PRECONDITION_FAILED,
                None,
                "If-Match names a version this resource never had",
            ))
        })
}

/// How often a PATCH without `If-Match` is tried again when another write
/// got in between its read and its write.
const PATCH_ATTEMPTS: usize = 5;

/// A PATCH without `If-Match` that lost every race: `409`, try again.
fn kept_changing() -> HttpResponse {
    error(
        StatusCode::CONFLICT,
        None,
        "the resource kept changing while this PATCH was applied; send it again",
    )
}

/// A list's filter, paging and projection, read once for either resource.
struct Listing {
    filter: Option<scim_filter::Filter>,
    start_index: i64,
    count: i64,
    projection: resources::Projection,
}

fn listing(params: &ListParams) -> Result<Listing, Box<HttpResponse>> {
    let filter =
        match params.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(scim_filter::parse(text).map_err(|e| {
                Box::new(error(StatusCode::BAD_REQUEST, Some("invalidFilter"), &e.0))
            })?),
        };
    let invalid = |detail: String| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            Some("invalidValue"),
            &detail,
        ))
    };
    let start_index = integer(&params.start_index, "startIndex").map_err(invalid)?;
    let count = integer(&params.count, "count").map_err(invalid)?;
    Ok(Listing {
        filter,
        start_index: start_index.unwrap_or(1).max(1),
        count: count.unwrap_or(SCIM_MAX_RESULTS).clamp(0, SCIM_MAX_RESULTS),
        projection: resources::Projection::new(
            names(&params.attributes),
            names(&params.excluded_attributes),
        ),
    })
}

async fn groups(req: HttpRequest, state: web::Data<AppState>, params: ListParams) -> HttpResponse {
    let who = match caller(&req, &state).await {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let listing = match listing(&params) {
        Ok(listing) => listing,
        Err(bad) => return *bad,
    };
    let query = ScimGroupQuery {
        filter: listing.filter,
        start_index: listing.start_index,
        count: listing.count,
        with_members: listing.projection.wants("members"),
    };
    match state.service.scim_groups(&who, query).await {
        Ok(page) => {
            let base = base_url(&req);
            let display = listing.projection.asks_for("members.display");
            let items = page
                .items
                .iter()
                .map(|g| {
                    listing
                        .projection
                        .apply(resources::group(g, &base, display))
                })
                .collect();
            answer(StatusCode::OK, &list(page.total, page.start_index, items))
        }
        Err(e) => from_service(&e, true),
    }
}

/// The parts of a write request every write handler (and `/Bulk`) needs.
struct Write<'a> {
    state: &'a AppState,
    who: &'a Principal,
    base: &'a str,
}

/// A write handler's caller, body and `If-Match`, or the SCIM error.
async fn write_request(
    req: &HttpRequest,
    state: &AppState,
    body: Option<&[u8]>,
) -> Result<(Principal, Value, Option<i64>), Box<HttpResponse>> {
    let who = caller(req, state).await.map_err(Box::new)?;
    let body = match body {
        Some(bytes) => json_body(bytes)?,
        None => Value::Null,
    };
    Ok((who, body, if_match(req)?))
}

macro_rules! write_handler {
    ($name:ident, $op:ident, with_id, with_body) => {
        async fn $name(
            req: HttpRequest,
            state: web::Data<AppState>,
            id: web::Path<String>,
            body: web::Bytes,
        ) -> HttpResponse {
            match write_request(&req, &state, Some(&body)).await {
                Ok((who, body, expected)) => {
                    let base = base_url(&req);
                    let w = Write {
                        state: &state,
                        who: &who,
                        base: &base,
                    };
                    $op(&w, &id, body, expected).await
                }
                Err(refused) => *refused,
            }
        }
    };
    ($name:ident, $op:ident, with_id) => {
        async fn $name(
            req: HttpRequest,
            state: web::Data<AppState>,
            id: web::Path<String>,
        ) -> HttpResponse {
            match write_request(&req, &state, None).await {
                Ok((who, _, expected)) => {
                    let base = base_url(&req);
                    let w = Write {
                        state: &state,
                        who: &who,
                        base: &base,
                    };
                    $op(&w, &id, Value::Null, expected).await
                }
                Err(refused) => *refused,
            }
        }
    };
    ($name:ident, $op:ident) => {
        async fn $name(
            req: HttpRequest,
            state: web::Data<AppState>,
            body: web::Bytes,
        ) -> HttpResponse {
            match write_request(&req, &state, Some(&body)).await {
                Ok((who, body, expected)) => {
                    let base = base_url(&req);
                    let w = Write {
                        state: &state,
                        who: &who,
                        base: &base,
                    };
                    $op(&w, "", body, expected).await
                }
                Err(refused) => *refused,
            }
        }
    };
}

write_handler!(create_user, op_create_user);
write_handler!(replace_user, op_replace_user, with_id, with_body);
write_handler!(patch_user, op_patch_user, with_id, with_body);
write_handler!(delete_user, op_delete_user, with_id);
write_handler!(create_group, op_create_group);
write_handler!(replace_group, op_replace_group, with_id, with_body);
write_handler!(patch_group, op_patch_group, with_id, with_body);
write_handler!(delete_group, op_delete_group, with_id);

async fn op_create_user(w: &Write<'_>, _: &str, body: Value, _: Option<i64>) -> HttpResponse {
    let record = match resources::record_from_user(&body, false, None) {
        Ok(record) => record,
        Err(resources::BadUser(scim_type, detail)) => {
            return error(StatusCode::BAD_REQUEST, Some(scim_type), &detail);
        }
    };
    match w.state.service.scim_create_user(w.who, record).await {
        Ok(member) => user_answer(StatusCode::CREATED, &member, w.base),
        Err(e) => from_service(&e, false),
    }
}

async fn op_replace_user(
    w: &Write<'_>,
    id: &str,
    body: Value,
    expected: Option<i64>,
) -> HttpResponse {
    let current = match w.state.service.scim_user(w.who, id, false).await {
        Ok(member) => member,
        Err(e) => return from_service(&e, false),
    };
    let record =
        match resources::record_from_user(&body, true, Some(&current.membership.attributes)) {
            Ok(record) => record,
            Err(resources::BadUser(scim_type, detail)) => {
                return error(StatusCode::BAD_REQUEST, Some(scim_type), &detail);
            }
        };
    // A PUT without If-Match replaces whatever is there.
    match w
        .state
        .service
        .scim_replace_user(w.who, id, record, expected)
        .await
    {
        Ok(member) => user_answer(StatusCode::OK, &member, w.base),
        Err(e) => from_service(&e, false),
    }
}

async fn op_patch_user(
    w: &Write<'_>,
    id: &str,
    body: Value,
    expected: Option<i64>,
) -> HttpResponse {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = match w.state.service.scim_user(w.who, id, false).await {
            Ok(member) => member,
            Err(e) => return from_service(&e, false),
        };
        if expected.is_some_and(|v| v != current.membership.version) {
            return error(
                StatusCode::PRECONDITION_FAILED,
                None,
                "the User changed since that version; read it again",
            );
        }
        let mut doc = resources::user(&current, w.base);
        if let Err(patch::PatchError(scim_type, detail)) = patch::apply(
            &mut doc,
            &body,
            &[resources::ENTERPRISE_SCHEMA],
            &["emails", "phoneNumbers", "roles"],
            &["userName", "name", "displayName"],
        ) {
            return error(StatusCode::BAD_REQUEST, Some(scim_type), &detail);
        }
        // A patch changes what it names: a new email leaves the userName
        // the identity provider knows the member by (kept beside it).
        let record =
            match resources::record_from_user(&doc, true, Some(&current.membership.attributes)) {
                Ok(record) => record,
                Err(resources::BadUser(scim_type, detail)) => {
                    return error(StatusCode::BAD_REQUEST, Some(scim_type), &detail);
                }
            };
        // Written only if nothing changed since the read: the patch was
        // applied to what is stored.
        let version = Some(current.membership.version);
        match w
            .state
            .service
            .scim_replace_user(w.who, id, record, version)
            .await
        {
            Ok(member) => return user_answer(StatusCode::OK, &member, w.base),
            Err(Error::Conflict(_)) if expected.is_none() && attempt < PATCH_ATTEMPTS => continue,
            // No precondition was given: not a 412, a busy resource.
            Err(Error::Conflict(_)) if expected.is_none() => return kept_changing(),
            Err(e) => return from_service(&e, false),
        }
    }
}

async fn op_delete_user(w: &Write<'_>, id: &str, _: Value, expected: Option<i64>) -> HttpResponse {
    match w.state.service.scim_remove_user(w.who, id, expected).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => from_service(&e, false),
    }
}

async fn op_create_group(w: &Write<'_>, _: &str, body: Value, _: Option<i64>) -> HttpResponse {
    let input = match resources::group_input(&body, false) {
        Ok(input) => input,
        Err(resources::BadUser(scim_type, detail)) => {
            return error(StatusCode::BAD_REQUEST, Some(scim_type), &detail);
        }
    };
    match w.state.service.scim_create_group(w.who, input).await {
        Ok(group) => {
            let body = resources::group(&group, w.base, false);
            group_answer(StatusCode::CREATED, &group, body)
        }
        Err(e) => from_service(&e, false),
    }
}

async fn op_replace_group(
    w: &Write<'_>,
    id: &str,
    body: Value,
    expected: Option<i64>,
) -> HttpResponse {
    let input = match resources::group_input(&body, true) {
        Ok(input) => input,
        Err(resources::BadUser(scim_type, detail)) => {
            return error(StatusCode::BAD_REQUEST, Some(scim_type), &detail);
        }
    };
    match w
        .state
        .service
        .scim_replace_group(w.who, id, input, expected)
        .await
    {
        Ok(group) => {
            let body = resources::group(&group, w.base, false);
            group_answer(StatusCode::OK, &group, body)
        }
        Err(e) => from_service(&e, false),
    }
}

async fn op_patch_group(
    w: &Write<'_>,
    id: &str,
    body: Value,
    expected: Option<i64>,
) -> HttpResponse {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = match w.state.service.scim_group(w.who, id, true).await {
            Ok(group) => group,
            Err(e) => return from_service(&e, false),
        };
        if expected.is_some_and(|v| v != current.group.version) {
            return error(
                StatusCode::PRECONDITION_FAILED,
                None,
                "the Group changed since that version; read it again",
            );
        }
        let mut doc = resources::group(&current, w.base, false);
        if let Err(patch::PatchError(scim_type, detail)) =
            patch::apply(&mut doc, &body, &[], &[], &["displayName"])
        {
            return error(StatusCode::BAD_REQUEST, Some(scim_type), &detail);
        }
        let input = match resources::group_input(&doc, true) {
            Ok(input) => input,
            Err(resources::BadUser(scim_type, detail)) => {
                return error(StatusCode::BAD_REQUEST, Some(scim_type), &detail);
            }
        };
        let version = Some(current.group.version);
        match w
            .state
            .service
            .scim_replace_group(w.who, id, input, version)
            .await
        {
            Ok(group) => {
                let body = resources::group(&group, w.base, false);
                return group_answer(StatusCode::OK, &group, body);
            }
            Err(Error::Conflict(_)) if expected.is_none() && attempt < PATCH_ATTEMPTS => continue,
            // No precondition was given: not a 412, a busy resource.
            Err(Error::Conflict(_)) if expected.is_none() => return kept_changing(),
            Err(e) => return from_service(&e, false),
        }
    }
}

async fn op_delete_group(w: &Write<'_>, id: &str, _: Value, expected: Option<i64>) -> HttpResponse {
    match w.state.service.scim_remove_group(w.who, id, expected).await {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => from_service(&e, false),
    }
}

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

/// Replaces every `bulkId:<id>` string in `value` with the id that
/// operation created; the first reference not yet known, if any.
fn resolve_bulk_ids(
    value: &mut Value,
    known: &std::collections::HashMap<String, String>,
) -> Option<String> {
    match value {
        Value::String(text) => {
            let reference = text.strip_prefix("bulkId:")?;
            match known.get(reference) {
                Some(id) => {
                    *text = id.clone();
                    None
                }
                None => Some(reference.to_owned()),
            }
        }
        Value::Array(items) => items.iter_mut().find_map(|v| resolve_bulk_ids(v, known)),
        Value::Object(fields) => fields.values_mut().find_map(|v| resolve_bulk_ids(v, known)),
        _ => None,
    }
}

/// `POST /Bulk` (RFC 7644 §3.7): the operations in order, each as its own
/// request would run (its own transaction), `bulkId:` references resolved
/// to the ids earlier operations created, stopping after `failOnErrors`
/// errors.
async fn bulk(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let (who, body, _) = match write_request(&req, &state, Some(&body)).await {
        Ok(parts) => parts,
        Err(refused) => return *refused,
    };
    if patch::get_ci(&body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.iter().any(|s| s.as_str() == Some(BULK_REQUEST)))
    {
        return error(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "a bulk request needs the BulkRequest schema",
        );
    }
    let Some(operations) = patch::get_ci(&body, "Operations").and_then(Value::as_array) else {
        return error(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "a bulk request needs Operations",
        );
    };
    if operations.len() > MAX_BULK_OPERATIONS {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("tooMany"),
            &format!("a bulk request may carry at most {MAX_BULK_OPERATIONS} operations"),
        );
    }
    let fail_on_errors = patch::get_ci(&body, "failOnErrors").and_then(Value::as_u64);
    let base = base_url(&req);
    let w = Write {
        state: &state,
        who: &who,
        base: &base,
    };
    let mut created: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut results = Vec::with_capacity(operations.len());
    let mut errors = 0u64;
    for operation in operations {
        let method = patch::get_ci(operation, "method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let bulk_id = patch::get_ci(operation, "bulkId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // A path's segments may be references too: `/Users/bulkId:u1`.
        let mut path = Value::Array(
            patch::get_ci(operation, "path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .split('/')
                .map(|segment| Value::String(segment.to_owned()))
                .collect(),
        );
        let mut data = patch::get_ci(operation, "data")
            .cloned()
            .unwrap_or(Value::Null);
        let unresolved =
            resolve_bulk_ids(&mut path, &created).or_else(|| resolve_bulk_ids(&mut data, &created));
        let response = match unresolved {
            Some(reference) => error(
                StatusCode::CONFLICT,
                Some("invalidValue"),
                &format!("bulkId {reference} names no operation that succeeded before this one"),
            ),
            None => {
                let version = patch::get_ci(operation, "version")
                    .and_then(Value::as_str)
                    .map(|v| {
                        v.trim()
                            .trim_start_matches("W/")
                            .trim_matches('"')
                            .parse::<i64>()
                    });
                let path: Vec<&str> = path
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let path = path.join("/");
                match version {
                    Some(Err(_)) => error(
                        StatusCode::PRECONDITION_FAILED,
                        None,
                        "version names a version this resource never had",
                    ),
                    Some(Ok(v)) => bulk_one(&w, &method, &path, data, Some(v)).await,
                    None => bulk_one(&w, &method, &path, data, None).await,
                }
            }
        };
        let status = response.status();
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = actix_web::body::to_bytes(response.into_body()).await.ok();
        let body: Value = body
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let mut result = json!({ "method": method, "status": status.as_u16().to_string() });
        if let Some(bulk_id) = &bulk_id {
            result["bulkId"] = json!(bulk_id);
        }
        if let Some(location) = body["meta"]["location"].as_str() {
            result["location"] = json!(location);
        }
        if let Some(etag) = etag {
            result["version"] = json!(etag);
        }
        if status.is_success() {
            if let (Some(bulk_id), Some(id)) = (&bulk_id, body["id"].as_str()) {
                created.insert(bulk_id.clone(), id.to_owned());
            }
        } else {
            result["response"] = body;
            errors += 1;
        }
        results.push(result);
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
    }
    answer(
        StatusCode::OK,
        &json!({ "schemas": [BULK_RESPONSE], "Operations": results }),
    )
}

/// One bulk operation, run as its request would be.
async fn bulk_one(
    w: &Write<'_>,
    method: &str,
    path: &str,
    data: Value,
    version: Option<i64>,
) -> HttpResponse {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("POST", ["Users"]) => op_create_user(w, "", data, version).await,
        ("PUT", ["Users", id]) => op_replace_user(w, id, data, version).await,
        ("PATCH", ["Users", id]) => op_patch_user(w, id, data, version).await,
        ("DELETE", ["Users", id]) => op_delete_user(w, id, data, version).await,
        ("POST", ["Groups"]) => op_create_group(w, "", data, version).await,
        ("PUT", ["Groups", id]) => op_replace_group(w, id, data, version).await,
        ("PATCH", ["Groups", id]) => op_patch_group(w, id, data, version).await,
        ("DELETE", ["Groups", id]) => op_delete_group(w, id, data, version).await,
        _ => error(
            StatusCode::BAD_REQUEST,
            Some("invalidPath"),
            &format!("{method} {path} is not an operation a bulk request may carry"),
        ),
    }
}

/// A list's parameters from the query string.
fn query_params(req: &HttpRequest) -> Result<ListParams, Box<HttpResponse>> {
    web::Query::<ListParams>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                Some("invalidValue"),
                "the query string is malformed",
            ))
        })
}

/// A list's parameters from a `.search` body (a SearchRequest).
fn search_params(body: &[u8]) -> Result<ListParams, Box<HttpResponse>> {
    let bad = |detail: &str| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            detail,
        ))
    };
    let params: ListParams =
        serde_json::from_slice(body).map_err(|_| bad("the body must be a SearchRequest (JSON)"))?;
    if params
        .schemas
        .as_ref()
        .is_some_and(|s| !s.iter().any(|s| s == SEARCH_SCHEMA))
    {
        return Err(bad("a search needs the SearchRequest schema"));
    }
    Ok(params)
}

/// The `attributes` / `excludedAttributes` of a single read.
fn projection_of(req: &HttpRequest) -> resources::Projection {
    let params = web::Query::<ListParams>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    resources::Projection::new(
        names(&params.attributes),
        names(&params.excluded_attributes),
    )
}

/// `304` when `If-None-Match` names the resource's current ETag.
fn not_modified(req: &HttpRequest, etag: &str) -> Option<HttpResponse> {
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    unchanged.then(|| {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, etag.to_owned()))
            .finish()
    })
}

/// A resource answer with its ETag (and `Location` when created).
fn resource_answer(status: StatusCode, version: i64, body: &Value) -> HttpResponse {
    let mut response = answer(status, body);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&resources::etag(version)) {
        headers.insert(header::ETAG, value);
    }
    if status == StatusCode::CREATED
        && let Some(location) = body["meta"]["location"].as_str()
        && let Ok(value) = HeaderValue::from_str(location)
    {
        headers.insert(header::LOCATION, value);
    }
    response
}

fn user_answer(
    status: StatusCode,
    member: &crate::service::MemberView,
    base: &str,
) -> HttpResponse {
    resource_answer(
        status,
        member.membership.version,
        &resources::user(member, base),
    )
}

fn group_answer(
    status: StatusCode,
    group: &crate::service::ScimGroup,
    body: Value,
) -> HttpResponse {
    resource_answer(status, group.group.version, &body)
}

async fn list_users(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match query_params(&req) {
        Ok(params) => users(req, state, params).await,
        Err(bad) => *bad,
    }
}

async fn search_users(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    match search_params(&body) {
        Ok(params) => users(req, state, params).await,
        Err(bad) => *bad,
    }
}

async fn list_groups(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match query_params(&req) {
        Ok(params) => groups(req, state, params).await,
        Err(bad) => *bad,
    }
}

async fn search_groups(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    match search_params(&body) {
        Ok(params) => groups(req, state, params).await,
        Err(bad) => *bad,
    }
}

async fn get_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let who = match caller(&req, &state).await {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let projection = projection_of(&req);
    match state
        .service
        .scim_user(&who, &id, projection.wants("groups"))
        .await
    {
        Ok(member) => {
            let version = member.membership.version;
            if let Some(unchanged) = not_modified(&req, &resources::etag(version)) {
                return unchanged;
            }
            let body = projection.apply(resources::user(&member, &base_url(&req)));
            resource_answer(StatusCode::OK, version, &body)
        }
        Err(e) => from_service(&e, false),
    }
}

async fn get_group(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let who = match caller(&req, &state).await {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    let projection = projection_of(&req);
    match state
        .service
        .scim_group(&who, &id, projection.wants("members"))
        .await
    {
        Ok(group) => {
            let version = group.group.version;
            if let Some(unchanged) = not_modified(&req, &resources::etag(version)) {
                return unchanged;
            }
            let display = projection.asks_for("members.display");
            let body = projection.apply(resources::group(&group, &base_url(&req), display));
            resource_answer(StatusCode::OK, version, &body)
        }
        Err(e) => from_service(&e, false),
    }
}
