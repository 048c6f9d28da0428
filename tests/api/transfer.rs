//! `roster members import` and `export`, run as the real binary: on the
//! test's database (local) and against the running server with an
//! integration token (remote).

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// Runs the binary off the test's runtime (a remote import calls back
/// into the server it runs).
async fn run(app: &TestApp, args: Vec<String>) -> (bool, String, String) {
    let url = app.database_url.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
            .args([
                "--database-url",
                &url,
                "--jwt-secret",
                SECRET,
                "--log",
                "warn",
            ])
            .args(&args)
            .env_remove("ROSTER_TOKEN")
            .output()
            .expect("run roster");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

async fn count(app: &TestApp, org: Uuid, filter: &str) -> i64 {
    let query = format!("{{ members(org: \"{org}\"{filter}) {{ totalCount }} }}");
    app.data(&app.operator(), &query, json!({})).await["members"]["totalCount"]
        .as_i64()
        .unwrap()
}

/// An org with a varied directory: groups, attributes, an admin, a
/// retired member, an externalId and a mobile.
async fn seeded(app: &TestApp, slug: &str) -> Uuid {
    let org = app.create_org(slug).await;
    app.create_group(org, "Sales").await;
    app.create_group(org, "EMEA").await;
    let op = app.operator();
    let query = "mutation($org: Uuid, $r: [SyncRecord!]!) { s: syncMembers(org: $org, records: $r) { counts { created failed } } }";
    let records = json!([
        {"email": "ann@t.example", "firstName": "Ann", "lastName": "Lee", "role": "ADMIN", "groups": ["Sales", "EMEA"],
         "attributes": {"dept": "sales", "level": 3, "remote": true}, "externalId": "E-1", "locale": "nl-NL", "timezone": "Europe/Amsterdam"},
        {"email": "bob@t.example", "firstName": "Bob", "lastName": "Ray", "name": "Bobby R", "mobile": "+31612345678", "groups": ["Sales"]},
        {"email": "cy@t.example", "firstName": "Cy", "lastName": "Dee", "status": "RETIRED", "attributes": {"dept": "ops"}},
    ]);
    let done = app
        .data(&op, query, json!({ "org": org, "r": records }))
        .await;
    assert_eq!(done["s"]["counts"]["created"], 3, "{done}");
    org
}

/// Export, import into an empty org, export again: the same file.
async fn export_import_round_trip(app: &TestApp) {
    let from = seeded(app, "tr-from").await;
    let to = app.create_org("tr-to").await;
    let dir = tempfile::tempdir().unwrap();
    for format in ["csv", "jsonl"] {
        let first = dir.path().join(format!("first.{format}"));
        let second = dir.path().join(format!("second.{format}"));
        let (ok, _, err) = run(
            app,
            args(&[
                "members",
                "export",
                "--org",
                &from.to_string(),
                "--format",
                format,
                "--out",
                first.to_str().unwrap(),
            ]),
        )
        .await;
        assert!(ok, "{err}");
        assert!(err.contains("3 members exported"), "{err}");
        let (ok, out, err) = run(
            app,
            args(&[
                "members",
                "import",
                first.to_str().unwrap(),
                "--org",
                &to.to_string(),
                "--create-groups",
            ]),
        )
        .await;
        assert!(ok, "{out}{err}");
        let (ok, _, err) = run(
            app,
            args(&[
                "members",
                "export",
                "--org",
                &to.to_string(),
                "--format",
                format,
                "--out",
                second.to_str().unwrap(),
            ]),
        )
        .await;
        assert!(ok, "{err}");
        let (a, b) = (
            std::fs::read_to_string(&first).unwrap(),
            std::fs::read_to_string(&second).unwrap(),
        );
        assert_eq!(a, b, "{format} round trip");
        assert!(a.contains("ann@t.example"), "{a}");
        if format == "csv" {
            assert!(a.starts_with("email,externalId,firstName,lastName,name,mobile,locale,timezone,role,status,groups,attr.dept,attr.level,attr.remote\n"), "{a}");
            assert!(a.contains("ann@t.example,E-1,Ann,Lee,Ann Lee,,nl-NL,Europe/Amsterdam,admin,active,EMEA|Sales,sales,3,true"), "{a}");
            assert!(
                a.contains("cy@t.example,,Cy,Dee,Cy Dee,,,,user,retired,,ops,,"),
                "{a}"
            );
        }
    }
    assert_eq!(count(app, to, "").await, 3);
    assert_eq!(count(app, to, ", statuses: [RETIRED]").await, 1);
}

/// `--dry-run` writes nothing; `--mode mirror` retires the absent; a
/// BOM, `;` and a column map are read.
async fn dry_run_mirror_and_dialects(app: &TestApp) {
    let org = seeded(app, "tr-modes").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hr.csv");
    std::fs::write(
        &file,
        "\u{feff}E-mail;Voornaam;Personeelsnummer\nann@t.example;Ann;E-1\ndee@t.example;Dee;E-9\n",
    )
    .unwrap();
    let map = "E-mail=email,Voornaam=firstName,Personeelsnummer=externalId";
    let org_text = org.to_string();
    let base = [
        "members",
        "import",
        file.to_str().unwrap(),
        "--org",
        &org_text,
        "--map",
        map,
    ];
    let mut dry = args(&base);
    dry.extend(args(&["--mode", "mirror", "--dry-run"]));
    let (ok, out, err) = run(app, dry).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("1 created") && out.contains("1 retired") && out.contains("nothing written"),
        "{out}"
    );
    assert_eq!(count(app, org, "").await, 3, "the dry run wrote nothing");
    assert_eq!(count(app, org, ", statuses: [ACTIVE]").await, 2);
    let mut mirror = args(&base);
    mirror.extend(args(&["--mode", "mirror"]));
    let (ok, out, err) = run(app, mirror).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("1 created") && out.contains("1 retired") && out.contains("written"),
        "{out}"
    );
    let active = app
        .data(
            &app.operator(),
            &format!("{{ members(org: \"{org}\", statuses: [ACTIVE]) {{ nodes {{ email }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        active["members"]["nodes"],
        json!([{"email": "ann@t.example"}, {"email": "dee@t.example"}]),
        "bob, absent from the file, is retired"
    );
    // MIRROR takes a file only whole: a row it cannot send would have its
    // member retired, so even `skip` writes nothing.
    let partly = dir.path().join("partly.csv");
    std::fs::write(&partly, "email,firstName,role\nann@t.example,Ann,owner\n").unwrap();
    let (ok, _, err) = run(
        app,
        args(&[
            "members",
            "import",
            partly.to_str().unwrap(),
            "--org",
            &org_text,
            "--mode",
            "mirror",
            "--on-error",
            "skip",
        ]),
    )
    .await;
    assert!(
        !ok && err.contains("--mode mirror needs every row"),
        "{err}"
    );
    assert_eq!(
        count(app, org, ", statuses: [ACTIVE]").await,
        2,
        "nobody retired"
    );
}

