-- Webhooks: an org's endpoints, the deliveries queued for them, and how
-- far the dispatcher has read the events table (the outbox). See
-- docs/webhooks.md.
CREATE TABLE webhooks (
    id                          TEXT PRIMARY KEY NOT NULL,
    org_id                      TEXT NOT NULL REFERENCES orgs (id),
    url                         TEXT NOT NULL,
    description                 TEXT NOT NULL,
    -- Space-separated event types; empty for every type.
    types                       TEXT NOT NULL,
    enabled                     BOOLEAN NOT NULL,
    disabled_reason             TEXT,
    -- The signing secret in its `whsec_` form; after a rotation the
    -- previous one also signs until it expires.
    secret                      TEXT NOT NULL,
    previous_secret             TEXT,
    previous_secret_expires_at  TIMESTAMP,
    -- Set at the first failure after a success (or after a long quiet
    -- spell); five days of failures disable the endpoint.
    failing_since               TIMESTAMP,
    last_failure_at             TIMESTAMP,
    -- The instance sending to this endpoint, until when; with no owner,
    -- when the last lease ended (the least recently served go first).
    lease_owner                 TEXT,
    lease_expires_at            TIMESTAMP NOT NULL,
    created_by                  TEXT,
    created_at                  TIMESTAMP NOT NULL,
    updated_at                  TIMESTAMP NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at, id);
CREATE INDEX webhooks_lease ON webhooks (lease_expires_at) WHERE enabled;

-- One event to one endpoint: queued by the dispatcher (or a replay),
-- sent by whichever instance holds the endpoint's lease.
CREATE TABLE webhook_deliveries (
    id                TEXT PRIMARY KEY NOT NULL,
    webhook_id        TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    tx_id             BIGINT NOT NULL,
    ordinal           INTEGER NOT NULL,
    event_occurred_at TIMESTAMP NOT NULL,
    -- pending, delivered or failed.
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL,
    -- The latest attempts as a JSON array: at, statusCode, latencyMs, error.
    attempt_log       TEXT NOT NULL,
    last_status_code  INTEGER,
    last_latency_ms   INTEGER,
    last_error        TEXT,
    next_attempt_at   TIMESTAMP,
    created_at        TIMESTAMP NOT NULL,
    delivered_at      TIMESTAMP
);
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, tx_id, ordinal)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_next ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (created_at)
    WHERE status <> 'pending';

-- The position up to which events have been turned into deliveries (one
-- row). It starts after every event already recorded: endpoints receive
-- events that occur after they are created.
CREATE TABLE webhook_dispatch (
    id       INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    tx_id    BIGINT NOT NULL,
    ordinal  INTEGER NOT NULL
);
INSERT INTO webhook_dispatch (id, tx_id, ordinal)
    SELECT 1, COALESCE(MAX(tx_id), 0), 2147483647 FROM events;
