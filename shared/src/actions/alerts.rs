//! `get_alerts` (`GET /connector/chatgpt/get_alerts`) and `create_alert`
//! (`POST /connector/chatgpt/create_alert`), scope `mcp:invoke`: price and volume alerts
//! through `general/alerts_list` and `general/alerts_create`.
//!
//! The list is paged ([`super::fit`]): `limit` (at most [`MAX_ALERTS_PER_PAGE`]) from
//! `offset`, each alert cut to [`ALERT_BYTES`]: at most 50 × 1,500 bytes whatever the
//! upstream returns.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::fit::{self, Limit, Offset, Page};
use super::input::{Mint, Positive};
use super::schema::{mint, object, objects, with_receipts};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::http::extract::{Json as JsonBody, Query};
use crate::scope::Scope;

pub const LIST: Action = Action {
    name: "get_alerts",
    method: Method::GET,
    scope: Scope::McpInvoke,
    summary: "Active price and volume alerts",
    description: "Lists the user's active price and volume alerts, 25 at a time by default (limit up to 50); page with offset.",
    consequential: false,
    tools: &["general/alerts_list"],
    query: &[
        ("offset", false, fit::offset_schema, "Skip this many alerts (default 0): pass next_offset for more."),
        ("limit", false, alerts_limit, "How many alerts to return (1-50, default 25)."),
    ],
    body: None,
    success: (200, alerts),
    errors: &[],
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
    errors: &[],
    handler: |method| on(method, create_alert),
};

/// The most alerts one answer holds, and how many without `limit`.
pub const MAX_ALERTS_PER_PAGE: usize = 50;
pub const DEFAULT_ALERTS_PER_PAGE: usize = 25;
/// The byte budget of one alert (listed or created).
pub const ALERT_BYTES: usize = 1_500;

fn alerts_limit() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": MAX_ALERTS_PER_PAGE })
}

fn alerts() -> Value {
    let mut properties = fit::page_schema();
    properties["alerts"] = objects();
    with_receipts(properties, &["alerts", "total", "returned", "truncated"])
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    offset: Option<Offset>,
    limit: Option<Limit<MAX_ALERTS_PER_PAGE>>,
}

#[tracing::instrument(skip_all)]
async fn get_alerts(mut call: ActionCall, Query(query): Query<AlertsQuery>) -> Result<Json<Value>, ApiError> {
    let page = Page::new(query.offset, query.limit.map(Limit::get), DEFAULT_ALERTS_PER_PAGE);
    call.entitled("general/alerts_list")?;
    let outcome = call.tool("general/alerts_list", json!({})).await;
    match outcome.result {
        Ok(listed) => {
            let (alerts, info) = fit::paged(&listed["alerts"], page, ALERT_BYTES);
            Ok(Json(call.finish(fit::with_page(json!({ "alerts": alerts }), info)).await?))
        }
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
            let alert = created.get("alert").unwrap_or(&created);
            Ok(Json(call.finish(json!({ "alert": fit::item(alert, ALERT_BYTES) })).await?))
        }
        Err(e) => Err(call.fail(e).await),
    }
}
