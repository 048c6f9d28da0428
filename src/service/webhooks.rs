//! Webhook endpoints as an org manages them: create (the signing secret is
//! shown once), update, delete, rotate the secret, list, see deliveries,
//! replay events. Every change is an event (`webhook.*`), never with a
//! secret in it. Sending is `service::deliveries` and `delivery`.

use chrono::NaiveDateTime;
use serde_json::json;
use uuid::Uuid;

use super::events::{Draft, kind};
use super::{Change, Outcome, Page, PageRequest, Service, into_page, now};
use crate::auth::{Principal, Scope};
use crate::db::models::{DeliveryRow, WebhookChanges, WebhookRow};
use crate::db::{events as event_log, webhooks};
use crate::domain::OrgId;
use crate::domain::webhook::{self as rules, AddressPolicy, MAX_DESCRIPTION};
use crate::error::{Error, Result};

/// The most endpoints one org may have.
pub const MAX_WEBHOOKS_PER_ORG: i64 = 20;
/// How long the previous secret still signs after a rotation.
pub const PREVIOUS_SECRET_VALID_FOR: chrono::Duration = chrono::Duration::hours(24);
/// How long a URL's host may take to resolve when an endpoint is saved.
const DNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The most events one `redeliverEvents` call queues.
pub const MAX_REDELIVER: usize = 10_000;

/// `createWebhook`'s input.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook {
    pub org: Option<OrgId>,
    pub url: String,
    /// Event types to send; empty for every type.
    pub types: Vec<String>,
    pub description: Option<String>,
}

/// `updateWebhook`'s input: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub org: Option<OrgId>,
    pub id: Uuid,
    pub url: Option<String>,
    pub types: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

