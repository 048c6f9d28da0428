//! The console's pages and actions. Each reads and writes through the
//! GraphQL schema as the signed-in caller ([`Caller::graphql`]); a failed
//! action shows its sentence on the page it came from, a done one
//! redirects (303) back with a fixed notice.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::view::{self, Frame, Notice, Section, csrf, text, when, word};
use super::{
    CSRF_FIELD, Caller, SESSION_COOKIE, SIGNIN_COOKIE, caller, constant_eq, cookie, csrf_refused,
    html as respond, same_origin, see_other,
};
use crate::http::AppState;
use crate::service::AuthFailure;

type State = web::Data<AppState>;

/// Members, groups and events shown per page.
const PAGE: i64 = 25;

/// The value, or (returned) the page that says why not.
macro_rules! or_page {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

/// The page for anything that is not there, or not the caller's: the
/// same for both.
pub fn not_found_page() -> HttpResponse {
    message_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here. Check the address, or go back to the members list.",
    )
}

pub async fn not_found() -> HttpResponse {
    not_found_page()
}

/// A GET on an action's address (a reload after a form, say): back to
/// the page the action belongs to.
pub async fn parent(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    match path.rsplit_once('/') {
        Some((up, _)) if up.starts_with("/admin/orgs/") => see_other(up),
        _ => not_found_page(),
    }
}

/// A page with one sentence.
pub fn message_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    respond(
        status,
        view::bare(
            title,
            html! {
                p { (message) }
                p { a href="/admin" { "Back to the console" } }
            },
        ),
    )
}

/// A form body: its fields in order (a name may repeat).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_owned()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Whether every named field holds a UUID: ids come from the page's own
/// forms, so one that is not is answered like an id that is nowhere.
fn ids_ok(form: &Form, names: &[&str]) -> bool {
    names
        .iter()
        .all(|name| form.text(name).parse::<uuid::Uuid>().is_ok())
}

/// The query string's fields.
fn query(req: &HttpRequest) -> Form {
    Form::parse(req.query_string().as_bytes())
}

/// The caller and the org they opened, by name, or the page to answer.
struct OrgPage {
    caller: Caller,
    id: String,
    name: String,
}

impl OrgPage {
    async fn open(req: &HttpRequest, state: &State, org: &str) -> Result<Self, HttpResponse> {
        let caller = caller(req, state).await?;
        let id = caller.org(org)?;
        let data = caller
            .graphql(
                "query($org: Uuid) { org(id: $org) { id name } }",
                json!({ "org": id.to_string() }),
            )
            .await?;
        let org = &data["org"];
        if org.is_null() {
            return Err(not_found_page());
        }
        Ok(Self {
            id: text(&org["id"]),
            name: text(&org["name"]),
            caller,
        })
    }

    /// [`OrgPage::open`] for a form's POST: also its fields, once its CSRF
    /// token checks out.
    async fn posted(
        req: &HttpRequest,
        state: &State,
        org: &str,
        body: &[u8],
    ) -> Result<(Self, Form), HttpResponse> {
        let page = Self::open(req, state, org).await?;
        let form = Form::parse(body);
        page.caller.check_csrf(req, form.get(CSRF_FIELD))?;
        Ok((page, form))
    }

    fn render(
        &self,
        status: StatusCode,
        title: &str,
        section: Section,
        notice: Option<Notice>,
        content: Markup,
    ) -> HttpResponse {
        respond(
            status,
            view::page(
                Frame {
                    title,
                    org: Some((&self.id, &self.name)),
                    section,
                    csrf: &self.caller.session.csrf,
                    operator: self.caller.is_operator(),
                    notice,
                },
                content,
            ),
        )
    }

    async fn graphql(&self, query: &str, mut variables: Value) -> Result<Value, HttpResponse> {
        variables["org"] = json!(self.id);
        self.caller.graphql(query, variables).await
    }

    fn base(&self) -> String {
        format!("/admin/orgs/{}", self.id)
    }
}

/// The notices a redirect may ask for, by key: fixed sentences, so that
/// nothing from the address is echoed into the page.
fn notice_of(req: &HttpRequest) -> Option<Notice> {
    let key = query(req).text("notice");
    let sentence = match key.as_str() {
        "retired" => "The member is retired.",
        "reactivated" => "The member is active again.",
        "role" => "The role is changed.",
        "group-added" => "Added to the group.",
        "group-removed" => "Taken out of the group.",
        "removed" => "The member is removed from the org.",
        "resent" => "A new invitation is on its way.",
        "invitation-revoked" => "The invitation is revoked.",
        "group-created" => "The group is created.",
        "group-renamed" => "The group is saved.",
        "group-deleted" => "The group is deleted.",
        "token-revoked" => "The token is revoked.",
        "webhook-deleted" => "The webhook is deleted.",
        "redelivered" => "The events are queued for the webhook again.",
        "signed-out" => "You are signed out.",
        _ => return None,
    };
    Some(Notice::Ok(sentence.into()))
}

/// A mutation's failure, in words a person can act on: the guard
/// failures by name, the rest as the API says them.
fn failure(result: &Value) -> Option<String> {
    if text(&result["result"]) != "failed" {
        return None;
    }
    let message = text(&result["error"]);
    let sentence = match text(&result["errorCode"]).as_str() {
        "LAST_ADMIN" => format!(
            "Not done: this is the org's last active admin. Make another member an admin first. ({message})"
        ),
        "SELF_ACTION" => format!(
            "Not done: you cannot do this to your own membership; ask another admin. ({message})"
        ),
        "RATE_LIMITED" => format!("Not done: too many invitations this hour. ({message})"),
        _ => format!("Not done: {message}"),
    };
    Some(sentence)
}

/// The status of a page that shows a failed action.
fn failed_status(result: &Value) -> StatusCode {
    match text(&result["errorCode"]).as_str() {
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "INVALID_INPUT" => StatusCode::UNPROCESSABLE_ENTITY,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::CONFLICT,
    }
}

/// Asks before an action that cannot be undone: its form again (posting
/// to `action`) with `confirm=yes`, and a way back to `back`.
fn confirm_page(
    page: &OrgPage,
    title: &str,
    question: &str,
    (action, back): (&str, &str),
    section: Section,
) -> HttpResponse {
    page.render(
        StatusCode::OK,
        title,
        section,
        None,
        html! {
            p #question { (question) }
            form.row method="post" action=(action) {
                (csrf(&page.caller.session.csrf))
                input type="hidden" name="confirm" value="yes";
                button.danger type="submit" { (title) }
                a.button href=(back) { "Cancel" }
            }
        },
    )
}

// ---------------------------------------------------------------------
// Signing in and out

pub async fn home(req: HttpRequest, state: State) -> HttpResponse {
    match caller(&req, &state).await {
        Ok(caller) => match caller.principal().org {
            Some(org) if !caller.is_operator() => see_other(&format!("/admin/orgs/{org}/members")),
            _ => see_other("/admin/orgs"),
        },
        Err(response) => response,
    }
}

/// The sign-in form, with a fresh form token in a cookie of its own.
fn sign_in_page(req: &HttpRequest, status: StatusCode, error: Option<&str>) -> HttpResponse {
    let token = crate::service::secret("");
    let mut response = respond(
        status,
        view::bare(
            "Sign in to Roster",
            html! {
                @if let Some(error) = error { (Notice::Error(error.into()).render()) }
                @if let Some(notice) = notice_of(req) { (notice.render()) }
                p { "Paste an admin or operator token. Your app can also hand you a one-time sign-in link." }
                form method="post" action="/admin/sign-in" {
                    (csrf(&token))
                    label for="token" { "Token" }
                    textarea #token name="token" rows="5" required autocomplete="off" spellcheck="false" {}
                    p { button type="submit" { "Sign in" } }
                }
            },
        ),
    );
    let _ = response.add_cookie(&cookie(req, SIGNIN_COOKIE, token, 3600));
    response
}

pub async fn sign_in_form(req: HttpRequest, state: State) -> HttpResponse {
    if let Some(id) = req.cookie(SESSION_COOKIE)
        && let Ok(Some(_)) = state.service.console_session(id.value()).await
    {
        return see_other("/admin");
    }
    sign_in_page(&req, StatusCode::OK, None)
}

