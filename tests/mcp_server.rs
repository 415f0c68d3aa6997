//! The connector as a remote MCP server (`/mcp`), end to end over HTTP against a real
//! upstream (the rmcp sandbox): JSON-RPC conformance and version negotiation, the 405s,
//! Origin refusal, the RFC 9728 metadata and 401/403 challenges, RFC 8707 audiences both
//! ways, a public client linking with PKCE and `resource` through the real pages, tool
//! results with receipts and `isError`, `swap_execute` creating an approval; and the
//! official MCP Python SDK as the client (`tests/mcp_client.py`).

use std::sync::Arc;
use std::time::Duration;

use oauth2::PkceCodeChallenge;
use sandbox_mcp::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use shared::ids::{ClientId, GrantId, UserId};
use shared::store::memory::MemoryStore;
use shared::store::{OAuthClient, Profile, Store};
use testkit::app::{Options, TestApp, spawn_app};
use testkit::browser::Browser;
use testkit::db::TestDatabase;
use uuid::Uuid;

const MCP_SECRET: &str = "sandbox-mcp-secret-0123456789abcdef-xyz";
const SOL: &str = "So11111111111111111111111111111111111111112";
const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
const ALL: [&str; 3] = ["mcp:invoke", "wallet:read", "profile"];
const LOOPBACK_REDIRECT: &str = "http://127.0.0.1:33418/callback";

async fn app_on(store: Arc<dyn Store>) -> (TestApp, Sandbox) {
    let sandbox =
        sandbox_mcp::spawn(secrecy::SecretString::from(MCP_SECRET), SandboxOptions::default()).await.expect("sandbox");
    let options = Options {
        mcp: Some((sandbox.url.clone(), MCP_SECRET.into())),
        mcp_timeout_ms: Some(1500),
        ..Options::default()
    };
    (spawn_app(store, options).await, sandbox)
}

async fn app() -> (TestApp, Sandbox) {
    app_on(Arc::new(MemoryStore::new())).await
}

/// A user with a profile whose channels are `channels`, a grant for `client_id`, and an
/// access token for the MCP endpoint (`mcp`) or the GPT actions.
async fn linked(
    app: &TestApp,
    client_id: &ClientId,
    tier: &str,
    channels: Value,
    scopes: &[&str],
    mcp: bool,
) -> (UserId, GrantId, String) {
    let user_id = UserId::random();
    app.store
        .upsert_profile(&Profile {
            user_id,
            email: Some(format!("{user_id}@example.com")),
            tier: tier.into(),
            channels,
        })
        .await
        .expect("profile");
    let now = chrono::Utc::now();
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    let grant = shared::store::Grant {
        id: GrantId::random(),
        user_id,
        client_id: client_id.clone(),
        scopes: scopes.clone(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    app.store.create_grant(&grant).await.expect("grant");
    let aud = if mcp {
        shared::oauth::access_token::mcp_audience(&app.base_url)
    } else {
        shared::oauth::access_token::audience(&app.base_url)
    };
    let token = shared::oauth::access_token::issue_for(
        &app.state.config.signing_keys,
        &app.base_url,
        &aud,
        user_id,
        &grant.client_id,
        grant.id,
        &scopes,
        now,
    )
    .expect("token");
    (user_id, grant.id, token)
}

/// A `pro` user of an MCP client with the MCP channel on, and an MCP token with every scope.
async fn mcp_user(app: &TestApp) -> (UserId, GrantId, String) {
    let (client_id, _) = mcp_client(app).await;
    linked(app, &client_id, "pro", json!({ "mcp": true }), &ALL, true).await
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_default()
    }
}

/// POSTs one JSON-RPC message to `/mcp` with `headers`.
async fn post(app: &TestApp, token: Option<&str>, headers: &[(&str, &str)], message: Value) -> Reply {
    let mut request = shared::tls::client()
        .post(format!("{}/mcp", app.base_url))
        .header("accept", "application/json, text/event-stream")
        .json(&message);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.send().await.expect("the connector answers")).await
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
}

