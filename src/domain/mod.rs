//! Plain domain types and their validation: what a well-formed email, mobile
//! number, slug, role or status is. Nothing here knows about the database,
//! GraphQL or who is calling.

mod ids;
mod kinds;
mod profile;
pub mod scim_filter;
mod sorting;
mod values;
pub mod webhook;

pub use ids::{GroupId, OrgId, UserId};
pub use kinds::{GroupRole, MemberStatus, OrgStatus, Role};
pub use profile::{AttributeMatch, Attributes, MAX_ATTRIBUTE_KEYS, locale, timezone};
pub use sorting::{SortField, SortKey};
pub use values::{
    Email, ExternalId, GroupName, MAX_EXTERNAL_ID, Mobile, OrgName, PersonName, Slug, TokenName,
    display_name, is_bidi_control, optional_text, search_key, search_term,
};

/// Input that breaks a domain rule; the message says what to fix and is safe
/// to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// Stored data that breaks a domain rule (a malformed id in a row): a
/// fault of ours, never shown to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt stored data: {0}")]
pub struct Corrupt(pub String);
