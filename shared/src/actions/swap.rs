//! `swap_preview` (`POST /connector/chatgpt/swap_preview`) simulates a swap through
//! `solana_swap_preview`. `swap_execute` (`POST /connector/chatgpt/swap_execute`) never
//! executes: it stores a pending approval (the same request repeated within the window
//! returns the same approval), notifies Dexter (the bell) and answers `202`. The swap
//! runs exactly once, when the user approves in Dexter (`crate::approvals`).

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::routing::on;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::schema::{approval_status, date_time, mint, object, string, uuid, with_receipts};
use super::{Action, ActionCall};
use crate::approvals::{self, Requester};
use crate::error::ApiError;
use crate::http::extract::Json as JsonBody;
use crate::receipts::args_digest;
use crate::scope::Scope;
use crate::store::Durability;

pub use crate::approvals::APPROVAL_WINDOW;

pub const PREVIEW: Action = Action {
    name: "swap_preview",
    method: Method::POST,
    scope: Scope::McpInvoke,
    summary: "Simulate a swap",
    description: "Simulates a swap, exact-in or exact-out: expected output, route, fees, price impact and warnings. Executes nothing.",
    consequential: false,
    tools: &["solana_swap_preview"],
    receipts: Durability::Relaxed,
    query: &[],
    body: Some(swap_request),
    success: (200, preview),
    handler: |method| on(method, swap_preview),
};

pub const EXECUTE: Action = Action {
    name: "swap_execute",
    method: Method::POST,
    scope: Scope::McpInvoke,
    summary: "Ask to execute a swap (the user approves in Dexter)",
    description: "Requests a swap from a managed wallet. Nothing executes until the user approves it in Dexter (bell icon or receipts feed); answers 202 with an approval id to check with get_swap_status.",
    consequential: true,
    // Checked now (the tier must allow it), called only when the user approves.
    tools: &["solana_swap_execute"],
    receipts: Durability::Durable,
    query: &[],
    body: Some(swap_request),
    success: (202, pending_approval),
    handler: |method| on(method, swap_execute),
};

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

fn preview() -> Value {
    with_receipts(json!({ "preview": object() }), &["preview"])
}

fn pending_approval() -> Value {
    with_receipts(
        json!({
            "approval_id": uuid(),
            "status": approval_status(),
            "expires_at": date_time(),
            "message": string(),
        }),
        &["approval_id", "status", "expires_at", "message"],
    )
}

/// A swap as ChatGPT describes it: the `solana_swap_preview`/`_execute` arguments. There
/// is deliberately no `wallet_address`: swaps run from the user's default managed wallet
/// (dexter-mcp's rule for free users), so ChatGPT cannot name a wallet it made up.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SwapRequest {
    pub input_mint: String,
    pub output_mint: String,
    /// `ExactIn` (spend `amount_ui`) or `ExactOut` (receive `desired_output_ui`).
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_ui: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_output_ui: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slippage_bps: Option<u32>,
    /// `swap_execute` only: the same key within the window returns the same approval.
    #[serde(skip_serializing)]
    pub idempotency_key: Option<String>,
}

/// A Solana address: base58, 32–44 characters.
pub fn check_mint(field: &str, value: &str) -> Result<(), ApiError> {
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    if (32..=44).contains(&value.len()) && value.chars().all(|c| BASE58.contains(c)) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!("{field} must be a Solana address (base58, 32 to 44 characters)")))
    }
}

/// The largest token amount a swap may name: beyond any real supply, and small enough
/// that every amount converts to raw units (u64) with up to 9 decimals.
pub const MAX_AMOUNT_UI: f64 = 1e9;

fn check_amount(field: &str, value: Option<f64>) -> Result<f64, ApiError> {
    match value {
        Some(v) if v.is_finite() && v > 0.0 && v <= MAX_AMOUNT_UI => Ok(v),
        _ => Err(ApiError::BadRequest(format!("{field} must be a positive number no larger than {MAX_AMOUNT_UI}"))),
    }
}

