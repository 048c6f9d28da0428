//! What the load scenarios send, and how each good answer looks.

use serde_json::{Value, json};

use crate::dataset::EMAIL_DOMAIN;

/// One load scenario: a request wrk repeats, with placeholders `{n}` (a
/// random member of the large org) and `{u}` (unique within the run) in
/// its body and its path.
#[derive(Debug, Clone)]
pub struct Load {
    pub name: &'static str,
    /// The path and query, URL-encoded.
    pub path: String,
    /// `None`: a plain GET.
    pub body: Option<String>,
    /// The body's Content-Type, also sent as Accept; `None`:
    /// `application/json` with a body, no Accept on a GET.
    pub media: Option<&'static str>,
    pub token: Option<String>,
    pub range: usize,
    /// Text every good response holds.
    pub expect: Option<String>,
    /// How many times at least `expect` is in a good response.
    pub expect_count: usize,
    /// Operations one request carries (1 but for SCIM /Bulk), for the
    /// operations/s figure.
    pub operations: usize,
}

impl Load {
    /// A GraphQL request (a POST to `/graphql`).
    fn graphql(name: &'static str, body: String, token: &str, range: usize, expect: &str) -> Self {
        Self {
            name,
            path: "/graphql".into(),
            body: Some(body),
            media: None,
            token: Some(token.into()),
            range,
            expect: Some(expect.into()),
            expect_count: 1,
            operations: 1,
        }
    }
}

fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// B0's name: the one scenario measured at full load only (its rate is
/// beyond what the open-loop driver sends from one core).
pub const STATIC_ROUTE: &str = "B0 static route (GET /healthz)";

/// B0: a static route of the same actix-web server.
pub fn static_route() -> Load {
    Load {
        name: STATIC_ROUTE,
        path: "/healthz".into(),
        body: None,
        media: None,
        token: None,
        range: 1,
        expect: None,
        expect_count: 1,
        operations: 1,
    }
}

/// B1: the smallest GraphQL request, authenticated.
pub fn typename(token: &str) -> Load {
    Load::graphql(
        "B1 {__typename} with auth",
        body("{ __typename }", json!({})),
        token,
        1,
        r#""__typename":"Query""#,
    )
}

pub fn find_user_by_email(token: &str, big_org: usize) -> Load {
    Load::graphql(
        "findUserBy(email)",
        body(
            "query($e: String) { findUserBy(email: $e) { id email name role status externalId } }",
            json!({ "e": format!("u{{n}}@{EMAIL_DOMAIN}") }),
        ),
        token,
        big_org,
        &format!("@{EMAIL_DOMAIN}\""),
    )
}

pub fn user_by_external_id(token: &str, big_org: usize) -> Load {
    Load::graphql(
        "user(externalId)",
        body(
            "query($x: String) { user(externalId: $x) { id email name role status externalId attributes groups { id name role } } }",
            json!({ "x": "e{n}" }),
        ),
        token,
        big_org,
        r#""externalId":"e"#,
    )
}

/// A page of 50 members with their groups, from `after` (or the start).
pub fn members_page(name: &'static str, token: &str, after: Option<&str>) -> Load {
    Load::graphql(
        name,
        body(
            "query($after: String) { members(first: 50, after: $after) { edges { cursor node { id name email role status groups { id name } } } pageInfo { hasNextPage endCursor } } }",
            json!({ "after": after }),
        ),
        token,
        1,
        r#""hasNextPage":true"#,
    )
}

