//! The core admin API (docs/api.md): the seed flow and each error code.

use serde_json::json;

use crate::helpers::*;

/// The whole first-day flow, end to end.
async fn seed_flow(app: &TestApp) {
    let op = app.operator();
    let (org_a, _admin, admin_token) = app.org_with_admin("acme").await;
    let org_b = app.create_org("globex").await;
    let sales = app.create_group(org_a, "Sales").await;
    let support = app.create_group(org_a, "Support").await;

    // createUser with a group, a mobile and an externalId: user, membership
    // and group membership in one go.
    let args = format!(
        "email: \"  Ann.Lee@Example.COM \", first: \"Ann\", last: \"Lee\", \
         mobile: \"+31 6 1234-5678\", groupId: \"{sales}\", externalId: \"emp-1\""
    );
    let created = app.mutate(&admin_token, "createUser", &args).await;
    assert_eq!(created["result"], "created", "{created}");
    // Membership and group membership; the global user row is not counted,
    // so the answer is the same whether or not the email was known.
    assert_eq!(created["records"], 2, "{created}");
    let ann = id_of(&created);

    // findUserBy by each key, as the tenant admin.
    let find = |criterion: &str| {
        format!(
            "{{ findUserBy({criterion}) {{ id email name firstName lastName mobile role status externalId managed orgId }} }}"
        )
    };
    for criterion in [
        "email: \"ANN.LEE@example.com\"",
        "externalId: \"emp-1\"",
        "mobile: \"+31612345678\"",
        "name: \"nn le\"",
        "name: \"ANN\", email: \"ann.lee@example.com\"",
    ] {
        let data = app.data(&admin_token, &find(criterion), json!({})).await;
        let rows = data["findUserBy"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{criterion}: {data}");
        let row = &rows[0];
        assert_eq!(row["id"], ann.to_string());
        assert_eq!(row["email"], "ann.lee@example.com");
        assert_eq!(row["name"], "Ann Lee");
        assert_eq!(row["mobile"], "+31 6 1234-5678");
        assert_eq!(row["role"], "user");
        assert_eq!(row["status"], "active");
        assert_eq!(row["externalId"], "emp-1");
        assert_eq!(row["managed"], true);
        assert_eq!(row["orgId"], org_a.to_string());
    }
    // Criteria are AND-ed: a mismatching second key finds nothing.
    let data = app
        .data(
            &admin_token,
            &find("email: \"ann.lee@example.com\", externalId: \"emp-2\""),
            json!({}),
        )
        .await;
    assert_eq!(data["findUserBy"], json!([]));

    // addOrgMember into a second org (operator), with its own externalId.
    let args =
        format!("orgId: \"{org_b}\", userId: \"{ann}\", role: \"admin\", externalId: \"g-7\"");
    let added = app.mutate(&op, "addOrgMember", &args).await;
    assert_eq!(
        (added["result"].as_str(), added["records"].as_i64()),
        (Some("created"), Some(1)),
        "{added}"
    );
    assert_eq!(id_of(&added), ann);
    let in_b = app.find(org_b, "email: \"ann.lee@example.com\"").await;
    assert_eq!(in_b.len(), 1);
    assert_eq!(
        (in_b[0]["role"].as_str(), in_b[0]["externalId"].as_str()),
        (Some("admin"), Some("g-7"))
    );
    assert_eq!(in_b[0]["managed"], false);
    // Org A's view is unchanged by it.
    let in_a = app.find(org_a, "email: \"ann.lee@example.com\"").await;
    assert_eq!(
        (in_a[0]["role"].as_str(), in_a[0]["externalId"].as_str()),
        (Some("user"), Some("emp-1"))
    );

    // Retire: the group membership stays and reads as retired.
    let retired = app
        .mutate(
            &admin_token,
            "updateMember",
            &format!("userId: \"{ann}\", status: \"Retired\""),
        )
        .await;
    assert_eq!(
        (retired["result"].as_str(), retired["records"].as_i64()),
        (Some("updated"), Some(1)),
        "{retired}"
    );
    let rows = app
        .group_users(org_a, &format!("groupId: \"{sales}\""))
        .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "retired");
    assert_eq!(rows[0]["userName"], "Ann Lee");
    assert_eq!(rows[0]["role"], "member");
    assert_eq!(
        app.find(org_a, "externalId: \"emp-1\"").await[0]["status"],
        "retired"
    );
    // ...and only in org A.
    assert_eq!(
        app.find(org_b, "externalId: \"g-7\"").await[0]["status"],
        "active"
    );
    // Reactivate: restored.
    let back = app
        .mutate(
            &admin_token,
            "updateMember",
            &format!("userId: \"{ann}\", status: \"active\""),
        )
        .await;
    assert_eq!(back["result"], "updated", "{back}");
    assert_eq!(
        app.group_users(org_a, &format!("groupId: \"{sales}\""))
            .await[0]["status"],
        "active"
    );

    // Add and remove a group membership.
    let args = format!("userId: \"{ann}\", groupId: \"{support}\"");
    let joined = app.mutate(&admin_token, "addGroupMembership", &args).await;
    assert_eq!(
        (joined["result"].as_str(), joined["records"].as_i64()),
        (Some("created"), Some(1)),
        "{joined}"
    );
    let again = app.mutate(&admin_token, "addGroupMembership", &args).await;
    assert_eq!(
        (again["result"].as_str(), again["records"].as_i64()),
        (Some("unchanged"), Some(0)),
        "{again}"
    );
    let mine = app.group_users(org_a, &format!("userId: \"{ann}\"")).await;
    let mut groups: Vec<_> = mine
        .iter()
        .map(|r| r["groupId"].as_str().unwrap().to_owned())
        .collect();
    groups.sort();
    let mut expected = vec![sales.to_string(), support.to_string()];
    expected.sort();
    assert_eq!(groups, expected);
    let left = app
        .mutate(&admin_token, "removeGroupMembership", &args)
        .await;
    assert_eq!(
        (left["result"].as_str(), left["records"].as_i64()),
        (Some("updated"), Some(1)),
        "{left}"
    );
    let gone = app
        .mutate(&admin_token, "removeGroupMembership", &args)
        .await;
    assert_eq!(gone["result"], "unchanged", "{gone}");
    let mine = app.group_users(org_a, &format!("userId: \"{ann}\"")).await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["groupId"], sales.to_string());

    // groupUsers by the tenant, narrowed by group and user together.
    let query = format!(
        "{{ groupUsers(groupId: \"{sales}\", userId: \"{ann}\") {{ userId groupId status }} }}"
    );
    let data = app.data(&admin_token, &query, json!({})).await;
    assert_eq!(data["groupUsers"].as_array().unwrap().len(), 1);
    // Without narrowing: the org's group memberships (here one).
    let data = app
        .data(&admin_token, "{ groupUsers { userId groupId } }", json!({}))
        .await;
    assert_eq!(data["groupUsers"].as_array().unwrap().len(), 1);
}

