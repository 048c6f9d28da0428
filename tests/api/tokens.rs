//! API tokens that an org's admins manage: created (shown once), used,
//! listed with when they were last used, revoked; kept inside their org;
//! bad requests answered clearly; a cached token check costs no SQL.

use serde_json::{Value, json};

use crate::helpers::*;

const CREATE: &str = "mutation($org: Uuid, $name: String!, $scopes: [String!]!, $in: String) {
    createApiToken(org: $org, name: $name, scopes: $scopes, expiresIn: $in) {
        result token error errorCode
        apiToken { id name role scopes createdBy createdAt expiresAt lastUsedAt revokedAt } } }";

const LIST: &str = "query($org: Uuid, $all: Boolean) { apiTokens(org: $org, includeRevoked: $all) {
    totalCount edges { node { id name scopes createdBy lastUsedAt revokedAt } } } }";

async fn create(
    app: &TestApp,
    token: &str,
    name: &str,
    scopes: Value,
    expires: Option<&str>,
) -> Value {
    let vars = json!({ "name": name, "scopes": scopes, "in": expires });
    app.data(token, CREATE, vars).await["createApiToken"].clone()
}

async fn revoke(app: &TestApp, token: &str, id: &Value) -> Value {
    app.mutate(token, "revokeApiToken", &format!("id: {id}"))
        .await
}

