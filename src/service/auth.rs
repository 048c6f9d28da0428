//! Turning a bearer token into a [`Principal`], and minting and revoking
//! the tokens Roster issues.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use uuid::Uuid;

use super::events::{Draft, Tx, kind};
use super::{Service, now};
use crate::auth::jwt::Claims;
use crate::auth::{CallerRole, Principal, Scopes};
use crate::db::models::IssuedTokenRow;
use crate::db::{orgs, tokens};
use crate::domain::{MemberStatus, OrgId, OrgStatus, Role, TokenName, UserId};
use crate::error::{Error, Result};

/// Why a request is not authenticated; answered with HTTP 401 (or 503 when
/// the database could not be asked).
#[derive(Debug)]
pub enum AuthFailure {
    Refused(String),
    Unavailable,
}

/// What to put in a new token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub role: CallerRole,
    pub org: Option<OrgId>,
    pub scope: Option<String>,
    pub subject: Option<String>,
    pub ttl: Duration,
    /// A name, unique in the org (as API tokens have).
    pub name: Option<String>,
}

/// A minted token and its id.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub jti: String,
    pub expires_at: chrono::NaiveDateTime,
}

impl Service {
    /// Verifies the token, then checks with the database that it was not
    /// revoked, that its org exists and is not suspended, and, for an admin
    /// token, that its `sub` is an active admin member of its org: an
    /// admin's rights follow their membership.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthFailure> {
        self.authenticate_until(token)
            .await
            .map(|(principal, _)| principal)
    }

    /// [`Service::authenticate`], with when the token expires.
    pub(super) async fn authenticate_until(
        &self,
        token: &str,
    ) -> Result<(Principal, NaiveDateTime), AuthFailure> {
        let (principal, exp) = self
            .keys
            .verify_until(token)
            .map_err(|e| AuthFailure::Refused(e.0))?;
        let until = i64::try_from(exp)
            .ok()
            .and_then(|exp| chrono::DateTime::from_timestamp(exp, 0))
            .map(|t| t.naive_utc())
            .unwrap_or(NaiveDateTime::MAX);
        Ok((self.in_standing(principal).await?, until))
    }

    /// The standing checks of [`Service::authenticate`] on a principal
    /// already verified (a token's, or a console session's).
    pub(super) async fn in_standing(&self, principal: Principal) -> Result<Principal, AuthFailure> {
        let org = principal.org;
        let admin = match principal.role {
            CallerRole::Admin => Some(principal.user_id().ok_or_else(|| {
                AuthFailure::Refused(
                    "an admin token's sub must be the user id of an admin of its org".into(),
                )
            })?),
            _ => None,
        };
        let key = StandingKey {
            jti: principal.jti.clone().unwrap_or_default(),
            org: org.map(|o| o.as_db()).unwrap_or_default(),
            admin: admin.map(|a| a.as_db()).unwrap_or_default(),
        };
        if self.standing.holds(&key) {
            self.note_use(&principal);
            return Ok(principal);
        }
        let epoch = self.standing.epoch();
        let asked = key.clone();
        let refusal = self
            .read(move |conn| {
                let standing = tokens::standing(conn, &asked.jti, &asked.org, &asked.admin)?;
                Ok(refusal(&standing, org.is_some(), admin.is_some()))
            })
            .await
            .map_err(|_| AuthFailure::Unavailable)?;
        match refusal {
            Some(reason) => Err(AuthFailure::Refused(reason.into())),
            None => {
                self.standing.remember(key, epoch);
                self.note_use(&principal);
                Ok(principal)
            }
        }
    }

    /// Remembers that a token was used (its `lastUsedAt`), in memory.
    fn note_use(&self, principal: &Principal) {
        if let Some(jti) = &principal.jti {
            self.usage.record(jti);
        }
    }

    /// Forgets every remembered standing (after a revocation or an org's
    /// status change).
    pub(super) fn forget_standing(&self) {
        self.standing.clear();
    }

    /// Mints a token and records its `jti` so that it can be revoked; `who`
    /// is who asked (the operator at the command line).
    pub async fn issue_token(&self, who: &Principal, request: TokenRequest) -> Result<IssuedToken> {
        who.require_operator()?;
        let org = match (request.role, request.org) {
            (CallerRole::Operator, _) => None,
            (_, Some(org)) => Some(org),
            (_, None) => return Err(Error::invalid("admin and integration tokens need an org")),
        };
        let scope = match request.role {
            CallerRole::Integration => {
                let scope = request.scope.unwrap_or_default();
                Scopes::parse(&scope).map_err(Error::InvalidInput)?;
                Some(scope.split_whitespace().collect::<Vec<_>>().join(" "))
            }
            _ => None,
        };
        let ttl = chrono::Duration::from_std(request.ttl)
            .ok()
            .filter(|d| *d > chrono::Duration::zero() && *d <= chrono::Duration::days(366))
            .ok_or_else(|| Error::invalid("the token lifetime must be between 1s and 366 days"))?;
        let issued_at = now();
        let expires_at = issued_at + ttl;
        let jti = Uuid::now_v7().to_string();
        let subject = match (request.role, request.subject) {
            // Stored as the user id's own text, which the standing check
            // compares with.
            (CallerRole::Admin, Some(sub)) => sub
                .trim()
                .parse::<UserId>()
                .map(|id| id.as_db())
                .map_err(|_| Error::invalid("an admin token's subject must be a user id"))?,
            (CallerRole::Admin, None) => {
                return Err(Error::invalid(
                    "an admin token needs the admin's user id as its subject (--sub)",
                ));
            }
            (_, sub) => sub.unwrap_or_else(|| format!("roster-cli:{jti}")),
        };
        let name = request.name.as_deref().map(TokenName::parse).transpose()?;
        let row = IssuedTokenRow {
            jti: jti.clone(),
            subject,
            role: request.role.as_str().into(),
            org_id: org.map(|o| o.as_db()),
            scope,
            expires_at,
            revoked_at: None,
            created_at: issued_at,
            name,
            created_by: Some(who.subject.clone()),
            last_used_at: None,
            creator_admin: None,
        };
        let token = self.mint(&row)?;
        let admin = request.role == CallerRole::Admin;
        self.write(who, move |conn| {
            if let Some(org) = &row.org_id {
                orgs::find(conn, org)?.ok_or_else(|| Error::not_found("no org with this id"))?;
                if admin {
                    let standing = tokens::membership_of(conn, org, &row.subject)?;
                    if !standing.is_some_and(|(role, status)| is_active_admin(&role, &status)) {
                        return Err(Error::invalid(
                            "an admin token's subject must be the user id of an active admin \
                             of the org (--sub)",
                        ));
                    }
                }
            }
            record_issued(conn, &row)
        })
        .await?;
        Ok(IssuedToken {
            token,
            jti,
            expires_at,
        })
    }

    /// Signs the token a row describes.
    pub(super) fn mint(&self, row: &IssuedTokenRow) -> Result<String> {
        let claims = Claims {
            sub: row.subject.clone(),
            jti: Some(row.jti.clone()),
            role: row.role.clone(),
            org: row.org_id.clone(),
            scope: row.scope.clone(),
            iss: self.keys.issuer().into(),
            aud: self.keys.audience().into(),
            exp: row.expires_at.and_utc().timestamp() as u64,
            nbf: None,
            iat: Some(row.created_at.and_utc().timestamp() as u64),
        };
        self.keys.mint(&claims).map_err(Error::InvalidInput)
    }

    /// Revokes a token this service minted; false when there was none to
    /// revoke.
    pub async fn revoke_token(&self, who: &Principal, jti: &str) -> Result<bool> {
        who.require_operator()?;
        let jti = jti.trim().to_owned();
        let revoked = self
            .write(who, move |conn| {
                let Some(token) = tokens::find(conn, &jti)? else {
                    return Ok(false);
                };
                revoke_recorded(conn, &token)
            })
            .await;
        self.forget_standing();
        revoked
    }
}