/// Whether a sign-in form's token matches its cookie.
fn sign_in_csrf(req: &HttpRequest, form: &Form) -> bool {
    let cookie = req.cookie(SIGNIN_COOKIE);
    same_origin(req)
        && cookie.is_some_and(|c| {
            !c.value().is_empty()
                && constant_eq(c.value(), form.get(CSRF_FIELD).unwrap_or_default())
        })
}

/// Ends the session this browser had, if any: a new sign-in replaces it.
async fn end_previous(req: &HttpRequest, state: &State) {
    if let Some(id) = req.cookie(SESSION_COOKIE)
        && !id.value().is_empty()
    {
        let _ = state.service.close_console_session(id.value()).await;
    }
}

/// Sets the session cookie and goes to the console.
fn signed_in(req: &HttpRequest, opened: crate::service::OpenedSession) -> HttpResponse {
    let seconds = (opened.expires_at - crate::service::now()).num_seconds();
    let mut response = see_other("/admin");
    let _ = response.add_cookie(&cookie(req, SESSION_COOKIE, opened.id, seconds));
    let _ = response.add_cookie(&cookie(req, SIGNIN_COOKIE, String::new(), 0));
    response
}

fn refused_sign_in(req: &HttpRequest, failure: AuthFailure) -> HttpResponse {
    match failure {
        AuthFailure::Refused(reason) => sign_in_page(
            req,
            StatusCode::UNAUTHORIZED,
            Some(&format!("Not signed in: {reason}.")),
        ),
        AuthFailure::Unavailable => message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The service could not answer just now; try again shortly.",
        ),
    }
}

pub async fn sign_in(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    if !sign_in_csrf(&req, &form) {
        return csrf_refused();
    }
    end_previous(&req, &state).await;
    match state
        .service
        .open_console_session(&pasted_token(&form.text("token")))
        .await
    {
        Ok(opened) => signed_in(&req, opened),
        Err(failure) => refused_sign_in(&req, failure),
    }
}

/// The token in what was pasted: the token itself, `Bearer <token>`, or
/// the header line Roster prints at its first start
/// (`{"Authorization": "Bearer <token>"}`).
fn pasted_token(text: &str) -> String {
    let text = text.trim();
    let header = serde_json::from_str::<Value>(text).ok().and_then(|v| {
        v.get("Authorization")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let value = header.as_deref().unwrap_or(text).trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim().to_owned(),
        _ => value.to_owned(),
    }
}

/// A one-time link's page: signing in takes a click (a POST), so that a
/// mail scanner fetching the link does not use it up.
pub async fn link_form(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let token = crate::service::secret("");
    let mut response = respond(
        StatusCode::OK,
        view::bare(
            "Sign in to Roster",
            html! {
                p { "This one-time link signs you in to the Roster console." }
                form method="post" action="/admin/link" {
                    (csrf(&token))
                    input type="hidden" name="link" value=(path.into_inner());
                    button type="submit" { "Continue" }
                }
            },
        ),
    );
    let _ = response.add_cookie(&cookie(&req, SIGNIN_COOKIE, token, 3600));
    response
}

pub async fn link_sign_in(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    let form = Form::parse(&body);
    if !sign_in_csrf(&req, &form) {
        return csrf_refused();
    }
    end_previous(&req, &state).await;
    match state.service.open_console_link(&form.text("link")).await {
        Ok(opened) => signed_in(&req, opened),
        Err(failure) => refused_sign_in(&req, failure),
    }
}

pub async fn sign_out(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    let caller = or_page!(caller(&req, &state).await);
    let form = Form::parse(&body);
    if let Err(response) = caller.check_csrf(&req, form.get(CSRF_FIELD)) {
        return response;
    }
    if let Some(id) = req.cookie(SESSION_COOKIE)
        && state
            .service
            .close_console_session(id.value())
            .await
            .is_err()
    {
        return message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The service could not answer just now; try again shortly.",
        );
    }
    let mut response = see_other("/admin/sign-in?notice=signed-out");
    let _ = response.add_cookie(&cookie(&req, SESSION_COOKIE, String::new(), 0));
    response
}

// ---------------------------------------------------------------------
// Orgs (operators)

pub async fn orgs(req: HttpRequest, state: State) -> HttpResponse {
    let caller = or_page!(caller(&req, &state).await);
    if !caller.is_operator() {
        return match caller.principal().org {
            Some(org) => see_other(&format!("/admin/orgs/{org}/members")),
            None => not_found_page(),
        };
    }
    let q = query(&req);
    let search = q.text("q");
    let after = q.get("after").filter(|a| !a.is_empty());
    let data = or_page!(
        caller
            .graphql(
                "query($q: String, $after: String) { orgs(first: 50, after: $after, q: $q) {
               pageInfo { hasNextPage endCursor } nodes { id slug name status } } }",
                json!({ "q": (!search.is_empty()).then_some(&search), "after": after }),
            )
            .await
    );
    let orgs = &data["orgs"];
    let empty = vec![];
    let nodes = orgs["nodes"].as_array().unwrap_or(&empty);
    let content = html! {
        p { "Pick the org to work in." }
        form.filters method="get" action="/admin/orgs" role="search" {
            label { "Name or slug" input type="search" name="q" value=(search); }
            button type="submit" { "Search" }
        }
        (view::table("Orgs", &["Name", "Slug", "Status"], html! {
            @for org in nodes {
                tr {
                    td { a href={ "/admin/orgs/" (text(&org["id"])) "/members" } { (text(&org["name"])) } }
                    td { (text(&org["slug"])) }
                    td { (text(&org["status"])) }
                }
            }
        }))
        @if orgs["pageInfo"]["hasNextPage"].as_bool() == Some(true) {
            p.pager { a href={ "/admin/orgs?q=" (view::query_value(&search)) "&after=" (view::query_value(&text(&orgs["pageInfo"]["endCursor"]))) } { "Next page" } }
        }
    };
    respond(
        StatusCode::OK,
        view::page(
            Frame {
                title: "Orgs",
                org: None,
                section: Section::Orgs,
                csrf: &caller.session.csrf,
                operator: true,
                notice: notice_of(&req),
            },
            content,
        ),
    )
}

pub async fn org_home(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    match OrgPage::open(&req, &state, &path).await {
        Ok(page) => see_other(&format!("{}/members", page.base())),
        Err(response) => response,
    }
}

// ---------------------------------------------------------------------
// Members

const MEMBERS: &str = "query($org: Uuid, $first: Int, $last: Int, $after: String, $before: String,
    $q: String, $roles: [Role!], $statuses: [MemberStatus!], $groupIds: [Uuid!], $sortBy: MemberSort) {
  members(org: $org, first: $first, last: $last, after: $after, before: $before, q: $q,
          roles: $roles, statuses: $statuses, groupIds: $groupIds, sortBy: $sortBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id name email role status externalId lastSignInAt invitation { status } }
  }
  groups(org: $org, first: 500) { nodes { id name } }
}";

/// The sort choices: (query value, GraphQL field, label).
const SORTS: [(&str, &str, &str); 5] = [
    ("name", "NAME", "Name"),
    ("email", "EMAIL", "Email"),
    ("created", "CREATED_AT", "Joined"),
    ("updated", "UPDATED_AT", "Last changed"),
    ("signin", "LAST_SIGN_IN_AT", "Last sign-in"),
];

