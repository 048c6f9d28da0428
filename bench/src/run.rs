//! The whole benchmark: seed (or reuse) the dataset, start Roster, drive
//! each scenario with wrk, measure the baselines, and report.
//!
//! On a machine with two cores or more, Roster and the in-process
//! baselines run on core 0 and the load generator on core 1 (`taskset`),
//! so that they do not take turns on one core. A database server runs
//! where its own scheduler puts it.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::dataset::{self, BIG_ORG_SLUG, Sizes};
use crate::report::{
    Backend, Machine, Ratio, Report, ScenarioResult, SyncResult, WebhookDeliveries,
};
use crate::scenarios::{self, Load};
use crate::webhooks::{self, Receiver};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// How long each phase runs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timing {
    pub warmup_s: u64,
    pub max_s: u64,
    pub calibrate_s: u64,
    pub paced_s: u64,
    pub baseline_s: f64,
}

impl Timing {
    pub const FULL: Self = Self {
        warmup_s: 3,
        max_s: 10,
        calibrate_s: 3,
        paced_s: 10,
        baseline_s: 8.0,
    };
    pub const QUICK: Self = Self {
        warmup_s: 1,
        max_s: 3,
        calibrate_s: 1,
        paced_s: 3,
        baseline_s: 3.0,
    };
}

/// What `run` needs to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub postgres: Option<String>,
    pub out: PathBuf,
    pub roster: PathBuf,
    pub bench: PathBuf,
    pub lua: PathBuf,
    pub connections: usize,
    pub sync_records: usize,
}

pub fn run(options: &Options) -> Res<Report> {
    let (sizes, timing) = if options.quick {
        (Sizes::QUICK, Timing::QUICK)
    } else {
        (Sizes::FULL, Timing::FULL)
    };
    std::fs::create_dir_all(options.out.join("data"))?;
    let profile = if options.quick { "quick" } else { "full" };
    let mut backends = Vec::new();
    let sqlite = options
        .out
        .join("data")
        .join(format!("roster-{profile}.db"));
    let sqlite_url = format!("sqlite://{}", sqlite.display());
    backends.push(measure_backend(
        options,
        "SQLite",
        &sqlite_url,
        sizes,
        timing,
    )?);
    if let Some(admin_url) = &options.postgres {
        let url = postgres_database(admin_url, &format!("roster_bench_{profile}"))?;
        backends.push(measure_backend(options, "PostgreSQL", &url, sizes, timing)?);
    }
    Ok(Report {
        profile: profile.into(),
        started_at: chrono::Utc::now().to_rfc3339(),
        machine: Machine::read(),
        sizes,
        timing,
        connections: options.connections,
        backends,
    })
}

/// The URL of database `name` on the server `admin_url` names, created
/// when missing.
fn postgres_database(admin_url: &str, name: &str) -> Res<String> {
    use diesel::prelude::*;
    let mut conn = diesel::PgConnection::establish(admin_url)?;
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let exists: Found =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS found")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(&mut conn)?;
    if !exists.found {
        diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn)?;
    }
    let (base, _) = admin_url
        .rsplit_once('/')
        .ok_or("the PostgreSQL URL must name a database")?;
    Ok(format!("{base}/{name}"))
}

/// Cores to pin the server and the load generator to, when there are two.
fn cores() -> Option<(usize, usize)> {
    let two = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    let taskset = Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    (two && taskset).then_some((0, 1))
}

