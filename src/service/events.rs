//! The audit log: every change recorded as an event in the transaction
//! that makes it, and read back by position.
//!
//! Writes run in a [`Tx`], the one way the service writes (see
//! [`Service::write`]): the work records a [`Draft`] for each entity it
//! changes, and the drafts become rows just before the transaction
//! commits. A write that fails, rolls back or changes nothing records
//! nothing. How an event is made is described in `docs/ARCHITECTURE.md`,
//! "Events".

use std::ops::{Deref, DerefMut};

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Page, Service, now};
use crate::auth::{Principal, Scope};
use crate::db::models::{EventRow, MembershipChanges, MembershipRow, UserChanges, UserRow};
use crate::db::{DbConn, events};
use crate::domain::{Attributes, Corrupt, MemberStatus, OrgId, UserId, search_term};
use crate::error::{Error, Result};

/// The event types, as recorded and as filtered by.
pub mod kind {
    pub const MEMBER_CREATED: &str = "member.created";
    pub const MEMBER_UPDATED: &str = "member.updated";
    pub const MEMBER_RETIRED: &str = "member.retired";
    pub const MEMBER_REACTIVATED: &str = "member.reactivated";
    pub const MEMBER_REMOVED: &str = "member.removed";
    pub const MEMBER_INVITED: &str = "member.invited";
    pub const USER_UPDATED: &str = "user.updated";
    pub const GROUP_CREATED: &str = "group.created";
    pub const GROUP_UPDATED: &str = "group.updated";
    pub const GROUP_DELETED: &str = "group.deleted";
    pub const GROUP_MEMBER_ADDED: &str = "group.member_added";
    pub const GROUP_MEMBER_REMOVED: &str = "group.member_removed";
    pub const ORG_CREATED: &str = "org.created";
    pub const ORG_UPDATED: &str = "org.updated";
    pub const ORG_SUSPENDED: &str = "org.suspended";
    pub const ORG_REACTIVATED: &str = "org.reactivated";
    pub const TOKEN_ISSUED: &str = "token.issued";
    pub const TOKEN_REVOKED: &str = "token.revoked";
    pub const MEMBERS_SYNCED: &str = "members.synced";
    pub const WEBHOOK_CREATED: &str = "webhook.created";
    pub const WEBHOOK_UPDATED: &str = "webhook.updated";
    pub const WEBHOOK_DELETED: &str = "webhook.deleted";
    pub const WEBHOOK_SECRET_ROTATED: &str = "webhook.secret_rotated";
    pub const WEBHOOK_DISABLED: &str = "webhook.disabled";

    /// Every type, in the order the docs list them.
    pub const ALL: [&str; 24] = [
        MEMBER_CREATED,
        MEMBER_UPDATED,
        MEMBER_RETIRED,
        MEMBER_REACTIVATED,
        MEMBER_REMOVED,
        MEMBER_INVITED,
        USER_UPDATED,
        GROUP_CREATED,
        GROUP_UPDATED,
        GROUP_DELETED,
        GROUP_MEMBER_ADDED,
        GROUP_MEMBER_REMOVED,
        ORG_CREATED,
        ORG_UPDATED,
        ORG_SUSPENDED,
        ORG_REACTIVATED,
        TOKEN_ISSUED,
        TOKEN_REVOKED,
        MEMBERS_SYNCED,
        WEBHOOK_CREATED,
        WEBHOOK_UPDATED,
        WEBHOOK_DELETED,
        WEBHOOK_SECRET_ROTATED,
        WEBHOOK_DISABLED,
    ];
}

/// An event about to be recorded: what changed, in which org.
#[derive(Debug, Clone)]
pub(super) struct Draft {
    org: Option<String>,
    kind: &'static str,
    target_kind: &'static str,
    target_id: String,
    /// Made by the system rather than the caller: a change another org
    /// made, shown in this org without saying who made it.
    by_system: bool,
    /// The members of the `changes` JSON object, already serialised: a
    /// sync drafts tens of thousands of events, and text is what they
    /// become.
    changes: String,
}

impl Draft {
    pub(super) fn new(
        org: Option<&str>,
        kind: &'static str,
        target_kind: &'static str,
        target_id: &str,
    ) -> Self {
        Self {
            org: org.map(str::to_owned),
            kind,
            target_kind,
            target_id: target_id.to_owned(),
            by_system: false,
            changes: String::new(),
        }
    }

