//! `POST /oauth/register`: dynamic client registration (RFC 7591), which many MCP clients
//! (Claude, Claude Code, Cursor, the MCP SDKs) use when the server offers it.
//!
//! Anyone may register, so registration is fenced: a budget per client address
//! ([`super::throttle::REGISTER`]), a small body, validated redirect URIs
//! ([`super::redirect::check_declared`]), and registrations that never get a token expire
//! after [`super::clients::UNUSED_REGISTRATION_TTL`]. What a client says about itself
//! (its name) is shown as such on the consent page, marked as not verified by Dexter.
//!
//! Methods: `none` (a public client; PKCE S256 is then required at `/authorize`),
//! `client_secret_basic` / `client_secret_post` (the secret is returned once, only its
//! hash is kept; RFC 7591's default), or `private_key_jwt` with `jwks_uri` or `jwks`.
//! Errors are RFC 7591 §3.2.2: `invalid_redirect_uri` or `invalid_client_metadata`.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::clients::client_name;
use super::fetch::{self, Fence};
use super::{paths, redirect};
use crate::error::ApiError;
use crate::ids::ClientId;
use crate::scope::Scope;
use crate::state::AppState;
use crate::store::{ClientKind, ClientRegistration, OAuthClient};

/// The largest registration request read.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// The largest inline JWKS accepted.
const MAX_INLINE_JWKS_BYTES: usize = 8 * 1024;

pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(paths::REGISTER, post(register))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state.clone());
    super::throttle::limit_per_client_ip(routes, &state, super::throttle::REGISTER)
}

/// The client metadata we read (RFC 7591 §2); other members are ignored.
#[derive(Debug, Deserialize)]
struct Metadata {
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    client_name: Option<String>,
    scope: Option<String>,
    jwks_uri: Option<String>,
    jwks: Option<serde_json::Value>,
}

fn bad_metadata(description: impl Into<String>) -> ApiError {
    ApiError::oauth("invalid_client_metadata", description)
}

#[tracing::instrument(skip_all)]
async fn register(State(state): State<AppState>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let metadata: Metadata =
        serde_json::from_slice(&body).map_err(|_| bad_metadata("the body must be a JSON object of client metadata"))?;
    let redirect_uris = metadata
        .redirect_uris
        .filter(|uris| !uris.is_empty())
        .ok_or_else(|| ApiError::oauth("invalid_redirect_uri", "redirect_uris is required"))?;
    if redirect_uris.len() > redirect::MAX_REDIRECT_URIS {
        return Err(ApiError::oauth(
            "invalid_redirect_uri",
            format!("at most {} redirect_uris", redirect::MAX_REDIRECT_URIS),
        ));
    }
    for uri in &redirect_uris {
        redirect::check_declared(uri).map_err(|why| ApiError::oauth("invalid_redirect_uri", why))?;
    }
    let auth_method = metadata.token_endpoint_auth_method.unwrap_or_else(|| "client_secret_basic".to_owned());
    if !["none", "client_secret_basic", "client_secret_post", "private_key_jwt"].contains(&auth_method.as_str()) {
        return Err(bad_metadata(
            "token_endpoint_auth_method must be none, client_secret_basic, client_secret_post or private_key_jwt",
        ));
    }
    let grant_types = metadata.grant_types.unwrap_or_else(|| vec!["authorization_code".to_owned()]);
    if grant_types.iter().any(|g| g != "authorization_code" && g != "refresh_token") {
        return Err(bad_metadata("grant_types may be authorization_code and refresh_token only"));
    }
    if metadata.response_types.is_some_and(|types| types.iter().any(|t| t != "code")) {
        return Err(bad_metadata("response_types may be code only"));
    }
    let scopes: Vec<String> = match metadata.scope.as_deref().map(crate::scope::parse_scopes) {
        None => Scope::all_names().into_iter().map(str::to_owned).collect(),
        Some(None) => return Err(bad_metadata("scope names an unknown scope")),
        Some(Some(scopes)) if scopes.is_empty() => Scope::all_names().into_iter().map(str::to_owned).collect(),
        Some(Some(scopes)) => scopes,
    };
    let (jwks_uri, jwks) = keys(&state, &auth_method, metadata.jwks_uri, metadata.jwks)?;

    let now = Utc::now();
    let id = ClientId::from(format!("mcp-{}", Uuid::new_v4().simple()));
    let secret = auth_method.starts_with("client_secret_").then(|| crate::tokens::generate("dxcs_"));
    let client = OAuthClient {
        id: id.clone(),
        name: client_name(metadata.client_name.as_deref(), &redirect_uris[0]),
        // A client without a secret gets the hash of one nobody knows.
        secret_hash: crate::TokenHash::of(secret.as_deref().unwrap_or(&crate::tokens::generate(""))),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        redirect_uris,
        scopes,
        created_at: now,
        public: auth_method == "none",
    };
    let registration = ClientRegistration {
        client_id: id.clone(),
        kind: ClientKind::Dynamic,
        token_endpoint_auth_method: auth_method.clone(),
        jwks_uri,
        jwks,
        registered_at: now,
        last_used_at: None,
        document_expires_at: None,
    };
    state.store.register_client(&client, &registration).await?;
    tracing::info!(client_id = %id.as_str(), auth_method = %auth_method, "client registered itself");

    let mut body = json!({
        "client_id": id.as_str(),
        "client_id_issued_at": now.timestamp(),
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": auth_method,
        "grant_types": grant_types,
        "response_types": ["code"],
        "scope": client.scopes.join(" "),
    });
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    if let Some(uri) = &registration.jwks_uri {
        body["jwks_uri"] = json!(uri);
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The keys of a `private_key_jwt` client: exactly one of `jwks_uri` (https, fenced when
/// fetched) and `jwks` (with at least one usable RS256/ES256 key); none for the others.
fn keys(
    state: &AppState,
    auth_method: &str,
    jwks_uri: Option<String>,
    jwks: Option<serde_json::Value>,
) -> Result<(Option<String>, Option<String>), ApiError> {
    if auth_method != "private_key_jwt" {
        return Ok((None, None));
    }
    match (jwks_uri, jwks) {
        (Some(uri), None) => {
            let url = reqwest::Url::parse(&uri).map_err(|_| bad_metadata("jwks_uri is not a URL"))?;
            let fence = Fence::for_base_url(&state.config.public_base_url);
            fetch::check_url(fence, &url).map_err(|why| bad_metadata(format!("jwks_uri is refused: {why}")))?;
            Ok((Some(uri), None))
        }
        (None, Some(jwks)) => {
            let text = jwks.to_string();
            if text.len() > MAX_INLINE_JWKS_BYTES {
                return Err(bad_metadata("jwks is too large"));
            }
            let usable = crate::identity::jwks::parse(text.as_bytes()).map(|keys| keys.len()).unwrap_or(0);
            if usable == 0 {
                return Err(bad_metadata("jwks holds no usable RS256 or ES256 signing key with a kid"));
            }
            Ok((None, Some(text)))
        }
        _ => Err(bad_metadata("private_key_jwt needs exactly one of jwks_uri and jwks")),
    }
}
