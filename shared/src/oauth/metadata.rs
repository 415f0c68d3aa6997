//! `GET /.well-known/oauth-authorization-server` (RFC 8414): the endpoints, scopes and
//! methods this authorization server supports.

use serde_json::{Value, json};

use super::paths;
use crate::scope::Scope;

pub const PATH: &str = "/.well-known/oauth-authorization-server";

/// The metadata document for a deployment's public base URL.
pub fn document(base: &str) -> Value {
    let auth_methods = ["client_secret_basic", "client_secret_post"];
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}{}", paths::AUTHORIZE),
        "token_endpoint": format!("{base}{}", paths::TOKEN),
        "revocation_endpoint": format!("{base}{}", paths::REVOKE),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "scopes_supported": Scope::all_names(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        // RFC 7636 via RFC 9700 §2.1.1: S256 only, never plain.
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207: authorization responses carry `iss`.
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{base}/connector/chatgpt/openapi.json"),
    })
}
