//! Phase 1, action overhead: `solana_resolve_token` called directly, through the connector
//! (the GPT action, and the same action as a `tools/call` to the connector's own `/mcp`)
//! and through mcpo; in the same rounds, the connector with its receipt committed
//! asynchronously (what read actions did before every receipt was made durable, migration
//! 0009) and, with `--alt-connector-exe`, the connector from another build; the connector
//! (action and `/mcp`) and direct calls again against an upstream that takes 50 ms a call;
//! and, with
//! `--profile-exe`, a callgrind profile of the connector.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use serde_json::Value;
use shared::mcp::{McpCaller, McpClient};
use uuid::Uuid;

use crate::procs::{self, Host, Mcpo, Usage};
use crate::report::{CpuProfile, OverheadCell, Report};
use crate::stats::{self, Samples};
use crate::{Bench, SCOPES, TOOL, expect_ok};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Way {
    Direct,
    Connector,
    /// The same action as an MCP `tools/call` to the same connector's `/mcp` (issue 14).
    ConnectorMcp,
    Mcpo,
    /// The connector whose receipt commits without waiting for the WAL flush, as read
    /// actions' receipts did before migration 0009 (`Durability::Relaxed`, up to bbe52e1).
    ConnectorAsyncReceipt,
    /// The connector from another build (`--alt-connector-exe`).
    ConnectorAlt,
}

impl Way {
    pub fn label(self) -> &'static str {
        match self {
            Way::Direct => "direct MCP tools/call",
            Way::Connector => "connector resolve_token",
            Way::ConnectorMcp => "connector /mcp tools/call resolve_token",
            Way::Mcpo => "mcpo",
            Way::ConnectorAsyncReceipt => "connector, async receipt",
            Way::ConnectorAlt => "connector, other build",
        }
    }

    /// Whether this way goes through a connector (Δ against direct applies).
    pub fn is_connector(self) -> bool {
        matches!(self, Way::Connector | Way::ConnectorMcp | Way::ConnectorAsyncReceipt | Way::ConnectorAlt)
    }
}

/// A way to call the tool, and the connector process that serves it (if any), whose CPU
/// time is the cell's.
struct Measured {
    way: Way,
    request: Request,
    connector_pid: Option<u32>,
}

impl Measured {
    fn new(way: Way, request: Request, connector: Option<&Host>) -> Measured {
        Measured { way, request, connector_pid: connector.map(|c| c.pid) }
    }
}

type Request = Arc<dyn Fn(usize) -> futures_util::future::BoxFuture<'static, stats::Outcome> + Send + Sync>;

pub(crate) const ARGUMENTS: &str = r#"{"query":"SOL","limit":5}"#;

/// (a) direct: the connector's own MCP client, as the actions use it.
fn direct_request(bench: &Bench<'_>, mcp_url: &str, caller: &McpCaller) -> Request {
    let mcp = McpClient::new(
        mcp_url.to_owned(),
        SecretString::from(bench.mcp_secret.clone()),
        bench.http.clone(),
        Duration::from_secs(10),
    );
    let caller = caller.clone();
    let arguments: Value = serde_json::from_str(ARGUMENTS).expect("valid JSON");
    Arc::new(move |_| {
        let (mcp, caller, arguments) = (mcp.clone(), caller.clone(), arguments.clone());
        Box::pin(async move {
            let result = mcp.call_tool(&caller, TOOL, arguments).await.map_err(|e| e.to_string())?;
            match result.structured["results"].as_array() {
                Some(results) if !results.is_empty() => Ok(()),
                _ => Err(format!("unexpected result {}", result.structured)),
            }
        })
    })
}

/// (b) the action over HTTP with a bearer access token.
fn action_request(bench: &Bench<'_>, connector: &Host, access_token: &str) -> Request {
    let url = format!("{}/connector/chatgpt/resolve_token?query=SOL&limit=5", connector.address);
    let (http, bearer) = (bench.http.clone(), format!("Bearer {access_token}"));
    Arc::new(move |_| {
        let (http, url, bearer) = (http.clone(), url.clone(), bearer.clone());
        Box::pin(async move { expect_ok(http.get(&url).header("authorization", bearer)).await })
    })
}

/// The JSON-RPC request the `/mcp` way sends: the action `resolve_token` as a tool, with
/// the direct call's arguments.
fn mcp_call_body(id: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"resolve_token","arguments":{ARGUMENTS}}}}}"#
    )
}

