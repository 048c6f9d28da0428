//! Spawning the app and talking to it.

use std::time::{SystemTime, UNIX_EPOCH};

use diesel::{Connection, PgConnection, RunQueryDsl};
use roster::config::{Cli, Command};
use serde_json::{Value, json};
use uuid::Uuid;

/// The HS256 secret every test server verifies with.
pub const SECRET: &str = "roster-test-secret-0123456789abcdef0123456789abcdef";
pub const ISSUER: &str = "roster";
pub const AUDIENCE: &str = "roster";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(app: &TestApp)` as a test on both
/// backends: `<file>::sqlite::name` and `<file>::postgres::name`. Built
/// without `ROSTER_TEST_POSTGRES_URL`, the PostgreSQL ones are ignored
/// (and say why), never reported as passed.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    let app = $crate::helpers::spawn_app($crate::helpers::Backend::Sqlite)
                        .await
                        .expect("sqlite app");
                    super::$name(&app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                #[cfg_attr(
                    not(postgres_tests),
                    ignore = "set ROSTER_TEST_POSTGRES_URL to run it on PostgreSQL"
                )]
                async fn $name() {
                    if let Some(app) =
                        $crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await
                    {
                        super::$name(&app).await;
                    }
                }
            )*
        }
    };
}

/// The tests' HTTP client. Idle connections are dropped before the
/// server's keep-alive (5 s) closes them, so a request after a long pause
/// does not land on a connection the server is closing.
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("client")
}

/// Keeps a test's database alive for the test and removes it afterwards.
enum Storage {
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another instance's database, kept by that instance.
    Shared,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Storage::Postgres { admin_url, name } = self
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub service: roster::service::Service,
    pub database_url: String,
    _storage: Storage,
}

fn postgres_database() -> Option<(String, Storage)> {
    let Ok(admin_url) = std::env::var("ROSTER_TEST_POSTGRES_URL") else {
        if std::env::var("ROSTER_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("ROSTER_TEST_REQUIRE_POSTGRES=1 but ROSTER_TEST_POSTGRES_URL is not set");
        }
        return None;
    };
    let name = format!("roster_test_{}", Uuid::now_v7().simple());
    let mut conn = PgConnection::establish(&admin_url)
        .unwrap_or_else(|e| panic!("cannot reach ROSTER_TEST_POSTGRES_URL: {e}"));
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("ROSTER_TEST_POSTGRES_URL is a URL");
    url.set_path(&name);
    Some((url.to_string(), Storage::Postgres { admin_url, name }))
}

/// Starts Roster on a fresh database; `None` when PostgreSQL is asked for
/// but not configured.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

/// Starts Roster on a fresh database with extra `serve` flags; `None` when
/// PostgreSQL is asked for but not configured.
pub async fn spawn_app_with(backend: Backend, extra: &[&str]) -> Option<TestApp> {
    let (database_url, storage) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("roster.db");
            (
                format!("sqlite://{}", path.display()),
                Storage::Sqlite { _dir: dir },
            )
        }
        Backend::Postgres => postgres_database()?,
    };
    Some(spawn_with(database_url, storage, extra).await)
}

/// The webhook settings every test server starts with, unless the test
/// gives the flag itself.
pub const TEST_WEBHOOK_FLAGS: [(&str, &str); 6] = [
    ("--webhook-allow-http", "true"),
    ("--webhook-allow-private", "true"),
    ("--webhook-timeout", "2s"),
    ("--webhook-first-retry", "200ms"),
    ("--webhook-lease", "4s"),
    ("--webhook-poll", "100ms"),
];

async fn spawn_with(database_url: String, storage: Storage, extra: &[&str]) -> TestApp {
    let mut args = vec![
        "roster",
        "--database-url",
        &database_url,
        "--jwt-secret",
        SECRET,
        "--log",
        "warn",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--db-pool-size",
        "8",
    ];
    // Test receivers listen on 127.0.0.1 over plain HTTP, and the tests
    // want retries, timeouts and lease expiry in seconds, not days.
    for (flag, value) in TEST_WEBHOOK_FLAGS {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    let cli = <Cli as clap::Parser>::try_parse_from(&args).expect("valid test arguments");
    let Some(Command::Serve(serve)) = cli.command else {
        panic!("serve command expected")
    };
    let started = roster::app::start(&cli.common, &serve).expect("start roster");
    actix_web::rt::spawn(started.server);
    TestApp {
        base: format!("http://{}", started.addr),
        client: test_client(),
        service: started.service,
        database_url,
        _storage: storage,
    }
}

impl TestApp {
    /// A second Roster instance on this instance's database, as when
    /// several run behind a load balancer.
    pub async fn second_instance(&self) -> TestApp {
        self.instance_with(&[]).await
    }

    /// Another instance on this database with extra `serve` flags.
    pub async fn instance_with(&self, extra: &[&str]) -> TestApp {
        spawn_with(self.database_url.clone(), Storage::Shared, extra).await
    }

    /// A handle on a server at `base` (another process) that uses this
    /// test's database.
    pub fn at(&self, base: String) -> TestApp {
        TestApp {
            base,
            client: test_client(),
            service: self.service.clone(),
            database_url: self.database_url.clone(),
            _storage: Storage::Shared,
        }
    }

    /// The text column `t` of each row `sql` selects, read from the test's
    /// database behind the server's back.
    pub fn column_text(&self, sql: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        let rows: Vec<Row> = if self.is_postgres() {
            let mut conn = PgConnection::establish(&self.database_url).expect("open PostgreSQL");
            diesel::sql_query(sql).load(&mut conn).expect("run SQL")
        } else {
            let path = self.database_url.trim_start_matches("sqlite://");
            let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
            diesel::sql_query(sql).load(&mut conn).expect("run SQL")
        };
        rows.into_iter().map(|r| r.t).collect()
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    /// Runs SQL on the test's database behind the server's back (to plant
    /// data no API call could write).
    pub fn exec_sql(&self, sql: &str) {
        use diesel::connection::SimpleConnection;
        let mut conn = roster::db::Manager::new(&self.database_url)
            .open()
            .expect("open the test database");
        conn.batch_execute(sql).expect("run SQL");
    }
}

/// Runs the `roster` binary on the test's database with `env` set;
/// returns whether it succeeded, its stdout and its stderr.
pub fn roster_cli(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database-url", &app.database_url, "--jwt-secret", SECRET])
        .args(["--log", "warn"])
        .args(args)
        .env_remove("ROSTER_LISTEN")
        .envs(env.iter().copied())
        .output()
        .expect("run roster");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Starts Roster on a fresh SQLite database with extra `serve` flags.
pub async fn spawn_sqlite_with(extra: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    spawn_with(url, Storage::Sqlite { _dir: dir }, extra).await
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs arbitrary claims with the test secret (HS256).
pub fn sign(claims: &Value) -> String {
    sign_with(jsonwebtoken::Algorithm::HS256, SECRET.as_bytes(), claims)
}

pub fn sign_with(alg: jsonwebtoken::Algorithm, secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("sign token")
}

/// Valid claims for a caller; tweak them for bad-token cases.
pub fn claims(role: &str, org: Option<Uuid>, scope: Option<&str>, sub: &str) -> Value {
    let mut claims = json!({
        "sub": sub,
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": now_secs() + 600,
        "iat": now_secs(),
        "jti": Uuid::now_v7().to_string(),
    });
    if let Some(org) = org {
        claims["org"] = json!(org.to_string());
    }
    if let Some(scope) = scope {
        claims["scope"] = json!(scope);
    }
    claims
}

pub const ALL_SCOPES: &str = "members:read members:write groups:read groups:write";

/// Words that must never reach a client.
const LEAKS: [&str; 9] = [
    "SELECT",
    "INSERT",
    "UPDATE ",
    "sqlite",
    "diesel",
    "panicked",
    "constraint",
    "/tmp/",
    "postgres",
];

pub fn assert_no_leak(body: &str) {
    for word in LEAKS {
        assert!(!body.contains(word), "response leaks {word:?}: {body}");
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn operator(&self) -> String {
        sign(&claims("operator", None, None, "operator-1"))
    }

    /// A tenant admin of `org` acting as user `sub`.
    pub fn admin(&self, org: Uuid, sub: Uuid) -> String {
        sign(&claims("admin", Some(org), None, &sub.to_string()))
    }

    pub fn integration(&self, org: Uuid, scope: &str) -> String {
        sign(&claims("integration", Some(org), Some(scope), "hr-sync"))
    }

    /// POSTs a GraphQL request; returns status and parsed body.
    pub async fn post(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_no_leak(&text);
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        (status, body)
    }

    /// A GraphQL request that must succeed at the HTTP level; returns the
    /// whole body (`data` and maybe `errors`).
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(token, query, variables).await;
        assert_eq!(status, 200, "unexpected status; body: {body}");
        body
    }

    /// `data` of a request that must have no errors.
    pub async fn data(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// The `extensions.code` of the first error of a request that must fail.
    pub async fn error_code(&self, token: &str, query: &str, variables: Value) -> String {
        let body = self.gql(token, query, variables).await;
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error with a code: {body}"))
            .to_owned()
    }

    /// Runs a mutation and returns its `MutationResult`.
    pub async fn mutate(&self, token: &str, field: &str, args: &str) -> Value {
        let query = format!("mutation {{ r: {field}({args}) {{ {RESULT} }} }}");
        let data = self.data(token, &query, json!({})).await;
        data["r"].clone()
    }

    /// Creates an org as operator; returns its id.
    pub async fn create_org(&self, slug: &str) -> Uuid {
        let result = self
            .mutate(
                &self.operator(),
                "createOrg",
                &format!("name: \"Org {slug}\", slug: \"{slug}\""),
            )
            .await;
        assert_eq!(result["result"], "created", "{result}");
        id_of(&result)
    }

    /// Creates a group in `org` as operator; returns its id.
    pub async fn create_group(&self, org: Uuid, name: &str) -> Uuid {
        let args = format!("org: \"{org}\", name: \"{name}\"");
        let result = self.mutate(&self.operator(), "createGroup", &args).await;
        assert_eq!(result["result"], "created", "{result}");
        id_of(&result)
    }

    /// Creates a member of `org` as operator; returns the user id.
    pub async fn create_member(&self, org: Uuid, email: &str, role: &str) -> Uuid {
        let args = format!(
            "org: \"{org}\", email: \"{email}\", first: \"First\", last: \"Last\", role: \"{role}\""
        );
        let result = self.mutate(&self.operator(), "createUser", &args).await;
        assert_eq!(result["result"], "created", "{result}");
        id_of(&result)
    }

    /// An org with one admin; returns (org, admin user id, admin token).
    pub async fn org_with_admin(&self, slug: &str) -> (Uuid, Uuid, String) {
        let org = self.create_org(slug).await;
        let admin = self
            .create_member(org, &format!("admin@{slug}.example"), "admin")
            .await;
        (org, admin, self.admin(org, admin))
    }

    /// The org's members as the operator sees them via `findUserBy`.
    pub async fn find(&self, org: Uuid, criterion: &str) -> Vec<Value> {
        let query = format!(
            "{{ findUserBy(org: \"{org}\", {criterion}) {{ id email name firstName role status externalId managed mobile }} }}"
        );
        let data = self.data(&self.operator(), &query, json!({})).await;
        data["findUserBy"].as_array().cloned().unwrap_or_default()
    }

    /// `groupUsers` rows as the operator sees them.
    pub async fn group_users(&self, org: Uuid, filter: &str) -> Vec<Value> {
        let sep = if filter.is_empty() { "" } else { ", " };
        let query = format!(
            "{{ groupUsers(org: \"{org}\"{sep}{filter}) {{ userId groupId status userName role }} }}"
        );
        let data = self.data(&self.operator(), &query, json!({})).await;
        data["groupUsers"].as_array().cloned().unwrap_or_default()
    }
}

/// The fields of a `MutationResult`.
pub const RESULT: &str = "id result records error errorCode";

pub fn id_of(result: &Value) -> Uuid {
    result["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {result}"))
}

/// Asserts a `MutationResult` failed with `code`.
pub fn assert_failed(result: &Value, code: &str) {
    assert_eq!(result["result"], "failed", "{result}");
    assert_eq!(result["errorCode"], code, "{result}");
    assert!(
        result["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{result}"
    );
    assert_eq!(result["records"], 0, "{result}");
}
