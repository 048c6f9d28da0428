//! The rows every write path builds, each built in one place: a new user,
//! a new membership, a new group membership; and the lookups every path
//! starts with (the org exists, the member exists).

use chrono::NaiveDateTime;

use super::now;
use super::profile::OwnProfile;
use crate::db::models::{GroupMembershipRow, GroupRow, MembershipRow, UserRow};
use crate::db::{DbConn, orgs};
use crate::domain::{GroupRole, MemberStatus, OrgId, Role, UserId, display_name, search_key};
use crate::error::{Error, Result};

/// Fails with NOT_FOUND unless the org exists.
pub(super) fn ensure_org(conn: &mut DbConn, org: OrgId) -> Result<()> {
    match orgs::find(conn, &org.as_db())? {
        Some(_) => Ok(()),
        None => Err(Error::not_found("no org with this id")),
    }
}

pub(super) fn member_not_found() -> Error {
    Error::not_found("no member with this id in this org")
}

/// A new global user with the given (already validated) profile; the
/// display name defaults to "first last".
pub(super) fn new_user(email: String, profile: OwnProfile, at: NaiveDateTime) -> UserRow {
    let name = profile
        .name
        .unwrap_or_else(|| display_name(&profile.first_name, &profile.last_name));
    UserRow {
        id: UserId::new().as_db(),
        email,
        first_name: profile.first_name,
        last_name: profile.last_name,
        name_key: search_key(&name),
        name,
        mobile: profile.mobile.as_ref().map(|m| m.display.clone()),
        mobile_normalized: profile.mobile.map(|m| m.normalized),
        locale: profile.locale,
        timezone: profile.timezone,
        created_at: at,
        updated_at: at,
        email_verified_at: None,
    }
}

/// A new, active membership of `user` in `org`, showing the global
/// profile (see `profile::OwnProfile::apply_to` for an org's own).
pub(super) fn new_membership(
    org: &str,
    user: &UserRow,
    role: Role,
    external_id: Option<String>,
    managed: bool,
) -> MembershipRow {
    let at = now();
    MembershipRow {
        org_id: org.to_owned(),
        user_id: user.id.clone(),
        role: role.as_str().into(),
        status: MemberStatus::Active.as_str().into(),
        external_id,
        managed,
        created_at: at,
        updated_at: at,
        retired_at: None,
        attributes: "{}".into(),
        invited_at: None,
        user_name_key: user.name_key.clone(),
        user_email: user.email.clone(),
        own_profile: false,
        profile_first_name: None,
        profile_last_name: None,
        profile_name: None,
        profile_mobile: None,
        profile_mobile_normalized: None,
        profile_locale: None,
        profile_timezone: None,
        version: 1,
        idp_user_name: None,
        last_sign_in_at: crate::db::models::NEVER_SIGNED_IN,
        invitation_status: None,
        invitation_expires_at: None,
        invitation_accepted_at: None,
        invitation_mail_status: None,
        invitation_mail_error: None,
    }
}

/// `user_id` as a plain member of `group`.
pub(super) fn new_group_member(group: &GroupRow, user_id: &str) -> GroupMembershipRow {
    GroupMembershipRow {
        org_id: group.org_id.clone(),
        group_id: group.id.clone(),
        user_id: user_id.to_owned(),
        role: GroupRole::Member.as_str().into(),
        created_at: now(),
    }
}
