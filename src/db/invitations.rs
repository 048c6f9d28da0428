//! Queries on `invitations` (a membership's current invitation), on the
//! hourly count of issued ones, and on the keys the server keeps for
//! itself. The invitation's status lives on the membership (see
//! `db::members`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::models::InvitationRow;
use super::schema::{invitation_issues, invitations, memberships, orgs, server_keys};

/// Mail states (`invitations.mail_status`).
pub mod mail {
    pub const QUEUED: &str = "queued";
    pub const SENT: &str = "sent";
    pub const FAILED: &str = "failed";
    /// The invitation stopped being pending before its mail went out.
    pub const DROPPED: &str = "dropped";
}

/// Shows the mail's state on the membership, for members lists.
fn mirror(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    status: Option<&str>,
    error: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(memberships::table.find((org_id, user_id)))
        .set((
            memberships::invitation_mail_status.eq(status),
            memberships::invitation_mail_error.eq(error),
        ))
        .execute(conn)
}

/// Puts `row` in place of the membership's current invitation, if any.
pub fn replace(conn: &mut DbConn, row: &InvitationRow) -> QueryResult<()> {
    diesel::delete(invitations::table.find((&row.org_id, &row.user_id))).execute(conn)?;
    diesel::insert_into(invitations::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConn, org_id: &str, user_id: &str) -> QueryResult<Option<InvitationRow>> {
    invitations::table
        .find((org_id, user_id))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()
}

/// The invitations of some members of an org.
pub fn of_members(
    conn: &mut DbConn,
    org_id: &str,
    user_ids: &[&str],
) -> QueryResult<Vec<InvitationRow>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    invitations::table
        .filter(invitations::org_id.eq(org_id))
        .filter(invitations::user_id.eq_any(user_ids))
        .select(InvitationRow::as_select())
        .load(conn)
}

/// The invitation whose link's token hashes to `hash`, while it is usable
/// (accepting or revoking clears the hash).
pub fn by_token_hash(conn: &mut DbConn, hash: &str) -> QueryResult<Option<InvitationRow>> {
    invitations::table
        .filter(invitations::token_hash.eq(hash))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()
}

