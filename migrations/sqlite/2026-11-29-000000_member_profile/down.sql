DROP INDEX memberships_org_mobile;
ALTER TABLE memberships DROP COLUMN profile_timezone;
ALTER TABLE memberships DROP COLUMN profile_locale;
ALTER TABLE memberships DROP COLUMN profile_mobile_normalized;
ALTER TABLE memberships DROP COLUMN profile_mobile;
ALTER TABLE memberships DROP COLUMN profile_name;
ALTER TABLE memberships DROP COLUMN profile_last_name;
ALTER TABLE memberships DROP COLUMN profile_first_name;
ALTER TABLE memberships DROP COLUMN own_profile;
