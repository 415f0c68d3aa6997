//! `POST /oauth/chatgpt/token` (RFC 6749 §4.1.3, §6): exchanges an authorization code
//! for tokens, and a refresh token for new ones.
//!
//! - Codes are single use: the first redemption creates the grant; a second one revokes
//!   that grant (§4.1.2, RFC 9700 §4.5). The client, redirect URI and PKCE verifier
//!   (RFC 7636 §4.6) are checked under the same lock that spends the code, so a request
//!   that may not spend it leaves it intact, and a concurrent replay still finds the grant.
//! - Refresh tokens rotate on every use; a rotated token presented again revokes the
//!   whole grant, except within [`REFRESH_GRACE`] of its rotation, which absorbs a retry
//!   whose answer was lost and refreshes racing each other: each gets a working token
//!   (see `Store::rotate_refresh_token`).
//! - `resource` (RFC 8707) picks the access token's audience: none gives the GPT actions'
//!   audience as before; `{base}/mcp` a token only the MCP endpoint accepts; anything else
//!   is `invalid_target` before any code or refresh token is spent.
//! - Bodies are form-urlencoded as the RFC says; JSON is accepted too. Answers are
//!   `no-store`; errors are RFC 6749 §5.2 JSON.

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::client_auth;
use super::{ACCESS_TOKEN_TTL_SECONDS, REFRESH_GRACE, REFRESH_TOKEN_TTL, access_token, parse_scopes, paths};
use crate::error::ApiError;
use crate::ids::GrantId;
use crate::state::AppState;
use crate::store::{CodeExchange, CodeMismatch, CodeRedemption, Grant, OAuthClient, Rotation};

/// Refused requests are budgeted per client address ([`super::throttle::TOKEN`]).
pub fn router(state: AppState) -> Router {
    let routes = Router::new().route(paths::TOKEN, post(token)).with_state(state.clone());
    super::throttle::limit_per_client_ip(routes, &state, super::throttle::TOKEN)
}

/// The parameters of the token and revocation endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct OAuthParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
    /// RFC 7523 client authentication (`private_key_jwt`).
    pub client_assertion_type: Option<String>,
    pub client_assertion: Option<String>,
    /// RFC 8707: the resource the access token is for (see `access_token::audience_for`).
    pub resource: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for OAuthParams {
    type Rejection = ApiError;

    /// Form-urlencoded (the RFC's encoding) or JSON; anything else is `invalid_request`.
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.starts_with("application/json") {
            axum::Json::<OAuthParams>::from_request(req, state)
                .await
                .map(|axum::Json(params)| params)
                .map_err(|e| ApiError::oauth("invalid_request", format!("malformed JSON body: {}", e.body_text())))
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            axum::Form::<OAuthParams>::from_request(req, state)
                .await
                .map(|axum::Form(params)| params)
                .map_err(|e| ApiError::oauth("invalid_request", format!("malformed form body: {}", e.body_text())))
        } else {
            Err(ApiError::oauth("invalid_request", "send application/x-www-form-urlencoded (or JSON)"))
        }
    }
}

#[tracing::instrument(skip_all, fields(grant_type))]
async fn token(State(state): State<AppState>, headers: HeaderMap, params: OAuthParams) -> Result<Response, ApiError> {
    let known = client_auth::authenticate_client(&state, &headers, &params).await?;
    let client = &known.client;
    tracing::Span::current().record("grant_type", params.grant_type.as_deref().unwrap_or("-"));
    // Judged before a code or refresh token is spent, so a bad resource changes nothing.
    let audience = access_token::audience_for(&state.config.public_base_url, params.resource.as_deref())
        .ok_or_else(|| ApiError::oauth("invalid_target", "resource is not a resource this server issues tokens for"))?;
    let response = match params.grant_type.as_deref() {
        Some("authorization_code") => exchange_code(&state, client, &params, &audience).await,
        Some("refresh_token") => refresh(&state, client, &params, &audience).await,
        Some(_) => Err(ApiError::oauth("unsupported_grant_type", "use authorization_code or refresh_token")),
        None => Err(ApiError::oauth("invalid_request", "grant_type is required")),
    }?;
    // A self-registered client that got a token is in use: it no longer expires unused.
    if known.registration.as_ref().is_some_and(|r| r.last_used_at.is_none()) {
        state.store.mark_client_used(&client.id, Utc::now()).await?;
    }
    Ok(response)
}

