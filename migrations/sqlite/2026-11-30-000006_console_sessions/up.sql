-- Admin console sessions (docs/console.md). The cookie holds a random
-- session id; only its SHA-256 (hex) is kept here. A session speaks for
-- the principal of the token it was opened with: its subject, role, org
-- and scopes, and that token's `jti` so that revoking the token ends the
-- session too. It ends at `expires_at` (never later than the token's own
-- expiry), or when deleted (signing out).
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY NOT NULL,
    csrf        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    role        TEXT NOT NULL,
    org_id      TEXT,
    scope       TEXT,
    token_jti   TEXT,
    expires_at  TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- One-time sign-in links (`roster console link`): the SHA-256 (hex) of
-- the link's secret, for whom, until when; used once.
CREATE TABLE console_links (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
