ALTER TABLE groups DROP COLUMN version;
ALTER TABLE memberships DROP COLUMN version;
