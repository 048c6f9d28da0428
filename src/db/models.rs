//! Row types: read models (`*Row`) apart from insert and update forms
//! (`New*`, `*Changes`). Ids are the text form of `domain` ids.
//!
//! Rows insert `None` as NULL, not as the column's DEFAULT: every optional
//! column defaults to NULL anyway, and without DEFAULT in the VALUES list
//! SQLite can insert a batch of rows in one statement.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    events, group_memberships, groups, invitations, issued_tokens, memberships, orgs, users,
    webhook_deliveries, webhooks,
};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orgs, treat_none_as_default_value = false)]
pub struct OrgRow {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub name_key: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = orgs)]
pub struct OrgChanges {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub name_key: Option<String>,
    pub status: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub name: String,
    pub name_key: String,
    pub mobile: Option<String>,
    pub mobile_normalized: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When a person accepted an invitation sent to this email.
    pub email_verified_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships, treat_none_as_default_value = false)]
pub struct MembershipRow {
    pub org_id: String,
    pub user_id: String,
    pub role: String,
    pub status: String,
    pub external_id: Option<String>,
    pub managed: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    /// A JSON object, serialised compactly with sorted keys.
    pub attributes: String,
    pub invited_at: Option<NaiveDateTime>,
    /// Copies of the user's `name_key` and `email`: the members list's
    /// sort keys, kept in step by [`super::users::update`].
    pub user_name_key: String,
    pub user_email: String,
    /// Whether the `profile_*` fields are this org's own profile of the
    /// member (shown instead of the global one).
    pub own_profile: bool,
    pub profile_first_name: Option<String>,
    pub profile_last_name: Option<String>,
    pub profile_name: Option<String>,
    pub profile_mobile: Option<String>,
    pub profile_mobile_normalized: Option<String>,
    pub profile_locale: Option<String>,
    pub profile_timezone: Option<String>,
    /// Raised by every write that changes what a reader sees of the member
    /// (see `db::members::update`).
    pub version: i64,
    /// The identity provider's userName (SCIM) when it is not the email.
    pub idp_user_name: Option<String>,
    /// When the app last reported a sign-in; [`NEVER_SIGNED_IN`] when it
    /// never did.
    pub last_sign_in_at: NaiveDateTime,
    /// The current invitation: `invitation::PENDING`, `ACCEPTED` or
    /// `REVOKED` (a pending one past its expiry reads as expired); `None`
    /// when the member was never invited. `invited_at` is when it was
    /// issued.
    pub invitation_status: Option<String>,
    pub invitation_expires_at: Option<NaiveDateTime>,
    pub invitation_accepted_at: Option<NaiveDateTime>,
    /// The invitation mail's state and last error, kept in step with
    /// `invitations` (see `db::invitations`).
    pub invitation_mail_status: Option<String>,
    pub invitation_mail_error: Option<String>,
}

/// `last_sign_in_at` of a member who never signed in: the first instant
/// both databases store, so that it sorts before every sign-in.
pub const NEVER_SIGNED_IN: NaiveDateTime = match chrono::NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(day) => day.and_time(chrono::NaiveTime::MIN),
    None => NaiveDateTime::MIN,
};

/// Only the `Some` fields are written; `Some(None)` clears a column.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = memberships)]
pub struct MembershipChanges {
    pub role: Option<String>,
    pub status: Option<String>,
    pub external_id: Option<Option<String>>,
    pub idp_user_name: Option<Option<String>>,
    pub retired_at: Option<Option<NaiveDateTime>>,
    pub attributes: Option<String>,
    pub invited_at: Option<Option<NaiveDateTime>>,
    pub invitation_status: Option<Option<String>>,
    pub invitation_expires_at: Option<Option<NaiveDateTime>>,
    pub invitation_accepted_at: Option<Option<NaiveDateTime>>,
    pub invitation_mail_status: Option<Option<String>>,
    pub invitation_mail_error: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
    /// The org's own profile of the member, and the name key it sorts by.
    pub profile_first_name: Option<Option<String>>,
    pub profile_last_name: Option<Option<String>>,
    pub profile_name: Option<Option<String>>,
    pub profile_mobile: Option<Option<String>>,
    pub profile_mobile_normalized: Option<Option<String>>,
    pub profile_locale: Option<Option<String>>,
    pub profile_timezone: Option<Option<String>>,
    pub user_name_key: Option<String>,
}

impl MembershipChanges {
    pub fn is_empty(&self) -> bool {
        self.role.is_none()
            && self.status.is_none()
            && self.external_id.is_none()
            && self.idp_user_name.is_none()
            && self.retired_at.is_none()
            && self.attributes.is_none()
            && self.invited_at.is_none()
            && self.invitation_status.is_none()
            && !self.changes_profile()
    }

    /// Whether the org's own profile of the member changes.
    pub fn changes_profile(&self) -> bool {
        self.profile_first_name.is_some()
            || self.profile_last_name.is_some()
            || self.profile_name.is_some()
            || self.profile_mobile.is_some()
            || self.profile_locale.is_some()
            || self.profile_timezone.is_some()
    }
}

/// Only the `Some` fields are written; `Some(None)` clears a column.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: Option<String>,
    pub name_key: Option<String>,
    pub mobile: Option<Option<String>>,
    pub mobile_normalized: Option<Option<String>>,
    pub locale: Option<Option<String>>,
    pub timezone: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
    /// Set by an accepted invitation; a new email clears it (see
    /// `db::users::update`).
    pub email_verified_at: Option<Option<NaiveDateTime>>,
}

