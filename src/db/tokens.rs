//! Queries on `issued_tokens`: the tokens this service minted.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::IssuedTokenRow;
use super::schema::{issued_tokens, memberships, orgs};

pub fn insert(conn: &mut DbConn, row: &IssuedTokenRow) -> QueryResult<usize> {
    diesel::insert_into(issued_tokens::table)
        .values(row)
        .execute(conn)
}

/// The token minted with this `jti`.
pub fn find(conn: &mut DbConn, jti: &str) -> QueryResult<Option<IssuedTokenRow>> {
    issued_tokens::table
        .find(jti)
        .select(IssuedTokenRow::as_select())
        .first(conn)
        .optional()
}

/// Marks a token revoked; returns 0 when no such token was minted here or
/// it was already revoked.
pub fn revoke(conn: &mut DbConn, jti: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        issued_tokens::table
            .find(jti)
            .filter(issued_tokens::revoked_at.is_null()),
    )
    .set(issued_tokens::revoked_at.eq(Some(at)))
    .execute(conn)
}

/// A token's standing as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Whether the token was minted here and has been revoked.
    pub revoked: bool,
    /// The status of the token's org; `None` when there is no such org.
    pub org_status: Option<String>,
    /// The role and status of the subject's membership in the org; `None`
    /// when the subject is no member (or was not asked about).
    pub membership: Option<(String, String)>,
    /// For a token a tenant admin made: that admin's user id, and the role
    /// and status of their membership (`None` when they are no member).
    pub creator: Option<(String, Option<(String, String)>)>,
}

/// In one statement: whether the token `jti` was revoked, the status of
/// the org `org_id`, the membership of `member` in it, and, for a token a
/// tenant admin made, that admin's membership. Pass an empty string for
/// what a token does not carry.
pub fn standing(conn: &mut DbConn, jti: &str, org_id: &str, member: &str) -> QueryResult<Standing> {
    let membership = || memberships::table.find((org_id.to_owned(), member.to_owned()));
    let creator = || {
        issued_tokens::table
            .find(jti.to_owned())
            .select(issued_tokens::creator_admin)
            .single_value()
    };
    let creator_membership = || {
        memberships::table
            .filter(memberships::org_id.eq(org_id.to_owned()))
            .filter(memberships::user_id.nullable().eq(creator()))
    };
    type Row = (
        bool,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let (revoked, org_status, role, status, creator_id, creator_role, creator_status): Row =
        diesel::select((
            diesel::dsl::exists(
                issued_tokens::table
                    .find(jti.to_owned())
                    .filter(issued_tokens::revoked_at.is_not_null()),
            ),
            orgs::table
                .find(org_id.to_owned())
                .select(orgs::status)
                .single_value(),
            membership().select(memberships::role).single_value(),
            membership().select(memberships::status).single_value(),
            creator(),
            creator_membership()
                .select(memberships::role)
                .single_value(),
            creator_membership()
                .select(memberships::status)
                .single_value(),
        ))
        .get_result(conn)?;
    Ok(Standing {
        revoked,
        org_status,
        membership: role.zip(status),
        creator: creator_id.map(|id| (id, creator_role.zip(creator_status))),
    })
}

/// The role and status of `user_id`'s membership in `org_id`.
pub fn membership_of(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
) -> QueryResult<Option<(String, String)>> {
    memberships::table
        .find((org_id, user_id))
        .select((memberships::role, memberships::status))
        .first(conn)
        .optional()
}

/// The org's token with this name.
pub fn find_by_name(
    conn: &mut DbConn,
    org_id: &str,
    name: &str,
) -> QueryResult<Option<IssuedTokenRow>> {
    issued_tokens::table
        .filter(issued_tokens::org_id.eq(org_id))
        .filter(issued_tokens::name.eq(name))
        .select(IssuedTokenRow::as_select())
        .first(conn)
        .optional()
}

/// Up to `limit` of the org's tokens after the jti `after`, oldest first
/// (jtis are UUID v7, so they sort by creation); revoked ones only when
/// asked for.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    after: Option<&str>,
    include_revoked: bool,
    limit: i64,
) -> QueryResult<Vec<IssuedTokenRow>> {
    let mut query = issued_tokens::table
        .filter(issued_tokens::org_id.eq(org_id.to_owned()))
        .select(IssuedTokenRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(issued_tokens::jti.gt(after.to_owned()));
    }
    if !include_revoked {
        query = query.filter(issued_tokens::revoked_at.is_null());
    }
    query
        .order(issued_tokens::jti.asc())
        .limit(limit)
        .load(conn)
}

/// How many of the org's tokens `list` would show over all pages.
pub fn count(conn: &mut DbConn, org_id: &str, include_revoked: bool) -> QueryResult<i64> {
    let mut query = issued_tokens::table
        .filter(issued_tokens::org_id.eq(org_id.to_owned()))
        .count()
        .into_boxed();
    if !include_revoked {
        query = query.filter(issued_tokens::revoked_at.is_null());
    }
    query.get_result(conn)
}

/// Records that the token `jti` was used at `at`, unless a later use is
/// already recorded.
pub fn mark_used(conn: &mut DbConn, jti: &str, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        issued_tokens::table.find(jti).filter(
            issued_tokens::last_used_at
                .is_null()
                .or(issued_tokens::last_used_at.lt(at)),
        ),
    )
    .set(issued_tokens::last_used_at.eq(Some(at)))
    .execute(conn)
}
