//! `search` (`GET /connector/chatgpt/search?query=…`, scope `mcp:invoke`): pump.fun
//! dossiers, market snapshots and knowledge-base answers through `general/search`.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
    description: "Searches Dexter's research sources: pump.fun dossiers, market snapshots and knowledge-base answers.",
    consequential: false,
    tools: &["general/search"],
    query: &[
        ("query", true, search_text, "What to research."),
        ("max_results", false, limit_1_10, "How many results (1-10, default 5)."),
        ("time_range", false, time_range, "Only results from the last day (d), week (w), month (m) or year (y)."),
    ],
    body: None,
    success: (200, search_results),
    handler: |method| on(method, search),
};

fn search_text() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 400 })
}

fn time_range() -> Value {
    json!({ "type": "string", "enum": ["d", "w", "m", "y"] })
}

fn search_results() -> Value {
    with_receipts(json!({ "query": {}, "answer": {}, "results": objects() }), &["results"])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    query: Text<400>,
    max_results: Option<Count>,
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
    let max_results = query.max_results.unwrap_or(Count::DEFAULT);
    let mut arguments =
        json!({ "query": query.query, "max_results": max_results, "include_answer": true, "search_depth": "basic" });
    if let Some(range) = query.time_range {
        arguments["time_range"] = json!(range);
    }
    call.entitled("general/search")?;
    let outcome = call.tool("general/search", arguments).await;
    match outcome.result {
        Ok(found) => {
            let body = json!({ "query": found["query"], "answer": found["answer"], "results": found["results"] });
            Ok(Json(call.finish(body).await?))
        }
        Err(e) => Err(call.fail(e).await),
    }
}
