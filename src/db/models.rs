//! Row types: read models (`*Row`) apart from insert and update forms
//! (`New*`, `*Changes`). Ids are the text form of `domain` ids.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{group_memberships, groups, issued_tokens, memberships, orgs, users};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orgs)]
pub struct OrgRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub name_key: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = orgs)]
pub struct OrgChanges {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub name_key: Option<String>,
    pub status: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub name: String,
    pub name_key: String,
    pub mobile: Option<String>,
    pub mobile_normalized: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub org_id: String,
    pub user_id: String,
    pub role: String,
    pub status: String,
    pub external_id: Option<String>,
    pub managed: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

/// Only the `Some` fields are written; `Some(None)` clears a column.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = memberships)]
pub struct MembershipChanges {
    pub role: Option<String>,
    pub status: Option<String>,
    pub external_id: Option<Option<String>>,
    pub retired_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = groups)]
pub struct GroupRow {
    pub org_id: String,
    pub id: String,
    pub name: String,
    pub name_key: String,
    pub description: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = groups)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub name_key: Option<String>,
    pub description: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_memberships)]
pub struct GroupMembershipRow {
    pub org_id: String,
    pub group_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = issued_tokens)]
pub struct IssuedTokenRow {
    pub jti: String,
    pub subject: String,
    pub role: String,
    pub org_id: Option<String>,
    pub scope: Option<String>,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// A user with one org's membership, if the user has one there.
#[derive(Debug, Clone)]
pub struct UserWithMembership {
    pub user: UserRow,
    pub membership: Option<MembershipRow>,
}

/// One row of `groupUsers`: who is in which group, with the status of their
/// org membership.
#[derive(Debug, Clone, Queryable)]
pub struct GroupUserRow {
    pub user_id: String,
    pub group_id: String,
    pub role: String,
    pub status: String,
    pub user_name: String,
}
