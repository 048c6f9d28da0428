//! Groups inside an org and who is in them.

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

impl Service {
    pub async fn create_group(&self, who: &Principal, input: GroupInput) -> Result<Outcome> {
        let org = who.org_with(input.org, Scope::GroupsWrite)?;
        let (name, key) = GroupName::parse(&input.name)?;
        let description =
            optional_text("description", input.description.as_deref(), DESCRIPTION_MAX)?;
        self.write(who, move |conn| {
            ensure_org(conn, org)?;
            let org_db = org.as_db();
            ensure_name_free(conn, &org_db, &key, None)?;
            let at = now();
            let id = GroupId::new();
            let row = GroupRow {
                org_id: org_db,
                id: id.as_db(),
                name: name.clone(),
                name_key: key.clone(),
                description: description.clone(),
                created_at: at,
                updated_at: at,
                version: 1,
            };
            let records = groups::insert(conn, &row)?;
            conn.record(
                Draft::new(Some(&row.org_id), kind::GROUP_CREATED, "group", &row.id)
                    .set("name", row.name.clone())
                    .set("description", row.description.clone()),
            );
            Ok(Outcome::new(id.0, Change::Created, records as i32))
        })
        .await
    }

    pub async fn update_group(&self, who: &Principal, input: GroupUpdate) -> Result<Outcome> {
        let org = who.org_with(input.org, Scope::GroupsWrite)?;
        let name = input.name.as_deref().map(GroupName::parse).transpose()?;
        let description = input
            .description
            .map(|d| optional_text("description", Some(&d), DESCRIPTION_MAX))
            .transpose()?;
        let id = input.id;
        let if_version = input.if_version;
        self.write(who, move |conn| {
            let org_db = org.as_db();
            let current = find_group(conn, &org_db, id)?;
            check_version("group", current.version, if_version)?;
            let mut changes = GroupChanges::default();
            if let Some((name, key)) = &name
                && *name != current.name
            {
                if *key != current.name_key {
                    ensure_name_free(conn, &org_db, key, Some(&current.id))?;
                }
                changes.name = Some(name.clone());
                changes.name_key = Some(key.clone());
            }
            if let Some(description) = &description
                && *description != current.description
            {
                changes.description = Some(description.clone());
            }
            if changes.name.is_none() && changes.description.is_none() {
                return Ok(Outcome::unchanged(id.0));
            }
            changes.updated_at = Some(now());
            let records = groups::update(conn, &org_db, &current.id, &changes, if_version)?;
            if records == 0 {
                // A concurrent writer moved the version since it was read.
                return Err(stale("group", if_version.unwrap_or(current.version)));
            }
            let mut draft = Draft::new(Some(&org_db), kind::GROUP_UPDATED, "group", &current.id);
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
            conn.record(draft);
            Ok(Outcome::new(id.0, Change::Updated, records as i32))
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
        self.write(who, move |conn| {
            let org_db = org.as_db();
            let current = find_group(conn, &org_db, id)?;
            // Its memberships go with it, each an event of its own; locked
            // first, so that none is added between the read and the delete.
            groups::lock(conn, &org_db, &current.id)?;
            let members = groups::member_ids(conn, &org_db, &current.id)?;
            let deleted = groups::delete(conn, &org_db, &current.id)?;
            conn.record_all(
                members
                    .iter()
                    .map(|user| events::group_membership(&org_db, user, &current.id, false)),
            );
            conn.record(
                Draft::new(Some(&org_db), kind::GROUP_DELETED, "group", &current.id).change(
                    "name",
                    current.name.clone(),
                    serde_json::Value::Null,
                ),
            );
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
            let user_db = user.map(|u| u.as_db());
            let rows = groups::group_users(
                conn,
                &org_db,
                group_db.as_deref(),
                user_db.as_deref(),
                limit,
            )?;
            rows.into_iter().map(GroupUserView::from_row).collect()
        })
        .await
    }
}
