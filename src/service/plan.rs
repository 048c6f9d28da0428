//! The planner behind `upsertMember` and `syncMembers` (and the invariant
//! checks of the bulk status and removal calls). It loads, in a few
//! statements per few hundred records, the state the records touch; works
//! out every record's changes in memory, checking the invariants as it
//! goes; and then writes the changes in batches, in the caller's
//! transaction. A record that fails leaves the plan as it was, so the
//! records after it see only what will really be written.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::events::{self, Draft, Tx};
use super::invitations::{
    InviteSettings, Issue, invitation_lapsed, issue_on_change, issue_on_new, wants_invitation,
};
use super::profile::{OwnProfile, add_own_profile_changes, apply_own_profile_changes, seen_by_org};
use super::rows::{new_group_member, new_membership, new_user};
use super::rules::{PowerChange, check_last_admin, check_self_action};
use super::{Change, now};
use crate::auth::Principal;
use crate::db::models::{
    GroupMembershipRow, GroupRow, MembershipChanges, MembershipRow, UserChanges, UserRow,
};
use crate::db::{DbConn, groups, members, users};
use crate::domain::{
    Attributes, Email, ExternalId, MemberStatus, Mobile, OrgId, PersonName, Role, UserId,
    display_name, locale, optional_text, search_key, timezone,
};
use crate::error::{Code, EMAIL_UNAVAILABLE, Error, Result};

/// At most this many group names on one member.
pub const MAX_MEMBER_GROUPS: usize = 500;

/// A member as a sync record or `upsertMember` describes them. `None`
/// leaves a field as it is; for the optional profile fields an empty
/// string clears them.
#[derive(Debug, Clone, Default)]
pub struct MemberRecord {
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: Option<String>,
    pub mobile: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub role: Option<Role>,
    pub status: Option<MemberStatus>,
    pub attributes: Option<SentAttributes>,
    pub groups: Option<Vec<String>>,
    pub send_invite: bool,
    /// Names the member by user id (SCIM's `id`) instead of externalId or
    /// email; then the email, when given, is what it becomes, and an empty
    /// `external_id` clears it.
    pub user_id: Option<UserId>,
    /// The identity provider's userName (SCIM) when it is not the email;
    /// an empty one clears it.
    pub idp_user_name: Option<String>,
}

/// A record's attributes as sent, kept as compact JSON text until the
/// record is checked: a directory of records then holds a few bytes of
/// attributes per record, not a map each (hundreds of bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentAttributes(String);

impl From<serde_json::Value> for SentAttributes {
    fn from(value: serde_json::Value) -> Self {
        Self(value.to_string())
    }
}

impl SentAttributes {
    /// The value sent (JSON text made from a value reads back).
    fn value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or_default()
    }
}

/// Why one item of a bulk call failed: the code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

