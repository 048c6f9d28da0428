//! Reading an org's members: one member by key (`user`) and the members
//! list (`members`), a keyset-paginated, filtered, sorted list whose pages
//! cost a fixed number of statements: the page, the page's groups (when
//! asked for) and the count (when asked for).

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::views::MemberView;
use super::{MAX_PAGE, Service, now, search_query};
use crate::auth::{Principal, Scope};
use crate::db::members::{MemberBy, MemberFilter, Slice};
use crate::db::models::{MemberGroupRow, MemberRow};
use crate::db::{DbConn, groups, members};
use crate::domain::{
    AttributeMatch, Email, ExternalId, GroupId, MemberStatus, OrgId, Role, SortField, SortKey,
    UserId,
};
use crate::error::{Error, Result};

/// At most this many values in one list filter (`groupIds`, `externalIds`,
/// `attribute`, ...).
pub const MAX_FILTER_VALUES: usize = 500;
/// The page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: usize = 50;

/// How `user(...)` names the member.
#[derive(Debug, Clone)]
pub enum MemberKey {
    Id(UserId),
    Email(String),
    ExternalId(String),
}

/// Where a member stands in a sorted list: the sort it belongs to, its key
/// and its user id. Cursors are these, encoded opaquely by the API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    #[serde(rename = "f")]
    pub field: SortField,
    #[serde(rename = "a")]
    pub ascending: bool,
    #[serde(rename = "k")]
    pub key: SortKey,
    #[serde(rename = "i")]
    pub id: String,
}

/// The `members` query as given.
#[derive(Debug, Clone, Default)]
pub struct MemberQuery {
    pub org: Option<OrgId>,
    pub first: Option<i32>,
    pub after: Option<Position>,
    pub last: Option<i32>,
    pub before: Option<Position>,
    pub q: Option<String>,
    pub roles: Vec<Role>,
    pub statuses: Vec<MemberStatus>,
    pub group_ids: Vec<GroupId>,
    pub external_ids: Vec<String>,
    pub attributes: Vec<(String, serde_json::Value)>,
    pub created_after: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    pub updated_after: Option<NaiveDateTime>,
    pub updated_before: Option<NaiveDateTime>,
    pub last_sign_in_after: Option<NaiveDateTime>,
    pub last_sign_in_before: Option<NaiveDateTime>,
    pub signed_in: Option<bool>,
    /// `pending`, `accepted`, `expired`, `revoked` or `none` (never
    /// invited); empty for any.
    pub invitation_statuses: Vec<String>,
    pub invited_after: Option<NaiveDateTime>,
    pub invited_before: Option<NaiveDateTime>,
    pub sort: Option<SortField>,
    pub ascending: bool,
    pub with_total: bool,
    pub with_groups: bool,
}

/// One page of members, in list order, with each one's position.
#[derive(Debug, Clone)]
pub struct MemberPage {
    pub items: Vec<(Position, MemberView)>,
    pub has_previous: bool,
    pub has_next: bool,
    pub total: Option<i64>,
}

fn page_size(name: &str, value: i32) -> Result<i64> {
    if value < 1 || value as usize > MAX_PAGE {
        return Err(Error::invalid(format!(
            "{name} must be between 1 and {MAX_PAGE}"
        )));
    }
    Ok(value as i64)
}

fn bounded_list<T>(name: &str, values: &[T]) -> Result<()> {
    if values.len() > MAX_FILTER_VALUES {
        return Err(Error::invalid(format!(
            "{name} may list at most {MAX_FILTER_VALUES} values"
        )));
    }
    Ok(())
}

