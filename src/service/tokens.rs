//! API tokens that an org's admins manage for their integrations:
//! create (the token is shown once), list, revoke. Only the `jti` is
//! stored. When a token was last used is kept in memory and written at
//! most once per flush (every minute in `serve`, and before a list on the
//! same instance), so a request costs no write; see `docs/api.md`, "API
//! tokens".

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::NaiveDateTime;
use uuid::Uuid;

use super::auth::{record_issued, revoke_recorded};
use super::{Change, Outcome, Page, PageRequest, Service, into_page, now};
use crate::auth::{CallerRole, Principal, Scope, Scopes};
use crate::db::models::IssuedTokenRow;
use crate::db::tokens;
use crate::domain::{OrgId, TokenName};
use crate::error::{Error, Result};

/// The longest an API token may live unless configured otherwise
/// (`ROSTER_API_TOKEN_MAX_TTL`).
pub const DEFAULT_API_TOKEN_MAX_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// `createApiToken`'s input.
#[derive(Debug, Clone, Default)]
pub struct NewApiToken {
    pub org: Option<OrgId>,
    pub name: String,
    pub scopes: Vec<String>,
    /// How long it lives; the maximum when not given.
    pub expires_in: Option<Duration>,
}

/// A token as its org's admins see it (never the token itself).
#[derive(Debug, Clone)]
pub struct ApiTokenView {
    /// The token's `jti`.
    pub id: Uuid,
    pub name: Option<String>,
    /// `integration`, or `admin`/`operator` for tokens minted on the
    /// command line.
    pub role: String,
    pub scopes: Vec<String>,
    /// The `sub` of whoever made it.
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl ApiTokenView {
    fn from_row(row: IssuedTokenRow) -> Result<Self> {
        Ok(Self {
            id: Uuid::parse_str(&row.jti)
                .map_err(|_| Error::Internal("a stored token id is malformed".into()))?,
            name: row.name,
            role: row.role,
            scopes: row
                .scope
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A new token: the token, shown this once, and what the list will show.
#[derive(Debug, Clone)]
pub struct CreatedApiToken {
    pub token: String,
    pub view: ApiTokenView,
}

/// Only an org's admins (and operators) manage its tokens.
fn may_manage_tokens(who: &Principal, org: Option<OrgId>) -> Result<OrgId> {
    if who.role == CallerRole::Integration {
        return Err(Error::Forbidden(
            "integration tokens cannot manage API tokens".into(),
        ));
    }
    who.org_for(org)
}

fn token_not_found() -> Error {
    Error::not_found("no API token with this id in this org")
}

impl Service {
    /// `createApiToken`: an integration token of the org with the given
    /// scopes, recorded by its `jti`; the token is in the answer only.
    pub async fn create_api_token(
        &self,
        who: &Principal,
        input: NewApiToken,
    ) -> Result<CreatedApiToken> {
        let org = may_manage_tokens(who, input.org)?;
        let name = TokenName::parse(&input.name)?;
        let scope = input.scopes.join(" ");
        if scope.split_whitespace().next().is_none() {
            return Err(Error::invalid(format!(
                "give at least one scope of: {}",
                Scope::ALL.map(Scope::as_str).join(" ")
            )));
        }
        Scopes::parse(&scope).map_err(|e| {
            Error::invalid(format!(
                "{e}; the scopes are: {}",
                Scope::ALL.map(Scope::as_str).join(" ")
            ))
        })?;
        let max = self.api_token_max_ttl;
        let ttl = input.expires_in.unwrap_or(max);
        if ttl.is_zero() || ttl > max {
            return Err(Error::invalid(format!(
                "expiresIn must be more than 0s and at most {}",
                humantime::format_duration(max)
            )));
        }
        let issued_at = now();
        let expires_at = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|ttl| issued_at.checked_add_signed(ttl))
            .ok_or_else(|| Error::invalid("expiresIn is too long"))?;
        let jti = Uuid::now_v7().to_string();
        let mut deduplicated: Vec<&str> = scope.split_whitespace().collect();
        deduplicated.sort_unstable();
        deduplicated.dedup();
        let row = IssuedTokenRow {
            jti: jti.clone(),
            subject: format!("api-token:{jti}"),
            role: CallerRole::Integration.as_str().into(),
            org_id: Some(org.as_db()),
            scope: Some(deduplicated.join(" ")),
            expires_at,
            revoked_at: None,
            created_at: issued_at,
            name: Some(name),
            created_by: Some(who.subject.clone()),
            last_used_at: None,
            // A tenant admin's tokens follow that admin's rights.
            creator_admin: (who.role == CallerRole::Admin)
                .then(|| who.user_id().map(|id| id.as_db()))
                .flatten(),
        };
        let token = self.mint(&row)?;
        let stored = row.clone();
        self.write(who, move |tx| {
            super::rows::ensure_org(tx, org)?;
            let name = stored.name.as_deref().unwrap_or_default();
            if tokens::find_by_name(tx, &org.as_db(), name)?.is_some() {
                return Err(Error::Duplicate(format!(
                    "an API token named \"{name}\" already exists in this org"
                )));
            }
            record_issued(tx, &stored)
        })
        .await?;
        Ok(CreatedApiToken {
            token,
            view: ApiTokenView::from_row(row)?,
        })
    }

    /// `apiTokens`: the org's tokens, oldest first.
    pub async fn api_tokens(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        include_revoked: bool,
        page: PageRequest,
    ) -> Result<Page<ApiTokenView>> {
        let org = may_manage_tokens(who, org)?;
        // A list that cannot flush still answers, with older times.
        if let Err(error) = self.flush_token_usage().await {
            tracing::warn!(%error, "recording token use failed");
        }
        self.read(move |conn| {
            let org = org.as_db();
            let rows = tokens::list(
                conn,
                &org,
                page.after.as_deref(),
                include_revoked,
                page.limit(),
            )?;
            let total = if page.with_total {
                Some(tokens::count(conn, &org, include_revoked)?)
            } else {
                None
            };
            let views = rows
                .into_iter()
                .map(ApiTokenView::from_row)
                .collect::<Result<_>>()?;
            Ok(into_page(views, &page, total))
        })
        .await
    }

    /// `revokeApiToken`: `unchanged` when it already was; another org's
    /// token is NOT_FOUND, like one that does not exist.
    pub async fn revoke_api_token(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        id: Uuid,
    ) -> Result<Outcome> {
        let org = may_manage_tokens(who, org)?;
        let done = self
            .write(who, move |tx| {
                let token = tokens::find(tx, &id.to_string())?
                    .filter(|t| t.org_id.as_deref() == Some(org.as_db().as_str()))
                    .ok_or_else(token_not_found)?;
                Ok(if revoke_recorded(tx, &token)? {
                    Outcome::new(id, Change::Updated, 1)
                } else {
                    Outcome::unchanged(id)
                })
            })
            .await;
        self.forget_standing();
        done
    }

    /// Writes the remembered uses of tokens (see [`TokenUsage`]).
    pub async fn flush_token_usage(&self) -> Result<()> {
        let used = self.usage.take();
        if used.is_empty() {
            return Ok(());
        }
        let kept = used.clone();
        let done = self
            .write(&Principal::cli(), move |tx| {
                for (jti, at) in &used {
                    tokens::mark_used(tx, jti, *at)?;
                }
                Ok(())
            })
            .await;
        if done.is_err() {
            // Not lost: written with the next flush.
            self.usage.restore(kept);
        }
        done
    }
}

/// When tokens were last used, kept in memory between flushes: one entry
/// per token, to the minute, so a request costs no write.
#[derive(Debug, Default)]
pub(super) struct TokenUsage {
    pending: Mutex<HashMap<String, NaiveDateTime>>,
}

/// Past this many pending tokens, the oldest uses are dropped rather than
/// memory grown (the next use records them again).
const MAX_PENDING: usize = 100_000;

impl TokenUsage {
    /// Remembers that the token `jti` was used now.
    pub(super) fn record(&self, jti: &str) {
        let at = minute(now());
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.get(jti) == Some(&at) {
            return;
        }
        if pending.len() >= MAX_PENDING {
            pending.clear();
        }
        pending.insert(jti.to_owned(), at);
    }

    fn restore(&self, used: HashMap<String, NaiveDateTime>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (jti, at) in used {
            let entry = pending.entry(jti).or_insert(at);
            *entry = (*entry).max(at);
        }
    }

    fn take(&self) -> HashMap<String, NaiveDateTime> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A time truncated to the minute.
fn minute(at: NaiveDateTime) -> NaiveDateTime {
    use chrono::Timelike;
    at.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}
