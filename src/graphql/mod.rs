//! The GraphQL API: schema, resolvers and output types.
//!
//! Resolvers translate arguments, call one service function and shape its
//! answer; they never build SQL or check permissions themselves. The
//! caller's [`Principal`] is in the request data, put there by the HTTP
//! layer after the token was verified.

pub mod documents;
pub mod events;
mod limits;
pub mod members;
mod mutation;
mod query;
pub mod scalars;
pub mod tokens;
pub mod types;
mod webhooks;

use async_graphql::{Context, EmptySubscription, ErrorExtensions, Schema};

pub use limits::AliasLimit;
pub use mutation::MutationRoot;
pub use query::QueryRoot;

use crate::auth::{Principal, Scope};
use crate::error::Error;
use crate::service::{Outcome, Service};
use types::MutationResult;

pub type RosterSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Query limits; their defaults are the `serve` flags' (see `config`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
    pub aliases: usize,
    pub directives: usize,
    pub introspection: bool,
}

/// Builds the schema with the service and limits in place.
pub fn build_schema(service: Service, limits: Limits) -> RosterSchema {
    let mut builder = Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(service)
        .limit_depth(limits.depth)
        .limit_complexity(limits.complexity)
        .limit_directives(limits.directives)
        .extension(AliasLimit::new(limits.aliases));
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .finish()
        .sdl()
}

impl From<Error> for async_graphql::Error {
    fn from(error: Error) -> Self {
        let code = error.code();
        let retry_at = match &error {
            Error::RateLimited { retry_at, .. } => *retry_at,
            _ => None,
        };
        async_graphql::Error::new(error.to_string()).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(at) = retry_at {
                ext.set("retryAt", at.and_utc().to_rfc3339());
            }
        })
    }
}

/// The service and the verified caller of this request.
fn caller<'a>(ctx: &Context<'a>) -> async_graphql::Result<(&'a Service, &'a Principal)> {
    let service = ctx.data_unchecked::<Service>();
    let principal = ctx.data_opt::<Principal>().ok_or_else(|| {
        async_graphql::Error::new("authentication required")
            .extend_with(|_, ext| ext.set("code", "UNAUTHENTICATED"))
    })?;
    Ok((service, principal))
}

/// A mutation's payload is a read too: each `(path, scope)` says that
/// selecting the field at `path` needs `scope`. Checked before the write,
/// so that a refusal changes nothing and a write-only token reads nothing.
fn require_for_selection(
    ctx: &Context<'_>,
    who: &Principal,
    needs: &[(&[&str], Scope)],
) -> async_graphql::Result<()> {
    for (path, scope) in needs {
        let selected = path
            .iter()
            .fold(ctx.look_ahead(), |field, name| field.field(name))
            .exists();
        if selected {
            who.require(*scope)?;
        }
    }
    Ok(())
}

/// A mutation's answer: business failures become `result: "failed"`,
/// refusals and faults GraphQL errors.
fn mutation_result(result: Result<Outcome, Error>) -> async_graphql::Result<MutationResult> {
    match result {
        Ok(outcome) => Ok(outcome.into()),
        Err(error) => match MutationResult::failed(&error) {
            Some(failed) => Ok(failed),
            None => Err(error.into()),
        },
    }
}

/// A list's `first` argument (default 50), checked against the page limit.
fn page_size(first: Option<i32>) -> async_graphql::Result<usize> {
    let first = first.unwrap_or(50);
    if first < 1 || first as usize > crate::service::MAX_PAGE {
        return Err(invalid(format!(
            "first must be between 1 and {}",
            crate::service::MAX_PAGE
        )));
    }
    Ok(first as usize)
}

/// An invalid argument of a query, as a GraphQL error with a code.
fn invalid(message: impl Into<String>) -> async_graphql::Error {
    Error::invalid(message).into()
}
