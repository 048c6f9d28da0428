//! The audit log over GraphQL: `events(...)` and `Member.history`.

use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields, OpaqueCursor};
use async_graphql::{ComplexObject, Context, Json, SimpleObject};
use chrono::{DateTime, Utc};

use super::members::Member;
use super::scalars::Uuid;
use super::types::ConnectionTotals;
use super::{caller, invalid, page_size};
use crate::service::{EventPosition, EventQuery, EventView, Page};

type EventCursor = OpaqueCursor<String>;

/// Who made a change.
#[derive(SimpleObject, Debug, Clone)]
pub struct EventActor {
    /// The token's `sub`: for a person, their user id. `system` for a
    /// change another org made that shows in this one.
    pub sub: String,
    /// `operator`, `admin` or `integration`; `system` as for `sub`.
    pub role: String,
    /// The token's `jti`, when it has one.
    pub jti: Option<String>,
    /// The API the change came through: `graphql`, `scim`, `console` (the
    /// admin console at /admin) or `cli`.
    pub channel: String,
}

/// What a change was about.
#[derive(SimpleObject, Debug, Clone)]
pub struct EventTarget {
    /// `member` (the id is the user's), `user`, `group`, `org` or `token`
    /// (the id is the token's `jti`).
    pub kind: String,
    pub id: String,
}

/// One recorded change, written in the same transaction as the change.
#[derive(SimpleObject, Debug, Clone)]
pub struct Event {
    /// The event's id (a UUID v7).
    pub id: Uuid,
    /// Where the event stands in the log: page `after` it. Events appear
    /// in position order and a position, once passed, is never filled in
    /// later.
    pub position: String,
    /// The org the change belongs to; null for platform changes (an
    /// operator token issued).
    pub org_id: Option<Uuid>,
    /// One of: `member.created`, `member.updated`, `member.retired`,
    /// `member.reactivated`, `member.removed`, `user.updated` (the global
    /// profile), `group.created`, `group.updated`, `group.deleted`,
    /// `group.member_added`, `group.member_removed`, `org.created`,
    /// `org.updated`, `org.suspended`, `org.reactivated`, `token.issued`,
    /// `token.revoked`, `members.synced` (one summary per sync that wrote).
    #[graphql(name = "type")]
    pub kind: String,
    pub actor: EventActor,
    pub target: EventTarget,
    /// Each changed field's value before and after:
    /// `{"role": {"before": "user", "after": "admin"}}`. Never a secret.
    pub changes: Json<serde_json::Value>,
    pub occurred_at: DateTime<Utc>,
    /// The `x-request-id` of the request that made the change.
    pub request_id: Option<String>,
}

impl From<EventView> for Event {
    fn from(e: EventView) -> Self {
        Self {
            id: e.id.into(),
            position: e.position.encode(),
            org_id: e.org.map(|o| o.0.into()),
            kind: e.kind,
            actor: EventActor {
                sub: e.actor_sub,
                role: e.actor_role,
                jti: e.actor_jti,
                channel: e.channel,
            },
            target: EventTarget {
                kind: e.target_kind,
                id: e.target_id,
            },
            changes: Json(e.changes),
            occurred_at: e.occurred_at.and_utc(),
            request_id: e.request_id,
        }
    }
}

/// Reads `first`/`after` of an events list.
pub fn event_query(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<EventQuery> {
    let first = page_size(first)?;
    let after = after
        .map(|cursor| {
            EventCursor::decode_cursor(&cursor)
                .ok()
                .and_then(|c| EventPosition::decode(&c.0))
                .or_else(|| EventPosition::decode(&cursor))
                .ok_or_else(|| invalid("after is not a position from the events list"))
        })
        .transpose()?;
    Ok(EventQuery {
        first,
        after,
        with_total: ctx.look_ahead().field("totalCount").exists(),
        ..Default::default()
    })
}

pub type EventConnection = Connection<EventCursor, Event, ConnectionTotals, EmptyFields>;

/// Shapes a page of events as a Relay connection.
pub fn event_connection(page: Page<EventView>, after_given: bool) -> EventConnection {
    let totals = ConnectionTotals {
        total_count: page.total.map(|t| t.min(i32::MAX as i64) as i32),
    };
    let mut connection = Connection::with_additional_fields(after_given, page.has_next, totals);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|event| Edge::new(OpaqueCursor(event.position.encode()), Event::from(event))),
    );
    connection
}

#[ComplexObject]
impl Member {
    /// The changes to this member in this org, oldest first (needs
    /// `events:read`).
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<EventConnection> {
        let (service, who) = caller(ctx)?;
        let after_given = after.is_some();
        let query = event_query(ctx, first, after)?;
        let page = service
            .member_history(who, self.org_id.into(), self.id.into(), query)
            .await?;
        Ok(event_connection(page, after_given))
    }
}
