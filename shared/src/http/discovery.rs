//! Discovery documents: `GET /.well-known/jwks.json` (RFC 7517), the public half of every
//! configured signing key, so anyone holding one of our access tokens can verify it.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state)
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.config.signing_keys.jwks()),
    )
}
