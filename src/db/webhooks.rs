//! Queries on `webhooks`, `webhook_deliveries` and `webhook_dispatch`:
//! an org's endpoints, the deliveries queued for them, and how far the
//! dispatcher has turned events into deliveries. How they work together
//! is in `docs/webhooks.md`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::{DeliveryAttempted, DeliveryRow, WebhookChanges, WebhookRow};
use super::schema::{webhook_deliveries, webhook_dispatch, webhooks};

/// The delivery states.
pub mod status {
    pub const PENDING: &str = "pending";
    pub const DELIVERED: &str = "delivered";
    pub const FAILED: &str = "failed";
}

pub fn insert(conn: &mut DbConn, row: &WebhookRow) -> QueryResult<usize> {
    diesel::insert_into(webhooks::table)
        .values(row)
        .execute(conn)
}

/// The org's endpoint with this id.
pub fn find(conn: &mut DbConn, org: &str, id: &str) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .find(id)
        .filter(webhooks::org_id.eq(org))
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// The endpoint with this id, whatever its org (for the sender).
pub fn find_any(conn: &mut DbConn, id: &str) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// The org's endpoints, oldest first.
pub fn list(conn: &mut DbConn, org: &str) -> QueryResult<Vec<WebhookRow>> {
    webhooks::table
        .filter(webhooks::org_id.eq(org))
        .select(WebhookRow::as_select())
        .order((webhooks::created_at.asc(), webhooks::id.asc()))
        .load(conn)
}

pub fn count(conn: &mut DbConn, org: &str) -> QueryResult<i64> {
    webhooks::table
        .filter(webhooks::org_id.eq(org))
        .count()
        .get_result(conn)
}

pub fn update(conn: &mut DbConn, id: &str, changes: &WebhookChanges) -> QueryResult<usize> {
    diesel::update(webhooks::table.find(id))
        .set(changes)
        .execute(conn)
}

/// Deletes an endpoint and its deliveries.
pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
        .execute(conn)?;
    diesel::delete(webhooks::table.find(id)).execute(conn)
}

/// What the dispatcher needs of an enabled endpoint.
#[derive(Debug, Clone, Queryable)]
pub struct Subscriber {
    pub id: String,
    pub org_id: String,
    pub types: String,
    pub created_at: NaiveDateTime,
}

/// The enabled endpoints of these orgs.
pub fn subscribers(conn: &mut DbConn, orgs: &[String]) -> QueryResult<Vec<Subscriber>> {
    let mut found = Vec::new();
    for chunk in orgs.chunks(super::IN_CHUNK) {
        found.extend(
            webhooks::table
                .filter(webhooks::enabled.eq(true))
                .filter(webhooks::org_id.eq_any(chunk))
                .select((
                    webhooks::id,
                    webhooks::org_id,
                    webhooks::types,
                    webhooks::created_at,
                ))
                .load::<Subscriber>(conn)?,
        );
    }
    Ok(found)
}

/// Where the dispatcher stands. With `lock`, on PostgreSQL, the row is
/// locked for the transaction, and `None` means another instance is
/// dispatching right now (`SKIP LOCKED`); SQLite runs one write
/// transaction at a time anyway.
pub fn dispatch_position(conn: &mut DbConn, lock: bool) -> QueryResult<Option<(i64, i32)>> {
    let query = webhook_dispatch::table
        .find(1)
        .select((webhook_dispatch::tx_id, webhook_dispatch::ordinal));
    match conn {
        DbConn::Postgres(pg) if lock => query.for_update().skip_locked().first(pg).optional(),
        _ => query.first(conn).optional(),
    }
}

pub fn set_dispatch_position(conn: &mut DbConn, position: (i64, i32)) -> QueryResult<usize> {
    diesel::update(webhook_dispatch::table.find(1))
        .set((
            webhook_dispatch::tx_id.eq(position.0),
            webhook_dispatch::ordinal.eq(position.1),
        ))
        .execute(conn)
}

pub fn insert_deliveries(conn: &mut DbConn, rows: &[DeliveryRow]) -> QueryResult<usize> {
    super::insert_chunks!(conn, webhook_deliveries::table, rows)
}

/// Enabled endpoints with a delivery due by `now` whose lease is free, at
/// most `limit`, the least recently served first (so that every endpoint,
/// whatever its org, gets its turn).
pub fn due_endpoints(
    conn: &mut DbConn,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<String>> {
    let due = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(status::PENDING))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .select(webhook_deliveries::webhook_id);
    webhooks::table
        .filter(webhooks::enabled.eq(true))
        .filter(webhooks::lease_expires_at.lt(now))
        .filter(webhooks::id.eq_any(due))
        .select(webhooks::id)
        .order(webhooks::lease_expires_at.asc())
        .limit(limit)
        .load(conn)
}

