//! Attacks through action inputs: idempotency-key reuse, oversized answers, fan-out.
//!
//! The target is `connector serve` on Postgres, calling a sandbox MCP server this test
//! steers ([`sandbox_mcp::Oversize`]: an upstream that returns far too much). The
//! attacker holds a valid ChatGPT link (a prompt-injected GPT, or a GPT the user
//! linked); each test checks what the attacker gets and, through the store and the
//! sandbox's call counts, that nothing else happened.

use std::sync::Arc;

use chrono::Utc;
use sandbox_mcp::{Oversize, Sandbox, SandboxOptions};
use serde_json::{Value, json};
use shared::keys::SigningKeys;
use shared::store::{ApprovalOutcome, ApprovalStatus, Grant, PgStore, Profile, Store};
use shared::{ClientId, GrantId, UserId};
use testkit::db::TestDatabase;
use testkit::serve::Served;

const MCP_SECRET: &str = "attack-inputs-mcp-secret-0123456789abcdef";
const SOL: &str = "So11111111111111111111111111111111111111112";
const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
const BONK: &str = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263";
/// ChatGPT's limit on an action's response, in characters.
const CHATGPT_LIMIT: usize = 100_000;

/// `connector serve` on its own database, calling its own sandbox.
struct Target {
    served: Served,
    sandbox: Sandbox,
    store: Arc<dyn Store>,
    keys: SigningKeys,
    _db: TestDatabase,
}

/// One answer: status, body (as text and JSON) and the `x-request-id` header.
struct Reply {
    status: u16,
    text: String,
    body: Value,
    request_id: String,
}

async fn target() -> Target {
    let db = TestDatabase::create().await;
    let sandbox = sandbox_mcp::spawn(secrecy::SecretString::from(MCP_SECRET), SandboxOptions::default())
        .await
        .expect("the sandbox MCP server starts");
    let jwk = SigningKeys::generate_jwk();
    let keys_text = json!([jwk]).to_string();
    let mut env = testkit::lambda_env(db.url(), &keys_text);
    for (name, value) in env.iter_mut() {
        match name.as_str() {
            "MCP_URL" => *value = sandbox.url.clone(),
            "MCP_JWT_SECRET" => *value = MCP_SECRET.to_owned(),
            _ => {}
        }
    }
    // `connector serve` migrates the database before it listens.
    let served = testkit::serve::start(&env).await;
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(db.url(), false).expect("store"));
    let keys = SigningKeys::from_json(&keys_text).expect("keys");
    Target { served, sandbox, store, keys, _db: db }
}

