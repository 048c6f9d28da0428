//! The rules of the directory writes, one test per rule family: what
//! `upsertMember`, `setMembersStatus`, `removeMembers` and `syncMembers`
//! change, what they refuse, and that the invariants hold on each path.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const MEMBER: &str = "id email firstName lastName name locale timezone role status externalId managed attributes invitedAt retiredAt groups { name role }";

async fn upsert(app: &TestApp, token: &str, args: &str) -> Value {
    let query = format!(
        "mutation {{ r: upsertMember({args}) {{ created result ignoredFields error errorCode member {{ {MEMBER} }} }} }}"
    );
    app.data(token, &query, json!({})).await["r"].clone()
}

async fn member(app: &TestApp, token: &str, org: Uuid, key: &str) -> Value {
    let query = format!("query($org: Uuid) {{ user(org: $org, {key}) {{ {MEMBER} }} }}");
    app.data(token, &query, json!({ "org": org })).await["user"].clone()
}

fn group_names(member: &Value) -> Vec<String> {
    let mut names: Vec<String> = member["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn failed(result: &Value, code: &str) {
    assert_eq!(result["result"], "failed", "{result}");
    assert_eq!(result["errorCode"], code, "{result}");
    assert!(result["error"].as_str().is_some_and(|e| !e.is_empty()));
}

/// Created, unchanged, updated field by field; groups set exactly;
/// failures write nothing.
async fn upsert_creates_then_changes_only_what_is_given(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("ups").await;
    for name in ["Sales", "EMEA", "Ops"] {
        app.create_group(org, name).await;
    }
    let args = r#"email: "Ann@Ups.example", externalId: "e-1", user: {firstName: "Ann", lastName: "Lee", locale: "en-gb", timezone: "Europe/London"}, attributes: {dept: "sales", level: 3}, groups: ["sales", "EMEA"], sendInvite: true"#;
    let created = upsert(app, &admin, args).await;
    assert_eq!(created["created"], true, "{created}");
    assert_eq!(created["result"], "created");
    let m = &created["member"];
    assert_eq!(m["email"], "ann@ups.example");
    assert_eq!(m["name"], "Ann Lee");
    assert_eq!(m["locale"], "en-GB");
    assert_eq!(m["managed"], true);
    assert_eq!(m["role"], "USER");
    assert_eq!(m["attributes"], json!({"dept": "sales", "level": 3}));
    assert!(m["invitedAt"].is_string());
    assert_eq!(group_names(m), ["EMEA", "Sales"]);

    let again = upsert(app, &admin, args.replace(", sendInvite: true", "").as_str()).await;
    assert_eq!(again["result"], "unchanged", "{again}");
    assert_eq!(again["created"], false);

    let changed = upsert(
        app,
        &admin,
        r#"externalId: "e-1", user: {lastName: "Long"}, groups: ["Ops"]"#,
    )
    .await;
    assert_eq!(changed["result"], "updated", "{changed}");
    let m = &changed["member"];
    assert_eq!(
        m["name"], "Ann Long",
        "a default display name follows the names"
    );
    assert_eq!(m["firstName"], "Ann");
    assert_eq!(m["timezone"], "Europe/London");
    assert_eq!(m["attributes"], json!({"dept": "sales", "level": 3}));
    assert_eq!(group_names(m), ["Ops"]);

    // A pending invitation stays as it is; a revoked one is issued anew.
    let invited = upsert(app, &admin, r#"externalId: "e-1", sendInvite: true"#).await;
    assert_eq!(invited["result"], "unchanged", "{invited}");
    assert_eq!(invited["member"]["invitedAt"], m["invitedAt"]);
    let id = invited["member"]["id"].as_str().unwrap();
    let revoked = app
        .mutate(&admin, "revokeInvitation", &format!("userId: \"{id}\""))
        .await;
    assert_eq!(revoked["result"], "updated", "{revoked}");
    let invited = upsert(app, &admin, r#"externalId: "e-1", sendInvite: true"#).await;
    assert_eq!(invited["result"], "updated", "{invited}");
    assert!(invited["member"]["invitedAt"].as_str() > m["invitedAt"].as_str());

    // Keyed by externalId, a new email follows the person.
    let moved = upsert(
        app,
        &admin,
        r#"externalId: "e-1", email: "ann.long@ups.example""#,
    )
    .await;
    assert_eq!(moved["member"]["email"], "ann.long@ups.example", "{moved}");
    assert_eq!(
        member(app, &admin, org, r#"email: "ann@ups.example""#).await,
        Value::Null
    );

    // Failures change nothing.
    let before = member(app, &admin, org, r#"externalId: "e-1""#).await;
    let unknown = upsert(
        app,
        &admin,
        r#"externalId: "e-1", user: {firstName: "X"}, groups: ["Nope"]"#,
    )
    .await;
    failed(&unknown, "NOT_FOUND");
    let nameless = upsert(app, &admin, r#"email: "new@ups.example""#).await;
    failed(&nameless, "INVALID_INPUT");
    let keyless = upsert(app, &admin, r#"user: {firstName: "X"}"#).await;
    failed(&keyless, "INVALID_INPUT");
    let bad_tz = upsert(
        app,
        &admin,
        r#"externalId: "e-1", user: {timezone: "Mars/Base"}"#,
    )
    .await;
    failed(&bad_tz, "INVALID_INPUT");
    let bad_locale = upsert(
        app,
        &admin,
        r#"externalId: "e-1", user: {locale: "english!!"}"#,
    )
    .await;
    failed(&bad_locale, "INVALID_INPUT");
    app.create_member(org, "bo@ups.example", "user").await;
    let taken = upsert(app, &admin, r#"email: "bo@ups.example", externalId: "e-1""#).await;
    failed(&taken, "DUPLICATE");
    assert_eq!(
        member(app, &admin, org, r#"externalId: "e-1""#).await,
        before
    );
    let count = "query($org: Uuid) { members(org: $org) { totalCount } }";
    let data = app.data(&admin, count, json!({ "org": org })).await;
    assert_eq!(data["members"]["totalCount"], 3);
}

/// A user another org brought in keeps their profile: the fields given
/// with other values are reported, not written.
async fn upsert_leaves_unmanaged_profiles_alone(app: &TestApp) {
    let (home, _, _) = app.org_with_admin("home").await;
    let (_, _, admin) = app.org_with_admin("guest").await;
    app.create_member(home, "kim@home.example", "user").await;
    let linked = upsert(app, &admin, r#"email: "kim@home.example", user: {firstName: "Kimberly", lastName: "Last", locale: "fr-FR"}"#).await;
    assert_eq!(linked["created"], true, "{linked}");
    assert_eq!(linked["member"]["managed"], false);
    // The org sees the profile it supplied, not the home org's.
    assert_eq!(linked["member"]["firstName"], "Kimberly");
    assert_eq!(linked["member"]["locale"], "fr-FR");
    // Not a member yet: nothing about the user is compared.
    assert_eq!(linked["ignoredFields"], json!([]));
    let again = upsert(app, &admin, r#"email: "kim@home.example", user: {firstName: "Kimberly", lastName: "Last", locale: "fr-FR"}"#).await;
    assert_eq!(again["result"], "unchanged", "{again}");
    assert_eq!(again["ignoredFields"], json!([]));
    let in_home = app.find(home, "email: \"kim@home.example\"").await;
    assert_eq!(in_home[0]["firstName"], "First");
}

/// Adding someone to an org answers the same whether or not their email
/// is known in another org: a first name is always needed, and a dry run
/// shows neither their id nor how their profile differs.
async fn adding_members_reveals_no_other_org(app: &TestApp) {
    let (home, _, _) = app.org_with_admin("probe-home").await;
    let (_, _, admin) = app.org_with_admin("probe-guest").await;
    app.create_member(home, "known@probe.example", "user").await;
    let admin = &admin;
    let answers = |email: &'static str| async move {
        let bare = upsert(app, admin, &format!(r#"email: "{email}""#)).await;
        let records = json!([{ "email": email, "firstName": "Guess", "locale": "de-DE" }]);
        let dry = sync(app, admin, records, json!({ "dryRun": true })).await;
        let without_name = sync(
            app,
            admin,
            json!([{ "email": email }]),
            json!({ "dryRun": true }),
        )
        .await;
        (
            (bare["result"].clone(), bare["errorCode"].clone()),
            dry["results"][0].clone(),
            without_name["results"][0]["errorCode"].clone(),
        )
    };
    let (bare, dry, without_name) = answers("known@probe.example").await;
    assert_eq!(bare, (json!("failed"), json!("INVALID_INPUT")));
    assert_eq!(without_name, "INVALID_INPUT");
    assert_eq!(dry["result"], "created", "{dry}");
    assert_eq!(dry["userId"], Value::Null, "{dry}");
    assert_eq!(dry["ignoredFields"], json!([]), "{dry}");
    let mut unknown = answers("nobody@probe.example").await;
    unknown.1["email"] = dry["email"].clone();
    assert_eq!(unknown, (bare, dry, without_name));
}

/// Role and status changes through upsert keep an active admin and refuse
/// the caller's own demotion.
async fn upsert_keeps_the_invariants(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("upsinv").await;
    let self_demote = upsert(app, &admin, r#"email: "admin@upsinv.example", role: USER"#).await;
    failed(&self_demote, "SELF_ACTION");
    let op = app.operator();
    let last = upsert(
        app,
        &op,
        &format!(r#"org: "{org}", email: "admin@upsinv.example", status: RETIRED"#),
    )
    .await;
    failed(&last, "LAST_ADMIN");
    let second = upsert(
        app,
        &op,
        &format!(
            r#"org: "{org}", email: "two@upsinv.example", user: {{firstName: "Two"}}, role: ADMIN"#
        ),
    )
    .await;
    assert_eq!(second["result"], "created", "{second}");
    let demoted = upsert(
        app,
        &op,
        &format!(r#"org: "{org}", email: "admin@upsinv.example", role: USER"#),
    )
    .await;
    assert_eq!(demoted["result"], "updated", "{demoted}");
    let now_last = upsert(
        app,
        &op,
        &format!(r#"org: "{org}", email: "two@upsinv.example", role: USER"#),
    )
    .await;
    failed(&now_last, "LAST_ADMIN");
}

const STATUS: &str = "mutation($ids: [Uuid!]!, $status: MemberStatus!) {
  setMembersStatus(userIds: $ids, status: $status) { succeededIds failedIds failures { id code message } } }";

/// Bulk status: the caller, the last admin and strangers are reported;
/// the rest change; reactivation brings the groups back.
async fn set_members_status_reports_and_restores(app: &TestApp) {
    let (org, admin_id, admin) = app.org_with_admin("bulk").await;
    let (other, _, _) = app.org_with_admin("bulk-other").await;
    let stranger = app
        .create_member(other, "x@bulk-other.example", "user")
        .await;
    let group = app.create_group(org, "Crew").await;
    let a = app.create_member(org, "a@bulk.example", "user").await;
    let b = app.create_member(org, "b@bulk.example", "admin").await;
    let args = format!("userId: \"{a}\", groupId: \"{group}\"");
    app.mutate(&admin, "addGroupMembership", &args).await;
    let unknown = Uuid::now_v7();
    let vars = json!({ "ids": [a, admin_id, b, unknown, stranger, a], "status": "RETIRED" });
    let report = app.data(&admin, STATUS, vars).await["setMembersStatus"].clone();
    assert_eq!(report["succeededIds"], json!([a, b]), "{report}");
    assert_eq!(
        report["failedIds"],
        json!([admin_id, unknown, stranger]),
        "{report}"
    );
    let codes: Vec<&str> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["SELF_ACTION", "NOT_FOUND", "NOT_FOUND"]);
    let retired = app.group_users(org, &format!("groupId: \"{group}\"")).await;
    assert_eq!(retired[0]["status"], "retired");
    // b retired, so an operator may not retire the admin that is left.
    let op_vars = json!({ "ids": [admin_id], "status": "RETIRED" });
    let query = STATUS.replace(
        "setMembersStatus(",
        &format!("setMembersStatus(org: \"{org}\", "),
    );
    let report = app.data(&app.operator(), &query, op_vars).await["setMembersStatus"].clone();
    assert_eq!(report["failures"][0]["code"], "LAST_ADMIN", "{report}");
    let vars = json!({ "ids": [a, b], "status": "ACTIVE" });
    let report = app.data(&admin, STATUS, vars).await["setMembersStatus"].clone();
    assert_eq!(report["succeededIds"], json!([a, b]));
    let back = app.group_users(org, &format!("groupId: \"{group}\"")).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0]["status"], "active");
    assert_eq!(back[0]["userId"], json!(a));
}

/// Removal: memberships and their group memberships go; the user goes only
/// when no org holds them; the caller and the last admin stay.
async fn remove_members_guards_and_cleans_up(app: &TestApp) {
    let (org, admin_id, admin) = app.org_with_admin("rm").await;
    let (other, _, other_admin) = app.org_with_admin("rm-other").await;
    let group = app.create_group(org, "Team").await;
    let other_group = app.create_group(other, "Theirs").await;
    let solo = app.create_member(org, "solo@rm.example", "user").await;
    let shared = app.create_member(org, "shared@rm.example", "user").await;
    let args = format!("org: \"{other}\", orgId: \"{other}\", userId: \"{shared}\"");
    app.mutate(&app.operator(), "addOrgMember", &args).await;
    for user in [solo, shared] {
        let args = format!("userId: \"{user}\", groupId: \"{group}\"");
        app.mutate(&admin, "addGroupMembership", &args).await;
    }
    let args = format!("userId: \"{shared}\", groupId: \"{other_group}\"");
    app.mutate(&other_admin, "addGroupMembership", &args).await;
    let remove = "mutation($ids: [Uuid!]!) { removeMembers(userIds: $ids) { removedIds undeletedItems { id name code reason } } }";
    let report = app
        .data(&admin, remove, json!({ "ids": [solo, shared, admin_id] }))
        .await["removeMembers"]
        .clone();
    assert_eq!(report["removedIds"], json!([solo, shared]), "{report}");
    let item = &report["undeletedItems"][0];
    assert_eq!(item["code"], "SELF_ACTION");
    assert_eq!(item["name"], "First Last");
    assert!(app.group_users(org, "").await.is_empty());
    let everywhere = "query($e: String) { findUserBy(email: $e) { id } }";
    let op = app.operator();
    let gone = app
        .data(&op, everywhere, json!({ "e": "solo@rm.example" }))
        .await;
    assert_eq!(gone["findUserBy"], json!([]), "a user in no org is deleted");
    let kept = app
        .data(&op, everywhere, json!({ "e": "shared@rm.example" }))
        .await;
    assert_eq!(kept["findUserBy"][0]["id"], json!(shared));
    let theirs = app.group_users(other, "").await;
    assert_eq!(theirs.len(), 1, "the other org's group membership stays");
    // The last active admin, removed by an operator, stays.
    let query = remove.replace("removeMembers(", &format!("removeMembers(org: \"{org}\", "));
    let report = app.data(&op, &query, json!({ "ids": [admin_id] })).await["removeMembers"].clone();
    assert_eq!(
        report["undeletedItems"][0]["code"], "LAST_ADMIN",
        "{report}"
    );
}

const SYNC: &str = "mutation($org: Uuid, $records: [SyncRecord!]!, $mode: SyncMode, $onError: SyncOnError, $dryRun: Boolean) {
  syncMembers(org: $org, records: $records, mode: $mode, onError: $onError, dryRun: $dryRun) {
    dryRun written counts { created updated unchanged retired failed }
    results { index email userId result ignoredFields errorCode error }
    retirements { userId result errorCode error } } }";

async fn sync(app: &TestApp, token: &str, records: Value, options: Value) -> Value {
    let mut vars = json!({ "records": records });
    vars.as_object_mut()
        .unwrap()
        .extend(options.as_object().unwrap().clone());
    app.data(token, SYNC, vars).await["syncMembers"].clone()
}

async fn total(app: &TestApp, token: &str, filter: &str) -> i64 {
    let args = if filter.is_empty() {
        String::new()
    } else {
        format!("({filter})")
    };
    let query = format!("{{ members{args} {{ totalCount }} }}");
    app.data(token, &query, json!({})).await["members"]["totalCount"]
        .as_i64()
        .unwrap()
}

/// ABORT writes nothing when a record fails, SKIP writes the rest, dryRun
/// writes nothing and says what a real run will do; duplicates in one call
/// fail; groups and attributes land.
async fn sync_modes_and_failures(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("syn").await;
    app.create_group(org, "Red").await;
    let good = |i: usize| json!({ "email": format!("p{i}@syn.example"), "externalId": format!("s-{i}"), "firstName": format!("P{i}"), "groups": ["red"], "attributes": {"i": i} });
    let mut records = vec![
        good(1),
        good(2),
        json!({ "email": "broken", "firstName": "B" }),
    ];
    let aborted = sync(app, &admin, json!(records), json!({})).await;
    assert_eq!(aborted["written"], false, "{aborted}");
    assert_eq!(
        aborted["counts"],
        json!({"created": 2, "updated": 0, "unchanged": 0, "retired": 0, "failed": 1})
    );
    assert_eq!(aborted["results"][2]["errorCode"], "INVALID_INPUT");
    assert_eq!(total(app, &admin, "").await, 1, "ABORT wrote something");
    let dry = sync(
        app,
        &admin,
        json!(records),
        json!({ "onError": "SKIP", "dryRun": true }),
    )
    .await;
    assert_eq!(
        (dry["dryRun"].clone(), dry["written"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(total(app, &admin, "").await, 1, "a dry run wrote something");
    let skipped = sync(app, &admin, json!(records), json!({ "onError": "SKIP" })).await;
    assert_eq!(skipped["written"], true);
    assert_eq!(
        skipped["counts"], dry["counts"],
        "the dry run told another story"
    );
    assert_eq!(total(app, &admin, "").await, 3);
    let red = total(app, &admin, "attribute: [{key: \"i\", value: 2}]").await;
    assert_eq!(red, 1);
    let p1 = member(app, &admin, org, r#"externalId: "s-1""#).await;
    assert_eq!(group_names(&p1), ["Red"]);
    // The same email or externalId twice in one call: the later one fails.
    records = vec![
        good(3),
        json!({ "email": "P3@syn.example", "firstName": "Again" }),
        json!({ "email": "other@syn.example", "externalId": "s-3", "firstName": "O" }),
    ];
    let dupes = sync(app, &admin, json!(records), json!({ "onError": "SKIP" })).await;
    let codes: Vec<Value> = dupes["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["errorCode"].clone())
        .collect();
    assert_eq!(
        codes,
        [Value::Null, json!("DUPLICATE"), json!("DUPLICATE")],
        "{dupes}"
    );
    // Again, unchanged: nothing to write.
    let again = sync(app, &admin, json!([good(1), good(2)]), json!({})).await;
    assert_eq!(again["counts"]["unchanged"], 2, "{again}");
}

/// MIRROR retires whoever the records leave out, except the caller and the
/// org's last active admin; records cannot demote the last admin either.
async fn sync_mirror_keeps_the_invariants(app: &TestApp) {
    let (org, admin_id, admin) = app.org_with_admin("mir").await;
    let gone = app.create_member(org, "gone@mir.example", "user").await;
    let op = app.operator();
    let other_admin = app.create_member(org, "boss@mir.example", "admin").await;
    let keep = json!([{ "email": "stay@mir.example", "firstName": "Stay" }]);
    let by_op = |records: Value, options: Value| {
        let mut options = options;
        options["org"] = json!(org);
        sync(app, &op, records, options)
    };
    // The tenant admin mirrors a directory without themselves: they stay.
    let mirrored = sync(app, &admin, keep.clone(), json!({ "mode": "MIRROR" })).await;
    assert_eq!(mirrored["written"], true, "{mirrored}");
    let by_user: Vec<(Value, Value)> = mirrored["retirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["userId"].clone(), r["errorCode"].clone()))
        .collect();
    assert!(
        by_user.contains(&(json!(admin_id), json!("SELF_ACTION"))),
        "{mirrored}"
    );
    assert!(by_user.contains(&(json!(gone), Value::Null)), "{mirrored}");
    assert!(
        by_user.contains(&(json!(other_admin), Value::Null)),
        "{mirrored}"
    );
    assert_eq!(mirrored["counts"]["retired"], 2);
    assert_eq!(total(app, &admin, "statuses: [ACTIVE]").await, 2);
    // A member named by a record that fails is not retired for it.
    let named = app.create_member(org, "named@mir.example", "user").await;
    let faulty = json!([
        { "email": "stay@mir.example", "firstName": "Stay" },
        { "email": "named@mir.example", "groups": ["No such group"] },
    ]);
    let skipped = sync(
        app,
        &admin,
        faulty,
        json!({ "mode": "MIRROR", "onError": "SKIP" }),
    )
    .await;
    assert_eq!(skipped["results"][1]["errorCode"], "NOT_FOUND", "{skipped}");
    assert_eq!(skipped["counts"]["retired"], 0, "{skipped}");
    let still = member(app, &admin, org, &format!("id: \"{named}\"")).await;
    assert_eq!(still["status"], "ACTIVE");
    // So is one whose record does not validate, named by email or by
    // the externalId the org knows them by.
    let keyed = upsert(
        app,
        &admin,
        r#"email: "keyed@mir.example", externalId: "k-1", user: {firstName: "K"}"#,
    )
    .await;
    assert_eq!(keyed["result"], "created", "{keyed}");
    let invalid = json!([
        { "email": "stay@mir.example", "firstName": "Stay" },
        { "email": " Named@Mir.example ", "timezone": "Mars/Olympus" },
        { "email": "elsewhere@mir.example", "externalId": "k-1", "locale": "not a tag!" },
    ]);
    let skipped = sync(
        app,
        &admin,
        invalid,
        json!({ "mode": "MIRROR", "onError": "SKIP" }),
    )
    .await;
    assert_eq!(skipped["counts"]["failed"], 2, "{skipped}");
    assert_eq!(skipped["counts"]["retired"], 0, "{skipped}");
    assert_eq!(total(app, &admin, "statuses: [RETIRED]").await, 2);
    // The operator mirrors without the last active admin: they stay.
    let mirrored = by_op(keep.clone(), json!({ "mode": "MIRROR" })).await;
    assert_eq!(
        mirrored["retirements"][0]["errorCode"], "LAST_ADMIN",
        "{mirrored}"
    );
    assert_eq!(
        total(app, &admin, "statuses: [ACTIVE], roles: [ADMIN]").await,
        1
    );
    // A record demoting the last admin fails; promoting someone first lets it pass.
    let demote = json!([{ "email": "admin@mir.example", "role": "USER" }]);
    let refused = by_op(demote.clone(), json!({})).await;
    assert_eq!(
        refused["results"][0]["errorCode"], "LAST_ADMIN",
        "{refused}"
    );
    let swap = json!([
        { "email": "stay@mir.example", "role": "ADMIN" },
        { "email": "admin@mir.example", "role": "USER" },
    ]);
    let swapped = by_op(swap, json!({})).await;
    assert_eq!(swapped["counts"]["updated"], 2, "{swapped}");
    // The demoted admin's token no longer works; read with another.
    let reader = app.integration(org, "members:read");
    assert_eq!(
        total(app, &reader, "statuses: [ACTIVE], roles: [ADMIN]").await,
        1
    );
}

/// `updateMember(attributes:)` replaces the object; bad attributes are
/// refused with nothing changed; filters match type and value.
async fn attributes_rules(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("attr").await;
    let id = app.create_member(org, "a@attr.example", "user").await;
    let set = |attrs: &str| format!("userId: \"{id}\", attributes: {attrs}");
    let r = app
        .mutate(
            &admin,
            "updateMember",
            &set(r#"{code: "1", on: true, n: 1.5}"#),
        )
        .await;
    assert_eq!(r["result"], "updated", "{r}");
    let r = app
        .mutate(
            &admin,
            "updateMember",
            &set(r#"{on: true, n: 1.5, code: "1"}"#),
        )
        .await;
    assert_eq!(r["result"], "unchanged", "the same object in another order");
    let many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
    let query = format!(
        "mutation($a: JSON) {{ r: updateMember(userId: \"{id}\", attributes: $a) {{ {RESULT} }} }}"
    );
    for bad in [
        json!({ "bad key": 1 }),
        json!({ "a": null }),
        json!({ "a": { "b": 1 } }),
        json!({ "a": [1] }),
        json!([1]),
        Value::Object(many),
        json!({ "big": "x".repeat(9000) }),
    ] {
        let r = app.data(&admin, &query, json!({ "a": bad })).await["r"].clone();
        assert_failed(&r, "INVALID_INPUT");
    }
    let m = member(app, &admin, org, &format!("id: \"{id}\"")).await;
    assert_eq!(m["attributes"], json!({"code": "1", "on": true, "n": 1.5}));
    for (filter, expected) in [
        (r#"{key: "code", value: "1"}"#, 1),
        (r#"{key: "code", value: 1}"#, 0),
        (r#"{key: "on", value: true}"#, 1),
        (r#"{key: "on", value: "true"}"#, 0),
        (r#"{key: "n", value: 1.5}"#, 1),
        (r#"{key: "missing", value: 1}"#, 0),
    ] {
        assert_eq!(
            total(app, &admin, &format!("attribute: [{filter}]")).await,
            expected,
            "{filter}"
        );
    }
}

/// One call may move an email away from one member and give it to a new
/// one.
async fn sync_reuses_an_email_it_frees(app: &TestApp) {
    let (_, _, admin) = app.org_with_admin("reuse").await;
    let first = json!([{ "email": "old@reuse.example", "externalId": "r-1", "firstName": "Old" }]);
    sync(app, &admin, first, json!({})).await;
    let records = json!([
        { "email": "new@reuse.example", "externalId": "r-1" },
        { "email": "old@reuse.example", "externalId": "r-2", "firstName": "Hire" },
    ]);
    let done = sync(app, &admin, records, json!({})).await;
    assert_eq!(done["written"], true, "{done}");
    assert_eq!(done["counts"]["updated"], 1, "{done}");
    assert_eq!(done["counts"]["created"], 1, "{done}");
    assert_eq!(
        total(app, &admin, "externalIds: [\"r-1\", \"r-2\"]").await,
        2
    );
}

/// A dry run only reads: it answers while another transaction holds the
/// write lock (SQLite) or the org's membership rows (PostgreSQL).
async fn dry_run_takes_no_write_lock(app: &TestApp) {
    let (org, _, admin) = app.org_with_admin("dry").await;
    app.create_member(org, "m@dry.example", "user").await;
    let url = app.database_url.clone();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, holding) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        use diesel::{Connection, RunQueryDsl};
        let hold = |conn: &mut dyn FnMut(&str)| {
            held.send(()).unwrap();
            let _ = released.recv();
            conn("ROLLBACK");
        };
        if let Some(path) = url.strip_prefix("sqlite://") {
            let mut c = diesel::SqliteConnection::establish(path).unwrap();
            // The app's own background writers (the webhook dispatcher) may
            // hold the write lock for a moment; wait for it like the app does.
            diesel::sql_query("PRAGMA busy_timeout = 5000")
                .execute(&mut c)
                .unwrap();
            diesel::sql_query("BEGIN IMMEDIATE")
                .execute(&mut c)
                .unwrap();
            hold(&mut |sql| {
                diesel::sql_query(sql).execute(&mut c).unwrap();
            });
        } else {
            let mut c = diesel::PgConnection::establish(&url).unwrap();
            diesel::sql_query("BEGIN").execute(&mut c).unwrap();
            let lock = format!("SELECT 1 FROM memberships WHERE org_id = '{org}' FOR UPDATE");
            diesel::sql_query(lock).execute(&mut c).unwrap();
            hold(&mut |sql| {
                diesel::sql_query(sql).execute(&mut c).unwrap();
            });
        }
    });
    holding.recv().unwrap();
    let records = json!([{ "email": "new@dry.example", "firstName": "New" }]);
    let options = json!({ "mode": "MIRROR", "dryRun": true });
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sync(app, &admin, records, options),
    )
    .await;
    // So does an ABORT call with a record that fails its checks: it can
    // write nothing, so it is only planned.
    let records = json!([
        { "email": "new@dry.example", "firstName": "New" },
        { "email": "not an email", "firstName": "Bad" },
    ]);
    let aborted = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sync(app, &admin, records, json!({})),
    )
    .await;
    release.send(()).unwrap();
    holder.join().unwrap();
    let aborted = aborted.expect("the failing ABORT call waited for the lock");
    assert_eq!(aborted["written"], false, "{aborted}");
    assert_eq!(aborted["dryRun"], false, "{aborted}");
    assert_eq!(aborted["counts"]["created"], 1, "{aborted}");
    assert_eq!(aborted["counts"]["failed"], 1, "{aborted}");
    let answer = answer.expect("the dry run waited for the lock");
    assert_eq!(answer["written"], false, "{answer}");
    assert_eq!(answer["counts"]["created"], 1, "{answer}");
    assert_eq!(answer["counts"]["retired"], 1, "{answer}");
    assert_eq!(total(app, &admin, "statuses: [ACTIVE]").await, 2);
}

crate::both_backends!(
    sync_reuses_an_email_it_frees,
    upsert_creates_then_changes_only_what_is_given,
    upsert_leaves_unmanaged_profiles_alone,
    adding_members_reveals_no_other_org,
    upsert_keeps_the_invariants,
    set_members_status_reports_and_restores,
    remove_members_guards_and_cleans_up,
    sync_modes_and_failures,
    sync_mirror_keeps_the_invariants,
    attributes_rules,
    dry_run_takes_no_write_lock,
);
