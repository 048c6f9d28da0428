//! SCIM filters as SQL over an org's members (`memberships` joined to
//! `users`), so that a filter is answered by the indexes, never by loading
//! the org. The attributes a filter may name, and how each compares, are
//! listed in `docs/scim.md`; any other is an error the client sees
//! (`invalidFilter`), never a silently wider list.

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::expression::BoxableExpression;
use diesel::helper_types::InnerJoinQuerySource;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use serde_json::Value;

use super::DbConn;
use super::models::{GroupRow, MembershipRow, UserRow};
use super::schema::{group_memberships, groups, memberships, users};
use crate::domain::scim_filter::{AttrPath, CompareOp, Filter, UserSort, boolean};

type Source = InnerJoinQuerySource<memberships::table, users::table>;
type Backend = <DbConn as Connection>::Backend;
/// A condition on one member row.
pub type Condition = Box<dyn BoxableExpression<Source, Backend, SqlType = Bool>>;

/// A filter this server cannot answer, said for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

fn unsupported(message: impl Into<String>) -> Unsupported {
    Unsupported(message.into())
}

fn always(value: bool) -> Condition {
    Box::new(sql::<Bool>(if value { "1 = 1" } else { "1 = 0" }))
}

fn text<'a>(value: &'a Value, path: &AttrPath) -> Result<&'a str, Unsupported> {
    value
        .as_str()
        .ok_or_else(|| unsupported(format!("{} compares with a string", path.dotted())))
}

/// `column <op> value` for the ordering operators; `$other` for the rest
/// (`co`, `sw`, `ew`).
macro_rules! ordered {
    ($condition:ty, $column:expr, $op:expr, $value:expr, $other:expr) => {
        match $op {
            CompareOp::Eq => Box::new($column.eq($value)) as $condition,
            CompareOp::Ne => Box::new($column.ne($value)),
            CompareOp::Gt => Box::new($column.gt($value)),
            CompareOp::Ge => Box::new($column.ge($value)),
            CompareOp::Lt => Box::new($column.lt($value)),
            CompareOp::Le => Box::new($column.le($value)),
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => $other,
        }
    };
}

/// Text compared with every operator, `co`/`sw`/`ew` as `LIKE`.
macro_rules! text_condition {
    ($condition:ty, $column:expr, $op:expr, $value:expr) => {{
        let value = $value;
        let like = pattern($op, &value);
        ordered!(
            $condition,
            $column,
            $op,
            value,
            Box::new($column.like(like).escape('\\'))
        )
    }};
}

/// A nullable, case-exact column (an externalId): `eq` and `ne` only.
macro_rules! exact_nullable {
    ($column:expr, $op:expr, $value:expr, $not_for:expr) => {
        match $op {
            CompareOp::Eq => Ok(Box::new(
                $column
                    .is_not_null()
                    .and($column.assume_not_null().eq($value)),
            )),
            CompareOp::Ne => Ok(Box::new(
                $column.is_null().or($column.assume_not_null().ne($value)),
            )),
            _ => Err($not_for("externalId is case-exact: eq or ne only")),
        }
    };
}

/// A date-time column (`meta.created`, `meta.lastModified`).
macro_rules! time_condition {
    ($condition:ty, $column:expr, $op:expr, $at:expr, $not_for:expr) => {
        ordered!(
            $condition,
            $column,
            $op,
            $at,
            return Err($not_for(
                "a date-time compares with eq, ne, gt, ge, lt or le"
            ))
        )
    };
}

/// `LIKE` patterns for `co`, `sw` and `ew`, with `%`, `_` and `\` escaped.
fn pattern(op: CompareOp, term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() + 2);
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    match op {
        CompareOp::Co => format!("%{escaped}%"),
        CompareOp::Sw => format!("{escaped}%"),
        _ => format!("%{escaped}"),
    }
}

/// The email, which is `userName` and the one `emails` value: stored
/// lower-case, compared case-insensitively (as SCIM says for both).
fn email(op: CompareOp, value: &Value, path: &AttrPath) -> Result<Condition, Unsupported> {
    let v = text(value, path)?.to_lowercase();
    Ok(text_condition!(Condition, memberships::user_email, op, v))
}

/// A member's SCIM `userName`: the identity provider's own name for them
/// when it has one, else the email; compared ignoring case. The very
/// expression of the index `memberships_org_scim_user_name`, which answers
/// these filters and sorts.
const USER_NAME: &str = "lower(COALESCE(memberships.idp_user_name, memberships.user_email))";

