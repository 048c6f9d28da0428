//! JWT verification and minting.
//!
//! The algorithm is pinned by configuration: HS256 with a shared secret, or
//! EdDSA / ES256 / RS256 with a public key. A token whose header names any
//! other algorithm is refused, as is one without `exp`, `iss`, `aud` or
//! `sub`, or with the wrong issuer or audience. Clock leeway is
//! [`LEEWAY_SECS`].

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{CallerRole, Channel, Principal, Scopes};
use crate::domain::OrgId;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims Roster reads and writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// What Roster reads from an incoming token. The registered claims (`exp`,
/// `nbf`, `iss`, `aud`) are checked by jsonwebtoken on the raw payload, so
/// their JSON forms may vary as RFC 7519 allows (`aud` as an array, a
/// fractional `iat`) without a valid token being refused.
#[derive(Debug, Deserialize)]
struct IncomingClaims {
    sub: String,
    role: String,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    jti: Option<serde_json::Value>,
    /// Required and checked by the validation; kept for callers that
    /// need the token's end (a console session ends with it).
    exp: u64,
}

/// The longest `jti` accepted.
const MAX_JTI: usize = 200;

/// Why a token was refused; the text is safe to return with the 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(pub String);

impl TokenError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// The configured keys, issuer and audience.
#[derive(Clone)]
pub struct JwtKeys {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    issuer: String,
    audience: String,
}

/// The algorithms a deployment may pin.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    match name.trim().to_ascii_uppercase().as_str() {
        "HS256" => Ok(Algorithm::HS256),
        "EDDSA" => Ok(Algorithm::EdDSA),
        "ES256" => Ok(Algorithm::ES256),
        "RS256" => Ok(Algorithm::RS256),
        other => Err(format!(
            "unsupported JWT algorithm \"{other}\": use HS256, EdDSA, ES256 or RS256"
        )),
    }
}

impl JwtKeys {
    /// HS256 with a shared secret; this side can mint as well as verify.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Self {
            algorithm: Algorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// An asymmetric algorithm with a PEM public key, and optionally the
    /// private key for minting.
    pub fn public_key(
        algorithm: Algorithm,
        public_pem: &[u8],
        private_pem: Option<&[u8]>,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, String> {
        let bad =
            |e: jsonwebtoken::errors::Error| format!("cannot read the {algorithm:?} key: {e}");
        let decoding = match algorithm {
            Algorithm::EdDSA => DecodingKey::from_ed_pem(public_pem),
            Algorithm::ES256 => DecodingKey::from_ec_pem(public_pem),
            Algorithm::RS256 => DecodingKey::from_rsa_pem(public_pem),
            _ => return Err(format!("{algorithm:?} takes a secret, not a public key")),
        }
        .map_err(bad)?;
        let encoding = private_pem
            .map(|pem| match algorithm {
                Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
                Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
                _ => EncodingKey::from_rsa_pem(pem),
            })
            .transpose()
            .map_err(bad)?;
        Ok(Self {
            algorithm,
            decoding,
            encoding,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Checks signature and registered claims, then reads Roster's claims
    /// into a [`Principal`]. Revocation and org status are checked by the
    /// service, which has the database.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// [`JwtKeys::verify`], with the token's `exp` (seconds since the
    /// epoch).
    pub fn verify_until(&self, token: &str) -> Result<(Principal, u64), TokenError> {
        let mut validation = Validation::new(self.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.validate_exp = true;
        let data = jsonwebtoken::decode::<IncomingClaims>(token, &self.decoding, &validation)
            .map_err(|e| TokenError::new(describe(e.kind())))?;
        let exp = data.claims.exp;
        principal_from(data.claims).map(|principal| (principal, exp))
    }

    /// Signs the claims with the configured key.
    pub fn mint(&self, claims: &Claims) -> Result<String, String> {
        let key = self.encoding.as_ref().ok_or_else(|| {
            "no signing key is configured: set ROSTER_JWT_SECRET, or ROSTER_JWT_PRIVATE_KEY \
             beside ROSTER_JWT_PUBLIC_KEY"
                .to_owned()
        })?;
        jsonwebtoken::encode(&Header::new(self.algorithm), claims, key).map_err(|e| e.to_string())
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet".into(),
        ErrorKind::InvalidIssuer => "the token has the wrong issuer".into(),
        ErrorKind::InvalidAudience => "the token has the wrong audience".into(),
        ErrorKind::InvalidAlgorithm => {
            "the token is signed with an algorithm this service refuses".into()
        }
        ErrorKind::InvalidSignature => "the token signature does not verify".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token lacks the {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the token's {claim} claim is malformed"),
        _ => "the token is malformed".into(),
    }
}

fn principal_from(claims: IncomingClaims) -> Result<Principal, TokenError> {
    let jti = match claims.jti {
        None => None,
        Some(serde_json::Value::String(jti)) => Some(jti),
        Some(serde_json::Value::Number(jti)) => Some(jti.to_string()),
        Some(_) => return Err(TokenError::new("the token's jti claim is malformed")),
    };
    if jti
        .as_ref()
        .is_some_and(|j| j.len() > MAX_JTI || j.chars().any(char::is_control))
    {
        return Err(TokenError::new("the token's jti claim is malformed"));
    }
    let role = CallerRole::parse(&claims.role).ok_or_else(|| {
        TokenError::new(format!("unknown role \"{}\" in token", short(&claims.role)))
    })?;
    if claims.sub.trim().is_empty() {
        return Err(TokenError::new("the token's sub claim is empty"));
    }
    let org = match (&claims.org, role) {
        (_, CallerRole::Operator) => None,
        (Some(org), _) => Some(
            org.parse::<OrgId>()
                .map_err(|_| TokenError::new("the token's org claim is not a UUID"))?,
        ),
        (None, _) => return Err(TokenError::new("a tenant token must carry the org claim")),
    };
    let scopes = match role {
        CallerRole::Integration => {
            Scopes::parse(claims.scope.as_deref().unwrap_or_default()).map_err(TokenError)?
        }
        CallerRole::Operator | CallerRole::Admin => Scopes::all(),
    };
    Ok(Principal {
        subject: claims.sub,
        role,
        org,
        scopes,
        jti,
        channel: Channel::Graphql,
        request_id: None,
    })
}

fn short(text: &str) -> String {
    text.chars().take(32).collect()
}
