//! `handoff_voice` (`POST /connector/chatgpt/handoff_voice`, scope `mcp:invoke`): a
//! time-limited, single-user link to Dexter Voice carrying the conversation's context.
//!
//! The context is stored (single use, [`HANDOFF_TTL`]); the link carries a JWT signed with
//! the connector's key (verifiable at our JWKS) naming the handoff and the user. Dexter
//! Voice, signed in as that same user, redeems it once at `GET /dexter/voice-handoffs/{id}`.
//! Only when `NEXT_PUBLIC_ENABLE_VOICE` is true in this environment.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Extension, Json, Router};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::ActionCall;
use crate::error::ApiError;
use crate::http::RequestId;
use crate::http::extract::Json as JsonBody;
use crate::state::AppState;
use crate::store::VoiceHandoff;

pub const PATH: &str = "/connector/chatgpt/handoff_voice";
/// How long a handoff link works.
pub const HANDOFF_TTL: Duration = Duration::minutes(5);

pub fn router(state: AppState) -> Router {
    Router::new().route(PATH, post(handoff_voice)).with_state(state)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// What the conversation is about, for Dexter Voice to pick up.
    context: String,
    topic: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn handoff_voice(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<JsonBody<HandoffRequest>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let mut call = ActionCall::begin(&state, &headers, request_id, "handoff_voice", "mcp:invoke").await?;
    if !state.config.enable_voice {
        return Err(ApiError::Forbidden {
            code: "voice_disabled",
            message: "voice handoff is disabled in this environment (NEXT_PUBLIC_ENABLE_VOICE is not true)".into(),
        });
    }
    let JsonBody(request) = body?;
    if request.context.trim().is_empty() || request.context.chars().count() > 8000 {
        return Err(ApiError::BadRequest("context must be 1 to 8000 characters".into()));
    }
    if request.topic.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::BadRequest("topic must be at most 200 characters".into()));
    }
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
    state.store.create_voice_handoff(&handoff).await.map_err(anyhow::Error::new)?;
    let token = state
        .config
        .signing_keys
        .sign(&json!({
            "iss": state.config.public_base_url,
            "aud": state.config.voice_url,
            "sub": claims.sub,
            "hid": handoff.id,
            "iat": now.timestamp(),
            "exp": handoff.expires_at.timestamp(),
        }))
        .map_err(|e| ApiError::Unexpected(e.into()))?;
    let mut url = reqwest::Url::parse(&state.config.voice_url).map_err(|e| ApiError::Unexpected(e.into()))?;
    url.query_pairs_mut().append_pair("handoff", &token);
    call.record("ok", &json!({ "topic": handoff.context["topic"] }), None);
    let body = json!({ "url": url.as_str(), "expires_at": handoff.expires_at, "handoff_id": handoff.id });
    Ok(Json(call.finish(body).await?))
}
