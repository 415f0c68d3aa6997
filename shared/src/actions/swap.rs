//! `swap_preview` (`POST /connector/chatgpt/swap_preview`) simulates a swap through
//! `solana_swap_preview`. `swap_execute` (`POST /connector/chatgpt/swap_execute`) never
//! executes: it stores a pending approval (the same request repeated within the window
//! returns the same approval), notifies Dexter (the bell) and answers `202`. The swap
//! runs exactly once, when the user approves in Dexter (`crate::dexter::approvals`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Extension, Json, Router};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::ActionCall;
use crate::error::ApiError;
use crate::http::RequestId;
use crate::http::extract::Json as JsonBody;
use crate::state::AppState;
use crate::store::{ApprovalStatus, Notification, SwapApproval};

pub const PREVIEW_PATH: &str = "/connector/chatgpt/swap_preview";
pub const EXECUTE_PATH: &str = "/connector/chatgpt/swap_execute";

/// How long the user has to approve a requested swap in Dexter.
pub const APPROVAL_WINDOW: Duration = Duration::minutes(15);

pub fn preview_router(state: AppState) -> Router {
    Router::new().route(PREVIEW_PATH, post(swap_preview)).with_state(state)
}

pub fn execute_router(state: AppState) -> Router {
    Router::new().route(EXECUTE_PATH, post(swap_execute)).with_state(state)
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
async fn swap_preview(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<JsonBody<SwapRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let mut call = ActionCall::begin(&state, &headers, request_id, "swap_preview", "mcp:invoke").await?;
    let JsonBody(request) = body?;
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
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<JsonBody<SwapRequest>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut call = ActionCall::begin(&state, &headers, request_id, "swap_execute", "mcp:invoke").await?;
    let JsonBody(request) = body?;
    let arguments = request.arguments()?;
    // The tier must allow executing now, not only when the user approves.
    call.entitled("solana_swap_execute")?;
    let now = Utc::now();
    let key = request.idempotency_key.clone().unwrap_or_else(|| super::args_digest(&arguments));
    let claims = &call.caller.claims;
    let (approval, created) = state
        .store
        .create_or_get_approval(
            &SwapApproval {
                id: Uuid::new_v4(),
                user_id: claims.sub,
                client_id: claims.client_id.clone(),
                grant_id: claims.gid,
                idempotency_key: key,
                request: arguments.clone(),
                status: ApprovalStatus::PendingApproval,
                result: None,
                error_code: None,
                receipt_id: None,
                created_at: now,
                expires_at: now + APPROVAL_WINDOW,
                decided_at: None,
                finished_at: None,
            },
            now,
        )
        .await
        .map_err(anyhow::Error::new)?;
    if created {
        state
            .store
            .insert_notification(&Notification {
                id: Uuid::new_v4(),
                user_id: claims.sub,
                kind: "swap_approval".into(),
                title: "ChatGPT asks to execute a swap".into(),
                body: json!({ "approval_id": approval.id, "request": arguments, "expires_at": approval.expires_at }),
                created_at: now,
                read_at: None,
            })
            .await
            .map_err(anyhow::Error::new)?;
    }
    let status = approval.status_at(now);
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
