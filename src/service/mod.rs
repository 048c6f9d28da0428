//! The use cases: authorisation, tenant scoping, invariants and
//! transactions. GraphQL resolvers (and any later API) call these and
//! nothing below them.
//!
//! Every call takes the caller's [`Principal`](crate::auth::Principal) and
//! resolves the org it acts on from it before touching the database.
//! Database work runs on the blocking pool, one closure per unit of work;
//! writes run in [`write_transaction`], retried when they lose a race on a
//! unique index (the retry then sees the winner's row and answers as if it
//! had come second).

mod auth;
mod bulk;
mod console;
mod deliveries;
mod directory;
mod events;
mod groups;
mod invitations;
mod members;
mod orgs;
mod plan;
mod profile;
mod rows;
mod rules;
mod scim;
mod sync;
mod tokens;
mod views;
mod webhooks;
mod write;

use std::sync::Arc;

use chrono::{NaiveDateTime, Utc};
use uuid::Uuid;

pub use auth::{AuthFailure, IssuedToken, TokenRequest};
pub use bulk::{RemovalReport, Skipped, StatusReport};
pub use console::{ConsoleSession, OpenedSession, secret};
pub use deliveries::{
    Attempt, DeliverySettings, DeliveryStats, DueDelivery, LeasedEndpoint, retry_delay,
};
pub use directory::{MemberKey, MemberPage, MemberQuery, Position};
pub use events::{EventQuery, EventView, Position as EventPosition, Tx, kind as event_kind};
pub use groups::{GroupInput, GroupUpdate};
pub use invitations::{
    InvitationMail, InviteSettings, KEY_NAME as INVITATION_KEY_NAME, MailJob, MailOutcome,
    UNUSABLE_TOKEN,
};
pub use members::{FindUsers, MemberUpdate, NewMember, NewOrgMember};
pub use orgs::{OrgKey, OrgUpdate};
pub use plan::Failure;
pub use scim::{
    MAX_RESULTS as SCIM_MAX_RESULTS, ScimGroup, ScimGroupInput, ScimGroupQuery, ScimPage,
    ScimUserQuery, scim_access,
};
pub use sync::{
    MAX_SYNC_RECORDS, MemberRecord, RecordResult, Retirement, SyncMode, SyncReport, SyncRequest,
    UpsertMember, Upserted,
};
pub use tokens::{ApiTokenView, CreatedApiToken, DEFAULT_API_TOKEN_MAX_TTL, NewApiToken};
pub use views::{
    FoundUser, GroupUserView, GroupView, InvitationView, MemberGroupView, MemberView,
    MembershipView, OrgView, UserView,
};
pub use webhooks::{
    AttemptView, DeliveryView, MAX_REDELIVER, NewWebhook, Redelivered, WebhookUpdate, WebhookView,
    WebhookWithSecret,
};

use crate::auth::Principal;
use crate::auth::jwt::JwtKeys;
use crate::db::{Backend, Db, DbConn, write_transaction};
use crate::domain::{search_key, search_term};
use crate::error::{Error, Result};

/// The most rows one housekeeping delete takes (see
/// [`Service::prune_in_batches`]).
const PRUNE_BATCH: i64 = 1000;

/// How many times a write that lost a race is run again.
const WRITE_ATTEMPTS: usize = 4;

/// What a successful mutation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// How a write's work ends (see [`Service::write_or_roll_back`]).
pub(crate) enum Finish<T> {
    /// Commit, and answer this.
    Commit(T),
    /// Roll everything back, and answer this.
    RollBack(T),
}

impl<T> Finish<T> {
    /// The answer, however the work ended.
    pub(crate) fn into_inner(self) -> T {
        match self {
            Self::Commit(value) | Self::RollBack(value) => value,
        }
    }
}

/// The outcome of a successful mutation: the entity it concerns, what
/// happened, and how many rows changed.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub id: Uuid,
    pub change: Change,
    pub records: i32,
}

impl Outcome {
    fn new(id: Uuid, change: Change, records: i32) -> Self {
        Self {
            id,
            change,
            records,
        }
    }

