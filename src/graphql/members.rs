//! The types of the integration and sync API (docs/api.md): members, their
//! filters, and the answers of the bulk mutations. Roles and statuses are
//! enums here; the core API keeps its strings.

use async_graphql::{Enum, InputObject, Json, SimpleObject};
use chrono::{DateTime, Utc};

use super::scalars::Uuid;
use super::types::ErrorCode;
use crate::domain::{self, SortField};
use crate::error::Code;
use crate::service::{
    Failure, InvitationView, MemberGroupView, MemberRecord, MemberView, RecordResult,
    RemovalReport, Retirement, Skipped, StatusReport, SyncReport, Upserted,
};

/// A member's role in an org.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(name = "Role")]
pub enum RoleEnum {
    User,
    Admin,
}

impl From<RoleEnum> for domain::Role {
    fn from(role: RoleEnum) -> Self {
        match role {
            RoleEnum::User => Self::User,
            RoleEnum::Admin => Self::Admin,
        }
    }
}

impl From<domain::Role> for RoleEnum {
    fn from(role: domain::Role) -> Self {
        match role {
            domain::Role::User => Self::User,
            domain::Role::Admin => Self::Admin,
        }
    }
}

/// Whether a membership is in force.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(name = "MemberStatus")]
pub enum MemberStatusEnum {
    Active,
    Retired,
}

impl From<MemberStatusEnum> for domain::MemberStatus {
    fn from(status: MemberStatusEnum) -> Self {
        match status {
            MemberStatusEnum::Active => Self::Active,
            MemberStatusEnum::Retired => Self::Retired,
        }
    }
}

impl From<domain::MemberStatus> for MemberStatusEnum {
    fn from(status: domain::MemberStatus) -> Self {
        match status {
            domain::MemberStatus::Active => Self::Active,
            domain::MemberStatus::Retired => Self::Retired,
        }
    }
}

/// What the members list is sorted by; ties are broken by user id.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberSortField {
    /// The display name, ignoring case.
    Name,
    Email,
    /// When the membership was created.
    CreatedAt,
    /// When the membership (or, through this org, the profile) last changed.
    UpdatedAt,
    /// When the member last signed in; those who never did come first
    /// (ascending).
    LastSignInAt,
}

impl From<MemberSortField> for SortField {
    fn from(field: MemberSortField) -> Self {
        match field {
            MemberSortField::Name => Self::Name,
            MemberSortField::Email => Self::Email,
            MemberSortField::CreatedAt => Self::CreatedAt,
            MemberSortField::UpdatedAt => Self::UpdatedAt,
            MemberSortField::LastSignInAt => Self::LastSignInAt,
        }
    }
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// The order of the members list.
#[derive(InputObject, Debug, Clone, Copy)]
pub struct MemberSort {
    #[graphql(default_with = "MemberSortField::Name")]
    pub field: MemberSortField,
    #[graphql(default_with = "SortDirection::Asc")]
    pub direction: SortDirection,
}

/// A membership attribute that must equal `value` exactly (type included:
/// the string "1" does not match the number 1).
#[derive(InputObject, Debug, Clone)]
pub struct AttributeFilter {
    pub key: String,
    pub value: Json<serde_json::Value>,
}

/// Profile fields of `upsertMember`; absent fields stay as they are and an
/// empty `mobile`, `locale` or `timezone` clears it.
#[derive(InputObject, Debug, Clone, Default)]
pub struct ProfileInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The display name; defaults to "first last".
    pub name: Option<String>,
    pub mobile: Option<String>,
    /// A BCP 47 language tag, such as `en-US`.
    pub locale: Option<String>,
    /// An IANA time zone, such as `Europe/Amsterdam`.
    pub timezone: Option<String>,
}

