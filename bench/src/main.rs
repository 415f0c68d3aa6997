//! `connector-bench`: the benchmark harness behind `scripts/bench`. One run measures, on
//! loopback,
//!
//! 1. action overhead: `solana_resolve_token` on the rmcp sandbox called directly (the
//!    connector's own `McpClient`), through the connector's `resolve_token` action, through
//!    the same action as a `tools/call` to the connector's own `/mcp`, and through mcpo, at
//!    concurrency 1 and 16; beside them, in the same rounds, the connector
//!    with its receipt committed asynchronously (the behaviour before every receipt was
//!    durable) and, with `--alt-connector-exe`, the connector from another build; then the
//!    connector (action and `/mcp`) and direct calls again with an upstream that takes 50 ms
//!    a call;
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

mod cold_start;
mod oauth;
mod overhead;
mod pgproxy;
mod procs;
mod report;
mod round_trips;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::store::postgres::PgStore;
use shared::store::{AuthorizationCode, Grant, OAuthClient, Profile, Store};
use shared::{GrantId, UserId};
use testkit::PUBLIC_BASE_URL;
use testkit::db::TestDatabase;
use uuid::Uuid;

use procs::Host;
use report::*;

const CLIENT_ID: &str = "chatgpt-bench";
const REDIRECT_URI: &str = "https://chatgpt.com/aip/g-bench/oauth/callback";
const SCOPES: [&str; 3] = ["mcp:invoke", "wallet:read", "profile"];
const TOOL: &str = "solana_resolve_token";

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
    /// Release binaries (`healthz`, `resolve-token`) built at another commit: their cold
    /// starts and sizes are measured in the same run, beside this build's.
    pub baseline_bin_dir: Option<PathBuf>,
    /// What the baseline is, for the report (e.g. `1dab74a, before aws-sdk-secretsmanager`).
    pub baseline_label: String,
    /// A `connector-bench` built another way (e.g. another `[profile.release]`): its
    /// connector is measured in the overhead rounds beside this build's.
    pub alt_connector_exe: Option<PathBuf>,
    /// That build's release binaries (`resolve-token`, `healthz`, and `lambda/*/bootstrap`
    /// when present): their sizes are listed beside this build's.
    pub alt_bin_dir: Option<PathBuf>,
    /// What the other build is, for the report.
    pub alt_label: String,
    /// The per-call delay of the slow upstream (the sandbox's `call_delay`), in ms.
    pub upstream_delay_ms: u64,
    /// The phases to run (all when empty): see [`Phase`].
    pub only: Vec<Phase>,
}

/// The parts of a run, for `--only` (comma-separated names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Action overhead, with the async-receipt and other-build connectors beside it.
    Overhead,
    /// The same with a slow upstream.
    SlowUpstream,
    OAuth,
    RoundTrips,
    ColdStart,
}

impl Phase {
    fn parse(name: &str) -> anyhow::Result<Phase> {
        Ok(match name {
            "overhead" => Phase::Overhead,
            "slow-upstream" => Phase::SlowUpstream,
            "oauth" => Phase::OAuth,
            "round-trips" => Phase::RoundTrips,
            "cold-start" => Phase::ColdStart,
            other => bail!("unknown phase {other:?} (overhead, slow-upstream, oauth, round-trips, cold-start)"),
        })
    }
}

