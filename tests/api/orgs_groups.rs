//! Org provisioning and groups (docs/api.md, "Orgs and groups").

use serde_json::json;

use crate::helpers::*;

async fn org_provisioning(app: &TestApp) {
    let op = app.operator();
    let org = app.create_org("initech").await;
    assert_failed(
        &app.mutate(&op, "createOrg", "name: \"Again\", slug: \"initech\"")
            .await,
        "DUPLICATE",
    );
    for bad in ["Initech", "-x", "a", "has space"] {
        let result = app
            .mutate(&op, "createOrg", &format!("name: \"N\", slug: \"{bad}\""))
            .await;
        assert_failed(&result, "INVALID_INPUT");
    }
    assert_failed(
        &app.mutate(&op, "createOrg", "name: \"  \", slug: \"blank-name\"")
            .await,
        "INVALID_INPUT",
    );

    let renamed = app
        .mutate(
            &op,
            "updateOrg",
            &format!("id: \"{org}\", name: \"Initech Ltd\", slug: \"initech-ltd\""),
        )
        .await;
    assert_eq!(
        (renamed["result"].as_str(), id_of(&renamed)),
        (Some("updated"), org),
        "{renamed}"
    );
    let same = app
        .mutate(
            &op,
            "updateOrg",
            &format!("id: \"{org}\", name: \"Initech Ltd\""),
        )
        .await;
    assert_eq!(same["result"], "unchanged", "{same}");
    let bad = app
        .mutate(
            &op,
            "updateOrg",
            &format!("id: \"{org}\", status: \"closed\""),
        )
        .await;
    assert_failed(&bad, "INVALID_INPUT");
    app.create_org("taken").await;
    let clash = app
        .mutate(&op, "updateOrg", &format!("id: \"{org}\", slug: \"taken\""))
        .await;
    assert_failed(&clash, "DUPLICATE");
    let unknown = app
        .mutate(
            &op,
            "updateOrg",
            "id: \"00000000-0000-7000-8000-000000000009\", name: \"X\"",
        )
        .await;
    assert_failed(&unknown, "NOT_FOUND");

    let query =
        "query($id: Uuid, $slug: String) { org(id: $id, slug: $slug) { id slug name status } }";
    let by_id = app.data(&op, query, json!({ "id": org })).await;
    assert_eq!(by_id["org"]["slug"], "initech-ltd");
    let by_slug = app.data(&op, query, json!({ "slug": "initech-ltd" })).await;
    assert_eq!(by_slug["org"]["id"], org.to_string());
    let missing = app.data(&op, query, json!({ "slug": "nobody" })).await;
    assert_eq!(missing["org"], json!(null));
    let both = app
        .error_code(&op, query, json!({ "id": org, "slug": "initech-ltd" }))
        .await;
    assert_eq!(both, "INVALID_INPUT");

    // A tenant reads its own org, by id, slug or default.
    let admin = app
        .create_member(org, "boss@initech.example", "admin")
        .await;
    let token = app.admin(org, admin);
    assert_eq!(
        app.data(&token, query, json!({ "slug": "initech-ltd" }))
            .await["org"]["id"],
        org.to_string()
    );
    assert_eq!(
        app.data(&token, query, json!({ "id": org })).await["org"]["name"],
        "Initech Ltd"
    );
    // Tenants may not provision.
    assert_eq!(
        app.error_code(
            &token,
            "mutation { createOrg(name: \"X\", slug: \"xx\") { result } }",
            json!({})
        )
        .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(&token, "{ orgs { totalCount } }", json!({}))
            .await,
        "FORBIDDEN"
    );
    let status =
        format!("mutation {{ updateOrg(id: \"{org}\", status: \"suspended\") {{ result }} }}");
    assert_eq!(
        app.error_code(&token, &status, json!({})).await,
        "FORBIDDEN"
    );
}

