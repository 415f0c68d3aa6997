//! `resolve_token` (`GET /connector/chatgpt/resolve_token?query=…`, scope `mcp:invoke`):
//! token metadata, symbol and live price through `solana_resolve_token`.

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

pub const PATH: &str = "/connector/chatgpt/resolve_token";

pub fn router(state: AppState) -> Router {
    Router::new().route(PATH, get(resolve_token)).with_state(state)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveQuery {
    /// A symbol, name or mint address.
    query: String,
    /// 1–10 results, default 5.
    limit: Option<u8>,
}

#[tracing::instrument(skip_all)]
async fn resolve_token(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    query: Result<Query<ResolveQuery>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let mut call = ActionCall::begin(&state, &headers, request_id, "resolve_token", "mcp:invoke").await?;
    let Query(query) = query?;
    let text = query.query.trim();
    if text.is_empty() || text.chars().count() > 100 {
        return Err(ApiError::BadRequest("query must be 1 to 100 characters".into()));
    }
    let limit = query.limit.unwrap_or(5);
    if !(1..=10).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 10".into()));
    }
    call.entitled("solana_resolve_token")?;
    let outcome = call.tool("solana_resolve_token", json!({ "query": text, "limit": limit })).await;
    match outcome.result {
        Ok(found) => Ok(Json(call.finish(json!({ "results": found["results"] })).await?)),
        Err(e) => Err(call.fail(e).await),
    }
}
