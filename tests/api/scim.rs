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
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(config["bulk"]["supported"], true);
    assert_eq!(config["bulk"]["maxOperations"], 1000);
    let (status, types) = scim.get("/ResourceTypes").await;
    assert_eq!(status, 200);
    let endpoints: Vec<&Value> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["endpoint"])
        .collect();
    assert_eq!(endpoints, [&json!("/Groups"), &json!("/Users")]);
    let (status, schemas) = scim.get("/Schemas").await;
    assert_eq!(status, 200);
    assert_eq!(schemas["totalResults"], 3);
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
        for path in ["/Users", "/ServiceProviderConfig"] {
            let (status, body) = other.get(path).await;
            assert_scim_error(status, &body, expected, None);
        }
    }
    // Not built yet: said, in SCIM's shape.
    let (status, _, body) = scim
        .request(reqwest::Method::POST, "/.search", Some(json!({})), &[])
        .await;
    assert_scim_error(status, &body, 501, None);
    // A method a resource does not take: 405 with Allow; no resource: 404.
    let (status, headers, body) = scim
        .request(reqwest::Method::DELETE, "/ServiceProviderConfig", None, &[])
        .await;
    assert_scim_error(status, &body, 405, None);
    assert_eq!(headers["allow"], "GET");
    let (status, body) = scim.get(&format!("/{}", Uuid::now_v7())).await;
    assert_scim_error(status, &body, 404, None);
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
    assert_eq!(
        scim.filter("emails[primary eq \"true\" and value sw \"bob\"]")
            .await,
        vec![bob.clone()]
    );
    for filter in [
        "meta.bogus pr",
        "userName.nope pr",
        "emails[bogus pr]",
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

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn new_user(email: &str, external: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "userName": email,
        "externalId": external,
        "name": { "givenName": "Cleo", "familyName": "Ray" },
        "emails": [{ "value": email, "type": "work", "primary": true }],
        "phoneNumbers": [{ "value": "+31 6 1234 5678", "type": "mobile" }],
        "locale": "nl-NL",
        "active": true,
        ENTERPRISE: { "department": "Sales", "employeeNumber": "701" },
    })
}

