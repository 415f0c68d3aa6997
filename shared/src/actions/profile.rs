//! `get_profile` (`GET /connector/chatgpt/get_profile`, scope `profile`): the linked
//! Dexter user and their tier.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::guard;
use crate::error::ApiError;
use crate::state::AppState;

pub const PATH: &str = "/connector/chatgpt/get_profile";

pub fn router(state: AppState) -> Router {
    Router::new().route(PATH, get(get_profile)).with_state(state)
}

#[tracing::instrument(skip_all)]
async fn get_profile(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let caller = guard::authorize(&state, &headers, "profile").await?;
    let profile = state.store.get_profile(caller.claims.sub).await.map_err(anyhow::Error::new)?;
    Ok(Json(json!({
        "user_id": caller.claims.sub,
        "email": profile.and_then(|p| p.email),
        "tier": caller.context.tier,
        "scopes": caller.claims.scopes().collect::<Vec<_>>(),
        "allowed_tools": caller.context.allowed_tools,
    })))
}
