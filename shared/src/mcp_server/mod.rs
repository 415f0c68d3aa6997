//! The connector's own remote MCP server, `POST /mcp`: the GPT actions served as MCP tools
//! to ChatGPT's apps and connectors, Claude, Claude Code, Cursor and every other MCP client
//! (MCP specification 2025-06-18 and 2025-11-25, "Transports" §Streamable HTTP,
//! "Lifecycle", "Server Features / Tools", "Authorization").
//!
//! Not to be confused with [`crate::mcp`], the client the actions call Dexter's upstream
//! MCP server with: this module is the server MCP clients call.
//!
//! - Stateless: every POST carries one JSON-RPC message and is answered with one JSON body
//!   (never SSE). No `Mcp-Session-Id` is issued, so any Lambda instance answers any
//!   request; `GET /mcp` (no standalone stream) and `DELETE /mcp` (no session to end)
//!   answer 405 as the transport says.
//! - Versions: `initialize` answers the client's revision when it is one of
//!   [`PROTOCOL_VERSIONS`], else the latest; later requests that name an unsupported
//!   revision in `MCP-Protocol-Version` get 400.
//! - DNS rebinding: a request whose `Origin` is not this deployment's own is refused with
//!   403 (MCP clients run server-side or natively and send no `Origin`).
//! - Authorization: every request needs an access token issued for this resource
//!   (`aud` = `{base}/mcp`, RFC 8707) on a live grant. Without one: 401 with a
//!   `WWW-Authenticate` challenge naming the RFC 9728 metadata ([`metadata`]) and the
//!   scopes; a `tools/call` whose action needs a scope the token lacks: 403
//!   `insufficient_scope` naming it (step-up).
//! - Tools: [`tools`], one per declared action, called through the action's own router.

pub mod metadata;
pub mod tools;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};

use crate::error::ErrorBody;
use crate::http::RequestId;
use crate::http::extract::bearer_token;
use crate::oauth::access_token::{self, AccessClaims};
use crate::scope::Scope;
use crate::state::AppState;

/// Where the MCP endpoint lives, under the public base URL.
pub const PATH: &str = "/mcp";

/// The protocol revisions served, oldest first; the last is offered when a client asks
/// for one not listed.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-11-25"];

const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// JSON-RPC error codes (JSON-RPC 2.0 §5.1).
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(PATH, post(message).get(no_stream).delete(no_session))
        .route(metadata::PATH, axum::routing::get(metadata::protected_resource))
        .route(metadata::ROOT_PATH, axum::routing::get(metadata::protected_resource))
        .with_state(state)
}

/// The access token's audience for this endpoint.
pub fn resource(state: &AppState) -> String {
    access_token::mcp_audience(&state.config.public_base_url)
}

/// `GET /mcp`: this server offers no standalone SSE stream.
async fn no_stream() -> Response {
    method_not_allowed("this MCP server answers each POST with JSON and offers no standalone stream")
}

/// `DELETE /mcp`: there is no session to end.
async fn no_session() -> Response {
    method_not_allowed("this MCP server keeps no sessions")
}

/// 405 with `Allow: POST`, as the connector's JSON error (the request id added by
/// `http::observe`), saying why.
fn method_not_allowed(message: &str) -> Response {
    let body =
        ErrorBody { error: "method_not_allowed", message: message.to_owned(), oauth: false, receipt_ids: Vec::new() };
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")], body.render("")).into_response();
    response.extensions_mut().insert(body);
    response
}

