//! Finding and changing members (the core API): findUserBy, updateMember,
//! addOrgMember and the input checks they share.

use serde_json::json;

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

crate::both_backends!(
    search_inputs,
    find_user_by_rules,
    update_member_rules,
    add_org_member_rules,
);