impl From<&Error> for Failure {
    fn from(error: &Error) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

/// A record checked against the domain rules, before it meets the data.
#[derive(Debug, Clone, Default)]
pub(super) struct Checked {
    pub(super) user_id: Option<String>,
    /// An empty externalId on a record keyed by user id: clear it.
    pub(super) clear_external_id: bool,
    pub(super) email: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    pub(super) name: Option<String>,
    pub(super) mobile: Option<Option<Mobile>>,
    pub(super) locale: Option<Option<String>>,
    pub(super) timezone: Option<Option<String>>,
    pub(super) role: Option<Role>,
    pub(super) status: Option<MemberStatus>,
    pub(super) attributes: Option<String>,
    /// Group name keys, deduplicated.
    pub(super) groups: Option<BTreeSet<String>>,
    pub(super) send_invite: bool,
    pub(super) idp_user_name: Option<Option<String>>,
}

fn clearable<T>(
    text: Option<String>,
    parse: impl Fn(&str) -> std::result::Result<T, crate::domain::Invalid>,
) -> Result<Option<Option<T>>> {
    match text {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Ok(Some(None)),
        Some(t) => Ok(Some(Some(parse(&t)?))),
    }
}

pub(super) fn check(record: MemberRecord) -> Result<Checked> {
    let user_id = record.user_id.map(|id| id.as_db());
    let clear_external_id = user_id.is_some()
        && record
            .external_id
            .as_deref()
            .is_some_and(|e| e.trim().is_empty());
    let email = record
        .email
        .filter(|e| !e.trim().is_empty())
        .map(|e| Email::parse(&e).map(Email::into_inner))
        .transpose()?;
    let external_id = record
        .external_id
        .filter(|e| !e.trim().is_empty())
        .map(|e| ExternalId::parse(&e))
        .transpose()?;
    if email.is_none() && external_id.is_none() && user_id.is_none() {
        return Err(Error::invalid("give the member's email or externalId"));
    }
    let groups = match record.groups {
        None => None,
        Some(names) => {
            if names.len() > MAX_MEMBER_GROUPS {
                return Err(Error::invalid(format!(
                    "a member may be in at most {MAX_MEMBER_GROUPS} groups"
                )));
            }
            let mut keys = BTreeSet::new();
            for name in names {
                let name = optional_text("group name", Some(&name), 200)?
                    .ok_or_else(|| Error::invalid("group names must not be empty"))?;
                keys.insert(search_key(&name));
            }
            Some(keys)
        }
    };
    Ok(Checked {
        user_id,
        clear_external_id,
        email,
        external_id,
        first_name: record
            .first_name
            .map(|f| PersonName::first(&f))
            .transpose()?,
        last_name: record.last_name.map(|l| PersonName::last(&l)).transpose()?,
        name: record
            .name
            .filter(|n| !n.trim().is_empty())
            .map(|n| PersonName::display(&n))
            .transpose()?,
        mobile: clearable(record.mobile, Mobile::parse)?,
        locale: clearable(record.locale, locale)?,
        timezone: clearable(record.timezone, timezone)?,
        role: record.role,
        status: record.status,
        attributes: record
            .attributes
            .map(|a| Attributes::parse(&a.value()).map(|a| a.to_db()))
            .transpose()?,
        groups,
        send_invite: record.send_invite,
        idp_user_name: clearable(record.idp_user_name, |n| {
            optional_text("userName", Some(n), 256).map(Option::unwrap_or_default)
        })?,
    })
}

/// The profile an org supplies in a record that brings in a user it does
/// not manage (the record's first name is required before this).
fn own_profile_of(record: &Checked) -> OwnProfile {
    OwnProfile {
        first_name: record.first_name.clone().unwrap_or_default(),
        last_name: record.last_name.clone().unwrap_or_default(),
        name: record.name.clone(),
        mobile: record.mobile.clone().flatten(),
        locale: record.locale.clone().flatten(),
        timezone: record.timezone.clone().flatten(),
    }
}

/// The writes a plan has decided on, in the order they are applied. New
/// rows are named by user id; the rows themselves live in the plan's maps
/// until they are written, so a directory's rows are held once.
#[derive(Debug, Default)]
pub(super) struct Writes {
    pub(super) new_users: Vec<String>,
    pub(super) new_memberships: Vec<String>,
    pub(super) user_changes: Vec<(String, UserChanges)>,
    pub(super) membership_changes: Vec<(String, MembershipChanges)>,
    pub(super) group_removals: Vec<(String, String)>,
    pub(super) group_additions: Vec<GroupMembershipRow>,
    /// Invitations issued on the memberships above, written after them.
    pub(super) invitations: Vec<Issue>,
    /// The events of these writes, drafted as each was planned (when the
    /// state before it is at hand), recorded when they are applied.
    pub(super) events: Vec<Draft>,
}

/// The org's state as far as the records reach, and the writes planned on
/// it so far.
pub(super) struct Plan {
    pub(super) org: String,
    /// The caller, when they are a user (for SELF_ACTION).
    pub(super) caller: Option<String>,
    pub(super) operator: bool,
    /// User ids by stored email.
    pub(super) users_by_email: HashMap<String, String>,
    pub(super) users_by_id: HashMap<String, UserRow>,
    pub(super) members: HashMap<String, MembershipRow>,
    pub(super) by_external_id: HashMap<String, String>,
    /// Each member's groups: group id to role.
    pub(super) member_groups: HashMap<String, HashMap<String, String>>,
    pub(super) groups_by_key: HashMap<String, GroupRow>,
    pub(super) active_admins: HashSet<String>,
    /// Whether the plan is only reported (see [`Plan::may_take_email`]).
    pub(super) dry_run: bool,
    pub(super) writes: Writes,
    /// Who writes, and how their invitations are issued.
    who: Principal,
    invites: Arc<InviteSettings>,
}

/// One record's effect, worked out before anything in the plan changes.
#[derive(Debug, Default)]
pub(super) struct Effect {
    pub(super) new_user: Option<UserRow>,
    pub(super) user_changes: Option<UserChanges>,
    pub(super) new_membership: Option<MembershipRow>,
    pub(super) membership_changes: Option<MembershipChanges>,
    pub(super) group_removals: Vec<String>,
    pub(super) group_additions: Vec<GroupMembershipRow>,
    pub(super) invitation: Option<Issue>,
    pub(super) ignored: Vec<&'static str>,
}

/// Whether a plan needs the org's active admins, and whether to lock them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admins {
    /// No change can demote, retire or remove anyone.
    Skip,
    /// Read them, for a report that writes nothing (a dry run).
    Read,
    /// Read and lock them: the plan will be written.
    Lock,
}

