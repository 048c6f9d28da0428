-- The identity provider's id for a group (SCIM's externalId), unique in
-- the org when set.
ALTER TABLE groups ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX groups_org_external_id ON groups (org_id, external_id);