/// `groupUsers` with neither filter stops at 500 rows; narrowed, it does not.
async fn group_users_cap(app: &TestApp) {
    let op = app.operator();
    let org = app.create_org("big").await;
    let group = app.create_group(org, "Everyone").await;
    let total = 505;
    let mut pending = Vec::new();
    for i in 0..total {
        let args = format!(
            "org: \"{org}\", email: \"p{i}@big.example\", first: \"P\", last: \"{i}\", groupId: \"{group}\""
        );
        let (app, op) = (app, op.clone());
        pending.push(async move { app.mutate(&op, "createUser", &args).await });
        if pending.len() == 8 || i == total - 1 {
            for result in futures::future::join_all(pending.drain(..)).await {
                assert_eq!(result["result"], "created", "{result}");
            }
        }
    }
    assert_eq!(app.group_users(org, "").await.len(), 500);
    assert_eq!(
        app.group_users(org, &format!("groupId: \"{group}\""))
            .await
            .len(),
        total
    );
}

async fn create_user_rules(app: &TestApp) {
    let op = app.operator();
    let (org_a, _, admin_a) = app.org_with_admin("alpha").await;
    let (org_b, _, admin_b) = app.org_with_admin("beta").await;

    let created = app
        .mutate(&admin_a, "createUser", "email: \"sam@example.com\", first: \"Sam\", last: \"Stone\", externalId: \"a-1\", role: \"ADMIN\"")
        .await;
    assert_eq!(created["result"], "created", "{created}");
    assert_eq!(created["records"], 1, "{created}");
    let sam = id_of(&created);
    assert_eq!(
        app.find(org_a, "email: \"sam@example.com\"").await[0]["role"],
        "admin"
    );

    // The same email from another org: the existing user joins, unchanged,
    // and B learns nothing (same answer as a new user), not managed.
    let joined = app
        .mutate(
            &admin_b,
            "createUser",
            "email: \"SAM@example.com\", first: \"Other\", last: \"Name\", name: \"Someone\"",
        )
        .await;
    assert_eq!(
        (joined["result"].as_str(), joined["records"].as_i64()),
        (Some("created"), Some(1)),
        "{joined}"
    );
    assert_eq!(id_of(&joined), sam);
    // B sees the profile it supplied, never A's.
    let seen = app.find(org_b, "email: \"sam@example.com\"").await;
    assert_eq!(
        (seen[0]["name"].as_str(), seen[0]["firstName"].as_str()),
        (Some("Someone"), Some("Other"))
    );
    let in_a = app.find(org_a, "email: \"sam@example.com\"").await;
    assert_eq!(in_a[0]["name"], "Sam Stone");
    assert_eq!(
        (seen[0]["managed"].as_bool(), seen[0]["role"].as_str()),
        (Some(false), Some("user"))
    );

    // Already a member here: DUPLICATE.
    let dup = app
        .mutate(
            &admin_b,
            "createUser",
            "email: \"sam@example.com\", first: \"S\", last: \"S\"",
        )
        .await;
    assert_failed(&dup, "DUPLICATE");

    // externalId is unique within the org, not across orgs.
    let clash = app
        .mutate(
            &admin_a,
            "createUser",
            "email: \"kim@example.com\", first: \"Kim\", last: \"K\", externalId: \"a-1\"",
        )
        .await;
    assert_failed(&clash, "DUPLICATE");
    assert!(
        app.find(org_a, "email: \"kim@example.com\"")
            .await
            .is_empty(),
        "failed createUser wrote"
    );
    let elsewhere = app
        .mutate(
            &admin_b,
            "createUser",
            "email: \"kim@example.com\", first: \"Kim\", last: \"K\", externalId: \"a-1\"",
        )
        .await;
    assert_eq!(elsewhere["result"], "created", "{elsewhere}");

    // Bad input: a clear failure, nothing written.
    for (args, code) in [
        (
            "email: \"not-an-email\", first: \"A\", last: \"B\"",
            "INVALID_INPUT",
        ),
        (
            "email: \"x1@example.com\", first: \"  \", last: \"B\"",
            "INVALID_INPUT",
        ),
        (
            "email: \"x2@example.com\", first: \"A\", last: \"B\", role: \"owner\"",
            "INVALID_INPUT",
        ),
        (
            "email: \"x3@example.com\", first: \"A\", last: \"B\", mobile: \"call me\"",
            "INVALID_INPUT",
        ),
        (
            "email: \"x4@example.com\", first: \"A\", last: \"B\", groupId: \"00000000-0000-7000-8000-000000000000\"",
            "NOT_FOUND",
        ),
    ] {
        let result = app.mutate(&admin_a, "createUser", args).await;
        assert_failed(&result, code);
    }
    for email in [
        "x1@example.com",
        "x2@example.com",
        "x3@example.com",
        "x4@example.com",
    ] {
        assert!(
            app.find(org_a, &format!("email: \"{email}\""))
                .await
                .is_empty(),
            "{email} written"
        );
    }
    let everywhere = app
        .data(
            &op,
            "{ findUserBy(email: \"x4@example.com\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        everywhere["findUserBy"],
        json!([]),
        "user row left behind by a failed createUser"
    );

    // A malformed UUID is a GraphQL input error, not a 500.
    let code = app
        .error_code(&admin_a, "mutation { createUser(org: \"nope\", email: \"a@b.c\", first: \"A\", last: \"B\") { result } }", json!({}))
        .await;
    assert!(!code.is_empty());
}

crate::both_backends!(seed_flow, group_users_cap, create_user_rules);
