//! The connector's MCP client (`shared::mcp`) against the sandbox MCP server (`sandbox-mcp`,
//! rmcp's Streamable HTTP server) over real HTTP on 127.0.0.1: the lifecycle, sessions per
//! user, their recovery, every error path, and the sandbox's tool contracts.

use std::time::Duration;

use sandbox_mcp::{Sandbox, SandboxOptions, data};
use serde_json::{Value, json};
use shared::UserId;
use shared::mcp::token::{self, MAX_BEARER_LEN};
use shared::mcp::{McpCaller, McpClient, McpError};

const SECRET: &str = "test-mcp-secret-test-mcp-secret-0123";

async fn sandbox(json_response: bool) -> Sandbox {
    sandbox_mcp::spawn(SECRET, SandboxOptions { json_response, ..SandboxOptions::default() })
        .await
        .expect("the sandbox starts")
}

fn client(sandbox: &Sandbox) -> McpClient {
    client_with(sandbox, SECRET, Duration::from_secs(8))
}

fn client_with(sandbox: &Sandbox, secret: &str, deadline: Duration) -> McpClient {
    McpClient::new(sandbox.url.clone(), secret.into(), shared::tls::client(), deadline)
}

fn caller() -> McpCaller {
    McpCaller { user_id: UserId::random(), scopes: vec!["wallet:read".into(), "mcp:invoke".into()], roles: vec![] }
}

fn tool_code(error: McpError) -> String {
    match error {
        McpError::Tool { code, .. } => code,
        other => panic!("expected a tool error, got {other:?}"),
    }
}

async fn assert_lists_the_callers_wallets(json_response: bool) {
    let sandbox = sandbox(json_response).await;
    let client = client(&sandbox);
    let caller = caller();

    let result = client.call_tool(&caller, "list_my_wallets", json!({})).await.unwrap();

    let user = caller.user_id.to_string();
    assert_eq!(result.structured["user"]["id"], json!(user));
    let wallets = result.structured["wallets"].as_array().unwrap();
    let expected = data::wallets(&user);
    assert_eq!(wallets.len(), 2);
    assert_eq!(wallets[0]["address"], json!(expected[0].address));
    assert_eq!(wallets[0]["public_key"], json!(expected[0].address));
    assert_eq!(wallets[0]["is_default"], json!(true));
    assert_eq!(wallets[1]["is_default"], json!(false));
    assert!(result.latency > Duration::ZERO);
    assert_eq!(sandbox.sessions_created(), 1);
    assert_eq!(sandbox.calls("list_my_wallets"), 1);
}

#[tokio::test]
async fn a_first_call_initialises_a_session_and_reads_a_json_answer() {
    assert_lists_the_callers_wallets(true).await;
}

#[tokio::test]
async fn a_first_call_initialises_a_session_and_reads_an_sse_answer() {
    assert_lists_the_callers_wallets(false).await;
}

#[tokio::test]
async fn two_calls_for_one_user_share_one_session() {
    let sandbox = sandbox(false).await;
    let client = client(&sandbox);
    let caller = caller();

    client.call_tool(&caller, "list_my_wallets", json!({})).await.unwrap();
    client.call_tool(&caller, "search", json!({"query": "bonk"})).await.unwrap();

    assert_eq!(sandbox.sessions_created(), 1);
    assert_eq!(sandbox.calls("search"), 1);
}

#[tokio::test]
async fn each_user_gets_a_session_of_their_own() {
    let sandbox = sandbox(true).await;
    let client = client(&sandbox);
    let (alice, bob) = (caller(), caller());

    let a = client.call_tool(&alice, "list_my_wallets", json!({})).await.unwrap();
    let b = client.call_tool(&bob, "list_my_wallets", json!({})).await.unwrap();
    client.call_tool(&alice, "list_my_wallets", json!({})).await.unwrap();

    // The sandbox refuses a session to anyone but its owner, so bob succeeding on his
    // first try means he did not use alice's.
    assert_eq!(sandbox.sessions_created(), 2);
    assert_eq!(a.structured["user"]["id"], json!(alice.user_id.to_string()));
    assert_eq!(b.structured["user"]["id"], json!(bob.user_id.to_string()));
    assert_ne!(a.structured["wallets"][0]["address"], b.structured["wallets"][0]["address"]);
}

#[tokio::test]
async fn a_session_the_server_forgot_is_replaced_transparently() {
    for json_response in [false, true] {
        let sandbox = sandbox(json_response).await;
        let client = client(&sandbox);
        let caller = caller();
        client.call_tool(&caller, "list_my_wallets", json!({})).await.unwrap();

        sandbox.forget_sessions().await;
        let result = client.call_tool(&caller, "list_my_wallets", json!({})).await.unwrap();

        assert_eq!(result.structured["user"]["id"], json!(caller.user_id.to_string()));
        assert_eq!(sandbox.sessions_created(), 2);
        assert_eq!(sandbox.calls("list_my_wallets"), 2);
    }
}