    fn unchanged(id: Uuid) -> Self {
        Self::new(id, Change::Unchanged, 0)
    }
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub total: Option<i64>,
}

/// How a caller asks for a page: at most `first` items after the `after`
/// key, with the total when `with_total`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub first: usize,
    pub after: Option<String>,
    pub with_total: bool,
}

/// The most items one page may hold.
pub const MAX_PAGE: usize = 500;

impl PageRequest {
    fn limit(&self) -> i64 {
        // One more than asked, to learn whether another page follows.
        self.first.clamp(1, MAX_PAGE) as i64 + 1
    }
}

fn into_page<T>(mut items: Vec<T>, request: &PageRequest, total: Option<i64>) -> Page<T> {
    let first = request.first.clamp(1, MAX_PAGE);
    let has_next = items.len() > first;
    items.truncate(first);
    Page {
        items,
        has_next,
        total,
    }
}

/// The service: the database and the token keys.
#[derive(Clone)]
pub struct Service {
    db: Db,
    keys: Arc<JwtKeys>,
    standing: Arc<auth::StandingCache>,
    usage: Arc<tokens::TokenUsage>,
    api_token_max_ttl: std::time::Duration,
    webhook_policy: crate::domain::webhook::AddressPolicy,
    delivery: DeliverySettings,
    delivery_stats: Arc<DeliveryStats>,
    /// How invitations are issued, limited and linked.
    invites: Arc<InviteSettings>,
    /// Woken when a write on this instance recorded events, so that the
    /// delivery worker need not wait for its next poll.
    wake: Arc<tokio::sync::Notify>,
}

impl Service {
    pub fn new(db: Db, keys: JwtKeys) -> Self {
        Self::with_standing_ttl(db, keys, std::time::Duration::ZERO)
    }

    /// A service that trusts a token's checked standing (not revoked, org
    /// active) for `ttl` before asking the database again; zero asks on
    /// every request. Revocations and suspensions made through this
    /// service take effect at once whatever the ttl.
    pub fn with_standing_ttl(db: Db, keys: JwtKeys, ttl: std::time::Duration) -> Self {
        Self {
            db,
            keys: Arc::new(keys),
            standing: Arc::new(auth::StandingCache::new(ttl)),
            usage: Arc::default(),
            api_token_max_ttl: DEFAULT_API_TOKEN_MAX_TTL,
            webhook_policy: Default::default(),
            delivery: DeliverySettings::default(),
            delivery_stats: Arc::default(),
            invites: Arc::default(),
            wake: Arc::default(),
        }
    }

    /// How invitations are issued, limited and linked.
    pub fn with_invitations(mut self, settings: InviteSettings) -> Self {
        self.invites = Arc::new(settings);
        self
    }

    pub fn invitations(&self) -> &InviteSettings {
        &self.invites
    }

