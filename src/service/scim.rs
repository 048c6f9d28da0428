//! SCIM 2.0 (RFC 7643, 7644) over the members of the token's org: the use
//! cases behind `/scim/v2`, on the same rules and write path as GraphQL.
//! What is supported so far is listed in `docs/scim.md`.

use super::directory::with_groups;
use super::groups::{GroupSettings, change_group, insert_group, remove_group, set_group_members};
use super::rules::check_version;
use super::views::{GroupUserView, GroupView};
use super::{MemberRecord, Service, UpsertMember, views::MemberView};
use crate::auth::{CallerRole, Principal, Scope, Scopes};
use crate::db::models::MemberRow;
use crate::db::{groups, members, scim, users};
use crate::domain::scim_filter::Filter;
use crate::domain::{ExternalId, GroupId, GroupName, OrgId, UserId};
use crate::error::{Error, Result};

/// The most resources one list answers (announced in the
/// ServiceProviderConfig).
pub const MAX_RESULTS: i64 = 200;

/// A `GET /Users` as asked.
#[derive(Debug, Clone, Default)]
pub struct ScimUserQuery {
    pub filter: Option<Filter>,
    /// 1-based, as SCIM counts.
    pub start_index: i64,
    pub count: i64,
    /// Sort by `userName` (else by creation).
    pub sort: crate::domain::scim_filter::UserSort,
    pub descending: bool,
    /// Whether the members' groups are wanted.
    pub with_groups: bool,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ScimPage<T> {
    pub total: i64,
    pub start_index: i64,
    pub items: Vec<T>,
}

/// Whether a caller may use the SCIM API at all: an org's token with the
/// `scim` scope.
pub fn scim_access(who: &Principal) -> Result<()> {
    scim_org(who).map(|_| ())
}

/// The org a SCIM call acts on: the token's, with the `scim` scope. An
/// operator's token names no org, and a SCIM client belongs to one.
fn scim_org(who: &Principal) -> Result<OrgId> {
    if who.role == CallerRole::Operator {
        return Err(Error::Forbidden(
            "SCIM acts on one org: use an org's token with the scim scope".into(),
        ));
    }
    who.org_with(None, Scope::Scim)
}

/// The caller as the use cases see it: the `scim` scope reads and writes
/// the org's members and groups, through the same rules as GraphQL.
fn acting(who: &Principal) -> Result<Principal> {
    scim_org(who)?;
    let mut acting = who.clone();
    acting.scopes = Scopes::parse("members:read members:write groups:read groups:write scim")
        .map_err(Error::Internal)?;
    Ok(acting)
}

impl Service {
    /// `POST /Users`: adds a member; one the record names already is
    /// DUPLICATE (SCIM's `uniqueness`).
    pub async fn scim_create_user(
        &self,
        who: &Principal,
        record: MemberRecord,
    ) -> Result<MemberView> {
        let acting = acting(who)?;
        let input = UpsertMember {
            org: None,
            record: MemberRecord {
                user_id: None,
                ..record
            },
            if_version: None,
            create_only: true,
        };
        Ok(self.upsert_member(&acting, input).await?.member)
    }

    /// `PUT` and `PATCH /Users/{id}`: the member named by id becomes what
    /// the record says, while at `if_version` (when given).
    pub async fn scim_replace_user(
        &self,
        who: &Principal,
        id: &str,
        record: MemberRecord,
        if_version: Option<i64>,
    ) -> Result<MemberView> {
        let acting = acting(who)?;
        let user: UserId = id
            .parse()
            .map_err(|_| Error::not_found("no such User in this org"))?;
        let input = UpsertMember {
            org: None,
            record: MemberRecord {
                user_id: Some(user),
                ..record
            },
            if_version,
            create_only: false,
        };
        self.upsert_member(&acting, input)
            .await
            .map(|done| done.member)
            .map_err(|e| match e {
                Error::NotFound(_) => Error::not_found("no such User in this org"),
                other => other,
            })
    }

    /// `DELETE /Users/{id}`: removes the membership, with the rules of
    /// `removeMembers` (the last admin stays), while at `if_version`.
    pub async fn scim_remove_user(
        &self,
        who: &Principal,
        id: &str,
        if_version: Option<i64>,
    ) -> Result<()> {
        let acting = acting(who)?;
        let org = scim_org(who)?;
        let not_found = || Error::not_found("no such User in this org");
        let user: UserId = id.parse().map_err(|_| not_found())?;
        let done = self
            .write(&acting.clone(), move |conn| {
                let org_db = org.as_db();
                let user_db = user.as_db();
                let version = members::lock_version(conn, &org_db, Some(&user_db), None, None)?
                    .ok_or_else(not_found)?;
                check_version("member", version, if_version)?;
                let mut plan =
                    super::bulk::load_members(conn, org, &acting, std::slice::from_ref(&user_db))?;
                plan.may_remove_admin_power(&user_db, "remove")?;
                let row = users::with_ids(conn, &[user_db.as_str()])?
                    .pop()
                    .ok_or_else(not_found)?;
                let membership = plan.members.remove(&user_db).ok_or_else(not_found)?;
                if !conn.remove_member(&row, &membership)? {
                    return Err(not_found());
                }
                Ok(())
            })
            .await;
        self.member_rights_may_have_changed(&done);
        done
    }