/// (b') the same action as an MCP client calls it: a `tools/call` POSTed to the
/// connector's own `/mcp` with an access token for that resource (`aud` = `{base}/mcp`).
/// Every answer must be a JSON-RPC result for this request whose `isError` is false.
fn connector_mcp_request(bench: &Bench<'_>, connector: &Host, mcp_token: &str) -> Request {
    let url = format!("{}{}", connector.address, shared::mcp_server::PATH);
    let (http, bearer) = (bench.http.clone(), format!("Bearer {mcp_token}"));
    Arc::new(move |worker| {
        let (http, url, bearer) = (http.clone(), url.clone(), bearer.clone());
        Box::pin(async move {
            let response = http
                .post(&url)
                .header("authorization", bearer)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .body(mcp_call_body(worker))
                .send()
                .await
                .map_err(|e| format!("{e}"))?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| format!("{e}"))?;
            check_tool_result(status, &body, worker)
        })
    })
}

/// `Ok` for a 200 carrying a JSON-RPC result to request `id` whose `isError` is false.
fn check_tool_result(status: http::StatusCode, body: &[u8], id: usize) -> stats::Outcome {
    let text = || String::from_utf8_lossy(body).chars().take(300).collect::<String>();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", text()));
    }
    let message: Value = serde_json::from_slice(body).map_err(|_| format!("not JSON: {}", text()))?;
    match &message["result"] {
        Value::Object(result)
            if message["id"] == id
                && message.get("error").is_none()
                && result.get("isError") == Some(&Value::Bool(false)) =>
        {
            Ok(())
        }
        _ => Err(format!("not a successful tool result: {}", text())),
    }
}

/// (c) mcpo's route for the tool, with its API key.
fn mcpo_request(bench: &Bench<'_>, mcpo: &Mcpo, api_key: &str) -> Request {
    let (http, url, key) = (bench.http.clone(), format!("{}/{TOOL}", mcpo.base_url), format!("Bearer {api_key}"));
    Arc::new(move |_| {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        Box::pin(async move {
            expect_ok(
                http.post(&url).header("authorization", key).header("content-type", "application/json").body(ARGUMENTS),
            )
            .await
        })
    })
}

/// The processes whose CPU time is attributed per cell, besides the cell's connector. The
/// Postgres backends serving the connectors' pools are looked up before each cell
/// (`pg_stat_activity`).
#[derive(Clone, Copy)]
struct Pids {
    sandbox: u32,
    mcpo: Option<u32>,
}

/// The server processes of the connector's pooled connections to the bench database.
async fn postgres_backends(bench: &Bench<'_>) -> Vec<u32> {
    let Ok(client) = testkit::db::connect(bench.db.maintenance_url()).await else {
        return Vec::new();
    };
    let rows = client
        .query(
            "select pid from pg_stat_activity where datname = $1 and application_name = 'dexter-chatgpt-connector'",
            &[&bench.db.name()],
        )
        .await
        .unwrap_or_default();
    rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect()
}

/// Warm-up, then `rounds` rounds of every (concurrency, way) cell, interleaved so that the
/// machine's noise spreads over every cell alike.
async fn measure(bench: &Bench<'_>, ways: &[Measured], pids: Pids) -> anyhow::Result<Vec<OverheadCell>> {
    for Measured { way, request, .. } in ways {
        request(0).await.map_err(|e| anyhow::anyhow!("{}: {e}", way.label()))?;
    }
    for Measured { request, .. } in ways {
        for concurrency in [16, 1] {
            let request = request.clone();
            stats::closed_loop(concurrency, Duration::from_millis(1000), move |w| request(w)).await;
        }
    }
    let cell = Duration::from_secs_f64(bench.options.seconds);
    let mut cells: HashMap<(Way, usize), Samples> = HashMap::new();
    let mut cpu: HashMap<(Way, usize), CpuSplit> = HashMap::new();
    for round in 0..bench.options.rounds {
        for concurrency in [1, 16] {
            for Measured { way, request, connector_pid } in ways {
                let backends = postgres_backends(bench).await;
                let before = CpuSplit::read(pids, *connector_pid, &backends);
                let request = request.clone();
                let samples = stats::closed_loop(concurrency, cell, move |w| request(w)).await;
                let after = CpuSplit::read(pids, *connector_pid, &backends);
                cpu.entry((*way, concurrency)).or_default().add(&after.minus(&before));
                println!(
                    "  round {} c={concurrency:<2} {:<40} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms{}",
                    round + 1,
                    way.label(),
                    samples.rps(),
                    samples.p50(),
                    samples.p99(),
                    if samples.errors > 0 { format!("  ({} errors)", samples.errors) } else { String::new() }
                );
                cells.entry((*way, concurrency)).or_default().merge(samples);
            }
        }
    }
    let mut cells: Vec<OverheadCell> = cells
        .into_iter()
        .map(|((way, concurrency), mut samples)| {
            samples.sort();
            OverheadCell { way, concurrency, cpu: cpu.get(&(way, concurrency)).copied().unwrap_or_default(), samples }
        })
        .collect();
    cells.sort_by_key(|c| (c.concurrency, c.way));
    Ok(cells)
}

