//! The actix-web app: routes, body limit, content negotiation,
//! authentication and health.
//!
//! `POST /graphql` takes one JSON request (no batches). Its body is read
//! only after the bearer token checks out, under `max_body_bytes` (413
//! beyond), or `max_sync_body_bytes` for a single `syncMembers` mutation. `GET /graphql` runs queries only.
//! Both need a bearer token (401 without a valid one). The answer is
//! `application/graphql-response+json` or `application/json`, as the
//! `Accept` header prefers (406 when it accepts neither).

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, middleware, web};
use async_graphql::parser::types::OperationType;
use serde_json::json;

use crate::auth::{Principal, Scope};
use crate::graphql::RosterSchema;
use crate::graphql::documents::Documents;
use crate::graphql::members::SyncRecords;
use crate::service::{AuthFailure, Service};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: RosterSchema,
    pub service: Service,
    /// Parsed documents and persisted queries.
    pub documents: std::sync::Arc<Documents>,
    pub max_body_bytes: usize,
    /// The larger limit for a request that is one `syncMembers` mutation.
    pub max_sync_body_bytes: usize,
}

/// Builds the server on a bound listener; each worker runs its blocking
/// (database) work on at most `blocking_threads` threads.
pub fn server(
    state: AppState,
    listener: TcpListener,
    workers: usize,
    blocking_threads: usize,
) -> std::io::Result<Server> {
    let scim_body_limit = state.max_body_bytes;
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap_fn(|req, srv| {
                use actix_web::HttpMessage;
                use actix_web::dev::Service as _;
                let id = request_id(req.headers());
                req.extensions_mut().insert(RequestId(id.clone()));
                let response = srv.call(req);
                async move {
                    let mut response = response.await?;
                    if let Ok(value) = HeaderValue::from_str(&id) {
                        response.headers_mut().insert(X_REQUEST_ID, value);
                    }
                    Ok(response)
                }
            })
            // Path only: a GET's query string can carry personal data.
            .wrap(
                middleware::Logger::new("%m %{path}xi %s %b %Dms request_id=%{x-request-id}o")
                    .custom_request_replace("path", |req| logged_path(req.path())),
            )
            .app_data(data.clone())
            .route("/graphql", web::post().to(graphql_post))
            .route("/graphql", web::get().to(graphql_get))
            .route("/graphql", web::route().to(method_not_allowed))
            .route("/graphiql", web::get().to(graphiql))
            .route("/graphiql/assets/{file}", web::get().to(graphiql_asset))
            .route("/schema.graphql", web::get().to(schema_sdl))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .service(crate::scim::routes(scim_body_limit))
            .service(crate::console::routes())
    })
    .workers(workers.max(1))
    .worker_max_blocking_threads(blocking_threads.max(1))
    .listen(listener)?
    .run();
    Ok(server)
}

/// An error outside GraphQL execution, in the GraphQL response shape.
fn error_response(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The body was not read, so the connection cannot carry another
        // request: say so, or a client may send its next one into it.
        response.force_close();
    }
    response
        .content_type(ContentType::json())
        .json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }))
}

/// The response media type the client accepts, preferring the GraphQL one.
fn negotiate(req: &HttpRequest) -> Option<&'static str> {
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return Some(JSON);
    };
    let accept = accept.to_str().unwrap_or_default();
    let mut best: Option<(f32, &'static str)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let chosen = match media.as_str() {
            GRAPHQL_RESPONSE => GRAPHQL_RESPONSE,
            JSON | "application/*" | "*/*" => JSON,
            _ => continue,
        };
        if quality > 0.0
            && best.is_none_or(|(q, m)| {
                quality > q || (quality == q && chosen == GRAPHQL_RESPONSE && m != GRAPHQL_RESPONSE)
            })
        {
            best = Some((quality, chosen));
        }
    }
    best.map(|(_, media)| media)
}

fn not_acceptable() -> HttpResponse {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        "accept application/graphql-response+json or application/json",
    )
}

