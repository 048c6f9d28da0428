//! The writes of members, users and group memberships, each with its
//! event. Every use case writes these rows through here (single calls,
//! bulk calls and syncs alike), inside a [`Tx`], so that no change goes
//! unrecorded. The rules that decide whether a change may happen live in
//! `rules` (self-action, last admin), in the database (unique keys, the
//! composite foreign keys that keep group members in their org) and in
//! `plan`; see `docs/ARCHITECTURE.md`, "The write path".

use super::events::{self, Tx};
use crate::db::models::{
    GroupMembershipRow, MembershipChanges, MembershipRow, UserChanges, UserRow,
};
use crate::db::{groups, members, users};
use crate::error::Result;

impl Tx<'_> {
    /// Adds a member: the user too when `new_user`. Returns the rows of the
    /// org written (the user row is not counted, so that `records` reads
    /// the same whether or not the email was known elsewhere).
    pub(super) fn create_member(
        &mut self,
        user: &UserRow,
        new_user: bool,
        membership: &MembershipRow,
    ) -> Result<usize> {
        if new_user {
            users::insert(self, user)?;
        }
        let written = members::insert(self, membership)?;
        self.record(events::member_created(user, membership));
        Ok(written)
    }

    /// Adds many members at once (a sync): their new users, then the
    /// memberships. Their events were drafted when they were planned.
    pub(super) fn create_members(
        &mut self,
        new_users: &[UserRow],
        memberships: &[MembershipRow],
    ) -> Result<()> {
        users::insert_many(self, new_users)?;
        members::insert_many(self, memberships)?;
        Ok(())
    }

    /// Changes a membership that reads `before`, only while its version is
    /// `expected` (when given): a concurrent writer that got there first
    /// makes this one a CONFLICT.
    pub(super) fn change_member(
        &mut self,
        before: &MembershipRow,
        changes: &MembershipChanges,
        expected: Option<i64>,
    ) -> Result<usize> {
        let written = members::update(self, &before.org_id, &before.user_id, changes, expected)?;
        if written == 0 {
            return Err(match expected {
                Some(version) => super::rules::stale("member", version),
                // Removed by a concurrent transaction since it was read.
                None => super::rows::member_not_found(),
            });
        }
        self.record_all(events::member_changed(before, changes));
        Ok(written)
    }

    /// Applies changes planned earlier, whose events are already drafted.
    pub(super) fn apply_planned(
        &mut self,
        org: &str,
        user_changes: &[(String, UserChanges)],
        membership_changes: &[(String, MembershipChanges)],
        group_removals: &[(String, String)],
    ) -> Result<()> {
        self.record_seen_elsewhere(org, user_changes)?;
        for (id, changes) in user_changes {
            users::update(self, id, changes)?;
        }
        for (user, changes) in membership_changes {
            members::update(self, org, user, changes, None)?;
        }
        for (user, group) in group_removals {
            groups::remove_member(self, org, group, user)?;
        }
        Ok(())
    }

    /// A change to users' global profiles shows in every other org that
    /// holds them: the email everywhere, the rest where the org shows the
    /// global profile. Each such org gets a `member.updated` of its own,
    /// made by the system, so that it learns nothing of who acted where.
    /// Two statements per few hundred changed users, read before the
    /// change.
    fn record_seen_elsewhere(
        &mut self,
        org: &str,
        user_changes: &[(String, UserChanges)],
    ) -> Result<()> {
        if user_changes.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = user_changes.iter().map(|(id, _)| id.as_str()).collect();
        let elsewhere = members::of_users_elsewhere(self, org, &ids)?;
        if elsewhere.is_empty() {
            return Ok(());
        }
        let held: Vec<&str> = elsewhere.iter().map(|m| m.user_id.as_str()).collect();
        let before: std::collections::HashMap<String, UserRow> = users::with_ids(self, &held)?
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect();
        let changes: std::collections::HashMap<&str, &UserChanges> = user_changes
            .iter()
            .map(|(id, c)| (id.as_str(), c))
            .collect();
        for membership in &elsewhere {
            let (Some(user), Some(change)) = (
                before.get(&membership.user_id),
                changes.get(membership.user_id.as_str()),
            ) else {
                continue;
            };
            self.record_all(events::seen_elsewhere(membership, user, change));
        }
        Ok(())
    }

    /// Removes a membership and its group memberships; a user left in no
    /// org is deleted too. The user row is locked first, so that another
    /// org linking this user waits for the answer instead of losing it.
    /// False when a concurrent transaction removed it first.
    pub(super) fn remove_member(
        &mut self,
        user: &UserRow,
        membership: &MembershipRow,
    ) -> Result<bool> {
        users::lock(self, &user.id)?;
        // Their group memberships go with them: those groups change.
        groups::touch_groups_of(self, &membership.org_id, &user.id)?;
        if members::delete(self, &membership.org_id, &user.id)? == 0 {
            return Ok(false);
        }
        if !members::has_any(self, &user.id)? {
            users::delete(self, &user.id)?;
        }
        self.record(events::member_removed(user, membership));
        Ok(true)
    }

    /// Puts a member in a group.
    pub(super) fn add_to_group(&mut self, row: &GroupMembershipRow) -> Result<usize> {
        let written = groups::add_member(self, row)?;
        self.record(events::group_membership(
            &row.org_id,
            &row.user_id,
            &row.group_id,
            true,
        ));
        Ok(written)
    }

    /// Adds many group memberships (their events drafted when planned).
    pub(super) fn add_many_to_groups(&mut self, rows: &[GroupMembershipRow]) -> Result<usize> {
        Ok(groups::add_many(self, rows)?)
    }

    /// Takes a member out of a group; 0 when they were not in it.
    pub(super) fn remove_from_group(
        &mut self,
        org: &str,
        group: &str,
        user: &str,
    ) -> Result<usize> {
        let written = groups::remove_member(self, org, group, user)?;
        if written > 0 {
            self.record(events::group_membership(org, user, group, false));
        }
        Ok(written)
    }
}
