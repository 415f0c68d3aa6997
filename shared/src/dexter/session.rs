//! Verifying a Dexter user's Supabase session JWT: HS256 with the project's JWT secret,
//! `aud = "authenticated"`, `sub` = the user id, not expired.

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::extract::bearer_token;
use crate::ids::UserId;
use crate::state::AppState;

#[derive(Deserialize)]
struct SessionClaims {
    sub: UserId,
}

/// The Dexter user behind the request's `Authorization: Bearer <supabase session jwt>`.
pub fn user_id(state: &AppState, headers: &HeaderMap) -> Result<UserId, ApiError> {
    let unauthorized = |message: &str| ApiError::Unauthorized { code: "invalid_token", message: message.into() };
    let token = bearer_token(headers).ok_or_else(|| unauthorized("a Dexter session token is required"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["authenticated"]);
    validation.set_required_spec_claims(&["exp", "sub", "aud"]);
    validation.leeway = 30;
    let key = DecodingKey::from_secret(state.config.supabase_jwt_secret.expose_secret().as_bytes());
    jsonwebtoken::decode::<SessionClaims>(token, &key, &validation)
        .map(|data| data.claims.sub)
        .map_err(|_| unauthorized("the Dexter session token is invalid or expired"))
}
