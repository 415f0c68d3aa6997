//! `search` (`GET /connector/chatgpt/search?query=…`, scope `mcp:invoke`): pump.fun
//! dossiers, market snapshots and knowledge-base answers through `general/search`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ActionCall;
use crate::error::ApiError;
use crate::http::RequestId;
use crate::http::extract::Query;
use crate::state::AppState;

pub const PATH: &str = "/connector/chatgpt/search";

pub fn router(state: AppState) -> Router {
    Router::new().route(PATH, get(search)).with_state(state)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    query: String,
    max_results: Option<u8>,
    /// `d`, `w`, `m` or `y`.
    time_range: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn search(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let mut call = ActionCall::begin(&state, &headers, request_id, "search", "mcp:invoke").await?;
    let Query(query) = query?;
    let text = query.query.trim();
    if text.is_empty() || text.chars().count() > 400 {
        return Err(ApiError::BadRequest("query must be 1 to 400 characters".into()));
    }
    let max_results = query.max_results.unwrap_or(5);
    if !(1..=10).contains(&max_results) {
        return Err(ApiError::BadRequest("max_results must be between 1 and 10".into()));
    }
    let mut arguments =
        json!({ "query": text, "max_results": max_results, "include_answer": true, "search_depth": "basic" });
    if let Some(range) = query.time_range {
        if !matches!(range.as_str(), "d" | "w" | "m" | "y") {
            return Err(ApiError::BadRequest("time_range must be d, w, m or y".into()));
        }
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
