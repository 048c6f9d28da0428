//! Optimistic concurrency: members and groups carry a `version` raised by
//! every change to what a reader sees of them; `ifVersion` on
//! `updateMember`, `upsertMember` and `updateGroup` writes only while the
//! entity is still at that version, else `CONFLICT` with nothing written.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

async fn member(app: &TestApp, token: &str, id: Uuid) -> Value {
    let data = app
        .data(
            token,
            "query($id: Uuid) { user(id: $id) { version externalId name email groups { name } } }",
            json!({ "id": id }),
        )
        .await;
    data["user"].clone()
}

fn version(v: &Value) -> i64 {
    v["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("no version in {v}"))
}

async fn events_about(app: &TestApp, token: &str, target: Uuid) -> usize {
    let data = app
        .data(
            token,
            "query($t: String) { events(targetId: $t, first: 500) { edges { cursor } } }",
            json!({ "t": target.to_string() }),
        )
        .await;
    data["events"]["edges"].as_array().unwrap().len()
}

/// Each change to a member raises its version; a stale `ifVersion` is a
/// CONFLICT that writes nothing (and records nothing); the current one
/// writes.
async fn member_versions_guard_updates(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("ver-m").await;
    let ann = app.create_member(org, "ann@ver-m.example", "user").await;
    let v0 = version(&member(app, &admin, ann).await);
    let set = |external: &str, if_version: i64| {
        format!("userId: \"{ann}\", externalId: \"{external}\", ifVersion: {if_version}")
    };
    let done = app.mutate(&admin, "updateMember", &set("e-1", v0)).await;
    assert_eq!(done["result"], "updated", "{done}");
    let v1 = version(&member(app, &admin, ann).await);
    assert!(v1 > v0);
    let events = events_about(app, &admin, ann).await;
    let stale = app.mutate(&admin, "updateMember", &set("e-2", v0)).await;
    assert_failed(&stale, "CONFLICT");
    assert!(stale["error"].as_str().unwrap().contains("version"));
    let after = member(app, &admin, ann).await;
    assert_eq!(after["externalId"], "e-1");
    assert_eq!(version(&after), v1);
    assert_eq!(events_about(app, &admin, ann).await, events);
    // A stale version is refused even when nothing would change.
    let same = app.mutate(&admin, "updateMember", &set("e-1", v0)).await;
    assert_failed(&same, "CONFLICT");
    // Group membership shows on the member: it raises the version too.
    let group = app.create_group(org, "Ops").await;
    app.mutate(
        &admin,
        "addGroupMembership",
        &format!("userId: \"{ann}\", groupId: \"{group}\""),
    )
    .await;
    let v2 = version(&member(app, &admin, ann).await);
    assert!(v2 > v1);
    // upsertMember: stale, missing and current.
    let upsert = |if_version: i64, email: &str| {
        format!(
            "mutation {{ r: upsertMember(email: \"{email}\", user: {{ firstName: \"Annie\" }}, ifVersion: {if_version}) {{ result errorCode error }} }}"
        )
    };
    let data = app
        .data(&admin, &upsert(v1, "ann@ver-m.example"), json!({}))
        .await;
    assert_eq!(data["r"]["errorCode"], "CONFLICT", "{data}");
    let data = app
        .data(&admin, &upsert(1, "nobody@ver-m.example"), json!({}))
        .await;
    assert_eq!(data["r"]["errorCode"], "CONFLICT", "{data}");
    assert!(
        app.find(org, "email: \"nobody@ver-m.example\"")
            .await
            .is_empty()
    );
    let data = app
        .data(&admin, &upsert(v2, "ann@ver-m.example"), json!({}))
        .await;
    assert_eq!(data["r"]["result"], "updated", "{data}");
    let after = member(app, &admin, ann).await;
    assert_eq!(after["name"], "Annie Last");
    assert!(version(&after) > v2);
}

/// A change to the global profile raises the version wherever it shows:
/// the email in every org, the name where the org shows the global
/// profile.
async fn profile_changes_raise_versions_where_they_show(app: &TestApp) {
    let (_org_a, _, admin_a) = app.org_with_admin("ver-a").await;
    let (_org_b, _, admin_b) = app.org_with_admin("ver-b").await;
    let upsert = |args: &str| {
        format!("mutation {{ r: upsertMember({args}) {{ result error member {{ id }} }} }}")
    };
    let made = app
        .data(
            &admin_a,
            &upsert("email: \"bo@ver-a.example\", externalId: \"bo-1\", user: { firstName: \"Bo\", lastName: \"B\" }"),
            json!({}),
        )
        .await;
    assert_eq!(made["r"]["result"], "created", "{made}");
    let user: Uuid = made["r"]["member"]["id"].as_str().unwrap().parse().unwrap();
    let linked = app
        .mutate(
            &admin_b,
            "createUser",
            "email: \"bo@ver-a.example\", first: \"Bo\", last: \"B\"",
        )
        .await;
    assert_eq!(linked["result"], "created", "{linked}");
    let before_b = version(&member(app, &admin_b, user).await);
    let before_a = version(&member(app, &admin_a, user).await);
    // A renames the user it manages: A sees it; B shows its own profile.
    let renamed = app
        .data(
            &admin_a,
            &upsert("externalId: \"bo-1\", user: { firstName: \"Bob\" }"),
            json!({}),
        )
        .await;
    assert_eq!(renamed["r"]["result"], "updated", "{renamed}");
    assert!(version(&member(app, &admin_a, user).await) > before_a);
    assert_eq!(version(&member(app, &admin_b, user).await), before_b);
    // The email shows everywhere.
    let moved = app
        .data(
            &admin_a,
            &upsert("externalId: \"bo-1\", email: \"bob@ver-a.example\""),
            json!({}),
        )
        .await;
    assert_eq!(moved["r"]["result"], "updated", "{moved}");
    let seen = member(app, &admin_b, user).await;
    assert_eq!(seen["email"], "bob@ver-a.example");
    assert!(version(&seen) > before_b);
}

/// Groups: a rename or a member change raises the version; a stale
/// `ifVersion` is a CONFLICT.
async fn group_versions_guard_updates(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("ver-g").await;
    let group = app.create_group(org, "Sales").await;
    let read = |token: String| async move {
        let data = app
            .data(
                &token,
                "query($id: Uuid!) { group(id: $id) { name version } }",
                json!({ "id": group }),
            )
            .await;
        data["group"].clone()
    };
    let v0 = version(&read(admin.clone()).await);
    let rename = |name: &str, v: i64| format!("id: \"{group}\", name: \"{name}\", ifVersion: {v}");
    let done = app
        .mutate(&admin, "updateGroup", &rename("Sales EU", v0))
        .await;
    assert_eq!(done["result"], "updated", "{done}");
    let v1 = version(&read(admin.clone()).await);
    assert!(v1 > v0);
    let stale = app
        .mutate(&admin, "updateGroup", &rename("Sales US", v0))
        .await;
    assert_failed(&stale, "CONFLICT");
    assert_eq!(read(admin.clone()).await["name"], "Sales EU");
    let ann = app.create_member(org, "ann@ver-g.example", "user").await;
    app.mutate(
        &admin,
        "addGroupMembership",
        &format!("userId: \"{ann}\", groupId: \"{group}\""),
    )
    .await;
    let v2 = version(&read(admin.clone()).await);
    assert!(v2 > v1);
    app.mutate(
        &admin,
        "removeGroupMembership",
        &format!("userId: \"{ann}\", groupId: \"{group}\""),
    )
    .await;
    let v3 = version(&read(admin.clone()).await);
    assert!(v3 > v2);
    // A member who leaves the org leaves its groups: the group changes.
    let bo = app.create_member(org, "bo@ver-g.example", "user").await;
    app.mutate(
        &admin,
        "addGroupMembership",
        &format!("userId: \"{bo}\", groupId: \"{group}\""),
    )
    .await;
    let before_leaving = version(&read(admin.clone()).await);
    let removed = app
        .data(
            &admin,
            &format!("mutation {{ r: removeMembers(userIds: [\"{bo}\"]) {{ removedIds }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        removed["r"]["removedIds"],
        json!([bo.to_string()]),
        "{removed}"
    );
    let v3 = version(&read(admin.clone()).await);
    assert!(v3 > before_leaving);
    // Group memberships a sync or upsert writes raise it too.
    let synced = app
        .data(
            &admin,
            "mutation { r: upsertMember(email: \"cy@ver-g.example\", user: { firstName: \"Cy\" }, groups: [\"Sales EU\"]) { result } }",
            json!({}),
        )
        .await;
    assert_eq!(synced["r"]["result"], "created", "{synced}");
    assert!(version(&read(admin.clone()).await) > v3);
}

/// Many writers with the same version at once: exactly one wins, the rest
/// are CONFLICT, and the winner's change is what is stored.
async fn one_of_many_concurrent_writers_wins(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("ver-race").await;
    let ann = app.create_member(org, "ann@ver-race.example", "user").await;
    for field in ["updateMember", "upsertMember"] {
        let v = version(&member(app, &admin, ann).await);
        let writes: Vec<_> = (0..8)
            .map(|i| {
                let admin = admin.clone();
                let args = if field == "updateMember" {
                    format!("userId: \"{ann}\", externalId: \"race-{field}-{i}\", ifVersion: {v}")
                } else {
                    format!(
                        "email: \"ann@ver-race.example\", user: {{ firstName: \"R{i}\" }}, ifVersion: {v}"
                    )
                };
                async move {
                    let query =
                        format!("mutation {{ r: {field}({args}) {{ result errorCode }} }}");
                    let data = app.data(&admin, &query, json!({})).await;
                    (i, data["r"].clone())
                }
            })
            .collect();
        let results = futures::future::join_all(writes).await;
        let winners: Vec<usize> = results
            .iter()
            .filter(|(_, r)| r["result"] == "updated")
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(winners.len(), 1, "{field}: {results:?}");
        for (_, r) in &results {
            if r["result"] != "updated" {
                assert_eq!(r["errorCode"], "CONFLICT", "{field}: {r}");
            }
        }
        let stored = member(app, &admin, ann).await;
        if field == "updateMember" {
            assert_eq!(stored["externalId"], format!("race-{field}-{}", winners[0]));
        } else {
            assert_eq!(stored["name"], format!("R{} Last", winners[0]));
        }
    }
}

crate::both_backends!(
    member_versions_guard_updates,
    profile_changes_raise_versions_where_they_show,
    group_versions_guard_updates,
    one_of_many_concurrent_writers_wins,
);
