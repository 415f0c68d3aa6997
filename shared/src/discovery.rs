//! Discovery documents: the JWKS (RFC 7517) with the public half of every configured
//! signing key, the OAuth authorization server metadata (RFC 8414), and the GPT
//! Actions spec (`crate::openapi`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::oauth::metadata;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route(metadata::PATH, get(authorization_server))
        .route(crate::openapi::PATH, get(openapi))
        .with_state(state)
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(state.config.signing_keys.jwks()))
}

async fn authorization_server(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(metadata::document(&state.config.public_base_url)))
}

/// The GPT Actions spec with this deployment's base URL as its server.
async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(crate::openapi::served(&state.config.public_base_url)))
}
