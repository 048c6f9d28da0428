//! The admin console at the HTML level: real HTTP into the running app,
//! pages read with an HTML parser, every page and action, on both
//! backends. The browser tests (`browser.rs`) drive the same pages in
//! Chromium.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use scraper::{Html, Selector};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{TestApp, assert_no_leak, claims, now_secs, roster_cli, sign};

both_backends!(
    sign_in_and_sessions,
    one_time_links,
    members_list_and_member_actions,
    guard_failures_in_words,
    groups_pages_and_actions,
    activity_page,
    integrations_pages_and_actions,
    import_preview_and_apply,
    other_orgs_and_forged_posts,
);

/// A page's answer.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn doc(&self) -> Html {
        Html::parse_document(&self.body)
    }

    /// The texts of the elements `css` selects, whitespace squeezed.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let selector = Selector::parse(css).expect("selector");
        self.doc()
            .select(&selector)
            .map(|e| e.text().collect::<Vec<_>>().join(" "))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    pub fn text(&self, css: &str) -> String {
        self.texts(css).join(" | ")
    }

    /// The values of attribute `attr` of the elements `css` selects.
    pub fn attrs(&self, css: &str, attr: &str) -> Vec<String> {
        let selector = Selector::parse(css).expect("selector");
        self.doc()
            .select(&selector)
            .filter_map(|e| e.value().attr(attr).map(str::to_owned))
            .collect()
    }

    pub fn location(&self) -> String {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The notice shown above the content.
    pub fn notice(&self) -> String {
        self.text(".notice")
    }
}

/// A signed-in console user: the session cookie and the form token.
pub struct Console<'a> {
    pub app: &'a TestApp,
    client: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("client")
}

/// A cookie's value from `Set-Cookie` headers (the last one set).
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap_or_default();
            (value.to_owned(), v.to_owned())
        })
        .next_back()
}

async fn read(response: reqwest::Response) -> Page {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.expect("body");
    assert_no_leak(&body);
    Page {
        status,
        headers,
        body,
    }
}

