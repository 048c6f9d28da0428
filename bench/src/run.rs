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

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::dataset::{self, BIG_ORG_SLUG, Sizes};
use crate::openloop::{self, OpenLoop, Spec};
use crate::report::{
    Backend, Ideal, Machine, PageDepth, PageDepths, Ratio, Report, ScenarioResult, SyncPoint,
    WebhookDeliveries,
};
use crate::scenarios::{self, Load};
use crate::webhooks::{self, Receiver};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// How long each phase runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Timing {
    pub warmup_s: u64,
    /// wrk at full load: the maximum throughput.
    pub max_s: u64,
    /// wrk on one connection: the latency without load.
    pub unloaded_s: u64,
    /// Each open-loop run (at 50% and at 80% of the maximum).
    pub openloop_s: f64,
    /// Each members page depth.
    pub depth_s: f64,
    pub baseline_s: f64,
}

impl Timing {
    pub const FULL: Self = Self {
        warmup_s: 3,
        max_s: 10,
        unloaded_s: 3,
        openloop_s: 10.0,
        depth_s: 10.0,
        baseline_s: 8.0,
    };
    pub const QUICK: Self = Self {
        warmup_s: 1,
        max_s: 3,
        unloaded_s: 2,
        openloop_s: 3.0,
        depth_s: 3.0,
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

/// syncMembers of each size on a server started for it alone (a new
/// process on the database), so that its peak RSS is what the call takes
/// on top of a fresh server, not on top of what earlier scenarios left.
pub fn sync_fresh(options: &Options, url: &str, counts: &[usize]) -> Res<Vec<SyncPoint>> {
    let mut points = Vec::new();
    for &count in counts {
        let server = Server::start(options, url, cores().map(|c| c.0))?;
        let run_id = format!("{}", chrono::Utc::now().timestamp_millis());
        let operator = server.token(&["--role", "operator"])?;
        eprintln!(
            "   a fresh server: RSS {:.0} MB",
            server.status_kb("VmRSS:") as f64 / 1024.0
        );
        points.extend(server.sync_into_new_org(&operator, &run_id, count, false)?);
    }
    Ok(points)
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
        openloop_connections: openloop::CONNECTIONS,
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
    // The cursors of the deep page and of the depth runs, in one walk.
    let depth_pages: &[usize] = &[1, 10, 100, 1_000, 2_000];
    let deep_position = sizes.big_org * 9 / 10;
    let mut positions: Vec<usize> = depth_pages
        .iter()
        .map(|p| (p - 1) * PAGE)
        .filter(|&at| at > 0 && at + PAGE <= sizes.big_org)
        .collect();
    positions.push(deep_position);
    eprintln!("   finding cursors deep in the large org");
    let cursors = server.cursors_at(&admin, &positions)?;
    let cursor = |at: usize| {
        cursors
            .iter()
            .find(|(p, _)| *p == at)
            .map(|(_, c)| c.clone())
    };
    let deep_cursor = cursor(deep_position).ok_or("no cursor for the deep page")?;
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
        let open = |r: &Option<OpenLoop>| {
            r.as_ref().map_or_else(String::new, |r| {
                format!(
                    "; open loop {:.0}/s: p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
                    r.achieved_rps, r.p50_ms, r.p99_ms, r.p999_ms
                )
            })
        };
        eprintln!(
            "      {:.0} req/s{}{}; {} errors; {:.2} SQL/request",
            result.max_rps,
            open(&result.at_50),
            open(&result.at_80),
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
    let by_name = |prefix: &str| results.iter().find(|r| r.name.starts_with(prefix));
    // Page depth: each page open loop at one moderate rate, a quarter of
    // page 1's maximum at most.
    let page1_rps = by_name("members page 1").map_or(0.0, |r| r.max_rps);
    let depth_rate = DEPTH_RATE.min(page1_rps / 4.0).max(1.0);
    let mut pages = Vec::new();
    for &page in depth_pages {
        let after = (page - 1) * PAGE;
        let at = if after == 0 {
            None
        } else {
            match cursor(after) {
                Some(c) => Some(c),
                None => continue,
            }
        };
        eprintln!("   members page {page} (after {after}), open loop at {depth_rate:.0} req/s");
        let load = scenarios::members_page_at(&admin, at.as_deref());
        let latency = run_openloop(
            options,
            &server,
            &load,
            &format!("depth{page}-"),
            depth_rate,
            timing.depth_s,
            cores.map(|c| c.1),
        )?;
        eprintln!(
            "      p50 {:.2} ms, p99 {:.2} ms; {} errors",
            latency.p50_ms, latency.p99_ms, latency.errors
        );
        pages.push(PageDepth {
            page,
            after,
            latency,
        });
    }
    let page_depth = PageDepths {
        rate_rps: depth_rate,
        pages,
    };
    let peak_rss_mb = server.peak_rss_mb_overall();
    let sync = server.sync_scaling(&operator, &run_id, sync_sizes(options.sync_records))?;
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
    eprintln!("   t_sql: each read's statements on one thread, in-process");
    let sql_cost = baseline(
        options,
        cores.map(|c| c.0),
        &[
            "sql-cost",
            "--database-url",
            url,
            "--big-org",
            &sizes.big_org.to_string(),
            "--seconds",
            &(timing.baseline_s / 2.0).to_string(),
        ],
    )?;
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
    let rps = |prefix: &str| by_name(prefix).map_or(0.0, |r| r.max_rps);
    let b2_rate = b2["per_second"].as_f64().unwrap_or(0.0);
    let b3_s = b3["seconds"].as_f64().unwrap_or(0.0);
    let page = by_name("members page 1");
    let deep = by_name("members deep");
    let sync_at = |records: usize, expected: &str| {
        sync.iter()
            .find(|p| p.records == records && p.expected == expected)
    };
    let reference = sync_at(options.sync_records, "created");
    let total_errors: u64 = results.iter().map(|r| r.errors).sum::<u64>()
        + page_depth
            .pages
            .iter()
            .map(|p| p.latency.errors)
            .sum::<u64>()
        + sync.iter().filter(|p| !p.ok).count() as u64;
    // (CPU time, wall time) per run of a read on one thread.
    let t_sql_us = |read: &str| {
        let cost = sql_cost["reads"]
            .as_array()?
            .iter()
            .find(|r| r["read"] == read)?;
        let wall = cost["us_per_run"].as_f64()?;
        Some((cost["cpu_us_per_run"].as_f64().unwrap_or(wall), wall))
    };
    let b1 = rps("B1");
    let ideal: Vec<Ideal> = [
        ("findUserBy", "findUserBy(email)", "find_user_by_email"),
        (
            "user(externalId)",
            "user(externalId)",
            "user_by_external_id",
        ),
        ("members page 1", "members page 1", "members_page"),
    ]
    .into_iter()
    .filter_map(|(query, scenario, read)| {
        let (t_sql_us, t_sql_wall_us) = t_sql_us(read)?;
        let measured_rps = rps(scenario);
        let ideal_rps = 1.0 / (1.0 / b1.max(1e-9) + t_sql_us / 1e6);
        Some(Ideal {
            query: query.into(),
            measured_rps,
            b1_rps: b1,
            t_sql_us,
            t_sql_wall_us,
            ideal_rps,
            ratio: measured_rps / ideal_rps,
        })
    })
    .collect();
    let mut ratios = vec![
        Ratio::at_least("B1 / B0 throughput", rps("B1") / rps("B0"), 0.45),
        Ratio::at_least(
            "findUserBy / B1 throughput",
            rps("findUserBy") / rps("B1"),
            0.70,
        ),
        Ratio::report("findUserBy / B2 throughput", rps("findUserBy") / b2_rate),
    ];
    for i in &ideal {
        ratios.push(Ratio::at_least(
            &format!("{} ÷ ideal throughput", i.query),
            i.ratio,
            crate::report::IDEAL_TARGET,
        ));
    }
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
        if let (Some(d), Some(p)) = (&deep.at_80, &page.at_80) {
            ratios.push(Ratio::report(
                "deep page / page 1 latency (p50, open loop at 80%)",
                d.p50_ms / p.p50_ms,
            ));
        }
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
    if let (Some(first), Some(last)) = (page_depth.pages.first(), page_depth.pages.last())
        && last.page > first.page
    {
        ratios.push(Ratio::report(
            &format!(
                "page {} / page {} latency (p50, open loop at {:.0} req/s)",
                last.page, first.page, page_depth.rate_rps
            ),
            last.latency.p50_ms / first.latency.p50_ms.max(1e-9),
        ));
    }
    if let Some(reference) = reference {
        ratios.push(Ratio::at_least(
            "syncMembers / B3 (B3 time ÷ sync time)",
            b3_s / reference.seconds,
            0.30,
        ));
    }
    let (small, _, large) = sync_sizes(options.sync_records);
    // A failed call's figures are shown, but do not meet a target.
    let failed = |p: &SyncPoint| if p.ok { "" } else { " (the call failed)" };
    if let (Some(reference), Some(large_point)) = (reference, sync_at(large, "created")) {
        let mut ratio = Ratio::at_most(
            &format!(
                "sync {} time ÷ sync {} time{}",
                thousands(large),
                thousands(options.sync_records),
                failed(large_point)
            ),
            large_point.seconds / reference.seconds,
            11.0,
        );
        ratio.met = ratio.met.map(|met| met && large_point.ok && reference.ok);
        ratios.push(ratio);
    }
    for (records, target) in [(options.sync_records, 64.0), (large, 160.0)] {
        if let Some(point) = sync_at(records, "created") {
            let mut ratio = Ratio::at_most(
                &format!("sync {} peak RSS, MB{}", thousands(records), failed(point)),
                point.peak_rss_mb,
                target,
            );
            ratio.met = ratio.met.map(|met| met && point.ok);
            ratios.push(ratio);
        }
    }
    if let Some(point) = sync_at(small, "created") {
        ratios.push(Ratio::report(
            &format!("sync {} peak RSS, MB", thousands(small)),
            point.peak_rss_mb,
        ));
    }
    ratios.push(Ratio::at_most(
        "server peak RSS outside syncMembers, MB",
        peak_rss_mb,
        100.0,
    ));
    ratios.push(Ratio::at_most("errors", total_errors as f64, 0.0));
    Ok(Backend {
        backend: label.into(),
        seeded,
        scenarios: results,
        page_depth,
        sync,
        b2,
        pgbench,
        b3,
        sql_cost,
        ideal,
        peak_rss_mb,
        webhooks,
        ratios,
    })
}

/// Members per page in the page scenarios.
const PAGE: usize = 50;
/// The depth runs' rate (at most a quarter of page 1's maximum).
const DEPTH_RATE: f64 = 100.0;

/// The sync sizes: a tenth of the reference, the reference, ten times it.
fn sync_sizes(reference: usize) -> (usize, usize, usize) {
    ((reference / 10).max(1), reference, reference * 10)
}

/// `100000` as `100k`, `1500` as `1500`.
fn thousands(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// Drives one scenario: warm-up, the highest rate wrk reaches, the
/// latency without load, then open-loop runs at 50% and at 80% of that
/// rate for the latency figures (B0 at full load only).
fn measure_load(
    options: &Options,
    server: &Server,
    load: &Load,
    timing: Timing,
    core: Option<usize>,
) -> Res<ScenarioResult> {
    let wrk = |phase: &str, connections: usize, seconds: u64| {
        run_wrk(options, server, load, phase, connections, seconds, core)
    };
    let c = options.connections;
    let warm = wrk("warm", c, timing.warmup_s)?;
    server.reset_peak_rss();
    let max = wrk("max", c, timing.max_s)?;
    let max_rps = max.rate();
    let serial = server.one_at_a_time(load, 50)?;
    // Latency without load: one connection, one request at a time.
    let unloaded = wrk("unloaded", 1, timing.unloaded_s)?;
    // B0 runs at full load only; and no rate can be offered when the
    // full-load phase gave none (a request longer than the phase).
    let (at_50, at_80) = if load.name == scenarios::STATIC_ROUTE {
        (None, None)
    } else if max_rps * timing.openloop_s < 2.0 {
        eprintln!(
            "      no open loop: {} requests completed at full load",
            max.requests
        );
        (None, None)
    } else {
        let open = |phase: &str, share: f64| {
            run_openloop(
                options,
                server,
                load,
                phase,
                share * max_rps,
                timing.openloop_s,
                core,
            )
        };
        (Some(open("ol50-", 0.5)?), Some(open("ol80-", 0.8)?))
    };
    let peak_rss_mb = server.peak_rss_mb();
    let errors = [&warm, &max, &unloaded]
        .iter()
        .map(|r| r.errors())
        .sum::<u64>()
        + [&at_50, &at_80]
            .iter()
            .filter_map(|r| r.as_ref().map(|r| r.errors))
            .sum::<u64>()
        + serial.failures;
    Ok(ScenarioResult {
        name: load.name.into(),
        max_rps,
        requests: max.requests,
        operations_per_request: load.operations,
        max_operations_per_s: max_rps * load.operations as f64,
        max_p50_ms: max.p50_us as f64 / 1000.0,
        max_p99_ms: max.p99_us as f64 / 1000.0,
        at_50,
        at_80,
        errors,
        sql_per_request: serial.statements,
        serial_p50_ms: unloaded.p50_us as f64 / 1000.0,
        peak_rss_mb,
    })
}

/// Runs the open-loop driver (this binary's `openloop`) on the load core:
/// `load` offered at `rate` per second for `seconds`.
fn run_openloop(
    options: &Options,
    server: &Server,
    load: &Load,
    phase: &str,
    rate: f64,
    seconds: f64,
    core: Option<usize>,
) -> Res<OpenLoop> {
    use std::io::Write;
    let spec = Spec::of(
        load,
        &server.base,
        format!("{phase}{}", server.started_ms),
        rate,
        seconds,
    );
    let mut child = pinned(core, &options.bench)
        .arg("openloop")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin for the open-loop driver")?
        .write_all(serde_json::to_string(&spec)?.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        return Err(format!("the open-loop driver failed ({phase})").into());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
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

fn run_wrk(
    options: &Options,
    server: &Server,
    load: &Load,
    phase: &str,
    connections: usize,
    seconds: u64,
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
            // Room for the largest sync's body (about 200 bytes a record).
            .env(
                "ROSTER_MAX_SYNC_BODY_BYTES",
                (32 * 1024 * 1024)
                    .max(sync_sizes(options.sync_records).2 * 320)
                    .to_string(),
            )
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

    /// The cursors after the first `positions` members (name order), in
    /// one walk: `(position, cursor)` pairs.
    fn cursors_at(&self, token: &str, positions: &[usize]) -> Res<Vec<(usize, String)>> {
        let query = "query($n: Int, $after: String) { members(first: $n, after: $after) { pageInfo { endCursor } } }";
        let mut wanted: Vec<usize> = positions.iter().copied().filter(|&p| p > 0).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        let mut walked = 0;
        for position in wanted {
            while walked < position {
                let n = (position - walked).min(500);
                let data = self.graphql(token, query, json!({ "n": n, "after": after }))?;
                after = data["members"]["pageInfo"]["endCursor"]
                    .as_str()
                    .map(str::to_owned);
                walked += n;
            }
            let cursor = after
                .clone()
                .ok_or_else(|| format!("the large org has fewer than {position} members"))?;
            found.push((position, cursor));
        }
        Ok(found)
    }

    /// syncMembers of `small`, `reference` and `large` records, each into
    /// a new org (all created), then the `reference` records again (all
    /// unchanged); the peak RSS is reset before each call.
    fn sync_scaling(
        &self,
        operator: &str,
        run_id: &str,
        (small, reference, large): (usize, usize, usize),
    ) -> Res<Vec<SyncPoint>> {
        let mut points = Vec::new();
        for count in [small, reference, large] {
            points.extend(self.sync_into_new_org(operator, run_id, count, count == reference)?);
        }
        Ok(points)
    }

    /// syncMembers of `count` records into a new org with 10 groups: all
    /// created, then (with `again`) the same records, all unchanged.
    fn sync_into_new_org(
        &self,
        operator: &str,
        run_id: &str,
        count: usize,
        again: bool,
    ) -> Res<Vec<SyncPoint>> {
        let mut points = Vec::new();
        {
            eprintln!("   syncMembers of {count} records into a new org");
            let org = self.create_org(operator, &format!("bench-sync-{run_id}-{count}"))?;
            let admin = self.admin_token(operator, &org, run_id)?;
            for g in 0..10 {
                self.graphql(
                    &admin,
                    "mutation($name: String!) { createGroup(name: $name) { result } }",
                    json!({ "name": format!("Team {g}") }),
                )?;
            }
            let body = scenarios::sync_body(&format!("sync-{run_id}-{count}"), count);
            let mut expected = vec!["created"];
            if again {
                expected.push("unchanged");
            }
            for expected in expected {
                let point = self.sync_call(&admin, &body, count, expected)?;
                eprintln!(
                    "      {expected}: {:.2} s, {} statements, peak RSS {:.0} MB{}",
                    point.seconds,
                    point.statements,
                    point.peak_rss_mb,
                    point
                        .error
                        .as_ref()
                        .map_or_else(String::new, |e| format!("; FAILED: {e}"))
                );
                points.push(point);
            }
        }
        Ok(points)
    }

    /// One syncMembers call; a failure (an HTTP status, GraphQL errors, or
    /// other counts than `expected` for every record) is recorded in the
    /// point, not returned.
    fn sync_call(&self, token: &str, body: &str, count: usize, expected: &str) -> Res<SyncPoint> {
        self.reset_peak_rss();
        let rss_before_mb = self.status_kb("VmRSS:") as f64 / 1024.0;
        let before = self.statements()?;
        let started = Instant::now();
        let response = self
            .agent
            .post(&format!("{}/graphql", self.base))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json")
            .send_string(body);
        let answer: Result<Value, String> = match response {
            Ok(response) => {
                let mut text = String::new();
                response
                    .into_reader()
                    .take(64 * 1024 * 1024)
                    .read_to_string(&mut text)
                    .map_err(|e| format!("reading the answer: {e}"))
                    .and_then(|_| {
                        serde_json::from_str(&text).map_err(|e| format!("the answer: {e}"))
                    })
            }
            Err(ureq::Error::Status(code, response)) => {
                let text = response.into_string().unwrap_or_default();
                Err(format!("HTTP {code} {}", clip(&text)))
            }
            Err(error) => Err(format!("{error}")),
        };
        let seconds = started.elapsed().as_secs_f64();
        let peak_rss_mb = self.peak_rss_mb();
        let statements = self.statements()? - before;
        let error = match answer {
            Err(error) => Some(error),
            Ok(answer) => {
                let counts = &answer["data"]["syncMembers"]["counts"];
                if let Some(errors) = answer.get("errors") {
                    let message = errors[0]["message"]
                        .as_str()
                        .map_or_else(|| errors.to_string(), str::to_owned);
                    Some(format!("GraphQL error: {}", clip(&message)))
                } else if counts[expected] != json!(count) {
                    Some(format!("counts {counts}, not {count} {expected}"))
                } else {
                    None
                }
            }
        };
        Ok(SyncPoint {
            records: count,
            body_bytes: body.len(),
            expected: expected.into(),
            seconds,
            statements,
            rss_before_mb,
            peak_rss_mb,
            ok: error.is_none(),
            error,
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

/// The first 200 characters of a message.
fn clip(text: &str) -> String {
    let mut clipped: String = text.chars().take(200).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}
