//! The audit log: every write records exactly its events, in the same
//! transaction; readers page by position and never miss a late commit;
//! `events` stays inside the caller's org; request ids reach the events.

use std::collections::HashSet;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const EVENTS: &str = "query($org: Uuid, $after: String, $types: [String!], $target: String) {
    events(org: $org, first: 500, after: $after, types: $types, targetId: $target) {
        totalCount
        edges { cursor node { id position orgId type changes occurredAt requestId
                              actor { sub role jti channel } target { kind id } } }
        pageInfo { hasNextPage endCursor } } }";

/// Reads a whole events list from `after` on, as `token` sees it.
async fn read_all(app: &TestApp, token: &str, vars: Value) -> (Vec<Value>, Option<String>) {
    let mut vars = vars;
    let mut seen = Vec::new();
    loop {
        let data = app.data(token, EVENTS, vars.clone()).await;
        let events = &data["events"];
        for edge in events["edges"].as_array().unwrap() {
            seen.push(edge["node"].clone());
        }
        let end = events["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        if let Some(end) = &end {
            vars["after"] = json!(end);
        }
        if !events["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            let last = vars["after"].as_str().map(str::to_owned);
            return (seen, last);
        }
    }
}

/// Reads until at least `count` events are there. On PostgreSQL an event
/// shows once every transaction that began before it has ended, anywhere
/// on the server (see `db::events`), so a read right after a write may
/// not show it yet; it never shows a later one before it.
async fn read_at_least(
    app: &TestApp,
    token: &str,
    vars: Value,
    count: usize,
) -> (Vec<Value>, Option<String>) {
    let started = std::time::Instant::now();
    loop {
        let (events, last) = read_all(app, token, vars.clone()).await;
        if events.len() >= count || started.elapsed() > std::time::Duration::from_secs(30) {
            return (events, last);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn types_of(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// Follows one org's log.
struct Follower<'a> {
    app: &'a TestApp,
    token: String,
    org: Uuid,
    after: Option<String>,
}

impl Follower<'_> {
    /// The events since the last call, which must be exactly of `types`.
    /// A write that recorded nothing is checked by the next call: an
    /// event of it would come before the ones expected.
    async fn expect(&mut self, types: &[&str]) -> Vec<Value> {
        let vars = json!({ "org": self.org, "after": self.after });
        let (events, last) = read_at_least(self.app, &self.token, vars, types.len()).await;
        assert_eq!(types_of(&events), types, "{events:?}");
        self.after = last;
        events
    }
}

async fn mutate_with_id(app: &TestApp, token: &str, request_id: &str, query: &str) -> Value {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .header("x-request-id", request_id)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], request_id);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// Each mutation, bulk call and sync records exactly its events, with the
/// actor, the request id and the changes; failures, dry runs, ABORTed
/// syncs and unchanged answers record nothing.
async fn every_write_records_its_events(app: &TestApp) {
    let (org, admin_id, admin) = app.org_with_admin("ev").await;
    let mut log = Follower {
        app,
        token: admin.clone(),
        org,
        after: None,
    };
    log.expect(&["org.created", "member.created"]).await;

    let data = mutate_with_id(
        app,
        &admin,
        "req-group-1",
        "mutation { createGroup(name: \"Sales\") { id } }",
    )
    .await;
    let group = data["createGroup"]["id"].as_str().unwrap().to_owned();
    let events = log.expect(&["group.created"]).await;
    let created = &events[0];
    assert_eq!(created["type"], "group.created");
    assert_eq!(created["requestId"], "req-group-1");
    assert_eq!(created["orgId"], org.to_string());
    assert_eq!(
        created["actor"],
        json!({ "sub": admin_id.to_string(), "role": "admin", "jti": created["actor"]["jti"], "channel": "graphql" })
    );
    assert_eq!(created["target"], json!({ "kind": "group", "id": group }));
    assert_eq!(
        created["changes"]["name"],
        json!({ "before": null, "after": "Sales" })
    );

    let made = app
        .mutate(
            &admin,
            "createUser",
            &format!(
                "email: \"ann@ev.example\", first: \"Ann\", last: \"Lee\", groupId: \"{group}\""
            ),
        )
        .await;
    let ann = made["id"].as_str().unwrap().to_owned();
    let events = log.expect(&["member.created", "group.member_added"]).await;
    assert_eq!(events[0]["target"], json!({ "kind": "member", "id": ann }));
    assert_eq!(events[0]["changes"]["email"]["after"], "ann@ev.example");
    assert_eq!(events[0]["changes"]["role"]["after"], "user");

    // Failures and no-ops record nothing.
    let duplicate = app
        .mutate(
            &admin,
            "createUser",
            "email: \"ann@ev.example\", first: \"A\", last: \"L\"",
        )
        .await;
    assert_failed(&duplicate, "DUPLICATE");
    let same = app
        .mutate(
            &admin,
            "addGroupMembership",
            &format!("userId: \"{ann}\", groupId: \"{group}\""),
        )
        .await;
    assert_eq!(same["result"], "unchanged");

    let update = |args: &str| format!("userId: \"{ann}\", {args}");
    for (args, expected) in [
        ("role: \"admin\"", "member.updated"),
        ("status: \"retired\"", "member.retired"),
        ("status: \"active\"", "member.reactivated"),
        ("role: \"admin\"", ""),
    ] {
        app.mutate(&admin, "updateMember", &update(args)).await;
        if !expected.is_empty() {
            log.expect(&[expected]).await;
        }
    }
    app.mutate(&admin, "updateMember", &update("externalId: \"e-9\""))
        .await;
    let events = log.expect(&["member.updated"]).await;
    assert_eq!(
        events[0]["changes"],
        json!({ "externalId": { "before": null, "after": "e-9" } })
    );

    app.mutate(
        &admin,
        "removeGroupMembership",
        &format!("userId: \"{ann}\", groupId: \"{group}\""),
    )
    .await;
    app.mutate(
        &admin,
        "updateGroup",
        &format!("id: \"{group}\", name: \"Sales EU\""),
    )
    .await;
    log.expect(&["group.member_removed", "group.updated"]).await;

    // The directory writes.
    let upsert = "mutation($first: String) { upsertMember(email: \"bo@ev.example\", user: {firstName: $first}) { result } }";
    app.data(&admin, upsert, json!({ "first": "Bo" })).await;
    app.data(&admin, upsert, json!({ "first": "Bo" })).await;
    app.data(&admin, upsert, json!({ "first": "Bob" })).await;
    let events = log.expect(&["member.created", "user.updated"]).await;
    assert_eq!(
        events[1]["changes"]["firstName"],
        json!({ "before": "Bo", "after": "Bob" })
    );
    let bo = events[0]["target"]["id"].as_str().unwrap().to_owned();

    let status = format!(
        "mutation {{ setMembersStatus(userIds: [\"{ann}\", \"{bo}\", \"{admin_id}\"], status: RETIRED) {{ failedIds }} }}"
    );
    app.data(&admin, &status, json!({})).await;
    log.expect(&["member.retired", "member.retired"]).await;
    let remove = format!("mutation {{ removeMembers(userIds: [\"{bo}\"]) {{ removedIds }} }}");
    app.data(&admin, &remove, json!({})).await;
    let events = log.expect(&["member.removed"]).await;
    assert_eq!(events[0]["changes"]["email"]["before"], "bo@ev.example");

    // Ed is active and named by no record: MIRROR retires him.
    let ed = app.create_member(org, "ed@ev.example", "user").await;
    log.expect(&["member.created"]).await;
    let sync = "mutation($records: [SyncRecord!]!, $mode: SyncMode, $dry: Boolean, $onError: SyncOnError) {
        syncMembers(records: $records, mode: $mode, dryRun: $dry, onError: $onError) { written } }";
    let records = json!([
        { "email": "admin@ev.example", "firstName": "First" },
        { "email": "cy@ev.example", "firstName": "Cy" },
        { "email": "di@ev.example", "firstName": "Di", "groups": ["Sales EU"] },
    ]);
    app.data(
        &admin,
        sync,
        json!({ "records": records, "mode": "MIRROR", "dry": true }),
    )
    .await;
    let mut failing = records.clone();
    failing
        .as_array_mut()
        .unwrap()
        .push(json!({ "email": "broken" }));
    let aborted = app.data(&admin, sync, json!({ "records": failing })).await;
    assert_eq!(aborted["syncMembers"]["written"], false);
    // The dry run and the ABORT recorded nothing: only the real run shows.
    app.data(
        &admin,
        sync,
        json!({ "records": records, "mode": "MIRROR" }),
    )
    .await;
    let events = log
        .expect(&[
            "member.created",
            "member.created",
            "group.member_added",
            "member.retired",
            "members.synced",
        ])
        .await;
    assert_eq!(events[3]["target"]["id"], ed.to_string());
    assert_eq!(events[3]["changes"]["status"]["before"], "active");
    let summary = &events[4]["changes"];
    assert_eq!(summary["retired"]["after"], 1);
    assert_eq!(
        (
            summary["created"]["after"].as_i64(),
            summary["mode"]["after"].as_str()
        ),
        (Some(2), Some("MIRROR"))
    );
    // The same directory again changes nothing and records nothing.
    app.data(
        &admin,
        sync,
        json!({ "records": records, "mode": "MIRROR" }),
    )
    .await;
    app.mutate(&admin, "deleteGroup", &format!("id: \"{group}\""))
        .await;
    // Di was in it: the membership goes too, recorded before the group.
    let events = log.expect(&["group.member_removed", "group.deleted"]).await;
    assert_eq!(events[0]["target"]["kind"], "member");

    // Operators: orgs and tokens.
    let op = app.operator();
    app.mutate(
        &op,
        "updateOrg",
        &format!("id: \"{org}\", status: \"suspended\""),
    )
    .await;
    app.mutate(
        &op,
        "updateOrg",
        &format!("id: \"{org}\", status: \"active\", name: \"Ev\""),
    )
    .await;
    let mut op_log = Follower {
        app,
        token: op.clone(),
        org,
        after: log.after.clone(),
    };
    let events = op_log.expect(&["org.suspended", "org.reactivated"]).await;
    assert_eq!(events[1]["changes"]["name"]["after"], "Ev");
    assert_eq!(events[1]["actor"]["role"], "operator");
    let issued = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            roster::service::TokenRequest {
                role: roster::auth::CallerRole::Integration,
                org: Some(roster::domain::OrgId(org)),
                scope: Some("members:read".into()),
                subject: None,
                ttl: std::time::Duration::from_secs(60),
                name: None,
            },
        )
        .await
        .unwrap();
    app.service
        .revoke_token(&roster::auth::Principal::cli(), &issued.jti)
        .await
        .unwrap();
    let events = op_log.expect(&["token.issued", "token.revoked"]).await;
    assert_eq!(events[0]["actor"]["channel"], "cli");
    assert_eq!(events[0]["target"]["id"], issued.jti);
    assert!(
        !events[0].to_string().contains(&issued.token),
        "a token in an event"
    );

    // An operator links a member into another org.
    let other = app.create_org("ev-other").await;
    let linked = app
        .mutate(
            &op,
            "addOrgMember",
            &format!("orgId: \"{other}\", userId: \"{ann}\", role: \"admin\""),
        )
        .await;
    assert_eq!(linked["result"], "created", "{linked}");
    let mut other_log = Follower {
        app,
        token: op.clone(),
        org: other,
        after: None,
    };
    let events = other_log.expect(&["org.created", "member.created"]).await;
    assert_eq!(events[1]["changes"]["role"]["after"], "admin");
    assert_eq!(events[1]["changes"]["managed"]["after"], false);
}

