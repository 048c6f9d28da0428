//! The one error type of the service layer, and how it reaches callers.
//!
//! Which variant to use:
//! - a caller's mistake or a broken business rule: `NotFound`, `Duplicate`,
//!   `InvalidInput`, `LastAdmin`, `SelfAction`, `Conflict`. The message is a
//!   sentence the caller can act on. Mutations of the core API return these
//!   as `MutationResult { result: "failed" }`, so a sync loop can go on.
//! - the caller may not do this at all: `Forbidden` (a GraphQL error with
//!   `extensions.code = "FORBIDDEN"`). Its message never says whether the
//!   thing exists in another org.
//! - our side failed: `Unavailable` (pool exhausted, database down) and
//!   `Internal`. Their cause is logged, never shown.
//!
//! Database errors pass through `Db` until [`Error::settle`] classifies
//! them, so that a write can be retried on a race before it is reported.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::domain::{Corrupt, Invalid};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    LastAdmin(String),
    #[error("{0}")]
    SelfAction(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// Past a limit on how much may be done in a while; `retry_at` says
    /// when there is room again, when that can be known.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_at: Option<chrono::NaiveDateTime>,
    },
    #[error("the service is busy; try again shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(String),
    /// A database error not yet classified; see [`Error::settle`].
    #[error("internal error")]
    Db(#[source] DieselError),
}

/// The machine-readable codes callers see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    NotFound,
    Duplicate,
    InvalidInput,
    LastAdmin,
    SelfAction,
    Conflict,
    Forbidden,
    RateLimited,
    Unavailable,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NOT_FOUND",
            Self::Duplicate => "DUPLICATE",
            Self::InvalidInput => "INVALID_INPUT",
            Self::LastAdmin => "LAST_ADMIN",
            Self::SelfAction => "SELF_ACTION",
            Self::Conflict => "CONFLICT",
            Self::Forbidden => "FORBIDDEN",
            Self::RateLimited => "RATE_LIMITED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }
}

impl Error {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    pub fn forbidden() -> Self {
        Self::Forbidden("this token may not do that".into())
    }

    pub fn code(&self) -> Code {
        match self {
            Self::NotFound(_) => Code::NotFound,
            Self::Duplicate(_) => Code::Duplicate,
            Self::InvalidInput(_) => Code::InvalidInput,
            Self::LastAdmin(_) => Code::LastAdmin,
            Self::SelfAction(_) => Code::SelfAction,
            Self::Conflict(_) => Code::Conflict,
            Self::Forbidden(_) => Code::Forbidden,
            Self::RateLimited { .. } => Code::RateLimited,
            Self::Unavailable => Code::Unavailable,
            Self::Internal(_) | Self::Db(_) => Code::Internal,
        }
    }

    /// Whether running the same transaction again may succeed: a unique
    /// index or serialisation race, a foreign key whose row a concurrent
    /// transaction deleted (the retry reads afresh and, say, creates the
    /// user again), a deadlock, or SQLite's lock timeout.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Db(DieselError::DatabaseError(kind, info)) => match kind {
                DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::SerializationFailure
                | DatabaseErrorKind::ForeignKeyViolation => true,
                _ => {
                    let message = info.message();
                    message.contains("deadlock detected") || message.contains("database is locked")
                }
            },
            _ => false,
        }
    }

    /// Turns a raw database error into what the caller should see, logging
    /// what they must not.
    pub fn settle(self) -> Self {
        let Self::Db(error) = self else { return self };
        match &error {
            DieselError::NotFound => Self::not_found("not found"),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                let what = format!(
                    "{} {}",
                    info.constraint_name().unwrap_or_default(),
                    info.message()
                );
                Self::Duplicate(duplicate_message(&what).into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                Self::Conflict("a record this change refers to no longer exists; try again".into())
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::Conflict("a concurrent change got in the way; try again".into())
            }
            // PostgreSQL refuses some text (NUL bytes) that input checks
            // should already have caught; it is still the caller's input.
            DieselError::DatabaseError(_, info)
                if info.message().contains("invalid byte sequence") =>
            {
                Self::invalid("the input contains characters that cannot be stored")
            }
            DieselError::DatabaseError(_, info)
                if info.message().contains("database is locked") =>
            {
                tracing::warn!(error = %error, "database busy");
                Self::Unavailable
            }
            _ => {
                tracing::error!(error = %error, "database error");
                Self::Internal(error.to_string())
            }
        }
    }
}

/// The one refusal of an email address held outside the caller's org: it
/// does not say that another user has it (see `docs/security.md`).
pub const EMAIL_UNAVAILABLE: &str = "this email address cannot be used for this member";

/// Names what a unique constraint protects without showing the constraint.
fn duplicate_message(what: &str) -> &'static str {
    if what.contains("idp_user_name") {
        "this userName is already used by another member of this org"
    } else if what.contains("email") {
        EMAIL_UNAVAILABLE
    } else if what.contains("external_id") {
        "this externalId is already used by another member of this org"
    } else if what.contains("issued_tokens") {
        "an API token with this name already exists in this org"
    } else if what.contains("slug") {
        "an org with this slug already exists"
    } else if what.contains("name_key") {
        "a group with this name already exists in this org"
    } else if what.contains("group_memberships") {
        "the user is already in this group"
    } else {
        "this record already exists"
    }
}

impl From<DieselError> for Error {
    fn from(error: DieselError) -> Self {
        Self::Db(error)
    }
}

impl From<Invalid> for Error {
    fn from(error: Invalid) -> Self {
        Self::InvalidInput(error.0)
    }
}

impl From<Corrupt> for Error {
    fn from(error: Corrupt) -> Self {
        tracing::error!(%error, "corrupt stored data");
        Self::Internal(error.0)
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %error, "no database connection available");
        Self::Unavailable
    }
}
