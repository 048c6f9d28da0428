//! What the load scenarios send, and how each good answer looks.

use serde_json::{Value, json};

use crate::dataset::EMAIL_DOMAIN;

/// One load scenario: a request wrk repeats, with placeholders `{n}` (a
/// random member of the large org) and `{u}` (unique within the run).
#[derive(Debug, Clone)]
pub struct Load {
    pub name: &'static str,
    pub path: &'static str,
    /// `None`: a plain GET.
    pub body: Option<String>,
    pub token: Option<String>,
    pub range: usize,
    /// Text every good response holds.
    pub expect: Option<String>,
}

fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

/// B0: a static route of the same actix-web server.
pub fn static_route() -> Load {
    Load {
        name: "B0 static route (GET /healthz)",
        path: "/healthz",
        body: None,
        token: None,
        range: 1,
        expect: None,
    }
}

/// B1: the smallest GraphQL request, authenticated.
pub fn typename(token: &str) -> Load {
    Load {
        name: "B1 {__typename} with auth",
        path: "/graphql",
        body: Some(body("{ __typename }", json!({}))),
        token: Some(token.into()),
        range: 1,
        expect: Some(r#""__typename":"Query""#.into()),
    }
}

pub fn find_user_by_email(token: &str, big_org: usize) -> Load {
    Load {
        name: "findUserBy(email)",
        path: "/graphql",
        body: Some(body(
            "query($e: String) { findUserBy(email: $e) { id email name role status externalId } }",
            json!({ "e": format!("u{{n}}@{EMAIL_DOMAIN}") }),
        )),
        token: Some(token.into()),
        range: big_org,
        expect: Some(format!("@{EMAIL_DOMAIN}\"")),
    }
}

pub fn user_by_external_id(token: &str, big_org: usize) -> Load {
    Load {
        name: "user(externalId)",
        path: "/graphql",
        body: Some(body(
            "query($x: String) { user(externalId: $x) { id email name role status externalId attributes groups { id name role } } }",
            json!({ "x": "e{n}" }),
        )),
        token: Some(token.into()),
        range: big_org,
        expect: Some(r#""externalId":"e"#.into()),
    }
}

/// A page of 50 members with their groups, from `after` (or the start).
pub fn members_page(name: &'static str, token: &str, after: Option<&str>) -> Load {
    Load {
        name,
        path: "/graphql",
        body: Some(body(
            "query($after: String) { members(first: 50, after: $after) { edges { cursor node { id name email role status groups { id name } } } pageInfo { hasNextPage endCursor } } }",
            json!({ "after": after }),
        )),
        token: Some(token.into()),
        range: 1,
        expect: Some(r#""hasNextPage":true"#.into()),
    }
}

/// The createUser scenario's name: the one run with a webhook endpoint
/// on its org (see `webhooks`).
pub const CREATE_USER: &str = "createUser";

pub fn create_user(token: &str) -> Load {
    Load {
        name: CREATE_USER,
        path: "/graphql",
        body: Some(body(
            r#"mutation($e: String!) { createUser(email: $e, first: "New", last: "Hire") { id result errorCode } }"#,
            json!({ "e": "new-{u}@writes.example" }),
        )),
        token: Some(token.into()),
        range: 1,
        expect: Some(r#""result":"created""#.into()),
    }
}

/// A page of 50 of the org's events (the audit log), from the start.
pub fn events_page(token: &str) -> Load {
    Load {
        name: "events page (50)",
        path: "/graphql",
        body: Some(body(
            "{ events(first: 50) { edges { node { id position type occurredAt actor { sub } target { id } changes } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )),
        token: Some(token.into()),
        range: 1,
        expect: Some(r#""type":"member.created""#.into()),
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

/// The records of the 10,000-record sync.
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

pub const SYNC_MUTATION: &str = "mutation($r: [SyncRecord!]!) { syncMembers(records: $r) { written counts { created updated unchanged failed } } }";
