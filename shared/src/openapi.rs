//! The GPT Actions spec (OpenAPI 3.1.0) ChatGPT imports, generated from the action
//! declarations ([`ACTIONS`]). `connector generate` writes it to `openapi/openapi.json`
//! (checked in; a test fails when it drifts) and `GET /connector/chatgpt/openapi.json`
//! serves that file ([`served`]) with the deployment's base URL: what ChatGPT imports is
//! the reviewed file, and the discovery function links no action handler.
//!
//! ChatGPT's limits, kept by tests: at most 30 operations, descriptions ≤ 300 characters,
//! parameter descriptions ≤ 700. Only ChatGPT's actions are here: no Dexter-side,
//! operator or OAuth routes.

use serde_json::{Map, Value, json};

use crate::actions::{ACTIONS, schema::receipt_ids};
use crate::oauth::paths;
use crate::scope::Scope;

pub const PATH: &str = "/connector/chatgpt/openapi.json";

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

/// The whole document for a deployment's public base URL.
pub fn document(base: &str) -> Value {
    let mut paths_out = Map::new();
    for action in ACTIONS {
        let mut operation = json!({
            "operationId": action.name,
            "summary": action.summary,
            "description": action.description,
            "x-openai-isConsequential": action.consequential,
            "security": [{ "dexter": [action.scope.as_str()] }],
            "responses": {
                action.success.0.to_string(): {
                    "description": if action.success.0 == 202 { "Accepted: waiting for the user's approval in Dexter" } else { "OK" },
                    "content": { "application/json": { "schema": (action.success.1)() } },
                },
                "400": error_response("Invalid input"),
                "401": error_response("Missing, expired or revoked access token"),
                "403": error_response("Scope, channel (channel_disabled) or tier (tool_not_allowed) refusal"),
                "404": error_response("No such record"),
                "502": error_response("Dexter's tools failed (upstream error); see receipt_ids"),
                "504": error_response("Dexter's tools did not answer in time"),
            },
        });
        if !action.query.is_empty() {
            let parameters: Vec<Value> = action
                .query
                .iter()
                .map(|(name, required, schema, description)| {
                    json!({ "name": name, "in": "query", "required": required, "schema": schema(), "description": description })
                })
                .collect();
            operation["parameters"] = json!(parameters);
        }
        for (status, description) in action.errors {
            operation["responses"][status.to_string()] = error_response(description);
        }
        if let Some(body) = action.body {
            operation["requestBody"] =
                json!({ "required": true, "content": { "application/json": { "schema": body() } } });
            operation["responses"]["413"] = error_response("The request body is larger than 100 KB");
            operation["responses"]["415"] = error_response("The request body is not application/json");
        }
        let mut item = Map::new();
        item.insert(action.method.as_str().to_ascii_lowercase(), operation);
        paths_out.insert(action.path(), Value::Object(item));
    }
    let scopes: Map<String, Value> =
        Scope::ALL.iter().map(|s| (s.as_str().to_owned(), json!(s.description()))).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Dexter",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Dexter's wallet-aware trading tools: portfolio, token lookup, swap previews, swaps that wait for the user's approval in Dexter, alerts, research and a handoff to Dexter Voice. Every call returns receipt ids.",
        },
        "servers": [{ "url": base }],
        "paths": paths_out,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message", "request_id"],
                    "properties": {
                        "error": { "type": "string", "description": "A stable code such as tool_not_allowed or upstream_timeout." },
                        "message": { "type": "string" },
                        "request_id": { "type": "string", "description": "Quote it when reporting a problem." },
                        "receipt_ids": receipt_ids(),
                    },
                },
            },
            "securitySchemes": {
                "dexter": {
                    "type": "oauth2",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": format!("{base}{}", paths::AUTHORIZE),
                            "tokenUrl": format!("{base}{}", paths::TOKEN),
                            "refreshUrl": format!("{base}{}", paths::TOKEN),
                            "scopes": scopes,
                        },
                    },
                },
            },
        },
    })
}

/// `openapi/openapi.json` as checked in: `document(CHECKED_IN_BASE_URL)`.
const CHECKED_IN: &str = include_str!("../../openapi/openapi.json");

/// The checked-in document with `base` as its server and OAuth URLs: equal to
/// `document(base)` as long as the checked-in file is current (a test keeps it so).
pub fn served(base: &str) -> Value {
    let mut doc: Value =
        serde_json::from_str(CHECKED_IN).expect("openapi/openapi.json is valid JSON (tests keep it so)");
    doc["servers"] = json!([{ "url": base }]);
    let flow = &mut doc["components"]["securitySchemes"]["dexter"]["flows"]["authorizationCode"];
    flow["authorizationUrl"] = json!(format!("{base}{}", paths::AUTHORIZE));
    flow["tokenUrl"] = json!(format!("{base}{}", paths::TOKEN));
    flow["refreshUrl"] = json!(format!("{base}{}", paths::TOKEN));
    doc
}

/// The checked-in document's base URL (the production deployment).
pub const CHECKED_IN_BASE_URL: &str = "https://api.dexter.cash";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_stays_within_chatgpts_limits() {
        assert!(ACTIONS.len() <= 30);
        for action in ACTIONS {
            assert!(action.description.chars().count() <= 300, "{}", action.name);
            assert!(action.summary.chars().count() <= 300, "{}", action.name);
            for (name, _, _, description) in action.query {
                assert!(description.chars().count() <= 700, "{}.{name}", action.name);
            }
        }
        let doc = document(CHECKED_IN_BASE_URL);
        assert!(doc["info"]["description"].as_str().unwrap().chars().count() <= 300);
    }

    #[test]
    fn the_served_spec_is_the_generated_one_for_any_base() {
        for base in [CHECKED_IN_BASE_URL, "http://127.0.0.1:3000", "https://connector.example.com"] {
            assert_eq!(served(base), document(base), "openapi/openapi.json is stale: run `connector generate`");
        }
    }

    #[test]
    fn only_swap_execute_and_create_alert_are_consequential() {
        let consequential: Vec<&str> = ACTIONS.iter().filter(|a| a.consequential).map(|a| a.name).collect();
        assert_eq!(consequential, ["swap_execute", "create_alert"]);
    }
}
