//! Queries on `memberships`: a user's place in one org.

use diesel::prelude::*;

use super::DbConn;
use super::models::{MembershipChanges, MembershipRow};
use super::schema::memberships;

pub fn insert(conn: &mut DbConn, row: &MembershipRow) -> QueryResult<usize> {
    diesel::insert_into(memberships::table)
        .values(row)
        .execute(conn)
}

pub fn find(conn: &mut DbConn, org_id: &str, user_id: &str) -> QueryResult<Option<MembershipRow>> {
    memberships::table
        .find((org_id, user_id))
        .select(MembershipRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_external_id(
    conn: &mut DbConn,
    org_id: &str,
    external_id: &str,
) -> QueryResult<Option<MembershipRow>> {
    memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::external_id.eq(external_id))
        .select(MembershipRow::as_select())
        .first(conn)
        .optional()
}

pub fn update(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    changes: &MembershipChanges,
) -> QueryResult<usize> {
    diesel::update(memberships::table.find((org_id, user_id)))
        .set(changes)
        .execute(conn)
}

/// The user ids of the org's active admins, locked until the transaction
/// ends. Call it before demoting, retiring or removing an admin: on
/// PostgreSQL two such transactions then queue on the same rows and the
/// second sees the first's outcome (READ COMMITTED re-checks a locked row),
/// so they cannot both remove "the other" admin. SQLite needs no row lock:
/// write transactions start `IMMEDIATE` and so run one at a time.
pub fn lock_active_admins(conn: &mut DbConn, org_id: &str) -> QueryResult<Vec<String>> {
    let query = memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::role.eq("admin"))
        .filter(memberships::status.eq("active"))
        .select(memberships::user_id)
        .order(memberships::user_id.asc());
    match conn {
        DbConn::Postgres(pg) => query.for_update().load(pg),
        DbConn::Sqlite(sqlite) => query.load(sqlite),
    }
}
