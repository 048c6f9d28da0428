//! Queries on `orgs`.

use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::models::{OrgChanges, OrgRow};
use super::schema::orgs;
use super::{DbConn, MultiBackend, contains_pattern};

pub fn insert(conn: &mut DbConn, row: &OrgRow) -> QueryResult<usize> {
    diesel::insert_into(orgs::table).values(row).execute(conn)
}

pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<OrgRow>> {
    orgs::table
        .find(id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> QueryResult<Option<OrgRow>> {
    orgs::table
        .filter(orgs::slug.eq(slug))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
}

pub fn update(conn: &mut DbConn, id: &str, changes: &OrgChanges) -> QueryResult<usize> {
    diesel::update(orgs::table.find(id))
        .set(changes)
        .execute(conn)
}

type OrgFilter = Box<dyn BoxableExpression<orgs::table, MultiBackend, SqlType = Bool>>;

/// Orgs whose name or slug contains `q` (lower-case), or all of them.
fn matching(q: Option<&str>) -> OrgFilter {
    match q {
        Some(q) => {
            let pattern = contains_pattern(q);
            Box::new(
                orgs::name_key
                    .like(pattern.clone())
                    .escape('\\')
                    .or(orgs::slug.like(pattern).escape('\\')),
            )
        }
        None => Box::new(true.into_sql::<Bool>()),
    }
}

/// Orgs ordered by slug, after the given slug, optionally matching `q` in
/// name or slug.
pub fn list(
    conn: &mut DbConn,
    q: Option<&str>,
    after_slug: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<OrgRow>> {
    let mut query = orgs::table
        .select(OrgRow::as_select())
        .filter(matching(q))
        .into_boxed();
    if let Some(after) = after_slug {
        query = query.filter(orgs::slug.gt(after.to_owned()));
    }
    query.order(orgs::slug.asc()).limit(limit).load(conn)
}

pub fn count(conn: &mut DbConn, q: Option<&str>) -> QueryResult<i64> {
    orgs::table.filter(matching(q)).count().get_result(conn)
}
