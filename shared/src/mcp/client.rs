//! [`McpClient`]: tool calls to dexter-mcp over the Streamable HTTP transport (MCP
//! specification 2025-06-18, "Transports" §Streamable HTTP; "Lifecycle" §Initialization).
//!
//! Every message is one POST of a JSON-RPC message to the MCP endpoint, accepting
//! `application/json` and `text/event-stream`. A request is answered by one JSON-RPC
//! response, either as the JSON body or as an event of an SSE stream that may first carry
//! notifications; the client reads the stream until the response with its id arrives.
//!
//! Sessions: dexter-mcp issues an `Mcp-Session-Id` on `initialize` and binds it to the user
//! whose bearer created it, so the client keeps one session per user for the life of the
//! execution environment and sends it with every later request. Sessions live in server
//! memory: a restarted or reaped server answers 404 (spec §Session Management, point 3), or
//! 400 naming the session, and the client then initialises a new session and retries the
//! call once. Concurrent first calls for one user share a single `initialize`.
//!
//! A deadline bounds the whole call, re-initialisation included, so an action stays well
//! under API Gateway's 29 seconds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::sse::SseParser;
use super::{McpCaller, McpError, ToolResult, token};
use crate::ids::UserId;

/// The protocol revision the client speaks and offers in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Revisions a server may answer `initialize` with that work the same for POST-only tool
/// calls; anything else ends the call (spec "Lifecycle" §Version Negotiation).
const COMPATIBLE_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2025-11-25"];

/// `clientInfo.name` in `initialize`.
pub const CLIENT_NAME: &str = "dexter-chatgpt-connector";

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// The largest answer read: tool results are compact; anything bigger is a broken server.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The most users whose sessions are remembered. A Lambda execution environment sees far
/// fewer; a long-running `connector serve` forgets them all past this (the server then
/// refuses nothing: new sessions are simply initialised).
const MAX_REMEMBERED_SESSIONS: usize = 10_000;

/// The longest tool error message kept.
const MAX_MESSAGE_CHARS: usize = 500;

/// Calls MCP tools on one server as any user. Cheap to clone: clones share the connection
/// pool and the sessions.
#[derive(Clone)]
pub struct McpClient {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    jwt_secret: SecretString,
    http: reqwest::Client,
    deadline: Duration,
    /// User → that user's session, initialised once even under concurrent first calls.
    sessions: Mutex<HashMap<UserId, Arc<OnceCell<Session>>>>,
    next_id: AtomicU64,
}

#[derive(Clone, Debug)]
struct Session {
    /// `None` when the server runs without sessions.
    id: Option<String>,
    protocol_version: String,
}

/// How one HTTP exchange failed: the session refusal the caller recovers from, or a final error.
enum Failure {
    SessionRefused { status: u16 },
    Error(McpError),
}

impl From<McpError> for Failure {
    fn from(error: McpError) -> Failure {
        Failure::Error(error)
    }
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient").field("url", &self.inner.url).field("deadline", &self.inner.deadline).finish()
    }
}