#[tokio::test]
async fn a_session_lost_to_a_restarted_server_is_replaced_transparently() {
    let first = sandbox(false).await;
    let client = client(&first);
    let caller = caller();
    client.call_tool(&caller, "list_my_wallets", json!({})).await.unwrap();

    // The same address, a new process: bind the freed port again.
    let url = first.url.clone();
    drop(first);
    let address = url.trim_start_matches("http://").trim_end_matches("/mcp").to_owned();
    let listener = bind_again(&address).await;
    let (app, restarted) = sandbox_mcp::router(SECRET.into(), url, SandboxOptions::default());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let result = client.call_tool(&caller, "list_my_wallets", json!({})).await.unwrap();

    assert_eq!(result.structured["user"]["id"], json!(caller.user_id.to_string()));
    assert_eq!(restarted.sessions_created(), 1);
    restarted.shutdown();
}

async fn bind_again(address: &str) -> tokio::net::TcpListener {
    for _ in 0..50 {
        if let Ok(listener) = tokio::net::TcpListener::bind(address).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{address} stayed busy");
}

#[tokio::test]
async fn a_tool_failure_carries_the_tools_own_code() {
    let sandbox = sandbox(false).await;
    let client = client(&sandbox);
    let caller = caller();

    let error = client.call_tool(&caller, "solana_list_balances", json!({})).await.unwrap_err();
    assert_eq!((error.status(), error.code()), (502, "upstream_tool_error"));
    assert_eq!(tool_code(error), "wallet_address_required");

    let preview =
        json!({"input_mint": "NotAMint111", "output_mint": data::USDC_MINT, "mode": "ExactIn", "amount_ui": 1});
    let error = client.call_tool(&caller, "solana_swap_preview", preview).await.unwrap_err();
    assert_eq!(tool_code(error), "unknown_token");

    let too_much =
        json!({"input_mint": data::SOL_MINT, "output_mint": data::USDC_MINT, "mode": "ExactIn", "amount_ui": 1000});
    let error = client.call_tool(&caller, "solana_swap_execute", too_much).await.unwrap_err();
    assert_eq!(error.receipt_status(), "insufficient_balance");
}

#[tokio::test]
async fn a_request_the_server_cannot_route_is_rejected() {
    let sandbox = sandbox(true).await;
    let client = client(&sandbox);

    let error = client.call_tool(&caller(), "no_such_tool", json!({})).await.unwrap_err();
    assert!(matches!(error, McpError::Rejected { .. }), "{error:?}");
    assert_eq!((error.status(), error.code()), (502, "upstream_rejected"));
}

#[tokio::test]
async fn an_upstream_500_is_an_upstream_error_and_the_next_call_works() {
    let sandbox = sandbox(false).await;
    let client = client(&sandbox);
    let caller = caller();
    sandbox.fail_next_with_status(500);

    let error = client.call_tool(&caller, "list_my_wallets", json!({})).await.unwrap_err();
    assert!(matches!(error, McpError::Upstream { status: 500 }), "{error:?}");
    assert_eq!((error.status(), error.code()), (502, "upstream_unavailable"));

    client.call_tool(&caller, "list_my_wallets", json!({})).await.unwrap();
    assert_eq!(sandbox.sessions_created(), 1);
}

#[tokio::test]
async fn a_call_slower_than_the_deadline_times_out() {
    let sandbox = sandbox(false).await;
    let client = client_with(&sandbox, SECRET, Duration::from_millis(500));
    sandbox.delay_next(Duration::from_secs(3));

    let started = std::time::Instant::now();
    let error = client.call_tool(&caller(), "list_my_wallets", json!({})).await.unwrap_err();

    assert!(matches!(error, McpError::Timeout), "{error:?}");
    assert_eq!((error.status(), error.code()), (504, "upstream_timeout"));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_garbled_answer_is_reported_as_malformed() {
    let sandbox = sandbox(true).await;
    let client = client(&sandbox);
    sandbox.garble_next();

    let error = client.call_tool(&caller(), "list_my_wallets", json!({})).await.unwrap_err();

    assert!(matches!(error, McpError::Protocol(_)), "{error:?}");
    assert_eq!((error.status(), error.code()), (502, "upstream_malformed"));
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused_with_401() {
    let sandbox = sandbox(false).await;
    let client = client_with(&sandbox, "a-different-secret-a-different-secret", Duration::from_secs(8));

    let error = client.call_tool(&caller(), "list_my_wallets", json!({})).await.unwrap_err();

    assert!(matches!(error, McpError::Upstream { status: 401 }), "{error:?}");
    assert_eq!(sandbox.calls("list_my_wallets"), 0);
}

#[tokio::test]
async fn an_unreachable_server_is_reported_as_unavailable() {
    let client =
        McpClient::new("http://127.0.0.1:9/mcp".into(), SECRET.into(), shared::tls::client(), Duration::from_secs(8));
    let error = client.call_tool(&caller(), "list_my_wallets", json!({})).await.unwrap_err();
    assert!(matches!(error, McpError::Unreachable(_)), "{error:?}");
    assert_eq!((error.status(), error.code()), (502, "upstream_unavailable"));
}

#[tokio::test]
async fn the_minted_bearer_is_short_and_names_the_user_twice() {
    let sandbox = sandbox(false).await;
    let caller = McpCaller {
        user_id: UserId::random(),
        scopes: vec!["wallet:read mcp:invoke profile".into()],
        roles: vec!["Pro".into(), "beta".into()],
    };
    let secret = SECRET.into();

    let jwt = token::mint(&secret, &sandbox.url, &caller).unwrap();

    assert!(format!("Bearer {jwt}").len() < MAX_BEARER_LEN);
    let claims = token::verify(&secret, &sandbox.url, &jwt).unwrap();
    assert_eq!(claims.sub, caller.user_id.to_string());
    assert_eq!(claims.supabase_user_id, claims.sub);
    assert_eq!((claims.iss.as_str(), claims.aud.as_str()), (sandbox.url.as_str(), sandbox.url.as_str()));
    assert_eq!(claims.scope.as_deref(), Some("wallet:read mcp:invoke profile"));
    assert_eq!(claims.roles, Some(vec!["beta".to_string(), "pro".to_string()]));
    assert!(claims.exp - claims.iat <= 60);
}

#[tokio::test]
async fn sixteen_concurrent_calls_for_one_user_all_succeed_on_one_session() {
    let sandbox = sandbox(false).await;
    let client = client(&sandbox);
    let caller = caller();

    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (client, caller) = (client.clone(), caller.clone());
            tokio::spawn(async move { client.call_tool(&caller, "list_my_wallets", json!({})).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }

    assert_eq!(sandbox.calls("list_my_wallets"), 16);
    assert_eq!(sandbox.sessions_created(), 1);
}

/// POSTs one JSON-RPC message to the sandbox as the holder of `jwt`.
async fn post(sandbox: &Sandbox, jwt: Option<&str>, session: Option<&str>, message: Value) -> reqwest::Response {
    let mut request = shared::tls::client()
        .post(&sandbox.url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .body(message.to_string());
    if let Some(jwt) = jwt {
        request = request.header("authorization", format!("Bearer {jwt}"));
    }
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_sandbox_refuses_missing_bearers_and_other_users_sessions() {
    let sandbox = sandbox(true).await;
    let secret = SECRET.into();
    let alice = token::mint(&secret, &sandbox.url, &caller()).unwrap();
    let bob = token::mint(&secret, &sandbox.url, &caller()).unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_my_wallets", "arguments": {}}});

    let anonymous = post(&sandbox, None, None, initialize.clone()).await;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));

    let created = post(&sandbox, Some(&alice), None, initialize).await;
    assert_eq!(created.status(), 200);
    assert_eq!(created.headers()["content-type"], "application/json");
    let session = created.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let result: Value = created.json().await.unwrap();
    assert_eq!(result["result"]["protocolVersion"], "2025-06-18");

    assert_eq!(post(&sandbox, Some(&bob), Some(&session), call.clone()).await.status(), 403);
    assert_eq!(post(&sandbox, Some(&alice), Some("no-such-session"), call).await.status(), 404);
    assert_eq!(sandbox.calls("list_my_wallets"), 0);
}

#[tokio::test]
async fn balances_are_the_wallets_deterministic_holdings_with_valuations() {
    let sandbox = sandbox(false).await;
    let client = client(&sandbox);
    let caller = caller();
    let wallet = data::wallets(&caller.user_id.to_string())[0].address.clone();

    let result = client.call_tool(&caller, "solana_list_balances", json!({"wallet_address": wallet})).await.unwrap();

    let holdings = data::holdings(&wallet);
    let total: f64 = holdings.iter().map(|h| h.value_usd()).sum();
    let balances = result.structured["balances"].as_array().unwrap();
    assert_eq!(balances.len(), 4);
    let sol = balances.iter().find(|b| b["mint"] == data::SOL_MINT).unwrap();
    assert_eq!(sol["isNative"], json!(true));
    assert_eq!(sol["decimals"], json!(9));
    assert_eq!(sol["amountRaw"], json!(holdings[0].amount_raw.to_string()));
    assert_eq!(result.structured["portfolio"]["totalValueUsd"], json!(data::round(total, 2)));
    assert_eq!(result.structured["portfolio"]["pricedCount"], json!(4));

    let other = data::wallets("someone-else")[0].address.clone();
    let error = client.call_tool(&caller, "solana_list_balances", json!({"wallet_address": other})).await.unwrap_err();
    assert_eq!(tool_code(error), "wallet_not_found");
}

#[tokio::test]
async fn a_swap_is_quoted_from_prices_and_executes_with_a_signature() {
    let sandbox = sandbox(true).await;
    let client = client(&sandbox);
    let caller = caller();
    let swap = json!({"input_mint": data::SOL_MINT, "output_mint": data::USDC_MINT, "mode": "ExactIn", "amount_ui": 1});

    let preview = client.call_tool(&caller, "solana_swap_preview", swap.clone()).await.unwrap().structured;

    // 1 SOL = $150; 0.003% price impact; 0.25% fee on the output.
    assert_eq!(preview["input"]["amountRaw"], "1000000000");
    assert_eq!(preview["priceImpactPct"], json!(0.003));
    assert_eq!(preview["output"]["amountRaw"], "149995500");
    assert_eq!(preview["fee"]["amountRaw"], "374988");
    assert_eq!(preview["netOutput"]["amountRaw"], "149620512");
    assert_eq!(preview["otherAmountThreshold"], "148872409");
    assert_eq!(preview["valuations"]["inputUsd"], json!(150.0));
    assert_eq!(preview["walletAddress"], json!(data::wallets(&caller.user_id.to_string())[0].address));

    let executed = client.call_tool(&caller, "solana_swap_execute", swap).await.unwrap().structured;
    let signature = executed["signature"].as_str().unwrap();
    assert!(signature.len() >= 86);
    assert_eq!(executed["solscanUrl"], json!(format!("https://solscan.io/tx/{signature}")));
    assert_eq!(executed["netOutput"], preview["netOutput"]);
    assert_eq!(sandbox.calls("solana_swap_execute"), 1);

    let exact_out = json!({"input_mint": data::USDC_MINT, "output_mint": data::BONK_MINT, "mode": "ExactOut", "desired_output_ui": 1000000});
    let quote = client.call_tool(&caller, "solana_swap_preview", exact_out).await.unwrap().structured;
    assert_eq!(quote["netOutput"]["amountUi"], json!(1000000.0));
}

#[tokio::test]
async fn tokens_search_streams_and_alerts_answer_in_dexters_shapes() {
    let sandbox = sandbox(false).await;
    let client = client(&sandbox);
    let (alice, bob) = (caller(), caller());

    let tokens = client.call_tool(&alice, "solana_resolve_token", json!({"query": "bonk"})).await.unwrap().structured;
    assert_eq!(tokens["results"][0]["address"], data::BONK_MINT);
    assert_eq!(tokens["results"][0]["symbol"], "BONK");

    let search = client.call_tool(&alice, "search", json!({"query": "what is pump.fun"})).await.unwrap().structured;
    assert_eq!(search["results"].as_array().unwrap().len(), 3);
    assert!(search["answer"].is_string());

    let streams =
        client.call_tool(&alice, "pumpstream_live_summary", json!({"limit": 2, "sort": "viewers"})).await.unwrap();
    assert_eq!(streams.structured["totalReturned"], 2);
    assert_eq!(streams.structured["streams"][0]["symbol"], "DRADIO");

    let created = client
        .call_tool(
            &alice,
            "alerts_create",
            json!({"mint": data::JUP_MINT, "kind": "price", "direction": "above", "threshold": 1.25}),
        )
        .await
        .unwrap()
        .structured;
    assert_eq!(created["alert"]["status"], "active");
    let mine = client.call_tool(&alice, "alerts_list", json!({})).await.unwrap().structured;
    assert_eq!(mine["alerts"], json!([created["alert"].clone()]));
    let theirs = client.call_tool(&bob, "alerts_list", json!({})).await.unwrap().structured;
    assert_eq!(theirs["alerts"], json!([]));
}

#[tokio::test]
async fn the_sandbox_answers_with_an_event_stream_unless_asked_for_json() {
    let sandbox = sandbox(false).await;
    let jwt = token::mint(&SECRET.into(), &sandbox.url, &caller()).unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});

    let answer = post(&sandbox, Some(&jwt), None, initialize).await;

    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert!(answer.headers().contains_key("mcp-session-id"));
}