fn user_name(op: CompareOp, value: &Value, path: &AttrPath) -> Result<Condition, Unsupported> {
    // Lower-cased here, as emails are when stored, so that an email
    // matches however it is written on both backends (SQLite's lower()
    // folds ASCII only).
    let given = text(value, path)?.to_lowercase();
    let name = || sql::<Text>(USER_NAME);
    let like = pattern(op, &given);
    Ok(ordered!(
        Condition,
        name(),
        op,
        given,
        Box::new(name().like(like).escape('\\'))
    ))
}

fn timestamp(value: &Value, path: &AttrPath) -> Result<NaiveDateTime, Unsupported> {
    let text = text(value, path)?;
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .map_err(|_| {
            unsupported(format!(
                "{} compares with an RFC 3339 date-time",
                path.dotted()
            ))
        })
}

/// One comparison on a member attribute.
fn compare(path: &AttrPath, op: CompareOp, value: &Value) -> Result<Condition, Unsupported> {
    let not_for = |what: &str| {
        unsupported(format!(
            "{} cannot be compared with {op:?} ({what})",
            path.dotted()
        ))
    };
    match (path.name.as_str(), path.sub.as_deref()) {
        ("id", None) => {
            let v = text(value, path)?.to_owned();
            match op {
                CompareOp::Eq => Ok(Box::new(memberships::user_id.eq(v))),
                CompareOp::Ne => Ok(Box::new(memberships::user_id.ne(v))),
                _ => Err(not_for("eq or ne only")),
            }
        }
        ("username", None) => user_name(op, value, path),
        ("emails", None) | ("emails", Some("value")) => email(op, value, path),
        ("externalid", None) => {
            let v = text(value, path)?.to_owned();
            exact_nullable!(memberships::external_id, op, v, not_for)
        }
        ("active", None) => {
            let Some(active) = boolean(value) else {
                return Err(unsupported("active compares with true or false"));
            };
            let wanted = match op {
                CompareOp::Eq => active,
                CompareOp::Ne => !active,
                _ => return Err(not_for("eq or ne only")),
            };
            let status = if wanted { "active" } else { "retired" };
            Ok(Box::new(memberships::status.eq(status)))
        }
        ("meta", Some(which @ ("lastmodified" | "created"))) => {
            let at = timestamp(value, path)?;
            Ok(if which == "created" {
                time_condition!(Condition, memberships::created_at, op, at, not_for)
            } else {
                time_condition!(Condition, memberships::updated_at, op, at, not_for)
            })
        }
        _ => Err(unsupported(format!(
            "filtering on {} is not supported; see the ServiceProviderConfig and docs/scim.md",
            path.dotted()
        ))),
    }
}

/// Whether the attribute has a value on every member (`pr`).
fn present(path: &AttrPath) -> Result<Condition, Unsupported> {
    match (path.name.as_str(), path.sub.as_deref()) {
        ("id" | "username" | "emails" | "active", None)
        | ("emails", Some("value"))
        | ("meta", Some("created" | "lastmodified")) => Ok(always(true)),
        ("externalid", None) => Ok(Box::new(memberships::external_id.is_not_null())),
        _ => Err(unsupported(format!(
            "filtering on {} is not supported",
            path.dotted()
        ))),
    }
}

/// Inside `emails[...]`: the one email is of type `work` and primary.
fn email_value(filter: &Filter) -> Result<Condition, Unsupported> {
    let email_path = AttrPath {
        uri: None,
        name: "emails".into(),
        sub: Some("value".into()),
    };
    Ok(match filter {
        Filter::Compare { path, op, value } => match (path.name.as_str(), path.sub.as_deref()) {
            ("value", None) | ("emails", Some("value")) => email(*op, value, &email_path)?,
            ("type", None) | ("emails", Some("type")) => {
                let is_work = value
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("work"));
                match op {
                    CompareOp::Eq => always(is_work),
                    CompareOp::Ne => always(!is_work),
                    _ => return Err(unsupported("emails.type compares with eq or ne")),
                }
            }
            ("primary", None) | ("emails", Some("primary")) => match op {
                CompareOp::Eq => always(boolean(value) == Some(true)),
                CompareOp::Ne => always(boolean(value) != Some(true)),
                _ => return Err(unsupported("emails.primary compares with eq or ne")),
            },
            _ => return Err(unsupported(format!("emails has no {}", path.dotted()))),
        },
        Filter::Present(path) => match (path.name.as_str(), path.sub.as_deref()) {
            ("value" | "type" | "primary", None) => always(true),
            _ => return Err(unsupported(format!("emails has no {}", path.dotted()))),
        },
        Filter::And(a, b) => Box::new(email_value(a)?.and(email_value(b)?)),
        Filter::Or(a, b) => Box::new(email_value(a)?.or(email_value(b)?)),
        Filter::Not(inner) => Box::new(diesel::dsl::not(email_value(inner)?)),
        Filter::ValuePath { .. } => return Err(unsupported("value paths do not nest")),
    })
}

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:user";