/// One person of a directory sent to `syncMembers`. Keyed by `externalId`
/// when given, else by `email`; absent fields stay as they are.
///
/// Also read straight from a large request body (see
/// [`SyncRecords::from_json`]), with the same names and types.
#[derive(InputObject, Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncRecord {
    pub email: String,
    pub external_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub name: Option<String>,
    pub mobile: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub role: Option<RoleEnum>,
    pub status: Option<MemberStatusEnum>,
    /// Replaces the membership's attributes: a JSON object of up to 50
    /// keys with string, number or boolean values.
    pub attributes: Option<Json<serde_json::Value>>,
    /// Group names (ignoring case): the member's groups become exactly
    /// these.
    pub groups: Option<Vec<String>>,
    /// Invite the member unless their invitation is pending or accepted.
    pub send_invite: Option<bool>,
}

/// The records of a `syncMembers` request read from its body as typed
/// records, without the GraphQL value tree of the variable that held them
/// (which would hold the directory once more): the HTTP layer puts them in
/// the request's data and sends the variable as an empty list, and the
/// resolver takes them from there.
#[derive(Debug, Default)]
pub struct SyncRecords(std::sync::Mutex<Option<Vec<MemberRecord>>>);

/// A record converted as it is read, so that the typed records are never
/// held twice.
#[derive(serde::Deserialize)]
#[serde(from = "SyncRecord")]
struct ReadRecord(MemberRecord);

impl From<SyncRecord> for ReadRecord {
    fn from(record: SyncRecord) -> Self {
        Self(record.into())
    }
}

impl SyncRecords {
    /// Reads a `[SyncRecord!]!` variable's JSON text.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let read: Vec<ReadRecord> = serde_json::from_str(text)?;
        let mut records: Vec<MemberRecord> = read.into_iter().map(|r| r.0).collect();
        // Read without knowing the count, the list grew by doubling.
        records.shrink_to_fit();
        Ok(Self(std::sync::Mutex::new(Some(records))))
    }

    /// The records, once.
    pub fn take(&self) -> Option<Vec<MemberRecord>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl From<SyncRecord> for MemberRecord {
    fn from(r: SyncRecord) -> Self {
        Self {
            email: Some(r.email),
            external_id: r.external_id,
            first_name: r.first_name,
            last_name: r.last_name,
            name: r.name,
            mobile: r.mobile,
            locale: r.locale,
            timezone: r.timezone,
            role: r.role.map(Into::into),
            status: r.status.map(Into::into),
            attributes: r.attributes.map(|a| a.0.into()),
            groups: r.groups,
            send_invite: r.send_invite.unwrap_or(false),
            user_id: None,
            idp_user_name: None,
        }
    }
}

/// How `syncMembers` treats members the records do not name.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Leave them as they are.
    Merge,
    /// Retire the active ones (never the last active admin, nor the caller).
    Mirror,
}

/// What `syncMembers` does when a record fails.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOnError {
    /// Write nothing at all.
    Abort,
    /// Write the records that passed; report the others.
    Skip,
}

/// One of a member's groups.
#[derive(SimpleObject, Debug, Clone)]
pub struct MemberGroup {
    pub id: Uuid,
    pub name: String,
    /// `member` or `manager`.
    pub role: String,
}

impl From<MemberGroupView> for MemberGroup {
    fn from(view: MemberGroupView) -> Self {
        Self {
            id: view.id.0.into(),
            name: view.name,
            role: view.role.as_str().into(),
        }
    }
}