/// Attaches each member's groups (one statement for the whole page), and
/// shows each with the profile the org sees.
pub(super) fn with_groups(
    conn: &mut DbConn,
    org: &str,
    rows: Vec<MemberRow>,
    load: bool,
) -> Result<Vec<MemberView>> {
    let mut by_user: HashMap<String, Vec<MemberGroupRow>> = HashMap::new();
    if load && !rows.is_empty() {
        let ids: Vec<&str> = rows.iter().map(|r| r.user.id.as_str()).collect();
        for group in groups::of_members(conn, org, &ids)? {
            by_user
                .entry(group.user_id.clone())
                .or_default()
                .push(group);
        }
    }
    rows.into_iter()
        .map(|row| {
            let groups = by_user.remove(&row.user.id).unwrap_or_default();
            MemberView::from_row(row, groups)
        })
        .collect()
}

/// The largest page read as a short read (see `Service::read_short`).
const SHORT_PAGE: i64 = 100;

impl Service {
    /// `user(...)`: one member of the caller's org, or `None`.
    pub async fn member(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        key: MemberKey,
        load_groups: bool,
    ) -> Result<Option<MemberView>> {
        who.require(Scope::MembersRead)?;
        let org = who.org_for(org)?;
        let key = match key {
            MemberKey::Email(email) => MemberKey::Email(Email::parse(&email)?.into_inner()),
            MemberKey::ExternalId(e) => MemberKey::ExternalId(ExternalId::parse(&e)?),
            id => id,
        };
        self.read_short(move |conn| {
            let org = org.as_db();
            let found = match &key {
                MemberKey::Id(id) => members::member(conn, &org, MemberBy::UserId(&id.as_db()))?,
                MemberKey::Email(email) => members::member(conn, &org, MemberBy::Email(email))?,
                MemberKey::ExternalId(e) => members::member(conn, &org, MemberBy::ExternalId(e))?,
            };
            let Some(found) = found else { return Ok(None) };
            Ok(with_groups(conn, &org, vec![found], load_groups)?.pop())
        })
        .await
    }

    /// `members(...)`: one page of the org's members.
    pub async fn members(&self, who: &Principal, query: MemberQuery) -> Result<MemberPage> {
        who.require(Scope::MembersRead)?;
        let org = who.org_for(query.org)?;
        let field = query.sort.unwrap_or(SortField::Name);
        let ascending = query.ascending;
        let backward = match (query.first, query.last) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid("give first or last, not both"));
            }
            (None, Some(_)) => true,
            _ => false,
        };
        if backward && query.after.is_some() || !backward && query.before.is_some() {
            return Err(Error::invalid(
                "page forwards with first/after or backwards with last/before",
            ));
        }
        let size = match (query.first, query.last) {
            (Some(first), _) => page_size("first", first)?,
            (_, Some(last)) => page_size("last", last)?,
            _ => DEFAULT_PAGE as i64,
        };
        let from = if backward { query.before } else { query.after };
        if let Some(position) = &from {
            if position.field != field || position.ascending != ascending {
                return Err(Error::invalid(
                    "this cursor belongs to another sort order; start again without it",
                ));
            }
            let key_fits = match (&position.key, field) {
                (SortKey::Text(text), SortField::Name | SortField::Email) => {
                    !text.chars().any(char::is_control)
                }
                (
                    SortKey::Time(at),
                    SortField::CreatedAt | SortField::UpdatedAt | SortField::LastSignInAt,
                ) => storable_time(*at),
                _ => false,
            };
            if !key_fits || position.id.parse::<UserId>().is_err() {
                return Err(Error::invalid("this is not a cursor from this list"));
            }
        }
        for (name, at) in [
            ("createdAfter", query.created_after),
            ("createdBefore", query.created_before),
            ("updatedAfter", query.updated_after),
            ("updatedBefore", query.updated_before),
            ("lastSignInAfter", query.last_sign_in_after),
            ("lastSignInBefore", query.last_sign_in_before),
            ("invitedAfter", query.invited_after),
            ("invitedBefore", query.invited_before),
        ] {
            if at.is_some_and(|at| !storable_time(at)) {
                return Err(Error::invalid(format!(
                    "{name} must be between the years 1 and 9999"
                )));
            }
        }
        bounded_list("groupIds", &query.group_ids)?;
        bounded_list("externalIds", &query.external_ids)?;
        bounded_list("attribute", &query.attributes)?;
        let filter = MemberFilter {
            q: search_query(query.q)?,
            roles: query.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            statuses: query
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            group_ids: query.group_ids.iter().map(|g| g.as_db()).collect(),
            external_ids: query
                .external_ids
                .iter()
                .map(|e| ExternalId::parse(e))
                .collect::<std::result::Result<_, _>>()?,
            attributes: query
                .attributes
                .iter()
                .map(|(k, v)| AttributeMatch::parse(k, v))
                .collect::<std::result::Result<_, _>>()?,
            created_after: query.created_after,
            created_before: query.created_before,
            updated_after: query.updated_after,
            updated_before: query.updated_before,
            last_sign_in_after: query.last_sign_in_after,
            last_sign_in_before: query.last_sign_in_before,
            signed_in: query.signed_in,
            invitations: invitation_filter(&query.invitation_statuses, now())?,
            invited_after: query.invited_after,
            invited_before: query.invited_before,
        };
        let slice = Slice {
            field,
            ascending: ascending != backward,
            after: from.map(|p| (p.key, p.id)),
            limit: size + 1,
        };
        let given_cursor = slice.after.is_some();
        let (with_total, load_groups) = (query.with_total, query.with_groups);
        // Without filters or a count, a page is a walk along the sort
        // index: short while the page is small.
        let short = !with_total && filter.is_empty() && size <= SHORT_PAGE;
        let work = move |conn: &mut DbConn| {
            let org = org.as_db();
            let mut rows = members::list(conn, &org, &filter, &slice)?;
            let more = rows.len() as i64 > size;
            rows.truncate(size as usize);
            if backward {
                rows.reverse();
            }
            let total = if with_total {
                Some(members::count(conn, &org, &filter)?)
            } else {
                None
            };
            let positions: Vec<Position> = rows
                .iter()
                .map(|row| Position {
                    field,
                    ascending,
                    key: members::sort_key(field, &row.membership),
                    id: row.user.id.clone(),
                })
                .collect();
            let views = with_groups(conn, &org, rows, load_groups)?;
            let items = positions.into_iter().zip(views).collect();
            Ok(MemberPage {
                items,
                has_previous: if backward { more } else { given_cursor },
                has_next: if backward { given_cursor } else { more },
                total,
            })
        };
        if short {
            self.read_short(work).await
        } else {
            self.read(work).await
        }
    }
}

