//! Finding and changing members (the core API): findUserBy, updateMember,
//! addOrgMember and the input checks they share.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

async fn find_user_by_rules(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("finders").await;
    for i in 0..12 {
        let args = format!("email: \"smith{i}@example.com\", first: \"Jo\", last: \"Smith{i:02}\"");
        assert_eq!(
            app.mutate(&admin, "createUser", &args).await["result"],
            "created"
        );
    }
    let query = "query($name: String) { findUserBy(name: $name) { name } }";
    let data = app.data(&admin, query, json!({ "name": "smith" })).await;
    let names: Vec<_> = data["findUserBy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 10, "at most 10 rows: {names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ordered by name");
    // LIKE wildcards in the term are literal.
    let data = app.data(&admin, query, json!({ "name": "%%%" })).await;
    assert_eq!(data["findUserBy"], json!([]));

    for (query, needle) in [
        ("{ findUserBy { id } }", "at least one"),
        ("{ findUserBy(name: \"ab\") { id } }", "3 characters"),
        ("{ findUserBy(email: \"   \") { id } }", "at least one"),
        (
            "{ findUserBy(email: \"bad email\") { id } }",
            "not a valid email",
        ),
        ("{ findUserBy(mobile: \"phone\") { id } }", "mobile"),
    ] {
        let body = app.gql(&admin, query, json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "INVALID_INPUT",
            "{query}: {body}"
        );
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
    assert_eq!(
        app.find(org, "email: \"smith3@example.com\"").await.len(),
        1
    );
}

async fn update_member_rules(app: &TestApp) {
    let op = app.operator();
    let (org, first_admin, first_token) = app.org_with_admin("rules").await;
    let member = app.create_member(org, "m@rules.example", "user").await;

    // Only valid words, any case; bad ones change nothing.
    let bad = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", status: \"gone\", role: \"admin\""),
        )
        .await;
    assert_failed(&bad, "INVALID_INPUT");
    assert!(
        bad["error"].as_str().unwrap().contains("active, retired"),
        "{bad}"
    );
    assert_eq!(
        app.find(org, "email: \"m@rules.example\"").await[0]["role"],
        "user",
        "bad update changed the role"
    );
    let bad = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", role: \"boss\""),
        )
        .await;
    assert_failed(&bad, "INVALID_INPUT");

    // Unchanged when nothing differs; externalId set and cleared.
    let same = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", status: \"ACTIVE\", role: \"user\""),
        )
        .await;
    assert_eq!(
        (same["result"].as_str(), same["records"].as_i64()),
        (Some("unchanged"), Some(0)),
        "{same}"
    );
    let set = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", externalId: \"x-9\""),
        )
        .await;
    assert_eq!(set["result"], "updated");
    assert_eq!(app.find(org, "externalId: \"x-9\"").await.len(), 1);
    let cleared = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", externalId: \"\""),
        )
        .await;
    assert_eq!(cleared["result"], "updated");
    assert!(app.find(org, "externalId: \"x-9\"").await.is_empty());
    let unknown = app
        .mutate(
            &first_token,
            "updateMember",
            "userId: \"00000000-0000-7000-8000-000000000001\", status: \"retired\"",
        )
        .await;
    assert_failed(&unknown, "NOT_FOUND");

    // Last active admin: neither retired nor demoted, even by an operator.
    for change in ["status: \"retired\"", "role: \"user\""] {
        let refused = app
            .mutate(
                &op,
                "updateMember",
                &format!("org: \"{org}\", userId: \"{first_admin}\", {change}"),
            )
            .await;
        assert_failed(&refused, "LAST_ADMIN");
    }
    // Self: an admin cannot demote or retire themselves, even with another
    // admin present.
    let promoted = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", role: \"admin\""),
        )
        .await;
    assert_eq!(promoted["result"], "updated");
    for change in ["status: \"retired\"", "role: \"user\""] {
        let refused = app
            .mutate(
                &first_token,
                "updateMember",
                &format!("userId: \"{first_admin}\", {change}"),
            )
            .await;
        assert_failed(&refused, "SELF_ACTION");
    }
    // Changing one's own externalId is fine.
    let own = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{first_admin}\", externalId: \"me\""),
        )
        .await;
    assert_eq!(own["result"], "updated", "{own}");
    // With two admins, one may demote the other; then the last one stays.
    let demoted = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", role: \"user\""),
        )
        .await;
    assert_eq!(demoted["result"], "updated", "{demoted}");
    let refused = app
        .mutate(
            &op,
            "updateMember",
            &format!("org: \"{org}\", userId: \"{first_admin}\", role: \"user\""),
        )
        .await;
    assert_failed(&refused, "LAST_ADMIN");
    // A retired admin does not count as an active one.
    let again = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", role: \"admin\""),
        )
        .await;
    assert_eq!(again["result"], "updated");
    let retired = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", status: \"retired\""),
        )
        .await;
    assert_eq!(retired["result"], "updated");
    let refused = app
        .mutate(
            &op,
            "updateMember",
            &format!("org: \"{org}\", userId: \"{first_admin}\", status: \"retired\""),
        )
        .await;
    assert_failed(&refused, "LAST_ADMIN");
    // externalId stays unique.
    let clash = app
        .mutate(
            &first_token,
            "updateMember",
            &format!("userId: \"{member}\", externalId: \"me\""),
        )
        .await;
    assert_failed(&clash, "DUPLICATE");
}