/// A member of an org: the profile the org sees and the org's membership.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Member {
    /// The user's id.
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub name: String,
    pub mobile: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub role: RoleEnum,
    pub status: MemberStatusEnum,
    pub external_id: Option<String>,
    /// Whether this org created the user and so may edit the profile.
    pub managed: bool,
    /// The org's own data about the member: a JSON object (`{}` if none).
    pub attributes: Json<serde_json::Value>,
    /// When the membership was created.
    pub created_at: DateTime<Utc>,
    /// When the membership (or, through this org, the profile) last changed.
    pub updated_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    /// When the current invitation was issued (`invitation.invitedAt`).
    pub invited_at: Option<DateTime<Utc>>,
    /// The member's current invitation; null when never invited.
    pub invitation: Option<Invitation>,
    /// When the member accepted this org's invitation, which showed the
    /// email is theirs; null when they did not, or the email changed since.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// When the app last reported that the member signed in
    /// (`recordSignIn`); null if it never did.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// The member's groups in this org, by name.
    pub groups: Vec<MemberGroup>,
    /// Raised by every change to what the org sees of the member (profile,
    /// membership, groups). Pass it as `ifVersion` to `updateMember` or
    /// `upsertMember` to change the member only if nobody changed it since;
    /// SCIM's `meta.version` is the same number.
    pub version: i64,
}

impl From<MemberView> for Member {
    fn from(view: MemberView) -> Self {
        let MemberView {
            user,
            membership: m,
            groups,
        } = view;
        Self {
            id: user.id.0.into(),
            org_id: m.org.0.into(),
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            name: user.name,
            mobile: user.mobile,
            locale: user.locale,
            timezone: user.timezone,
            role: m.role.into(),
            status: m.status.into(),
            external_id: m.external_id,
            managed: m.managed,
            attributes: Json(m.attributes),
            created_at: m.created_at.and_utc(),
            updated_at: m.updated_at.and_utc(),
            retired_at: m.retired_at.map(|t| t.and_utc()),
            invited_at: m.invited_at.map(|t| t.and_utc()),
            // Shown where this org's invitation was accepted, and only
            // while the address is still the one verified: no org learns
            // of another's invitations.
            email_verified_at: user
                .email_verified_at
                .and(
                    m.invitation
                        .as_ref()
                        .filter(|i| i.status == "accepted")
                        .and_then(|i| i.accepted_at),
                )
                .map(|t| t.and_utc()),
            invitation: m.invitation.map(Invitation::from),
            last_sign_in_at: m.last_sign_in_at.map(|t| t.and_utc()),
            groups: groups.into_iter().map(MemberGroup::from).collect(),
            version: m.version,
        }
    }
}

/// An invitation's status.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    /// Its link works until `expiresAt`.
    Pending,
    Accepted,
    /// Not accepted in time; `resendInvitation` or `sendInvite` issues a
    /// new one.
    Expired,
    Revoked,
    /// Never invited (a filter value; a member never invited has no
    /// `invitation`).
    None,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::None => "none",
        }
    }

    fn from_str(status: &str) -> Self {
        match status {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "expired" => Self::Expired,
            _ => Self::Revoked,
        }
    }
}

/// The state of an invitation mail Roster sends.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationMailStatus {
    /// Waiting to be sent (or for its next attempt after a failure).
    Queued,
    /// The mail server took it.
    Sent,
    /// Given up: refused for good, or failing for too long.
    Failed,
    /// Not sent: the invitation was accepted, revoked or replaced first.
    Dropped,
}

/// A member's current invitation.
#[derive(SimpleObject, Debug, Clone)]
pub struct Invitation {
    pub status: InvitationStatus,
    pub invited_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub accepted_at: Option<DateTime<Utc>>,
    /// The mail, when Roster sends invitations itself (`ROSTER_SMTP_URL`);
    /// null when no mail was asked for.
    pub mail_status: Option<InvitationMailStatus>,
    /// Why the last attempt to send the mail failed.
    pub mail_error: Option<String>,
}

impl From<InvitationView> for Invitation {
    fn from(v: InvitationView) -> Self {
        Self {
            status: InvitationStatus::from_str(v.status),
            invited_at: v.invited_at.map(|t| t.and_utc()),
            expires_at: v.expires_at.map(|t| t.and_utc()),
            accepted_at: v.accepted_at.map(|t| t.and_utc()),
            mail_status: v.mail_status.as_deref().and_then(|s| match s {
                "queued" => Some(InvitationMailStatus::Queued),
                "sent" => Some(InvitationMailStatus::Sent),
                "failed" => Some(InvitationMailStatus::Failed),
                "dropped" => Some(InvitationMailStatus::Dropped),
                _ => None,
            }),
            mail_error: v.mail_error,
        }
    }
}

