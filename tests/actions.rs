//! The GPT actions, end to end over HTTP against a real MCP server (the rmcp sandbox
//! serving Dexter's tool names): scopes and entitlements, receipts, upstream failures,
//! swap approvals that run exactly once, and the voice handoff.

use std::sync::Arc;
use std::time::Duration;

use sandbox_mcp::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use shared::UserId;
use shared::store::Store;
use shared::store::memory::MemoryStore;
use testkit::app::{Options, TestApp, spawn_app};
use testkit::db::TestDatabase;

const MCP_SECRET: &str = "sandbox-mcp-secret-0123456789abcdef-xyz";
const SOL: &str = "So11111111111111111111111111111111111111112";
const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

async fn app_with(store: Arc<dyn Store>, enable_voice: bool) -> (TestApp, Sandbox) {
    let sandbox =
        sandbox_mcp::spawn(secrecy::SecretString::from(MCP_SECRET), SandboxOptions::default()).await.expect("sandbox");
    let options = Options {
        mcp: Some((sandbox.url.clone(), MCP_SECRET.into())),
        enable_voice,
        mcp_timeout_ms: Some(1500),
        ..Options::default()
    };
    (spawn_app(store, options).await, sandbox)
}

async fn app() -> (TestApp, Sandbox) {
    app_with(Arc::new(MemoryStore::new()), false).await
}

struct Reply {
    status: u16,
    body: Value,
    request_id: String,
}

async fn call(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
    let http = shared::tls::client();
    let url = format!("{}{path}", app.base_url);
    let mut request = match method {
        "GET" => http.get(url),
        _ => http.post(url),
    }
    .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the connector answers");
    let status = response.status().as_u16();
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    Reply { status, body: response.json().await.unwrap_or(Value::Null), request_id }
}

const ALL: [&str; 3] = ["mcp:invoke", "wallet:read", "profile"];