impl Target {
    /// A Dexter user on the pro tier who linked ChatGPT (the dev client `connector serve`
    /// seeds), and an access token of that link: what the attacker holds.
    async fn linked_user(&self) -> (UserId, String) {
        let user_id = UserId::random();
        let profile = Profile {
            user_id,
            email: Some(format!("{user_id}@example.com")),
            tier: "pro".into(),
            channels: json!({ "chatgpt": true }),
        };
        self.store.upsert_profile(&profile).await.expect("profile");
        let scopes: Vec<String> = ["mcp:invoke", "wallet:read", "profile"].map(String::from).to_vec();
        let client_id = ClientId::from("chatgpt-dev");
        let grant = Grant {
            id: GrantId::random(),
            user_id,
            client_id: client_id.clone(),
            scopes: scopes.clone(),
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store.create_grant(&grant).await.expect("grant");
        let token = shared::oauth::access_token::issue(
            &self.keys,
            testkit::PUBLIC_BASE_URL,
            user_id,
            &client_id,
            grant.id,
            &scopes,
            Utc::now(),
        )
        .expect("token");
        (user_id, token)
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Reply {
        let http = shared::tls::client();
        let url = format!("{}/connector/chatgpt/{path}", self.served.base_url);
        let mut request = if method == "GET" { http.get(url) } else { http.post(url) }.bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the connector answers");
        let status = response.status().as_u16();
        let request_id = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, text, body, request_id }
    }

    /// GET `path`, which must answer 200 within ChatGPT's limit.
    async fn get_fitting(&self, path: &str, token: &str) -> Value {
        let reply = self.call("GET", path, token, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        let chars = reply.text.chars().count();
        assert!(chars < CHATGPT_LIMIT, "{path}: {chars} characters");
        reply.body
    }

    async fn receipts(&self, user_id: UserId) -> usize {
        self.store.list_receipts(user_id, None, 1000).await.expect("receipts").len()
    }

    async fn notifications(&self, user_id: UserId) -> usize {
        self.store.list_notifications(user_id, 1000).await.expect("notifications").len()
    }
}

fn swap(amount: f64, key: &str) -> Value {
    json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": amount, "idempotency_key": key })
}

/// The attacker reuses an idempotency key for another swap, hoping the user approves the
/// first request's card while the second's arguments are what ChatGPT reports (or to get
/// a 202 for a swap nobody will be asked about). The connector answers 409
/// `idempotency_key_reused`, stores no approval, notification or receipt, and the first
/// request stays as it was; the same swap under the key is still a retry.
#[tokio::test]
async fn an_idempotency_key_reused_for_another_swap_is_refused_and_changes_nothing() {
    let target = target().await;
    let (user_id, token) = target.linked_user().await;
    let first = target.call("POST", "swap_execute", &token, Some(swap(0.5, "order-1"))).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let approval_id = first.body["approval_id"].as_str().expect("an approval id").to_owned();
    let (receipts, notifications) = (target.receipts(user_id).await, target.notifications(user_id).await);
    assert_eq!((receipts, notifications), (1, 1));

    for other in [
        swap(500.0, "order-1"),
        json!({ "input_mint": SOL, "output_mint": BONK, "mode": "ExactIn", "amount_ui": 0.5, "idempotency_key": "order-1" }),
        json!({ "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 0.5, "slippage_bps": 5000, "idempotency_key": "order-1" }),
    ] {
        let reused = target.call("POST", "swap_execute", &token, Some(other.clone())).await;
        assert_eq!(reused.status, 409, "{other}: {}", reused.text);
        assert_eq!(reused.body["error"], "idempotency_key_reused");
        let message = reused.body["message"].as_str().expect("a message");
        assert!(message.contains("idempotency_key") && message.contains("another swap"), "{message}");
        assert!(message.contains(&approval_id), "the message names the approval holding the key: {message}");
        assert_eq!(reused.body["request_id"], reused.request_id.as_str());
    }

    let pending = target.store.list_pending_approvals(user_id, Utc::now()).await.expect("pending");
    assert_eq!(pending.len(), 1, "no approval was stored for the reused key");
    assert_eq!(pending[0].id.to_string(), approval_id);
    assert_eq!(pending[0].request["amount_ui"], 0.5, "the first request is untouched");
    assert_eq!(target.receipts(user_id).await, receipts, "a refused request records nothing");
    assert_eq!(target.notifications(user_id).await, notifications, "nobody is notified of a refused request");

    // Retry-safe: the same swap under the same key is the same approval, still one card.
    let retry = target.call("POST", "swap_execute", &token, Some(swap(0.5, "order-1"))).await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    assert_eq!(retry.body["approval_id"], approval_id.as_str());
    assert_eq!(target.notifications(user_id).await, 1);
    assert_eq!(target.sandbox.calls("solana_swap_execute"), 0, "nothing executed");
}

/// The attacker races a dozen requests under one key, half for one swap and half for
/// another, hoping two approvals (or an approval for the wrong swap) slip through between
/// a check and an insert. Exactly one approval is stored and notified; every 202 names
/// it and asked for its swap; every 409 asked for the other swap.
#[tokio::test]
async fn racing_requests_under_one_key_store_one_approval() {
    let target = target().await;
    let (user_id, token) = target.linked_user().await;
    let amounts: Vec<f64> = (0..12).map(|i| if i % 2 == 0 { 0.5 } else { 7.0 }).collect();
    let replies = futures_util::future::join_all(
        amounts.iter().map(|amount| target.call("POST", "swap_execute", &token, Some(swap(*amount, "race-key")))),
    )
    .await;
    let pending = target.store.list_pending_approvals(user_id, Utc::now()).await.expect("pending");
    assert_eq!(pending.len(), 1, "one approval for one key");
    let winner = &pending[0];
    let winner_amount = winner.request["amount_ui"].as_f64().expect("an amount");
    for (amount, reply) in amounts.iter().zip(&replies) {
        match reply.status {
            202 => {
                assert_eq!(reply.body["approval_id"], winner.id.to_string().as_str());
                assert_eq!(*amount, winner_amount, "a 202 is for the swap that was asked");
            }
            409 => {
                assert_eq!(reply.body["error"], "idempotency_key_reused");
                assert_ne!(*amount, winner_amount, "a 409 is for the other swap");
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert_eq!(target.notifications(user_id).await, 1, "one notification");
    assert_eq!(target.receipts(user_id).await, replies.iter().filter(|r| r.status == 202).count());
}

/// The attacker (or a confused retry) asks again, with the same key, for a swap whose
/// approval was already decided, and would get the old decision ("executed", or
/// "rejected") back while nothing is queued for the user. Once decided, the key is free:
/// the request is a new pending approval, and the user is asked again.
#[tokio::test]
async fn a_key_whose_approval_was_decided_asks_the_user_again() {
    let target = target().await;
    let (user_id, token) = target.linked_user().await;
    for (decision, key) in [("rejected", "decided-reject"), ("executed", "decided-execute")] {
        let first = target.call("POST", "swap_execute", &token, Some(swap(0.25, key))).await;
        assert_eq!(first.status, 202, "{}", first.text);
        let first_id = first.body["approval_id"].as_str().expect("id").parse().expect("uuid");
        let now = Utc::now();
        if decision == "rejected" {
            target.store.reject_approval(first_id, user_id, now).await.expect("reject");
        } else {
            target.store.claim_approval(first_id, user_id, now).await.expect("claim");
            let done = ApprovalOutcome::Executed { result: json!({ "signature": "5sig" }), receipt_id: None };
            assert!(target.store.finish_approval(first_id, &done, now).await.expect("finish"));
        }
        let notifications = target.notifications(user_id).await;

        let again = target.call("POST", "swap_execute", &token, Some(swap(0.25, key))).await;
        assert_eq!(again.status, 202, "{decision}: {}", again.text);
        assert_eq!(again.body["status"], "pending_approval", "{decision}: not the old decision");
        assert_ne!(again.body["approval_id"], first.body["approval_id"], "{decision}: a new approval");
        assert_eq!(target.notifications(user_id).await, notifications + 1, "{decision}: the user is asked again");
        let old = target.store.get_approval(first_id, user_id).await.expect("get").expect("old approval");
        assert_eq!(old.status.as_str(), decision, "the old decision stands");
        assert_ne!(old.status, ApprovalStatus::PendingApproval);
    }
}

/// The upstream answers a user with 60 wallets of 120 tokens each, with long names: the
/// connector fetches balances for at most 10 wallets per call (counted at the upstream),
/// answers under ChatGPT's limit with `truncated: true`, and paging reaches every wallet
/// and, wallet by wallet, every balance.
#[tokio::test]
async fn a_huge_portfolio_is_paged_under_the_limit_and_fans_out_to_at_most_ten_wallets() {
    let target = target().await;
    let (_, token) = target.linked_user().await;
    target.sandbox.set_oversize(Oversize { wallets: 60, balances: 120, padding: 300, ..Oversize::default() });

    let first = target.get_fitting("get_portfolio", &token).await;
    assert_eq!(target.sandbox.calls("solana_list_balances"), 10, "one call fetches at most 10 wallets");
    assert_eq!((first["total"].as_u64(), first["returned"].as_u64()), (Some(60), Some(10)));
    assert_eq!((first["truncated"].as_bool(), first["next_offset"].as_u64()), (Some(true), Some(10)));
    let wallet = &first["wallets"][0];
    assert_eq!(wallet["balances_total"], 120);
    assert_eq!(wallet["balances_returned"], 10);
    assert_eq!(wallet["balances_truncated"], true);
    assert_eq!(wallet["balances"][0]["portfolio"]["valueUsd"], 120.0, "the largest balance first");

    // Every wallet, ten per call.
    let mut addresses: Vec<String> = Vec::new();
    let mut page = first;
    let mut calls = 1;
    loop {
        addresses.extend(page["wallets"].as_array().expect("wallets").iter().map(|w| w["address"].to_string()));
        let Some(next) = page["next_offset"].as_u64() else { break };
        page = target.get_fitting(&format!("get_portfolio?offset={next}"), &token).await;
        calls += 1;
        assert!(target.sandbox.calls("solana_list_balances") <= 10 * calls);
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 60, "paging reaches every wallet");
    assert_eq!(calls, 6);

    // Every balance of one wallet, 50 per call, one upstream call each.
    let address = page["wallets"][0]["address"].as_str().expect("address").to_owned();
    let before = target.sandbox.calls("solana_list_balances");
    let mut mints: Vec<String> = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let page = target.get_fitting(&format!("get_portfolio?wallet={address}&balances_offset={at}"), &token).await;
        let wallet = &page["wallets"][0];
        assert_eq!(wallet["address"], address.as_str());
        mints.extend(wallet["balances"].as_array().expect("balances").iter().map(|b| b["mint"].to_string()));
        offset = wallet["balances_next_offset"].as_u64();
    }
    mints.sort();
    mints.dedup();
    assert_eq!(mints.len(), 120, "paging reaches every balance");
    assert_eq!(target.sandbox.calls("solana_list_balances") - before, 3, "one wallet, one upstream call per page");

    let stranger = "11111111111111111111111111111111";
    let reply = target.call("GET", &format!("get_portfolio?wallet={stranger}"), &token, None).await;
    assert_eq!(reply.status, 404, "a wallet that is not the user's is not read: {}", reply.text);
}

/// The upstream ignores the asked count and returns 40 search results and token
/// candidates with 18 KB of text each: every answer stays under the limit, says it is truncated, and
/// `offset` pages through all of them.
#[tokio::test]
async fn huge_search_results_and_token_candidates_are_cut_and_paged() {
    let target = target().await;
    let (_, token) = target.linked_user().await;
    // 40 results of about 18 KB each: 720 KB per upstream answer, under the MCP client's 4 MiB.
    target.sandbox.set_oversize(Oversize { results: 40, padding: 9_000, ..Oversize::default() });
    for (action, count) in
        [("search?query=bonk&max_results=10", "results"), ("resolve_token?query=bonk&limit=10", "results")]
    {
        let mut seen: Vec<String> = Vec::new();
        let mut offset = Some(0);
        while let Some(at) = offset {
            let page = target.get_fitting(&format!("{action}&offset={at}"), &token).await;
            assert_eq!(page["total"], 40, "{action}");
            let items = page[count].as_array().expect("a list");
            assert!(items.len() <= 10, "{action}: at most the asked count");
            assert_eq!(page["truncated"], at + 10 < 40, "{action} at {at}");
            seen.extend(items.iter().map(|r| format!("{}{}", r["id"], r["address"])));
            offset = page["next_offset"].as_u64();
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 40, "{action}: paging reaches every result");
    }
    let page = target.get_fitting("search?query=bonk", &token).await;
    assert_eq!(page["returned"], 5, "the default count");
    assert!(page["answer"].as_str().expect("an answer").ends_with('…'), "a long answer is cut and says so");
}

/// The upstream lists 400 alerts with long texts: `get_alerts` answers 25 (up to 50) at
/// a time under the limit, and paging reaches all of them.
#[tokio::test]
async fn a_huge_alert_list_is_paged_under_the_limit() {
    let target = target().await;
    let (_, token) = target.linked_user().await;
    target.sandbox.set_oversize(Oversize { alerts: 400, padding: 1_000, ..Oversize::default() });
    let first = target.get_fitting("get_alerts", &token).await;
    assert_eq!((first["total"].as_u64(), first["returned"].as_u64()), (Some(400), Some(25)));
    assert_eq!(first["truncated"], true);
    let mut ids: Vec<String> = Vec::new();
    let mut offset = Some(0);
    while let Some(at) = offset {
        let page = target.get_fitting(&format!("get_alerts?limit=50&offset={at}"), &token).await;
        ids.extend(page["alerts"].as_array().expect("alerts").iter().map(|a| a["id"].to_string()));
        offset = page["next_offset"].as_u64();
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400, "paging reaches every alert");
}

/// Paging parameters out of range or not numbers: a clear 400 JSON error with the
/// request id, before any tool runs, and nothing recorded.
#[tokio::test]
async fn bad_paging_input_is_refused_with_the_request_id_and_changes_nothing() {
    let target = target().await;
    let (user_id, token) = target.linked_user().await;
    for path in [
        "get_portfolio?offset=-1",
        "get_portfolio?offset=10001",
        "get_portfolio?offset=abc",
        "get_portfolio?offset=99999999999999999999999",
        "get_portfolio?limit=0",
        "get_portfolio?limit=11",
        "get_portfolio?limit=1000000",
        "get_portfolio?wallet=not-a-wallet",
        "get_portfolio?balances_offset=10",
        &format!("get_portfolio?wallet={SOL}&offset=10"),
        "get_portfolio?cursor=abc",
        "get_alerts?limit=51",
        "get_alerts?offset=-5",
        "get_alerts?offset=1.5",
        "search?query=bonk&offset=-1",
        "search?query=bonk&offset=%00",
        "resolve_token?query=bonk&offset=zz",
        "resolve_token?query=bonk&offset=10001",
    ] {
        let reply = target.call("GET", path, &token, None).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text);
        assert_eq!(reply.body["error"], "invalid_request", "{path}");
        assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}");
        assert_eq!(reply.body["request_id"], reply.request_id.as_str(), "{path}");
    }
    for tool in ["list_my_wallets", "solana_list_balances", "alerts_list", "search", "solana_resolve_token"] {
        assert_eq!(target.sandbox.calls(tool), 0, "{tool} ran for bad input");
    }
    assert_eq!(target.receipts(user_id).await, 0, "bad input records nothing");
}