impl McpClient {
    /// A client for the MCP endpoint `url` (dexter-mcp's base URL + `/mcp`, which is also
    /// the `iss`/`aud` of the minted tokens), sharing the execution environment's `http`
    /// connection pool. `deadline` bounds each [`McpClient::call_tool`].
    pub fn new(url: String, jwt_secret: SecretString, http: reqwest::Client, deadline: Duration) -> McpClient {
        McpClient {
            inner: Arc::new(Inner {
                url,
                jwt_secret,
                http,
                deadline,
                sessions: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The MCP endpoint this client calls.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    pub fn deadline(&self) -> Duration {
        self.inner.deadline
    }

    /// Calls one tool as `caller`. `Ok` only for a successful, well-formed tool result.
    #[tracing::instrument(name = "mcp_call", skip_all, fields(tool = tool, user_id = %caller.user_id))]
    pub async fn call_tool(&self, caller: &McpCaller, tool: &str, arguments: Value) -> Result<ToolResult, McpError> {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.inner.deadline, self.call(caller, tool, arguments)).await;
        let latency = started.elapsed();
        let outcome = outcome.unwrap_or(Err(McpError::Timeout));
        match &outcome {
            Ok(_) => tracing::debug!(latency_ms = latency.as_millis() as u64, "MCP tool call succeeded"),
            Err(error) => tracing::warn!(
                latency_ms = latency.as_millis() as u64,
                error = error.code(),
                detail = %error,
                "MCP tool call failed"
            ),
        }
        outcome.map(|structured| ToolResult { structured, latency })
    }

    async fn call(&self, caller: &McpCaller, tool: &str, arguments: Value) -> Result<Value, McpError> {
        // One token for the whole call: initialize, the initialized notification and the
        // tool call (and their retry) all happen within its minute.
        let jwt = token::mint(&self.inner.jwt_secret, &self.inner.url, caller)
            .map_err(|e| McpError::Unreachable(anyhow::Error::new(e).context("minting the MCP token")))?;
        let mut bearer = HeaderValue::from_str(&format!("Bearer {jwt}"))
            .map_err(|e| McpError::Unreachable(anyhow::Error::new(e).context("the MCP token is not a header value")))?;
        bearer.set_sensitive(true);

        let params = json!({ "name": tool, "arguments": arguments });
        let mut retried = false;
        loop {
            let (cell, session) = self.session(caller.user_id, &bearer).await?;
            match self.request(&bearer, Some(&session), "tools/call", &params).await {
                Ok(result) => return tool_result(result),
                Err(Failure::SessionRefused { status }) => {
                    self.forget(caller.user_id, &cell);
                    if retried {
                        return Err(McpError::Upstream { status });
                    }
                    tracing::info!(status, "the MCP server refused the session; initialising a new one");
                    retried = true;
                }
                Err(Failure::Error(error)) => return Err(error),
            }
        }
    }

    /// The user's session, initialising one if there is none.
    async fn session(&self, user: UserId, bearer: &HeaderValue) -> Result<(Arc<OnceCell<Session>>, Session), McpError> {
        let cell = {
            let mut sessions = self.inner.sessions.lock().unwrap_or_else(PoisonError::into_inner);
            if sessions.len() >= MAX_REMEMBERED_SESSIONS && !sessions.contains_key(&user) {
                sessions.clear();
            }
            sessions.entry(user).or_default().clone()
        };
        let session = cell.get_or_try_init(|| self.initialize(bearer)).await?.clone();
        Ok((cell, session))
    }

    /// Forgets a refused session, unless a concurrent call already replaced it.
    fn forget(&self, user: UserId, refused: &Arc<OnceCell<Session>>) {
        let mut sessions = self.inner.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if sessions.get(&user).is_some_and(|current| Arc::ptr_eq(current, refused)) {
            sessions.remove(&user);
        }
    }

    /// The initialization phase: `initialize`, then `notifications/initialized`.
    async fn initialize(&self, bearer: &HeaderValue) -> Result<Session, McpError> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": CLIENT_NAME, "version": env!("CARGO_PKG_VERSION") },
        });
        let (result, session_id) = self.exchange(bearer, None, "initialize", &params).await.map_err(final_error)?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| McpError::Protocol("the initialize result has no protocolVersion".into()))?;
        if !COMPATIBLE_VERSIONS.contains(&version) {
            return Err(McpError::Protocol(format!("the server speaks MCP {version}, not {PROTOCOL_VERSION}")));
        }
        let session = Session { id: session_id, protocol_version: version.to_owned() };
        self.notify(bearer, &session, "notifications/initialized").await.map_err(final_error)?;
        tracing::debug!(has_session = session.id.is_some(), version = %session.protocol_version, "MCP session initialised");
        Ok(session)
    }

    /// Sends a request within `session` and returns its result.
    async fn request(
        &self,
        bearer: &HeaderValue,
        session: Option<&Session>,
        method: &str,
        params: &Value,
    ) -> Result<Value, Failure> {
        self.exchange(bearer, session, method, params).await.map(|(result, _)| result)
    }

    /// Sends a request and returns its result and the session id the answer carried.
    async fn exchange(
        &self,
        bearer: &HeaderValue,
        session: Option<&Session>,
        method: &str,
        params: &Value,
    ) -> Result<(Value, Option<String>), Failure> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self.post(bearer, session, &message).await?;
        let response = check_status(response, session).await?;
        let session_id = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let result = match content_type.as_str() {
            "application/json" => read_json(response, id).await?,
            "text/event-stream" => read_event_stream(response, id).await?,
            other => {
                return Err(McpError::Protocol(format!(
                    "HTTP {} with content type {other:?} for a request",
                    response.status().as_u16()
                ))
                .into());
            }
        };
        Ok((result, session_id))
    }

    /// Sends a notification; the server accepts it with 202 and no body.
    async fn notify(&self, bearer: &HeaderValue, session: &Session, method: &str) -> Result<(), Failure> {
        let message = json!({ "jsonrpc": "2.0", "method": method });
        let response = self.post(bearer, Some(session), &message).await?;
        check_status(response, Some(session)).await?;
        Ok(())
    }

    async fn post(
        &self,
        bearer: &HeaderValue,
        session: Option<&Session>,
        message: &Value,
    ) -> Result<reqwest::Response, McpError> {
        let body = serde_json::to_vec(message).map_err(|e| McpError::Unreachable(e.into()))?;
        let version = session.map_or(PROTOCOL_VERSION, |s| s.protocol_version.as_str());
        let mut request = self
            .inner
            .http
            .post(&self.inner.url)
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, bearer.clone())
            .header(PROTOCOL_VERSION_HEADER, version)
            .body(body);
        if let Some(id) = session.and_then(|s| s.id.as_deref()) {
            request = request.header(SESSION_HEADER, id);
        }
        request.send().await.map_err(transport_error)
    }
}