impl Options {
    const USAGE: &'static str = "usage: connector-bench [run] [--out BENCHMARKS.md] [--bin-dir target/release] \
                                 [--mcpo .venv-bench/bin/mcpo] [--seconds 3] [--rounds 4] [--command TEXT] \
                                 [--profile-exe target/profiling/connector-bench] [--profile-requests 300] \
                                 [--baseline-bin-dir DIR --baseline-label TEXT] \
                                 [--alt-connector-exe EXE --alt-bin-dir DIR --alt-label TEXT] [--upstream-delay-ms 50] \
                                 [--only overhead,slow-upstream,oauth,round-trips,cold-start]\n       \
                                 connector-bench host connector|sandbox   (internal: the processes under test)";

    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut options = Options {
            out: "BENCHMARKS.md".into(),
            bin_dir: "target/release".into(),
            mcpo: ".venv-bench/bin/mcpo".into(),
            seconds: 3.0,
            rounds: 4,
            command: "scripts/bench".into(),
            profile_exe: None,
            profile_requests: 300,
            baseline_bin_dir: None,
            baseline_label: "baseline".into(),
            alt_connector_exe: None,
            alt_bin_dir: None,
            alt_label: "alternative build".into(),
            upstream_delay_ms: 50,
            only: Vec::new(),
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
                "--baseline-bin-dir" => options.baseline_bin_dir = Some(value()?.into()),
                "--baseline-label" => options.baseline_label = value()?,
                "--alt-connector-exe" => options.alt_connector_exe = Some(value()?.into()),
                "--alt-bin-dir" => options.alt_bin_dir = Some(value()?.into()),
                "--alt-label" => options.alt_label = value()?,
                "--upstream-delay-ms" => {
                    options.upstream_delay_ms = value()?.parse().context("--upstream-delay-ms")?;
                }
                "--only" => {
                    options.only = value()?.split(',').map(Phase::parse).collect::<anyhow::Result<_>>()?;
                }
                "--profile-requests" => {
                    options.profile_requests = value()?.parse().context("--profile-requests")?;
                }
                other => bail!("unknown option {other:?}\n{}", Self::USAGE),
            }
        }
        Ok(options)
    }

    /// Whether `phase` runs (`--only`).
    pub fn runs(&self, phase: Phase) -> bool {
        self.only.is_empty() || self.only.contains(&phase)
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
                let app = shared::http::finish(shared::routes::all_routes(state.clone()), &state.config);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                eprintln!("READY http://{}", listener.local_addr()?);
                tokio::select! {
                    served = axum::serve(listener, app) => served?,
                    () = stdin_closed() => {}
                }
            }
            "sandbox" => {
                let secret = std::env::var("BENCH_MCP_SECRET").context("BENCH_MCP_SECRET")?;
                let delay_ms = match std::env::var("BENCH_MCP_CALL_DELAY_MS") {
                    Ok(ms) => ms.parse().context("BENCH_MCP_CALL_DELAY_MS")?,
                    Err(_) => 0,
                };
                let options =
                    sandbox_mcp::SandboxOptions { json_response: true, call_delay: Duration::from_millis(delay_ms) };
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
struct Bench<'a> {
    options: Options,
    db: &'a TestDatabase,
    /// Seeds clients, users, grants and codes; behind `dyn Store`, which brings every
    /// store family's methods with it.
    store: Arc<dyn Store>,
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

    let db = TestDatabase::try_create("connector_bench").await?;
    let result = run_on(options, &db, machine, started).await;
    db.drop_database().await;
    result
}

