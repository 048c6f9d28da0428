//! Invitations: issued by `sendInvite` (createUser, upsertMember, sync
//! records) and `resendInvitation`, accepted with the link's token,
//! revoked; the hourly limit per org; and the link itself, made again
//! from the stored nonce and the server's key whenever a mail or a webhook
//! needs it, so that the token is never stored nor written to an event.
//! See `docs/invitations.md`.

use std::time::Duration;

use base64::Engine;
use chrono::NaiveDateTime;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::events::{Draft, Tx, kind};
use super::{Change, Outcome, Service, now};
use crate::auth::{Principal, Scope};
use crate::db::invitations as stored;
use crate::db::models::{InvitationRow, MembershipChanges, MembershipRow};
use crate::db::{members, orgs, users};
use crate::domain::{MemberStatus, OrgId, UserId};
use crate::error::{Error, Result};

/// An invitation's status as stored on the membership; `EXPIRED` is only
/// shown (a pending one past its expiry).
pub mod status {
    pub const PENDING: &str = "pending";
    pub const ACCEPTED: &str = "accepted";
    pub const REVOKED: &str = "revoked";
    pub const EXPIRED: &str = "expired";
}

/// The one answer to a token that cannot be accepted, whatever the reason
/// and whichever org it belongs to.
pub const UNUSABLE_TOKEN: &str =
    "this invitation link cannot be used: it is unknown, expired, revoked or already used";

/// How invitations are issued and linked (`ROSTER_INVITE_*`).
#[derive(Clone)]
pub struct InviteSettings {
    /// How long a link stays usable.
    pub ttl: Duration,
    /// Invitations an org may issue per hour.
    pub per_hour: u32,
    /// The accept page, with `{token}` where the token goes.
    pub url: Option<String>,
    /// Whether Roster mails invitations itself (SMTP is configured).
    pub mail: bool,
    key: [u8; 32],
}

impl std::fmt::Debug for InviteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteSettings")
            .field("ttl", &self.ttl)
            .field("per_hour", &self.per_hour)
            .field("url", &self.url)
            .field("mail", &self.mail)
            .finish_non_exhaustive()
    }
}

impl Default for InviteSettings {
    fn default() -> Self {
        Self::new(DEFAULT_TTL, DEFAULT_PER_HOUR, None, rand::random())
    }
}

pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_PER_HOUR: u32 = 1000;

/// The name of the invitation key in `server_keys`.
pub const KEY_NAME: &str = "invitation";

impl InviteSettings {
    pub fn new(ttl: Duration, per_hour: u32, url: Option<String>, key: [u8; 32]) -> Self {
        Self {
            ttl,
            per_hour,
            url,
            mail: false,
            key,
        }
    }

    /// A key from a secret of any length.
    pub fn key_from_secret(secret: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"roster invitation links\0");
        hasher.update(secret);
        hasher.finalize().into()
    }

    /// The token of an issue: a keyed hash of its id and nonce, so that
    /// neither the database alone nor the events alone can make it.
    fn token(&self, id: &str, nonce: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(nonce.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "rinv_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The accept link of an issue, when an accept page is configured.
    pub(crate) fn link(&self, row: &InvitationRow) -> Option<String> {
        let url = self.url.as_deref()?;
        Some(url.replace("{token}", &self.token(&row.id, &row.nonce)))
    }

    fn ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::days(7))
    }
}

/// What is stored to find a token again: its SHA-256, in hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The status a member's invitation shows at `at`.
pub fn shown_status(m: &MembershipRow, at: NaiveDateTime) -> Option<&'static str> {
    Some(match m.invitation_status.as_deref()? {
        status::PENDING if m.invitation_expires_at.is_some_and(|e| e <= at) => status::EXPIRED,
        status::PENDING => status::PENDING,
        status::ACCEPTED => status::ACCEPTED,
        _ => status::REVOKED,
    })
}