/// One bad row in 10,000: `abort` writes nothing and names the line;
/// `skip` writes the rest and reports it; both exit non-zero.
async fn one_bad_row_in_ten_thousand(app: &TestApp) {
    let org = app.create_org("tr-bad").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    let mut text = String::from("email,firstName,role\n");
    for i in 0..10_000 {
        let role = if i == 4_999 { "owner" } else { "user" };
        text.push_str(&format!("p{i}@big.example,P{i},{role}\n"));
    }
    std::fs::write(&file, text).unwrap();
    let report = dir.path().join("report.csv");
    let org_text = org.to_string();
    let base = [
        "members",
        "import",
        file.to_str().unwrap(),
        "--org",
        &org_text,
    ];
    let (ok, out, err) = run(app, args(&base)).await;
    assert!(!ok, "a failed row fails the command: {out}");
    assert!(
        err.contains("line 5001, column role: unknown role \"owner\""),
        "{err}"
    );
    assert_eq!(count(app, org, "").await, 0, "abort wrote nothing");
    let mut skip = args(&base);
    skip.extend(args(&[
        "--on-error",
        "skip",
        "--report",
        report.to_str().unwrap(),
    ]));
    let (ok, out, err) = run(app, skip).await;
    assert!(!ok, "{out}{err}");
    assert!(
        out.contains("9999 created") && out.contains("1 failed"),
        "{out}"
    );
    assert_eq!(count(app, org, "").await, 9_999);
    let report = std::fs::read_to_string(report).unwrap();
    assert!(
        report.starts_with("line,email,result,errorCode,error\n"),
        "{report}"
    );
    assert!(
        report.contains("5001,p4999@big.example,failed,INVALID_INPUT,\"column role:"),
        "{report}"
    );
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines[1].starts_with("2,p0@big.example,created"),
        "in line order"
    );
    assert_eq!(report.lines().count(), 10_001);
}