    /// The longest lifetime `createApiToken` grants.
    pub fn with_api_token_max_ttl(mut self, max: std::time::Duration) -> Self {
        self.api_token_max_ttl = max;
        self
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// Runs read-only database work on the blocking pool.
    async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        let pool = self.db.pool.clone();
        let span = tracing::Span::current();
        let joined = actix_web::rt::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            work(&mut conn).map_err(Error::settle)
        })
        .await;
        joined.map_err(|e| Error::Internal(format!("database task failed: {e}")))?
    }

    /// Runs a short read, one whose cost an index bounds (a lookup by key,
    /// a page along an index), like [`Service::read`] but, on SQLite,
    /// on the calling worker thread when a pooled connection is free at
    /// once. The hand-off to the blocking pool and back (two thread
    /// wake-ups) costs a point lookup more than its SQL does
    /// (BENCHMARKS.md). A PostgreSQL answer is a network round trip away,
    /// and no connection may be free: those still go to the pool, so a
    /// worker never waits on either. Never pass a scan here: it would hold
    /// up every request on the worker.
    async fn read_short<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    {
        if self.db.backend == Backend::Sqlite
            && let Some(mut conn) = self.db.pool.try_get()
        {
            return work(&mut conn).map_err(Error::settle);
        }
        self.read(work).await
    }

    /// Housekeeping deletes: runs `batch` (which deletes at most
    /// `PRUNE_BATCH` rows) in short transactions of its own, so that
    /// writers are not held up, until a batch finds fewer; returns how
    /// many went.
    async fn prune_in_batches<F>(&self, batch: F) -> Result<usize>
    where
        F: Fn(&mut Tx<'_>) -> Result<usize> + Clone + Send + 'static,
    {
        let mut pruned = 0;
        loop {
            let deleted = self.write(&Principal::cli(), batch.clone()).await?;
            pruned += deleted;
            if deleted < PRUNE_BATCH as usize {
                return Ok(pruned);
            }
        }
    }

    /// The one way the service writes: runs `work` in a write transaction
    /// on the blocking pool, records the events it drafted in the same
    /// transaction (see [`events::Tx`]), and runs it again when it lost a
    /// race (see [`Error::is_retryable`]).
    async fn write<T, F>(&self, who: &Principal, mut work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        self.write_or_roll_back(who, move |tx| work(tx).map(Finish::Commit))
            .await
    }

    /// [`Service::write`] for work that may decide, having written, to
    /// undo it all and still answer ([`Finish::RollBack`]): a sync that
    /// writes nothing when one record fails, found only as it goes.
    async fn write_or_roll_back<T, F>(&self, who: &Principal, mut work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Tx<'_>) -> Result<Finish<T>> + Send + 'static,
    {
        let pool = self.db.pool.clone();
        let span = tracing::Span::current();
        let who = who.clone();
        let wake = self.wake.clone();
        let joined = actix_web::rt::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            let mut attempt = 1;
            loop {
                let mut recorded = false;
                let mut rolled_back = None;
                let run = |conn: &mut DbConn| -> Result<T> {
                    let mut tx = Tx::new(conn);
                    match work(&mut tx)? {
                        Finish::Commit(value) => {
                            recorded = tx.finish(&who)?;
                            Ok(value)
                        }
                        Finish::RollBack(value) => {
                            rolled_back = Some(value);
                            Err(Error::Internal("rolled back as the work asked".into()))
                        }
                    }
                };
                let done = write_transaction(&mut conn, run);
                if let Some(value) = rolled_back {
                    return Ok(value);
                }
                match done {
                    Ok(value) => {
                        if recorded {
                            wake.notify_one();
                        }
                        return Ok(value);
                    }
                    Err(e) if e.is_retryable() && attempt < WRITE_ATTEMPTS => {
                        tracing::debug!(attempt, error = %e, "write lost a race; retrying");
                        attempt += 1;
                    }
                    other => return other.map_err(Error::settle),
                }
            }
        })
        .await;
        joined.map_err(|e| Error::Internal(format!("database task failed: {e}")))?
    }

    /// After a write that may have changed who is an active admin: the
    /// standing remembered for admin tokens is forgotten, so that on this
    /// instance a retired, demoted or removed admin's token stops at once
    /// (other instances follow within the cache's time to live).
    fn member_rights_may_have_changed<T>(&self, done: &Result<T>) {
        if done.is_ok() {
            self.forget_standing();
        }
    }

    /// How many SQL statements the service has run since it started.
    pub fn sql_statements(&self) -> u64 {
        self.db
            .statements
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the database answers (readiness).
    pub async fn ready(&self) -> Result<()> {
        self.read(|conn| crate::db::ping(conn).map_err(Error::from))
            .await
    }
}

/// A list filter as given: blank means none; matched lower-cased.
fn search_query(q: Option<String>) -> Result<Option<String>> {
    let q = q.map(|q| search_term("q", &q)).transpose()?;
    Ok(q.filter(|q| !q.is_empty()).map(|q| search_key(&q)))
}

/// The current time as stored: UTC, microsecond precision (what both
/// backends keep, so a value reads back equal to what was written).
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    let micros = now.and_utc().timestamp_micros();
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .unwrap_or(now)
}
