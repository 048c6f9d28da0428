//! Authentication (README, "Tokens"): every bad token is HTTP 401 with a
//! `WWW-Authenticate` challenge; minted tokens carry their claims and can be
//! revoked; a suspended org's tokens are refused.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use roster::auth::CallerRole;
use roster::domain::OrgId;
use roster::error::Error;
use roster::service::TokenRequest;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// The answer to `{ __typename }` sent with this `Authorization` header
/// (none when `None`): status, `WWW-Authenticate`, body.
async fn typename(app: &TestApp, authorization: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ __typename }" }));
    if let Some(value) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let text = response.text().await.expect("body");
    assert_no_leak(&text);
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, challenge, body)
}

async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    let (status, _, body) = typename(app, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{what} should be accepted: {body}");
    assert!(body.get("errors").is_none(), "{what}: {body}");
    assert!(body["data"]["__typename"].is_string(), "{what}: {body}");
}

async fn assert_refused(app: &TestApp, authorization: Option<&str>, what: &str) {
    let (status, challenge, body) = typename(app, authorization).await;
    assert_eq!(status, 401, "{what} should be refused: {body}");
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.starts_with("Bearer")),
        "{what}: WWW-Authenticate is {challenge:?}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{what}: {body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
    assert!(body.get("data").is_none(), "{what}: {body}");
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The claims of a token, read without verifying it.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON claims")
}

/// `claims` with `edit` applied.
fn with(mut claims: Value, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    edit(claims.as_object_mut().expect("claims are an object"));
    claims
}