/// A request's path as the access log shows it: a one-time console
/// sign-in link's secret is left out (the link stays usable until its
/// button is pressed).
fn logged_path(path: &str) -> String {
    match path.strip_prefix("/admin/link/") {
        Some(_) => "/admin/link/…".to_owned(),
        None => path.to_owned(),
    }
}

/// The `x-request-id` header.
const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// A request's id, kept in its extensions for the handlers.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// The caller's `x-request-id` when it is sane (1 to 128 characters of
/// letters, digits and `- _ . : /`), else a new UUID v7.
fn request_id(headers: &header::HeaderMap) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/');
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| (1..=128).contains(&id.len()) && id.chars().all(ok))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// The verified caller, with the request's id, or the 401 (503 if the
/// database is down).
async fn authenticate(req: &HttpRequest, service: &Service) -> Result<Principal, HttpResponse> {
    caller_of(req, service)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Unauthenticated(reason) => {
                error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &reason)
            }
            Refusal::Unavailable => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the service is busy; try again shortly",
            ),
        })
}

/// Why a request has no caller; each API says it in its own shape.
pub(crate) enum Refusal {
    /// 401, with a sentence.
    Unauthenticated(String),
    /// 503: the database did not answer.
    Unavailable,
}

/// The verified caller of a request, with the request's id: the one way
/// every API (GraphQL, SCIM) authenticates.
pub(crate) async fn caller_of(req: &HttpRequest, service: &Service) -> Result<Principal, Refusal> {
    let refused = |message: &str| Refusal::Unauthenticated(message.to_owned());
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| refused("a bearer token is required"))?;
    let value = header
        .to_str()
        .map_err(|_| refused("the Authorization header is malformed"))?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or_else(|| refused("use Authorization: Bearer <token>"))?;
    let mut principal = service
        .authenticate(token)
        .await
        .map_err(|failure| match failure {
            AuthFailure::Refused(reason) => Refusal::Unauthenticated(reason),
            AuthFailure::Unavailable => Refusal::Unavailable,
        })?;
    principal.request_id = actix_web::HttpMessage::extensions(req)
        .get::<RequestId>()
        .map(|id| id.0.clone());
    Ok(principal)
}

async fn execute(
    state: &AppState,
    mut request: async_graphql::Request,
    principal: Principal,
    media: &'static str,
) -> HttpResponse {
    let prepared = state.documents.prepare(&mut request);
    if let Some(message) = prepared.missing.clone() {
        return request_error(message, "GRAPHQL_VALIDATION_FAILED", media);
    }
    let mut response = state.schema.execute(request.data(principal)).await;
    if !not_executed(&response) {
        state.documents.keep(prepared);
    }
    for error in &mut response.errors {
        label_error(error);
    }
    respond(response, media)
}

/// Resolves a request's `extensions.persistedQuery` for its caller; the
/// request error that answers it when it cannot.
fn resolve_persisted(
    state: &AppState,
    principal: &Principal,
    request: &mut async_graphql::Request,
    media: &'static str,
) -> Option<HttpResponse> {
    let audience = principal.org.map(|org| org.0);
    let refusal = state.documents.resolve_persisted(audience, request).err()?;
    Some(request_error(refusal.message(), refusal.code(), media))
}

/// A GraphQL request error (the request does not run): a 400 with the
/// GraphQL media type, a 200 with `application/json` (see [`respond`]).
fn request_error(message: impl Into<String>, code: &str, media: &'static str) -> HttpResponse {
    let mut error = async_graphql::ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    respond(async_graphql::Response::from_errors(vec![error]), media)
}

