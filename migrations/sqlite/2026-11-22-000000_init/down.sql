DROP TABLE issued_tokens;
DROP TABLE group_memberships;
DROP TABLE groups;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE orgs;