/// Whether `sendInvite` issues a new invitation to this member: an active
/// one never invited, or whose invitation expired or was revoked. A
/// pending one stays as it is (`resendInvitation` makes a new link), and
/// an accepted one is never invited again.
pub(super) fn wants_invitation(m: &MembershipRow, at: NaiveDateTime) -> bool {
    m.status == MemberStatus::Active.as_str() && invitation_lapsed(m, at)
}

/// Whether the member has no invitation that is pending or accepted.
pub(super) fn invitation_lapsed(m: &MembershipRow, at: NaiveDateTime) -> bool {
    matches!(
        shown_status(m, at),
        None | Some(status::EXPIRED) | Some(status::REVOKED)
    )
}

/// An invitation about to be issued.
#[derive(Debug, Clone)]
pub(super) struct Issue {
    pub(super) user_id: String,
    pub(super) id: String,
    /// The status shown before (none, expired, revoked, pending).
    pub(super) before: Option<&'static str>,
    pub(super) expires_at: NaiveDateTime,
}

impl Issue {
    fn new(m: &MembershipRow, at: NaiveDateTime, settings: &InviteSettings) -> Self {
        Self {
            user_id: m.user_id.clone(),
            id: Uuid::now_v7().to_string(),
            before: shown_status(m, at),
            expires_at: at + settings.ttl(),
        }
    }
}

/// Issues an invitation on a membership about to be inserted.
pub(super) fn issue_on_new(
    row: &mut MembershipRow,
    at: NaiveDateTime,
    settings: &InviteSettings,
) -> Issue {
    let issue = Issue::new(row, at, settings);
    row.invited_at = Some(at);
    row.invitation_status = Some(status::PENDING.into());
    row.invitation_expires_at = Some(issue.expires_at);
    row.invitation_accepted_at = None;
    issue
}

/// Issues an invitation on an existing membership, as changes to it.
pub(super) fn issue_on_change(
    current: &MembershipRow,
    changes: &mut MembershipChanges,
    at: NaiveDateTime,
    settings: &InviteSettings,
) -> Issue {
    let issue = Issue::new(current, at, settings);
    changes.invited_at = Some(Some(at));
    changes.invitation_status = Some(Some(status::PENDING.into()));
    changes.invitation_expires_at = Some(Some(issue.expires_at));
    changes.invitation_accepted_at = Some(None);
    changes.invitation_mail_status = Some(None);
    changes.invitation_mail_error = Some(None);
    issue
}

/// `member.invited`: a new link, valid until `expiresAt`. The event names
/// the issue (`invitationId`) and never holds its token.
fn member_invited(org: &str, issue: &Issue) -> Draft {
    Draft::new(Some(org), kind::MEMBER_INVITED, "member", &issue.user_id)
        .set("invitationId", &issue.id)
        .change("invitation", issue.before, status::PENDING)
        .set("expiresAt", issue.expires_at.and_utc().to_rfc3339())
}

/// `member.updated` for an invitation that ends: accepted or revoked.
fn invitation_ended(m: &MembershipRow, at: NaiveDateTime, to: &str) -> Draft {
    Draft::new(Some(&m.org_id), kind::MEMBER_UPDATED, "member", &m.user_id).change(
        "invitation",
        shown_status(m, at),
        to,
    )
}