pub async fn overhead(bench: &Bench<'_>, sandbox: &Host, connector: &Host, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[1/5] action overhead");
    let (user_id, grant_id, access_token) = bench.linked_user().await?;
    let mcp_token = bench.mcp_access_token(user_id, grant_id)?;
    let caller = McpCaller { user_id, scopes: SCOPES.iter().map(|s| s.to_string()).collect(), roles: Vec::new() };

    // mcpo holds a long-lived MCP bearer for the same user.
    let mcpo_key = format!("bench-mcpo-key-{}", Uuid::new_v4().simple());
    let long_bearer = shared::mcp::token::mint_at(
        &SecretString::from(bench.mcp_secret.clone()),
        &sandbox.address,
        &caller,
        chrono::Utc::now().timestamp() + 3 * 3600,
    )?;
    let mcpo = if bench.options.mcpo.exists() {
        match Mcpo::start(&bench.options.mcpo.to_string_lossy(), &sandbox.address, &long_bearer, &mcpo_key).await {
            Ok(mcpo) => Some(mcpo),
            Err(error) => {
                report.notes.push(format!("mcpo did not start: {error:#}"));
                None
            }
        }
    } else {
        report.notes.push(format!("mcpo not found at {}: its rows are empty", bench.options.mcpo.display()));
        None
    };

    // Before migration 0009, as a second connector on the same database (the same access
    // token works on every connector here).
    let async_receipt =
        Host::start("connector", &bench.connector_env(&async_receipt_url(bench).await?, &sandbox.address)).await?;
    let alt = match &bench.options.alt_connector_exe {
        Some(exe) => Some(
            Host::start_exe(exe, "connector", &bench.connector_env(bench.db.url(), &sandbox.address))
                .await
                .with_context(|| format!("starting the connector of {}", exe.display()))?,
        ),
        None => None,
    };

    let mut ways: Vec<Measured> = vec![
        Measured::new(Way::Direct, direct_request(bench, &sandbox.address, &caller), None),
        Measured::new(Way::Connector, action_request(bench, connector, &access_token), Some(connector)),
        Measured::new(Way::ConnectorMcp, connector_mcp_request(bench, connector, &mcp_token), Some(connector)),
    ];
    if let Some(mcpo) = &mcpo {
        report.mcpo_version = mcpo.version.clone();
        ways.push(Measured::new(Way::Mcpo, mcpo_request(bench, mcpo, &mcpo_key), None));
    }
    ways.push(Measured::new(
        Way::ConnectorAsyncReceipt,
        action_request(bench, &async_receipt, &access_token),
        Some(&async_receipt),
    ));
    if let Some(alt) = &alt {
        ways.push(Measured::new(Way::ConnectorAlt, action_request(bench, alt, &access_token), Some(alt)));
    }
    let first = bench
        .http
        .get(format!("{}/connector/chatgpt/resolve_token?query=SOL&limit=5", connector.address))
        .bearer_auth(&access_token)
        .send()
        .await?;
    report.sample_action_body = first.text().await?;
    let pids = Pids { sandbox: sandbox.pid, mcpo: mcpo.as_ref().map(|m| m.pid) };
    report.overhead = measure(bench, &ways, pids).await.map_err(|e| e.context(connector.tail()))?;
    report.async_receipt_rows = receipts_of(bench, ASYNC_RECEIPT_SCHEMA).await;
    if let Some(mcpo) = &mcpo {
        report.mcpo_usage = Some(Usage::of(mcpo.pid));
    }
    Ok(())
}

