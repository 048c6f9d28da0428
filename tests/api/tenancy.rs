//! Tenant isolation (docs/security.md): a tenant token never reaches another org,
//! and reveals nothing of it.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// A mutation selecting the whole `MutationResult` under the alias `r`.
pub(crate) fn mutation(field: &str, args: &str) -> String {
    format!("mutation {{ r: {field}({args}) {{ {RESULT} }} }}")
}

/// Runs a request that must be refused with FORBIDDEN: exactly one error,
/// with that code, and no data for `field`. Returns the whole body.
pub(crate) async fn forbidden(app: &TestApp, token: &str, query: &str, field: &str) -> Value {
    let body = app.gql(token, query, json!({})).await;
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected FORBIDDEN for {query}; got {body}"));
    assert_eq!(errors.len(), 1, "{query}: {body}");
    assert_eq!(
        errors[0]["extensions"]["code"], "FORBIDDEN",
        "{query}: {body}"
    );
    assert!(
        body["data"][field].is_null(),
        "{query} returned data: {body}"
    );
    body
}

/// A mutation that must come back as `failed` with NOT_FOUND.
pub(crate) async fn not_found(app: &TestApp, token: &str, field: &str, args: &str) -> Value {
    let result = app.mutate(token, field, args).await;
    assert_failed(&result, "NOT_FOUND");
    assert!(result["id"].is_null(), "{field}({args}): {result}");
    result
}

/// Fails when `body` mentions any of `secrets` (ignoring case).
pub(crate) fn assert_reveals_none(body: &Value, secrets: &[&str], what: &str) {
    let text = body.to_string().to_lowercase();
    for secret in secrets {
        assert!(
            !text.contains(&secret.to_lowercase()),
            "{what} reveals {secret:?}: {body}"
        );
    }
}

/// What the operator sees of `org`: the membership of each of `emails` in
/// it, its group memberships, its groups and the org itself.
pub(crate) async fn snapshot(app: &TestApp, org: Uuid, emails: &[&str]) -> Value {
    let op = app.operator();
    let mut members = serde_json::Map::new();
    for email in emails {
        let query = format!(
            "{{ findUserBy(org: \"{org}\", email: \"{email}\") {{ id email firstName lastName name \
             mobile updatedAt orgId role status externalId managed }} }}"
        );
        let data = app.data(&op, &query, json!({})).await;
        members.insert((*email).to_owned(), data["findUserBy"].clone());
    }
    let query = format!(
        "{{ groups(org: \"{org}\", first: 500) {{ totalCount edges {{ node {{ id name description updatedAt }} }} }} \
         org(id: \"{org}\") {{ id slug name status updatedAt }} }}"
    );
    let data = app.data(&op, &query, json!({})).await;
    json!({
        "members": members,
        "groupUsers": app.group_users(org, "").await,
        "groups": data["groups"],
        "org": data["org"],
    })
}