async fn org_pagination(app: &TestApp) {
    let op = app.operator();
    let mut slugs: Vec<String> = (0..7).map(|i| format!("page-{i}")).collect();
    for slug in &slugs {
        app.create_org(slug).await;
    }
    app.create_org("other").await;
    slugs.sort();
    let query = "query($after: String) { orgs(first: 3, after: $after, q: \"PAGE\") { totalCount edges { cursor node { slug } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = json!(null);
    loop {
        let data = app.data(&op, query, json!({ "after": after })).await;
        let page = &data["orgs"];
        assert_eq!(page["totalCount"], 7, "{page}");
        for edge in page["edges"].as_array().unwrap() {
            seen.push(edge["node"]["slug"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, slugs, "walked every org once, in order");

    for (args, needle) in [
        ("after: \"garbage!\"", "cursor"),
        ("first: 0", "between"),
        ("first: 501", "between"),
    ] {
        let body = app
            .gql(
                &op,
                &format!("{{ orgs({args}) {{ totalCount }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "INVALID_INPUT",
            "{body}"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{body}"
        );
    }
}

async fn groups_lifecycle(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("groupies").await;
    let member = app.create_member(org, "g@groupies.example", "user").await;

    let created = app
        .mutate(
            &admin,
            "createGroup",
            "name: \"Engineering\", description: \"Builders\"",
        )
        .await;
    assert_eq!(created["result"], "created", "{created}");
    let eng = id_of(&created);
    assert_failed(
        &app.mutate(&admin, "createGroup", "name: \" engineering \"")
            .await,
        "DUPLICATE",
    );
    assert_failed(
        &app.mutate(&admin, "createGroup", "name: \"\"").await,
        "INVALID_INPUT",
    );
    let ops = id_of(&app.mutate(&admin, "createGroup", "name: \"Ops\"").await);

    let renamed = app
        .mutate(
            &admin,
            "updateGroup",
            &format!("id: \"{eng}\", name: \"Platform\", description: \"\""),
        )
        .await;
    assert_eq!(renamed["result"], "updated", "{renamed}");
    let unchanged = app
        .mutate(
            &admin,
            "updateGroup",
            &format!("id: \"{eng}\", name: \"Platform\""),
        )
        .await;
    assert_eq!(unchanged["result"], "unchanged", "{unchanged}");
    // Renaming to a different case of itself is allowed.
    let recased = app
        .mutate(
            &admin,
            "updateGroup",
            &format!("id: \"{eng}\", name: \"PLATFORM\""),
        )
        .await;
    assert_eq!(recased["result"], "updated", "{recased}");
    assert_failed(
        &app.mutate(
            &admin,
            "updateGroup",
            &format!("id: \"{eng}\", name: \"ops\""),
        )
        .await,
        "DUPLICATE",
    );

    let query = format!("{{ group(id: \"{eng}\") {{ id orgId name description }} }}");
    let group = app.data(&admin, &query, json!({})).await["group"].clone();
    assert_eq!(
        (group["name"].as_str(), group["description"].clone()),
        (Some("PLATFORM"), json!(null))
    );
    assert_eq!(group["orgId"], org.to_string());

    let list = app.data(&admin, "{ groups(first: 1) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }", json!({})).await;
    assert_eq!(list["groups"]["totalCount"], 2);
    assert_eq!(list["groups"]["edges"][0]["node"]["name"], "Ops");
    let cursor = list["groups"]["pageInfo"]["endCursor"].clone();
    let next = app.data(&admin, "query($c: String) { groups(first: 1, after: $c) { edges { node { name } } pageInfo { hasNextPage } } }", json!({ "c": cursor })).await;
    assert_eq!(next["groups"]["edges"][0]["node"]["name"], "PLATFORM");
    assert_eq!(next["groups"]["pageInfo"]["hasNextPage"], false);
    let filtered = app
        .data(
            &admin,
            "{ groups(q: \"plat\") { totalCount edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(filtered["groups"]["totalCount"], 1);

    // Deleting a group removes its memberships, not the members.
    app.mutate(
        &admin,
        "addGroupMembership",
        &format!("userId: \"{member}\", groupId: \"{eng}\""),
    )
    .await;
    app.mutate(
        &admin,
        "addGroupMembership",
        &format!("userId: \"{member}\", groupId: \"{ops}\""),
    )
    .await;
    let deleted = app
        .mutate(&admin, "deleteGroup", &format!("id: \"{eng}\""))
        .await;
    assert_eq!(
        (deleted["result"].as_str(), deleted["records"].as_i64()),
        (Some("updated"), Some(1)),
        "{deleted}"
    );
    assert_eq!(
        app.data(&admin, &query, json!({})).await["group"],
        json!(null)
    );
    let rows = app.group_users(org, &format!("userId: \"{member}\"")).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["groupId"], ops.to_string());
    assert_eq!(
        app.find(org, "email: \"g@groupies.example\"").await.len(),
        1
    );
    assert_failed(
        &app.mutate(&admin, "deleteGroup", &format!("id: \"{eng}\""))
            .await,
        "NOT_FOUND",
    );
    let code = app
        .error_code(
            &admin,
            &format!("{{ groupUsers(groupId: \"{eng}\") {{ userId }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(code, "NOT_FOUND");

    // Group membership needs an org member and a group of the org.
    let stranger = "00000000-0000-7000-8000-00000000000a";
    assert_failed(
        &app.mutate(
            &admin,
            "addGroupMembership",
            &format!("userId: \"{stranger}\", groupId: \"{ops}\""),
        )
        .await,
        "NOT_FOUND",
    );
    assert_failed(
        &app.mutate(
            &admin,
            "addGroupMembership",
            &format!("userId: \"{member}\", groupId: \"{eng}\""),
        )
        .await,
        "NOT_FOUND",
    );
    assert_failed(
        &app.mutate(
            &admin,
            "removeGroupMembership",
            &format!("userId: \"{stranger}\", groupId: \"{ops}\""),
        )
        .await,
        "NOT_FOUND",
    );
}

crate::both_backends!(org_provisioning, org_pagination, groups_lifecycle);