/// One JSON-RPC message.
async fn message(
    State(state): State<AppState>,
    headers: HeaderMap,
    request_id: Option<axum::Extension<RequestId>>,
    body: Bytes,
) -> Response {
    let request_id = request_id.map(|r| r.0.0).unwrap_or_default();
    if let Some(refused) = foreign_origin(&state, &headers) {
        return refused;
    }
    if !accepts_json(&headers) {
        return rpc_error_response(
            StatusCode::NOT_ACCEPTABLE,
            Value::Null,
            INVALID_REQUEST,
            "accept application/json (and text/event-stream)",
        );
    }
    let claims = match authenticate(&state, &headers) {
        Ok(claims) => claims,
        Err(error) => return challenge(&state, error),
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return rpc_error_response(StatusCode::BAD_REQUEST, Value::Null, PARSE_ERROR, "the body is not JSON");
    };
    let Some(object) = message.as_object().filter(|m| m.get("jsonrpc") == Some(&json!("2.0"))) else {
        return rpc_error_response(
            StatusCode::BAD_REQUEST,
            Value::Null,
            INVALID_REQUEST,
            "send one JSON-RPC 2.0 message (batches are not part of this protocol revision)",
        );
    };
    let method = object.get("method").and_then(Value::as_str);
    let id = object.get("id").cloned();
    let (method, id) = match (method, id) {
        // A notification, or a response to a request we never send: accepted, no body.
        (Some(_), None) | (None, Some(_)) => return StatusCode::ACCEPTED.into_response(),
        (Some(method), Some(id)) if id.is_string() || id.is_i64() || id.is_u64() => (method, id),
        _ => {
            return rpc_error_response(StatusCode::BAD_REQUEST, Value::Null, INVALID_REQUEST, "not a JSON-RPC request");
        }
    };
    if method != "initialize"
        && let Some(version) = headers.get(PROTOCOL_VERSION_HEADER)
        && !version.to_str().is_ok_and(|v| PROTOCOL_VERSIONS.contains(&v))
    {
        return rpc_error_response(
            StatusCode::BAD_REQUEST,
            id,
            INVALID_REQUEST,
            &format!("unsupported MCP-Protocol-Version; this server speaks {}", PROTOCOL_VERSIONS.join(", ")),
        );
    }
    let params = object.get("params").cloned().unwrap_or(Value::Null);
    // A tool call the token may make runs the action, whose own query checks the grant
    // (one database round trip per call, as for a GPT action); everything else is checked
    // here, so a revoked grant learns nothing more than a 401.
    let runs_an_action = method == "tools/call"
        && params
            .get("name")
            .and_then(Value::as_str)
            .and_then(tools::action)
            .is_some_and(|action| claims.has_scope(action.scope.as_str()));
    if !runs_an_action && let Err(refusal) = live_grant(&state, &claims).await {
        return refusal;
    }
    let result = match method {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({ "tools": tools::list() })),
        "tools/call" => {
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                return rpc_error_response(StatusCode::OK, id, INVALID_PARAMS, "tools/call needs the tool's name");
            };
            let Some(action) = tools::action(name) else {
                return rpc_error_response(StatusCode::OK, id, INVALID_PARAMS, &format!("unknown tool: {name}"));
            };
            if !claims.has_scope(action.scope.as_str()) {
                return insufficient_scope(&state, action.scope);
            }
            let arguments = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
            match tools::call(&state, action, &claims, &request_id, arguments).await {
                tools::Outcome::Result(result) => Ok(result),
                tools::Outcome::Unauthorized => return challenge(&state, Some("invalid_token")),
                tools::Outcome::InsufficientScope => return insufficient_scope(&state, action.scope),
            }
        }
        other => Err((METHOD_NOT_FOUND, format!("unknown method: {other}"))),
    };
    let body = match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err((code, message)) => json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } }),
    };
    axum::Json(body).into_response()
}

/// The `initialize` result: the client's revision when served, else the latest.
fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version =
        asked.filter(|v| PROTOCOL_VERSIONS.contains(v)).unwrap_or(PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "dexter-connector", "title": "Dexter", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "Dexter's tools for your linked Dexter account: portfolio, token look-ups, research, \
                         swap previews, alerts and swap requests. A swap request only creates an approval: \
                         nothing executes until the user approves it in Dexter. Every answer carries receipt_ids.",
    })
}

/// 403 when `Origin` is present and is not this deployment's origin (the transport's
/// DNS-rebinding rule).
fn foreign_origin(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let origin = headers.get(header::ORIGIN)?;
    let own = own_origin(&state.config.public_base_url);
    if origin.to_str().is_ok_and(|o| Some(o.trim_end_matches('/').to_ascii_lowercase()) == own) {
        return None;
    }
    Some(rpc_error_response(
        StatusCode::FORBIDDEN,
        Value::Null,
        INVALID_REQUEST,
        "this Origin may not call the MCP endpoint",
    ))
}

