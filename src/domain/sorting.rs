//! How the members list is sorted, and where a member stands in it.

use chrono::NaiveDateTime;

/// Which field the members list is sorted by; ties are broken by user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SortField {
    Name,
    Email,
    CreatedAt,
    UpdatedAt,
    LastSignInAt,
}

/// A member's key under one sort field: a position in the members list,
/// with the user id that breaks ties.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SortKey {
    Text(String),
    Time(NaiveDateTime),
}
