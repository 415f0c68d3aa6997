//! Linked accounts, Dexter's side of revocation: the signed-in user lists the ChatGPT
//! links (grants) on their account and revokes one. Revoking kills the grant's refresh
//! tokens, and the next action with any of its access tokens gets 401.
//!
//! - `GET /dexter/linked-accounts` → `{ "linked_accounts": [{grant_id, client_id, client_name, scopes, created_at, last_used_at}] }`
//! - `DELETE /dexter/linked-accounts/{grant_id}` → 204 (also when already revoked: retry-safe); 404 if not the user's.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};

use super::session;
use crate::error::ApiError;
use crate::ids::GrantId;
use crate::state::AppState;

pub const PATH: &str = "/dexter/linked-accounts";

pub fn router(state: AppState) -> Router {
    Router::new().route(PATH, get(list)).route("/dexter/linked-accounts/{grant_id}", delete(revoke)).with_state(state)
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers).await?;
    let grants = state.store.list_grants_for_user(user_id).await?;
    let linked: Vec<Value> = grants
        .into_iter()
        .map(|g| {
            json!({
                "grant_id": g.grant.id,
                "client_id": g.grant.client_id,
                "client_name": g.client_name,
                "scopes": g.grant.scopes,
                "created_at": g.grant.created_at,
                "last_used_at": g.grant.last_used_at,
            })
        })
        .collect();
    Ok(Json(json!({ "linked_accounts": linked })))
}

async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(grant_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user_id = session::user_id(&state, &headers).await?;
    let grant_id: GrantId = grant_id.parse().map_err(|_| ApiError::Missing("no linked account with this id"))?;
    let grant = state.store.get_grant(grant_id).await?;
    match grant {
        Some(grant) if grant.user_id == user_id => {
            state.store.revoke_grant_for_user(grant_id, user_id, Utc::now()).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(ApiError::Missing("no linked account with this id")),
    }
}
