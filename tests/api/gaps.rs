//! Rules that no other test pinned down, found by mutation testing: each
//! test below fails when the rule it names is broken in `src/`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use roster::auth::CallerRole;
use roster::domain::OrgId;
use roster::error::Error;
use roster::service::TokenRequest;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// Runs a mutation that must answer `result` (with no records if unchanged).
async fn expect(app: &TestApp, token: &str, field: &str, args: &str, result: &str) {
    let r = app.mutate(token, field, args).await;
    assert_eq!(r["result"], result, "{field}({args}): {r}");
    if result == "unchanged" {
        assert_eq!(r["records"], 0, "{r}");
    }
}

/// Writes into an org that does not exist are NOT_FOUND (not a foreign-key
/// CONFLICT), and leave no user row behind.
async fn unknown_org_is_not_found(app: &TestApp) {
    let op = app.operator();
    let ghost = Uuid::now_v7();
    let args =
        format!("org: \"{ghost}\", email: \"ghost@nowhere.example\", first: \"G\", last: \"H\"");
    assert_failed(&app.mutate(&op, "createUser", &args).await, "NOT_FOUND");
    let args = format!("org: \"{ghost}\", name: \"Ghosts\"");
    assert_failed(&app.mutate(&op, "createGroup", &args).await, "NOT_FOUND");
    let query = "{ findUserBy(email: \"ghost@nowhere.example\") { id } }";
    assert_eq!(
        app.data(&op, query, json!({})).await["findUserBy"],
        json!([])
    );
}

/// createUser keeps a given display name; without one it is "first last",
/// trimmed, and the last name may be blank.
async fn create_user_display_names(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("names").await;
    for (args, email, name) in [
        (
            "first: \"Ann\", last: \"Lee\", name: \" Annie L. \"",
            "ann",
            "Annie L.",
        ),
        ("first: \"Bo\", last: \"\"", "bo", "Bo"),
    ] {
        let args = format!("email: \"{email}@names.example\", {args}");
        expect(app, &admin, "createUser", &args, "created").await;
        let found = app
            .find(org, &format!("email: \"{email}@names.example\""))
            .await;
        assert_eq!(found[0]["name"], name, "{found:?}");
    }
}

/// Sending a value a record already has changes nothing: `unchanged`, 0
/// records; keeping an org's own slug is not a DUPLICATE of itself.
async fn no_op_updates_are_unchanged(app: &TestApp) {
    let op = app.operator();
    let (org, _, admin) = app.org_with_admin("noop").await;
    let member = app.create_member(org, "m@noop.example", "user").await;
    let args = format!("userId: \"{member}\", externalId: \"e-1\"");
    expect(app, &admin, "updateMember", &args, "updated").await;
    expect(app, &admin, "updateMember", &args, "unchanged").await;
    let group = app
        .mutate(
            &admin,
            "createGroup",
            "name: \"Docs\", description: \"Manuals\"",
        )
        .await;
    let args = format!("id: \"{}\", description: \"Manuals\"", id_of(&group));
    expect(app, &admin, "updateGroup", &args, "unchanged").await;
    for change in ["status: \"active\"", "slug: \"noop\""] {
        let args = format!("id: \"{org}\", {change}");
        expect(app, &op, "updateOrg", &args, "unchanged").await;
    }
    let args = format!("id: \"{org}\", slug: \"noop\", name: \"Noop Inc\"");
    expect(app, &op, "updateOrg", &args, "updated").await;
    let query = format!("{{ org(id: \"{org}\") {{ slug name }} }}");
    assert_eq!(
        app.data(&op, &query, json!({})).await["org"],
        json!({ "slug": "noop", "name": "Noop Inc" })
    );
}

