//! Client authentication at the token and revocation endpoints (RFC 6749 §2.3.1):
//! `client_secret_basic` (HTTP Basic, each part form-urlencoded) or `client_secret_post`
//! (`client_id` and `client_secret` in the body), never both. Secrets are compared by
//! hash in constant time; during a rotation's overlap the previous secret still works.

use axum::http::{HeaderMap, header};
use base64::Engine;
use chrono::Utc;

use crate::error::ApiError;
use crate::ids::ClientId;
use crate::state::AppState;
use crate::store::OAuthClient;

/// Authenticates the calling client; `invalid_client` (401) when it cannot.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    body_client_id: Option<&str>,
    body_secret: Option<&str>,
) -> Result<OAuthClient, ApiError> {
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
    let client = state.store.get_client(&ClientId::from(client_id)).await?.ok_or_else(refused)?;
    if !crate::operator::clients::secret_matches(&client, &secret, Utc::now()) {
        return Err(refused());
    }
    Ok(client)
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
