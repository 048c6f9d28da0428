//! The benchmark's results: JSON for machines, Markdown for people.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dataset::{Seeded, Sizes};
use crate::openloop::OpenLoop;
use crate::run::{Pgbench, Timing};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub profile: String,
    pub started_at: String,
    pub machine: Machine,
    pub sizes: Sizes,
    pub timing: Timing,
    /// wrk's connections at full load.
    pub connections: usize,
    /// The open-loop driver's connections.
    pub openloop_connections: usize,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gb: f64,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let memory_kb: f64 = field(&meminfo, "MemTotal")
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name"),
            memory_gb: (memory_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backend {
    pub backend: String,
    pub seeded: Seeded,
    pub scenarios: Vec<ScenarioResult>,
    /// Members pages at increasing depth in the large org.
    pub page_depth: PageDepths,
    /// syncMembers at each size (all created), and the unchanged repeat.
    pub sync: Vec<SyncPoint>,
    pub b2: Value,
    pub pgbench: Option<Pgbench>,
    pub b3: Value,
    /// t_sql of each read (`baselines::SqlCost`).
    pub sql_cost: Value,
    /// Each read against its ideal throughput.
    pub ideal: Vec<Ideal>,
    /// Peak RSS over the load scenarios (the syncs have their own).
    pub peak_rss_mb: f64,
    /// Webhook deliveries of createUser's events, sent while it ran.
    pub webhooks: WebhookDeliveries,
    pub ratios: Vec<Ratio>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub name: String,
    /// Requests per second with wrk's connections all busy.
    pub max_rps: f64,
    pub requests: u64,
    /// Operations each request carries: 1, or a SCIM /Bulk request's.
    pub operations_per_request: usize,
    /// `max_rps` × `operations_per_request`.
    pub max_operations_per_s: f64,
    /// wrk's latency at full load, for reference.
    pub max_p50_ms: f64,
    pub max_p99_ms: f64,
    /// Open loop at 50% and at 80% of `max_rps` (none for B0).
    pub at_50: Option<OpenLoop>,
    pub at_80: Option<OpenLoop>,
    pub errors: u64,
    pub sql_per_request: f64,
    /// Median latency with one connection sending one request at a time.
    pub serial_p50_ms: f64,
    pub peak_rss_mb: f64,
}

/// Members pages (50, with groups, name order) at several depths, each
/// measured open loop at the same rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageDepths {
    pub rate_rps: f64,
    pub pages: Vec<PageDepth>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageDepth {
    /// Page number, from 1.
    pub page: usize,
    /// Members before it: the cursor is after this many.
    pub after: usize,
    pub latency: OpenLoop,
}

/// One syncMembers call into an org of its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncPoint {
    pub records: usize,
    pub body_bytes: usize,
    /// `created` (a new org) or `unchanged` (the same records again).
    pub expected: String,
    pub seconds: f64,
    pub statements: u64,
    /// The server's RSS just before the call: where the peak starts from.
    #[serde(default)]
    pub rss_before_mb: f64,
    /// The server's VmHWM during the call (reset just before it).
    pub peak_rss_mb: f64,
    pub ok: bool,
    /// Why the call failed: an HTTP status, GraphQL errors, or counts
    /// other than expected.
    pub error: Option<String>,
}

/// A read's throughput against 1 / (1/B1 + t_sql): B1's cost per request
/// plus the cost of the read's own statements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ideal {
    pub query: String,
    pub measured_rps: f64,
    pub b1_rps: f64,
    /// The read's statements' CPU time on one thread (wall time where the
    /// CPU time cannot be read).
    pub t_sql_us: f64,
    /// Their wall time on one thread, for reference.
    #[serde(default)]
    pub t_sql_wall_us: f64,
    pub ideal_rps: f64,
    pub ratio: f64,
}