/// Every kind of bad token is 401 with a challenge; each differs from a
/// token that is accepted in one respect only.
async fn bad_token_matrix(app: &TestApp) {
    let op = app.operator();
    let (org, admin, admin_token) = app.org_with_admin("acme").await;
    let (_, _, other_token) = app.org_with_admin("zenith").await;
    let good = claims("admin", Some(org), None, &admin.to_string());
    let now = now_secs();

    // Controls: the base claims, and clock skew within the leeway.
    assert_accepted(app, &sign(&good), "the base admin token").await;
    assert_accepted(app, &op, "the operator token").await;
    assert_accepted(
        app,
        &app.integration(org, ALL_SCOPES),
        "an integration token",
    )
    .await;
    let skewed = with(good.clone(), |c| {
        c.insert("exp".into(), json!(now - 5));
        c.insert("nbf".into(), json!(now + 5));
    });
    assert_accepted(app, &sign(&skewed), "a token within the clock leeway").await;
    // RFC 7519 forms other issuers use: an audience list, a fractional
    // iat, a numeric jti.
    for (what, edited) in [
        (
            "an audience list",
            with(good.clone(), |c| {
                c.insert("aud".into(), json!(["other", AUDIENCE]));
            }),
        ),
        (
            "a fractional iat",
            with(good.clone(), |c| {
                c.insert("iat".into(), json!(now as f64 + 0.5));
            }),
        ),
        (
            "a numeric jti",
            with(good.clone(), |c| {
                c.insert("jti".into(), json!(12345));
            }),
        ),
        (
            "no jti",
            with(good.clone(), |c| {
                c.remove("jti");
            }),
        ),
    ] {
        assert_accepted(app, &sign(&edited), what).await;
    }
    let wrong_list = with(good.clone(), |c| {
        c.insert("aud".into(), json!(["other", "another"]));
    });
    assert_refused(
        app,
        Some(&format!("Bearer {}", sign(&wrong_list))),
        "an audience list without ours",
    )
    .await;
    let odd_jti = with(good.clone(), |c| {
        c.insert("jti".into(), json!("a\u{0}b"));
    });
    assert_refused(
        app,
        Some(&format!("Bearer {}", sign(&odd_jti))),
        "a jti with a NUL",
    )
    .await;
    let object_jti = with(good.clone(), |c| {
        c.insert("jti".into(), json!({ "x": 1 }));
    });
    assert_refused(
        app,
        Some(&format!("Bearer {}", sign(&object_jti))),
        "a jti that is an object",
    )
    .await;

    // Header problems.
    assert_refused(app, None, "no Authorization header").await;
    assert_refused(app, Some("Basic abc"), "Basic auth").await;
    assert_refused(
        app,
        Some(&format!("Token {}", sign(&good))),
        "another scheme",
    )
    .await;
    assert_refused(app, Some("Bearer "), "an empty bearer token").await;
    assert_refused(app, Some("Bearer not-a-jwt-at-all"), "a garbage token").await;
    assert_refused(app, Some("Bearer a.b.c"), "a garbage three-part token").await;

    // Forged signatures and algorithms.
    let operator_claims = claims("operator", None, None, "mallory");
    let none_header = json!({ "alg": "none", "typ": "JWT" });
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{}.", b64(&none_header), b64(&operator_claims)),
        ),
        (
            "alg none (tenant)",
            format!("{}.{}.", b64(&none_header), b64(&good)),
        ),
        (
            "the wrong secret",
            sign_with(Algorithm::HS256, b"not-the-secret", &operator_claims),
        ),
        (
            "HS512 with the right secret",
            sign_with(Algorithm::HS512, SECRET.as_bytes(), &good),
        ),
        (
            "HS384 with the right secret",
            sign_with(Algorithm::HS384, SECRET.as_bytes(), &good),
        ),
        ("a tampered payload", {
            let token = sign(&good);
            let parts: Vec<&str> = token.split('.').collect();
            format!("{}.{}.{}", parts[0], b64(&operator_claims), parts[2])
        }),
        ("no signature", {
            let token = sign(&good);
            token[..=token.rfind('.').unwrap()].to_owned()
        }),
    ];
    for (what, token) in &cases {
        assert_refused(app, Some(&format!("Bearer {token}")), what).await;
    }

    // Registered and Roster claims, one change at a time.
    type Edit = Box<dyn FnOnce(&mut serde_json::Map<String, Value>)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "expired beyond the leeway",
            Box::new(move |c| {
                c.insert("exp".into(), json!(now - 120));
            }),
        ),
        (
            "not valid yet",
            Box::new(move |c| {
                c.insert("nbf".into(), json!(now + 120));
            }),
        ),
        (
            "the wrong audience",
            Box::new(|c| {
                c.insert("aud".into(), json!("someone-else"));
            }),
        ),
        (
            "no audience",
            Box::new(|c| {
                c.remove("aud");
            }),
        ),
        (
            "the wrong issuer",
            Box::new(|c| {
                c.insert("iss".into(), json!("evil"));
            }),
        ),
        (
            "no issuer",
            Box::new(|c| {
                c.remove("iss");
            }),
        ),
        (
            "no exp",
            Box::new(|c| {
                c.remove("exp");
            }),
        ),
        (
            "exp as a string",
            Box::new(|c| {
                c.insert("exp".into(), json!("9999999999"));
            }),
        ),
        (
            "no sub",
            Box::new(|c| {
                c.remove("sub");
            }),
        ),
        (
            "an empty sub",
            Box::new(|c| {
                c.insert("sub".into(), json!(""));
            }),
        ),
        (
            "an unknown role",
            Box::new(|c| {
                c.insert("role".into(), json!("superuser"));
            }),
        ),
        (
            "no role",
            Box::new(|c| {
                c.remove("role");
            }),
        ),
        (
            "an admin without org",
            Box::new(|c| {
                c.remove("org");
            }),
        ),
        (
            "an integration without org",
            Box::new(|c| {
                c.remove("org");
                c.insert("role".into(), json!("integration"));
                c.insert("scope".into(), json!(ALL_SCOPES));
            }),
        ),
        (
            "an integration with an unknown scope",
            Box::new(|c| {
                c.insert("role".into(), json!("integration"));
                c.insert("scope".into(), json!("members:read members:admin"));
            }),
        ),
        (
            "an org claim that is not a UUID",
            Box::new(|c| {
                c.insert("org".into(), json!("acme"));
            }),
        ),
        (
            "an org that does not exist",
            Box::new(|c| {
                c.insert("org".into(), json!(Uuid::now_v7().to_string()));
            }),
        ),
    ];
    for (what, edit) in edits {
        let token = sign(&with(good.clone(), edit));
        assert_refused(app, Some(&format!("Bearer {token}")), what).await;
    }

    // A revoked token: minted, accepted, revoked, refused; revoking one
    // token leaves the others alone.
    let mint = || TokenRequest {
        role: CallerRole::Admin,
        org: Some(OrgId(org)),
        scope: None,
        subject: Some(admin.to_string()),
        ttl: Duration::from_secs(600),
        name: None,
    };
    let issued = app
        .service
        .issue_token(&roster::auth::Principal::cli(), mint())
        .await
        .expect("issue a token");
    let kept = app
        .service
        .issue_token(&roster::auth::Principal::cli(), mint())
        .await
        .expect("issue a second token");
    assert_ne!(issued.jti, kept.jti);
    let query = "{ findUserBy(email: \"admin@acme.example\") { id } }";
    let data = app.data(&issued.token, query, json!({})).await;
    assert_eq!(data["findUserBy"][0]["id"], admin.to_string());
    assert!(
        app.service
            .revoke_token(&roster::auth::Principal::cli(), &issued.jti)
            .await
            .expect("revoke")
    );
    assert_refused(
        app,
        Some(&format!("Bearer {}", issued.token)),
        "a revoked token",
    )
    .await;
    assert!(
        !app.service
            .revoke_token(&roster::auth::Principal::cli(), &issued.jti)
            .await
            .expect("revoke again"),
        "revoked twice"
    );
    assert!(
        !app.service
            .revoke_token(&roster::auth::Principal::cli(), &Uuid::now_v7().to_string())
            .await
            .expect("revoke unknown")
    );
    assert_accepted(app, &kept.token, "another token of the same admin").await;
    // A token signed elsewhere that reuses the revoked jti is refused too.
    let reused = with(good.clone(), |c| {
        c.insert("jti".into(), json!(issued.jti));
    });
    assert_refused(
        app,
        Some(&format!("Bearer {}", sign(&reused))),
        "a revoked jti",
    )
    .await;

    // A suspended org's tokens are refused until it is reactivated; other
    // orgs and the operator go on.
    let integration = app.integration(org, ALL_SCOPES);
    let suspended = app
        .mutate(
            &op,
            "updateOrg",
            &format!("id: \"{org}\", status: \"suspended\""),
        )
        .await;
    assert_eq!(suspended["result"], "updated", "{suspended}");
    assert_refused(
        app,
        Some(&format!("Bearer {admin_token}")),
        "a suspended org's admin",
    )
    .await;
    assert_refused(
        app,
        Some(&format!("Bearer {integration}")),
        "a suspended org's integration",
    )
    .await;
    assert_refused(
        app,
        Some(&format!("Bearer {}", kept.token)),
        "a suspended org's minted token",
    )
    .await;
    assert_accepted(app, &other_token, "another org's admin").await;
    let data = app
        .data(
            &op,
            &format!("{{ org(id: \"{org}\") {{ status }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(data["org"]["status"], "suspended");
    let active = app
        .mutate(
            &op,
            "updateOrg",
            &format!("id: \"{org}\", status: \"active\""),
        )
        .await;
    assert_eq!(active["result"], "updated", "{active}");
    assert_accepted(app, &admin_token, "the reactivated org's admin").await;
    assert_accepted(app, &integration, "the reactivated org's integration").await;
    let data = app.data(&admin_token, query, json!({})).await;
    assert_eq!(data["findUserBy"][0]["id"], admin.to_string());
}

/// Tokens minted by the service carry the requested role, org and scopes,
/// and are held to them; requests for impossible tokens are refused.
async fn minted_tokens_carry_claims(app: &TestApp) {
    let (org, admin, _) = app.org_with_admin("acme").await;

    let issued = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            TokenRequest {
                role: CallerRole::Integration,
                org: Some(OrgId(org)),
                scope: Some("  members:read ".into()),
                subject: Some("lms-sync".into()),
                ttl: Duration::from_secs(3600),
                name: None,
            },
        )
        .await
        .expect("issue an integration token");
    let claims = payload(&issued.token);
    assert_eq!(claims["role"], "integration", "{claims}");
    assert_eq!(claims["org"], org.to_string(), "{claims}");
    assert_eq!(claims["scope"], "members:read", "{claims}");
    assert_eq!(claims["sub"], "lms-sync", "{claims}");
    assert_eq!(claims["jti"], issued.jti, "{claims}");
    assert_eq!(
        (claims["iss"].as_str(), claims["aud"].as_str()),
        (Some(ISSUER), Some(AUDIENCE))
    );
    let exp = claims["exp"].as_u64().expect("numeric exp");
    assert!(
        exp.abs_diff(now_secs() + 3600) <= 60,
        "exp {exp} is not an hour away"
    );
    assert_eq!(exp as i64, issued.expires_at.and_utc().timestamp());

    // It may read members and nothing more.
    let data = app
        .data(
            &issued.token,
            "{ findUserBy(email: \"admin@acme.example\") { id role } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["findUserBy"],
        json!([{ "id": admin.to_string(), "role": "admin" }])
    );
    let refused = [
        "mutation { createUser(email: \"new@acme.example\", first: \"N\", last: \"P\") { result } }",
        "mutation { createGroup(name: \"Sync\") { result } }",
        "{ groups { edges { node { id } } } }",
    ];
    for query in refused {
        assert_eq!(
            app.error_code(&issued.token, query, json!({})).await,
            "FORBIDDEN",
            "{query}"
        );
    }
    let data = app
        .data(
            &app.operator(),
            "{ findUserBy(email: \"new@acme.example\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(data["findUserBy"], json!([]));

    // An admin token minted for the org administers it.
    let minted_admin = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            TokenRequest {
                role: CallerRole::Admin,
                org: Some(OrgId(org)),
                scope: None,
                subject: Some(admin.to_string()),
                ttl: Duration::from_secs(600),
                name: None,
            },
        )
        .await
        .expect("issue an admin token");
    let created = app
        .mutate(
            &minted_admin.token,
            "createUser",
            "email: \"new@acme.example\", first: \"N\", last: \"P\"",
        )
        .await;
    assert_eq!(created["result"], "created", "{created}");

    // Impossible requests.
    let request = |role, org: Option<Uuid>, scope: Option<&str>| TokenRequest {
        role,
        org: org.map(OrgId),
        scope: scope.map(str::to_owned),
        subject: None,
        ttl: Duration::from_secs(600),
        name: None,
    };
    let unknown_scope = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            request(
                CallerRole::Integration,
                Some(org),
                Some("members:read members:admin"),
            ),
        )
        .await;
    assert!(
        matches!(unknown_scope, Err(Error::InvalidInput(_))),
        "{unknown_scope:?}"
    );
    let no_org = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            request(CallerRole::Admin, None, None),
        )
        .await;
    assert!(matches!(no_org, Err(Error::InvalidInput(_))), "{no_org:?}");
    let no_org = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            request(CallerRole::Integration, None, Some("members:read")),
        )
        .await;
    assert!(matches!(no_org, Err(Error::InvalidInput(_))), "{no_org:?}");
    let unknown_org = app
        .service
        .issue_token(
            &roster::auth::Principal::cli(),
            TokenRequest {
                subject: Some(admin.to_string()),
                ..request(CallerRole::Admin, Some(Uuid::now_v7()), None)
            },
        )
        .await;
    assert!(
        matches!(unknown_org, Err(Error::NotFound(_))),
        "{unknown_org:?}"
    );
    let mut zero_ttl = request(CallerRole::Operator, None, None);
    zero_ttl.ttl = Duration::ZERO;
    let zero_ttl = app
        .service
        .issue_token(&roster::auth::Principal::cli(), zero_ttl)
        .await;
    assert!(
        matches!(zero_ttl, Err(Error::InvalidInput(_))),
        "{zero_ttl:?}"
    );
}

crate::both_backends!(bad_token_matrix, minted_tokens_carry_claims);