pub async fn members(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let page = or_page!(OrgPage::open(&req, &state, &path).await);
    let q = query(&req);
    let search = q.text("q");
    let role = q.text("role");
    let status = q.text("status");
    let group = q.text("group");
    let sort = q.text("sort");
    let desc = q.text("dir") == "desc";
    let field = SORTS
        .iter()
        .find(|s| s.0 == sort)
        .map(|s| s.1)
        .unwrap_or("NAME");
    let after = q.get("after").filter(|a| !a.is_empty());
    let before = q.get("before").filter(|a| !a.is_empty());
    let one = |value: &str, allowed: &[&str]| -> Value {
        if allowed.contains(&value) {
            json!([value.to_uppercase()])
        } else {
            Value::Null
        }
    };
    let group_ids = match group.parse::<uuid::Uuid>() {
        Ok(id) => json!([id]),
        Err(_) => Value::Null,
    };
    let variables = json!({
        "first": if before.is_some() { Value::Null } else { json!(PAGE) },
        "last": if before.is_some() { json!(PAGE) } else { Value::Null },
        "after": after, "before": before,
        "q": (!search.is_empty()).then_some(&search),
        "roles": one(&role, &["user", "admin"]),
        "statuses": one(&status, &["active", "retired"]),
        "groupIds": group_ids,
        "sortBy": { "field": field, "direction": if desc { "DESC" } else { "ASC" } },
    });
    let data = or_page!(page.graphql(MEMBERS, variables).await);
    let members = &data["members"];
    let empty = vec![];
    let nodes = members["nodes"].as_array().unwrap_or(&empty);
    let groups = data["groups"]["nodes"].as_array().unwrap_or(&empty);
    let keep = format!(
        "q={}&role={}&status={}&group={}&sort={}&dir={}",
        view::query_value(&search),
        view::query_value(&role),
        view::query_value(&status),
        view::query_value(&group),
        view::query_value(&sort),
        if desc { "desc" } else { "asc" }
    );
    let base = format!("{}/members", page.base());
    let info = &members["pageInfo"];
    let content = html! {
        form.filters method="get" action=(base) role="search" {
            label { "Name or email" input type="search" name="q" value=(search); }
            label { "Role"
                select name="role" {
                    option value="" selected[role.is_empty()] { "Any" }
                    option value="user" selected[role == "user"] { "User" }
                    option value="admin" selected[role == "admin"] { "Admin" }
                }
            }
            label { "Status"
                select name="status" {
                    option value="" selected[status.is_empty()] { "Any" }
                    option value="active" selected[status == "active"] { "Active" }
                    option value="retired" selected[status == "retired"] { "Retired" }
                }
            }
            label { "Group"
                select name="group" {
                    option value="" { "Any" }
                    @for g in groups {
                        option value=(text(&g["id"])) selected[text(&g["id"]) == group] { (text(&g["name"])) }
                    }
                }
            }
            label { "Sort by"
                select name="sort" {
                    @for (value, _, label) in SORTS {
                        option value=(value) selected[sort == value || (sort.is_empty() && value == "name")] { (label) }
                    }
                }
            }
            label { "Order"
                select name="dir" {
                    option value="asc" selected[!desc] { "Ascending" }
                    option value="desc" selected[desc] { "Descending" }
                }
            }
            button type="submit" { "Show" }
        }
        p #total { (members["totalCount"].as_i64().unwrap_or_default()) " members match." }
        (view::table("Members", &["Name", "Email", "Role", "Status", "External id", "Invitation", "Last sign-in"], html! {
            @for m in nodes {
                tr {
                    td { a href={ (base) "/" (text(&m["id"])) } { (text(&m["name"])) } }
                    td.wrap { (text(&m["email"])) }
                    td { (word(&m["role"])) }
                    td { (word(&m["status"])) }
                    td.wrap { (text(&m["externalId"])) }
                    td { (word(&m["invitation"]["status"])) }
                    td { (when(&m["lastSignInAt"])) }
                }
            }
        }))
        nav.pager aria-label="Pages" {
            @if info["hasPreviousPage"].as_bool() == Some(true) {
                a href={ (base) "?" (keep) "&before=" (view::query_value(&text(&info["startCursor"]))) } rel="prev" { "Previous page" }
            }
            @if info["hasNextPage"].as_bool() == Some(true) {
                a href={ (base) "?" (keep) "&after=" (view::query_value(&text(&info["endCursor"]))) } rel="next" { "Next page" }
            }
        }
    };
    page.render(
        StatusCode::OK,
        "Members",
        Section::Members,
        notice_of(&req),
        content,
    )
}

const MEMBER: &str = "query($org: Uuid, $id: Uuid) {
  user(org: $org, id: $id) {
    id email firstName lastName name mobile locale timezone role status externalId managed
    attributes createdAt updatedAt retiredAt lastSignInAt emailVerifiedAt version
    invitation { status invitedAt expiresAt acceptedAt mailStatus mailError }
    groups { id name }
    history(first: 50) { nodes { type occurredAt actor { sub role channel } changes } }
  }
  groups(org: $org, first: 500) { nodes { id name } }
}";

