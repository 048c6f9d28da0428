DROP INDEX issued_tokens_org;
DROP INDEX issued_tokens_org_name;
ALTER TABLE issued_tokens DROP COLUMN creator_admin;
ALTER TABLE issued_tokens DROP COLUMN last_used_at;
ALTER TABLE issued_tokens DROP COLUMN created_by;
ALTER TABLE issued_tokens DROP COLUMN name;