/// `scheme://host[:port]` of the public base URL, lower-cased.
fn own_origin(base: &str) -> Option<String> {
    let url = reqwest::Url::parse(base).ok()?;
    Some(url.origin().ascii_serialization().to_ascii_lowercase())
}

/// No `Accept`, or one that takes JSON.
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT) else { return true };
    let accept = accept.to_str().unwrap_or_default().to_ascii_lowercase();
    accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or_default().trim())
        .any(|t| matches!(t, "application/json" | "application/*" | "*/*"))
}

/// The caller's claims: a valid token for this resource (its grant is checked apart).
/// Refused: the challenge's `error`, none when no token was sent.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AccessClaims, Option<&'static str>> {
    let token = bearer_token(headers).ok_or(None)?;
    access_token::verify_for(
        &state.config.signing_keys,
        &state.config.public_base_url,
        &[resource(state)],
        token,
        false,
    )
    .map_err(|_| Some("invalid_token"))
}

/// Whether the token's grant is still live (not revoked, its client not deleted).
async fn live_grant(state: &AppState, claims: &AccessClaims) -> Result<(), Response> {
    match state.store.action_context(claims.gid, claims.sub, Utc::now()).await {
        Ok(Some(context)) if context.grant_live => Ok(()),
        Ok(_) => Err(challenge(state, Some("invalid_token"))),
        Err(e) => Err(crate::error::ApiError::from(e).into_response()),
    }
}

/// 401 with the RFC 9728 challenge: where the metadata is, which scopes to ask for.
fn challenge(state: &AppState, error: Option<&str>) -> Response {
    let scopes = Scope::all_names().join(" ");
    let mut value =
        format!(r#"Bearer resource_metadata="{}", scope="{scopes}""#, metadata::url(&state.config.public_base_url));
    if let Some(error) = error {
        value.push_str(&format!(r#", error="{error}""#));
    }
    let message = match error {
        Some(_) => {
            "the access token is not valid for this MCP server (expired, revoked, or issued for another resource)"
        }
        None => "an OAuth bearer token is required; connect Dexter in your MCP client",
    };
    with_challenge(rpc_error_response(StatusCode::UNAUTHORIZED, Value::Null, INVALID_REQUEST, message), &value)
}

/// 403 `insufficient_scope` naming the scope the tool needs, for step-up authorization.
fn insufficient_scope(state: &AppState, needed: Scope) -> Response {
    let value = format!(
        r#"Bearer error="insufficient_scope", scope="{needed}", resource_metadata="{}", error_description="this tool needs the {needed} scope""#,
        metadata::url(&state.config.public_base_url)
    );
    let message = format!("this tool needs the {needed} scope; reconnect Dexter and allow it");
    with_challenge(rpc_error_response(StatusCode::FORBIDDEN, Value::Null, INVALID_REQUEST, &message), &value)
}

fn with_challenge(mut response: Response, value: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn rpc_error_response(status: StatusCode, id: Value, code: i64, message: &str) -> Response {
    (status, axum::Json(json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_answers_the_clients_revision_when_served_else_the_latest() {
        for (asked, answered) in [
            ("2025-06-18", "2025-06-18"),
            ("2025-11-25", "2025-11-25"),
            ("2024-11-05", "2025-11-25"),
            ("", "2025-11-25"),
        ] {
            assert_eq!(initialize(&json!({ "protocolVersion": asked }))["protocolVersion"], answered);
        }
    }

    #[test]
    fn the_tokens_audience_is_this_endpoints_url() {
        assert_eq!(access_token::mcp_audience("https://api.dexter.cash"), format!("https://api.dexter.cash{PATH}"));
    }

    #[test]
    fn the_own_origin_is_scheme_host_and_port() {
        assert_eq!(own_origin("https://API.dexter.cash").as_deref(), Some("https://api.dexter.cash"));
        assert_eq!(own_origin("http://127.0.0.1:3000").as_deref(), Some("http://127.0.0.1:3000"));
    }
}
