//! Invariants under concurrent writers, on both backends.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;

/// 20 createUser calls for one email in different case, at once, into two
/// orgs: one user, one membership per org, every other call DUPLICATE, no
/// 5xx and no "database is locked".
async fn same_email_at_once(app: &TestApp) {
    let op = app.operator();
    let org_a = app.create_org("race-a").await;
    let org_b = app.create_org("race-b").await;
    let calls = (0..20).map(|i| {
        let org = if i % 2 == 0 { org_a } else { org_b };
        let email = match i % 3 {
            0 => "Dup.User@Example.com",
            1 => "dup.user@example.com",
            _ => " DUP.USER@EXAMPLE.COM ",
        };
        let query = format!(
            "mutation {{ r: createUser(org: \"{org}\", email: \"{email}\", first: \"Dup\", last: \"{i}\") {{ {RESULT} }} }}"
        );
        let op = op.clone();
        async move { app.post(&op, &query, json!({})).await }
    });
    let results: Vec<(u16, Value)> = join_all(calls).await;
    let mut created = 0;
    let mut duplicate = 0;
    for (status, body) in &results {
        assert_eq!(*status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        match body["data"]["r"]["result"].as_str() {
            Some("created") => created += 1,
            Some("failed") => {
                assert_eq!(body["data"]["r"]["errorCode"], "DUPLICATE", "{body}");
                duplicate += 1;
            }
            other => panic!("unexpected result {other:?}: {body}"),
        }
    }
    assert_eq!((created, duplicate), (2, 18), "one creation per org");
    let everywhere = app
        .data(
            &op,
            "{ findUserBy(email: \"dup.user@example.com\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        everywhere["findUserBy"].as_array().unwrap().len(),
        1,
        "exactly one user"
    );
    let a = app.find(org_a, "email: \"dup.user@example.com\"").await;
    let b = app.find(org_b, "email: \"dup.user@example.com\"").await;
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0]["id"], b[0]["id"]);
    // Exactly one of the two memberships is the managing one.
    let managed = [&a[0], &b[0]]
        .iter()
        .filter(|m| m["managed"] == true)
        .count();
    assert_eq!(managed, 1);
}

/// Two admins demote (or retire) each other at the same moment, many
/// times: at least one active admin always remains.
async fn admins_demote_each_other(app: &TestApp) {
    let op = app.operator();
    let org = app.create_org("duel").await;
    let first = app.create_member(org, "one@duel.example", "admin").await;
    let second = app.create_member(org, "two@duel.example", "admin").await;
    let (first_token, second_token) = (app.admin(org, first), app.admin(org, second));
    for round in 0..8 {
        let change = if round % 2 == 0 {
            "role: \"user\""
        } else {
            "status: \"retired\""
        };
        let (demote_second, demote_first) = (
            format!("userId: \"{second}\", {change}"),
            format!("userId: \"{first}\", {change}"),
        );
        // The loser is refused LAST_ADMIN, or, when the winner's change
        // came first, its token no longer speaks for an admin (401).
        let demote = |token: &String, args: &String| {
            let query = format!("mutation {{ r: updateMember({args}) {{ {RESULT} }} }}");
            let token = token.clone();
            async move {
                match app.post(&token, &query, json!({})).await {
                    (200, body) => body["data"]["r"].clone(),
                    (401, _) => json!({ "result": "failed", "errorCode": "UNAUTHENTICATED" }),
                    (status, body) => panic!("{status}: {body}"),
                }
            }
        };
        let a = demote(&first_token, &demote_second);
        let b = demote(&second_token, &demote_first);
        let (a, b) = futures::join!(a, b);
        let outcomes = [
            a["result"].as_str().unwrap().to_owned(),
            b["result"].as_str().unwrap().to_owned(),
        ];
        let refused = [&a, &b]
            .iter()
            .filter(|r| r["errorCode"] == "LAST_ADMIN" || r["errorCode"] == "UNAUTHENTICATED")
            .count();
        let done = outcomes.iter().filter(|r| *r == "updated").count();
        assert_eq!((done, refused), (1, 1), "round {round}: {a} {b}");
        let admins = app.find(org, "name: \"First Last\"").await;
        let active_admins = admins
            .iter()
            .filter(|m| m["role"] == "admin" && m["status"] == "active")
            .count();
        assert_eq!(active_admins, 1, "round {round}: {admins:?}");
        // Restore both as active admins for the next round.
        for user in [first, second] {
            let args =
                format!("org: \"{org}\", userId: \"{user}\", role: \"admin\", status: \"active\"");
            let restored = app.mutate(&op, "updateMember", &args).await;
            assert_ne!(restored["result"], "failed", "{restored}");
        }
    }
}

/// 16 writers at once, each creating and updating members: every call
/// answers 200 with a real result; nothing reports a locked database.
async fn sixteen_writers(app: &TestApp) {
    let op = app.operator();
    let org = app.create_org("busy").await;
    let group = app.create_group(org, "All").await;
    let writers = (0..16).map(|w| {
        let op = op.clone();
        async move {
            let mut outcomes = Vec::new();
            for i in 0..6 {
                let create = format!(
                    "org: \"{org}\", email: \"w{w}-{i}@busy.example\", first: \"W{w}\", last: \"N{i}\", groupId: \"{group}\", externalId: \"w{w}-{i}\""
                );
                let (status, body) = app.post(&op, &format!("mutation {{ r: createUser({create}) {{ {RESULT} }} }}"), json!({})).await;
                assert_eq!(status, 200, "{body}");
                let user = id_of(&body["data"]["r"]);
                outcomes.push(body);
                let update = format!("org: \"{org}\", userId: \"{user}\", status: \"retired\", role: \"admin\"");
                let (status, body) = app.post(&op, &format!("mutation {{ r: updateMember({update}) {{ {RESULT} }} }}"), json!({})).await;
                assert_eq!(status, 200, "{body}");
                outcomes.push(body);
            }
            outcomes
        }
    });
    let all: Vec<Value> = join_all(writers).await.into_iter().flatten().collect();
    assert_eq!(all.len(), 16 * 6 * 2);
    for body in &all {
        let text = body.to_string();
        assert!(!text.to_lowercase().contains("locked"), "{text}");
        assert!(body.get("errors").is_none(), "{text}");
        let result = body["data"]["r"]["result"].as_str().unwrap();
        assert!(result == "created" || result == "updated", "{text}");
    }
    assert_eq!(
        app.group_users(org, &format!("groupId: \"{group}\""))
            .await
            .len(),
        96
    );
}

crate::both_backends!(
    same_email_at_once,
    admins_demote_each_other,
    sixteen_writers
);
