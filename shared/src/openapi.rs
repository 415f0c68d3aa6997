//! The GPT Actions spec (OpenAPI 3.1.0) ChatGPT imports, generated from [`ACTIONS`], the
//! registry of what ChatGPT may call. `connector openapi` writes it to
//! `openapi/openapi.json` (checked in; a test fails when it drifts) and
//! `GET /connector/chatgpt/openapi.json` serves it with the deployment's base URL.
//!
//! ChatGPT's limits, kept by tests: at most 30 operations, descriptions ≤ 300 characters,
//! parameter descriptions ≤ 700. Only ChatGPT's actions are here: no Dexter-side,
//! operator or OAuth routes.

use serde_json::{Map, Value, json};

use crate::oauth::{SCOPES, paths};

pub const PATH: &str = "/connector/chatgpt/openapi.json";

/// A query parameter: name, whether it is required, its JSON schema, its description.
pub type Param = (&'static str, bool, fn() -> Value, &'static str);

/// One GPT action as ChatGPT sees it.
pub struct Action {
    /// The `operationId`, and the last path segment.
    pub name: &'static str,
    pub method: &'static str,
    pub scope: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// `x-openai-isConsequential`: ChatGPT asks the user before calling.
    pub consequential: bool,
    /// Query parameters.
    pub query: &'static [Param],
    /// The JSON request body's schema.
    pub body: Option<fn() -> Value>,
    /// The success status and its body's schema.
    pub success: (u16, fn() -> Value),
}

impl Action {
    pub fn path(&self) -> String {
        format!("/connector/chatgpt/{}", self.name)
    }
}

fn string() -> Value {
    json!({ "type": "string" })
}
fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}
fn mint() -> Value {
    json!({ "type": "string", "pattern": "^[1-9A-HJ-NP-Za-km-z]{32,44}$", "description": "A Solana mint or wallet address (base58)." })
}
fn object() -> Value {
    json!({ "type": "object", "additionalProperties": true })
}
fn receipt_ids() -> Value {
    json!({ "type": "array", "items": uuid(), "description": "Receipts of this call, stored in Dexter." })
}
fn with_receipts(properties: Value, required: &[&str]) -> Value {
    let mut properties = properties;
    properties["receipt_ids"] = receipt_ids();
    let mut required: Vec<&str> = required.to_vec();
    required.push("receipt_ids");
    json!({ "type": "object", "properties": properties, "required": required })
}
fn query_text() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 100 })
}
fn search_text() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 400 })
}
fn limit_1_10() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": 10 })
}
fn time_range() -> Value {
    json!({ "type": "string", "enum": ["d", "w", "m", "y"] })
}
fn swap_request() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["input_mint", "output_mint", "mode"],
        "properties": {
            "input_mint": mint(),
            "output_mint": mint(),
            "mode": { "type": "string", "enum": ["ExactIn", "ExactOut"], "description": "ExactIn spends amount_ui; ExactOut receives desired_output_ui." },
            "amount_ui": { "type": "number", "exclusiveMinimum": 0, "maximum": 1e9, "description": "Amount of the input token to spend (ExactIn only)." },
            "desired_output_ui": { "type": "number", "exclusiveMinimum": 0, "maximum": 1e9, "description": "Amount of the output token to receive (ExactOut only)." },
            "slippage_bps": { "type": "integer", "minimum": 1, "maximum": 5000 },
            "idempotency_key": { "type": "string", "minLength": 1, "maxLength": 200, "description": "swap_execute only: repeats with the same key return the same approval." },
        },
    })
}
fn swap_execute_request() -> Value {
    swap_request()
}
fn pending_approval() -> Value {
    with_receipts(
        json!({
            "approval_id": uuid(),
            "status": { "type": "string", "enum": ["pending_approval", "executing", "executed", "failed", "rejected", "expired"] },
            "expires_at": { "type": "string", "format": "date-time" },
            "message": string(),
        }),
        &["approval_id", "status", "expires_at", "message"],
    )
}
fn swap_status() -> Value {
    json!({
        "type": "object",
        "required": ["approval_id", "status"],
        "properties": {
            "approval_id": uuid(),
            "status": { "type": "string", "enum": ["pending_approval", "executing", "executed", "failed", "rejected", "expired"] },
            "request": object(),
            "result": { "type": ["object", "null"] },
            "error_code": { "type": ["string", "null"] },
            "receipt_id": { "type": ["string", "null"], "format": "uuid" },
            "created_at": { "type": "string", "format": "date-time" },
            "expires_at": { "type": "string", "format": "date-time" },
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
            "mcp_tool": { "type": ["string", "null"] },
            "status": string(),
            "error_code": { "type": ["string", "null"] },
            "upstream_latency_ms": { "type": ["integer", "null"] },
            "request_id": string(),
            "approval_id": { "type": ["string", "null"], "format": "uuid" },
            "client_id": string(),
            "args_digest": string(),
            "created_at": { "type": "string", "format": "date-time" },
        },
    })
}
fn portfolio() -> Value {
    with_receipts(
        json!({
            "wallets": { "type": "array", "items": object() },
            "total_value_usd": { "type": "number" },
            "partial": { "type": "boolean" },
        }),
        &["wallets", "total_value_usd", "partial"],
    )
}
fn results() -> Value {
    with_receipts(json!({ "results": { "type": "array", "items": object() } }), &["results"])
}
fn search_results() -> Value {
    with_receipts(json!({ "query": {}, "answer": {}, "results": { "type": "array", "items": object() } }), &["results"])
}
fn preview() -> Value {
    with_receipts(json!({ "preview": object() }), &["preview"])
}
fn alerts() -> Value {
    with_receipts(json!({ "alerts": { "type": "array", "items": object() } }), &["alerts"])
}
fn alert_created() -> Value {
    with_receipts(json!({ "alert": object() }), &["alert"])
}
fn new_alert() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["mint", "kind", "direction", "threshold"],
        "properties": {
            "mint": mint(),
            "kind": { "type": "string", "enum": ["price", "volume"] },
            "direction": { "type": "string", "enum": ["above", "below"] },
            "threshold": { "type": "number", "exclusiveMinimum": 0, "maximum": 1e15, "description": "USD price, or 24h USD volume." },
        },
    })
}
fn handoff_request() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["context"],
        "properties": {
            "context": { "type": "string", "minLength": 1, "maxLength": 8000, "description": "A summary of the conversation for Dexter Voice to continue from." },
            "topic": { "type": "string", "maxLength": 200 },
        },
    })
}
fn handoff() -> Value {
    with_receipts(
        json!({ "url": { "type": "string", "format": "uri" }, "expires_at": { "type": "string", "format": "date-time" }, "handoff_id": uuid() }),
        &["url", "expires_at"],
    )
}
fn profile() -> Value {
    json!({
        "type": "object",
        "required": ["user_id", "tier"],
        "properties": {
            "user_id": uuid(),
            "email": { "type": ["string", "null"] },
            "tier": string(),
            "scopes": { "type": "array", "items": string() },
            "allowed_tools": { "type": "array", "items": string() },
        },
    })
}