/// Whether both databases can compare with this time: PostgreSQL's
/// timestamps stop at 4713 BC, and years of other than four digits would
/// not sort as text on SQLite.
fn storable_time(at: NaiveDateTime) -> bool {
    use chrono::Datelike;
    (1..=9999).contains(&at.year())
}

/// The members filter of `invitationStatuses`; `None` for any.
fn invitation_filter(
    statuses: &[String],
    at: NaiveDateTime,
) -> Result<Option<crate::db::members::InvitationFilter>> {
    use super::invitations::status;
    if statuses.is_empty() {
        return Ok(None);
    }
    let has = |s: &str| statuses.iter().any(|x| x == s);
    let (pending, expired) = (has(status::PENDING), has(status::EXPIRED));
    if let Some(other) = statuses.iter().find(|s| {
        ![
            status::PENDING,
            status::ACCEPTED,
            status::EXPIRED,
            status::REVOKED,
            "none",
        ]
        .contains(&s.as_str())
    }) {
        return Err(Error::invalid(format!("unknown invitation status {other}")));
    }
    // The first and last instants both databases store.
    let earliest = crate::db::models::NEVER_SIGNED_IN;
    let latest = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .unwrap_or(earliest);
    let (from, to) = match (pending, expired) {
        (true, true) => (earliest, latest),
        (true, false) => (at, latest),
        (false, true) => (earliest, at),
        (false, false) => (at, at),
    };
    Ok(Some(crate::db::members::InvitationFilter {
        accepted: has(status::ACCEPTED),
        revoked: has(status::REVOKED),
        pending_from: from,
        pending_to: to,
        none: has("none"),
    }))
}
