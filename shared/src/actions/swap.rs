//! `swap_preview` (`POST /connector/chatgpt/swap_preview`) simulates a swap through
//! `solana_swap_preview`. `swap_execute` (`POST /connector/chatgpt/swap_execute`) never
//! executes: it stores a pending approval (the same request repeated while it waits
//! returns the same approval; its idempotency key reused for a different swap is a `409
//! idempotency_key_reused`), notifies Dexter (the bell) and answers `202`. The swap runs
//! exactly once, when the user approves in Dexter (`crate::approvals`).

use axum::Json;
use axum::http::{Method, StatusCode};
use axum::routing::on;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fit;
use super::input::{Mint, Text, TokenAmount};
use super::schema::{approval_status, date_time, mint, object, string, uuid, with_receipts};
use super::{Action, ActionCall};
use crate::approvals::{self, Requester};
use crate::error::ApiError;
use crate::http::extract::Json as JsonBody;
use crate::receipts::args_digest;
use crate::scope::Scope;

pub use crate::approvals::APPROVAL_WINDOW;

/// The byte budget of the upstream's preview of a swap.
pub const PREVIEW_BYTES: usize = 50_000;

pub const PREVIEW: Action = Action {
    name: "swap_preview",
    method: Method::POST,
    scope: Scope::McpInvoke,
    summary: "Simulate a swap",
    description: "Simulates a swap, exact-in or exact-out: expected output, route, fees, price impact and warnings. Executes nothing.",
    consequential: false,
    tools: &["solana_swap_preview"],
    query: &[],
    body: Some(swap_request),
    success: (200, preview),
    errors: &[],
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
    query: &[],
    body: Some(swap_request),
    success: (202, pending_approval),
    errors: &[(409, "idempotency_key_reused: the idempotency_key is still waiting for approval of a different swap")],
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
            "idempotency_key": { "type": "string", "minLength": 1, "maxLength": 200, "description": "swap_execute only: repeating the same swap with the same key returns the same approval while it waits; the key reused for a different swap answers 409 idempotency_key_reused; once decided or expired, the key asks anew." },
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

/// A swap as ChatGPT describes it, validated: the `solana_swap_preview`/`_execute`
/// arguments. There is deliberately no `wallet_address`: swaps run from the user's
/// default managed wallet (dexter-mcp's rule for free users), so ChatGPT cannot name a
/// wallet it made up.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawSwapRequest")]
pub struct SwapRequest {
    pub input_mint: Mint,
    pub output_mint: Mint,
    pub amount: SwapAmount,
    pub slippage_bps: Option<u32>,
    /// `swap_execute` only: the same key and swap return the same approval while it waits.
    pub idempotency_key: Option<Text<200>>,
}

/// What the swap fixes: what is spent (`ExactIn`) or what is received (`ExactOut`).
#[derive(Clone, Copy, Debug)]
pub enum SwapAmount {
    ExactIn(TokenAmount),
    ExactOut(TokenAmount),
}

/// The request body as it arrives, before the checks that span fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwapRequest {
    input_mint: Mint,
    output_mint: Mint,
    mode: Mode,
    amount_ui: Option<TokenAmount>,
    desired_output_ui: Option<TokenAmount>,
    slippage_bps: Option<u32>,
    idempotency_key: Option<Text<200>>,
}

#[derive(Clone, Copy, Deserialize)]
enum Mode {
    ExactIn,
    ExactOut,
}

impl TryFrom<RawSwapRequest> for SwapRequest {
    type Error = String;

