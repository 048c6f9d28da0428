//! Scopes and org scoping (README, "Tokens"): integrations are held to their
//! scopes, tenants see only their own members, and operators must name the
//! org they act on.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::tenancy::{forbidden, mutation, snapshot};

/// An integration may do only what its scopes grant; what it is refused
/// writes nothing.
async fn scopes_limit_integrations(app: &TestApp) {
    let (a, _admin, _admin_token) = app.org_with_admin("acme").await;
    let member = app.create_member(a, "mia@acme.example", "user").await;
    let team = app.create_group(a, "Team").await;
    let other = app.create_org("other").await;
    let outsider = app.create_member(other, "otto@other.example", "user").await;

    let members_read = app.integration(a, "members:read");
    let groups_rw = app.integration(a, "groups:read groups:write");
    let groups_read = app.integration(a, "groups:read");
    let members_rw = app.integration(a, "members:read members:write");
    let empty_scope = app.integration(a, "");
    let no_scope_claim = sign(&claims("integration", Some(a), None, "hr-sync"));

    // members:read can search members.
    let data = app
        .data(
            &members_read,
            "{ findUserBy(email: \"mia@acme.example\") { id status } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["findUserBy"],
        json!([{ "id": member.to_string(), "status": "active" }])
    );

    let emails = [
        "admin@acme.example",
        "mia@acme.example",
        "otto@other.example",
        "new@acme.example",
    ];
    let before = snapshot(app, a, &emails).await;
    assert_eq!(before["groups"]["totalCount"], 1, "{before}");

    let find = "{ findUserBy(email: \"mia@acme.example\") { id } }".to_owned();
    let create_user = mutation(
        "createUser",
        "email: \"new@acme.example\", first: \"New\", last: \"Person\"",
    );
    let update_member = mutation(
        "updateMember",
        &format!("userId: \"{member}\", status: \"retired\""),
    );
    let add_org_member = mutation("addOrgMember", &format!("userId: \"{outsider}\""));
    let group_users = format!("{{ groupUsers(groupId: \"{team}\") {{ userId }} }}");
    let groups = "{ groups { edges { node { id name } } } }".to_owned();
    let group = format!("{{ group(id: \"{team}\") {{ id name }} }}");
    let create_group = mutation("createGroup", "name: \"Made By Sync\"");
    let update_group = mutation("updateGroup", &format!("id: \"{team}\", name: \"Renamed\""));
    let delete_group = mutation("deleteGroup", &format!("id: \"{team}\""));
    let add_to_group = mutation(
        "addGroupMembership",
        &format!("userId: \"{member}\", groupId: \"{team}\""),
    );
    let remove_from_group = mutation(
        "removeGroupMembership",
        &format!("userId: \"{member}\", groupId: \"{team}\""),
    );
    // Putting the new user in a group needs groups:write as well.
    let create_user_in_group = mutation(
        "createUser",
        &format!(
            "email: \"new@acme.example\", first: \"New\", last: \"Person\", groupId: \"{team}\""
        ),
    );

    let member_writes = [
        (&create_user, "r"),
        (&update_member, "r"),
        (&add_org_member, "r"),
    ];
    let group_reads = [
        (&group_users, "groupUsers"),
        (&groups, "groups"),
        (&group, "group"),
    ];
    let group_writes = [
        (&create_group, "r"),
        (&update_group, "r"),
        (&delete_group, "r"),
        (&add_to_group, "r"),
        (&remove_from_group, "r"),
    ];

    let mut refusals: Vec<(&str, &String, &str)> = Vec::new();
    for (query, field) in member_writes
        .iter()
        .chain(&group_reads)
        .chain(&group_writes)
    {
        refusals.push((&members_read, query, field));
    }
    for (query, field) in [(&find, "findUserBy")].iter().chain(&member_writes) {
        refusals.push((&groups_rw, query, field));
    }
    for (query, field) in &group_writes {
        refusals.push((&groups_read, query, field));
    }
    refusals.push((&members_rw, &create_user_in_group, "r"));
    for token in [&empty_scope, &no_scope_claim] {
        for (query, field) in [(&find, "findUserBy")]
            .iter()
            .chain(&member_writes)
            .chain(&group_reads)
            .chain(&group_writes)
            .chain(&[(&create_user_in_group, "r")])
        {
            refusals.push((token, query, field));
        }
    }
    for (token, query, field) in refusals {
        let body = forbidden(app, token, query, field).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("scope"),
            "the refusal should name the missing scope: {body}"
        );
    }
    assert_eq!(
        snapshot(app, a, &emails).await,
        before,
        "a refused call wrote something"
    );

    // What the scopes do grant works.
    let data = app.data(&groups_read, &group_users, json!({})).await;
    assert_eq!(data["groupUsers"], json!([]));
    let created = app
        .mutate(&groups_rw, "createGroup", "name: \"Made By Sync\"")
        .await;
    assert_eq!(created["result"], "created", "{created}");
    let added = app
        .mutate(
            &groups_rw,
            "addGroupMembership",
            &format!("userId: \"{member}\", groupId: \"{team}\""),
        )
        .await;
    assert_eq!(added["result"], "created", "{added}");
    let data = app.data(&groups_rw, &group_users, json!({})).await;
    assert_eq!(
        data["groupUsers"][0]["userId"],
        member.to_string(),
        "{data}"
    );
    let data = app.data(&groups_rw, &groups, json!({})).await;
    assert_eq!(
        data["groups"]["edges"].as_array().map(Vec::len),
        Some(2),
        "{data}"
    );
    let created = app
        .mutate(
            &members_rw,
            "createUser",
            "email: \"new@acme.example\", first: \"New\", last: \"Person\"",
        )
        .await;
    assert_eq!(created["result"], "created", "{created}");
}

