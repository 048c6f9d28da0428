//! Query resolvers.

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields, OpaqueCursor};
use async_graphql::{Context, Object};

use super::scalars::Uuid;
use super::types::{ConnectionTotals, Group, GroupUser, Org, UserSearch};
use super::{caller, invalid};
use crate::service::{FindUsers, MAX_PAGE, OrgKey, Page, PageRequest};

pub struct QueryRoot;

type Cursor = OpaqueCursor<String>;

/// Reads `first`/`after` and whether `totalCount` was selected.
fn page_request(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let first = first.unwrap_or(50);
    if first < 1 || first as usize > MAX_PAGE {
        return Err(invalid(format!("first must be between 1 and {MAX_PAGE}")));
    }
    let after = after
        .map(|cursor| {
            Cursor::decode_cursor(&cursor)
                .ok()
                .and_then(|key| crate::domain::search_term("after", &key.0).ok())
                .ok_or_else(|| invalid("after is not a cursor from this list"))
        })
        .transpose()?;
    let with_total = ctx.look_ahead().field("totalCount").exists();
    Ok(PageRequest {
        first: first as usize,
        after,
        with_total,
    })
}

/// Shapes a page as a Relay connection; `key` is an item's cursor value.
fn connection<Row, Node>(
    page: Page<Row>,
    after_given: bool,
    key: impl Fn(&Row) -> String,
) -> Connection<Cursor, Node, ConnectionTotals, EmptyFields>
where
    Node: From<Row> + async_graphql::OutputType,
{
    let totals = ConnectionTotals {
        total_count: page.total.map(|t| t.min(i32::MAX as i64) as i32),
    };
    let mut connection = Connection::with_additional_fields(after_given, page.has_next, totals);
    connection.edges.extend(page.items.into_iter().map(|row| {
        let cursor = OpaqueCursor(key(&row));
        Edge::new(cursor, Node::from(row))
    }));
    connection
}

#[Object(name = "Query")]
impl QueryRoot {
    /// Members of the caller's org matching every given criterion (at least
    /// one): `email` exact, ignoring case; `externalId` exact; `mobile` on
    /// its normalised digits; `name` a substring of at least 3 characters.
    /// At most 10 rows. Operators may leave out `org` to search all users.
    async fn find_user_by(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        email: Option<String>,
        external_id: Option<String>,
        mobile: Option<String>,
        name: Option<String>,
    ) -> async_graphql::Result<Vec<UserSearch>> {
        let (service, who) = caller(ctx)?;
        let find = FindUsers {
            org: org.map(Into::into),
            email,
            external_id,
            mobile,
            name,
        };
        let found = service.find_users(who, find).await?;
        Ok(found.into_iter().map(UserSearch::from).collect())
    }

    /// Group memberships in the org, narrowed by `groupId` and/or `userId`;
    /// with neither, at most 500 rows. Ordered by user name.
    async fn group_users(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        group_id: Option<Uuid>,
        user_id: Option<Uuid>,
    ) -> async_graphql::Result<Vec<GroupUser>> {
        let (service, who) = caller(ctx)?;
        let rows = service
            .group_users(
                who,
                org.map(Into::into),
                group_id.map(Into::into),
                user_id.map(Into::into),
            )
            .await?;
        Ok(rows.into_iter().map(GroupUser::from).collect())
    }

    /// One org, by `id` or `slug` (tenant callers may give neither: their
    /// own org). Operators see any org; other callers only their own.
    async fn org(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        slug: Option<String>,
    ) -> async_graphql::Result<Option<Org>> {
        let (service, who) = caller(ctx)?;
        let key = match (id, slug) {
            (Some(id), None) => OrgKey::Id(id.into()),
            (None, Some(slug)) => OrgKey::Slug(slug),
            (None, None) => match who.org {
                Some(own) => OrgKey::Id(own),
                None => return Err(invalid("give id or slug")),
            },
            (Some(_), Some(_)) => return Err(invalid("give either id or slug, not both")),
        };
        Ok(service.org(who, key).await?.map(Org::from))
    }

    /// All orgs by slug (operators only); `q` matches name or slug.
    async fn orgs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        q: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Org, ConnectionTotals, EmptyFields>> {
        let (service, who) = caller(ctx)?;
        let after_given = after.is_some();
        let request = page_request(ctx, first, after)?;
        let page = service.orgs(who, q, request).await?;
        Ok(connection(page, after_given, |org| org.slug.clone()))
    }

    /// The org's groups by name; `q` matches the name.
    async fn groups(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        first: Option<i32>,
        after: Option<String>,
        q: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, Group, ConnectionTotals, EmptyFields>> {
        let (service, who) = caller(ctx)?;
        let after_given = after.is_some();
        let request = page_request(ctx, first, after)?;
        let page = service.groups(who, org.map(Into::into), q, request).await?;
        Ok(connection(page, after_given, |group| {
            group.name_key.clone()
        }))
    }

    /// One group of the org; null when there is none with this id.
    async fn group(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Uuid,
    ) -> async_graphql::Result<Option<Group>> {
        let (service, who) = caller(ctx)?;
        Ok(service
            .group(who, org.map(Into::into), id.into())
            .await?
            .map(Group::from))
    }
}