/// What a local receiver got from the webhook worker while createUser
/// ran, its endpoint subscribed to the writes org's `member.created`. Lag
/// is from the event's `occurredAt` (stamped just before the commit) to
/// the receiver having read the request, over the first receipt of each
/// event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookDeliveries {
    /// `member.created` events createUser wrote (counted in the database).
    pub created: u64,
    /// Distinct events received, by the end of the wait.
    pub delivered: u64,
    /// Receipts of an event already received.
    pub duplicates: u64,
    /// Requests that were no such event: another org or type, no id or
    /// `occurredAt`, or not readable HTTP.
    pub other: u64,
    /// The createUser load's length (all its phases).
    pub load_s: f64,
    /// Distinct events received within the load's window.
    pub delivered_in_load: u64,
    /// `delivered_in_load` per second of the window.
    pub per_second: f64,
    /// `created` per second of the window, to compare with.
    pub created_per_second: f64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// How long after the load the last event arrived: the backlog the
    /// worker had left when writes stopped.
    pub last_after_load_s: f64,
    /// How long the bench waited after the load for deliveries to catch
    /// up (at most 60 s).
    pub waited_s: f64,
    /// Per second of receipt from the load's start: whether lag grew.
    pub timeline: Vec<DeliverySecond>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverySecond {
    /// Seconds since the load started.
    pub second: i64,
    pub delivered: u64,
    pub lag_p50_ms: f64,
    pub lag_max_ms: f64,
}

/// A figure against its target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ratio {
    pub name: String,
    pub value: f64,
    /// `">= x"`, `"<= x"`, or empty when only reported.
    pub target: String,
    pub met: Option<bool>,
}

impl Ratio {
    pub fn at_least(name: &str, value: f64, target: f64) -> Self {
        Self {
            name: name.into(),
            value,
            target: format!("≥ {target}"),
            met: Some(value >= target),
        }
    }

    pub fn at_most(name: &str, value: f64, target: f64) -> Self {
        Self {
            name: name.into(),
            value,
            target: format!("≤ {target}"),
            met: Some(value <= target),
        }
    }

    pub fn report(name: &str, value: f64) -> Self {
        Self {
            name: name.into(),
            value,
            target: String::new(),
            met: None,
        }
    }
}

/// A Markdown table cell of a figure (blank for none).
fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(String::new, |v| format!("{v:.decimals$}"))
}

/// The Markdown tables.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let t = &report.timing;
    let _ = writeln!(
        out,
        "Profile `{}`, {} · {} CPUs ({}), {} GB, Linux {} · dataset: {} orgs, {} users, \
         one org of {} members, {} groups per org · each scenario {} s at full load (wrk, {} \
         connections), then {} s open loop at 50% and {} s at 80% of that rate ({} connections, \
         latency from each request's scheduled time).\n",
        report.profile,
        report.started_at,
        m.cpus,
        m.cpu_model,
        m.memory_gb,
        m.kernel,
        report.sizes.orgs,
        report.sizes.users,
        report.sizes.big_org,
        report.sizes.groups_per_org,
        t.max_s,
        report.connections,
        t.openloop_s,
        t.openloop_s,
        report.openloop_connections,
    );
    for b in &report.backends {
        let _ = writeln!(out, "### {}\n", b.backend);
        throughput_table(&mut out, b);
        latency_table(&mut out, b);
        depth_table(&mut out, b);
        sync_table(&mut out, b);
        ideal_table(&mut out, b);
        webhook_table(&mut out, b);
        let _ = writeln!(out, "| ratio | value | target | met |");
        let _ = writeln!(out, "|---|---:|---|---|");
        for r in &b.ratios {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {} | {} |",
                r.name,
                r.value,
                r.target,
                met(r.met)
            );
        }
        let _ = writeln!(
            out,
            "\nDataset {} in {:.0} s.\n",
            if b.seeded.reused { "reused" } else { "seeded" },
            b.seeded.seconds
        );
    }
    out
}

fn met(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "",
    }
}

fn throughput_table(out: &mut String, b: &Backend) {
    let _ = writeln!(
        out,
        "| scenario | max req/s | p50 ms at max | p99 ms at max | p50 ms unloaded | errors | SQL/request | peak RSS MB |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for s in &b.scenarios {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.0} |",
            s.name.replace('|', "\\|"),
            s.max_rps,
            s.max_p50_ms,
            s.max_p99_ms,
            s.serial_p50_ms,
            s.errors,
            s.sql_per_request,
            s.peak_rss_mb
        );
        if s.operations_per_request > 1 {
            let _ = writeln!(
                out,
                "| ↳ the same, per operation ({} per request) | {:.0} ops/s | | | | | {:.2} per op | |",
                s.operations_per_request,
                s.max_operations_per_s,
                s.sql_per_request / s.operations_per_request as f64
            );
        }
    }
    let _ = writeln!(
        out,
        "| B2 findUserBy's SQL via diesel, {} threads | {:.0} | | | | | 1 | |",
        b.b2["threads"],
        b.b2["per_second"].as_f64().unwrap_or(0.0)
    );
    if let Some(p) = &b.pgbench {
        let _ = writeln!(
            out,
            "| B2' pgbench -M prepared, {} clients | {:.0} | | | | | 1 | |",
            p.clients, p.tps
        );
    }
    let _ = writeln!(
        out,
        "| B3 batched insert of a {}-record sync's rows | {:.2} s | | | | | | |\n",
        b.b3["users"],
        b.b3["seconds"].as_f64().unwrap_or(0.0)
    );
}