/// The code of one item of a bulk call. Refusals and faults are raised
/// before any item is looked at, so an item can only meet a conflict.
pub fn error_code(code: Code) -> ErrorCode {
    ErrorCode::of(code).unwrap_or(ErrorCode::Conflict)
}

/// What `upsertMember` did.
#[derive(SimpleObject, Debug, Clone)]
pub struct UpsertMemberResult {
    /// Whether the membership was created.
    pub created: bool,
    /// `created`, `updated`, `unchanged` or `failed`.
    pub result: String,
    /// The member as they are now; null when failed.
    pub member: Option<Member>,
    /// Profile fields given with other values than the member has, left
    /// unchanged because this org does not manage the member (empty when
    /// the call adds the member).
    pub ignored_fields: Vec<String>,
    pub error: Option<String>,
    pub error_code: Option<ErrorCode>,
}

impl From<Upserted> for UpsertMemberResult {
    fn from(done: Upserted) -> Self {
        Self {
            created: done.created,
            result: done.change.as_str().into(),
            member: Some(done.member.into()),
            ignored_fields: done.ignored_fields.iter().map(|f| f.to_string()).collect(),
            error: None,
            error_code: None,
        }
    }
}

impl UpsertMemberResult {
    pub fn failed(failure: Failure) -> Self {
        Self {
            created: false,
            result: "failed".into(),
            member: None,
            ignored_fields: Vec::new(),
            error: Some(failure.message),
            error_code: Some(error_code(failure.code)),
        }
    }
}

/// Why one member of a bulk call was not changed.
#[derive(SimpleObject, Debug, Clone)]
pub struct MemberFailure {
    pub id: Uuid,
    pub code: ErrorCode,
    pub message: String,
}

/// What `setMembersStatus` did.
#[derive(SimpleObject, Debug, Clone)]
pub struct SetMembersStatusResult {
    /// Members now in the asked status (including those already in it).
    pub succeeded_ids: Vec<Uuid>,
    pub failed_ids: Vec<Uuid>,
    pub failures: Vec<MemberFailure>,
}

impl From<StatusReport> for SetMembersStatusResult {
    fn from(report: StatusReport) -> Self {
        Self {
            succeeded_ids: report.succeeded.iter().map(|id| id.0.into()).collect(),
            failed_ids: report.failed.iter().map(|s| s.user_id.0.into()).collect(),
            failures: report
                .failed
                .into_iter()
                .map(|s| MemberFailure {
                    id: s.user_id.0.into(),
                    code: error_code(s.error.code),
                    message: s.error.message,
                })
                .collect(),
        }
    }
}

/// A member `removeMembers` left in place, and why.
#[derive(SimpleObject, Debug, Clone)]
pub struct UndeletedItem {
    pub id: Uuid,
    /// The member's name; null when the id is no member of this org.
    pub name: Option<String>,
    pub code: ErrorCode,
    pub reason: String,
}

impl From<Skipped> for UndeletedItem {
    fn from(s: Skipped) -> Self {
        Self {
            id: s.user_id.0.into(),
            name: s.name,
            code: error_code(s.error.code),
            reason: s.error.message,
        }
    }
}

/// What `removeMembers` did.
#[derive(SimpleObject, Debug, Clone)]
pub struct RemoveMembersResult {
    pub removed_ids: Vec<Uuid>,
    pub undeleted_items: Vec<UndeletedItem>,
}

impl From<RemovalReport> for RemoveMembersResult {
    fn from(report: RemovalReport) -> Self {
        Self {
            removed_ids: report.removed.iter().map(|id| id.0.into()).collect(),
            undeleted_items: report.skipped.into_iter().map(Into::into).collect(),
        }
    }
}

