//! Groups inside an org and who is in them.

use super::Tx;
use super::events::{self, Draft, kind};
use super::rows::{ensure_org, member_not_found, new_group_member};
use super::rules::{check_version, stale};
use super::views::{GroupUserView, GroupView};
use super::{Change, Outcome, Page, PageRequest, Service, into_page, now};
use crate::auth::{Principal, Scope};
use crate::db::models::{GroupChanges, GroupRow};
use crate::db::{DbConn, groups, members};
use crate::domain::{GroupId, GroupName, OrgId, UserId, optional_text};
use crate::error::{Error, Result};
use std::collections::HashSet;

/// `groupUsers` with neither a group nor a user returns at most this many.
pub const GROUP_USERS_LIMIT: i64 = 500;

/// `createGroup`'s input.
#[derive(Debug, Default, Clone)]
pub struct GroupInput {
    pub org: Option<OrgId>,
    pub name: String,
    pub description: Option<String>,
}

/// `updateGroup`'s input: `None` leaves a field as it is; an empty
/// description clears it.
#[derive(Debug, Default, Clone)]
pub struct GroupUpdate {
    pub org: Option<OrgId>,
    pub id: GroupId,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Change it only while it is at this version (else CONFLICT).
    pub if_version: Option<i64>,
}

const DESCRIPTION_MAX: usize = 2000;

fn group_not_found() -> Error {
    Error::not_found("no group with this id in this org")
}

fn find_group(conn: &mut DbConn, org: &str, group: GroupId) -> Result<GroupRow> {
    groups::find(conn, org, &group.as_db())?.ok_or_else(group_not_found)
}

fn ensure_name_free(conn: &mut DbConn, org: &str, key: &str, except: Option<&str>) -> Result<()> {
    match groups::find_by_key(conn, org, key)? {
        Some(group) if Some(group.id.as_str()) != except => Err(Error::Duplicate(
            "a group with this name already exists in this org".into(),
        )),
        _ => Ok(()),
    }
}

/// A group's new settings; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub(super) struct GroupSettings {
    /// The name and its key.
    pub(super) name: Option<(String, String)>,
    pub(super) description: Option<Option<String>>,
    pub(super) external_id: Option<Option<String>>,
}

fn ensure_external_id_free(
    conn: &mut DbConn,
    org: &str,
    external_id: &str,
    except: Option<&str>,
) -> Result<()> {
    match groups::find_by_external_id(conn, org, external_id)? {
        Some(group) if Some(group.id.as_str()) != except => Err(Error::Duplicate(
            "a group with this externalId already exists in this org".into(),
        )),
        _ => Ok(()),
    }
}

/// Creates a group, with its event: the one way groups are made.
pub(super) fn insert_group(
    tx: &mut Tx<'_>,
    org: OrgId,
    (name, key): (String, String),
    description: Option<String>,
    external_id: Option<String>,
) -> Result<GroupRow> {
    ensure_org(tx, org)?;
    let org_db = org.as_db();
    ensure_name_free(tx, &org_db, &key, None)?;
    if let Some(external_id) = &external_id {
        ensure_external_id_free(tx, &org_db, external_id, None)?;
    }
    let at = now();
    let row = GroupRow {
        org_id: org_db,
        id: GroupId::new().as_db(),
        name,
        name_key: key,
        description,
        created_at: at,
        updated_at: at,
        version: 1,
        external_id,
    };
    groups::insert(tx, &row)?;
    let mut draft = Draft::new(Some(&row.org_id), kind::GROUP_CREATED, "group", &row.id)
        .set("name", row.name.clone())
        .set("description", row.description.clone());
    if row.external_id.is_some() {
        draft = draft.set("externalId", row.external_id.clone());
    }
    tx.record(draft);
    Ok(row)
}