async fn member_page(
    page: &OrgPage,
    user: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> HttpResponse {
    let Ok(user) = user.parse::<uuid::Uuid>() else {
        return not_found_page();
    };
    let data = or_page!(page.graphql(MEMBER, json!({ "id": user })).await);
    let m = &data["user"];
    if m.is_null() {
        return not_found_page();
    }
    let empty = vec![];
    let groups = m["groups"].as_array().unwrap_or(&empty);
    let all_groups = data["groups"]["nodes"].as_array().unwrap_or(&empty);
    let history = m["history"]["nodes"].as_array().unwrap_or(&empty);
    let action = |name: &str| format!("{}/members/{}/{}", page.base(), user, name);
    let token = &page.caller.session.csrf;
    let active = text(&m["status"]) == "ACTIVE";
    let role = text(&m["role"]);
    let invitation = &m["invitation"];
    let content = html! {
        section aria-labelledby="profile" {
            h2 #profile { "Profile" }
            dl.facts {
                dt { "Email" } dd { (text(&m["email"])) }
                dt { "First name" } dd { (text(&m["firstName"])) }
                dt { "Last name" } dd { (text(&m["lastName"])) }
                dt { "Mobile" } dd { (text(&m["mobile"])) }
                dt { "Locale" } dd { (text(&m["locale"])) }
                dt { "Time zone" } dd { (text(&m["timezone"])) }
                dt { "Role" } dd #role { (word(&m["role"])) }
                dt { "Status" } dd #status { (word(&m["status"])) }
                dt { "External id" } dd { (text(&m["externalId"])) }
                dt { "Member since" } dd { (when(&m["createdAt"])) }
                dt { "Last sign-in" } dd { (when(&m["lastSignInAt"])) }
                @if !m["retiredAt"].is_null() { dt { "Retired" } dd { (when(&m["retiredAt"])) } }
                @if !m["emailVerifiedAt"].is_null() { dt { "Email verified" } dd { (when(&m["emailVerifiedAt"])) } }
            }
        }
        section aria-labelledby="actions" {
            h2 #actions { "Actions" }
            div.actions {
                form.inline method="post" action=(action(if active { "retire" } else { "reactivate" })) {
                    (csrf(token))
                    button.danger[active] type="submit" { (if active { "Retire" } else { "Reactivate" }) }
                }
                form.inline method="post" action=(action("role")) {
                    (csrf(token))
                    input type="hidden" name="role" value=(if role == "ADMIN" { "user" } else { "admin" });
                    button.secondary type="submit" { (if role == "ADMIN" { "Make user" } else { "Make admin" }) }
                }
                form.inline method="post" action=(action("remove")) {
                    (csrf(token))
                    button.danger type="submit" { "Remove from org" }
                }
            }
        }
        section aria-labelledby="groups" {
            h2 #groups { "Groups" }
            @if groups.is_empty() { p.muted { "In no group." } }
            ul {
                @for g in groups {
                    li {
                        a href={ (page.base()) "/groups/" (text(&g["id"])) } { (text(&g["name"])) }
                        " "
                        form.inline method="post" action=(action("remove-group")) {
                            (csrf(token))
                            input type="hidden" name="groupId" value=(text(&g["id"]));
                            button.secondary type="submit" aria-label={ "Take out of " (text(&g["name"])) } { "Take out" }
                        }
                    }
                }
            }
            @if !all_groups.is_empty() {
                form.row method="post" action=(action("add-group")) {
                    (csrf(token))
                    label { "Group"
                        select name="groupId" {
                            @for g in all_groups { option value=(text(&g["id"])) { (text(&g["name"])) } }
                        }
                    }
                    button type="submit" { "Add to group" }
                }
            }
        }
        section aria-labelledby="invitation" {
            h2 #invitation { "Invitation" }
            @if invitation.is_null() {
                p.muted { "Never invited." }
            } @else {
                dl.facts {
                    dt { "Status" } dd { (word(&invitation["status"])) }
                    dt { "Invited" } dd { (when(&invitation["invitedAt"])) }
                    dt { "Expires" } dd { (when(&invitation["expiresAt"])) }
                    dt { "Accepted" } dd { (when(&invitation["acceptedAt"])) }
                    dt { "Mail" } dd { (word(&invitation["mailStatus"])) " " (text(&invitation["mailError"])) }
                }
            }
            @if text(&invitation["status"]) != "ACCEPTED" && active {
                div.actions {
                    form.inline method="post" action=(action("resend")) {
                        (csrf(token))
                        button.secondary type="submit" { (if invitation.is_null() { "Send invitation" } else { "Resend invitation" }) }
                    }
                    @if text(&invitation["status"]) == "PENDING" {
                        form.inline method="post" action=(action("revoke-invitation")) {
                            (csrf(token))
                            button.secondary type="submit" { "Revoke invitation" }
                        }
                    }
                }
            }
        }
        section aria-labelledby="attributes" {
            h2 #attributes { "Attributes" }
            pre { (view::pretty(&m["attributes"])) }
        }
        section aria-labelledby="history" {
            h2 #history { "History" }
            (events_table("History", history))
        }
    };
    let title = text(&m["name"]);
    page.render(status, &title, Section::Members, notice, content)
}

fn events_table(caption: &str, events: &[Value]) -> Markup {
    view::table(
        caption,
        &["When", "What", "Who", "Changes"],
        html! {
            @for e in events {
                tr {
                    td { (when(&e["occurredAt"])) }
                    td { (text(&e["type"])) }
                    td.wrap { (text(&e["actor"]["sub"])) " (" (text(&e["actor"]["role"])) ", " (text(&e["actor"]["channel"])) ")" }
                    td.wrap { code { (changes(&e["changes"])) } }
                }
            }
        },
    )
}

/// An event's changes in one line: `status: active → retired`.
fn changes(value: &Value) -> String {
    let Some(map) = value.as_object() else {
        return text(value);
    };
    map.iter()
        .map(|(k, v)| match (v.get("before"), v.get("after")) {
            (Some(Value::Null), Some(after)) => format!("{k}: {}", text(after)),
            (Some(before), Some(Value::Null)) => format!("{k}: {} → none", text(before)),
            (Some(before), Some(after)) => format!("{k}: {} → {}", text(before), text(after)),
            _ => format!("{k}: {}", text(v)),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn member(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (org, user) = path.into_inner();
    let page = or_page!(OrgPage::open(&req, &state, &org).await);
    member_page(&page, &user, StatusCode::OK, notice_of(&req)).await
}

pub async fn member_action(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, user, action) = path.into_inner();
    let (page, form) = or_page!(OrgPage::posted(&req, &state, &org, &body).await);
    let Ok(user_id) = user.parse::<uuid::Uuid>() else {
        return not_found_page();
    };
    if matches!(action.as_str(), "add-group" | "remove-group") && !ids_ok(&form, &["groupId"]) {
        return not_found_page();
    }
    const OUT: &str = "{ result error errorCode }";
    let (query, variables, done) = match action.as_str() {
        "retire" | "reactivate" => (
            format!(
                "mutation($org: Uuid, $u: Uuid!, $s: String) {{ r: updateMember(org: $org, userId: $u, status: $s) {OUT} }}"
            ),
            json!({ "u": user_id, "s": if action == "retire" { "retired" } else { "active" } }),
            if action == "retire" {
                "retired"
            } else {
                "reactivated"
            },
        ),
        "role" => (
            format!(
                "mutation($org: Uuid, $u: Uuid!, $r: String) {{ r: updateMember(org: $org, userId: $u, role: $r) {OUT} }}"
            ),
            json!({ "u": user_id, "r": form.text("role") }),
            "role",
        ),
        "add-group" | "remove-group" => (
            format!(
                "mutation($org: Uuid, $u: Uuid!, $g: Uuid!) {{ r: {}(org: $org, userId: $u, groupId: $g) {OUT} }}",
                if action == "add-group" {
                    "addGroupMembership"
                } else {
                    "removeGroupMembership"
                }
            ),
            json!({ "u": user_id, "g": form.text("groupId") }),
            if action == "add-group" {
                "group-added"
            } else {
                "group-removed"
            },
        ),
        "resend" => (
            format!(
                "mutation($org: Uuid, $u: Uuid!) {{ r: resendInvitation(org: $org, userId: $u) {OUT} }}"
            ),
            json!({ "u": user_id }),
            "resent",
        ),
        "revoke-invitation" => (
            format!(
                "mutation($org: Uuid, $u: Uuid!) {{ r: revokeInvitation(org: $org, userId: $u) {OUT} }}"
            ),
            json!({ "u": user_id }),
            "invitation-revoked",
        ),
        "remove" if form.text("confirm") != "yes" => {
            return confirm_page(
                &page,
                "Remove from org",
                "Remove this member from the org? Their groups here go with it, and a person who \
                 is in no other org is deleted. This cannot be undone; to keep them out but on \
                 record, retire them instead.",
                (
                    &format!("{}/members/{user_id}/remove", page.base()),
                    &format!("{}/members/{user_id}", page.base()),
                ),
                Section::Members,
            );
        }
        "remove" => {
            let data =
                or_page!(page
                .graphql(
                    "mutation($org: Uuid, $u: Uuid!) { r: removeMembers(org: $org, userIds: [$u]) {
                       removedIds undeletedItems { code reason } } }",
                    json!({ "u": user_id }),
                )
                .await);
            if let Some(item) = data["r"]["undeletedItems"]
                .as_array()
                .and_then(|i| i.first())
            {
                let result = json!({ "result": "failed", "errorCode": item["code"], "error": item["reason"] });
                let sentence = failure(&result).unwrap_or_default();
                return member_page(
                    &page,
                    &user,
                    failed_status(&result),
                    Some(Notice::Error(sentence)),
                )
                .await;
            }
            return see_other(&format!("{}/members?notice=removed", page.base()));
        }
        _ => return not_found_page(),
    };
    let data = or_page!(page.graphql(&query, variables).await);
    if let Some(sentence) = failure(&data["r"]) {
        return member_page(
            &page,
            &user,
            failed_status(&data["r"]),
            Some(Notice::Error(sentence)),
        )
        .await;
    }
    see_other(&format!(
        "{}/members/{}?notice={done}",
        page.base(),
        user_id
    ))
}

// ---------------------------------------------------------------------
// Groups

async fn groups_page(
    page: &OrgPage,
    req: &HttpRequest,
    status: StatusCode,
    notice: Option<Notice>,
) -> HttpResponse {
    let q = query(req);
    let search = q.text("q");
    let after = q.get("after").filter(|a| !a.is_empty());
    let data = or_page!(page
        .graphql(
            "query($org: Uuid, $q: String, $after: String) { groups(org: $org, first: 100, after: $after, q: $q) {
               totalCount pageInfo { hasNextPage endCursor } nodes { id name description } } }",
            json!({ "q": (!search.is_empty()).then_some(&search), "after": after }),
        )
        .await);
    let empty = vec![];
    let nodes = data["groups"]["nodes"].as_array().unwrap_or(&empty);
    let base = format!("{}/groups", page.base());
    let content = html! {
        form.filters method="get" action=(base) role="search" {
            label { "Name" input type="search" name="q" value=(search); }
            button type="submit" { "Search" }
        }
        (view::table("Groups", &["Name", "Description"], html! {
            @for g in nodes {
                tr {
                    td { a href={ (base) "/" (text(&g["id"])) } { (text(&g["name"])) } }
                    td.wrap { (text(&g["description"])) }
                }
            }
        }))
        @if data["groups"]["pageInfo"]["hasNextPage"].as_bool() == Some(true) {
            p.pager { a href={ (base) "?q=" (view::query_value(&search)) "&after=" (view::query_value(&text(&data["groups"]["pageInfo"]["endCursor"]))) } { "Next page" } }
        }
        h2 { "New group" }
        form.row method="post" action=(base) {
            (csrf(&page.caller.session.csrf))
            label { "Name" input type="text" name="name" required; }
            label { "Description" input type="text" name="description"; }
            button type="submit" { "Create group" }
        }
    };
    page.render(status, "Groups", Section::Groups, notice, content)
}

pub async fn groups(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let page = or_page!(OrgPage::open(&req, &state, &path).await);
    groups_page(&page, &req, StatusCode::OK, notice_of(&req)).await
}