    /// Marks the event as the system's (see `by_system`).
    pub(super) fn by_system(mut self) -> Self {
        self.by_system = true;
        self
    }

    /// Records `field` going from `before` to `after` (nothing when they
    /// are equal).
    pub(super) fn change(
        mut self,
        field: &str,
        before: impl Serialize,
        after: impl Serialize,
    ) -> Self {
        let (before, after) = (to_json(&before), to_json(&after));
        if before != after {
            self = self.push(field, &before, &after);
        }
        self
    }

    /// Appends a change given as JSON text.
    fn push(mut self, field: &str, before: &str, after: &str) -> Self {
        if !self.changes.is_empty() {
            self.changes.push(',');
        }
        self.changes.push_str(&to_json(&field));
        self.changes.push_str(":{\"before\":");
        self.changes.push_str(before);
        self.changes.push_str(",\"after\":");
        self.changes.push_str(after);
        self.changes.push('}');
        self
    }

    /// Records a field set on creation.
    pub(super) fn set(self, field: &str, after: impl Serialize) -> Self {
        self.change(field, Value::Null, after)
    }

    pub(super) fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// A write transaction with the events it records. It dereferences to the
/// connection, so queries take it as they take a connection.
pub struct Tx<'c> {
    conn: &'c mut DbConn,
    drafts: Vec<Draft>,
    /// The transaction's number and time, once events were written.
    numbered: Option<(i64, NaiveDateTime)>,
    /// How many events were written so far (the next one's ordinal).
    written: usize,
}

impl Deref for Tx<'_> {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        self.conn
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut DbConn {
        self.conn
    }
}

impl<'c> Tx<'c> {
    pub(super) fn new(conn: &'c mut DbConn) -> Self {
        Self {
            conn,
            drafts: Vec::new(),
            numbered: None,
            written: 0,
        }
    }

    /// Records an event, written when the transaction commits.
    pub(super) fn record(&mut self, draft: Draft) {
        self.drafts.push(draft);
    }

    pub(super) fn record_all(&mut self, drafts: impl IntoIterator<Item = Draft>) {
        self.drafts.extend(drafts);
    }

    /// Writes the recorded events, numbered for this transaction, as the
    /// last statements before the commit.
    /// Returns whether it wrote any (now or in an earlier [`Tx::flush`]).
    pub(super) fn finish(mut self, who: &Principal) -> Result<bool> {
        self.flush(who)?;
        Ok(self.written > 0)
    }

    /// Writes the events recorded so far, so that a long write (a sync of
    /// many chunks) need not hold them all until the commit. They commit
    /// or roll back with the rest of the transaction, and every event of
    /// the transaction has its number and time.
    pub(super) fn flush(&mut self, who: &Principal) -> Result<()> {
        if self.drafts.is_empty() {
            return Ok(());
        }
        let (tx_id, at) = match self.numbered {
            Some(numbered) => numbered,
            None => {
                let numbered = (events::transaction_number(self.conn)?, now());
                self.numbered = Some(numbered);
                numbered
            }
        };
        let first = self.written;
        self.written += self.drafts.len();
        // Rows are made a chunk at a time, so that a sync's events are
        // held once, as drafts.
        let mut drafts = std::mem::take(&mut self.drafts)
            .into_iter()
            .enumerate()
            .map(|(i, draft)| (first + i, draft))
            .peekable();
        while drafts.peek().is_some() {
            let rows: Vec<EventRow> = drafts
                .by_ref()
                .take(crate::db::INSERT_CHUNK)
                .map(|(ordinal, draft)| {
                    let (sub, role, jti, request_id) = if draft.by_system {
                        (SYSTEM_ACTOR.into(), SYSTEM_ACTOR.into(), None, None)
                    } else {
                        (
                            who.subject.clone(),
                            who.role.as_str().into(),
                            who.jti.clone(),
                            who.request_id.clone(),
                        )
                    };
                    EventRow {
                        id: Uuid::now_v7().to_string(),
                        tx_id,
                        ordinal: ordinal as i32,
                        org_id: draft.org,
                        actor_sub: sub,
                        actor_role: role,
                        actor_jti: jti,
                        channel: who.channel.as_str().into(),
                        kind: draft.kind.into(),
                        target_kind: draft.target_kind.into(),
                        target_id: draft.target_id,
                        changes: format!("{{{}}}", draft.changes),
                        occurred_at: at,
                        request_id,
                    }
                })
                .collect();
            events::insert_many(self.conn, &rows)?;
        }
        Ok(())
    }
}

