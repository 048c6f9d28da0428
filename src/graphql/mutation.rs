//! Mutation resolvers. Each returns a `MutationResult`; see
//! [`super::mutation_result`] for how failures are reported.

use async_graphql::{Context, Object};

use super::scalars::Uuid;
use super::types::MutationResult;
use super::{caller, mutation_result};
use crate::service::{GroupInput, GroupUpdate, MemberUpdate, NewMember, NewOrgMember, OrgUpdate};

pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates the user and their membership (role default `user`), and the
    /// group membership when `groupId` is given, in one transaction. An
    /// email that already belongs to a user adds that user, unchanged, with
    /// `result: "created"` too; already a member here: DUPLICATE.
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

    /// Changes only the given fields: `status` (`active` | `retired`),
    /// `role` (`user` | `admin`), `externalId` (empty clears it).
    async fn update_member(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        user_id: Uuid,
        status: Option<String>,
        role: Option<String>,
        external_id: Option<String>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let input = MemberUpdate {
            org: org.map(Into::into),
            user_id: user_id.into(),
            status,
            role,
            external_id,
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
    async fn update_group(
        &self,
        ctx: &Context<'_>,
        org: Option<Uuid>,
        id: Uuid,
        name: Option<String>,
        description: Option<String>,
    ) -> async_graphql::Result<MutationResult> {
        let (service, who) = caller(ctx)?;
        let input = GroupUpdate {
            org: org.map(Into::into),
            id: id.into(),
            name,
            description,
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
}
