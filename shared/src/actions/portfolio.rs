//! `get_portfolio` (`GET /connector/chatgpt/get_portfolio`, scope `wallet:read`): the
//! user's managed wallets with SOL and SPL balances: `wallet/list_my_wallets`, then
//! `solana_list_balances` for every wallet, concurrently.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::ActionCall;
use crate::error::ApiError;
use crate::http::RequestId;
use crate::mcp::McpError;
use crate::state::AppState;

pub const PATH: &str = "/connector/chatgpt/get_portfolio";

pub fn router(state: AppState) -> Router {
    Router::new().route(PATH, get(get_portfolio)).with_state(state)
}

#[tracing::instrument(skip_all)]
async fn get_portfolio(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let mut call = ActionCall::begin(&state, &headers, request_id, "get_portfolio", "wallet:read").await?;
    call.entitled("wallet/list_my_wallets")?;
    call.entitled("solana_list_balances")?;

    let listed = call.tool("wallet/list_my_wallets", json!({})).await;
    let listed = match listed.result {
        Ok(value) => value,
        Err(e) => return Err(call.fail(e).await),
    };
    let Some(wallets) = listed["wallets"].as_array().cloned() else {
        return Err(call.fail(McpError::Protocol("list_my_wallets returned no wallets array".into())).await);
    };
    let requests = wallets
        .iter()
        .map(|w| ("solana_list_balances", json!({ "wallet_address": w["address"], "min_ui": 0, "limit": 100 })))
        .collect();
    let outcomes = call.tools(requests).await;

    let mut total_usd = 0.0;
    let mut failures = 0;
    let mut first_error = None;
    let mut out = Vec::with_capacity(wallets.len());
    for (wallet, outcome) in wallets.iter().zip(outcomes) {
        let mut entry = json!({
            "address": wallet["address"],
            "label": wallet["label"],
            "is_default": wallet["is_default"],
            "receipt_id": outcome.receipt_id,
        });
        match outcome.result {
            Ok(balances) => {
                total_usd += balances["portfolio"]["totalValueUsd"].as_f64().unwrap_or(0.0);
                entry["balances"] = balances["balances"].clone();
                entry["portfolio"] = balances["portfolio"].clone();
            }
            Err(e) => {
                failures += 1;
                entry["error"] = json!(e.receipt_status());
                first_error.get_or_insert(e);
            }
        }
        out.push(entry);
    }
    // Some wallets' balances are better than none; no balances at all is a failure.
    if let Some(e) = first_error
        && failures == out.len()
    {
        return Err(call.fail(e).await);
    }
    let body = json!({
        "wallets": out,
        "total_value_usd": (total_usd * 100.0).round() / 100.0,
        "partial": failures > 0,
    });
    Ok(Json(call.finish(body).await?))
}
