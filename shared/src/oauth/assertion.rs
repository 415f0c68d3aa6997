//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9):
//! the client signs a short JWT with a key it published, and we verify it.
//!
//! Checks, each of which refuses with `invalid_client`:
//! - the signature, by a key of the client's JWKS (its `jwks_uri`, fetched behind the
//!   [`super::fetch`] fence, or the JWKS it registered inline); each key verifies one
//!   algorithm only, RS256 or ES256 ([`crate::identity::jwks`]); `alg: none`, HMAC and
//!   anything else are refused before any key is looked at;
//! - `iss` and `sub` are the client id; `aud` is exactly our token endpoint URL (an
//!   array may hold it; no normalisation, so no look-alike passes);
//! - `exp` is present and in the future but at most [`MAX_LIFETIME`] away, `iat` (if
//!   present) not in the future, `nbf` respected;
//! - `jti` is present and was not presented before by this client: it is spent in the
//!   store until the assertion expires, so a captured assertion cannot be replayed on
//!   another instance either.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::clients::KnownClient;
use super::fetch::{self, Fence};
use crate::error::ApiError;
use crate::identity::jwks::{self, SigningKey};
use crate::state::AppState;

/// RFC 7523's assertion type for client authentication.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may live, counted from now.
pub const MAX_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 30;
/// The largest JWKS fetched from a client's `jwks_uri`.
const MAX_CLIENT_JWKS_BYTES: usize = 16 * 1024;
/// The longest `jti` kept.
const MAX_JTI_LEN: usize = 256;
/// The largest assertion read.
const MAX_ASSERTION_LEN: usize = 8 * 1024;

#[derive(Deserialize)]
struct Claims {
    exp: i64,
    iat: Option<i64>,
    jti: Option<String>,
}

fn refused(why: &str) -> ApiError {
    ApiError::OAuth {
        code: "invalid_client",
        description: format!("client assertion refused: {why}"),
        basic_challenge: false,
    }
}

/// The client id an assertion claims to come from (its `iss`, unverified): which client's
/// keys to verify it with when the request carries no `client_id`.
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: Option<String>,
    }
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    serde_json::from_slice::<Issuer>(&bytes).ok()?.iss
}

/// Verifies `assertion` as `known`'s authentication at our token endpoint.
pub async fn verify(
    state: &AppState,
    known: &KnownClient,
    assertion: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(refused("it is too large"));
    }
    let header =
        jsonwebtoken::decode_header(assertion).map_err(|_| refused("it is not a signed JWT (RS256 or ES256)"))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(refused("only RS256 and ES256 are accepted"));
    }
    let keys = client_keys(state, known).await?;
    let candidates: Vec<&Arc<SigningKey>> = match header.kid.as_deref() {
        Some(kid) => keys.get(kid).into_iter().collect(),
        None => keys.values().collect(),
    };
    let token_endpoint = format!("{}{}", state.config.public_base_url, super::paths::TOKEN);
    let client_id = known.client.id.as_str();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[token_endpoint.as_str()]);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    let mut last_error = None;
    let mut claims = None;
    for key in candidates.iter().filter(|key| key.algorithm == header.alg) {
        match jsonwebtoken::decode::<Claims>(assertion, &key.key, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(error) => last_error = Some(error),
        }
    }
    let claims = claims.ok_or_else(|| {
        use jsonwebtoken::errors::ErrorKind;
        match last_error.as_ref().map(|e| e.kind()) {
            Some(ErrorKind::ExpiredSignature) => refused("it has expired"),
            Some(ErrorKind::InvalidAudience) => refused("aud must be the token endpoint URL exactly"),
            Some(ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject) => {
                refused("iss and sub must both be the client_id")
            }
            Some(ErrorKind::MissingRequiredClaim(_)) => refused("exp, iss, sub and aud are required"),
            Some(ErrorKind::ImmatureSignature) => refused("it is not valid yet"),
            _ => refused("no key of the client verifies its signature"),
        }
    })?;
    let exp = DateTime::<Utc>::from_timestamp(claims.exp, 0).ok_or_else(|| refused("exp is not a time"))?;
    if exp > now + MAX_LIFETIME {
        return Err(refused("it lives too long; exp must be within 5 minutes"));
    }
    if claims.iat.is_some_and(|iat| iat > now.timestamp() + LEEWAY_SECONDS as i64) {
        return Err(refused("iat is in the future"));
    }
    let jti =
        claims.jti.filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN).ok_or_else(|| refused("jti is required"))?;
    let keep_until = exp + chrono::Duration::seconds(LEEWAY_SECONDS as i64);
    if !state.store.spend_assertion_jti(&known.client.id, &jti, keep_until, now).await? {
        tracing::warn!("a client assertion was replayed");
        return Err(refused("its jti was already used"));
    }
    Ok(())
}

/// The client's keys: its inline JWKS, or its `jwks_uri` fetched now.
async fn client_keys(state: &AppState, known: &KnownClient) -> Result<HashMap<String, Arc<SigningKey>>, ApiError> {
    let registration = known.registration.as_ref().ok_or_else(|| refused("the client has no keys"))?;
    let body = match (&registration.jwks, &registration.jwks_uri) {
        (Some(inline), _) => inline.as_bytes().to_vec(),
        (None, Some(uri)) => {
            let fence = Fence::for_base_url(&state.config.public_base_url);
            fetch::fetch(fence, uri, MAX_CLIENT_JWKS_BYTES, "application/json")
                .await
                .map_err(|why| {
                    tracing::warn!(reason = %why, "a client's jwks_uri could not be fetched");
                    refused(&format!("its jwks_uri could not be fetched: {why}"))
                })?
                .body
        }
        (None, None) => return Err(refused("the client has no keys")),
    };
    jwks::parse(&body).map_err(|_| refused("its JWKS is not valid"))
}
