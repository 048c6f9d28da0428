//! API tokens over GraphQL: what an org's admins see of their tokens and
//! the answer of `createApiToken`.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use super::scalars::Uuid;
use super::types::{ErrorCode, MutationResult};
use crate::error::Error;
use crate::service::{ApiTokenView, CreatedApiToken};

/// A token of the org, as its admins see it. The token itself is shown
/// only once, by `createApiToken`.
#[derive(SimpleObject, Debug, Clone)]
pub struct ApiToken {
    /// The token's `jti`: what `revokeApiToken` takes.
    pub id: Uuid,
    /// Unique in the org; null for a token minted on the command line
    /// without one.
    pub name: Option<String>,
    /// `integration` for the tokens made here; `admin` or `operator` for
    /// ones minted on the command line.
    pub role: String,
    /// The scopes it grants (integration tokens).
    pub scopes: Vec<String>,
    /// The `sub` of whoever made it.
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it was last used, to the minute; written at most once a minute
    /// per token, so it may lag by that much.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenView> for ApiToken {
    fn from(view: ApiTokenView) -> Self {
        Self {
            id: view.id.into(),
            name: view.name,
            role: view.role,
            scopes: view.scopes,
            created_by: view.created_by,
            created_at: view.created_at.and_utc(),
            expires_at: view.expires_at.and_utc(),
            last_used_at: view.last_used_at.map(|t| t.and_utc()),
            revoked_at: view.revoked_at.map(|t| t.and_utc()),
        }
    }
}

/// What `createApiToken` did. `token` is the bearer token: keep it now,
/// it is never shown again.
#[derive(SimpleObject, Debug, Clone)]
pub struct CreateApiTokenResult {
    /// `created` or `failed`.
    pub result: String,
    pub token: Option<String>,
    pub api_token: Option<ApiToken>,
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
}

impl From<CreatedApiToken> for CreateApiTokenResult {
    fn from(created: CreatedApiToken) -> Self {
        Self {
            result: "created".into(),
            token: Some(created.token),
            api_token: Some(created.view.into()),
            error: None,
            error_code: None,
        }
    }
}

impl CreateApiTokenResult {
    /// The failed answer for a business error; `None` for errors raised as
    /// GraphQL errors (FORBIDDEN, faults).
    pub fn failed(error: &Error) -> Option<Self> {
        let failed = MutationResult::failed(error)?;
        Some(Self {
            result: failed.result,
            token: None,
            api_token: None,
            error: failed.error,
            error_code: failed.error_code,
        })
    }
}