/// Records a new token and its `token.issued` event (the token itself is a
/// secret and is never recorded).
pub(super) fn record_issued(tx: &mut Tx<'_>, row: &IssuedTokenRow) -> Result<()> {
    tokens::insert(tx, row)?;
    tx.record(
        Draft::new(row.org_id.as_deref(), kind::TOKEN_ISSUED, "token", &row.jti)
            .set("name", row.name.clone())
            .set("subject", row.subject.clone())
            .set("role", row.role.clone())
            .set("scope", row.scope.clone())
            .set("expiresAt", row.expires_at.and_utc().to_rfc3339()),
    );
    Ok(())
}

/// Revokes a token with its `token.revoked` event; false when it already
/// was.
pub(super) fn revoke_recorded(tx: &mut Tx<'_>, token: &IssuedTokenRow) -> Result<bool> {
    if tokens::revoke(tx, &token.jti, now())? == 0 {
        return Ok(false);
    }
    tx.record(
        Draft::new(
            token.org_id.as_deref(),
            kind::TOKEN_REVOKED,
            "token",
            &token.jti,
        )
        .set("name", token.name.clone())
        .change("revoked", false, true),
    );
    Ok(true)
}

impl Service {}

/// Why a token in this standing is refused, if it is.
fn refusal(standing: &tokens::Standing, has_org: bool, admin: bool) -> Option<&'static str> {
    if standing.revoked {
        return Some("the token has been revoked");
    }
    if has_org {
        match standing.org_status.as_deref().map(OrgStatus::from_db) {
            None => return Some("the token's org does not exist"),
            Some(OrgStatus::Suspended) => return Some("the token's org is suspended"),
            Some(_) => {}
        }
    }
    if let Some((_, creator)) = &standing.creator {
        match creator {
            Some((role, status)) if is_active_admin(role, status) => {}
            _ => {
                return Some(
                    "the admin who made this token is no longer an active admin of its org",
                );
            }
        }
    }
    if admin {
        match &standing.membership {
            None => return Some("the token's subject is not a member of its org"),
            Some((role, status)) if !is_active_admin(role, status) => {
                return Some("the token's subject is no longer an active admin of its org");
            }
            Some(_) => {}
        }
    }
    None
}

