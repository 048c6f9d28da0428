//! The delivery side of webhooks, as the worker in `delivery` drives it:
//! turn new events into deliveries (dispatch), lease an endpoint, read its
//! due deliveries, record each attempt, and the counters `/metrics` shows.
//! The design (positions, leases, retries, ordering) is in
//! `docs/webhooks.md`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::NaiveDateTime;
use uuid::Uuid;

use super::events::{Draft, EventView, kind};
use super::{Service, now};
use crate::auth::Principal;
use crate::db::events as event_log;
use crate::db::models::{DeliveryAttempted, DeliveryRow, WebhookChanges};
use crate::db::webhooks::{self, status};
use crate::error::Result;

/// Events turned into deliveries per dispatch transaction.
const DISPATCH_BATCH: i64 = 1000;
/// Attempts kept in a delivery's log.
const ATTEMPT_LOG: usize = 20;
/// The longest wait between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(6 * 3600);
/// A gap between failures longer than this (twice the longest retry wait:
/// the endpoint had nothing to try) starts a new failure streak.
const QUIET_SPELL: Duration = Duration::from_secs(12 * 3600);

/// How deliveries are retried and shared (the `ROSTER_WEBHOOK_*` settings).
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// The wait before the first retry; each later one doubles it (with
    /// jitter), up to six hours.
    pub first_retry: Duration,
    /// How long a delivery is retried before it is marked failed.
    pub retry_for: Duration,
    /// How long an endpoint may fail without a success before it is
    /// disabled.
    pub disable_after: Duration,
    /// How long an instance holds an endpoint without renewing.
    pub lease: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(10),
            retry_for: Duration::from_secs(3 * 24 * 3600),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            lease: Duration::from_secs(30),
        }
    }
}

/// Counters and gauges for `/metrics`, shared by every clone of the
/// service.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub delivered: AtomicU64,
    /// Attempts that failed and will be tried again.
    pub retried: AtomicU64,
    /// Deliveries given up (retried too long, or a `410 Gone`).
    pub failed: AtomicU64,
    /// Deliveries waiting for enabled endpoints (as last measured).
    pub queue_depth: AtomicI64,
    /// Age in seconds of the oldest event not yet delivered (as last
    /// measured); 0 when there is none.
    pub oldest_undelivered_secs: AtomicI64,
}

/// An endpoint leased for sending.
#[derive(Debug, Clone)]
pub struct LeasedEndpoint {
    pub id: String,
    pub url: String,
    /// The secrets that sign: the current one, then the previous one while
    /// it is still valid.
    pub secrets: Vec<String>,
}

/// A delivery to send now.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: String,
    /// The event's id: the `webhook-id` header.
    pub event_id: String,
    /// The event as JSON, in the shape of the `events` API.
    pub body: String,
}

/// What one attempt came to.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub status_code: Option<u16>,
    pub latency: Duration,
    /// Why no status came back (timeout, connection refused, address not
    /// allowed), said for the org's admins.
    pub error: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|c| (200..300).contains(&c))
    }

    fn gone(&self) -> bool {
        self.status_code == Some(410)
    }
}

/// An endpoint as the sender needs it: the signing secrets still valid.
fn leased(row: crate::db::models::WebhookRow) -> LeasedEndpoint {
    let at = now();
    let mut secrets = vec![row.secret];
    if let (Some(previous), Some(until)) = (row.previous_secret, row.previous_secret_expires_at)
        && until > at
    {
        secrets.push(previous);
    }
    LeasedEndpoint {
        id: row.id,
        url: row.url,
        secrets,
    }
}

/// A delivery row queued now for an event.
pub(super) fn queued(
    webhook: &str,
    event_id: String,
    event_type: String,
    position: (i64, i32),
    occurred_at: NaiveDateTime,
    at: NaiveDateTime,
) -> DeliveryRow {
    DeliveryRow {
        id: Uuid::now_v7().to_string(),
        webhook_id: webhook.to_owned(),
        event_id,
        event_type,
        tx_id: position.0,
        ordinal: position.1,
        event_occurred_at: occurred_at,
        status: status::PENDING.into(),
        attempts: 0,
        attempt_log: "[]".into(),
        last_status_code: None,
        last_latency_ms: None,
        last_error: None,
        next_attempt_at: Some(at),
        created_at: at,
        delivered_at: None,
    }
}