/// LAST_ADMIN and SELF_ACTION guard real changes only: in an org without an
/// active admin a retired admin may be demoted, and re-sending one's own
/// current role and status is `unchanged`.
async fn admin_guards_need_a_real_change(app: &TestApp) {
    let op = app.operator();
    let org = app.create_org("adminless").await;
    let user = app.create_member(org, "u@adminless.example", "user").await;
    for change in ["role: \"admin\", status: \"retired\"", "role: \"user\""] {
        let args = format!("org: \"{org}\", userId: \"{user}\", {change}");
        expect(app, &op, "updateMember", &args, "updated").await;
    }

    let (org, me, _) = app.org_with_admin("guards").await;
    // A token of my own that outlives my admin rights (an admin token
    // would not: it follows the membership).
    let my_token = sign(&claims(
        "integration",
        Some(org),
        Some(ALL_SCOPES),
        &me.to_string(),
    ));
    app.create_member(org, "second@guards.example", "admin")
        .await;
    let args = format!("org: \"{org}\", userId: \"{me}\", role: \"user\", status: \"retired\"");
    expect(app, &op, "updateMember", &args, "updated").await;
    let args = format!("userId: \"{me}\", role: \"user\", status: \"retired\"");
    expect(app, &my_token, "updateMember", &args, "unchanged").await;
}

/// Retiring stamps the membership's `retiredAt` and its `updatedAt`;
/// reactivating clears `retiredAt`. The API does not show these fields yet,
/// so this reads the row.
async fn retirement_is_recorded(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("stamps").await;
    let member = app.create_member(org, "r@stamps.example", "user").await;
    let query = "query($id: Uuid) { user(id: $id) { createdAt updatedAt retiredAt } }";
    let row = || async {
        let data = app.data(&admin, query, json!({ "id": member })).await;
        let user = &data["user"];
        let at = |field: &str| user[field].as_str().map(str::to_owned);
        (
            at("createdAt").unwrap(),
            at("updatedAt").unwrap(),
            at("retiredAt"),
        )
    };
    // RFC 3339 UTC timestamps of one format compare in time order as text.
    let (created_at, created_updated, created_retired) = row().await;
    assert_eq!(created_retired, None);
    let args = format!("userId: \"{member}\", status: \"retired\"");
    expect(app, &admin, "updateMember", &args, "updated").await;
    let (_, retired_updated, retired_at) = row().await;
    let at = retired_at.expect("retiredAt set on retiring");
    assert!(at > created_at, "{at} vs {created_at}");
    assert!(retired_updated > created_updated);
    let args = format!("userId: \"{member}\", status: \"active\"");
    expect(app, &admin, "updateMember", &args, "updated").await;
    let (_, back_updated, back_retired) = row().await;
    assert_eq!(back_retired, None);
    assert!(back_updated > retired_updated);
}

/// `orgs(q:)` matches the name or the slug, ignoring case.
async fn orgs_search_name_or_slug(app: &TestApp) {
    let op = app.operator();
    for (name, slug) in [
        ("Blue Harbour", "bh-one"),
        ("Other", "harbour-two"),
        ("Misc", "misc"),
    ] {
        let args = format!("name: \"{name}\", slug: \"{slug}\"");
        expect(app, &op, "createOrg", &args, "created").await;
    }
    for (q, expected) in [
        ("HARBOUR", vec!["bh-one", "harbour-two"]),
        ("blue", vec!["bh-one"]),
        ("two", vec!["harbour-two"]),
    ] {
        let query = "query($q: String) { orgs(q: $q) { totalCount edges { node { slug } } } }";
        let data = app.data(&op, query, json!({ "q": q })).await;
        let slugs: Vec<&str> = data["orgs"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["slug"].as_str().unwrap())
            .collect();
        assert_eq!(slugs, expected, "{q}");
        assert_eq!(data["orgs"]["totalCount"], expected.len(), "{q}");
    }
}