/// A value as JSON text (`null` for what cannot be serialised, which no
/// field of ours is).
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// `member.created`: `user` as the org sees them (see `profile`).
pub(super) fn member_created(user: &UserRow, m: &MembershipRow) -> Draft {
    let shown = super::profile::seen_by_org(user.clone(), m);
    let draft = Draft::new(Some(&m.org_id), kind::MEMBER_CREATED, "member", &m.user_id)
        .set("email", &shown.email)
        .set("firstName", &shown.first_name)
        .set("lastName", &shown.last_name)
        .set("name", &shown.name)
        .set("mobile", &shown.mobile)
        .set("locale", &shown.locale)
        .set("timezone", &shown.timezone)
        .set("role", &m.role)
        .set("status", &m.status)
        .set("externalId", &m.external_id)
        .set("userName", &m.idp_user_name)
        .set("managed", m.managed);
    match m.attributes.as_str() {
        "{}" => draft,
        // Stored as compact JSON already (see `domain::Attributes`).
        stored => draft.push("attributes", "null", stored),
    }
}

/// `member.removed`, with what the org saw of the member.
pub(super) fn member_removed(user: &UserRow, m: &MembershipRow) -> Draft {
    let shown = super::profile::seen_by_org(user.clone(), m);
    Draft::new(Some(&m.org_id), kind::MEMBER_REMOVED, "member", &m.user_id)
        .change("email", json!(shown.email), Value::Null)
        .change("name", json!(shown.name), Value::Null)
        .change("role", json!(m.role), Value::Null)
        .change("status", json!(m.status), Value::Null)
}

/// The event for changes to a membership: `member.retired` or
/// `member.reactivated` when the status changes, else `member.updated`.
/// `None` when nothing shown changes.
pub(super) fn member_changed(before: &MembershipRow, changes: &MembershipChanges) -> Option<Draft> {
    let kind = match changes.status.as_deref().map(MemberStatus::from_db) {
        Some(MemberStatus::Retired) => kind::MEMBER_RETIRED,
        Some(MemberStatus::Active) => kind::MEMBER_REACTIVATED,
        None => kind::MEMBER_UPDATED,
    };
    let mut draft = Draft::new(Some(&before.org_id), kind, "member", &before.user_id);
    let text = |v: &Option<String>| json!(v);
    if let Some(role) = &changes.role {
        draft = draft.change("role", json!(before.role), json!(role));
    }
    if let Some(status) = &changes.status {
        draft = draft.change("status", json!(before.status), json!(status));
    }
    if let Some(external_id) = &changes.external_id {
        draft = draft.change("externalId", text(&before.external_id), text(external_id));
    }
    if let Some(user_name) = &changes.idp_user_name {
        draft = draft.change("userName", text(&before.idp_user_name), text(user_name));
    }
    if let Some(attributes) = &changes.attributes {
        draft = draft.change(
            "attributes",
            Attributes::from_db(&before.attributes),
            Attributes::from_db(attributes),
        );
    }
    // An invitation issued is its own event (`member.invited`); one that
    // ends is recorded where it ends (see `invitations`).
    for (field, old, new) in [
        (
            "firstName",
            &before.profile_first_name,
            &changes.profile_first_name,
        ),
        (
            "lastName",
            &before.profile_last_name,
            &changes.profile_last_name,
        ),
        ("name", &before.profile_name, &changes.profile_name),
        ("mobile", &before.profile_mobile, &changes.profile_mobile),
        ("locale", &before.profile_locale, &changes.profile_locale),
        (
            "timezone",
            &before.profile_timezone,
            &changes.profile_timezone,
        ),
    ] {
        if let Some(new) = new {
            draft = draft.change(field, text(old), text(new));
        }
    }
    draft.has_changes().then_some(draft)
}