async fn receipts_of(app: &TestApp, user_id: UserId) -> Vec<Value> {
    let session = app.dexter_session(user_id);
    let reply = call(app, "GET", "/dexter/receipts?limit=100", &session, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["receipts"].as_array().unwrap().clone()
}

async fn portfolio_flow(store: Arc<dyn Store>) {
    let (app, sandbox) = app_with(store, false).await;
    let (user_id, _, token) = app.linked_user("free", true, &ALL).await;
    let reply = call(&app, "GET", "/connector/chatgpt/get_portfolio", &token, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let wallets = reply.body["wallets"].as_array().unwrap();
    assert!(!wallets.is_empty());
    for wallet in wallets {
        assert!(wallet["balances"].as_array().is_some_and(|b| !b.is_empty()), "{wallet}");
    }
    assert!(reply.body["total_value_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(sandbox.calls("solana_list_balances"), wallets.len(), "one balances call per wallet");
    let receipt_ids = reply.body["receipt_ids"].as_array().unwrap();
    assert_eq!(receipt_ids.len(), 1 + wallets.len());

    // Every receipt is stored and readable by ChatGPT and by Dexter.
    let stored = receipts_of(&app, user_id).await;
    assert_eq!(stored.len(), receipt_ids.len());
    for receipt in &stored {
        assert_eq!(receipt["status"], "ok");
        assert_eq!(receipt["action"], "get_portfolio");
        assert_eq!(receipt["request_id"], reply.request_id.as_str());
        assert!(receipt["upstream_latency_ms"].is_number());
    }
    let one = receipt_ids[0].as_str().unwrap();
    let read = call(&app, "GET", &format!("/connector/chatgpt/get_receipt?receipt_id={one}"), &token, None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["mcp_tool"], "list_my_wallets");
}

#[tokio::test]
async fn get_portfolio_fans_out_per_wallet_and_stores_every_receipt_on_memory() {
    portfolio_flow(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn get_portfolio_fans_out_per_wallet_and_stores_every_receipt_on_postgres() {
    let (_db, store) = TestDatabase::migrated().await;
    portfolio_flow(Arc::new(store)).await;
}

#[tokio::test]
async fn read_actions_return_the_upstream_data_with_receipts() {
    let (app, _sandbox) = app().await;
    let (_, _, token) = app.linked_user("free", true, &ALL).await;
    let resolved = call(&app, "GET", "/connector/chatgpt/resolve_token?query=BONK&limit=3", &token, None).await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(resolved.body["results"][0]["symbol"], "BONK");
    assert_eq!(resolved.body["receipt_ids"].as_array().unwrap().len(), 1);

    let found = call(&app, "GET", "/connector/chatgpt/search?query=pump.fun%20dossier", &token, None).await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert!(!found.body["results"].as_array().unwrap().is_empty());

    let preview = call(
        &app,
        "POST",
        "/connector/chatgpt/swap_preview",
        &token,
        Some(json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.5 })),
    )
    .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert_eq!(preview.body["preview"]["mode"], "ExactIn");

    let profile = call(&app, "GET", "/connector/chatgpt/get_profile", &token, None).await;
    assert_eq!(profile.body["tier"], "free");
}

#[tokio::test]
async fn alerts_are_created_and_listed() {
    let (app, _sandbox) = app().await;
    let (_, _, token) = app.linked_user("pro", true, &ALL).await;
    let created = call(
        &app,
        "POST",
        "/connector/chatgpt/create_alert",
        &token,
        Some(json!({ "mint": SOL, "kind": "price", "direction": "above", "threshold": 250.0 })),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let listed = call(&app, "GET", "/connector/chatgpt/get_alerts", &token, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let alerts = listed.body["alerts"].as_array().unwrap();
    assert!(alerts.iter().any(|a| a["mint"] == SOL && a["direction"] == "above"), "{}", listed.body);
}

#[tokio::test]
async fn the_tier_decides_which_tools_run_and_operators_change_it_without_a_deploy() {
    let (app, sandbox) = app().await;
    let (_, _, token) = app.linked_user("free", true, &ALL).await;
    let swap = json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.0 });
    let refused = call(&app, "POST", "/connector/chatgpt/swap_execute", &token, Some(swap.clone())).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["error"], "tool_not_allowed");
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("solana_swap_execute") && message.contains("free"), "{message}");
    assert_eq!(refused.body["request_id"], refused.request_id.as_str());

    // Data, not code: the operator grants the tool to the free tier.
    let mut tools = app.store.tier_tools("free").await.unwrap();
    tools.push("solana_swap_execute".into());
    app.store.set_tier_tools("free", &tools).await.unwrap();
    let allowed = call(&app, "POST", "/connector/chatgpt/swap_execute", &token, Some(swap)).await;
    assert_eq!(allowed.status, 202, "{}", allowed.body);
    assert_eq!(sandbox.calls("solana_swap_execute"), 0);
}

#[tokio::test]
async fn scopes_channels_and_revocation_are_enforced_before_any_tool_runs() {
    let (app, sandbox) = app().await;
    let (_, _, profile_only) = app.linked_user("pro", true, &["profile"]).await;
    let reply = call(&app, "GET", "/connector/chatgpt/resolve_token?query=SOL", &profile_only, None).await;
    assert_eq!((reply.status, reply.body["error"].as_str()), (403, Some("insufficient_scope")));
    let reply = call(&app, "GET", "/connector/chatgpt/get_portfolio", &profile_only, None).await;
    assert_eq!((reply.status, reply.body["error"].as_str()), (403, Some("insufficient_scope")));

    let (_, _, disabled) = app.linked_user("pro", false, &ALL).await;
    let reply = call(&app, "GET", "/connector/chatgpt/resolve_token?query=SOL", &disabled, None).await;
    assert_eq!((reply.status, reply.body["error"].as_str()), (403, Some("channel_disabled")));

    let (user_id, grant_id, token) = app.linked_user("pro", true, &ALL).await;
    app.store.revoke_grant(grant_id, chrono::Utc::now()).await.unwrap();
    let reply = call(&app, "GET", "/connector/chatgpt/resolve_token?query=SOL", &token, None).await;
    assert_eq!((reply.status, reply.body["error"].as_str()), (401, Some("invalid_token")));
    let reply = call(&app, "GET", "/connector/chatgpt/resolve_token?query=SOL", "not-a-jwt", None).await;
    assert_eq!(reply.status, 401);

    assert_eq!(sandbox.calls("solana_resolve_token"), 0, "no tool ran for a refused caller");
    assert!(receipts_of(&app, user_id).await.is_empty());
}

#[tokio::test]
async fn bad_input_is_refused_with_the_request_id_and_records_nothing() {
    let (app, sandbox) = app().await;
    let (user_id, _, token) = app.linked_user("pro", true, &ALL).await;
    for (method, path, body) in [
        ("GET", "/connector/chatgpt/resolve_token?query=SOL&limit=50", None),
        ("GET", "/connector/chatgpt/resolve_token", None),
        (
            "POST",
            "/connector/chatgpt/swap_preview",
            Some(json!({ "input_mint": SOL, "output_mint": SOL, "mode": "ExactIn", "amount_ui": 1 })),
        ),
        (
            "POST",
            "/connector/chatgpt/swap_execute",
            Some(json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": -3 })),
        ),
        (
            "POST",
            "/connector/chatgpt/swap_execute",
            Some(json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1, "extra": 1 })),
        ),
        (
            "POST",
            "/connector/chatgpt/create_alert",
            Some(json!({ "mint": SOL, "kind": "price", "direction": "sideways", "threshold": 1 })),
        ),
        ("GET", "/connector/chatgpt/get_receipt?receipt_id=nope", None),
        ("GET", "/connector/chatgpt/get_portfolio?offset=-1", None),
        ("GET", "/connector/chatgpt/get_portfolio?limit=11", None),
        ("GET", "/connector/chatgpt/get_alerts?limit=51", None),
        ("GET", "/connector/chatgpt/search?query=bonk&offset=abc", None),
        ("GET", "/connector/chatgpt/resolve_token?query=SOL&offset=10001", None),
    ] {
        let reply = call(&app, method, path, &token, body).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert_eq!(reply.body["request_id"], reply.request_id.as_str());
    }
    assert!(receipts_of(&app, user_id).await.is_empty());
    assert!(app.store.list_pending_approvals(user_id, chrono::Utc::now()).await.unwrap().is_empty());
    let tools = ["solana_swap_preview", "solana_resolve_token", "list_my_wallets", "alerts_list", "search"];
    assert_eq!(tools.map(|tool| sandbox.calls(tool)), [0; 5]);
}

#[tokio::test]
async fn upstream_failures_are_clear_json_errors_and_the_receipt_records_them() {
    let (app, sandbox) = app().await;
    let (user_id, _, token) = app.linked_user("pro", true, &ALL).await;

    sandbox.fail_next_with_status(500);
    let reply = call(&app, "GET", "/connector/chatgpt/resolve_token?query=SOL", &token, None).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert_eq!(reply.body["error"], "upstream_unavailable");
    assert_eq!(reply.body["request_id"], reply.request_id.as_str());
    let failed_receipt = reply.body["receipt_ids"][0].as_str().unwrap().to_owned();

    sandbox.delay_next(Duration::from_secs(3));
    let reply = call(&app, "GET", "/connector/chatgpt/resolve_token?query=SOL", &token, None).await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(reply.body["error"], "upstream_timeout");

    sandbox.garble_next();
    let reply = call(&app, "GET", "/connector/chatgpt/resolve_token?query=SOL", &token, None).await;
    assert_eq!(reply.status, 502, "{}", reply.body);

    let receipts = receipts_of(&app, user_id).await;
    assert_eq!(receipts.len(), 3);
    assert!(receipts.iter().all(|r| r["status"] == "error" && r["error_code"].is_string()), "{receipts:?}");
    assert!(receipts.iter().any(|r| r["receipt_id"] == failed_receipt.as_str()));

    // And the next call works: no poisoned session.
    let reply = call(&app, "GET", "/connector/chatgpt/resolve_token?query=SOL", &token, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn a_swap_waits_for_approval_in_dexter_and_runs_exactly_once() {
    let (app, sandbox) = app().await;
    let (user_id, _, token) = app.linked_user("pro", true, &ALL).await;
    let swap =
        json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 0.5, "slippage_bps": 50 });

    let asked = call(&app, "POST", "/connector/chatgpt/swap_execute", &token, Some(swap.clone())).await;
    assert_eq!(asked.status, 202, "{}", asked.body);
    assert_eq!(asked.body["status"], "pending_approval");
    assert!(asked.body["message"].as_str().unwrap().contains("Approve this swap in Dexter"));
    let approval_id = asked.body["approval_id"].as_str().unwrap().to_owned();
    let again = call(&app, "POST", "/connector/chatgpt/swap_execute", &token, Some(swap)).await;
    assert_eq!(again.body["approval_id"], approval_id.as_str(), "a repeated request is the same approval");
    assert_eq!(sandbox.calls("solana_swap_execute"), 0, "nothing executes before approval");

    let session = app.dexter_session(user_id);
    let bell = call(&app, "GET", "/dexter/notifications", &session, None).await;
    let notes = bell.body["notifications"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "one notification for one approval: {}", bell.body);
    let pending = call(&app, "GET", "/dexter/approvals", &session, None).await;
    assert_eq!(pending.body["approvals"][0]["approval_id"], approval_id.as_str());

    // Eight concurrent approvals (double clicks, retries): one execution.
    let approve_path = format!("/dexter/approvals/{approval_id}/approve");
    let approvals = futures_join(&app, &approve_path, &session, 8).await;
    assert!(approvals.iter().all(|r| r.status == 200), "{:?}", approvals.iter().map(|r| &r.body).collect::<Vec<_>>());
    assert_eq!(sandbox.calls("solana_swap_execute"), 1, "the swap ran exactly once");

    let status =
        call(&app, "GET", &format!("/connector/chatgpt/get_swap_status?approval_id={approval_id}"), &token, None).await;
    assert_eq!(status.body["status"], "executed", "{}", status.body);
    assert!(status.body["result"]["signature"].is_string());
    let receipt_id = status.body["receipt_id"].as_str().unwrap();
    let receipt =
        call(&app, "GET", &format!("/connector/chatgpt/get_receipt?receipt_id={receipt_id}"), &token, None).await;
    assert_eq!(receipt.body["status"], "ok");
    assert_eq!(receipt.body["approval_id"], approval_id.as_str());

    // Another user cannot see or approve it.
    let stranger = app.dexter_session(UserId::random());
    assert_eq!(call(&app, "POST", &approve_path, &stranger, None).await.status, 404);
}

async fn futures_join(app: &TestApp, path: &str, session: &str, n: usize) -> Vec<Reply> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        tasks.push(call(app, "POST", path, session, None));
    }
    let mut out = Vec::new();
    // Drive them concurrently.
    let joined = futures_util::future::join_all(tasks).await;
    out.extend(joined);
    out
}

