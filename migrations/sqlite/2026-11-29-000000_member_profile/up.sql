-- The profile an org keeps of a member it does not manage. A user is
-- global, but an org that brought in someone another org already manages
-- shows (and edits) the names, mobile, locale and time zone it supplied
-- itself, never the other org's. own_profile says whether the profile_*
-- columns are the member's profile in this org; when false the global
-- profile is shown (the managing org's own members, and users an operator
-- linked). Members an org already had without managing them get a copy of
-- the global profile as it is now, and from then on see only their own.
ALTER TABLE memberships ADD COLUMN own_profile BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE memberships ADD COLUMN profile_first_name TEXT;
ALTER TABLE memberships ADD COLUMN profile_last_name TEXT;
ALTER TABLE memberships ADD COLUMN profile_name TEXT;
ALTER TABLE memberships ADD COLUMN profile_mobile TEXT;
ALTER TABLE memberships ADD COLUMN profile_mobile_normalized TEXT;
ALTER TABLE memberships ADD COLUMN profile_locale TEXT;
ALTER TABLE memberships ADD COLUMN profile_timezone TEXT;
CREATE INDEX memberships_org_mobile ON memberships (org_id, profile_mobile_normalized);
UPDATE memberships SET
    own_profile = TRUE,
    profile_first_name = (SELECT first_name FROM users WHERE users.id = memberships.user_id),
    profile_last_name = (SELECT last_name FROM users WHERE users.id = memberships.user_id),
    profile_name = (SELECT name FROM users WHERE users.id = memberships.user_id),
    profile_mobile = (SELECT mobile FROM users WHERE users.id = memberships.user_id),
    profile_mobile_normalized = (SELECT mobile_normalized FROM users WHERE users.id = memberships.user_id),
    profile_locale = (SELECT locale FROM users WHERE users.id = memberships.user_id),
    profile_timezone = (SELECT timezone FROM users WHERE users.id = memberships.user_id)
WHERE managed = FALSE;