/// Whether a membership's stored role and status make an active admin: the
/// standing an admin token needs.
pub(super) fn is_active_admin(role: &str, status: &str) -> bool {
    Role::from_db(role) == Role::Admin && MemberStatus::from_db(status) == MemberStatus::Active
}

/// What a remembered standing is about: the token, its org, and for an
/// admin token the admin (empty where a token carries none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StandingKey {
    jti: String,
    org: String,
    admin: String,
}

/// Tokens whose standing was checked recently, and when.
/// Bounded: when full it starts again empty. Clearing starts a new epoch,
/// and a check that began before it is not remembered, so that a request
/// racing a revocation cannot put the revoked token back.
#[derive(Debug)]
pub(super) struct StandingCache {
    ttl: Duration,
    checked: std::sync::Mutex<Checked>,
}

#[derive(Debug, Default)]
struct Checked {
    epoch: u64,
    at: HashMap<StandingKey, Instant>,
}

const STANDING_CACHE_ENTRIES: usize = 10_000;

impl StandingCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            checked: std::sync::Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Checked> {
        self.checked.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn holds(&self, key: &StandingKey) -> bool {
        !self.ttl.is_zero()
            && self
                .lock()
                .at
                .get(key)
                .is_some_and(|at| at.elapsed() < self.ttl)
    }

    fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Remembers a good standing checked since `epoch` began.
    fn remember(&self, key: StandingKey, epoch: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut checked = self.lock();
        if checked.epoch != epoch {
            return;
        }
        if checked.at.len() >= STANDING_CACHE_ENTRIES {
            checked.at.clear();
        }
        checked.at.insert(key, Instant::now());
    }

    fn clear(&self) {
        let mut checked = self.lock();
        checked.epoch += 1;
        checked.at.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StandingKey {
        StandingKey {
            jti: "jti-1".into(),
            org: "org-1".into(),
            admin: String::new(),
        }
    }

    #[test]
    fn a_check_older_than_a_clear_is_not_remembered() {
        let cache = StandingCache::new(Duration::from_secs(60));
        let before = cache.epoch();
        cache.clear();
        cache.remember(key(), before);
        assert!(!cache.holds(&key()));
        cache.remember(key(), cache.epoch());
        assert!(cache.holds(&key()));
        cache.clear();
        assert!(!cache.holds(&key()));
    }

    #[test]
    fn a_zero_ttl_remembers_nothing() {
        let cache = StandingCache::new(Duration::ZERO);
        cache.remember(key(), cache.epoch());
        assert!(!cache.holds(&key()));
    }
}