impl SwapRequest {
    /// The MCP tool arguments, after checking the request makes sense.
    pub fn arguments(&self) -> Result<Value, ApiError> {
        check_mint("input_mint", &self.input_mint)?;
        check_mint("output_mint", &self.output_mint)?;
        if self.input_mint == self.output_mint {
            return Err(ApiError::BadRequest("input_mint and output_mint must differ".into()));
        }
        match self.mode.as_str() {
            "ExactIn" => {
                check_amount("amount_ui", self.amount_ui)?;
                if self.desired_output_ui.is_some() {
                    return Err(ApiError::BadRequest("ExactIn takes amount_ui, not desired_output_ui".into()));
                }
            }
            "ExactOut" => {
                check_amount("desired_output_ui", self.desired_output_ui)?;
                if self.amount_ui.is_some() {
                    return Err(ApiError::BadRequest("ExactOut takes desired_output_ui, not amount_ui".into()));
                }
            }
            _ => return Err(ApiError::BadRequest("mode must be ExactIn or ExactOut".into())),
        }
        if let Some(bps) = self.slippage_bps
            && !(1..=5000).contains(&bps)
        {
            return Err(ApiError::BadRequest("slippage_bps must be between 1 and 5000".into()));
        }
        if let Some(key) = &self.idempotency_key
            && (key.is_empty() || key.len() > 200)
        {
            return Err(ApiError::BadRequest("idempotency_key must be 1 to 200 characters".into()));
        }
        serde_json::to_value(self).map_err(|e| ApiError::Unexpected(e.into()))
    }
}

#[tracing::instrument(skip_all)]
async fn swap_preview(mut call: ActionCall, JsonBody(request): JsonBody<SwapRequest>) -> Result<Json<Value>, ApiError> {
    let arguments = request.arguments()?;
    call.entitled("solana_swap_preview")?;
    let outcome = call.tool("solana_swap_preview", arguments).await;
    match outcome.result {
        Ok(preview) => Ok(Json(call.finish(json!({ "preview": preview })).await?)),
        Err(e) => Err(call.fail(e).await),
    }
}

#[tracing::instrument(skip_all)]
async fn swap_execute(
    mut call: ActionCall,
    JsonBody(request): JsonBody<SwapRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let arguments = request.arguments()?;
    // The tier must allow executing now, not only when the user approves.
    call.entitled("solana_swap_execute")?;
    let key = request.idempotency_key.clone().unwrap_or_else(|| args_digest(&arguments));
    let claims = &call.caller.claims;
    let requester = Requester { user_id: claims.sub, client_id: &claims.client_id, grant_id: claims.gid };
    let approval = approvals::request(&call.state, &requester, key, &arguments).await?;
    let status = approval.status_at(chrono::Utc::now());
    call.record(status.as_str(), &arguments, Some(approval.id));
    let body = json!({
        "approval_id": approval.id,
        "status": status.as_str(),
        "expires_at": approval.expires_at,
        "message": "Nothing has been executed yet. Approve this swap in Dexter (the bell icon, or the receipts \
                    feed) before it expires; then ask me for its status.",
    });
    Ok((StatusCode::ACCEPTED, Json(call.finish(body).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOL: &str = "So11111111111111111111111111111111111111112";
    const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

    fn request(mode: &str, amount: Option<f64>, out: Option<f64>) -> SwapRequest {
        SwapRequest {
            input_mint: SOL.into(),
            output_mint: USDC.into(),
            mode: mode.into(),
            amount_ui: amount,
            desired_output_ui: out,
            slippage_bps: Some(50),
            idempotency_key: None,
        }
    }

    #[test]
    fn a_sensible_swap_becomes_tool_arguments() {
        let args = request("ExactIn", Some(1.5), None).arguments().unwrap();
        assert_eq!(
            args,
            json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.5, "slippage_bps": 50 })
        );
        assert!(request("ExactOut", None, Some(10.0)).arguments().is_ok());
    }

    #[test]
    fn nonsense_swaps_are_refused() {
        for bad in [
            request("ExactIn", None, None),
            request("ExactIn", Some(-1.0), None),
            request("ExactIn", Some(f64::NAN), None),
            request("ExactIn", Some(1e300), None),
            request("ExactIn", Some(1.0), Some(1.0)),
            request("ExactOut", Some(1.0), None),
            request("Sideways", Some(1.0), None),
            SwapRequest { output_mint: SOL.into(), ..request("ExactIn", Some(1.0), None) },
            SwapRequest { input_mint: "not-a-mint".into(), ..request("ExactIn", Some(1.0), None) },
            SwapRequest { slippage_bps: Some(9000), ..request("ExactIn", Some(1.0), None) },
        ] {
            assert!(bad.arguments().is_err(), "{bad:?}");
        }
    }
}