/// Changes a group's settings, with its event, while at `if_version`
/// (when given); whether anything changed.
pub(super) fn change_group(
    tx: &mut Tx<'_>,
    current: &GroupRow,
    settings: &GroupSettings,
    if_version: Option<i64>,
) -> Result<bool> {
    check_version("group", current.version, if_version)?;
    let org = current.org_id.as_str();
    let mut changes = GroupChanges::default();
    if let Some((name, key)) = &settings.name
        && *name != current.name
    {
        if *key != current.name_key {
            ensure_name_free(tx, org, key, Some(&current.id))?;
        }
        changes.name = Some(name.clone());
        changes.name_key = Some(key.clone());
    }
    if let Some(description) = &settings.description
        && *description != current.description
    {
        changes.description = Some(description.clone());
    }
    if let Some(external_id) = &settings.external_id
        && *external_id != current.external_id
    {
        if let Some(value) = external_id {
            ensure_external_id_free(tx, org, value, Some(&current.id))?;
        }
        changes.external_id = Some(external_id.clone());
    }
    if changes.name.is_none() && changes.description.is_none() && changes.external_id.is_none() {
        return Ok(false);
    }
    changes.updated_at = Some(now());
    if groups::update(tx, org, &current.id, &changes, if_version)? == 0 {
        // A concurrent writer moved the version since it was read.
        return Err(stale("group", if_version.unwrap_or(current.version)));
    }
    let mut draft = Draft::new(Some(org), kind::GROUP_UPDATED, "group", &current.id);
    if let Some(name) = &changes.name {
        draft = draft.change("name", current.name.clone(), name.clone());
    }
    if let Some(description) = &changes.description {
        draft = draft.change(
            "description",
            current.description.clone(),
            description.clone(),
        );
    }
    if let Some(external_id) = &changes.external_id {
        draft = draft.change(
            "externalId",
            current.external_id.clone(),
            external_id.clone(),
        );
    }
    tx.record(draft);
    Ok(true)
}

/// Makes the group's members exactly `wanted` (user ids), adding and
/// removing with an event each; every one must be a member of the org.
pub(super) fn set_group_members(
    tx: &mut Tx<'_>,
    group: &GroupRow,
    wanted: &[String],
) -> Result<()> {
    let org = group.org_id.as_str();
    groups::lock(tx, org, &group.id)?;
    let refs: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let known: HashSet<String> = members::of_users(tx, org, &refs)?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    if let Some(stranger) = wanted.iter().find(|id| !known.contains(*id)) {
        return Err(Error::invalid(format!(
            "{stranger} is not a member of this org"
        )));
    }
    let current: HashSet<String> = groups::member_ids(tx, org, &group.id)?
        .into_iter()
        .collect();
    for user in current.iter().filter(|u| !wanted.contains(u)) {
        tx.remove_from_group(org, &group.id, user)?;
    }
    let mut added = HashSet::new();
    for user in wanted {
        if !current.contains(user) && added.insert(user.clone()) {
            tx.add_to_group(&new_group_member(group, user))?;
        }
    }
    Ok(())
}

/// Deletes a group and its memberships, an event each: the one way groups
/// go.
pub(super) fn remove_group(tx: &mut Tx<'_>, current: &GroupRow) -> Result<usize> {
    let org = current.org_id.as_str();
    // Locked first, so that no membership is added between the read and
    // the delete.
    groups::lock(tx, org, &current.id)?;
    let members = groups::member_ids(tx, org, &current.id)?;
    let deleted = groups::delete(tx, org, &current.id)?;
    tx.record_all(
        members
            .iter()
            .map(|user| events::group_membership(org, user, &current.id, false)),
    );
    tx.record(
        Draft::new(Some(org), kind::GROUP_DELETED, "group", &current.id).change(
            "name",
            current.name.clone(),
            serde_json::Value::Null,
        ),
    );
    Ok(deleted)
}

impl Service {
    pub async fn create_group(&self, who: &Principal, input: GroupInput) -> Result<Outcome> {
        let org = who.org_with(input.org, Scope::GroupsWrite)?;
        let name = GroupName::parse(&input.name)?;
        let description =
            optional_text("description", input.description.as_deref(), DESCRIPTION_MAX)?;
        self.write(who, move |tx| {
            let row = insert_group(tx, org, name.clone(), description.clone(), None)?;
            let id: GroupId = GroupId::from_db(&row.id)?;
            Ok(Outcome::new(id.0, Change::Created, 1))
        })
        .await
    }

    pub async fn update_group(&self, who: &Principal, input: GroupUpdate) -> Result<Outcome> {
        let org = who.org_with(input.org, Scope::GroupsWrite)?;
        let settings = GroupSettings {
            name: input.name.as_deref().map(GroupName::parse).transpose()?,
            description: input
                .description
                .map(|d| optional_text("description", Some(&d), DESCRIPTION_MAX))
                .transpose()?,
            external_id: None,
        };
        let id = input.id;
        let if_version = input.if_version;
        self.write(who, move |tx| {
            let current = find_group(tx, &org.as_db(), id)?;
            Ok(if change_group(tx, &current, &settings, if_version)? {
                Outcome::new(id.0, Change::Updated, 1)
            } else {
                Outcome::unchanged(id.0)
            })
        })
        .await
    }