/// A write that fails after writing rows rolls them back, and its events
/// with them.
async fn a_rolled_back_write_records_nothing(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("rollback").await;
    let mut log = Follower {
        app,
        token: admin.clone(),
        org,
        after: None,
    };
    log.expect(&["org.created", "member.created"]).await;
    // The user and the membership are written, then the group is missing.
    let failed = app
        .mutate(
            &admin,
            "createUser",
            &format!(
                "email: \"gone@rollback.example\", first: \"G\", last: \"O\", groupId: \"{}\"",
                Uuid::now_v7()
            ),
        )
        .await;
    assert_failed(&failed, "NOT_FOUND");
    assert!(
        app.find(org, "email: \"gone@rollback.example\"")
            .await
            .is_empty()
    );
    // The next write's event is the next one: none came from the failure.
    app.create_member(org, "kept@rollback.example", "user")
        .await;
    let events = log.expect(&["member.created"]).await;
    assert_eq!(
        events[0]["changes"]["email"]["after"],
        "kept@rollback.example"
    );
}

/// Writers on two instances commit in any order while a reader keeps
/// paging after the last position it saw: at the end it has seen every
/// event exactly once, in position order.
async fn readers_never_miss_a_late_commit(app: &TestApp) {
    let other = app.second_instance().await;
    let (org, _, admin) = app.org_with_admin("order").await;
    let reader = app.integration(org, "events:read");
    let done = std::sync::atomic::AtomicBool::new(false);
    let writers = async {
        let mut tasks = Vec::new();
        for w in 0..4 {
            let (app, admin) = (if w % 2 == 0 { app } else { &other }, admin.clone());
            tasks.push(async move {
                for i in 0..12 {
                    if i % 4 == 0 {
                        // A longer transaction: a sync of 40 new members.
                        let records: Vec<Value> = (0..40)
                            .map(|n| json!({ "email": format!("s{w}-{i}-{n}@order.example"), "firstName": "S" }))
                            .collect();
                        let query = "mutation($r: [SyncRecord!]!) { syncMembers(records: $r) { written } }";
                        app.data(&admin, query, json!({ "r": records })).await;
                    } else {
                        let args = format!("email: \"w{w}-{i}@order.example\", first: \"W\", last: \"R\"");
                        let made = app.mutate(&admin, "createUser", &args).await;
                        assert_eq!(made["result"], "created", "{made}");
                    }
                }
            });
        }
        futures::future::join_all(tasks).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let expected = 2 + 4 * (3 * 41 + 9);
    let poller = async {
        let mut seen: Vec<Value> = Vec::new();
        let mut after: Option<String> = None;
        let started = std::time::Instant::now();
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let (events, last) =
                read_all(app, &reader, json!({ "org": org, "after": after })).await;
            seen.extend(events);
            after = last;
            let timed_out = started.elapsed() > std::time::Duration::from_secs(120);
            if finished && (seen.len() >= expected || timed_out) {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    let ((), seen) = futures::join!(writers, poller);
    let (all, _) = read_at_least(app, &reader, json!({ "org": org }), expected).await;
    let ids = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let seen_ids = ids(&seen);
    let unique: HashSet<&String> = seen_ids.iter().collect();
    assert_eq!(unique.len(), seen_ids.len(), "an event was read twice");
    let all_ids = ids(&all);
    if seen_ids != all_ids {
        let missed: Vec<&String> = all_ids.iter().filter(|id| !unique.contains(id)).collect();
        panic!(
            "the reader saw {} of {} events ({} missed, e.g. {:?}), or saw them out of order",
            seen_ids.len(),
            all_ids.len(),
            missed.len(),
            missed.iter().take(3).collect::<Vec<_>>()
        );
    }
    assert_eq!(all.len(), expected, "every write recorded");
}

/// `events` stays inside the caller's org and needs `events:read`.
async fn events_stay_in_their_org(app: &TestApp) {
    let (a, _, admin_a) = app.org_with_admin("iso-a").await;
    let (b, _, admin_b) = app.org_with_admin("iso-b").await;
    let b_member = app.create_member(b, "secret@iso-b.example", "user").await;
    let (mine, _) = read_at_least(app, &admin_a, json!({}), 2).await;
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.iter().all(|e| e["orgId"] == a.to_string()), "{mine:?}");
    assert!(!json!(mine).to_string().contains("iso-b"));
    let (targeted, _) = read_all(app, &admin_a, json!({ "target": b_member.to_string() })).await;
    assert!(targeted.is_empty());
    assert_eq!(
        app.error_code(&admin_a, EVENTS, json!({ "org": b })).await,
        "FORBIDDEN"
    );
    let no_scope = app.integration(a, "members:read");
    assert_eq!(
        app.error_code(&no_scope, EVENTS, json!({})).await,
        "FORBIDDEN"
    );
    let history = "query($id: Uuid) { user(id: $id) { history { edges { node { type } } } } }";
    let a_admin = app.find(a, "email: \"admin@iso-a.example\"").await[0]["id"].clone();
    assert_eq!(
        app.error_code(&no_scope, history, json!({ "id": a_admin }))
            .await,
        "FORBIDDEN"
    );
    let body = app.gql(&admin_a, history, json!({ "id": b_member })).await;
    assert!(body["data"]["user"].is_null(), "{body}");
    let (theirs, _) = read_at_least(app, &admin_b, json!({}), 3).await;
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    assert!(theirs.iter().all(|e| e["orgId"] == b.to_string()));
    // One member's history.
    let data = app.data(&admin_b, history, json!({ "id": b_member })).await;
    let types: Vec<&str> = data["user"]["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["member.created"]);
    // Operators name the org; bad filters are INVALID_INPUT.
    assert_eq!(
        app.error_code(&app.operator(), EVENTS, json!({})).await,
        "INVALID_INPUT"
    );
    let (ops, _) = read_all(app, &app.operator(), json!({ "org": b })).await;
    assert_eq!(ops.len(), theirs.len());
    let bad = json!({ "types": ["member.exploded"] });
    assert_eq!(app.error_code(&admin_b, EVENTS, bad).await, "INVALID_INPUT");
    let bad = json!({ "after": "not a position" });
    assert_eq!(app.error_code(&admin_b, EVENTS, bad).await, "INVALID_INPUT");
    let (retired, _) = read_all(app, &admin_b, json!({ "types": ["member.retired"] })).await;
    assert!(retired.is_empty());
}

/// Every response carries `x-request-id`: the caller's when sane, else a
/// new one.
async fn every_response_has_a_request_id(app: &TestApp) {
    for (path, sent) in [
        ("/healthz", Some("abc-123")),
        ("/graphql", None),
        ("/healthz", Some("bad id with spaces")),
    ] {
        let mut request = app.client.get(app.url(path));
        if let Some(sent) = sent {
            request = request.header("x-request-id", sent);
        }
        let response = request.send().await.unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        match sent {
            Some("abc-123") => assert_eq!(id, "abc-123"),
            _ => assert!(id.parse::<Uuid>().is_ok(), "{id}"),
        }
    }
    let long = "x".repeat(300);
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], long.as_str());
}

fn roster(app: &TestApp, args: &[&str], retention: &str) -> (bool, String, String) {
    roster_cli(app, args, &[("ROSTER_EVENT_RETENTION", retention)])
}

/// `roster events tail` prints the log as JSON lines; `roster events prune`
/// deletes what is older than the retention.
async fn the_log_on_the_command_line(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("cli-ev").await;
    app.create_member(org, "t@cli-ev.example", "user").await;
    let (api, _) = read_at_least(app, &admin, json!({}), 3).await;
    let (ok, stdout, stderr) = roster(app, &["events", "tail", "--org", &org.to_string()], "400d");
    assert!(ok, "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["org.created", "member.created", "member.created"]);
    assert_eq!(lines[2]["id"], api[2]["id"]);
    assert_eq!(lines[2]["position"], api[2]["position"]);
    let (ok, stdout, _) = roster(app, &["events", "tail", "--type", "org.created"], "400d");
    assert!(ok);
    assert!(
        stdout.lines().all(|l| l.contains("\"org.created\"")),
        "{stdout}"
    );
    let (ok, _, stderr) = roster(app, &["events", "tail", "--type", "nope"], "400d");
    assert!(!ok && stderr.contains("unknown event type"), "{stderr}");

    // Nothing is old enough to go; with a retention of a second, it all is.
    let (ok, _, stderr) = roster(app, &["events", "prune"], "400d");
    assert!(ok && stderr.contains("pruned 0 events"), "{stderr}");
    let (ok, _, stderr) = roster(app, &["events", "prune"], "0");
    assert!(ok && stderr.contains("pruned 0 events"), "{stderr}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (ok, _, stderr) = roster(app, &["events", "prune"], "1s");
    assert!(ok && stderr.contains("pruned"), "{stderr}");
    assert!(!stderr.contains("pruned 0 events"), "{stderr}");
    let (left, _) = read_all(app, &admin, json!({})).await;
    assert!(left.is_empty(), "{left:?}");
}

/// When the org that manages a user changes the global profile, every
/// other org holding the user records what it sees change, by `system`.
async fn other_orgs_see_global_changes(app: &TestApp) {
    let (home, _, home_admin) = app.org_with_admin("glob-home").await;
    let (guest, _, guest_admin) = app.org_with_admin("glob-guest").await;
    let third = app.create_org("glob-third").await;
    let upsert = "mutation($e: String, $x: String, $f: String) { upsertMember(externalId: $x, email: $e, user: {firstName: $f}) { result } }";
    let vars = json!({ "x": "h-1", "e": "pat@glob.example", "f": "Pat" });
    app.data(&home_admin, upsert, vars).await;
    // The guest brings Pat in (its own profile); an operator links Pat to
    // the third org (the global profile).
    let linked = app
        .mutate(
            &guest_admin,
            "createUser",
            "email: \"pat@glob.example\", first: \"P\", last: \"G\"",
        )
        .await;
    let pat = linked["id"].as_str().unwrap().to_owned();
    app.mutate(
        &app.operator(),
        "addOrgMember",
        &format!("orgId: \"{third}\", userId: \"{pat}\""),
    )
    .await;
    let follow = |org| Follower {
        app,
        token: app.operator(),
        org,
        after: None,
    };
    let (mut guest_log, mut third_log, mut home_log) = (follow(guest), follow(third), follow(home));
    guest_log
        .expect(&["org.created", "member.created", "member.created"])
        .await;
    third_log.expect(&["org.created", "member.created"]).await;
    home_log
        .expect(&["org.created", "member.created", "member.created"])
        .await;

    let vars = json!({ "x": "h-1", "e": "pat.new@glob.example", "f": "Patricia" });
    let changed = app.data(&home_admin, upsert, vars).await;
    assert_eq!(changed["upsertMember"]["result"], "updated", "{changed}");
    let home_events = home_log.expect(&["user.updated"]).await;
    assert_eq!(home_events[0]["actor"]["role"], "admin");
    let guest_events = guest_log.expect(&["member.updated"]).await;
    assert_eq!(
        guest_events[0]["changes"],
        json!({ "email": { "before": "pat@glob.example", "after": "pat.new@glob.example" } })
    );
    assert_eq!(
        guest_events[0]["actor"],
        json!({ "sub": "system", "role": "system", "jti": null, "channel": "graphql" })
    );
    assert_eq!(guest_events[0]["requestId"], Value::Null);
    let third_events = third_log.expect(&["member.updated"]).await;
    assert_eq!(third_events[0]["changes"]["firstName"]["after"], "Patricia");
    assert_eq!(
        third_events[0]["changes"]["email"]["after"],
        "pat.new@glob.example"
    );
}

/// A malformed id in the database is an error (INTERNAL, logged), never
/// shown as a made-up id.
async fn a_corrupt_stored_id_is_an_error(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("corrupt").await;
    let group = app.create_group(org, "Broken").await;
    app.exec_sql(&format!(
        "UPDATE groups SET id = 'not-a-uuid' WHERE id = '{group}'"
    ));
    let body = app
        .gql(
            &admin,
            "{ groups { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INTERNAL",
        "{body}"
    );
    assert!(!body.to_string().contains("00000000-0000"), "{body}");
    assert!(!body.to_string().contains("not-a-uuid"), "{body}");
}

crate::both_backends!(
    other_orgs_see_global_changes,
    a_corrupt_stored_id_is_an_error,
    every_write_records_its_events,
    a_rolled_back_write_records_nothing,
    readers_never_miss_a_late_commit,
    events_stay_in_their_org,
    every_response_has_a_request_id,
    the_log_on_the_command_line,
);
