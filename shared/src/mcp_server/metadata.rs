//! RFC 9728 OAuth 2.0 Protected Resource Metadata for the MCP endpoint: where MCP clients
//! learn which authorization server issues its tokens and which scopes to ask for. Served
//! at the path-suffixed location (`/.well-known/oauth-protected-resource/mcp`, RFC 9728
//! §3.1) and at the root form, which clients that ignore the suffix try.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::scope::Scope;
use crate::state::AppState;

/// The root form of the metadata's location.
pub const ROOT_PATH: &str = "/.well-known/oauth-protected-resource";
/// The metadata's location for the `/mcp` resource.
pub const PATH: &str = "/.well-known/oauth-protected-resource/mcp";

/// Where a deployment's metadata is: what the 401 challenge names.
pub fn url(base: &str) -> String {
    format!("{base}{PATH}")
}

/// The metadata document for a deployment's public base URL.
pub fn document(base: &str) -> Value {
    json!({
        "resource": crate::oauth::access_token::mcp_audience(base),
        "authorization_servers": [base],
        "scopes_supported": Scope::all_names(),
        "bearer_methods_supported": ["header"],
        "resource_name": "Dexter",
        "resource_documentation": format!("{base}/connector/chatgpt/openapi.json"),
    })
}

pub async fn protected_resource(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "public, max-age=300")], Json(document(&state.config.public_base_url)))
}
