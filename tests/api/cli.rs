//! The `roster` command line against a running server's database.

use std::process::Command;

use serde_json::json;

use crate::helpers::*;

fn roster(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    roster_cli(app, args, &[])
}

/// `org create`, `token issue` (token alone on stdout) and `token revoke`.
async fn cli_provisions_and_mints(app: &TestApp) {
    let (ok, stdout, stderr) = roster(
        app,
        &["org", "create", "--name", "Cli Org", "--slug", "cli-org"],
    );
    assert!(ok, "{stderr}");
    let org: uuid::Uuid = stdout.trim().parse().expect("org create prints the id");

    // An admin token speaks for an active admin of the org (--sub).
    let member = app.create_member(org, "member@cli.example", "user").await;
    for sub in [None, Some(member.to_string()), Some("alice".to_owned())] {
        let mut args = vec!["token", "issue", "--role", "admin", "--org"];
        let org_text = org.to_string();
        args.push(&org_text);
        if let Some(sub) = &sub {
            args.extend(["--sub", sub.as_str()]);
        }
        let (ok, stdout, stderr) = roster(app, &args);
        assert!(!ok && stdout.is_empty(), "admin token for {sub:?} issued");
        assert!(stderr.contains("admin"), "{stderr}");
    }
    let admin = app.create_member(org, "admin@cli.example", "admin").await;
    let (ok, stdout, stderr) = roster(
        app,
        &[
            "token",
            "issue",
            "--role",
            "admin",
            "--org",
            &org.to_string(),
            "--sub",
            &admin.to_string(),
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
    // Revoked by another process: the server trusts the standing it saw
    // for ROSTER_AUTH_CACHE_TTL (1 s by default), then refuses.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
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

/// The `ROSTER_*` variables are read like their flags.
#[actix_web::test]
async fn environment_variables_configure_commands() {
    let app = spawn_sqlite_with(&[]).await;
    let output = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["token", "issue", "--role", "operator"])
        .env("ROSTER_DATABASE_URL", &app.database_url)
        .env("ROSTER_JWT_SECRET", SECRET)
        .env("ROSTER_JWT_ISSUER", ISSUER)
        .env("ROSTER_JWT_AUDIENCE", AUDIENCE)
        .env("ROSTER_LOG", "warn")
        .output()
        .expect("run roster");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        app.post(token.trim(), "{ __typename }", json!({})).await.0,
        200
    );
    // Another audience: the server refuses the token.
    let output = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["token", "issue", "--role", "operator"])
        .env("ROSTER_DATABASE_URL", &app.database_url)
        .env("ROSTER_JWT_SECRET", SECRET)
        .env("ROSTER_JWT_AUDIENCE", "someone-else")
        .output()
        .expect("run roster");
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        app.post(token.trim(), "{ __typename }", json!({})).await.0,
        401
    );
}

/// With nothing configured, a SQLite deployment generates a secret beside
/// the database (mode 0600) and keeps using it on later starts.
#[test]
fn first_run_keeps_a_generated_secret() {
    use clap::Parser;
    use roster::app::{KeyOrigin, load_keys};
    use roster::db::Backend;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("roster.db");
    let cli =
        roster::config::Cli::try_parse_from(["roster", "--database-url", db.to_str().unwrap()])
            .unwrap();
    let common = roster::config::Common {
        jwt_secret: None,
        jwt_public_key: None,
        ..cli.common
    };
    let (first, origin) = load_keys(&common, Backend::Sqlite).unwrap();
    let KeyOrigin::SecretFile { path, created } = origin else {
        panic!("expected a generated secret")
    };
    assert!(created);
    assert_eq!(path, dir.path().join("roster.db.secret"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "secret file mode {mode:o}");
    }
    let (again, origin) = load_keys(&common, Backend::Sqlite).unwrap();
    assert!(matches!(
        origin,
        KeyOrigin::SecretFile { created: false, .. }
    ));
    let claims = roster::auth::jwt::Claims {
        sub: "someone".into(),
        jti: None,
        role: "operator".into(),
        org: None,
        scope: None,
        iss: "roster".into(),
        aud: "roster".into(),
        exp: now_secs() + 60,
        nbf: None,
        iat: None,
    };
    let token = first.mint(&claims).unwrap();
    assert!(
        again.verify(&token).is_ok(),
        "the second start verifies the first's tokens"
    );
    // PostgreSQL keeps no generated secret: several instances need one key.
    let refused = load_keys(&common, Backend::Postgres)
        .err()
        .expect("postgres without a key must fail");
    assert!(
        refused.to_string().contains("ROSTER_JWT_SECRET"),
        "{refused}"
    );
}
