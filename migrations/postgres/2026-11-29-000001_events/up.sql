-- The audit log and outbox: one row per entity changed, written in the
-- same transaction as the change. A reader pages by position, (tx_id,
-- ordinal): tx_id is the writing transaction's id (pg_current_xact_id),
-- ordinal the event's place in it. Readers only see transactions older
-- than every one still running (the snapshot's xmin), so an event that
-- commits late can never appear behind a position a reader has passed
-- (docs/ARCHITECTURE.md, "Events").
CREATE TABLE events (
    id           TEXT PRIMARY KEY NOT NULL,
    tx_id        BIGINT NOT NULL,
    ordinal      INTEGER NOT NULL,
    org_id       TEXT,
    actor_sub    TEXT NOT NULL,
    actor_role   TEXT NOT NULL,
    actor_jti    TEXT,
    channel      TEXT NOT NULL,
    type         TEXT NOT NULL,
    target_kind  TEXT NOT NULL,
    target_id    TEXT NOT NULL,
    changes      TEXT NOT NULL,
    occurred_at  TIMESTAMP NOT NULL,
    request_id   TEXT,
    UNIQUE (tx_id, ordinal)
);
CREATE INDEX events_org_position ON events (org_id, tx_id, ordinal);
CREATE INDEX events_org_target ON events (org_id, target_id, tx_id, ordinal);
CREATE INDEX events_occurred ON events (occurred_at);

-- Unused on PostgreSQL (transaction ids number the writes); kept so that
-- both backends have the same tables.
CREATE TABLE event_clock (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last  BIGINT NOT NULL
);
INSERT INTO event_clock (id, last) VALUES (1, 0);
