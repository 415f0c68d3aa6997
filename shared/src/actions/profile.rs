//! `get_profile` (`GET /connector/chatgpt/get_profile`, scope `profile`): the linked
//! Dexter user and their tier.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde_json::{Value, json};

use super::schema::{string, uuid};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::scope::Scope;

pub const ACTION: Action = Action {
    name: "get_profile",
    method: Method::GET,
    scope: Scope::Profile,
    summary: "The linked Dexter account",
    description: "The linked Dexter user's id, plan tier and which Dexter tools that tier allows.",
    consequential: false,
    tools: &[],
    query: &[],
    body: None,
    success: (200, profile),
    errors: &[],
    handler: |method| on(method, get_profile),
};

fn profile() -> Value {
    json!({
        "type": "object",
        "required": ["user_id", "tier"],
        "properties": {
            "user_id": uuid(),
            "email": { "type": ["string", "null"] },
            "tier": string(),
            "scopes": { "type": "array", "items": string() },
            "allowed_tools": { "type": "array", "items": string() },
        },
    })
}

#[tracing::instrument(skip_all)]
async fn get_profile(call: ActionCall) -> Result<Json<Value>, ApiError> {
    let caller = &call.caller;
    let profile = call.state.store.get_profile(caller.claims.sub).await?;
    Ok(Json(json!({
        "user_id": caller.claims.sub,
        "email": profile.and_then(|p| p.email),
        "tier": caller.context.tier,
        "scopes": caller.claims.scopes().collect::<Vec<_>>(),
        "allowed_tools": caller.context.allowed_tools,
    })))
}
