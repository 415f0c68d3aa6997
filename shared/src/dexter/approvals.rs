//! Swap approvals, Dexter's side: the signed-in user lists pending swap requests from
//! ChatGPT, approves or rejects them. Approving runs `solana_swap_execute` exactly once:
//! the store moves the approval from pending to executing atomically, so concurrent
//! approves or retries find it already decided and get its current state instead.
//!
//! - `GET /dexter/approvals` → `{ "approvals": [...] }` (pending, newest first)
//! - `POST /dexter/approvals/{id}/approve` → the approval after execution
//! - `POST /dexter/approvals/{id}/reject` → the rejected approval

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::session;
use crate::actions::status::approval_view;
use crate::error::ApiError;
use crate::http::RequestId;
use crate::mcp::McpCaller;
use crate::state::AppState;
use crate::store::{ApprovalOutcome, ClaimOutcome, Notification, Receipt, SwapApproval};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/dexter/approvals", get(list))
        .route("/dexter/approvals/{id}/approve", post(approve))
        .route("/dexter/approvals/{id}/reject", post(reject))
        .with_state(state)
}

fn approval_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::Missing("no swap approval with this id"))
}

async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers)?;
    let pending = state.store.list_pending_approvals(user_id, Utc::now()).await.map_err(anyhow::Error::new)?;
    Ok(Json(json!({ "approvals": pending.iter().map(approval_view).collect::<Vec<_>>() })))
}

async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers)?;
    let id = approval_id(&id)?;
    match state.store.reject_approval(id, user_id, Utc::now()).await.map_err(anyhow::Error::new)? {
        ClaimOutcome::Won(approval) | ClaimOutcome::AlreadyDecided(approval) => Ok(Json(approval_view(&approval))),
        ClaimOutcome::Expired => Err(ApiError::Conflict("this swap request has expired".into())),
        ClaimOutcome::NotFound => Err(ApiError::Missing("no swap approval with this id")),
    }
}

#[tracing::instrument(skip_all)]
async fn approve(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers)?;
    let id = approval_id(&id)?;
    let now = Utc::now();
    let approval = match state.store.claim_approval(id, user_id, now).await.map_err(anyhow::Error::new)? {
        ClaimOutcome::Won(approval) => approval,
        // A retry or a concurrent approve: the swap ran (or is running) once already.
        ClaimOutcome::AlreadyDecided(approval) => return Ok(Json(approval_view(&approval))),
        ClaimOutcome::Expired => return Err(ApiError::Conflict("this swap request has expired".into())),
        ClaimOutcome::NotFound => return Err(ApiError::Missing("no swap approval with this id")),
    };
    let finished = execute(&state, &approval, &request_id).await?;
    Ok(Json(approval_view(&finished)))
}

/// Runs the approved swap once and records the outcome on the approval, a receipt and a
/// notification.
async fn execute(state: &AppState, approval: &SwapApproval, request_id: &str) -> Result<SwapApproval, ApiError> {
    let now = Utc::now();
    let tool = state.config.mcp.tools.published("solana_swap_execute").to_owned();
    // The ChatGPT link must still be live and the tier must still allow the tool.
    let context =
        state.store.action_context(approval.grant_id, approval.user_id, now).await.map_err(anyhow::Error::new)?;
    let refusal = match &context {
        None => Some("grant_revoked"),
        Some(c) if !c.grant_live => Some("grant_revoked"),
        Some(c) if !c.allowed_tools.contains(&tool) => Some("tool_not_allowed"),
        _ => None,
    };
    let started = std::time::Instant::now();
    let result = match (refusal, &state.mcp) {
        (Some(code), _) => Err(code.to_owned()),
        (None, None) => Err("upstream_unavailable".to_owned()),
        (None, Some(mcp)) => {
            let caller = McpCaller {
                user_id: approval.user_id,
                scopes: context.map(|c| c.scopes).unwrap_or_default(),
                roles: Vec::new(),
            };
            mcp.call_tool(&caller, &tool, approval.request.clone())
                .await
                .map(|r| r.structured)
                .map_err(|e| e.receipt_status().to_owned())
        }
    };
    let receipt = Receipt {
        id: Uuid::new_v4(),
        user_id: approval.user_id,
        client_id: approval.client_id.clone(),
        action: "swap_execute".into(),
        mcp_tool: Some(tool),
        args_digest: crate::actions::args_digest(&approval.request),
        status: if result.is_ok() { "ok".into() } else { "error".into() },
        error_code: result.as_ref().err().cloned(),
        upstream_latency_ms: refusal.is_none().then(|| started.elapsed().as_millis() as i64),
        request_id: request_id.to_owned(),
        approval_id: Some(approval.id),
        created_at: Utc::now(),
    };
    state.store.insert_receipt(&receipt).await.map_err(anyhow::Error::new)?;
    let (outcome, title) = match &result {
        Ok(value) => {
            (ApprovalOutcome::Executed { result: value.clone(), receipt_id: Some(receipt.id) }, "Swap executed")
        }
        Err(code) => (
            ApprovalOutcome::Failed { error_code: code.clone(), result: None, receipt_id: Some(receipt.id) },
            "Swap failed",
        ),
    };
    state.store.finish_approval(approval.id, &outcome, Utc::now()).await.map_err(anyhow::Error::new)?;
    state
        .store
        .insert_notification(&Notification {
            id: Uuid::new_v4(),
            user_id: approval.user_id,
            kind: "swap_result".into(),
            title: title.into(),
            body: json!({ "approval_id": approval.id, "receipt_id": receipt.id, "error_code": result.err() }),
            created_at: Utc::now(),
            read_at: None,
        })
        .await
        .map_err(anyhow::Error::new)?;
    let finished = state.store.get_approval(approval.id, approval.user_id).await.map_err(anyhow::Error::new)?;
    finished.ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("approval vanished after execution")))
}
