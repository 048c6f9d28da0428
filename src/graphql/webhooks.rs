//! Webhooks over GraphQL: an org's endpoints, their deliveries, and the
//! answers of the webhook mutations. The secret appears only in the answer
//! of `createWebhook` and `rotateWebhookSecret`.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use super::scalars::Uuid;
use super::types::{ErrorCode, MutationResult};
use crate::error::Error;
use crate::service::{AttemptView, DeliveryView, Redelivered, WebhookView, WebhookWithSecret};

/// An endpoint that receives the org's events.
#[derive(SimpleObject, Debug, Clone)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// The event types sent; empty means every type.
    pub types: Vec<String>,
    pub enabled: bool,
    /// Why Roster disabled it: the endpoint answered `410 Gone`, or every
    /// attempt failed for days. `updateWebhook(enabled: true)` clears it.
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed, while the last one did.
    pub failing_since: Option<DateTime<Utc>>,
    /// After a rotation, until when the previous secret also signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// The `sub` of whoever created it.
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<WebhookView> for Webhook {
    fn from(view: WebhookView) -> Self {
        Self {
            id: view.id.into(),
            url: view.url,
            description: view.description,
            types: view.types,
            enabled: view.enabled,
            disabled_reason: view.disabled_reason,
            failing_since: view.failing_since.map(|t| t.and_utc()),
            previous_secret_expires_at: view.previous_secret_expires_at.map(|t| t.and_utc()),
            created_by: view.created_by,
            created_at: view.created_at.and_utc(),
            updated_at: view.updated_at.and_utc(),
        }
    }
}

/// One attempt to send a delivery.
#[derive(SimpleObject, Debug, Clone)]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; null when none came back.
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    /// Why no status came back: a timeout, a refused connection, an
    /// address not allowed.
    pub error: Option<String>,
}

impl From<AttemptView> for DeliveryAttempt {
    fn from(view: AttemptView) -> Self {
        Self {
            at: view.at.and_utc(),
            status_code: view.status_code,
            latency_ms: view.latency_ms,
            error: view.error,
        }
    }
}

/// One event queued for an endpoint, and what became of it.
#[derive(SimpleObject, Debug, Clone)]
pub struct WebhookDelivery {
    pub id: Uuid,
    /// The event's id, also the `webhook-id` header.
    pub event_id: Uuid,
    pub event_type: String,
    /// The event's position in the log.
    pub position: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// The latest attempts (up to 20), oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    /// When it is tried next, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<DeliveryView> for WebhookDelivery {
    fn from(view: DeliveryView) -> Self {
        Self {
            id: view.id.into(),
            event_id: view.event_id.into(),
            event_type: view.event_type,
            position: view.position.encode(),
            status: view.status,
            attempts: view.attempts,
            attempt_log: view.attempt_log.into_iter().map(Into::into).collect(),
            last_status_code: view.last_status_code,
            last_latency_ms: view.last_latency_ms,
            last_error: view.last_error,
            next_attempt_at: view.next_attempt_at.map(|t| t.and_utc()),
            created_at: view.created_at.and_utc(),
            delivered_at: view.delivered_at.map(|t| t.and_utc()),
        }
    }
}

/// What a webhook mutation did. `secret` (from `createWebhook` and
/// `rotateWebhookSecret`) is the signing secret in the Standard Webhooks
/// `whsec_…` form: keep it now, it is never shown again.
#[derive(SimpleObject, Debug, Clone)]
pub struct WebhookResult {
    /// `created`, `updated` or `failed`.
    pub result: String,
    pub webhook: Option<Webhook>,
    pub secret: Option<String>,
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
}

impl WebhookResult {
    pub fn done(result: &str, webhook: WebhookView, secret: Option<String>) -> Self {
        Self {
            result: result.into(),
            webhook: Some(webhook.into()),
            secret,
            error: None,
            error_code: None,
        }
    }

    pub fn with_secret(result: &str, made: WebhookWithSecret) -> Self {
        Self::done(result, made.webhook, Some(made.secret))
    }

    /// The failed answer for a business error; `None` for errors raised as
    /// GraphQL errors (FORBIDDEN, faults).
    pub fn failed(error: &Error) -> Option<Self> {
        let failed = MutationResult::failed(error)?;
        Some(Self {
            result: failed.result,
            webhook: None,
            secret: None,
            error: failed.error,
            error_code: failed.error_code,
        })
    }
}

/// What `redeliverEvents` queued.
#[derive(SimpleObject, Debug, Clone)]
pub struct RedeliverResult {
    /// `updated` (events queued), `unchanged` (none matched) or `failed`.
    pub result: String,
    /// How many events were queued for the endpoint.
    pub queued: i32,
    /// More events matched than one call queues (10,000): call again with
    /// a later `since`.
    pub truncated: bool,
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
}

impl From<Redelivered> for RedeliverResult {
    fn from(done: Redelivered) -> Self {
        Self {
            result: if done.queued > 0 {
                "updated"
            } else {
                "unchanged"
            }
            .into(),
            queued: done.queued as i32,
            truncated: done.truncated,
            error: None,
            error_code: None,
        }
    }
}

impl RedeliverResult {
    pub fn failed(error: &Error) -> Option<Self> {
        let failed = MutationResult::failed(error)?;
        Some(Self {
            result: failed.result,
            queued: 0,
            truncated: false,
            error: failed.error,
            error_code: failed.error_code,
        })
    }
}