/// A user in two orgs shows each org only its own membership; a user of
/// another org cannot be found by any key.
async fn tenant_sees_only_its_own_members(app: &TestApp) {
    let op = app.operator();
    let (a, _a_admin, a_token) = app.org_with_admin("acme").await;
    let (b, _b_admin, b_token) = app.org_with_admin("zenith").await;

    let created = app
        .mutate(
            &a_token,
            "createUser",
            "email: \"Dana@Shared.example\", first: \"Dana\", last: \"Sharedname\", \
             mobile: \"+31 6 1111 2222\", externalId: \"a-1\"",
        )
        .await;
    assert_eq!(created["result"], "created", "{created}");
    let dana = id_of(&created);
    let added = app
        .mutate(
            &op,
            "addOrgMember",
            &format!("orgId: \"{b}\", userId: \"{dana}\", externalId: \"b-1\""),
        )
        .await;
    assert_eq!(added["result"], "created", "{added}");

    let eve = id_of(
        &app.mutate(
            &op,
            "createUser",
            &format!(
                "org: \"{b}\", email: \"eve@zenith.example\", first: \"Evelyn\", last: \"Quartzite\", \
                 mobile: \"+44 7700 900123\", externalId: \"b-2\""
            ),
        )
        .await,
    );

    let find = |criterion: &str| {
        format!("{{ findUserBy({criterion}) {{ id email orgId role status externalId managed }} }}")
    };
    let rows = |data: Value| data["findUserBy"].as_array().cloned().unwrap_or_default();

    // Each org sees its own membership of Dana.
    let seen_by_a = rows(
        app.data(&a_token, &find("email: \"dana@shared.EXAMPLE\""), json!({}))
            .await,
    );
    assert_eq!(
        seen_by_a,
        vec![json!({
            "id": dana.to_string(), "email": "dana@shared.example", "orgId": a.to_string(),
            "role": "user", "status": "active", "externalId": "a-1", "managed": true,
        })]
    );
    let seen_by_b = rows(
        app.data(&b_token, &find("email: \"dana@shared.example\""), json!({}))
            .await,
    );
    assert_eq!(
        seen_by_b,
        vec![json!({
            "id": dana.to_string(), "email": "dana@shared.example", "orgId": b.to_string(),
            "role": "user", "status": "active", "externalId": "b-1", "managed": false,
        })]
    );

    // externalIds are per org.
    for (token, own, foreign) in [(&a_token, "a-1", "b-1"), (&b_token, "b-1", "a-1")] {
        let own_rows = rows(
            app.data(token, &find(&format!("externalId: \"{own}\"")), json!({}))
                .await,
        );
        assert_eq!(own_rows.len(), 1, "{own}");
        assert_eq!(own_rows[0]["id"], dana.to_string());
        let foreign_rows = rows(
            app.data(
                token,
                &find(&format!("externalId: \"{foreign}\"")),
                json!({}),
            )
            .await,
        );
        assert_eq!(
            foreign_rows,
            Vec::<Value>::new(),
            "{foreign} found from the wrong org"
        );
    }

    // B retiring Dana changes B's membership only.
    let retired = app
        .mutate(
            &b_token,
            "updateMember",
            &format!("userId: \"{dana}\", status: \"retired\""),
        )
        .await;
    assert_eq!(retired["result"], "updated", "{retired}");
    let seen_by_a = rows(
        app.data(&a_token, &find("email: \"dana@shared.example\""), json!({}))
            .await,
    );
    assert_eq!(seen_by_a[0]["status"], "active", "{seen_by_a:?}");
    let seen_by_b = rows(
        app.data(&b_token, &find("email: \"dana@shared.example\""), json!({}))
            .await,
    );
    assert_eq!(seen_by_b[0]["status"], "retired", "{seen_by_b:?}");

    // Eve, only in B: B finds her by every key, A by none.
    let a_integration = app.integration(a, "members:read");
    for criterion in [
        "email: \"eve@zenith.example\"",
        "mobile: \"+447700900123\"",
        "mobile: \"+44 7700 900123\"",
        "name: \"quartz\"",
        "name: \"Evelyn\"",
        "externalId: \"b-2\"",
    ] {
        let in_b = rows(app.data(&b_token, &find(criterion), json!({})).await);
        assert_eq!(in_b.len(), 1, "{criterion}: {in_b:?}");
        assert_eq!(in_b[0]["id"], eve.to_string(), "{criterion}");
        for token in [&a_token, &a_integration] {
            let in_a = rows(app.data(token, &find(criterion), json!({})).await);
            assert_eq!(
                in_a,
                Vec::<Value>::new(),
                "{criterion} found B's user from A"
            );
        }
    }

    // A name search in A matches A's members only, though B has matches too.
    let quinn = app
        .mutate(
            &op,
            "createUser",
            &format!(
                "org: \"{a}\", email: \"quinn@acme.example\", first: \"Quinn\", last: \"Quartzite\""
            ),
        )
        .await;
    let quinn = id_of(&quinn);
    let in_a = rows(
        app.data(&a_token, &find("name: \"QUARTZ\""), json!({}))
            .await,
    );
    assert_eq!(in_a.len(), 1, "{in_a:?}");
    assert_eq!(in_a[0]["id"], quinn.to_string());
    let in_a = rows(
        app.data(&a_token, &find("name: \"first last\""), json!({}))
            .await,
    );
    assert_eq!(in_a.len(), 1, "only A's admin: {in_a:?}");
    assert_eq!(in_a[0]["email"], "admin@acme.example");
}