/// Against the running server with an integration token; another org's
/// members stay out of reach.
async fn remote_with_an_integration_token(app: &TestApp) {
    let org = seeded(app, "tr-remote").await;
    let other = app.create_org("tr-remote-other").await;
    let token = app.integration(org, "members:read members:write groups:read groups:write");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.jsonl");
    std::fs::write(
        &file,
        "{\"email\":\"eve@t.example\",\"firstName\":\"Eve\",\"groups\":[\"Ops\"],\"attributes\":{\"dept\":\"ops\"}}\n\
         {\"email\":\"ann@t.example\",\"firstName\":\"Ann\"}\n",
    )
    .unwrap();
    let org_text = org.to_string();
    let remote = ["--url", &app.base, "--token", &token];
    let mut import = args(&[
        "members",
        "import",
        file.to_str().unwrap(),
        "--org",
        &org_text,
        "--create-groups",
    ]);
    import.extend(args(&remote));
    let (ok, out, err) = run(app, import).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("group Ops: created"), "{out}");
    assert!(out.contains("1 created, 0 updated, 1 unchanged"), "{out}");
    let mut export = args(&["members", "export", "--org", &org_text, "--format", "jsonl"]);
    export.extend(args(&remote));
    let (ok, out, err) = run(app, export).await;
    assert!(ok, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["email"], "eve@t.example");
    assert_eq!(lines[3]["groups"], json!(["Ops"]));
    // The token's org only: another org is FORBIDDEN, nothing read.
    let other_text = other.to_string();
    let mut elsewhere = args(&["members", "export", "--org", &other_text]);
    elsewhere.extend(args(&remote));
    let (ok, out, err) = run(app, elsewhere).await;
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("FORBIDDEN"), "{err}");
    // A read-only token cannot import.
    let reader = app.integration(org, "members:read");
    let mut refused = args(&[
        "members",
        "import",
        file.to_str().unwrap(),
        "--org",
        &org_text,
    ]);
    refused.extend(args(&["--url", &app.base, "--token", &reader]));
    let (ok, _, err) = run(app, refused).await;
    assert!(!ok && err.contains("FORBIDDEN"), "{err}");
}

/// A file too big for one request goes in parts: ABORT checks every part
/// before writing any; MIRROR retires the absent once all are written.
async fn remote_in_parts(app: &TestApp) {
    let org = seeded(app, "tr-parts").await;
    let token = app.integration(org, "members:read members:write");
    let dir = tempfile::tempdir().unwrap();
    let org_text = org.to_string();
    let import = |file: &std::path::Path, extra: &[&str]| {
        let mut list = args(&[
            "members",
            "import",
            file.to_str().unwrap(),
            "--org",
            &org_text,
        ]);
        list.extend(args(&[
            "--url",
            &app.base,
            "--token",
            &token,
            "--chunk-bytes",
            "150",
        ]));
        list.extend(args(extra));
        list
    };
    let mut text = String::from("email,firstName\n");
    for i in 0..8 {
        text.push_str(&format!("n{i}@t.example,N{i}\n"));
    }
    // The server refuses this one (no first-name rule breaks here: the
    // address is malformed), found only when its part is checked.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{text}not-an-address,Z\n")).unwrap();
    let (ok, out, err) = run(app, import(&bad, &[])).await;
    assert!(!ok, "{out}{err}");
    assert!(err.contains("line 10: not-an-address"), "{err}");
    assert!(out.contains("nothing written"), "{out}");
    assert_eq!(count(app, org, "").await, 3, "no part was written");
    // MIRROR in parts: the eight are added, then the three absent retired
    // but for the last active admin.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, &text).unwrap();
    let (ok, out, err) = run(app, import(&good, &["--mode", "mirror"])).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("8 created") && out.contains("1 retired"),
        "{out}"
    );
    assert_eq!(
        count(app, org, ", statuses: [ACTIVE]").await,
        9,
        "ann, the last admin, stays"
    );
}

crate::both_backends!(
    remote_in_parts,
    export_import_round_trip,
    dry_run_mirror_and_dialects,
    one_bad_row_in_ten_thousand,
    remote_with_an_integration_token,
);