async fn exchange_code(
    state: &AppState,
    client: &OAuthClient,
    params: &OAuthParams,
    audience: &str,
) -> Result<Response, ApiError> {
    let code = params.code.as_deref().ok_or_else(|| ApiError::oauth("invalid_request", "code is required"))?;
    let redirect_uri =
        params.redirect_uri.as_deref().ok_or_else(|| ApiError::oauth("invalid_request", "redirect_uri is required"))?;
    let now = Utc::now();
    let store = &state.store;
    let refresh_token = crate::tokens::generate("dxrt_");
    let exchange = CodeExchange {
        code_hash: &crate::TokenHash::of(code),
        client_id: &client.id,
        redirect_uri,
        code_verifier: params.code_verifier.as_deref(),
        grant_id: GrantId::random(),
        refresh_token_hash: &crate::TokenHash::of(&refresh_token),
        refresh_token_expires_at: now + REFRESH_TOKEN_TTL,
        now,
    };
    match store.redeem_authorization_code(&exchange).await? {
        CodeRedemption::Redeemed(grant) => token_response(state, audience, &grant, &grant.scopes, &refresh_token),
        CodeRedemption::AlreadyUsed { grant_id } => {
            if let Some(grant_id) = grant_id {
                store.revoke_grant(grant_id, now).await?;
                tracing::warn!(%grant_id, "authorization code replayed; its grant is revoked");
            }
            Err(ApiError::oauth("invalid_grant", "the authorization code was already used"))
        }
        CodeRedemption::Mismatch(mismatch) => {
            tracing::warn!(?mismatch, "authorization code presented by a request it was not issued for");
            Err(ApiError::oauth("invalid_grant", mismatch_description(mismatch)))
        }
        CodeRedemption::Expired | CodeRedemption::NotFound => {
            Err(ApiError::oauth("invalid_grant", "the authorization code is invalid or expired"))
        }
    }
}

fn mismatch_description(mismatch: CodeMismatch) -> &'static str {
    match mismatch {
        CodeMismatch::Client | CodeMismatch::RedirectUri => "the code was issued to another client or redirect_uri",
        CodeMismatch::Verifier => "code_verifier is missing or does not match the code_challenge",
        CodeMismatch::UnexpectedVerifier => "code_verifier was sent for a code requested without a code_challenge",
    }
}

async fn refresh(
    state: &AppState,
    client: &OAuthClient,
    params: &OAuthParams,
    audience: &str,
) -> Result<Response, ApiError> {
    let presented = params
        .refresh_token
        .as_deref()
        .ok_or_else(|| ApiError::oauth("invalid_request", "refresh_token is required"))?;
    let requested_scopes = match params.scope.as_deref() {
        Some(text) => Some(parse_scopes(text).ok_or_else(|| ApiError::oauth("invalid_scope", "unknown scope"))?),
        None => None,
    };
    let now = Utc::now();
    let new_token = crate::tokens::generate("dxrt_");
    let rotation = state
        .store
        .rotate_refresh_token(
            &crate::TokenHash::of(presented),
            &crate::TokenHash::of(&new_token),
            now + REFRESH_TOKEN_TTL,
            now,
            REFRESH_GRACE,
        )
        .await?;
    let grant = match rotation {
        Rotation::Rotated { grant } | Rotation::ReplayWithinGrace { grant } => grant,
        Rotation::Reused { grant_id } => {
            tracing::warn!(%grant_id, "rotated refresh token reused; its grant is revoked");
            return Err(ApiError::oauth("invalid_grant", "the refresh token was already used"));
        }
        Rotation::Expired | Rotation::Revoked | Rotation::NotFound => {
            return Err(ApiError::oauth("invalid_grant", "the refresh token is invalid, expired or revoked"));
        }
    };
    if grant.client_id != client.id {
        // Another client holding this client's refresh token means it leaked.
        state.store.revoke_grant(grant.id, now).await?;
        return Err(ApiError::oauth("invalid_grant", "the refresh token was issued to another client"));
    }
    let scopes = match requested_scopes {
        Some(scopes) if !scopes.is_empty() => {
            if scopes.iter().any(|s| !grant.scopes.contains(s)) {
                return Err(ApiError::oauth("invalid_scope", "a refresh cannot widen the granted scopes"));
            }
            scopes
        }
        _ => grant.scopes.clone(),
    };
    token_response(state, audience, &grant, &scopes, &new_token)
}

fn token_response(
    state: &AppState,
    audience: &str,
    grant: &Grant,
    scopes: &[String],
    refresh_token: &str,
) -> Result<Response, ApiError> {
    let access_token = access_token::issue_for(
        &state.config.signing_keys,
        &state.config.public_base_url,
        audience,
        grant.user_id,
        &grant.client_id,
        grant.id,
        scopes,
        Utc::now(),
    )?;
    let mut response = Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": ACCESS_TOKEN_TTL_SECONDS,
        "refresh_token": refresh_token,
        "scope": scopes.join(" "),
    }))
    .into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