/// A path with a schema URN must name the resource's core schema.
fn core_attribute(path: &AttrPath, schema: &str) -> Result<(), Unsupported> {
    match &path.uri {
        Some(uri) if uri != schema => Err(unsupported(format!(
            "filtering on {uri}:{} is not supported",
            path.dotted()
        ))),
        _ => Ok(()),
    }
}

/// The condition a User filter stands for.
pub fn user_condition(filter: &Filter) -> Result<Condition, Unsupported> {
    let check_uri = |path: &AttrPath| core_attribute(path, USER_SCHEMA);
    Ok(match filter {
        Filter::Compare { path, op, value } => {
            check_uri(path)?;
            compare(path, *op, value)?
        }
        Filter::Present(path) => {
            check_uri(path)?;
            present(path)?
        }
        Filter::And(a, b) => Box::new(user_condition(a)?.and(user_condition(b)?)),
        Filter::Or(a, b) => Box::new(user_condition(a)?.or(user_condition(b)?)),
        Filter::Not(inner) => Box::new(diesel::dsl::not(user_condition(inner)?)),
        Filter::ValuePath { path, filter } if path.name == "emails" => email_value(filter)?,
        Filter::ValuePath { path, .. } => {
            return Err(unsupported(format!(
                "filtering on {}[...] is not supported",
                path.name
            )));
        }
    })
}

/// The org's members matching `condition`: how many, and the page from
/// `offset` (SCIM's `startIndex` - 1), ordered by `sort` (email or
/// creation) then user id.
pub fn users(
    conn: &mut DbConn,
    org_id: &str,
    condition: impl Fn() -> Option<Condition>,
    sort: UserSort,
    descending: bool,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<(MembershipRow, UserRow)>)> {
    let mut counted = memberships::table
        .inner_join(users::table)
        .filter(memberships::org_id.eq(org_id.to_owned()))
        .count()
        .into_boxed();
    if let Some(c) = condition() {
        counted = counted.filter(c);
    }
    let total: i64 = counted.get_result(conn)?;
    if limit == 0 {
        return Ok((total, Vec::new()));
    }
    let mut query = memberships::table
        .inner_join(users::table)
        .filter(memberships::org_id.eq(org_id.to_owned()))
        .select((MembershipRow::as_select(), UserRow::as_select()))
        .into_boxed();
    if let Some(c) = condition() {
        query = query.filter(c);
    }
    // By id unless asked otherwise: every filter's index (org, email,
    // user id), (org, external id) or the key itself then serves the
    // order too, so a lookup never walks the org to avoid a sort.
    query = match (sort, descending) {
        (UserSort::Id, false) => query.order(memberships::user_id.asc()),
        (UserSort::Id, true) => query.order(memberships::user_id.desc()),
        (UserSort::UserName, false) => {
            query.order((sql::<Text>(USER_NAME).asc(), memberships::user_id.asc()))
        }
        (UserSort::UserName, true) => {
            query.order((sql::<Text>(USER_NAME).desc(), memberships::user_id.desc()))
        }
        (UserSort::Created, false) => {
            query.order((memberships::created_at.asc(), memberships::user_id.asc()))
        }
        (UserSort::Created, true) => {
            query.order((memberships::created_at.desc(), memberships::user_id.desc()))
        }
    };
    let rows = query.offset(offset).limit(limit).load(conn)?;
    Ok((total, rows))
}

/// A condition on one group row.
pub type GroupCondition = Box<dyn BoxableExpression<groups::table, Backend, SqlType = Bool>>;

fn group_always(value: bool) -> GroupCondition {
    Box::new(sql::<Bool>(if value { "1 = 1" } else { "1 = 0" }))
}

/// Whether the group has the member `user` (`members eq "…"`,
/// `members[value eq "…"]`).
fn has_member(user: &str) -> GroupCondition {
    Box::new(diesel::dsl::exists(
        group_memberships::table
            .filter(group_memberships::org_id.eq(groups::org_id))
            .filter(group_memberships::group_id.eq(groups::id))
            .filter(group_memberships::user_id.eq(user.to_owned())),
    ))
}

