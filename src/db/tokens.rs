//! Queries on `issued_tokens`: the tokens this service minted.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::IssuedTokenRow;
use super::schema::{issued_tokens, orgs};

pub fn insert(conn: &mut DbConn, row: &IssuedTokenRow) -> QueryResult<usize> {
    diesel::insert_into(issued_tokens::table)
        .values(row)
        .execute(conn)
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

/// In one statement: whether the token `jti` was revoked, and the status
/// of the org `org_id` (`None` when there is no such org). Pass an empty
/// string for what a token does not carry.
pub fn standing(conn: &mut DbConn, jti: &str, org_id: &str) -> QueryResult<(bool, Option<String>)> {
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
    ))
    .get_result(conn)
}
