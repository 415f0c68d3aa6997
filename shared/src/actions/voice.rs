//! `handoff_voice` (`POST /connector/chatgpt/handoff_voice`, scope `mcp:invoke`): a
//! time-limited, single-user link to Dexter Voice carrying the conversation's context.
//!
//! The context is stored (single use, [`HANDOFF_TTL`]); the link carries a JWT signed with
//! the connector's key (verifiable at our JWKS) naming the handoff and the user, typed
//! [`HANDOFF_TYP`]: access tokens are typed `at+jwt` and the guard refuses any other type,
//! so a handoff never works as an access token (and Dexter Voice checks the type too). Dexter
//! Voice, signed in as that same user, redeems it once at `GET /dexter/voice-handoffs/{id}`.
//! Only when `NEXT_PUBLIC_ENABLE_VOICE` is true in this environment.

use axum::Json;
use axum::http::Method;
use axum::routing::on;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::input::Text;
use super::schema::{date_time, uuid, with_receipts};
use super::{Action, ActionCall};
use crate::error::ApiError;
use crate::http::extract::Json as JsonBody;
use crate::scope::Scope;
use crate::store::{ReceiptStatus, VoiceHandoff};

pub const ACTION: Action = Action {
    name: "handoff_voice",
    method: Method::POST,
    scope: Scope::McpInvoke,
    summary: "Hand the conversation off to Dexter Voice",
    description: "Creates a time-limited link to Dexter Voice carrying this conversation's context, for the same user. Only where voice is enabled.",
    consequential: false,
    tools: &[],
    query: &[],
    body: Some(handoff_request),
    success: (200, handoff),
    errors: &[],
    handler: |method| on(method, handoff_voice),
};

/// The `typ` header of handoff tokens.
pub const HANDOFF_TYP: &str = "dexter-voice-handoff+jwt";

/// How long a handoff link works.
pub const HANDOFF_TTL: Duration = Duration::minutes(5);

fn handoff_request() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["context"],
        "properties": {
            "context": { "type": "string", "minLength": 1, "maxLength": 8000, "description": "A summary of the conversation for Dexter Voice to continue from." },
            "topic": { "type": "string", "minLength": 1, "maxLength": 200 },
        },
    })
}

fn handoff() -> Value {
    with_receipts(
        json!({ "url": { "type": "string", "format": "uri" }, "expires_at": date_time(), "handoff_id": uuid() }),
        &["url", "expires_at"],
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// What the conversation is about, for Dexter Voice to pick up.
    context: Text<8000>,
    topic: Option<Text<200>>,
}

#[tracing::instrument(skip_all)]
async fn handoff_voice(
    mut call: ActionCall,
    body: Result<JsonBody<HandoffRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let state = call.state.clone();
    if !state.config.enable_voice {
        return Err(ApiError::Forbidden {
            code: "voice_disabled",
            message: "voice handoff is disabled in this environment (NEXT_PUBLIC_ENABLE_VOICE is not true)".into(),
        });
    }
    let JsonBody(request) = body?;
    let now = Utc::now();
    let claims = &call.caller.claims;
    let handoff = VoiceHandoff {
        id: Uuid::new_v4(),
        user_id: claims.sub,
        grant_id: claims.gid,
        context: json!({ "context": request.context, "topic": request.topic, "client_id": claims.client_id }),
        expires_at: now + HANDOFF_TTL,
        created_at: now,
        consumed_at: None,
    };
    state.store.create_voice_handoff(&handoff).await?;
    let token = state
        .config
        .signing_keys
        .sign(
            HANDOFF_TYP,
            &json!({
            "iss": state.config.public_base_url,
            "aud": state.config.voice_url,
            "sub": claims.sub,
            "hid": handoff.id,
            "iat": now.timestamp(),
            "exp": handoff.expires_at.timestamp(),
            }),
        )
        .map_err(|e| ApiError::Unexpected(e.into()))?;
    let mut url = reqwest::Url::parse(&state.config.voice_url).map_err(|e| ApiError::Unexpected(e.into()))?;
    url.query_pairs_mut().append_pair("handoff", &token);
    call.record(ReceiptStatus::Ok, &json!({ "topic": handoff.context["topic"] }), None);
    let body = json!({ "url": url.as_str(), "expires_at": handoff.expires_at, "handoff_id": handoff.id });
    Ok(Json(call.finish(body).await?))
}
