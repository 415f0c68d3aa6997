//! Phase 1, action overhead: `solana_resolve_token` called directly, through the connector
//! and through mcpo; the same on a database with `synchronous_commit = off`; and, with
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
    Mcpo,
    /// The connector on a database whose commits do not wait for the WAL flush.
    ConnectorAsyncCommit,
}

impl Way {
    pub fn label(self) -> &'static str {
        match self {
            Way::Direct => "direct MCP tools/call",
            Way::Connector => "connector resolve_token",
            Way::Mcpo => "mcpo",
            Way::ConnectorAsyncCommit => "connector, async commit",
        }
    }
}

type Request = Arc<dyn Fn(usize) -> futures_util::future::BoxFuture<'static, stats::Outcome> + Send + Sync>;

const ARGUMENTS: &str = r#"{"query":"SOL","limit":5}"#;

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

/// The processes whose CPU time is attributed per cell. The Postgres backends serving the
/// connector's pool are looked up before each cell (`pg_stat_activity`).
#[derive(Clone, Copy)]
struct Pids {
    connector: u32,
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
async fn measure(bench: &Bench<'_>, ways: &[(Way, Request)], pids: Pids) -> anyhow::Result<Vec<OverheadCell>> {
    for (way, request) in ways {
        request(0).await.map_err(|e| anyhow::anyhow!("{}: {e}", way.label()))?;
    }
    for (_, request) in ways {
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
            for (way, request) in ways {
                let backends = postgres_backends(bench).await;
                let before = CpuSplit::read(pids, &backends);
                let request = request.clone();
                let samples = stats::closed_loop(concurrency, cell, move |w| request(w)).await;
                let after = CpuSplit::read(pids, &backends);
                cpu.entry((*way, concurrency)).or_default().add(&after.minus(&before));
                println!(
                    "  round {} c={concurrency:<2} {:<24} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms{}",
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
    let (user_id, _grant, access_token) = bench.linked_user().await?;
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

    let mut ways: Vec<(Way, Request)> = vec![
        (Way::Direct, direct_request(bench, &sandbox.address, &caller)),
        (Way::Connector, action_request(bench, connector, &access_token)),
    ];
    if let Some(mcpo) = &mcpo {
        report.mcpo_version = mcpo.version.clone();
        ways.push((Way::Mcpo, mcpo_request(bench, mcpo, &mcpo_key)));
    }
    let first = bench
        .http
        .get(format!("{}/connector/chatgpt/resolve_token?query=SOL&limit=5", connector.address))
        .bearer_auth(&access_token)
        .send()
        .await?;
    report.sample_action_body = first.text().await?;
    let pids = Pids { connector: connector.pid, sandbox: sandbox.pid, mcpo: mcpo.as_ref().map(|m| m.pid) };
    report.overhead = measure(bench, &ways, pids).await.map_err(|e| e.context(connector.tail()))?;
    if let Some(mcpo) = &mcpo {
        report.mcpo_usage = Some(Usage::of(mcpo.pid));
    }
    Ok(())
}

/// The same connector against the same database with `synchronous_commit = off` (set on
/// the throwaway database only, for new connections): how much of the overhead is the
/// WAL flush of the action's writes on this machine's disk.
pub async fn async_commit(bench: &Bench<'_>, sandbox: &Host, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[1/5] attribution: the same, on a database with synchronous_commit = off");
    bench.db.set_synchronous_commit(false).await?;
    let measured = async {
        let connector = Host::start("connector", &bench.connector_env(bench.db.url(), &sandbox.address)).await?;
        let (user_id, _grant, access_token) = bench.linked_user().await?;
        let caller = McpCaller { user_id, scopes: SCOPES.iter().map(|s| s.to_string()).collect(), roles: Vec::new() };
        let ways = vec![
            (Way::Direct, direct_request(bench, &sandbox.address, &caller)),
            (Way::ConnectorAsyncCommit, action_request(bench, &connector, &access_token)),
        ];
        let pids = Pids { connector: connector.pid, sandbox: sandbox.pid, mcpo: None };
        measure(bench, &ways, pids).await
    }
    .await;
    bench.db.set_synchronous_commit(true).await?;
    report.async_commit = measured?;
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
    fn read(pids: Pids, postgres_backends: &[u32]) -> CpuSplit {
        CpuSplit {
            connector: procs::cpu_seconds(pids.connector),
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
