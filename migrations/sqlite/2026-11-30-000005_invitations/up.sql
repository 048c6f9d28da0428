-- Invitations (docs/invitations.md). What members lists show and filter
-- on lives on the membership: the invitation's status (pending, accepted,
-- revoked; a pending one past expires_at reads as expired), when it
-- expires and when it was accepted; `invited_at` already says when it was
-- issued. The rest is in `invitations`.
ALTER TABLE memberships ADD COLUMN invitation_status TEXT;
ALTER TABLE memberships ADD COLUMN invitation_expires_at TIMESTAMP;
ALTER TABLE memberships ADD COLUMN invitation_accepted_at TIMESTAMP;
-- The invitation mail's state and its last error, as `invitations` has
-- them, for members lists (see below).
ALTER TABLE memberships ADD COLUMN invitation_mail_status TEXT;
ALTER TABLE memberships ADD COLUMN invitation_mail_error TEXT;
CREATE INDEX memberships_org_invited ON memberships (org_id, invited_at, user_id);

-- Set when a person accepted an invitation sent to the address; cleared
-- when the email changes.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;

-- A membership's current invitation: one row per membership, replaced by
-- each new issue (a resend). The link's token is never stored: `nonce`
-- and the server's invitation key make it again when a mail or a webhook
-- needs it, and `token_hash` (SHA-256 of the token, hex) finds the row
-- when it comes back. Accepting or revoking clears `token_hash`.
CREATE TABLE invitations (
    org_id               TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    -- This issue's id: events name it, so that a webhook for an older
    -- issue carries no link.
    id                   TEXT NOT NULL,
    nonce                TEXT NOT NULL,
    token_hash           TEXT,
    -- The address the link was sent to: accepting verifies it only while
    -- it is still the user's.
    email                TEXT NOT NULL,
    -- The actor's `sub`, and the name the mail gives for them.
    invited_by           TEXT NOT NULL,
    inviter_name         TEXT NOT NULL,
    -- The mail: NULL (none asked for: no SMTP), queued, sent, failed or
    -- dropped (the invitation stopped being pending before it went).
    mail_status          TEXT,
    mail_attempts        INTEGER NOT NULL,
    mail_next_attempt_at TIMESTAMP,
    mail_lease_until     TIMESTAMP,
    mail_last_error      TEXT,
    mail_sent_at         TIMESTAMP,
    created_at           TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX invitations_token ON invitations (token_hash);
CREATE INDEX invitations_mail_due ON invitations (mail_next_attempt_at)
    WHERE mail_status = 'queued';

-- How many invitations each write issued, for the per-org hourly limit.
CREATE TABLE invitation_issues (
    org_id    TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    count     INTEGER NOT NULL
);
CREATE INDEX invitation_issues_org ON invitation_issues (org_id, issued_at);

-- Keys the server makes for itself when none is configured (the
-- invitation key, unless ROSTER_INVITE_SECRET is set).
CREATE TABLE server_keys (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
