//! Query resolvers.

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields, OpaqueCursor};
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};

use super::events::{EventConnection, event_connection, event_query};
use super::members::{
    AttributeFilter, InvitationStatus, Member, MemberSort, MemberStatusEnum, RoleEnum,
    SortDirection,
};
use super::scalars::Uuid;
use super::tokens::ApiToken;
use super::types::{ConnectionTotals, Group, GroupUser, Org, UserSearch};
use super::webhooks::{Webhook, WebhookDelivery};
use super::{caller, invalid, page_size};
use crate::service::{
    EventQuery, FindUsers, MemberKey, MemberQuery, OrgKey, Page, PageRequest, Position,
};

type MemberCursor = OpaqueCursor<Position>;

fn position(name: &str, cursor: Option<String>) -> async_graphql::Result<Option<Position>> {
    cursor
        .map(|c| {
            MemberCursor::decode_cursor(&c)
                .map(|p| p.0)
                .map_err(|_| invalid(format!("{name} is not a cursor from this list")))
        })
        .transpose()
}

pub struct QueryRoot;

type Cursor = OpaqueCursor<String>;

/// Reads `first`/`after` and whether `totalCount` was selected.
fn page_request(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let first = page_size(first)?;
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
        first,
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

    /// The org's recorded changes, oldest first, after the position
    /// `after` (needs `events:read`). Every change to members, users,
    /// groups, the org and its tokens is recorded in the transaction that
    /// made it; a reader that keeps the last position it saw and asks for
    /// what comes after never misses one. `types` narrows to event types
    /// (see `Event.type`), `targetId` to one member (user id), group, org
    /// or token, `actorSub` to one caller, `since`/`until` to a time range
    /// (`since` included, `until` not).
    #[expect(clippy::too_many_arguments, reason = "the contract's argument list")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        first: Option<i32>,
        after: Option<String>,
        types: Option<Vec<String>>,
        target_id: Option<String>,
        actor_sub: Option<String>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<EventConnection> {
        let (service, who) = caller(ctx)?;
        let after_given = after.is_some();
        let base = event_query(ctx, first, after)?;
        let query = EventQuery {
            org: org.map(Into::into),
            types: types.unwrap_or_default(),
            target_id,
            actor_sub,
            since: since.map(|t| t.naive_utc()),
            until: until.map(|t| t.naive_utc()),
            ..base
        };
        let page = service.events(who, query).await?;
        Ok(event_connection(page, after_given))
    }

    /// The org's API tokens, oldest first (admins and operators); revoked
    /// ones only with `includeRevoked`. Never the tokens themselves.
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        first: Option<i32>,
        after: Option<String>,
        include_revoked: Option<bool>,
    ) -> async_graphql::Result<Connection<Cursor, ApiToken, ConnectionTotals, EmptyFields>> {
        let (service, who) = caller(ctx)?;
        let after_given = after.is_some();
        let request = page_request(ctx, first, after)?;
        let page = service
            .api_tokens(
                who,
                org.map(Into::into),
                include_revoked.unwrap_or(false),
                request,
            )
            .await?;
        Ok(connection(page, after_given, |token| token.id.to_string()))
    }

    /// The org's webhook endpoints, oldest first (needs `webhooks:write`).
    /// Never their secrets.
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
    ) -> async_graphql::Result<Vec<Webhook>> {
        let (service, who) = caller(ctx)?;
        let hooks = service.webhooks(who, org.map(Into::into)).await?;
        Ok(hooks.into_iter().map(Webhook::from).collect())
    }

    /// An endpoint's deliveries, newest first, optionally only those with
    /// `status` `pending`, `delivered` or `failed` (needs
    /// `webhooks:write`): attempts, status codes, latency and the next try.
    /// Settled deliveries are kept 30 days.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        webhook_id: Uuid,
        first: Option<i32>,
        after: Option<String>,
        status: Option<String>,
    ) -> async_graphql::Result<Connection<Cursor, WebhookDelivery, ConnectionTotals, EmptyFields>>
    {
        let (service, who) = caller(ctx)?;
        let after_given = after.is_some();
        let mut request = page_request(ctx, first, after)?;
        request.with_total = false;
        let page = service
            .webhook_deliveries(who, org.map(Into::into), webhook_id.0, status, request)
            .await?;
        Ok(connection(page, after_given, |d| d.id.to_string()))
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
            group.position.clone()
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

    /// One member of the org, by exactly one of `id` (the user's id),
    /// `email` or `externalId`; null when there is none.
    async fn user(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Option<Uuid>,
        email: Option<String>,
        external_id: Option<String>,
    ) -> async_graphql::Result<Option<Member>> {
        let (service, who) = caller(ctx)?;
        let key = match (id, email, external_id) {
            (Some(id), None, None) => MemberKey::Id(id.into()),
            (None, Some(email), None) => MemberKey::Email(email),
            (None, None, Some(external_id)) => MemberKey::ExternalId(external_id),
            _ => return Err(invalid("give exactly one of id, email or externalId")),
        };
        let with_groups = ctx.look_ahead().field("groups").exists();
        Ok(service
            .member(who, org.map(Into::into), key, with_groups)
            .await?
            .map(Member::from))
    }

    /// The org's members, a page at a time (Relay: `first`/`after` forwards,
    /// `last`/`before` backwards; 50 by default, at most 500). Filters
    /// combine with AND; a list filter matches any of its values. `q`
    /// matches the name or email ignoring case; `statuses` defaults to
    /// all; `groupIds` matches members of any of the groups; every
    /// `attribute` pair must match exactly; the created/updated bounds are
    /// exclusive and refer to the membership. `lastSignInBefore` also
    /// matches members who never signed in, `lastSignInAfter` does not;
    /// `signedIn: false` matches only those who never did.
    /// `invitationStatuses` matches the invitation's status now (`NONE`:
    /// never invited); `invitedAfter`/`invitedBefore` bound when the
    /// current invitation was issued. Cursors are tied to the sort
    /// (default NAME ASC) and stay valid while members are added.
    /// `totalCount` counts all matches and costs a query only when
    /// selected.
    #[expect(clippy::too_many_arguments, reason = "the contract's argument list")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        q: Option<String>,
        roles: Option<Vec<RoleEnum>>,
        statuses: Option<Vec<MemberStatusEnum>>,
        group_ids: Option<Vec<Uuid>>,
        external_ids: Option<Vec<String>>,
        attribute: Option<Vec<AttributeFilter>>,
        created_after: Option<DateTime<Utc>>,
        created_before: Option<DateTime<Utc>>,
        updated_after: Option<DateTime<Utc>>,
        updated_before: Option<DateTime<Utc>>,
        last_sign_in_after: Option<DateTime<Utc>>,
        last_sign_in_before: Option<DateTime<Utc>>,
        signed_in: Option<bool>,
        invitation_statuses: Option<Vec<InvitationStatus>>,
        invited_after: Option<DateTime<Utc>>,
        invited_before: Option<DateTime<Utc>>,
        sort_by: Option<MemberSort>,
    ) -> async_graphql::Result<Connection<MemberCursor, Member, ConnectionTotals, EmptyFields>>
    {
        let (service, who) = caller(ctx)?;
        let look = ctx.look_ahead();
        let with_groups = look.field("edges").field("node").field("groups").exists()
            || look.field("nodes").field("groups").exists();
        let query = MemberQuery {
            org: org.map(Into::into),
            first,
            after: position("after", after)?,
            last,
            before: position("before", before)?,
            q,
            roles: roles
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            statuses: statuses
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            group_ids: group_ids
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            external_ids: external_ids.unwrap_or_default(),
            attributes: attribute
                .unwrap_or_default()
                .into_iter()
                .map(|a| (a.key, a.value.0))
                .collect(),
            created_after: created_after.map(|t| t.naive_utc()),
            created_before: created_before.map(|t| t.naive_utc()),
            updated_after: updated_after.map(|t| t.naive_utc()),
            updated_before: updated_before.map(|t| t.naive_utc()),
            last_sign_in_after: last_sign_in_after.map(|t| t.naive_utc()),
            last_sign_in_before: last_sign_in_before.map(|t| t.naive_utc()),
            signed_in,
            invitation_statuses: invitation_statuses
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            invited_after: invited_after.map(|t| t.naive_utc()),
            invited_before: invited_before.map(|t| t.naive_utc()),
            sort: sort_by.map(|s| s.field.into()),
            ascending: sort_by.is_none_or(|s| s.direction == SortDirection::Asc),
            with_total: look.field("totalCount").exists(),
            with_groups,
        };
        let page = service.members(who, query).await?;
        let totals = ConnectionTotals {
            total_count: page.total.map(|t| t.min(i32::MAX as i64) as i32),
        };
        let mut connection =
            Connection::with_additional_fields(page.has_previous, page.has_next, totals);
        connection.edges.extend(
            page.items
                .into_iter()
                .map(|(position, view)| Edge::new(OpaqueCursor(position), Member::from(view))),
        );
        Ok(connection)
    }
}
