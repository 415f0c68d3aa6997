//! The GPT Actions spec: generated from the action registry, checked in without drift,
//! served with the deployment's base URL, and naming exactly the routes ChatGPT may call.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use shared::actions::ACTIONS;
use shared::openapi::{CHECKED_IN_BASE_URL, document};
use shared::store::memory::MemoryStore;
use testkit::app::{Options, spawn_app};

#[test]
fn the_checked_in_openapi_json_is_what_the_code_generates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let checked_in: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("openapi/openapi.json")).unwrap();
    assert_eq!(
        checked_in,
        document(CHECKED_IN_BASE_URL),
        "openapi/openapi.json is stale: run `cargo run -p connector -- generate` and commit it"
    );
}

#[test]
fn the_spec_names_exactly_the_action_routes_and_nothing_dexter_side() {
    let doc = document(CHECKED_IN_BASE_URL);
    assert_eq!(doc["openapi"], "3.1.0");
    let in_spec: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect();
    let registered: BTreeSet<(String, String)> = shared::routes::functions()
        .flat_map(|f| f.routes())
        .filter(|(_, path)| path.starts_with("/connector/chatgpt/") && path != shared::openapi::PATH)
        .map(|(method, path)| (method.to_string(), path))
        .collect();
    assert_eq!(in_spec, registered, "openapi paths and the functions' action routes differ");
    for (_, path) in &in_spec {
        assert!(!path.starts_with("/dexter") && !path.starts_with("/oauth"), "{path} must not be in the spec");
    }
    let ids: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
    for name in [
        "get_portfolio",
        "resolve_token",
        "swap_preview",
        "swap_execute",
        "get_alerts",
        "create_alert",
        "handoff_voice",
    ] {
        assert!(ids.contains(&name), "{name} is missing");
    }
    let flows = &doc["components"]["securitySchemes"]["dexter"]["flows"]["authorizationCode"];
    assert_eq!(flows["authorizationUrl"], "https://api.dexter.cash/oauth/chatgpt/authorize");
    assert_eq!(flows["tokenUrl"], "https://api.dexter.cash/oauth/chatgpt/token");
    let scopes: BTreeSet<&str> = flows["scopes"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(scopes, BTreeSet::from(["mcp:invoke", "wallet:read", "profile"]));
    assert_eq!(doc["paths"]["/connector/chatgpt/swap_execute"]["post"]["x-openai-isConsequential"], true);
    assert_eq!(doc["paths"]["/connector/chatgpt/resolve_token"]["get"]["x-openai-isConsequential"], false);
    assert!(doc["paths"]["/connector/chatgpt/swap_execute"]["post"]["responses"]["202"].is_object());
}

#[tokio::test]
async fn the_served_spec_points_at_this_deployment() {
    let app = spawn_app(Arc::new(MemoryStore::new()), Options::default()).await;
    let served: Value = testkit::get_json(&format!("{}/connector/chatgpt/openapi.json", app.base_url)).await;
    assert_eq!(served["servers"][0]["url"], app.base_url);
    assert_eq!(served, document(&app.base_url));
}

#[test]
fn the_spec_shows_paging_and_the_reused_idempotency_key() {
    let doc = document(CHECKED_IN_BASE_URL);
    let conflict = &doc["paths"]["/connector/chatgpt/swap_execute"]["post"]["responses"]["409"];
    assert!(conflict["description"].as_str().unwrap().contains("idempotency_key_reused"), "{conflict}");
    for (path, params) in [
        ("get_portfolio", &["offset", "limit", "wallet", "balances_offset"][..]),
        ("get_alerts", &["offset", "limit"]),
        ("search", &["offset", "max_results"]),
        ("resolve_token", &["offset", "limit"]),
    ] {
        let operation = &doc["paths"][format!("/connector/chatgpt/{path}")]["get"];
        let declared: Vec<&str> =
            operation["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        for param in params {
            assert!(declared.contains(param), "{path} declares {param}");
        }
        let answer = &operation["responses"]["200"]["content"]["application/json"]["schema"];
        for field in ["total", "returned", "truncated", "next_offset"] {
            assert!(answer["properties"][field].is_object(), "{path} answers {field}");
        }
    }
}