/// Posts the sign-in form with `token`; the answer and the client's
/// cookies (`roster_signin` and, on success, `roster_session`).
pub async fn post_sign_in(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> Page {
    let client = client();
    let form = read(
        client
            .get(app.url("/admin/sign-in"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(form.status, StatusCode::OK);
    let (signin, _) = cookie_value(&form.headers, "roster_signin").expect("sign-in cookie");
    let csrf = form.attrs("input[name=_csrf]", "value").remove(0);
    assert_eq!(signin, csrf);
    let mut request = client
        .post(app.url("/admin/sign-in"))
        .header("cookie", format!("roster_signin={signin}"))
        .form(&[("_csrf", csrf.as_str()), ("token", token)]);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    read(request.send().await.expect("post")).await
}

impl<'a> Console<'a> {
    /// Signs in through the form with `token`.
    pub async fn sign_in(app: &'a TestApp, token: &str) -> Self {
        let answer = post_sign_in(app, token, &[]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let (cookie, _) =
            cookie_value(&answer.headers, "roster_session").expect("a session cookie");
        Self::with_cookie(app, cookie).await
    }

    pub async fn with_cookie(app: &'a TestApp, cookie: String) -> Self {
        let mut console = Self {
            app,
            client: client(),
            cookie,
            csrf: String::new(),
        };
        let home = console.get("/admin/orgs").await;
        let page = if home.status == StatusCode::SEE_OTHER {
            console.get(&home.location()).await
        } else {
            home
        };
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        console.csrf = page.attrs("input[name=_csrf]", "value").remove(0);
        console
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(self.app.url(path))
            .header("cookie", format!("roster_session={}", self.cookie))
            .send()
            .await
            .expect("get");
        read(response).await
    }

    /// A page once it shows `needle` (10 s at most). Events show in
    /// history and Activity once the events API's horizon passes them: on
    /// PostgreSQL, when every transaction that began before them has
    /// ended, which under the load of other tests can take a moment.
    pub async fn eventually(&self, path: &str, needle: &str) -> Page {
        let mut page = self.get(path).await;
        for _ in 0..100 {
            if page.body.contains(needle) {
                break;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
            page = self.get(path).await;
        }
        page
    }

    /// Posts a form with the session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(&str, &str)> = vec![("_csrf", &self.csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form, &[]).await
    }

    /// Posts exactly these fields and headers.
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self
            .client
            .post(self.app.url(path))
            .header("cookie", format!("roster_session={}", self.cookie))
            .form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send().await.expect("post")).await
    }

    /// Posts a form and follows its 303.
    pub async fn act(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let answer = self.post(path, fields).await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{path}: {}",
            answer.notice()
        );
        self.get(&answer.location()).await
    }

    pub async fn multipart(&self, path: &str, form: reqwest::multipart::Form) -> Page {
        let response = self
            .client
            .post(self.app.url(path))
            .header("cookie", format!("roster_session={}", self.cookie))
            .multipart(form)
            .send()
            .await
            .expect("post");
        read(response).await
    }
}

/// The member's status and role as the API sees them.
async fn member_state(app: &TestApp, org: Uuid, user: Uuid) -> (String, String) {
    let data = app
        .data(
            &app.operator(),
            "query($o: Uuid, $u: Uuid) { user(org: $o, id: $u) { status role } }",
            json!({ "o": org, "u": user }),
        )
        .await;
    (
        data["user"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        data["user"]["role"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn sign_in_and_sessions(app: &TestApp) {
    let (org, admin, token) = app.org_with_admin("console-sessions").await;
    // Not signed in: every page sends you to the sign-in form.
    let anonymous = read(
        client()
            .get(app.url(&format!("/admin/orgs/{org}/members")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), "/admin/sign-in");

    // The form's token must come back with the form.
    let signin = read(
        client()
            .get(app.url("/admin/sign-in"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let csrf = signin.attrs("input[name=_csrf]", "value").remove(0);
    let forged = read(
        client()
            .post(app.url("/admin/sign-in"))
            .form(&[("_csrf", csrf.as_str()), ("token", token.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(cookie_value(&forged.headers, "roster_session").is_none());

    // A bad token, an integration token: refused, in words, no session.
    let bad = post_sign_in(app, "not-a-token", &[]).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(
        bad.notice().starts_with("Not signed in"),
        "{}",
        bad.notice()
    );
    assert!(cookie_value(&bad.headers, "roster_session").is_none());
    let integration = post_sign_in(app, &app.integration(org, "members:read"), &[]).await;
    assert_eq!(integration.status, StatusCode::UNAUTHORIZED);
    assert!(
        integration
            .notice()
            .contains("integration tokens are for programs")
    );

    // Signed in: the cookie is HttpOnly, SameSite=Strict, for /admin only,
    // and lasts no longer than the token (here 120 s).
    let mut short = claims("admin", Some(org), None, &admin.to_string());
    short["exp"] = json!(now_secs() + 120);
    let answer = post_sign_in(app, &sign(&short), &[]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let (cookie, raw) = cookie_value(&answer.headers, "roster_session").unwrap();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Strict"),
        "{raw}"
    );
    assert!(
        raw.contains("Path=/admin") && !raw.contains("Secure"),
        "{raw}"
    );
    let max_age: i64 = raw
        .split("Max-Age=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.parse().ok())
        .expect("Max-Age");
    assert!((1..=120).contains(&max_age), "{raw}");
    let stored = app.column_text("SELECT CAST(expires_at AS TEXT) AS t FROM console_sessions");
    assert_eq!(stored.len(), 1);
    // Only the cookie's hash is kept.
    assert!(
        app.column_text("SELECT id_hash AS t FROM console_sessions")
            .iter()
            .all(|h| h != &cookie && h.len() == 64)
    );

    // The header line Roster prints at its first start works as pasted.
    let pasted = post_sign_in(
        app,
        &format!("{{\"Authorization\": \"Bearer {token}\"}}"),
        &[],
    )
    .await;
    assert_eq!(pasted.status, StatusCode::SEE_OTHER, "{}", pasted.body);
    let bearer = post_sign_in(app, &format!("  bearer {token}\n"), &[]).await;
    assert_eq!(bearer.status, StatusCode::SEE_OTHER, "{}", bearer.body);

    // Over https (as a proxy says), the cookie is Secure too.
    let secure = post_sign_in(app, &token, &[("x-forwarded-proto", "https")]).await;
    let (_, raw) = cookie_value(&secure.headers, "roster_session").unwrap();
    assert!(raw.contains("Secure"), "{raw}");

    // The session works, then signing out ends it: the same cookie is
    // sent to the sign-in form again.
    let console = Console::with_cookie(app, cookie.clone()).await;
    let members = console.get(&format!("/admin/orgs/{org}/members")).await;
    assert_eq!(members.status, StatusCode::OK);
    let out = console.post("/admin/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.location().starts_with("/admin/sign-in"));
    let (cleared, raw) = cookie_value(&out.headers, "roster_session").unwrap();
    assert!(cleared.is_empty() && raw.contains("Max-Age=0"), "{raw}");
    let after = console.get(&format!("/admin/orgs/{org}/members")).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/admin/sign-in");
    let signed_out = console.get(&out.location()).await;
    assert_eq!(signed_out.notice(), "You are signed out.");

    // Rights follow the membership: an admin made a user loses the
    // session at once.
    let other = app
        .create_member(org, "second@console.example", "admin")
        .await;
    let second = Console::sign_in(app, &app.admin(org, other)).await;
    let demote = format!("org: \"{org}\", userId: \"{other}\", role: \"user\"");
    let result = app.mutate(&app.operator(), "updateMember", &demote).await;
    assert_eq!(result["result"], "updated", "{result}");
    let refused = second.get(&format!("/admin/orgs/{org}/members")).await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    // ... for good: made an admin again, the old session stays ended.
    let promote = format!("org: \"{org}\", userId: \"{other}\", role: \"admin\"");
    let result = app.mutate(&app.operator(), "updateMember", &promote).await;
    assert_eq!(result["result"], "updated", "{result}");
    let still = second.get(&format!("/admin/orgs/{org}/members")).await;
    assert_eq!(still.status, StatusCode::SEE_OTHER);

    // Signing in again from a browser that has a session ends that one.
    let first = Console::sign_in(app, &token).await;
    let form = read(
        client()
            .get(app.url("/admin/sign-in"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (signin, _) = cookie_value(&form.headers, "roster_signin").unwrap();
    let again = read(
        client()
            .post(app.url("/admin/sign-in"))
            .header(
                "cookie",
                format!("roster_signin={signin}; roster_session={}", first.cookie),
            )
            .form(&[("_csrf", signin.as_str()), ("token", token.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(
        first
            .get(&format!("/admin/orgs/{org}/members"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    // A revoked token ends the sessions opened with it.
    let (ok, minted, stderr) = roster_cli(
        app,
        &[
            "token",
            "issue",
            "--role",
            "admin",
            "--org",
            &org.to_string(),
            "--sub",
            &admin.to_string(),
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let minted = minted.trim().to_owned();
    let by_minted = Console::sign_in(app, &minted).await;
    assert_eq!(
        by_minted
            .get(&format!("/admin/orgs/{org}/groups"))
            .await
            .status,
        StatusCode::OK
    );
    let jti = jti_of(&minted);
    let revoked = app
        .service
        .revoke_token(&roster::auth::Principal::cli(), &jti)
        .await
        .unwrap();
    assert!(revoked);
    let gone = by_minted.get(&format!("/admin/orgs/{org}/groups")).await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER, "{}", gone.body);

    // `roster console revoke` ends a user's sessions.
    let third = Console::sign_in(app, &token).await;
    let (ok, _, stderr) = roster_cli(
        app,
        &[
            "console",
            "revoke",
            "--user",
            &admin.to_string(),
            "--org",
            &org.to_string(),
        ],
        &[],
    );
    assert!(ok && stderr.contains("console sessions ended"), "{stderr}");
    assert_eq!(
        third
            .get(&format!("/admin/orgs/{org}/members"))
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

/// `roster console link` for `user` in `org`: success, stdout, stderr.
pub fn console_link(app: &TestApp, org: Uuid, user: Uuid) -> (bool, String, String) {
    let (org, user) = (org.to_string(), user.to_string());
    let args = [
        "console", "link", "--org", &org, "--user", &user, "--url", &app.base,
    ];
    roster_cli(app, &args, &[])
}

/// The `jti` claim of a token.
fn jti_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

async fn one_time_links(app: &TestApp) {
    let (org, admin, _) = app.org_with_admin("console-links").await;
    let user = app
        .create_member(org, "plain@console.example", "user")
        .await;
    // Only for an active admin of the org.
    let (ok, _, stderr) = roster_cli(
        app,
        &[
            "console",
            "link",
            "--org",
            &org.to_string(),
            "--user",
            &user.to_string(),
        ],
        &[],
    );
    assert!(!ok && stderr.contains("active admin"), "{stderr}");
    let (ok, link, stderr) = console_link(app, org, admin);
    assert!(ok, "{stderr}");
    let link = link.trim().to_owned();
    assert!(
        link.starts_with(&format!("{}/admin/link/rcl_", app.base)),
        "{link}"
    );
    // Opening the link signs nobody in (a mail scanner may fetch it); the
    // button does, once.
    let client = client();
    let page = read(client.get(&link).send().await.unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(cookie_value(&page.headers, "roster_session").is_none());
    let (signin, _) = cookie_value(&page.headers, "roster_signin").unwrap();
    let secret = page.attrs("input[name=link]", "value").remove(0);
    let post = |secret: String, signin: String| {
        let client = client.clone();
        let url = app.url("/admin/link");
        async move {
            read(
                client
                    .post(url)
                    .header("cookie", format!("roster_signin={signin}"))
                    .form(&[("_csrf", signin.as_str()), ("link", secret.as_str())])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let used = post(secret.clone(), signin.clone()).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);
    let (cookie, _) = cookie_value(&used.headers, "roster_session").unwrap();
    let console = Console::with_cookie(app, cookie).await;
    let members = console.get(&format!("/admin/orgs/{org}/members")).await;
    assert_eq!(members.status, StatusCode::OK);
    assert!(
        members.text("#total").contains("2 members"),
        "{}",
        members.text("#total")
    );
    // Used once: the second time is refused, in words.
    let again = post(secret, signin.clone()).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(
        again.notice().contains("unknown, used or expired"),
        "{}",
        again.notice()
    );
    let unknown = post("rcl_nothing".into(), signin).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
}

async fn members_list_and_member_actions(app: &TestApp) {
    let (org, admin, token) = app.org_with_admin("console-members").await;
    let group = app.create_group(org, "Engineering").await;
    let mut ids = Vec::new();
    for n in 0..30 {
        let email = format!("person{n:02}@console.example");
        ids.push(
            app.create_member(org, &email, if n == 7 { "admin" } else { "user" })
                .await,
        );
    }
    let add = format!(
        "org: \"{org}\", userId: \"{}\", groupId: \"{group}\"",
        ids[3]
    );
    app.mutate(&app.operator(), "addGroupMembership", &add)
        .await;
    let console = Console::sign_in(app, &token).await;
    let base = format!("/admin/orgs/{org}/members");

    // Paging: 31 members, 25 a page, forward and back.
    let first = console.get(&base).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.text("#total"), "31 members match.");
    assert_eq!(first.texts("tbody tr").len(), 25);
    let next = first.attrs("a[rel=next]", "href").remove(0);
    let second = console.get(&next).await;
    assert_eq!(second.texts("tbody tr").len(), 6);
    let prev = second.attrs("a[rel=prev]", "href").remove(0);
    let back = console.get(&prev).await;
    assert_eq!(back.texts("tbody tr"), first.texts("tbody tr"));

    // Search, filters and sort.
    let found = console.get(&format!("{base}?q=person05")).await;
    assert_eq!(found.text("#total"), "1 members match.");
    assert!(found.text("tbody").contains("person05@console.example"));
    let admins = console.get(&format!("{base}?role=admin")).await;
    assert_eq!(admins.text("#total"), "2 members match.");
    let grouped = console.get(&format!("{base}?group={group}")).await;
    assert_eq!(grouped.texts("tbody tr").len(), 1);
    assert!(grouped.text("tbody").contains("person03@"));
    let by_email_desc = console.get(&format!("{base}?sort=email&dir=desc")).await;
    assert!(by_email_desc.texts("tbody tr td:nth-child(2)")[0].starts_with("person29@"));
    let bad = console
        .get(&format!("{base}?role=wizard&status=gone&group=nope"))
        .await;
    assert_eq!(
        bad.status,
        StatusCode::OK,
        "unknown filter values are ignored"
    );
    assert_eq!(bad.text("#total"), "31 members match.");

    // A member's page: profile, groups, history.
    let member = format!("{base}/{}", ids[3]);
    let page = console.eventually(&member, "member.created").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text("dl.facts").contains("person03@console.example"));
    assert_eq!(page.text("#role"), "user");
    assert!(page.text("section").contains("Engineering"));
    assert!(
        page.text("table").contains("member.created"),
        "{}",
        page.text("table")
    );

    // Retire and reactivate.
    let retired = console.act(&format!("{member}/retire"), &[]).await;
    assert_eq!(retired.notice(), "The member is retired.");
    assert_eq!(retired.text("#status"), "retired");
    assert_eq!(member_state(app, org, ids[3]).await.0, "RETIRED");
    let back = console.act(&format!("{member}/reactivate"), &[]).await;
    assert_eq!(back.notice(), "The member is active again.");
    assert_eq!(member_state(app, org, ids[3]).await.0, "ACTIVE");
    // Role.
    let promoted = console
        .act(&format!("{member}/role"), &[("role", "admin")])
        .await;
    assert_eq!(promoted.text("#role"), "admin");
    assert_eq!(member_state(app, org, ids[3]).await.1, "ADMIN");
    let bad_role = console
        .post(&format!("{member}/role"), &[("role", "wizard")])
        .await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_role.notice().starts_with("Not done:"),
        "{}",
        bad_role.notice()
    );
    assert_eq!(member_state(app, org, ids[3]).await.1, "ADMIN");
    // Groups.
    let out = console
        .act(
            &format!("{member}/remove-group"),
            &[("groupId", &group.to_string())],
        )
        .await;
    assert_eq!(out.notice(), "Taken out of the group.");
    assert!(
        !out.text("#groups + p, #groups ~ ul")
            .contains("Engineering")
    );
    let inn = console
        .act(
            &format!("{member}/add-group"),
            &[("groupId", &group.to_string())],
        )
        .await;
    assert_eq!(inn.notice(), "Added to the group.");
    assert_eq!(
        app.group_users(org, &format!("groupId: \"{group}\""))
            .await
            .len(),
        1
    );
    // Invitations: send, revoke, send again.
    let invited = console.act(&format!("{member}/resend"), &[]).await;
    assert_eq!(invited.notice(), "A new invitation is on its way.");
    assert!(
        invited.text("#invitation ~ dl").contains("pending"),
        "{}",
        invited.text("#invitation ~ dl")
    );
    let revoked = console
        .act(&format!("{member}/revoke-invitation"), &[])
        .await;
    assert!(revoked.text("#invitation ~ dl").contains("revoked"));
    let twice = console
        .post(&format!("{member}/revoke-invitation"), &[])
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    // Remove: asked first (it cannot be undone), then done.
    let asked = console.post(&format!("{member}/remove"), &[]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(asked.text("#question").contains("cannot be undone"));
    assert_eq!(member_state(app, org, ids[3]).await.0, "ACTIVE");
    let confirm = asked.attrs("input[name=confirm]", "value");
    assert_eq!(confirm, ["yes"]);
    let removed = console
        .act(&format!("{member}/remove"), &[("confirm", "yes")])
        .await;
    assert_eq!(removed.notice(), "The member is removed from the org.");
    assert_eq!(removed.text("#total"), "30 members match.");
    assert_eq!(console.get(&member).await.status, StatusCode::NOT_FOUND);
    // Unknown actions and ids.
    assert_eq!(
        console
            .post(&format!("{base}/{}/explode", ids[4]), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        console.get(&format!("{base}/not-a-uuid")).await.status,
        StatusCode::NOT_FOUND
    );
    let _ = admin;
}

async fn guard_failures_in_words(app: &TestApp) {
    let (org, admin, token) = app.org_with_admin("console-guards").await;
    // Your own membership: SELF_ACTION, in words, and nothing changes.
    let console = Console::sign_in(app, &token).await;
    let own = format!("/admin/orgs/{org}/members/{admin}");
    let page = console.post(&format!("{own}/retire"), &[]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.notice().contains("your own membership"),
        "{}",
        page.notice()
    );
    assert_eq!(member_state(app, org, admin).await.0, "ACTIVE");
    // The last admin, retired by an operator: LAST_ADMIN, in words.
    let operator = Console::sign_in(app, &app.operator()).await;
    let orgs = operator.get("/admin/orgs").await;
    assert!(
        orgs.text("tbody").contains("Org console-guards"),
        "{}",
        orgs.text("tbody")
    );
    let page = operator.post(&format!("{own}/retire"), &[]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.notice().contains("last active admin"),
        "{}",
        page.notice()
    );
    assert_eq!(member_state(app, org, admin).await.0, "ACTIVE");
    let page = operator
        .post(&format!("{own}/role"), &[("role", "user")])
        .await;
    assert!(
        page.notice().contains("last active admin"),
        "{}",
        page.notice()
    );
    let page = operator
        .post(&format!("{own}/remove"), &[("confirm", "yes")])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(
        page.notice().contains("last active admin"),
        "{}",
        page.notice()
    );
    assert_eq!(member_state(app, org, admin).await.0, "ACTIVE");
}

async fn groups_pages_and_actions(app: &TestApp) {
    let (org, _, token) = app.org_with_admin("console-groups").await;
    let member = app
        .create_member(org, "grace@console.example", "user")
        .await;
    let console = Console::sign_in(app, &token).await;
    let base = format!("/admin/orgs/{org}/groups");
    let created = console
        .act(
            &base,
            &[("name", "Platform"), ("description", "Runs the platform")],
        )
        .await;
    assert_eq!(created.notice(), "The group is created.");
    assert_eq!(created.text("h1"), "Group Platform");
    let group_path = console.post(&base, &[("name", "Platform")]).await;
    assert_eq!(group_path.status, StatusCode::CONFLICT);
    assert!(
        group_path.notice().starts_with("Not done:"),
        "{}",
        group_path.notice()
    );
    let list = console.get(&base).await;
    assert_eq!(list.texts("tbody tr").len(), 1);
    let href = list.attrs("tbody a", "href").remove(0);
    // Members: add by email, an unknown email in words, take out.
    let added = console
        .act(
            &format!("{href}/add-member"),
            &[("email", "grace@console.example")],
        )
        .await;
    assert_eq!(added.notice(), "Added to the group.");
    assert!(added.text("tbody").contains("First Last"));
    let unknown = console
        .post(
            &format!("{href}/add-member"),
            &[("email", "nobody@console.example")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(
        unknown
            .notice()
            .contains("no member of this org has that email")
    );
    let out = console
        .act(
            &format!("{href}/remove-member"),
            &[("userId", &member.to_string())],
        )
        .await;
    assert_eq!(out.notice(), "Taken out of the group.");
    assert!(out.texts("tbody tr").is_empty());
    // Rename (with the version the page was read at), then delete.
    let version = out.attrs("input[name=version]", "value").remove(0);
    let renamed = console
        .act(
            &format!("{href}/rename"),
            &[
                ("name", "Platform team"),
                ("description", ""),
                ("version", &version),
            ],
        )
        .await;
    assert_eq!(renamed.text("h1"), "Group Platform team");
    let stale = console
        .post(
            &format!("{href}/rename"),
            &[("name", "Old"), ("description", ""), ("version", &version)],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let search = console.get(&format!("{base}?q=team")).await;
    assert_eq!(search.texts("tbody tr").len(), 1);
    let asked = console.post(&format!("{href}/delete"), &[]).await;
    assert!(asked.text("#question").contains("members stay in the org"));
    assert_eq!(
        console.get(&href).await.status,
        StatusCode::OK,
        "asking deletes nothing"
    );
    let deleted = console
        .act(&format!("{href}/delete"), &[("confirm", "yes")])
        .await;
    assert_eq!(deleted.notice(), "The group is deleted.");
    assert!(deleted.texts("tbody tr").is_empty());
    assert_eq!(console.get(&href).await.status, StatusCode::NOT_FOUND);
}

async fn activity_page(app: &TestApp) {
    let (org, admin, token) = app.org_with_admin("console-activity").await;
    let member = app.create_member(org, "ada@console.example", "user").await;
    let console = Console::sign_in(app, &token).await;
    console
        .act(&format!("/admin/orgs/{org}/members/{member}/retire"), &[])
        .await;
    let base = format!("/admin/orgs/{org}/activity");
    let page = console.eventually(&base, "member.retired").await;
    assert_eq!(page.status, StatusCode::OK);
    let rows = page.texts("tbody tr");
    let retired = rows
        .iter()
        .find(|r| r.contains("member.retired") && r.contains("active → retired"))
        .unwrap_or_else(|| panic!("no retirement in {rows:?}"));
    assert!(
        retired.contains(&format!("{admin} (admin, console)")),
        "the actor and the channel are shown: {retired}"
    );
    let narrowed = console
        .get(&format!("{base}?type=member.created&window=hour"))
        .await;
    assert!(
        narrowed
            .texts("tbody tr")
            .iter()
            .all(|r| r.contains("member.created"))
    );
    assert_eq!(narrowed.texts("tbody tr").len(), 2);
    let about = console.get(&format!("{base}?target={member}")).await;
    assert_eq!(
        about.texts("tbody tr").len(),
        2,
        "{:?}",
        about.texts("tbody tr")
    );
    let none = console.get(&format!("{base}?actor=nobody")).await;
    assert!(none.text("main").contains("Nothing in this window."));
}

async fn integrations_pages_and_actions(app: &TestApp) {
    let (org, _, token) = app.org_with_admin("console-integrations").await;
    let console = Console::sign_in(app, &token).await;
    let base = format!("/admin/orgs/{org}/integrations");
    let page = console.get(&base).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.text("#scim-url"), format!("{}/scim/v2", app.base));

    // An API token, shown once, that works, then revoked.
    let created = console
        .post(
            &format!("{base}/create-token"),
            &[
                ("name", "hr-sync"),
                ("scopes", "members:read"),
                ("scopes", "groups:read"),
                ("expiresIn", "30d"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.notice());
    let secret = created.text("#secret");
    assert!(!secret.is_empty());
    assert!(
        created.text("tbody").contains("groups:read members:read"),
        "{}",
        created.text("tbody")
    );
    let data = app
        .data(&secret, "{ members(first: 1) { totalCount } }", json!({}))
        .await;
    assert_eq!(data["members"]["totalCount"], 1);
    let again = console.get(&base).await;
    assert!(!again.body.contains(&secret), "shown once");
    assert!(again.text("tbody").contains("hr-sync"));
    let duplicate = console
        .post(
            &format!("{base}/create-token"),
            &[("name", "hr-sync"), ("scopes", "members:read")],
        )
        .await;
    assert!(
        duplicate.notice().starts_with("Not done:"),
        "{}",
        duplicate.notice()
    );
    assert!(duplicate.text("#secret").is_empty());
    let id = again
        .attrs("form[action$=revoke-token] input[name=id]", "value")
        .remove(0);
    let revoked = console
        .act(&format!("{base}/revoke-token"), &[("id", &id)])
        .await;
    assert_eq!(revoked.notice(), "The token is revoked.");
    let (status, _) = app
        .post(&secret, "{ members(first: 1) { totalCount } }", json!({}))
        .await;
    assert_eq!(status, 401);

    // A SCIM token that SCIM takes.
    let scim = console
        .post(&format!("{base}/scim-token"), &[("name", "Entra")])
        .await;
    let scim_token = scim.text("#secret");
    let users = app
        .client
        .get(app.url("/scim/v2/Users"))
        .bearer_auth(&scim_token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);

    // A webhook (its secret shown once), its deliveries, a redelivery.
    let receiver = crate::webhooks::Receiver::start(crate::webhooks::Answer::Ok);
    let hook = console
        .post(
            &format!("{base}/create-webhook"),
            &[
                ("url", &receiver.url),
                ("types", "member.created"),
                ("description", "HR"),
            ],
        )
        .await;
    assert_eq!(hook.status, StatusCode::OK, "{}", hook.notice());
    assert!(
        hook.text("#secret").starts_with("whsec_"),
        "{}",
        hook.text("#secret")
    );
    let bad = console
        .post(
            &format!("{base}/create-webhook"),
            &[("url", "ftp://nowhere")],
        )
        .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.notice()
    );
    app.create_member(org, "new@console.example", "user").await;
    receiver.wait_for("member.created", 1).await;
    let hook_href = console
        .get(&base)
        .await
        .attrs("a[href*='/integrations/webhooks/']", "href")
        .remove(0);
    let mut deliveries = console.get(&hook_href).await;
    for _ in 0..50 {
        if deliveries.text("tbody").contains("delivered") {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
        deliveries = console.get(&hook_href).await;
    }
    assert!(
        deliveries.text("tbody").contains("member.created"),
        "{}",
        deliveries.text("tbody")
    );
    let hook_id = hook_href.rsplit('/').next().unwrap().to_owned();
    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let again = console
        .act(
            &format!("{base}/redeliver"),
            &[("webhookId", &hook_id), ("since", &since)],
        )
        .await;
    assert_eq!(
        again.notice(),
        "The events are queued for the webhook again."
    );
    receiver.wait_for("member.created", 2).await;
}

async fn import_preview_and_apply(app: &TestApp) {
    let (org, _, token) = app.org_with_admin("console-import").await;
    let console = Console::sign_in(app, &token).await;
    let base = format!("/admin/orgs/{org}/import");
    assert_eq!(console.get(&base).await.status, StatusCode::OK);
    let csv = "email,firstName,lastName,role,groups\n\
               lin@import.example,Lin,Ma,user,Ops\n\
               kai@import.example,Kai,Berg,admin,\n";
    let form = |csv: &str, step: &str, extra: &[(&str, &str)]| {
        let mut form = reqwest::multipart::Form::new()
            .text("_csrf", console.csrf.clone())
            .text("step", step.to_owned())
            .text("mode", "merge")
            .part(
                "file",
                reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("people.csv"),
            );
        for (k, v) in extra {
            form = form.text(k.to_string(), v.to_string());
        }
        form
    };
    // The preview writes nothing.
    let preview = console
        .multipart(&base, form(csv, "preview", &[("createGroups", "1")]))
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.notice());
    // The group does not exist yet: its row fails in the dry run, and the
    // page says it will be created.
    assert_eq!(preview.text("#created"), "1", "{}", preview.text("main"));
    assert!(preview.text("#summary").contains("Ops"));
    assert!(
        preview
            .text("#new-groups")
            .contains("created when you apply")
    );
    let members = app
        .data(
            &app.operator(),
            &format!("{{ members(org: \"{org}\") {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(members["members"]["totalCount"], 1);
    // Apply sends back what was previewed.
    let encoded = preview.attrs("input[name=csv]", "value").remove(0);
    let apply = reqwest::multipart::Form::new()
        .text("_csrf", console.csrf.clone())
        .text("step", "apply")
        .text("mode", "merge")
        .text("createGroups", "1")
        .text("csv", encoded);
    let applied = console.multipart(&base, apply).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.notice());
    assert_eq!(applied.notice(), "The import is written.");
    let members = app
        .data(
            &app.operator(),
            &format!("{{ members(org: \"{org}\") {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(members["members"]["totalCount"], 3);
    assert_eq!(applied.text("#created"), "2");
    let ops = app
        .data(
            &app.operator(),
            &format!("{{ groups(org: \"{org}\") {{ nodes {{ name }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(ops["groups"]["nodes"][0]["name"], "Ops");
    // A row with a problem: named by line and column, nothing written.
    let broken = "email,firstName,lastName,role\nok@import.example,Ok,Row,user\nbad@import.example,Bad,Row,wizard\n";
    let refused = console.multipart(&base, form(broken, "preview", &[])).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.text("tbody").contains("3 role"),
        "{}",
        refused.text("tbody")
    );
    // Skipping it previews the rest.
    let skipped = console
        .multipart(&base, form(broken, "preview", &[("skip", "1")]))
        .await;
    assert_eq!(skipped.status, StatusCode::OK);
    assert_eq!(skipped.text("#created"), "1", "{}", skipped.text("main"));
    // A field the form does not have: refused in words, nothing written.
    let odd = form(csv, "apply", &[("extra", "1")]);
    let odd = console.multipart(&base, odd).await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST);
    assert!(
        odd.notice().contains("could not be read"),
        "{}",
        odd.notice()
    );
    // Too large: said as such (the form token came first), read no further.
    let big = reqwest::multipart::Form::new()
        .text("_csrf", console.csrf.clone())
        .text("step", "preview")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![b'a'; 12 * 1024 * 1024]).file_name("big.csv"),
        );
    let big = console.multipart(&base, big).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        big.notice().contains("larger than 8 MiB"),
        "{}",
        big.notice()
    );
    // Not CSV at all, and no form token.
    let garbage = console
        .multipart(&base, form("\u{0}\u{1}", "preview", &[]))
        .await;
    assert_eq!(garbage.status, StatusCode::UNPROCESSABLE_ENTITY);
    let forged = reqwest::multipart::Form::new().text("step", "apply").part(
        "file",
        reqwest::multipart::Part::bytes(csv.as_bytes().to_vec()).file_name("x.csv"),
    );
    assert_eq!(
        console.multipart(&base, forged).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn other_orgs_and_forged_posts(app: &TestApp) {
    let (org, _, token) = app.org_with_admin("console-mine").await;
    let (other, other_admin, _) = app.org_with_admin("console-theirs").await;
    let mine = app.create_member(org, "mine@console.example", "user").await;
    let other_group = app.create_group(other, "Secret").await;
    let console = Console::sign_in(app, &token).await;
    // Another org's pages are the same 404 as pages that do not exist.
    let nothing = console
        .get(&format!(
            "/admin/orgs/{}/members/{}",
            Uuid::now_v7(),
            Uuid::now_v7()
        ))
        .await;
    assert_eq!(nothing.status, StatusCode::NOT_FOUND);
    for path in [
        format!("/admin/orgs/{other}/members/{other_admin}"),
        format!("/admin/orgs/{other}/members"),
        format!("/admin/orgs/{other}/groups/{other_group}"),
        format!("/admin/orgs/{other}/activity"),
        format!("/admin/orgs/{other}/integrations"),
        format!("/admin/orgs/{org}/members/{other_admin}"),
        format!("/admin/orgs/{org}/groups/{other_group}"),
        "/admin/nowhere".to_owned(),
    ] {
        let page = console.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(page.body, nothing.body, "{path}");
    }
    let write = console
        .post(
            &format!("/admin/orgs/{other}/members/{other_admin}/retire"),
            &[],
        )
        .await;
    assert_eq!(write.status, StatusCode::NOT_FOUND);
    assert_eq!(member_state(app, other, other_admin).await.0, "ACTIVE");
    // A tenant has no org list: it goes to its own org.
    let orgs = console.get("/admin/orgs").await;
    assert_eq!(orgs.location(), format!("/admin/orgs/{org}/members"));

    // A POST without the form token, or with another's, or from another
    // origin: refused, nothing changed.
    let retire = format!("/admin/orgs/{org}/members/{mine}/retire");
    let bare = console.post_raw(&retire, &[], &[]).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    assert!(bare.text("main").contains("Form expired"));
    let wrong = console.post_raw(&retire, &[("_csrf", "guess")], &[]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let cross = console
        .post_raw(
            &retire,
            &[("_csrf", &console.csrf)],
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(member_state(app, org, mine).await.0, "ACTIVE");
    let header = console
        .post_raw(&retire, &[], &[("x-csrf-token", &console.csrf)])
        .await;
    assert_eq!(
        header.status,
        StatusCode::SEE_OTHER,
        "the header carries it too"
    );
    assert_eq!(member_state(app, org, mine).await.0, "RETIRED");

    // Form fields that are not what the page sends: answered as nothing
    // there (404) or in words (422), never a server error.
    let group = app.create_group(org, "Mine").await;
    let hook = crate::webhooks::Receiver::start(crate::webhooks::Answer::Ok);
    let created = console
        .post(
            &format!("/admin/orgs/{org}/integrations/create-webhook"),
            &[("url", &hook.url)],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.notice());
    let hook_id = console
        .get(&format!("/admin/orgs/{org}/integrations"))
        .await
        .attrs("a[href*='/integrations/webhooks/']", "href")
        .remove(0)
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    for (path, fields) in [
        (
            format!("/admin/orgs/{org}/members/{mine}/add-group"),
            vec![("groupId", "junk")],
        ),
        (
            format!("/admin/orgs/{org}/members/{mine}/remove-group"),
            vec![],
        ),
        (
            format!("/admin/orgs/{org}/groups/{group}/remove-member"),
            vec![("userId", "junk")],
        ),
        (
            format!("/admin/orgs/{org}/integrations/revoke-token"),
            vec![("id", "junk")],
        ),
        (
            format!("/admin/orgs/{org}/integrations/redeliver"),
            vec![("webhookId", "junk"), ("since", "2026-01-01T00:00")],
        ),
    ] {
        let page = console.post(&path, &fields).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(page.body, nothing.body, "{path}");
    }
    let bad_time = console
        .post(
            &format!("/admin/orgs/{org}/integrations/redeliver"),
            &[("webhookId", &hook_id), ("since", "yesterday")],
        )
        .await;
    assert_eq!(bad_time.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad_time.notice().contains("give the time"),
        "{}",
        bad_time.notice()
    );
    // A GET on an action's address (a reload after a form) goes back to
    // its page; an unknown address under an org is the 404.
    let reload = console
        .get(&format!("/admin/orgs/{org}/members/{mine}/retire"))
        .await;
    assert_eq!(reload.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reload.location(),
        format!("/admin/orgs/{org}/members/{mine}")
    );
    let reload = console
        .get(&format!("/admin/orgs/{org}/integrations/create-token"))
        .await;
    assert_eq!(reload.location(), format!("/admin/orgs/{org}/integrations"));
    let unknown = console
        .get(&format!("/admin/orgs/{org}/nowhere/at/all"))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, nothing.body);

    // Headers on every page: CSP without inline script, no framing.
    let page = console.get(&format!("/admin/orgs/{org}/members")).await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["referrer-policy"], "same-origin");
    assert_eq!(page.headers["cache-control"], "no-store");
    let inline = Selector::parse("script:not([src])").unwrap();
    assert_eq!(page.doc().select(&inline).count(), 0);
    assert!(!page.body.contains(" on") || !page.body.contains("onclick="));
    // Assets come from the binary.
    let htmx = console.get("/admin/assets/htmx.min.js").await;
    assert_eq!(htmx.status, StatusCode::OK);
    assert!(
        htmx.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(htmx.body, include_str!("../../assets/console/htmx.min.js"));
    assert_eq!(
        console.get("/admin/assets/console.css").await.status,
        StatusCode::OK
    );
    assert_eq!(
        console.get("/admin/assets/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
    for src in page
        .attrs("script", "src")
        .into_iter()
        .chain(page.attrs("link", "href"))
    {
        assert!(src.starts_with("/admin/assets/"), "{src}");
    }
}