/// `groupUsers` is ordered by user name, and narrowed by `userId` alone it
/// is not capped at 500.
async fn group_users_order_and_user_filter(app: &TestApp) {
    let op = app.operator();
    let (org, _, admin) = app.org_with_admin("crowd").await;
    let group = app.create_group(org, "Pair").await;
    let mut ids = Vec::new();
    for (email, name) in [("z", "Zed Zulu"), ("a", "Amy Alpha")] {
        let args = format!(
            "email: \"{email}@crowd.example\", first: \"X\", last: \"Y\", name: \"{name}\", groupId: \"{group}\""
        );
        ids.push(id_of(&app.mutate(&admin, "createUser", &args).await));
    }
    let rows = app.group_users(org, &format!("groupId: \"{group}\"")).await;
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Amy Alpha", "Zed Zulu"]);

    // One member in 501 groups: all 502 rows when narrowed by that user.
    let user = ids[1];
    let total = 501;
    let mut pending = Vec::new();
    for i in 0..total {
        let op = op.clone();
        pending.push(async move {
            let args = format!("org: \"{org}\", name: \"G{i:03}\"");
            let group = id_of(&app.mutate(&op, "createGroup", &args).await);
            let args = format!("org: \"{org}\", userId: \"{user}\", groupId: \"{group}\"");
            app.mutate(&op, "addGroupMembership", &args).await
        });
        if pending.len() == 8 || i == total - 1 {
            for result in futures::future::join_all(pending.drain(..)).await {
                assert_eq!(result["result"], "created", "{result}");
            }
        }
    }
    let rows = app.group_users(org, &format!("userId: \"{user}\"")).await;
    assert_eq!(rows.len(), total + 1);
}

/// Several orgs creating the same new email at the same moment all succeed:
/// the losers of the race on the email index retry and join the winner's
/// user (PostgreSQL; SQLite serialises writers anyway).
async fn new_email_joined_by_many_orgs_at_once(app: &TestApp) {
    let op = app.operator();
    let mut orgs = Vec::new();
    for i in 0..6 {
        orgs.push(app.create_org(&format!("join-{i}")).await);
    }
    for round in 0..6 {
        let email = format!("shared{round}@join.example");
        let calls = orgs.iter().map(|org| {
            let args = format!("org: \"{org}\", email: \"{email}\", first: \"S\", last: \"J\"");
            let op = op.clone();
            async move { app.mutate(&op, "createUser", &args).await }
        });
        let results = futures::future::join_all(calls).await;
        let ids: Vec<Uuid> = results
            .iter()
            .map(|r| {
                assert_eq!(r["result"], "created", "round {round}: {r}");
                id_of(r)
            })
            .collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "one user: {ids:?}");
    }
}

/// Token edges: the longest lifetime, operators' org claim ignored, the
/// jti length cap, and a case-insensitive `Bearer` scheme.
async fn token_edges(app: &TestApp) {
    let org = app.create_org("tokens").await;
    let other = app.create_org("elsewhere").await;
    let request = |role, org: Option<Uuid>, days: u64| TokenRequest {
        role,
        org: org.map(OrgId),
        scope: None,
        subject: None,
        ttl: Duration::from_secs(days * 86_400),
        name: None,
    };
    let long = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            request(CallerRole::Operator, None, 367),
        )
        .await;
    assert!(matches!(long, Err(Error::InvalidInput(_))), "{long:?}");
    let minted = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            request(CallerRole::Operator, Some(org), 366),
        )
        .await
        .expect("a year-long operator token");
    let part = minted.token.split('.').nth(1).unwrap();
    let payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    assert!(payload.get("org").is_none(), "{payload}");

    // An operator token that carries an org claim is still an operator's.
    let mut with_org = claims("operator", None, None, "op-2");
    with_org["org"] = json!(org.to_string());
    let token = sign(&with_org);
    let query = format!("{{ org(id: \"{other}\") {{ slug }} }}");
    assert_eq!(
        app.data(&token, &query, json!({})).await["org"]["slug"],
        "elsewhere"
    );
    assert_failed(
        &app.mutate(&token, "createGroup", "name: \"Nowhere\"").await,
        "INVALID_INPUT",
    );

    let status = |authorization: String| async move {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("authorization", authorization)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    };
    for (len, expected) in [(200, 200), (201, 401)] {
        let mut long_jti = claims("operator", None, None, "op-3");
        long_jti["jti"] = json!("j".repeat(len));
        assert_eq!(
            status(format!("Bearer {}", sign(&long_jti))).await,
            expected,
            "{len}"
        );
    }
    for scheme in ["bearer", "BEARER"] {
        assert_eq!(
            status(format!("{scheme} {}", app.operator())).await,
            200,
            "{scheme}"
        );
    }
}

