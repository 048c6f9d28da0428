-- The identity provider's userName for a member (SCIM), kept only when it
-- is not the member's email; unique in the org, ignoring case, when set.
-- A SCIM userName is that name, else the email: the second index answers
-- userName filters and sorts on it.
ALTER TABLE memberships ADD COLUMN idp_user_name TEXT;
CREATE UNIQUE INDEX memberships_org_idp_user_name ON memberships (org_id, (lower(idp_user_name)));
CREATE INDEX memberships_org_scim_user_name
    ON memberships (org_id, (lower(COALESCE(idp_user_name, user_email))), user_id);
