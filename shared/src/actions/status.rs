//! Reading what happened: `get_swap_status` (`GET /connector/chatgpt/get_swap_status?approval_id=…`)
//! for a requested swap, and `get_receipt` (`GET /connector/chatgpt/get_receipt?receipt_id=…`)
//! for any receipt. Scope `mcp:invoke`; only the caller's own records are visible.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::fit;
use super::schema::{approval_status, date_time, object, string, uuid};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::ids::ApprovalId;
use crate::scope::Scope;
use crate::{approvals, receipts};

/// The byte budget of an executed swap's result (what `solana_swap_execute` returned).
const RESULT_BYTES: usize = 50_000;

pub const SWAP_STATUS: Action = Action {
    name: "get_swap_status",
    method: Method::GET,
    scope: Scope::McpInvoke,
    summary: "Status of a requested swap",
    description: "Whether a requested swap is pending approval, executed (with its signature), failed, rejected, expired, or unknown (its execution was interrupted: the user should check their wallet; it is never run again).",
    consequential: false,
    tools: &[],
    query: &[("approval_id", true, uuid, "The approval_id swap_execute returned.")],
    body: None,
    success: (200, swap_status),
    errors: &[],
    handler: |method| on(method, get_swap_status),
};

pub const RECEIPT: Action = Action {
    name: "get_receipt",
    method: Method::GET,
    scope: Scope::McpInvoke,
    summary: "Read one receipt",
    description: "Reads a receipt Dexter stored for an earlier action: tool, status, latency and request id.",
    consequential: false,
    tools: &[],
    query: &[("receipt_id", true, uuid, "A receipt id from an earlier action's receipt_ids.")],
    body: None,
    success: (200, receipt),
    errors: &[],
    handler: |method| on(method, get_receipt),
};

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn swap_status() -> Value {
    json!({
        "type": "object",
        "required": ["approval_id", "status"],
        "properties": {
            "approval_id": uuid(),
            "status": approval_status(),
            "request": object(),
            "result": nullable("object"),
            "error_code": nullable("string"),
            "receipt_id": { "type": ["string", "null"], "format": "uuid" },
            "created_at": date_time(),
            "expires_at": date_time(),
            "decided_at": { "type": ["string", "null"], "format": "date-time" },
            "finished_at": { "type": ["string", "null"], "format": "date-time" },
        },
    })
}

fn receipt() -> Value {
    json!({
        "type": "object",
        "required": ["receipt_id", "action", "status", "created_at"],
        "properties": {
            "receipt_id": uuid(),
            "action": string(),
            "mcp_tool": nullable("string"),
            "status": string(),
            "error_code": nullable("string"),
            "upstream_latency_ms": nullable("integer"),
            "request_id": string(),
            "approval_id": { "type": ["string", "null"], "format": "uuid" },
            "client_id": string(),
            "args_digest": string(),
            "created_at": date_time(),
        },
    })
}

#[derive(Deserialize)]
struct ApprovalQuery {
    approval_id: String,
}

#[derive(Deserialize)]
struct ReceiptQuery {
    receipt_id: String,
}

fn parse_id<Id: std::str::FromStr>(name: &str, text: &str) -> Result<Id, ApiError> {
    text.parse().map_err(|_| ApiError::BadRequest(format!("{name} must be a UUID")))
}

async fn get_swap_status(call: ActionCall, Query(query): Query<ApprovalQuery>) -> Result<Json<Value>, ApiError> {
    let id: ApprovalId = parse_id("approval_id", &query.approval_id)?;
    let approval = call.state.store.get_approval(id, call.caller.claims.sub).await?;
    let approval = approval.ok_or(ApiError::Missing("no swap request with this approval_id"))?;
    let mut view = approvals::view(&approval);
    // The executed swap's result is the upstream's: cut to a budget.
    view["result"] = fit::item(&view["result"], RESULT_BYTES);
    Ok(Json(view))
}

async fn get_receipt(call: ActionCall, Query(query): Query<ReceiptQuery>) -> Result<Json<Value>, ApiError> {
    let id: Uuid = parse_id("receipt_id", &query.receipt_id)?;
    let receipt = call.state.store.get_receipt(id, call.caller.claims.sub).await?;
    let receipt = receipt.ok_or(ApiError::Missing("no receipt with this receipt_id"))?;
    Ok(Json(receipts::view(&receipt)))
}