/// The schema holding the pre-0009 receipts function for the async-receipt connector.
const ASYNC_RECEIPT_SCHEMA: &str = "bench_async_receipt";

/// The bench database's URL for a connector whose receipts commit asynchronously, as read
/// actions' receipts did up to bbe52e1: a schema first on its `search_path` holds
/// `connector_insert_receipts` as migration 0004 had it with `p_relaxed` true (the
/// transaction's `synchronous_commit` off), inserting into the same table. Everything else
/// (the grant query, the MCP call, the same binary) is this build's, so the difference
/// from the connector's row is the WAL flush alone.
async fn async_receipt_url(bench: &Bench<'_>) -> anyhow::Result<String> {
    let client = testkit::db::connect(bench.db.url()).await?;
    client
        .batch_execute(&format!(
            "create schema if not exists {ASYNC_RECEIPT_SCHEMA};
             create or replace function {ASYNC_RECEIPT_SCHEMA}.connector_insert_receipts(
                 p_ids uuid[], p_user_ids uuid[], p_client_ids text[], p_actions text[], p_tools text[],
                 p_digests text[], p_statuses text[], p_error_codes text[], p_latencies bigint[],
                 p_request_ids text[], p_approval_ids uuid[], p_created timestamptz[])
             returns void language plpgsql as $$
             begin
                 perform set_config('synchronous_commit', 'off', true);
                 insert into public.connector_receipts (id, user_id, client_id, action, mcp_tool, args_digest,
                     status, error_code, upstream_latency_ms, request_id, approval_id, created_at)
                 select * from unnest(p_ids, p_user_ids, p_client_ids, p_actions, p_tools, p_digests, p_statuses,
                                      p_error_codes, p_latencies, p_request_ids, p_approval_ids, p_created);
                 perform nextval('{ASYNC_RECEIPT_SCHEMA}.calls');
             end
             $$;
             create sequence if not exists {ASYNC_RECEIPT_SCHEMA}.calls;"
        ))
        .await
        .context("creating the async-receipt schema")?;
    let separator = if bench.db.url().contains('?') { '&' } else { '?' };
    Ok(format!("{}{separator}options=-c%20search_path%3D{ASYNC_RECEIPT_SCHEMA}%2Cpublic", bench.db.url()))
}

/// How many times the async-receipt function ran (a sequence it advances, which costs no
/// WAL flush): proof that its connector used it (zero would mean its rows measured the
/// durable path).
async fn receipts_of(bench: &Bench<'_>, schema: &str) -> u64 {
    let Ok(client) = testkit::db::connect(bench.db.url()).await else {
        return 0;
    };
    let sql = format!("select case when is_called then last_value else 0 end from {schema}.calls");
    match client.query_one(&sql, &[]).await {
        Ok(row) => row.get::<_, i64>(0) as u64,
        Err(_) => 0,
    }
}

/// Direct calls and the connector (the action and `/mcp`) against a second sandbox whose every tool call takes
/// `--upstream-delay-ms` (50 ms): the connector's overhead should not grow with the
/// upstream's latency (nothing of the connector's waits in line behind the call).
pub async fn slow_upstream(bench: &Bench<'_>, report: &mut Report) -> anyhow::Result<()> {
    let delay = bench.options.upstream_delay_ms;
    println!("\n[1/5] the same with an upstream that takes {delay} ms a call");
    let sandbox = Host::start(
        "sandbox",
        &[("BENCH_MCP_SECRET".into(), bench.mcp_secret.clone()), ("BENCH_MCP_CALL_DELAY_MS".into(), delay.to_string())],
    )
    .await?;
    let connector = Host::start("connector", &bench.connector_env(bench.db.url(), &sandbox.address)).await?;
    let (user_id, grant_id, access_token) = bench.linked_user().await?;
    let mcp_token = bench.mcp_access_token(user_id, grant_id)?;
    let caller = McpCaller { user_id, scopes: SCOPES.iter().map(|s| s.to_string()).collect(), roles: Vec::new() };
    let ways = vec![
        Measured::new(Way::Direct, direct_request(bench, &sandbox.address, &caller), None),
        Measured::new(Way::Connector, action_request(bench, &connector, &access_token), Some(&connector)),
        Measured::new(Way::ConnectorMcp, connector_mcp_request(bench, &connector, &mcp_token), Some(&connector)),
    ];
    let pids = Pids { sandbox: sandbox.pid, mcpo: None };
    report.slow_upstream = measure(bench, &ways, pids).await.map_err(|e| e.context(connector.tail()))?;
    Ok(())
}

