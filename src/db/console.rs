//! Queries on `console_sessions` and `console_links`: the admin console's
//! sign-ins (see `service::console`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{console_links, console_sessions};

/// A console session as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions, treat_none_as_default_value = false)]
pub struct SessionRow {
    pub id_hash: String,
    pub csrf: String,
    pub subject: String,
    pub role: String,
    pub org_id: Option<String>,
    pub scope: Option<String>,
    pub token_jti: Option<String>,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// A one-time sign-in link as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_links)]
pub struct LinkRow {
    pub token_hash: String,
    pub org_id: String,
    pub user_id: String,
    pub expires_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

pub fn insert_session(conn: &mut DbConn, row: &SessionRow) -> QueryResult<usize> {
    diesel::insert_into(console_sessions::table)
        .values(row)
        .execute(conn)
}

/// The session with this id hash, if it has not expired at `now`.
pub fn find_session(
    conn: &mut DbConn,
    id_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<SessionRow>> {
    console_sessions::table
        .find(id_hash)
        .filter(console_sessions::expires_at.gt(now))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()
}

pub fn delete_session(conn: &mut DbConn, id_hash: &str) -> QueryResult<usize> {
    diesel::delete(console_sessions::table.find(id_hash)).execute(conn)
}

/// Deletes every session of `subject` (in `org`, when given).
pub fn delete_sessions_of(
    conn: &mut DbConn,
    subject: &str,
    org: Option<&str>,
) -> QueryResult<usize> {
    let mut query = diesel::delete(console_sessions::table)
        .filter(console_sessions::subject.eq(subject))
        .into_boxed();
    if let Some(org) = org {
        query = query.filter(console_sessions::org_id.eq(org));
    }
    query.execute(conn)
}

/// Deletes sessions and links that expired before `now`.
pub fn prune(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    let sessions =
        diesel::delete(console_sessions::table.filter(console_sessions::expires_at.le(now)))
            .execute(conn)?;
    let links = diesel::delete(console_links::table.filter(console_links::expires_at.le(now)))
        .execute(conn)?;
    Ok(sessions + links)
}

pub fn insert_link(conn: &mut DbConn, row: &LinkRow) -> QueryResult<usize> {
    diesel::insert_into(console_links::table)
        .values(row)
        .execute(conn)
}

/// Whether a link with this hash is stored (used or not, expired or not).
pub fn link_exists(conn: &mut DbConn, token_hash: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(console_links::table.find(token_hash))).get_result(conn)
}

/// Takes the link with this hash (deleting it), if it has not expired.
pub fn take_link(
    conn: &mut DbConn,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<LinkRow>> {
    let found = console_links::table
        .find(token_hash)
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?;
    let Some(link) = found else {
        return Ok(None);
    };
    if diesel::delete(console_links::table.find(token_hash)).execute(conn)? == 0 {
        return Ok(None);
    }
    Ok((link.expires_at > now).then_some(link))
}
