//! Queries on `groups` and `group_memberships`.

use diesel::prelude::*;

use super::models::{GroupChanges, GroupMembershipRow, GroupRow, GroupUserRow, MemberGroupRow};
use super::schema::{group_memberships, groups, memberships, users};
use super::{DbConn, contains_pattern};
use crate::domain::search_key;

pub fn insert(conn: &mut DbConn, row: &GroupRow) -> QueryResult<usize> {
    diesel::insert_into(groups::table).values(row).execute(conn)
}

pub fn find(conn: &mut DbConn, org_id: &str, id: &str) -> QueryResult<Option<GroupRow>> {
    groups::table
        .find((org_id, id))
        .select(GroupRow::as_select())
        .first(conn)
        .optional()
}

/// Changes a group and raises its version; returns 0 when there is no
/// such group, or, with `expected`, when its version is another.
pub fn update(
    conn: &mut DbConn,
    org_id: &str,
    id: &str,
    changes: &GroupChanges,
    expected: Option<i64>,
) -> QueryResult<usize> {
    let bump = groups::version.eq(groups::version + 1);
    match expected {
        Some(version) => diesel::update(
            groups::table
                .find((org_id, id))
                .filter(groups::version.eq(version)),
        )
        .set((changes, bump))
        .execute(conn),
        None => diesel::update(groups::table.find((org_id, id)))
            .set((changes, bump))
            .execute(conn),
    }
}

/// Raises the versions of the groups `user` is in (their members change
/// when the user leaves the org).
pub fn touch_groups_of(conn: &mut DbConn, org_id: &str, user_id: &str) -> QueryResult<usize> {
    let theirs = group_memberships::table
        .filter(group_memberships::org_id.eq(org_id.to_owned()))
        .filter(group_memberships::user_id.eq(user_id.to_owned()))
        .select(group_memberships::group_id);
    diesel::update(
        groups::table
            .filter(groups::org_id.eq(org_id.to_owned()))
            .filter(groups::id.eq_any(theirs)),
    )
    .set(groups::version.eq(groups::version + 1))
    .execute(conn)
}

/// Raises the versions of a group and of a member, whose group
/// membership changed (both show it).
fn touch_both(conn: &mut DbConn, org_id: &str, group_id: &str, user_id: &str) -> QueryResult<()> {
    diesel::update(groups::table.find((org_id, group_id)))
        .set(groups::version.eq(groups::version + 1))
        .execute(conn)?;
    super::members::touch(conn, org_id, user_id)?;
    Ok(())
}

/// Deletes the group and, by cascade, its memberships.
pub fn delete(conn: &mut DbConn, org_id: &str, id: &str) -> QueryResult<usize> {
    diesel::delete(groups::table.find((org_id, id))).execute(conn)
}

/// The org's groups ordered by name (ignoring case), after the given key.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    q: Option<&str>,
    after_key: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<GroupRow>> {
    let mut query = groups::table
        .filter(groups::org_id.eq(org_id.to_owned()))
        .select(GroupRow::as_select())
        .into_boxed();
    if let Some(q) = q {
        query = query.filter(groups::name_key.like(contains_pattern(q)).escape('\\'));
    }
    if let Some(after) = after_key {
        query = query.filter(groups::name_key.gt(after.to_owned()));
    }
    query.order(groups::name_key.asc()).limit(limit).load(conn)
}

pub fn count(conn: &mut DbConn, org_id: &str, q: Option<&str>) -> QueryResult<i64> {
    let mut query = groups::table
        .filter(groups::org_id.eq(org_id.to_owned()))
        .count()
        .into_boxed();
    if let Some(q) = q {
        query = query.filter(groups::name_key.like(contains_pattern(q)).escape('\\'));
    }
    query.get_result(conn)
}