async fn add_org_member_rules(app: &TestApp) {
    let op = app.operator();
    let (org_a, _, admin_a) = app.org_with_admin("home").await;
    let org_b = app.create_org("away").await;
    let outsider = app.create_member(org_b, "out@away.example", "user").await;
    let insider = app.create_member(org_a, "in@home.example", "user").await;

    // A tenant cannot see outsiders: NOT_FOUND, whatever the id.
    for field in ["addOrgMember", "addUserToOrg"] {
        let result = app
            .mutate(&admin_a, field, &format!("userId: \"{outsider}\""))
            .await;
        assert_failed(&result, "NOT_FOUND");
        let result = app
            .mutate(
                &admin_a,
                field,
                "userId: \"00000000-0000-7000-8000-000000000002\"",
            )
            .await;
        assert_failed(&result, "NOT_FOUND");
        let result = app
            .mutate(&admin_a, field, &format!("userId: \"{insider}\""))
            .await;
        assert_failed(&result, "DUPLICATE");
    }
    assert!(
        app.find(org_a, "email: \"out@away.example\"")
            .await
            .is_empty()
    );

    // Naming another org in `org` is FORBIDDEN even when `orgId` is the
    // caller's own.
    let query = format!(
        "mutation {{ addOrgMember(org: \"{org_b}\", orgId: \"{org_a}\", userId: \"{insider}\") {{ result }} }}"
    );
    assert_eq!(
        app.error_code(&admin_a, &query, json!({})).await,
        "FORBIDDEN"
    );

    // Operators link anyone anywhere; the deprecated name works the same.
    let linked = app
        .mutate(
            &op,
            "addUserToOrg",
            &format!("org: \"{org_a}\", userId: \"{outsider}\", role: \"admin\""),
        )
        .await;
    assert_eq!(linked["result"], "created", "{linked}");
    let row = &app.find(org_a, "email: \"out@away.example\"").await[0];
    assert_eq!(
        (row["role"].as_str(), row["managed"].as_bool()),
        (Some("admin"), Some(false))
    );
    let unknown = app
        .mutate(
            &op,
            "addOrgMember",
            &format!("orgId: \"{org_a}\", userId: \"00000000-0000-7000-8000-000000000003\""),
        )
        .await;
    assert_failed(&unknown, "NOT_FOUND");
    let no_org = app
        .mutate(
            &op,
            "addOrgMember",
            &format!("orgId: \"00000000-0000-7000-8000-000000000004\", userId: \"{outsider}\""),
        )
        .await;
    assert_failed(&no_org, "NOT_FOUND");
    let bad_role = app
        .mutate(
            &op,
            "addOrgMember",
            &format!("orgId: \"{org_b}\", userId: \"{insider}\", role: \"root\""),
        )
        .await;
    assert_failed(&bad_role, "INVALID_INPUT");
    assert!(
        app.find(org_b, "email: \"in@home.example\"")
            .await
            .is_empty()
    );
}

