//! `upsertMember` and `syncMembers`: one record, or a whole directory, run
//! through the [planner](super::plan) in one transaction.

use std::collections::HashSet;

use super::directory::with_groups;
use super::events::{Draft, Tx, kind};
pub use super::plan::MemberRecord;
use super::plan::{Admins, Checked, Failure, Plan, check};
use super::rows::ensure_org;
use super::views::MemberView;
use super::{Change, Finish, Service};
use crate::auth::{Principal, Scope};
use crate::db::members;
use crate::domain::{Email, OrgId, UserId};
use crate::error::{Error, Result};

/// At most this many records in one `syncMembers` call.
pub const MAX_SYNC_RECORDS: usize = 100_000;

/// Records planned and written together in a sync (see `sync_members`).
const SYNC_CHUNK: usize = 1000;

/// `upsertMember`'s input.
#[derive(Debug, Clone, Default)]
pub struct UpsertMember {
    pub org: Option<OrgId>,
    pub record: MemberRecord,
    /// Change the member only while it is at this version (else CONFLICT,
    /// also when there is no such member yet).
    pub if_version: Option<i64>,
    /// Only add a member: one the record names already is DUPLICATE.
    pub create_only: bool,
}

/// What `upsertMember` did.
#[derive(Debug, Clone)]
pub struct Upserted {
    pub change: Change,
    pub created: bool,
    pub member: MemberView,
    pub ignored_fields: Vec<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    #[default]
    Merge,
    Mirror,
}

/// `syncMembers`' input.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub org: Option<OrgId>,
    pub records: Vec<MemberRecord>,
    pub mode: SyncMode,
    /// ABORT (`false`): nothing is written when any record fails.
    pub skip_failed: bool,
    pub dry_run: bool,
}

/// One record's outcome.
#[derive(Debug, Clone)]
pub struct RecordResult {
    pub index: usize,
    pub email: String,
    pub user_id: Option<UserId>,
    pub outcome: std::result::Result<Change, Failure>,
    pub ignored_fields: Vec<&'static str>,
}

/// A MIRROR retirement, done or refused.
#[derive(Debug, Clone)]
pub struct Retirement {
    pub user_id: UserId,
    pub outcome: std::result::Result<(), Failure>,
}

/// What `syncMembers` did (or, unwritten, would do).
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub dry_run: bool,
    pub written: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub retired: usize,
    pub failed: usize,
    pub results: Vec<RecordResult>,
    pub retirements: Vec<Retirement>,
}

/// A sync record checked: it needs an email.
fn check_sync_record(record: &MemberRecord) -> Result<Checked> {
    if record.email.as_deref().is_none_or(|e| e.trim().is_empty()) {
        return Err(Error::invalid("every sync record needs an email"));
    }
    check(record.clone())
}

fn needs_groups_write(records: &[MemberRecord]) -> bool {
    records.iter().any(|r| r.groups.is_some())
}

impl Service {
    /// `upsertMember`: finds the member by externalId (when given) or email
    /// and creates or updates them, in one transaction.
    pub async fn upsert_member(&self, who: &Principal, input: UpsertMember) -> Result<Upserted> {
        let org = who.org_with(input.org, Scope::MembersWrite)?;
        if input.record.groups.is_some() {
            who.require(Scope::GroupsWrite)?;
        }
        let record = check(input.record)?;
        let if_version = input.if_version;
        let create_only = input.create_only;
        let touches_rights = record.role.is_some() || record.status.is_some();
        let who = who.clone();
        let invites = self.invites.clone();
        let done = self
            .write(&who.clone(), move |conn| {
                ensure_org(conn, org)?;
                if let Some(expected) = if_version {
                    // Locked until the commit, so that no concurrent write
                    // moves the version between this check and the change.
                    let current = members::lock_version(
                        conn,
                        &org.as_db(),
                        record.user_id.as_deref(),
                        record.external_id.as_deref(),
                        record.email.as_deref(),
                    )?
                    .ok_or_else(|| super::rules::stale("member", expected))?;
                    super::rules::check_version("member", current, Some(expected))?;
                }
                let guard = Admins::when(record.role.is_some() || record.status.is_some(), false);
                let mut plan = Plan::load(conn, org, &who, &[&record], guard, &invites)?;
                if create_only && plan.resolve(&record)?.1.is_some() {
                    return Err(Error::Duplicate(
                        "a member with this email or externalId is already in this org".into(),
                    ));
                }
                let (user_id, change, effect) = plan.effect(&record)?;
                let ignored_fields = effect.ignored.clone();
                plan.commit(&user_id, effect);
                let org_db = org.as_db();
                plan.apply(conn)?;
                let member =
                    members::member(conn, &org_db, members::MemberBy::UserId(&user_id))?
                        .ok_or_else(|| Error::Internal("an upserted member vanished".into()))?;
                let member = with_groups(conn, &org_db, vec![member], true)?
                    .pop()
                    .ok_or_else(|| Error::Internal("an upserted member vanished".into()))?;
                Ok(Upserted {
                    change,
                    created: change == Change::Created,
                    member,
                    ignored_fields,
                })
            })
            .await;
        if touches_rights {
            self.member_rights_may_have_changed(&done);
        }
        done
    }

