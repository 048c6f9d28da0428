//! Invitations end to end: `sendInvite`, the mail a real SMTP receiver
//! gets, the link's token accepted, resent, revoked and expired, the
//! hourly limit, the webhook's link, tenant isolation, and the token kept
//! out of events and logs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, SECRET, TestApp, spawn_app_with};
use crate::smtp::{Mail, SmtpSink, link_in};
use crate::webhooks::{Answer, Receiver, create_webhook};

const ACCEPT_PAGE: &str = "http://app.test/join?token={token}";
const LINK_PREFIX: &str = "http://app.test/join?token=";

/// Roster sending mail to `sink`, with `extra` flags.
async fn mailing_app(backend: Backend, sink: &SmtpSink, extra: &[&str]) -> Option<TestApp> {
    let url = sink.url();
    let mut flags = vec![
        "--smtp-url",
        url.as_str(),
        "--invite-url",
        ACCEPT_PAGE,
        "--mail-from",
        "Roster Invitations <invites@roster.test>",
    ];
    flags.extend_from_slice(extra);
    spawn_app_with(backend, &flags).await
}

/// Runs each `async fn name(backend: Backend)` on SQLite, and on
/// PostgreSQL when it is configured (else reported ignored).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;

                #[actix_web::test]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await;
                }

                #[actix_web::test]
                #[cfg_attr(
                    not(postgres_tests),
                    ignore = "set ROSTER_TEST_POSTGRES_URL to run it on PostgreSQL"
                )]
                async fn postgres() {
                    super::$name(Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both!(
    invite_mail_and_accept,
    resend_revoke_and_expiry,
    sync_invites_once,
    invitations_are_rate_limited,
    tokens_stay_out_of_events_and_logs,
    templates_come_from_the_directory,
);

const INVITATION: &str =
    "invitation { status invitedAt expiresAt acceptedAt mailStatus mailError } emailVerifiedAt";

async fn member(app: &TestApp, token: &str, id: &str) -> Value {
    let query =
        format!("query($id: Uuid!) {{ user(id: $id) {{ id email invitedAt {INVITATION} }} }}");
    app.data(token, &query, json!({ "id": id })).await["user"].clone()
}

/// Polls the member until `done` holds (or fails after 20 s).
async fn wait_member(app: &TestApp, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let m = member(app, token, id).await;
        if done(&m) {
            return m;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited for {m}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn accept(app: &TestApp, token: &str, link_token: &str) -> Value {
    let query =
        "mutation($t: String!) { r: acceptInvitation(token: $t) { id result error errorCode } }";
    app.data(token, query, json!({ "t": link_token })).await["r"].clone()
}

async fn invite_by_upsert(app: &TestApp, token: &str, email: &str, locale: Option<&str>) -> Value {
    let query = "mutation($e: String!, $l: String) { r: upsertMember(email: $e, user: {firstName: \"Ann\", lastName: \"Smit\", locale: $l}, sendInvite: true) { result error errorCode member { id } } }";
    app.data(token, query, json!({ "e": email, "l": locale }))
        .await["r"]
        .clone()
}

async fn call(app: &TestApp, token: &str, field: &str, user: &str) -> Value {
    let query =
        format!("mutation($u: Uuid!) {{ r: {field}(userId: $u) {{ id result error errorCode }} }}");
    app.data(token, &query, json!({ "u": user })).await["r"].clone()
}

/// The token in a mail's link, checking the link is in both parts.
fn token_of(mail: &Mail) -> String {
    let link = link_in(&mail.text, LINK_PREFIX).expect("a link in the text part");
    assert!(mail.html.contains(&link), "the HTML part has the link too");
    link.trim_start_matches(LINK_PREFIX).to_owned()
}

fn mails_to(sink: &SmtpSink, email: &str) -> Vec<Mail> {
    sink.messages()
        .iter()
        .map(|m| m.parsed())
        .filter(|m| m.to.iter().any(|t| t == email))
        .collect()
}

async fn wait_mails_to(sink: &SmtpSink, email: &str, n: usize) -> Vec<Mail> {
    let started = Instant::now();
    loop {
        let mails = mails_to(sink, email);
        if mails.len() >= n {
            return mails;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited for {n} mails to {email}; got {} of {:?}",
            mails.len(),
            sink.messages()
                .iter()
                .map(|m| (m.rcpt_to.clone(), m.parsed().to))
                .collect::<Vec<_>>()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn all_events(app: &TestApp, token: &str) -> String {
    let query = "{ events(first: 500) { edges { node { type target { id } changes } } } }";
    app.data(token, query, json!({})).await.to_string()
}

/// Invite, the mail (retried once), the webhook's link, accept by the
/// link, ACCEPTED; a repeat invite sends nothing; another org's token and
/// a reused one get the answer an unknown token gets.
async fn invite_mail_and_accept(backend: Backend) {
    let sink = SmtpSink::start();
    let Some(app) = mailing_app(backend, &sink, &[]).await else {
        return;
    };
    let (org, _, admin) = app.org_with_admin("inv-acme").await;
    let (other, _, other_admin) = app.org_with_admin("inv-other").await;
    let receiver = Receiver::start(Answer::Ok);
    create_webhook(&app, &admin, &receiver.url, &["member.invited"]).await;
    // The first attempt is refused for now: the mail goes on the retry.
    sink.fail_next(1);
    let query = "mutation { r: createUser(email: \"ann@inv.example\", first: \"Ann\", last: \"de Vries\", sendInvite: true) { id result error } }";
    let created = app.data(&admin, query, json!({})).await["r"].clone();
    assert_eq!(created["result"], "created", "{created}");
    let ann = created["id"].as_str().unwrap().to_owned();
    let mails = wait_mails_to(&sink, "ann@inv.example", 1).await;
    let mail = &mails[0];
    // The org's name, the inviter's name and the link, in both parts.
    assert_eq!(mail.subject, "First Last invited you to join Org inv-acme");
    for part in [&mail.text, &mail.html] {
        assert!(part.contains("Org inv-acme"), "{part}");
        assert!(part.contains("First Last"), "{part}");
        assert!(part.contains("Ann de Vries"), "{part}");
    }
    let from = mail.header("From").unwrap();
    assert!(from.contains("invites@roster.test"), "{from}");
    assert!(mail.header("Message-ID").is_some() && mail.header("Date").is_some());
    let content_type = mail.header("Content-Type").unwrap();
    assert!(
        content_type.contains("multipart/alternative"),
        "{content_type}"
    );
    let token = token_of(mail);
    assert!(token.starts_with("rinv_"), "{token}");
    let m = wait_member(&app, &admin, &ann, |m| {
        m["invitation"]["mailStatus"] == "SENT"
    })
    .await;
    assert_eq!(m["invitation"]["status"], "PENDING");
    assert_eq!(m["invitedAt"], m["invitation"]["invitedAt"]);
    assert!(m["invitation"]["expiresAt"].is_string());
    assert!(m["emailVerifiedAt"].is_null());
    // The webhook carries the same link; the event it is made from does
    // not hold the token.
    let hooks = receiver.wait_for("member.invited", 1).await;
    let hook = hooks[0].json();
    assert_eq!(hook["link"], format!("{LINK_PREFIX}{token}"));
    assert_eq!(hook["target"]["id"], ann.as_str());
    assert!(!all_events(&app, &admin).await.contains(&token));
    // Unknown, another org's: the one answer.
    let unknown = accept(&app, &admin, "rinv_unknown").await;
    assert_eq!(unknown["result"], "failed");
    assert_eq!(unknown["errorCode"], "NOT_FOUND");
    let other_app = app.integration(other, "members:write");
    let elsewhere = accept(&app, &other_app, &token).await;
    assert_eq!(elsewhere, unknown, "another org's token reads as unknown");
    // A read-only integration may not accept.
    let reader = app.integration(org, "members:read");
    assert_eq!(
        app.error_code(
            &reader,
            "mutation { acceptInvitation(token: \"x\") { result } }",
            json!({})
        )
        .await,
        "FORBIDDEN"
    );
    // The app's backend accepts with its integration token.
    let backend_token = app.integration(org, "members:write");
    // Two at once (a double click): one accepts, the other is refused.
    let (first, second) = futures::join!(
        accept(&app, &backend_token, &token),
        accept(&app, &backend_token, &token)
    );
    let (accepted, refused) = if first["result"] == "updated" {
        (first, second)
    } else {
        (second, first)
    };
    assert_eq!(accepted["result"], "updated", "{accepted}");
    assert_eq!(refused, unknown, "the second of two accepts");
    assert_eq!(accepted["id"], ann.as_str());
    let m = member(&app, &admin, &ann).await;
    assert_eq!(m["invitation"]["status"], "ACCEPTED");
    assert!(m["invitation"]["acceptedAt"].is_string());
    assert!(m["emailVerifiedAt"].is_string());
    // Single use.
    assert_eq!(accept(&app, &backend_token, &token).await, unknown);
    // Inviting again changes nothing and sends nothing.
    let query =
        "mutation { r: upsertMember(email: \"ann@inv.example\", sendInvite: true) { result } }";
    let again = app.data(&admin, query, json!({})).await;
    assert_eq!(again["r"]["result"], "unchanged", "{again}");
    assert_eq!(
        call(&app, &admin, "resendInvitation", &ann).await["errorCode"],
        "CONFLICT"
    );
    // In Dutch for a member whose locale is Dutch.
    let piet = invite_by_upsert(&app, &admin, "piet@inv.example", Some("nl-NL")).await;
    assert_eq!(piet["result"], "created", "{piet}");
    let dutch = wait_mails_to(&sink, "piet@inv.example", 1).await;
    assert!(
        dutch[0].subject.contains("nodigt je uit"),
        "{}",
        dutch[0].subject
    );
    assert!(dutch[0].text.contains("Accepteer"), "{}", dutch[0].text);
    // Tenant isolation: another org's member is NOT_FOUND like no member.
    for field in ["resendInvitation", "revokeInvitation"] {
        let theirs = call(&app, &other_admin, field, &ann).await;
        let nobody = call(&app, &other_admin, field, &Uuid::now_v7().to_string()).await;
        assert_eq!(theirs["errorCode"], "NOT_FOUND", "{field}: {theirs}");
        assert_eq!(theirs["error"], nobody["error"], "{field}");
    }
    let listed = app
        .data(
            &other_admin,
            "{ members(invitationStatuses: [ACCEPTED, PENDING]) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["members"]["totalCount"], 0);
    let listed = app
        .data(
            &admin,
            "{ members(invitationStatuses: [ACCEPTED]) { nodes { email } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["members"]["nodes"],
        json!([{ "email": "ann@inv.example" }])
    );
    // Nothing more was mailed to Ann (the refused attempt was not kept).
    assert_eq!(mails_to(&sink, "ann@inv.example").len(), 1);
}

/// Resend makes a new link and the old one stops; revoke stops the link;
/// an expired link is refused and shows EXPIRED.
async fn resend_revoke_and_expiry(backend: Backend) {
    let sink = SmtpSink::start();
    let Some(app) = mailing_app(backend, &sink, &["--invite-ttl", "3s"]).await else {
        return;
    };
    let (org, _, admin) = app.org_with_admin("inv-resend").await;
    let app_token = app.integration(org, "members:write");
    let bob = invite_by_upsert(&app, &admin, "bob@inv.example", None).await;
    let bob = bob["member"]["id"].as_str().unwrap().to_owned();
    let first = token_of(&wait_mails_to(&sink, "bob@inv.example", 1).await[0]);
    let resent = call(&app, &admin, "resendInvitation", &bob).await;
    assert_eq!(resent["result"], "updated", "{resent}");
    let mails = wait_mails_to(&sink, "bob@inv.example", 2).await;
    let second = token_of(&mails[1]);
    assert_ne!(first, second);
    assert_eq!(
        accept(&app, &app_token, &first).await["errorCode"],
        "NOT_FOUND"
    );
    assert_eq!(accept(&app, &app_token, &second).await["result"], "updated");
    // Revoked: the link stops working, and revoking again is a CONFLICT.
    let cy = invite_by_upsert(&app, &admin, "cy@inv.example", None).await;
    let cy = cy["member"]["id"].as_str().unwrap().to_owned();
    let cy_token = token_of(&wait_mails_to(&sink, "cy@inv.example", 1).await[0]);
    assert_eq!(
        call(&app, &admin, "revokeInvitation", &cy).await["result"],
        "updated"
    );
    assert_eq!(
        member(&app, &admin, &cy).await["invitation"]["status"],
        "REVOKED"
    );
    assert_eq!(
        accept(&app, &app_token, &cy_token).await["errorCode"],
        "NOT_FOUND"
    );
    assert_eq!(
        call(&app, &admin, "revokeInvitation", &cy).await["errorCode"],
        "CONFLICT"
    );
    // Expired: refused, shown and filtered as EXPIRED; sendInvite issues
    // a new one.
    let dee = invite_by_upsert(&app, &admin, "dee@inv.example", None).await;
    let dee = dee["member"]["id"].as_str().unwrap().to_owned();
    let dee_token = token_of(&wait_mails_to(&sink, "dee@inv.example", 1).await[0]);
    wait_member(&app, &admin, &dee, |m| {
        m["invitation"]["status"] == "EXPIRED"
    })
    .await;
    assert_eq!(
        accept(&app, &app_token, &dee_token).await["errorCode"],
        "NOT_FOUND"
    );
    let expired = app
        .data(
            &admin,
            "{ members(invitationStatuses: [EXPIRED]) { nodes { email } } }",
            json!({}),
        )
        .await;
    let emails = expired["members"]["nodes"].to_string();
    assert!(emails.contains("dee@inv.example"), "{emails}");
    let never = app
        .data(
            &admin,
            "{ members(invitationStatuses: [NONE]) { nodes { email } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        never["members"]["nodes"],
        json!([{ "email": "admin@inv-resend.example" }])
    );
    let renewed = invite_by_upsert(&app, &admin, "dee@inv.example", None).await;
    assert_eq!(renewed["result"], "updated", "{renewed}");
    let fresh = token_of(&wait_mails_to(&sink, "dee@inv.example", 2).await[1]);
    assert_eq!(accept(&app, &app_token, &fresh).await["result"], "updated");
}

/// A sync with `sendInvite` on 100 new records mails 100 invitations; the
/// same sync again changes nothing and mails none.
async fn sync_invites_once(backend: Backend) {
    let sink = SmtpSink::start();
    let Some(app) = mailing_app(backend, &sink, &[]).await else {
        return;
    };
    let (_, _, admin) = app.org_with_admin("inv-sync").await;
    let before = chrono::Utc::now().to_rfc3339();
    let records: Vec<Value> = (0..100)
        .map(|i| {
            json!({ "email": format!("p{i}@inv-sync.example"), "firstName": "P", "lastName": format!("{i}"), "sendInvite": true })
        })
        .collect();
    let query = "mutation($r: [SyncRecord!]!) { s: syncMembers(records: $r) { counts { created updated unchanged failed } } }";
    let first = app.data(&admin, query, json!({ "r": records })).await;
    assert_eq!(first["s"]["counts"]["created"], 100, "{first}");
    sink.wait_for_async(100, Duration::from_secs(60)).await;
    let again = app.data(&admin, query, json!({ "r": records })).await;
    assert_eq!(again["s"]["counts"]["unchanged"], 100, "{again}");
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.messages().len(), 100, "the repeat mails nothing");
    let mut to: Vec<String> = sink
        .messages()
        .iter()
        .flat_map(|m| m.rcpt_to.clone())
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 100, "one mail each");
    let pending = app
        .data(
            &admin,
            "query($t: DateTime!) { members(invitationStatuses: [PENDING], invitedAfter: $t) { totalCount } }",
            json!({ "t": before }),
        )
        .await;
    assert_eq!(pending["members"]["totalCount"], 100);
    let earlier = app
        .data(
            &admin,
            "query($t: DateTime!) { members(invitedBefore: $t) { totalCount } }",
            json!({ "t": before }),
        )
        .await;
    assert_eq!(earlier["members"]["totalCount"], 0);
}

/// Past `ROSTER_INVITE_RATE` an hour, invitations are RATE_LIMITED with
/// when there is room again, and nothing is written.
async fn invitations_are_rate_limited(backend: Backend) {
    let sink = SmtpSink::start();
    let Some(app) = mailing_app(backend, &sink, &["--invite-rate", "5"]).await else {
        return;
    };
    let (org, _, admin) = app.org_with_admin("inv-rate").await;
    let (_, _, elsewhere) = app.org_with_admin("inv-rate-other").await;
    let records = |from: usize, to: usize| -> Vec<Value> {
        (from..to)
            .map(|i| json!({ "email": format!("r{i}@inv-rate.example"), "firstName": "R", "sendInvite": true }))
            .collect()
    };
    let query =
        "mutation($r: [SyncRecord!]!) { s: syncMembers(records: $r) { counts { created } } }";
    let refused = app.gql(&admin, query, json!({ "r": records(0, 6) })).await;
    let error = &refused["errors"][0];
    assert_eq!(error["extensions"]["code"], "RATE_LIMITED", "{refused}");
    let count = "{ members { totalCount } }";
    assert_eq!(
        app.data(&admin, count, json!({})).await["members"]["totalCount"],
        1,
        "nothing written"
    );
    let done = app.data(&admin, query, json!({ "r": records(0, 4) })).await;
    assert_eq!(done["s"]["counts"]["created"], 4);
    let one = invite_by_upsert(&app, &admin, "r4@inv-rate.example", None).await;
    assert_eq!(one["result"], "created", "{one}");
    // A resend counts too.
    let r0 = app.find(org, "email: \"r0@inv-rate.example\"").await;
    let r0 = r0[0]["id"].as_str().unwrap().to_owned();
    let resent = call(&app, &admin, "resendInvitation", &r0).await;
    assert_eq!(resent["errorCode"], "RATE_LIMITED", "{resent}");
    // The sixth in the hour.
    let sixth = invite_by_upsert(&app, &admin, "r5@inv-rate.example", None).await;
    assert_eq!(sixth["result"], "failed");
    assert_eq!(sixth["errorCode"], "RATE_LIMITED");
    let message = sixth["error"].as_str().unwrap();
    let retry_at = chrono::Utc::now() + chrono::Duration::minutes(59);
    assert!(
        message.contains(&retry_at.format("%Y-%m-%dT%H").to_string())
            || message.contains(
                &(retry_at + chrono::Duration::minutes(1))
                    .format("%Y-%m-%dT%H")
                    .to_string()
            ),
        "says when: {message}"
    );
    assert_eq!(
        app.data(&admin, count, json!({})).await["members"]["totalCount"],
        6,
        "the refused member was not added"
    );
    // Without an invitation the member is added; other orgs have their
    // own allowance.
    let plain = app
        .data(
            &admin,
            "mutation { r: upsertMember(email: \"r5@inv-rate.example\", user: {firstName: \"R\"}) { result } }",
            json!({}),
        )
        .await;
    assert_eq!(plain["r"]["result"], "created");
    let theirs = invite_by_upsert(&app, &elsewhere, "x@inv-rate-other.example", None).await;
    assert_eq!(theirs["result"], "created", "{theirs}");
}

/// The link's token is in the mail and nowhere else: not in the events
/// (read back in full from the database) and not in the server's log at
/// debug level.
async fn tokens_stay_out_of_events_and_logs(backend: Backend) {
    let sink = SmtpSink::start();
    // The in-process server only made the database; the one under test
    // runs as its own process, logging at debug to a file.
    let Some(db) = spawn_app_with(backend, &["--webhook-delivery", "false"]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database-url", &db.database_url, "--jwt-secret", SECRET])
        .args(["--log", "debug", "serve", "--listen", "127.0.0.1:0"])
        .args(["--smtp-url", &sink.url(), "--invite-url", ACCEPT_PAGE])
        .args(["--webhook-poll", "100ms", "--webhook-allow-http", "true"])
        .args(["--webhook-allow-private", "true"])
        .env_remove("ROSTER_LOG")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("run roster");
    let started = Instant::now();
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let bound = text
            .lines()
            .find(|l| l.contains("listening"))
            .and_then(|l| l.split("127.0.0.1:").nth(1))
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            });
        if let Some(port) = bound.filter(|p| !p.is_empty()) {
            break format!("127.0.0.1:{port}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "did not start: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let app = db.at(format!("http://{addr}"));
    let (org, _, admin) = app.org_with_admin("inv-logs").await;
    let receiver = Receiver::start(Answer::Ok);
    create_webhook(&app, &admin, &receiver.url, &[]).await;
    let eve = invite_by_upsert(&app, &admin, "eve@inv.example", None).await;
    let eve = eve["member"]["id"].as_str().unwrap().to_owned();
    let token = token_of(&wait_mails_to(&sink, "eve@inv.example", 1).await[0]);
    let resent = call(&app, &admin, "resendInvitation", &eve).await;
    assert_eq!(resent["result"], "updated");
    let second = token_of(&wait_mails_to(&sink, "eve@inv.example", 2).await[1]);
    let app_token = app.integration(org, "members:write");
    assert_eq!(
        accept(&app, &app_token, &token).await["errorCode"],
        "NOT_FOUND"
    );
    assert_eq!(accept(&app, &app_token, &second).await["result"], "updated");
    receiver.wait_for("member.updated", 1).await;
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("DEBUG"), "the log is at debug level");
    let stored = db
        .column_text("SELECT type || ' ' || target_id || ' ' || changes AS t FROM events")
        .join("\n");
    assert!(stored.contains("member.invited"), "{stored}");
    for t in [&token, &second] {
        assert!(!logged.contains(t.as_str()), "a token is in the log");
        assert!(!stored.contains(t.as_str()), "a token is in the events");
        let hash = sha_hex(t);
        assert!(!stored.contains(&hash), "a token's hash is in the events");
    }
}

fn sha_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Files in `ROSTER_TEMPLATE_DIR` replace the built-in parts they name;
/// the others stay.
async fn templates_come_from_the_directory(backend: Backend) {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("invitation.en.subject"),
        "Welcome to {{org}}, {{name}}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("invitation.en.html"),
        "<p>{{inviter}} &rarr; <a href=\"{{link}}\">{{org}}</a></p>",
    )
    .unwrap();
    let template_dir = dir.path().display().to_string();
    let flags = ["--template-dir", template_dir.as_str()];
    let Some(app) = mailing_app(backend, &sink, &flags).await else {
        return;
    };
    let (_, _, admin) = app.org_with_admin("inv-tpl").await;
    invite_by_upsert(&app, &admin, "tia@inv.example", None).await;
    let mail = &wait_mails_to(&sink, "tia@inv.example", 1).await[0];
    assert_eq!(mail.subject, "Welcome to Org inv-tpl, Ann Smit");
    assert!(
        mail.html.starts_with("<p>First Last &rarr; <a href="),
        "{}",
        mail.html
    );
    let token = token_of(mail);
    assert!(
        mail.text.contains("invited you to join Org inv-tpl"),
        "built-in text"
    );
    assert!(!token.is_empty());
}
