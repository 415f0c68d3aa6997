//! What Dexter's UI shows about ChatGPT's activity: the receipts feed (newest first,
//! keyset-paginated), the notifications behind the bell, and voice handoff redemption.
//!
//! - `GET /dexter/receipts?limit=20&cursor=…` → `{ "receipts": [...], "next_cursor": … }`
//! - `GET /dexter/notifications?limit=20` → `{ "notifications": [...] }`
//! - `GET /dexter/voice-handoffs/{id}` → the handoff's context, once, for its own user

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::session;
use crate::error::ApiError;
use crate::http::extract::Query;
use crate::receipts;
use crate::state::AppState;
use crate::store::ReceiptCursor;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/dexter/receipts", get(receipts))
        .route("/dexter/notifications", get(notifications))
        .route("/dexter/voice-handoffs/{id}", get(redeem_voice_handoff))
        .with_state(state)
}

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    cursor: Option<String>,
}

fn limit(page: &Page) -> Result<u32, ApiError> {
    match page.limit {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest("limit must be between 1 and 100".into())),
    }
}

/// `<created_at RFC 3339>_<receipt id>`: opaque to callers, stable across pages.
fn parse_cursor(text: &str) -> Result<ReceiptCursor, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API returned".into());
    let (at, id) = text.rsplit_once('_').ok_or_else(bad)?;
    let created_at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc);
    Ok(ReceiptCursor { created_at, id: Uuid::parse_str(id).map_err(|_| bad())? })
}

async fn receipts(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Result<Query<Page>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers).await?;
    let Query(page) = page?;
    let limit = limit(&page)?;
    let before = page.cursor.as_deref().map(parse_cursor).transpose()?;
    let found = state.store.list_receipts(user_id, before, limit).await?;
    let next_cursor = (found.len() == limit as usize).then(|| found.last()).flatten().map(|r| {
        let c = r.cursor();
        format!("{}_{}", c.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), c.id)
    });
    Ok(Json(json!({ "receipts": found.iter().map(receipts::view).collect::<Vec<_>>(), "next_cursor": next_cursor })))
}

async fn notifications(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Result<Query<Page>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers).await?;
    let Query(page) = page?;
    let found = state.store.list_notifications(user_id, limit(&page)?).await?;
    Ok(Json(json!({ "notifications": found })))
}

async fn redeem_voice_handoff(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = session::user_id(&state, &headers).await?;
    let missing = || ApiError::Missing("no usable voice handoff with this id");
    let id = Uuid::parse_str(&id).map_err(|_| missing())?;
    let handoff = state.store.consume_voice_handoff(id, user_id, Utc::now()).await?;
    let handoff = handoff.ok_or_else(missing)?;
    Ok(Json(json!({ "handoff_id": handoff.id, "context": handoff.context })))
}