impl UserChanges {
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.first_name.is_none()
            && self.last_name.is_none()
            && self.name.is_none()
            && self.mobile.is_none()
            && self.locale.is_none()
            && self.timezone.is_none()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = groups, treat_none_as_default_value = false)]
pub struct GroupRow {
    pub org_id: String,
    pub id: String,
    pub name: String,
    pub name_key: String,
    pub description: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Raised by every change to the group or its members.
    pub version: i64,
    /// The identity provider's id for it (SCIM), unique in the org.
    pub external_id: Option<String>,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = groups)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub name_key: Option<String>,
    pub description: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = group_memberships, treat_none_as_default_value = false)]
pub struct GroupMembershipRow {
    pub org_id: String,
    pub group_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = issued_tokens, treat_none_as_default_value = false)]
pub struct IssuedTokenRow {
    pub jti: String,
    pub subject: String,
    pub role: String,
    pub org_id: Option<String>,
    pub scope: Option<String>,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// The name an org's admin gave it (unique in the org); none for
    /// tokens minted on the command line without one.
    pub name: Option<String>,
    /// The `sub` of whoever made it.
    pub created_by: Option<String>,
    /// When it was last used, to the minute (see `service::tokens`).
    pub last_used_at: Option<NaiveDateTime>,
    /// The tenant admin who made it, whose rights it follows.
    pub creator_admin: Option<String>,
}

/// A user with one org's membership, if the user has one there.
#[derive(Debug, Clone)]
pub struct UserWithMembership {
    pub user: UserRow,
    pub membership: Option<MembershipRow>,
}

/// A member of one org: the user and the membership.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub user: UserRow,
    pub membership: MembershipRow,
}

/// One of a member's groups.
#[derive(Debug, Clone, Queryable)]
pub struct MemberGroupRow {
    pub user_id: String,
    pub group_id: String,
    pub name: String,
    pub role: String,
}

/// One row of `groupUsers`: who is in which group, with the status of their
/// org membership.
#[derive(Debug, Clone, Queryable)]
pub struct GroupUserRow {
    pub user_id: String,
    pub group_id: String,
    pub role: String,
    pub status: String,
    /// The global display name; see `own_profile`.
    pub user_name: String,
    /// Whether the org keeps its own profile of the member, named
    /// `profile_name` (shown instead of `user_name`).
    pub own_profile: bool,
    pub profile_name: Option<String>,
}

/// One recorded change: the audit log and the outbox. `(tx_id, ordinal)`
/// is its position (see `db::events`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events, treat_none_as_default_value = false)]
pub struct EventRow {
    pub id: String,
    pub tx_id: i64,
    pub ordinal: i32,
    pub org_id: Option<String>,
    pub actor_sub: String,
    pub actor_role: String,
    pub actor_jti: Option<String>,
    pub channel: String,
    /// The event type, such as `member.retired`.
    pub kind: String,
    pub target_kind: String,
    pub target_id: String,
    /// A JSON object: each changed field's `before` and `after`.
    pub changes: String,
    pub occurred_at: NaiveDateTime,
    pub request_id: Option<String>,
}

/// An org's webhook endpoint (see `db::webhooks`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks, treat_none_as_default_value = false)]
pub struct WebhookRow {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub description: String,
    /// Space-separated event types; empty for every type.
    pub types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    pub failing_since: Option<NaiveDateTime>,
    pub last_failure_at: Option<NaiveDateTime>,
    pub lease_owner: Option<String>,
    /// Until when `lease_owner` holds it; with no owner, when the last
    /// lease ended (the creation time at first).
    pub lease_expires_at: NaiveDateTime,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Changes to an endpoint; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub types: Option<String>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub secret: Option<String>,
    pub previous_secret: Option<Option<String>>,
    pub previous_secret_expires_at: Option<Option<NaiveDateTime>>,
    pub failing_since: Option<Option<NaiveDateTime>>,
    pub last_failure_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

/// One event queued for one endpoint.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, treat_none_as_default_value = false)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub tx_id: i64,
    pub ordinal: i32,
    pub event_occurred_at: NaiveDateTime,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    /// A JSON array of the latest attempts.
    pub attempt_log: String,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

/// What an attempt changes on a delivery (`None` writes NULL).
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = webhook_deliveries, treat_none_as_null = true)]
pub struct DeliveryAttempted {
    pub status: String,
    pub attempts: i32,
    pub attempt_log: String,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub delivered_at: Option<NaiveDateTime>,
}

/// A membership's current invitation (see `db::invitations`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations, treat_none_as_default_value = false)]
pub struct InvitationRow {
    pub org_id: String,
    pub user_id: String,
    pub id: String,
    pub nonce: String,
    pub token_hash: Option<String>,
    /// The address the link was sent to.
    pub email: String,
    pub invited_by: String,
    pub inviter_name: String,
    pub mail_status: Option<String>,
    pub mail_attempts: i32,
    pub mail_next_attempt_at: Option<NaiveDateTime>,
    pub mail_lease_until: Option<NaiveDateTime>,
    pub mail_last_error: Option<String>,
    pub mail_sent_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}