pub async fn group_create(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (page, form) = or_page!(OrgPage::posted(&req, &state, &path, &body).await);
    let description = form.text("description");
    let data = or_page!(page
        .graphql(
            "mutation($org: Uuid, $n: String!, $d: String) { r: createGroup(org: $org, name: $n, description: $d) { id result error errorCode } }",
            json!({ "n": form.text("name"), "d": (!description.is_empty()).then_some(description) }),
        )
        .await);
    if let Some(sentence) = failure(&data["r"]) {
        return groups_page(
            &page,
            &req,
            failed_status(&data["r"]),
            Some(Notice::Error(sentence)),
        )
        .await;
    }
    see_other(&format!(
        "{}/groups/{}?notice=group-created",
        page.base(),
        text(&data["r"]["id"])
    ))
}

async fn group_page(
    page: &OrgPage,
    group: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> HttpResponse {
    let Ok(group) = group.parse::<uuid::Uuid>() else {
        return not_found_page();
    };
    let data = or_page!(page
        .graphql(
            "query($org: Uuid, $g: Uuid!) { group(org: $org, id: $g) { id name description version }
               groupUsers(org: $org, groupId: $g) { userId userName role status } }",
            json!({ "g": group }),
        )
        .await);
    let g = &data["group"];
    if g.is_null() {
        return not_found_page();
    }
    let empty = vec![];
    let users = data["groupUsers"].as_array().unwrap_or(&empty);
    let action = |name: &str| format!("{}/groups/{}/{}", page.base(), group, name);
    let token = &page.caller.session.csrf;
    let content = html! {
        p { (text(&g["description"])) }
        h2 { "Members" }
        (view::table("Group members", &["Name", "Role", "Status", ""], html! {
            @for u in users {
                tr {
                    td { a href={ (page.base()) "/members/" (text(&u["userId"])) } { (text(&u["userName"])) } }
                    td { (word(&u["role"])) }
                    td { (word(&u["status"])) }
                    td {
                        form.inline method="post" action=(action("remove-member")) {
                            (csrf(token))
                            input type="hidden" name="userId" value=(text(&u["userId"]));
                            button.secondary type="submit" aria-label={ "Take " (text(&u["userName"])) " out" } { "Take out" }
                        }
                    }
                }
            }
        }))
        form.row method="post" action=(action("add-member")) {
            (csrf(token))
            label { "Member's email" input type="email" name="email" required; }
            button type="submit" { "Add to group" }
        }
        h2 { "Name and description" }
        form.row method="post" action=(action("rename")) {
            (csrf(token))
            input type="hidden" name="version" value=(text(&g["version"]));
            label { "Name" input type="text" name="name" value=(text(&g["name"])) required; }
            label { "Description" input type="text" name="description" value=(text(&g["description"])); }
            button type="submit" { "Save" }
        }
        h2 { "Delete" }
        form.row method="post" action=(action("delete")) {
            (csrf(token))
            p.muted { "Deleting a group takes its members out of it; they stay in the org." }
            button.danger type="submit" { "Delete group" }
        }
    };
    let title = format!("Group {}", text(&g["name"]));
    page.render(status, &title, Section::Groups, notice, content)
}

pub async fn group(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (org, group) = path.into_inner();
    let page = or_page!(OrgPage::open(&req, &state, &org).await);
    group_page(&page, &group, StatusCode::OK, notice_of(&req)).await
}

pub async fn group_action(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, group, action) = path.into_inner();
    let (page, form) = or_page!(OrgPage::posted(&req, &state, &org, &body).await);
    let Ok(group_id) = group.parse::<uuid::Uuid>() else {
        return not_found_page();
    };
    if action == "remove-member" && !ids_ok(&form, &["userId"]) {
        return not_found_page();
    }
    const OUT: &str = "{ result error errorCode }";
    let (query, variables, done) = match action.as_str() {
        "rename" => (
            format!(
                "mutation($org: Uuid, $g: Uuid!, $n: String, $d: String, $v: Int) {{ r: updateGroup(org: $org, id: $g, name: $n, description: $d, ifVersion: $v) {OUT} }}"
            ),
            json!({ "g": group_id, "n": form.text("name"), "d": form.text("description"),
                    "v": form.text("version").parse::<i64>().ok() }),
            "group-renamed",
        ),
        "delete" if form.text("confirm") != "yes" => {
            return confirm_page(
                &page,
                "Delete group",
                "Delete this group? Its members stay in the org. This cannot be undone.",
                (
                    &format!("{}/groups/{group_id}/delete", page.base()),
                    &format!("{}/groups/{group_id}", page.base()),
                ),
                Section::Groups,
            );
        }
        "delete" => (
            format!(
                "mutation($org: Uuid, $g: Uuid!) {{ r: deleteGroup(org: $org, id: $g) {OUT} }}"
            ),
            json!({ "g": group_id }),
            "group-deleted",
        ),
        "remove-member" => (
            format!(
                "mutation($org: Uuid, $u: Uuid!, $g: Uuid!) {{ r: removeGroupMembership(org: $org, userId: $u, groupId: $g) {OUT} }}"
            ),
            json!({ "g": group_id, "u": form.text("userId") }),
            "group-removed",
        ),
        "add-member" => {
            let found = or_page!(
                page.graphql(
                    "query($org: Uuid, $e: String) { user(org: $org, email: $e) { id } }",
                    json!({ "e": form.text("email") }),
                )
                .await
            );
            let Some(user) = found["user"]["id"].as_str() else {
                return group_page(
                    &page,
                    &group,
                    StatusCode::NOT_FOUND,
                    Some(Notice::Error(
                        "Not done: no member of this org has that email.".into(),
                    )),
                )
                .await;
            };
            (
                format!(
                    "mutation($org: Uuid, $u: Uuid!, $g: Uuid!) {{ r: addGroupMembership(org: $org, userId: $u, groupId: $g) {OUT} }}"
                ),
                json!({ "g": group_id, "u": user }),
                "group-added",
            )
        }
        _ => return not_found_page(),
    };
    let data = or_page!(page.graphql(&query, variables).await);
    if let Some(sentence) = failure(&data["r"]) {
        return group_page(
            &page,
            &group,
            failed_status(&data["r"]),
            Some(Notice::Error(sentence)),
        )
        .await;
    }
    if action == "delete" {
        return see_other(&format!("{}/groups?notice=group-deleted", page.base()));
    }
    see_other(&format!(
        "{}/groups/{}?notice={done}",
        page.base(),
        group_id
    ))
}

// ---------------------------------------------------------------------
// Activity

/// The time windows the activity page offers: (value, label, hours).
const WINDOWS: [(&str, &str, i64); 4] = [
    ("hour", "Last hour", 1),
    ("day", "Last day", 24),
    ("week", "Last week", 24 * 7),
    ("month", "Last 30 days", 24 * 30),
];

