//! Access tokens: JWTs signed with the connector's current Ed25519 key (`kid` in the
//! header) and typed `at+jwt` (RFC 9068), verified locally by every function without I/O.
//! The same key signs voice handoffs, typed otherwise: the type is checked, so a handoff
//! is never an access token. Whether the grant behind a
//! token is still live is a separate check (the one database query each action makes).
//!
//! Audiences (RFC 8707 resource indicators): a token is for one resource, the GPT actions
//! (`{base}/connector/chatgpt`, the audience of every token issued without `resource`)
//! or the MCP endpoint (`{base}/mcp`). Each verifies its own audience only, so a token
//! issued for one is refused by the other.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{ClientId, GrantId, UserId};
use crate::keys::SigningKeys;
use crate::oauth::ACCESS_TOKEN_TTL_SECONDS;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    /// The public base URL.
    pub iss: String,
    /// The resource the token is for: the actions' base URL (`{base}/connector/chatgpt`)
    /// or the MCP endpoint (`{base}/mcp`).
    pub aud: String,
    /// The Dexter (Supabase) user id.
    pub sub: UserId,
    pub client_id: ClientId,
    /// Space-separated scopes.
    pub scope: String,
    /// The grant (linked account) the token belongs to.
    pub gid: GrantId,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
}

impl AccessClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }
}

/// The `typ` header of access tokens (RFC 9068 §2.1).
pub const TYP: &str = "at+jwt";

/// The `aud` of access tokens for a deployment.
pub fn audience(public_base_url: &str) -> String {
    format!("{public_base_url}/connector/chatgpt")
}

/// The `aud` of tokens for the MCP endpoint: its URL, the `resource` MCP clients send.
pub fn mcp_audience(public_base_url: &str) -> String {
    format!("{public_base_url}/mcp")
}

/// The audience of a token asked for with `resource` (RFC 8707 §2): none means the
/// actions' (what ChatGPT's GPTs get); otherwise one of this deployment's two resources,
/// exactly. `None` for any other resource (`invalid_target`).
pub fn audience_for(public_base_url: &str, resource: Option<&str>) -> Option<String> {
    match resource {
        None => Some(audience(public_base_url)),
        Some(resource) => {
            [audience(public_base_url), mcp_audience(public_base_url)].into_iter().find(|aud| aud == resource)
        }
    }
}

/// Signs a one-hour access token for a grant, for the GPT actions.
pub fn issue(
    keys: &SigningKeys,
    public_base_url: &str,
    user_id: UserId,
    client_id: &ClientId,
    grant_id: GrantId,
    scopes: &[String],
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    issue_for(keys, public_base_url, &audience(public_base_url), user_id, client_id, grant_id, scopes, now)
}

/// Signs a one-hour access token for a grant, for the resource `aud` (see [`audience_for`]).
#[allow(clippy::too_many_arguments)]
pub fn issue_for(
    keys: &SigningKeys,
    public_base_url: &str,
    aud: &str,
    user_id: UserId,
    client_id: &ClientId,
    grant_id: GrantId,
    scopes: &[String],
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let claims = AccessClaims {
        iss: public_base_url.to_owned(),
        aud: aud.to_owned(),
        sub: user_id,
        client_id: client_id.clone(),
        scope: scopes.join(" "),
        gid: grant_id,
        jti: Uuid::new_v4(),
        iat: now.timestamp(),
        exp: now.timestamp() + ACCESS_TOKEN_TTL_SECONDS,
    };
    Ok(keys.sign(TYP, &claims)?)
}

/// Why a bearer token was refused. Deliberately coarse: the caller learns only that
/// the token is not usable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid")]
    Invalid,
}

/// Verifies `typ`, signature, `kid`, `iss`, `aud` (the actions') and expiry (30 s
/// leeway). With `allow_expired`, expiry is not checked (revocation accepts expired tokens).
pub fn verify(
    keys: &SigningKeys,
    public_base_url: &str,
    token: &str,
    allow_expired: bool,
) -> Result<AccessClaims, TokenError> {
    verify_for(keys, public_base_url, &[audience(public_base_url)], token, allow_expired)
}

