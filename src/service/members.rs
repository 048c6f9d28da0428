//! Users and memberships: finding people in an org, bringing them in and
//! changing their role, status and externalId.

use super::profile::OwnProfile;
use super::rows::{ensure_org, member_not_found, new_group_member, new_membership, new_user};
use super::rules::{PowerChange, check_last_admin, check_self_action};
use super::views::FoundUser;
use super::{Change, Outcome, Service, now};
use crate::auth::{Principal, Scope};
use crate::db::models::MembershipChanges;
use crate::db::{DbConn, groups, members, users};
use crate::domain::{
    Attributes, Email, ExternalId, GroupId, MemberStatus, Mobile, OrgId, PersonName, Role, UserId,
    display_name, search_term,
};
use crate::error::{Error, Result};
use chrono::NaiveDateTime;

/// At most this many users come back from `findUserBy`.
pub const FIND_LIMIT: i64 = 10;
/// A name search needs at least this many characters.
pub const MIN_NAME_SEARCH: usize = 3;

/// The criteria of `findUserBy`, as given.
#[derive(Debug, Default, Clone)]
pub struct FindUsers {
    pub org: Option<OrgId>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub mobile: Option<String>,
    pub name: Option<String>,
}

/// `createUser`'s input, as given.
#[derive(Debug, Default, Clone)]
pub struct NewMember {
    pub org: Option<OrgId>,
    pub email: String,
    pub first: String,
    pub last: String,
    pub mobile: Option<String>,
    pub name: Option<String>,
    pub group_id: Option<GroupId>,
    pub external_id: Option<String>,
    pub role: Option<String>,
    /// Invite them (see `docs/invitations.md`).
    pub send_invite: bool,
}

/// `addOrgMember`'s input, as given.
#[derive(Debug, Default, Clone)]
pub struct NewOrgMember {
    pub org: Option<OrgId>,
    pub org_id: Option<OrgId>,
    pub user_id: UserId,
    pub role: Option<String>,
    pub external_id: Option<String>,
}

/// `updateMember`'s input: `None` leaves a field as it is; an empty
/// `external_id` clears it.
#[derive(Debug, Default, Clone)]
pub struct MemberUpdate {
    pub org: Option<OrgId>,
    pub user_id: UserId,
    pub status: Option<String>,
    pub role: Option<String>,
    pub external_id: Option<String>,
    /// Replaces the membership's attributes (a JSON object).
    pub attributes: Option<serde_json::Value>,
    /// Change it only while it is at this version (else CONFLICT).
    pub if_version: Option<i64>,
}