/// Search terms and keys that a database would choke on are refused as
/// input; case-insensitive search folds non-ASCII letters on both backends.
async fn search_inputs(app: &TestApp) {
    let op = app.operator();
    let (org, _, admin) = app.org_with_admin("searchers").await;
    let args = "email: \"emile@example.com\", first: \"Émile\", last: \"Zola\"";
    assert_eq!(
        app.mutate(&admin, "createUser", args).await["result"],
        "created"
    );
    for term in ["émile", "ÉMILE", "mile zo"] {
        let data = app
            .data(
                &admin,
                "query($n: String) { findUserBy(name: $n) { name } }",
                json!({ "n": term }),
            )
            .await;
        assert_eq!(data["findUserBy"][0]["name"], "Émile Zola", "{term}");
    }
    let nul = "abc\u{0}def";
    let org_id = org.to_string();
    let cursor = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        "\"a\u{0}\"",
    );
    for (token, query, variables) in [
        (
            &admin,
            "query($v: String) { findUserBy(name: $v) { id } }",
            json!({ "v": nul }),
        ),
        (
            &admin,
            "query($v: String) { findUserBy(externalId: $v) { id } }",
            json!({ "v": nul }),
        ),
        (
            &admin,
            "query($v: String) { groups(q: $v) { totalCount } }",
            json!({ "v": nul }),
        ),
        (
            &admin,
            "query($v: String) { org(slug: $v) { id } }",
            json!({ "v": nul }),
        ),
        (
            &op,
            "query($v: String) { orgs(q: $v) { totalCount } }",
            json!({ "v": nul }),
        ),
        (
            &op,
            "query($v: String) { orgs(after: $v) { totalCount } }",
            json!({ "v": cursor }),
        ),
        (
            &op,
            "query($v: String, $o: Uuid) { groups(org: $o, after: $v) { totalCount } }",
            json!({ "v": cursor, "o": org_id }),
        ),
    ] {
        assert_eq!(
            app.error_code(token, query, variables.clone()).await,
            "INVALID_INPUT",
            "{query} {variables}"
        );
    }
    let result = app
        .mutate(&admin, "createGroup", "name: \"a\\u0000b\"")
        .await;
    assert_failed(&result, "INVALID_INPUT");
    let result = app
        .mutate(
            &admin,
            "updateMember",
            &format!(
                "userId: \"{}\", externalId: \"x\\u0000\"",
                uuid::Uuid::now_v7()
            ),
        )
        .await;
    assert_failed(&result, "INVALID_INPUT");
}

