//! Bulk status changes and removals: many members in one transaction,
//! each checked against the invariants in the order given.

use std::collections::{HashMap, HashSet};

use super::plan::{Admins, Checked, Effect, Failure, Plan};
use super::profile::name_seen_by_org;
use super::rows::ensure_org;
use super::{Service, now};
use crate::auth::{Principal, Scope};
use crate::db::models::UserRow;
use crate::db::{DbConn, members, users};
use crate::domain::{MemberStatus, OrgId, UserId};
use crate::error::{Error, Result};

/// A member a bulk call could not act on, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub user_id: UserId,
    pub name: Option<String>,
    pub error: Failure,
}

/// What `setMembersStatus` did.
#[derive(Debug, Clone, Default)]
pub struct StatusReport {
    pub succeeded: Vec<UserId>,
    pub failed: Vec<Skipped>,
}

/// What `removeMembers` did.
#[derive(Debug, Clone, Default)]
pub struct RemovalReport {
    pub removed: Vec<UserId>,
    pub skipped: Vec<Skipped>,
}

/// The ids as given, each once, in their first order.
fn distinct(ids: Vec<UserId>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.into_iter()
        .map(|id| id.as_db())
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// At most this many ids in one bulk call.
pub const MAX_BULK_IDS: usize = 10_000;

fn not_member() -> Error {
    Error::not_found("no member with this id in this org")
}

impl Skipped {
    fn new(user_id: &str, name: Option<String>, error: &Error) -> Result<Self> {
        Ok(Self {
            user_id: UserId::from_db(user_id)?,
            name,
            error: Failure::from(error),
        })
    }
}

/// The plan of a bulk call: the org's active admins (locked) and the
/// memberships of the named users who are members.
pub(super) fn load_members(
    conn: &mut DbConn,
    org: OrgId,
    who: &Principal,
    ids: &[String],
) -> Result<Plan> {
    ensure_org(conn, org)?;
    if ids.len() > 1 {
        crate::db::plan_each_statement(conn)?;
    }
    // Status changes and removals issue no invitations.
    let mut plan = Plan::load(conn, org, who, &[], Admins::Lock, &Default::default())?;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    plan.members = members::of_users(conn, &plan.org, &refs)?
        .into_iter()
        .map(|m| (m.user_id.clone(), m))
        .collect();
    Ok(plan)
}

impl Service {
    /// The org and the distinct ids of a bulk call, checked.
    fn bulk_call(
        who: &Principal,
        org: Option<OrgId>,
        ids: Vec<UserId>,
    ) -> Result<(OrgId, Vec<String>, Principal)> {
        let org = who.org_with(org, Scope::MembersWrite)?;
        if ids.len() > MAX_BULK_IDS {
            return Err(Error::invalid(format!(
                "one call may name at most {MAX_BULK_IDS} members"
            )));
        }
        Ok((org, distinct(ids), who.clone()))
    }

    /// `setMembersStatus`: retires or reactivates members in one
    /// transaction, in the order given, skipping (and reporting) those the
    /// invariants protect. Group memberships stay through retirement.
    pub async fn set_members_status(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        ids: Vec<UserId>,
        status: MemberStatus,
    ) -> Result<StatusReport> {
        let (org, ids, who) = Self::bulk_call(who, org, ids)?;
        let done = self
            .write(&who.clone(), move |conn| {
                let mut plan = load_members(conn, org, &who, &ids)?;
                let record = Checked {
                    status: Some(status),
                    ..Default::default()
                };
                let mut report = StatusReport::default();
                for id in &ids {
                    let Some(member) = plan.members.get(id).cloned() else {
                        report.failed.push(Skipped::new(id, None, &not_member())?);
                        continue;
                    };
                    match plan.membership_changes(&member, &record, now()) {
                        Ok(mut changes) => {
                            if !changes.is_empty() {
                                changes.updated_at = Some(now());
                                let effect = Effect {
                                    membership_changes: Some(changes),
                                    ..Default::default()
                                };
                                plan.commit(id, effect);
                            }
                            report.succeeded.push(UserId::from_db(id)?);
                        }
                        Err(error) => report.failed.push(Skipped::new(id, None, &error)?),
                    }
                }
                plan.apply(conn)?;
                Ok(report)
            })
            .await;
        self.member_rights_may_have_changed(&done);
        done
    }

    /// `removeMembers`: deletes memberships (and their group memberships)
    /// in one transaction, skipping unknown ids, the caller and the last
    /// active admin. A user left in no org at all is deleted too.
    pub async fn remove_members(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        ids: Vec<UserId>,
    ) -> Result<RemovalReport> {
        let (org, ids, who) = Self::bulk_call(who, org, ids)?;
        let done = self
            .write(&who.clone(), move |conn| {
                let mut plan = load_members(conn, org, &who, &ids)?;
                let found: Vec<&str> = plan.members.keys().map(String::as_str).collect();
                let users: HashMap<String, UserRow> = users::with_ids(conn, &found)?
                    .into_iter()
                    .map(|u| (u.id.clone(), u))
                    .collect();
                let name = |id: &str| {
                    let (user, m) = (users.get(id)?, plan.members.get(id)?);
                    Some(name_seen_by_org(
                        m.own_profile,
                        m.profile_name.clone(),
                        user.name.clone(),
                    ))
                };
                let mut report = RemovalReport::default();
                for id in &ids {
                    if !plan.members.contains_key(id) {
                        report.skipped.push(Skipped::new(id, None, &not_member())?);
                        continue;
                    }
                    if let Err(error) = plan.may_remove_admin_power(id, "remove") {
                        report.skipped.push(Skipped::new(id, name(id), &error)?);
                        continue;
                    }
                    plan.active_admins.remove(id);
                    let removed = match (users.get(id), plan.members.get(id)) {
                        (Some(user), Some(membership)) => conn.remove_member(user, membership)?,
                        _ => false,
                    };
                    if !removed {
                        report.skipped.push(Skipped::new(id, None, &not_member())?);
                        continue;
                    }
                    report.removed.push(UserId::from_db(id)?);
                }
                Ok(report)
            })
            .await;
        self.member_rights_may_have_changed(&done);
        done
    }
}
