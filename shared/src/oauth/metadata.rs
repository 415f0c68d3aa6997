//! `GET /.well-known/oauth-authorization-server` (RFC 8414): the endpoints, scopes and
//! methods this authorization server supports.

use serde_json::{Value, json};

use super::paths;
use crate::scope::Scope;

pub const PATH: &str = "/.well-known/oauth-authorization-server";

/// The metadata document for a deployment's public base URL.
pub fn document(base: &str) -> Value {
    // `none` (public clients, PKCE required) and `private_key_jwt` are for MCP clients.
    let auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}{}", paths::AUTHORIZE),
        "token_endpoint": format!("{base}{}", paths::TOKEN),
        "revocation_endpoint": format!("{base}{}", paths::REVOKE),
        "registration_endpoint": format!("{base}{}", paths::REGISTER),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "scopes_supported": Scope::all_names(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        // A client_id may be the https URL of the client's metadata document.
        "client_id_metadata_document_supported": true,
        // RFC 7636 via RFC 9700 §2.1.1: S256 only, never plain.
        "code_challenge_methods_supported": ["S256"],
        // RFC 9207: authorization responses carry `iss`.
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{base}/connector/chatgpt/openapi.json"),
    })
}
