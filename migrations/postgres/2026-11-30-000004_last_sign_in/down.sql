DROP INDEX memberships_org_last_sign_in;
ALTER TABLE memberships DROP COLUMN last_sign_in_at;