/// The HTTP answer to an executed (or refused) GraphQL request.
fn respond(response: async_graphql::Response, media: &'static str) -> HttpResponse {
    // GraphQL over HTTP: a request that did not reach execution (it did
    // not parse or validate, or its variables did not coerce) has no
    // `data`, and with the GraphQL media type that is a 400. Plain JSON
    // keeps 200, as clients of that type expect.
    let status = if media == GRAPHQL_RESPONSE && not_executed(&response) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = if status == StatusCode::BAD_REQUEST {
        serde_json::to_vec(&json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(&response)
    };
    match body {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(media)))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

/// Whether a response is a request error: no data, and only errors raised
/// before execution (those have no path; a field's error has one).
fn not_executed(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Gives every error an `extensions.code`: resolver errors have theirs;
/// an argument that does not parse is `INVALID_INPUT`; a document refused
/// before execution (syntax, validation, limits) is
/// `GRAPHQL_VALIDATION_FAILED`.
fn label_error(error: &mut async_graphql::ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        let code = if error.path.is_empty() {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            "INVALID_INPUT"
        };
        extensions.set("code", code);
    }
}

/// Reads the body under `limit` bytes: at once refused when the declared
/// length is larger, else read up to the limit and refused past it.
async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, HttpResponse> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let refused = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            &format!("the request body is larger than {limit} bytes"),
        )
    };
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(refused());
    }
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(refused()),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read a request body");
            Err(error_response(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the request body could not be read",
            ))
        }
    }
}

async fn graphql_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(media) = negotiate(&req) else {
        return not_acceptable();
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if content_type.as_deref() != Some(JSON) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request as Content-Type: application/json",
        );
    }
    let principal = match authenticate(&req, &state.service).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    // Only after the token checks out is a body read, and only a caller
    // who may sync members gets the larger sync limit.
    let body = if principal.require(Scope::MembersWrite).is_ok() {
        let limit = state.max_sync_body_bytes.max(state.max_body_bytes);
        read_body(&req, payload, limit).await
    } else {
        read_body(&req, payload, state.max_body_bytes)
            .await
            .map_err(|_| too_large(state.max_body_bytes))
    };
    let body = match body {
        Ok(body) => body,
        Err(response) => return response,
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "batched requests are not supported; send one operation per request",
        );
    }
    // A body over the general limit can only be a sync: its variables are
    // kept as JSON text until the document says which holds the records.
    let large = body.len() > state.max_body_bytes;
    let parsed = if large {
        serde_json::from_slice::<LargeBody<'_>>(&body).map(LargeBody::split)
    } else {
        serde_json::from_slice(&body).map(|request| (request, None))
    };
    let (mut request, variables) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if large => {
            tracing::debug!(error = %e, "oversized body is not a request");
            return too_large(state.max_body_bytes);
        }
        Err(e) => {
            let message = format!("the body is not a GraphQL request: {e}");
            return error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
        }
    };
    if let Some(response) = resolve_persisted(&state, &principal, &mut request, media) {
        return response;
    }
    // Only a single syncMembers mutation may be larger than the limit.
    let document = large
        .then(|| state.documents.parsed(&request.query))
        .flatten();
    let sync = document.as_ref().and_then(sync_members_only);
    if large && sync.is_none() {
        return too_large(state.max_body_bytes);
    }
    if let Some(variables) = variables {
        let records = sync.and_then(records_variable);
        match sync_variables(variables, records.as_deref()) {
            Ok((values, records)) => {
                request.variables = values;
                if let Some(records) = records {
                    request = request.data(records);
                }
            }
            Err(message) => return request_error(message, "GRAPHQL_VALIDATION_FAILED", media),
        }
    }
    drop(body);
    execute(&state, request, principal, media).await
}

/// A large request body, with its variables left as JSON text.
#[derive(serde::Deserialize)]
struct LargeBody<'a> {
    #[serde(default)]
    query: String,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
    #[serde(default, borrow)]
    variables: Option<std::collections::HashMap<String, &'a serde_json::value::RawValue>>,
    #[serde(default)]
    extensions: Option<std::collections::HashMap<String, serde_json::Value>>,
}

type RawVariables<'a> = std::collections::HashMap<String, &'a serde_json::value::RawValue>;

impl<'a> LargeBody<'a> {
    /// The request without its variables, and the variables.
    fn split(self) -> (async_graphql::Request, Option<RawVariables<'a>>) {
        let mut request = async_graphql::Request::new(self.query);
        request.operation_name = self.operation_name;
        for (name, value) in self.extensions.unwrap_or_default() {
            if let Ok(value) = async_graphql::Value::from_json(value) {
                request.extensions.insert(name, value);
            }
        }
        (request, Some(self.variables.unwrap_or_default()))
    }
}