impl Admins {
    /// `Lock` when a written plan can take admin power away, `Read` when
    /// such a plan is only reported.
    pub(super) fn when(can_remove_power: bool, dry_run: bool) -> Self {
        match (can_remove_power, dry_run) {
            (false, _) => Self::Skip,
            (true, true) => Self::Read,
            (true, false) => Self::Lock,
        }
    }
}

impl Plan {
    /// Loads what the records can touch: their users by email, the org's
    /// members by externalId and by user, their groups and the org's
    /// groups; and, unless `admins` is `Skip` (no change can demote, retire
    /// or remove someone), the org's active admins, with `Lock` locked on
    /// PostgreSQL so that concurrent demotions queue behind this
    /// transaction.
    pub(super) fn load(
        conn: &mut DbConn,
        org: OrgId,
        who: &Principal,
        records: &[&Checked],
        admins: Admins,
        invites: &Arc<InviteSettings>,
    ) -> Result<Self> {
        if records.len() > 1 {
            crate::db::plan_each_statement(conn)?;
        }
        let org = org.as_db();
        let emails: Vec<&str> = records.iter().filter_map(|r| r.email.as_deref()).collect();
        let external_ids: Vec<&str> = records
            .iter()
            .filter_map(|r| r.external_id.as_deref())
            .collect();
        let active_admins: HashSet<String> = if admins != Admins::Skip {
            members::active_admins(conn, &org, admins == Admins::Lock)?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        let mut found_users = users::with_emails(conn, &emails)?;
        let keyed = members::with_external_ids(conn, &org, &external_ids)?;
        let known: HashSet<&str> = found_users.iter().map(|u| u.id.as_str()).collect();
        let missing: Vec<&str> = keyed
            .iter()
            .map(|m| m.user_id.as_str())
            .filter(|id| !known.contains(id))
            .collect();
        let mut missing = missing;
        missing.extend(records.iter().filter_map(|r| r.user_id.as_deref()));
        missing.retain(|id| !known.contains(id));
        found_users.extend(users::with_ids(conn, &missing)?);
        let user_ids: Vec<&str> = found_users.iter().map(|u| u.id.as_str()).collect();
        let memberships = members::of_users(conn, &org, &user_ids)?;
        let member_ids: Vec<&str> = memberships.iter().map(|m| m.user_id.as_str()).collect();
        let mut member_groups: HashMap<String, HashMap<String, String>> = HashMap::new();
        if records.iter().any(|r| r.groups.is_some()) {
            for row in groups::memberships_of(conn, &org, &member_ids)? {
                member_groups
                    .entry(row.user_id)
                    .or_default()
                    .insert(row.group_id, row.role);
            }
        }
        let groups_by_key = if records.iter().any(|r| r.groups.is_some()) {
            groups::all(conn, &org)?
                .into_iter()
                .map(|g| (g.name_key.clone(), g))
                .collect()
        } else {
            HashMap::new()
        };
        let by_external_id = memberships
            .iter()
            .filter_map(|m| Some((m.external_id.clone()?, m.user_id.clone())))
            .collect();
        Ok(Self {
            caller: who.subject.parse::<UserId>().ok().map(|id| id.as_db()),
            operator: who.is_operator(),
            users_by_email: found_users
                .iter()
                .map(|u| (u.email.clone(), u.id.clone()))
                .collect(),
            users_by_id: found_users.into_iter().map(|u| (u.id.clone(), u)).collect(),
            members: memberships
                .into_iter()
                .map(|m| (m.user_id.clone(), m))
                .collect(),
            by_external_id,
            member_groups,
            groups_by_key,
            active_admins,
            org,
            dry_run: false,
            writes: Writes::default(),
            who: who.clone(),
            invites: invites.clone(),
        })
    }

    /// The user and membership a record names, if they exist: by
    /// externalId when it has one, else by email.
    pub(super) fn resolve(
        &self,
        record: &Checked,
    ) -> Result<(Option<UserRow>, Option<MembershipRow>)> {
        if let Some(user_id) = &record.user_id {
            let member = self
                .members
                .get(user_id)
                .cloned()
                .ok_or_else(|| Error::not_found("no such member in this org"))?;
            return Ok((self.users_by_id.get(user_id).cloned(), Some(member)));
        }
        if let Some(external_id) = &record.external_id {
            if let Some(user_id) = self.by_external_id.get(external_id) {
                let member = self.members.get(user_id).cloned();
                return Ok((self.users_by_id.get(user_id).cloned(), member));
            }
            // Not known by this externalId: the email may still name a user.
            let Some(email) = &record.email else {
                return Ok((None, None));
            };
            let user = self.user_by_email(email);
            let member = user.as_ref().and_then(|u| self.members.get(&u.id).cloned());
            if let Some(member) = &member
                && member.external_id.is_some()
            {
                return Err(Error::Duplicate(format!(
                    "{email} belongs to a member of this org with another externalId"
                )));
            }
            return Ok((user, member));
        }
        let email = record.email.as_deref().unwrap_or_default();
        let user = self.user_by_email(email);
        let member = user.as_ref().and_then(|u| self.members.get(&u.id).cloned());
        Ok((user, member))
    }

    /// Works out a record's effect; `Err` leaves the plan untouched.
    pub(super) fn effect(&self, record: &Checked) -> Result<(String, Change, Effect)> {
        let (user, member) = self.resolve(record)?;
        let at = now();
        let mut effect = Effect::default();
        let mut own_profile: Option<OwnProfile> = None;
        let mut own_changes: Option<UserChanges> = None;
        // A record that adds someone to the org needs a first name, whether
        // or not the user exists elsewhere: asking only for new users would
        // tell the caller which emails other orgs hold.
        if member.is_none() {
            let email = record.email.as_deref().ok_or_else(|| {
                Error::invalid("give the email of a member who is not in this org yet")
            })?;
            if record.first_name.is_none() {
                return Err(Error::invalid(format!(
                    "give the first name of the new member {email}"
                )));
            }
        }
        // The user: created, or changed where this caller may edit the
        // profile, or left as it is with the differing fields reported.
        let user = match user {
            None => {
                let email = record.email.clone().ok_or_else(|| {
                    Error::invalid("give the email of a member who is not in this org yet")
                })?;
                let user = new_user(email, own_profile_of(record), at);
                effect.new_user = Some(user.clone());
                user
            }
            Some(user) => {
                match &member {
                    // Known elsewhere, joining this org: it keeps the
                    // profile it supplies and changes nothing global.
                    None => {
                        let role = record.role.unwrap_or(Role::User);
                        check_self_action(
                            self.is_caller(&user.id),
                            self.operator,
                            PowerChange::joining(role),
                            "add",
                        )?;
                        own_profile = Some(own_profile_of(record));
                    }
                    // The org's own profile: edited in place; the email is
                    // global and stays.
                    Some(m) if m.own_profile => {
                        let seen = seen_by_org(user.clone(), m);
                        let (changes, _) = self.profile_changes(&seen, record, false)?;
                        if changes.email.is_some() {
                            effect.ignored.push("email");
                        }
                        own_changes = Some(changes);
                    }
                    Some(m) => {
                        let editable = self.operator || m.managed;
                        let (changes, differing) = self.profile_changes(&user, record, editable)?;
                        if !differing.is_empty() {
                            if editable {
                                let mut changes = changes;
                                changes.updated_at = Some(at);
                                effect.user_changes = Some(changes);
                            } else {
                                effect.ignored = differing;
                            }
                        }
                    }
                }
                user
            }
        };
        let user_id = user.id.clone();
        // The membership: created, or changed under the invariants.
        match &member {
            None => {
                let mut row = new_membership(
                    &self.org,
                    &user,
                    record.role.unwrap_or(Role::User),
                    record.external_id.clone(),
                    effect.new_user.is_some(),
                );
                if let Some(changes) = &effect.user_changes {
                    if let Some(key) = &changes.name_key {
                        row.user_name_key = key.clone();
                    }
                    if let Some(email) = &changes.email {
                        row.user_email = email.clone();
                    }
                }
                row.idp_user_name = record.idp_user_name.clone().flatten();
                if record.status == Some(MemberStatus::Retired) {
                    row.status = MemberStatus::Retired.as_str().into();
                    row.retired_at = Some(at);
                }
                if let Some(attributes) = &record.attributes {
                    row.attributes = attributes.clone();
                }
                if let Some(own) = own_profile {
                    own.apply_to(&mut row);
                }
                if record.send_invite && wants_invitation(&row, at) {
                    effect.invitation = Some(issue_on_new(&mut row, at, &self.invites));
                }
                effect.new_membership = Some(row);
            }
            Some(current) => {
                let mut changes = self.membership_changes(current, record, at)?;
                if let Some(own) = &own_changes {
                    add_own_profile_changes(&mut changes, own);
                }
                let active_after = changes.status.as_deref().unwrap_or(current.status.as_str())
                    == MemberStatus::Active.as_str();
                if record.send_invite && active_after && invitation_lapsed(current, at) {
                    effect.invitation =
                        Some(issue_on_change(current, &mut changes, at, &self.invites));
                }
                if !changes.is_empty() || effect.user_changes.is_some() {
                    let mut changes = changes;
                    changes.updated_at = Some(at);
                    effect.membership_changes = Some(changes);
                }
            }
        }
        if let Some(wanted) = &record.groups {
            let current = self.member_groups.get(&user_id);
            let mut wanted_ids = HashSet::new();
            for key in wanted {
                let group = self.groups_by_key.get(key).ok_or_else(|| {
                    Error::not_found(format!("this org has no group named \"{key}\""))
                })?;
                wanted_ids.insert(group.id.as_str());
                if !current.is_some_and(|c| c.contains_key(&group.id)) {
                    effect
                        .group_additions
                        .push(new_group_member(group, &user_id));
                }
            }
            if let Some(current) = current {
                let mut removals: Vec<String> = current
                    .keys()
                    .filter(|g| !wanted_ids.contains(g.as_str()))
                    .cloned()
                    .collect();
                removals.sort();
                effect.group_removals = removals;
            }
        }
        let change = if effect.new_membership.is_some() {
            Change::Created
        } else if effect.membership_changes.is_some()
            || !effect.group_additions.is_empty()
            || !effect.group_removals.is_empty()
        {
            Change::Updated
        } else {
            Change::Unchanged
        };
        Ok((user_id, change, effect))
    }

    /// The profile fields a record would change, and their names.
    fn profile_changes(
        &self,
        user: &UserRow,
        record: &Checked,
        editable: bool,
    ) -> Result<(UserChanges, Vec<&'static str>)> {
        let mut changes = UserChanges::default();
        let mut differing = Vec::new();
        if let Some(email) = record.email.as_ref().filter(|e| **e != user.email) {
            // Only reachable when the record is keyed by externalId.
            if editable && let Some(holder) = self.users_by_email.get(email) {
                self.may_take_email(email, holder)?;
            }
            changes.email = Some(email.clone());
            differing.push("email");
        }
        let first = record
            .first_name
            .as_ref()
            .filter(|f| **f != user.first_name);
        let last = record.last_name.as_ref().filter(|l| **l != user.last_name);
        if let Some(first) = first {
            changes.first_name = Some(first.clone());
            differing.push("firstName");
        }
        if let Some(last) = last {
            changes.last_name = Some(last.clone());
            differing.push("lastName");
        }
        // A display name that was the default follows the names it came from.
        let name = record.name.clone().or_else(|| {
            let was_default = user.name == display_name(&user.first_name, &user.last_name);
            (was_default && (first.is_some() || last.is_some())).then(|| {
                display_name(
                    first.unwrap_or(&user.first_name),
                    last.unwrap_or(&user.last_name),
                )
            })
        });
        if let Some(name) = name.filter(|n| *n != user.name) {
            changes.name_key = Some(search_key(&name));
            changes.name = Some(name);
            if record.name.is_some() {
                differing.push("name");
            }
        }
        if let Some(mobile) = &record.mobile
            && mobile.as_ref().map(|m| &m.display) != user.mobile.as_ref()
        {
            changes.mobile = Some(mobile.as_ref().map(|m| m.display.clone()));
            changes.mobile_normalized = Some(mobile.as_ref().map(|m| m.normalized.clone()));
            differing.push("mobile");
        }
        if let Some(locale) = record.locale.as_ref().filter(|l| **l != user.locale) {
            changes.locale = Some(locale.clone());
            differing.push("locale");
        }
        if let Some(tz) = record.timezone.as_ref().filter(|t| **t != user.timezone) {
            changes.timezone = Some(tz.clone());
            differing.push("timezone");
        }
        Ok((changes, differing))
    }

    /// The membership fields a record would change, refused when they break
    /// SELF_ACTION or LAST_ADMIN.
    pub(super) fn membership_changes(
        &self,
        current: &MembershipRow,
        record: &Checked,
        at: chrono::NaiveDateTime,
    ) -> Result<MembershipChanges> {
        let mut changes = MembershipChanges::default();
        let (old_role, old_status) = (
            Role::from_db(&current.role),
            MemberStatus::from_db(&current.status),
        );
        let new_role = record.role.unwrap_or(old_role);
        let new_status = record.status.unwrap_or(old_status);
        let change = PowerChange::of((old_role, old_status), (new_role, new_status));
        self.may_change_power(&current.user_id, change, "demote or retire")?;
        if new_role != old_role {
            changes.role = Some(new_role.as_str().into());
        }
        if new_status != old_status {
            changes.status = Some(new_status.as_str().into());
            changes.retired_at = Some((new_status == MemberStatus::Retired).then_some(at));
        }
        if let Some(external_id) = &record.external_id
            && current.external_id.as_ref() != Some(external_id)
        {
            changes.external_id = Some(Some(external_id.clone()));
        }
        if record.clear_external_id && current.external_id.is_some() {
            changes.external_id = Some(None);
        }
        if let Some(user_name) = record
            .idp_user_name
            .as_ref()
            .filter(|n| **n != current.idp_user_name)
        {
            changes.idp_user_name = Some(user_name.clone());
        }
        if let Some(attributes) = record
            .attributes
            .as_ref()
            .filter(|a| **a != current.attributes)
        {
            changes.attributes = Some(attributes.clone());
        }
        Ok(changes)
    }

    /// SELF_ACTION and LAST_ADMIN for a change of `user`'s rights.
    pub(super) fn may_change_power(
        &self,
        user: &str,
        change: PowerChange,
        action: &str,
    ) -> Result<()> {
        check_self_action(self.is_caller(user), self.operator, change, action)?;
        check_last_admin(
            change,
            self.active_admins.contains(user),
            self.active_admins.iter().any(|admin| admin != user),
        )
    }

    /// SELF_ACTION and LAST_ADMIN for demoting, retiring or removing `user`.
    pub(super) fn may_remove_admin_power(&self, user: &str, action: &str) -> Result<()> {
        self.may_change_power(user, PowerChange::removal(), action)
    }

    fn is_caller(&self, user: &str) -> bool {
        self.caller.as_deref() == Some(user)
    }

    /// Whether a member may take `email`, which the user `holder` has.
    /// Within the org the answer is plain. An address held outside it gets
    /// one generic refusal, logged for operators, and none in a dry run:
    /// emails are globally unique, so a real change must fail, but a
    /// report need not tell what other orgs hold.
    fn may_take_email(&self, email: &str, holder: &str) -> Result<()> {
        if self.members.contains_key(holder) {
            return Err(Error::Duplicate(format!(
                "{email} is already the email of another member of this org"
            )));
        }
        if self.dry_run {
            return Ok(());
        }
        tracing::warn!(
            org = %self.org,
            "an email change was refused: the address belongs to a user outside this org"
        );
        Err(Error::Duplicate(EMAIL_UNAVAILABLE.into()))
    }

    fn user_by_email(&self, email: &str) -> Option<UserRow> {
        let id = self.users_by_email.get(email)?;
        self.users_by_id.get(id).cloned()
    }

    /// Writes what the plan decided, in batches, in the caller's
    /// transaction, with the events drafted as it was planned.
    pub(super) fn apply(mut self, tx: &mut Tx<'_>) -> Result<()> {
        let org = self.org.clone();
        let mut writes = std::mem::take(&mut self.writes);
        // Changes first: an email one record moves away may be the email of
        // a user another record creates.
        tx.apply_planned(&org, &writes.user_changes, &[], &[])?;
        let new_users: Vec<UserRow> = writes
            .new_users
            .iter()
            .filter_map(|id| self.users_by_id.remove(id))
            .collect();
        let new_memberships: Vec<MembershipRow> = writes
            .new_memberships
            .iter()
            .filter_map(|id| self.members.remove(id))
            .collect();
        tx.create_members(&new_users, &new_memberships)?;
        drop((new_users, new_memberships));
        tx.apply_planned(
            &org,
            &[],
            &writes.membership_changes,
            &writes.group_removals,
        )?;
        tx.add_many_to_groups(&writes.group_additions)?;
        tx.record_all(std::mem::take(&mut writes.events));
        tx.issue_invitations(&org, &self.who, &writes.invitations, &self.invites)?;
        Ok(())
    }

    /// Takes a record's effect into the plan, drafting its events.
    pub(super) fn commit(&mut self, user_id: &str, effect: Effect) {
        self.draft_events(user_id, &effect);
        if let Some(issue) = effect.invitation {
            self.writes.invitations.push(issue);
        }
        if let Some(user) = effect.new_user {
            self.users_by_email
                .insert(user.email.clone(), user.id.clone());
            self.writes.new_users.push(user.id.clone());
            self.users_by_id.insert(user.id.clone(), user);
        }
        if let Some(changes) = effect.user_changes {
            if let Some(user) = self.users_by_id.get_mut(user_id) {
                if let Some(email) = &changes.email {
                    self.users_by_email.remove(&user.email);
                    self.users_by_email
                        .insert(email.clone(), user_id.to_owned());
                    user.email = email.clone();
                }
                apply_user_changes(user, &changes);
            }
            self.writes.user_changes.push((user_id.to_owned(), changes));
        }
        if let Some(row) = effect.new_membership {
            if let Some(e) = &row.external_id {
                self.by_external_id.insert(e.clone(), user_id.to_owned());
            }
            if row.role == Role::Admin.as_str() && row.status == MemberStatus::Active.as_str() {
                self.active_admins.insert(user_id.to_owned());
            }
            self.members.insert(user_id.to_owned(), row);
            self.writes.new_memberships.push(user_id.to_owned());
        }
        if let Some(changes) = effect.membership_changes {
            if let Some(member) = self.members.get_mut(user_id) {
                if let Some(Some(e)) = &changes.external_id {
                    if let Some(old) = &member.external_id {
                        self.by_external_id.remove(old);
                    }
                    self.by_external_id.insert(e.clone(), user_id.to_owned());
                    member.external_id = Some(e.clone());
                }
                if let Some(user_name) = &changes.idp_user_name {
                    member.idp_user_name = user_name.clone();
                }
                if let Some(role) = &changes.role {
                    member.role = role.clone();
                }
                if let Some(status) = &changes.status {
                    member.status = status.clone();
                }
                if let Some(attributes) = &changes.attributes {
                    member.attributes = attributes.clone();
                }
                if let Some(status) = &changes.invitation_status {
                    member.invitation_status = status.clone();
                }
                if let Some(expires) = &changes.invitation_expires_at {
                    member.invitation_expires_at = *expires;
                }
                apply_own_profile_changes(member, &changes);
                if member.role == Role::Admin.as_str()
                    && member.status == MemberStatus::Active.as_str()
                {
                    self.active_admins.insert(user_id.to_owned());
                } else {
                    self.active_admins.remove(user_id);
                }
            }
            self.writes
                .membership_changes
                .push((user_id.to_owned(), changes));
        }
        if effect.group_removals.is_empty() && effect.group_additions.is_empty() {
            return;
        }
        let groups = self.member_groups.entry(user_id.to_owned()).or_default();
        for group in effect.group_removals {
            groups.remove(&group);
            self.writes.group_removals.push((user_id.to_owned(), group));
        }
        for row in effect.group_additions {
            groups.insert(row.group_id.clone(), row.role.clone());
            self.writes.group_additions.push(row);
        }
    }

    /// The events of a record's effect, from the state before it.
    fn draft_events(&mut self, user_id: &str, effect: &Effect) {
        let drafts = &mut self.writes.events;
        if let Some(row) = &effect.new_membership {
            let user = effect.new_user.as_ref().or(self.users_by_id.get(user_id));
            if let Some(user) = user {
                drafts.push(events::member_created(user, row));
            }
        }
        if let (Some(changes), Some(before)) = (&effect.user_changes, self.users_by_id.get(user_id))
        {
            drafts.extend(events::user_updated(&self.org, before, changes));
        }
        if let (Some(changes), Some(before)) =
            (&effect.membership_changes, self.members.get(user_id))
        {
            drafts.extend(events::member_changed(before, changes));
        }
        for group in &effect.group_removals {
            drafts.push(events::group_membership(&self.org, user_id, group, false));
        }
        for row in &effect.group_additions {
            drafts.push(events::group_membership(
                &self.org,
                user_id,
                &row.group_id,
                true,
            ));
        }
    }

    /// Plans retiring an active member (MIRROR), under the invariants.
    pub(super) fn retire(&mut self, user_id: &str) -> Result<()> {
        self.may_remove_admin_power(user_id, "retire")?;
        let at = now();
        let changes = MembershipChanges {
            status: Some(MemberStatus::Retired.as_str().into()),
            retired_at: Some(Some(at)),
            updated_at: Some(at),
            ..Default::default()
        };
        // The membership as it is, for its event; the caller loads it.
        let member = self
            .members
            .get_mut(user_id)
            .ok_or_else(|| Error::Internal("a member to retire was not loaded".into()))?;
        self.writes
            .events
            .extend(events::member_changed(member, &changes));
        member.status = MemberStatus::Retired.as_str().into();
        self.active_admins.remove(user_id);
        self.writes
            .membership_changes
            .push((user_id.to_owned(), changes));
        Ok(())
    }
}

fn apply_user_changes(user: &mut UserRow, changes: &UserChanges) {
    if let Some(v) = &changes.first_name {
        user.first_name = v.clone();
    }
    if let Some(v) = &changes.last_name {
        user.last_name = v.clone();
    }
    if let Some(v) = &changes.name {
        user.name = v.clone();
    }
    if let Some(v) = &changes.name_key {
        user.name_key = v.clone();
    }
    if let Some(v) = &changes.mobile {
        user.mobile = v.clone();
    }
    if let Some(v) = &changes.mobile_normalized {
        user.mobile_normalized = v.clone();
    }
    if let Some(v) = &changes.locale {
        user.locale = v.clone();
    }
    if let Some(v) = &changes.timezone {
        user.timezone = v.clone();
    }
}
