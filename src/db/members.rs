//! Queries on `memberships`: a user's place in one org.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::models::{MemberRow, MembershipChanges, MembershipRow, UserRow};
use super::schema::{group_memberships, memberships, users};
use super::{DbConn, contains_pattern};
use crate::domain::AttributeMatch;

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

/// The membership, locked until the transaction ends on PostgreSQL (SQLite
/// write transactions run one at a time).
pub fn find_locked(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
) -> QueryResult<Option<MembershipRow>> {
    if let DbConn::Postgres(pg) = conn {
        return memberships::table
            .find((org_id, user_id))
            .select(MembershipRow::as_select())
            .for_update()
            .first(pg)
            .optional();
    }
    find(conn, org_id, user_id)
}

/// When the member last signed in (`NEVER_SIGNED_IN` for never), if they
/// are a member.
pub fn last_sign_in(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    memberships::table
        .find((org_id, user_id))
        .select(memberships::last_sign_in_at)
        .first(conn)
        .optional()
}

/// Records a sign-in at `at` unless one at or after `since` is recorded
/// already; the rows changed (0 or 1). Not a change to the member: no
/// version, no `updated_at`.
pub fn record_sign_in(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    at: NaiveDateTime,
    since: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        memberships::table
            .filter(memberships::org_id.eq(org_id))
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::last_sign_in_at.lt(since)),
    )
    .set(memberships::last_sign_in_at.eq(at))
    .execute(conn)
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

/// Changes a membership and raises its version; returns 0 when there is
/// no such membership, or, with `expected`, when its version is another
/// (one statement, so on PostgreSQL a concurrent writer of the same row
/// waits and then finds the version moved).
pub fn update(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    changes: &MembershipChanges,
    expected: Option<i64>,
) -> QueryResult<usize> {
    let bump = memberships::version.eq(memberships::version + 1);
    match expected {
        Some(version) => diesel::update(
            memberships::table
                .find((org_id, user_id))
                .filter(memberships::version.eq(version)),
        )
        .set((changes, bump))
        .execute(conn),
        None => diesel::update(memberships::table.find((org_id, user_id)))
            .set((changes, bump))
            .execute(conn),
    }
}

/// The version of the member named by external id (first) or stored email,
/// locked until the transaction ends on PostgreSQL (SQLite write
/// transactions run one at a time); `None` when there is no such member.
pub fn lock_version(
    conn: &mut DbConn,
    org_id: &str,
    user_id: Option<&str>,
    external_id: Option<&str>,
    email: Option<&str>,
) -> QueryResult<Option<i64>> {
    let mut found = None;
    if let Some(user_id) = user_id {
        found = find(conn, org_id, user_id)?;
    } else if let Some(external_id) = external_id {
        found = find_by_external_id(conn, org_id, external_id)?;
    }
    if found.is_none()
        && user_id.is_none()
        && let Some(email) = email
    {
        found = memberships::table
            .filter(memberships::org_id.eq(org_id))
            .filter(memberships::user_email.eq(email))
            .select(MembershipRow::as_select())
            .first(conn)
            .optional()?;
    }
    let Some(found) = found else {
        return Ok(None);
    };
    let query = memberships::table
        .find((org_id.to_owned(), found.user_id))
        .select(memberships::version);
    match conn {
        DbConn::Postgres(pg) => query.for_update().first(pg).optional(),
        DbConn::Sqlite(sqlite) => query.first(sqlite).optional(),
    }
}

/// Raises a membership's version (a change shown on the member that is
/// stored elsewhere, such as its groups).
pub fn touch(conn: &mut DbConn, org_id: &str, user_id: &str) -> QueryResult<usize> {
    diesel::update(memberships::table.find((org_id, user_id)))
        .set(memberships::version.eq(memberships::version + 1))
        .execute(conn)
}

