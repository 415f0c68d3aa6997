//! `get_portfolio` (`GET /connector/chatgpt/get_portfolio`, scope `wallet:read`): the
//! user's managed wallets with SOL and SPL balances: `wallet/list_my_wallets`, then
//! `solana_list_balances` for every wallet, concurrently.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde_json::{Value, json};

use super::schema::{objects, with_receipts};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::mcp::McpError;
use crate::scope::Scope;

pub const ACTION: Action = Action {
    name: "get_portfolio",
    method: Method::GET,
    scope: Scope::WalletRead,
    summary: "Managed wallets with SOL and SPL balances",
    description: "Lists the user's Dexter managed wallets with SOL and SPL token balances and USD values.",
    consequential: false,
    tools: &["wallet/list_my_wallets", "solana_list_balances"],
    query: &[],
    body: None,
    success: (200, portfolio),
    handler: |method| on(method, get_portfolio),
};

fn portfolio() -> Value {
    with_receipts(
        json!({
            "wallets": objects(),
            "total_value_usd": { "type": "number" },
            "partial": { "type": "boolean" },
        }),
        &["wallets", "total_value_usd", "partial"],
    )
}

#[tracing::instrument(skip_all)]
async fn get_portfolio(mut call: ActionCall) -> Result<Json<Value>, ApiError> {
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