    /// Deletes a group and its memberships (the members stay in the org).
    pub async fn delete_group(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        id: GroupId,
    ) -> Result<Outcome> {
        let org = who.org_with(org, Scope::GroupsWrite)?;
        self.write(who, move |tx| {
            let current = find_group(tx, &org.as_db(), id)?;
            let deleted = remove_group(tx, &current)?;
            Ok(Outcome::new(id.0, Change::Updated, deleted as i32))
        })
        .await
    }

    pub async fn group(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        id: GroupId,
    ) -> Result<Option<GroupView>> {
        let org = who.org_with(org, Scope::GroupsRead)?;
        self.read(move |conn| {
            groups::find(conn, &org.as_db(), &id.as_db())?
                .map(GroupView::from_row)
                .transpose()
        })
        .await
    }

    /// The org's groups by name; `after` is the previous page's last name
    /// key.
    pub async fn groups(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        q: Option<String>,
        page: PageRequest,
    ) -> Result<Page<GroupView>> {
        let org = who.org_with(org, Scope::GroupsRead)?;
        let q = super::search_query(q)?;
        self.read(move |conn| {
            let org_db = org.as_db();
            let rows = groups::list(
                conn,
                &org_db,
                q.as_deref(),
                page.after.as_deref(),
                page.limit(),
            )?;
            let total = if page.with_total {
                Some(groups::count(conn, &org_db, q.as_deref())?)
            } else {
                None
            };
            let views = rows
                .into_iter()
                .map(GroupView::from_row)
                .collect::<Result<_>>()?;
            Ok(into_page(views, &page, total))
        })
        .await
    }

    pub async fn add_group_membership(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        user: UserId,
        group: GroupId,
    ) -> Result<Outcome> {
        let org = who.org_with(org, Scope::GroupsWrite)?;
        self.write(who, move |conn| {
            let (org_db, user_db) = (org.as_db(), user.as_db());
            let group = find_group(conn, &org_db, group)?;
            members::find(conn, &org_db, &user_db)?.ok_or_else(member_not_found)?;
            if groups::is_member(conn, &org_db, &group.id, &user_db)? {
                return Ok(Outcome::unchanged(user.0));
            }
            let records = conn.add_to_group(&new_group_member(&group, &user_db))?;
            Ok(Outcome::new(user.0, Change::Created, records as i32))
        })
        .await
    }

    pub async fn remove_group_membership(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        user: UserId,
        group: GroupId,
    ) -> Result<Outcome> {
        let org = who.org_with(org, Scope::GroupsWrite)?;
        self.write(who, move |conn| {
            let (org_db, user_db) = (org.as_db(), user.as_db());
            let group = find_group(conn, &org_db, group)?;
            members::find(conn, &org_db, &user_db)?.ok_or_else(member_not_found)?;
            let records = conn.remove_from_group(&org_db, &group.id, &user_db)?;
            if records == 0 {
                return Ok(Outcome::unchanged(user.0));
            }
            Ok(Outcome::new(user.0, Change::Updated, records as i32))
        })
        .await
    }

    /// `groupUsers`: group memberships in the org, narrowed by group and/or
    /// user; with neither, at most [`GROUP_USERS_LIMIT`].
    pub async fn group_users(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        group: Option<GroupId>,
        user: Option<UserId>,
    ) -> Result<Vec<GroupUserView>> {
        let org = who.org_with(org, Scope::GroupsRead)?;
        self.read(move |conn| {
            let org_db = org.as_db();
            if let Some(group) = group {
                find_group(conn, &org_db, group)?;
            }
            let limit = (group.is_none() && user.is_none()).then_some(GROUP_USERS_LIMIT);
            let group_db = group.map(|g| g.as_db());
            let group_ids: Option<[&str; 1]> = group_db.as_deref().map(|g| [g]);
            let user_db = user.map(|u| u.as_db());
            let rows = groups::group_users(
                conn,
                &org_db,
                group_ids.as_ref().map(|g| &g[..]),
                user_db.as_deref(),
                limit,
            )?;
            rows.into_iter().map(GroupUserView::from_row).collect()
        })
        .await
    }
}
