//! Receipts: what every tool call leaves behind for Dexter's audit trail. The action
//! path writes them ([`crate::actions::ActionCall`]), approvals write the execution's
//! ([`crate::approvals`]); ChatGPT reads one (`get_receipt`), Dexter reads the feed.

use serde_json::{Value, json};

use crate::store::Receipt;

/// SHA-256 hex of the arguments' canonical JSON (object keys sorted): what a receipt
/// stores instead of the arguments themselves.
pub fn args_digest(arguments: &Value) -> String {
    crate::tokens::sha256_hex(&arguments.to_string())
}

/// A receipt as ChatGPT and Dexter see it.
pub fn view(receipt: &Receipt) -> Value {
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