/// The variable a sync-only document passes as `syncMembers(records:)`.
fn records_variable(field: &async_graphql::parser::types::Field) -> Option<String> {
    match field.get_argument("records").map(|value| &value.node) {
        Some(async_graphql_value::Value::Variable(name)) => Some(name.to_string()),
        _ => None,
    }
}

/// The variables of a large request: the records variable read straight
/// into typed records (and sent on as an empty list), the rest as values.
fn sync_variables(
    raw: RawVariables<'_>,
    records: Option<&str>,
) -> Result<(async_graphql::Variables, Option<SyncRecords>), String> {
    let mut values = serde_json::Map::new();
    let mut read = None;
    for (name, text) in raw {
        if Some(name.as_str()) == records {
            let parsed = SyncRecords::from_json(text.get())
                .map_err(|e| format!("variable \"${name}\" is not a list of SyncRecord: {e}"))?;
            read = Some(parsed);
            values.insert(name, serde_json::Value::Array(Vec::new()));
        } else {
            let value = serde_json::from_str(text.get())
                .map_err(|e| format!("variable \"${name}\" is not JSON: {e}"))?;
            values.insert(name, value);
        }
    }
    Ok((
        async_graphql::Variables::from_json(serde_json::Value::Object(values)),
        read,
    ))
}

fn too_large(limit: usize) -> HttpResponse {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        &format!(
            "the request body is larger than {limit} bytes; only a single syncMembers \
             mutation may be larger"
        ),
    )
}

/// The `syncMembers` field of a document that is exactly one mutation
/// selecting only it: the one request allowed past the general body limit.
fn sync_members_only(
    doc: &async_graphql::parser::types::ExecutableDocument,
) -> Option<&async_graphql::parser::types::Field> {
    use async_graphql::parser::types::{DocumentOperations, Selection};
    if !doc.fragments.is_empty() {
        return None;
    }
    let operation = match &doc.operations {
        DocumentOperations::Single(op) => op,
        DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.values().next()?,
        DocumentOperations::Multiple(_) => return None,
    };
    let items = &operation.node.selection_set.node.items;
    match &items.first()?.node {
        Selection::Field(f)
            if operation.node.ty == OperationType::Mutation
                && items.len() == 1
                && f.node.name.node == "syncMembers" =>
        {
            Some(&f.node)
        }
        _ => None,
    }
}

/// Counters for monitoring, in the Prometheus text format. The webhook
/// gauges are measured by the delivery worker (every few seconds), so a
/// scrape runs no query.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let statements = state.service.sql_statements();
    let stats = state.service.delivery_stats();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(format!(
            "# HELP roster_sql_statements_total SQL statements run against the database for requests.\n\
             # TYPE roster_sql_statements_total counter\n\
             roster_sql_statements_total {statements}\n\
             # HELP roster_webhook_deliveries_total Webhook delivery attempts by outcome: delivered, retry (failed, tried again later), failed (given up).\n\
             # TYPE roster_webhook_deliveries_total counter\n\
             roster_webhook_deliveries_total{{outcome=\"delivered\"}} {}\n\
             roster_webhook_deliveries_total{{outcome=\"retry\"}} {}\n\
             roster_webhook_deliveries_total{{outcome=\"failed\"}} {}\n\
             # HELP roster_webhook_queue_depth Webhook deliveries waiting to be sent to enabled endpoints.\n\
             # TYPE roster_webhook_queue_depth gauge\n\
             roster_webhook_queue_depth {}\n\
             # HELP roster_webhook_oldest_undelivered_seconds Age of the oldest event not yet delivered (queued, or not yet dispatched).\n\
             # TYPE roster_webhook_oldest_undelivered_seconds gauge\n\
             roster_webhook_oldest_undelivered_seconds {}\n",
            stats.delivered.load(Relaxed),
            stats.retried.load(Relaxed),
            stats.failed.load(Relaxed),
            stats.queue_depth.load(Relaxed),
            stats.oldest_undelivered_secs.load(Relaxed),
        ))
}