pub async fn activity(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let page = or_page!(OrgPage::open(&req, &state, &path).await);
    let q = query(&req);
    let kind = q.text("type");
    let actor = q.text("actor");
    let target = q.text("target");
    let window = q.text("window");
    let hours = WINDOWS
        .iter()
        .find(|w| w.0 == window)
        .map(|w| w.2)
        .unwrap_or(24);
    let since = (chrono::Utc::now() - chrono::Duration::hours(hours)).to_rfc3339();
    let after = q.get("after").filter(|a| !a.is_empty());
    let data = or_page!(page
        .graphql(
            "query($org: Uuid, $types: [String!], $actor: String, $target: String, $since: DateTime, $after: String) {
               events(org: $org, first: 100, after: $after, types: $types, actorSub: $actor, targetId: $target, since: $since) {
                 pageInfo { hasNextPage endCursor }
                 nodes { type occurredAt actor { sub role channel } target { kind id } changes } } }",
            json!({
                "types": (!kind.is_empty()).then(|| json!([kind])),
                "actor": (!actor.is_empty()).then_some(&actor),
                "target": (!target.is_empty()).then_some(&target),
                "since": since, "after": after,
            }),
        )
        .await);
    let empty = vec![];
    let events = data["events"]["nodes"].as_array().unwrap_or(&empty);
    let base = format!("{}/activity", page.base());
    let info = &data["events"]["pageInfo"];
    let content = html! {
        p { "What changed in the org, oldest first." }
        form.filters method="get" action=(base) role="search" {
            label { "Event type" input type="text" name="type" value=(kind) placeholder="member.updated"; }
            label { "Who (sub)" input type="text" name="actor" value=(actor); }
            label { "About (id)" input type="text" name="target" value=(target); }
            label { "When"
                select name="window" {
                    @for (value, label, _) in WINDOWS {
                        option value=(value) selected[window == value || (window.is_empty() && value == "day")] { (label) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        div.table-wrap {
            table {
                caption.muted { "Events" }
                thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "About" } th scope="col" { "Who" } th scope="col" { "Changes" } } }
                tbody {
                    @for e in events {
                        tr {
                            td { (when(&e["occurredAt"])) }
                            td { (text(&e["type"])) }
                            td.wrap {
                                @if text(&e["target"]["kind"]) == "member" {
                                    a href={ (page.base()) "/members/" (text(&e["target"]["id"])) } { (text(&e["target"]["kind"])) " " (text(&e["target"]["id"])) }
                                } @else {
                                    (text(&e["target"]["kind"])) " " (text(&e["target"]["id"]))
                                }
                            }
                            td.wrap { (text(&e["actor"]["sub"])) " (" (text(&e["actor"]["role"])) ", " (text(&e["actor"]["channel"])) ")" }
                            td.wrap { code { (changes(&e["changes"])) } }
                        }
                    }
                }
            }
        }
        @if events.is_empty() { p.muted { "Nothing in this window." } }
        @if info["hasNextPage"].as_bool() == Some(true) {
            p.pager { a href={ (base) "?type=" (view::query_value(&kind)) "&actor=" (view::query_value(&actor)) "&target=" (view::query_value(&target)) "&window=" (view::query_value(&window)) "&after=" (view::query_value(&text(&info["endCursor"]))) } rel="next" { "Later events" } }
        }
    };
    page.render(
        StatusCode::OK,
        "Activity",
        Section::Activity,
        notice_of(&req),
        content,
    )
}

// ---------------------------------------------------------------------
// Integrations

/// The scopes an admin may give an API token, as the API lists them.
const TOKEN_SCOPES: [&str; 7] = [
    "members:read",
    "members:write",
    "groups:read",
    "groups:write",
    "events:read",
    "webhooks:write",
    "scim",
];

/// A secret shown once, after it was made.
struct Shown {
    what: &'static str,
    secret: String,
}

async fn integrations_page(
    page: &OrgPage,
    req: &HttpRequest,
    status: StatusCode,
    notice: Option<Notice>,
    shown: Option<Shown>,
) -> HttpResponse {
    let data = or_page!(page
        .graphql(
            "query($org: Uuid) {
               apiTokens(org: $org, first: 200) { nodes { id name scopes createdBy createdAt expiresAt lastUsedAt } }
               webhooks(org: $org) { id url description types enabled disabledReason } }",
            json!({}),
        )
        .await);
    let empty = vec![];
    let tokens = data["apiTokens"]["nodes"].as_array().unwrap_or(&empty);
    let hooks = data["webhooks"].as_array().unwrap_or(&empty);
    let base = format!("{}/integrations", page.base());
    let token = &page.caller.session.csrf;
    let info = req.connection_info();
    let scim = format!("{}://{}/scim/v2", info.scheme(), info.host());
    let content = html! {
        @if let Some(shown) = &shown {
            div.card #shown role="status" {
                p { strong { "Copy " (shown.what) " now: it is not shown again." } }
                code.secret #secret { (shown.secret) }
            }
        }
        section aria-labelledby="tokens" {
            h2 #tokens { "API tokens" }
            (view::table("API tokens", &["Name", "Scopes", "Created", "Expires", "Last used", ""], html! {
                @for t in tokens {
                    tr {
                        td { (text(&t["name"])) }
                        td.wrap { (t["scopes"].as_array().map(|s| s.iter().map(text).collect::<Vec<_>>().join(" ")).unwrap_or_default()) }
                        td { (when(&t["createdAt"])) }
                        td { (when(&t["expiresAt"])) }
                        td { @if t["lastUsedAt"].is_null() { "never" } @else { (when(&t["lastUsedAt"])) } }
                        td {
                            form.inline method="post" action={ (base) "/revoke-token" } {
                                (csrf(token))
                                input type="hidden" name="id" value=(text(&t["id"]));
                                button.danger type="submit" aria-label={ "Revoke " (text(&t["name"])) } { "Revoke" }
                            }
                        }
                    }
                }
            }))
            h3 { "New API token" }
            form method="post" action={ (base) "/create-token" } {
                (csrf(token))
                div.row.filters {
                    label { "Name" input type="text" name="name" required; }
                    label { "Expires in"
                        select name="expiresIn" {
                            option value="30d" { "30 days" }
                            option value="90d" selected { "90 days" }
                            option value="365d" { "365 days" }
                        }
                    }
                }
                fieldset {
                    legend { "Scopes" }
                    @for scope in TOKEN_SCOPES {
                        label.check { input type="checkbox" name="scopes" value=(scope); (scope) }
                    }
                }
                p { button type="submit" { "Create token" } }
            }
        }
        section aria-labelledby="scim" {
            h2 #scim { "SCIM" }
            p { "Identity providers provision this org at " code #scim-url { (scim) } " with a token that has the scim scope." }
            form.row method="post" action={ (base) "/scim-token" } {
                (csrf(token))
                label { "Token name" input type="text" name="name" value="SCIM" required; }
                button type="submit" { "Create a SCIM token" }
            }
        }
        section aria-labelledby="webhooks" {
            h2 #webhooks { "Webhooks" }
            (view::table("Webhooks", &["URL", "Description", "Events", "State"], html! {
                @for h in hooks {
                    tr {
                        td.wrap { a href={ (base) "/webhooks/" (text(&h["id"])) } { (text(&h["url"])) } }
                        td.wrap { (text(&h["description"])) }
                        td.wrap { @if h["types"].as_array().is_none_or(|t| t.is_empty()) { "all" } @else { (h["types"].as_array().map(|s| s.iter().map(text).collect::<Vec<_>>().join(" ")).unwrap_or_default()) } }
                        td { @if h["enabled"].as_bool() == Some(true) { "enabled" } @else { "disabled: " (text(&h["disabledReason"])) } }
                    }
                }
            }))
            h3 { "New webhook" }
            form.row method="post" action={ (base) "/create-webhook" } {
                (csrf(token))
                label { "URL (https)" input type="url" name="url" required; }
                label { "Event types (space-separated; empty: all)" input type="text" name="types"; }
                label { "Description" input type="text" name="description"; }
                button type="submit" { "Create webhook" }
            }
        }
    };
    page.render(
        status,
        "Integrations",
        Section::Integrations,
        notice,
        content,
    )
}

pub async fn integrations(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let page = or_page!(OrgPage::open(&req, &state, &path).await);
    integrations_page(&page, &req, StatusCode::OK, notice_of(&req), None).await
}

