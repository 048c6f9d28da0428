//! GraphQL output types, built from the service's rows. They decide only
//! how things are shown.

use async_graphql::{Enum, SimpleObject};
use chrono::{DateTime, NaiveDateTime, Utc};

use super::scalars::Uuid;
use crate::error::{Code, Error};
use crate::service::Outcome;
use crate::service::{FoundUser, GroupUserView, GroupView, OrgView};

fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    at.and_utc()
}

/// Why a mutation failed, for programs; `error` says it for people.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotFound,
    Duplicate,
    InvalidInput,
    LastAdmin,
    SelfAction,
    Conflict,
    /// Past a limit; the message says when there is room again.
    RateLimited,
}

/// What a mutation did. Business failures come back here with
/// `result: "failed"` (HTTP 200, no top-level error) so that a sync loop
/// can go on with the next record.
#[derive(SimpleObject, Debug, Clone)]
pub struct MutationResult {
    /// The entity created or changed (for membership changes, the user).
    pub id: Option<Uuid>,
    /// `created`, `updated`, `unchanged` or `failed`.
    pub result: String,
    /// How many rows changed.
    pub records: i32,
    /// On `failed`, a sentence a person can act on.
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
}

impl From<Outcome> for MutationResult {
    fn from(outcome: Outcome) -> Self {
        Self {
            id: Some(outcome.id.into()),
            result: outcome.change.as_str().into(),
            records: outcome.records,
            error: None,
            error_code: None,
        }
    }
}

impl ErrorCode {
    /// The code of a business failure, answered in a result; `None` for
    /// refusals and faults, which are raised as GraphQL errors.
    pub fn of(code: Code) -> Option<Self> {
        Some(match code {
            Code::NotFound => Self::NotFound,
            Code::Duplicate => Self::Duplicate,
            Code::InvalidInput => Self::InvalidInput,
            Code::LastAdmin => Self::LastAdmin,
            Code::SelfAction => Self::SelfAction,
            Code::Conflict => Self::Conflict,
            Code::RateLimited => Self::RateLimited,
            Code::Forbidden | Code::Unavailable | Code::Internal => return None,
        })
    }
}

impl MutationResult {
    /// The failed result for a business error; `None` for errors that must
    /// be raised as GraphQL errors instead (FORBIDDEN, faults).
    pub fn failed(error: &Error) -> Option<Self> {
        let code = ErrorCode::of(error.code())?;
        Some(Self {
            id: None,
            result: "failed".into(),
            records: 0,
            error: Some(error.to_string()),
            error_code: Some(code),
        })
    }
}

/// A user found by `findUserBy`, with their membership in the org searched
/// (absent when an operator searched all users).
#[derive(SimpleObject, Debug, Clone)]
pub struct UserSearch {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub name: String,
    pub mobile: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The org the membership fields below describe.
    pub org_id: Option<Uuid>,
    /// `user` or `admin`.
    pub role: Option<String>,
    /// `active` or `retired`.
    pub status: Option<String>,
    pub external_id: Option<String>,
    /// Whether this org created the user and so may edit the profile.
    pub managed: Option<bool>,
}

impl From<FoundUser> for UserSearch {
    fn from(found: FoundUser) -> Self {
        let FoundUser { user, membership } = found;
        Self {
            id: user.id.0.into(),
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            name: user.name,
            mobile: user.mobile,
            locale: user.locale,
            timezone: user.timezone,
            created_at: utc(user.created_at),
            updated_at: utc(user.updated_at),
            org_id: membership.as_ref().map(|m| m.org.0.into()),
            role: membership.as_ref().map(|m| m.role.as_str().to_owned()),
            status: membership.as_ref().map(|m| m.status.as_str().to_owned()),
            external_id: membership.as_ref().and_then(|m| m.external_id.clone()),
            managed: membership.as_ref().map(|m| m.managed),
        }
    }
}

/// A user in a group. `status` is their org membership's: retiring a member
/// keeps their group memberships, shown as `retired`.
#[derive(SimpleObject, Debug, Clone)]
pub struct GroupUser {
    pub user_id: Uuid,
    pub group_id: Uuid,
    pub status: String,
    pub user_name: String,
    /// `member` or `manager`.
    pub role: String,
}

impl From<GroupUserView> for GroupUser {
    fn from(view: GroupUserView) -> Self {
        Self {
            user_id: view.user.0.into(),
            group_id: view.group.0.into(),
            status: view.status.as_str().into(),
            user_name: view.user_name,
            role: view.role.as_str().into(),
        }
    }
}

/// An organisation.
#[derive(SimpleObject, Debug, Clone)]
pub struct Org {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// `active` or `suspended` (a suspended org's tokens are refused).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<OrgView> for Org {
    fn from(row: OrgView) -> Self {
        Self {
            id: row.id.0.into(),
            slug: row.slug,
            name: row.name,
            status: row.status.as_str().into(),
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        }
    }
}

/// A group inside one org.
#[derive(SimpleObject, Debug, Clone)]
pub struct Group {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Raised by every change to the group or its members; pass it as
    /// `ifVersion` to `updateGroup`.
    pub version: i64,
}

impl From<GroupView> for Group {
    fn from(row: GroupView) -> Self {
        Self {
            id: row.id.0.into(),
            org_id: row.org.0.into(),
            name: row.name,
            description: row.description,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
            version: row.version,
        }
    }
}

/// Fields every connection carries beside its edges.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct ConnectionTotals {
    /// How many items match the filters, over all pages (computed only
    /// when selected).
    pub total_count: Option<i32>,
}