async fn graphql_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(media) = negotiate(&req) else {
        return not_acceptable();
    };
    let principal = match authenticate(&req, &state.service).await {
        Ok(principal) => principal,
        Err(response) => return response,
    };
    let mut request = match async_graphql::http::parse_query_string(req.query_string()) {
        Ok(request) => request,
        Err(e) => {
            let message = format!("the query string is not a GraphQL request: {e}");
            return error_response(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message);
        }
    };
    if let Some(response) = resolve_persisted(&state, &principal, &mut request, media) {
        return response;
    }
    // A GET must not change anything: refuse documents that hold anything
    // but queries before running them (a persisted one included).
    let has_mutation = state.documents.parsed(&request.query).is_some_and(|doc| {
        doc.operations
            .iter()
            .any(|(_, op)| op.node.ty != OperationType::Query)
    });
    if has_mutation {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "mutations must be sent with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, request, principal, media).await
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let message = format!("{} is not supported here; use GET or POST", req.method());
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &message,
    );
    let allow = "GET, POST";
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

async fn graphiql() -> HttpResponse {
    let mut response = HttpResponse::Ok();
    graphiql_headers(&mut response);
    response
        .content_type(ContentType::html())
        .body(GRAPHIQL_PAGE)
}

/// The GraphiQL page: its scripts and stylesheet come from
/// [`graphiql_asset`], and it runs no inline script.
const GRAPHIQL_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Roster GraphiQL</title>
<link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
<style>
  html, body { height: 100%; margin: 0; overflow: hidden; }
  #graphiql { height: 100vh; }
</style>
</head>
<body>
<div id="graphiql"></div>
<script src="/graphiql/assets/react.production.min.js"></script>
<script src="/graphiql/assets/react-dom.production.min.js"></script>
<script src="/graphiql/assets/graphiql.min.js"></script>
<script src="/graphiql/assets/start.js"></script>
</body>
</html>
"#;

/// The Content-Security-Policy of the GraphiQL page and its files: scripts
/// only from files on this origin (no inline script, no `eval`), requests
/// only to it. Inline styles are allowed because GraphiQL and its editor
/// set them on elements; `data:` fonts because GraphiQL's stylesheet
/// carries its fonts (Roboto, Fira Code) inline as `data:` URLs.
const GRAPHIQL_CSP: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'";

/// The security headers of the GraphiQL page and its files.
fn graphiql_headers(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, GRAPHIQL_CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
}

/// The files of the GraphiQL page, compiled in (see
/// `assets/graphiql/README.md`); any other name is a 404.
async fn graphiql_asset(file: web::Path<String>) -> HttpResponse {
    const JS: &str = "text/javascript; charset=utf-8";
    const CSS: &str = "text/css; charset=utf-8";
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (include_bytes!("../assets/graphiql/graphiql.min.js"), JS),
        "graphiql.min.css" => (include_bytes!("../assets/graphiql/graphiql.min.css"), CSS),
        "react.production.min.js" => (
            include_bytes!("../assets/graphiql/react.production.min.js"),
            JS,
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../assets/graphiql/react-dom.production.min.js"),
            JS,
        ),
        "start.js" => (include_bytes!("../assets/graphiql/start.js"), JS),
        _ => {
            let mut response = HttpResponse::NotFound();
            graphiql_headers(&mut response);
            return response.finish();
        }
    };
    let mut response = HttpResponse::Ok();
    graphiql_headers(&mut response);
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}

async fn schema_sdl(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(state.schema.sdl())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.service.ready().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({ "status": "unavailable" })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_link_secrets_stay_out_of_the_access_log() {
        assert_eq!(logged_path("/admin/link/rcl_secret"), "/admin/link/…");
        assert_eq!(logged_path("/admin/link/"), "/admin/link/…");
        assert_eq!(logged_path("/admin/orgs"), "/admin/orgs");
        assert_eq!(logged_path("/graphql"), "/graphql");
    }
}