async fn rpc(app: &TestApp, token: &str, method: &str, params: Value) -> Reply {
    post(
        app,
        Some(token),
        &[("mcp-protocol-version", "2025-06-18")],
        json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params }),
    )
    .await
}

/// A `tools/call`: the HTTP reply, whose `body.result` is the tool result.
async fn call_tool(app: &TestApp, token: &str, name: &str, arguments: Value) -> Reply {
    rpc(app, token, "tools/call", json!({ "name": name, "arguments": arguments })).await
}

async fn receipts_of(app: &TestApp, user_id: UserId) -> Vec<Value> {
    let response = shared::tls::client()
        .get(format!("{}/dexter/receipts?limit=100", app.base_url))
        .bearer_auth(app.dexter_session(user_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["receipts"].as_array().unwrap().clone()
}

#[tokio::test]
async fn initialize_negotiates_the_revision_and_the_server_answers_json_rpc() {
    let (app, _sandbox) = app().await;
    let (_, _, token) = mcp_user(&app).await;
    for (asked, answered) in [("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"), ("2024-11-05", "2025-11-25")]
    {
        let init = json!({ "jsonrpc": "2.0", "id": "init-1", "method": "initialize", "params": {
            "protocolVersion": asked, "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } } });
        let reply = post(&app, Some(&token), &[], init).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.header("content-type").starts_with("application/json"));
        assert_eq!(reply.body["jsonrpc"], "2.0");
        assert_eq!(reply.body["id"], "init-1");
        assert_eq!(reply.body["result"]["protocolVersion"], answered, "{asked}");
        assert_eq!(reply.body["result"]["capabilities"]["tools"]["listChanged"], false);
        assert_eq!(reply.body["result"]["serverInfo"]["name"], "dexter-connector");
        assert!(reply.headers.get("mcp-session-id").is_none(), "stateless: no session");
    }

    let initialized = post(
        &app,
        Some(&token),
        &[("mcp-protocol-version", "2025-11-25")],
        json!({
        "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await;
    assert_eq!(initialized.status, 202);
    assert_eq!(initialized.body, Value::Null);

    let ping = rpc(&app, &token, "ping", json!({})).await;
    assert_eq!((ping.status, &ping.body["id"], &ping.body["result"]), (200, &json!(7), &json!({})));

    let unknown = rpc(&app, &token, "resources/list", json!({})).await;
    assert_eq!(unknown.body["error"]["code"], -32601, "{}", unknown.body);

    let bad_version = post(
        &app,
        Some(&token),
        &[("mcp-protocol-version", "1999-01-01")],
        json!({
        "jsonrpc": "2.0", "id": 1, "method": "ping" }),
    )
    .await;
    assert_eq!(bad_version.status, 400);
    assert_eq!(bad_version.body["error"]["code"], -32600);

    let garbage = shared::tls::client()
        .post(format!("{}/mcp", app.base_url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let garbage = reply(garbage).await;
    assert_eq!((garbage.status, &garbage.body["error"]["code"]), (400, &json!(-32700)));

    let batch = post(&app, Some(&token), &[], json!([{ "jsonrpc": "2.0", "id": 1, "method": "ping" }])).await;
    assert_eq!((batch.status, &batch.body["error"]["code"]), (400, &json!(-32600)));

    let unknown_tool = call_tool(&app, &token, "delete_everything", json!({})).await;
    assert_eq!(unknown_tool.body["error"]["code"], -32602, "{}", unknown_tool.body);
}

#[tokio::test]
async fn get_and_delete_answer_405_for_a_server_without_stream_or_sessions() {
    let (app, _sandbox) = app().await;
    let (_, _, token) = mcp_user(&app).await;
    let http = shared::tls::client();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let response = http
            .request(method.clone(), format!("{}/mcp", app.base_url))
            .bearer_auth(&token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed");
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{body}");
    }
}

#[tokio::test]
async fn a_foreign_browser_origin_is_refused_and_changes_nothing() {
    let (app, sandbox) = app().await;
    let (user_id, _, token) = mcp_user(&app).await;
    for origin in ["https://evil.example", "http://localhost:1", "null"] {
        let refused = call_tool(&app, &token, "resolve_token", json!({ "query": "SOL" })).await;
        assert_eq!(refused.status, 200, "without Origin the call works");
        let refused = post(&app, Some(&token), &[("origin", origin)], json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "resolve_token", "arguments": { "query": "SOL" } } })).await;
        assert_eq!(refused.status, 403, "{origin}");
    }
    assert_eq!(sandbox.calls("solana_resolve_token"), 3, "only the calls without a foreign Origin ran");
    assert_eq!(receipts_of(&app, user_id).await.len(), 3);
    let own =
        post(&app, Some(&token), &[("origin", &app.base_url)], json!({ "jsonrpc": "2.0", "id": 1, "method": "ping" }))
            .await;
    assert_eq!(own.status, 200, "{}", own.body);
}

#[tokio::test]
async fn without_a_token_the_challenge_names_the_protected_resource_metadata() {
    let (app, _sandbox) = app().await;
    let base = &app.base_url;
    let ping = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {} });
    let bare = post(&app, None, &[], ping.clone()).await;
    assert_eq!(bare.status, 401);
    assert_eq!(
        bare.header("www-authenticate"),
        format!(
            r#"Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp", scope="mcp:invoke wallet:read profile""#
        )
    );
    let forged = post(&app, Some("eyJhbGciOiJub25lIn0.e30."), &[], ping).await;
    assert_eq!(forged.status, 401);
    assert!(forged.header("www-authenticate").contains(r#"error="invalid_token""#));

    let http = shared::tls::client();
    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
        let document: Value = http.get(format!("{base}{path}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(document["resource"], format!("{base}/mcp"), "{path}");
        assert_eq!(document["authorization_servers"], json!([base]));
        assert_eq!(document["scopes_supported"], json!(ALL));
        assert_eq!(document["bearer_methods_supported"], json!(["header"]));
        assert_eq!(document["resource_name"], "Dexter");
    }
    // The authorization server it names publishes its metadata where RFC 8414 says.
    let metadata: Value =
        http.get(format!("{base}/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["issuer"], base.as_str());
}

#[tokio::test]
async fn audiences_are_separate_both_ways() {
    let (app, sandbox) = app().await;
    let gpt = app.client_id().await;
    let (user_id, _, gpt_token) = linked(&app, &gpt, "pro", json!({ "chatgpt": true, "mcp": true }), &ALL, false).await;
    let refused = rpc(&app, &gpt_token, "tools/list", json!({})).await;
    assert_eq!(refused.status, 401, "a GPT actions token is refused at /mcp");
    assert!(refused.header("www-authenticate").contains("resource_metadata="));

    let (mcp_user_id, _, mcp_token) = mcp_user(&app).await;
    let refused = shared::tls::client()
        .get(format!("{}/connector/chatgpt/resolve_token?query=SOL", app.base_url))
        .bearer_auth(&mcp_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "an MCP token is refused by the GPT actions");
    assert_eq!(sandbox.calls("solana_resolve_token"), 0);
    assert!(receipts_of(&app, user_id).await.is_empty() && receipts_of(&app, mcp_user_id).await.is_empty());
}

#[tokio::test]
async fn tools_are_the_declared_actions_with_the_specs_schemas() {
    let (app, _sandbox) = app().await;
    let (_, _, token) = mcp_user(&app).await;
    let listed = rpc(&app, &token, "tools/list", json!({})).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let tools = listed.body["result"]["tools"].as_array().unwrap();
    let spec = shared::openapi::served(&app.base_url);
    assert_eq!(tools.len(), shared::actions::ACTIONS.len());
    for (tool, action) in tools.iter().zip(shared::actions::ACTIONS) {
        assert_eq!(tool["name"], action.name);
        let operation = &spec["paths"][action.path()][action.method.as_str().to_ascii_lowercase()];
        let success = action.success.0.to_string();
        assert_eq!(tool["outputSchema"], operation["responses"][&success]["content"]["application/json"]["schema"]);
        match operation.get("requestBody") {
            Some(body) => assert_eq!(tool["inputSchema"], body["content"]["application/json"]["schema"]),
            None => {
                let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
                let properties = tool["inputSchema"]["properties"].as_object().unwrap();
                assert_eq!(properties.len(), parameters.len(), "{}", action.name);
                for parameter in parameters {
                    let mut schema = parameter["schema"].clone();
                    schema["description"] = parameter["description"].clone();
                    assert_eq!(properties[parameter["name"].as_str().unwrap()], schema);
                    let required = tool["inputSchema"]["required"].as_array().unwrap().contains(&parameter["name"]);
                    assert_eq!(required, parameter["required"] == true);
                }
            }
        }
        let annotations = &tool["annotations"];
        assert_eq!(annotations["readOnlyHint"], action.method == http::Method::GET, "{}", action.name);
    }
    let swap = tools.iter().find(|t| t["name"] == "swap_execute").unwrap();
    assert_eq!(swap["annotations"]["readOnlyHint"], false);
    assert_eq!(swap["annotations"]["destructiveHint"], true);
    assert_eq!(swap["annotations"]["openWorldHint"], true);
}

#[tokio::test]
async fn a_tool_call_is_the_action_with_receipts_and_failures_are_tool_errors() {
    let (app, sandbox) = app().await;
    let (user_id, _, token) = mcp_user(&app).await;
    let reply = call_tool(&app, &token, "resolve_token", json!({ "query": "SOL", "limit": 2 })).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let result = &reply.body["result"];
    assert_eq!(result["isError"], false, "{result}");
    let structured = &result["structuredContent"];
    let returned = structured["results"].as_array().unwrap().len();
    assert!((1..=2).contains(&returned) && structured["returned"] == returned, "{structured}");
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(&text, structured);
    let receipt_ids = structured["receipt_ids"].as_array().unwrap();
    assert_eq!(receipt_ids.len(), 1);
    let receipts = receipts_of(&app, user_id).await;
    assert_eq!(receipts[0]["receipt_id"], receipt_ids[0]);
    assert_eq!(receipts[0]["action"], "resolve_token");
    assert_eq!(receipts[0]["request_id"], reply.header("x-request-id"), "the receipt carries the /mcp request id");

    // Bad arguments: the action's invalid_request, as a tool error; nothing called.
    let bad = call_tool(&app, &token, "resolve_token", json!({ "query": "SOL", "limit": 99 })).await;
    assert_eq!(bad.body["result"]["isError"], true, "{}", bad.body);
    assert_eq!(bad.body["result"]["structuredContent"]["error"], "invalid_request");
    assert_eq!(bad.body["result"]["structuredContent"]["request_id"], bad.header("x-request-id"));
    let not_object = call_tool(&app, &token, "resolve_token", json!(["SOL"])).await;
    assert_eq!(not_object.body["result"]["structuredContent"]["error"], "invalid_request");
    assert_eq!(sandbox.calls("solana_resolve_token"), 1);

    // An upstream timeout: the same code, its receipt id included.
    sandbox.delay_next(Duration::from_secs(3));
    let slow = call_tool(&app, &token, "resolve_token", json!({ "query": "SOL" })).await;
    let slow = &slow.body["result"];
    assert_eq!(slow["isError"], true);
    assert_eq!(slow["structuredContent"]["error"], "upstream_timeout");
    assert_eq!(slow["structuredContent"]["receipt_ids"].as_array().unwrap().len(), 1);

    // Every read tool answers.
    let profile = call_tool(&app, &token, "get_profile", json!({})).await;
    assert_eq!(profile.body["result"]["structuredContent"]["user_id"], user_id.to_string());
    let portfolio = call_tool(&app, &token, "get_portfolio", json!({})).await;
    assert!(!portfolio.body["result"]["structuredContent"]["wallets"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn tiers_and_channels_gate_mcp_clients_like_chatgpt() {
    let (app, sandbox) = app().await;
    let swap = json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.0 });
    let (client_id, _) = mcp_client(&app).await;
    let (free_user, _, free) = linked(&app, &client_id, "free", json!({ "mcp": true }), &ALL, true).await;
    let refused = call_tool(&app, &free, "swap_execute", swap.clone()).await;
    assert_eq!(refused.body["result"]["isError"], true, "{}", refused.body);
    assert_eq!(refused.body["result"]["structuredContent"]["error"], "tool_not_allowed");

    // channels.mcp gates MCP clients; channels.chatgpt alone does not open it.
    let (off_user, _, off) =
        linked(&app, &client_id, "pro", json!({ "chatgpt": true, "mcp": false }), &ALL, true).await;
    let refused = call_tool(&app, &off, "resolve_token", json!({ "query": "SOL" })).await;
    assert_eq!(refused.body["result"]["structuredContent"]["error"], "channel_disabled", "{}", refused.body);
    assert!(refused.body["result"]["structuredContent"]["message"].as_str().unwrap().contains("channels.mcp"));
    // ChatGPT's own clients (redirecting to chatgpt.com) are gated by channels.chatgpt,
    // over MCP as over the GPT actions.
    let gpt = app.client_id().await;
    let (_, _, chatgpt_off) = linked(&app, &gpt, "pro", json!({ "chatgpt": false, "mcp": true }), &ALL, true).await;
    let refused = call_tool(&app, &chatgpt_off, "resolve_token", json!({ "query": "SOL" })).await;
    assert!(refused.body["result"]["structuredContent"]["message"].as_str().unwrap().contains("channels.chatgpt"));
    let (_, _, chatgpt_on) = linked(&app, &gpt, "pro", json!({ "chatgpt": true }), &ALL, true).await;
    let allowed = call_tool(&app, &chatgpt_on, "get_profile", json!({})).await;
    assert_eq!(allowed.body["result"]["isError"], false, "{}", allowed.body);
    assert_eq!(sandbox.calls("solana_resolve_token"), 0);
    assert!(receipts_of(&app, off_user).await.is_empty());
    assert_eq!(receipts_of(&app, free_user).await.len(), 0, "a refused call leaves no approval and no receipt");
}

#[tokio::test]
async fn insufficient_scope_is_a_403_step_up_challenge() {
    let (app, sandbox) = app().await;
    let (client_id, _) = mcp_client(&app).await;
    let (user_id, _, token) = linked(&app, &client_id, "pro", json!({ "mcp": true }), &["profile"], true).await;
    let allowed = call_tool(&app, &token, "get_profile", json!({})).await;
    assert_eq!(allowed.body["result"]["isError"], false, "{}", allowed.body);
    let refused = call_tool(&app, &token, "get_portfolio", json!({})).await;
    assert_eq!(refused.status, 403);
    let challenge = refused.header("www-authenticate");
    assert!(challenge.starts_with(r#"Bearer error="insufficient_scope", scope="wallet:read""#), "{challenge}");
    assert!(
        challenge
            .contains(&format!(r#"resource_metadata="{}/.well-known/oauth-protected-resource/mcp""#, app.base_url))
    );
    assert_eq!(sandbox.calls("solana_list_balances"), 0);
    assert!(receipts_of(&app, user_id).await.is_empty());
}

#[tokio::test]
async fn swap_execute_through_mcp_only_creates_the_approval() {
    let (app, sandbox) = app().await;
    let (user_id, _, token) = mcp_user(&app).await;
    let swap = json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 1.0, "idempotency_key": "mcp-1" });
    let asked = call_tool(&app, &token, "swap_execute", swap.clone()).await;
    let result = &asked.body["result"];
    assert_eq!(result["isError"], false, "{result}");
    let approval_id = result["structuredContent"]["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(sandbox.calls("solana_swap_execute"), 0, "nothing executes before approval");
    let again = call_tool(&app, &token, "swap_execute", swap).await;
    assert_eq!(again.body["result"]["structuredContent"]["approval_id"], approval_id.as_str());

    let status = call_tool(&app, &token, "get_swap_status", json!({ "approval_id": approval_id })).await;
    assert_eq!(status.body["result"]["structuredContent"]["status"], "pending_approval", "{}", status.body);
    let pending = shared::tls::client()
        .get(format!("{}/dexter/approvals", app.base_url))
        .bearer_auth(app.dexter_session(user_id))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(pending["approvals"][0]["approval_id"], approval_id.as_str());
}

#[tokio::test]
async fn the_upstream_gets_its_own_token_never_the_clients_and_failures_tell_nothing_internal() {
    let (app, sandbox) = app().await;
    let (user_id, _, token) = mcp_user(&app).await;
    for (name, arguments) in [("get_portfolio", json!({})), ("resolve_token", json!({ "query": "SOL" }))] {
        let reply = call_tool(&app, &token, name, arguments).await;
        assert_eq!(reply.body["result"]["isError"], false, "{name}: {}", reply.body);
    }

    // No token passthrough: dexter-mcp sees the connector's own short-lived HS256 JWT for
    // its URL, naming the user, never the access token the MCP client presented.
    let bearers = sandbox.bearers_received();
    assert!(!bearers.is_empty());
    let secret = secrecy::SecretString::from(MCP_SECRET);
    for bearer in &bearers {
        assert!(!bearer.contains(&token) && !token.contains(bearer.as_str()), "the client's token went upstream");
        let claims =
            shared::mcp::token::verify(&secret, &sandbox.url, bearer).expect("a Dexter MCP JWT for the upstream");
        assert_eq!((claims.sub, claims.supabase_user_id), (user_id.to_string(), user_id.to_string()));
        assert_eq!(claims.exp - claims.iat, shared::mcp::token::TOKEN_LIFETIME_SECONDS, "one minute");
    }
    // The client's token is not one the upstream would take either.
    assert!(shared::mcp::token::verify(&secret, &sandbox.url, &token).is_err());

    // An upstream failure is a tool error with a stable code and a generic message: not
    // the upstream's body, its address, the cause chain or any token.
    sandbox.fail_next_with_status(500);
    let failed = call_tool(&app, &token, "resolve_token", json!({ "query": "SOL" })).await;
    sandbox.garble_next();
    let garbled = call_tool(&app, &token, "resolve_token", json!({ "query": "SOL" })).await;
    for (reply, code) in [(&failed, "upstream_unavailable"), (&garbled, "upstream_malformed")] {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["result"]["isError"], true, "{}", reply.body);
        assert_eq!(reply.body["result"]["structuredContent"]["error"], code);
        let text = reply.body.to_string();
        for internal in ["sandbox: injected failure", "127.0.0.1", "Caused by", MCP_SECRET, &token] {
            assert!(!text.contains(internal), "{code} tells {internal:?}: {text}");
        }
    }

    // A body over the connector's 100 KiB cap is refused before anything reads it.
    let big = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": { "name": "resolve_token", "arguments": { "query": "x".repeat(200 * 1024) } } });
    let refused = post(&app, Some(&token), &[], big).await;
    assert_eq!((refused.status, &refused.body["error"]), (413, &json!("payload_too_large")), "{}", refused.body);
    assert_eq!(sandbox.calls("solana_resolve_token"), 1, "only the first resolve_token reached a tool");
}

// ---- Linking through the real pages with PKCE and `resource` ----

/// An operator-created MCP client returning to a loopback address (confidential:
/// registration of public and self-describing clients is a separate part of the issue).
async fn mcp_client(app: &TestApp) -> (ClientId, String) {
    let id = ClientId::from(format!("mcp-test-{}", &Uuid::new_v4().simple().to_string()[..8]));
    let secret = shared::tokens::generate("dxcs_");
    app.store
        .create_client(&OAuthClient {
            id: id.clone(),
            name: "An MCP client".into(),
            secret_hash: shared::TokenHash::of(&secret),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec![LOOPBACK_REDIRECT.into()],
            scopes: ALL.map(str::to_owned).to_vec(),
            created_at: chrono::Utc::now(),
            public: false,
        })
        .await
        .expect("client");
    (id, secret)
}

/// Signs in and allows through the pages; answers the redirect's query pairs.
async fn authorize(
    app: &TestApp,
    client_id: &ClientId,
    email: &str,
    extra: &[(&str, &str)],
) -> (Vec<(String, String)>, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = reqwest::Url::parse(&format!("{}/oauth/chatgpt/authorize", app.base_url)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id.as_str())
        .append_pair("redirect_uri", LOOPBACK_REDIRECT)
        .append_pair("state", "mcp-state-1")
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    for (name, value) in extra {
        url.query_pairs_mut().append_pair(name, value);
    }
    let mut browser = Browser::default();
    let to_login = browser.get(url.as_str()).await;
    if to_login.status != 303 || !to_login.location.as_deref().unwrap_or_default().starts_with('/') {
        let location = to_login.location.unwrap_or_default();
        let pairs = reqwest::Url::parse(&location).map(|u| u.query_pairs().into_owned().collect()).unwrap_or_default();
        return (pairs, verifier.secret().clone());
    }
    let login = browser.get(&format!("{}{}", app.base_url, to_login.location.unwrap())).await;
    let (request, csrf) = (login.field("request"), login.field("csrf"));
    let turnstile = app.siteverify.issue_token();
    browser
        .post_form(
            &format!("{}/oauth/chatgpt/login", app.base_url),
            &[("request", &request), ("csrf", &csrf), ("email", email), ("cf-turnstile-response", &turnstile)],
        )
        .await;
    let user_id = app.supabase.user_id_for(email).expect("Supabase knows the user");
    app.store
        .upsert_profile(&Profile {
            user_id,
            email: Some(email.into()),
            tier: "pro".into(),
            channels: json!({ "mcp": true }),
        })
        .await
        .unwrap();
    let code = app.supabase.last_code_for(email).expect("an emailed code");
    let to_consent = browser
        .post_form(
            &format!("{}/oauth/chatgpt/callback", app.base_url),
            &[("request", &request), ("csrf", &csrf), ("code", &code)],
        )
        .await;
    let consent = browser.get(&format!("{}{}", app.base_url, to_consent.location.unwrap())).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let back = browser
        .post_form(
            &format!("{}/oauth/chatgpt/consent", app.base_url),
            &[("request", &consent.field("request")), ("csrf", &consent.field("csrf")), ("decision", "allow")],
        )
        .await;
    let location = back.location.expect("a redirect back");
    assert!(location.starts_with(LOOPBACK_REDIRECT), "{location}");
    (reqwest::Url::parse(&location).unwrap().query_pairs().into_owned().collect(), verifier.secret().clone())
}

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> Reply {
    reply(shared::tls::client().post(format!("{}/oauth/chatgpt/token", app.base_url)).form(form).send().await.unwrap())
        .await
}

fn audience_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    claims["aud"].as_str().unwrap().to_owned()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn an_mcp_client_links_with_pkce_and_resource(store: Arc<dyn Store>) {
    let (app, _sandbox) = app_on(store).await;
    let (client_id, secret) = mcp_client(&app).await;
    let resource = format!("{}/mcp", app.base_url);
    let email = format!("mcp-{}@example.com", &Uuid::new_v4().simple().to_string()[..8]);
    // A reconnect that sends no scope gets the client's default scopes.
    let (pairs, verifier) = authorize(&app, &client_id, &email, &[("resource", &resource)]).await;
    let code = param(&pairs, "code").expect("a code").to_owned();
    assert_eq!(param(&pairs, "state"), Some("mcp-state-1"));

    // A resource this server does not serve is invalid_target, and the code survives it.
    let exchange = |resource: String| {
        let (code, verifier, client_id, secret) = (code.clone(), verifier.clone(), client_id.clone(), secret.clone());
        let app = &app;
        async move {
            token_request(
                app,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", LOOPBACK_REDIRECT),
                    ("code_verifier", &verifier),
                    ("client_id", client_id.as_str()),
                    ("client_secret", &secret),
                    ("resource", &resource),
                ],
            )
            .await
        }
    };
    let foreign = exchange("https://evil.example/mcp".into()).await;
    assert_eq!((foreign.status, &foreign.body["error"]), (400, &json!("invalid_target")), "{}", foreign.body);
    let tokens = exchange(resource.clone()).await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    assert_eq!(tokens.body["scope"], "mcp:invoke wallet:read profile");
    let access = tokens.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(audience_of(&access), resource);

    let listed = rpc(&app, &access, "tools/list", json!({})).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let profile = call_tool(&app, &access, "get_profile", json!({})).await;
    assert_eq!(profile.body["result"]["structuredContent"]["tier"], "pro", "{}", profile.body);

    // A refresh naming the resource again keeps the MCP audience; without it, the actions'.
    let refresh = tokens.body["refresh_token"].as_str().unwrap().to_owned();
    let refreshed = token_request(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", client_id.as_str()),
            ("client_secret", &secret),
            ("resource", &resource),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let access = refreshed.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(audience_of(&access), resource);
    assert_eq!(rpc(&app, &access, "ping", json!({})).await.status, 200);

    // Revoking the link in Dexter cuts the MCP client off.
    let user_id = app.supabase.user_id_for(&email).unwrap();
    let http = shared::tls::client();
    let session = app.dexter_session(user_id);
    let linked: Value = http
        .get(format!("{}/dexter/linked-accounts", app.base_url))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grant_id = linked["linked_accounts"][0]["grant_id"].as_str().expect("the link is listed").to_owned();
    let revoked = http
        .delete(format!("{}/dexter/linked-accounts/{grant_id}", app.base_url))
        .bearer_auth(&session)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let cut = rpc(&app, &access, "tools/list", json!({})).await;
    assert_eq!(cut.status, 401);
    // A tool call is refused by the action's own grant check; a call the action would not
    // run (an unknown tool) by /mcp's: either way a 401, nothing else learnt.
    for name in ["get_profile", "no_such_tool"] {
        let call = call_tool(&app, &access, name, json!({})).await;
        assert_eq!(call.status, 401, "{name}");
        assert!(call.header("www-authenticate").contains("invalid_token"), "{name}");
    }
}

#[tokio::test]
async fn an_mcp_client_links_with_pkce_and_resource_on_memory() {
    an_mcp_client_links_with_pkce_and_resource(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn an_mcp_client_links_with_pkce_and_resource_on_postgres() {
    let (_db, store) = TestDatabase::migrated().await;
    an_mcp_client_links_with_pkce_and_resource(Arc::new(store)).await;
}

#[tokio::test]
async fn authorize_refuses_an_unknown_resource_with_invalid_target() {
    let (app, _sandbox) = app().await;
    let (client_id, _) = mcp_client(&app).await;
    let email = format!("mcp-{}@example.com", &Uuid::new_v4().simple().to_string()[..8]);
    let (pairs, _) = authorize(&app, &client_id, &email, &[("resource", "https://evil.example/mcp")]).await;
    assert_eq!(param(&pairs, "error"), Some("invalid_target"));
    assert_eq!(param(&pairs, "state"), Some("mcp-state-1"));
    assert!(param(&pairs, "code").is_none());
}

// ---- The official MCP Python SDK as the client ----

#[tokio::test]
async fn the_mcp_python_sdk_lists_tools_and_calls_every_read_tool() {
    let (app, _sandbox) = app().await;
    let (user_id, _, token) = mcp_user(&app).await;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/mcp_client.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(format!("{}/mcp", app.base_url))
        .env("MCP_TOKEN", &token)
        .output()
        .await
        .expect("python from .venv runs (pip install -r scripts/requirements-test.txt)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the SDK client failed:\n{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("the client prints its report as JSON");
    assert_eq!(report["protocol_version"], "2025-11-25");
    let names: Vec<&str> = shared::actions::ACTIONS.iter().map(|a| a.name).collect();
    assert_eq!(report["tools"], json!(names));
    let called = report["called"].as_object().unwrap();
    for action in shared::actions::ACTIONS.iter().filter(|a| a.method == http::Method::GET) {
        let result = &called[action.name];
        assert_eq!(result["is_error"], false, "{}: {result}", action.name);
    }
    assert!(called["swap_execute"]["structured"]["approval_id"].is_string(), "{report}");
    let receipt_count: usize =
        called.values().map(|r| r["structured"]["receipt_ids"].as_array().map_or(0, Vec::len)).sum();
    assert!(receipt_count > 0);
    assert_eq!(receipts_of(&app, user_id).await.len(), receipt_count, "every receipt the SDK saw is stored");
    assert_eq!(report["refused"]["is_error"], true);
    assert_eq!(report["refused"]["structured"]["error"], "invalid_request");
}
