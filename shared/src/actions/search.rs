//! `search` (`GET /connector/chatgpt/search?query=…`, scope `mcp:invoke`): pump.fun
//! dossiers, market snapshots and knowledge-base answers through `general/search`.
//!
//! The upstream is asked for its most results ([`UPSTREAM_MAX_RESULTS`]); the answer
//! holds `max_results` of them from `offset` ([`super::fit`]), each cut to
//! [`RESULT_BYTES`], with the answer text cut to [`ANSWER_BYTES`]: at most 10 × 5,000 +
//! 16,000 + 2,000 bytes, whatever the upstream returns.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fit::{self, Offset, Page};
use super::input::{Count, Text};
use super::schema::{limit_1_10, objects, with_receipts};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::scope::Scope;

pub const ACTION: Action = Action {
    name: "search",
    method: Method::GET,
    scope: Scope::McpInvoke,
    summary: "Research: pump.fun dossiers, market snapshots, knowledge base",
    description: "Searches Dexter's research sources: pump.fun dossiers, market snapshots and knowledge-base answers. Pages with max_results and offset.",
    consequential: false,
    tools: &["general/search"],
    query: &[
        ("query", true, search_text, "What to research."),
        ("max_results", false, limit_1_10, "How many results (1-10, default 5)."),
        ("offset", false, fit::offset_schema, "Skip this many results (default 0): pass next_offset for more."),
        ("time_range", false, time_range, "Only results from the last day (d), week (w), month (m) or year (y)."),
    ],
    body: None,
    success: (200, search_results),
    errors: &[],
    handler: |method| on(method, search),
};

fn search_text() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 400 })
}

fn time_range() -> Value {
    json!({ "type": "string", "enum": ["d", "w", "m", "y"] })
}

/// What the upstream is asked for: its most results, paged here.
pub const UPSTREAM_MAX_RESULTS: u8 = 10;
/// Byte budgets of one result, the answer text and the echoed query.
pub const RESULT_BYTES: usize = 5_000;
pub const ANSWER_BYTES: usize = 16_000;
const QUERY_BYTES: usize = 2_000;

fn search_results() -> Value {
    let mut properties = fit::page_schema();
    properties["query"] = json!({});
    properties["answer"] = json!({});
    properties["results"] = objects();
    with_receipts(properties, &["results", "total", "returned", "truncated"])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    query: Text<400>,
    max_results: Option<Count>,
    offset: Option<Offset>,
    time_range: Option<TimeRange>,
}

/// Only results from the last day, week, month or year.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
pub enum TimeRange {
    #[serde(rename = "d")]
    Day,
    #[serde(rename = "w")]
    Week,
    #[serde(rename = "m")]
    Month,
    #[serde(rename = "y")]
    Year,
}

#[tracing::instrument(skip_all)]
async fn search(mut call: ActionCall, Query(query): Query<SearchQuery>) -> Result<Json<Value>, ApiError> {
    let page = Page::new(query.offset, None, query.max_results.unwrap_or(Count::DEFAULT).get());
    let mut arguments = json!({
        "query": query.query, "max_results": UPSTREAM_MAX_RESULTS, "include_answer": true, "search_depth": "basic",
    });
    if let Some(range) = query.time_range {
        arguments["time_range"] = json!(range);
    }
    call.entitled("general/search")?;
    let outcome = call.tool("general/search", arguments).await;
    match outcome.result {
        Ok(found) => {
            let (results, info) = fit::paged(&found["results"], page, RESULT_BYTES);
            let body = json!({
                "query": fit::item(&found["query"], QUERY_BYTES),
                "answer": fit::item(&found["answer"], ANSWER_BYTES),
                "results": results,
            });
            Ok(Json(call.finish(fit::with_page(body, info)).await?))
        }
        Err(e) => Err(call.fail(e).await),
    }
}
