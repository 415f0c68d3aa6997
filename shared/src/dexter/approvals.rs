//! Swap approvals, Dexter's side: the signed-in user lists pending swap requests from
//! ChatGPT, approves or rejects them ([`crate::approvals`] holds the logic).
//!
//! - `GET /dexter/approvals` → `{ "approvals": [...] }` (pending, newest first)
//! - `POST /dexter/approvals/{id}/approve` → the approval after execution (with
//!   `DEXTER_APPROVAL_REQUIRES_AAL2`, only from an `aal2` session)
//! - `POST /dexter/approvals/{id}/reject` → the rejected approval

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde_json::{Value, json};

use super::session;
use crate::approvals::{self, view};
use crate::error::ApiError;
use crate::http::RequestId;
use crate::ids::ApprovalId;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/dexter/approvals", get(list))
        .route("/dexter/approvals/{id}/approve", post(approve))
        .route("/dexter/approvals/{id}/reject", post(reject))
        .with_state(state)
}

fn approval_id(text: &str) -> Result<ApprovalId, ApiError> {
    text.parse().map_err(|_| ApiError::Missing("no swap approval with this id"))
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers).await?;
    let pending = state.store.list_pending_approvals(user_id, Utc::now()).await?;
    Ok(Json(json!({ "approvals": pending.iter().map(view).collect::<Vec<_>>() })))
}

async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers).await?;
    Ok(Json(view(&approvals::reject(&state, approval_id(&id)?, user_id).await?)))
}

#[tracing::instrument(skip_all)]
async fn approve(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = session::approver(&state, &headers).await?;
    Ok(Json(view(&approvals::approve(&state, approval_id(&id)?, user_id, &request_id).await?)))
}