impl Tx<'_> {
    /// Writes the invitations of memberships whose rows already say they
    /// are invited (see [`issue_on_new`], [`issue_on_change`]): counts them
    /// against the org's hourly limit, stores each issue's nonce and token
    /// hash, and records `member.invited`.
    pub(super) fn issue_invitations(
        &mut self,
        org: &str,
        who: &Principal,
        issues: &[Issue],
        settings: &InviteSettings,
    ) -> Result<()> {
        if issues.is_empty() {
            return Ok(());
        }
        let at = now();
        self.take_invitation_allowance(org, issues.len(), settings.per_hour, at)?;
        let inviter = self.inviter_name(org, who)?;
        let ids: Vec<&str> = issues.iter().map(|i| i.user_id.as_str()).collect();
        let emails: std::collections::HashMap<String, String> = users::with_ids(self, &ids)?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
        for issue in issues {
            let nonce: [u8; 16] = rand::random();
            let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
            let token = settings.token(&issue.id, &nonce);
            let row = InvitationRow {
                org_id: org.to_owned(),
                user_id: issue.user_id.clone(),
                id: issue.id.clone(),
                nonce,
                token_hash: Some(token_hash(&token)),
                email: emails.get(&issue.user_id).cloned().unwrap_or_default(),
                invited_by: who.subject.clone(),
                inviter_name: inviter.clone(),
                mail_status: None,
                mail_attempts: 0,
                mail_next_attempt_at: None,
                mail_lease_until: None,
                mail_last_error: None,
                mail_sent_at: None,
                created_at: at,
            };
            stored::replace(self, &row)?;
            self.record(member_invited(org, issue));
        }
        Ok(())
    }

    /// Counts `n` invitations against the org's limit of `per_hour` in
    /// any hour, or answers RATE_LIMITED with when there is room again.
    fn take_invitation_allowance(
        &mut self,
        org: &str,
        n: usize,
        per_hour: u32,
        at: NaiveDateTime,
    ) -> Result<()> {
        let hour = chrono::Duration::hours(1);
        let per_hour = i64::from(per_hour);
        let n = n as i64;
        if n > per_hour {
            return Err(Error::RateLimited {
                message: format!(
                    "this would issue {n} invitations; an org may issue at most {per_hour} an hour"
                ),
                retry_at: None,
            });
        }
        stored::lock_org(self, org)?;
        let issued = stored::issued_since(self, org, at - hour)?;
        let used: i64 = issued.iter().map(|(_, c)| i64::from(*c)).sum();
        if used + n > per_hour {
            // Room comes back as the oldest issues leave the hour.
            let mut freed = 0;
            let need = used + n - per_hour;
            let retry_at = issued
                .iter()
                .find(|(_, c)| {
                    freed += i64::from(*c);
                    freed >= need
                })
                .map(|(t, _)| *t + hour);
            let when = retry_at
                .map(|t| {
                    t.and_utc()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
                .unwrap_or_else(|| "an hour".into());
            return Err(Error::RateLimited {
                message: format!(
                    "this org has issued {used} of its {per_hour} invitations an hour; \
                     {n} more fit after {when}"
                ),
                retry_at,
            });
        }
        stored::count_issued(self, org, at, n as i32)?;
        Ok(())
    }

    /// Who the mail says invited: the acting member's name, else the org's.
    fn inviter_name(&mut self, org: &str, who: &Principal) -> Result<String> {
        if let Ok(user) = who.subject.parse::<UserId>() {
            let user = user.as_db();
            if let (Some(m), Some(u)) =
                (members::find(self, org, &user)?, users::find(self, &user)?)
            {
                return Ok(super::profile::seen_by_org(u, &m).name);
            }
        }
        Ok(orgs::find(self, org)?.map(|o| o.name).unwrap_or_default())
    }
}

impl Service {
    /// `resendInvitation`: a new link for a member not yet accepted (the
    /// old one stops working), and a new mail. An accepted invitation is
    /// CONFLICT; a retired member is INVALID_INPUT.
    pub async fn resend_invitation(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        user: UserId,
    ) -> Result<Outcome> {
        let org = who.org_with(org, Scope::MembersWrite)?;
        let settings = self.invites.clone();
        let caller = who.clone();
        self.write(who, move |tx| {
            let org = org.as_db();
            // Locked: a concurrent accept, resend or revoke waits, then
            // sees this one's outcome.
            let m = members::find_locked(tx, &org, &user.as_db())?
                .ok_or_else(super::rows::member_not_found)?;
            let at = now();
            match shown_status(&m, at) {
                Some(status::ACCEPTED) => {
                    return Err(Error::Conflict(
                        "this member already accepted their invitation".into(),
                    ));
                }
                _ if m.status != MemberStatus::Active.as_str() => {
                    return Err(Error::invalid("a retired member cannot be invited"));
                }
                _ => {}
            }
            let mut changes = MembershipChanges {
                updated_at: Some(at),
                ..Default::default()
            };
            let issue = issue_on_change(&m, &mut changes, at, &settings);
            members::update(tx, &org, &m.user_id, &changes, None)?;
            tx.issue_invitations(&org, &caller, &[issue], &settings)?;
            Ok(Outcome::new(user.0, Change::Updated, 1))
        })
        .await
    }

    /// `revokeInvitation`: the pending invitation's link stops working and
    /// a mail not yet sent is not sent. No pending invitation: CONFLICT.
    pub async fn revoke_invitation(
        &self,
        who: &Principal,
        org: Option<OrgId>,
        user: UserId,
    ) -> Result<Outcome> {
        let org = who.org_with(org, Scope::MembersWrite)?;
        self.write(who, move |tx| {
            let org = org.as_db();
            let m = members::find_locked(tx, &org, &user.as_db())?
                .ok_or_else(super::rows::member_not_found)?;
            if m.invitation_status.as_deref() != Some(status::PENDING) {
                return Err(Error::Conflict(
                    "this member has no pending invitation".into(),
                ));
            }
            let at = now();
            let changes = MembershipChanges {
                invitation_status: Some(Some(status::REVOKED.into())),
                updated_at: Some(at),
                ..Default::default()
            };
            members::update(tx, &org, &m.user_id, &changes, None)?;
            stored::close(tx, &org, &m.user_id)?;
            tx.record(invitation_ended(&m, at, status::REVOKED));
            Ok(Outcome::new(user.0, Change::Updated, 1))
        })
        .await
    }

    /// `acceptInvitation`: the person who followed the link signed in; the
    /// invitation is accepted and the user's email verified. Any token
    /// that cannot be accepted, of this org or another, gets the one
    /// answer [`UNUSABLE_TOKEN`].
    pub async fn accept_invitation(&self, who: &Principal, token: String) -> Result<Outcome> {
        who.require(Scope::MembersWrite)?;
        let unusable = || Error::not_found(UNUSABLE_TOKEN);
        if token.len() > 200 {
            return Err(unusable());
        }
        let hash = token_hash(token.trim());
        let caller_org = who.org.map(|o| o.as_db());
        self.write(who, move |tx| {
            let invitation = stored::by_token_hash(tx, &hash)?.ok_or_else(unusable)?;
            if caller_org
                .as_deref()
                .is_some_and(|org| org != invitation.org_id)
            {
                return Err(unusable());
            }
            let (org, user) = (invitation.org_id.clone(), invitation.user_id.clone());
            // Locked, then the token checked again: of two accepts (or an
            // accept and a resend or revoke) at once, the second sees the
            // first's outcome.
            let m = members::find_locked(tx, &org, &user)?.ok_or_else(unusable)?;
            let current = stored::find(tx, &org, &user)?;
            let at = now();
            if current.as_ref().and_then(|c| c.token_hash.as_deref()) != Some(hash.as_str())
                || shown_status(&m, at) != Some(status::PENDING)
                || m.status != MemberStatus::Active.as_str()
            {
                return Err(unusable());
            }
            let changes = MembershipChanges {
                invitation_status: Some(Some(status::ACCEPTED.into())),
                invitation_accepted_at: Some(Some(at)),
                updated_at: Some(at),
                ..Default::default()
            };
            members::update(tx, &org, &user, &changes, None)?;
            stored::close(tx, &org, &user)?;
            // The link went to the address the member had when invited:
            // following it shows that address is theirs, if it still is.
            let still_theirs = invitation.email == m.user_email;
            let verified = users::find(tx, &user)?.and_then(|u| u.email_verified_at);
            let mut event = invitation_ended(&m, at, status::ACCEPTED);
            if verified.is_none() && still_theirs {
                users::verify_email(tx, &user, at)?;
                event = event.change("emailVerifiedAt", None::<String>, at.and_utc().to_rfc3339());
            }
            tx.record(event);
            Ok(Outcome::new(UserId::from_db(&user)?.0, Change::Updated, 1))
        })
        .await
    }
}

/// What an invitation mail says, composed from the invitation, the member
/// as the org sees them, and the org.
#[derive(Debug, Clone)]
pub struct InvitationMail {
    pub to_email: String,
    pub to_name: String,
    /// The member's locale (`nl-NL`, `en`, …), if any.
    pub locale: Option<String>,
    pub org: String,
    pub inviter: String,
    pub link: String,
    pub expires_at: NaiveDateTime,
}

/// A mail taken for sending: which issue it belongs to.
#[derive(Debug, Clone)]
pub struct MailJob {
    org_id: String,
    user_id: String,
    id: String,
    attempts: i32,
    expires_at: NaiveDateTime,
    /// The lease taken: only its holder records the attempt.
    lease: NaiveDateTime,
    pub mail: InvitationMail,
}

/// How one attempt to send a mail ended.
#[derive(Debug, Clone)]
pub enum MailOutcome {
    Sent,
    Failed {
        error: String,
        /// Refused for good: no retry.
        permanent: bool,
    },
}

/// Attempts before a mail is given up.
const MAIL_ATTEMPTS: i32 = 8;
/// How long an instance holds a mail it is sending.
const MAIL_LEASE: Duration = Duration::from_secs(600);

/// The links the webhooks of these `member.invited` events carry, by
/// event id: an event's issue's link while it is the member's current one
/// and still usable, else `None` (an older issue, or no longer usable).
/// Two statements per org, whatever the number of events.
pub(super) fn links_for_events(
    conn: &mut crate::db::DbConn,
    settings: &InviteSettings,
    events: &[&crate::db::models::EventRow],
) -> Result<std::collections::HashMap<String, Option<String>>> {
    use std::collections::HashMap;
    let mut by_org: HashMap<&str, Vec<&crate::db::models::EventRow>> = HashMap::new();
    for event in events {
        if let Some(org) = event.org_id.as_deref() {
            by_org.entry(org).or_default().push(event);
        }
    }
    let at = now();
    let mut links = HashMap::new();
    for (org, events) in by_org {
        let ids: Vec<&str> = events.iter().map(|e| e.target_id.as_str()).collect();
        let issues: HashMap<String, InvitationRow> = stored::of_members(conn, org, &ids)?
            .into_iter()
            .map(|r| (r.user_id.clone(), r))
            .collect();
        let usable: std::collections::HashSet<String> = members::of_users(conn, org, &ids)?
            .into_iter()
            .filter(|m| {
                shown_status(m, at) == Some(status::PENDING)
                    && m.status == MemberStatus::Active.as_str()
            })
            .map(|m| m.user_id)
            .collect();
        for event in events {
            let changes: serde_json::Value =
                serde_json::from_str(&event.changes).unwrap_or_default();
            let link = issues
                .get(&event.target_id)
                .filter(|row| {
                    changes["invitationId"]["after"].as_str() == Some(row.id.as_str())
                        && row.token_hash.is_some()
                        && usable.contains(&event.target_id)
                })
                .and_then(|row| settings.link(row));
            links.insert(event.id.clone(), link);
        }
    }
    Ok(links)
}

impl Service {
    /// Takes up to `limit` due invitation mails for sending (each leased
    /// with a conditional update, so that instances never send one twice
    /// at once) and composes them. A mail whose invitation is no longer
    /// usable is dropped instead.
    pub async fn take_invitation_mails(&self, limit: i64) -> Result<Vec<MailJob>> {
        let settings = self.invites.clone();
        self.write(&Principal::cli(), move |tx| {
            let at = now();
            let until = at + chrono::Duration::from_std(MAIL_LEASE).unwrap_or_default();
            let mut jobs = Vec::new();
            for row in stored::due_mails(tx, at, limit)? {
                if !stored::lease_mail(tx, &row, at, until)? {
                    continue;
                }
                let member = members::find(tx, &row.org_id, &row.user_id)?;
                let user = users::find(tx, &row.user_id)?;
                let org = orgs::find(tx, &row.org_id)?;
                let link = settings.link(&row);
                let (Some(m), Some(u), Some(org), Some(link)) = (member, user, org, link) else {
                    stored::close(tx, &row.org_id, &row.user_id)?;
                    continue;
                };
                if shown_status(&m, at) != Some(status::PENDING)
                    || m.status != MemberStatus::Active.as_str()
                    || row.token_hash.is_none()
                {
                    stored::close(tx, &row.org_id, &row.user_id)?;
                    continue;
                }
                let seen = super::profile::seen_by_org(u, &m);
                let expires_at = m.invitation_expires_at.unwrap_or(at);
                jobs.push(MailJob {
                    org_id: row.org_id,
                    user_id: row.user_id,
                    id: row.id,
                    attempts: row.mail_attempts,
                    expires_at,
                    lease: until,
                    mail: InvitationMail {
                        to_email: seen.email,
                        to_name: seen.name,
                        locale: seen.locale,
                        org: org.name,
                        inviter: row.inviter_name,
                        link,
                        expires_at,
                    },
                });
            }
            Ok(jobs)
        })
        .await
    }

    /// Records how sending a mail went: sent; or failed, to be retried
    /// (waits doubling from the webhook retry's first wait) until it was
    /// refused for good, tried [`MAIL_ATTEMPTS`] times, or the next try
    /// would fall after the invitation expires.
    pub async fn record_invitation_mail(&self, job: &MailJob, outcome: MailOutcome) -> Result<()> {
        let first_retry = self.delivery.first_retry;
        let (org, user, id) = (job.org_id.clone(), job.user_id.clone(), job.id.clone());
        let (attempts, expires_at, lease) = (job.attempts + 1, job.expires_at, job.lease);
        self.write(&Principal::cli(), move |tx| {
            let at = now();
            let attempted = match &outcome {
                MailOutcome::Sent => stored::MailAttempted {
                    mail_status: Some(stored::mail::SENT.into()),
                    mail_attempts: attempts,
                    mail_next_attempt_at: None,
                    mail_lease_until: None,
                    mail_last_error: None,
                    mail_sent_at: Some(at),
                },
                MailOutcome::Failed { error, permanent } => {
                    let wait =
                        chrono::Duration::from_std(super::retry_delay(first_retry, attempts))
                            .unwrap_or_default();
                    let retry_at = at + wait;
                    let give_up = *permanent || attempts >= MAIL_ATTEMPTS || retry_at >= expires_at;
                    stored::MailAttempted {
                        mail_status: Some(
                            if give_up {
                                stored::mail::FAILED
                            } else {
                                stored::mail::QUEUED
                            }
                            .into(),
                        ),
                        mail_attempts: attempts,
                        mail_next_attempt_at: (!give_up).then_some(retry_at),
                        mail_lease_until: None,
                        mail_last_error: Some(error.clone()),
                        mail_sent_at: None,
                    }
                }
            };
            stored::record_mail(tx, &org, &user, &id, lease, &attempted)?;
            Ok(())
        })
        .await
    }
}

impl Service {
    /// Forgets the hourly invitation counts that no longer count.
    pub async fn prune_invitation_counts(&self) -> Result<usize> {
        let before = now() - chrono::Duration::hours(2);
        self.prune_in_batches(move |tx| Ok(stored::prune_issued(tx, before, super::PRUNE_BATCH)?))
            .await
    }
}
