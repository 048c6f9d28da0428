//! Admin console sign-ins: sessions opened with a token or a one-time
//! link, each speaking for a [`Principal`] that passes the same standing
//! checks as a bearer token on every request (docs/console.md).

use base64::Engine as _;
use chrono::NaiveDateTime;

use super::auth::{AuthFailure, is_active_admin};
use super::invitations::token_hash;
use super::{Service, now};
use crate::auth::{CallerRole, Channel, Principal, Scope, Scopes};
use crate::db::console::{self as store, LinkRow, SessionRow};
use crate::db::tokens;
use crate::domain::{OrgId, UserId};
use crate::error::{Error, Result};

/// The longest a console session lasts; never past its token's expiry.
const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);

/// How long a `roster console link` stays usable.
const LINK_TTL: chrono::Duration = chrono::Duration::minutes(15);

/// An opened session: what the cookie carries, and the form token.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    /// The cookie's value (secret; only its hash is stored).
    pub id: String,
    pub csrf: String,
    pub expires_at: NaiveDateTime,
}

/// A session found by its cookie: who it speaks for, and its form token.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub principal: Principal,
    pub csrf: String,
    pub expires_at: NaiveDateTime,
}

/// 32 random bytes, URL-safe base64, with a prefix: session ids, link
/// secrets and form tokens.
pub fn secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn scope_text(scopes: Scopes) -> String {
    Scope::ALL
        .iter()
        .filter(|s| scopes.contains(**s))
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The refusal of a console sign-in, said for the person signing in.
fn refused(message: &str) -> AuthFailure {
    AuthFailure::Refused(message.into())
}

impl Service {
    /// Opens a console session with a bearer token: admins and operators
    /// only (an integration token is for programs). The session ends at
    /// the token's expiry or after [`SESSION_TTL`], whichever is first.
    pub async fn open_console_session(&self, token: &str) -> Result<OpenedSession, AuthFailure> {
        let (principal, until) = self.authenticate_until(token.trim()).await?;
        if principal.role == CallerRole::Integration {
            return Err(refused(
                "the console takes an admin or operator token; integration tokens are for programs",
            ));
        }
        self.store_session(principal, until).await
    }

    /// Opens a console session with a one-time link made by
    /// [`Service::create_console_link`]; the link is used up either way.
    pub async fn open_console_link(&self, link: &str) -> Result<OpenedSession, AuthFailure> {
        let hash = token_hash(link.trim());
        let unknown =
            || refused("this sign-in link is unknown, used or expired; ask for a new one");
        // Most guesses are answered with a read; only a stored link
        // takes a write.
        let asked = hash.clone();
        let exists = self
            .read_short(move |conn| Ok(store::link_exists(conn, &asked)?))
            .await
            .map_err(|_| AuthFailure::Unavailable)?;
        if !exists {
            return Err(unknown());
        }
        let taken = self
            .write(&Principal::cli(), move |tx| {
                Ok(store::take_link(tx, &hash, now())?)
            })
            .await
            .map_err(|_| AuthFailure::Unavailable)?;
        let link = taken.ok_or_else(unknown)?;
        let principal = Principal {
            subject: link.user_id,
            role: CallerRole::Admin,
            org: link.org_id.parse::<OrgId>().ok(),
            scopes: Scopes::all(),
            jti: None,
            channel: Channel::Console,
            request_id: None,
        };
        let principal = self.in_standing(principal).await?;
        self.store_session(principal, now() + SESSION_TTL).await
    }

    async fn store_session(
        &self,
        principal: Principal,
        until: NaiveDateTime,
    ) -> Result<OpenedSession, AuthFailure> {
        let created_at = now();
        let expires_at = until.min(created_at + SESSION_TTL);
        if expires_at <= created_at {
            return Err(refused("the token has expired"));
        }
        let id = secret("rcs_");
        let csrf = secret("");
        let row = SessionRow {
            id_hash: token_hash(&id),
            csrf: csrf.clone(),
            subject: principal.subject.clone(),
            role: principal.role.as_str().into(),
            org_id: principal.org.map(|o| o.as_db()),
            scope: Some(scope_text(principal.scopes)),
            token_jti: principal.jti.clone(),
            expires_at,
            created_at,
        };
        self.write(&principal, move |tx| {
            // Now and then, not on every sign-in's hot path.
            if rand::random::<u8>() < 8 {
                store::prune(tx, now())?;
            }
            Ok(store::insert_session(tx, &row)?)
        })
        .await
        .map_err(|_| AuthFailure::Unavailable)?;
        Ok(OpenedSession {
            id,
            csrf,
            expires_at,
        })
    }

    /// The session a console cookie names, if it is open and its principal
    /// still stands (the token not revoked, the org not suspended, an
    /// admin still an active admin); `Ok(None)` when it is not.
    pub async fn console_session(&self, id: &str) -> Result<Option<ConsoleSession>, AuthFailure> {
        let hash = token_hash(id);
        let row = self
            .read_short(move |conn| Ok(store::find_session(conn, &hash, now())?))
            .await
            .map_err(|_| AuthFailure::Unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let Some(role) = CallerRole::parse(&row.role) else {
            return Ok(None);
        };
        let principal = Principal {
            subject: row.subject,
            role,
            org: row.org_id.as_deref().and_then(|o| o.parse::<OrgId>().ok()),
            scopes: Scopes::parse(row.scope.as_deref().unwrap_or_default()).unwrap_or_default(),
            jti: row.token_jti,
            channel: Channel::Console,
            request_id: None,
        };
        match self.in_standing(principal).await {
            Ok(principal) => Ok(Some(ConsoleSession {
                principal,
                csrf: row.csrf,
                expires_at: row.expires_at,
            })),
            Err(AuthFailure::Refused(_)) => {
                // Its token or its admin no longer stands: the session
                // ends for good, even if the standing comes back.
                let _ = self.close_console_session(id).await;
                Ok(None)
            }
            Err(AuthFailure::Unavailable) => Err(AuthFailure::Unavailable),
        }
    }

    /// Deletes expired console sessions and links.
    pub async fn prune_console_sessions(&self) -> Result<usize> {
        self.write(&Principal::cli(), |tx| Ok(store::prune(tx, now())?))
            .await
    }

    /// Ends a console session (signing out).
    pub async fn close_console_session(&self, id: &str) -> Result<()> {
        let hash = token_hash(id);
        self.write(&Principal::cli(), move |tx| {
            Ok(store::delete_session(tx, &hash)?)
        })
        .await
        .map(drop)
    }

    /// Ends every console session of a user (in one org, when given):
    /// `roster console revoke`.
    pub async fn close_console_sessions_of(
        &self,
        who: &Principal,
        subject: &str,
        org: Option<OrgId>,
    ) -> Result<usize> {
        who.require_operator()?;
        let subject = subject.trim().to_owned();
        self.write(who, move |tx| {
            let org = org.map(|o| o.as_db());
            Ok(store::delete_sessions_of(tx, &subject, org.as_deref())?)
        })
        .await
    }

    /// A one-time console sign-in link's secret for an active admin of
    /// `org` (operators only: `roster console link`).
    pub async fn create_console_link(
        &self,
        who: &Principal,
        org: OrgId,
        user: UserId,
    ) -> Result<String> {
        who.require_operator()?;
        let link = secret("rcl_");
        let row = LinkRow {
            token_hash: token_hash(&link),
            org_id: org.as_db(),
            user_id: user.as_db(),
            expires_at: now() + LINK_TTL,
            created_at: now(),
        };
        self.write(who, move |tx| {
            let standing = tokens::membership_of(tx, &row.org_id, &row.user_id)?;
            if !standing.is_some_and(|(role, status)| is_active_admin(&role, &status)) {
                return Err(Error::invalid(
                    "the user must be an active admin of the org (the console is for admins)",
                ));
            }
            Ok(store::insert_link(tx, &row)?)
        })
        .await?;
        Ok(link)
    }
}
