//! `connector-bench`: the benchmark harness behind `scripts/bench`. One run measures, on
//! loopback,
//!
//! 1. action overhead: `solana_resolve_token` on the rmcp sandbox called directly (the
//!    connector's own `McpClient`), through the connector's `resolve_token` action, and
//!    through mcpo, at concurrency 1 and 16;
//! 2. OAuth: authorization-code exchanges and refresh rotations on Postgres;
//! 3. cold start: a function binary under an emulated Lambda Runtime API, and
//!    `connector serve`;
//! 4. footprint: binary sizes, and peak RSS under load;
//! 5. database round trips per action, counted on the wire by a proxy in front of Postgres;
//!
//! then prints a table and writes BENCHMARKS.md.
//!
//! The connector under test runs in a child process (`connector-bench host connector`:
//! `shared::routes::all_routes` on a 127.0.0.1:0 listener, configured as a Lambda function
//! is, over Postgres) so that its memory and CPU time are its own; the sandbox MCP server
//! runs in another (`host sandbox`). The load generator is this process: tokio + reqwest,
//! closed loop, HTTP/1.1 keep-alive.

mod lambda;
mod pgproxy;
mod procs;
mod report;
mod stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::mcp::{McpCaller, McpClient};
use shared::store::postgres::PgStore;
use shared::store::{AuthorizationCode, Grant, OAuthClient, Profile, Store};
use uuid::Uuid;

use procs::{Host, Mcpo, Usage};
use report::*;
use stats::Samples;

const PUBLIC_BASE_URL: &str = "https://api.dexter.cash";
const CLIENT_ID: &str = "chatgpt-bench";
const REDIRECT_URI: &str = "https://chatgpt.com/aip/g-bench/oauth/callback";
const SCOPES: [&str; 3] = ["mcp:invoke", "wallet:read", "profile"];
const TOOL: &str = "solana_resolve_token";
const DEFAULT_MAINTENANCE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("host") => host(args.get(1).map(String::as_str).unwrap_or_default()),
        Some("run") | None => {
            let options = Options::parse(&args[args.len().min(1)..])?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(run(options))
        }
        Some("--help" | "-h" | "help") => {
            println!("{}", Options::USAGE);
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n{}", Options::USAGE),
    }
}

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where BENCHMARKS.md goes.
    pub out: PathBuf,
    /// The release binaries (`connector`, the functions).
    pub bin_dir: PathBuf,
    /// mcpo's executable.
    pub mcpo: PathBuf,
    /// Seconds per cell per round, and rounds (cells are interleaved round by round).
    pub seconds: f64,
    pub rounds: usize,
    /// The command line recorded in the report.
    pub command: String,
    /// A `connector-bench` built with symbols (`[profile.profiling]`): when given, the
    /// connector is profiled under callgrind for `profile_requests` actions.
    pub profile_exe: Option<PathBuf>,
    pub profile_requests: usize,
}

impl Options {
    const USAGE: &'static str = "usage: connector-bench [run] [--out BENCHMARKS.md] [--bin-dir target/release] \
                                 [--mcpo .venv/bin/mcpo] [--seconds 3] [--rounds 4] [--command TEXT] \
                                 [--profile-exe target/profiling/connector-bench] [--profile-requests 300]\n       \
                                 connector-bench host connector|sandbox   (internal: the processes under test)";

    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            out: "BENCHMARKS.md".into(),
            bin_dir: "target/release".into(),
            mcpo: ".venv/bin/mcpo".into(),
            seconds: 3.0,
            rounds: 4,
            command: "scripts/bench".into(),
            profile_exe: None,
            profile_requests: 300,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().cloned().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--out" => options.out = value()?.into(),
                "--bin-dir" => options.bin_dir = value()?.into(),
                "--mcpo" => options.mcpo = value()?.into(),
                "--seconds" => options.seconds = value()?.parse().context("--seconds")?,
                "--rounds" => options.rounds = value()?.parse().context("--rounds")?,
                "--command" => options.command = value()?,
                "--profile-exe" => options.profile_exe = Some(value()?.into()),
                "--profile-requests" => {
                    options.profile_requests = value()?.parse().context("--profile-requests")?;
                }
                other => bail!("unknown option {other:?}\n{}", Self::USAGE),
            }
        }
        Ok(options)
    }
}