    /// `GET /Users`: the org's members matching the filter, a page from
    /// `start_index`.
    pub async fn scim_users(
        &self,
        who: &Principal,
        query: ScimUserQuery,
    ) -> Result<ScimPage<MemberView>> {
        let org = scim_org(who)?;
        if let Some(filter) = &query.filter {
            scim::user_condition(filter).map_err(|e| Error::invalid(e.0))?;
        }
        let start_index = query.start_index.max(1);
        let count = query.count.clamp(0, MAX_RESULTS);
        self.read(move |conn| {
            let org_db = org.as_db();
            let filter = query.filter.clone();
            let condition = || filter.as_ref().and_then(|f| scim::user_condition(f).ok());
            let (total, rows) = scim::users(
                conn,
                &org_db,
                condition,
                query.sort,
                query.descending,
                start_index - 1,
                count,
            )?;
            let rows = rows.into_iter().map(MemberRow::from).collect();
            let items = with_groups(conn, &org_db, rows, query.with_groups)?;
            Ok(ScimPage {
                total,
                start_index,
                items,
            })
        })
        .await
    }

    /// `GET /Users/{id}`: one member of the org; another org's member, or
    /// no one, is NOT_FOUND alike.
    pub async fn scim_user(
        &self,
        who: &Principal,
        id: &str,
        with_groups_too: bool,
    ) -> Result<MemberView> {
        let org = scim_org(who)?;
        let not_found = || Error::not_found("no such User in this org");
        let user: UserId = id.parse().map_err(|_| not_found())?;
        self.read(move |conn| {
            let org_db = org.as_db();
            let row = members::member(conn, &org_db, members::MemberBy::UserId(&user.as_db()))?
                .ok_or_else(not_found)?;
            with_groups(conn, &org_db, vec![row], with_groups_too)?
                .pop()
                .ok_or_else(not_found)
        })
        .await
    }
}

/// A group as SCIM shows it: the group, and its members (user id and the
/// name the org sees) when asked for.
#[derive(Debug, Clone)]
pub struct ScimGroup {
    pub group: GroupView,
    pub members: Option<Vec<(UserId, String)>>,
}

/// A `GET /Groups` as asked.
#[derive(Debug, Clone, Default)]
pub struct ScimGroupQuery {
    pub filter: Option<Filter>,
    pub start_index: i64,
    pub count: i64,
    pub with_members: bool,
}

/// A Group body: what a group becomes. `members: None` leaves them as
/// they are; `external_id: None` clears it.
#[derive(Debug, Clone, Default)]
pub struct ScimGroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Option<Vec<String>>,
}

fn group_not_found() -> Error {
    Error::not_found("no such Group in this org")
}

/// Groups as SCIM shows them, with their members (one query for all of
/// them) when `load`.
fn with_members(
    conn: &mut crate::db::DbConn,
    org: &str,
    rows: Vec<crate::db::models::GroupRow>,
    load: bool,
) -> Result<Vec<ScimGroup>> {
    let mut members: std::collections::HashMap<String, Vec<(UserId, String)>> =
        std::collections::HashMap::new();
    if load && !rows.is_empty() {
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        for chunk in ids.chunks(crate::db::IN_CHUNK) {
            for row in groups::group_users(conn, org, Some(chunk), None, None)? {
                let group = row.group_id.clone();
                let view = GroupUserView::from_row(row)?;
                members
                    .entry(group)
                    .or_default()
                    .push((view.user, view.user_name));
            }
        }
    }
    rows.into_iter()
        .map(|row| {
            let listed = load.then(|| members.remove(&row.id).unwrap_or_default());
            Ok(ScimGroup {
                group: GroupView::from_row(row)?,
                members: listed,
            })
        })
        .collect()
}

/// One group as SCIM shows it.
fn with_members_one(
    conn: &mut crate::db::DbConn,
    org: &str,
    row: crate::db::models::GroupRow,
    load: bool,
) -> Result<ScimGroup> {
    with_members(conn, org, vec![row], load)?
        .pop()
        .ok_or_else(group_not_found)
}