/// POST, PUT, PATCH and DELETE of Users, as Okta and Entra send them, on
/// the same rules and events as GraphQL (channel `scim`).
async fn users_are_written(app: &TestApp) {
    let (org, token, ids) = org_with_members(app, "scim-w").await;
    let scim = Scim { app, token };
    let (status, headers, made) = scim
        .request(
            reqwest::Method::POST,
            "/Users",
            Some(new_user("cleo@scim-w.example", "e-7")),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"].to_str().unwrap(),
        made["meta"]["location"]
    );
    assert_eq!(headers["etag"].to_str().unwrap(), made["meta"]["version"]);
    assert_eq!(made["name"]["givenName"], "Cleo");
    assert_eq!(made[ENTERPRISE]["department"], "Sales");
    assert_eq!(made["phoneNumbers"][0]["type"], "mobile");
    // The same user again: uniqueness.
    let (status, _, again) = scim
        .request(
            reqwest::Method::POST,
            "/Users",
            Some(new_user("CLEO@scim-w.example", "e-8")),
            &[],
        )
        .await;
    assert_scim_error(status, &again, 409, Some("uniqueness"));
    // Okta's PUT-based update: a full replace; what is left out is
    // cleared, except active.
    let mut put = new_user("cleo@scim-w.example", "e-7");
    put["name"]["givenName"] = json!("Cleopatra");
    put.as_object_mut().unwrap().remove("locale");
    put.as_object_mut().unwrap().remove("active");
    put.as_object_mut().unwrap().remove(ENTERPRISE);
    let (status, _, replaced) = scim
        .request(
            reqwest::Method::PUT,
            &format!("/Users/{id}"),
            Some(put),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["name"]["givenName"], "Cleopatra");
    assert!(replaced.get("locale").is_none(), "{replaced}");
    assert!(replaced.get(ENTERPRISE).is_none(), "{replaced}");
    assert_eq!(replaced["active"], true);
    // Entra's PATCH: capitalised op, no path, dotted and URN keys, a
    // boolean as text.
    let (status, _, patched) = scim
        .request(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_OP],
                "Operations": [
                    { "op": "Replace", "value": {
                        "name.familyName": "Roe",
                        (format!("{ENTERPRISE}:department")): "Support",
                        "active": "False",
                    } },
                    { "op": "Add", "path": "displayName", "value": "Cleo R." },
                    { "op": "replace", "path": "emails[type eq \"work\"].value", "value": "cleo.roe@scim-w.example" },
                ],
            })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"]["familyName"], "Roe");
    assert_eq!(patched["displayName"], "Cleo R.");
    assert_eq!(patched["active"], false);
    assert_eq!(patched["emails"][0]["value"], "cleo.roe@scim-w.example");
    // The userName the identity provider looks the member up by stays.
    assert_eq!(patched["userName"], "cleo@scim-w.example");
    assert_eq!(patched[ENTERPRISE]["department"], "Support");
    // The same change seen through GraphQL, with its events on `scim`.
    let admin = app.admin(org, ids[0]);
    let query = format!(
        "{{ user(id: \"{id}\") {{ status email version attributes }} events(targetId: \"{id}\") {{ edges {{ node {{ type actor {{ channel }} }} }} }} }}"
    );
    // On PostgreSQL an event shows once older transactions have ended.
    let started = std::time::Instant::now();
    let data = loop {
        let data = app.data(&admin, &query, json!({})).await;
        if data["events"]["edges"].as_array().unwrap().len() >= 3
            || started.elapsed() > std::time::Duration::from_secs(30)
        {
            break data;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(data["user"]["status"], "RETIRED");
    assert_eq!(data["user"]["attributes"]["department"], "Support");
    assert_eq!(
        patched["meta"]["version"],
        format!("W/\"{}\"", data["user"]["version"])
    );
    let channels: Vec<&Value> = data["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["actor"]["channel"])
        .collect();
    assert!(
        channels.len() >= 3 && channels.iter().all(|c| *c == "scim"),
        "{data}"
    );
    // A name always has a value here: removing it is refused, not ignored.
    let (status, _, refused) = scim
        .request(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_OP],
                "Operations": [{ "op": "remove", "path": "name.givenName" }],
            })),
            &[],
        )
        .await;
    assert_scim_error(status, &refused, 400, Some("mutability"));
    // add to an attribute that holds one value here replaces it.
    let (status, _, readded) = scim
        .request(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH_OP],
                "Operations": [
                    { "op": "add", "path": "emails", "value": [{ "value": "cleo@scim-w.example", "type": "work" }] },
                    { "op": "add", "path": "roles", "value": [{ "value": "admin" }] },
                ],
            })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{readded}");
    assert_eq!(readded["userName"], "cleo@scim-w.example");
    assert_eq!(readded["roles"][0]["value"], "admin");
    // DELETE, then it is gone.
    let (status, _, _) = scim
        .request(reqwest::Method::DELETE, &format!("/Users/{id}"), None, &[])
        .await;
    assert_eq!(status, 204);
    let (status, gone) = scim.get(&format!("/Users/{id}")).await;
    assert_scim_error(status, &gone, 404, None);
    // Bad bodies change nothing.
    for body in [
        json!("not an object"),
        json!({ "userName": 5 }),
        json!({ "userName": "x@scim-w.example", "name": { "givenName": "X" }, "active": "maybe" }),
        json!({ "userName": "x@scim-w.example", "name": { "givenName": "X" }, "roles": [{ "value": "owner" }] }),
    ] {
        let (status, _, bad) = scim
            .request(reqwest::Method::POST, "/Users", Some(body), &[])
            .await;
        assert_eq!(status, 400, "{bad}");
    }
    assert!(
        scim.filter("userName eq \"x@scim-w.example\"")
            .await
            .is_empty()
    );
}