// --- the processes under test -------------------------------------------------------------

/// `connector-bench host connector|sandbox`: serves until stdin closes, after printing
/// `READY <url>` on stderr.
fn host(what: &str) -> anyhow::Result<()> {
    // The same runtime a function's `#[tokio::main]` builds.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match what {
            "connector" => {
                shared::telemetry::init();
                let config = shared::config::Config::load(shared::config::Mode::Lambda).await?;
                let state = shared::AppState::from_config(config)?;
                let app = shared::http::finish(shared::routes::all_routes(state));
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                eprintln!("READY http://{}", listener.local_addr()?);
                tokio::select! {
                    served = axum::serve(listener, app) => served?,
                    () = stdin_closed() => {}
                }
            }
            "sandbox" => {
                let secret = std::env::var("BENCH_MCP_SECRET").context("BENCH_MCP_SECRET")?;
                let options = sandbox_mcp::SandboxOptions { json_response: true };
                let sandbox = sandbox_mcp::spawn(SecretString::from(secret), options).await?;
                eprintln!("READY {}", sandbox.url);
                stdin_closed().await;
            }
            other => bail!("unknown host {other:?}"),
        }
        Ok(())
    })
}

/// Resolves when stdin reaches its end: the harness closed it, or died.
async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buffer = [0u8; 64];
        let mut stdin = std::io::stdin();
        while let Ok(n) = stdin.read(&mut buffer) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send(());
    });
    let _ = rx.await;
}

// --- the run ------------------------------------------------------------------------------

/// What every phase shares: the throwaway database, the keys and the seeded client.
struct Bench {
    options: Options,
    db: BenchDatabase,
    store: PgStore,
    signing_keys_json: String,
    signing_keys: shared::keys::SigningKeys,
    mcp_secret: String,
    client_secret: String,
    http: reqwest::Client,
}

async fn run(options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let machine = Machine::read();
    println!(
        "connector-bench: {} · {} cores · {:.1} GiB · load {}",
        machine.cpu, machine.cores, machine.mem_gib, machine.load
    );

    let db = BenchDatabase::create().await?;
    let result = run_on(options, db.clone(), machine, started).await;
    db.drop_database().await;
    result
}

async fn run_on(options: Options, db: BenchDatabase, machine: Machine, started: Instant) -> anyhow::Result<()> {
    let applied = shared::store::migrate::run(&db.url, false).await.context("migrating the bench database")?;
    println!("database {} ({} migrations)", db.name, applied.len());
    let store = PgStore::connect(&db.url, false)?;
    let jwk = shared::keys::SigningKeys::generate_jwk();
    let signing_keys_json = json!([jwk]).to_string();
    let signing_keys = shared::keys::SigningKeys::from_json(&signing_keys_json)?;
    let client_secret = shared::tokens::generate("dxcs_");
    store
        .create_client(&OAuthClient {
            id: CLIENT_ID.into(),
            name: "ChatGPT (bench)".into(),
            secret_hash: shared::tokens::hash(&client_secret),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec![REDIRECT_URI.into()],
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            created_at: chrono::Utc::now(),
        })
        .await?;
    let http = shared::tls::client_builder()
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    let bench = Bench {
        options,
        db,
        store,
        signing_keys_json,
        signing_keys,
        mcp_secret: format!("bench-mcp-secret-{}", Uuid::new_v4().simple()),
        client_secret,
        http,
    };

    let mut report = Report { machine, ..Report::default() };
    report.command = bench.options.command.clone();
    report.rounds = bench.options.rounds;
    report.bin_dir = bench.options.bin_dir.display().to_string();
    report.seconds = bench.options.seconds;
    report.postgres = postgres_facts(&bench.db.url).await;

    // 1, 2 and 4 (RSS): one sandbox, one connector, one mcpo.
    let sandbox = Host::start("sandbox", &[("BENCH_MCP_SECRET".into(), bench.mcp_secret.clone())]).await?;
    println!("sandbox MCP server {} (pid {})", sandbox.address, sandbox.pid);
    let connector = Host::start("connector", &bench.connector_env(&bench.db.url, &sandbox.address)).await?;
    println!("connector {} (pid {})", connector.address, connector.pid);

    overhead(&bench, &sandbox, &connector, &mut report).await?;
    async_commit(&bench, &sandbox, &mut report).await?;
    oauth(&bench, &connector, &mut report).await?;
    report.connector_usage = connector.usage();
    report.sandbox_usage = sandbox.usage();
    drop(connector);

    // 5: round trips, through the counting proxy.
    round_trips(&bench, &mut report).await?;

    // 3 and 4: the release binaries.
    cold_starts(&bench, &sandbox, &mut report).await?;

    // 6: where the connector's own CPU goes.
    if let Some(exe) = &bench.options.profile_exe
        && let Err(error) = profile(&bench, &sandbox, exe, &mut report).await
    {
        report.notes.push(format!("the callgrind profile failed: {error:#}"));
    }
    drop(sandbox);
    report.binaries = binary_sizes(&bench.options.bin_dir);

    report.duration = started.elapsed();
    report.date = chrono::Utc::now();
    report.finish();
    print!("{}", report.console());
    let markdown = report.markdown();
    std::fs::write(&bench.options.out, markdown).with_context(|| format!("writing {}", bench.options.out.display()))?;
    println!("\nwrote {} in {:.0} s", bench.options.out.display(), report.duration.as_secs_f64());
    Ok(())
}

