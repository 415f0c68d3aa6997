//! Phases 3 and 4: cold starts (a function binary under the Lambda Runtime API emulation,
//! and `connector serve`) and the footprint (a function's RSS under load, binary sizes).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use testkit::lambda::{ColdStart, GatewayEvent, LambdaFunction};

use crate::procs::{Host, Usage};
use crate::report::{BinarySize, ColdCell, FunctionLoad, Report};
use crate::{Bench, stats};

pub async fn cold_starts(bench: &Bench<'_>, sandbox: &Host, report: &mut Report) -> anyhow::Result<()> {
    println!("\n[3/5] cold starts  [4/5] footprint");
    let env = bench.connector_env(bench.db.url(), &sandbox.address);
    let (_user, _grant, token) = bench.linked_user().await?;
    let bearer = format!("Bearer {token}");
    let healthz_event =
        GatewayEvent::get("/healthz").header("user-agent", "connector-bench").request_id("bench-healthz").build();
    let resolve_event = |n: usize| {
        GatewayEvent::get("/connector/chatgpt/resolve_token")
            .query("query=SOL&limit=5")
            .header("user-agent", "connector-bench")
            .header("authorization", bearer.as_str())
            .request_id(&format!("bench-resolve-{n}"))
            .build()
    };

    const EMULATION: &str = "Lambda Runtime API emulation, spawn → first invocation response";
    const FROM_SECRETS_MANAGER: &str = "secrets from Secrets Manager (moto), spawn → first invocation response";
    let healthz = |_: usize| healthz_event.clone();

    // Each series: cell name, how, binary, environment, the n-th start's event, starts.
    // Besides the environment-configured functions: reading the configuration from
    // Secrets Manager (moto on loopback, signature-verifying) as a deployment does (the
    // AWS SDK's client, one signed GetSecretValue, then the same Postgres connection and
    // `select 1`); and, with a baseline build, the same healthz cells for it.
    type Series<'a> = (
        String,
        &'static str,
        std::path::PathBuf,
        &'a [(String, String)],
        &'a dyn Fn(usize) -> serde_json::Value,
        usize,
    );
    let secrets_manager = secrets_manager_env(&env).await;
    let bin = |name: &str| bench.options.bin_dir.join(name);
    let mut series: Vec<Series<'_>> = vec![
        ("healthz".into(), EMULATION, bin("healthz"), &env, &healthz, 10),
        ("resolve-token".into(), EMULATION, bin("resolve-token"), &env, &resolve_event, 6),
    ];
    let baseline = bench
        .options
        .baseline_bin_dir
        .as_ref()
        .map(|dir| (format!("healthz ({})", bench.options.baseline_label), dir.join("healthz")));
    if let Some((name, binary)) = &baseline {
        series.push((name.clone(), EMULATION, binary.clone(), &env, &healthz, 10));
    }
    match &secrets_manager {
        Ok((_moto, secret_env)) => {
            series.push((
                "healthz, Secrets Manager".into(),
                FROM_SECRETS_MANAGER,
                bin("healthz"),
                secret_env,
                &healthz,
                10,
            ));
            if let Some((name, binary)) = &baseline {
                let name = format!("{name}, Secrets Manager");
                series.push((name, FROM_SECRETS_MANAGER, binary.clone(), secret_env, &healthz, 10));
            }
        }
        Err(error) => report.notes.push(format!("no Secrets Manager cold start (moto): {error:#}")),
    }
    for (name, how, binary, env, event, runs) in series {
        if !binary.exists() {
            report.notes.push(format!("{} is missing: no cold start for {name}", binary.display()));
            continue;
        }
        let samples = cold_series(&binary, env, event, runs).await?;
        let cell = ColdCell::new(name, how, &samples);
        println!(
            "  {:<40} init {:>6.1} ms  first response {:>6.1} ms (median of {runs})",
            cell.name, cell.init_ms, cell.first_ms
        );
        report.cold.push(cell);
    }
    drop(secrets_manager);

    // RSS of a function binary under load: resolve-token, invocations back to back.
    let binary = bench.options.bin_dir.join("resolve-token");
    if binary.exists() {
        let mut function = LambdaFunction::start_with(&binary, &env, resolve_event(0)).await?;
        function.first_response().await?;
        let invocations = 400;
        let mut latencies = Vec::with_capacity(invocations);
        for n in 1..=invocations {
            let sent = Instant::now();
            let response = function.try_invoke(resolve_event(n)).await?;
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
                samples.push(ColdStart { init: elapsed.0, first_response: elapsed.1 });
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

/// `runs` cold starts of `binary`, the n-th answering `event(n)` (after one unmeasured
/// start, for the page cache).
async fn cold_series(
    binary: &Path,
    env: &[(String, String)],
    event: &dyn Fn(usize) -> serde_json::Value,
    runs: usize,
) -> anyhow::Result<Vec<ColdStart>> {
    let mut samples = Vec::with_capacity(runs);
    for run in 0..=runs {
        let mut started = LambdaFunction::start_with(binary, env, event(run)).await?;
        let (response, cold) = started.first_response().await?;
        if response["statusCode"] != 200 {
            bail!("{}: the first invocation answered {response}", binary.display());
        }
        if run > 0 {
            samples.push(cold);
        }
    }
    Ok(samples)
}

/// moto with the connector's secret in it, and a function's environment that reads its
/// secrets from there (only non-secret settings in the environment, as deployed).
async fn secrets_manager_env(env: &[(String, String)]) -> anyhow::Result<(testkit::moto::Moto, Vec<(String, String)>)> {
    let which = std::process::Command::new("moto_server").arg("--help").output();
    if !which.is_ok_and(|o| o.status.success()) {
        bail!("moto_server is not on PATH (scripts/test installs it into .venv)");
    }
    let moto = testkit::moto::Moto::start().await;
    let secret_names = shared::secrets::SECRET_NAMES;
    let secret: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .filter(|(name, value)| secret_names.contains(&name.as_str()) && !value.is_empty())
        .map(|(name, value)| (name.clone(), serde_json::Value::String(value.clone())))
        .collect();
    let name = format!("dexter/connector/bench-{}", uuid::Uuid::new_v4().simple());
    let made = moto.provision(&name, &serde_json::Value::Object(secret).to_string()).await;
    let mut secret_env: Vec<(String, String)> =
        env.iter().filter(|(name, _)| !secret_names.contains(&name.as_str())).cloned().collect();
    secret_env.retain(|(name, _)| name != "CONNECTOR_SECRET_ARN");
    secret_env.push(("CONNECTOR_SECRET_ARN".into(), made.secret_arn.clone()));
    secret_env.extend(moto.env(&made.access_key_id, &made.secret_access_key));
    Ok((moto, secret_env))
}

/// The baseline build's binaries, for the size table.
pub fn baseline_sizes(dir: &Path, label: &str) -> Vec<BinarySize> {
    ["healthz", "resolve-token"]
        .into_iter()
        .filter_map(|name| BinarySize::of(name, &dir.join(name), format!("baseline: {label}")))
        .collect()
}

/// The sizes of another build's binaries (`--alt-bin-dir`): `resolve-token` and `healthz`
/// from its release directory, and every `lambda/<function>/bootstrap` under it (a
/// `scripts/lambda-build` run with that build's profile, copied there).
pub fn alt_sizes(dir: &Path, label: &str) -> Vec<BinarySize> {
    let source = format!("alternative build: {label}");
    let mut sizes: Vec<BinarySize> = ["healthz", "resolve-token"]
        .into_iter()
        .filter_map(|name| BinarySize::of(name, &dir.join(name), source.clone()))
        .collect();
    if let Ok(entries) = std::fs::read_dir(dir.join("lambda")) {
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            sizes.extend(BinarySize::of(&name, &entry.path().join("bootstrap"), source.clone()));
        }
    }
    sizes
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

pub fn binary_sizes(bin_dir: &Path) -> Vec<BinarySize> {
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
