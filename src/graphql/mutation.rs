//! Mutation resolvers. Each returns a `MutationResult`; see
//! [`super::mutation_result`] for how failures are reported.

use async_graphql::{Context, Json, Object};
use chrono::{DateTime, Utc};

use super::members::{
    MemberStatusEnum, ProfileInput, RemoveMembersResult, RoleEnum, SetMembersStatusResult,
    SyncMode, SyncOnError, SyncRecord, SyncRecords, SyncResult, UpsertMemberResult,
};
use super::scalars::Uuid;
use super::tokens::CreateApiTokenResult;
use super::types::{ErrorCode, MutationResult};
use super::webhooks::{RedeliverResult, WebhookResult};
use super::{caller, mutation_result, require_for_selection};
use crate::auth::Scope;
use crate::service::{
    Failure, GroupInput, GroupUpdate, MemberRecord, MemberUpdate, NewApiToken, NewMember,
    NewOrgMember, NewWebhook, OrgUpdate, SyncRequest, UpsertMember, WebhookUpdate,
};

pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates the user and their membership (role default `user`), and the
    /// group membership when `groupId` is given, in one transaction. An
    /// email that already belongs to a user adds that user, unchanged, with
    /// `result: "created"` too; already a member here: DUPLICATE.
    /// `sendInvite: true` invites them (see `acceptInvitation`).
    #[expect(clippy::too_many_arguments, reason = "the contract's argument list")]
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        email: String,
        first: String,
        last: String,
        mobile: Option<String>,
        name: Option<String>,
        group_id: Option<Uuid>,
        external_id: Option<String>,
        role: Option<String>,
        send_invite: Option<bool>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let input = NewMember {
            org: org.map(Into::into),
            email,
            first,
            last,
            mobile,
            name,
            group_id: group_id.map(Into::into),
            external_id,
            role,
            send_invite: send_invite.unwrap_or(false),
        };
        mutation_result(service.create_user(who, input).await)
    }

    /// Adds an existing user to an org: `orgId` when given, else `org`.
    /// A user the caller cannot see is NOT_FOUND.
    async fn add_org_member(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        org_id: Option<Uuid>,
        user_id: Uuid,
        role: Option<String>,
        external_id: Option<String>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let input = NewOrgMember {
            org: org.map(Into::into),
            org_id: org_id.map(Into::into),
            user_id: user_id.into(),
            role,
            external_id,
        };
        mutation_result(service.add_org_member(who, input).await)
    }

    /// The former name of `addOrgMember`.
    #[graphql(deprecation = "use addOrgMember")]
    async fn add_user_to_org(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        org_id: Option<Uuid>,
        user_id: Uuid,
        role: Option<String>,
        external_id: Option<String>,
    ) -> async_graphql::Result<MutationResult> {
        self.add_org_member(ctx, org, org_id, user_id, role, external_id)
            .await
    }

    /// Records that the member signed in to the app, at `at` (now when
    /// absent; at most 5 minutes ahead of the server's clock). Called by
    /// the app's backend; sets the member's `lastSignInAt`. Cheap: no
    /// event, and at most one write per member per minute (an earlier or
    /// a repeated sign-in is `unchanged`).
    async fn record_sign_in(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_id: Uuid,
        at: Option<DateTime<Utc>>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let at = at.map(|t| t.naive_utc());
        mutation_result(
            service
                .record_sign_in(who, org.map(Into::into), user_id.into(), at)
                .await,
        )
    }

    /// Issues a new invitation link to a member who has not accepted one
    /// (the old link stops working) and sends it again. An accepted
    /// invitation is CONFLICT; counts against the org's hourly limit
    /// (RATE_LIMITED).
    async fn resend_invitation(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_id: Uuid,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        mutation_result(
            service
                .resend_invitation(who, org.map(Into::into), user_id.into())
                .await,
        )
    }

    /// Revokes the member's pending invitation: its link stops working and
    /// a mail not yet sent is not sent. No pending invitation: CONFLICT.
    async fn revoke_invitation(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_id: Uuid,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        mutation_result(
            service
                .revoke_invitation(who, org.map(Into::into), user_id.into())
                .await,
        )
    }

    /// Accepts an invitation with the token from its link, once the person
    /// who followed it signed in to the app; called by the app's backend
    /// (`members:write`). The invitation becomes ACCEPTED and the user's
    /// email verified; `id` is the member's user id. A token that is
    /// unknown, expired, revoked, already used or another org's gets one
    /// and the same NOT_FOUND.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        mutation_result(service.accept_invitation(who, token).await)
    }

    /// Changes only the given fields: `status` (`active` | `retired`),
    /// `role` (`user` | `admin`), `externalId` (empty clears it),
    /// `attributes` (replaces them: a JSON object of up to 50 keys of
    /// letters, digits and `_ . : -`, to strings, numbers or booleans; 8 KiB
    /// at most). With `ifVersion` (the member's `version`), nothing is
    /// written unless the member is still at that version: `CONFLICT`.
    #[expect(clippy::too_many_arguments, reason = "the contract's argument list")]
    async fn update_member(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_id: Uuid,
        status: Option<String>,
        role: Option<String>,
        external_id: Option<String>,
        attributes: Option<Json<serde_json::Value>>,
        if_version: Option<i64>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let input = MemberUpdate {
            org: org.map(Into::into),
            user_id: user_id.into(),
            status,
            role,
            external_id,
            attributes: attributes.map(|a| a.0),
            if_version,
        };
        mutation_result(service.update_member(who, input).await)
    }

    /// Puts a member of the org into one of its groups (`unchanged` when
    /// already there).
    async fn add_group_membership(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_id: Uuid,
        group_id: Uuid,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let result = service
            .add_group_membership(who, org.map(Into::into), user_id.into(), group_id.into())
            .await;
        mutation_result(result)
    }

    /// Takes a member out of a group (`unchanged` when not in it).
    async fn remove_group_membership(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_id: Uuid,
        group_id: Uuid,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let result = service
            .remove_group_membership(who, org.map(Into::into), user_id.into(), group_id.into())
            .await;
        mutation_result(result)
    }

    /// Creates an org (operators only).
    async fn create_org(
        &self,
        ctx: &Context<'_>,
        name: String,
        slug: String,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        mutation_result(service.create_org(who, &name, &slug).await)
    }

    /// Renames, re-slugs, suspends or reactivates an org (operators only).
    async fn update_org(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        name: Option<String>,
        slug: Option<String>,
        status: Option<String>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let input = OrgUpdate {
            id: id.into(),
            name,
            slug,
            status,
        };
        mutation_result(service.update_org(who, input).await)
    }

    /// Creates a group; names are unique within the org, ignoring case.
    async fn create_group(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        name: String,
        description: Option<String>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let input = GroupInput {
            org: org.map(Into::into),
            name,
            description,
        };
        mutation_result(service.create_group(who, input).await)
    }

    /// Renames a group or changes its description (empty clears it).
    /// With `ifVersion` (the group's `version`), nothing is written unless
    /// the group is still at that version: `CONFLICT`.
    async fn update_group(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Uuid,
        name: Option<String>,
        description: Option<String>,
        if_version: Option<i64>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let input = GroupUpdate {
            org: org.map(Into::into),
            id: id.into(),
            name,
            description,
            if_version,
        };
        mutation_result(service.update_group(who, input).await)
    }

    /// Deletes a group and its memberships; the members stay in the org.
    /// `records` counts the group.
    async fn delete_group(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Uuid,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        mutation_result(
            service
                .delete_group(who, org.map(Into::into), id.into())
                .await,
        )
    }

    /// Creates an integration token for the org (admins and operators) with
    /// the given scopes (any of `members:read members:write groups:read
    /// groups:write events:read`), alive for `expiresIn` (`90d`, `12h`; at
    /// most the server's maximum, 365 days by default, which is also the
    /// default). `token` is in this answer only; the org keeps its id
    /// (`jti`) and name, unique in the org.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        name: String,
        scopes: Vec<String>,
        expires_in: Option<String>,
    ) -> async_graphql::Result<CreateApiTokenResult> {
        let (service, who) = caller(ctx)?;
        let expires_in = match expires_in.as_deref().map(humantime::parse_duration) {
            None => None,
            Some(Ok(ttl)) => Some(ttl),
            Some(Err(_)) => {
                let error =
                    crate::error::Error::invalid("expiresIn must be a duration such as 90d or 12h");
                return CreateApiTokenResult::failed(&error).ok_or_else(|| error.into());
            }
        };
        let input = NewApiToken {
            org: org.map(Into::into),
            name,
            scopes,
            expires_in,
        };
        match service.create_api_token(who, input).await {
            Ok(created) => Ok(created.into()),
            Err(error) => CreateApiTokenResult::failed(&error).ok_or_else(|| error.into()),
        }
    }

    /// Revokes one of the org's API tokens by its id: refused from the next
    /// request on (at once on this server, within the auth cache's time on
    /// others). Revoking twice answers `unchanged`.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Uuid,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        mutation_result(
            service
                .revoke_api_token(who, org.map(Into::into), id.0)
                .await,
        )
    }

    /// Adds an endpoint that receives the org's events as signed HTTP
    /// POSTs (needs `webhooks:write`). `url` must be `https` and public
    /// unless the server allows otherwise; `types` narrows the event types
    /// (none: every type). `secret` is in this answer only.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        url: String,
        types: Option<Vec<String>>,
        description: Option<String>,
    ) -> async_graphql::Result<WebhookResult> {
        let (service, who) = caller(ctx)?;
        let input = NewWebhook {
            org: org.map(Into::into),
            url,
            types: types.unwrap_or_default(),
            description,
        };
        match service.create_webhook(who, input).await {
            Ok(made) => Ok(WebhookResult::with_secret("created", made)),
            Err(error) => WebhookResult::failed(&error).ok_or_else(|| error.into()),
        }
    }

    /// Changes an endpoint: what is given. `enabled: true` turns a disabled
    /// endpoint back on (deliveries still pending resume; events recorded
    /// while it was off can be replayed with `redeliverEvents`).
    #[expect(clippy::too_many_arguments, reason = "the contract's argument list")]
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Uuid,
        url: Option<String>,
        types: Option<Vec<String>>,
        enabled: Option<bool>,
        description: Option<String>,
    ) -> async_graphql::Result<WebhookResult> {
        let (service, who) = caller(ctx)?;
        let input = WebhookUpdate {
            org: org.map(Into::into),
            id: id.0,
            url,
            types,
            enabled,
            description,
        };
        match service.update_webhook(who, input).await {
            Ok(hook) => Ok(WebhookResult::done("updated", hook, None)),
            Err(error) => WebhookResult::failed(&error).ok_or_else(|| error.into()),
        }
    }

    /// Deletes an endpoint and its deliveries.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Uuid,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        mutation_result(service.delete_webhook(who, org.map(Into::into), id.0).await)
    }

    /// Gives an endpoint a new signing secret, in this answer only. For 24
    /// hours the previous secret signs too: each delivery carries both
    /// signatures, so the receiver can switch at its own pace.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Uuid,
    ) -> async_graphql::Result<WebhookResult> {
        let (service, who) = caller(ctx)?;
        match service
            .rotate_webhook_secret(who, org.map(Into::into), id.0)
            .await
        {
            Ok(made) => Ok(WebhookResult::with_secret("updated", made)),
            Err(error) => WebhookResult::failed(&error).ok_or_else(|| error.into()),
        }
    }

    /// Sends the org's events that occurred at or after `since` (of the
    /// endpoint's types) to the endpoint again, oldest first, with their
    /// own ids: at most 10,000 per call.
    async fn redeliver_events(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        webhook_id: Uuid,
        since: DateTime<Utc>,
    ) -> async_graphql::Result<RedeliverResult> {
        let (service, who) = caller(ctx)?;
        match service
            .redeliver_events(who, org.map(Into::into), webhook_id.0, since.naive_utc())
            .await
        {
            Ok(done) => Ok(done.into()),
            Err(error) => RedeliverResult::failed(&error).ok_or_else(|| error.into()),
        }
    }

    /// Finds the member by `externalId` (when given) or `email` and creates
    /// the user and/or membership when absent, else changes only the given
    /// fields. Selecting `member` needs `members:read` (and its `groups`
    /// `groups:read`), checked before anything is written. `groups` (names) become the member's groups exactly.
    /// Profile fields of a user this org does not manage stay as they are
    /// and are listed in `ignoredFields`. `sendInvite: true` invites an
    /// active member with no pending or accepted invitation (an accepted
    /// one is `unchanged`). With `ifVersion` (the member's
    /// `version`), nothing is written unless the member exists and is still
    /// at that version: `CONFLICT`.
    #[expect(clippy::too_many_arguments, reason = "the contract's argument list")]
    async fn upsert_member(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        email: Option<String>,
        external_id: Option<String>,
        user: Option<ProfileInput>,
        role: Option<RoleEnum>,
        status: Option<MemberStatusEnum>,
        attributes: Option<Json<serde_json::Value>>,
        groups: Option<Vec<String>>,
        send_invite: Option<bool>,
        if_version: Option<i64>,
    ) -> async_graphql::Result<UpsertMemberResult> {
        let (service, who) = caller(ctx)?;
        require_for_selection(
            ctx,
            who,
            &[
                (&["member"], Scope::MembersRead),
                (&["member", "groups"], Scope::GroupsRead),
                (&["ignoredFields"], Scope::MembersRead),
            ],
        )?;
        let profile = user.unwrap_or_default();
        let input = UpsertMember {
            org: org.map(Into::into),
            record: MemberRecord {
                email,
                external_id,
                first_name: profile.first_name,
                last_name: profile.last_name,
                name: profile.name,
                mobile: profile.mobile,
                locale: profile.locale,
                timezone: profile.timezone,
                role: role.map(Into::into),
                status: status.map(Into::into),
                attributes: attributes.map(|a| a.0.into()),
                groups,
                send_invite: send_invite.unwrap_or(false),
                user_id: None,
                idp_user_name: None,
            },
            if_version,
            create_only: false,
        };
        match service.upsert_member(who, input).await {
            Ok(done) => Ok(done.into()),
            Err(error) if is_business(&error) => {
                Ok(UpsertMemberResult::failed(Failure::from(&error)))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Retires or reactivates members in one transaction, in the order
    /// given. Members the invariants protect (the caller, the last active
    /// admin) and ids that are no member of the org are reported in
    /// `failures`; the others change. Group memberships survive retirement.
    async fn set_members_status(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_ids: Vec<Uuid>,
        status: MemberStatusEnum,
    ) -> async_graphql::Result<SetMembersStatusResult> {
        let (service, who) = caller(ctx)?;
        let ids = user_ids.into_iter().map(Into::into).collect();
        let report = service
            .set_members_status(who, org.map(Into::into), ids, status.into())
            .await?;
        Ok(report.into())
    }

    /// Removes members from the org with their group memberships, in one
    /// transaction. Unknown ids, the caller and the last active admin are
    /// skipped and reported. A user left in no org at all is deleted; one
    /// still in another org is untouched there.
    async fn remove_members(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_ids: Vec<Uuid>,
    ) -> async_graphql::Result<RemoveMembersResult> {
        let (service, who) = caller(ctx)?;
        require_for_selection(
            ctx,
            who,
            &[(&["undeletedItems", "name"], Scope::MembersRead)],
        )?;
        let ids = user_ids.into_iter().map(Into::into).collect();
        let report = service
            .remove_members(who, org.map(Into::into), ids)
            .await?;
        Ok(report.into())
    }

    /// Brings the org in step with a directory: each record is an upsert
    /// (keyed by `externalId`, else `email`); MIRROR also retires the
    /// active members no record names. ABORT writes nothing if any record
    /// fails, SKIP writes the others; `dryRun` reports without writing.
    /// Absent (or null) `mode`, `onError` and `dryRun` mean MERGE, ABORT
    /// and false.
    /// Up to 100,000 records per call; a request body may exceed the usual
    /// size limit up to the sync limit when it holds only this mutation.
    async fn sync_members(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        records: Vec<SyncRecord>,
        mode: Option<SyncMode>,
        on_error: Option<SyncOnError>,
        dry_run: Option<bool>,
    ) -> async_graphql::Result<SyncResult> {
        let (service, who) = caller(ctx)?;
        // Which members exist and how their profiles differ is a read.
        require_for_selection(
            ctx,
            who,
            &[
                (&["results", "userId"], Scope::MembersRead),
                (&["results", "ignoredFields"], Scope::MembersRead),
                (&["retirements"], Scope::MembersRead),
            ],
        )?;
        // A large request's records were read from the body already.
        let records = match ctx.data_opt::<SyncRecords>().and_then(SyncRecords::take) {
            Some(read) => read,
            None => records.into_iter().map(Into::into).collect(),
        };
        let request = SyncRequest {
            org: org.map(Into::into),
            records,
            mode: match mode {
                Some(SyncMode::Mirror) => crate::service::SyncMode::Mirror,
                Some(SyncMode::Merge) | None => crate::service::SyncMode::Merge,
            },
            skip_failed: on_error == Some(SyncOnError::Skip),
            dry_run: dry_run.unwrap_or(false),
        };
        Ok(service.sync_members(who, request).await?.into())
    }
}

/// Whether an error is about the data (answered in the result) rather than
/// a refusal or a fault (raised as a GraphQL error).
fn is_business(error: &crate::error::Error) -> bool {
    ErrorCode::of(error.code()).is_some()
}
