//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OpenID Connect Core §9):
//! the client signs a short JWT with a key it published, and we verify it.
//!
//! Checks, each of which refuses with `invalid_client`:
//! - the signature, by a key of the client's JWKS (its `jwks_uri`, fetched behind the
//!   [`super::fetch`] fence and cached, or the JWKS it registered inline); each key
//!   verifies one algorithm only, RS256 or ES256 ([`crate::identity::jwks`]); `alg: none`,
//!   HMAC and anything else are refused before any key is looked at;
//! - `iss` and `sub` are the client id; `aud` is exactly our token endpoint URL (an
//!   array may hold it; no normalisation, so no look-alike passes);
//! - `exp` is present and in the future but at most [`MAX_LIFETIME`] away, `iat` (if
//!   present) not in the future, `nbf` respected;
//! - `jti` is present and was not presented before by this client: it is spent in the
//!   store until the assertion expires, so a captured assertion cannot be replayed on
//!   another instance either.
//!
//! A `jwks_uri`'s keys are kept in the process ([`jwks::ClientKeyCache`], one per cold start,
//! shared by every client naming that URI) for as long as the response's `Cache-Control:
//! max-age` says, within [`MIN_JWKS_CACHE`] and [`MAX_JWKS_CACHE`] ([`DEFAULT_JWKS_CACHE`]
//! without one; `no-store` counts as the minimum). An assertion naming a `kid` the cached
//! set lacks (the client rotated its keys), or naming none that no cached key verifies,
//! fetches the set again, at most once per [`REFETCH_WINDOW`] per URI whatever arrives; a
//! failed fetch is not retried within the window either. So one URI is fetched at most
//! twice per window (one refetch, one expiry), and concurrent requests wait for the one
//! fetch in flight. Keys past their max-age are not used, even when fetching them again
//! fails. At most [`jwks::MAX_CACHED_JWKS_URIS`] URIs are held; the least recently used goes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::clients::KnownClient;
use super::fetch::{self, Fence};
use crate::error::ApiError;
use crate::identity::jwks::{self, Counts, KeySet, SigningKey};
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
/// A fetched JWKS is kept at least this long, whatever its `Cache-Control` says ...
pub const MIN_JWKS_CACHE: Duration = Duration::from_secs(60);
/// ... and at most this long.
pub const MAX_JWKS_CACHE: Duration = Duration::from_secs(24 * 3600);
/// How long a JWKS without `max-age` is kept.
pub const DEFAULT_JWKS_CACHE: Duration = Duration::from_secs(300);
/// The least time between two refetches of one `jwks_uri` (for an unknown `kid`, or after
/// a failed fetch).
pub const REFETCH_WINDOW: Duration = Duration::from_secs(60);

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
    let token_endpoint = format!("{}{}", state.config.public_base_url, super::paths::TOKEN);
    let client_id = known.client.id.as_str();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[token_endpoint.as_str()]);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    let kid = header.kid.as_deref();
    let keys = client_keys(state, known, kid).await?;
    let mut checked = check_signature(assertion, &keys, kid, header.alg, &validation);
    // No kid and no key that verifies: the client may have rotated to a key we have not
    // fetched yet (with a kid, [`client_keys`] already fetched again if it was unknown).
    if kid.is_none()
        && matches!(&checked, Err(error) if no_key_verifies(error.as_ref()))
        && let Some(newer) = refetch_client_keys(state, known, &keys).await?
    {
        checked = check_signature(assertion, &newer, kid, header.alg, &validation);
    }
    let claims = checked.map_err(|last_error| {
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

/// The claims, if a key of `keys` (the one named `kid`, or any) of the assertion's
/// algorithm verifies it; otherwise the last verification error (`None`: no such key).
fn check_signature(
    assertion: &str,
    keys: &KeySet,
    kid: Option<&str>,
    alg: Algorithm,
    validation: &Validation,
) -> Result<Claims, Option<jsonwebtoken::errors::Error>> {
    let candidates: Vec<&Arc<SigningKey>> = match kid {
        Some(kid) => keys.keys.get(kid).into_iter().collect(),
        None => keys.keys.values().collect(),
    };
    let mut last_error = None;
    for key in candidates.iter().filter(|key| key.algorithm == alg) {
        match jsonwebtoken::decode::<Claims>(assertion, &key.key, validation) {
            Ok(data) => return Ok(data.claims),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error)
}

/// Whether a verification failed for want of a key rather than for its claims.
fn no_key_verifies(error: Option<&jsonwebtoken::errors::Error>) -> bool {
    use jsonwebtoken::errors::ErrorKind;
    error.is_none_or(|e| matches!(e.kind(), ErrorKind::InvalidSignature))
}

/// The client's keys: its inline JWKS, or its `jwks_uri`'s from the cache, fetched when
/// the cached set expired or lacks `kid` (within [`REFETCH_WINDOW`]).
async fn client_keys(state: &AppState, known: &KnownClient, kid: Option<&str>) -> Result<Arc<KeySet>, ApiError> {
    let registration = known.registration.as_ref().ok_or_else(|| refused("the client has no keys"))?;
    let uri = match (&registration.jwks, &registration.jwks_uri) {
        (Some(inline), _) => {
            let keys = jwks::parse(inline.as_bytes()).map_err(|_| refused("its JWKS is not valid"))?;
            return Ok(Arc::new(KeySet::given(keys)));
        }
        (None, Some(uri)) => uri,
        (None, None) => return Err(refused("the client has no keys")),
    };
    let held = state.client_keys.held(uri);
    let cached = held.current();
    if cached.is_fresh() && kid.is_none_or(|kid| cached.keys.contains_key(kid)) {
        return Ok(cached);
    }
    let keys = match kid {
        // Fresh, but without the kid: a refetch, once per window whatever kids arrive.
        Some(kid) if cached.is_fresh() => {
            let lacks_kid = |set: &KeySet| !set.keys.contains_key(kid);
            held.refresh(REFETCH_WINDOW, Counts::Always, lacks_kid, || fetch_jwks(state, uri)).await
        }
        // Never fetched, or expired.
        _ => held.refresh(REFETCH_WINDOW, Counts::OnFailure, |set| !set.is_fresh(), || fetch_jwks(state, uri)).await,
    };
    usable(keys)
}

/// The client's `jwks_uri` keys fetched again, if they are not newer than `tried` and
/// the window allows; `None` when its keys are inline.
async fn refetch_client_keys(
    state: &AppState,
    known: &KnownClient,
    tried: &Arc<KeySet>,
) -> Result<Option<Arc<KeySet>>, ApiError> {
    let Some(uri) = known.registration.as_ref().filter(|r| r.jwks.is_none()).and_then(|r| r.jwks_uri.as_ref()) else {
        return Ok(None);
    };
    let held = state.client_keys.held(uri);
    let keys = held
        .refresh(REFETCH_WINDOW, Counts::Always, |set| std::ptr::eq(set, &**tried), || fetch_jwks(state, uri))
        .await;
    usable(keys).map(Some)
}

/// Fresh keys, or the refusal saying why there are none.
fn usable(keys: Result<Arc<KeySet>, String>) -> Result<Arc<KeySet>, ApiError> {
    match keys {
        Ok(set) if set.is_fresh() => Ok(set),
        Ok(_) => Err(refused("its jwks_uri could not be fetched; try again in a minute")),
        Err(why) => Err(refused(&format!("its jwks_uri could not be fetched: {why}"))),
    }
}

/// Fetches and parses the JWKS at `uri` behind the fence: its keys and how long to keep them.
async fn fetch_jwks(state: &AppState, uri: &str) -> Result<(HashMap<String, Arc<SigningKey>>, Duration), String> {
    let fence = Fence::for_base_url(&state.config.public_base_url);
    let fetched = fetch::fetch(fence, uri, MAX_CLIENT_JWKS_BYTES, "application/json").await.map_err(|why| {
        tracing::warn!(reason = %why, "a client's jwks_uri could not be fetched");
        why
    })?;
    let keys = jwks::parse(&fetched.body).map_err(|_| "it is not a JWKS".to_owned())?;
    let keep = fetched.max_age.unwrap_or(DEFAULT_JWKS_CACHE).clamp(MIN_JWKS_CACHE, MAX_JWKS_CACHE);
    Ok((keys, keep))
}
