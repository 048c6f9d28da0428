//! Queries on `events`: the audit log, which is also the outbox.
//!
//! An event's position is `(tx_id, ordinal)`: the number of the write
//! transaction that recorded it and its place within it. Readers page
//! *after* a position and must never miss an event that commits after
//! they passed its position. The two backends get there differently, and
//! this file is the one place that knows:
//!
//! - SQLite runs one write transaction at a time (`BEGIN IMMEDIATE`), and
//!   the number comes from `event_clock` inside it, so numbers are handed
//!   out in commit order.
//! - PostgreSQL commits concurrent transactions in any order, so the
//!   number is the transaction's own id and a reader only sees
//!   transactions older than the oldest one still running (its snapshot's
//!   `xmin`). A transaction that is still running, or that has not started,
//!   has an id at or above that horizon, so nothing can commit later at a
//!   position below what a reader has been shown. The price: a long write
//!   holds back what readers see until it ends.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

use super::DbConn;
use super::models::EventRow;
use super::schema::{event_clock, events};

/// The number of the current write transaction, to put in `tx_id`. Call
/// once per transaction, inside it.
pub fn transaction_number(conn: &mut DbConn) -> QueryResult<i64> {
    match conn {
        DbConn::Postgres(pg) => {
            diesel::select(sql::<BigInt>("pg_current_xact_id()::text::bigint")).get_result(pg)
        }
        DbConn::Sqlite(sqlite) => {
            diesel::update(event_clock::table.find(1))
                .set(event_clock::last.eq(event_clock::last + 1))
                .execute(sqlite)?;
            event_clock::table
                .find(1)
                .select(event_clock::last)
                .get_result(sqlite)
        }
    }
}

pub fn insert_many(conn: &mut DbConn, rows: &[EventRow]) -> QueryResult<usize> {
    super::insert_chunks!(conn, events::table, rows)
}

/// What to read: the org's events (or, with `org` `None`, every org's and
/// the platform's), after a position, narrowed by the given filters.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// `None` reads all events (operators on the command line).
    pub org: Option<String>,
    pub types: Vec<String>,
    pub target_id: Option<String>,
    pub actor_sub: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

macro_rules! filtered {
    ($query:expr, $filter:expr) => {{
        let filter: &EventFilter = $filter;
        let mut query = $query;
        if let Some(org) = &filter.org {
            query = query.filter(events::org_id.eq(org.clone()));
        }
        if !filter.types.is_empty() {
            query = query.filter(events::kind.eq_any(filter.types.clone()));
        }
        if let Some(target) = &filter.target_id {
            query = query.filter(events::target_id.eq(target.clone()));
        }
        if let Some(actor) = &filter.actor_sub {
            query = query.filter(events::actor_sub.eq(actor.clone()));
        }
        if let Some(since) = filter.since {
            query = query.filter(events::occurred_at.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(events::occurred_at.lt(until));
        }
        query
    }};
}

/// On PostgreSQL, the horizon of what a reader may see (see the module
/// doc): only transactions older than every one still running.
/// A scalar subquery, so that PostgreSQL takes the snapshot once per
/// statement (an init plan) and can bound the index scan with it, instead
/// of calling the function for every row.
const POSTGRES_HORIZON: &str =
    "events.tx_id < (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint)";

/// Up to `limit` events after `after`, in position order.
pub fn page(
    conn: &mut DbConn,
    filter: &EventFilter,
    after: Option<(i64, i32)>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut query = filtered!(
        events::table.select(EventRow::as_select()).into_boxed(),
        filter
    );
    if let DbConn::Postgres(_) = conn {
        query = query.filter(sql::<Bool>(POSTGRES_HORIZON));
    }
    if let Some((tx, ordinal)) = after {
        // The outer bound lets the index range start at the position.
        query = query.filter(
            events::tx_id.ge(tx).and(
                events::tx_id
                    .gt(tx)
                    .or(events::tx_id.eq(tx).and(events::ordinal.gt(ordinal))),
            ),
        );
    }
    query
        .order((events::tx_id.asc(), events::ordinal.asc()))
        .limit(limit)
        .load(conn)
}

/// What the webhook dispatcher reads of an event.
#[derive(Debug, Clone, Queryable)]
pub struct EventHead {
    pub id: String,
    pub tx_id: i64,
    pub ordinal: i32,
    pub org_id: Option<String>,
    pub kind: String,
    pub target_id: String,
    pub occurred_at: NaiveDateTime,
}

/// Up to `limit` events of every org after `after`, in position order,
/// within the same horizon as `page`: what the webhook dispatcher reads.
pub fn heads_after(
    conn: &mut DbConn,
    after: (i64, i32),
    limit: i64,
) -> QueryResult<Vec<EventHead>> {
    let (tx, ordinal) = after;
    let mut query = events::table
        .select((
            events::id,
            events::tx_id,
            events::ordinal,
            events::org_id,
            events::kind,
            events::target_id,
            events::occurred_at,
        ))
        .filter(
            events::tx_id.ge(tx).and(
                events::tx_id
                    .gt(tx)
                    .or(events::tx_id.eq(tx).and(events::ordinal.gt(ordinal))),
            ),
        )
        .into_boxed();
    if let DbConn::Postgres(_) = conn {
        query = query.filter(sql::<Bool>(POSTGRES_HORIZON));
    }
    query
        .order((events::tx_id.asc(), events::ordinal.asc()))
        .limit(limit)
        .load(conn)
}

/// The events with these ids (what webhooks send).
pub fn by_ids(conn: &mut DbConn, ids: &[String]) -> QueryResult<Vec<EventRow>> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::IN_CHUNK) {
        rows.extend(
            events::table
                .filter(events::id.eq_any(chunk))
                .select(EventRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// The time the oldest event after `after` (within the horizon) occurred.
pub fn oldest_after(conn: &mut DbConn, after: (i64, i32)) -> QueryResult<Option<NaiveDateTime>> {
    Ok(heads_after(conn, after, 1)?
        .into_iter()
        .next()
        .map(|e| e.occurred_at))
}

/// How many events match the filter (within the same horizon as `page`).
pub fn count(conn: &mut DbConn, filter: &EventFilter) -> QueryResult<i64> {
    let mut query = filtered!(
        events::table.select(diesel::dsl::count_star()).into_boxed(),
        filter
    );
    if let DbConn::Postgres(_) = conn {
        query = query.filter(sql::<Bool>(POSTGRES_HORIZON));
    }
    query.get_result(conn)
}

/// Deletes up to `batch` events that occurred before `before`, oldest
/// first; returns how many. Small batches keep each delete transaction
/// short, so writers are not held up.
pub fn prune(conn: &mut DbConn, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let oldest: Vec<String> = events::table
        .filter(events::occurred_at.lt(before))
        .select(events::id)
        .order(events::occurred_at.asc())
        .limit(batch)
        .load(conn)?;
    if oldest.is_empty() {
        return Ok(0);
    }
    diesel::delete(events::table.filter(events::id.eq_any(oldest))).execute(conn)
}
