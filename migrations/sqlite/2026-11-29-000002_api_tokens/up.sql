-- API tokens that an org's admins manage: a name unique in the org, who
-- made it, and when it was last used (kept coarsely: see
-- docs/api.md, "API tokens"). Only the jti is stored, never the
-- token.
ALTER TABLE issued_tokens ADD COLUMN name TEXT;
ALTER TABLE issued_tokens ADD COLUMN created_by TEXT;
ALTER TABLE issued_tokens ADD COLUMN last_used_at TIMESTAMP;
-- The user id of the tenant admin who made the token: it works only while
-- that user is still an active admin of the org.
ALTER TABLE issued_tokens ADD COLUMN creator_admin TEXT;
CREATE UNIQUE INDEX issued_tokens_org_name ON issued_tokens (org_id, name);
CREATE INDEX issued_tokens_org ON issued_tokens (org_id, jti);
