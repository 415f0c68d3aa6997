//! The database crashes under load. The connector runs on a Postgres cluster of the
//! test's own (`testkit::cluster`), with clients reading (`resolve_token`), refreshing
//! tokens and asking for and approving swaps; the cluster is killed as a crash kills it
//! (`pg_ctl stop -m immediate`), left down for 1.5 s, and started again. Then:
//!
//! - every receipt id the connector handed out exists, and every refresh token it handed
//!   out is stored: an answer is given only for what is durable;
//! - every answer while the database was unreachable was a `503 service_unavailable` JSON
//!   body with the request id and `Retry-After`, never a 500;
//! - no swap ran twice;
//! - the connector served every kind of call again after the restart, by itself.
//!
//! The counts are printed (`--nocapture`) for the record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use sandbox_mcp::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use shared::TokenHash;
use shared::store::postgres::PgStore;
use shared::store::prelude::*;
use testkit::app::{Options, TestApp, spawn_app};
use testkit::cluster::Cluster;
use tokio::sync::Mutex;

const MCP_SECRET: &str = "sandbox-mcp-secret-0123456789abcdef-xyz";
const ALL: [&str; 3] = ["mcp:invoke", "wallet:read", "profile"];
const SOL: &str = "So11111111111111111111111111111111111111112";
const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

/// When an answer was received, relative to the crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Before = 0,
    Down = 1,
    After = 2,
}

impl Phase {
    fn load(phase: &AtomicU8) -> Phase {
        match phase.load(Ordering::SeqCst) {
            0 => Phase::Before,
            1 => Phase::Down,
            _ => Phase::After,
        }
    }
}

#[derive(Debug, Clone)]
struct Answer {
    kind: &'static str,
    phase: Phase,
    status: u16,
    body: Value,
    request_id: String,
    retry_after: Option<String>,
}

#[derive(Default)]
struct Record {
    answers: Vec<Answer>,
    receipt_ids: Vec<String>,
    refresh_tokens: Vec<String>,
    approvals: Vec<String>,
}

struct Load {
    app: TestApp,
    token: String,
    session: String,
    phase: AtomicU8,
    stop: AtomicBool,
    record: Mutex<Record>,
}