pub async fn integrations_action(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (org, action) = path.into_inner();
    let (page, form) = or_page!(OrgPage::posted(&req, &state, &org, &body).await);
    const CREATE_TOKEN: &str = "mutation($org: Uuid, $n: String!, $s: [String!]!, $e: String) {
      r: createApiToken(org: $org, name: $n, scopes: $s, expiresIn: $e) { result token error errorCode } }";
    let (query, variables) = match action.as_str() {
        "create-token" => (
            CREATE_TOKEN.to_owned(),
            json!({ "n": form.text("name"), "s": form.all("scopes"), "e": form.text("expiresIn") }),
        ),
        "scim-token" => (
            CREATE_TOKEN.to_owned(),
            json!({ "n": form.text("name"), "s": ["scim"], "e": "365d" }),
        ),
        "revoke-token" if !ids_ok(&form, &["id"]) => return not_found_page(),
        "revoke-token" => (
            "mutation($org: Uuid, $id: Uuid!) { r: revokeApiToken(org: $org, id: $id) { result error errorCode } }".to_owned(),
            json!({ "id": form.text("id") }),
        ),
        "create-webhook" => {
            let types: Vec<&str> = form.get("types").unwrap_or_default().split_whitespace().collect();
            let description = form.text("description");
            (
                "mutation($org: Uuid, $u: String!, $t: [String!], $d: String) {
                   r: createWebhook(org: $org, url: $u, types: $t, description: $d) { result secret error errorCode } }".to_owned(),
                json!({ "u": form.text("url"), "t": (!types.is_empty()).then_some(types),
                        "d": (!description.is_empty()).then_some(description) }),
            )
        }
        "redeliver" => {
            let hook = form.text("webhookId");
            if !ids_ok(&form, &["webhookId"]) {
                return not_found_page();
            }
            let Ok(since) =
                chrono::NaiveDateTime::parse_from_str(&form.text("since"), "%Y-%m-%dT%H:%M")
                    .map(|t| t.and_utc().to_rfc3339())
            else {
                let notice = Notice::Error("Not done: give the time as on the form (UTC).".into());
                return webhook_page(&page, &hook, StatusCode::UNPROCESSABLE_ENTITY, Some(notice)).await;
            };
            let data = or_page!(page
                .graphql(
                    "mutation($org: Uuid, $w: Uuid!, $s: DateTime!) { r: redeliverEvents(org: $org, webhookId: $w, since: $s) { result error errorCode } }",
                    json!({ "w": hook, "s": since }),
                )
                .await);
            if let Some(sentence) = failure(&data["r"]) {
                return webhook_page(&page, &hook, failed_status(&data["r"]), Some(Notice::Error(sentence))).await;
            }
            return see_other(&format!("{}/integrations/webhooks/{}?notice=redelivered", page.base(), view::query_value(&hook)));
        }
        _ => return not_found_page(),
    };
    let data = or_page!(page.graphql(&query, variables).await);
    let result = &data["r"];
    if let Some(sentence) = failure(result) {
        return integrations_page(
            &page,
            &req,
            failed_status(result),
            Some(Notice::Error(sentence)),
            None,
        )
        .await;
    }
    match action.as_str() {
        "revoke-token" => see_other(&format!(
            "{}/integrations?notice=token-revoked",
            page.base()
        )),
        "create-webhook" => {
            let shown = Shown {
                what: "the webhook's signing secret",
                secret: text(&result["secret"]),
            };
            integrations_page(
                &page,
                &req,
                StatusCode::OK,
                Some(Notice::Ok("The webhook is created.".into())),
                Some(shown),
            )
            .await
        }
        _ => {
            let shown = Shown {
                what: "the token",
                secret: text(&result["token"]),
            };
            integrations_page(
                &page,
                &req,
                StatusCode::OK,
                Some(Notice::Ok("The token is created.".into())),
                Some(shown),
            )
            .await
        }
    }
}

async fn webhook_page(
    page: &OrgPage,
    hook: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> HttpResponse {
    let Ok(hook) = hook.parse::<uuid::Uuid>() else {
        return not_found_page();
    };
    let data = or_page!(page
        .graphql(
            "query($org: Uuid, $w: Uuid!) { webhooks(org: $org) { id url description types enabled disabledReason }
               webhookDeliveries(org: $org, webhookId: $w, first: 50) {
                 nodes { eventType status attempts lastStatusCode lastError createdAt deliveredAt nextAttemptAt } } }",
            json!({ "w": hook }),
        )
        .await);
    let empty = vec![];
    let Some(h) = data["webhooks"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .find(|h| text(&h["id"]) == hook.to_string())
    else {
        return not_found_page();
    };
    let deliveries = data["webhookDeliveries"]["nodes"]
        .as_array()
        .unwrap_or(&empty);
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let content = html! {
        dl.facts {
            dt { "URL" } dd { (text(&h["url"])) }
            dt { "Description" } dd { (text(&h["description"])) }
            dt { "State" } dd { @if h["enabled"].as_bool() == Some(true) { "enabled" } @else { "disabled: " (text(&h["disabledReason"])) } }
        }
        h2 { "Deliveries" }
        (view::table("Deliveries, newest first", &["Created", "Event", "Status", "Attempts", "Last answer", "Delivered", "Next try"], html! {
            @for d in deliveries {
                tr {
                    td { (when(&d["createdAt"])) }
                    td { (text(&d["eventType"])) }
                    td { (text(&d["status"])) }
                    td { (text(&d["attempts"])) }
                    td.wrap { (text(&d["lastStatusCode"])) " " (text(&d["lastError"])) }
                    td { (when(&d["deliveredAt"])) }
                    td { (when(&d["nextAttemptAt"])) }
                }
            }
        }))
        h2 { "Send events again" }
        form.row method="post" action={ (page.base()) "/integrations/redeliver" } {
            (csrf(&page.caller.session.csrf))
            input type="hidden" name="webhookId" value=(hook);
            label { "Events since (UTC)" input type="datetime-local" name="since" value=(since) required; }
            button type="submit" { "Redeliver" }
        }
    };
    page.render(status, "Webhook", Section::Integrations, notice, content)
}

pub async fn webhook(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (org, hook) = path.into_inner();
    let page = or_page!(OrgPage::open(&req, &state, &org).await);
    webhook_page(&page, &hook, StatusCode::OK, notice_of(&req)).await
}

// ---------------------------------------------------------------------
// Import

/// The largest CSV the console takes (the command line takes more).
const MAX_UPLOAD: usize = 8 * 1024 * 1024;

fn import_fields(mirror: bool, skip: bool, create_groups: bool, send_invites: bool) -> Markup {
    html! {
        fieldset {
            legend { "How" }
            label.check { input type="radio" name="mode" value="merge" checked[!mirror]; "Merge: add and change the members in the file" }
            label.check { input type="radio" name="mode" value="mirror" checked[mirror]; "Mirror: also retire active members the file does not name" }
            label.check { input type="checkbox" name="skip" value="1" checked[skip]; "Write the good rows when some fail (else nothing is written)" }
            label.check { input type="checkbox" name="createGroups" value="1" checked[create_groups]; "Create missing groups" }
            label.check { input type="checkbox" name="sendInvites" value="1" checked[send_invites]; "Invite new members" }
        }
    }
}

pub async fn import_form(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let page = or_page!(OrgPage::open(&req, &state, &path).await);
    let content = html! {
        p { "Upload a CSV with a header row: " code { "email" } ", and any of " code { "externalId firstName lastName name mobile locale timezone role status groups attr.<key>" } ". You see what would change before anything is written." }
        form method="post" action={ (page.base()) "/import" } enctype="multipart/form-data" {
            (csrf(&page.caller.session.csrf))
            input type="hidden" name="step" value="preview";
            p { label { "CSV file" input type="file" name="file" accept=".csv,text/csv" required; } }
            (import_fields(false, false, false, false))
            p { button type="submit" { "Preview" } }
        }
    };
    page.render(
        StatusCode::OK,
        "Import",
        Section::Import,
        notice_of(&req),
        content,
    )
}

/// Reads the import form's fields; the file's bytes, at most
/// [`MAX_UPLOAD`].
/// What the import form sends: its fields, the file, and how many bytes
/// the whole body may have (the base64 copy of a previewed file, and some
/// room for the rest).
const IMPORT_FIELDS: [&str; 8] = [
    CSRF_FIELD,
    "step",
    "mode",
    "skip",
    "createGroups",
    "sendInvites",
    "csv",
    "file",
];
const MAX_IMPORT_BODY: usize = MAX_UPLOAD / 3 * 4 + 64 * 1024;

/// Why an upload was not read, with the form token if it came before.
struct Unread {
    status: StatusCode,
    message: String,
    csrf: Option<String>,
}

/// Reads the import form: its fields and the file's bytes. Every byte of
/// the body counts against [`MAX_IMPORT_BODY`] (names and part headers
/// too), and only the form's own fields are taken.
async fn read_upload(
    req: &HttpRequest,
    mut payload: actix_multipart::Multipart,
) -> Result<(Form, Vec<u8>), Unread> {
    use futures_util::StreamExt as _;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file = Vec::new();
    let refuse = |status: StatusCode, message: String, fields: &[(String, String)]| Unread {
        status,
        message,
        csrf: fields
            .iter()
            .find(|(n, _)| n == CSRF_FIELD)
            .map(|(_, v)| v.clone()),
    };
    let too_large = || {
        format!(
            "The file is larger than {} MiB; import it with `roster members import`.",
            MAX_UPLOAD / 1024 / 1024
        )
    };
    let unreadable =
        || "The upload could not be read: send the form as it is on the page.".to_owned();
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Too large as declared: read only the small fields before the file
    // (the form token comes first), to answer in words.
    let oversized = declared.is_some_and(|length| length > MAX_IMPORT_BODY);
    let mut total = 0usize;
    while let Some(field) = payload.next().await {
        let Ok(mut field) = field else {
            return Err(refuse(StatusCode::BAD_REQUEST, unreadable(), &fields));
        };
        let name = field.name().unwrap_or_default().to_owned();
        if !IMPORT_FIELDS.contains(&name.as_str()) || fields.len() > IMPORT_FIELDS.len() {
            return Err(refuse(StatusCode::BAD_REQUEST, unreadable(), &fields));
        }
        if oversized && matches!(name.as_str(), "file" | "csv") {
            return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, too_large(), &fields));
        }
        // A part's headers: its name and a fixed allowance.
        total += name.len() + 256;
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let Ok(chunk) = chunk else {
                return Err(refuse(StatusCode::BAD_REQUEST, unreadable(), &fields));
            };
            total += chunk.len();
            if total > MAX_IMPORT_BODY {
                return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, too_large(), &fields));
            }
            bytes.extend_from_slice(&chunk);
        }
        if name == "file" {
            file = bytes;
        } else {
            fields.push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok((Form(fields), file))
}