/// `If-Match` guards PUT, PATCH and DELETE (412 when stale); of two
/// PATCHes sent at once with one version, exactly one wins.
async fn if_match_guards_writes(app: &TestApp) {
    let (_org, token, ids) = org_with_members(app, "scim-etag").await;
    let scim = Scim { app, token };
    let ann = ids[1];
    let (_, headers, _) = scim
        .request(reqwest::Method::GET, &format!("/Users/{ann}"), None, &[])
        .await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let rename = |given: &str| {
        json!({
            "schemas": [PATCH_OP],
            "Operations": [{ "op": "replace", "path": "name.givenName", "value": given }],
        })
    };
    let patches: Vec<_> = (0..6)
        .map(|i| {
            let etag = etag.clone();
            let scim = &scim;
            async move {
                let (status, _, body) = scim
                    .request(
                        reqwest::Method::PATCH,
                        &format!("/Users/{ann}"),
                        Some(rename(&format!("Ann{i}"))),
                        &[("if-match", &etag)],
                    )
                    .await;
                (i, status, body)
            }
        })
        .collect();
    let results = futures::future::join_all(patches).await;
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, s, _)| *s == 200)
        .map(|(i, _, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (_, status, body) in &results {
        if *status != 200 {
            assert_scim_error(*status, body, 412, None);
        }
    }
    let (_, now) = scim.get(&format!("/Users/{ann}")).await;
    assert_eq!(now["name"]["givenName"], format!("Ann{}", winners[0]));
    // Stale PUT and DELETE: 412, nothing changed.
    let (status, _, body) = scim
        .request(
            reqwest::Method::PUT,
            &format!("/Users/{ann}"),
            Some(new_user("ann@scim-etag.example", "e-1")),
            &[("if-match", &etag)],
        )
        .await;
    assert_scim_error(status, &body, 412, None);
    let (status, _, body) = scim
        .request(
            reqwest::Method::DELETE,
            &format!("/Users/{ann}"),
            None,
            &[("if-match", &etag)],
        )
        .await;
    assert_scim_error(status, &body, 412, None);
    let (status, _) = scim.get(&format!("/Users/{ann}")).await;
    assert_eq!(status, 200);
}

/// The org's last admin can be neither deactivated nor deleted over SCIM.
async fn the_last_admin_stays(app: &TestApp) {
    let (_org, token, ids) = org_with_members(app, "scim-admin").await;
    let scim = Scim { app, token };
    let admin = ids[0];
    let (status, _, body) = scim
        .request(
            reqwest::Method::PATCH,
            &format!("/Users/{admin}"),
            Some(json!({
                "schemas": [PATCH_OP],
                "Operations": [{ "op": "replace", "path": "active", "value": false }],
            })),
            &[],
        )
        .await;
    assert_scim_error(status, &body, 409, Some("mutability"));
    let (status, _, body) = scim
        .request(
            reqwest::Method::DELETE,
            &format!("/Users/{admin}"),
            None,
            &[],
        )
        .await;
    assert_scim_error(status, &body, 409, Some("mutability"));
    let (_, still) = scim.get(&format!("/Users/{admin}")).await;
    assert_eq!(still["active"], true);
}

/// Groups as Entra and Okta provision them: create with members, read
/// without members, filter, PATCH members by value (only those named go),
/// rename, delete; other orgs' groups and users are out of reach.
async fn groups_are_provisioned(app: &TestApp) {
    let (_org, token, ids) = org_with_members(app, "scim-g").await;
    let (_other, other_token, other_ids) = org_with_members(app, "scim-g2").await;
    let scim = Scim { app, token };
    let (admin, ann, bob) = (ids[0].to_string(), ids[1].to_string(), ids[2].to_string());
    let (status, headers, made) = scim
        .request(
            reqwest::Method::POST,
            "/Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Sales",
                "externalId": "aad-1",
                "members": [{ "value": ann }, { "value": bob }],
            })),
            &[],
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["members"].as_array().unwrap().len(), 2);
    assert!(headers.contains_key("etag") && headers.contains_key("location"));
    // Entra reads groups without members.
    let (status, slim) = scim
        .get(&format!("/Groups/{id}?excludedAttributes=members"))
        .await;
    assert_eq!(status, 200, "{slim}");
    assert!(slim.get("members").is_none());
    assert_eq!(slim["displayName"], "Sales");
    let group_filter = |filter: String| {
        let scim = &scim;
        async move {
            let (status, body) = scim
                .get(&format!(
                    "/Groups?excludedAttributes=members&filter={}",
                    urlencode(&filter)
                ))
                .await;
            assert_eq!(status, 200, "{filter}: {body}");
            body["totalResults"].as_i64().unwrap()
        }
    };
    assert_eq!(group_filter("displayName eq \"sales\"".into()).await, 1);
    assert_eq!(group_filter("externalId eq \"aad-1\"".into()).await, 1);
    assert_eq!(
        group_filter(format!("id eq \"{id}\" and members eq \"{ann}\"")).await,
        1
    );
    assert_eq!(
        group_filter(format!("id eq \"{id}\" and members eq \"{admin}\"")).await,
        0
    );
    assert_eq!(
        group_filter(format!("members[value eq \"{bob}\"]")).await,
        1
    );
    // Entra's remove by value, no filter in the path: only Ann goes.
    let (status, _, patched) = scim
        .request(
            reqwest::Method::PATCH,
            &format!("/Groups/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    { "op": "Remove", "path": "members", "value": [{ "value": ann }] },
                    { "op": "Add", "path": "members", "value": [{ "value": admin }] },
                    { "op": "Replace", "path": "displayName", "value": "Sales EU" },
                ],
            })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let mut members: Vec<String> = patched["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    members.sort();
    let mut expected = vec![admin.clone(), bob.clone()];
    expected.sort();
    assert_eq!(members, expected);
    assert_eq!(patched["displayName"], "Sales EU");
    // One object instead of a list removes that member only.
    let (status, _, one) = scim
        .request(
            reqwest::Method::PATCH,
            &format!("/Groups/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    { "op": "remove", "path": "members", "value": { "value": admin } },
                    { "op": "add", "path": "members", "value": [{ "value": admin }] },
                ],
            })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["members"].as_array().unwrap().len(), 2);
    // The member side shows it.
    let (_, bob_user) = scim.get(&format!("/Users/{bob}")).await;
    assert_eq!(bob_user["groups"][0]["display"], "Sales EU");
    // Another org's user cannot be added; nothing changes.
    let (status, _, refused) = scim
        .request(
            reqwest::Method::PATCH,
            &format!("/Groups/{id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "add", "path": "members", "value": [{ "value": other_ids[1].to_string() }] }],
            })),
            &[],
        )
        .await;
    assert_scim_error(status, &refused, 400, None);
    let (_, same) = scim.get(&format!("/Groups/{id}")).await;
    assert_eq!(same["members"].as_array().unwrap().len(), 2);
    // The other org sees nothing of it.
    let other = Scim {
        app,
        token: other_token,
    };
    let (status, theirs) = other.get(&format!("/Groups/{id}")).await;
    assert_scim_error(status, &theirs, 404, None);
    let (_, none) = other
        .get(&format!(
            "/Groups?filter={}",
            urlencode("displayName eq \"Sales EU\"")
        ))
        .await;
    assert_eq!(none["totalResults"], 0);
    // PUT replaces members; DELETE removes it.
    let (status, _, put) = scim
        .request(
            reqwest::Method::PUT,
            &format!("/Groups/{id}"),
            Some(json!({ "displayName": "Sales EU", "members": [] })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["members"], json!([]));
    assert!(put.get("externalId").is_none());
    let (status, _, _) = scim
        .request(reqwest::Method::DELETE, &format!("/Groups/{id}"), None, &[])
        .await;
    assert_eq!(status, 204);
    let (status, gone) = scim.get(&format!("/Groups/{id}")).await;
    assert_scim_error(status, &gone, 404, None);
}