/// Takes (or renews) the lease on an endpoint for `owner` until `until`,
/// if it is enabled and its lease is free, expired or already `owner`'s;
/// the endpoint when taken. One statement, so two instances cannot both
/// take it.
pub fn take_lease(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<Option<WebhookRow>> {
    let taken = diesel::update(
        webhooks::table
            .find(id)
            .filter(webhooks::enabled.eq(true))
            .filter(
                webhooks::lease_expires_at
                    .lt(now)
                    .or(webhooks::lease_owner.eq(owner)),
            ),
    )
    .set((
        webhooks::lease_owner.eq(owner),
        webhooks::lease_expires_at.eq(until),
    ))
    .execute(conn)?;
    if taken == 0 {
        return Ok(None);
    }
    webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()
}

/// Gives up `owner`'s lease on an endpoint, noting when (see
/// [`due_endpoints`]).
pub fn release_lease(
    conn: &mut DbConn,
    id: &str,
    owner: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        webhooks::table
            .find(id)
            .filter(webhooks::lease_owner.eq(owner)),
    )
    .set((
        webhooks::lease_owner.eq(None::<String>),
        webhooks::lease_expires_at.eq(now),
    ))
    .execute(conn)
}

/// Up to `limit` of an endpoint's deliveries due by `now`, in position
/// order.
pub fn due_deliveries(
    conn: &mut DbConn,
    webhook: &str,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook))
        .filter(webhook_deliveries::status.eq(status::PENDING))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .select(DeliveryRow::as_select())
        .order((
            webhook_deliveries::tx_id.asc(),
            webhook_deliveries::ordinal.asc(),
            webhook_deliveries::id.asc(),
        ))
        .limit(limit)
        .load(conn)
}

/// A delivery; with `lock`, locked until the transaction ends on
/// PostgreSQL, so that two instances cannot record it at once.
pub fn find_delivery(conn: &mut DbConn, id: &str, lock: bool) -> QueryResult<Option<DeliveryRow>> {
    let query = webhook_deliveries::table.find(id.to_owned());
    match conn {
        DbConn::Postgres(pg) if lock => query
            .select(DeliveryRow::as_select())
            .for_update()
            .first(pg)
            .optional(),
        _ => query
            .select(DeliveryRow::as_select())
            .first(conn)
            .optional(),
    }
}

/// How many deliveries wait for an endpoint.
pub fn pending_for(conn: &mut DbConn, webhook: &str) -> QueryResult<i64> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook))
        .filter(webhook_deliveries::status.eq(status::PENDING))
        .count()
        .get_result(conn)
}

/// Deletes up to `batch` deliveries whose endpoint is gone (queued by a
/// dispatch that overlapped the endpoint's deletion); returns how many.
pub fn prune_orphans(conn: &mut DbConn, batch: i64) -> QueryResult<usize> {
    let endpoints = webhooks::table.select(webhooks::id);
    let orphans: Vec<String> = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.ne_all(endpoints))
        .select(webhook_deliveries::id)
        .limit(batch)
        .load(conn)?;
    if orphans.is_empty() {
        return Ok(0);
    }
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(orphans)))
        .execute(conn)
}

pub fn record_attempt(
    conn: &mut DbConn,
    id: &str,
    attempted: &DeliveryAttempted,
) -> QueryResult<usize> {
    diesel::update(webhook_deliveries::table.find(id))
        .set(attempted)
        .execute(conn)
}

/// An endpoint's deliveries, newest first, before the delivery `before`
/// (a cursor), narrowed to one status.
pub fn deliveries(
    conn: &mut DbConn,
    webhook: &str,
    status: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook))
        .select(DeliveryRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(webhook_deliveries::status.eq(status.to_owned()));
    }
    if let Some(before) = before {
        query = query.filter(webhook_deliveries::id.lt(before.to_owned()));
    }
    query
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .load(conn)
}

/// Deliveries waiting to be sent to enabled endpoints, and when the
/// oldest of their events occurred.
pub fn pending(conn: &mut DbConn) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    let enabled = webhooks::table
        .filter(webhooks::enabled.eq(true))
        .select(webhooks::id);
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(status::PENDING))
        .filter(webhook_deliveries::webhook_id.eq_any(enabled))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(webhook_deliveries::event_occurred_at),
        ))
        .get_result(conn)
}

/// Deletes up to `batch` settled (delivered or failed) deliveries queued
/// before `before`; returns how many.
pub fn prune_settled(conn: &mut DbConn, before: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let oldest: Vec<String> = webhook_deliveries::table
        .filter(webhook_deliveries::status.ne(status::PENDING))
        .filter(webhook_deliveries::created_at.lt(before))
        .select(webhook_deliveries::id)
        .limit(batch)
        .load(conn)?;
    if oldest.is_empty() {
        return Ok(0);
    }
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(oldest)))
        .execute(conn)
}
