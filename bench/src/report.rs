//! The benchmark's results: JSON for machines, Markdown for people.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::dataset::{Seeded, Sizes};
use crate::run::{Pgbench, Timing};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub profile: String,
    pub started_at: String,
    pub machine: Machine,
    pub sizes: Sizes,
    pub timing: Timing,
    pub connections: usize,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    pub backend: String,
    pub seeded: Seeded,
    pub scenarios: Vec<ScenarioResult>,
    pub sync: SyncResult,
    pub b2: Value,
    pub pgbench: Option<Pgbench>,
    pub b3: Value,
    pub peak_rss_mb: f64,
    /// Webhook deliveries of createUser's events, sent while it ran.
    pub webhooks: WebhookDeliveries,
    pub ratios: Vec<Ratio>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    /// Requests per second with wrk's connections all busy.
    pub max_rps: f64,
    pub requests: u64,
    /// Operations each request carries: 1, or a SCIM /Bulk request's.
    pub operations_per_request: usize,
    /// `max_rps` × `operations_per_request`.
    pub max_operations_per_s: f64,
    /// Latency at about 80% of `max_rps`.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Latency at full load, for reference.
    pub max_p50_ms: f64,
    pub max_p99_ms: f64,
    pub paced_rps: f64,
    pub paced_load_pct: f64,
    pub paced_connections: usize,
    pub errors: u64,
    pub sql_per_request: f64,
    /// Median latency with one connection sending one request at a time.
    pub serial_p50_ms: f64,
    pub peak_rss_mb: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SyncResult {
    pub records: usize,
    pub body_bytes: usize,
    pub first_s: f64,
    pub again_s: f64,
    pub first_statements: u64,
    pub again_statements: u64,
    pub peak_rss_mb: f64,
    pub errors: u64,
}

/// What a local receiver got from the webhook worker while createUser
/// ran, its endpoint subscribed to the writes org's `member.created`. Lag
/// is from the event's `occurredAt` (stamped just before the commit) to
/// the receiver having read the request, over the first receipt of each
/// event.
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct DeliverySecond {
    /// Seconds since the load started.
    pub second: i64,
    pub delivered: u64,
    pub lag_p50_ms: f64,
    pub lag_max_ms: f64,
}

/// A figure against its target.
#[derive(Debug, Clone, Serialize)]
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

/// The Markdown tables.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "Profile `{}`, {} · {} CPUs ({}), {} GB, Linux {} · dataset: {} orgs, {} users, \
         one org of {} members, {} groups per org · wrk with {} connections; each scenario \
         {} s at full load, then {} s paced to 80% of it.\n",
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
        report.connections,
        report.timing.max_s,
        report.timing.paced_s,
    );
    for b in &report.backends {
        let _ = writeln!(out, "### {}\n", b.backend);
        let _ = writeln!(
            out,
            "| scenario | max req/s | p50 ms | p99 ms | at load | p50 ms unloaded | errors | SQL/request | peak RSS MB |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for s in &b.scenarios {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.2} | {:.2} | {:.0}% | {:.2} | {} | {:.2} | {:.0} |",
                s.name.replace('|', "\\|"),
                s.max_rps,
                s.p50_ms,
                s.p99_ms,
                s.paced_load_pct,
                s.serial_p50_ms,
                s.errors,
                s.sql_per_request,
                s.peak_rss_mb
            );
            if s.operations_per_request > 1 {
                let _ = writeln!(
                    out,
                    "| ↳ the same, per operation ({} per request) | {:.0} ops/s | | | | | | {:.2} per op | |",
                    s.operations_per_request,
                    s.max_operations_per_s,
                    s.sql_per_request / s.operations_per_request as f64
                );
            }
        }
        let sync = &b.sync;
        let _ = writeln!(
            out,
            "| syncMembers {} records, created | {:.2} s | | | | | {} | {} per call | {:.0} |",
            sync.records, sync.first_s, sync.errors, sync.first_statements, sync.peak_rss_mb
        );
        let _ = writeln!(
            out,
            "| syncMembers {} records, unchanged | {:.2} s | | | | | | {} per call | |",
            sync.records, sync.again_s, sync.again_statements
        );
        let _ = writeln!(
            out,
            "| B2 findUserBy's SQL via diesel, {} threads | {:.0} | | | | | | 1 | |",
            b.b2["threads"],
            b.b2["per_second"].as_f64().unwrap_or(0.0)
        );
        if let Some(p) = &b.pgbench {
            let _ = writeln!(
                out,
                "| B2' pgbench -M prepared, {} clients | {:.0} | | | | | | 1 | |",
                p.clients, p.tps
            );
        }
        let _ = writeln!(
            out,
            "| B3 batched insert of the sync's rows | {:.2} s | | | | | | | |\n",
            b.b3["seconds"].as_f64().unwrap_or(0.0)
        );
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
        let _ = writeln!(out, "| ratio | value | target | met |");
        let _ = writeln!(out, "|---|---:|---|---|");
        for r in &b.ratios {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {:.2} | {} | {} |",
                r.name, r.value, r.target, met
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