async fn run_on(options: Options, db: &TestDatabase, machine: Machine, started: Instant) -> anyhow::Result<()> {
    let applied = shared::store::migrate::run(db.url(), false).await.context("migrating the bench database")?;
    println!("database {} ({} migrations)", db.name(), applied.len());
    let store: Arc<dyn Store> = Arc::new(PgStore::connect(db.url(), false)?);
    let jwk = shared::keys::SigningKeys::generate_jwk();
    let signing_keys_json = json!([jwk]).to_string();
    let signing_keys = shared::keys::SigningKeys::from_json(&signing_keys_json)?;
    let client_secret = shared::tokens::generate("dxcs_");
    store
        .create_client(&OAuthClient {
            id: CLIENT_ID.into(),
            name: "ChatGPT (bench)".into(),
            secret_hash: shared::TokenHash::of(&client_secret),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec![REDIRECT_URI.into()],
            scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            created_at: chrono::Utc::now(),
            public: false,
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
    report.alt_label = bench.options.alt_connector_exe.as_ref().map(|_| bench.options.alt_label.clone());
    report.upstream_delay_ms = bench.options.upstream_delay_ms;
    report.postgres = postgres_facts(bench.db.url()).await;

    // 1, 2 and 4 (RSS): one sandbox, one connector, one mcpo.
    let sandbox = Host::start("sandbox", &[("BENCH_MCP_SECRET".into(), bench.mcp_secret.clone())]).await?;
    println!("sandbox MCP server {} (pid {})", sandbox.address, sandbox.pid);
    let connector = Host::start("connector", &bench.connector_env(bench.db.url(), &sandbox.address)).await?;
    println!("connector {} (pid {})", connector.address, connector.pid);

    if bench.options.runs(Phase::Overhead) {
        overhead::overhead(&bench, &sandbox, &connector, &mut report).await?;
    }
    if bench.options.runs(Phase::SlowUpstream) {
        overhead::slow_upstream(&bench, &mut report).await?;
    }
    if bench.options.runs(Phase::OAuth) {
        oauth::oauth(&bench, &connector, &mut report).await?;
    }
    report.connector_usage = connector.usage();
    report.sandbox_usage = sandbox.usage();
    drop(connector);

    // 5: round trips, through the counting proxy.
    if bench.options.runs(Phase::RoundTrips) {
        round_trips::round_trips(&bench, &mut report).await?;
    }

    // 3 and 4: the release binaries.
    if bench.options.runs(Phase::ColdStart) {
        cold_start::cold_starts(&bench, &sandbox, &mut report).await?;
    }

    // 6: where the connector's own CPU goes.
    if let Some(exe) = &bench.options.profile_exe
        && let Err(error) = overhead::profile(&bench, &sandbox, exe, &mut report).await
    {
        report.notes.push(format!("the callgrind profile failed: {error:#}"));
    }
    drop(sandbox);
    report.binaries = cold_start::binary_sizes(&bench.options.bin_dir);
    if let Some(baseline) = &bench.options.baseline_bin_dir {
        report.binaries.extend(cold_start::baseline_sizes(baseline, &bench.options.baseline_label));
    }
    if let Some(alt) = &bench.options.alt_bin_dir {
        report.binaries.extend(cold_start::alt_sizes(alt, &bench.options.alt_label));
    }

    report.duration = started.elapsed();
    report.date = chrono::Utc::now();
    report.finish();
    print!("{}", report.console());
    let markdown = report.markdown();
    std::fs::write(&bench.options.out, markdown).with_context(|| format!("writing {}", bench.options.out.display()))?;
    println!("\nwrote {} in {:.0} s", bench.options.out.display(), report.duration.as_secs_f64());
    Ok(())
}

impl Bench<'_> {
    /// A function's settings in Lambda mode (PUBLIC_BASE_URL https, every secret set).
    fn connector_env(&self, database_url: &str, mcp_url: &str) -> Vec<(String, String)> {
        let mut env = testkit::lambda_env(database_url, &self.signing_keys_json);
        // This run's sandbox and MCP secret; and no Secrets Manager ARN or tool names from
        // the shell (the hosts inherit this process's environment).
        let own = [
            ("MCP_URL", mcp_url),
            ("MCP_JWT_SECRET", &self.mcp_secret),
            ("CONNECTOR_SECRET_ARN", ""),
            ("MCP_TOOL_NAMES", ""),
        ];
        for (name, value) in own {
            env.retain(|(k, _)| k != name);
            env.push((name.to_owned(), value.to_owned()));
        }
        env
    }

    /// A linked user: profile (tier `pro`, ChatGPT on), a grant for the bench client and
    /// an access token. Returns (user id, grant id, token).
    async fn linked_user(&self) -> anyhow::Result<(UserId, GrantId, String)> {
        let user_id = UserId::random();
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
            id: GrantId::random(),
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
            &grant.client_id,
            grant.id,
            &scopes,
            now,
        )?;
        Ok((user_id, grant.id, token))
    }

    /// An access token for the connector's `/mcp` (`aud` = `{base}/mcp`, RFC 8707) on the
    /// grant [`Bench::linked_user`] made: the same user, client and scopes as its token
    /// for the actions. The bench client's redirect URI is on chatgpt.com, so `/mcp` gates
    /// it by `channels.chatgpt` (`oauth::channel::of`), which that profile has on: the
    /// path of ChatGPT's own apps and connectors.
    fn mcp_access_token(&self, user_id: UserId, grant_id: GrantId) -> anyhow::Result<String> {
        let scopes: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
        shared::oauth::access_token::issue_for(
            &self.signing_keys,
            PUBLIC_BASE_URL,
            &shared::oauth::access_token::mcp_audience(PUBLIC_BASE_URL),
            user_id,
            &CLIENT_ID.into(),
            grant_id,
            &scopes,
            chrono::Utc::now(),
        )
    }

    /// A fresh authorization code for `user_id`, stored as the consent step stores it.
    async fn new_code(&self, user_id: UserId) -> anyhow::Result<String> {
        let code = shared::tokens::generate("dxac_");
        self.store
            .create_authorization_code(&AuthorizationCode {
                code_hash: shared::TokenHash::of(&code),
                client_id: CLIENT_ID.into(),
                user_id,
                redirect_uri: REDIRECT_URI.into(),
                scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
                expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
                grant_id: None,
                code_challenge: None,
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

/// Sends a request; `Ok` for a 2xx whose body was read to the end.
async fn expect_ok(request: reqwest::RequestBuilder) -> stats::Outcome {
    let response = request.send().await.map_err(|e| format!("{e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("{e}"))?;
    if status.is_success() { Ok(()) } else { Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))) }
}

/// The server's version and its commit durability settings, for the report.
async fn postgres_facts(url: &str) -> String {
    let Ok(client) = testkit::db::connect(url).await else {
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