/// `user.updated`: the global profile, changed through the org `org`.
pub(super) fn user_updated(org: &str, before: &UserRow, changes: &UserChanges) -> Option<Draft> {
    let mut draft = Draft::new(Some(org), kind::USER_UPDATED, "user", &before.id);
    let text = |v: &Option<String>| json!(v);
    if let Some(email) = &changes.email {
        draft = draft.change("email", json!(before.email), json!(email));
    }
    if let Some(v) = &changes.first_name {
        draft = draft.change("firstName", json!(before.first_name), json!(v));
    }
    if let Some(v) = &changes.last_name {
        draft = draft.change("lastName", json!(before.last_name), json!(v));
    }
    if let Some(v) = &changes.name {
        draft = draft.change("name", json!(before.name), json!(v));
    }
    if let Some(v) = &changes.mobile {
        draft = draft.change("mobile", text(&before.mobile), text(v));
    }
    if let Some(v) = &changes.locale {
        draft = draft.change("locale", text(&before.locale), text(v));
    }
    if let Some(v) = &changes.timezone {
        draft = draft.change("timezone", text(&before.timezone), text(v));
    }
    draft.has_changes().then_some(draft)
}

/// The actor `sub` and `role` of changes another org made (see
/// [`Draft::by_system`]).
pub const SYSTEM_ACTOR: &str = "system";

/// `member.updated` in another org that holds `user`, for a change to the
/// global profile: the email, and the rest when that org shows the global
/// profile (see `profile`). `None` when it sees nothing change.
pub(super) fn seen_elsewhere(
    membership: &MembershipRow,
    before: &UserRow,
    changes: &UserChanges,
) -> Option<Draft> {
    let mut draft = Draft::new(
        Some(&membership.org_id),
        kind::MEMBER_UPDATED,
        "member",
        &membership.user_id,
    )
    .by_system();
    if let Some(email) = &changes.email {
        draft = draft.change("email", &before.email, email);
    }
    if !membership.own_profile {
        if let Some(v) = &changes.first_name {
            draft = draft.change("firstName", &before.first_name, v);
        }
        if let Some(v) = &changes.last_name {
            draft = draft.change("lastName", &before.last_name, v);
        }
        if let Some(v) = &changes.name {
            draft = draft.change("name", &before.name, v);
        }
        if let Some(v) = &changes.mobile {
            draft = draft.change("mobile", &before.mobile, v);
        }
        if let Some(v) = &changes.locale {
            draft = draft.change("locale", &before.locale, v);
        }
        if let Some(v) = &changes.timezone {
            draft = draft.change("timezone", &before.timezone, v);
        }
    }
    draft.has_changes().then_some(draft)
}

/// `group.member_added` or `group.member_removed`, about the member.
pub(super) fn group_membership(org: &str, user: &str, group: &str, added: bool) -> Draft {
    let (kind, before, after) = if added {
        (kind::GROUP_MEMBER_ADDED, Value::Null, json!(group))
    } else {
        (kind::GROUP_MEMBER_REMOVED, json!(group), Value::Null)
    };
    Draft::new(Some(org), kind, "member", user).change("groupId", before, after)
}

/// A recorded event, as readers see it.
#[derive(Debug, Clone)]
pub struct EventView {
    pub id: Uuid,
    pub position: Position,
    pub org: Option<OrgId>,
    pub actor_sub: String,
    pub actor_role: String,
    pub actor_jti: Option<String>,
    pub channel: String,
    pub kind: String,
    pub target_kind: String,
    pub target_id: String,
    pub changes: Value,
    pub occurred_at: NaiveDateTime,
    pub request_id: Option<String>,
}

/// Where an event stands in the log; readers page after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub tx_id: i64,
    pub ordinal: i32,
}

impl Position {
    /// The opaque text form readers keep: `tx_id.ordinal`.
    pub fn encode(self) -> String {
        format!("{}.{}", self.tx_id, self.ordinal)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (tx, ordinal) = text.split_once('.')?;
        Some(Self {
            tx_id: tx.parse().ok()?,
            ordinal: ordinal.parse().ok()?,
        })
    }
}

impl EventView {
    /// The event as JSON, in the shape of the GraphQL `Event` type (what
    /// `roster events tail` prints and webhooks carry).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "position": self.position.encode(),
            "orgId": self.org.map(|o| o.to_string()),
            "type": self.kind,
            "actor": {
                "sub": self.actor_sub,
                "role": self.actor_role,
                "jti": self.actor_jti,
                "channel": self.channel,
            },
            "target": { "kind": self.target_kind, "id": self.target_id },
            "changes": self.changes,
            "occurredAt": self.occurred_at.and_utc().to_rfc3339(),
            "requestId": self.request_id,
        })
    }
}