#[tokio::test]
async fn a_rejected_swap_never_runs() {
    let (app, sandbox) = app().await;
    let (user_id, _, token) = app.linked_user("pro", true, &ALL).await;
    let swap = json!({ "input_mint": USDC, "output_mint": SOL, "mode": "ExactOut", "desired_output_ui": 0.25 });
    let asked = call(&app, "POST", "/connector/chatgpt/swap_execute", &token, Some(swap)).await;
    let approval_id = asked.body["approval_id"].as_str().unwrap().to_owned();
    let session = app.dexter_session(user_id);
    let rejected = call(&app, "POST", &format!("/dexter/approvals/{approval_id}/reject"), &session, None).await;
    assert_eq!(rejected.body["status"], "rejected", "{}", rejected.body);
    let late = call(&app, "POST", &format!("/dexter/approvals/{approval_id}/approve"), &session, None).await;
    assert_eq!(late.body["status"], "rejected");
    assert_eq!(sandbox.calls("solana_swap_execute"), 0);
    let status =
        call(&app, "GET", &format!("/connector/chatgpt/get_swap_status?approval_id={approval_id}"), &token, None).await;
    assert_eq!(status.body["status"], "rejected");
}

#[tokio::test]
async fn voice_handoff_is_refused_where_voice_is_disabled() {
    let (app, _sandbox) = app().await;
    let (_, _, token) = app.linked_user("pro", true, &ALL).await;
    let reply =
        call(&app, "POST", "/connector/chatgpt/handoff_voice", &token, Some(json!({ "context": "talk" }))).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["error"], "voice_disabled");
    assert!(reply.body["message"].as_str().unwrap().contains("NEXT_PUBLIC_ENABLE_VOICE"));
}