/// The wait after `attempts` failed attempts: the first retry's wait,
/// doubled per attempt, capped, times a random factor in [0.75, 1.25).
pub fn retry_delay(first: Duration, attempts: i32) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let base = first
        .saturating_mul(1u32 << doublings.min(20))
        .min(MAX_RETRY_DELAY);
    base.mul_f64(rand::random_range(0.75..1.25))
}

fn after(at: NaiveDateTime, wait: Duration) -> NaiveDateTime {
    chrono::Duration::from_std(wait)
        .ok()
        .and_then(|w| at.checked_add_signed(w))
        .unwrap_or(NaiveDateTime::MAX)
}

impl Service {
    /// A service like this one on another pool: the delivery worker's, so
    /// that its queries neither wait for nor count as request traffic.
    pub fn on_pool(&self, db: crate::db::Db) -> Self {
        Self { db, ..self.clone() }
    }

    pub fn with_delivery_settings(mut self, settings: DeliverySettings) -> Self {
        self.delivery = settings;
        self
    }

    pub fn delivery_settings(&self) -> DeliverySettings {
        self.delivery
    }

    pub fn delivery_stats(&self) -> &DeliveryStats {
        &self.delivery_stats
    }

    /// Resolves when a write on this instance recorded events, or the
    /// worker was asked to look again ([`Service::wake_delivery`]).
    pub async fn events_recorded(&self) {
        self.wake.notified().await;
    }

    /// Asks the worker to look for work now (a turn ended with deliveries
    /// still due).
    pub fn wake_delivery(&self) {
        self.wake.notify_one();
    }

    /// Turns the events recorded since the last dispatch into deliveries
    /// for the enabled endpoints that subscribe to them, and moves the
    /// dispatch position past them, in one transaction; returns how many
    /// events it read. On PostgreSQL one instance dispatches at a time
    /// (the position row is locked, and others skip it).
    pub async fn dispatch_webhooks(&self) -> Result<usize> {
        let waiting = self
            .read(|conn| {
                Ok(match webhooks::dispatch_position(conn, false)? {
                    Some(position) => !event_log::heads_after(conn, position, 1)?.is_empty(),
                    None => false,
                })
            })
            .await?;
        if !waiting {
            return Ok(0);
        }
        let mail = self.invites.mail;
        self.write(&Principal::cli(), move |tx| {
            let Some(position) = webhooks::dispatch_position(tx, true)? else {
                return Ok(0);
            };
            let heads = event_log::heads_after(tx, position, DISPATCH_BATCH)?;
            let Some(last) = heads.last() else {
                return Ok(0);
            };
            // The outbox also asks for invitation mails, when Roster sends
            // them.
            if mail {
                let at = now();
                for event in heads.iter().filter(|e| e.kind == kind::MEMBER_INVITED) {
                    if let Some(org) = &event.org_id {
                        crate::db::invitations::queue_mail(tx, org, &event.target_id, at)?;
                    }
                }
            }
            let last = (last.tx_id, last.ordinal);
            let mut orgs: Vec<String> = heads.iter().filter_map(|e| e.org_id.clone()).collect();
            orgs.sort_unstable();
            orgs.dedup();
            let subscribers = webhooks::subscribers(tx, &orgs)?;
            if !subscribers.is_empty() {
                let at = now();
                let mut rows = Vec::new();
                for event in &heads {
                    for s in &subscribers {
                        let wanted = event.org_id.as_deref() == Some(s.org_id.as_str())
                            && event.occurred_at >= s.created_at
                            && (s.types.is_empty() || s.types.split(' ').any(|t| t == event.kind));
                        if wanted {
                            rows.push(queued(
                                &s.id,
                                event.id.clone(),
                                event.kind.clone(),
                                (event.tx_id, event.ordinal),
                                event.occurred_at,
                                at,
                            ));
                        }
                    }
                }
                webhooks::insert_deliveries(tx, &rows)?;
            }
            webhooks::set_dispatch_position(tx, last)?;
            Ok(heads.len())
        })
        .await
    }