/// `/Bulk`: operations in order, `bulkId` references resolved to what
/// earlier operations made, `failOnErrors` stopping early, and the
/// announced limit.
async fn bulk_runs_operations_in_order(app: &TestApp) {
    let (_org, token, _) = org_with_members(app, "scim-bulk").await;
    let scim = Scim { app, token };
    let request = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            { "method": "POST", "path": "/Users", "bulkId": "u1", "data": new_user("dee@scim-bulk.example", "b-1") },
            { "method": "POST", "path": "/Users", "bulkId": "u2", "data": new_user("eve@scim-bulk.example", "b-2") },
            { "method": "POST", "path": "/Groups", "bulkId": "g1", "data": {
                "displayName": "Ops", "members": [{ "value": "bulkId:u1" }, { "value": "bulkId:u2" }] } },
            { "method": "PATCH", "path": "/Users/bulkId:u2", "data": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{ "op": "replace", "path": "active", "value": false }] } },
            { "method": "POST", "path": "/Groups", "data": { "displayName": "Bad", "members": [{ "value": "bulkId:nope" }] } },
            { "method": "DELETE", "path": "/Users/bulkId:u1" },
        ],
    });
    let (status, _, answer) = scim
        .request(reqwest::Method::POST, "/Bulk", Some(request.clone()), &[])
        .await;
    assert_eq!(status, 200, "{answer}");
    let statuses: Vec<&str> = answer["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["201", "201", "201", "200", "409", "204"],
        "{answer}"
    );
    let ops = answer["Operations"].as_array().unwrap();
    assert_eq!(ops[0]["bulkId"], "u1");
    assert!(ops[0]["location"].as_str().unwrap().contains("/Users/"));
    assert!(ops[0]["version"].as_str().unwrap().starts_with("W/"));
    let group = ops[2]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let (_, ops_group) = scim.get(&format!("/Groups/{group}")).await;
    assert_eq!(
        ops_group["members"].as_array().unwrap().len(),
        1,
        "{ops_group}"
    );
    let (_, eve) = scim
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"eve@scim-bulk.example\"")
        ))
        .await;
    assert_eq!(eve["Resources"][0]["active"], false);
    assert!(
        scim.filter("userName eq \"dee@scim-bulk.example\"")
            .await
            .is_empty()
    );
    // failOnErrors: 1 stops at the first error.
    let (status, _, stopped) = scim
        .request(
            reqwest::Method::POST,
            "/Bulk",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "failOnErrors": 1,
                "Operations": [
                    { "method": "POST", "path": "/Users", "bulkId": "x", "data": { "userName": "not an email" } },
                    { "method": "POST", "path": "/Users", "bulkId": "y", "data": new_user("fay@scim-bulk.example", "b-3") },
                ],
            })),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["Operations"].as_array().unwrap().len(), 1);
    assert!(
        scim.filter("userName eq \"fay@scim-bulk.example\"")
            .await
            .is_empty()
    );
    // Over the announced limit.
    let many: Vec<Value> = (0..1001)
        .map(|_| json!({ "method": "DELETE", "path": "/Users/x" }))
        .collect();
    let (status, _, body) = scim
        .request(
            reqwest::Method::POST,
            "/Bulk",
            Some(json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": many })),
            &[],
        )
        .await;
    assert_scim_error(status, &body, 413, Some("tooMany"));
}