/// Every action ChatGPT may call.
pub const ACTIONS: &[Action] = &[
    Action {
        name: "get_portfolio",
        method: "get",
        scope: "wallet:read",
        summary: "Managed wallets with SOL and SPL balances",
        description: "Lists the user's Dexter managed wallets with SOL and SPL token balances and USD values.",
        consequential: false,
        query: &[],
        body: None,
        success: (200, portfolio),
    },
    Action {
        name: "resolve_token",
        method: "get",
        scope: "mcp:invoke",
        summary: "Find a token's metadata and live price",
        description: "Resolves a symbol, name or mint address to Solana tokens with mint, symbol, liquidity, volume and live USD price.",
        consequential: false,
        query: &[
            ("query", true, query_text, "A token symbol, name or mint address, e.g. BONK."),
            ("limit", false, limit_1_10, "How many matches to return (1-10, default 5)."),
        ],
        body: None,
        success: (200, results),
    },
    Action {
        name: "swap_preview",
        method: "post",
        scope: "mcp:invoke",
        summary: "Simulate a swap",
        description: "Simulates a swap, exact-in or exact-out: expected output, route, fees, price impact and warnings. Executes nothing.",
        consequential: false,
        query: &[],
        body: Some(swap_request),
        success: (200, preview),
    },
    Action {
        name: "swap_execute",
        method: "post",
        scope: "mcp:invoke",
        summary: "Ask to execute a swap (the user approves in Dexter)",
        description: "Requests a swap from a managed wallet. Nothing executes until the user approves it in Dexter (bell icon or receipts feed); answers 202 with an approval id to check with get_swap_status.",
        consequential: true,
        query: &[],
        body: Some(swap_execute_request),
        success: (202, pending_approval),
    },
    Action {
        name: "get_swap_status",
        method: "get",
        scope: "mcp:invoke",
        summary: "Status of a requested swap",
        description: "Whether a requested swap is pending approval, executed (with its signature), failed, rejected or expired.",
        consequential: false,
        query: &[("approval_id", true, uuid, "The approval_id swap_execute returned.")],
        body: None,
        success: (200, swap_status),
    },
    Action {
        name: "get_receipt",
        method: "get",
        scope: "mcp:invoke",
        summary: "Read one receipt",
        description: "Reads a receipt Dexter stored for an earlier action: tool, status, latency and request id.",
        consequential: false,
        query: &[("receipt_id", true, uuid, "A receipt id from an earlier action's receipt_ids.")],
        body: None,
        success: (200, receipt),
    },
    Action {
        name: "get_alerts",
        method: "get",
        scope: "mcp:invoke",
        summary: "Active price and volume alerts",
        description: "Lists the user's active price and volume alerts.",
        consequential: false,
        query: &[],
        body: None,
        success: (200, alerts),
    },
    Action {
        name: "create_alert",
        method: "post",
        scope: "mcp:invoke",
        summary: "Register a price or volume alert",
        description: "Registers a price or 24h volume alert on a Solana token, above or below a threshold.",
        consequential: true,
        query: &[],
        body: Some(new_alert),
        success: (200, alert_created),
    },
    Action {
        name: "search",
        method: "get",
        scope: "mcp:invoke",
        summary: "Research: pump.fun dossiers, market snapshots, knowledge base",
        description: "Searches Dexter's research sources: pump.fun dossiers, market snapshots and knowledge-base answers.",
        consequential: false,
        query: &[
            ("query", true, search_text, "What to research."),
            ("max_results", false, limit_1_10, "How many results (1-10, default 5)."),
            ("time_range", false, time_range, "Only results from the last day (d), week (w), month (m) or year (y)."),
        ],
        body: None,
        success: (200, search_results),
    },
    Action {
        name: "handoff_voice",
        method: "post",
        scope: "mcp:invoke",
        summary: "Hand the conversation off to Dexter Voice",
        description: "Creates a time-limited link to Dexter Voice carrying this conversation's context, for the same user. Only where voice is enabled.",
        consequential: false,
        query: &[],
        body: Some(handoff_request),
        success: (200, handoff),
    },
    Action {
        name: "get_profile",
        method: "get",
        scope: "profile",
        summary: "The linked Dexter account",
        description: "The linked Dexter user's id, plan tier and which Dexter tools that tier allows.",
        consequential: false,
        query: &[],
        body: None,
        success: (200, profile),
    },
];

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

