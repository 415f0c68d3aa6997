//! `GET /healthz`: is this function alive and can it reach its store?

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(state)
}

#[tracing::instrument(skip(state))]
async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error.cause_chain = ?e, "store ping failed");
        ApiError::ServiceUnavailable("the connector's database is unreachable".into())
    })?;
    Ok(Json(json!({
        "status": "ok",
        "service": "dexter-chatgpt-connector",
        "version": env!("CARGO_PKG_VERSION"),
    })))
}
