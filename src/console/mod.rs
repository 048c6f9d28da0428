//! The admin console at `/admin`: server-rendered pages (maud) over the
//! same GraphQL schema the API serves, run in-process with the signed-in
//! principal, so the console can do nothing the API would refuse. Every
//! asset is embedded in the binary (rust-embed); htmx enhances links and
//! forms (`hx-boost`) and every page works without JavaScript.
//!
//! Signing in: a token pasted into the form, or a one-time link from
//! `roster console link`. The session lives in `console_sessions`; the
//! cookie holds its id (HttpOnly, SameSite=Strict, Secure over https).
//! Every POST carries the session's CSRF token. See docs/console.md.

// A page either renders or answers with the response that says why not
// (a redirect, a 404): the error side is a response by design.
#![allow(clippy::result_large_err)]

mod pages;
mod view;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use maud::Markup;
use serde_json::Value;

use crate::auth::{CallerRole, Principal};
use crate::domain::OrgId;
use crate::http::AppState;
use crate::service::{AuthFailure, ConsoleSession};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "roster_session";
/// The sign-in form's CSRF cookie (before there is a session).
const SIGNIN_COOKIE: &str = "roster_signin";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";

/// The Content-Security-Policy of every console response: scripts and
/// styles only from this origin, no inline code, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(rust_embed::Embed)]
#[folder = "assets/console/"]
struct Assets;

/// The console's routes, under `/admin`.
pub fn routes() -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/admin")
        .wrap_fn(|req, srv| {
            use actix_web::dev::Service as _;
            let response = srv.call(req);
            async move {
                let mut response = response.await?;
                let headers = response.headers_mut();
                let set =
                    |h: &mut header::HeaderMap, name: header::HeaderName, value: &'static str| {
                        h.insert(name, HeaderValue::from_static(value));
                    };
                set(headers, header::CONTENT_SECURITY_POLICY, CSP);
                set(headers, header::X_FRAME_OPTIONS, "DENY");
                set(headers, header::REFERRER_POLICY, "same-origin");
                set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
                if !headers.contains_key(header::CACHE_CONTROL) {
                    set(headers, header::CACHE_CONTROL, "no-store");
                }
                Ok(response)
            }
        })
        .route("", web::get().to(pages::home))
        .route("/", web::get().to(pages::home))
        .route("/assets/{file}", web::get().to(asset))
        .route("/sign-in", web::get().to(pages::sign_in_form))
        .route("/sign-in", web::post().to(pages::sign_in))
        .route("/link/{secret}", web::get().to(pages::link_form))
        .route("/link", web::post().to(pages::link_sign_in))
        .route("/sign-out", web::post().to(pages::sign_out))
        .route("/orgs", web::get().to(pages::orgs))
        .service(
            web::scope("/orgs/{org}")
                .route("", web::get().to(pages::org_home))
                .route("/members", web::get().to(pages::members))
                .route("/members/{user}", web::get().to(pages::member))
                .route(
                    "/members/{user}/{action}",
                    web::post().to(pages::member_action),
                )
                .route("/members/{user}/{action}", web::get().to(pages::parent))
                .route("/groups", web::get().to(pages::groups))
                .route("/groups", web::post().to(pages::group_create))
                .route("/groups/{group}", web::get().to(pages::group))
                .route(
                    "/groups/{group}/{action}",
                    web::post().to(pages::group_action),
                )
                .route("/groups/{group}/{action}", web::get().to(pages::parent))
                .route("/activity", web::get().to(pages::activity))
                .route("/integrations", web::get().to(pages::integrations))
                .route(
                    "/integrations/{action}",
                    web::post().to(pages::integrations_action),
                )
                .route("/integrations/{action}", web::get().to(pages::parent))
                .route(
                    "/integrations/webhooks/{hook}",
                    web::get().to(pages::webhook),
                )
                .route("/import", web::get().to(pages::import_form))
                .route("/import", web::post().to(pages::import))
                .default_service(web::to(pages::not_found)),
        )
        .default_service(web::to(pages::not_found))
}

/// An embedded asset (htmx, the stylesheet), cached for a day.
async fn asset(path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    let Some(file) = Assets::get(&name) else {
        return pages::not_found_page();
    };
    let kind = match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, kind))
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(file.data.into_owned())
}

/// Whether the request came over https (directly or, as the proxy says,
/// through one): the session cookie is then `Secure`.
fn over_https(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

/// A cookie scoped to the console.
fn cookie(
    req: &HttpRequest,
    name: &'static str,
    value: String,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_https(req))
        .max_age(actix_web::cookie::time::Duration::seconds(
            max_age_secs.max(0),
        ))
        .finish()
}

