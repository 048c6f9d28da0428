//! Queries on `users`, the global identities.

use diesel::prelude::*;

use super::models::{MembershipRow, UserChanges, UserRow, UserWithMembership};
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

/// The user with this stored email, locked against deletion until the
/// transaction ends (PostgreSQL `FOR KEY SHARE`; SQLite write transactions
/// run one at a time). A transaction that links the user to an org takes
/// it, so that another org removing the user's last membership either
/// waits for the link (and then keeps the user) or deletes the user first
/// (and the link then finds no user and creates one).
pub fn find_by_email_locked(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    let query = users::table.filter(users::email.eq(email));
    match conn {
        DbConn::Postgres(pg) => query
            .select(UserRow::as_select())
            .for_key_share()
            .first(pg)
            .optional(),
        DbConn::Sqlite(sqlite) => query.select(UserRow::as_select()).first(sqlite).optional(),
    }
}

/// The user with this id, locked against deletion like
/// [`find_by_email_locked`].
pub fn find_locked(conn: &mut DbConn, id: &str) -> QueryResult<Option<UserRow>> {
    let query = users::table.find(id);
    match conn {
        DbConn::Postgres(pg) => query
            .select(UserRow::as_select())
            .for_key_share()
            .first(pg)
            .optional(),
        DbConn::Sqlite(sqlite) => query.select(UserRow::as_select()).first(sqlite).optional(),
    }
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

/// Members of one org matching the criteria, with their membership. The
/// name and mobile are matched on the profile the org sees: its own when
/// it keeps one (see `service::profile`), else the global one.
pub fn search_in_org(
    conn: &mut DbConn,
    org_id: &str,
    criteria: &Criteria<'_>,
    limit: i64,
) -> QueryResult<Vec<UserWithMembership>> {
    let with_membership = |rows: Vec<(UserRow, MembershipRow)>| {
        rows.into_iter()
            .map(|(user, membership)| UserWithMembership {
                user,
                membership: Some(membership),
            })
            .collect()
    };
    // By email alone, the common lookup: a query of fixed shape, whose
    // prepared statement is found by its type rather than by building its
    // SQL text each time (which costs what running it does). At most one
    // member has an email in an org.
    if let Criteria {
        email: Some(email),
        external_id: None,
        mobile_normalized: None,
        name_contains: None,
    } = criteria
    {
        let rows = users::table
            .inner_join(memberships::table)
            .filter(memberships::org_id.eq(org_id))
            .filter(users::email.eq(*email))
            .select((UserRow::as_select(), MembershipRow::as_select()))
            .load(conn)?;
        return Ok(with_membership(rows));
    }
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
        query = query.filter(
            memberships::own_profile
                .eq(true)
                .and(memberships::profile_mobile_normalized.eq(mobile.to_owned()))
                .or(memberships::own_profile
                    .eq(false)
                    .and(users::mobile_normalized.eq(mobile.to_owned()))),
        );
    }
    if let Some(name) = criteria.name_contains {
        query = query.filter(
            memberships::user_name_key
                .like(contains_pattern(name))
                .escape('\\'),
        );
    }
    let rows: Vec<(UserRow, MembershipRow)> = query
        .order((memberships::user_name_key.asc(), users::id.asc()))
        .limit(limit)
        .load(conn)?;
    Ok(with_membership(rows))
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

pub fn insert_many(conn: &mut DbConn, rows: &[UserRow]) -> QueryResult<usize> {
    super::insert_chunks!(conn, users::table, rows)
}

/// The users with these stored (lower-case) emails.
pub fn with_emails(conn: &mut DbConn, emails: &[&str]) -> QueryResult<Vec<UserRow>> {
    let mut rows = Vec::with_capacity(emails.len());
    for chunk in emails.chunks(super::IN_CHUNK) {
        rows.extend(
            users::table
                .filter(users::email.eq_any(chunk))
                .select(UserRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// The users with these ids.
pub fn with_ids(conn: &mut DbConn, ids: &[&str]) -> QueryResult<Vec<UserRow>> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::IN_CHUNK) {
        rows.extend(
            users::table
                .filter(users::id.eq_any(chunk))
                .select(UserRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// Changes a user's profile and keeps the copies of the name key and email
/// on their memberships (the members list's sort keys) in step. A
/// membership with an own profile keeps its own name key.
pub fn update(conn: &mut DbConn, id: &str, changes: &UserChanges) -> QueryResult<usize> {
    let changed = diesel::update(users::table.find(id))
        .set(changes)
        .execute(conn)?;
    // Every membership shows the email; the ones without a profile of
    // their own show the rest. What they show changed: their versions go
    // up.
    let bump = memberships::version.eq(memberships::version + 1);
    if let Some(email) = &changes.email {
        diesel::update(memberships::table.filter(memberships::user_id.eq(id)))
            .set((memberships::user_email.eq(email), bump))
            .execute(conn)?;
        // Nobody has shown they read mail at the new address yet.
        if changes.email_verified_at.is_none() {
            diesel::update(users::table.find(id))
                .set(users::email_verified_at.eq(None::<chrono::NaiveDateTime>))
                .execute(conn)?;
        }
    }
    let shown_elsewhere = changes.first_name.is_some()
        || changes.last_name.is_some()
        || changes.name.is_some()
        || changes.mobile.is_some()
        || changes.locale.is_some()
        || changes.timezone.is_some();
    if shown_elsewhere {
        let global = memberships::table
            .filter(memberships::user_id.eq(id))
            .filter(memberships::own_profile.eq(false));
        match &changes.name_key {
            Some(name_key) => diesel::update(global)
                .set((memberships::user_name_key.eq(name_key), bump))
                .execute(conn)?,
            None => diesel::update(global).set(bump).execute(conn)?,
        };
    }
    Ok(changed)
}

/// Locks the user row until the transaction ends (PostgreSQL; SQLite write
/// transactions run one at a time). A concurrent membership insert for this
/// user then waits, and fails its foreign key if the user is deleted.
pub fn lock(conn: &mut DbConn, id: &str) -> QueryResult<()> {
    if let DbConn::Postgres(pg) = conn {
        users::table
            .find(id)
            .select(users::id)
            .for_update()
            .load::<String>(pg)?;
    }
    Ok(())
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(id)).execute(conn)
}

/// Records that a person showed they read mail at the user's address.
pub fn verify_email(conn: &mut DbConn, id: &str, at: chrono::NaiveDateTime) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::email_verified_at.eq(Some(at)))
        .execute(conn)
}