/// The connector (a `connector-bench` with symbols) under callgrind: warmed with 20
/// actions, counters zeroed, then `profile_requests` `resolve_token` actions one at a
/// time; the profile is read with `callgrind_annotate`.
pub async fn profile(bench: &Bench<'_>, sandbox: &Host, exe: &Path, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[6/6] callgrind profile of the connector ({} resolve_token actions)", bench.options.profile_requests);
    let out_dir = PathBuf::from("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join("callgrind.connector.out");
    let env = bench.connector_env(bench.db.url(), &sandbox.address);
    let connector = Host::start_under_callgrind(exe, "connector", &env, &out).await?;
    let (_, _, access_token) = bench.linked_user().await?;
    let request = action_request(bench, &connector, &access_token);
    for _ in 0..20 {
        request(0).await.map_err(|e| anyhow::anyhow!("warm-up: {e}"))?;
    }
    let zeroed = procs::command_output("callgrind_control", &["--zero", &connector.pid.to_string()]).is_some();
    for _ in 0..bench.options.profile_requests {
        request(0).await.map_err(|e| anyhow::anyhow!("profiled action: {e}"))?;
    }
    connector.finish().await?;
    let out_text = out.display().to_string();
    // After --zero, the file written at exit holds the profiled actions only.
    let annotated =
        procs::command_output("callgrind_annotate", &["--inclusive=no", "--threshold=100", "--auto=no", &out_text])
            .context("callgrind_annotate failed")?;
    report.profile = Some(CpuProfile::parse(&annotated, bench.options.profile_requests, zeroed, &out_text));
    Ok(())
}

/// CPU seconds spent by the connector, the sandbox and mcpo, and this process.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSplit {
    pub connector: f64,
    pub postgres: f64,
    pub sandbox: f64,
    pub mcpo: f64,
    pub driver: f64,
}

impl CpuSplit {
    fn read(pids: Pids, connector: Option<u32>, postgres_backends: &[u32]) -> CpuSplit {
        CpuSplit {
            connector: connector.map(procs::cpu_seconds).unwrap_or(0.0),
            postgres: postgres_backends.iter().map(|&pid| procs::cpu_seconds(pid)).sum(),
            sandbox: procs::cpu_seconds(pids.sandbox),
            mcpo: pids.mcpo.map(procs::cpu_seconds).unwrap_or(0.0),
            driver: procs::cpu_seconds(std::process::id()),
        }
    }

    fn minus(&self, other: &CpuSplit) -> CpuSplit {
        CpuSplit {
            connector: self.connector - other.connector,
            postgres: self.postgres - other.postgres,
            sandbox: self.sandbox - other.sandbox,
            mcpo: self.mcpo - other.mcpo,
            driver: self.driver - other.driver,
        }
    }

    fn add(&mut self, other: &CpuSplit) {
        self.connector += other.connector;
        self.postgres += other.postgres;
        self.sandbox += other.sandbox;
        self.mcpo += other.mcpo;
        self.driver += other.driver;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_successful_tool_result_for_the_request_counts() {
        let ok = http::StatusCode::OK;
        let result = br#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"structuredContent":{},"isError":false}}"#;
        assert_eq!(check_tool_result(ok, result, 3), Ok(()));
        assert!(check_tool_result(ok, result, 4).is_err(), "another request's answer");
        let tool_error = br#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"isError":true}}"#;
        assert!(check_tool_result(ok, tool_error, 3).is_err());
        let rpc_error = br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"unknown tool"}}"#;
        assert!(check_tool_result(ok, rpc_error, 3).is_err());
        assert!(check_tool_result(http::StatusCode::UNAUTHORIZED, result, 3).is_err());
        assert!(check_tool_result(ok, b"not json", 3).is_err());
    }

    #[test]
    fn the_mcp_request_is_the_direct_calls_arguments_as_a_tools_call() {
        let message: Value = serde_json::from_str(&mcp_call_body(7)).unwrap();
        assert_eq!(message["id"], 7);
        assert_eq!(message["method"], "tools/call");
        assert_eq!(message["params"]["name"], "resolve_token");
        assert_eq!(message["params"]["arguments"], serde_json::from_str::<Value>(ARGUMENTS).unwrap());
    }
}
