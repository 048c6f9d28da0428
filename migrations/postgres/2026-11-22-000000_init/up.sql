-- Roster schema, PostgreSQL flavour. Ids are UUID text; timestamps are UTC.
-- Every tenant table carries org_id.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    -- name lower-cased by the service, for case-insensitive search that
    -- behaves the same on both backends (SQLite's lower() is ASCII-only).
    name_key    TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    email              TEXT NOT NULL UNIQUE,
    first_name         TEXT NOT NULL,
    last_name          TEXT NOT NULL,
    name               TEXT NOT NULL,
    name_key           TEXT NOT NULL,
    mobile             TEXT,
    mobile_normalized  TEXT,
    locale             TEXT,
    timezone           TEXT,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);
CREATE INDEX users_mobile_normalized ON users (mobile_normalized);

CREATE TABLE memberships (
    org_id       TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    status       TEXT NOT NULL CHECK (status IN ('active', 'retired')),
    external_id  TEXT,
    managed      BOOLEAN NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    retired_at   TIMESTAMP,
    PRIMARY KEY (org_id, user_id)
);
CREATE UNIQUE INDEX memberships_org_external_id ON memberships (org_id, external_id);
CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_org_role_status ON memberships (org_id, role, status);

CREATE TABLE groups (
    org_id       TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    name_key     TEXT NOT NULL,
    description  TEXT,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, name_key)
);

-- The two composite foreign keys are invariant 1: a group membership can
-- only join a group and a membership of the same org.
CREATE TABLE group_memberships (
    org_id      TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('member', 'manager')),
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX group_memberships_user ON group_memberships (org_id, user_id);

-- Tokens this service minted, so they can be revoked by jti.
CREATE TABLE issued_tokens (
    jti         TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL,
    org_id      TEXT,
    scope       TEXT,
    expires_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP,
    created_at  TIMESTAMP NOT NULL
);

-- Citus (or any sharded PostgreSQL) can distribute the tenant tables by
-- org_id: every primary key and unique constraint above includes it.
