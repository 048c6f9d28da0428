//! Queries on `issued_tokens`: the tokens this service minted.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::IssuedTokenRow;
use super::schema::issued_tokens;

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

pub fn is_revoked(conn: &mut DbConn, jti: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        issued_tokens::table
            .find(jti)
            .filter(issued_tokens::revoked_at.is_not_null()),
    ))
    .get_result(conn)
}
