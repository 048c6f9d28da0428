//! Access rules found missing by an outside probe, each with the test that
//! would have caught it: rights follow the membership, nothing of another
//! org shows through a shared user, a sync or an email change, a mutation's
//! answer is a read, a removal racing a link, and input hygiene.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const MEMBER: &str = "id email firstName lastName name mobile locale managed";

async fn status_of(app: &TestApp, token: &str) -> (u16, Value) {
    app.post(token, "{ org { id } }", json!({})).await
}

async fn accepted(app: &TestApp, token: &str, what: &str) {
    let (status, body) = status_of(app, token).await;
    assert_eq!(status, 200, "{what}: {body}");
    assert!(body.get("errors").is_none(), "{what}: {body}");
}

async fn refused(app: &TestApp, token: &str, what: &str, because: &str) {
    let (status, body) = status_of(app, token).await;
    assert_eq!(status, 401, "{what} still accepted: {body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(because), "{what}: {body}");
}

async fn update(app: &TestApp, token: &str, user: Uuid, args: &str) -> Value {
    app.mutate(
        token,
        "updateMember",
        &format!("userId: \"{user}\", {args}"),
    )
    .await
}

/// An admin token is honoured only while its `sub` is an active admin of
/// its org; retired, demoted or removed, it stops at once. Nobody raises
/// their own rights.
async fn admin_rights_follow_the_membership(app: &TestApp) {
    let (org, first, first_token) = app.org_with_admin("follow").await;
    let second = app
        .create_member(org, "second@follow.example", "admin")
        .await;
    let second_token = app.admin(org, second);
    accepted(app, &first_token, "an active admin").await;

    let retired = update(app, &second_token, first, "status: \"retired\"").await;
    assert_eq!(retired["result"], "updated", "{retired}");
    refused(
        app,
        &first_token,
        "a retired admin's token",
        "no longer an active admin",
    )
    .await;
    // Not even to put themselves back.
    let (status, _) = app
        .post(
            &first_token,
            &format!(
                "mutation {{ updateMember(userId: \"{first}\", status: \"active\") {{ result }} }}"
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        update(app, &second_token, first, "status: \"active\"").await["result"],
        "updated"
    );
    accepted(app, &first_token, "a reactivated admin").await;

    assert_eq!(
        update(app, &second_token, first, "role: \"user\"").await["result"],
        "updated"
    );
    refused(
        app,
        &first_token,
        "a demoted admin's token",
        "no longer an active admin",
    )
    .await;
    assert_eq!(
        update(app, &second_token, first, "role: \"admin\"").await["result"],
        "updated"
    );
    accepted(app, &first_token, "a promoted admin").await;

    let removed = app
        .data(
            &second_token,
            &format!("mutation {{ removeMembers(userIds: [\"{first}\"]) {{ removedIds }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        removed["removeMembers"]["removedIds"],
        json!([first.to_string()])
    );
    refused(app, &first_token, "a removed admin's token", "not a member").await;

    // Subjects that name no admin of the org.
    let stranger = sign(&claims(
        "admin",
        Some(org),
        None,
        &Uuid::now_v7().to_string(),
    ));
    refused(app, &stranger, "a non-member's admin token", "not a member").await;
    let not_a_user = sign(&claims("admin", Some(org), None, "alice"));
    refused(
        app,
        &not_a_user,
        "an admin token without a user id",
        "user id",
    )
    .await;
    let user = app.create_member(org, "user@follow.example", "user").await;
    refused(
        app,
        &app.admin(org, user),
        "a plain member's admin token",
        "no longer an active admin",
    )
    .await;

    // A member holding a token of their own cannot raise themselves.
    let own = sign(&claims(
        "integration",
        Some(org),
        Some("members:read members:write"),
        &user.to_string(),
    ));
    assert_failed(
        &update(app, &own, user, "role: \"admin\"").await,
        "SELF_ACTION",
    );
    let upsert = app
        .data(
            &own,
            "mutation { upsertMember(email: \"user@follow.example\", role: ADMIN) { result errorCode } }",
            json!({}),
        )
        .await;
    assert_eq!(
        upsert["upsertMember"]["errorCode"], "SELF_ACTION",
        "{upsert}"
    );
    assert_eq!(
        update(app, &second_token, user, "status: \"retired\"").await["result"],
        "updated"
    );
    let reactivate = app
        .data(
            &own,
            &format!("mutation {{ setMembersStatus(userIds: [\"{user}\"], status: ACTIVE) {{ failures {{ code }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        reactivate["setMembersStatus"]["failures"][0]["code"], "SELF_ACTION",
        "{reactivate}"
    );
    let found = app.find(org, "email: \"user@follow.example\"").await;
    assert_eq!(
        (found[0]["role"].as_str(), found[0]["status"].as_str()),
        (Some("user"), Some("retired"))
    );
}

const SYNC: &str = "mutation($records: [SyncRecord!]!, $onError: SyncOnError) {
    syncMembers(records: $records, onError: $onError) {
        written counts { created failed } results { index email userId result errorCode } } }";

/// An ABORTed sync answers alike for an email known in another org and an
/// unknown one: no user id for a member that was not written.
async fn aborted_sync_names_no_other_orgs_user(app: &TestApp) {
    let (home, _, _) = app.org_with_admin("abort-home").await;
    let (guest, _, admin) = app.org_with_admin("abort-guest").await;
    app.create_member(home, "known@abort.example", "user").await;
    let run = |email: &'static str, on_error: &'static str| {
        let admin = admin.clone();
        async move {
            let records = json!([
                { "email": email, "firstName": "Guess" },
                { "email": "broken", "firstName": "X" },
            ]);
            let vars = json!({ "records": records, "onError": on_error });
            app.data(&admin, SYNC, vars).await["syncMembers"].clone()
        }
    };
    let known = run("known@abort.example", "ABORT").await;
    assert_eq!(known["written"], false, "{known}");
    assert_eq!(known["results"][0]["result"], "created", "{known}");
    assert_eq!(known["results"][0]["userId"], Value::Null, "{known}");
    let mut unknown = run("unknown@abort.example", "ABORT").await;
    unknown["results"][0]["email"] = known["results"][0]["email"].clone();
    assert_eq!(unknown, known);
    assert!(
        app.find(guest, "email: \"known@abort.example\"")
            .await
            .is_empty()
    );

    // Written, the member is the caller's and is named.
    let skipped = run("known@abort.example", "SKIP").await;
    assert_eq!(skipped["written"], true, "{skipped}");
    let id = &app.find(guest, "email: \"known@abort.example\"").await[0]["id"];
    assert_eq!(&skipped["results"][0]["userId"], id, "{skipped}");
}

/// Selecting member data on a mutation needs the read scopes; without them
/// the call is refused before it writes.
async fn mutation_answers_need_the_read_scope(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("payload").await;
    let group = app.create_group(org, "Payroll").await;
    let upsert = |fields: &str| {
        format!(
            "mutation {{ upsertMember(email: \"salary@payload.example\", \
             user: {{firstName: \"Sal\"}}, attributes: {{salary: 90000}}) {{ {fields} }} }}"
        )
    };
    let write_only = app.integration(org, "members:write");
    let body = app
        .gql(
            &write_only,
            &upsert("result member { mobile attributes }"),
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    assert!(body["data"]["upsertMember"].is_null(), "{body}");
    assert!(
        app.find(org, "email: \"salary@payload.example\"")
            .await
            .is_empty()
    );
    // The same write without reading is fine.
    let body = app.data(&write_only, &upsert("result"), json!({})).await;
    assert_eq!(body["upsertMember"]["result"], "created");
    let no_op = app
        .gql(
            &write_only,
            &upsert("result member { attributes }"),
            json!({}),
        )
        .await;
    assert_eq!(
        no_op["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{no_op}"
    );
    assert!(!no_op.to_string().contains("90000"), "{no_op}");

    // Groups on the answer need groups:read too.
    let id = app.find(org, "email: \"salary@payload.example\"").await[0]["id"].clone();
    let added = app
        .mutate(
            &admin,
            "addGroupMembership",
            &format!("userId: {id}, groupId: \"{group}\""),
        )
        .await;
    assert_eq!(added["result"], "created", "{added}");
    let reader = app.integration(org, "members:read members:write");
    let body = app
        .gql(
            &reader,
            &upsert("result member { groups { name } }"),
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    assert!(!body.to_string().contains("Payroll"), "{body}");
    let body = app
        .data(
            &reader,
            &upsert("result member { email attributes }"),
            json!({}),
        )
        .await;
    assert_eq!(
        body["upsertMember"]["member"]["attributes"]["salary"],
        90000
    );

    // removeMembers names the members it skips: a read too.
    let admin_id = app.find(org, "email: \"admin@payload.example\"").await[0]["id"].clone();
    let remove = |fields: &str| {
        format!("mutation {{ removeMembers(userIds: [{admin_id}]) {{ {fields} }} }}")
    };
    let body = app
        .gql(
            &write_only,
            &remove("undeletedItems { name code }"),
            json!({}),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let body = app
        .data(&write_only, &remove("undeletedItems { code }"), json!({}))
        .await;
    assert_eq!(
        body["removeMembers"]["undeletedItems"][0]["code"],
        "LAST_ADMIN"
    );

    // A dry-run MIRROR would list every member; which ones exist is a read.
    let sync = |fields: &str| {
        format!(
            "mutation {{ syncMembers(records: [{{email: \"nobody@payload.example\", firstName: \"N\"}}], \
             mode: MIRROR, dryRun: true) {{ {fields} }} }}"
        )
    };
    for fields in [
        "retirements { userId }",
        "results { userId }",
        "results { ignoredFields }",
    ] {
        let body = app.gql(&write_only, &sync(fields), json!({})).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{fields}: {body}"
        );
        assert!(body["data"]["syncMembers"].is_null(), "{body}");
    }
    let body = app
        .data(
            &write_only,
            &sync("counts { created } results { result }"),
            json!({}),
        )
        .await;
    assert_eq!(body["syncMembers"]["counts"]["created"], 1, "{body}");
}

async fn member_by_email(app: &TestApp, token: &str, email: &str) -> Value {
    let query = format!("query($e: String) {{ user(email: $e) {{ {MEMBER} }} }}");
    app.data(token, &query, json!({ "e": email })).await["user"].clone()
}

async fn find_count(app: &TestApp, token: &str, criterion: &str) -> usize {
    let query = format!("{{ findUserBy({criterion}) {{ id }} }}");
    app.data(token, &query, json!({})).await["findUserBy"]
        .as_array()
        .map_or(0, Vec::len)
}

async fn members_q(app: &TestApp, token: &str, q: &str) -> i64 {
    let query = "query($q: String) { members(q: $q) { totalCount } }";
    app.data(token, query, json!({ "q": q })).await["members"]["totalCount"]
        .as_i64()
        .unwrap()
}

/// An org that brings in a user another org manages sees, searches and
/// edits the profile it supplied, never the other org's.
async fn linked_users_show_the_orgs_own_profile(app: &TestApp) {
    let (home, _, home_admin) = app.org_with_admin("prof-home").await;
    let (guest, _, guest_admin) = app.org_with_admin("prof-guest").await;
    let created = app
        .mutate(
            &home_admin,
            "createUser",
            "email: \"kim@prof.example\", first: \"Secret\", last: \"Homename\", mobile: \"+31 6 1111 2222\"",
        )
        .await;
    assert_eq!(created["result"], "created");
    let linked = app
        .mutate(
            &guest_admin,
            "createUser",
            "email: \"KIM@prof.example\", first: \"Kimmy\", last: \"Guest\", mobile: \"+44 7000 000001\"",
        )
        .await;
    assert_eq!(linked["result"], "created", "{linked}");
    assert_eq!(linked["id"], created["id"]);

    let seen = member_by_email(app, &guest_admin, "kim@prof.example").await;
    assert_eq!(seen["firstName"], "Kimmy", "{seen}");
    // Nor when the home org created the user, or last edited it.
    let times = |token: String| async move {
        let query = "{ findUserBy(email: \"kim@prof.example\") { createdAt updatedAt } }";
        app.data(&token, query, json!({})).await["findUserBy"][0].clone()
    };
    let home_times = times(home_admin.clone()).await;
    let guest_times = times(guest_admin.clone()).await;
    assert_ne!(
        home_times["createdAt"], guest_times["createdAt"],
        "{guest_times}"
    );
    assert_eq!(seen["name"], "Kimmy Guest");
    assert_eq!(seen["mobile"], "+44 7000 000001");
    assert_eq!(seen["managed"], false);
    let secrets = ["Secret", "Homename", "1111"];
    let listing = app
        .data(
            &guest_admin,
            "{ members { edges { node { firstName lastName name mobile } } } \
               groupUsers(userId: \"00000000-0000-0000-0000-000000000000\") { userName } }",
            json!({}),
        )
        .await;
    crate::tenancy::assert_reveals_none(&listing, &secrets, "members");
    assert_eq!(find_count(app, &guest_admin, "name: \"kimmy\"").await, 1);
    assert_eq!(find_count(app, &guest_admin, "name: \"secret\"").await, 0);
    assert_eq!(
        find_count(app, &guest_admin, "mobile: \"+31611112222\"").await,
        0
    );
    assert_eq!(
        find_count(app, &guest_admin, "mobile: \"+447000000001\"").await,
        1
    );
    assert_eq!(members_q(app, &guest_admin, "kimmy").await, 1);
    assert_eq!(members_q(app, &guest_admin, "homename").await, 0);
    let group = app.create_group(guest, "Readers").await;
    let id = created["id"].as_str().unwrap();
    app.mutate(
        &guest_admin,
        "addGroupMembership",
        &format!("userId: \"{id}\", groupId: \"{group}\""),
    )
    .await;
    let rows = app
        .group_users(guest, &format!("groupId: \"{group}\""))
        .await;
    assert_eq!(rows[0]["userName"], "Kimmy Guest", "{rows:?}");

    // The guest edits its own profile; the home org's stays.
    let edit = app
        .data(
            &guest_admin,
            &format!("mutation {{ upsertMember(email: \"kim@prof.example\", user: {{firstName: \"Kimberly\"}}) \
                      {{ result ignoredFields member {{ {MEMBER} }} }} }}"),
            json!({}),
        )
        .await["upsertMember"]
        .clone();
    assert_eq!(edit["result"], "updated", "{edit}");
    assert_eq!(edit["ignoredFields"], json!([]));
    assert_eq!(edit["member"]["name"], "Kimberly Guest");
    let home_view = member_by_email(app, &home_admin, "kim@prof.example").await;
    assert_eq!(home_view["firstName"], "Secret", "{home_view}");
    // The home org renames; the guest keeps its own.
    let renamed = app
        .data(
            &home_admin,
            "mutation { upsertMember(email: \"kim@prof.example\", user: {firstName: \"Kate\"}) { result } }",
            json!({}),
        )
        .await;
    assert_eq!(renamed["upsertMember"]["result"], "updated");
    let seen = member_by_email(app, &guest_admin, "kim@prof.example").await;
    assert_eq!(seen["firstName"], "Kimberly", "{seen}");
    assert_eq!(members_q(app, &guest_admin, "kate").await, 0);
    let after_rename = times(guest_admin.clone()).await;
    assert_ne!(
        after_rename["updatedAt"],
        times(home_admin.clone()).await["updatedAt"]
    );

    // A sync that brings someone in keeps its own profile too.
    app.create_member(home, "lee@prof.example", "user").await;
    let records =
        json!([{ "email": "lee@prof.example", "firstName": "Lee", "lastName": "Synced" }]);
    let synced = app
        .data(&guest_admin, SYNC, json!({ "records": records }))
        .await;
    assert_eq!(synced["syncMembers"]["written"], true, "{synced}");
    let seen = member_by_email(app, &guest_admin, "lee@prof.example").await;
    assert_eq!(
        (seen["firstName"].as_str(), seen["lastName"].as_str()),
        (Some("Lee"), Some("Synced"))
    );

    // A user an operator links shows the global profile.
    let third = app.create_org("prof-third").await;
    let op = app
        .mutate(
            &app.operator(),
            "addOrgMember",
            &format!("orgId: \"{third}\", userId: \"{id}\""),
        )
        .await;
    assert_eq!(op["result"], "created", "{op}");
    let found = app.find(third, "email: \"kim@prof.example\"").await;
    assert_eq!(found[0]["firstName"], "Kate");
}

/// Changing a member's email to an address held outside the org gets one
/// generic refusal, and none in a dry run.
async fn email_changes_reveal_least(app: &TestApp) {
    let (home, _, _) = app.org_with_admin("mail-home").await;
    let (_, _, admin) = app.org_with_admin("mail-guest").await;
    app.create_member(home, "taken@mail.example", "user").await;
    let upsert = "mutation($e: String) { upsertMember(externalId: \"e-1\", email: $e, \
                  user: {firstName: \"Em\"}) { result error errorCode } }";
    let first = app
        .data(&admin, upsert, json!({ "e": "em@mail.example" }))
        .await;
    assert_eq!(first["upsertMember"]["result"], "created", "{first}");

    let dry = |email: &'static str| {
        let admin = admin.clone();
        async move {
            let records = json!([{ "email": email, "externalId": "e-1", "firstName": "Em" }]);
            let query = "mutation($records: [SyncRecord!]!) { syncMembers(records: $records, dryRun: true) \
                         { results { result errorCode error } } }";
            app.data(&admin, query, json!({ "records": records })).await["syncMembers"]["results"]
                [0]
            .clone()
        }
    };
    assert_eq!(
        dry("taken@mail.example").await,
        dry("fresh@mail.example").await
    );
    assert_eq!(dry("fresh@mail.example").await["result"], "updated");

    let taken = app
        .data(&admin, upsert, json!({ "e": "taken@mail.example" }))
        .await["upsertMember"]
        .clone();
    assert_eq!(taken["result"], "failed", "{taken}");
    assert_eq!(taken["errorCode"], "DUPLICATE");
    let message = taken["error"].as_str().unwrap();
    assert!(
        !message.contains("another user") && !message.contains("taken@"),
        "{message}"
    );

    // Inside the org, the answer is plain.
    let upsert_other = "mutation { upsertMember(email: \"inside@mail.example\", user: {firstName: \"In\"}) { result } }";
    app.data(&admin, upsert_other, json!({})).await;
    let inside = app
        .data(&admin, upsert, json!({ "e": "inside@mail.example" }))
        .await["upsertMember"]
        .clone();
    assert_eq!(inside["errorCode"], "DUPLICATE");
    assert!(
        inside["error"]
            .as_str()
            .unwrap()
            .contains("member of this org"),
        "{inside}"
    );

    let fresh = app
        .data(&admin, upsert, json!({ "e": "fresh@mail.example" }))
        .await;
    assert_eq!(fresh["upsertMember"]["result"], "updated", "{fresh}");
}

/// One org removes a user who is in no other org while another org, on
/// another instance, links the same email: the link answers `created`, as
/// if it had come second, never CONFLICT.
async fn removal_racing_a_link_creates_the_user(app: &TestApp) {
    let other = app.second_instance().await;
    let (x, _, x_admin) = app.org_with_admin("race-x").await;
    let (y, _, y_admin) = app.org_with_admin("race-y").await;
    for round in 0..12 {
        let email = format!("racer{round}@race.example");
        let user = app.create_member(x, &email, "user").await;
        let remove =
            format!("mutation {{ removeMembers(userIds: [\"{user}\"]) {{ removedIds }} }}");
        let link = format!("email: \"{email}\", first: \"R\", last: \"Y\"");
        let (removed, linked) = futures::join!(
            app.data(&x_admin, &remove, json!({})),
            other.mutate(&y_admin, "createUser", &link),
        );
        assert_eq!(
            removed["removeMembers"]["removedIds"],
            json!([user.to_string()])
        );
        assert_eq!(linked["result"], "created", "round {round}: {linked}");
        let found = app.find(y, &format!("email: \"{email}\"")).await;
        assert_eq!(found.len(), 1, "round {round}");
    }
}

/// One limit for externalIds; emails normalised and refused as the
/// domain says; no control or direction characters in stored text;
/// numeric attributes match alike on both backends.
async fn input_is_hygienic(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("hygiene").await;
    let create = "mutation($e: String!, $f: String!, $x: String) { r: createUser(email: $e, first: $f, last: \"L\", externalId: $x) { id result errorCode } }";
    let long_id = "x".repeat(255);
    let made = app
        .data(
            &admin,
            create,
            json!({ "e": "long@hygiene.example", "f": "Long", "x": long_id }),
        )
        .await;
    assert_eq!(made["r"]["result"], "created", "{made}");
    let by_key = app
        .data(
            &admin,
            "query($x: String) { user(externalId: $x) { email } }",
            json!({ "x": long_id }),
        )
        .await;
    assert_eq!(by_key["user"]["email"], "long@hygiene.example");
    let listed = app
        .data(
            &admin,
            "query($x: String!) { members(externalIds: [$x]) { totalCount } }",
            json!({ "x": long_id }),
        )
        .await;
    assert_eq!(listed["members"]["totalCount"], 1);
    let found = app
        .data(
            &admin,
            "query($x: String) { findUserBy(externalId: $x) { id } }",
            json!({ "x": long_id }),
        )
        .await;
    assert_eq!(found["findUserBy"].as_array().map(Vec::len), Some(1));
    let too_long = "x".repeat(256);
    let refused = app
        .data(
            &admin,
            create,
            json!({ "e": "longer@hygiene.example", "f": "L", "x": too_long }),
        )
        .await;
    assert_eq!(refused["r"]["errorCode"], "INVALID_INPUT");
    let body = app
        .gql(
            &admin,
            "query($x: String) { user(externalId: $x) { id } }",
            json!({ "x": too_long }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INVALID_INPUT",
        "{body}"
    );

    // One address, however it is spelled.
    let jose = app
        .data(
            &admin,
            create,
            json!({ "e": "Jos\u{e9}@hygiene.example", "f": "Jose" }),
        )
        .await;
    assert_eq!(jose["r"]["result"], "created", "{jose}");
    let again = app
        .data(
            &admin,
            create,
            json!({ "e": "jose\u{301}@HYGIENE.example", "f": "Jose" }),
        )
        .await;
    assert_eq!(again["r"]["errorCode"], "DUPLICATE", "{again}");
    let idn = app
        .data(
            &admin,
            create,
            json!({ "e": "ann@b\u{fc}cher.example", "f": "Ann" }),
        )
        .await;
    assert_eq!(idn["r"]["result"], "created", "{idn}");
    let stored = app.find(org, "email: \"ann@xn--bcher-kva.example\"").await;
    assert_eq!(stored[0]["email"], "ann@xn--bcher-kva.example");
    // MIRROR keeps a member whose record fails, by any spelling of the
    // address.
    let records = json!([
        { "email": "ann@B\u{fc}cher.example", "firstName": "Ann", "locale": "!!" },
        { "email": "admin@hygiene.example", "firstName": "Admin" },
    ]);
    let query = "mutation($r: [SyncRecord!]!) { syncMembers(records: $r, mode: MIRROR, onError: SKIP) \
                 { written retirements { userId } results { result } } }";
    let mirrored = app.data(&admin, query, json!({ "r": records })).await;
    assert_eq!(mirrored["syncMembers"]["written"], true, "{mirrored}");
    let still = app.find(org, "email: \"ann@xn--bcher-kva.example\"").await;
    assert_eq!(still[0]["status"], "active", "{mirrored}");
    for bad in [
        "an\u{200B}n@hygiene.example",
        "ann@hygiene\u{202E}.example",
        "ann\u{7}@hygiene.example",
        "ann@localhost",
        "ann@[127.0.0.1]",
        "\"ann lee\"@hygiene.example",
        "ann@-hygiene.example",
        "ann@hygiene-.example",
    ] {
        let result = app
            .data(&admin, create, json!({ "e": bad, "f": "Bad" }))
            .await;
        assert_eq!(
            result["r"]["errorCode"], "INVALID_INPUT",
            "{bad:?}: {result}"
        );
    }
    for (first, external) in [
        ("Ann\u{202E}", None),
        ("Ann", Some("e\u{2066}1")),
        ("Ann", Some("e\u{1}1")),
    ] {
        let result = app
            .data(
                &admin,
                create,
                json!({ "e": "bidi@hygiene.example", "f": first, "x": external }),
            )
            .await;
        assert_eq!(
            result["r"]["errorCode"], "INVALID_INPUT",
            "{first:?} {external:?}: {result}"
        );
    }
    let upsert = "mutation($a: JSON) { upsertMember(email: \"attrs@hygiene.example\", user: {firstName: \"A\"}, attributes: $a) { result errorCode } }";
    let bidi = app
        .data(&admin, upsert, json!({ "a": { "note": "a\u{202E}b" } }))
        .await;
    assert_eq!(bidi["upsertMember"]["errorCode"], "INVALID_INPUT", "{bidi}");

    // Numbers: stored canonically, matched alike.
    let attrs = json!({ "big": 1e300, "zero": -0.0, "half": 1.5, "one": 1.0, "tiny": 1e-7 });
    let set = app.data(&admin, upsert, json!({ "a": attrs })).await;
    assert_eq!(set["upsertMember"]["result"], "created", "{set}");
    let count = |key: &'static str, value: Value| {
        let admin = admin.clone();
        async move {
            let query = "query($k: String!, $v: JSON!) { members(attribute: [{key: $k, value: $v}]) { totalCount } }";
            app.data(&admin, query, json!({ "k": key, "v": value }))
                .await["members"]["totalCount"]
                .as_i64()
                .unwrap()
        }
    };
    for (key, value) in [
        ("big", json!(1e300)),
        ("zero", json!(0)),
        ("zero", json!(-0.0)),
        ("half", json!(1.5)),
        ("one", json!(1)),
        ("one", json!(1.0)),
        ("tiny", json!(1e-7)),
    ] {
        assert_eq!(count(key, value.clone()).await, 1, "{key} = {value}");
    }
    assert_eq!(count("half", json!(2.5)).await, 0);
    assert_eq!(count("one", json!("1")).await, 0);
}

/// Start-up on a fresh database logs no error: SQLite switches to WAL
/// once, before the pool opens its connections.
async fn startup_is_quiet(app: &TestApp) {
    let run = |url: String| {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(["--database-url", &url, "--jwt-secret", SECRET, "serve"])
            .args(["--listen", "127.0.0.1:0", "--db-pool-size", "8"])
            .env("ROSTER_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("run roster");
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(50));
            if std::fs::read_to_string(&log).is_ok_and(|t| t.contains("listening")) {
                break;
            }
        }
        // Let the pool finish opening its connections.
        std::thread::sleep(Duration::from_millis(300));
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(text.contains("listening"), "did not start: {text}");
        assert!(
            !text.contains("ERROR") && !text.contains("locked"),
            "start-up logged an error: {text}"
        );
    };
    if app.is_postgres() {
        run(app.database_url.clone());
    } else {
        for _ in 0..8 {
            let dir = tempfile::tempdir().unwrap();
            run(format!(
                "sqlite://{}",
                dir.path().join("fresh.db").display()
            ));
        }
    }
}

crate::both_backends!(
    admin_rights_follow_the_membership,
    aborted_sync_names_no_other_orgs_user,
    mutation_answers_need_the_read_scope,
    linked_users_show_the_orgs_own_profile,
    email_changes_reveal_least,
    removal_racing_a_link_creates_the_user,
    input_is_hygienic,
    startup_is_quiet,
);
