//! Baselines measured in-process, without HTTP or GraphQL:
//!
//! - B2: the SQL that `findUserBy(email)` runs, through Roster's own db
//!   function, in a loop on a few threads.
//! - B3: the rows a 10,000-record `syncMembers` writes, inserted in one
//!   transaction with multi-row INSERTs and nothing else.
//! - t_sql: the statements each of three reads runs (`findUserBy(email)`,
//!   `user(externalId)` with groups, a members page of 50 with groups),
//!   through the same db functions their resolvers call, on one thread:
//!   the database's share of a request, for the "ideal" throughput.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::prelude::*;
use roster::db::members::{MemberBy, MemberFilter, Slice};
use roster::db::models::{GroupMembershipRow, GroupRow};
use roster::db::schema::{group_memberships, groups, memberships, users};
use roster::db::{Db, DbConn, users::Criteria};
use roster::domain::SortField;

use crate::dataset::{self, BIG_ORG_SLUG, EMAIL_DOMAIN, insert_rows, mix};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// B2's result: lookups per second, and the statement's text as the
/// database received it (for pgbench).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LookupRate {
    pub per_second: f64,
    pub lookups: u64,
    pub threads: usize,
    pub sql: String,
}

/// Runs `findUserBy`'s lookup for random members of the large org on
/// `threads` threads for `seconds`.
pub fn find_user_loop(url: &str, big_org: usize, threads: usize, seconds: f64) -> Res<LookupRate> {
    let db = Db::connect(url, threads as u32)?;
    let org = dataset::org_id(&mut *db.pool.get()?, BIG_ORG_SLUG)?;
    let sql = statement_text(&mut *db.pool.get()?, &org)?;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for t in 0..threads {
        let (pool, org, stop, done) = (db.pool.clone(), org.clone(), stop.clone(), done.clone());
        workers.push(std::thread::spawn(move || -> Result<(), String> {
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            let mut i = t as u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let n = mix(i.wrapping_mul(7919)) % big_org as u64;
                let email = format!("u{n}@{EMAIL_DOMAIN}");
                let criteria = Criteria {
                    email: Some(&email),
                    ..Criteria::default()
                };
                let found = roster::db::users::search_in_org(&mut conn, &org, &criteria, 10)
                    .map_err(|e| e.to_string())?;
                if found.len() != 1 {
                    return Err(format!("{email} not found in the large org"));
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    // Let the threads settle, then count over the measured window.
    std::thread::sleep(Duration::from_millis(500));
    let (before, started) = (done.load(Ordering::Relaxed), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let lookups = done.load(Ordering::Relaxed) - before;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().map_err(|_| "a B2 thread panicked")??;
    }
    Ok(LookupRate {
        per_second: lookups as f64 / elapsed,
        lookups,
        threads,
        sql,
    })
}

/// t_sql: the single-thread cost of each read's statements, without
/// HTTP, GraphQL, authentication (cached by the server) or the pool.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SqlCost {
    pub seconds_each: f64,
    pub reads: Vec<ReadCost>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadCost {
    /// `find_user_by_email`, `user_by_external_id` or `members_page`.
    pub read: &'static str,
    /// What runs, as the resolver calls it.
    pub calls: &'static str,
    pub runs: u64,
    /// Wall time per run: on PostgreSQL mostly the wait for the server's
    /// answer, which other requests' work overlaps under load.
    pub us_per_run: f64,
    /// The calling thread's own CPU time per run (`/proc/thread-self/
    /// schedstat`): what the statements cost the process that runs them.
    /// About `us_per_run` on SQLite, which runs in the thread.
    pub cpu_us_per_run: Option<f64>,
    /// Statements per run (the pool's counter).
    pub statements: f64,
}

/// The calling thread's CPU time so far, in ns (Linux).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The size of the members page the scenario asks for.
const PAGE: i64 = 50;
/// `findUserBy`'s row limit (`service::members::FIND_LIMIT`).
const FIND_LIMIT: i64 = 10;

/// Runs each read in a loop on one connection of one thread for `seconds`
/// and reports its time per run.
pub fn sql_cost(url: &str, big_org: usize, seconds: f64) -> Res<SqlCost> {
    let db = Db::connect(url, 1)?;
    let mut conn = db.pool.get()?;
    let conn: &mut DbConn = &mut conn;
    let org = dataset::org_id(conn, BIG_ORG_SLUG)?;
    let org = org.as_str();
    let pick = |i: u64| mix(i.wrapping_mul(7919)) % big_org as u64;
    let mut reads = Vec::new();
    let mut measure = |read: &'static str,
                       calls: &'static str,
                       run: &mut dyn FnMut(&mut DbConn, u64) -> Res<()>|
     -> Res<()> {
        // Warm the statement cache and the pages first.
        let warm = Instant::now();
        let mut i = 0u64;
        while warm.elapsed().as_secs_f64() < (seconds / 4.0).min(1.0) {
            run(conn, i)?;
            i += 1;
        }
        let statements = db.statements.load(Ordering::Relaxed);
        let cpu = thread_cpu_ns();
        let started = Instant::now();
        let mut runs = 0u64;
        while started.elapsed().as_secs_f64() < seconds {
            run(conn, i)?;
            i += 1;
            runs += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu
            .zip(thread_cpu_ns())
            .map(|(before, after)| after.saturating_sub(before) as f64 / 1000.0);
        let statements = db.statements.load(Ordering::Relaxed) - statements;
        reads.push(ReadCost {
            read,
            calls,
            runs,
            us_per_run: elapsed * 1e6 / runs.max(1) as f64,
            cpu_us_per_run: cpu.map(|us| us / runs.max(1) as f64),
            statements: statements as f64 / runs.max(1) as f64,
        });
        Ok(())
    };
    measure(
        "find_user_by_email",
        "db::users::search_in_org (email)",
        &mut |conn, i| {
            let email = format!("u{}@{EMAIL_DOMAIN}", pick(i));
            let criteria = Criteria {
                email: Some(&email),
                ..Criteria::default()
            };
            let found = roster::db::users::search_in_org(conn, org, &criteria, FIND_LIMIT)?;
            if found.len() != 1 {
                return Err(format!("{email} not found in the large org").into());
            }
            Ok(())
        },
    )?;
    measure(
        "user_by_external_id",
        "db::members::member (externalId) + db::groups::of_members",
        &mut |conn, i| {
            let external_id = format!("e{}", pick(i));
            let found = roster::db::members::member(conn, org, MemberBy::ExternalId(&external_id))?
                .ok_or_else(|| format!("externalId {external_id} not found"))?;
            roster::db::groups::of_members(conn, org, &[found.user.id.as_str()])?;
            Ok(())
        },
    )?;
    measure(
        "members_page",
        "db::members::list (first 50, name order) + db::groups::of_members",
        &mut |conn, _| {
            let slice = Slice {
                field: SortField::Name,
                ascending: true,
                after: None,
                limit: PAGE + 1,
            };
            let mut rows = roster::db::members::list(conn, org, &MemberFilter::default(), &slice)?;
            rows.truncate(PAGE as usize);
            if rows.len() != PAGE as usize {
                return Err("the large org has fewer than 50 members".into());
            }
            let ids: Vec<&str> = rows.iter().map(|r| r.user.id.as_str()).collect();
            roster::db::groups::of_members(conn, org, &ids)?;
            Ok(())
        },
    )?;
    Ok(SqlCost {
        seconds_each: seconds,
        reads,
    })
}

/// Records the text of the next statement a connection runs.
struct Capture(Arc<std::sync::Mutex<Vec<String>>>);

impl Instrumentation for Capture {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            self.0.lock().expect("capture lock").push(query.to_string());
        }
    }
}

/// The SQL `findUserBy(email)` sends, with its binds as `$n` (the text
/// diesel logs ends in `-- binds: [...]`).
fn statement_text(conn: &mut DbConn, org: &str) -> Res<String> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let email = format!("u0@{EMAIL_DOMAIN}");
    let criteria = Criteria {
        email: Some(&email),
        ..Criteria::default()
    };
    let capture = Capture(seen.clone());
    match conn {
        DbConn::Postgres(c) => c.set_instrumentation(capture),
        DbConn::Sqlite(c) => c.set_instrumentation(capture),
    }
    roster::db::users::search_in_org(conn, org, &criteria, 10)?;
    let text = seen
        .lock()
        .expect("capture lock")
        .last()
        .cloned()
        .unwrap_or_default();
    Ok(text
        .split(" -- binds:")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// B3's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InsertTime {
    pub seconds: f64,
    pub users: usize,
    pub memberships: usize,
    pub group_memberships: usize,
}

/// Inserts `records` new users with their memberships and group
/// memberships into a new org, as a sync of the same records would, in
/// one transaction.
pub fn batched_insert(url: &str, records: usize, run: &str) -> Res<InsertTime> {
    let db = Db::connect(url, 1)?;
    let mut conn = db.pool.get()?;
    let conn: &mut DbConn = &mut conn;
    let chunk = dataset::chunk_for(conn);
    let at = dataset::base_time();
    let org = dataset::org_row(format!("bench-b3-{run}"), format!("Bench B3 {run}"), at);
    let org_id = org.id.clone();
    let group_rows: Vec<GroupRow> = (0..10)
        .map(|g| dataset::group_row(&org_id, g, at))
        .collect();
    roster::db::write_transaction(conn, |conn| -> QueryResult<()> {
        roster::db::orgs::insert(conn, &org)?;
        insert_rows!(conn, groups::table, group_rows, chunk);
        Ok(())
    })?;
    // The rows are built inside the timed part, as the sync builds them.
    let started = Instant::now();
    let mut counts = (0, 0, 0);
    roster::db::write_transaction(conn, |conn| -> QueryResult<()> {
        let now = chrono::Utc::now().naive_utc();
        let mut user_rows = Vec::with_capacity(records);
        let mut member_rows = Vec::with_capacity(records);
        let mut group_member_rows = Vec::with_capacity(records);
        for i in 0..records {
            let user = dataset::user_row(
                uuid::Uuid::now_v7().to_string(),
                crate::scenarios::sync_email(&format!("b3-{run}"), i),
                i as u64,
                now,
            );
            member_rows.push(dataset::membership_row(&org_id, &user, i as u64, false));
            for g in crate::scenarios::sync_groups(i) {
                group_member_rows.push(GroupMembershipRow {
                    org_id: org_id.clone(),
                    group_id: group_rows[g].id.clone(),
                    user_id: user.id.clone(),
                    role: "member".into(),
                    created_at: now,
                });
            }
            user_rows.push(user);
        }
        insert_rows!(conn, users::table, user_rows, chunk);
        insert_rows!(conn, memberships::table, member_rows, chunk);
        insert_rows!(conn, group_memberships::table, group_member_rows, chunk);
        counts = (user_rows.len(), member_rows.len(), group_member_rows.len());
        Ok(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(InsertTime {
        seconds,
        users: counts.0,
        memberships: counts.1,
        group_memberships: counts.2,
    })
}