impl Bench {
    /// A function's settings in Lambda mode (PUBLIC_BASE_URL https, every secret set).
    fn connector_env(&self, database_url: &str, mcp_url: &str) -> Vec<(String, String)> {
        [
            ("PUBLIC_BASE_URL", PUBLIC_BASE_URL),
            ("SIGNING_KEYS", self.signing_keys_json.as_str()),
            ("MCP_URL", mcp_url),
            ("MCP_JWT_SECRET", self.mcp_secret.as_str()),
            ("DATABASE_URL", database_url),
            ("DATABASE_TLS", "false"),
            ("TURNSTILE_SITE_KEY", "1x00000000000000000000AA"),
            ("TURNSTILE_SECRET_KEY", "0x4AAAAAAAbench-turnstile-secret"),
            ("ADMIN_TOKEN", "bench-admin-token-bench-admin-token-0123"),
            ("SUPABASE_URL", "http://127.0.0.1:9"),
            ("SUPABASE_ANON_KEY", "bench-anon-key"),
            ("SUPABASE_JWT_SECRET", "bench-supabase-jwt-secret-0123456789abcdef"),
            ("RUST_LOG", "info"),
            ("CONNECTOR_SECRET_ARN", ""),
            ("MCP_TOOL_NAMES", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A linked user: profile (tier `pro`, ChatGPT on), a grant for the bench client and
    /// an access token. Returns (user id, grant id, token).
    async fn linked_user(&self) -> anyhow::Result<(Uuid, Uuid, String)> {
        let user_id = Uuid::new_v4();
        self.store
            .upsert_profile(&Profile {
                user_id,
                email: Some(format!("{user_id}@bench.local")),
                tier: "pro".into(),
                channels: json!({ "chatgpt": true }),
            })
            .await?;
        let now = chrono::Utc::now();
        let scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
        let grant = Grant {
            id: Uuid::new_v4(),
            user_id,
            client_id: CLIENT_ID.into(),
            scopes: scopes.clone(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        self.store.create_grant(&grant).await?;
        let token = shared::oauth::access_token::issue(
            &self.signing_keys,
            PUBLIC_BASE_URL,
            user_id,
            CLIENT_ID,
            grant.id,
            &scopes,
            now,
        )?;
        Ok((user_id, grant.id, token))
    }

    /// A fresh authorization code for `user_id`, stored as the consent step stores it.
    async fn new_code(&self, user_id: Uuid) -> anyhow::Result<String> {
        let code = shared::tokens::generate("dxac_");
        self.store
            .create_authorization_code(&AuthorizationCode {
                code_hash: shared::tokens::hash(&code),
                client_id: CLIENT_ID.into(),
                user_id,
                redirect_uri: REDIRECT_URI.into(),
                scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
                expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
                grant_id: None,
            })
            .await?;
        Ok(code)
    }

    fn basic_auth(&self) -> String {
        use base64::Engine;
        let pair = format!("{CLIENT_ID}:{}", self.client_secret);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

/// POSTs a token request; the refresh token of a 200 answer.
async fn token_request(
    http: &reqwest::Client,
    url: &str,
    basic: &str,
    form: &[(&str, &str)],
) -> Result<String, String> {
    let response = http
        .post(url)
        .header("authorization", basic)
        .form(form)
        .send()
        .await
        .map_err(|e| format!("token request: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| format!("token body: {e}"))?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {body}"));
    }
    body["refresh_token"].as_str().map(str::to_owned).ok_or_else(|| format!("no refresh_token in {body}"))
}

// --- 1. action overhead ---------------------------------------------------------------------

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
fn direct_request(bench: &Bench, mcp_url: &str, caller: &McpCaller) -> Request {
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
fn action_request(bench: &Bench, connector: &Host, access_token: &str) -> Request {
    let url = format!("{}/connector/chatgpt/resolve_token?query=SOL&limit=5", connector.address);
    let (http, bearer) = (bench.http.clone(), format!("Bearer {access_token}"));
    Arc::new(move |_| {
        let (http, url, bearer) = (http.clone(), url.clone(), bearer.clone());
        Box::pin(async move { expect_ok(http.get(&url).header("authorization", bearer)).await })
    })
}

/// (c) mcpo's route for the tool, with its API key.
fn mcpo_request(bench: &Bench, mcpo: &Mcpo, api_key: &str) -> Request {
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
async fn postgres_backends(bench: &Bench) -> Vec<u32> {
    let Ok(client) = connect(&bench.db.maintenance_url).await else {
        return Vec::new();
    };
    let rows = client
        .query(
            "select pid from pg_stat_activity where datname = $1 and application_name = 'dexter-chatgpt-connector'",
            &[&bench.db.name],
        )
        .await
        .unwrap_or_default();
    rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect()
}

/// Warm-up, then `rounds` rounds of every (concurrency, way) cell, interleaved so that the
/// machine's noise spreads over every cell alike.
async fn measure(bench: &Bench, ways: &[(Way, Request)], pids: Pids) -> anyhow::Result<Vec<OverheadCell>> {
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

async fn overhead(bench: &Bench, sandbox: &Host, connector: &Host, report: &mut Report) -> anyhow::Result<()> {
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
async fn async_commit(bench: &Bench, sandbox: &Host, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[1/5] attribution: the same, on a database with synchronous_commit = off");
    bench.db.set_synchronous_commit(false).await?;
    let measured = async {
        let connector = Host::start("connector", &bench.connector_env(&bench.db.url, &sandbox.address)).await?;
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
async fn profile(bench: &Bench, sandbox: &Host, exe: &Path, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[6/6] callgrind profile of the connector ({} resolve_token actions)", bench.options.profile_requests);
    let out_dir = PathBuf::from("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join("callgrind.connector.out");
    let env = bench.connector_env(&bench.db.url, &sandbox.address);
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

/// Sends a request; `Ok` for a 2xx whose body was read to the end.
async fn expect_ok(request: reqwest::RequestBuilder) -> stats::Outcome {
    let response = request.send().await.map_err(|e| format!("{e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("{e}"))?;
    if status.is_success() { Ok(()) } else { Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))) }
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

// --- 2. OAuth -------------------------------------------------------------------------------

async fn oauth(bench: &Bench, connector: &Host, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[2/5] OAuth token endpoint (client_secret_basic, Postgres)");
    let token_url = format!("{}/oauth/chatgpt/token", connector.address);
    let basic = bench.basic_auth();
    let user_id = Uuid::new_v4();
    bench
        .store
        .upsert_profile(&Profile {
            user_id,
            email: Some("oauth@bench.local".into()),
            tier: "pro".into(),
            channels: json!({ "chatgpt": true }),
        })
        .await?;

    // Warm-up: a few of each.
    let mut warm_refresh = Vec::new();
    for _ in 0..20 {
        let code = bench.new_code(user_id).await?;
        let refresh = token_request(
            &bench.http,
            &token_url,
            &basic,
            &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)],
        )
        .await
        .map_err(|e| anyhow::anyhow!("code exchange: {e}"))?;
        warm_refresh.push(refresh);
    }
    for refresh in &mut warm_refresh {
        *refresh = token_request(
            &bench.http,
            &token_url,
            &basic,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await
        .map_err(|e| anyhow::anyhow!("refresh: {e}"))?;
    }

    for (concurrency, count) in [(1usize, 300usize), (16, 900)] {
        // Codes made up front through the store, so only the token endpoint is timed.
        let mut codes = Vec::with_capacity(count);
        for _ in 0..count {
            codes.push(bench.new_code(user_id).await?);
        }
        let codes = Arc::new(codes);
        let refresh_tokens: Arc<Mutex<Vec<String>>> = Arc::default();
        let exchanges = {
            let (http, url, basic, codes, out) =
                (bench.http.clone(), token_url.clone(), basic.clone(), codes.clone(), refresh_tokens.clone());
            stats::fixed_count(concurrency, count, move |_, i| {
                let (http, url, basic, codes, out) =
                    (http.clone(), url.clone(), basic.clone(), codes.clone(), out.clone());
                async move {
                    let refresh = token_request(
                        &http,
                        &url,
                        &basic,
                        &[("grant_type", "authorization_code"), ("code", &codes[i]), ("redirect_uri", REDIRECT_URI)],
                    )
                    .await?;
                    out.lock().unwrap_or_else(|e| e.into_inner()).push(refresh);
                    Ok(())
                }
            })
            .await
        };
        // Rotations: one chain per worker, each rotation presenting the last one's token.
        let chains: Vec<Mutex<String>> = refresh_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .take(concurrency)
            .cloned()
            .map(Mutex::new)
            .collect();
        if chains.len() < concurrency {
            bail!("only {} exchanges succeeded: {:?}", chains.len(), exchanges.first_error);
        }
        let chains = Arc::new(chains);
        let rotations = {
            let (http, url, basic, chains) = (bench.http.clone(), token_url.clone(), basic.clone(), chains.clone());
            stats::fixed_count(concurrency, count, move |worker, _| {
                let (http, url, basic, chains) = (http.clone(), url.clone(), basic.clone(), chains.clone());
                async move {
                    let presented = chains[worker].lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let next = token_request(
                        &http,
                        &url,
                        &basic,
                        &[("grant_type", "refresh_token"), ("refresh_token", &presented)],
                    )
                    .await?;
                    *chains[worker].lock().unwrap_or_else(|e| e.into_inner()) = next;
                    Ok(())
                }
            })
            .await
        };
        for (kind, mut samples) in [("authorization_code exchange", exchanges), ("refresh_token rotation", rotations)] {
            samples.sort();
            println!(
                "  c={concurrency:<2} {kind:<28} {:>6.0} /s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} ok, {} errors)",
                samples.rps(),
                samples.p50(),
                samples.p99(),
                samples.count(),
                samples.errors
            );
            report.oauth.push(OAuthCell { kind, concurrency, samples });
        }
    }
    Ok(())
}

// --- 5. database round trips ------------------------------------------------------------------

/// Counts what reached the sandbox's `/mcp`, and the database round trips at that moment.
#[derive(Default)]
struct McpArrivals {
    counter: Mutex<Option<Arc<pgproxy::RoundTrips>>>,
    arrivals: Mutex<Vec<u64>>,
}

async fn note_arrival(
    axum::extract::State(hook): axum::extract::State<Arc<McpArrivals>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.method() == http::Method::POST {
        let count = hook.counter.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |c| c.count());
        hook.arrivals.lock().unwrap_or_else(|e| e.into_inner()).push(count);
    }
    next.run(request).await
}

async fn round_trips(bench: &Bench, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[5/5] database round trips (counted by a proxy in front of Postgres)");
    let upstream: SocketAddr = bench.db.socket_addr()?;
    let (proxy_addr, counter) = pgproxy::start(upstream).await?;
    let proxied_url = bench.db.url_via(proxy_addr);

    // A sandbox in this process, so the count can be read the moment the tool call arrives.
    let hook: Arc<McpArrivals> = Arc::default();
    *hook.counter.lock().unwrap_or_else(|e| e.into_inner()) = Some(counter.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mcp_url = format!("http://{}/mcp", listener.local_addr()?);
    let (router, handle) = sandbox_mcp::router(
        SecretString::from(bench.mcp_secret.clone()),
        mcp_url.clone(),
        sandbox_mcp::SandboxOptions { json_response: true },
    );
    let router = router.layer(axum::middleware::from_fn_with_state(hook.clone(), note_arrival));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let connector = Host::start("connector", &bench.connector_env(&proxied_url, &mcp_url)).await?;

    let (_user, _grant, token) = bench.linked_user().await?;
    let action_url = format!("{}/connector/chatgpt/resolve_token?query=SOL&limit=5", connector.address);
    // Warm: the pool's connection and the user's MCP session exist before counting.
    for _ in 0..3 {
        expect_ok(bench.http.get(&action_url).bearer_auth(&token)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut per_request = Vec::new();
    for i in 0..20 {
        hook.arrivals.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if i == 0 {
            counter.record(true);
        }
        let start = counter.count();
        expect_ok(bench.http.get(&action_url).bearer_auth(&token)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        // The receipt is written before the response is sent; allow the proxy to see it.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let end = counter.count();
        let arrivals = hook.arrivals.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if i == 0 {
            counter.record(false);
            let at_mcp = arrivals.first().copied().unwrap_or(end);
            report.action_sql = counter
                .recorded()
                .into_iter()
                .map(|(n, sql)| (if n <= at_mcp { "before" } else { "after" }, sql))
                .collect();
        }
        let at_mcp = arrivals.first().copied().unwrap_or(end);
        per_request.push(RoundTripCount { mcp_posts: arrivals.len(), before: at_mcp - start, after: end - at_mcp });
    }
    report.action_round_trips = per_request;

    // The token endpoint, for the record.
    let basic = bench.basic_auth();
    let token_url = format!("{}/oauth/chatgpt/token", connector.address);
    let user_id = Uuid::new_v4();
    bench
        .store
        .upsert_profile(&Profile { user_id, email: None, tier: "pro".into(), channels: json!({ "chatgpt": true }) })
        .await?;
    // Warm the token path once.
    let code = bench.new_code(user_id).await?;
    let mut refresh = token_request(
        &bench.http,
        &token_url,
        &basic,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)],
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let code = bench.new_code(user_id).await?;
    counter.record(true);
    let start = counter.count();
    token_request(
        &bench.http,
        &token_url,
        &basic,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI)],
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tokio::time::sleep(Duration::from_millis(5)).await;
    report.exchange_round_trips = counter.count() - start;
    report.exchange_sql = counter.recorded().into_iter().map(|(_, s)| s).collect();
    counter.record(true);
    let start = counter.count();
    refresh =
        token_request(&bench.http, &token_url, &basic, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = refresh;
    tokio::time::sleep(Duration::from_millis(5)).await;
    report.refresh_round_trips = counter.count() - start;
    report.refresh_sql = counter.recorded().into_iter().map(|(_, s)| s).collect();
    counter.record(false);
    let summary = report.action_round_trip_summary();
    println!(
        "  resolve_token: {} before the MCP call, {} after; code exchange {}, refresh {}",
        summary.0, summary.1, report.exchange_round_trips, report.refresh_round_trips
    );

    drop(connector);
    handle.shutdown();
    server.abort();
    Ok(())
}

// --- 3. cold starts, 4. function RSS ------------------------------------------------------------

async fn cold_starts(bench: &Bench, sandbox: &Host, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[3/5] cold starts  [4/5] footprint");
    let env = bench.connector_env(&bench.db.url, &sandbox.address);
    let (_user, _grant, token) = bench.linked_user().await?;
    let bearer = format!("Bearer {token}");
    let healthz_event = lambda::apigw_get("/healthz", "", &[], "bench-healthz");
    let resolve_event = |n: usize| {
        lambda::apigw_get(
            "/connector/chatgpt/resolve_token",
            "query=SOL&limit=5",
            &[("authorization", bearer.as_str())],
            &format!("bench-resolve-{n}"),
        )
    };

    for (function, runs) in [("healthz", 10usize), ("resolve-token", 6)] {
        let binary = bench.options.bin_dir.join(function);
        if !binary.exists() {
            report.notes.push(format!("{} is missing: no cold start for {function}", binary.display()));
            continue;
        }
        let mut samples = Vec::new();
        // One unmeasured start first: the binary's pages come into the page cache.
        for run in 0..=runs {
            let event = if function == "healthz" { healthz_event.clone() } else { resolve_event(run) };
            let mut started = lambda::Function::start(&binary, &env, event).await?;
            let (response, cold) = started.first_response().await?;
            if response["statusCode"] != 200 {
                bail!("{function}: the first invocation answered {response}");
            }
            if run > 0 {
                samples.push(cold);
            }
        }
        let cell = ColdCell::new(function, "Lambda Runtime API emulation, spawn → first invocation response", &samples);
        println!(
            "  {function:<14} init {:>6.1} ms  first response {:>6.1} ms (median of {runs})",
            cell.init_ms, cell.first_ms
        );
        report.cold.push(cell);
    }

    // RSS of a function binary under load: resolve-token, invocations back to back.
    let binary = bench.options.bin_dir.join("resolve-token");
    if binary.exists() {
        let mut function = lambda::Function::start(&binary, &env, resolve_event(0)).await?;
        function.first_response().await?;
        let invocations = 400;
        let mut latencies = Vec::with_capacity(invocations);
        for n in 1..=invocations {
            let sent = Instant::now();
            let response = function.invoke(resolve_event(n)).await?;
            if response["statusCode"] != 200 {
                bail!("resolve-token answered {response}");
            }
            latencies.push(sent.elapsed().as_micros() as u32);
        }
        let usage = Usage::of(function.pid);
        report.function_load = Some(FunctionLoad {
            name: "resolve-token",
            invocations,
            usage,
            p50_ms: stats::quantile_us(&latencies, 0.5) as f64 / 1000.0,
            p99_ms: stats::quantile_us(&latencies, 0.99) as f64 / 1000.0,
        });
        println!("  resolve-token under {invocations} invocations: VmHWM {:.1} MiB", usage.hwm_mib());
    }

    // `connector serve`: spawn → /healthz answers 200.
    let connector = bench.options.bin_dir.join("connector");
    if connector.exists() {
        let mut samples = Vec::new();
        for run in 0..=5 {
            let elapsed = serve_cold_start(&connector, &bench.http).await?;
            if run > 0 {
                samples.push(lambda::ColdStart { init: elapsed.0, first_response: elapsed.1 });
            }
        }
        let cell = ColdCell::new("connector serve", "spawn → port printed (init) → first GET /healthz 200", &samples);
        println!(
            "  connector serve  listening {:>6.1} ms  first response {:>6.1} ms (median of 5)",
            cell.init_ms, cell.first_ms
        );
        report.cold.push(cell);
    } else {
        report.notes.push(format!("{} is missing: no cold start for connector serve", connector.display()));
    }
    Ok(())
}

/// Spawns `connector serve --port 0` (in-memory store, in-process sandbox) and returns
/// (spawn → port printed, spawn → first 200 from /healthz).
async fn serve_cold_start(binary: &Path, http: &reqwest::Client) -> anyhow::Result<(Duration, Duration)> {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(binary);
    command
        .args(["serve", "--port", "0"])
        .env_remove("DATABASE_URL")
        .env_remove("MCP_URL")
        .env_remove("PUBLIC_BASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let port = loop {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("connector serve printed no address within 20 s")??
            .context("connector serve exited")?;
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            break digits.parse::<u16>()?;
        }
    };
    let listening = spawned.elapsed();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = format!("http://127.0.0.1:{port}/healthz");
    let first = loop {
        if let Ok(response) = http.get(&url).send().await
            && response.status().is_success()
        {
            break spawned.elapsed();
        }
        if spawned.elapsed() > Duration::from_secs(20) {
            bail!("connector serve did not answer /healthz within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok((listening, first))
}

// --- 4. binary sizes ----------------------------------------------------------------------------

fn binary_sizes(bin_dir: &Path) -> Vec<BinarySize> {
    let mut sizes = Vec::new();
    // What scripts/lambda-build leaves: target/lambda/<function>/bootstrap.
    if let Ok(entries) = std::fs::read_dir("target/lambda") {
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path().join("bootstrap");
            if let Some(size) =
                BinarySize::of(&entry.file_name().to_string_lossy(), &path, "target/lambda (scripts/lambda-build)")
            {
                sizes.push(size);
            }
        }
    }
    for name in ["healthz", "resolve-token", "oauth-token", "connector"] {
        if let Some(size) = BinarySize::of(name, &bin_dir.join(name), "target/release (cargo build --release)") {
            sizes.push(size);
        }
    }
    sizes
}

// --- the throwaway database ----------------------------------------------------------------------

#[derive(Clone, Debug)]
struct BenchDatabase {
    name: String,
    url: String,
    maintenance_url: String,
}

impl BenchDatabase {
    async fn create() -> anyhow::Result<BenchDatabase> {
        let maintenance_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_MAINTENANCE_URL.to_owned());
        let client = connect(&maintenance_url)
            .await
            .with_context(|| format!("Postgres is not reachable at {} (set DATABASE_URL)", redact(&maintenance_url)))?;
        let name = format!("connector_bench_{}", Uuid::new_v4().simple());
        client.batch_execute(&format!("create database {name}")).await?;
        let url = with_database(&maintenance_url, &name);
        Ok(BenchDatabase { name, url, maintenance_url })
    }

    async fn drop_database(&self) {
        match connect(&self.maintenance_url).await {
            Ok(client) => {
                if let Err(error) =
                    client.batch_execute(&format!("drop database if exists {} with (force)", self.name)).await
                {
                    eprintln!("could not drop {}: {error}", self.name);
                }
            }
            Err(error) => eprintln!("could not drop {}: {error}", self.name),
        }
    }

    /// `alter database … set synchronous_commit` on the throwaway database (new
    /// connections only).
    async fn set_synchronous_commit(&self, on: bool) -> anyhow::Result<()> {
        let client = connect(&self.maintenance_url).await?;
        let sql = if on {
            format!("alter database {} reset synchronous_commit", self.name)
        } else {
            format!("alter database {} set synchronous_commit = off", self.name)
        };
        client.batch_execute(&sql).await?;
        Ok(())
    }

    /// host:port of the server (loopback by default).
    fn socket_addr(&self) -> anyhow::Result<SocketAddr> {
        let config: tokio_postgres::Config = self.url.parse()?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        use std::net::ToSocketAddrs;
        (host.as_str(), port).to_socket_addrs()?.next().context("resolving the database host")
    }

    /// The database's URL with host:port replaced by `proxy`.
    fn url_via(&self, proxy: SocketAddr) -> String {
        let config: tokio_postgres::Config = self.url.parse().expect("parsed before");
        let user = config.get_user().unwrap_or("postgres");
        let password = config.get_password().map(|p| format!(":{}", String::from_utf8_lossy(p))).unwrap_or_default();
        format!("postgres://{user}{password}@{proxy}/{}", self.name)
    }
}

/// The server's version and its commit durability settings, for the report.
async fn postgres_facts(url: &str) -> String {
    let Ok(client) = connect(url).await else {
        return "unknown".into();
    };
    let mut facts = Vec::new();
    for setting in ["server_version", "synchronous_commit", "fsync"] {
        if let Ok(rows) = client.simple_query(&format!("show {setting}")).await {
            for row in rows {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = row {
                    facts.push(format!("{setting} = {}", row.get(0).unwrap_or("?")));
                }
            }
        }
    }
    format!("{} (127.0.0.1, no TLS)", facts.join(", "))
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let user = url[s + 3..at].split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