/// [`verify`], accepting any of `audiences`.
pub fn verify_for(
    keys: &SigningKeys,
    public_base_url: &str,
    audiences: &[String],
    token: &str,
    allow_expired: bool,
) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
    if header.alg != Algorithm::EdDSA {
        return Err(TokenError::Invalid);
    }
    // RFC 9068 allows the media type's long form too; media types are case-insensitive.
    let typed = header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case(TYP) || typ.eq_ignore_ascii_case(&format!("application/{TYP}")));
    if !typed {
        return Err(TokenError::Invalid);
    }
    let key = header.kid.as_deref().and_then(|kid| keys.decoding_key(kid)).ok_or(TokenError::Invalid)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.leeway = 30;
    validation.validate_exp = !allow_expired;
    validation.set_issuer(&[public_base_url]);
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<AccessClaims>(token, key, &validation).map(|data| data.claims).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
        _ => TokenError::Invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://api.dexter.cash";

    fn token(keys: &SigningKeys, now: DateTime<Utc>) -> String {
        issue(keys, BASE, UserId::random(), &ClientId::from("chatgpt-x"), GrantId::random(), &["profile".into()], now)
            .unwrap()
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let keys = SigningKeys::ephemeral();
        let claims = verify(&keys, BASE, &token(&keys, Utc::now()), false).unwrap();
        assert_eq!(claims.aud, "https://api.dexter.cash/connector/chatgpt");
        assert!(claims.has_scope("profile") && !claims.has_scope("mcp:invoke"));
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn expired_foreign_and_tampered_tokens_are_refused() {
        let keys = SigningKeys::ephemeral();
        let old = token(&keys, Utc::now() - chrono::Duration::hours(2));
        assert_eq!(verify(&keys, BASE, &old, false), Err(TokenError::Expired));
        assert!(verify(&keys, BASE, &old, true).is_ok());

        let foreign = token(&SigningKeys::ephemeral(), Utc::now());
        assert_eq!(verify(&keys, BASE, &foreign, false), Err(TokenError::Invalid));

        let good = token(&keys, Utc::now());
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"sub":"00000000-0000-0000-0000-000000000000"}"#,
        );
        parts[1] = &forged_payload;
        assert_eq!(verify(&keys, BASE, &parts.join("."), false), Err(TokenError::Invalid));
        assert_eq!(verify(&keys, "https://evil.example", &good, false), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_is_verified_only_for_its_own_audience() {
        let keys = SigningKeys::ephemeral();
        let mcp = mcp_audience(BASE);
        assert_eq!(audience_for(BASE, None), Some(audience(BASE)));
        assert_eq!(audience_for(BASE, Some("https://api.dexter.cash/mcp")), Some(mcp.clone()));
        for foreign in ["https://api.dexter.cash/mcp/", "https://evil.example/mcp", "https://api.dexter.cash"] {
            assert_eq!(audience_for(BASE, Some(foreign)), None, "{foreign}");
        }
        let now = Utc::now();
        let for_mcp = issue_for(&keys, BASE, &mcp, UserId::random(), &"c".into(), GrantId::random(), &[], now).unwrap();
        assert_eq!(verify(&keys, BASE, &for_mcp, false), Err(TokenError::Invalid));
        assert_eq!(verify_for(&keys, BASE, std::slice::from_ref(&mcp), &for_mcp, false).unwrap().aud, mcp);
        assert_eq!(verify_for(&keys, BASE, &[mcp], &token(&keys, now), false), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_of_another_type_signed_by_the_same_key_is_refused() {
        let keys = SigningKeys::ephemeral();
        let now = Utc::now();
        let claims = AccessClaims {
            iss: BASE.into(),
            aud: audience(BASE),
            sub: UserId::random(),
            client_id: ClientId::from("chatgpt-x"),
            scope: "profile".into(),
            gid: GrantId::random(),
            jti: Uuid::new_v4(),
            iat: now.timestamp(),
            exp: now.timestamp() + 600,
        };
        assert!(verify(&keys, BASE, &keys.sign("application/AT+JWT", &claims).unwrap(), false).is_ok());
        for typ in ["JWT", "dexter-voice-handoff+jwt", ""] {
            assert_eq!(
                verify(&keys, BASE, &keys.sign(typ, &claims).unwrap(), false),
                Err(TokenError::Invalid),
                "{typ}"
            );
        }
    }
}