/// The user ids of the org's active admins; with `lock`, locked until the
/// transaction ends. Lock them before demoting, retiring or removing an admin: on
/// PostgreSQL two such transactions then queue on the same rows and the
/// second sees the first's outcome (READ COMMITTED re-checks a locked row),
/// so they cannot both remove "the other" admin. SQLite needs no row lock:
/// write transactions start `IMMEDIATE` and so run one at a time.
pub fn active_admins(conn: &mut DbConn, org_id: &str, lock: bool) -> QueryResult<Vec<String>> {
    let query = memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::role.eq("admin"))
        .filter(memberships::status.eq("active"))
        .select(memberships::user_id)
        .order(memberships::user_id.asc());
    match conn {
        DbConn::Postgres(pg) if lock => query.for_update().load(pg),
        DbConn::Postgres(pg) => query.load(pg),
        DbConn::Sqlite(sqlite) => query.load(sqlite),
    }
}

/// The org's members with their users, boxed so filters can be added.
macro_rules! member_query {
    ($org:expr) => {
        memberships::table
            .inner_join(users::table)
            .filter(memberships::org_id.eq($org.to_owned()))
            .select((MembershipRow::as_select(), UserRow::as_select()))
            .into_boxed()
    };
}

/// Inserts many memberships, a few hundred rows per statement.
pub fn insert_many(conn: &mut DbConn, rows: &[MembershipRow]) -> QueryResult<usize> {
    super::insert_chunks!(conn, memberships::table, rows)
}

pub fn delete(conn: &mut DbConn, org_id: &str, user_id: &str) -> QueryResult<usize> {
    diesel::delete(memberships::table.find((org_id, user_id))).execute(conn)
}