    /// Up to `limit` endpoints with deliveries due whose lease is free, the
    /// least recently served first.
    pub async fn due_webhooks(&self, limit: i64) -> Result<Vec<String>> {
        self.read(move |conn| Ok(webhooks::due_endpoints(conn, now(), limit)?))
            .await
    }

    /// Takes or renews `owner`'s lease on an endpoint; the endpoint as it
    /// now is when taken.
    pub async fn lease_webhook(&self, id: &str, owner: &str) -> Result<Option<LeasedEndpoint>> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        let lease = self.delivery.lease;
        let row = self
            .write(&Principal::cli(), move |tx| {
                let at = now();
                Ok(webhooks::take_lease(tx, &id, &owner, at, after(at, lease))?)
            })
            .await?;
        Ok(row.map(leased))
    }

    /// Gives up `owner`'s lease on an endpoint.
    pub async fn release_webhook(&self, id: &str, owner: &str) -> Result<()> {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        self.write(&Principal::cli(), move |tx| {
            webhooks::release_lease(tx, &id, &owner, now())?;
            Ok(())
        })
        .await
    }

    /// Up to `limit` of an endpoint's due deliveries, in position order,
    /// with their bodies. A delivery whose event is no longer kept, or
    /// that is older than the retry window (it waited while its endpoint
    /// was disabled), is marked failed here instead.
    pub async fn due_deliveries(&self, id: &str, limit: i64) -> Result<Vec<DueDelivery>> {
        let id = id.to_owned();
        let retry_for = self.delivery.retry_for;
        let invites = self.invites.clone();
        let (due, settled) = self
            .read(move |conn| {
                let at = now();
                let rows = webhooks::due_deliveries(conn, &id, at, limit)?;
                let ids: Vec<String> = rows.iter().map(|r| r.event_id.clone()).collect();
                let mut found: std::collections::HashMap<String, _> =
                    event_log::by_ids(conn, &ids)?
                        .into_iter()
                        .map(|e| (e.id.clone(), e))
                        .collect();
                // An invitation's webhook carries its link, made now:
                // events never hold it.
                let invited: Vec<_> = found
                    .values()
                    .filter(|e| e.kind == kind::MEMBER_INVITED && invites.url.is_some())
                    .collect();
                let mut links = super::invitations::links_for_events(conn, &invites, &invited)?;
                let mut due = Vec::with_capacity(rows.len());
                let mut settled = Vec::new();
                for row in rows {
                    if after(row.created_at, retry_for) < at {
                        let why = format!(
                            "not delivered within {}",
                            humantime::format_duration(retry_for)
                        );
                        settled.push((row.id, why));
                        continue;
                    }
                    match found.remove(&row.event_id) {
                        Some(event) => {
                            let link = links.remove(&event.id);
                            let mut body = EventView::from_row(event)?.to_json();
                            if let (Some(link), Some(fields)) = (link, body.as_object_mut()) {
                                // null: no longer the member's usable one.
                                fields.insert("link".into(), link.into());
                            }
                            due.push(DueDelivery {
                                id: row.id,
                                event_id: row.event_id,
                                body: body.to_string(),
                            })
                        }
                        None => settled.push((row.id, "the event is no longer kept".into())),
                    }
                }
                Ok((due, settled))
            })
            .await?;
        if !settled.is_empty() {
            self.write(&Principal::cli(), move |tx| {
                for (id, why) in &settled {
                    let Some(row) = webhooks::find_delivery(tx, id, true)? else {
                        continue;
                    };
                    if row.status != status::PENDING {
                        continue;
                    }
                    webhooks::record_attempt(
                        tx,
                        id,
                        &DeliveryAttempted {
                            status: status::FAILED.into(),
                            attempts: row.attempts,
                            attempt_log: row.attempt_log,
                            last_status_code: row.last_status_code,
                            last_latency_ms: row.last_latency_ms,
                            last_error: Some(why.clone()),
                            next_attempt_at: None,
                            delivered_at: None,
                        },
                    )?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(due)
    }

    /// Records an attempt: delivered on a 2xx; on anything else, retried
    /// later or, past the retry window, failed. A `410 Gone`, or failures
    /// for longer than the disable window, disable the endpoint (with a
    /// `webhook.disabled` event). Renews `owner`'s lease and answers the
    /// endpoint as it now is, to send the next delivery with; `None` says
    /// stop: the endpoint was deleted or disabled, the lease lost, or the
    /// delivery already settled (by another instance that took over).
    pub async fn record_delivery(
        &self,
        owner: &str,
        endpoint: &str,
        delivery: &str,
        attempt: Attempt,
    ) -> Result<Option<LeasedEndpoint>> {
        let (owner, endpoint, delivery) =
            (owner.to_owned(), endpoint.to_owned(), delivery.to_owned());
        let settings = self.delivery;
        let (outcome, next) = self
            .write(&Principal::cli(), move |tx| {
                let at = now();
                let Some(row) = webhooks::find_delivery(tx, &delivery, true)? else {
                    return Ok((None, None));
                };
                if row.status != status::PENDING {
                    return Ok((None, None));
                }
                let Some(hook) = webhooks::find_any(tx, &endpoint)? else {
                    return Ok((None, None));
                };
                let attempts = row.attempts + 1;
                let mut log: Vec<super::webhooks::AttemptView> =
                    serde_json::from_str(&row.attempt_log).unwrap_or_default();
                let latency_ms = i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX);
                log.push(super::webhooks::AttemptView {
                    at,
                    status_code: attempt.status_code.map(i32::from),
                    latency_ms: Some(latency_ms),
                    error: attempt.error.clone(),
                });
                let overflow = log.len().saturating_sub(ATTEMPT_LOG);
                log.drain(..overflow);
                let mut recorded = DeliveryAttempted {
                    status: status::PENDING.into(),
                    attempts,
                    attempt_log: serde_json::to_string(&log).unwrap_or_else(|_| "[]".into()),
                    last_status_code: attempt.status_code.map(i32::from),
                    last_latency_ms: Some(latency_ms),
                    last_error: attempt.error.clone(),
                    next_attempt_at: None,
                    delivered_at: None,
                };
                let mut changes = WebhookChanges::default();
                let mut disable: Option<String> = None;
                let outcome;
                if attempt.succeeded() {
                    recorded.status = status::DELIVERED.into();
                    recorded.delivered_at = Some(at);
                    if hook.failing_since.is_some() {
                        changes.failing_since = Some(None);
                    }
                    outcome = Outcome::Delivered;
                } else {
                    let retry_at = after(at, retry_delay(settings.first_retry, attempts));
                    let deadline = after(row.created_at, settings.retry_for);
                    if attempt.gone() || retry_at > deadline {
                        recorded.status = status::FAILED.into();
                        outcome = Outcome::Failed;
                    } else {
                        recorded.next_attempt_at = Some(retry_at);
                        outcome = Outcome::Retried;
                    }
                    // A streak is failures without a success between them
                    // and without a long quiet spell (no attempts at all).
                    let quiet = hook
                        .last_failure_at
                        .is_none_or(|last| after(last, QUIET_SPELL) < at);
                    let since = match hook.failing_since {
                        Some(since) if !quiet => since,
                        _ => {
                            changes.failing_since = Some(Some(at));
                            at
                        }
                    };
                    changes.last_failure_at = Some(Some(at));
                    if attempt.gone() {
                        disable = Some("the endpoint answered 410 Gone".into());
                    } else if after(since, settings.disable_after) <= at {
                        disable = Some(format!(
                            "every attempt failed for {}",
                            humantime::format_duration(settings.disable_after)
                        ));
                    }
                }
                webhooks::record_attempt(tx, &delivery, &recorded)?;
                let mut stop = false;
                if let Some(reason) = disable.filter(|_| hook.enabled) {
                    changes.enabled = Some(false);
                    changes.disabled_reason = Some(Some(reason.clone()));
                    changes.updated_at = Some(at);
                    tx.record(
                        Draft::new(
                            Some(&hook.org_id),
                            kind::WEBHOOK_DISABLED,
                            "webhook",
                            &hook.id,
                        )
                        .by_system()
                        .change("enabled", true, false)
                        .set("disabledReason", &reason),
                    );
                    stop = true;
                }
                if changes.failing_since.is_some()
                    || changes.last_failure_at.is_some()
                    || changes.enabled.is_some()
                {
                    webhooks::update(tx, &hook.id, &changes)?;
                }
                let renewed =
                    webhooks::take_lease(tx, &hook.id, &owner, at, after(at, settings.lease))?;
                let next = renewed.filter(|_| !stop).map(leased);
                Ok((Some(outcome), next))
            })
            .await?;
        let stats = &self.delivery_stats;
        match outcome {
            Some(Outcome::Delivered) => stats.delivered.fetch_add(1, Ordering::Relaxed),
            Some(Outcome::Retried) => stats.retried.fetch_add(1, Ordering::Relaxed),
            Some(Outcome::Failed) => stats.failed.fetch_add(1, Ordering::Relaxed),
            None => 0,
        };
        Ok(next)
    }

    /// Measures the queue for `/metrics`: deliveries waiting for enabled
    /// endpoints, and the age of the oldest event not yet delivered (one
    /// waiting in a delivery, or not yet dispatched).
    pub async fn measure_delivery_queue(&self) -> Result<()> {
        let (depth, oldest) = self
            .read(|conn| {
                let (depth, oldest_pending) = webhooks::pending(conn)?;
                let undispatched = match webhooks::dispatch_position(conn, false)? {
                    Some(position) => event_log::oldest_after(conn, position)?,
                    None => None,
                };
                let oldest = [oldest_pending, undispatched].into_iter().flatten().min();
                Ok((depth, oldest))
            })
            .await?;
        let age = oldest
            .map(|t| (now() - t).num_seconds().max(0))
            .unwrap_or(0);
        let stats = &self.delivery_stats;
        stats.queue_depth.store(depth, Ordering::Relaxed);
        stats.oldest_undelivered_secs.store(age, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes settled deliveries queued more than `keep` ago, in batches.
    pub async fn prune_deliveries(&self, keep: Duration) -> Result<usize> {
        let Some(before) = chrono::Duration::from_std(keep)
            .ok()
            .and_then(|k| now().checked_sub_signed(k))
        else {
            return Ok(0);
        };
        self.prune_in_batches(move |tx| {
            Ok(webhooks::prune_settled(tx, before, super::PRUNE_BATCH)?
                + webhooks::prune_orphans(tx, super::PRUNE_BATCH)?)
        })
        .await
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Delivered,
    Retried,
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_with_jitter_and_a_cap() {
        let first = Duration::from_secs(10);
        for attempts in 1..=40 {
            let base = first
                .saturating_mul(1 << (attempts - 1).min(20))
                .min(MAX_RETRY_DELAY);
            for _ in 0..20 {
                let wait = retry_delay(first, attempts);
                assert!(
                    wait >= base.mul_f64(0.75) && wait < base.mul_f64(1.25),
                    "{attempts}: {wait:?}"
                );
            }
        }
        assert!(retry_delay(first, 1) < Duration::from_millis(12_500));
        assert!(retry_delay(first, i32::MAX) <= MAX_RETRY_DELAY.mul_f64(1.25));
        assert!(retry_delay(first, 0) < Duration::from_millis(12_500));
    }
}