impl ScimGroupInput {
    fn settings(&self) -> Result<(GroupSettings, Option<Vec<String>>)> {
        let external_id = self
            .external_id
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(ExternalId::parse)
            .transpose()?;
        let members = self
            .members
            .as_ref()
            .map(|ids| {
                ids.iter()
                    .map(|id| {
                        id.parse::<UserId>().map(|u| u.as_db()).map_err(|_| {
                            Error::invalid(format!("{id} is not a member of this org"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        Ok((
            GroupSettings {
                name: Some(GroupName::parse(&self.display_name)?),
                description: None,
                external_id: Some(external_id),
            },
            members,
        ))
    }
}

impl Service {
    /// `GET /Groups`: the org's groups matching the filter, by name.
    pub async fn scim_groups(
        &self,
        who: &Principal,
        query: ScimGroupQuery,
    ) -> Result<ScimPage<ScimGroup>> {
        let org = scim_org(who)?;
        if let Some(filter) = &query.filter {
            scim::group_condition(filter).map_err(|e| Error::invalid(e.0))?;
        }
        let start_index = query.start_index.max(1);
        let count = query.count.clamp(0, MAX_RESULTS);
        self.read(move |conn| {
            let org_db = org.as_db();
            let filter = query.filter.clone();
            let condition = || filter.as_ref().and_then(|f| scim::group_condition(f).ok());
            let (total, rows) = scim::groups(conn, &org_db, condition, start_index - 1, count)?;
            let items = with_members(conn, &org_db, rows, query.with_members)?;
            Ok(ScimPage {
                total,
                start_index,
                items,
            })
        })
        .await
    }

    /// `GET /Groups/{id}`; members only when asked for (Entra reads
    /// groups without them).
    pub async fn scim_group(&self, who: &Principal, id: &str, load: bool) -> Result<ScimGroup> {
        let org = scim_org(who)?;
        let group: GroupId = id.parse().map_err(|_| group_not_found())?;
        self.read(move |conn| {
            let org_db = org.as_db();
            let row = groups::find(conn, &org_db, &group.as_db())?.ok_or_else(group_not_found)?;
            with_members_one(conn, &org_db, row, load)
        })
        .await
    }

    /// `POST /Groups`: a new group with its members.
    pub async fn scim_create_group(
        &self,
        who: &Principal,
        input: ScimGroupInput,
    ) -> Result<ScimGroup> {
        let acting = acting(who)?;
        let org = scim_org(who)?;
        let (settings, members) = input.settings()?;
        self.write(&acting, move |tx| {
            let (name, external_id) = (settings.name.clone(), settings.external_id.clone());
            let row = insert_group(
                tx,
                org,
                name.ok_or_else(|| Error::invalid("displayName is required"))?,
                None,
                external_id.flatten(),
            )?;
            if let Some(members) = &members {
                set_group_members(tx, &row, members)?;
            }
            let row = groups::find(tx, &row.org_id, &row.id)?.ok_or_else(group_not_found)?;
            with_members_one(tx, &org.as_db(), row, true)
        })
        .await
    }

    /// `PUT` and `PATCH /Groups/{id}`: the group becomes what the input
    /// says, while at `if_version` (when given).
    pub async fn scim_replace_group(
        &self,
        who: &Principal,
        id: &str,
        input: ScimGroupInput,
        if_version: Option<i64>,
    ) -> Result<ScimGroup> {
        let acting = acting(who)?;
        let org = scim_org(who)?;
        let group: GroupId = id.parse().map_err(|_| group_not_found())?;
        let (settings, members) = input.settings()?;
        self.write(&acting, move |tx| {
            let org_db = org.as_db();
            // Locked before the version is read, so that of two writers
            // with one version the second sees the first's.
            groups::lock(tx, &org_db, &group.as_db())?;
            let current = groups::find(tx, &org_db, &group.as_db())?.ok_or_else(group_not_found)?;
            change_group(tx, &current, &settings, if_version)?;
            if let Some(members) = &members {
                set_group_members(tx, &current, members)?;
            }
            let row = groups::find(tx, &org_db, &current.id)?.ok_or_else(group_not_found)?;
            with_members_one(tx, &org_db, row, true)
        })
        .await
    }

    /// `DELETE /Groups/{id}`, while at `if_version` (when given).
    pub async fn scim_remove_group(
        &self,
        who: &Principal,
        id: &str,
        if_version: Option<i64>,
    ) -> Result<()> {
        let acting = acting(who)?;
        let org = scim_org(who)?;
        let group: GroupId = id.parse().map_err(|_| group_not_found())?;
        self.write(&acting, move |tx| {
            groups::lock(tx, &org.as_db(), &group.as_db())?;
            let current =
                groups::find(tx, &org.as_db(), &group.as_db())?.ok_or_else(group_not_found)?;
            check_version("group", current.version, if_version)?;
            remove_group(tx, &current)?;
            Ok(())
        })
        .await
    }
}