/// Passes a successful answer on; recognises a refused session; everything else is final.
async fn check_status(response: reqwest::Response, session: Option<&Session>) -> Result<reqwest::Response, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let sent_session = session.is_some_and(|s| s.id.is_some());
    if sent_session && status == StatusCode::NOT_FOUND {
        return Err(Failure::SessionRefused { status: status.as_u16() });
    }
    if sent_session && status == StatusCode::BAD_REQUEST {
        // Servers that predate the 404 rule answer 400 "Bad Request: No valid session ID".
        let body = read_limited(response, 4096).await.unwrap_or_default();
        if String::from_utf8_lossy(&body).to_ascii_lowercase().contains("session") {
            return Err(Failure::SessionRefused { status: status.as_u16() });
        }
    }
    Err(McpError::Upstream { status: status.as_u16() }.into())
}

/// A session refusal outside a tool call (during initialisation) is just an HTTP error.
fn final_error(failure: Failure) -> McpError {
    match failure {
        Failure::SessionRefused { status } => McpError::Upstream { status },
        Failure::Error(error) => error,
    }
}

fn transport_error(error: reqwest::Error) -> McpError {
    if error.is_timeout() { McpError::Timeout } else { McpError::Unreachable(error.into()) }
}

/// Reads a whole body, refusing one longer than `limit` bytes ([`crate::tls::read_limited`]).
async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, McpError> {
    crate::tls::read_limited(response, limit).await.map_err(|e| match e {
        crate::tls::ReadError::TooLarge { limit } => {
            McpError::Protocol(format!("the answer is larger than {limit} bytes"))
        }
        crate::tls::ReadError::Transport(e) => transport_error(e),
    })
}

async fn read_json(response: reqwest::Response, id: u64) -> Result<Value, McpError> {
    let body = read_limited(response, MAX_ANSWER_BYTES).await?;
    let message: Value = serde_json::from_slice(&body)
        .map_err(|e| McpError::Protocol(format!("the JSON answer does not parse: {e}")))?;
    // A server may answer with a batch (2025-03-26); look for ours in it.
    let messages = match message {
        Value::Array(messages) => messages,
        message => vec![message],
    };
    for message in messages {
        if let Some(outcome) = response_for(message, id) {
            return outcome;
        }
    }
    Err(McpError::Protocol(format!("the JSON answer holds no response to request {id}")))
}

/// Reads an SSE answer until the response to request `id`; notifications and requests the
/// server interleaves are skipped (a tool call needs none of them answered).
async fn read_event_stream(mut response: reqwest::Response, id: u64) -> Result<Value, McpError> {
    let mut parser = SseParser::default();
    let mut read = 0usize;
    let malformed = |e: std::str::Utf8Error| McpError::Protocol(format!("the event stream is not UTF-8: {e}"));
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        read += chunk.len();
        if read > MAX_ANSWER_BYTES {
            return Err(McpError::Protocol(format!("the event stream is larger than {MAX_ANSWER_BYTES} bytes")));
        }
        for data in parser.push(&chunk).map_err(malformed)? {
            if let Some(outcome) = event_response(&data, id)? {
                return outcome;
            }
        }
    }
    if let Some(data) = parser.finish().map_err(malformed)?
        && let Some(outcome) = event_response(&data, id)?
    {
        return outcome;
    }
    Err(McpError::Protocol(format!("the event stream ended without a response to request {id}")))
}

fn event_response(data: &str, id: u64) -> Result<Option<Result<Value, McpError>>, McpError> {
    let message: Value =
        serde_json::from_str(data).map_err(|e| McpError::Protocol(format!("an SSE event is not JSON: {e}")))?;
    Ok(response_for(message, id))
}

/// The outcome of a JSON-RPC message if it is the response to request `id`.
fn response_for(mut message: Value, id: u64) -> Option<Result<Value, McpError>> {
    let object = message.as_object_mut()?;
    if object.get("id") != Some(&json!(id)) {
        return None;
    }
    if let Some(error) = object.remove("error") {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = error.get("message").and_then(Value::as_str).unwrap_or("").to_owned();
        return Some(Err(McpError::Rejected { code, message: truncate(message) }));
    }
    // A message with our id but neither result nor error is a request from the server
    // that happens to share the number; not ours.
    object.remove("result").map(Ok)
}

