//! Who is calling and what they may touch.
//!
//! A [`Principal`] is made from a verified token (see [`jwt`]) and handed to
//! every service call. It answers two questions: which org a call acts on
//! ([`Principal::org_for`]) and whether a scope is granted
//! ([`Principal::require`]).

pub mod jwt;

use crate::domain::{OrgId, UserId};
use crate::error::{Error, Result};

/// The kind of caller a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerRole {
    /// Platform operator: every org.
    Operator,
    /// Tenant admin: everything inside one org.
    Admin,
    /// Partner integration: one org, limited by scopes.
    Integration,
}

impl CallerRole {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            "integration" => Some(Self::Integration),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Admin => "admin",
            Self::Integration => "integration",
        }
    }
}

/// What an integration token may do; operators and admins have them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    MembersRead,
    MembersWrite,
    GroupsRead,
    GroupsWrite,
    EventsRead,
    WebhooksWrite,
    Scim,
}

impl Scope {
    /// The scope registry: every scope a token may carry.
    pub const ALL: [Scope; 7] = [
        Self::MembersRead,
        Self::MembersWrite,
        Self::GroupsRead,
        Self::GroupsWrite,
        Self::EventsRead,
        Self::WebhooksWrite,
        Self::Scim,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MembersRead => "members:read",
            Self::MembersWrite => "members:write",
            Self::GroupsRead => "groups:read",
            Self::GroupsWrite => "groups:write",
            Self::EventsRead => "events:read",
            Self::WebhooksWrite => "webhooks:write",
            Self::Scim => "scim",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Self(Scope::ALL.iter().fold(0, |bits, s| bits | s.bit()))
    }

    /// Parses a space-separated `scope` claim; unknown words are an error so
    /// that a typo does not silently grant less than intended.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split_whitespace()
            .try_fold(Self::default(), |set, word| {
                Scope::parse(word)
                    .map(|s| Self(set.0 | s.bit()))
                    .ok_or_else(|| format!("unknown scope \"{word}\""))
            })
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
}

/// Which API a caller came through; recorded on every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Graphql,
    Scim,
    Cli,
    /// The admin console (`/admin`), which runs GraphQL in-process.
    Console,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Graphql => "graphql",
            Self::Scim => "scim",
            Self::Cli => "cli",
            Self::Console => "console",
        }
    }
}

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The `sub` claim: who acts. For people it is their user id.
    pub subject: String,
    pub role: CallerRole,
    /// The org a tenant token is bound to; `None` for operators.
    pub org: Option<OrgId>,
    pub scopes: Scopes,
    pub jti: Option<String>,
    pub channel: Channel,
    /// The HTTP request's `x-request-id`, when there is one.
    pub request_id: Option<String>,
}

impl Principal {
    /// The platform operator at the command line (`roster org create`,
    /// `roster token issue`, ...).
    pub fn cli() -> Self {
        Self {
            subject: "roster-cli".into(),
            role: CallerRole::Operator,
            org: None,
            scopes: Scopes::all(),
            jti: None,
            channel: Channel::Cli,
            request_id: None,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.role == CallerRole::Operator
    }

    /// Fails with FORBIDDEN unless the token grants `scope`.
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this token lacks the {} scope",
                scope.as_str()
            )))
        }
    }

    /// Fails with FORBIDDEN unless the caller is a platform operator.
    pub fn require_operator(&self) -> Result<()> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "only platform operators may do this".into(),
            ))
        }
    }

    /// The org a call acts on: the `org` argument, defaulting to the token's
    /// org. A tenant token naming any other org is FORBIDDEN, whether or not
    /// that org exists; an operator must name one.
    pub fn org_for(&self, requested: Option<OrgId>) -> Result<OrgId> {
        match (self.org, requested) {
            (_, Some(org)) if self.is_operator() => Ok(org),
            (None, None) if self.is_operator() => {
                Err(Error::invalid("operators must pass the org argument"))
            }
            (Some(own), None) => Ok(own),
            (Some(own), Some(org)) if own == org => Ok(own),
            _ => Err(Error::Forbidden(
                "this token may not act on that org".into(),
            )),
        }
    }

    /// `org_for` plus a scope check, the usual start of a tenant call.
    pub fn org_with(&self, requested: Option<OrgId>, scope: Scope) -> Result<OrgId> {
        self.require(scope)?;
        self.org_for(requested)
    }

    /// Whether the caller is the given user (for the self-action rule).
    pub fn is_user(&self, user: UserId) -> bool {
        self.user_id().is_some_and(|me| me == user)
    }

    /// Whether the caller is the user with this stored id.
    pub fn is_user_id(&self, stored: &str) -> bool {
        self.user_id().is_some_and(|me| me.as_db() == stored)
    }

    /// The user the caller acts as, when `sub` is a user id.
    pub fn user_id(&self) -> Option<UserId> {
        self.subject.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(org: OrgId, scopes: Scopes) -> Principal {
        Principal {
            subject: "x".into(),
            role: CallerRole::Integration,
            org: Some(org),
            scopes,
            jti: None,
            channel: Channel::Graphql,
            request_id: None,
        }
    }

    #[test]
    fn tenant_cannot_name_another_org() {
        let own = OrgId::new();
        let who = tenant(own, Scopes::all());
        assert_eq!(who.org_for(None).unwrap(), own);
        assert_eq!(who.org_for(Some(own)).unwrap(), own);
        assert!(matches!(
            who.org_for(Some(OrgId::new())),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn scopes_parse_and_check() {
        let scopes = Scopes::parse("members:read groups:read").unwrap();
        assert!(scopes.contains(Scope::MembersRead));
        assert!(!scopes.contains(Scope::MembersWrite));
        assert!(Scopes::parse("members:admin").is_err());
        let who = tenant(OrgId::new(), scopes);
        assert!(matches!(
            who.require(Scope::GroupsWrite),
            Err(Error::Forbidden(_))
        ));
    }
}