fn latency_table(out: &mut String, b: &Backend) {
    let _ = writeln!(
        out,
        "| open loop | load | offered req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for s in &b.scenarios {
        for (share, run) in [("50%", &s.at_50), ("80%", &s.at_80)] {
            let Some(r) = run else { continue };
            let name = if share == "50%" {
                s.name.replace('|', "\\|")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| {name} | {share} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                r.target_rps, r.achieved_rps, r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms, r.errors
            );
        }
    }
    let _ = writeln!(out);
}

fn depth_table(out: &mut String, b: &Backend) {
    let d = &b.page_depth;
    if d.pages.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| members page (50, with groups), open loop at {:.0} req/s | after members | p50 ms | p99 ms | p99.9 ms | achieved req/s | errors |",
        d.rate_rps
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for p in &d.pages {
        let r = &p.latency;
        let _ = writeln!(
            out,
            "| page {} | {} | {:.2} | {:.2} | {:.2} | {:.0} | {} |",
            p.page, p.after, r.p50_ms, r.p99_ms, r.p999_ms, r.achieved_rps, r.errors
        );
    }
    let _ = writeln!(out);
}

fn sync_table(out: &mut String, b: &Backend) {
    if b.sync.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| syncMembers | body MB | time s | SQL statements | RSS before MB | peak RSS MB | result |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
    for p in &b.sync {
        let result = match &p.error {
            None => "ok".to_owned(),
            Some(e) => format!("**failed**: {}", e.replace('|', "\\|")),
        };
        let _ = writeln!(
            out,
            "| {} records, {} | {:.1} | {:.2} | {} | {:.0} | {:.0} | {} |",
            p.records,
            p.expected,
            p.body_bytes as f64 / 1e6,
            p.seconds,
            p.statements,
            p.rss_before_mb,
            p.peak_rss_mb,
            result
        );
    }
    let _ = writeln!(out);
}

fn ideal_table(out: &mut String, b: &Backend) {
    if b.ideal.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| X ÷ ideal throughput | value | target | met | t_sql µs | ideal req/s | X req/s | wall µs, one thread |"
    );
    let _ = writeln!(out, "|---|---:|---|---|---:|---:|---:|---:|");
    for i in &b.ideal {
        let _ = writeln!(
            out,
            "| {} ÷ ideal throughput | {:.2} | ≥ {IDEAL_TARGET} | {} | {:.1} | {:.0} | {:.0} | {:.1} |",
            i.query,
            i.ratio,
            met(Some(i.ratio >= IDEAL_TARGET)),
            i.t_sql_us,
            i.ideal_rps,
            i.measured_rps,
            i.t_sql_wall_us
        );
    }
    let _ = writeln!(
        out,
        "\nideal = 1 / (1/B1 + t_sql), with B1 = {} req/s; t_sql is the CPU time of the \
         read's statements through the same db functions, on one thread, in-process (the \
         wall time, last column, adds the wait for PostgreSQL's answers).\n",
        cell(b.ideal.first().map(|i| i.b1_rps), 0)
    );
}

/// The least share of its ideal throughput each read should reach.
pub const IDEAL_TARGET: f64 = 0.80;

fn webhook_table(out: &mut String, b: &Backend) {
    let w = &b.webhooks;
    let _ = writeln!(
        out,
        "| webhooks under createUser | delivered / created | duplicates | deliveries/s in load | created/s in load | lag p50 ms | lag p99 ms | lag max ms | last after load |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| `member.created` to a local receiver, {:.0} s load | {} / {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} s |\n",
        w.load_s,
        w.delivered,
        w.created,
        w.duplicates,
        w.per_second,
        w.created_per_second,
        w.lag_p50_ms,
        w.lag_p99_ms,
        w.lag_max_ms,
        w.last_after_load_s
    );
}
