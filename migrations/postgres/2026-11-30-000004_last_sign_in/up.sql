-- When the member last signed in to the app, as the app reports it
-- (`recordSignIn`); 0001-01-01 00:00:00 means never, so that the column
-- sorts and pages like the other timestamps (never first, ascending).
ALTER TABLE memberships ADD COLUMN last_sign_in_at TIMESTAMP NOT NULL DEFAULT '0001-01-01 00:00:00';
CREATE INDEX memberships_org_last_sign_in ON memberships (org_id, last_sign_in_at, user_id);
