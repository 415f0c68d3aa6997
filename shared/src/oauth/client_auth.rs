//! Client authentication at the token and revocation endpoints (RFC 6749 §2.3.1):
//! `client_secret_basic` (HTTP Basic, each part form-urlencoded) or `client_secret_post`
//! (`client_id` and `client_secret` in the body), never both. Secrets are compared by
//! hash in constant time; during a rotation's overlap the previous secret still works.
//!
//! MCP clients add two methods: `private_key_jwt` (RFC 7523, [`super::assertion`]) and
//! `none` for public clients, which name themselves with `client_id` alone and are held
//! to PKCE S256 at `/authorize`. A client uses the method it registered (or its metadata
//! document declares), and no other: a `private_key_jwt` client cannot fall back to
//! nothing, a public client cannot claim a secret.

use axum::http::{HeaderMap, header};
use base64::Engine;
use chrono::Utc;

use super::assertion;
use super::clients::{self, KnownClient};
use super::token::OAuthParams;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::OAuthClient;

/// Authenticates the calling client; `invalid_client` (401) when it cannot.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &OAuthParams,
) -> Result<OAuthClient, ApiError> {
    authenticate_client(state, headers, params).await.map(|known| known.client)
}

/// [`authenticate`], with the client's registration.
pub async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &OAuthParams,
) -> Result<KnownClient, ApiError> {
    let body_client_id = params.client_id.as_deref();
    let body_secret = params.client_secret.as_deref();
    if params.client_assertion.is_some() || params.client_assertion_type.is_some() {
        if headers.contains_key(header::AUTHORIZATION) || body_secret.is_some() {
            return Err(ApiError::oauth("invalid_request", "use one client authentication method, not two"));
        }
        return by_assertion(state, params).await;
    }
    if !headers.contains_key(header::AUTHORIZATION)
        && body_secret.is_none()
        && let Some(id) = body_client_id
    {
        return as_public_client(state, id).await;
    }
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(parse_basic(value.to_str().unwrap_or_default()).ok_or_else(|| ApiError::OAuth {
            code: "invalid_client",
            description: "malformed HTTP Basic credentials".into(),
            basic_challenge: true,
        })?),
        None => None,
    };
    let used_basic = basic.is_some();
    let (client_id, secret) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(ApiError::oauth("invalid_request", "use one client authentication method, not two"));
        }
        (Some((id, secret)), None) => {
            if body_client_id.is_some_and(|body_id| body_id != id) {
                return Err(ApiError::oauth("invalid_request", "client_id differs from the authenticated client"));
            }
            (id, secret)
        }
        (None, Some(secret)) => match body_client_id {
            Some(id) => (id.to_owned(), secret.to_owned()),
            None => return Err(ApiError::oauth("invalid_request", "client_id is required")),
        },
        (None, None) => {
            return Err(ApiError::OAuth {
                code: "invalid_client",
                description: "client authentication is required".into(),
                basic_challenge: true,
            });
        }
    };
    let refused = || ApiError::OAuth {
        code: "invalid_client",
        description: "client authentication failed".into(),
        basic_challenge: used_basic,
    };
    let known = find(state, &client_id).await?.ok_or_else(refused)?;
    if !matches!(known.auth_method(), "client_secret" | "client_secret_basic" | "client_secret_post")
        || !crate::operator::clients::secret_matches(&known.client, &secret, Utc::now())
    {
        return Err(refused());
    }
    Ok(known)
}

/// The client `id` names (fetching its metadata document if need be), if any.
async fn find(state: &AppState, id: &str) -> Result<Option<KnownClient>, ApiError> {
    Ok(clients::find(state, id, Utc::now()).await?.ok())
}

fn refused(description: &str) -> ApiError {
    ApiError::OAuth { code: "invalid_client", description: description.into(), basic_challenge: false }
}

/// `token_endpoint_auth_method=none`: a public client names itself and proves nothing
/// here; its code is bound to its PKCE verifier.
async fn as_public_client(state: &AppState, id: &str) -> Result<KnownClient, ApiError> {
    match find(state, id).await? {
        Some(known) if known.auth_method() == "none" && known.client.public => Ok(known),
        _ => Err(ApiError::OAuth {
            code: "invalid_client",
            description: "client authentication failed".into(),
            basic_challenge: true,
        }),
    }
}

/// `private_key_jwt`: the client is the one the request (or the assertion's `iss`) names,
/// and the assertion must verify with its keys.
async fn by_assertion(state: &AppState, params: &OAuthParams) -> Result<KnownClient, ApiError> {
    if params.client_assertion_type.as_deref() != Some(assertion::ASSERTION_TYPE) {
        return Err(ApiError::oauth(
            "invalid_request",
            format!("client_assertion_type must be {}", assertion::ASSERTION_TYPE),
        ));
    }
    let jwt = params
        .client_assertion
        .as_deref()
        .ok_or_else(|| ApiError::oauth("invalid_request", "client_assertion is required"))?;
    let id = match (params.client_id.as_deref(), assertion::claimed_client_id(jwt)) {
        (Some(id), _) => id.to_owned(),
        (None, Some(iss)) => iss,
        (None, None) => return Err(refused("client assertion refused: iss is required")),
    };
    let known = find(state, &id).await?.ok_or_else(|| refused("client authentication failed"))?;
    if known.auth_method() != "private_key_jwt" {
        return Err(refused("this client does not authenticate with private_key_jwt"));
    }
    assertion::verify(state, &known, jwt, Utc::now()).await?;
    Ok(known)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// application/x-www-form-urlencoded decoding of one value.
pub fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("chatgpt-a%2Bb:s%3Ae+cret"));
        assert_eq!(parse_basic(&header), Some(("chatgpt-a+b".into(), "s:e cret".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
