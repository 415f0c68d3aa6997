//! `POST /oauth/chatgpt/revoke` (RFC 7009). The client authenticates as at the token
//! endpoint and names a token; a refresh token or an access token of its own revokes the
//! whole grant behind it, so the next action with any of its tokens gets 401 and no
//! refresh works again. Unknown tokens answer 200 too (§2.2): the caller learns nothing.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;

use super::token::OAuthParams;
use super::{access_token, client_auth, paths};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().route(paths::REVOKE, post(revoke)).with_state(state)
}

#[tracing::instrument(skip_all)]
async fn revoke(State(state): State<AppState>, headers: HeaderMap, params: OAuthParams) -> Result<Response, ApiError> {
    let client = client_auth::authenticate(&state, &headers, &params).await?;
    let token = params.token.as_deref().ok_or_else(|| ApiError::oauth("invalid_request", "token is required"))?;
    let now = Utc::now();
    // A JWT has two dots; our refresh tokens are opaque. The hint is only a hint.
    let revoked = if token.matches('.').count() == 2 {
        match access_token::verify_for(
            &state.config.signing_keys,
            &state.config.public_base_url,
            &[
                access_token::audience(&state.config.public_base_url),
                access_token::mcp_audience(&state.config.public_base_url),
            ],
            token,
            true,
        ) {
            Ok(claims) if claims.client_id == client.id => state.store.revoke_grant(claims.gid, now).await?,
            _ => false,
        }
    } else {
        state.store.revoke_grant_by_refresh_token(&crate::TokenHash::of(token), &client.id, now).await?.is_some()
    };
    tracing::info!(revoked, "revocation request");
    let mut response = (StatusCode::OK, Json(serde_json::json!({}))).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