/// Makes the link unusable (accepted or revoked); a mail not yet sent is
/// dropped.
pub fn close(conn: &mut DbConn, org_id: &str, user_id: &str) -> QueryResult<usize> {
    diesel::update(invitations::table.find((org_id, user_id)))
        .set(invitations::token_hash.eq(None::<String>))
        .execute(conn)?;
    let dropped = diesel::update(
        invitations::table
            .find((org_id, user_id))
            .filter(invitations::mail_status.eq(mail::QUEUED)),
    )
    .set((
        invitations::mail_status.eq(mail::DROPPED),
        invitations::mail_next_attempt_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    if dropped > 0 {
        mirror(conn, org_id, user_id, Some(mail::DROPPED), None)?;
    }
    Ok(dropped)
}

/// Queues the mail of the membership's current invitation, when it is
/// still usable and no mail was asked for yet.
pub fn queue_mail(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let queued = diesel::update(
        invitations::table
            .find((org_id, user_id))
            .filter(invitations::token_hash.is_not_null())
            .filter(invitations::mail_status.is_null()),
    )
    .set((
        invitations::mail_status.eq(mail::QUEUED),
        invitations::mail_next_attempt_at.eq(Some(at)),
    ))
    .execute(conn)?;
    if queued > 0 {
        mirror(conn, org_id, user_id, Some(mail::QUEUED), None)?;
    }
    Ok(queued)
}

/// Up to `limit` queued mails due at `at` that no instance is sending.
pub fn due_mails(
    conn: &mut DbConn,
    at: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<InvitationRow>> {
    invitations::table
        .filter(invitations::mail_status.eq(mail::QUEUED))
        .filter(invitations::mail_next_attempt_at.le(at))
        .filter(
            invitations::mail_lease_until
                .is_null()
                .or(invitations::mail_lease_until.lt(at)),
        )
        .order(invitations::mail_next_attempt_at.asc())
        .limit(limit)
        .select(InvitationRow::as_select())
        .load(conn)
}

/// Takes a queued mail for sending until `until`; false when it is no
/// longer queued or another instance took it first.
pub fn lease_mail(
    conn: &mut DbConn,
    row: &InvitationRow,
    at: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    let taken = diesel::update(
        invitations::table
            .find((&row.org_id, &row.user_id))
            .filter(invitations::id.eq(&row.id))
            .filter(invitations::mail_status.eq(mail::QUEUED))
            .filter(
                invitations::mail_lease_until
                    .is_null()
                    .or(invitations::mail_lease_until.lt(at)),
            ),
    )
    .set(invitations::mail_lease_until.eq(Some(until)))
    .execute(conn)?;
    Ok(taken == 1)
}

/// What one mail attempt came to.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = invitations, treat_none_as_null = true)]
pub struct MailAttempted {
    pub mail_status: Option<String>,
    pub mail_attempts: i32,
    pub mail_next_attempt_at: Option<NaiveDateTime>,
    pub mail_lease_until: Option<NaiveDateTime>,
    pub mail_last_error: Option<String>,
    pub mail_sent_at: Option<NaiveDateTime>,
}

/// Records an attempt on the issue `id`, if it is still the current one
/// and its lease is still the one taken for this attempt (`lease`).
pub fn record_mail(
    conn: &mut DbConn,
    org_id: &str,
    user_id: &str,
    id: &str,
    lease: NaiveDateTime,
    attempted: &MailAttempted,
) -> QueryResult<usize> {
    let recorded = diesel::update(
        invitations::table
            .find((org_id, user_id))
            .filter(invitations::id.eq(id))
            .filter(invitations::mail_lease_until.eq(lease)),
    )
    .set(attempted)
    .execute(conn)?;
    if recorded > 0 {
        mirror(
            conn,
            org_id,
            user_id,
            attempted.mail_status.as_deref(),
            attempted.mail_last_error.as_deref(),
        )?;
    }
    Ok(recorded)
}

/// Locks the org's row until the commit (PostgreSQL), so that writes
/// counting against the org's hourly limit take turns.
pub fn lock_org(conn: &mut DbConn, org_id: &str) -> QueryResult<()> {
    if let DbConn::Postgres(pg) = conn {
        orgs::table
            .find(org_id)
            .select(orgs::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}

/// The invitations issued in the org since `since`, oldest first: when
/// and how many.
pub fn issued_since(
    conn: &mut DbConn,
    org_id: &str,
    since: NaiveDateTime,
) -> QueryResult<Vec<(NaiveDateTime, i32)>> {
    invitation_issues::table
        .filter(invitation_issues::org_id.eq(org_id))
        .filter(invitation_issues::issued_at.gt(since))
        .order(invitation_issues::issued_at.asc())
        .select((invitation_issues::issued_at, invitation_issues::count))
        .load(conn)
}

pub fn count_issued(
    conn: &mut DbConn,
    org_id: &str,
    at: NaiveDateTime,
    count: i32,
) -> QueryResult<usize> {
    diesel::insert_into(invitation_issues::table)
        .values((
            invitation_issues::org_id.eq(org_id),
            invitation_issues::issued_at.eq(at),
            invitation_issues::count.eq(count),
        ))
        .execute(conn)
}

/// Forgets counts from before `before`, at most `limit` rows.
pub fn prune_issued(conn: &mut DbConn, before: NaiveDateTime, limit: i64) -> QueryResult<usize> {
    let old: Vec<(String, NaiveDateTime)> = invitation_issues::table
        .filter(invitation_issues::issued_at.lt(before))
        .select((invitation_issues::org_id, invitation_issues::issued_at))
        .limit(limit)
        .load(conn)?;
    let mut pruned = 0;
    for (org, at) in old {
        pruned += diesel::delete(
            invitation_issues::table
                .filter(invitation_issues::org_id.eq(org))
                .filter(invitation_issues::issued_at.eq(at)),
        )
        .execute(conn)?;
    }
    Ok(pruned)
}

/// The server's key `name`, made from `fresh` if there is none yet (the
/// first of several instances starting at once wins).
pub fn server_key(conn: &mut DbConn, name: &str, fresh: &str) -> QueryResult<String> {
    let stored: Option<String> = server_keys::table
        .find(name)
        .select(server_keys::value)
        .first(conn)
        .optional()?;
    if let Some(stored) = stored {
        return Ok(stored);
    }
    let inserted = diesel::insert_into(server_keys::table)
        .values((server_keys::name.eq(name), server_keys::value.eq(fresh)));
    match conn {
        DbConn::Sqlite(c) => inserted.on_conflict_do_nothing().execute(c)?,
        DbConn::Postgres(c) => inserted.on_conflict_do_nothing().execute(c)?,
    };
    server_keys::table
        .find(name)
        .select(server_keys::value)
        .first(conn)
}
