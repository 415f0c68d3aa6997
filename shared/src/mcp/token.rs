//! The bearer the connector sends to dexter-mcp: a Dexter MCP JWT, HS256 with the shared
//! secret `MCP_JWT_SECRET`, in the form dexter-api issues it (`docs/dexter-mcp.md`,
//! "Transport and auth").
//!
//! Claims: `iss` and `aud` = the MCP endpoint URL (the base URL + `/mcp`), `iat`, `exp`,
//! `sub` and `supabase_user_id` = the Dexter user, optional `scope` (space-separated) and
//! `roles` (sorted, lower-case), and a `jti`. The connector mints one per user and per call,
//! living [`TOKEN_LIFETIME_SECONDS`]: a leaked token is worth one minute of one user.
//!
//! dexter-api keeps the whole `Authorization: Bearer <jwt>` under [`MAX_BEARER_LEN`]
//! characters (some proxies in front of dexter-mcp cut longer headers), dropping optional
//! claims when it would be longer; [`mint`] does the same, roles first, then scope.
//!
//! [`verify`] checks a token exactly as dexter-mcp does; the sandbox server uses it.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::McpCaller;

/// How long a minted token lives. One call, with room for a re-initialised session.
pub const TOKEN_LIFETIME_SECONDS: i64 = 60;

/// The whole `Bearer <jwt>` header value must be shorter than this.
pub const MAX_BEARER_LEN: usize = 512;

/// Clock skew tolerated between the connector and dexter-mcp when checking `exp`.
const LEEWAY_SECONDS: u64 = 5;

/// The claims of a Dexter MCP JWT.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// The Dexter (Supabase) user id; always equal to `supabase_user_id`.
    pub sub: String,
    pub supabase_user_id: String,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The wallet dexter-mcp should use when a tool is called without one. The connector
    /// never sets it (actions name their wallet); dexter-api may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_public_key: Option<String>,
    /// Sorted, lower-case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the MCP token could not be signed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// Even without optional claims the bearer is too long (an absurdly long MCP URL).
    #[error("the MCP bearer is {len} characters, the limit is {MAX_BEARER_LEN}")]
    TooLong { len: usize },
    #[error("the MCP token has expired")]
    Expired,
    #[error("the MCP token is invalid: {0}")]
    Invalid(String),
}

/// Mints the bearer token for one call by `caller` to the MCP endpoint `mcp_url`.
/// Returns the JWT alone (without `Bearer `).
pub fn mint(secret: &SecretString, mcp_url: &str, caller: &McpCaller) -> Result<String, TokenError> {
    mint_at(secret, mcp_url, caller, unix_now())
}

/// [`mint`] at a given time (seconds since the epoch), for tests of expiry.
pub fn mint_at(secret: &SecretString, mcp_url: &str, caller: &McpCaller, now: i64) -> Result<String, TokenError> {
    let user = caller.user_id.to_string();
    let mut scopes: Vec<&str> = Vec::new();
    for scope in caller.scopes.iter().flat_map(|s| s.split_whitespace()) {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let mut roles: Vec<String> =
        caller.roles.iter().map(|r| r.trim().to_lowercase()).filter(|r| !r.is_empty()).collect();
    roles.sort();
    roles.dedup();

    let mut claims = McpClaims {
        iss: mcp_url.to_owned(),
        aud: mcp_url.to_owned(),
        iat: now,
        exp: now + TOKEN_LIFETIME_SECONDS,
        sub: user.clone(),
        supabase_user_id: user,
        scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
        wallet_public_key: None,
        roles: (!roles.is_empty()).then_some(roles),
        jti: Some(Uuid::new_v4().simple().to_string()),
    };
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    let header = Header::new(Algorithm::HS256);
    loop {
        let token = jsonwebtoken::encode(&header, &claims, &key)?;
        let len = "Bearer ".len() + token.len();
        if len < MAX_BEARER_LEN {
            return Ok(token);
        }
        // The same order dexter-api drops them in: roles, then scope.
        if claims.roles.take().is_none() && claims.scope.take().is_none() {
            return Err(TokenError::TooLong { len });
        }
    }
}

/// Verifies a Dexter MCP JWT as dexter-mcp does: HS256 with `secret`, `iss` and `aud`
/// both equal to `expected_aud` (the server's own `/mcp` URL), not expired, and `sub`
/// naming the same user as `supabase_user_id`.
pub fn verify(secret: &SecretString, expected_aud: &str, token: &str) -> Result<McpClaims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[expected_aud]);
    validation.set_audience(&[expected_aud]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECONDS;
    let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
    let claims = jsonwebtoken::decode::<McpClaims>(token, &key, &validation).map(|data| data.claims).map_err(|e| {
        match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid(e.to_string()),
        }
    })?;
    if claims.sub.is_empty() || claims.sub != claims.supabase_user_id {
        return Err(TokenError::Invalid("sub and supabase_user_id differ".into()));
    }
    Ok(claims)
}

fn unix_now() -> i64 {
    // A clock before 1970 is not a state this program can run in meaningfully; 0 makes
    // every token expired rather than panicking.
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mcp.dexter.cash/mcp";

    fn secret() -> SecretString {
        SecretString::from("0123456789abcdef0123456789abcdef")
    }

    fn caller(scopes: &[&str], roles: &[&str]) -> McpCaller {
        McpCaller {
            user_id: crate::ids::UserId::random(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_minted_token_verifies_and_names_the_user_twice() {
        let caller = caller(&["wallet:read mcp:invoke", "mcp:invoke"], &["Pro", "admin"]);
        let token = mint(&secret(), URL, &caller).unwrap();
        let claims = verify(&secret(), URL, &token).unwrap();
        assert_eq!(claims.sub, caller.user_id.to_string());
        assert_eq!(claims.supabase_user_id, claims.sub);
        assert_eq!(claims.iss, URL);
        assert_eq!(claims.exp - claims.iat, TOKEN_LIFETIME_SECONDS);
        assert_eq!(claims.scope.as_deref(), Some("wallet:read mcp:invoke"));
        assert_eq!(claims.roles, Some(vec!["admin".to_string(), "pro".to_string()]));
    }

    #[test]
    fn optional_claims_are_dropped_to_keep_the_bearer_short() {
        let many_roles: Vec<String> = (0..40).map(|i| format!("role-{i}")).collect();
        let roles: Vec<&str> = many_roles.iter().map(String::as_str).collect();
        let caller = caller(&["mcp:invoke"], &roles);
        let token = mint(&secret(), URL, &caller).unwrap();
        assert!("Bearer ".len() + token.len() < MAX_BEARER_LEN);
        let claims = verify(&secret(), URL, &token).unwrap();
        assert_eq!(claims.roles, None);
        assert_eq!(claims.scope.as_deref(), Some("mcp:invoke"));
    }

    #[test]
    fn a_token_for_another_audience_or_secret_or_time_is_refused() {
        let caller = caller(&[], &[]);
        let token = mint(&secret(), URL, &caller).unwrap();
        assert!(matches!(verify(&secret(), "https://other.example/mcp", &token), Err(TokenError::Invalid(_))));
        let other = SecretString::from("another-secret-another-secret-xx");
        assert!(matches!(verify(&other, URL, &token), Err(TokenError::Invalid(_))));
        let old = mint_at(&secret(), URL, &caller, unix_now() - 3600).unwrap();
        assert!(matches!(verify(&secret(), URL, &old), Err(TokenError::Expired)));
    }
}