/// Adds a group membership, raising the group's and the member's versions.
pub fn add_member(conn: &mut DbConn, row: &GroupMembershipRow) -> QueryResult<usize> {
    let added = diesel::insert_into(group_memberships::table)
        .values(row)
        .execute(conn)?;
    touch_both(conn, &row.org_id, &row.group_id, &row.user_id)?;
    Ok(added)
}

pub fn remove_member(
    conn: &mut DbConn,
    org_id: &str,
    group_id: &str,
    user_id: &str,
) -> QueryResult<usize> {
    let removed =
        diesel::delete(group_memberships::table.find((org_id, group_id, user_id))).execute(conn)?;
    if removed > 0 {
        touch_both(conn, org_id, group_id, user_id)?;
    }
    Ok(removed)
}

/// Locks the group row until the transaction ends (PostgreSQL; SQLite
/// write transactions run one at a time), so that no membership is added
/// to it meanwhile (the insert's foreign key waits for the lock).
pub fn lock(conn: &mut DbConn, org_id: &str, id: &str) -> QueryResult<()> {
    if let DbConn::Postgres(pg) = conn {
        groups::table
            .find((org_id, id))
            .select(groups::id)
            .for_update()
            .load::<String>(pg)?;
    }
    Ok(())
}

/// The user ids of a group's members.
pub fn member_ids(conn: &mut DbConn, org_id: &str, group_id: &str) -> QueryResult<Vec<String>> {
    group_memberships::table
        .filter(group_memberships::org_id.eq(org_id))
        .filter(group_memberships::group_id.eq(group_id))
        .select(group_memberships::user_id)
        .order(group_memberships::user_id.asc())
        .load(conn)
}

pub fn is_member(
    conn: &mut DbConn,
    org_id: &str,
    group_id: &str,
    user_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        group_memberships::table.find((org_id, group_id, user_id)),
    ))
    .get_result(conn)
}

/// Group memberships of one org, narrowed by group and/or user, ordered by
/// the name the org sees; the status is the org membership's.
pub fn group_users(
    conn: &mut DbConn,
    org_id: &str,
    group_ids: Option<&[&str]>,
    user_id: Option<&str>,
    limit: Option<i64>,
) -> QueryResult<Vec<GroupUserRow>> {
    let mut query = group_memberships::table
        .inner_join(
            memberships::table.on(memberships::org_id
                .eq(group_memberships::org_id)
                .and(memberships::user_id.eq(group_memberships::user_id))),
        )
        .inner_join(users::table.on(users::id.eq(group_memberships::user_id)))
        .filter(group_memberships::org_id.eq(org_id.to_owned()))
        .select((
            group_memberships::user_id,
            group_memberships::group_id,
            group_memberships::role,
            memberships::status,
            users::name,
            memberships::own_profile,
            memberships::profile_name,
        ))
        .into_boxed();
    if let Some(group_ids) = group_ids {
        let ids: Vec<String> = group_ids.iter().map(|g| (*g).to_owned()).collect();
        query = query.filter(group_memberships::group_id.eq_any(ids));
    }
    if let Some(user_id) = user_id {
        query = query.filter(group_memberships::user_id.eq(user_id.to_owned()));
    }
    query = query.order((
        memberships::user_name_key.asc(),
        group_memberships::user_id.asc(),
        group_memberships::group_id.asc(),
    ));
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    query.load(conn)
}

