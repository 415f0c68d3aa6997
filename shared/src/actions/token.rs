//! `resolve_token` (`GET /connector/chatgpt/resolve_token?query=…`, scope `mcp:invoke`):
//! token metadata, symbol and live price through `solana_resolve_token`.
//!
//! The upstream is asked for its most candidates ([`UPSTREAM_LIMIT`]); the answer holds
//! `limit` of them from `offset` ([`super::fit`]), each cut to [`RESULT_BYTES`]: at most
//! 10 × 2,000 bytes, whatever the upstream returns.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fit::{self, Offset, Page};
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
    description: "Resolves a symbol, name or mint address to Solana tokens with mint, symbol, liquidity, volume and live USD price. Pages with limit and offset.",
    consequential: false,
    tools: &["solana_resolve_token"],
    query: &[
        ("query", true, query_text, "A token symbol, name or mint address, e.g. BONK."),
        ("limit", false, limit_1_10, "How many matches to return (1-10, default 5)."),
        ("offset", false, fit::offset_schema, "Skip this many matches (default 0): pass next_offset for more."),
    ],
    body: None,
    success: (200, results),
    errors: &[],
    handler: |method| on(method, resolve_token),
};

fn query_text() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 100 })
}

/// What the upstream is asked for: its most candidates, paged here.
pub const UPSTREAM_LIMIT: u8 = 10;
/// The byte budget of one candidate.
pub const RESULT_BYTES: usize = 2_000;

fn results() -> Value {
    let mut properties = fit::page_schema();
    properties["results"] = objects();
    with_receipts(properties, &["results", "total", "returned", "truncated"])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveQuery {
    /// A symbol, name or mint address.
    query: Text<100>,
    /// 1–10 results, default 5.
    limit: Option<Count>,
    /// Where the page starts.
    offset: Option<Offset>,
}

#[tracing::instrument(skip_all)]
async fn resolve_token(mut call: ActionCall, Query(query): Query<ResolveQuery>) -> Result<Json<Value>, ApiError> {
    let page = Page::new(query.offset, None, query.limit.unwrap_or(Count::DEFAULT).get());
    call.entitled("solana_resolve_token")?;
    let outcome = call.tool("solana_resolve_token", json!({ "query": query.query, "limit": UPSTREAM_LIMIT })).await;
    match outcome.result {
        Ok(found) => {
            let (results, info) = fit::paged(&found["results"], page, RESULT_BYTES);
            Ok(Json(call.finish(fit::with_page(json!({ "results": results }), info)).await?))
        }
        Err(e) => Err(call.fail(e).await),
    }
}
