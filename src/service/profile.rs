//! Whose profile an org sees.
//!
//! A user is global, and one org manages the profile (the org that created
//! the user). Every other org that brings the same person in by email keeps
//! a profile of its own on the membership: the names, mobile, locale and
//! time zone it supplied, editable by it and searched by it. It never sees
//! the profile another org wrote, so a tenant learns nothing about other
//! orgs from a shared user. A user an operator linked with `addOrgMember`
//! shows the global profile. See `docs/security.md`, "Whose profile an org
//! sees".

use crate::db::models::{MembershipChanges, MembershipRow, UserChanges, UserRow};
use crate::domain::{Mobile, display_name, search_key};

/// The profile an org supplies for a member it brings in but does not
/// manage.
#[derive(Debug, Clone, Default)]
pub(super) struct OwnProfile {
    pub(super) first_name: String,
    pub(super) last_name: String,
    /// The display name; "first last" when not given.
    pub(super) name: Option<String>,
    pub(super) mobile: Option<Mobile>,
    pub(super) locale: Option<String>,
    pub(super) timezone: Option<String>,
}

impl OwnProfile {
    /// Writes the profile onto a new membership.
    pub(super) fn apply_to(self, row: &mut MembershipRow) {
        let name = self
            .name
            .unwrap_or_else(|| display_name(&self.first_name, &self.last_name));
        row.own_profile = true;
        row.user_name_key = search_key(&name);
        row.profile_name = Some(name);
        row.profile_first_name = Some(self.first_name);
        row.profile_last_name = Some(self.last_name);
        row.profile_mobile = self.mobile.as_ref().map(|m| m.display.clone());
        row.profile_mobile_normalized = self.mobile.map(|m| m.normalized);
        row.profile_locale = self.locale;
        row.profile_timezone = self.timezone;
    }
}

/// The user as the org of `membership` sees them: with the org's own
/// profile when it keeps one, else the global profile.
pub(super) fn seen_by_org(mut user: UserRow, membership: &MembershipRow) -> UserRow {
    if membership.own_profile {
        user.first_name = membership.profile_first_name.clone().unwrap_or_default();
        user.last_name = membership.profile_last_name.clone().unwrap_or_default();
        user.name = membership.profile_name.clone().unwrap_or_default();
        user.name_key = membership.user_name_key.clone();
        user.mobile = membership.profile_mobile.clone();
        user.mobile_normalized = membership.profile_mobile_normalized.clone();
        user.locale = membership.profile_locale.clone();
        user.timezone = membership.profile_timezone.clone();
        // The global record's times would tell when another org created or
        // edited the user: the org sees its own membership's.
        user.created_at = membership.created_at;
        user.updated_at = membership.updated_at;
    }
    user
}

/// The display name the org sees: its own profile's when it keeps one,
/// else the global name.
pub(super) fn name_seen_by_org(
    own_profile: bool,
    profile_name: Option<String>,
    global_name: String,
) -> String {
    if own_profile {
        profile_name.unwrap_or_default()
    } else {
        global_name
    }
}

/// Adds profile changes worked out against the org's own profile to a
/// membership's changes, as the columns that hold that profile. The email
/// is global and not part of it.
pub(super) fn add_own_profile_changes(target: &mut MembershipChanges, changes: &UserChanges) {
    target.profile_first_name = changes.first_name.clone().map(Some);
    target.profile_last_name = changes.last_name.clone().map(Some);
    target.profile_name = changes.name.clone().map(Some);
    target.user_name_key = changes.name_key.clone();
    target.profile_mobile = changes.mobile.clone();
    target.profile_mobile_normalized = changes.mobile_normalized.clone();
    target.profile_locale = changes.locale.clone();
    target.profile_timezone = changes.timezone.clone();
}

/// Applies own-profile changes to a membership held in memory.
pub(super) fn apply_own_profile_changes(row: &mut MembershipRow, changes: &MembershipChanges) {
    let set = |field: &mut Option<String>, value: &Option<Option<String>>| {
        if let Some(value) = value {
            field.clone_from(value);
        }
    };
    set(&mut row.profile_first_name, &changes.profile_first_name);
    set(&mut row.profile_last_name, &changes.profile_last_name);
    set(&mut row.profile_name, &changes.profile_name);
    set(&mut row.profile_mobile, &changes.profile_mobile);
    set(
        &mut row.profile_mobile_normalized,
        &changes.profile_mobile_normalized,
    );
    set(&mut row.profile_locale, &changes.profile_locale);
    set(&mut row.profile_timezone, &changes.profile_timezone);
    if let Some(key) = &changes.user_name_key {
        row.user_name_key.clone_from(key);
    }
}
