//! Reading what happened: `get_swap_status` (`GET /connector/chatgpt/get_swap_status?approval_id=…`)
//! for a requested swap, and `get_receipt` (`GET /connector/chatgpt/get_receipt?receipt_id=…`)
//! for any receipt. Scope `mcp:invoke`; only the caller's own records are visible.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::guard;
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::state::AppState;
use crate::store::{Receipt, SwapApproval};

pub const SWAP_STATUS_PATH: &str = "/connector/chatgpt/get_swap_status";
pub const RECEIPT_PATH: &str = "/connector/chatgpt/get_receipt";

pub fn swap_status_router(state: AppState) -> Router {
    Router::new().route(SWAP_STATUS_PATH, get(get_swap_status)).with_state(state)
}

pub fn receipt_router(state: AppState) -> Router {
    Router::new().route(RECEIPT_PATH, get(get_receipt)).with_state(state)
}

#[derive(Deserialize)]
struct ApprovalQuery {
    approval_id: String,
}

#[derive(Deserialize)]
struct ReceiptQuery {
    receipt_id: String,
}

fn parse_id(name: &str, text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::BadRequest(format!("{name} must be a UUID")))
}

/// A swap approval as ChatGPT and Dexter see it.
pub fn approval_view(approval: &SwapApproval) -> Value {
    json!({
        "approval_id": approval.id,
        "status": approval.status_at(Utc::now()).as_str(),
        "request": approval.request,
        "result": approval.result,
        "error_code": approval.error_code,
        "receipt_id": approval.receipt_id,
        "created_at": approval.created_at,
        "expires_at": approval.expires_at,
        "decided_at": approval.decided_at,
        "finished_at": approval.finished_at,
    })
}

/// A receipt as ChatGPT and Dexter see it.
pub fn receipt_view(receipt: &Receipt) -> Value {
    json!({
        "receipt_id": receipt.id,
        "action": receipt.action,
        "mcp_tool": receipt.mcp_tool,
        "status": receipt.status,
        "error_code": receipt.error_code,
        "upstream_latency_ms": receipt.upstream_latency_ms,
        "request_id": receipt.request_id,
        "approval_id": receipt.approval_id,
        "client_id": receipt.client_id,
        "args_digest": receipt.args_digest,
        "created_at": receipt.created_at,
    })
}

async fn get_swap_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ApprovalQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let caller = guard::authorize(&state, &headers, "mcp:invoke").await?;
    let Query(query) = query?;
    let id = parse_id("approval_id", &query.approval_id)?;
    let approval = state.store.get_approval(id, caller.claims.sub).await.map_err(anyhow::Error::new)?;
    let approval = approval.ok_or(ApiError::Missing("no swap request with this approval_id"))?;
    Ok(Json(approval_view(&approval)))
}

async fn get_receipt(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ReceiptQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let caller = guard::authorize(&state, &headers, "mcp:invoke").await?;
    let Query(query) = query?;
    let id = parse_id("receipt_id", &query.receipt_id)?;
    let receipt = state.store.get_receipt(id, caller.claims.sub).await.map_err(anyhow::Error::new)?;
    let receipt = receipt.ok_or(ApiError::Missing("no receipt with this receipt_id"))?;
    Ok(Json(receipt_view(&receipt)))
}
