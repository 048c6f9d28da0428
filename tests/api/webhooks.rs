//! Webhooks, end to end: a real HTTP receiver on 127.0.0.1 started by the
//! test gets the org's events, signed the Standard Webhooks way, retried
//! until acknowledged, in position order, and never another org's; the
//! endpoints and their changes are events too.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::Connection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    Ok,
    /// `n` answers of `status`, then 200.
    FailFirst(usize, u16),
    Always(u16),
    /// Never answers (within the test).
    Hang,
}

#[derive(Debug, Clone)]
pub(crate) struct Received {
    path: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn id(&self) -> String {
        self.headers["webhook-id"].to_str().unwrap().to_owned()
    }

    /// Whether the signature verifies with `secret`.
    fn verifies(&self, secret: &str) -> bool {
        standardwebhooks::Webhook::new(secret)
            .expect("a whsec_ secret")
            .verify(self.body.as_bytes(), &self.headers)
            .is_ok()
    }
}

struct State {
    answer: Answer,
    received: Vec<Received>,
    /// Requests answered (or hung) so far.
    calls: usize,
    /// A pause before each answer.
    delay: Duration,
}

/// An HTTP server on 127.0.0.1 that records every request.
pub(crate) struct Receiver {
    pub(crate) url: String,
    state: Arc<Mutex<State>>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in req.headers() {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let (answer, delay) = {
        let mut state = state.lock().unwrap();
        state.calls += 1;
        let answer = match state.answer {
            Answer::FailFirst(n, status) if state.calls <= n => status,
            Answer::FailFirst(..) | Answer::Ok => 200,
            Answer::Always(status) => status,
            Answer::Hang => 0,
        };
        if answer != 0 {
            state.received.push(Received {
                path: req.path().to_owned(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        (answer, state.delay)
    };
    if answer == 0 {
        actix_web::rt::time::sleep(Duration::from_secs(60)).await;
        return HttpResponse::Ok().finish();
    }
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(answer).unwrap()).body("ok")
}

impl Receiver {
    pub(crate) fn start(answer: Answer) -> Self {
        let state = Arc::new(Mutex::new(State {
            answer,
            received: Vec::new(),
            calls: 0,
            delay: Duration::ZERO,
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Self {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    fn set(&self, answer: Answer) {
        self.state.lock().unwrap().answer = answer;
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    fn calls(&self) -> usize {
        self.state.lock().unwrap().calls
    }

    /// The requests so far, once `done` holds (or after 30 s, failing).
    async fn wait_until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}; received {:?}",
                received.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for `count` deliveries of events of `kind`.
    pub(crate) async fn wait_for(&self, kind: &str, count: usize) -> Vec<Received> {
        let received = self
            .wait_until(&format!("{count} {kind}"), |r| {
                r.iter().filter(|r| r.json()["type"] == kind).count() >= count
            })
            .await;
        received
            .into_iter()
            .filter(|r| r.json()["type"] == kind)
            .collect()
    }
}

const WEBHOOK: &str = "id url description types enabled disabledReason failingSince previousSecretExpiresAt createdBy createdAt updatedAt";

pub(crate) async fn create_webhook(
    app: &TestApp,
    token: &str,
    url: &str,
    types: &[&str],
) -> (Uuid, String) {
    let query = format!(
        "mutation($url: String!, $types: [String!]) {{ r: createWebhook(url: $url, types: $types, description: \"test\") {{ result secret error errorCode webhook {{ {WEBHOOK} }} }} }}"
    );
    let data = app
        .data(token, &query, json!({ "url": url, "types": types }))
        .await;
    let r = &data["r"];
    assert_eq!(r["result"], "created", "{r}");
    let id = r["webhook"]["id"].as_str().unwrap().parse().unwrap();
    (id, r["secret"].as_str().unwrap().to_owned())
}

async fn deliveries(app: &TestApp, token: &str, webhook: Uuid) -> Vec<Value> {
    let query = "query($id: Uuid!) { webhookDeliveries(webhookId: $id, first: 100) { edges { node {
        id eventId eventType position status attempts lastStatusCode lastLatencyMs lastError nextAttemptAt deliveredAt
        attemptLog { at statusCode latencyMs error } } } } }";
    let data = app.data(token, query, json!({ "id": webhook })).await;
    data["webhookDeliveries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Polls `webhookDeliveries` until `done` holds for the list.
async fn wait_deliveries(
    app: &TestApp,
    token: &str,
    webhook: Uuid,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let list = deliveries(app, token, webhook).await;
        if done(&list) {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs an `events` query until it lists at least `count` events: on
/// PostgreSQL an event shows once every older transaction on the server
/// has ended (see `db::events`).
async fn events_until(app: &TestApp, token: &str, query: &str, count: usize) -> Value {
    let started = Instant::now();
    loop {
        let data = app.data(token, query, json!({})).await;
        if data["events"]["edges"].as_array().unwrap().len() >= count {
            return data;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{data}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn position(event: &Value) -> (i64, i32) {
    let (tx, ordinal) = event["position"].as_str().unwrap().split_once('.').unwrap();
    (tx.parse().unwrap(), ordinal.parse().unwrap())
}

async fn add_member(app: &TestApp, token: &str, email: &str) -> Uuid {
    let result = app
        .mutate(
            token,
            "createUser",
            &format!("email: \"{email}\", first: \"F\", last: \"L\""),
        )
        .await;
    assert_eq!(result["result"], "created", "{result}");
    id_of(&result)
}

/// Every delivery is the event as the `events` API shows it, with
/// Standard Webhooks headers whose signature verifies (with the
/// `standardwebhooks` crate) and the event's id as `webhook-id`; an
/// endpoint gets its events one at a time, in position order.
async fn deliveries_are_signed_and_in_order(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-sign").await;
    let receiver = Receiver::start(Answer::Ok);
    let (_hook, secret) = create_webhook(app, &admin, &receiver.url, &[]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let writes: Vec<_> = (0..30)
        .map(|i| {
            let admin = admin.clone();
            async move { add_member(app, &admin, &format!("m{i}@wh-sign.example")).await }
        })
        .collect();
    futures::future::join_all(writes).await;
    let received = receiver.wait_for("member.created", 30).await;
    let all = receiver.received();
    assert_eq!(all[0].json()["type"], "webhook.created");
    let mut last = (0, -1);
    for r in &all {
        assert!(
            r.verifies(&secret),
            "signature does not verify: {:?}",
            r.headers
        );
        assert!(!r.verifies("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        let event = r.json();
        assert_eq!(r.id(), event["id"].as_str().unwrap());
        assert_eq!(r.headers["content-type"], "application/json");
        let ts: i64 = r.headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((ts - now_secs() as i64).abs() < 120);
        assert!(position(&event) > last, "out of order: {event}");
        last = position(&event);
    }
    // The body is the event exactly as the events API shows it.
    let query =
        "{ events(first: 500) { edges { node { id position orgId type changes occurredAt requestId
                 actor { sub role jti channel } target { kind id } } } } }";
    let data = app.data(&admin, query, json!({})).await;
    let shown: HashMap<String, Value> = data["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["id"].as_str().unwrap().to_owned(),
                e["node"].clone(),
            )
        })
        .collect();
    for r in &received {
        assert_eq!(shown[&r.id()], r.json());
    }
    // Sent once each.
    let ids: HashSet<String> = all.iter().map(Received::id).collect();
    assert_eq!(ids.len(), all.len());
}

/// A receiver that answers 500 twice then 200 gets the event three times,
/// and no more once it acknowledged; the delivery shows each attempt.
async fn failures_are_retried_until_acknowledged(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-retry").await;
    let receiver = Receiver::start(Answer::FailFirst(2, 500));
    let (hook, _) = create_webhook(app, &admin, &receiver.url, &["member.created"]).await;
    add_member(app, &admin, "ann@wh-retry.example").await;
    let got = receiver.wait_for("member.created", 3).await;
    assert!(got.iter().all(|r| r.id() == got[0].id()));
    let list = wait_deliveries(app, &admin, hook, "the delivery", |l| {
        l.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(list.len(), 1);
    let delivery = &list[0];
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["lastStatusCode"], 200);
    assert_eq!(delivery["eventType"], "member.created");
    assert_eq!(delivery["eventId"], got[0].id());
    assert!(delivery["nextAttemptAt"].is_null());
    let codes: Vec<&Value> = delivery["attemptLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(codes, [&json!(500), &json!(500), &json!(200)]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.calls(), 3, "sent again after a 200");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |outcome: &str| -> u64 {
        let prefix = format!("roster_webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {outcome} counter in {metrics}"))
    };
    assert!(count("delivered") >= 1 && count("retry") >= 2, "{metrics}");
    for gauge in [
        "roster_webhook_queue_depth ",
        "roster_webhook_oldest_undelivered_seconds ",
    ] {
        assert!(metrics.contains(gauge), "{metrics}");
    }
}

/// A receiver that does not answer is given up on after the timeout (2 s
/// in tests), and the event is sent again later.
async fn a_hanging_receiver_is_timed_out(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-hang").await;
    let receiver = Receiver::start(Answer::Hang);
    let (hook, _) = create_webhook(app, &admin, &receiver.url, &["member.created"]).await;
    add_member(app, &admin, "slow@wh-hang.example").await;
    let list = wait_deliveries(app, &admin, hook, "a timed-out attempt", |l| {
        l.first().is_some_and(|d| d["attempts"].as_i64() >= Some(1))
    })
    .await;
    let delivery = &list[0];
    assert_eq!(delivery["status"], "pending");
    assert!(delivery["lastStatusCode"].is_null());
    assert_eq!(delivery["lastError"], "no answer within 2s", "{delivery}");
    assert!(delivery["lastLatencyMs"].as_i64().unwrap() >= 1900);
    assert!(delivery["nextAttemptAt"].is_string());
    receiver.set(Answer::Ok);
    receiver.wait_for("member.created", 1).await;
    wait_deliveries(app, &admin, hook, "the delivery", |l| {
        l[0]["status"] == "delivered"
    })
    .await;
}

/// `410 Gone` disables the endpoint, with a `webhook.disabled` event made
/// by the system; nothing more is sent to it.
async fn gone_disables_the_endpoint(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-gone").await;
    let receiver = Receiver::start(Answer::Always(410));
    let (hook, _) = create_webhook(app, &admin, &receiver.url, &["member.created"]).await;
    add_member(app, &admin, "a@wh-gone.example").await;
    let list = wait_deliveries(app, &admin, hook, "the failed delivery", |l| {
        l.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    assert_eq!(list[0]["lastStatusCode"], 410);
    let query = format!("{{ webhooks {{ {WEBHOOK} }} }}");
    let data = app.data(&admin, &query, json!({})).await;
    let shown = &data["webhooks"][0];
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(shown["disabledReason"].as_str().unwrap().contains("410"));
    let events = events_until(
        app,
        &admin,
        "{ events(types: [\"webhook.disabled\"]) { edges { node { target { id } actor { sub } changes } } } }",
        1,
    )
    .await;
    let disabled = &events["events"]["edges"][0]["node"];
    assert_eq!(disabled["target"]["id"], hook.to_string());
    assert_eq!(disabled["actor"]["sub"], "system");
    assert_eq!(disabled["changes"]["enabled"]["after"], false);
    add_member(app, &admin, "b@wh-gone.example").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.calls(), 1);
}

/// Housekeeping keeps pending deliveries and recent settled ones, and
/// deletes settled ones older than what is kept, in batches.
async fn old_settled_deliveries_are_pruned(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-prune").await;
    let receiver = Receiver::start(Answer::Ok);
    let (hook, _) = create_webhook(app, &admin, &receiver.url, &["member.created"]).await;
    add_member(app, &admin, "a@wh-prune.example").await;
    add_member(app, &admin, "b@wh-prune.example").await;
    wait_deliveries(app, &admin, hook, "two deliveries", |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    let keep = Duration::from_secs(3600);
    assert_eq!(app.service.prune_deliveries(keep).await.unwrap(), 0);
    // One of them queued long ago.
    let first = deliveries(app, &admin, hook).await[0]["id"].clone();
    app.exec_sql(&format!(
        "UPDATE webhook_deliveries SET created_at = '2000-01-01 00:00:00' WHERE id = '{}'",
        first.as_str().unwrap()
    ));
    assert_eq!(app.service.prune_deliveries(keep).await.unwrap(), 1);
    let left = deliveries(app, &admin, hook).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0]["id"], first);
}

/// A write that rolls back sends nothing: the receiver gets the next
/// write's event and none of the failed one.
async fn a_rolled_back_write_sends_nothing(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-rollback").await;
    let receiver = Receiver::start(Answer::Ok);
    create_webhook(app, &admin, &receiver.url, &[]).await;
    let failed = app
        .mutate(
            &admin,
            "createUser",
            &format!(
                "email: \"gone@wh-rollback.example\", first: \"G\", last: \"O\", groupId: \"{}\"",
                Uuid::now_v7()
            ),
        )
        .await;
    assert_failed(&failed, "NOT_FOUND");
    add_member(app, &admin, "kept@wh-rollback.example").await;
    receiver.wait_for("member.created", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let types: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| r.json()["type"].clone())
        .collect();
    assert_eq!(types, [json!("webhook.created"), json!("member.created")]);
    assert!(!receiver.received().iter().any(|r| r.body.contains("gone@")));
}

/// After a rotation each delivery carries two signatures, one per secret,
/// and each secret alone verifies it; the secrets appear in no event.
async fn rotation_signs_with_both_secrets(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-rotate").await;
    let receiver = Receiver::start(Answer::Ok);
    let (hook, old) = create_webhook(app, &admin, &receiver.url, &["member.created"]).await;
    let query = format!(
        "mutation($id: Uuid!) {{ r: rotateWebhookSecret(id: $id) {{ result secret webhook {{ {WEBHOOK} }} }} }}"
    );
    let data = app.data(&admin, &query, json!({ "id": hook })).await;
    let new = data["r"]["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    let expires: chrono::DateTime<chrono::Utc> = data["r"]["webhook"]["previousSecretExpiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let left = expires - chrono::Utc::now();
    assert!(left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24));
    add_member(app, &admin, "r@wh-rotate.example").await;
    let got = receiver.wait_for("member.created", 1).await;
    let signatures = got[0].headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(signatures.split(' ').all(|s| s.starts_with("v1,")));
    assert!(got[0].verifies(&new));
    assert!(got[0].verifies(&old));
    let events = events_until(
        app,
        &admin,
        "{ events(first: 500, types: [\"webhook.created\", \"webhook.secret_rotated\", \"member.created\"]) { edges { node { type changes } } } }",
        4,
    )
    .await;
    let text = events.to_string();
    assert!(text.contains("webhook.secret_rotated"));
    assert!(!text.contains(&old[6..]) && !text.contains(&new[6..]) && !text.contains("whsec_"));
}

/// Org A's endpoints get only org A's events, and org B's admin can
/// neither see nor touch them (NOT_FOUND, as for an id that does not
/// exist).
async fn endpoints_get_only_their_orgs_events(app: &TestApp) {
    let (org_a, _, admin_a) = app.org_with_admin("wh-a").await;
    let (org_b, _, admin_b) = app.org_with_admin("wh-b").await;
    let receiver_a = Receiver::start(Answer::Ok);
    let receiver_b = Receiver::start(Answer::Ok);
    let (hook_a, _) = create_webhook(app, &admin_a, &receiver_a.url, &[]).await;
    create_webhook(app, &admin_b, &receiver_b.url, &[]).await;
    for i in 0..5 {
        add_member(app, &admin_a, &format!("a{i}@wh-a.example")).await;
        add_member(app, &admin_b, &format!("b{i}@wh-b.example")).await;
    }
    receiver_a.wait_for("member.created", 5).await;
    receiver_b.wait_for("member.created", 5).await;
    for (receiver, org) in [(&receiver_a, org_a), (&receiver_b, org_b)] {
        for r in receiver.received() {
            assert_eq!(r.json()["orgId"], org.to_string(), "{}", r.body);
        }
    }
    let not_found = app
        .data(
            &admin_b,
            &format!("mutation {{ r: updateWebhook(id: \"{hook_a}\", enabled: false) {{ result errorCode }} }}"),
            json!({}),
        )
        .await;
    let unknown = app
        .data(
            &admin_b,
            &format!("mutation {{ r: updateWebhook(id: \"{}\", enabled: false) {{ result errorCode }} }}", Uuid::now_v7()),
            json!({}),
        )
        .await;
    assert_eq!(not_found, unknown);
    assert_eq!(not_found["r"]["errorCode"], "NOT_FOUND");
    for query in [
        format!("mutation {{ r: deleteWebhook(id: \"{hook_a}\") {{ {RESULT} }} }}"),
        format!(
            "mutation {{ r: rotateWebhookSecret(id: \"{hook_a}\") {{ result errorCode secret }} }}"
        ),
        format!(
            "mutation {{ r: redeliverEvents(webhookId: \"{hook_a}\", since: \"2020-01-01T00:00:00Z\") {{ result errorCode queued }} }}"
        ),
    ] {
        let data = app.data(&admin_b, &query, json!({})).await;
        assert_eq!(data["r"]["errorCode"], "NOT_FOUND", "{data}");
    }
    let code = app
        .error_code(
            &admin_b,
            &format!("{{ webhookDeliveries(webhookId: \"{hook_a}\") {{ edges {{ cursor }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");
    let code = app
        .error_code(
            &admin_b,
            &format!("{{ webhooks(org: \"{org_a}\") {{ id }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let data = app.data(&admin_b, "{ webhooks { id } }", json!({})).await;
    assert_eq!(data["webhooks"].as_array().unwrap().len(), 1);
}

/// Creating, changing and deleting endpoints: checked input, the
/// `webhooks:write` scope, and an event for each change.
async fn endpoints_are_managed_and_recorded(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("wh-crud").await;
    let receiver = Receiver::start(Answer::Ok);
    let (hook, secret) = create_webhook(
        app,
        &admin,
        &receiver.url,
        &["member.created", "member.retired"],
    )
    .await;
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(&secret["whsec_".len()..])
        .unwrap();
    assert_eq!(key.len(), 32);
    let create = "mutation($url: String!, $types: [String!]) { r: createWebhook(url: $url, types: $types) { result error errorCode secret webhook { id } } }";
    for (url, types) in [
        ("ftp://example.com/hook", json!([])),
        ("not a url", json!([])),
        ("https://user:pw@example.com/hook", json!([])),
        (receiver.url.as_str(), json!(["member.exploded"])),
    ] {
        let data = app
            .data(&admin, create, json!({ "url": url, "types": types }))
            .await;
        assert_failed_result(&data["r"], "INVALID_INPUT");
        assert!(data["r"]["secret"].is_null());
    }
    let update = format!(
        "mutation($id: Uuid!, $url: String) {{ r: updateWebhook(id: $id, url: $url, description: \"HR\", types: [], enabled: false) {{ result errorCode webhook {{ {WEBHOOK} }} }} }}"
    );
    let with_token = format!("{}?token=s3cret", receiver.url);
    let data = app
        .data(&admin, &update, json!({ "id": hook, "url": with_token }))
        .await;
    let updated = &data["r"]["webhook"];
    assert_eq!(updated["url"], with_token);
    assert_eq!(updated["description"], "HR");
    assert_eq!(updated["types"], json!([]));
    assert_eq!(updated["enabled"], false);
    // A write-scoped integration may manage them; one without may not.
    let integration = app.integration(org, "webhooks:write");
    let data = app
        .data(&integration, "{ webhooks { id url } }", json!({}))
        .await;
    assert_eq!(data["webhooks"][0]["url"], with_token);
    let reader = app.integration(org, "members:read events:read");
    let code = app
        .error_code(&reader, "{ webhooks { id } }", json!({}))
        .await;
    assert_eq!(code, "FORBIDDEN");
    let code = app
        .error_code(
            &reader,
            "mutation { createWebhook(url: \"https://example.com/h\") { result } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "FORBIDDEN");
    let deleted = app
        .mutate(&integration, "deleteWebhook", &format!("id: \"{hook}\""))
        .await;
    assert_eq!(deleted["result"], "updated", "{deleted}");
    let data = app.data(&admin, "{ webhooks { id } }", json!({})).await;
    assert_eq!(data["webhooks"], json!([]));
    let events = events_until(
        app,
        &admin,
        &format!("{{ events(targetId: \"{hook}\") {{ edges {{ node {{ type changes actor {{ sub }} }} }} }} }}"),
        3,
    )
    .await;
    let nodes: Vec<&Value> = events["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    let types: Vec<&str> = nodes.iter().map(|n| n["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["webhook.created", "webhook.updated", "webhook.deleted"]
    );
    assert_eq!(nodes[0]["changes"]["url"]["after"], receiver.url);
    // A query string often carries a token: events (read with
    // `events:read` alone) do not show it.
    assert_eq!(
        nodes[1]["changes"]["url"]["after"],
        format!("{}?…", receiver.url)
    );
    assert!(!events.to_string().contains("s3cret"));
    assert_eq!(
        nodes[1]["changes"]["enabled"],
        json!({ "before": true, "after": false })
    );
    assert_eq!(
        nodes[1]["changes"]["types"],
        json!({ "before": ["member.created", "member.retired"], "after": [] })
    );
    assert_eq!(nodes[2]["actor"]["sub"], "hr-sync");
    assert!(!events.to_string().contains("whsec_"));
}

fn assert_failed_result(result: &Value, code: &str) {
    assert_eq!(result["result"], "failed", "{result}");
    assert_eq!(result["errorCode"], code, "{result}");
    assert!(result["error"].as_str().is_some_and(|e| !e.is_empty()));
}

/// `redeliverEvents` sends the events since a time again, with their own
/// ids, oldest first.
async fn events_can_be_redelivered(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-replay").await;
    let receiver = Receiver::start(Answer::Ok);
    let (hook, _) = create_webhook(app, &admin, &receiver.url, &["member.created"]).await;
    let since = chrono::Utc::now();
    for i in 0..3 {
        add_member(app, &admin, &format!("r{i}@wh-replay.example")).await;
    }
    let first = receiver.wait_for("member.created", 3).await;
    let query = "mutation($id: Uuid!, $since: DateTime!) { r: redeliverEvents(webhookId: $id, since: $since) { result queued truncated error errorCode } }";
    let data = app
        .data(
            &admin,
            query,
            json!({ "id": hook, "since": since.to_rfc3339() }),
        )
        .await;
    assert_eq!(data["r"]["queued"], 3, "{data}");
    assert_eq!(data["r"]["truncated"], false);
    let all = receiver.wait_for("member.created", 6).await;
    let ids = |r: &[Received]| r.iter().map(Received::id).collect::<Vec<_>>();
    assert_eq!(ids(&all[3..]), ids(&first));
    let list = wait_deliveries(app, &admin, hook, "six delivered", |l| {
        l.len() == 6 && l.iter().all(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(list.len(), 6);
    // Not while disabled.
    let off =
        format!("mutation {{ r: updateWebhook(id: \"{hook}\", enabled: false) {{ result }} }}");
    app.data(&admin, &off, json!({})).await;
    let data = app
        .data(
            &admin,
            query,
            json!({ "id": hook, "since": since.to_rfc3339() }),
        )
        .await;
    assert_eq!(data["r"]["errorCode"], "CONFLICT", "{data}");
}

/// Deleting an endpoint, or moving it, takes effect from the next request
/// on, even in the middle of a backlog: at most the one request in flight
/// still goes to the old place.
async fn changes_take_effect_mid_backlog(app: &TestApp) {
    let (_org, _, admin) = app.org_with_admin("wh-midway").await;
    let old = Receiver::start(Answer::Ok);
    old.state.lock().unwrap().delay = Duration::from_millis(100);
    let new = Receiver::start(Answer::Ok);
    let (hook, _) = create_webhook(app, &admin, &old.url, &["member.created"]).await;
    for i in 0..20 {
        add_member(app, &admin, &format!("m{i}@wh-midway.example")).await;
    }
    old.wait_for("member.created", 2).await;
    let moved = app
        .data(
            &admin,
            "mutation($id: Uuid!, $url: String) { r: updateWebhook(id: $id, url: $url) { result } }",
            json!({ "id": hook, "url": new.url }),
        )
        .await;
    assert_eq!(moved["r"]["result"], "updated");
    let at_move = old.received().len();
    let old_ids: HashSet<String> = old.received().iter().map(Received::id).collect();
    new.wait_until("the rest at the new URL", |r| {
        let mut seen = old_ids.clone();
        seen.extend(r.iter().map(Received::id));
        seen.len() >= 20
    })
    .await;
    let old_got = old.received().len();
    assert!(
        old_got <= at_move + 1,
        "{at_move} at the move, then {old_got}"
    );
    // Deleting it: nothing more after the request in flight.
    new.state.lock().unwrap().delay = Duration::from_millis(100);
    for i in 20..40 {
        add_member(app, &admin, &format!("m{i}@wh-midway.example")).await;
    }
    let before = new.received().len();
    new.wait_until("two more", |r| r.len() >= before + 2).await;
    let deleted = app
        .mutate(&admin, "deleteWebhook", &format!("id: \"{hook}\""))
        .await;
    assert_eq!(deleted["result"], "updated");
    let at_delete = new.received().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(new.received().len() <= at_delete + 1);
}

/// Endpoints take turns: an org whose endpoint hangs on a long backlog
/// does not hold up another org's, even with one sender per instance.
async fn endpoints_take_turns(backend: Backend) {
    let Some(app) = spawn_app_with(backend, &["--webhook-concurrency", "1"]).await else {
        return;
    };
    let (_a, _, admin_a) = app.org_with_admin("wh-turn-a").await;
    let (_b, _, admin_b) = app.org_with_admin("wh-turn-b").await;
    let hanging = Receiver::start(Answer::Hang);
    let fine = Receiver::start(Answer::Ok);
    create_webhook(&app, &admin_a, &hanging.url, &["member.created"]).await;
    create_webhook(&app, &admin_b, &fine.url, &["member.created"]).await;
    for i in 0..20 {
        add_member(&app, &admin_a, &format!("a{i}@wh-turn.example")).await;
    }
    // The hanging endpoint has its turn first.
    let started = Instant::now();
    while hanging.calls() == 0 {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    add_member(&app, &admin_b, "b@wh-turn.example").await;
    let started = Instant::now();
    fine.wait_for("member.created", 1).await;
    // One turn is at most 5 s plus a 2 s timeout; twenty hanging requests
    // in a row would be 40 s.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

mod turns {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        endpoints_take_turns(Backend::Sqlite).await;
    }

    #[actix_web::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set ROSTER_TEST_POSTGRES_URL to run it on PostgreSQL"
    )]
    async fn postgres() {
        endpoints_take_turns(Backend::Postgres).await;
    }
}

crate::both_backends!(
    old_settled_deliveries_are_pruned,
    deliveries_are_signed_and_in_order,
    failures_are_retried_until_acknowledged,
    a_hanging_receiver_is_timed_out,
    gone_disables_the_endpoint,
    a_rolled_back_write_sends_nothing,
    rotation_signs_with_both_secrets,
    endpoints_get_only_their_orgs_events,
    endpoints_are_managed_and_recorded,
    events_can_be_redelivered,
    changes_take_effect_mid_backlog,
);

/// On a server that does not allow private addresses, endpoints there are
/// refused when created, and a delivery to one (planted by a server that
/// allows them) is never sent: the address connected to is checked, not
/// only the URL.
async fn private_addresses_are_refused(backend: Backend) {
    let Some(strict) = spawn_app_with(backend, &["--webhook-allow-private", "false"]).await else {
        return;
    };
    let open = strict.instance_with(&["--webhook-delivery", "false"]).await;
    let (_org, _, admin) = strict.org_with_admin("wh-private").await;
    let receiver = Receiver::start(Answer::Ok);
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .trim_end_matches("/hook");
    let create =
        "mutation($url: String!) { r: createWebhook(url: $url) { result error errorCode } }";
    for url in [
        receiver.url.clone(),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://10.0.0.7/hook".into(),
        "http://0x7f000001/hook".into(),
    ] {
        let data = strict.data(&admin, create, json!({ "url": url })).await;
        assert_failed_result(&data["r"], "INVALID_INPUT");
        assert!(
            data["r"]["error"]
                .as_str()
                .unwrap()
                .contains("public address")
        );
    }
    // Created where it is allowed; sent (not) by the strict instance.
    let named = format!("http://localhost:{port}/hook");
    let (hook, _) = create_webhook(&open, &admin, &named, &["member.created"]).await;
    let (literal, _) = create_webhook(&open, &admin, &receiver.url, &["member.created"]).await;
    add_member(&open, &admin, "p@wh-private.example").await;
    for id in [hook, literal] {
        let list = wait_deliveries(&strict, &admin, id, "a refused attempt", |l| {
            l.first().is_some_and(|d| d["attempts"].as_i64() >= Some(1))
        })
        .await;
        let error = list[0]["lastError"].as_str().unwrap_or_default();
        assert!(error.contains("may not connect"), "{list:?}");
    }
    assert_eq!(receiver.calls(), 0);
    // Plain http needs its own permission.
    let https_only = strict
        .instance_with(&[
            "--webhook-allow-http",
            "false",
            "--webhook-delivery",
            "false",
        ])
        .await;
    let data = https_only
        .data(&admin, create, json!({ "url": "http://example.com/hook" }))
        .await;
    assert_failed_result(&data["r"], "INVALID_INPUT");
    assert!(data["r"]["error"].as_str().unwrap().contains("https"));
}

mod private_addresses {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        private_addresses_are_refused(Backend::Sqlite).await;
    }

    #[actix_web::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set ROSTER_TEST_POSTGRES_URL to run it on PostgreSQL"
    )]
    async fn postgres() {
        private_addresses_are_refused(Backend::Postgres).await;
    }
}

/// A child process killed (SIGKILL) when the test is done with it, even
/// when the test fails.
struct KillOnDrop(std::process::Child);

impl KillOnDrop {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether the instance with process id `pid` holds an endpoint's lease.
fn holds_lease(db: &mut diesel::PgConnection, pid: u32) -> bool {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Held {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let held: Held = diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM webhooks WHERE lease_owner LIKE '{pid}:%' AND lease_expires_at > now() AT TIME ZONE 'UTC'"
    ))
    .get_result(db)
    .unwrap();
    held.n > 0
}

/// Three instances on one PostgreSQL deliver a burst of 2,000 writes to
/// four endpoints while one of them (a separate process) is killed
/// mid-run: every event arrives at least once. The duplicates (sent by
/// the killed instance just before it died, and again after its lease
/// expired) are counted and printed.
#[actix_web::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set ROSTER_TEST_POSTGRES_URL to run it on PostgreSQL"
)]
async fn instances_share_delivery_and_survive_a_kill() {
    const WRITES: usize = 2000;
    const ENDPOINTS: usize = 8;
    // Two endpoints at a time per instance, so that all three share them.
    let limit = ["--webhook-concurrency", "2"];
    let Some(app) = spawn_app_with(Backend::Postgres, &limit).await else {
        return;
    };
    let second = app.instance_with(&limit).await;
    let receiver = Receiver::start(Answer::Ok);
    receiver.state.lock().unwrap().delay = Duration::from_millis(2);
    let mut admins = Vec::new();
    for n in 0..ENDPOINTS {
        let (_org, _, admin) = app.org_with_admin(&format!("wh-burst{n}")).await;
        let url = format!("{}/{n}", receiver.url);
        create_webhook(&app, &admin, &url, &["member.created"]).await;
        admins.push(admin);
    }
    // The third instance: its own process, killed with SIGKILL mid-run.
    let mut args = vec![
        "--database-url".to_owned(),
        app.database_url.clone(),
        "--jwt-secret".into(),
        SECRET.into(),
        "--log".into(),
        "warn".into(),
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    for (flag, value) in TEST_WEBHOOK_FLAGS.into_iter().chain([limit.into()]) {
        args.extend([flag.to_owned(), value.to_owned()]);
    }
    let mut third = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(&args)
            .env_remove("ROSTER_LISTEN")
            .spawn()
            .expect("start a third instance"),
    );
    let instances = [&app, &second];
    let pid = third.0.id();
    let mut db = diesel::PgConnection::establish(&app.database_url).unwrap();
    let started = Instant::now();
    let mut killed_at = None;
    for wave in 0..(WRITES / 50) {
        let writes: Vec<_> = (0..50)
            .map(|i| {
                let n = wave * 50 + i;
                let instance = instances[n % 2];
                let admin = admins[n % ENDPOINTS].clone();
                async move {
                    add_member(instance, &admin, &format!("u{n}@wh-burst.example")).await;
                }
            })
            .collect();
        futures::future::join_all(writes).await;
        // Killed while it holds an endpoint, in the burst's second quarter.
        if killed_at.is_none() && wave >= WRITES / 200 && holds_lease(&mut db, pid) {
            // While all three run, nothing is sent twice.
            let before = receiver.received();
            let distinct: HashSet<String> = before.iter().map(Received::id).collect();
            assert_eq!(distinct.len(), before.len(), "a duplicate before the kill");
            third.kill();
            killed_at = Some(before.len());
        }
    }
    // Deliveries trail the writes: it may take an endpoint only now.
    while killed_at.is_none() && started.elapsed() < Duration::from_secs(60) {
        if holds_lease(&mut db, pid) {
            third.kill();
            killed_at = Some(receiver.received().len());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        killed_at.is_some(),
        "the third instance never held an endpoint"
    );
    let written = started.elapsed();
    let received = receiver
        .wait_until("every event of the burst", |r| {
            r.iter().map(Received::id).collect::<HashSet<_>>().len() >= WRITES
        })
        .await;
    let distinct: HashSet<String> = received.iter().map(Received::id).collect();
    assert_eq!(distinct.len(), WRITES);
    for n in 0..ENDPOINTS {
        let path = format!("/hook/{n}");
        let ids: HashSet<String> = received
            .iter()
            .filter(|r| r.path == path)
            .map(Received::id)
            .collect();
        assert_eq!(ids.len(), WRITES / ENDPOINTS, "endpoint {n}");
    }
    eprintln!(
        "webhook burst: {WRITES} writes in {written:?}, all delivered after {:?}; \
         {} requests, {} duplicates; third instance killed after {} deliveries",
        started.elapsed(),
        received.len(),
        received.len() - distinct.len(),
        killed_at.unwrap_or_default(),
    );
}

/// With the retry window and the failure streak cut to a second: a
/// delivery that keeps failing is given up (`failed`) once its next try
/// would fall outside the window, and an endpoint that fails for longer
/// than the streak allows is disabled with a `webhook.disabled` event.
async fn failing_endpoints_give_up(backend: Backend) {
    let flags = [
        "--webhook-retry-for",
        "1s",
        "--webhook-disable-after",
        "1500ms",
    ];
    let Some(app) = spawn_app_with(backend, &flags).await else {
        return;
    };
    let (_org, _, admin) = app.org_with_admin("wh-giveup").await;
    let receiver = Receiver::start(Answer::Always(503));
    let (hook, _) = create_webhook(&app, &admin, &receiver.url, &["member.created"]).await;
    add_member(&app, &admin, "a@wh-giveup.example").await;
    let list = wait_deliveries(&app, &admin, hook, "a failed delivery", |l| {
        l.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    let failed = &list[0];
    assert!(failed["attempts"].as_i64().unwrap() >= 2, "{failed}");
    assert!(failed["nextAttemptAt"].is_null());
    assert_eq!(failed["lastStatusCode"], 503);
    let query = format!("{{ webhooks {{ {WEBHOOK} }} }}");
    let data = app.data(&admin, &query, json!({})).await;
    assert_eq!(data["webhooks"][0]["enabled"], true, "{data}");
    assert!(data["webhooks"][0]["failingSince"].is_string());
    // Still failing once the streak is long enough: disabled.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    add_member(&app, &admin, "b@wh-giveup.example").await;
    let started = Instant::now();
    loop {
        let data = app.data(&admin, &query, json!({})).await;
        let shown = &data["webhooks"][0];
        if shown["enabled"] == false {
            assert!(
                shown["disabledReason"]
                    .as_str()
                    .unwrap()
                    .contains("failed for")
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = events_until(
        &app,
        &admin,
        "{ events(types: [\"webhook.disabled\"]) { edges { node { target { id } } } } }",
        1,
    )
    .await;
    assert_eq!(
        events["events"]["edges"][0]["node"]["target"]["id"],
        hook.to_string()
    );
    // Enabling it again clears the streak and the reason.
    let update = format!(
        "mutation {{ r: updateWebhook(id: \"{hook}\", enabled: true) {{ result webhook {{ {WEBHOOK} }} }} }}"
    );
    let data = app.data(&admin, &update, json!({})).await;
    let shown = &data["r"]["webhook"];
    assert_eq!(shown["enabled"], true);
    assert!(
        shown["disabledReason"].is_null() && shown["failingSince"].is_null(),
        "{shown}"
    );
}

mod giving_up {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        failing_endpoints_give_up(Backend::Sqlite).await;
    }

    #[actix_web::test]
    #[cfg_attr(
        not(postgres_tests),
        ignore = "set ROSTER_TEST_POSTGRES_URL to run it on PostgreSQL"
    )]
    async fn postgres() {
        failing_endpoints_give_up(Backend::Postgres).await;
    }
}
