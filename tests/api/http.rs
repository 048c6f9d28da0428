//! The HTTP surface: limits, negotiation, refusals, health and the schema
//! contract.

use serde_json::{Value, json};

use crate::helpers::*;

async fn raw_post(
    app: &TestApp,
    token: Option<&str>,
    content_type: &str,
    accept: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.expect("request")
}

async fn body_limit_and_content_types(app: &TestApp) {
    let op = app.operator();
    let org = app.create_org("limits").await;
    // 2 MiB of padding in a string argument: refused before parsing.
    let padding = "x".repeat(2 * 1024 * 1024);
    let query =
        format!("mutation {{ createGroup(org: \"{org}\", name: \"{padding}\") {{ result }} }}");
    let body = serde_json::to_vec(&json!({ "query": query })).unwrap();
    let response = raw_post(app, Some(&op), "application/json", None, body).await;
    assert_eq!(response.status().as_u16(), 413);
    let groups = app
        .data(
            &op,
            &format!("{{ groups(org: \"{org}\") {{ totalCount }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        groups["groups"]["totalCount"], 0,
        "the oversized request wrote"
    );

    let typename = serde_json::to_vec(&json!({ "query": "{ __typename }" })).unwrap();
    let response = raw_post(app, Some(&op), "text/plain", None, typename.clone()).await;
    assert_eq!(response.status().as_u16(), 415);
    let response = raw_post(
        app,
        Some(&op),
        "application/x-www-form-urlencoded",
        None,
        typename.clone(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 415);

    // Batches are refused; broken JSON is a 400 with a code, not a 500.
    let batch =
        serde_json::to_vec(&json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]))
            .unwrap();
    let response = raw_post(app, Some(&op), "application/json", None, batch).await;
    assert_eq!(response.status().as_u16(), 400);
    let response = raw_post(
        app,
        Some(&op),
        "application/json",
        None,
        b"{\"query\": ".to_vec(),
    )
    .await;
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");

    // Accept: both GraphQL media types, wildcards, and 406 for others.
    for (accept, expected) in [
        (None, "application/json"),
        (Some("application/json"), "application/json"),
        (
            Some("application/graphql-response+json"),
            "application/graphql-response+json",
        ),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            "application/graphql-response+json",
        ),
        (
            Some("application/json, application/graphql-response+json;q=0.5"),
            "application/json",
        ),
        (Some("*/*"), "application/json"),
    ] {
        let response = raw_post(app, Some(&op), "application/json", accept, typename.clone()).await;
        assert_eq!(response.status().as_u16(), 200, "{accept:?}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(content_type, expected, "{accept:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["__typename"], "Query");
    }
    let response = raw_post(
        app,
        Some(&op),
        "application/json",
        Some("text/html"),
        typename,
    )
    .await;
    assert_eq!(response.status().as_u16(), 406);
}

