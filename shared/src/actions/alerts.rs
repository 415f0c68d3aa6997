//! `get_alerts` (`GET /connector/chatgpt/get_alerts`) and `create_alert`
//! (`POST /connector/chatgpt/create_alert`), scope `mcp:invoke`: price and volume alerts
//! through `general/alerts_list` and `general/alerts_create`.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::input::{Mint, Positive};
use super::schema::{mint, object, objects, with_receipts};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::http::extract::Json as JsonBody;
use crate::scope::Scope;

pub const LIST: Action = Action {
    name: "get_alerts",
    method: Method::GET,
    scope: Scope::McpInvoke,
    summary: "Active price and volume alerts",
    description: "Lists the user's active price and volume alerts.",
    consequential: false,
    tools: &["general/alerts_list"],
    query: &[],
    body: None,
    success: (200, alerts),
    handler: |method| on(method, get_alerts),
};

pub const CREATE: Action = Action {
    name: "create_alert",
    method: Method::POST,
    scope: Scope::McpInvoke,
    summary: "Register a price or volume alert",
    description: "Registers a price or 24h volume alert on a Solana token, above or below a threshold.",
    consequential: true,
    tools: &["general/alerts_create"],
    query: &[],
    body: Some(new_alert),
    success: (200, alert_created),
    handler: |method| on(method, create_alert),
};

fn alerts() -> Value {
    with_receipts(json!({ "alerts": objects() }), &["alerts"])
}

fn alert_created() -> Value {
    with_receipts(json!({ "alert": object() }), &["alert"])
}

fn new_alert() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["mint", "kind", "direction", "threshold"],
        "properties": {
            "mint": mint(),
            "kind": { "type": "string", "enum": ["price", "volume"] },
            "direction": { "type": "string", "enum": ["above", "below"] },
            "threshold": { "type": "number", "exclusiveMinimum": 0, "maximum": 1e15, "description": "USD price, or 24h USD volume." },
        },
    })
}

#[tracing::instrument(skip_all)]
async fn get_alerts(mut call: ActionCall) -> Result<Json<Value>, ApiError> {
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
    mint: Mint,
    kind: AlertKind,
    direction: Direction,
    /// A USD price, or a 24h USD volume.
    threshold: Positive<15>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    Price,
    Volume,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Above,
    Below,
}

#[tracing::instrument(skip_all)]
async fn create_alert(mut call: ActionCall, JsonBody(alert): JsonBody<NewAlert>) -> Result<Json<Value>, ApiError> {
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