pub async fn import(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    payload: actix_multipart::Multipart,
) -> HttpResponse {
    use crate::transfer::{Target, import, read};
    use base64::Engine as _;
    let page = or_page!(OrgPage::open(&req, &state, &path).await);
    let uploaded = read_upload(&req, payload).await;
    let fail = |page: &OrgPage, status: StatusCode, message: String| {
        page.render(
            status,
            "Import",
            Section::Import,
            Some(Notice::Error(message)),
            html! {
                p { a href={ (page.base()) "/import" } { "Choose another file" } }
            },
        )
    };
    let (form, mut file) = match uploaded {
        Ok(read) => read,
        Err(unread) => {
            if page
                .caller
                .check_csrf(&req, unread.csrf.as_deref())
                .is_err()
            {
                return csrf_refused();
            }
            return fail(&page, unread.status, unread.message);
        }
    };
    if let Err(response) = page.caller.check_csrf(&req, form.get(CSRF_FIELD)) {
        return response;
    }
    let apply = form.text("step") == "apply";
    if apply {
        file = match base64::engine::general_purpose::STANDARD.decode(form.text("csv")) {
            Ok(bytes) => bytes,
            Err(_) => {
                return fail(
                    &page,
                    StatusCode::BAD_REQUEST,
                    "The previewed file did not come back; upload it again.".into(),
                );
            }
        };
    }
    if file.is_empty() {
        return fail(
            &page,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a CSV file to import.".into(),
        );
    }
    if file.len() > MAX_UPLOAD {
        return fail(
            &page,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The file is larger than {} MiB; import it with `roster members import`.",
                MAX_UPLOAD / 1024 / 1024
            ),
        );
    }
    let mirror = form.text("mode") == "mirror";
    let skip = form.get("skip").is_some();
    let create_groups = form.get("createGroups").is_some();
    let send_invites = form.get("sendInvites").is_some();
    let read_options = read::ReadOptions {
        send_invites,
        ..Default::default()
    };
    let rows = match read::read_bytes(&file, read::Format::Csv, &read_options, |_| {}) {
        Ok(rows) => rows,
        Err(message) => {
            return fail(
                &page,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("The file cannot be read: {message}"),
            );
        }
    };
    let problems: Vec<(u64, String, String)> = rows
        .problems
        .iter()
        .map(|p| (p.line, p.column.clone(), p.message.clone()))
        .collect();
    let blocked = !problems.is_empty() && (!skip || mirror);
    let problems_table = view::table(
        "Rows with problems",
        &["Line", "Column", "Problem"],
        html! {
            @for (line, column, message) in &problems {
                tr { td { (line) } td { (column) } td.wrap { (message) } }
            }
        },
    );
    if blocked {
        return page.render(StatusCode::UNPROCESSABLE_ENTITY, "Import", Section::Import,
            Some(Notice::Error(format!("{} rows have problems; nothing was written. Fix them, or tick \"write the good rows\" (merge only).", problems.len()))),
            html! {
                (problems_table)
                p { a href={ (page.base()) "/import" } { "Choose another file" } }
            });
    }
    let org = match page.id.parse::<uuid::Uuid>() {
        Ok(org) => org,
        Err(_) => return not_found_page(),
    };
    let options = import::ImportOptions {
        org,
        mirror,
        skip,
        dry_run: !apply,
        create_groups,
        report: None,
        read: read_options,
        chunk_bytes: None,
    };
    let target = Target::as_caller(state.schema.clone(), page.caller.principal().clone());
    let mut progress = import::Progress::quiet();
    let summary = match import::import_rows(&target, rows, &options, &mut progress).await {
        Ok(summary) => summary,
        Err(message) => {
            return fail(
                &page,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Not imported: {message}"),
            );
        }
    };
    // Rows with problems are listed once, in their own table.
    let problem_lines: Vec<String> = problems.iter().map(|p| p.0.to_string()).collect();
    let failed_lines: Vec<&import::ReportLine> = summary
        .lines
        .iter()
        .filter(|l| l.result == "failed" && !problem_lines.contains(&l.line))
        .collect();
    let counts = html! {
        dl.facts #summary {
            dt { "Rows" } dd { (summary.rows) }
            dt { "Created" } dd #created { (summary.created) }
            dt { "Updated" } dd #updated { (summary.updated) }
            dt { "Unchanged" } dd { (summary.unchanged) }
            dt { "Retired" } dd #retired { (summary.retired) }
            dt { "Failed" } dd #failed { (summary.failed) }
            @if !summary.groups_created.is_empty() {
                dt { (if apply { "Groups created" } else { "Groups to create" }) } dd { (summary.groups_created.join(", ")) }
            }
        }
        @if !problems.is_empty() { h2 { "Rows with problems (left out)" } (problems_table) }
        @if !failed_lines.is_empty() {
            h2 { "Rows that fail" }
            (view::table("Rows that fail", &["Line", "Email", "Code", "Problem"], html! {
                @for l in &failed_lines {
                    tr { td { (l.line) } td.wrap { (l.email) } td { (l.code) } td.wrap { (l.message) } }
                }
            }))
        }
    };
    if apply {
        let notice = if summary.written {
            Notice::Ok("The import is written.".into())
        } else {
            Notice::Error("Nothing was written: some rows fail (see below).".into())
        };
        let status = if summary.written {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        return page.render(status, "Import", Section::Import, Some(notice), html! {
            (counts)
            p { a href={ (page.base()) "/members" } { "See the members" } " · " a href={ (page.base()) "/activity" } { "See the activity" } }
        });
    }
    // A dry run does not create groups, so rows that name a group the
    // import would create fail in it; applying creates the group first.
    let awaits_group = |l: &&import::ReportLine| {
        l.code == "NOT_FOUND"
            && summary.groups_created.iter().any(|g| {
                l.message
                    .to_lowercase()
                    .contains(&format!("\"{}\"", g.to_lowercase()))
            })
    };
    let only_new_groups = !failed_lines.is_empty() && failed_lines.iter().all(awaits_group);
    let writable = (summary.failed == 0 && problems.is_empty()) || skip || only_new_groups;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&file);
    page.render(StatusCode::OK, "Import preview", Section::Import,
        Some(Notice::Ok("Nothing is written yet: this is what the import would do.".into())),
        html! {
            (counts)
            @if only_new_groups {
                p #new-groups { "The rows that fail name groups that do not exist yet: they are created when you apply, and these rows with them." }
            }
            @if writable {
                form method="post" action={ (page.base()) "/import" } enctype="multipart/form-data" {
                    (csrf(&page.caller.session.csrf))
                    input type="hidden" name="step" value="apply";
                    input type="hidden" name="csv" value=(encoded);
                    @if mirror { input type="hidden" name="mode" value="mirror"; }
                    @if skip { input type="hidden" name="skip" value="1"; }
                    @if create_groups { input type="hidden" name="createGroups" value="1"; }
                    @if send_invites { input type="hidden" name="sendInvites" value="1"; }
                    p { button type="submit" { "Apply" } " " a href={ (page.base()) "/import" } { "Cancel" } }
                }
            } @else {
                p { "Fix the failing rows, or tick \"write the good rows\", and upload again." }
                p { a href={ (page.base()) "/import" } { "Choose another file" } }
            }
        })
}