fn pinned(core: Option<usize>, program: &Path) -> Command {
    match core {
        Some(core) => {
            let mut command = Command::new("taskset");
            command.arg("-c").arg(core.to_string()).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn measure_backend(
    options: &Options,
    label: &str,
    url: &str,
    sizes: Sizes,
    timing: Timing,
) -> Res<Backend> {
    eprintln!("== {label}: seeding (or reusing) the dataset");
    let seeded = dataset::seed(url, sizes)?;
    eprintln!(
        "   {} in {:.1} s",
        if seeded.reused { "reused" } else { "seeded" },
        seeded.seconds
    );
    let cores = cores();
    let run_id = format!("{}", chrono::Utc::now().timestamp_millis());
    let server = Server::start(options, url, cores.map(|c| c.0))?;
    let big_org = {
        let db = roster::db::Db::connect(url, 1)?;
        dataset::org_id(&mut *db.pool.get()?, BIG_ORG_SLUG)?
    };
    let operator = server.token(&["--role", "operator"])?;
    let admin = server.admin_token(&operator, &big_org, &run_id)?;
    let writes_org = server.create_org(&operator, &format!("bench-writes-{run_id}"))?;
    let writer = server.admin_token(&operator, &writes_org, &run_id)?;
    // SCIM clients hold an org's integration token with the `scim` scope.
    let scim_big = server.token(&[
        "--role",
        "integration",
        "--org",
        &big_org,
        "--scope",
        "scim",
    ])?;
    // /Bulk writes into an org of its own, so that its figures do not
    // depend on what createUser left in the writes org.
    let scim_org = server.create_org(&operator, &format!("bench-scim-{run_id}"))?;
    let scim_writer = server.token(&[
        "--role",
        "integration",
        "--org",
        &scim_org,
        "--scope",
        "scim",
    ])?;
    eprintln!("   finding a cursor deep in the large org");
    let deep_cursor = server.deep_cursor(&admin, sizes.big_org * 9 / 10)?;
    let loads = vec![
        scenarios::static_route(),
        scenarios::typename(&admin),
        scenarios::find_user_by_email(&admin, sizes.big_org),
        scenarios::user_by_external_id(&admin, sizes.big_org),
        scenarios::members_page("members page 1 (50, with groups)", &admin, None),
        scenarios::members_page(
            "members deep page (50, with groups)",
            &admin,
            Some(&deep_cursor),
        ),
        scenarios::create_user(&writer),
        // The writes org's log, filled by createUser just before.
        scenarios::events_page(&writer),
        scenarios::scim_filter_user(&scim_big, sizes.big_org),
        scenarios::scim_bulk(&scim_writer),
    ];
    let receiver = Receiver::start()?;
    let mut results = Vec::new();
    let mut deliveries = None;
    for load in &loads {
        eprintln!("   {}", load.name);
        let (result, webhook) = if load.name == scenarios::CREATE_USER {
            let (result, webhook) = measure_with_webhook(
                options,
                &server,
                load,
                timing,
                cores.map(|c| c.1),
                (&receiver, &writer, &writes_org),
            )?;
            (result, Some(webhook))
        } else {
            let result = measure_load(options, &server, load, timing, cores.map(|c| c.1))?;
            (result, None)
        };
        eprintln!(
            "      {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms at {:.0}% load; {} errors; {:.2} SQL/request",
            result.max_rps,
            result.p50_ms,
            result.p99_ms,
            result.paced_load_pct,
            result.errors,
            result.sql_per_request
        );
        if result.operations_per_request > 1 {
            eprintln!(
                "      {:.0} operations/s ({} per request)",
                result.max_operations_per_s, result.operations_per_request
            );
        }
        if let Some(w) = &webhook {
            eprintln!(
                "      webhooks: {}/{} delivered, {} duplicates; lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; \
                 {:.0} deliveries/s in the {:.1} s load ({:.0} created/s); last {:.1} s after it",
                w.delivered,
                w.created,
                w.duplicates,
                w.lag_p50_ms,
                w.lag_p99_ms,
                w.lag_max_ms,
                w.per_second,
                w.load_s,
                w.created_per_second,
                w.last_after_load_s
            );
            deliveries = webhook;
        }
        results.push(result);
    }
    drop(receiver);
    let webhooks = deliveries.ok_or("the createUser scenario did not run")?;
    eprintln!("   syncMembers of {} records", options.sync_records);
    let sync = server.sync(&operator, &run_id, options.sync_records)?;
    eprintln!(
        "      first {:.2} s, again {:.2} s; peak RSS {:.0} MB",
        sync.first_s, sync.again_s, sync.peak_rss_mb
    );
    let peak_rss_mb = server.peak_rss_mb_overall();
    drop(server);
    eprintln!("   B2: findUserBy's SQL through diesel in-process");
    let b2 = baseline(
        options,
        cores.map(|c| c.0),
        &[
            "b2",
            "--database-url",
            url,
            "--big-org",
            &sizes.big_org.to_string(),
            "--seconds",
            &timing.baseline_s.to_string(),
        ],
    )?;
    let pgbench = if url.starts_with("postgres") {
        eprintln!("   B2': pgbench -M prepared with the same SQL");
        Some(pgbench(
            url,
            b2["sql"].as_str().unwrap_or_default(),
            &big_org,
            sizes.big_org,
            timing.baseline_s,
            cores.map(|c| c.1),
        )?)
    } else {
        None
    };
    eprintln!("   B3: the sync's rows in one batched insert");
    let b3 = baseline(
        options,
        cores.map(|c| c.0),
        &[
            "b3",
            "--database-url",
            url,
            "--records",
            &options.sync_records.to_string(),
            "--run",
            &run_id,
        ],
    )?;
    let by_name = |prefix: &str| results.iter().find(|r| r.name.starts_with(prefix));
    let rps = |prefix: &str| by_name(prefix).map_or(0.0, |r| r.max_rps);
    let b2_rate = b2["per_second"].as_f64().unwrap_or(0.0);
    let b3_s = b3["seconds"].as_f64().unwrap_or(0.0);
    let page = by_name("members page 1");
    let deep = by_name("members deep");
    let total_errors: u64 = results.iter().map(|r| r.errors).sum::<u64>() + sync.errors;
    let mut ratios = vec![
        Ratio::at_least("B1 / B0 throughput", rps("B1") / rps("B0"), 0.45),
        Ratio::at_least(
            "findUserBy / B1 throughput",
            rps("findUserBy") / rps("B1"),
            0.70,
        ),
        Ratio::report("findUserBy / B2 throughput", rps("findUserBy") / b2_rate),
    ];
    if let Some(pgbench) = &pgbench {
        ratios.push(Ratio::at_least(
            "findUserBy / pgbench throughput",
            rps("findUserBy") / pgbench.tps,
            0.60,
        ));
    }
    if let (Some(page), Some(deep)) = (page, deep) {
        ratios.push(Ratio::at_most(
            "deep page / page 1 latency (p50 without load)",
            deep.serial_p50_ms / page.serial_p50_ms,
            1.2,
        ));
        ratios.push(Ratio::report(
            "deep page / page 1 latency (p50 at 80% load)",
            deep.p50_ms / page.p50_ms,
        ));
        ratios.push(Ratio::report(
            "deep page / page 1 throughput",
            deep.max_rps / page.max_rps,
        ));
        ratios.push(Ratio::at_most(
            "SQL statements for a page of 50 with groups",
            page.sql_per_request,
            3.0,
        ));
    }
    ratios.push(Ratio::at_least(
        "syncMembers / B3 (B3 time ÷ sync time)",
        b3_s / sync.first_s,
        0.30,
    ));
    ratios.push(Ratio::at_most("server peak RSS, MB", peak_rss_mb, 100.0));
    ratios.push(Ratio::at_most("errors", total_errors as f64, 0.0));
    Ok(Backend {
        backend: label.into(),
        seeded,
        scenarios: results,
        sync,
        b2,
        pgbench,
        b3,
        peak_rss_mb,
        webhooks,
        ratios,
    })
}

/// The longest wait after createUser for its deliveries to catch up.
const DELIVERY_WAIT: Duration = Duration::from_secs(60);
/// The wait ends sooner when nothing arrives for this long: longer than
/// the worker's first retry (10 s), so that one retry can still land.
const DELIVERY_IDLE: Duration = Duration::from_secs(15);
/// The least wait, for createUser requests still committing when wrk
/// stopped.
const DELIVERY_SETTLE: Duration = Duration::from_secs(1);

/// A load (createUser) run with a webhook endpoint on the writes org that
/// points at `receiver`, then the deliveries it caused. The endpoint is
/// deleted afterwards, so that a backlog left after the wait does not go on
/// loading the server during the next scenarios.
fn measure_with_webhook(
    options: &Options,
    server: &Server,
    load: &Load,
    timing: Timing,
    core: Option<usize>,
    (receiver, writer, org): (&Receiver, &str, &str),
) -> Res<(ScenarioResult, WebhookDeliveries)> {
    let db = roster::db::Db::connect(&server.url, 1)?;
    let count = || -> Res<u64> { member_created_count(&mut *db.pool.get()?, org) };
    let hook = server.create_webhook(writer, &receiver.url())?;
    receiver.clear();
    let before = count()?;
    let started = chrono::Utc::now();
    let result = measure_load(options, server, load, timing, core)?;
    let ended = chrono::Utc::now();
    let waited = webhooks::wait_for_deliveries(
        receiver,
        org,
        &mut || Ok(count()?.saturating_sub(before)),
        DELIVERY_SETTLE,
        DELIVERY_IDLE,
        DELIVERY_WAIT,
    )?;
    let summary = webhooks::summarize(
        &receiver.receipts(),
        receiver.rejected(),
        org,
        waited.created,
        (started, ended),
        waited.seconds,
    );
    // The figures are in hand; a failed clean-up costs at most some
    // background sending, so it is reported, not fatal.
    if let Err(error) = server.delete_webhook(writer, &hook) {
        eprintln!("      could not delete the bench's webhook: {error}");
    }
    Ok((result, summary))
}

/// `member.created` events of `org` in the log.
fn member_created_count(conn: &mut roster::db::DbConn, org: &str) -> Res<u64> {
    use diesel::prelude::*;
    use roster::db::schema::events;
    let n: i64 = events::table
        .filter(events::org_id.eq(org))
        .filter(events::kind.eq(webhooks::EVENT_TYPE))
        .count()
        .get_result(conn)?;
    Ok(n.max(0) as u64)
}

/// Runs a baseline subcommand of this binary, pinned like the server.
fn baseline(options: &Options, core: Option<usize>, args: &[&str]) -> Res<Value> {
    let output = pinned(core, &options.bench)
        .args(args)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("baseline {} failed", args[0]).into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// pgbench's figure for the lookup.
#[derive(Debug, Clone, Serialize)]
pub struct Pgbench {
    pub tps: f64,
    pub clients: usize,
    pub script: String,
}

fn pgbench(
    url: &str,
    sql: &str,
    org: &str,
    big_org: usize,
    seconds: f64,
    core: Option<usize>,
) -> Res<Pgbench> {
    // findUserBy binds org, email and limit, in that order.
    let statement = sql
        .replace("$1", &format!("'{org}'"))
        .replace(
            "$2",
            &format!("('u' || :n::text || '@{}')", dataset::EMAIL_DOMAIN),
        )
        .replace("$3", "10");
    let script = format!("\\set n random(0, {})\n{statement};\n", big_org - 1);
    let file = std::env::temp_dir().join(format!("roster-pgbench-{}.sql", std::process::id()));
    std::fs::write(&file, &script)?;
    let clients = 4;
    let output = pinned(core, Path::new("pgbench"))
        .args(["-n", "-M", "prepared", "-j", "1", "-c"])
        .arg(clients.to_string())
        .arg("-T")
        .arg((seconds.ceil() as u64).to_string())
        .arg("-f")
        .arg(&file)
        .arg(url)
        .output()?;
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&output.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.trim_start_matches("tps = ").split(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| {
            format!(
                "pgbench gave no figure: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    Ok(Pgbench {
        tps,
        clients,
        script,
    })
}

/// Drives one scenario: warm-up, the highest rate wrk reaches, then a run
/// paced to 80% of it for the latency figures.
fn measure_load(
    options: &Options,
    server: &Server,
    load: &Load,
    timing: Timing,
    core: Option<usize>,
) -> Res<ScenarioResult> {
    let wrk = |phase: &str, connections: usize, seconds: u64, delay_ms: u64| {
        run_wrk(
            options,
            server,
            load,
            phase,
            connections,
            seconds,
            delay_ms,
            core,
        )
    };
    let c = options.connections;
    let warm = wrk("warm", c, timing.warmup_s, 0)?;
    server.reset_peak_rss();
    let max = wrk("max", c, timing.max_s, 0)?;
    let max_rps = max.rate();
    let serial = server.one_at_a_time(load, 50)?;
    // Latency without load: one connection, one request at a time.
    let unloaded = wrk("unloaded", 1, timing.calibrate_s.max(2), 0)?;
    // Paced: each of `paced_c` connections waits `delay` ms before each
    // request; size the pool so that a cycle is about 10 ms or more,
    // then correct the delay for the latency seen in a short calibration.
    let target = 0.8 * max_rps;
    let paced_c = ((target * 0.010).ceil() as usize).clamp(4, 512);
    let cycle_ms = paced_c as f64 * 1000.0 / target;
    let first_delay = cycle_ms.round().max(1.0) as u64;
    let calibration = wrk("calibrate", paced_c, timing.calibrate_s, first_delay)?;
    let seen_cycle = paced_c as f64 * 1000.0 / calibration.rate().max(1.0);
    let latency_ms = (seen_cycle - first_delay as f64).max(0.0);
    let delay = (cycle_ms - latency_ms).round().max(1.0) as u64;
    let paced = wrk("paced", paced_c, timing.paced_s, delay)?;
    let peak_rss_mb = server.peak_rss_mb();
    let errors = [&warm, &max, &unloaded, &calibration, &paced]
        .iter()
        .map(|r| r.errors())
        .sum::<u64>()
        + serial.failures;
    Ok(ScenarioResult {
        name: load.name.into(),
        max_rps,
        requests: max.requests,
        operations_per_request: load.operations,
        max_operations_per_s: max_rps * load.operations as f64,
        p50_ms: paced.p50_us as f64 / 1000.0,
        p99_ms: paced.p99_us as f64 / 1000.0,
        max_p50_ms: max.p50_us as f64 / 1000.0,
        max_p99_ms: max.p99_us as f64 / 1000.0,
        paced_rps: paced.rate(),
        paced_load_pct: 100.0 * paced.rate() / max_rps.max(1.0),
        paced_connections: paced_c,
        errors,
        sql_per_request: serial.statements,
        serial_p50_ms: unloaded.p50_us as f64 / 1000.0,
        peak_rss_mb,
    })
}

/// What the Lua script prints at the end of a wrk run.
#[derive(Debug, Clone, serde::Deserialize)]
struct WrkResult {
    requests: u64,
    duration_us: u64,
    failures: u64,
    socket_errors: u64,
    status_errors: u64,
    timeouts: u64,
    p50_us: u64,
    p99_us: u64,
}

impl WrkResult {
    fn rate(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }

    fn errors(&self) -> u64 {
        self.failures + self.socket_errors + self.status_errors + self.timeouts
    }
}

#[allow(clippy::too_many_arguments)]
fn run_wrk(
    options: &Options,
    server: &Server,
    load: &Load,
    phase: &str,
    connections: usize,
    seconds: u64,
    delay_ms: u64,
    core: Option<usize>,
) -> Res<WrkResult> {
    let mut command = pinned(core, Path::new("wrk"));
    command
        .args(["-t1", "--timeout", "10s", "-c"])
        .arg(connections.to_string())
        .arg("-d")
        .arg(format!("{seconds}s"))
        .arg("-s")
        .arg(&options.lua)
        // The URL wrk is given must parse: placeholders in the path are
        // left to the script (BENCH_PATH).
        .arg(format!(
            "{}{}",
            server.base,
            load.path.replace("{n}", "0").replace("{u}", "0")
        ))
        .env("BENCH_RANGE", load.range.to_string())
        .env("BENCH_DELAY_MS", delay_ms.to_string())
        .env("BENCH_RUN", format!("{phase}{}", server.started_ms))
        .env("BENCH_EXPECT_COUNT", load.expect_count.to_string())
        .env(
            "BENCH_CHECK",
            if load.body.is_some() || load.expect.is_some() {
                "1"
            } else {
                "0"
            },
        );
    let path = load.path.contains('{').then(|| load.path.clone());
    let media = load.media.map(str::to_owned);
    for (name, value) in [
        ("BENCH_BODY", &load.body),
        ("BENCH_PATH", &path),
        ("BENCH_MEDIA", &media),
        ("BENCH_TOKEN", &load.token),
        ("BENCH_EXPECT", &load.expect),
    ] {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let output = command.stderr(Stdio::inherit()).output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_RESULT "))
        .ok_or_else(|| format!("wrk printed no result: {text}"))?;
    Ok(serde_json::from_str(line)?)
}

/// Requests sent one at a time.
struct Serial {
    statements: f64,
    failures: u64,
}

/// A Roster server started for the benchmark, stopped on drop.
struct Server {
    child: Child,
    base: String,
    url: String,
    secret: String,
    roster: PathBuf,
    agent: ureq::Agent,
    started_ms: i64,
    overall_peak_kb: std::cell::Cell<u64>,
}

impl Server {
    fn start(options: &Options, url: &str, core: Option<usize>) -> Res<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let secret = format!(
            "bench-{}-0123456789abcdef0123456789abcdef",
            std::process::id()
        );
        let child = pinned(core, &options.roster)
            .args([
                "--database-url",
                url,
                "--jwt-secret",
                &secret,
                "--log",
                "warn",
            ])
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--workers", "1", "--db-pool-size", "4"])
            // The webhook worker runs (whatever the caller's environment
            // says) and may send to the bench's receiver on plain http at
            // 127.0.0.1.
            .env("ROSTER_WEBHOOK_DELIVERY", "true")
            .env("ROSTER_WEBHOOK_ALLOW_HTTP", "true")
            .env("ROSTER_WEBHOOK_ALLOW_PRIVATE", "true")
            .stdout(Stdio::null())
            .spawn()?;
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            url: url.into(),
            secret,
            roster: options.roster.clone(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(600))
                .build(),
            started_ms: chrono::Utc::now().timestamp_millis(),
            overall_peak_kb: std::cell::Cell::new(0),
        };
        let started = Instant::now();
        while server
            .agent
            .get(&format!("{}/readyz", server.base))
            .call()
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("roster did not come up in 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    fn token(&self, args: &[&str]) -> Res<String> {
        let output = Command::new(&self.roster)
            .args(["--database-url", &self.url, "--jwt-secret", &self.secret])
            .args(["--log", "warn", "token", "issue", "--ttl", "4h"])
            .args(args)
            .output()?;
        if !output.status.success() {
            return Err(format!(
                "token issue failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        Ok(String::from_utf8(output.stdout)?.trim().to_owned())
    }

    /// A tenant admin token for `org`: an admin's rights follow their
    /// membership, so a new admin member of `org` is made for it.
    fn admin_token(&self, operator: &str, org: &str, run_id: &str) -> Res<String> {
        let data = self.graphql(
            operator,
            "mutation($org: Uuid, $e: String!) { createUser(org: $org, email: $e, first: \"Bench\", last: \"Admin\", role: \"admin\") { id result error } }",
            json!({ "org": org, "e": format!("bench-admin-{run_id}-{}@bench.example", uuid::Uuid::now_v7()) }),
        )?;
        let sub = data["createUser"]["id"]
            .as_str()
            .ok_or_else(|| format!("creating the bench admin failed: {data}"))?
            .to_owned();
        self.token(&["--role", "admin", "--org", org, "--sub", &sub])
    }

    fn graphql(&self, token: &str, query: &str, variables: Value) -> Res<Value> {
        let response = self
            .agent
            .post(&format!("{}/graphql", self.base))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(json!({ "query": query, "variables": variables }))?;
        let mut text = String::new();
        response
            .into_reader()
            .take(512 * 1024 * 1024)
            .read_to_string(&mut text)?;
        let body: Value = serde_json::from_str(&text)?;
        if body.get("errors").is_some() {
            return Err(format!("GraphQL errors: {}", body["errors"]).into());
        }
        Ok(body["data"].clone())
    }

    fn create_org(&self, operator: &str, slug: &str) -> Res<String> {
        let data = self.graphql(
            operator,
            "mutation($slug: String!) { createOrg(name: $slug, slug: $slug) { id result error } }",
            json!({ "slug": slug }),
        )?;
        data["createOrg"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("createOrg failed: {data}").into())
    }

    /// A webhook endpoint of the token's org at `url`, for `member.created`
    /// only; its id.
    fn create_webhook(&self, token: &str, url: &str) -> Res<String> {
        let data = self.graphql(
            token,
            "mutation($url: String!, $types: [String!]) { createWebhook(url: $url, types: $types, description: \"roster-bench receiver\") { result error webhook { id } } }",
            json!({ "url": url, "types": [webhooks::EVENT_TYPE] }),
        )?;
        data["createWebhook"]["webhook"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("createWebhook failed: {data}").into())
    }

    fn delete_webhook(&self, token: &str, id: &str) -> Res<()> {
        let data = self.graphql(
            token,
            "mutation($id: Uuid!) { deleteWebhook(id: $id) { result error } }",
            json!({ "id": id }),
        )?;
        if data["deleteWebhook"]["error"].is_null() {
            Ok(())
        } else {
            Err(format!("deleteWebhook failed: {data}").into())
        }
    }

    /// The cursor after the first `position` members (NAME order).
    fn deep_cursor(&self, token: &str, position: usize) -> Res<String> {
        let query = "query($n: Int, $after: String) { members(first: $n, after: $after) { pageInfo { endCursor } } }";
        let mut after: Option<String> = None;
        let mut walked = 0;
        while walked < position {
            let n = (position - walked).min(500);
            let data = self.graphql(token, query, json!({ "n": n, "after": after }))?;
            after = data["members"]["pageInfo"]["endCursor"]
                .as_str()
                .map(str::to_owned);
            walked += n;
        }
        after.ok_or_else(|| "the large org has no members".into())
    }

    /// syncMembers into a new org: all created, then all unchanged.
    fn sync(&self, operator: &str, run_id: &str, count: usize) -> Res<SyncResult> {
        let org = self.create_org(operator, &format!("bench-sync-{run_id}"))?;
        let admin = self.admin_token(operator, &org, run_id)?;
        for g in 0..10 {
            self.graphql(
                &admin,
                "mutation($name: String!) { createGroup(name: $name) { result } }",
                json!({ "name": format!("Team {g}") }),
            )?;
        }
        let records = scenarios::sync_records(&format!("sync-{run_id}"), count);
        let body =
            json!({ "query": scenarios::SYNC_MUTATION, "variables": { "r": records } }).to_string();
        let mut times = Vec::new();
        let mut statements = Vec::new();
        let mut errors = 0;
        self.reset_peak_rss();
        for expected in ["created", "unchanged"] {
            let before = self.statements()?;
            let started = Instant::now();
            let response = self
                .agent
                .post(&format!("{}/graphql", self.base))
                .set("Authorization", &format!("Bearer {admin}"))
                .set("Content-Type", "application/json")
                .send_string(&body)?;
            let answer: Value = serde_json::from_reader(response.into_reader())?;
            times.push(started.elapsed().as_secs_f64());
            statements.push(self.statements()? - before);
            let counts = &answer["data"]["syncMembers"]["counts"];
            if answer.get("errors").is_some() || counts[expected] != json!(count) {
                eprintln!("      unexpected sync answer: {}", counts);
                errors += 1;
            }
        }
        Ok(SyncResult {
            records: count,
            body_bytes: body.len(),
            first_s: times[0],
            again_s: times[1],
            first_statements: statements[0],
            again_statements: statements[1],
            peak_rss_mb: self.peak_rss_mb(),
            errors,
        })
    }

    /// Sends `count` requests one after another: SQL statements per request
    /// (none is in flight when the counter is read), and how many failed.
    fn one_at_a_time(&self, load: &Load, count: u64) -> Res<Serial> {
        let before = self.statements()?;
        let mut failures = 0;
        for i in 0..count {
            let n = (dataset::mix(i) % load.range.max(1) as u64).to_string();
            let u = format!("serial{}-{i}", self.started_ms);
            let fill = |text: &str| text.replace("{n}", &n).replace("{u}", &u);
            let url = format!("{}{}", self.base, fill(&load.path));
            let mut request = match &load.body {
                Some(_) => self.agent.post(&url),
                None => self.agent.get(&url),
            };
            if let Some(token) = &load.token {
                request = request.set("Authorization", &format!("Bearer {token}"));
            }
            if let Some(media) = load.media {
                request = request.set("Accept", media);
            }
            let response = match &load.body {
                Some(body) => request
                    .set("Content-Type", load.media.unwrap_or("application/json"))
                    .send_string(&fill(body)),
                None => request.call(),
            };
            let good = response
                .ok()
                .and_then(|r| r.into_string().ok())
                .is_some_and(|text| {
                    !text.contains("\"errors\"")
                        && load
                            .expect
                            .as_ref()
                            .is_none_or(|e| text.matches(e.as_str()).count() >= load.expect_count)
                });
            if !good {
                failures += 1;
            }
        }
        let statements = self.statements()? - before;
        Ok(Serial {
            statements: statements as f64 / count as f64,
            failures,
        })
    }

    fn statements(&self) -> Res<u64> {
        let text = self
            .agent
            .get(&format!("{}/metrics", self.base))
            .call()?
            .into_string()?;
        text.lines()
            .find_map(|l| l.strip_prefix("roster_sql_statements_total "))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| "no roster_sql_statements_total in /metrics".into())
    }

    fn status_kb(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(field))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Starts a new peak-RSS window (Linux: `clear_refs` 5).
    fn reset_peak_rss(&self) {
        self.remember_peak();
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    fn remember_peak(&self) {
        let peak = self.status_kb("VmHWM:");
        self.overall_peak_kb
            .set(self.overall_peak_kb.get().max(peak));
    }

    /// Peak RSS since the last reset.
    fn peak_rss_mb(&self) -> f64 {
        self.remember_peak();
        self.status_kb("VmHWM:") as f64 / 1024.0
    }

    fn peak_rss_mb_overall(&self) -> f64 {
        self.remember_peak();
        self.overall_peak_kb.get() as f64 / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