async fn query_limits(app: &TestApp) {
    let op = app.operator();
    // Deeper than the limit (16) through introspection's recursive types.
    let mut deep = String::from("name");
    for _ in 0..18 {
        deep = format!("ofType {{ {deep} }}");
    }
    let query = format!("{{ __schema {{ types {{ {deep} }} }} }}");
    let body = app.gql(&op, &query, json!({})).await;
    assert!(body["data"].is_null(), "deep query ran: {body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );

    // More aliases than allowed (30).
    let aliases: Vec<String> = (0..40).map(|i| format!("a{i}: __typename")).collect();
    let body = app
        .gql(&op, &format!("{{ {} }}", aliases.join(" ")), json!({}))
        .await;
    assert!(body["data"].is_null(), "aliased query ran: {body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases"),
        "{body}"
    );
    // A handful of aliases is fine.
    let body = app
        .gql(&op, "{ a: __typename b: __typename }", json!({}))
        .await;
    assert_eq!(body["data"]["b"], "Query");

    // Syntax errors are a coded GraphQL error.
    let body = app.gql(&op, "{ findUserBy(", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    // Unknown fields too.
    let body = app.gql(&op, "{ users { id } }", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
}

/// GraphQL over HTTP: with `Accept: application/graphql-response+json`, a
/// request that never executes (syntax, validation, variables) is a 400
/// with no `data`; with `application/json` it stays 200 with
/// `"data": null`. An executed request with a field error is 200 either
/// way.
async fn graphql_response_status_codes(app: &TestApp) {
    let op = app.operator();
    let (org, _, _) = app.org_with_admin("gqlhttp").await;
    let lookup =
        "query($org: ID!, $email: String!) { findUserBy(org: $org, email: $email) { id } }";
    let cases = [
        ("syntax", json!({ "query": "{ findUserBy(" })),
        ("validation", json!({ "query": "{ users { id } }" })),
        (
            "variables",
            json!({ "query": lookup, "variables": { "org": org, "email": 42 } }),
        ),
        (
            "missing variable",
            json!({ "query": lookup, "variables": { "org": org } }),
        ),
    ];
    for (what, request) in cases {
        let body = serde_json::to_vec(&request).unwrap();
        let response = raw_post(
            app,
            Some(&op),
            "application/json",
            Some("application/graphql-response+json"),
            body.clone(),
        )
        .await;
        assert_eq!(response.status().as_u16(), 400, "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "application/graphql-response+json",
            "{what}"
        );
        let answer: Value = response.json().await.unwrap();
        assert!(answer.get("data").is_none(), "{what}: {answer}");
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{what}: {answer}"
        );

        let response = raw_post(app, Some(&op), "application/json", None, body).await;
        assert_eq!(response.status().as_u16(), 200, "{what}");
        let answer: Value = response.json().await.unwrap();
        assert!(answer["data"].is_null(), "{what}: {answer}");
        assert!(answer.get("data").is_some(), "{what}: {answer}");
        assert!(
            answer["errors"][0]["message"].is_string(),
            "{what}: {answer}"
        );
    }

    // Executed: a field's error (an invalid email argument) keeps 200 and
    // `data`, on both media types.
    let request = json!({ "query": lookup, "variables": { "org": org, "email": "not an email" } });
    for accept in ["application/graphql-response+json", "application/json"] {
        let body = serde_json::to_vec(&request).unwrap();
        let response = raw_post(app, Some(&op), "application/json", Some(accept), body).await;
        assert_eq!(response.status().as_u16(), 200, "{accept}");
        let answer: Value = response.json().await.unwrap();
        assert!(answer.get("data").is_some(), "{accept}: {answer}");
        assert!(answer["errors"][0]["path"].is_array(), "{accept}: {answer}");
    }
    // And a good request is 200 with its data.
    let body = serde_json::to_vec(&json!({ "query": "{ __typename }" })).unwrap();
    let response = raw_post(
        app,
        Some(&op),
        "application/json",
        Some("application/graphql-response+json"),
        body,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
}

/// A body over the general limit is a sync, and its records are read
/// straight into typed records: they arrive whole (every field), a record
/// of the wrong shape is a request error that writes nothing, and
/// records written inline rather than as a variable still work.
async fn large_sync_bodies(app: &TestApp) {
    let app = app.instance_with(&["--max-body-bytes", "16384"]).await;
    let (org, _, admin) = app.org_with_admin("large-bodies").await;
    app.create_group(org, "Blue").await;
    let record = |i: usize| {
        json!({
            "email": format!("p{i}@large.example"),
            "externalId": format!("x{i}"),
            "firstName": "Pat", "lastName": format!("Large{i}"), "name": format!("Pat L{i}"),
            "mobile": "+31 6 12345678", "locale": "nl-NL", "timezone": "Europe/Amsterdam",
            "role": if i == 7 { "ADMIN" } else { "USER" }, "status": "ACTIVE",
            "attributes": { "n": i, "even": i.is_multiple_of(2), "team": "blue" },
            "groups": ["blue"],
        })
    };
    let records: Vec<Value> = (0..200).map(record).collect();
    let query = "mutation($o: Uuid, $records: [SyncRecord!]!, $dry: Boolean) { syncMembers(org: $o, records: $records, dryRun: $dry) { written counts { created failed } } }";
    let body = |records: &Value, dry: bool| {
        serde_json::to_vec(
            &json!({ "query": query, "variables": { "o": org, "records": records, "dry": dry } }),
        )
        .unwrap()
    };
    assert!(body(&json!(records), true).len() > 16384);
    // Other variables arrive too: a dry run writes nothing.
    let response = raw_post(
        &app,
        Some(&admin),
        "application/json",
        None,
        body(&json!(records), true),
    )
    .await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["data"]["syncMembers"]["written"], false, "{answer}");
    assert_eq!(answer["data"]["syncMembers"]["counts"]["created"], 200);

    // A record of the wrong shape: a request error, nothing written; 400
    // with the GraphQL media type.
    for (what, bad) in [
        ("role", json!({ "role": "BOSS" })),
        ("field", json!({ "nickname": "P" })),
        ("type", json!({ "groups": "blue" })),
        ("email", json!({ "email": null })),
    ] {
        let mut wrong = records.clone();
        for (k, v) in bad.as_object().unwrap() {
            wrong[150][k] = v.clone();
        }
        for (accept, status) in [
            ("application/json", 200),
            ("application/graphql-response+json", 400),
        ] {
            let response = raw_post(
                &app,
                Some(&admin),
                "application/json",
                Some(accept),
                body(&json!(wrong), false),
            )
            .await;
            assert_eq!(response.status().as_u16(), status, "{what} {accept}");
            let answer: Value = response.json().await.unwrap();
            assert_eq!(
                answer["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
                "{what}: {answer}"
            );
            assert!(
                answer["errors"][0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("$records"),
                "{answer}"
            );
        }
    }
    let count = "query($o: Uuid) { members(org: $o) { totalCount } }";
    assert_eq!(
        app.data(&admin, count, json!({ "o": org })).await["members"]["totalCount"],
        1
    );

    // Written for real, every field as sent.
    let response = raw_post(
        &app,
        Some(&admin),
        "application/json",
        None,
        body(&json!(records), false),
    )
    .await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["data"]["syncMembers"]["counts"]["created"], 200,
        "{answer}"
    );
    let one = "query($o: Uuid) { user(org: $o, externalId: \"x7\") { email firstName lastName name mobile locale timezone role status attributes groups { name } } }";
    let member = &app.data(&admin, one, json!({ "o": org })).await["user"];
    assert_eq!(member["email"], "p7@large.example");
    assert_eq!(member["lastName"], "Large7");
    assert_eq!(member["name"], "Pat L7");
    assert_eq!(member["locale"], "nl-NL");
    assert_eq!(member["timezone"], "Europe/Amsterdam");
    assert_eq!(member["role"], "ADMIN");
    assert_eq!(
        member["attributes"],
        json!({ "n": 7, "even": false, "team": "blue" })
    );
    assert_eq!(member["groups"][0]["name"], "Blue");
    assert!(
        member["mobile"].as_str().unwrap().contains("12345678"),
        "{member}"
    );

    // Records inline in the document, no variable: read the usual way.
    let inline: Vec<String> = (200..400)
        .map(|i| {
            format!(
                "{{ email: \"p{i}@large.example\", firstName: \"Inline {i} {}\" }}",
                "x".repeat(40)
            )
        })
        .collect();
    let document = format!(
        "mutation {{ syncMembers(org: \"{org}\", records: [{}]) {{ counts {{ created }} }} }}",
        inline.join(", ")
    );
    let body = serde_json::to_vec(&json!({ "query": document })).unwrap();
    assert!(body.len() > 16384);
    let response = raw_post(&app, Some(&admin), "application/json", None, body).await;
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["data"]["syncMembers"]["counts"]["created"], 200,
        "{answer}"
    );
}

/// Automatic persisted queries: a hash alone is looked up, a query with its
/// hash registers it, for the caller's org only; a GET of a persisted
/// mutation is refused like any GET of a mutation.
async fn persisted_queries(app: &TestApp) {
    use sha2::Digest;
    let hex = |q: &str| -> String {
        sha2::Sha256::digest(q.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let (org, _, admin) = app.org_with_admin("apq").await;
    let (_, _, other) = app.org_with_admin("apq-other").await;
    let query = "query($e: String) { findUserBy(email: $e) { email } }";
    let persisted = |hash: &str| json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let send = |token: String, body: Value| {
        let app = &app;
        async move {
            let body = serde_json::to_vec(&body).unwrap();
            let response = raw_post(app, Some(&token), "application/json", None, body).await;
            assert_eq!(response.status().as_u16(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let hash_only =
        json!({ "variables": { "e": "nobody@apq.example" }, "extensions": persisted(&hex(query)) });
    let answer = send(admin.clone(), hash_only.clone()).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{answer}"
    );
    assert_eq!(answer["errors"][0]["message"], "PersistedQueryNotFound");
    let register = json!({ "query": query, "variables": { "e": "nobody@apq.example" }, "extensions": persisted(&hex(query)) });
    let answer = send(admin.clone(), register).await;
    assert_eq!(answer["data"]["findUserBy"], json!([]), "{answer}");
    let answer = send(admin.clone(), hash_only.clone()).await;
    assert_eq!(answer["data"]["findUserBy"], json!([]), "{answer}");
    // Another org's caller does not find it: what one org sent is not
    // visible to another.
    let answer = send(other, hash_only).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{answer}"
    );
    // A query that is not what the hash says.
    let wrong = json!({ "query": "{ __typename }", "extensions": persisted(&hex(query)) });
    let answer = send(admin.clone(), wrong).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_HASH_MISMATCH",
        "{answer}"
    );
    let malformed = json!({ "query": query, "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hex(query) } } });
    let answer = send(admin.clone(), malformed).await;
    assert_eq!(
        answer["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{answer}"
    );

    // GET with the hash: a query runs; a persisted mutation is a 405.
    let get = |hash: String| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let extensions = persisted(&hash).to_string();
            app.client
                .get(app.url("/graphql"))
                .query(&[
                    ("extensions", extensions.as_str()),
                    ("variables", "{\"e\":\"nobody@apq.example\"}"),
                ])
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
        }
    };
    let response = get(hex(query)).await;
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["data"]["findUserBy"], json!([]), "{answer}");
    let mutation =
        format!("mutation {{ createGroup(org: \"{org}\", name: \"Via GET\") {{ result }} }}");
    let register = json!({ "query": mutation, "extensions": persisted(&hex(&mutation)) });
    let answer = send(admin.clone(), register).await;
    assert_eq!(
        answer["data"]["createGroup"]["result"], "created",
        "{answer}"
    );
    let response = get(hex(&mutation)).await;
    assert_eq!(response.status().as_u16(), 405);
    let groups = app
        .data(
            &admin,
            "query($o: Uuid) { groups(org: $o) { totalCount } }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(groups["groups"]["totalCount"], 1, "{groups}");
}

async fn get_is_for_queries(app: &TestApp) {
    let op = app.operator();
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");

    let mutation = "mutation { createOrg(name: \"Via GET\", slug: \"via-get\") { result } }";
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", mutation)])
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let orgs = app
        .data(&op, "{ orgs(q: \"via-get\") { totalCount } }", json!({}))
        .await;
    assert_eq!(orgs["orgs"]["totalCount"], 0, "GET ran a mutation");

    let response = app
        .client
        .put(app.url("/graphql"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    // No token on GET either.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

async fn health_and_docs(app: &TestApp) {
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    let page = app.client.get(app.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );
    let sdl = app
        .client
        .get(app.url("/schema.graphql"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(sdl, roster::graphql::sdl());
    let missing = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

/// The introspection query GraphiQL sends (graphql-js's, with every
/// option on) must pass the limits, or GraphiQL cannot load the schema.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name
      ofType { kind name ofType { kind name } } } } } } } } } }
}
"#;

async fn graphiql_introspection_fits_the_limits(app: &TestApp) {
    let data = app.data(&app.operator(), INTROSPECTION, json!({})).await;
    let types = data["__schema"]["types"].as_array().unwrap();
    assert!(
        types.iter().any(|t| t["name"] == "MutationResult"),
        "{data}"
    );
}

crate::both_backends!(
    body_limit_and_content_types,
    query_limits,
    graphql_response_status_codes,
    large_sync_bodies,
    persisted_queries,
    get_is_for_queries,
    health_and_docs,
    graphiql_introspection_fits_the_limits,
);

/// The committed `schema.graphql` is the contract clients build against; it
/// must match what the code serves.
#[test]
fn committed_schema_matches_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql is committed at the repository root");
    assert!(
        committed == roster::graphql::sdl(),
        "schema.graphql differs from the code's SDL: run `cargo run -- schema > schema.graphql` and review the diff"
    );
}

/// The core API's names and arguments, exactly as clients send them.
#[test]
fn core_api_names_match_the_contract() {
    let sdl = roster::graphql::sdl();
    for line in [
        "findUserBy(org: Uuid, email: String, externalId: String, mobile: String, name: String): [UserSearch!]!",
        "groupUsers(org: Uuid, groupId: Uuid, userId: Uuid): [GroupUser!]!",
        // Invitations add `sendInvite` at the end, optional.
        "createUser(org: Uuid, email: String!, first: String!, last: String!, mobile: String, name: String, groupId: Uuid, externalId: String, role: String, sendInvite: Boolean): MutationResult!",
        "addOrgMember(org: Uuid, orgId: Uuid, userId: Uuid!, role: String, externalId: String): MutationResult!",
        "addUserToOrg(org: Uuid, orgId: Uuid, userId: Uuid!, role: String, externalId: String): MutationResult! @deprecated(reason: \"use addOrgMember\")",
        // The directory API (attributes) and optimistic concurrency (ifVersion) add optional
        // arguments at the end, which clients of the core API need not send.
        "updateMember(org: Uuid, userId: Uuid!, status: String, role: String, externalId: String, attributes: JSON, ifVersion: Int): MutationResult!",
        "addGroupMembership(org: Uuid, userId: Uuid!, groupId: Uuid!): MutationResult!",
        "removeGroupMembership(org: Uuid, userId: Uuid!, groupId: Uuid!): MutationResult!",
    ] {
        assert!(sdl.contains(line), "schema lacks `{line}`");
    }
    for field in [
        "id: Uuid",
        "result: String!",
        "records: Int!",
        "error: String",
        "errorCode: ErrorCode",
    ] {
        assert!(sdl.contains(field), "MutationResult lacks `{field}`");
    }
    for field in [
        "userId: Uuid!",
        "groupId: Uuid!",
        "status: String!",
        "userName: String!",
        "role: String!",
    ] {
        assert!(sdl.contains(field), "GroupUser lacks `{field}`");
    }
}

/// A body is read only once the token checks out, and only a caller who
/// may write members gets the larger sync limit.
#[actix_web::test]
async fn bodies_are_read_after_authentication() {
    let app = spawn_sqlite_with(&[
        "--max-body-bytes",
        "16384",
        "--max-sync-body-bytes",
        "65536",
    ])
    .await;
    let org = app.create_org("bodies").await;
    let sync_body = |count: usize| {
        let records: Vec<Value> = (0..count)
            .map(|i| json!({ "email": format!("p{i}@bodies.example"), "firstName": "P" }))
            .collect();
        let query = "mutation($org: Uuid, $r: [SyncRecord!]!) { syncMembers(org: $org, records: $r) { written } }";
        serde_json::to_vec(&json!({ "query": query, "variables": { "org": org, "r": records } }))
            .unwrap()
    };
    let (fits, beyond) = (sync_body(600), sync_body(1600));
    assert!(fits.len() > 16384 && fits.len() < 65536, "{}", fits.len());
    assert!(beyond.len() > 65536 && beyond.len() < 200_000);
    // Past even the sync limit, a caller with no valid token hears 401.
    for token in [None, Some("not-a-token")] {
        let response = raw_post(&app, token, "application/json", None, beyond.clone()).await;
        assert_eq!(response.status().as_u16(), 401);
    }
    // A token that may only read members is held to the general limit.
    let reader = app.integration(org, "members:read");
    let response = raw_post(&app, Some(&reader), "application/json", None, fits.clone()).await;
    assert_eq!(response.status().as_u16(), 413);
    let writer = app.integration(org, "members:write");
    let response = raw_post(&app, Some(&writer), "application/json", None, beyond).await;
    assert_eq!(response.status().as_u16(), 413);
    let response = raw_post(&app, Some(&writer), "application/json", None, fits).await;
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["syncMembers"]["written"], true, "{body}");
}
