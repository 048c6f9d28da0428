DROP INDEX memberships_org_updated;
DROP INDEX memberships_org_created;
DROP INDEX memberships_org_email;
DROP INDEX memberships_org_name;
ALTER TABLE memberships DROP COLUMN user_email;
ALTER TABLE memberships DROP COLUMN user_name_key;
ALTER TABLE memberships DROP COLUMN invited_at;
ALTER TABLE memberships DROP COLUMN attributes;