/// `recordSignIn` and what it feeds: `lastSignInAt`, its filters (never
/// included in `lastSignInBefore`) and sort (never first), at most one
/// write per member per minute, no event, no new version; scoped to the
/// caller's org like every member write.
async fn sign_in_activity(app: &TestApp) {
    let (org, admin_id, admin) = app.org_with_admin("signin").await;
    let m1 = app.create_member(org, "m1@signin.example", "user").await;
    let m2 = app.create_member(org, "m2@signin.example", "user").await;
    let m3 = app.create_member(org, "m3@signin.example", "user").await;
    let app_token = app.integration(org, "members:write members:read");
    let member = |id: Uuid| {
        let admin = admin.clone();
        async move {
            let q = "query($id: Uuid) { user(id: $id) { lastSignInAt version updatedAt } }";
            app.data(&admin, q, json!({ "id": id })).await["user"].clone()
        }
    };
    let record = |token: String, id: Uuid, at: Option<String>| async move {
        let q = "mutation($id: Uuid!, $at: DateTime) { r: recordSignIn(userId: $id, at: $at) { id result error errorCode } }";
        app.data(&token, q, json!({ "id": id, "at": at })).await["r"].clone()
    };
    let before = member(m1).await;
    assert!(before["lastSignInAt"].is_null(), "{before}");

    let done = record(app_token.clone(), m1, None).await;
    assert_eq!(done["result"], "updated", "{done}");
    let after = member(m1).await;
    let first = after["lastSignInAt"].as_str().unwrap().to_owned();
    // Not a change to the member: no new version, same updatedAt.
    assert_eq!(after["version"], before["version"]);
    assert_eq!(after["updatedAt"], before["updatedAt"]);
    // Again within the minute, or earlier than recorded: unchanged.
    let again = record(app_token.clone(), m1, None).await;
    assert_eq!(again["result"], "unchanged", "{again}");
    let earlier = chrono::Utc::now() - chrono::Duration::hours(1);
    let old = record(app_token.clone(), m1, Some(earlier.to_rfc3339())).await;
    assert_eq!(old["result"], "unchanged", "{old}");
    assert_eq!(member(m1).await["lastSignInAt"], json!(first));
    // Two minutes on (a clock a little ahead is accepted): recorded.
    let later = chrono::Utc::now() + chrono::Duration::minutes(2);
    let moved = record(app_token.clone(), m1, Some(later.to_rfc3339())).await;
    assert_eq!(moved["result"], "updated", "{moved}");
    let shown = member(m1).await["lastSignInAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = chrono::DateTime::parse_from_rfc3339(&shown).unwrap();
    assert!(
        (shown.timestamp_micros() - later.timestamp_micros()).abs() <= 1,
        "{shown} {later}"
    );
    // The far future and the distant past are refused.
    for at in [
        chrono::Utc::now() + chrono::Duration::days(1),
        chrono::DateTime::parse_from_rfc3339("1960-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
    ] {
        let refused = record(app_token.clone(), m2, Some(at.to_rfc3339())).await;
        assert_eq!(refused["errorCode"], "INVALID_INPUT", "{refused}");
    }
    let ten_days = chrono::Utc::now() - chrono::Duration::days(10);
    let done = record(app_token.clone(), m3, Some(ten_days.to_rfc3339())).await;
    assert_eq!(done["result"], "updated", "{done}");

    // Filters: never is before any bound and after none.
    let day_ago = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let emails = |filter: String| {
        let admin = admin.clone();
        let day_ago = day_ago.clone();
        async move {
            let (declared, vars) = if filter.contains("$t") {
                ("($t: DateTime)", json!({ "t": day_ago }))
            } else {
                ("", json!({}))
            };
            let q = format!(
                "query{declared} {{ members({filter}, sortBy: {{field: EMAIL, direction: ASC}}) {{ nodes {{ email }} }} }}"
            );
            let data = app.data(&admin, &q, vars).await;
            data["members"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["email"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        emails("lastSignInAfter: $t".into()).await,
        ["m1@signin.example"]
    );
    assert_eq!(
        emails("lastSignInBefore: $t".into()).await,
        [
            "admin@signin.example",
            "m2@signin.example",
            "m3@signin.example"
        ]
    );
    assert_eq!(
        emails("signedIn: false".into()).await,
        ["admin@signin.example", "m2@signin.example"]
    );
    assert_eq!(
        emails("signedIn: true".into()).await,
        ["m1@signin.example", "m3@signin.example"]
    );

    // Sorted by last sign-in, a page at a time: never first, then m3, m1;
    // descending the other way round.
    for (direction, expected) in [
        ("ASC", [None, None, Some(m3), Some(m1)]),
        ("DESC", [Some(m1), Some(m3), None, None]),
    ] {
        let q = format!(
            "query($after: String) {{ members(first: 1, after: $after, sortBy: {{field: LAST_SIGN_IN_AT, direction: {direction}}}) {{ edges {{ cursor node {{ id }} }} }} }}"
        );
        let mut after = Value::Null;
        let mut walked = Vec::new();
        loop {
            let data = app.data(&admin, &q, json!({ "after": after })).await;
            let edges = data["members"]["edges"].as_array().unwrap().clone();
            let Some(edge) = edges.first() else { break };
            walked.push(
                edge["node"]["id"]
                    .as_str()
                    .unwrap()
                    .parse::<Uuid>()
                    .unwrap(),
            );
            after = edge["cursor"].clone();
        }
        assert_eq!(walked.len(), 4, "{direction}: {walked:?}");
        for (got, want) in walked.iter().zip(expected) {
            match want {
                Some(id) => assert_eq!(*got, id, "{direction}: {walked:?}"),
                None => assert!([admin_id, m2].contains(got), "{direction}: {walked:?}"),
            }
        }
    }

    // No event: m1's log holds only its member.created.
    let q = "query($id: String) { events(targetId: $id, first: 10) { totalCount edges { node { type } } } }";
    let started = std::time::Instant::now();
    let types = loop {
        let data = app.data(&admin, q, json!({ "id": m1.to_string() })).await;
        let types: Vec<String> = data["events"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["type"].as_str().unwrap().to_owned())
            .collect();
        if !types.is_empty() || started.elapsed() > std::time::Duration::from_secs(20) {
            break types;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(types, ["member.created"]);

    // Another org's member is NOT_FOUND, exactly like an unknown id; a
    // token that may only read members is FORBIDDEN.
    let (_, _, other) = app.org_with_admin("signin-other").await;
    let theirs = record(other.clone(), m2, None).await;
    let unknown = record(other, Uuid::now_v7(), None).await;
    assert_eq!(theirs["errorCode"], "NOT_FOUND", "{theirs}");
    assert_eq!(theirs["error"], unknown["error"]);
    assert!(member(m2).await["lastSignInAt"].is_null());
    let reader = app.integration(org, "members:read");
    let q = "mutation($id: Uuid!) { recordSignIn(userId: $id) { result } }";
    assert_eq!(
        app.error_code(&reader, q, json!({ "id": m2 })).await,
        "FORBIDDEN"
    );
}

crate::both_backends!(
    sign_in_activity,
    search_inputs,
    find_user_by_rules,
    update_member_rules,
    add_org_member_rules,
);