fn group_compare(
    path: &AttrPath,
    op: CompareOp,
    value: &Value,
) -> Result<GroupCondition, Unsupported> {
    let not_for = |what: &str| {
        unsupported(format!(
            "{} cannot be compared with {op:?} ({what})",
            path.dotted()
        ))
    };
    match (path.name.as_str(), path.sub.as_deref()) {
        ("id", None) => {
            let v = text(value, path)?.to_owned();
            match op {
                CompareOp::Eq => Ok(Box::new(groups::id.eq(v))),
                CompareOp::Ne => Ok(Box::new(groups::id.ne(v))),
                _ => Err(not_for("eq or ne only")),
            }
        }
        // Names are unique ignoring case: compared by their key.
        ("displayname", None) => {
            let v = crate::domain::search_key(text(value, path)?);
            Ok(text_condition!(GroupCondition, groups::name_key, op, v))
        }
        ("externalid", None) => {
            let v = text(value, path)?.to_owned();
            exact_nullable!(groups::external_id, op, v, not_for)
        }
        ("members", None) | ("members", Some("value")) => {
            let v = text(value, path)?;
            match op {
                CompareOp::Eq => Ok(has_member(v)),
                CompareOp::Ne => Ok(Box::new(diesel::dsl::not(has_member(v)))),
                _ => Err(not_for("eq or ne only")),
            }
        }
        ("meta", Some(which @ ("lastmodified" | "created"))) => {
            let at = timestamp(value, path)?;
            Ok(if which == "created" {
                time_condition!(GroupCondition, groups::created_at, op, at, not_for)
            } else {
                time_condition!(GroupCondition, groups::updated_at, op, at, not_for)
            })
        }
        _ => Err(unsupported(format!(
            "filtering Groups on {} is not supported; see docs/scim.md",
            path.dotted()
        ))),
    }
}

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:group";

/// The condition a Group filter stands for.
pub fn group_condition(filter: &Filter) -> Result<GroupCondition, Unsupported> {
    let check_uri = |path: &AttrPath| core_attribute(path, GROUP_SCHEMA);
    Ok(match filter {
        Filter::Compare { path, op, value } => {
            check_uri(path)?;
            group_compare(path, *op, value)?
        }
        Filter::Present(path) => {
            check_uri(path)?;
            match (path.name.as_str(), path.sub.as_deref()) {
                ("id" | "displayname", None) | ("meta", Some("created" | "lastmodified")) => {
                    group_always(true)
                }
                ("externalid", None) => Box::new(groups::external_id.is_not_null()),
                ("members", None | Some("value")) => Box::new(diesel::dsl::exists(
                    group_memberships::table
                        .filter(group_memberships::org_id.eq(groups::org_id))
                        .filter(group_memberships::group_id.eq(groups::id)),
                )),
                _ => {
                    return Err(unsupported(format!(
                        "filtering Groups on {} is not supported",
                        path.dotted()
                    )));
                }
            }
        }
        Filter::And(a, b) => Box::new(group_condition(a)?.and(group_condition(b)?)),
        Filter::Or(a, b) => Box::new(group_condition(a)?.or(group_condition(b)?)),
        Filter::Not(inner) => Box::new(diesel::dsl::not(group_condition(inner)?)),
        Filter::ValuePath { path, filter } if path.name == "members" => match filter.as_ref() {
            Filter::Compare {
                path: inner,
                op: CompareOp::Eq,
                value,
            } if inner.name == "value" => has_member(text(value, inner)?),
            _ => return Err(unsupported("members[...] takes value eq \"<user id>\"")),
        },
        Filter::ValuePath { path, .. } => {
            return Err(unsupported(format!(
                "filtering Groups on {}[...] is not supported",
                path.name
            )));
        }
    })
}

/// The org's groups matching `condition`: how many, and the page from
/// `offset`, by name.
pub fn groups(
    conn: &mut DbConn,
    org_id: &str,
    condition: impl Fn() -> Option<GroupCondition>,
    offset: i64,
    limit: i64,
) -> QueryResult<(i64, Vec<GroupRow>)> {
    let mut counted = groups::table
        .filter(groups::org_id.eq(org_id.to_owned()))
        .count()
        .into_boxed();
    if let Some(c) = condition() {
        counted = counted.filter(c);
    }
    let total: i64 = counted.get_result(conn)?;
    if limit == 0 {
        return Ok((total, Vec::new()));
    }
    let mut query = groups::table
        .filter(groups::org_id.eq(org_id.to_owned()))
        .select(GroupRow::as_select())
        .into_boxed();
    if let Some(c) = condition() {
        query = query.filter(c);
    }
    let rows = query
        .order((groups::name_key.asc(), groups::id.asc()))
        .offset(offset)
        .limit(limit)
        .load(conn)?;
    Ok((total, rows))
}
