//! `resolve_token` (`GET /connector/chatgpt/resolve_token?query=…`, scope `mcp:invoke`):
//! token metadata, symbol and live price through `solana_resolve_token`.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{Count, Text};
use super::schema::{limit_1_10, objects, with_receipts};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::scope::Scope;

pub const ACTION: Action = Action {
    name: "resolve_token",
    method: Method::GET,
    scope: Scope::McpInvoke,
    summary: "Find a token's metadata and live price",
    description: "Resolves a symbol, name or mint address to Solana tokens with mint, symbol, liquidity, volume and live USD price.",
    consequential: false,
    tools: &["solana_resolve_token"],
    query: &[
        ("query", true, query_text, "A token symbol, name or mint address, e.g. BONK."),
        ("limit", false, limit_1_10, "How many matches to return (1-10, default 5)."),
    ],
    body: None,
    success: (200, results),
    handler: |method| on(method, resolve_token),
};

fn query_text() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 100 })
}

fn results() -> Value {
    with_receipts(json!({ "results": objects() }), &["results"])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveQuery {
    /// A symbol, name or mint address.
    query: Text<100>,
    /// 1–10 results, default 5.
    limit: Option<Count>,
}

#[tracing::instrument(skip_all)]
async fn resolve_token(mut call: ActionCall, Query(query): Query<ResolveQuery>) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(Count::DEFAULT);
    call.entitled("solana_resolve_token")?;
    let outcome = call.tool("solana_resolve_token", json!({ "query": query.query, "limit": limit })).await;
    match outcome.result {
        Ok(found) => Ok(Json(call.finish(json!({ "results": found["results"] })).await?)),
        Err(e) => Err(call.fail(e).await),
    }
}