/// Accept negotiation beyond the basics, `no-store`, batch refusal wording,
/// and 406 on GET too.
async fn negotiation_edges(app: &TestApp) {
    let op = app.operator();
    let post = |accept: Option<&'static str>, body: Value| {
        let mut request = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&op)
            .json(&body);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send()
    };
    let typename = json!({ "query": "{ __typename }" });
    for (accept, expected) in [
        (
            "application/json, application/graphql-response+json",
            "application/graphql-response+json",
        ),
        ("application/*", "application/json"),
        (
            "application/graphql-response+json;q=0, application/json",
            "application/json",
        ),
    ] {
        let response = post(Some(accept), typename.clone()).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{accept}");
        assert_eq!(response.headers()["content-type"], expected, "{accept}");
        assert_eq!(response.headers()["cache-control"], "no-store", "{accept}");
    }
    for accept in ["application/json;q=0", "application/json;q=0, text/html"] {
        let response = post(Some(accept), typename.clone()).await.unwrap();
        assert_eq!(response.status().as_u16(), 406, "{accept}");
    }

    let batch = json!([{ "query": "{ __typename }" }]);
    let response = post(None, batch).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("batch"), "{body}");

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .header("accept", "text/html")
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 406);
}

/// The default limits hold at their documented values: 30 aliases and a
/// depth of 16.
async fn default_limit_boundaries(app: &TestApp) {
    let op = app.operator();
    for (count, allowed) in [(30, true), (31, false)] {
        let aliases: Vec<String> = (0..count).map(|i| format!("a{i}: __typename")).collect();
        let body = app
            .gql(&op, &format!("{{ {} }}", aliases.join(" ")), json!({}))
            .await;
        assert_eq!(body.get("errors").is_none(), allowed, "{count}: {body}");
    }
    // `__schema` (1) `types` (2), each `ofType` one more, `name` the last.
    for (depth, allowed) in [(16, true), (17, false)] {
        let mut selection = String::from("name");
        for _ in 0..depth - 3 {
            selection = format!("ofType {{ {selection} }}");
        }
        let query = format!("{{ __schema {{ types {{ {selection} }} }} }}");
        let body = app.gql(&op, &query, json!({})).await;
        assert_eq!(
            body.get("errors").is_none(),
            allowed,
            "depth {depth}: {body}"
        );
    }
}

/// Mobiles have at most 15 digits and a `+` only in front; slugs at most
/// 63 characters.
async fn value_bounds(app: &TestApp) {
    let (_, _, admin) = app.org_with_admin("bounds").await;
    for (i, mobile, ok) in [
        (0, "+123456789012345", true),
        (1, "+1234567890123456", false),
        (2, "1+23456789", false),
    ] {
        let args = format!(
            "email: \"m{i}@bounds.example\", first: \"M\", last: \"B\", mobile: \"{mobile}\""
        );
        let result = app.mutate(&admin, "createUser", &args).await;
        match ok {
            true => assert_eq!(result["result"], "created", "{mobile}: {result}"),
            false => assert_failed(&result, "INVALID_INPUT"),
        }
    }
    let op = app.operator();
    let longest = "s".repeat(63);
    let args = format!("name: \"Long\", slug: \"{longest}\"");
    expect(app, &op, "createOrg", &args, "created").await;
    let args = format!("name: \"Longer\", slug: \"{longest}x\"");
    assert_failed(&app.mutate(&op, "createOrg", &args).await, "INVALID_INPUT");
}

crate::both_backends!(
    unknown_org_is_not_found,
    create_user_display_names,
    no_op_updates_are_unchanged,
    admin_guards_need_a_real_change,
    retirement_is_recorded,
    orgs_search_name_or_slug,
    group_users_order_and_user_filter,
    new_email_joined_by_many_orgs_at_once,
    token_edges,
    negotiation_edges,
    default_limit_boundaries,
    value_bounds,
);
