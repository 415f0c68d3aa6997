//! `get_alerts` (`GET /connector/chatgpt/get_alerts`) and `create_alert`
//! (`POST /connector/chatgpt/create_alert`), scope `mcp:invoke`: price and volume alerts
//! through `general/alerts_list` and `general/alerts_create`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ActionCall, swap::check_mint};
use crate::error::ApiError;
use crate::http::RequestId;
use crate::http::extract::Json as JsonBody;
use crate::state::AppState;

pub const LIST_PATH: &str = "/connector/chatgpt/get_alerts";
pub const CREATE_PATH: &str = "/connector/chatgpt/create_alert";

pub fn list_router(state: AppState) -> Router {
    Router::new().route(LIST_PATH, get(get_alerts)).with_state(state)
}

pub fn create_router(state: AppState) -> Router {
    Router::new().route(CREATE_PATH, post(create_alert)).with_state(state)
}

#[tracing::instrument(skip_all)]
async fn get_alerts(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let mut call = ActionCall::begin(&state, &headers, request_id, "get_alerts", "mcp:invoke").await?;
    call.entitled("general/alerts_list")?;
    let outcome = call.tool("general/alerts_list", json!({})).await;
    match outcome.result {
        Ok(listed) => Ok(Json(call.finish(json!({ "alerts": listed["alerts"] })).await?)),
        Err(e) => Err(call.fail(e).await),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAlert {
    mint: String,
    kind: String,
    direction: String,
    threshold: f64,
}

#[tracing::instrument(skip_all)]
async fn create_alert(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<JsonBody<NewAlert>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let mut call = ActionCall::begin(&state, &headers, request_id, "create_alert", "mcp:invoke").await?;
    let JsonBody(alert) = body?;
    check_mint("mint", &alert.mint)?;
    if !matches!(alert.kind.as_str(), "price" | "volume") {
        return Err(ApiError::BadRequest("kind must be price or volume".into()));
    }
    if !matches!(alert.direction.as_str(), "above" | "below") {
        return Err(ApiError::BadRequest("direction must be above or below".into()));
    }
    if !alert.threshold.is_finite() || alert.threshold <= 0.0 || alert.threshold > 1e15 {
        return Err(ApiError::BadRequest("threshold must be a positive number no larger than 1e15".into()));
    }
    call.entitled("general/alerts_create")?;
    let arguments = json!({
        "mint": alert.mint, "kind": alert.kind, "direction": alert.direction, "threshold": alert.threshold,
    });
    let outcome = call.tool("general/alerts_create", arguments).await;
    match outcome.result {
        Ok(created) => {
            let alert = created.get("alert").cloned().unwrap_or(created);
            Ok(Json(call.finish(json!({ "alert": alert })).await?))
        }
        Err(e) => Err(call.fail(e).await),
    }
}
