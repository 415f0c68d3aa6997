//! The MCP tools: one per declared action ([`crate::actions::ACTIONS`]), never a separate
//! list. A tool's `inputSchema` is what the spec shows for the action (its query
//! parameters as an object's properties, or its JSON body's schema), its `outputSchema`
//! the declared success body.
//!
//! A call runs the action itself: the action's router is called in-process with the
//! request a GPT would send (method, path, query or JSON body, the request id), marked
//! [`ViaMcp`] with the claims of the token `/mcp` verified (audience `{base}/mcp`), so the
//! guard takes those claims instead of a bearer token and checks the MCP channel.
//! Scopes, tiers, receipts, approvals and request ids are therefore exactly the GPT
//! actions', and `swap_execute` still only creates an approval. The answer becomes
//! the tool result: the body as `structuredContent` and as JSON text, with `isError` when
//! the action refused (same error codes: `tool_not_allowed`, `channel_disabled`,
//! `upstream_timeout`, `invalid_request`, …).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use crate::actions::guard::ViaMcp;
use crate::actions::{ACTIONS, Action};
use crate::error::ErrorBody;
use crate::http::RequestId;
use crate::oauth::access_token::AccessClaims;
use crate::state::AppState;

/// The largest action answer read (the actions' own limit keeps them far below it).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The declared action a tool name calls.
pub fn action(name: &str) -> Option<&'static Action> {
    ACTIONS.iter().copied().find(|a| a.name == name)
}

/// Every tool, in the spec's order.
pub fn list() -> Vec<Value> {
    ACTIONS.iter().map(|action| tool(action)).collect()
}

/// One action as an MCP tool.
pub fn tool(action: &Action) -> Value {
    let read_only = action.method == Method::GET;
    json!({
        "name": action.name,
        "title": action.summary,
        "description": action.description,
        "inputSchema": input_schema(action),
        "outputSchema": (action.success.1)(),
        "annotations": {
            "title": action.summary,
            "readOnlyHint": read_only,
            // What ChatGPT asks the user about first (x-openai-isConsequential): a swap
            // request, a new alert.
            "destructiveHint": !read_only && action.consequential,
            "idempotentHint": read_only,
            // Tools that reach Dexter's upstream tools (Solana, the web); the rest read
            // only the connector's own records.
            "openWorldHint": !action.tools.is_empty(),
        },
    })
}

/// The arguments' schema: the JSON body's for a POST, the query parameters as an object's
/// properties for a GET.
pub fn input_schema(action: &Action) -> Value {
    if let Some(body) = action.body {
        return body();
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, is_required, schema, description) in action.query {
        let mut schema = schema();
        schema["description"] = json!(description);
        properties.insert((*name).to_owned(), schema);
        if *is_required {
            required.push(*name);
        }
    }
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

/// What a call came to.
pub enum Outcome {
    /// A tool result, successful or `isError`.
    Result(Value),
    /// The action found the token unusable (e.g. the link was revoked meanwhile).
    Unauthorized,
    /// The action needs a scope the grant lacks.
    InsufficientScope,
}

/// Calls `action` as the caller whose verified MCP token carried `claims`.
pub async fn call(
    state: &AppState,
    action: &'static Action,
    claims: &AccessClaims,
    request_id: &str,
    arguments: Value,
) -> Outcome {
    let Some(arguments) = arguments.as_object() else {
        return Outcome::Result(refusal("invalid_request", "arguments must be an object", request_id));
    };
    let (uri, body) = if action.method == Method::GET {
        (with_query(&action.path(), arguments), Body::empty())
    } else {
        (action.path(), Body::from(Value::Object(arguments.clone()).to_string()))
    };
    let mut request = Request::builder().method(action.method.clone()).uri(uri);
    if action.method != Method::GET {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let Ok(mut request) = request.body(body) else {
        return Outcome::Result(refusal("invalid_request", "the arguments do not make a request", request_id));
    };
    request.extensions_mut().insert(RequestId(request_id.to_owned()));
    request.extensions_mut().insert(ViaMcp(claims.clone()));

    let response = match action.router(state.clone()).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let error = response.extensions().get::<ErrorBody>().cloned();
    let body = match error {
        Some(error) => serde_json::from_str(&error.render(request_id)).unwrap_or(Value::Null),
        None => match axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        },
    };
    match status {
        StatusCode::UNAUTHORIZED => Outcome::Unauthorized,
        StatusCode::FORBIDDEN if body["error"] == "insufficient_scope" => Outcome::InsufficientScope,
        status => Outcome::Result(result(body, !status.is_success())),
    }
}

/// `path?name=value&…`: strings as they are, numbers and booleans as their JSON text,
/// nulls left out; anything else as its JSON text, which the action then refuses.
fn with_query(path: &str, arguments: &Map<String, Value>) -> String {
    let mut url = reqwest::Url::parse("http://mcp.invalid").expect("a valid URL");
    url.set_path(path);
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in arguments {
            match value {
                Value::Null => {}
                Value::String(text) => {
                    query.append_pair(name, text);
                }
                other => {
                    query.append_pair(name, &other.to_string());
                }
            }
        }
    }
    match url.query().filter(|q| !q.is_empty()) {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

/// A tool result carrying `body` as structured content and as JSON text.
fn result(body: Value, is_error: bool) -> Value {
    json!({
        "content": [{ "type": "text", "text": body.to_string() }],
        "structuredContent": body,
        "isError": is_error,
    })
}

/// A tool error decided before the action ran, shaped like the actions' error bodies.
fn refusal(code: &str, message: &str, request_id: &str) -> Value {
    result(json!({ "error": code, "message": message, "request_id": request_id }), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_a_tool_with_an_object_input_schema() {
        let tools = list();
        assert_eq!(tools.len(), ACTIONS.len());
        for (tool, action) in tools.iter().zip(ACTIONS) {
            assert_eq!(tool["name"], action.name);
            assert_eq!(tool["inputSchema"]["type"], "object", "{}", action.name);
            assert_eq!(tool["outputSchema"]["type"], "object", "{}", action.name);
        }
        let swap = tool(action("swap_execute").unwrap());
        assert_eq!(swap["annotations"]["readOnlyHint"], false);
        assert_eq!(swap["annotations"]["destructiveHint"], true);
        let portfolio = tool(action("get_portfolio").unwrap());
        assert_eq!(portfolio["annotations"]["readOnlyHint"], true);
    }

    #[test]
    fn arguments_become_the_query_a_gpt_would_send() {
        let arguments = json!({ "query": "BONK & co", "limit": 3, "offset": null });
        let uri = with_query("/connector/chatgpt/resolve_token", arguments.as_object().unwrap());
        let url = reqwest::Url::parse(&format!("http://x{uri}")).unwrap();
        assert_eq!(url.path(), "/connector/chatgpt/resolve_token");
        let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        pairs.sort();
        assert_eq!(pairs, [("limit".to_owned(), "3".to_owned()), ("query".to_owned(), "BONK & co".to_owned())]);
        assert_eq!(with_query("/connector/chatgpt/get_profile", &Map::new()), "/connector/chatgpt/get_profile");
    }
}
