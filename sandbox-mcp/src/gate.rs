//! The axum middleware in front of rmcp's Streamable HTTP service, doing what dexter-mcp
//! does around its transport (`docs/dexter-mcp.md`, "Transport and auth"):
//!
//! - every request carries a Dexter MCP JWT (`Authorization: Bearer`, or the
//!   `X-Authorization` / `X-User-Token` headers), verified with
//!   [`shared::mcp::token::verify`] against the sandbox's own `/mcp` URL; 401 otherwise;
//! - a session belongs to the user whose bearer created it: another user's bearer gets 403,
//!   a session the sandbox does not know 404 (MCP 2025-06-18, §Session Management);
//! - optionally, answers as one `application/json` body instead of an SSE stream, which
//!   rmcp 3.11 offers only to stateless servers (dexter-mcp, on the TypeScript SDK, can
//!   do it with sessions);
//! - the faults a test queued (a status, a delay, a garbled body) hit the next tool calls;
//! - with [`crate::SandboxOptions::call_delay`], every tool call waits that long first.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State as AxumState};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};
use shared::mcp::sse::SseParser;

use crate::{Caller, Fault, State};

const SESSION_HEADER: &str = "mcp-session-id";
/// rmcp refuses bigger bodies itself; the gate reads the body first, so it needs a bound too.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

pub(crate) async fn gate(AxumState(state): AxumState<Arc<State>>, request: Request, next: Next) -> Response {
    let caller = match authenticate(&state, request.headers()) {
        Ok(caller) => caller,
        Err(reason) => {
            tracing::debug!(reason, "sandbox MCP: bearer refused");
            let mut response =
                (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "invalid_token", "message": reason })))
                    .into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    };

    let session = request.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(session) = &session {
        let owner = state.owners().get(session).cloned();
        match owner {
            None => return (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response(),
            Some(owner) if owner != caller.user_id => {
                return (StatusCode::FORBIDDEN, axum::Json(json!({ "error": "session_owner_mismatch" })))
                    .into_response();
            }
            Some(_) => {}
        }
    }

    // Read the JSON-RPC message: the faults and the JSON answers need its method and id.
    let (mut parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large").into_response(),
    };
    let message: Option<Value> = (parts.method == Method::POST).then(|| serde_json::from_slice(&body).ok()).flatten();
    let method = message.as_ref().and_then(|m| m.get("method")).and_then(Value::as_str).unwrap_or("");
    let id = message.as_ref().and_then(|m| m.get("id")).cloned();

    if method == "tools/call" {
        let fault = state.faults().pop_front();
        match fault {
            Some(Fault::Status(status)) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return (status, "sandbox: injected failure").into_response();
            }
            Some(Fault::Garbage) => {
                return ([(header::CONTENT_TYPE, "application/json")], "{\"jsonrpc\":\"2.0\",\"id\":").into_response();
            }
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
            None => {}
        }
        if !state.call_delay.is_zero() {
            tokio::time::sleep(state.call_delay).await;
        }
    }

    parts.extensions.insert(caller.clone());
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;

    if session.is_none()
        && response.status().is_success()
        && let Some(created) = response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok())
    {
        state.owners().insert(created.to_owned(), caller.user_id.clone());
        state.sessions_created.fetch_add(1, Ordering::Relaxed);
    }

    match id {
        Some(id) if state.json_response && is_event_stream(response.headers()) => into_json(response, &id).await,
        _ => response,
    }
}

/// The caller named by the request's Dexter MCP JWT, or why there is none.
fn authenticate(state: &State, headers: &HeaderMap) -> Result<Caller, &'static str> {
    let token = ["authorization", "x-authorization", "x-user-token"]
        .iter()
        .filter_map(|name| headers.get(*name))
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.trim())
        .map(|value| match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => value,
        })
        .find(|token| !token.is_empty())
        .ok_or("no bearer token")?;
    state.note_bearer(token);
    let claims = shared::mcp::token::verify(&state.jwt_secret, &state.url, token).map_err(|e| match e {
        shared::mcp::token::TokenError::Expired => "the token has expired",
        _ => "the token is not valid for this server",
    })?;
    Ok(Caller { user_id: claims.sub, wallet_public_key: claims.wallet_public_key })
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"))
}

/// Reads rmcp's SSE answer up to the response to request `id` and answers with it as JSON.
async fn into_json(response: Response, id: &Value) -> Response {
    let (mut parts, mut body) = response.into_parts();
    let mut parser = SseParser::default();
    let found = loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        let chunk: Bytes = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(_)) | None => break None,
        };
        let Ok(events) = parser.push(&chunk) else { break None };
        let found = events
            .iter()
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .find(|m| m.get("id") == Some(id) && (m.get("result").is_some() || m.get("error").is_some()));
        if found.is_some() {
            break found;
        }
    };
    let Some(message) = found else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "sandbox: the response stream ended early").into_response();
    };
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CACHE_CONTROL);
    Response::from_parts(parts, Body::from(message.to_string()))
}
