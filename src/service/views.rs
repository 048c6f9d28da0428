//! What the service hands upward: domain views with typed ids and enums,
//! built from the database's rows here and nowhere else. A stored value
//! that does not parse (a malformed id) is an error, not a made-up value.

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::db::models::{
    GroupRow, GroupUserRow, MemberGroupRow, MemberRow, MembershipRow, OrgRow, UserRow,
    UserWithMembership,
};
use crate::domain::{Attributes, GroupId, GroupRole, MemberStatus, OrgId, OrgStatus, Role, UserId};
use crate::error::Result;

/// An organisation.
#[derive(Debug, Clone)]
pub struct OrgView {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub status: OrgStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl OrgView {
    pub(super) fn from_row(row: OrgRow) -> Result<Self> {
        Ok(Self {
            id: OrgId::from_db(&row.id)?,
            slug: row.slug,
            name: row.name,
            status: OrgStatus::from_db(&row.status),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// A group inside one org.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// Where the group stands in the org's list, by name: its cursor.
    pub position: String,
    pub id: GroupId,
    pub org: OrgId,
    pub name: String,
    pub description: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Raised by every change to the group or its members.
    pub version: i64,
    pub external_id: Option<String>,
}

impl GroupView {
    pub(super) fn from_row(row: GroupRow) -> Result<Self> {
        Ok(Self {
            position: row.name_key,
            id: GroupId::from_db(&row.id)?,
            org: OrgId::from_db(&row.org_id)?,
            name: row.name,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            external_id: row.external_id,
        })
    }
}

/// Who is in which group, with the status of their org membership and
/// the name the org sees.
#[derive(Debug, Clone)]
pub struct GroupUserView {
    pub user: UserId,
    pub group: GroupId,
    pub role: GroupRole,
    pub status: MemberStatus,
    pub user_name: String,
}

impl GroupUserView {
    pub(super) fn from_row(row: GroupUserRow) -> Result<Self> {
        Ok(Self {
            user: UserId::from_db(&row.user_id)?,
            group: GroupId::from_db(&row.group_id)?,
            role: GroupRole::from_db(&row.role),
            status: MemberStatus::from_db(&row.status),
            user_name: super::profile::name_seen_by_org(
                row.own_profile,
                row.profile_name,
                row.user_name,
            ),
        })
    }
}

/// A user's profile as the caller may see it.
#[derive(Debug, Clone)]
pub struct UserView {
    pub id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub name: String,
    pub mobile: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When a person accepted an invitation sent to this email.
    pub email_verified_at: Option<NaiveDateTime>,
}

impl UserView {
    fn from_row(row: UserRow) -> Result<Self> {
        Ok(Self {
            id: UserId::from_db(&row.id)?,
            email: row.email,
            first_name: row.first_name,
            last_name: row.last_name,
            name: row.name,
            mobile: row.mobile,
            locale: row.locale,
            timezone: row.timezone,
            created_at: row.created_at,
            updated_at: row.updated_at,
            email_verified_at: row.email_verified_at,
        })
    }
}

/// A user's place in one org.
#[derive(Debug, Clone)]
pub struct MembershipView {
    pub org: OrgId,
    pub role: Role,
    pub status: MemberStatus,
    pub external_id: Option<String>,
    /// Whether this org created the user and so edits the global profile.
    pub managed: bool,
    /// A JSON object (`{}` when none).
    pub attributes: Value,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
    pub invited_at: Option<NaiveDateTime>,
    /// Raised by every change to what the org sees of the member.
    pub version: i64,
    /// The identity provider's userName when it is not the email (SCIM).
    pub idp_user_name: Option<String>,
    /// When the app last reported a sign-in; `None` for never.
    pub last_sign_in_at: Option<NaiveDateTime>,
    /// The current invitation; `None` when never invited.
    pub invitation: Option<InvitationView>,
}

/// A member's current invitation as it reads now.
#[derive(Debug, Clone)]
pub struct InvitationView {
    /// `pending`, `accepted`, `expired` or `revoked`.
    pub status: &'static str,
    pub invited_at: Option<NaiveDateTime>,
    pub expires_at: Option<NaiveDateTime>,
    pub accepted_at: Option<NaiveDateTime>,
    /// The mail's state when Roster sends it: `queued`, `sent`, `failed`
    /// or `dropped`; `None` when no mail was asked for.
    pub mail_status: Option<String>,
    /// Why the last attempt to send it failed.
    pub mail_error: Option<String>,
}

impl MembershipView {
    fn from_row(row: &MembershipRow) -> Result<Self> {
        Ok(Self {
            org: OrgId::from_db(&row.org_id)?,
            role: Role::from_db(&row.role),
            status: MemberStatus::from_db(&row.status),
            external_id: row.external_id.clone(),
            managed: row.managed,
            attributes: Attributes::from_db(&row.attributes),
            created_at: row.created_at,
            updated_at: row.updated_at,
            retired_at: row.retired_at,
            invited_at: row.invited_at,
            version: row.version,
            idp_user_name: row.idp_user_name.clone(),
            last_sign_in_at: (row.last_sign_in_at != crate::db::models::NEVER_SIGNED_IN)
                .then_some(row.last_sign_in_at),
            invitation: super::invitations::shown_status(row, super::now()).map(|status| {
                InvitationView {
                    status,
                    invited_at: row.invited_at,
                    expires_at: row.invitation_expires_at,
                    accepted_at: row.invitation_accepted_at,
                    mail_status: row.invitation_mail_status.clone(),
                    mail_error: row.invitation_mail_error.clone(),
                }
            }),
        })
    }
}

/// A user found by `findUserBy`, with the membership of the org searched
/// (none when an operator searched all users).
#[derive(Debug, Clone)]
pub struct FoundUser {
    pub user: UserView,
    pub membership: Option<MembershipView>,
}

impl FoundUser {
    /// The user as the org of the membership sees them.
    pub(super) fn from_row(row: UserWithMembership) -> Result<Self> {
        let UserWithMembership { user, membership } = row;
        let user = match &membership {
            Some(m) => super::profile::seen_by_org(user, m),
            None => user,
        };
        Ok(Self {
            user: UserView::from_row(user)?,
            membership: membership
                .as_ref()
                .map(MembershipView::from_row)
                .transpose()?,
        })
    }
}

/// One of a member's groups.
#[derive(Debug, Clone)]
pub struct MemberGroupView {
    pub id: GroupId,
    pub name: String,
    pub role: GroupRole,
}

impl MemberGroupView {
    pub(super) fn from_row(row: MemberGroupRow) -> Result<Self> {
        Ok(Self {
            id: GroupId::from_db(&row.group_id)?,
            name: row.name,
            role: GroupRole::from_db(&row.role),
        })
    }
}

/// A member of one org: the profile the org sees, the membership and (when
/// asked for) the groups.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub user: UserView,
    pub membership: MembershipView,
    pub groups: Vec<MemberGroupView>,
}

impl MemberView {
    /// The member as their org sees them (see `profile`).
    pub(super) fn from_row(row: MemberRow, groups: Vec<MemberGroupRow>) -> Result<Self> {
        let MemberRow { user, membership } = row;
        Ok(Self {
            user: UserView::from_row(super::profile::seen_by_org(user, &membership))?,
            membership: MembershipView::from_row(&membership)?,
            groups: groups
                .into_iter()
                .map(MemberGroupView::from_row)
                .collect::<Result<_>>()?,
        })
    }
}
