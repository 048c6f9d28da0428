//! SCIM 2.0 under `/scim/v2`, through HTTP: discovery, Users read with
//! filters as Okta and Entra send them, ETags, tenant isolation and the
//! SCIM error shape.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const SCIM: &str = "application/scim+json";

struct Scim<'a> {
    app: &'a TestApp,
    token: String,
}

impl Scim<'_> {
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token)
            .header("accept", SCIM);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.header("content-type", SCIM).body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        assert_no_leak(&text);
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }))
        };
        if status != 304 && !text.is_empty() {
            assert_eq!(headers["content-type"], SCIM, "{text}");
        }
        (status, headers, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.request(reqwest::Method::GET, path, None, &[]).await;
        (status, body)
    }

    /// `GET /Users?filter=…`: the ids listed.
    async fn filter(&self, filter: &str) -> Vec<String> {
        let path = format!("/Users?filter={}", urlencode(filter));
        let (status, body) = self.get(&path).await;
        assert_eq!(status, 200, "{filter}: {body}");
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
        );
        let mut ids: Vec<String> = body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(body["totalResults"], ids.len(), "{body}");
        ids.sort();
        ids
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn assert_scim_error(status: u16, body: &Value, expected: u16, scim_type: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{body}"
    );
    assert_eq!(body["status"], expected.to_string(), "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    if let Some(scim_type) = scim_type {
        assert_eq!(body["scimType"], scim_type, "{body}");
    }
}

/// An org with a SCIM token (an integration token with the `scim` scope)
/// and three members.
async fn org_with_members(app: &TestApp, slug: &str) -> (Uuid, String, Vec<Uuid>) {
    let (org, admin_id, admin) = app.org_with_admin(slug).await;
    let mut ids = vec![admin_id];
    for (email, external) in [("ann", "e-1"), ("bob", "e-2")] {
        let made = app
            .data(
                &admin,
                &format!(
                    "mutation {{ r: upsertMember(email: \"{email}@{slug}.example\", externalId: \"{external}\", user: {{ firstName: \"{email}\", lastName: \"Lee\" }}) {{ result member {{ id }} }} }}"
                ),
                json!({}),
            )
            .await;
        ids.push(made["r"]["member"]["id"].as_str().unwrap().parse().unwrap());
    }
    (org, app.integration(org, "scim"), ids)
}

/// Discovery documents, and who may call: a token with `scim`, never an
/// operator's, never one without the scope; errors in SCIM's shape.
async fn discovery_and_access(app: &TestApp) {
    let (org, token, _) = org_with_members(app, "scim-disc").await;
    let scim = Scim { app, token };
    let (status, config) = scim.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["filter"]["supported"], true);
    assert_eq!(config["filter"]["maxResults"], 200);
    assert_eq!(config["etag"]["supported"], true);
    let (status, types) = scim.get("/ResourceTypes").await;
    assert_eq!(status, 200);
    assert_eq!(types["Resources"][0]["endpoint"], "/Users");
    let (status, schemas) = scim.get("/Schemas").await;
    assert_eq!(status, 200);
    assert_eq!(schemas["totalResults"], 2);
    let (status, user_schema) = scim
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(status, 200, "{user_schema}");
    for (token, expected) in [
        (String::new(), 401),
        (app.operator(), 403),
        (app.integration(org, "members:read members:write"), 403),
    ] {
        let other = Scim { app, token };
        let (status, body) = other.get("/Users").await;
        assert_scim_error(status, &body, expected, None);
    }
    // Not built yet: said, in SCIM's shape.
    let (status, _, body) = scim
        .request(reqwest::Method::POST, "/Bulk", Some(json!({})), &[])
        .await;
    assert_scim_error(status, &body, 501, None);
}