/// An endpoint as its org sees it (never the secret).
#[derive(Debug, Clone)]
pub struct WebhookView {
    pub id: Uuid,
    pub org: OrgId,
    pub url: String,
    pub description: String,
    /// Empty: every type.
    pub types: Vec<String>,
    pub enabled: bool,
    /// Why Roster disabled it (a `410 Gone`, or days of failures).
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed, if the last one did.
    pub failing_since: Option<NaiveDateTime>,
    /// Until when the previous secret also signs, after a rotation.
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl WebhookView {
    fn from_row(row: WebhookRow) -> Result<Self> {
        let corrupt = || Error::Internal("a stored webhook is malformed".into());
        let at = now();
        Ok(Self {
            id: Uuid::parse_str(&row.id).map_err(|_| corrupt())?,
            org: OrgId::from_db(&row.org_id)?,
            url: row.url,
            description: row.description,
            types: split_types(&row.types),
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since,
            previous_secret_expires_at: row.previous_secret_expires_at.filter(|t| *t > at),
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// An endpoint with its signing secret, shown this once.
#[derive(Debug, Clone)]
pub struct WebhookWithSecret {
    pub webhook: WebhookView,
    /// `whsec_` and the base64 key (the Standard Webhooks form).
    pub secret: String,
}

/// One attempt to send a delivery.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub at: NaiveDateTime,
    pub status_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
}

/// One event queued for an endpoint, and what became of it.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub position: super::EventPosition,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// The latest attempts, oldest first.
    pub attempt_log: Vec<AttemptView>,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

impl DeliveryView {
    fn from_row(row: DeliveryRow) -> Result<Self> {
        let corrupt = || Error::Internal("a stored delivery is malformed".into());
        Ok(Self {
            id: Uuid::parse_str(&row.id).map_err(|_| corrupt())?,
            event_id: Uuid::parse_str(&row.event_id).map_err(|_| corrupt())?,
            event_type: row.event_type,
            position: super::EventPosition {
                tx_id: row.tx_id,
                ordinal: row.ordinal,
            },
            status: row.status,
            attempts: row.attempts,
            attempt_log: serde_json::from_str(&row.attempt_log).map_err(|_| corrupt())?,
            last_status_code: row.last_status_code,
            last_latency_ms: row.last_latency_ms,
            last_error: row.last_error,
            next_attempt_at: row.next_attempt_at,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
        })
    }
}

/// What `redeliverEvents` queued.
#[derive(Debug, Clone, Copy)]
pub struct Redelivered {
    pub queued: usize,
    /// More events matched than one call queues ([`MAX_REDELIVER`]); call
    /// again with a later `since`.
    pub truncated: bool,
}

pub(super) fn split_types(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// Checks the event types an endpoint subscribes to; the stored form.
fn join_types(types: &[String]) -> Result<String> {
    let mut kept: Vec<&str> = Vec::with_capacity(types.len());
    for t in types {
        let t = t.trim();
        if !kind::ALL.contains(&t) {
            return Err(Error::invalid(format!(
                "unknown event type \"{}\"; the types are: {}",
                t.chars().take(40).collect::<String>(),
                kind::ALL.join(", ")
            )));
        }
        kept.push(t);
    }
    kept.sort_unstable();
    kept.dedup();
    Ok(kept.join(" "))
}

fn description(text: Option<String>) -> Result<String> {
    let text = text.unwrap_or_default().trim().to_owned();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(Error::invalid(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::invalid(
            "description must not hold control characters",
        ));
    }
    Ok(text)
}

/// A new signing secret: 32 random bytes, `whsec_` and base64.
fn new_secret() -> String {
    use base64::Engine;
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

fn webhook_not_found() -> Error {
    Error::not_found("no webhook with this id in this org")
}

/// The org a webhook call acts on: the token's, with `webhooks:write`.
fn may_manage(who: &Principal, org: Option<OrgId>) -> Result<OrgId> {
    who.org_with(org, Scope::WebhooksWrite)
}

/// A URL as events show it: without its query string, which often
/// carries a receiver's token (events are read with `events:read` alone).
fn shown_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

/// The endpoint's settings as an event shows them.
fn described(draft: Draft, before: Option<&WebhookRow>, after: &WebhookRow) -> Draft {
    let types = |row: &WebhookRow| json!(split_types(&row.types));
    match before {
        None => draft
            .set("url", shown_url(&after.url))
            .set("description", &after.description)
            .set("types", types(after))
            .set("enabled", after.enabled),
        Some(before) => draft
            .change("url", shown_url(&before.url), shown_url(&after.url))
            .change("description", &before.description, &after.description)
            .change("types", types(before), types(after))
            .change("enabled", before.enabled, after.enabled)
            .change(
                "disabledReason",
                &before.disabled_reason,
                &after.disabled_reason,
            ),
    }
}

impl Service {
    /// Checks an endpoint URL against this server's policy, resolving a
    /// named host to refuse one that points inside the network. A name
    /// that does not resolve now is accepted (sending checks again).
    async fn checked_url(&self, text: &str) -> Result<String> {
        let policy = self.webhook_policy;
        let url = rules::parse_url(text, policy).map_err(Error::from)?;
        if !policy.allow_private
            && let Some(url::Host::Domain(name)) = url.host()
        {
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup = tokio::net::lookup_host((name, port));
            if let Ok(Ok(addrs)) = tokio::time::timeout(DNS_TIMEOUT, lookup).await
                && addrs.into_iter().any(|a| !policy.allows(a.ip()))
            {
                return Err(Error::from(rules::not_allowed()));
            }
        }
        let url = url.to_string();
        if url.len() > rules::MAX_URL {
            return Err(Error::invalid(format!(
                "url must be at most {} characters",
                rules::MAX_URL
            )));
        }
        Ok(url)
    }

    /// `createWebhook`: a new enabled endpoint with a new secret.
    pub async fn create_webhook(
        &self,
        who: &Principal,
        input: NewWebhook,
    ) -> Result<WebhookWithSecret> {
        let org = may_manage(who, input.org)?;
        let url = self.checked_url(&input.url).await?;
        let types = join_types(&input.types)?;
        let description = description(input.description)?;
        let secret = new_secret();
        let at = now();
        let row = WebhookRow {
            id: Uuid::now_v7().to_string(),
            org_id: org.as_db(),
            url,
            description,
            types,
            enabled: true,
            disabled_reason: None,
            secret: secret.clone(),
            previous_secret: None,
            previous_secret_expires_at: None,
            failing_since: None,
            last_failure_at: None,
            lease_owner: None,
            lease_expires_at: at,
            created_by: Some(who.subject.clone()),
            created_at: at,
            updated_at: at,
        };
        let stored = row.clone();
        self.write(who, move |tx| {
            super::rows::ensure_org(tx, org)?;
            if webhooks::count(tx, &stored.org_id)? >= MAX_WEBHOOKS_PER_ORG {
                return Err(Error::Conflict(format!(
                    "an org may have at most {MAX_WEBHOOKS_PER_ORG} webhooks"
                )));
            }
            webhooks::insert(tx, &stored)?;
            let draft = Draft::new(
                Some(&stored.org_id),
                kind::WEBHOOK_CREATED,
                "webhook",
                &stored.id,
            );
            tx.record(described(draft, None, &stored));
            Ok(())
        })
        .await?;
        Ok(WebhookWithSecret {
            webhook: WebhookView::from_row(row)?,
            secret,
        })
    }

    /// `updateWebhook`: changes what is given. Enabling an endpoint clears
    /// why it was disabled and its failure streak.
    pub async fn update_webhook(
        &self,
        who: &Principal,
        input: WebhookUpdate,
    ) -> Result<WebhookView> {
        let org = may_manage(who, input.org)?;
        let url = match &input.url {
            Some(url) => Some(self.checked_url(url).await?),
            None => None,
        };
        let types = input.types.as_deref().map(join_types).transpose()?;
        let description = input
            .description
            .map(|d| description(Some(d)))
            .transpose()?;
        let id = input.id.to_string();
        let enabled = input.enabled;
        let row = self
            .write(who, move |tx| {
                let before =
                    webhooks::find(tx, &org.as_db(), &id)?.ok_or_else(webhook_not_found)?;
                let mut changes = WebhookChanges {
                    url: url.clone(),
                    description: description.clone(),
                    types: types.clone(),
                    enabled,
                    ..WebhookChanges::default()
                };
                if enabled == Some(true) && !before.enabled {
                    changes.disabled_reason = Some(None);
                    changes.failing_since = Some(None);
                }
                let mut after = before.clone();
                apply(&mut after, &changes);
                let draft = described(
                    Draft::new(Some(&before.org_id), kind::WEBHOOK_UPDATED, "webhook", &id),
                    Some(&before),
                    &after,
                );
                if !draft.has_changes() {
                    return Ok(before);
                }
                changes.updated_at = Some(now());
                webhooks::update(tx, &id, &changes)?;
                tx.record(draft);
                webhooks::find(tx, &org.as_db(), &id)?.ok_or_else(webhook_not_found)
            })
            .await?;
        WebhookView::from_row(row)
    }

    /// `deleteWebhook`: the endpoint and its deliveries go.
    pub async fn delete_webhook(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        id: Uuid,
    ) -> Result<Outcome> {
        let org = may_manage(who, org)?;
        self.write(who, move |tx| {
            let key = id.to_string();
            let before = webhooks::find(tx, &org.as_db(), &key)?.ok_or_else(webhook_not_found)?;
            webhooks::delete(tx, &key)?;
            tx.record(
                Draft::new(Some(&before.org_id), kind::WEBHOOK_DELETED, "webhook", &key).change(
                    "url",
                    shown_url(&before.url),
                    serde_json::Value::Null,
                ),
            );
            Ok(Outcome::new(id, Change::Updated, 1))
        })
        .await
    }

    /// `rotateWebhookSecret`: a new secret signs from now on; the previous
    /// one also signs for [`PREVIOUS_SECRET_VALID_FOR`], so a receiver can
    /// switch without losing a delivery.
    pub async fn rotate_webhook_secret(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        id: Uuid,
    ) -> Result<WebhookWithSecret> {
        let org = may_manage(who, org)?;
        let secret = new_secret();
        let new = secret.clone();
        let row = self
            .write(who, move |tx| {
                let key = id.to_string();
                let before =
                    webhooks::find(tx, &org.as_db(), &key)?.ok_or_else(webhook_not_found)?;
                let at = now();
                let expires = at + PREVIOUS_SECRET_VALID_FOR;
                let changes = WebhookChanges {
                    secret: Some(new.clone()),
                    previous_secret: Some(Some(before.secret.clone())),
                    previous_secret_expires_at: Some(Some(expires)),
                    updated_at: Some(at),
                    ..WebhookChanges::default()
                };
                webhooks::update(tx, &key, &changes)?;
                tx.record(
                    Draft::new(
                        Some(&before.org_id),
                        kind::WEBHOOK_SECRET_ROTATED,
                        "webhook",
                        &key,
                    )
                    .set(
                        "previousSecretExpiresAt",
                        expires
                            .and_utc()
                            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    ),
                );
                webhooks::find(tx, &org.as_db(), &key)?.ok_or_else(webhook_not_found)
            })
            .await?;
        Ok(WebhookWithSecret {
            webhook: WebhookView::from_row(row)?,
            secret,
        })
    }

    /// `webhooks`: the org's endpoints, oldest first.
    pub async fn webhooks(&self, who: &Principal, org: Option<OrgId>) -> Result<Vec<WebhookView>> {
        let org = may_manage(who, org)?;
        self.read(move |conn| {
            webhooks::list(conn, &org.as_db())?
                .into_iter()
                .map(WebhookView::from_row)
                .collect()
        })
        .await
    }

    /// `webhookDeliveries`: an endpoint's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        id: Uuid,
        status: Option<String>,
        page: PageRequest,
    ) -> Result<Page<DeliveryView>> {
        let org = may_manage(who, org)?;
        if let Some(s) = &status
            && ![
                webhooks::status::PENDING,
                webhooks::status::DELIVERED,
                webhooks::status::FAILED,
            ]
            .contains(&s.as_str())
        {
            return Err(Error::invalid(
                "status must be pending, delivered or failed",
            ));
        }
        let after = page
            .after
            .as_deref()
            .map(|a| {
                Uuid::parse_str(a)
                    .map(|u| u.to_string())
                    .map_err(|_| Error::invalid("after is not a cursor from this list"))
            })
            .transpose()?;
        self.read(move |conn| {
            let key = id.to_string();
            webhooks::find(conn, &org.as_db(), &key)?.ok_or_else(webhook_not_found)?;
            let rows = webhooks::deliveries(
                conn,
                &key,
                status.as_deref(),
                after.as_deref(),
                page.limit(),
            )?;
            let views = rows
                .into_iter()
                .map(DeliveryView::from_row)
                .collect::<Result<Vec<_>>>()?;
            Ok(into_page(views, &page, None))
        })
        .await
    }

    /// `redeliverEvents`: queues again, for this endpoint, the org's events
    /// of its types that occurred at or after `since`, oldest first, at
    /// most [`MAX_REDELIVER`]. They are sent with their own ids, so a
    /// receiver that saw one already can tell.
    pub async fn redeliver_events(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        id: Uuid,
        since: NaiveDateTime,
    ) -> Result<Redelivered> {
        let org = may_manage(who, org)?;
        self.write(who, move |tx| {
            let key = id.to_string();
            let hook = webhooks::find(tx, &org.as_db(), &key)?.ok_or_else(webhook_not_found)?;
            if !hook.enabled {
                return Err(Error::Conflict(
                    "the webhook is disabled; enable it before replaying events".into(),
                ));
            }
            if webhooks::pending_for(tx, &key)? >= MAX_REDELIVER as i64 {
                return Err(Error::Conflict(format!(
                    "{MAX_REDELIVER} or more deliveries already wait for this webhook; \
                     replay more once they are sent"
                )));
            }
            let filter = event_log::EventFilter {
                org: Some(hook.org_id.clone()),
                types: split_types(&hook.types),
                since: Some(since),
                ..Default::default()
            };
            let mut found = event_log::page(tx, &filter, None, MAX_REDELIVER as i64 + 1)?;
            let truncated = found.len() > MAX_REDELIVER;
            found.truncate(MAX_REDELIVER);
            let at = now();
            let rows: Vec<DeliveryRow> = found
                .into_iter()
                .map(|e| {
                    super::deliveries::queued(
                        &key,
                        e.id,
                        e.kind,
                        (e.tx_id, e.ordinal),
                        e.occurred_at,
                        at,
                    )
                })
                .collect();
            webhooks::insert_deliveries(tx, &rows)?;
            Ok(Redelivered {
                queued: rows.len(),
                truncated,
            })
        })
        .await
    }

    /// The address policy endpoints are checked against.
    pub fn with_webhook_policy(mut self, policy: AddressPolicy) -> Self {
        self.webhook_policy = policy;
        self
    }
}

/// `changes` applied to a copy of the row (to describe the update).
fn apply(row: &mut WebhookRow, changes: &WebhookChanges) {
    if let Some(url) = &changes.url {
        row.url = url.clone();
    }
    if let Some(d) = &changes.description {
        row.description = d.clone();
    }
    if let Some(t) = &changes.types {
        row.types = t.clone();
    }
    if let Some(e) = changes.enabled {
        row.enabled = e;
    }
    if let Some(r) = &changes.disabled_reason {
        row.disabled_reason = r.clone();
    }
}
