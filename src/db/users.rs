//! Queries on `users`, the global identities.

use diesel::prelude::*;

use super::models::{MembershipRow, UserRow, UserWithMembership};
use super::schema::{memberships, users};
use super::{DbConn, contains_pattern};

pub fn insert(conn: &mut DbConn, row: &UserRow) -> QueryResult<usize> {
    diesel::insert_into(users::table).values(row).execute(conn)
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// `email` must already be in its stored (trimmed, lower-case) form.
pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// The criteria of `findUserBy`, already normalised; all given ones must
/// match.
#[derive(Debug, Default)]
pub struct Criteria<'a> {
    pub email: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub mobile_normalized: Option<&'a str>,
    pub name_contains: Option<&'a str>,
}

/// Members of one org matching the criteria, with their membership.
pub fn search_in_org(
    conn: &mut DbConn,
    org_id: &str,
    criteria: &Criteria<'_>,
    limit: i64,
) -> QueryResult<Vec<UserWithMembership>> {
    let mut query = users::table
        .inner_join(memberships::table)
        .filter(memberships::org_id.eq(org_id.to_owned()))
        .select((UserRow::as_select(), MembershipRow::as_select()))
        .into_boxed();
    if let Some(email) = criteria.email {
        query = query.filter(users::email.eq(email.to_owned()));
    }
    if let Some(external_id) = criteria.external_id {
        query = query.filter(memberships::external_id.eq(external_id.to_owned()));
    }
    if let Some(mobile) = criteria.mobile_normalized {
        query = query.filter(users::mobile_normalized.eq(mobile.to_owned()));
    }
    if let Some(name) = criteria.name_contains {
        query = query.filter(users::name_key.like(contains_pattern(name)).escape('\\'));
    }
    let rows: Vec<(UserRow, MembershipRow)> = query
        .order((users::name.asc(), users::id.asc()))
        .limit(limit)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user, membership)| UserWithMembership {
            user,
            membership: Some(membership),
        })
        .collect())
}

/// Users anywhere matching the criteria (operators only; `external_id` is
/// per org and not searched here).
pub fn search_everywhere(
    conn: &mut DbConn,
    criteria: &Criteria<'_>,
    limit: i64,
) -> QueryResult<Vec<UserWithMembership>> {
    let mut query = users::table.select(UserRow::as_select()).into_boxed();
    if let Some(email) = criteria.email {
        query = query.filter(users::email.eq(email.to_owned()));
    }
    if let Some(mobile) = criteria.mobile_normalized {
        query = query.filter(users::mobile_normalized.eq(mobile.to_owned()));
    }
    if let Some(name) = criteria.name_contains {
        query = query.filter(users::name_key.like(contains_pattern(name)).escape('\\'));
    }
    let rows = query
        .order((users::name.asc(), users::id.asc()))
        .limit(limit)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|user| UserWithMembership {
            user,
            membership: None,
        })
        .collect())
}
