-- Optimistic concurrency: members and groups carry a version, 1 when
-- made, raised by every write that changes what a reader sees of them
-- (GraphQL `version` / `ifVersion`; SCIM `meta.version`, ETags).
ALTER TABLE memberships ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE groups ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