impl Load {
    async fn send(&self, kind: &'static str, request: reqwest::RequestBuilder) -> Option<Answer> {
        // A request that started before the crash can end after it: the phase is read
        // when the answer arrives, and answers during a transition are judged by status.
        let response = request.timeout(Duration::from_secs(20)).send().await.ok()?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let request_id = header("x-request-id").unwrap_or_default();
        let retry_after = header("retry-after");
        let body = response.json().await.unwrap_or(Value::Null);
        let answer = Answer { kind, phase: Phase::load(&self.phase), status, body, request_id, retry_after };
        let mut record = self.record.lock().await;
        if let Some(ids) = answer.body["receipt_ids"].as_array() {
            record.receipt_ids.extend(ids.iter().filter_map(|id| id.as_str().map(str::to_owned)));
        }
        record.answers.push(answer.clone());
        Some(answer)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base_url)
    }

    async fn reads(&self) {
        let http = shared::tls::client();
        while !self.stop.load(Ordering::SeqCst) {
            let request =
                http.get(self.url("/connector/chatgpt/resolve_token?query=BONK&limit=3")).bearer_auth(&self.token);
            if self.send("resolve_token", request).await.is_none_or(|answer| answer.status == 503) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// One refresh-token chain, as ChatGPT keeps it: the newest token it received. A
    /// refresh whose answer was a 503 is retried with the same token (its rotation may or
    /// may not have committed: the grace window absorbs that).
    async fn refreshes(&self, mut current: String) {
        let http = shared::tls::client();
        let client_id = self.app.client_id().await;
        while !self.stop.load(Ordering::SeqCst) {
            let request = http
                .post(self.url("/oauth/chatgpt/token"))
                .basic_auth(client_id.as_str(), Some(&self.app.client_secret))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", current.as_str())]);
            let Some(answer) = self.send("refresh", request).await else { continue };
            if answer.status == 200 {
                current = answer.body["refresh_token"].as_str().expect("a refresh token").to_owned();
                self.record.lock().await.refresh_tokens.push(current.clone());
            }
        }
    }

    /// Asks for swaps and approves each in Dexter, retrying both through the outage with
    /// the same idempotency key and approval id, as ChatGPT and Dexter's app would.
    async fn swaps(&self) {
        let http = shared::tls::client();
        let mut n = 0;
        while !self.stop.load(Ordering::SeqCst) {
            n += 1;
            let swap = json!({
                "input_mint": SOL, "output_mint": USDC, "mode": "ExactIn", "amount_ui": 0.5,
                "idempotency_key": format!("crash-test-{n}"),
            });
            let approval_id = loop {
                let request =
                    http.post(self.url("/connector/chatgpt/swap_execute")).bearer_auth(&self.token).json(&swap);
                match self.send("swap_execute", request).await {
                    Some(answer) if answer.status == 202 => {
                        break answer.body["approval_id"].as_str().map(str::to_owned);
                    }
                    _ if self.stop.load(Ordering::SeqCst) => break None,
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            };
            let Some(approval_id) = approval_id else { return };
            self.record.lock().await.approvals.push(approval_id.clone());
            loop {
                let request =
                    http.post(self.url(&format!("/dexter/approvals/{approval_id}/approve"))).bearer_auth(&self.session);
                match self.send("approve", request).await {
                    Some(answer) if answer.status != 503 => break,
                    _ if self.stop.load(Ordering::SeqCst) => break,
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
    }
}

async fn connector_on(cluster: &Cluster) -> (Arc<PgStore>, TestApp, Sandbox) {
    let (admin, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls).await.expect("cluster");
    tokio::spawn(connection);
    admin.batch_execute("create database connector").await.expect("create database");
    let store = Arc::new(PgStore::connect(&cluster.url_of("connector"), false).expect("store"));
    store.migrate().await.expect("migrations");
    let sandbox =
        sandbox_mcp::spawn(secrecy::SecretString::from(MCP_SECRET), SandboxOptions::default()).await.expect("sandbox");
    let options = Options {
        mcp: Some((sandbox.url.clone(), MCP_SECRET.into())),
        mcp_timeout_ms: Some(3000),
        ..Options::default()
    };
    let app = spawn_app(store.clone() as Arc<dyn Store>, options).await;
    (store, app, sandbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_crash_under_load_loses_nothing_handed_out_and_outages_answer_503() {
    let cluster = Cluster::start();
    let (store, app, sandbox) = connector_on(&cluster).await;
    let (user_id, _, token) = app.linked_user("pro", true, &ALL).await;
    let session = app.dexter_session(user_id);
    // Two linked accounts refreshing (a grant has one live refresh token at a time).
    let mut chains = Vec::new();
    for _ in 0..2 {
        let (_, grant_id, _) = app.linked_user("pro", true, &ALL).await;
        let refresh = shared::tokens::generate("dxrt_");
        let expires = chrono::Utc::now() + chrono::Duration::days(1);
        store.create_refresh_token(&TokenHash::of(&refresh), grant_id, expires).await.expect("refresh token");
        chains.push(refresh);
    }
    let load = Arc::new(Load {
        app,
        token,
        session,
        phase: AtomicU8::new(Phase::Before as u8),
        stop: AtomicBool::new(false),
        record: Mutex::new(Record::default()),
    });

    let mut workers = Vec::new();
    for _ in 0..3 {
        let load = load.clone();
        workers.push(tokio::spawn(async move { load.reads().await }));
    }
    for chain in chains {
        let load = load.clone();
        workers.push(tokio::spawn(async move { load.refreshes(chain).await }));
    }
    {
        let load = load.clone();
        workers.push(tokio::spawn(async move { load.swaps().await }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    load.phase.store(Phase::Down as u8, Ordering::SeqCst);
    cluster.crash();
    let crashed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.start_again();
    let restarted_after = crashed_at.elapsed();
    load.phase.store(Phase::After as u8, Ordering::SeqCst);

    // Full service: every kind of call succeeds again after the restart (the deadline
    // only bounds a failing run; it is not the measurement).
    let deadline = Instant::now() + Duration::from_secs(30);
    let served_again = loop {
        let record = load.record.lock().await;
        let ok_after = |kind: &str| {
            record.answers.iter().filter(|a| a.phase == Phase::After && a.kind == kind && a.status < 300).count()
        };
        if ["resolve_token", "refresh", "swap_execute", "approve"].iter().all(|kind| ok_after(kind) >= 5) {
            break true;
        }
        drop(record);
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    load.stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }
    let record = load.record.lock().await;
    assert!(served_again, "the connector did not serve every kind of call within 30 s of the restart");

    // Outage answers: 503 JSON with the request id and Retry-After; never a 500.
    let unavailable: Vec<&Answer> = record.answers.iter().filter(|a| a.status == 503).collect();
    for answer in &unavailable {
        assert_eq!(answer.body["error"], "service_unavailable", "{answer:?}");
        assert!(!answer.request_id.is_empty(), "{answer:?}");
        assert_eq!(answer.body["request_id"], answer.request_id.as_str(), "{answer:?}");
        assert!(answer.retry_after.is_some(), "503 without Retry-After: {answer:?}");
    }
    let unexpected: Vec<&Answer> = record.answers.iter().filter(|a| !matches!(a.status, 200 | 202 | 503)).collect();
    assert!(unexpected.is_empty(), "answers other than 200/202/503: {unexpected:#?}");
    assert!(!unavailable.is_empty(), "the outage was not observed (no 503 at all): the test did not test it");

    // Everything handed out is there.
    let (db, connection) =
        tokio_postgres::connect(&cluster.url_of("connector"), tokio_postgres::NoTls).await.expect("db");
    tokio::spawn(connection);
    let mut missing_receipts = Vec::new();
    for id in &record.receipt_ids {
        let id: uuid::Uuid = id.parse().expect("receipt id");
        let found = db.query_opt("select 1 from connector_receipts where id = $1", &[&id]).await.expect("query");
        if found.is_none() {
            missing_receipts.push(id);
        }
    }
    let mut missing_tokens = 0;
    for token in &record.refresh_tokens {
        let hash = TokenHash::of(token);
        let found = db
            .query_opt("select 1 from connector_refresh_tokens where token_hash = $1", &[&hash])
            .await
            .expect("query");
        missing_tokens += usize::from(found.is_none());
    }
    // No swap ran twice: the sandbox's executions are at most the approvals that reached
    // execution, one each.
    let executed: i64 = db
        .query_one(
            "select count(*) from connector_swap_approvals where status in ('executing', 'executed', 'failed')",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    let executions = sandbox.calls("solana_swap_execute");

    println!(
        "crash test: {} answers ({} before the crash, {} while down, {} after; restarted {} ms after the crash); \
         {} receipt ids handed out, {} missing; {} refresh tokens handed out, {} missing; {} answers were 503; \
         {} approvals asked, {} executed upstream",
        record.answers.len(),
        record.answers.iter().filter(|a| a.phase == Phase::Before).count(),
        record.answers.iter().filter(|a| a.phase == Phase::Down).count(),
        record.answers.iter().filter(|a| a.phase == Phase::After).count(),
        restarted_after.as_millis(),
        record.receipt_ids.len(),
        missing_receipts.len(),
        record.refresh_tokens.len(),
        missing_tokens,
        unavailable.len(),
        record.approvals.len(),
        executions,
    );
    assert!(missing_receipts.is_empty(), "receipt ids handed out but lost in the crash: {missing_receipts:?}");
    assert_eq!(missing_tokens, 0, "refresh tokens handed out but lost in the crash");
    assert!(
        executions as i64 <= executed,
        "{executions} upstream executions for {executed} approvals: a swap ran twice"
    );
}
