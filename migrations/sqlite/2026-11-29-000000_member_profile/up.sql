-- The profile an org keeps of a member it does not manage. A user is
-- global, but an org that brought in someone another org already manages
-- shows (and edits) the names, mobile, locale and time zone it supplied
-- itself, never the other org's. own_profile says whether the profile_*
-- columns are the member's profile in this org; when false the global
-- profile is shown (the managing org's own members, and users an operator
-- linked). Rows from before this change keep showing the global profile.
ALTER TABLE memberships ADD COLUMN own_profile BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE memberships ADD COLUMN profile_first_name TEXT;
ALTER TABLE memberships ADD COLUMN profile_last_name TEXT;
ALTER TABLE memberships ADD COLUMN profile_name TEXT;
ALTER TABLE memberships ADD COLUMN profile_mobile TEXT;
ALTER TABLE memberships ADD COLUMN profile_mobile_normalized TEXT;
ALTER TABLE memberships ADD COLUMN profile_locale TEXT;
ALTER TABLE memberships ADD COLUMN profile_timezone TEXT;
CREATE INDEX memberships_org_mobile ON memberships (org_id, profile_mobile_normalized);
