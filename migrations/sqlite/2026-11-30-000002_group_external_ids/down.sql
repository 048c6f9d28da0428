DROP INDEX groups_org_external_id;
ALTER TABLE groups DROP COLUMN external_id;
