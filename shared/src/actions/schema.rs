//! JSON Schema pieces the action declarations share. Each action's own request and
//! response schemas live with its declaration; the spec ([`crate::openapi`]) shows them.

use serde_json::{Value, json};

pub fn string() -> Value {
    json!({ "type": "string" })
}

pub fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

pub fn date_time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

/// A Solana mint or wallet address.
pub fn mint() -> Value {
    json!({ "type": "string", "pattern": "^[1-9A-HJ-NP-Za-km-z]{32,44}$", "description": "A Solana mint or wallet address (base58)." })
}

/// Any JSON object (what dexter-mcp returns, passed through).
pub fn object() -> Value {
    json!({ "type": "object", "additionalProperties": true })
}

/// An array of `object()`.
pub fn objects() -> Value {
    json!({ "type": "array", "items": object() })
}

pub fn limit_1_10() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": 10 })
}

/// The `receipt_ids` every action's answer carries.
pub fn receipt_ids() -> Value {
    json!({ "type": "array", "items": uuid(), "description": "Receipts of this call, stored in Dexter." })
}

/// An object schema with `properties` and `required`, plus the required `receipt_ids`.
pub fn with_receipts(properties: Value, required: &[&str]) -> Value {
    let mut properties = properties;
    properties["receipt_ids"] = receipt_ids();
    let mut required: Vec<&str> = required.to_vec();
    required.push("receipt_ids");
    json!({ "type": "object", "properties": properties, "required": required })
}

/// Every status a swap approval can have.
pub fn approval_status() -> Value {
    json!({ "type": "string", "enum": crate::store::ApprovalStatus::ALL.map(|s| s.as_str()) })
}