/// A `tools/call` result: its structured content, or the tool's failure.
fn tool_result(mut result: Value) -> Result<Value, McpError> {
    let Some(object) = result.as_object_mut() else {
        return Err(McpError::Protocol("the tools/call result is not an object".into()));
    };
    let text = object
        .get("content")
        .and_then(Value::as_array)
        .and_then(|content| content.iter().find(|block| block.get("type").and_then(Value::as_str) == Some("text")))
        .and_then(|block| block.get("text"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let structured = object.remove("structuredContent").filter(|v| !v.is_null());
    if object.get("isError").and_then(Value::as_bool).unwrap_or(false) {
        return Err(tool_error(structured.as_ref(), text.as_deref()));
    }
    if let Some(structured) = structured {
        return Ok(structured);
    }
    let text =
        text.ok_or_else(|| McpError::Protocol("the tool result has neither structured nor text content".into()))?;
    serde_json::from_str(&text).map_err(|e| McpError::Protocol(format!("the tool result's text is not JSON: {e}")))
}

/// The code and message of an `isError` result. dexter-mcp's text is the bare code
/// (`wallet_address_required`); other servers write `code: message`, or JSON with
/// `error`/`code` and `message`.
fn tool_error(structured: Option<&Value>, text: Option<&str>) -> McpError {
    let from_json = |value: &Value| {
        let code = value.get("error").or_else(|| value.get("code")).and_then(Value::as_str).filter(|c| is_code(c))?;
        let message = value.get("message").and_then(Value::as_str).unwrap_or(code);
        Some(McpError::Tool { code: code.to_ascii_lowercase(), message: truncate(message.to_owned()) })
    };
    if let Some(error) = structured.and_then(from_json) {
        return error;
    }
    let text = text.unwrap_or("").trim();
    if let Ok(value) = serde_json::from_str::<Value>(text)
        && let Some(error) = from_json(&value)
    {
        return error;
    }
    let (head, rest) = text.split_once(':').unwrap_or((text, ""));
    if is_code(head.trim()) {
        let code = head.trim().to_ascii_lowercase();
        let message = if rest.trim().is_empty() { code.clone() } else { rest.trim().to_owned() };
        return McpError::Tool { code, message: truncate(message) };
    }
    McpError::Tool {
        code: "tool_error".into(),
        message: truncate(if text.is_empty() { "the tool failed".into() } else { text.to_owned() }),
    }
}

/// A machine-readable error code, safe to pass on: `wallet_address_required`.
fn is_code(candidate: &str) -> bool {
    (1..=64).contains(&candidate.len()) && candidate.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn truncate(mut message: String) -> String {
    if let Some((index, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(index);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(error: McpError) -> (String, String) {
        match error {
            McpError::Tool { code, message } => (code, message),
            other => panic!("not a tool error: {other}"),
        }
    }

    #[test]
    fn tool_error_codes_are_read_from_the_forms_servers_use() {
        assert_eq!(
            code_of(tool_error(None, Some("wallet_address_required"))),
            ("wallet_address_required".into(), "wallet_address_required".into())
        );
        assert_eq!(
            code_of(tool_error(None, Some("resolver_unavailable: Birdeye is down"))),
            ("resolver_unavailable".into(), "Birdeye is down".into())
        );
        assert_eq!(
            code_of(tool_error(None, Some(r#"{"error":"unknown_token","message":"no such mint"}"#))),
            ("unknown_token".into(), "no such mint".into())
        );
        assert_eq!(
            code_of(tool_error(Some(&json!({"code": "INSUFFICIENT_BALANCE"})), None)),
            ("insufficient_balance".into(), "INSUFFICIENT_BALANCE".into())
        );
        assert_eq!(code_of(tool_error(None, Some("Something broke, sorry."))).0, "tool_error");
    }

    #[test]
    fn a_result_without_structured_content_is_read_from_its_text() {
        let result = json!({"content": [{"type": "text", "text": "{\"a\":1}"}]});
        assert_eq!(tool_result(result).unwrap(), json!({"a": 1}));
        let result = json!({"content": [{"type": "text", "text": "plain words"}]});
        assert!(matches!(tool_result(result), Err(McpError::Protocol(_))));
    }

    #[test]
    fn only_the_response_with_our_id_counts() {
        assert!(response_for(json!({"jsonrpc": "2.0", "method": "notifications/progress"}), 3).is_none());
        assert!(response_for(json!({"jsonrpc": "2.0", "id": 2, "result": {}}), 3).is_none());
        assert_eq!(
            response_for(json!({"jsonrpc": "2.0", "id": 3, "result": {"x": 1}}), 3).unwrap().unwrap(),
            json!({"x": 1})
        );
        let rejected = response_for(json!({"id": 3, "error": {"code": -32602, "message": "unknown tool"}}), 3);
        assert!(matches!(rejected, Some(Err(McpError::Rejected { code: -32602, .. }))));
    }
}
