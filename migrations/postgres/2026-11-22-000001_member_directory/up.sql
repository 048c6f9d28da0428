-- Membership attributes, invitations, and the sort keys of the members
-- list. user_name_key and user_email copy the user's name key and email
-- onto each membership so that a page of an org's members sorted by name
-- or email is read off one index, however deep the page. They sort by
-- code point (COLLATE "C"), as SQLite does, so both backends page alike.
ALTER TABLE memberships ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE memberships ADD COLUMN invited_at TIMESTAMP;
ALTER TABLE memberships ADD COLUMN user_name_key TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN user_email TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE memberships SET user_name_key = users.name_key, user_email = users.email
FROM users WHERE users.id = memberships.user_id;

CREATE INDEX memberships_org_name ON memberships (org_id, user_name_key, user_id);
CREATE INDEX memberships_org_email ON memberships (org_id, user_email, user_id);
CREATE INDEX memberships_org_created ON memberships (org_id, created_at, user_id);
CREATE INDEX memberships_org_updated ON memberships (org_id, updated_at, user_id);
