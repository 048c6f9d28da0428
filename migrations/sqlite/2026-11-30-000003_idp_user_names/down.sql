DROP INDEX memberships_org_scim_user_name;
DROP INDEX memberships_org_idp_user_name;
ALTER TABLE memberships DROP COLUMN idp_user_name;