#[tokio::test]
async fn voice_handoff_links_are_signed_single_use_and_for_one_user() {
    let (app, _sandbox) = app_with(Arc::new(MemoryStore::new()), true).await;
    let (user_id, _, token) = app.linked_user("pro", true, &ALL).await;
    let reply = call(
        &app,
        "POST",
        "/connector/chatgpt/handoff_voice",
        &token,
        Some(json!({ "context": "We were comparing BONK and WIF exposure.", "topic": "memecoins" })),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let url = reqwest::Url::parse(reply.body["url"].as_str().unwrap()).unwrap();
    assert!(url.as_str().starts_with("https://dexter.example/voice?handoff="));
    let link_token = url.query_pairs().find(|(k, _)| k == "handoff").unwrap().1.into_owned();
    let header = jsonwebtoken::decode_header(&link_token).unwrap();
    let key = app.state.config.signing_keys.decoding_key(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&["https://dexter.example/voice"]);
    let claims = jsonwebtoken::decode::<Value>(&link_token, key, &validation).expect("signed by the connector").claims;
    assert_eq!(claims["sub"], user_id.to_string());
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 600);

    let handoff = claims["hid"].as_str().unwrap();
    let path = format!("/dexter/voice-handoffs/{handoff}");
    let stranger = app.dexter_session(UserId::random());
    assert_eq!(call(&app, "GET", &path, &stranger, None).await.status, 404);
    let session = app.dexter_session(user_id);
    let redeemed = call(&app, "GET", &path, &session, None).await;
    assert_eq!(redeemed.status, 200, "the stranger's attempt did not spend the link: {}", redeemed.body);
    assert_eq!(redeemed.body["context"]["topic"], "memecoins");
    assert_eq!(redeemed.body["context"]["context"], "We were comparing BONK and WIF exposure.");
    assert_eq!(call(&app, "GET", &path, &session, None).await.status, 404, "single use");
}