/// The whole document for a deployment's public base URL.
pub fn document(base: &str) -> Value {
    let mut paths_out = Map::new();
    for action in ACTIONS {
        let mut operation = json!({
            "operationId": action.name,
            "summary": action.summary,
            "description": action.description,
            "x-openai-isConsequential": action.consequential,
            "security": [{ "dexter": [action.scope] }],
            "responses": {
                action.success.0.to_string(): {
                    "description": if action.success.0 == 202 { "Accepted: waiting for the user's approval in Dexter" } else { "OK" },
                    "content": { "application/json": { "schema": (action.success.1)() } },
                },
                "400": error_response("Invalid input"),
                "401": error_response("Missing, expired or revoked access token"),
                "403": error_response("Scope, channel (channel_disabled) or tier (tool_not_allowed) refusal"),
                "404": error_response("No such record"),
                "502": error_response("Dexter's tools failed (upstream error); see receipt_ids"),
                "504": error_response("Dexter's tools did not answer in time"),
            },
        });
        if !action.query.is_empty() {
            let parameters: Vec<Value> = action
                .query
                .iter()
                .map(|(name, required, schema, description)| {
                    json!({ "name": name, "in": "query", "required": required, "schema": schema(), "description": description })
                })
                .collect();
            operation["parameters"] = json!(parameters);
        }
        if let Some(body) = action.body {
            operation["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": body() } } });
            operation["responses"]["413"] = error_response("The request body is larger than 100 KB");
            operation["responses"]["415"] = error_response("The request body is not application/json");
        }
        let mut item = Map::new();
        item.insert(action.method.to_owned(), operation);
        paths_out.insert(action.path(), Value::Object(item));
    }
    let scopes: Map<String, Value> = SCOPES.iter().map(|(s, d)| ((*s).to_owned(), json!(d))).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Dexter",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Dexter's wallet-aware trading tools: portfolio, token lookup, swap previews, swaps that wait for the user's approval in Dexter, alerts, research and a handoff to Dexter Voice. Every call returns receipt ids.",
        },
        "servers": [{ "url": base }],
        "paths": paths_out,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message", "request_id"],
                    "properties": {
                        "error": { "type": "string", "description": "A stable code such as tool_not_allowed or upstream_timeout." },
                        "message": { "type": "string" },
                        "request_id": { "type": "string", "description": "Quote it when reporting a problem." },
                        "receipt_ids": receipt_ids(),
                    },
                },
            },
            "securitySchemes": {
                "dexter": {
                    "type": "oauth2",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": format!("{base}{}", paths::AUTHORIZE),
                            "tokenUrl": format!("{base}{}", paths::TOKEN),
                            "refreshUrl": format!("{base}{}", paths::TOKEN),
                            "scopes": scopes,
                        },
                    },
                },
            },
        },
    })
}

/// The checked-in document's base URL (the production deployment).
pub const CHECKED_IN_BASE_URL: &str = "https://api.dexter.cash";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_stays_within_chatgpts_limits() {
        assert!(ACTIONS.len() <= 30);
        for action in ACTIONS {
            assert!(action.description.chars().count() <= 300, "{}", action.name);
            assert!(action.summary.chars().count() <= 300, "{}", action.name);
            for (name, _, _, description) in action.query {
                assert!(description.chars().count() <= 700, "{}.{name}", action.name);
            }
        }
        let doc = document(CHECKED_IN_BASE_URL);
        assert!(doc["info"]["description"].as_str().unwrap().chars().count() <= 300);
    }

    #[test]
    fn only_swap_execute_and_create_alert_are_consequential() {
        let consequential: Vec<&str> = ACTIONS.iter().filter(|a| a.consequential).map(|a| a.name).collect();
        assert_eq!(consequential, ["swap_execute", "create_alert"]);
    }
}