/// Users read as the org sees them, with the filters Okta and Entra send,
/// paging, projection, and an ETag that `If-None-Match` honours.
async fn users_are_read_and_filtered(app: &TestApp) {
    let (_org, token, ids) = org_with_members(app, "scim-read").await;
    let scim = Scim { app, token };
    let (admin, ann, bob) = (ids[0].to_string(), ids[1].to_string(), ids[2].to_string());
    // Okta's connectivity check.
    let (status, page) = scim.get("/Users?startIndex=1&count=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalResults"], 3);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["startIndex"], 1);
    let (_, rest) = scim.get("/Users?startIndex=3&count=2").await;
    assert_eq!(rest["itemsPerPage"], 1);
    // Entra's and Okta's lookups; userName is case-insensitive.
    assert_eq!(
        scim.filter("userName eq \"ANN@scim-read.example\"").await,
        vec![ann.clone()]
    );
    assert_eq!(
        scim.filter("externalId eq \"e-2\"").await,
        vec![bob.clone()]
    );
    assert_eq!(
        scim.filter("externalId eq \"E-2\"").await,
        Vec::<String>::new()
    );
    let (status, empty) = scim
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"nobody@x.example\"")
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(empty["totalResults"], 0);
    assert_eq!(empty["Resources"], json!([]));
    // The grammar: and, or, not, parentheses, value paths, pr, co/sw/ew.
    let mut both = vec![ann.clone(), bob.clone()];
    both.sort();
    assert_eq!(scim.filter("externalId pr").await, both);
    assert_eq!(
        scim.filter(
            "userName sw \"an\" or (userName ew \"scim-read.example\" and externalId eq \"e-2\")"
        )
        .await,
        both
    );
    assert_eq!(
        scim.filter("not (externalId pr) and active eq true").await,
        vec![admin.clone()]
    );
    assert_eq!(
        scim.filter("emails[type eq \"work\" and value co \"bob@\"]")
            .await,
        vec![bob.clone()]
    );
    assert_eq!(
        scim.filter("emails[type eq \"home\"]").await,
        Vec::<String>::new()
    );
    assert_eq!(
        scim.filter(&format!("id eq \"{ann}\"")).await,
        vec![ann.clone()]
    );
    // What cannot be answered is said, never a wider list.
    for filter in [
        "title eq \"x\"",
        "userName eq",
        "userName zz \"a\"",
        "externalId co \"e\"",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"x\"",
    ] {
        let (status, body) = scim
            .get(&format!("/Users?filter={}", urlencode(filter)))
            .await;
        assert_scim_error(status, &body, 400, Some("invalidFilter"));
    }
    // One user, as mapped; the ETag is the version.
    let (status, headers, user) = scim
        .request(reqwest::Method::GET, &format!("/Users/{ann}"), None, &[])
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["userName"], "ann@scim-read.example");
    assert_eq!(user["name"]["givenName"], "ann");
    assert_eq!(user["name"]["familyName"], "Lee");
    assert_eq!(user["externalId"], "e-1");
    assert_eq!(user["active"], true);
    assert_eq!(user["emails"][0]["primary"], true);
    assert_eq!(user["meta"]["resourceType"], "User");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(user["meta"]["version"], etag);
    assert!(etag.starts_with("W/\""));
    let (status, _, _) = scim
        .request(
            reqwest::Method::GET,
            &format!("/Users/{ann}"),
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(status, 304);
    let (status, _, _) = scim
        .request(
            reqwest::Method::GET,
            &format!("/Users/{ann}"),
            None,
            &[("if-none-match", "W/\"999999\"")],
        )
        .await;
    assert_eq!(status, 200);
    // Projection.
    let (_, slim) = scim.get(&format!("/Users/{ann}?attributes=userName")).await;
    assert_eq!(slim["userName"], "ann@scim-read.example");
    assert!(slim.get("name").is_none() && slim.get("id").is_some());
    let (_, without) = scim
        .get(&format!("/Users/{ann}?excludedAttributes=groups,emails"))
        .await;
    assert!(without.get("groups").is_none() && without.get("emails").is_none());
    assert!(without.get("userName").is_some());
    // POST /Users/.search answers like GET.
    let (status, _, found) = scim
        .request(
            reqwest::Method::POST,
            "/Users/.search",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "externalId eq \"e-1\"",
                "startIndex": 1,
                "count": 10,
            })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["Resources"][0]["id"], ann);
}

/// Another org's users answer 404 like ids that exist nowhere, and no
/// filter reaches them.
async fn users_stay_in_their_org(app: &TestApp) {
    let (_a, token_a, _) = org_with_members(app, "scim-a").await;
    let (_b, _, ids_b) = org_with_members(app, "scim-b").await;
    let scim = Scim {
        app,
        token: token_a,
    };
    let (status, theirs) = scim.get(&format!("/Users/{}", ids_b[1])).await;
    let (status_none, nobody) = scim.get(&format!("/Users/{}", Uuid::now_v7())).await;
    let (status_bad, malformed) = scim.get("/Users/not-a-uuid").await;
    assert_scim_error(status, &theirs, 404, None);
    assert_eq!((status, &theirs), (status_none, &nobody));
    assert_eq!((status, &theirs), (status_bad, &malformed));
    assert!(
        scim.filter("userName eq \"ann@scim-b.example\"")
            .await
            .is_empty()
    );
    assert!(
        scim.filter(&format!("id eq \"{}\"", ids_b[1]))
            .await
            .is_empty()
    );
    assert_eq!(scim.filter("userName ew \"example\"").await.len(), 3);
}

crate::both_backends!(
    discovery_and_access,
    users_are_read_and_filtered,
    users_stay_in_their_org,
);