/// A page of 50 members with their groups after `after`, for the depth
/// runs: good when it holds 50 members (the last page of the large org
/// may say `hasNextPage: false`).
pub fn members_page_at(token: &str, after: Option<&str>) -> Load {
    let mut load = members_page("members page at depth", token, after);
    load.expect = Some(r#""cursor":"#.into());
    load.expect_count = 50;
    load
}

/// The createUser scenario's name: the one run with a webhook endpoint
/// on its org (see `webhooks`).
pub const CREATE_USER: &str = "createUser";

pub fn create_user(token: &str) -> Load {
    Load::graphql(
        CREATE_USER,
        body(
            r#"mutation($e: String!) { createUser(email: $e, first: "New", last: "Hire") { id result errorCode } }"#,
            json!({ "e": "new-{u}@writes.example" }),
        ),
        token,
        1,
        r#""result":"created""#,
    )
}

/// A page of 50 of the org's events (the audit log), from the start.
pub fn events_page(token: &str) -> Load {
    Load::graphql(
        "events page (50)",
        body(
            "{ events(first: 50) { edges { node { id position type occurredAt actor { sub } target { id } changes } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        ),
        token,
        1,
        r#""type":"member.created""#,
    )
}

/// SCIM's media type, sent as Content-Type and Accept.
const SCIM_JSON: &str = "application/scim+json";

/// The SCIM filter scenario's name.
pub const SCIM_FILTER: &str = "SCIM GET /Users?filter=userName eq …";

/// How an identity provider finds a user: `GET /scim/v2/Users` with a
/// `userName eq` filter on a random member of the large org; `token` is a
/// `scim` token of that org.
pub fn scim_filter_user(token: &str, big_org: usize) -> Load {
    Load {
        name: SCIM_FILTER,
        // filter=userName eq "u{n}@<domain>", URL-encoded.
        path: format!("/scim/v2/Users?filter=userName%20eq%20%22u{{n}}%40{EMAIL_DOMAIN}%22"),
        body: None,
        media: Some(SCIM_JSON),
        token: Some(token.into()),
        range: big_org,
        expect: Some(r#""totalResults":1"#.into()),
        expect_count: 1,
        operations: 1,
    }
}

/// Operations in each request of the SCIM bulk scenario.
pub const BULK_OPERATIONS: usize = 100;

/// The SCIM bulk scenario's name.
pub const SCIM_BULK: &str = "SCIM /Bulk (100 operations)";

/// `POST /scim/v2/Bulk` of `BULK_OPERATIONS` `POST /Users`, each a new
/// userName (unique per request through `{u}`). Good when every operation
/// answered 201: `"status":"201"` is in the answer once per operation (a
/// failed operation has its 4xx or 5xx status there instead).
pub fn scim_bulk(token: &str) -> Load {
    let operations: Vec<Value> = (0..BULK_OPERATIONS)
        .map(|k| {
            json!({
                "method": "POST",
                "path": "/Users",
                "bulkId": format!("b{k}"),
                "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("bulk-{{u}}-{k}@bulk.example"),
                    "name": { "givenName": "Bulk", "familyName": format!("Hire {k}") },
                },
            })
        })
        .collect();
    Load {
        name: SCIM_BULK,
        path: "/scim/v2/Bulk".into(),
        body: Some(
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": operations,
            })
            .to_string(),
        ),
        media: Some(SCIM_JSON),
        token: Some(token.into()),
        range: 1,
        expect: Some(r#""status":"201""#.into()),
        expect_count: BULK_OPERATIONS,
        operations: BULK_OPERATIONS,
    }
}

/// The email of sync record `i` in a run.
pub fn sync_email(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i}@sync.example")
}

/// The groups (of "Team 0" to "Team 9") sync record `i` is in: 0-2.
pub fn sync_groups(i: usize) -> Vec<usize> {
    (0..i % 3).map(|k| (i + k) % 10).collect()
}

/// The records of a sync of `count` records.
pub fn sync_records(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let h = crate::dataset::mix(i as u64);
            let first = ["Ann", "Bo", "Chen", "Dara", "Eli"][(h % 5) as usize];
            let last = ["Lee", "Okafor", "Novak", "Silva"][((h >> 8) % 4) as usize];
            json!({
                "email": sync_email(prefix, i),
                "externalId": format!("s{i}"),
                "firstName": first,
                "lastName": last,
                "role": "USER",
                "attributes": { "dept": format!("d{}", i % 20) },
                "groups": sync_groups(i).iter().map(|g| format!("Team {g}")).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// The request body of a sync of `count` records.
pub fn sync_body(prefix: &str, count: usize) -> String {
    json!({ "query": SYNC_MUTATION, "variables": { "r": sync_records(prefix, count) } }).to_string()
}

pub const SYNC_MUTATION: &str = "mutation($r: [SyncRecord!]!) { syncMembers(records: $r) { written counts { created updated unchanged failed } } }";