/// A 303 to `location` (and, for an htmx request, the same as HX-Redirect
/// so the whole page changes).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// A request made by a form on one of our pages: no `Origin`, or ours.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let info = req.connection_info();
    let expected = format!("{}://{}", info.scheme(), info.host());
    origin.to_str().is_ok_and(|o| o == expected)
}

/// The signed-in caller of a console request.
#[derive(Clone)]
pub struct Caller {
    pub state: web::Data<AppState>,
    pub session: ConsoleSession,
}

impl Caller {
    pub fn principal(&self) -> &Principal {
        &self.session.principal
    }

    pub fn is_operator(&self) -> bool {
        self.principal().role == CallerRole::Operator
    }

    /// The org of a `/admin/orgs/{org}` URL, if this caller may open it:
    /// a tenant only their own; anything else is the same 404 as an org
    /// that does not exist.
    pub fn org(&self, text: &str) -> Result<OrgId, HttpResponse> {
        let org: OrgId = text.parse().map_err(|_| pages::not_found_page())?;
        match self.principal().org {
            Some(own) if own != org => Err(pages::not_found_page()),
            _ => Ok(org),
        }
    }

    /// Runs a GraphQL document in-process as this caller; the `data`, or
    /// the page that says why not.
    pub async fn graphql(&self, query: &str, variables: Value) -> Result<Value, HttpResponse> {
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables))
            .data(self.session.principal.clone());
        let response = self.state.schema.execute(request).await;
        if let Some(error) = response.errors.first() {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .and_then(|c| match c {
                    async_graphql::Value::String(s) => Some(s.clone()),
                    async_graphql::Value::Enum(e) => Some(e.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            return Err(match code.as_str() {
                "NOT_FOUND" => pages::not_found_page(),
                "FORBIDDEN" => {
                    pages::message_page(StatusCode::FORBIDDEN, "Not allowed", &error.message)
                }
                "INTERNAL" | "UNAVAILABLE" => {
                    tracing::warn!(error = %error.message, "console query failed");
                    pages::message_page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Try again",
                        "The service could not answer just now; try again shortly.",
                    )
                }
                // A code-less error is a value the schema refused before
                // running (a bad id or time in a form field): the
                // caller's mistake.
                _ => pages::message_page(StatusCode::BAD_REQUEST, "Cannot do that", &error.message),
            });
        }
        serde_json::to_value(&response.data).map_err(|_| {
            pages::message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Try again",
                "The answer could not be read.",
            )
        })
    }

    /// Checks a POST's CSRF token (form field or `X-CSRF-Token`) and its
    /// origin; the 403 page when either is wrong.
    pub fn check_csrf(&self, req: &HttpRequest, field: Option<&str>) -> Result<(), HttpResponse> {
        let header = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        let given = field.or(header).unwrap_or_default();
        if !same_origin(req) || !constant_eq(given, &self.session.csrf) {
            return Err(csrf_refused());
        }
        Ok(())
    }
}

/// The 403 for a form without the right CSRF token.
fn csrf_refused() -> HttpResponse {
    pages::message_page(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form is out of date or did not come from this console. Go back, reload the page and try again.",
    )
}

/// Compares two secrets in time independent of where they differ.
fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The request's session, or the redirect to the sign-in page.
pub async fn caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Caller, HttpResponse> {
    let Some(id) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Err(to_sign_in(req));
    };
    match state.service.console_session(&id).await {
        Ok(Some(mut session)) => {
            session.principal.request_id = req
                .extensions()
                .get::<crate::http::RequestId>()
                .map(|r| r.0.clone());
            Ok(Caller {
                state: state.clone(),
                session,
            })
        }
        Ok(None) => Err(to_sign_in(req)),
        Err(AuthFailure::Unavailable) | Err(AuthFailure::Refused(_)) => Err(pages::message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The service could not answer just now; try again shortly.",
        )),
    }
}

/// To the sign-in page, dropping a stale session cookie.
fn to_sign_in(req: &HttpRequest) -> HttpResponse {
    let mut response = see_other("/admin/sign-in");
    if req.cookie(SESSION_COOKIE).is_some() {
        let _ = response.add_cookie(&cookie(req, SESSION_COOKIE, String::new(), 0));
    }
    if req.headers().contains_key("hx-request") {
        response.headers_mut().insert(
            header::HeaderName::from_static("hx-redirect"),
            HeaderValue::from_static("/admin/sign-in"),
        );
    }
    response
}

/// An HTML response.
pub fn html(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}
