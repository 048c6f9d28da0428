//! The `roster` command line against a running server's database.

use std::process::Command;

use serde_json::json;

use crate::helpers::*;

fn roster(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "--database-url",
            &app.database_url,
            "--jwt-secret",
            SECRET,
            "--log",
            "warn",
        ])
        .args(args)
        .env_remove("ROSTER_LISTEN")
        .output()
        .expect("run roster");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stdout, stderr)
}

/// `org create`, `token issue` (token alone on stdout) and `token revoke`.
async fn cli_provisions_and_mints(app: &TestApp) {
    let (ok, stdout, stderr) = roster(
        app,
        &["org", "create", "--name", "Cli Org", "--slug", "cli-org"],
    );
    assert!(ok, "{stderr}");
    let org: uuid::Uuid = stdout.trim().parse().expect("org create prints the id");

    let (ok, stdout, stderr) = roster(
        app,
        &[
            "token",
            "issue",
            "--role",
            "admin",
            "--org",
            &org.to_string(),
            "--ttl",
            "10m",
        ],
    );
    assert!(ok, "{stderr}");
    let token = stdout.trim().to_owned();
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the token on stdout: {stdout:?}"
    );
    let data = app.data(&token, "{ org { slug } }", json!({})).await;
    assert_eq!(data["org"]["slug"], "cli-org");

    // The token's jti, to revoke it.
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (claims["role"].as_str(), claims["org"].as_str()),
        (Some("admin"), Some(org.to_string().as_str()))
    );
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 600);
    let jti = claims["jti"].as_str().unwrap();
    let (ok, _, stderr) = roster(app, &["token", "revoke", jti]);
    assert!(ok, "{stderr}");
    let (status, _) = app.post(&token, "{ __typename }", json!({})).await;
    assert_eq!(status, 401, "revoked token still accepted");
    let (ok, _, stderr) = roster(app, &["token", "revoke", jti]);
    assert!(!ok, "revoking twice should say there was nothing to revoke");
    assert!(stderr.contains("no unrevoked token"), "{stderr}");

    // Refusals are clear and write nothing.
    let (ok, stdout, stderr) = roster(app, &["token", "issue", "--role", "admin"]);
    assert!(
        !ok && stdout.is_empty(),
        "admin token without org was issued"
    );
    assert!(stderr.contains("org"), "{stderr}");
    let (ok, _, stderr) = roster(
        app,
        &[
            "token",
            "issue",
            "--role",
            "integration",
            "--org",
            &org.to_string(),
            "--scope",
            "members:everything",
        ],
    );
    assert!(!ok && stderr.contains("unknown scope"), "{stderr}");
    let (ok, _, stderr) = roster(
        app,
        &["org", "create", "--name", "Again", "--slug", "cli-org"],
    );
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
}

crate::both_backends!(cli_provisions_and_mints);

/// `ROSTER_INTROSPECTION=false` switches introspection off; a smaller body
/// limit is honoured.
#[actix_web::test]
async fn serve_flags_are_honoured() {
    let app = spawn_sqlite_with(&["--introspection", "false", "--max-body-bytes", "2048"]).await;
    let op = app.operator();
    let body = app
        .gql(&op, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(
        body["data"]["__schema"].is_null(),
        "introspection answered: {body}"
    );
    assert_eq!(
        app.data(&op, "{ __typename }", json!({})).await["__typename"],
        "Query"
    );
    let big = format!("{{ findUserBy(name: \"{}\") {{ id }} }}", "x".repeat(4096));
    let (status, _) = app.post(&op, &big, json!({})).await;
    assert_eq!(status, 413);
}