impl EventView {
    pub(super) fn from_row(row: EventRow) -> Result<Self> {
        let corrupt = |what: &str| Corrupt(format!("malformed event {what}"));
        Ok(Self {
            id: Uuid::parse_str(&row.id).map_err(|_| corrupt("id"))?,
            position: Position {
                tx_id: row.tx_id,
                ordinal: row.ordinal,
            },
            org: row.org_id.as_deref().map(OrgId::from_db).transpose()?,
            actor_sub: row.actor_sub,
            actor_role: row.actor_role,
            actor_jti: row.actor_jti,
            channel: row.channel,
            kind: row.kind,
            target_kind: row.target_kind,
            target_id: row.target_id,
            changes: serde_json::from_str(&row.changes).map_err(|_| corrupt("changes"))?,
            occurred_at: row.occurred_at,
            request_id: row.request_id,
        })
    }
}

/// The `events` query as given.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub org: Option<OrgId>,
    pub first: usize,
    pub after: Option<Position>,
    pub types: Vec<String>,
    pub target_id: Option<String>,
    pub actor_sub: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub with_total: bool,
}

impl Service {
    /// `events(...)`: the org's events after a position, oldest first.
    pub async fn events(&self, who: &Principal, query: EventQuery) -> Result<Page<EventView>> {
        who.require(Scope::EventsRead)?;
        let org = who.org_for(query.org)?;
        self.read_events(Some(org), query).await
    }

    /// One member's history: the events about them in the org.
    pub async fn member_history(
        &self,
        who: &Principal,
        org: OrgId,
        user: UserId,
        query: EventQuery,
    ) -> Result<Page<EventView>> {
        who.require(Scope::EventsRead)?;
        let org = who.org_for(Some(org))?;
        let query = EventQuery {
            target_id: Some(user.as_db()),
            ..query
        };
        self.read_events(Some(org), query).await
    }

    /// Every org's events (operators on the command line: `events tail`).
    pub async fn all_events(&self, who: &Principal, query: EventQuery) -> Result<Page<EventView>> {
        who.require_operator()?;
        let org = query.org;
        self.read_events(org, query).await
    }

    /// Deletes the events older than `retention` (zero keeps everything),
    /// in batches, each its own short transaction so that writers are not
    /// held up; returns how many went.
    pub async fn prune_events(&self, retention: std::time::Duration) -> Result<usize> {
        if retention.is_zero() {
            return Ok(0);
        }
        let keep = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let Some(before) = now()
            .checked_sub_signed(keep)
            .filter(|t| chrono::Datelike::year(t) >= 1)
        else {
            return Ok(0);
        };
        self.prune_in_batches(move |tx| Ok(events::prune(tx, before, super::PRUNE_BATCH)?))
            .await
    }

    async fn read_events(&self, org: Option<OrgId>, query: EventQuery) -> Result<Page<EventView>> {
        for kind in &query.types {
            if !kind::ALL.contains(&kind.as_str()) {
                return Err(Error::invalid(format!(
                    "unknown event type \"{}\"; the types are: {}",
                    kind.chars().take(40).collect::<String>(),
                    kind::ALL.join(", ")
                )));
            }
        }
        let text = |field: &str, value: &Option<String>| {
            value.as_deref().map(|v| search_term(field, v)).transpose()
        };
        let filter = events::EventFilter {
            org: org.map(|o| o.as_db()),
            types: query.types.clone(),
            target_id: text("targetId", &query.target_id)?,
            actor_sub: text("actorSub", &query.actor_sub)?,
            since: query.since,
            until: query.until,
        };
        let first = query.first.clamp(1, super::MAX_PAGE);
        let after = query.after.map(|p| (p.tx_id, p.ordinal));
        let with_total = query.with_total;
        self.read(move |conn| {
            let mut rows = events::page(conn, &filter, after, first as i64 + 1)?;
            let has_next = rows.len() > first;
            rows.truncate(first);
            let total = if with_total {
                Some(events::count(conn, &filter)?)
            } else {
                None
            };
            Ok(Page {
                items: rows
                    .into_iter()
                    .map(EventView::from_row)
                    .collect::<Result<_>>()?,
                has_next,
                total,
            })
        })
        .await
    }
}