    /// `syncMembers`: every record an upsert, MIRROR retiring the rest, in
    /// one transaction; ABORT writes nothing when a record fails.
    pub async fn sync_members(&self, who: &Principal, request: SyncRequest) -> Result<SyncReport> {
        let org = who.org_with(request.org, Scope::MembersWrite)?;
        if needs_groups_write(&request.records) {
            who.require(Scope::GroupsWrite)?;
        }
        if request.records.len() > MAX_SYNC_RECORDS {
            return Err(Error::invalid(format!(
                "one call may carry at most {MAX_SYNC_RECORDS} records; split the directory"
            )));
        }
        if request.mode == SyncMode::Mirror && request.records.is_empty() {
            return Err(Error::invalid(
                "MIRROR with no records would retire everyone; send at least one record",
            ));
        }
        // In their stored form where they parse, so that MIRROR knows a
        // member whose record fails by any spelling of their address.
        let emails: Vec<String> = request
            .records
            .iter()
            .map(|r| {
                let email = r.email.as_deref().unwrap_or_default();
                Email::parse(email)
                    .map(Email::into_inner)
                    .unwrap_or_else(|_| email.trim().to_lowercase())
            })
            .collect();
        // Who each record names, read before validation: MIRROR keeps a
        // member whose record fails, whatever the reason.
        let named_external_ids: HashSet<String> = request
            .records
            .iter()
            .filter_map(|r| r.external_id.as_deref().map(str::trim))
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        let can_remove_power = request.mode == SyncMode::Mirror
            || request
                .records
                .iter()
                .any(|r| r.role.is_some() || r.status.is_some());
        let records = request.records;
        let (mode, skip_failed, dry_run) = (request.mode, request.skip_failed, request.dry_run);
        // An ABORT call with a record that fails its checks will write
        // nothing: it is planned like a dry run (one read transaction, no
        // write lock) and only reported. Each record is checked again as
        // its chunk is planned; this pass keeps nothing.
        let plan_only =
            dry_run || (!skip_failed && records.iter().any(|r| check_sync_record(r).is_err()));
        let who_outer = who.clone();
        let who = who.clone();
        let invites = self.invites.clone();
        let work = move |conn: &mut Tx<'_>| -> Result<Finish<SyncReport>> {
            ensure_org(conn, org)?;
            let guard = Admins::when(can_remove_power, plan_only);
            // A written sync goes a chunk at a time: each chunk is planned
            // on the state the chunks before it wrote (in this same
            // transaction) and written with its events, so that what is
            // held is one chunk's plan, not the directory's. A call that
            // only reports writes nothing for later chunks to see, so it
            // plans all the records at once.
            let chunk = if plan_only {
                records.len().max(1)
            } else {
                SYNC_CHUNK
            };
            let mut report = SyncReport {
                dry_run,
                results: Vec::with_capacity(records.len()),
                ..Default::default()
            };
            let mut seen_emails = HashSet::new();
            let mut seen_external_ids = HashSet::new();
            let mut present: HashSet<String> = HashSet::new();
            let mut created_ids: Vec<(usize, String)> = Vec::new();
            // The org's active admins are read (and on PostgreSQL locked)
            // once; each chunk's plan then carries them on, as changed.
            let mut admins: Option<HashSet<String>> = None;
            let load = |conn: &mut Tx<'_>, valid: &[&Checked], admins: &mut Option<_>| {
                let known: Option<HashSet<String>> = admins.take();
                let reads = if known.is_some() { Admins::Skip } else { guard };
                Plan::load(conn, org, &who, valid, reads, &invites).map(|mut plan| {
                    if let Some(known) = known {
                        plan.active_admins = known;
                    }
                    plan.dry_run = plan_only;
                    plan
                })
            };
            for (chunk_index, slice) in records.chunks(chunk).enumerate() {
                let checked: Vec<Result<Checked>> = slice.iter().map(check_sync_record).collect();
                let valid: Vec<&Checked> = checked.iter().filter_map(|c| c.as_ref().ok()).collect();
                let mut plan = load(conn, &valid, &mut admins)?;
                for (offset, record) in checked.iter().enumerate() {
                    let index = chunk_index * chunk + offset;
                    let mut result = RecordResult {
                        index,
                        email: emails[index].clone(),
                        user_id: None,
                        outcome: Ok(Change::Unchanged),
                        ignored_fields: Vec::new(),
                    };
                    let outcome = record.as_ref().map_err(Failure::from).and_then(
                        |record| -> std::result::Result<Change, Failure> {
                            // Whoever a record names stays, even when it fails.
                            if let Ok((Some(user), _)) = plan.resolve(record) {
                                present.insert(user.id);
                            }
                            let email = record.email.clone().unwrap_or_default();
                            if !seen_emails.insert(email.clone()) {
                                return Err(Failure::from(&Error::Duplicate(format!(
                                    "{email} appears in an earlier record of this call"
                                ))));
                            }
                            if let Some(e) = &record.external_id
                                && !seen_external_ids.insert(e.clone())
                            {
                                return Err(Failure::from(&Error::Duplicate(format!(
                                    "externalId \"{e}\" appears in an earlier record of this call"
                                ))));
                            }
                            let (user_id, change, effect) =
                                plan.effect(record).map_err(|e| Failure::from(&e))?;
                            result.ignored_fields = effect.ignored.clone();
                            plan.commit(&user_id, effect);
                            present.insert(user_id.clone());
                            if change != Change::Created {
                                let id = UserId::from_db(&user_id)
                                    .map_err(|e| Failure::from(&Error::from(e)))?;
                                result.user_id = Some(id);
                            } else {
                                created_ids.push((result.index, user_id));
                            }
                            Ok(change)
                        },
                    );
                    match &outcome {
                        Ok(Change::Created) => report.created += 1,
                        Ok(Change::Updated) => report.updated += 1,
                        Ok(Change::Unchanged) => report.unchanged += 1,
                        Err(_) => report.failed += 1,
                    }
                    result.outcome = outcome;
                    report.results.push(result);
                }
                admins = Some(std::mem::take(&mut plan.active_admins));
                if !plan_only {
                    plan.apply(conn)?;
                    conn.flush(&who)?;
                }
            }
            if mode == SyncMode::Mirror {
                let named_emails: HashSet<&str> = emails.iter().map(String::as_str).collect();
                let mut absent: Vec<String> = members::active_members(conn, &org.as_db())?
                    .into_iter()
                    .filter(|m| {
                        !present.contains(&m.user_id)
                            && !named_emails.contains(m.user_email.as_str())
                            && !m
                                .external_id
                                .as_ref()
                                .is_some_and(|e| named_external_ids.contains(e))
                    })
                    .map(|m| m.user_id)
                    .collect();
                absent.sort();
                for slice in absent.chunks(SYNC_CHUNK) {
                    let mut plan = load(conn, &[], &mut admins)?;
                    // Their memberships, as they are, for the retirements'
                    // events.
                    let ids: Vec<&str> = slice.iter().map(String::as_str).collect();
                    for row in members::of_users(conn, &plan.org, &ids)? {
                        plan.members.entry(row.user_id.clone()).or_insert(row);
                    }
                    for user_id in slice {
                        // A refused retirement is reported but is not a
                        // failed record: it does not stop an ABORT sync
                        // from writing.
                        let outcome = plan.retire(user_id).map_err(|e| Failure::from(&e));
                        if outcome.is_ok() {
                            report.retired += 1;
                        }
                        report.retirements.push(Retirement {
                            user_id: UserId::from_db(user_id)?,
                            outcome,
                        });
                    }
                    admins = Some(std::mem::take(&mut plan.active_admins));
                    if !plan_only {
                        plan.apply(conn)?;
                        conn.flush(&who)?;
                    }
                }
            }
            let write = !plan_only && (skip_failed || report.failed == 0);
            report.written = write;
            if !write {
                // A call that only reported wrote nothing; an ABORT with a
                // record failed in planning undoes the chunks it wrote.
                return Ok(if plan_only {
                    Finish::Commit(report)
                } else {
                    Finish::RollBack(report)
                });
            }
            if report.created + report.updated + report.retired > 0 {
                let org_db = org.as_db();
                conn.record(
                    Draft::new(Some(&org_db), kind::MEMBERS_SYNCED, "org", &org_db)
                        .set("mode", format!("{mode:?}").to_uppercase())
                        .set("created", report.created)
                        .set("updated", report.updated)
                        .set("unchanged", report.unchanged)
                        .set("retired", report.retired)
                        .set("failed", report.failed),
                );
            }
            // Only a member really added is named: unwritten (a dry
            // run, an ABORT), the id of a user known from another org
            // is not the caller's to learn.
            for (index, user_id) in created_ids {
                report.results[index].user_id = Some(UserId::from_db(&user_id)?);
            }
            Ok(Finish::Commit(report))
        };
        if plan_only {
            // A report takes no write lock: one read transaction, so that
            // it sees one state of the org.
            self.read(move |conn| {
                diesel::Connection::transaction(conn, |conn| {
                    work(&mut Tx::new(conn)).map(Finish::into_inner)
                })
            })
            .await
        } else {
            let done = self.write_or_roll_back(&who_outer, work).await;
            self.member_rights_may_have_changed(&done);
            done
        }
    }
}