fn non_blank(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

fn parse_role(role: Option<&str>) -> Result<Role> {
    role.map(Role::parse)
        .transpose()
        .map(|r| r.unwrap_or(Role::User))
        .map_err(Error::from)
}

fn ensure_external_id_free(
    conn: &mut DbConn,
    org: &str,
    external_id: &str,
    user: &str,
) -> Result<()> {
    match members::find_by_external_id(conn, org, external_id)? {
        Some(other) if other.user_id != user => Err(Error::Duplicate(format!(
            "externalId \"{external_id}\" is already used by another member of this org"
        ))),
        _ => Ok(()),
    }
}

impl Service {
    /// `findUserBy`: members of the caller's org matching every given
    /// criterion; operators without an org search all users.
    pub async fn find_users(&self, who: &Principal, find: FindUsers) -> Result<Vec<FoundUser>> {
        who.require(Scope::MembersRead)?;
        let email = non_blank(find.email)
            .map(|e| Email::parse(&e))
            .transpose()?;
        let external_id = non_blank(find.external_id)
            .map(|e| ExternalId::parse(&e))
            .transpose()?;
        let mobile = non_blank(find.mobile)
            .map(|m| Mobile::normalize_for_search(&m))
            .transpose()?;
        let name = non_blank(find.name)
            .map(|n| search_term("name", &n))
            .transpose()?;
        if let Some(name) = &name
            && name.chars().count() < MIN_NAME_SEARCH
        {
            return Err(Error::invalid(format!(
                "a name search needs at least {MIN_NAME_SEARCH} characters"
            )));
        }
        if email.is_none() && external_id.is_none() && mobile.is_none() && name.is_none() {
            return Err(Error::invalid(
                "give at least one of email, externalId, mobile or name",
            ));
        }
        let everywhere = who.is_operator() && find.org.is_none();
        if everywhere && external_id.is_some() {
            return Err(Error::invalid(
                "externalId is kept per org: pass the org argument",
            ));
        }
        let org = if everywhere {
            None
        } else {
            Some(who.org_for(find.org)?)
        };
        // Only a lookup by email or externalId in one org is bounded by an
        // index; a name is a substring search, a mobile is matched on the
        // org's profile or the user's (an OR across tables), and a search
        // of every org has no org to bound it: those may scan.
        let short = org.is_some() && name.is_none() && mobile.is_none();
        let work = move |conn: &mut DbConn| {
            let criteria = users::Criteria {
                email: email.as_ref().map(Email::as_str),
                external_id: external_id.as_deref(),
                mobile_normalized: mobile.as_deref(),
                name_contains: name.as_deref(),
            };
            let found = match org {
                Some(org) => users::search_in_org(conn, &org.as_db(), &criteria, FIND_LIMIT)?,
                None => users::search_everywhere(conn, &criteria, FIND_LIMIT)?,
            };
            found.into_iter().map(FoundUser::from_row).collect()
        };
        if short {
            self.read_short(work).await
        } else {
            self.read(work).await
        }
    }

    /// `recordSignIn`: the app saw the member sign in, at `at` (now when
    /// not given). Cheap by design: no event, and at most one write per
    /// member per minute (a sign-in within a minute after the recorded
    /// one, or before it, is `unchanged` and read-only).
    pub async fn record_sign_in(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        user: UserId,
        at: Option<NaiveDateTime>,
    ) -> Result<Outcome> {
        let org = who.org_with(org, Scope::MembersWrite)?;
        let now = now();
        let at = at.unwrap_or(now);
        if at > now + chrono::Duration::minutes(5) {
            return Err(Error::invalid("at must not be in the future"));
        }
        if at.and_utc().timestamp() < 0 {
            return Err(Error::invalid("at must be after 1970"));
        }
        let since = at - chrono::Duration::minutes(1);
        let (org_db, user_db) = (org.as_db(), user.as_db());
        let recorded = self
            .read_short(move |conn| Ok(members::last_sign_in(conn, &org_db, &user_db)?))
            .await?;
        match recorded {
            None => return Err(member_not_found()),
            Some(last) if last >= since => return Ok(Outcome::unchanged(user.0)),
            Some(_) => {}
        }
        let (org_db, user_db) = (org.as_db(), user.as_db());
        self.write(who, move |conn| {
            match members::record_sign_in(conn, &org_db, &user_db, at, since)? {
                0 if members::find(conn, &org_db, &user_db)?.is_none() => Err(member_not_found()),
                0 => Ok(Outcome::unchanged(user.0)),
                n => Ok(Outcome::new(user.0, Change::Updated, n as i32)),
            }
        })
        .await
    }

    /// `createUser`: the user (unless the email is known), the membership
    /// and the optional group membership, in one transaction.
    pub async fn create_user(&self, who: &Principal, input: NewMember) -> Result<Outcome> {
        let org = who.org_with(input.org, Scope::MembersWrite)?;
        if input.group_id.is_some() {
            who.require(Scope::GroupsWrite)?;
        }
        let email = Email::parse(&input.email)?;
        let first = PersonName::first(&input.first)?;
        let last = PersonName::last(&input.last)?;
        let name = match non_blank(input.name) {
            Some(name) => PersonName::display(&name)?,
            None => display_name(&first, &last),
        };
        let mobile = non_blank(input.mobile)
            .map(|m| Mobile::parse(&m))
            .transpose()?;
        let external_id = non_blank(input.external_id)
            .map(|e| ExternalId::parse(&e))
            .transpose()?;
        let role = parse_role(input.role.as_deref())?;
        let group_id = input.group_id;
        let own = OwnProfile {
            first_name: first.clone(),
            last_name: last.clone(),
            name: Some(name.clone()),
            mobile: mobile.clone(),
            locale: None,
            timezone: None,
        };
        let caller = who.clone();
        let send_invite = input.send_invite;
        let invites = self.invites.clone();
        self.write(who, move |conn| {
            let who = &caller;
            ensure_org(conn, org)?;
            let org_db = org.as_db();
            let mut records = 0;
            // Locked, so that another org removing this user's last
            // membership cannot delete the row under the new membership.
            let (user, managed) = match users::find_by_email_locked(conn, email.as_str())? {
                Some(user) => {
                    if members::find(conn, &org_db, &user.id)?.is_some() {
                        return Err(Error::Duplicate(
                            "a member with this email already exists in this org".into(),
                        ));
                    }
                    let is_self = who.is_user_id(&user.id);
                    check_self_action(
                        is_self,
                        who.is_operator(),
                        PowerChange::joining(role),
                        "add",
                    )?;
                    (user, false)
                }
                None => (
                    new_user(email.as_str().to_owned(), own.clone(), now()),
                    true,
                ),
            };
            let user_id = user.id.clone();
            if let Some(external_id) = &external_id {
                ensure_external_id_free(conn, &org_db, external_id, &user_id)?;
            }
            let mut membership = new_membership(&org_db, &user, role, external_id.clone(), managed);
            if !managed {
                // Known elsewhere: this org keeps the profile it supplied.
                own.clone().apply_to(&mut membership);
            }
            let invitation = send_invite
                .then(|| super::invitations::issue_on_new(&mut membership, now(), &invites));
            records += conn.create_member(&user, managed, &membership)?;
            conn.issue_invitations(&org_db, who, invitation.as_slice(), &invites)?;
            if let Some(group_id) = group_id {
                let group = groups::find(conn, &org_db, &group_id.as_db())?
                    .ok_or_else(|| Error::not_found("no group with this id in this org"))?;
                records += conn.add_to_group(&new_group_member(&group, &user_id))?;
            }
            Ok(Outcome::new(
                UserId::from_db(&user_id)?.0,
                Change::Created,
                records as i32,
            ))
        })
        .await
    }

    /// `addOrgMember`: links an existing user to an org the caller
    /// administers. A tenant caller can only see its own members, so for it
    /// any other user id is NOT_FOUND.
    pub async fn add_org_member(&self, who: &Principal, input: NewOrgMember) -> Result<Outcome> {
        // `orgId` names the org to add to; a tenant's `org`, when given too,
        // must still be its own.
        if input.org.is_some() {
            who.org_for(input.org)?;
        }
        let org = who.org_with(input.org_id.or(input.org), Scope::MembersWrite)?;
        let role = parse_role(input.role.as_deref())?;
        let external_id = non_blank(input.external_id)
            .map(|e| ExternalId::parse(&e))
            .transpose()?;
        let user = input.user_id;
        let operator = who.is_operator();
        check_self_action(
            who.is_user(user),
            operator,
            PowerChange::joining(role),
            "add",
        )?;
        self.write(who, move |conn| {
            ensure_org(conn, org)?;
            let (org_db, user_db) = (org.as_db(), user.as_db());
            let existing = members::find(conn, &org_db, &user_db)?;
            if !operator && existing.is_none() {
                return Err(Error::not_found("no user with this id"));
            }
            if existing.is_some() {
                return Err(Error::Duplicate(
                    "this user is already a member of this org".into(),
                ));
            }
            let user_row = users::find_locked(conn, &user_db)?
                .ok_or_else(|| Error::not_found("no user with this id"))?;
            if let Some(external_id) = &external_id {
                ensure_external_id_free(conn, &org_db, external_id, &user_db)?;
            }
            let membership = new_membership(&org_db, &user_row, role, external_id.clone(), false);
            let records = conn.create_member(&user_row, false, &membership)?;
            Ok(Outcome::new(user.0, Change::Created, records as i32))
        })
        .await
    }

    /// `updateMember`: changes only the given fields, refusing to demote or
    /// retire the caller themselves or the org's last active admin.
    pub async fn update_member(&self, who: &Principal, input: MemberUpdate) -> Result<Outcome> {
        let org = who.org_with(input.org, Scope::MembersWrite)?;
        let status = input
            .status
            .as_deref()
            .map(MemberStatus::parse)
            .transpose()?;
        let role = input.role.as_deref().map(Role::parse).transpose()?;
        let external_id = input
            .external_id
            .map(|e| {
                non_blank(Some(e))
                    .map(|e| ExternalId::parse(&e))
                    .transpose()
            })
            .transpose()?;
        let attributes = input
            .attributes
            .map(|a| Attributes::parse(&a).map(|a| a.to_db()))
            .transpose()?;
        let user = input.user_id;
        let if_version = input.if_version;
        let is_self = who.is_user(user);
        let operator = who.is_operator();
        let done = self
            .write(who, move |conn| {
                let (org_db, user_db) = (org.as_db(), user.as_db());
                // Lock the admin rows before reading the member, so the
                // last-admin check below sees every concurrent demotion.
                let active_admins = if role.is_some() || status.is_some() {
                    members::active_admins(conn, &org_db, true)?
                } else {
                    Vec::new()
                };
                let current =
                    members::find(conn, &org_db, &user_db)?.ok_or_else(member_not_found)?;
                super::rules::check_version("member", current.version, if_version)?;
                let (old_role, old_status) = (
                    Role::from_db(&current.role),
                    MemberStatus::from_db(&current.status),
                );
                let new_role = role.unwrap_or(old_role);
                let new_status = status.unwrap_or(old_status);
                let change = PowerChange::of((old_role, old_status), (new_role, new_status));
                check_self_action(is_self, operator, change, "demote or retire")?;
                check_last_admin(
                    change,
                    active_admins.contains(&user_db),
                    active_admins.iter().any(|admin| *admin != user_db),
                )?;
                let mut changes = MembershipChanges::default();
                if new_role != old_role {
                    changes.role = Some(new_role.as_str().into());
                }
                if new_status != old_status {
                    changes.status = Some(new_status.as_str().into());
                    changes.retired_at = Some(if new_status == MemberStatus::Retired {
                        Some(now())
                    } else {
                        None
                    });
                }
                if let Some(external_id) =
                    external_id.as_ref().filter(|e| **e != current.external_id)
                {
                    if let Some(value) = external_id {
                        ensure_external_id_free(conn, &org_db, value, &user_db)?;
                    }
                    changes.external_id = Some(external_id.clone());
                }
                if let Some(attributes) = attributes.as_ref().filter(|a| **a != current.attributes)
                {
                    changes.attributes = Some(attributes.clone());
                }
                if changes.is_empty() {
                    return Ok(Outcome::unchanged(user.0));
                }
                changes.updated_at = Some(now());
                let records = conn.change_member(&current, &changes, if_version)?;
                Ok(Outcome::new(user.0, Change::Updated, records as i32))
            })
            .await;
        if role.is_some() || status.is_some() {
            self.member_rights_may_have_changed(&done);
        }
        done
    }
}