/// Entra's userName is the UPN, which need not be the mail: the email
/// comes from `emails`, the userName is kept beside it, found by filter and
/// unique in the org. A userName that is the email is no separate name.
/// Okta's `en_US` locale and RFC 3966 numbers are taken.
async fn user_names_apart_from_emails(app: &TestApp) {
    let (_, token, _) = org_with_members(app, "upn").await;
    let scim = Scim { app, token };
    let upn = "Alice@tenant.onmicrosoft.example";
    let alice = json!({
        "schemas": [USER],
        "userName": upn,
        "name": { "givenName": "Alice", "familyName": "Mori" },
        "emails": [{ "value": "alice@upn.example", "type": "work", "primary": true }],
        "phoneNumbers": [{ "value": "tel:+1-201-555-0123", "type": "mobile" }],
        "locale": "en_US",
    });
    let (status, _, made) = scim
        .request(reqwest::Method::POST, "/Users", Some(alice.clone()), &[])
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["userName"], upn, "{made}");
    assert_eq!(made["emails"][0]["value"], "alice@upn.example", "{made}");
    assert_eq!(made["locale"], "en-US", "{made}");
    assert_eq!(
        made["phoneNumbers"][0]["value"], "+1-201-555-0123",
        "{made}"
    );
    let id = made["id"].as_str().unwrap().to_owned();
    let alice_only = vec![id.clone()];
    assert_eq!(
        scim.filter(&format!("userName eq \"{upn}\"")).await,
        alice_only
    );
    assert_eq!(
        scim.filter("emails.value eq \"alice@upn.example\"").await,
        alice_only
    );
    assert_eq!(
        scim.filter("userName sw \"Alice@tenant\"").await,
        alice_only
    );
    assert!(
        scim.filter("userName eq \"alice@upn.example\"")
            .await
            .is_empty()
    );
    // Members without one still answer to their email.
    assert_eq!(
        scim.filter("userName eq \"ann@upn.example\"").await.len(),
        1
    );

    // The userName is unique in the org; nothing is written.
    let mut twin = alice.clone();
    twin["emails"][0]["value"] = json!("twin@upn.example");
    let mut twin_upper = twin.clone();
    let (status, _, body) = scim
        .request(reqwest::Method::POST, "/Users", Some(twin), &[])
        .await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    assert!(
        body["detail"].as_str().unwrap().contains("userName"),
        "{body}"
    );
    // Another case is the same userName.
    twin_upper["userName"] = json!(upn.to_uppercase());
    let (status, _, body) = scim
        .request(reqwest::Method::POST, "/Users", Some(twin_upper), &[])
        .await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    assert!(
        scim.filter("emails.value eq \"twin@upn.example\"")
            .await
            .is_empty()
    );
    // Sorted by userName: the name each member answers to, ignoring case.
    let (status, sorted) = scim.get("/Users?sortBy=userName&attributes=userName").await;
    assert_eq!(status, 200, "{sorted}");
    let names: Vec<String> = sorted["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_lowercase())
        .collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(names, expected);
    assert!(names.contains(&upn.to_lowercase()), "{names:?}");

    // No email at all: refused, clearly, and nothing is written.
    let nameless =
        json!({ "schemas": [USER], "userName": "bob01", "name": { "givenName": "Bob" } });
    let (status, _, body) = scim
        .request(reqwest::Method::POST, "/Users", Some(nameless), &[])
        .await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains("email"), "{body}");
    assert!(scim.filter("userName eq \"bob01\"").await.is_empty());

    // Okta's PUT with the email as userName: one name again.
    let mut put = alice.clone();
    put["userName"] = json!("alice@upn.example");
    let (status, _, body) = scim
        .request(
            reqwest::Method::PUT,
            &format!("/Users/{id}"),
            Some(put),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userName"], "alice@upn.example", "{body}");
    assert_eq!(
        scim.filter("userName eq \"alice@upn.example\"").await,
        alice_only
    );
    assert!(
        scim.filter(&format!("userName eq \"{upn}\""))
            .await
            .is_empty()
    );
}