/// An operator has no org of its own: writes must name one; `findUserBy`
/// without one searches all users, but not by the per-org externalId.
async fn operator_must_name_org(app: &TestApp) {
    let op = app.operator();
    let b = app.create_org("zenith").await;
    let carol = app.create_member(b, "carol@zenith.example", "user").await;
    let group = app.create_group(b, "Crew").await;
    let set = app
        .mutate(
            &op,
            "updateMember",
            &format!("org: \"{b}\", userId: \"{carol}\", externalId: \"b-1\""),
        )
        .await;
    assert_eq!(set["result"], "updated", "{set}");

    // Writes without an org: failed INVALID_INPUT, nothing written.
    let failed = app
        .mutate(
            &op,
            "createUser",
            "email: \"orphan@nowhere.example\", first: \"Or\", last: \"Phan\"",
        )
        .await;
    assert_failed(&failed, "INVALID_INPUT");
    assert!(
        failed["error"].as_str().unwrap_or_default().contains("org"),
        "{failed}"
    );
    for (field, args) in [
        ("addOrgMember", format!("userId: \"{carol}\"")),
        (
            "updateMember",
            format!("userId: \"{carol}\", status: \"retired\""),
        ),
        ("createGroup", "name: \"Floating\"".to_owned()),
        (
            "addGroupMembership",
            format!("userId: \"{carol}\", groupId: \"{group}\""),
        ),
    ] {
        let failed = app.mutate(&op, field, &args).await;
        assert_failed(&failed, "INVALID_INPUT");
    }
    let data = app
        .data(
            &op,
            "{ findUserBy(email: \"orphan@nowhere.example\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["findUserBy"],
        json!([]),
        "the failed createUser wrote a user"
    );
    let in_b = app.find(b, "email: \"carol@zenith.example\"").await;
    assert_eq!(in_b[0]["status"], "active");
    // Reads that list an org's content need it too.
    for query in [
        "{ groups { edges { node { id } } } }",
        "{ groupUsers { userId } }",
    ] {
        assert_eq!(
            app.error_code(&op, query, json!({})).await,
            "INVALID_INPUT",
            "{query}"
        );
    }

    // findUserBy without org searches every org; there is no membership to
    // show.
    let data = app
        .data(
            &op,
            "{ findUserBy(email: \"CAROL@zenith.example\") { id email orgId role status externalId managed } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["findUserBy"],
        json!([{
            "id": carol.to_string(), "email": "carol@zenith.example", "orgId": null,
            "role": null, "status": null, "externalId": null, "managed": null,
        }])
    );
    // With the org, the membership is there.
    let in_b = app.find(b, "externalId: \"b-1\"").await;
    assert_eq!(in_b.len(), 1);
    assert_eq!(
        (in_b[0]["id"].as_str(), in_b[0]["externalId"].as_str()),
        (Some(&*carol.to_string()), Some("b-1"))
    );

    // externalId is only unique within an org: without one it is refused.
    let body = app
        .gql(&op, "{ findUserBy(externalId: \"b-1\") { id } }", json!({}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INVALID_INPUT",
        "{body}"
    );
    assert!(body["data"]["findUserBy"].is_null(), "{body}");
    let body = app
        .gql(
            &op,
            "{ findUserBy(externalId: \"b-1\", email: \"carol@zenith.example\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INVALID_INPUT",
        "{body}"
    );
}

crate::both_backends!(
    scopes_limit_integrations,
    tenant_sees_only_its_own_members,
    operator_must_name_org,
);