fn nodes(data: &Value) -> Vec<Value> {
    data["apiTokens"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// An admin creates an integration token, it works within its scopes, the
/// list shows when it was used, and once revoked it is refused.
async fn admins_manage_integration_tokens(app: &TestApp) {
    let (org, admin_id, admin) = app.org_with_admin("tok").await;
    let created = create(
        app,
        &admin,
        "HR sync",
        json!(["members:read", "events:read"]),
        Some("30d"),
    )
    .await;
    assert_eq!(created["result"], "created", "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    let info = &created["apiToken"];
    assert_eq!(info["name"], "HR sync");
    assert_eq!(info["role"], "integration");
    assert_eq!(info["scopes"], json!(["events:read", "members:read"]));
    assert_eq!(info["createdBy"], admin_id.to_string());
    assert_eq!(info["lastUsedAt"], Value::Null);
    let days =
        |field: &str| chrono::DateTime::parse_from_rfc3339(info[field].as_str().unwrap()).unwrap();
    assert_eq!((days("expiresAt") - days("createdAt")).num_days(), 30);

    let read = app
        .data(&token, "{ members { totalCount } }", json!({}))
        .await;
    assert_eq!(read["members"]["totalCount"], 1);
    let write = app
        .error_code(
            &token,
            "mutation { createGroup(name: \"X\") { result } }",
            json!({}),
        )
        .await;
    assert_eq!(write, "FORBIDDEN");

    let listed = nodes(&app.data(&admin, LIST, json!({})).await);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], info["id"]);
    assert!(listed[0]["lastUsedAt"].is_string(), "{listed:?}");
    assert!(!json!(listed).to_string().contains(&token));

    let revoked = revoke(app, &admin, &info["id"]).await;
    assert_eq!(revoked["result"], "updated", "{revoked}");
    let (status, _) = app.post(&token, "{ __typename }", json!({})).await;
    assert_eq!(status, 401, "a revoked token still works");
    assert_eq!(
        revoke(app, &admin, &info["id"]).await["result"],
        "unchanged"
    );
    assert!(nodes(&app.data(&admin, LIST, json!({})).await).is_empty());
    let all = nodes(&app.data(&admin, LIST, json!({ "all": true })).await);
    assert!(all[0]["revokedAt"].is_string(), "{all:?}");

    // Both are on record, without the token (on PostgreSQL an event shows
    // once every transaction begun before it has ended: read until it does).
    let query = "{ events(types: [\"token.issued\", \"token.revoked\"]) { edges { node { type changes } } } }";
    let mut text = String::new();
    for _ in 0..300 {
        text = app.data(&admin, query, json!({})).await.to_string();
        if text.contains("token.revoked") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("token.issued") && text.contains("token.revoked"),
        "{text}"
    );
    assert!(text.contains("HR sync") && !text.contains(&token), "{text}");
    let _ = org;
}

/// A token an admin made follows that admin's rights: demoted, their
/// tokens stop (and cannot promote them back); promoted again, they work.
async fn a_token_follows_its_creator(app: &TestApp) {
    let (org, first, first_admin) = app.org_with_admin("tok-follow").await;
    let second = app
        .create_member(org, "second@tok-follow.example", "admin")
        .await;
    let second_admin = app.admin(org, second);
    let made = create(
        app,
        &first_admin,
        "mine",
        json!(["members:read", "members:write"]),
        None,
    )
    .await;
    let token = made["token"].as_str().unwrap().to_owned();
    let op_made = create(app, &app.operator(), "ops", json!(["members:read"]), None).await;
    assert_eq!(
        op_made["result"], "failed",
        "operators must name the org: {op_made}"
    );
    let vars = json!({ "org": org, "name": "ops", "scopes": ["members:read"] });
    let ops = app.data(&app.operator(), CREATE, vars).await["createApiToken"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.data(&token, "{ members { totalCount } }", json!({}))
        .await;

    let demoted = app
        .mutate(
            &second_admin,
            "updateMember",
            &format!("userId: \"{first}\", role: \"user\""),
        )
        .await;
    assert_eq!(demoted["result"], "updated", "{demoted}");
    let (status, body) = app
        .post(
            &token,
            &format!(
                "mutation {{ updateMember(userId: \"{first}\", role: \"admin\") {{ result }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 401, "a demoted admin's token still works: {body}");
    assert!(
        body.to_string().contains("no longer an active admin"),
        "{body}"
    );
    // A token an operator made does not depend on any admin.
    app.data(&ops, "{ members { totalCount } }", json!({}))
        .await;
    let promoted = app
        .mutate(
            &second_admin,
            "updateMember",
            &format!("userId: \"{first}\", role: \"admin\""),
        )
        .await;
    assert_eq!(promoted["result"], "updated");
    app.data(&token, "{ members { totalCount } }", json!({}))
        .await;
}

/// Bad requests fail with a clear result and change nothing.
async fn bad_token_requests_fail_clearly(app: &TestApp) {
    let (_, _, admin) = app.org_with_admin("tok-bad").await;
    let ok = create(app, &admin, "kept", json!(["members:read"]), None).await;
    assert_eq!(ok["result"], "created", "{ok}");
    for (name, scopes, expires, code) in [
        ("a", json!(["members:admin"]), None, "INVALID_INPUT"),
        ("b", json!([]), None, "INVALID_INPUT"),
        ("b2", json!([" "]), None, "INVALID_INPUT"),
        ("  ", json!(["members:read"]), None, "INVALID_INPUT"),
        ("kept", json!(["members:read"]), None, "DUPLICATE"),
        ("c", json!(["members:read"]), Some("0s"), "INVALID_INPUT"),
        ("d", json!(["members:read"]), Some("400d"), "INVALID_INPUT"),
        ("e", json!(["members:read"]), Some("soon"), "INVALID_INPUT"),
    ] {
        let result = create(app, &admin, name, scopes.clone(), expires).await;
        assert_eq!(
            result["result"], "failed",
            "{name} {scopes} {expires:?}: {result}"
        );
        assert_eq!(result["errorCode"], code, "{result}");
        assert!(result["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert_eq!(result["token"], Value::Null);
    }
    let listed = nodes(&app.data(&admin, LIST, json!({ "all": true })).await);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let unknown = revoke(app, &admin, &json!(uuid::Uuid::now_v7().to_string())).await;
    assert_failed(&unknown, "NOT_FOUND");
}

/// Tokens stay inside their org; integrations cannot manage tokens.
async fn tokens_stay_in_their_org(app: &TestApp) {
    let (a, _, admin_a) = app.org_with_admin("tok-a").await;
    let (_, _, admin_b) = app.org_with_admin("tok-b").await;
    let a_token = create(app, &admin_a, "secret-a", json!(["members:read"]), None).await;
    let a_id = a_token["apiToken"]["id"].clone();
    assert_eq!(
        app.error_code(&admin_b, LIST, json!({ "org": a })).await,
        "FORBIDDEN"
    );
    let listed = nodes(&app.data(&admin_b, LIST, json!({ "all": true })).await);
    assert!(listed.is_empty(), "{listed:?}");
    let body = app
        .gql(
            &admin_b,
            &format!("mutation {{ revokeApiToken(org: \"{a}\", id: {a_id}) {{ result }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let not_found = revoke(app, &admin_b, &a_id).await;
    assert_failed(&not_found, "NOT_FOUND");
    let still = app
        .data(
            a_token["token"].as_str().unwrap(),
            "{ members { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(still["members"]["totalCount"], 1);

    let integration = app.integration(
        a,
        "members:read members:write groups:read groups:write events:read",
    );
    let vars = json!({ "name": "sneaky", "scopes": ["members:read"] });
    assert_eq!(
        app.error_code(&integration, CREATE, vars).await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(&integration, LIST, json!({})).await,
        "FORBIDDEN"
    );
    let body = app
        .gql(
            &integration,
            &format!("mutation {{ revokeApiToken(id: {a_id}) {{ result }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
}

/// While a token's standing is cached, a request runs no SQL for it: the
/// statement counter of `/metrics` stays still.
async fn cached_token_checks_cost_no_statements(app: &TestApp) {
    let cached = app.instance_with(&["--auth-cache-ttl", "60s"]).await;
    let (_, _, admin) = cached.org_with_admin("tok-cache").await;
    let created = create(&cached, &admin, "cached", json!(["members:read"]), None).await;
    let token = created["token"].as_str().unwrap().to_owned();
    // The first use checks the token with the database.
    cached.data(&token, "{ __typename }", json!({})).await;
    let before = crate::directory::statements(&cached).await;
    for _ in 0..20 {
        cached.data(&token, "{ __typename }", json!({})).await;
    }
    let after = crate::directory::statements(&cached).await;
    assert_eq!(after - before, 0, "statements for 20 cached token checks");
}

/// `roster token issue --name` and `roster token list --org`.
async fn tokens_on_the_command_line(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("tok-cli").await;
    create(app, &admin, "from-api", json!(["groups:read"]), None).await;
    let (ok, _, stderr) = roster_cli(
        app,
        &[
            "token",
            "issue",
            "--role",
            "integration",
            "--org",
            &org.to_string(),
            "--scope",
            "members:read",
            "--name",
            "from-cli",
        ],
        &[],
    );
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = roster_cli(app, &["token", "list", "--org", &org.to_string()], &[]);
    assert!(ok, "{stderr}");
    let names: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["from-api", "from-cli"]);
    let listed = nodes(&app.data(&admin, LIST, json!({})).await);
    assert_eq!(listed.len(), 2);
}

crate::both_backends!(
    admins_manage_integration_tokens,
    a_token_follows_its_creator,
    bad_token_requests_fail_clearly,
    tokens_stay_in_their_org,
    cached_token_checks_cost_no_statements,
    tokens_on_the_command_line,
);