/// How to name one member of an org: by user id, by the user's stored
/// (lower-case) email, or by the org's external id.
#[derive(Debug, Clone, Copy)]
pub enum MemberBy<'a> {
    UserId(&'a str),
    Email(&'a str),
    ExternalId(&'a str),
}

/// One member of the org, with their user.
pub fn member(conn: &mut DbConn, org_id: &str, by: MemberBy<'_>) -> QueryResult<Option<MemberRow>> {
    let query = member_query!(org_id);
    let query = match by {
        MemberBy::UserId(id) => query.filter(memberships::user_id.eq(id.to_owned())),
        MemberBy::Email(email) => query.filter(memberships::user_email.eq(email.to_owned())),
        MemberBy::ExternalId(e) => query.filter(memberships::external_id.eq(e.to_owned())),
    };
    query
        .first::<(MembershipRow, UserRow)>(conn)
        .optional()
        .map(|row| row.map(MemberRow::from))
}

impl From<(MembershipRow, UserRow)> for MemberRow {
    fn from((membership, user): (MembershipRow, UserRow)) -> Self {
        Self { user, membership }
    }
}

/// The memberships of these users in the org (a few hundred ids per
/// statement).
pub fn of_users(
    conn: &mut DbConn,
    org_id: &str,
    user_ids: &[&str],
) -> QueryResult<Vec<MembershipRow>> {
    let mut rows = Vec::with_capacity(user_ids.len());
    for chunk in user_ids.chunks(super::IN_CHUNK) {
        rows.extend(
            memberships::table
                .filter(memberships::org_id.eq(org_id))
                .filter(memberships::user_id.eq_any(chunk))
                .select(MembershipRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// The memberships these users hold in orgs other than `org_id`.
pub fn of_users_elsewhere(
    conn: &mut DbConn,
    org_id: &str,
    user_ids: &[&str],
) -> QueryResult<Vec<MembershipRow>> {
    let mut rows = Vec::new();
    for chunk in user_ids.chunks(super::IN_CHUNK) {
        rows.extend(
            memberships::table
                .filter(memberships::org_id.ne(org_id))
                .filter(memberships::user_id.eq_any(chunk))
                .select(MembershipRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// The memberships of the org holding these external ids.
pub fn with_external_ids(
    conn: &mut DbConn,
    org_id: &str,
    external_ids: &[&str],
) -> QueryResult<Vec<MembershipRow>> {
    let mut rows = Vec::with_capacity(external_ids.len());
    for chunk in external_ids.chunks(super::IN_CHUNK) {
        rows.extend(
            memberships::table
                .filter(memberships::org_id.eq(org_id))
                .filter(memberships::external_id.eq_any(chunk))
                .select(MembershipRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
}

/// The keys of the org's active members.
pub fn active_members(conn: &mut DbConn, org_id: &str) -> QueryResult<Vec<ActiveMember>> {
    memberships::table
        .filter(memberships::org_id.eq(org_id))
        .filter(memberships::status.eq("active"))
        .select((
            memberships::user_id,
            memberships::user_email,
            memberships::external_id,
        ))
        .load(conn)
}

/// An active member's keys, as MIRROR matches them against the records.
#[derive(Debug, Clone, Queryable)]
pub struct ActiveMember {
    pub user_id: String,
    pub user_email: String,
    pub external_id: Option<String>,
}

/// Whether the user still belongs to any org.
pub fn has_any(conn: &mut DbConn, user_id: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        memberships::table.filter(memberships::user_id.eq(user_id)),
    ))
    .get_result(conn)
}

pub use crate::domain::{SortField, SortKey};

/// The key a member sorts by under `field`.
pub fn sort_key(field: SortField, membership: &MembershipRow) -> SortKey {
    match field {
        SortField::Name => SortKey::Text(membership.user_name_key.clone()),
        SortField::Email => SortKey::Text(membership.user_email.clone()),
        SortField::CreatedAt => SortKey::Time(membership.created_at),
        SortField::UpdatedAt => SortKey::Time(membership.updated_at),
        SortField::LastSignInAt => SortKey::Time(membership.last_sign_in_at),
    }
}

/// The members list's filters, already validated; all given ones must hold.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// Lower-cased substring of the name or the email.
    pub q: Option<String>,
    pub roles: Vec<String>,
    pub statuses: Vec<String>,
    pub group_ids: Vec<String>,
    pub external_ids: Vec<String>,
    pub attributes: Vec<AttributeMatch>,
    pub created_after: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    pub updated_after: Option<NaiveDateTime>,
    pub updated_before: Option<NaiveDateTime>,
    /// Signed in after this (never-signed-in members do not match).
    pub last_sign_in_after: Option<NaiveDateTime>,
    /// Last signed in before this, or never.
    pub last_sign_in_before: Option<NaiveDateTime>,
    /// Whether the member ever signed in.
    pub signed_in: Option<bool>,
    /// Members whose invitation shows one of these at `now` (see
    /// [`InvitationFilter`]).
    pub invitations: Option<InvitationFilter>,
    pub invited_after: Option<NaiveDateTime>,
    pub invited_before: Option<NaiveDateTime>,
}

/// Invitation statuses to match, as one test of fixed shape: the stored
/// `accepted` and `revoked` (or a value that never matches), pending ones
/// expiring in (`pending_from`, `pending_to`] (after now: pending; up to
/// now: expired), and never invited.
#[derive(Debug, Clone)]
pub struct InvitationFilter {
    pub accepted: bool,
    pub revoked: bool,
    pub pending_from: NaiveDateTime,
    pub pending_to: NaiveDateTime,
    pub none: bool,
}

impl MemberFilter {
    /// Whether nothing narrows the list.
    pub fn is_empty(&self) -> bool {
        let Self {
            q,
            roles,
            statuses,
            group_ids,
            external_ids,
            attributes,
            created_after,
            created_before,
            updated_after,
            updated_before,
            last_sign_in_after,
            last_sign_in_before,
            signed_in,
            invitations,
            invited_after,
            invited_before,
        } = self;
        q.is_none()
            && roles.is_empty()
            && statuses.is_empty()
            && group_ids.is_empty()
            && external_ids.is_empty()
            && attributes.is_empty()
            && created_after.is_none()
            && created_before.is_none()
            && updated_after.is_none()
            && updated_before.is_none()
            && last_sign_in_after.is_none()
            && last_sign_in_before.is_none()
            && signed_in.is_none()
            && invitations.is_none()
            && invited_after.is_none()
            && invited_before.is_none()
    }
}

/// Which slice of the sorted list to read: `limit` rows after `after`
/// (exclusive), walking in `ascending` order of (key, user id).
#[derive(Debug, Clone)]
pub struct Slice {
    pub field: SortField,
    pub ascending: bool,
    pub after: Option<(SortKey, String)>,
    pub limit: i64,
}

/// The backend's SQL testing that a membership's attribute equals a value,
/// both rendered as compact JSON: the text before the key, the key (as the
/// backend names it) and the text between the key and the value. Keys are
/// letters, digits and `_ . : -` only (see `domain::Attributes`).
fn attribute_test(conn: &DbConn, m: &AttributeMatch) -> (&'static str, String, &'static str) {
    match conn {
        DbConn::Sqlite(_) => (
            "(memberships.attributes -> ",
            format!("$.\"{}\"", m.key),
            ") = ",
        ),
        DbConn::Postgres(_) => (
            "CAST((CAST(memberships.attributes AS jsonb) -> ",
            m.key.clone(),
            ") AS TEXT) = ",
        ),
    }
}

macro_rules! filtered {
    ($conn:expr, $query:expr, $org:expr, $filter:expr) => {{
        let filter: &MemberFilter = $filter;
        let mut query = $query.filter(memberships::org_id.eq($org.to_owned()));
        if let Some(q) = &filter.q {
            let pattern = contains_pattern(q);
            query = query.filter(
                memberships::user_name_key
                    .like(pattern.clone())
                    .escape('\\')
                    .or(memberships::user_email.like(pattern).escape('\\')),
            );
        }
        if !filter.roles.is_empty() {
            query = query.filter(memberships::role.eq_any(filter.roles.clone()));
        }
        if !filter.statuses.is_empty() {
            query = query.filter(memberships::status.eq_any(filter.statuses.clone()));
        }
        if !filter.external_ids.is_empty() {
            query = query.filter(memberships::external_id.eq_any(filter.external_ids.clone()));
        }
        if !filter.group_ids.is_empty() {
            query = query.filter(diesel::dsl::exists(
                group_memberships::table
                    .filter(group_memberships::org_id.eq(memberships::org_id))
                    .filter(group_memberships::user_id.eq(memberships::user_id))
                    .filter(group_memberships::group_id.eq_any(filter.group_ids.clone())),
            ));
        }
        for m in &filter.attributes {
            let (before, key, between) = attribute_test($conn, m);
            query = query.filter(
                sql::<Bool>(before)
                    .bind::<Text, _>(key)
                    .sql(between)
                    .bind::<Text, _>(m.json_value.clone()),
            );
        }
        if let Some(at) = filter.created_after {
            query = query.filter(memberships::created_at.gt(at));
        }
        if let Some(at) = filter.created_before {
            query = query.filter(memberships::created_at.lt(at));
        }
        if let Some(at) = filter.updated_after {
            query = query.filter(memberships::updated_at.gt(at));
        }
        if let Some(at) = filter.updated_before {
            query = query.filter(memberships::updated_at.lt(at));
        }
        // Never is the earliest instant: before any bound, after none.
        if let Some(at) = filter.last_sign_in_after {
            query = query.filter(memberships::last_sign_in_at.gt(at));
        }
        if let Some(at) = filter.last_sign_in_before {
            query = query.filter(memberships::last_sign_in_at.lt(at));
        }
        match filter.signed_in {
            Some(true) => {
                query =
                    query.filter(memberships::last_sign_in_at.gt(super::models::NEVER_SIGNED_IN))
            }
            Some(false) => {
                query =
                    query.filter(memberships::last_sign_in_at.eq(super::models::NEVER_SIGNED_IN))
            }
            None => {}
        }
        if let Some(at) = filter.invited_after {
            query = query.filter(memberships::invited_at.gt(at));
        }
        if let Some(at) = filter.invited_before {
            query = query.filter(memberships::invited_at.lt(at));
        }
        if let Some(i) = &filter.invitations {
            let stored = |wanted: bool, status: &str| -> String {
                if wanted { status.into() } else { "-".into() }
            };
            query = query.filter(
                sql::<Bool>("(memberships.invitation_status = ")
                    .bind::<Text, _>(stored(i.accepted, "accepted"))
                    .sql(" OR memberships.invitation_status = ")
                    .bind::<Text, _>(stored(i.revoked, "revoked"))
                    .sql(
                        " OR (memberships.invitation_status = 'pending' \
                     AND memberships.invitation_expires_at > ",
                    )
                    .bind::<diesel::sql_types::Timestamp, _>(i.pending_from)
                    .sql(" AND memberships.invitation_expires_at <= ")
                    .bind::<diesel::sql_types::Timestamp, _>(i.pending_to)
                    .sql(") OR (memberships.invitation_status IS NULL AND ")
                    .bind::<diesel::sql_types::Integer, _>(i32::from(i.none))
                    .sql(" = 1))"),
            );
        }
        query
    }};
}

/// Rows after `(key, id)` in list order. The outer `>=` (or `<=`) bound is
/// implied by the rest, but it lets both databases start the index range
/// at the cursor instead of scanning the org's members up to it.
macro_rules! keyset {
    ($query:expr, $column:expr, $key:expr, $id:expr, $ascending:expr) => {{
        let (key, id) = ($key, $id);
        if $ascending {
            $query.filter(
                $column.ge(key.clone()).and(
                    $column
                        .gt(key.clone())
                        .or($column.eq(key).and(memberships::user_id.gt(id))),
                ),
            )
        } else {
            $query.filter(
                $column.le(key.clone()).and(
                    $column
                        .lt(key.clone())
                        .or($column.eq(key).and(memberships::user_id.lt(id))),
                ),
            )
        }
    }};
}

macro_rules! ordered {
    ($query:expr, $column:expr, $ascending:expr) => {
        if $ascending {
            $query.order(($column.asc(), memberships::user_id.asc()))
        } else {
            $query.order(($column.desc(), memberships::user_id.desc()))
        }
    };
}

/// One slice of the org's members matching the filter, in list order.
pub fn list(
    conn: &mut DbConn,
    org_id: &str,
    filter: &MemberFilter,
    slice: &Slice,
) -> QueryResult<Vec<MemberRow>> {
    let mut query = filtered!(conn, member_query!(org_id), org_id, filter);
    let up = slice.ascending;
    if let Some((key, id)) = slice.after.clone() {
        query = match (slice.field, key) {
            (SortField::Name, SortKey::Text(k)) => {
                keyset!(query, memberships::user_name_key, k, id, up)
            }
            (SortField::Email, SortKey::Text(k)) => {
                keyset!(query, memberships::user_email, k, id, up)
            }
            (SortField::CreatedAt, SortKey::Time(t)) => {
                keyset!(query, memberships::created_at, t, id, up)
            }
            (SortField::UpdatedAt, SortKey::Time(t)) => {
                keyset!(query, memberships::updated_at, t, id, up)
            }
            (SortField::LastSignInAt, SortKey::Time(t)) => {
                keyset!(query, memberships::last_sign_in_at, t, id, up)
            }
            // A key of the wrong kind cannot come from this sort; the
            // service refuses such cursors before getting here.
            _ => return Ok(Vec::new()),
        };
    }
    query = match slice.field {
        SortField::Name => ordered!(query, memberships::user_name_key, up),
        SortField::Email => ordered!(query, memberships::user_email, up),
        SortField::CreatedAt => ordered!(query, memberships::created_at, up),
        SortField::UpdatedAt => ordered!(query, memberships::updated_at, up),
        SortField::LastSignInAt => ordered!(query, memberships::last_sign_in_at, up),
    };
    let rows: Vec<(MembershipRow, UserRow)> = query.limit(slice.limit).load(conn)?;
    Ok(rows.into_iter().map(MemberRow::from).collect())
}

/// How many of the org's members match the filter.
pub fn count(conn: &mut DbConn, org_id: &str, filter: &MemberFilter) -> QueryResult<i64> {
    let query = memberships::table
        .select(diesel::dsl::count_star())
        .into_boxed();
    filtered!(conn, query, org_id, filter).get_result(conn)
}