/// How many records (and, for MIRROR, absent members) came out which way.
#[derive(SimpleObject, Debug, Clone, Copy)]
pub struct SyncCounts {
    pub created: i32,
    pub updated: i32,
    pub unchanged: i32,
    /// Absent members retired (MIRROR).
    pub retired: i32,
    /// Records that failed.
    pub failed: i32,
}

/// One record's outcome.
#[derive(SimpleObject, Debug, Clone)]
pub struct SyncRecordResult {
    /// The record's position in `records`, from 0.
    pub index: i32,
    pub email: String,
    /// The member's id; null for a failed record, and in a dry run for a
    /// member the record would add.
    pub user_id: Option<Uuid>,
    /// `created`, `updated`, `unchanged` or `failed`.
    pub result: String,
    /// Profile fields left unchanged because this org does not manage the
    /// member (empty for a record that adds the member).
    pub ignored_fields: Vec<String>,
    pub error_code: Option<ErrorCode>,
    pub error: Option<String>,
}

impl From<RecordResult> for SyncRecordResult {
    fn from(r: RecordResult) -> Self {
        let (result, error_code, error) = match r.outcome {
            Ok(change) => (change.as_str().to_owned(), None, None),
            Err(f) => (
                "failed".to_owned(),
                Some(self::error_code(f.code)),
                Some(f.message),
            ),
        };
        Self {
            index: r.index as i32,
            email: r.email,
            user_id: r.user_id.map(|id| id.0.into()),
            result,
            ignored_fields: r.ignored_fields.iter().map(|f| f.to_string()).collect(),
            error_code,
            error,
        }
    }
}

/// A member MIRROR retired, or would have but may not.
#[derive(SimpleObject, Debug, Clone)]
pub struct SyncRetirement {
    pub user_id: Uuid,
    /// `retired` or `failed`.
    pub result: String,
    pub error_code: Option<ErrorCode>,
    pub error: Option<String>,
}

impl From<Retirement> for SyncRetirement {
    fn from(r: Retirement) -> Self {
        let (result, error_code, error) = match r.outcome {
            Ok(()) => ("retired".to_owned(), None, None),
            Err(f) => (
                "failed".to_owned(),
                Some(self::error_code(f.code)),
                Some(f.message),
            ),
        };
        Self {
            user_id: r.user_id.0.into(),
            result,
            error_code,
            error,
        }
    }
}

/// What `syncMembers` did, or with `dryRun` (or a failed ABORT) would do.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct SyncResult {
    pub dry_run: bool,
    /// Whether the changes were written: false for a dry run, and for
    /// ABORT when any record failed.
    pub written: bool,
    pub counts: SyncCounts,
    #[graphql(skip)]
    pub results: Vec<SyncRecordResult>,
    /// MIRROR only: the absent members retired or kept.
    pub retirements: Vec<SyncRetirement>,
}

#[async_graphql::ComplexObject]
impl SyncResult {
    /// One per record, in the order sent (`index` says which); with
    /// `only`, just the records whose `result` is one of these
    /// (`created`, `updated`, `unchanged`, `failed`), so that a large
    /// directory's answer need not list every unchanged record.
    async fn results(&self, only: Option<Vec<String>>) -> Vec<&SyncRecordResult> {
        self.results
            .iter()
            .filter(|r| only.as_ref().is_none_or(|o| o.contains(&r.result)))
            .collect()
    }
}

impl From<SyncReport> for SyncResult {
    fn from(report: SyncReport) -> Self {
        Self {
            dry_run: report.dry_run,
            written: report.written,
            counts: SyncCounts {
                created: report.created as i32,
                updated: report.updated as i32,
                unchanged: report.unchanged as i32,
                retired: report.retired as i32,
                failed: report.failed as i32,
            },
            results: report.results.into_iter().map(Into::into).collect(),
            retirements: report.retirements.into_iter().map(Into::into).collect(),
        }
    }
}