    fn try_from(raw: RawSwapRequest) -> Result<SwapRequest, String> {
        if raw.input_mint == raw.output_mint {
            return Err("input_mint and output_mint must differ".into());
        }
        let amount = match (raw.mode, raw.amount_ui, raw.desired_output_ui) {
            (Mode::ExactIn, Some(amount), None) => SwapAmount::ExactIn(amount),
            (Mode::ExactOut, None, Some(amount)) => SwapAmount::ExactOut(amount),
            (Mode::ExactIn, _, _) => return Err("ExactIn takes amount_ui (and not desired_output_ui)".into()),
            (Mode::ExactOut, _, _) => return Err("ExactOut takes desired_output_ui (and not amount_ui)".into()),
        };
        if let Some(bps) = raw.slippage_bps
            && !(1..=5000).contains(&bps)
        {
            return Err("slippage_bps must be between 1 and 5000".into());
        }
        Ok(SwapRequest {
            input_mint: raw.input_mint,
            output_mint: raw.output_mint,
            amount,
            slippage_bps: raw.slippage_bps,
            idempotency_key: raw.idempotency_key,
        })
    }
}

impl SwapRequest {
    /// The MCP tool arguments (the idempotency key is ours, not the tool's).
    pub fn arguments(&self) -> Value {
        let mut arguments = json!({ "input_mint": self.input_mint, "output_mint": self.output_mint });
        match self.amount {
            SwapAmount::ExactIn(amount) => {
                arguments["mode"] = json!("ExactIn");
                arguments["amount_ui"] = json!(amount);
            }
            SwapAmount::ExactOut(amount) => {
                arguments["mode"] = json!("ExactOut");
                arguments["desired_output_ui"] = json!(amount);
            }
        }
        if let Some(bps) = self.slippage_bps {
            arguments["slippage_bps"] = json!(bps);
        }
        arguments
    }
}

#[tracing::instrument(skip_all)]
async fn swap_preview(mut call: ActionCall, JsonBody(request): JsonBody<SwapRequest>) -> Result<Json<Value>, ApiError> {
    let arguments = request.arguments();
    call.entitled("solana_swap_preview")?;
    let outcome = call.tool("solana_swap_preview", arguments).await;
    match outcome.result {
        Ok(preview) => Ok(Json(call.finish(json!({ "preview": fit::item(&preview, PREVIEW_BYTES) })).await?)),
        Err(e) => Err(call.fail(e).await),
    }
}

#[tracing::instrument(skip_all)]
async fn swap_execute(
    mut call: ActionCall,
    JsonBody(request): JsonBody<SwapRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let arguments = request.arguments();
    // The tier must allow executing now, not only when the user approves.
    call.entitled("solana_swap_execute")?;
    let key = request.idempotency_key.map(String::from).unwrap_or_else(|| args_digest(&arguments));
    let claims = &call.caller.claims;
    let requester = Requester { user_id: claims.sub, client_id: &claims.client_id, grant_id: claims.gid };
    let approval = approvals::request(&call.state, &requester, key, &arguments).await?;
    let status = approval.status_at(chrono::Utc::now());
    call.record(status.into(), &arguments, Some(approval.id));
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

    fn parse(body: Value) -> Result<SwapRequest, serde_json::Error> {
        serde_json::from_value(body)
    }

    #[test]
    fn a_sensible_swap_becomes_tool_arguments() {
        let swap = parse(
            json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.5, "slippage_bps": 50 }),
        );
        assert_eq!(
            swap.unwrap().arguments(),
            json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.5, "slippage_bps": 50 })
        );
        let exact_out =
            parse(json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactOut", "desired_output_ui": 10.0 }));
        assert_eq!(exact_out.unwrap().arguments()["desired_output_ui"], 10.0);
    }

    #[test]
    fn nonsense_swaps_are_refused() {
        let base = json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.0 });
        let with = |field: &str, value: Value| {
            let mut body = base.clone();
            body[field] = value;
            body
        };
        let without_amount = {
            let mut body = base.clone();
            body.as_object_mut().unwrap().remove("amount_ui");
            body
        };
        for bad in [
            without_amount,
            with("amount_ui", json!(-1.0)),
            with("amount_ui", json!(1e300)),
            with("desired_output_ui", json!(1.0)),
            with("mode", json!("ExactOut")),
            with("mode", json!("Sideways")),
            with("output_mint", json!(SOL)),
            with("input_mint", json!("not-a-mint")),
            with("slippage_bps", json!(9000)),
            with("idempotency_key", json!("")),
            with("wallet_address", json!(SOL)),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }
}