/// Every operation of the core API and of orgs and groups aimed at org B by org A's admin and by its
/// all-scope integration: naming B is FORBIDDEN; using B's ids under A's
/// own org is NOT_FOUND (or empty); B is untouched and nothing of B leaks.
async fn cross_tenant_matrix(app: &TestApp) {
    let (a, _a_admin, a_admin_token) = app.org_with_admin("acme").await;
    let a_member = app.create_member(a, "alice@acme.example", "user").await;
    let a_group = app.create_group(a, "Acme Team").await;
    let added = app
        .mutate(
            &app.operator(),
            "addGroupMembership",
            &format!("org: \"{a}\", userId: \"{a_member}\", groupId: \"{a_group}\""),
        )
        .await;
    assert_eq!(added["result"], "created", "{added}");

    let (b, b_admin, _b_admin_token) = app.org_with_admin("zenith").await;
    let b_member = app.create_member(b, "carol@zenith.example", "user").await;
    let b_group = app.create_group(b, "Secret Squad").await;
    let added = app
        .mutate(
            &app.operator(),
            "addGroupMembership",
            &format!("org: \"{b}\", userId: \"{b_member}\", groupId: \"{b_group}\""),
        )
        .await;
    assert_eq!(added["result"], "created", "{added}");
    let b_member_email = "carol@zenith.example";
    let b_admin_email = "admin@zenith.example";

    // Every email any call below could plant in either org.
    let emails = [
        "admin@acme.example",
        "alice@acme.example",
        b_admin_email,
        b_member_email,
        "intruder@acme.example",
    ];
    let a_before = snapshot(app, a, &emails).await;
    let b_before = snapshot(app, b, &emails).await;
    // The snapshot sees what it must (else comparing it proves nothing).
    assert_eq!(
        b_before["members"][b_member_email][0]["id"],
        b_member.to_string()
    );
    assert_eq!(
        b_before["members"][b_admin_email][0]["id"],
        b_admin.to_string()
    );
    assert_eq!(
        b_before["groupUsers"].as_array().map(Vec::len),
        Some(1),
        "{b_before}"
    );
    assert_eq!(
        b_before["groups"]["edges"][0]["node"]["name"],
        "Secret Squad"
    );
    assert_eq!(b_before["org"]["slug"], "zenith");
    assert_eq!(a_before["members"][b_member_email], json!([]));

    // Nothing of B may show in any answer: its slug (also in its name),
    // emails and group name.
    let secrets = ["zenith", "carol", "Secret Squad"];
    let random = Uuid::now_v7();
    let tokens = [
        ("admin", a_admin_token.clone()),
        ("integration", app.integration(a, ALL_SCOPES)),
    ];
    for (who, token) in &tokens {
        // Naming org B: FORBIDDEN.
        let refused = [
            (
                format!(
                    "{{ findUserBy(org: \"{b}\", email: \"{b_member_email}\") {{ id email externalId }} }}"
                ),
                "findUserBy",
            ),
            (
                format!("{{ groupUsers(org: \"{b}\") {{ userId groupId userName }} }}"),
                "groupUsers",
            ),
            (
                format!(
                    "{{ groupUsers(org: \"{b}\", groupId: \"{b_group}\") {{ userId userName }} }}"
                ),
                "groupUsers",
            ),
            (
                mutation(
                    "createUser",
                    &format!(
                        "org: \"{b}\", email: \"intruder@acme.example\", first: \"In\", last: \"Truder\""
                    ),
                ),
                "r",
            ),
            (
                mutation(
                    "addOrgMember",
                    &format!("orgId: \"{b}\", userId: \"{a_member}\""),
                ),
                "r",
            ),
            (
                mutation(
                    "addOrgMember",
                    &format!("org: \"{b}\", userId: \"{a_member}\""),
                ),
                "r",
            ),
            (
                mutation(
                    "addUserToOrg",
                    &format!("orgId: \"{b}\", userId: \"{a_member}\""),
                ),
                "r",
            ),
            (
                mutation(
                    "updateMember",
                    &format!("org: \"{b}\", userId: \"{b_member}\", status: \"retired\""),
                ),
                "r",
            ),
            (
                mutation(
                    "updateMember",
                    &format!(
                        "org: \"{b}\", userId: \"{b_admin}\", role: \"user\", externalId: \"x\""
                    ),
                ),
                "r",
            ),
            (
                mutation(
                    "addGroupMembership",
                    &format!("org: \"{b}\", groupId: \"{b_group}\", userId: \"{b_admin}\""),
                ),
                "r",
            ),
            (
                mutation(
                    "removeGroupMembership",
                    &format!("org: \"{b}\", groupId: \"{b_group}\", userId: \"{b_member}\""),
                ),
                "r",
            ),
            (
                mutation("createGroup", &format!("org: \"{b}\", name: \"Intruders\"")),
                "r",
            ),
            (
                mutation(
                    "updateGroup",
                    &format!("org: \"{b}\", id: \"{b_group}\", name: \"x\""),
                ),
                "r",
            ),
            (
                mutation("deleteGroup", &format!("org: \"{b}\", id: \"{b_group}\"")),
                "r",
            ),
            (
                format!("{{ group(org: \"{b}\", id: \"{b_group}\") {{ id name }} }}"),
                "group",
            ),
            (
                format!("{{ groups(org: \"{b}\") {{ edges {{ node {{ id name }} }} }} }}"),
                "groups",
            ),
            (format!("{{ org(id: \"{b}\") {{ id slug name }} }}"), "org"),
            (
                "{ org(slug: \"zenith\") { id slug name } }".to_owned(),
                "org",
            ),
            // An org that does not exist looks exactly like one that does.
            (
                format!("{{ org(id: \"{random}\") {{ id slug name }} }}"),
                "org",
            ),
            (
                "{ org(slug: \"no-such-org\") { id slug name } }".to_owned(),
                "org",
            ),
            (
                "{ orgs { edges { node { id slug name } } } }".to_owned(),
                "orgs",
            ),
            (mutation("createOrg", "name: \"Mine\", slug: \"mine\""), "r"),
            (
                mutation("updateOrg", &format!("id: \"{b}\", name: \"Taken Over\"")),
                "r",
            ),
            (
                mutation("updateOrg", &format!("id: \"{b}\", status: \"suspended\"")),
                "r",
            ),
            // Org provisioning is for operators, even on one's own org.
            (
                mutation("updateOrg", &format!("id: \"{a}\", name: \"Renamed\"")),
                "r",
            ),
        ];
        // The `org` refusals, by id or slug, existing or not.
        let mut org_refusals = Vec::new();
        for (query, field) in &refused {
            let body = forbidden(app, token, query, field).await;
            assert_reveals_none(&body, &secrets, &format!("{who}: {query}"));
            if *field == "org" {
                org_refusals.push(body["errors"][0]["message"].clone());
            }
        }
        // Whether or not the org exists, the refusal reads the same.
        assert_eq!(org_refusals.len(), 4, "{who}");
        assert!(
            org_refusals.iter().all(|m| *m == org_refusals[0]),
            "{who}: {org_refusals:?}"
        );

        // B's ids under A's own org (implicit, then explicit): NOT_FOUND.
        for org_arg in [String::new(), format!("org: \"{a}\", ")] {
            let calls = [
                ("addOrgMember", format!("{org_arg}userId: \"{b_member}\"")),
                (
                    "addOrgMember",
                    format!("orgId: \"{a}\", userId: \"{b_admin}\", role: \"admin\""),
                ),
                ("addUserToOrg", format!("{org_arg}userId: \"{b_member}\"")),
                (
                    "updateMember",
                    format!("{org_arg}userId: \"{b_member}\", status: \"retired\""),
                ),
                (
                    "updateMember",
                    format!("{org_arg}userId: \"{b_admin}\", externalId: \"x-1\""),
                ),
                (
                    "addGroupMembership",
                    format!("{org_arg}groupId: \"{b_group}\", userId: \"{a_member}\""),
                ),
                (
                    "addGroupMembership",
                    format!("{org_arg}groupId: \"{a_group}\", userId: \"{b_member}\""),
                ),
                (
                    "removeGroupMembership",
                    format!("{org_arg}groupId: \"{b_group}\", userId: \"{b_member}\""),
                ),
                (
                    "updateGroup",
                    format!("{org_arg}id: \"{b_group}\", name: \"x\""),
                ),
                ("deleteGroup", format!("{org_arg}id: \"{b_group}\"")),
            ];
            for (field, args) in &calls {
                let result = not_found(app, token, field, args).await;
                assert_reveals_none(&result, &secrets, &format!("{who}: {field}({args})"));
            }

            let query = format!(
                "{{ byMember: findUserBy({org_arg}email: \"{b_member_email}\") {{ id }} \
                 byAdmin: findUserBy({org_arg}email: \"{b_admin_email}\") {{ id }} \
                 group(id: \"{b_group}\") {{ id name }} \
                 rows: groupUsers({org_arg}userId: \"{b_member}\") {{ userId groupId }} }}"
            );
            let data = app.data(token, &query, json!({})).await;
            assert_eq!(
                data,
                json!({ "byMember": [], "byAdmin": [], "group": null, "rows": [] }),
                "{who}"
            );

            let query =
                format!("{{ groupUsers({org_arg}groupId: \"{b_group}\") {{ userId userName }} }}");
            let body = app.gql(token, &query, json!({})).await;
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "NOT_FOUND",
                "{who}: {body}"
            );
            assert!(body["data"]["groupUsers"].is_null(), "{who}: {body}");
            assert_reveals_none(&body, &secrets, &format!("{who}: {query}"));
        }
    }

    // Neither org changed.
    assert_eq!(snapshot(app, b, &emails).await, b_before, "org B changed");
    assert_eq!(snapshot(app, a, &emails).await, a_before, "org A changed");
    // The intruder's email was not created anywhere.
    let data = app
        .data(
            &app.operator(),
            "{ findUserBy(email: \"intruder@acme.example\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(data["findUserBy"], json!([]));
}

crate::both_backends!(cross_tenant_matrix);
