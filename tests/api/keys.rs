//! Public-key verification: a pinned asymmetric algorithm accepts tokens
//! signed by the matching private key (minted anywhere) and refuses the
//! rest, including HS256 tokens signed with the configured secret.

use std::process::Command;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn sign_pem(alg: Algorithm, private_pem: &str, claims: &serde_json::Value) -> String {
    let pem = std::fs::read(fixture(private_pem)).unwrap();
    let key = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => EncodingKey::from_ec_pem(&pem),
    }
    .unwrap();
    jsonwebtoken::encode(&Header::new(alg), claims, &key).unwrap()
}

async fn status_of(app: &TestApp, token: &str) -> u16 {
    app.post(token, "{ __typename }", json!({})).await.0
}

#[actix_web::test]
async fn eddsa_public_key() {
    let public = fixture("ed25519-public.pem");
    let app = spawn_sqlite_with(&["--jwt-public-key", &public, "--jwt-algorithm", "EdDSA"]).await;
    let operator = claims("operator", None, None, "idp-operator");
    assert_eq!(
        status_of(
            &app,
            &sign_pem(Algorithm::EdDSA, "ed25519-private.pem", &operator)
        )
        .await,
        200
    );
    // The secret still passed on the command line no longer verifies.
    assert_eq!(
        status_of(&app, &sign(&operator)).await,
        401,
        "HS256 accepted under an EdDSA pin"
    );
    assert_eq!(
        status_of(
            &app,
            &sign_pem(Algorithm::ES256, "es256-private.pem", &operator)
        )
        .await,
        401
    );

    // `token issue` mints with the private key, and the server accepts it.
    let output = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database-url", &app.database_url, "--log", "warn"])
        .args(["--jwt-public-key", &public, "--jwt-algorithm", "EdDSA"])
        .args(["--jwt-private-key", &fixture("ed25519-private.pem")])
        .args(["token", "issue", "--role", "operator", "--ttl", "5m"])
        .env_remove("ROSTER_JWT_SECRET")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(status_of(&app, token.trim()).await, 200);
}

#[actix_web::test]
async fn es256_public_key() {
    let public = fixture("es256-public.pem");
    let app = spawn_sqlite_with(&["--jwt-public-key", &public, "--jwt-algorithm", "ES256"]).await;
    let admin = claims("operator", None, None, "idp-operator");
    assert_eq!(
        status_of(
            &app,
            &sign_pem(Algorithm::ES256, "es256-private.pem", &admin)
        )
        .await,
        200
    );
    assert_eq!(
        status_of(
            &app,
            &sign_pem(Algorithm::EdDSA, "ed25519-private.pem", &admin)
        )
        .await,
        401
    );
    // Without a private key this side cannot mint.
    let output = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database-url", &app.database_url, "--log", "warn"])
        .args(["--jwt-public-key", &public, "--jwt-algorithm", "ES256"])
        .args(["token", "issue", "--role", "operator"])
        .env_remove("ROSTER_JWT_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ROSTER_JWT_PRIVATE_KEY"));
}