/// The outside conformance suite, scim2-tester (pinned in
/// `.ci/scim-requirements.txt`), against this server through
/// `.ci/scim_conformance.py`: no check may end ERROR or CRITICAL. The org
/// has an admin of its own, so the suite's users may come and go.
async fn conformance_suite(app: &TestApp) {
    let python = std::env::var("ROSTER_TEST_SCIM_PYTHON")
        .expect("ROSTER_TEST_SCIM_PYTHON names a Python with .ci/scim-requirements.txt");
    let (org, _, _) = app.org_with_admin("conformance").await;
    let token = app.integration(org, "scim");
    let base = app.url("/scim/v2");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/scim_conformance.py");
    let output = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args([script, &base, &token])
            .output()
    })
    .await
    .expect("the suite's thread")
    .expect("the suite runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    println!("{stdout}");
    assert!(
        output.status.success(),
        "checks ended ERROR or CRITICAL:\n{stdout}\n{stderr}"
    );
    let closing = stdout.lines().last().unwrap_or_default();
    let passed: usize = closing
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no closing line: {stdout}\n{stderr}"));
    assert!(passed > 0, "{stdout}");
}

/// The conformance suite on each backend; without the suite's Python
/// (`ROSTER_TEST_SCIM_PYTHON`, which `.ci/run` sets up) it is ignored and
/// says so.
mod conformance {
    #[actix_web::test]
    #[cfg_attr(
        not(scim_conformance),
        ignore = "set ROSTER_TEST_SCIM_PYTHON to a Python with .ci/scim-requirements.txt"
    )]
    async fn on_sqlite() {
        let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite)
            .await
            .expect("sqlite app");
        super::conformance_suite(&app).await;
    }

    #[actix_web::test]
    #[cfg_attr(
        not(all(scim_conformance, postgres_tests)),
        ignore = "set ROSTER_TEST_SCIM_PYTHON and ROSTER_TEST_POSTGRES_URL"
    )]
    async fn on_postgres() {
        if let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await {
            super::conformance_suite(&app).await;
        }
    }
}

crate::both_backends!(
    user_names_apart_from_emails,
    bulk_runs_operations_in_order,
    groups_are_provisioned,
    discovery_and_access,
    users_are_read_and_filtered,
    users_stay_in_their_org,
    users_are_written,
    if_match_guards_writes,
    the_last_admin_stays,
);