/// The org's group with this name key (the lower-cased name).
/// The org's group with this external id.
pub fn find_by_external_id(
    conn: &mut DbConn,
    org_id: &str,
    external_id: &str,
) -> QueryResult<Option<GroupRow>> {
    groups::table
        .filter(groups::org_id.eq(org_id))
        .filter(groups::external_id.eq(external_id))
        .select(GroupRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_key(conn: &mut DbConn, org_id: &str, key: &str) -> QueryResult<Option<GroupRow>> {
    groups::table
        .filter(groups::org_id.eq(org_id))
        .filter(groups::name_key.eq(key))
        .select(GroupRow::as_select())
        .first(conn)
        .optional()
}

/// All of the org's groups.
pub fn all(conn: &mut DbConn, org_id: &str) -> QueryResult<Vec<GroupRow>> {
    groups::table
        .filter(groups::org_id.eq(org_id))
        .select(GroupRow::as_select())
        .order(groups::name_key.asc())
        .load(conn)
}

/// The groups of these members of the org, ordered by user and group name:
/// one statement per few hundred members, whatever the number of groups.
///
/// The rows are found through `(org_id, user_id)` and each group's name is
/// a subquery by primary key. A join would let PostgreSQL start from the
/// org's groups and filter every member of each: in an org of 100,000
/// that is 150,000 rows read for a page of 50.
pub fn of_members(
    conn: &mut DbConn,
    org_id: &str,
    user_ids: &[&str],
) -> QueryResult<Vec<MemberGroupRow>> {
    let mut rows = Vec::new();
    for chunk in user_ids.chunks(super::IN_CHUNK) {
        let group_name = groups::table
            .filter(groups::org_id.eq(group_memberships::org_id))
            .filter(groups::id.eq(group_memberships::group_id))
            .select(groups::name)
            .single_value()
            .assume_not_null();
        rows.extend(
            group_memberships::table
                .filter(group_memberships::org_id.eq(org_id))
                .filter(group_memberships::user_id.eq_any(chunk))
                .select((
                    group_memberships::user_id,
                    group_memberships::group_id,
                    group_name,
                    group_memberships::role,
                ))
                .load::<MemberGroupRow>(conn)?,
        );
    }
    let mut keyed: Vec<(String, MemberGroupRow)> = rows
        .into_iter()
        .map(|row| (search_key(&row.name), row))
        .collect();
    keyed.sort_by(|(a_key, a), (b_key, b)| a.user_id.cmp(&b.user_id).then(a_key.cmp(b_key)));
    Ok(keyed.into_iter().map(|(_, row)| row).collect())
}

/// The group memberships of these members of the org.
pub fn memberships_of(
    conn: &mut DbConn,
    org_id: &str,
    user_ids: &[&str],
) -> QueryResult<Vec<GroupMembershipRow>> {
    let mut rows = Vec::new();
    for chunk in user_ids.chunks(super::IN_CHUNK) {
        rows.extend(
            group_memberships::table
                .filter(group_memberships::org_id.eq(org_id))
                .filter(group_memberships::user_id.eq_any(chunk))
                .select(GroupMembershipRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// Adds many group memberships, raising the versions of the groups and
/// members concerned (once each).
pub fn add_many(conn: &mut DbConn, rows: &[GroupMembershipRow]) -> QueryResult<usize> {
    let added: QueryResult<usize> = super::insert_chunks!(conn, group_memberships::table, rows);
    let added = added?;
    let mut touched_groups: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.org_id.as_str(), r.group_id.as_str()))
        .collect();
    touched_groups.sort_unstable();
    touched_groups.dedup();
    for (org, group) in touched_groups {
        diesel::update(groups::table.find((org, group)))
            .set(groups::version.eq(groups::version + 1))
            .execute(conn)?;
    }
    let mut touched_members: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.org_id.as_str(), r.user_id.as_str()))
        .collect();
    touched_members.sort_unstable();
    touched_members.dedup();
    for chunk in touched_members.chunk_by(|a, b| a.0 == b.0) {
        let org = chunk[0].0;
        let users: Vec<&str> = chunk.iter().map(|(_, u)| *u).collect();
        for ids in users.chunks(super::IN_CHUNK) {
            diesel::update(
                memberships::table
                    .filter(memberships::org_id.eq(org))
                    .filter(memberships::user_id.eq_any(ids)),
            )
            .set(memberships::version.eq(memberships::version + 1))
            .execute(conn)?;
        }
    }
    Ok(added)
}
