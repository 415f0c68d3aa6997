//! The figures of one run, the targets they are held against, and their two renderings:
//! the console table and BENCHMARKS.md.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use testkit::lambda::ColdStart;

use crate::overhead::{CpuSplit, Way};
use crate::procs::{Usage, command_output};
use crate::stats::{self, Samples};

/// Hand-written analysis (profiles, what remains) kept next to the harness and copied
/// into BENCHMARKS.md under the generated figures.
const ANALYSIS: &str = include_str!("../ANALYSIS.md");

#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub mem_gib: f64,
    pub load: String,
    pub kernel: String,
    pub rustc: String,
    pub git: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let load = std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let dirty = command_output("git", &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
        let git = command_output("git", &["rev-parse", "--short", "HEAD"])
            .map(|rev| if dirty { format!("{rev} + uncommitted changes") } else { rev })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            mem_gib: mem_kib / 1024.0 / 1024.0,
            load,
            kernel: command_output("uname", &["-sr"]).unwrap_or_default(),
            rustc: command_output("rustc", &["--version"]).unwrap_or_default(),
            git,
        }
    }
}

pub struct OverheadCell {
    pub way: Way,
    pub concurrency: usize,
    pub samples: Samples,
    pub cpu: CpuSplit,
}

pub struct OAuthCell {
    pub kind: &'static str,
    pub concurrency: usize,
    pub samples: Samples,
}

pub struct ColdCell {
    pub name: String,
    pub how: &'static str,
    pub runs: usize,
    pub init_ms: f64,
    pub first_ms: f64,
    pub first_min_ms: f64,
    pub first_max_ms: f64,
}

impl ColdCell {
    pub fn new(name: impl Into<String>, how: &'static str, samples: &[ColdStart]) -> ColdCell {
        let init: Vec<Duration> = samples.iter().map(|s| s.init).collect();
        let first: Vec<Duration> = samples.iter().map(|s| s.first_response).collect();
        ColdCell {
            name: name.into(),
            how,
            runs: samples.len(),
            init_ms: stats::median_ms(&init),
            first_ms: stats::median_ms(&first),
            first_min_ms: stats::min_ms(&first),
            first_max_ms: stats::max_ms(&first),
        }
    }
}

pub struct FunctionLoad {
    pub name: &'static str,
    pub invocations: usize,
    pub usage: Usage,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub struct BinarySize {
    pub name: String,
    pub bytes: u64,
    pub arch: &'static str,
    pub source: String,
    pub stripped: bool,
}

impl BinarySize {
    pub fn of(name: &str, path: &Path, source: impl Into<String>) -> Option<BinarySize> {
        let bytes = std::fs::read(path).ok()?;
        if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
            return None;
        }
        let arch = match u16::from_le_bytes([bytes[18], bytes[19]]) {
            0x3e => "x86_64",
            0xb7 => "arm64",
            _ => "other",
        };
        // A stripped ELF has no .symtab: look for the section name in the string table.
        let stripped = !bytes.windows(8).any(|w| w == b".symtab\0");
        Some(BinarySize { name: name.to_owned(), bytes: bytes.len() as u64, arch, source: source.into(), stripped })
    }

    pub fn mb(&self) -> f64 {
        self.bytes as f64 / 1_000_000.0
    }
}

#[derive(Clone, Copy, Debug)]
pub struct RoundTripCount {
    pub mcp_posts: usize,
    pub before: u64,
    pub after: u64,
}

pub struct TargetRow {
    pub target: String,
    pub measured: String,
    pub met: Option<bool>,
}

#[derive(Default)]
pub struct Report {
    pub machine: Machine,
    pub command: String,
    pub bin_dir: String,
    pub date: DateTime<Utc>,
    pub duration: Duration,
    pub postgres: String,
    pub mcpo_version: String,
    pub rounds: usize,
    pub seconds: f64,
    pub overhead: Vec<OverheadCell>,
    pub async_commit: Vec<OverheadCell>,
    pub sample_action_body: String,
    pub oauth: Vec<OAuthCell>,
    pub connector_usage: Usage,
    pub sandbox_usage: Usage,
    pub mcpo_usage: Option<Usage>,
    pub action_round_trips: Vec<RoundTripCount>,
    pub action_sql: Vec<(&'static str, String)>,
    pub exchange_round_trips: u64,
    pub exchange_sql: Vec<String>,
    pub refresh_round_trips: u64,
    pub refresh_sql: Vec<String>,
    pub cold: Vec<ColdCell>,
    pub function_load: Option<FunctionLoad>,
    pub binaries: Vec<BinarySize>,
    pub profile: Option<CpuProfile>,
    pub notes: Vec<String>,
    pub targets: Vec<TargetRow>,
}

fn yes_no(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not measured",
    }
}

impl Report {
    fn cell(&self, way: Way, concurrency: usize) -> Option<&OverheadCell> {
        self.overhead.iter().find(|c| c.way == way && c.concurrency == concurrency)
    }

    /// (most round trips before the MCP call, most after) over the counted requests.
    pub fn action_round_trip_summary(&self) -> (u64, u64) {
        let before = self.action_round_trips.iter().map(|c| c.before).max().unwrap_or(0);
        let after = self.action_round_trips.iter().map(|c| c.after).max().unwrap_or(0);
        (before, after)
    }

    /// Holds the figures against the targets.
    pub fn finish(&mut self) {
        let mut rows = Vec::new();
        for concurrency in [1, 16] {
            if let (Some(direct), Some(connector)) =
                (self.cell(Way::Direct, concurrency), self.cell(Way::Connector, concurrency))
            {
                let d50 = connector.samples.p50() - direct.samples.p50();
                let d99 = connector.samples.p99() - direct.samples.p99();
                rows.push(TargetRow {
                    target: format!("overhead over direct at p50 ≤ 1 ms (c={concurrency})"),
                    measured: format!("{d50:+.2} ms ({:.2} → {:.2} ms)", direct.samples.p50(), connector.samples.p50()),
                    met: Some(d50 <= 1.0),
                });
                rows.push(TargetRow {
                    target: format!("overhead over direct at p99 ≤ 3 ms (c={concurrency})"),
                    measured: format!("{d99:+.2} ms ({:.2} → {:.2} ms)", direct.samples.p99(), connector.samples.p99()),
                    met: Some(d99 <= 3.0),
                });
            }
        }
        for concurrency in [16, 1] {
            let (connector, mcpo) = (self.cell(Way::Connector, concurrency), self.cell(Way::Mcpo, concurrency));
            rows.push(match (connector, mcpo) {
                (Some(c), Some(m)) if m.samples.rps() > 0.0 => {
                    let ratio = c.samples.rps() / m.samples.rps();
                    TargetRow {
                        target: format!("throughput ≥ 5× mcpo's (c={concurrency})"),
                        measured: format!("{ratio:.1}× ({:.0} vs {:.0} req/s)", c.samples.rps(), m.samples.rps()),
                        met: Some(ratio >= 5.0),
                    }
                }
                _ => TargetRow {
                    target: format!("throughput ≥ 5× mcpo's (c={concurrency})"),
                    measured: "mcpo not run".into(),
                    met: None,
                },
            });
        }
        if !self.action_round_trips.is_empty() {
            let (before, after) = self.action_round_trip_summary();
            let min_before = self.action_round_trips.iter().map(|c| c.before).min().unwrap_or(0);
            rows.push(TargetRow {
                target: "database round trips before the upstream call = 1".into(),
                measured: if min_before == before { format!("{before}") } else { format!("{min_before}–{before}") },
                met: Some(before == 1 && min_before == 1),
            });
            rows.push(TargetRow {
                target: "database round trips after the upstream call ≤ 1".into(),
                measured: format!("{after}"),
                met: Some(after <= 1),
            });
        }
        for cold in &self.cold {
            rows.push(TargetRow {
                target: format!("cold start ≤ 20 ms to first response: {}", cold.name),
                measured: format!("{:.1} ms (median of {}; init {:.1} ms)", cold.first_ms, cold.runs, cold.init_ms),
                met: Some(cold.first_ms <= 20.0),
            });
        }
        // What Lambda runs is the arm64 build: it carries the target (≤ 7 MB, with the AWS
        // SDK for Secrets Manager); x86_64 is listed for reference. Baseline builds only
        // compare.
        for arch in ["arm64", "x86_64"] {
            let functions: Vec<&BinarySize> = self
                .binaries
                .iter()
                .filter(|b| b.arch == arch && b.name != "connector" && !b.source.starts_with("baseline"))
                .collect();
            if let Some(largest) = functions.iter().max_by_key(|b| b.bytes) {
                let deployed = arch == "arm64";
                rows.push(TargetRow {
                    target: if deployed {
                        format!("≤ 7 MB per stripped function binary (arm64, {} measured)", functions.len())
                    } else {
                        format!("function binary size, x86_64 ({} measured; not deployed, no target)", functions.len())
                    },
                    measured: format!("largest {:.2} MB ({})", largest.mb(), largest.name),
                    met: deployed.then(|| largest.mb() <= 7.0 && functions.iter().all(|b| b.stripped)),
                });
            }
        }
        rows.push(TargetRow {
            target: "≤ 25 MB RSS: the connector (all routes) under load".into(),
            measured: format!("VmHWM {:.1} MiB", self.connector_usage.hwm_mib()),
            met: Some(self.connector_usage.hwm_kib > 0 && self.connector_usage.hwm_mib() * 1.048576 <= 25.0),
        });
        if let Some(load) = &self.function_load {
            rows.push(TargetRow {
                target: format!("≤ 25 MB RSS: a function binary ({}) under load", load.name),
                measured: format!("VmHWM {:.1} MiB", load.usage.hwm_mib()),
                met: Some(load.usage.hwm_mib() * 1.048576 <= 25.0),
            });
        }
        self.targets = rows;
    }

    pub fn console(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n== action overhead: solana_resolve_token on the rmcp sandbox (JSON answers) ==");
        let _ = writeln!(
            out,
            "{:<26} {:>3} {:>9} {:>9} {:>9} {:>8} {:>14}",
            "way", "c", "req/s", "p50 ms", "p99 ms", "n", "Δp50 / Δp99"
        );
        let checks = self.async_commit.iter().filter(|c| c.way == Way::ConnectorAsyncCommit);
        for (table, cell) in
            self.overhead.iter().map(|c| (&self.overhead, c)).chain(checks.map(|c| (&self.async_commit, c)))
        {
            let delta = delta_in(table, cell).map(|(a, b)| format!("{a:+.2} / {b:+.2}")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<26} {:>3} {:>9.0} {:>9.2} {:>9.2} {:>8} {:>14}",
                cell.way.label(),
                cell.concurrency,
                cell.samples.rps(),
                cell.samples.p50(),
                cell.samples.p99(),
                cell.samples.count(),
                delta
            );
        }
        let _ = writeln!(out, "\n== OAuth token endpoint on Postgres ==");
        for cell in &self.oauth {
            let _ = writeln!(
                out,
                "{:<28} c={:<3} {:>7.0} /s  p50 {:>6.2} ms  p99 {:>6.2} ms",
                cell.kind,
                cell.concurrency,
                cell.samples.rps(),
                cell.samples.p50(),
                cell.samples.p99()
            );
        }
        let _ = writeln!(out, "\n== cold start ==");
        for cold in &self.cold {
            let _ = writeln!(
                out,
                "{:<16} first response {:>6.1} ms (median), init {:>6.1} ms",
                cold.name, cold.first_ms, cold.init_ms
            );
        }
        let _ = writeln!(out, "\n== targets ==");
        for row in &self.targets {
            let _ = writeln!(out, "{:<7} {:<62} {}", yes_no(row.met), row.target, row.measured);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "What the connector costs on top of the MCP call it proxies, measured on loopback by one \
             command. Generated by `{}` (the harness is `bench/`, package `connector-bench`); the \
             figures below are from one run and are replaced by the next. The analysis at the end \
             is written by hand (`bench/ANALYSIS.md`).\n",
            self.command
        );
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| command | `{}` |", self.command);
        let _ = writeln!(out, "| date | {} |", self.date.format("%Y-%m-%d %H:%M UTC"));
        let _ = writeln!(
            out,
            "| machine | {} cores (`nproc`), {}, {:.1} GiB memory, {} |",
            m.cores, m.cpu, m.mem_gib, m.kernel
        );
        let _ = writeln!(
            out,
            "| load average at start | {} (other builds may share this machine: compare figures within one run) |",
            m.load
        );
        let _ = writeln!(
            out,
            "| toolchain | {}; binaries in `{}`, from `[profile.release]` (opt-level \"s\", fat LTO, 1 codegen unit, stripped) |",
            m.rustc, self.bin_dir
        );
        let _ = writeln!(out, "| Postgres | {} |", self.postgres);
        let _ =
            writeln!(out, "| mcpo | {} |", if self.mcpo_version.is_empty() { "not run" } else { &self.mcpo_version });
        let _ = writeln!(out, "| source | {} |", m.git);
        let _ = writeln!(
            out,
            "| run time | {:.0} s (measurements only; building comes before) |\n",
            self.duration.as_secs_f64()
        );

        let _ = writeln!(out, "## Targets\n");
        let _ = writeln!(out, "| target | measured | |\n|---|---|---|");
        for row in &self.targets {
            let _ = writeln!(out, "| {} | {} | **{}** |", row.target, row.measured, yes_no(row.met));
        }
        let _ = writeln!(out);

        let _ = writeln!(out, "## 1. Action overhead\n");
        let _ = writeln!(
            out,
            "One upstream: the rmcp sandbox MCP server (`sandbox-mcp`, Dexter's tool names, stateful \
             sessions, `application/json` answers, no artificial delay) in its own process. \
             `solana_resolve_token {{\"query\":\"SOL\",\"limit\":5}}` called three ways, closed loop, \
             HTTP/1.1 keep-alive, from a tokio + reqwest load generator in the harness process:\n\n\
             - **direct**: MCP `tools/call` with the connector's own client (`shared::mcp::McpClient`: \
             one session per user, a fresh HS256 MCP JWT per call, as the actions use it);\n\
             - **connector**: `GET /connector/chatgpt/resolve_token?query=SOL&limit=5` with an access \
             token: EdDSA bearer verification, the one grant/tier/channel query on Postgres, the MCP \
             call, the receipt INSERT, JSON logs (to /dev/null). The connector is \
             `shared::http::finish(shared::routes::all_routes(state))` configured as a deployed \
             function (Lambda-mode settings, Postgres without TLS), served on 127.0.0.1:0 by \
             `connector-bench host connector` in its own process, so its memory and CPU are its own;\n\
             - **mcpo**: `POST /solana_resolve_token` with mcpo's API key; mcpo holds one streamable-HTTP \
             MCP session to the same sandbox with a long-lived MCP bearer (default settings, \
             one uvicorn worker).\n\n\
             Each cell ran {} rounds of {} s, interleaved with the other cells (after 1 s of warm-up \
             per cell); latencies are pooled over the rounds. Δ is connector minus direct at the same \
             concurrency; the ratio is connector ÷ direct.\n",
            self.rounds, self.seconds
        );
        overhead_table(&mut out, &self.overhead);
        for concurrency in [1, 16] {
            if let (Some(c), Some(m)) = (self.cell(Way::Connector, concurrency), self.cell(Way::Mcpo, concurrency)) {
                let _ = writeln!(
                    out,
                    "\nAt concurrency {concurrency} the connector served {:.1}× mcpo's requests per second.",
                    c.samples.rps() / m.samples.rps().max(0.001)
                );
            }
        }
        if !self.sample_action_body.is_empty() {
            let body: String = self.sample_action_body.chars().take(300).collect();
            let _ = writeln!(out, "\nThe action's answer (first 300 characters): `{}`", body.replace('`', "'"));
        }
        let _ = writeln!(out, "\nThe three ways' errors, if any: {}", {
            let errors: Vec<String> = self
                .overhead
                .iter()
                .filter_map(|c| {
                    c.samples.first_error.as_ref().map(|e| format!("{} c={}: {e}", c.way.label(), c.concurrency))
                })
                .collect();
            if errors.is_empty() { "none".to_owned() } else { errors.join("; ") }
        });

        if !self.async_commit.is_empty() {
            let _ = writeln!(out, "\n### Check: nothing on the hot path waits for a WAL flush\n");
            let _ = writeln!(
                out,
                "A read action's grant query writes nothing while the grant's `last_used_at` is under a \
                 minute old, and its receipt commits asynchronously (`Durability::Relaxed`); only \
                 consequential actions (swaps, alerts) wait for the flush. To check that no flush is left \
                 on this path, a second connector process ran against the same throwaway database after \
                 `ALTER DATABASE … SET synchronous_commit = off` (the setting applies to this database only \
                 and is reset afterwards), interleaved with direct calls. Its figures should match the \
                 connector's above:\n"
            );
            overhead_table(&mut out, &self.async_commit);
        }
        let _ = writeln!(out, "\n## 2. OAuth token endpoint\n");
        let _ = writeln!(
            out,
            "`POST /oauth/chatgpt/token` on the same connector process, `client_secret_basic`, form body. \
             Codes are created beforehand through the store API (`Store::create_authorization_code`), so \
             only the token endpoint is timed; each exchange makes a grant and a refresh token. Rotations \
             run one chain per worker, each presenting the token the previous rotation returned. Fixed \
             request counts.\n"
        );
        let _ = writeln!(
            out,
            "| grant | concurrency | per second | p50 ms | p99 ms | requests | errors | round trips each |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for cell in &self.oauth {
            let trips = if cell.kind.starts_with("authorization") {
                self.exchange_round_trips
            } else {
                self.refresh_round_trips
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
                cell.kind,
                cell.concurrency,
                cell.samples.rps(),
                cell.samples.p50(),
                cell.samples.p99(),
                cell.samples.count(),
                cell.samples.errors,
                trips
            );
        }

        let _ = writeln!(out, "\n## 3. Cold start\n");
        let _ = writeln!(
            out,
            "Process start to first successful response, release binaries, on this machine (network \
             to Postgres and to the sandbox is loopback). A function binary runs under a Lambda Runtime \
             API emulation (`testkit/src/lambda.rs`, shared with the tests): the first event \
             is queued before the spawn; *init* is spawn → the function's first \
             `GET /runtime/invocation/next`, *first response* is spawn → its `POST …/response`. \
             `healthz` answers after a Postgres connection and `select 1`; `resolve-token` after the \
             bearer check, the grant query (new Postgres connection), a new MCP session \
             (`initialize` + `initialized`), the tool call and the receipt. One unmeasured start \
             precedes each series (page cache).\n"
        );
        let _ = writeln!(
            out,
            "| binary | how | runs | init ms (median) | first response ms (median) | min | max |\n|---|---|---:|---:|---:|---:|---:|"
        );
        for cold in &self.cold {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                cold.name, cold.how, cold.runs, cold.init_ms, cold.first_ms, cold.first_min_ms, cold.first_max_ms
            );
        }

        let _ = writeln!(out, "\n## 4. Footprint\n");
        let _ = writeln!(out, "Memory (peak resident set, `VmHWM` from `/proc/<pid>/status`, after the load above):\n");
        let _ = writeln!(out, "| process | VmHWM MiB | VmRSS MiB at the end | notes |\n|---|---:|---:|---|");
        let _ = writeln!(
            out,
            "| connector (all routes, in the `host connector` process) | {:.1} | {:.1} | after every overhead and OAuth cell |",
            self.connector_usage.hwm_mib(),
            self.connector_usage.rss_mib()
        );
        if let Some(load) = &self.function_load {
            let _ = writeln!(
                out,
                "| function binary `{}` under the Runtime API emulation | {:.1} | {:.1} | {} invocations back to back (p50 {:.2} ms, p99 {:.2} ms per invocation, emulator included) |",
                load.name,
                load.usage.hwm_mib(),
                load.usage.rss_mib(),
                load.invocations,
                load.p50_ms,
                load.p99_ms
            );
        }
        let _ = writeln!(
            out,
            "| sandbox MCP server (rmcp), for comparison | {:.1} | {:.1} | the upstream |",
            self.sandbox_usage.hwm_mib(),
            self.sandbox_usage.rss_mib()
        );
        if let Some(mcpo) = &self.mcpo_usage {
            let _ =
                writeln!(out, "| mcpo (Python), for comparison | {:.1} | {:.1} | |", mcpo.hwm_mib(), mcpo.rss_mib());
        }
        let _ = writeln!(out, "\nBinary sizes (1 MB = 10⁶ bytes):\n");
        let _ = writeln!(out, "| binary | arch | bytes | MB | stripped | built by |\n|---|---|---:|---:|---|---|");
        for b in &self.binaries {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {} | {} |",
                b.name,
                b.arch,
                b.bytes,
                b.mb(),
                if b.stripped { "yes" } else { "no" },
                b.source
            );
        }
        if !self.binaries.iter().any(|b| b.arch == "arm64") {
            let _ = writeln!(
                out,
                "\nNo `target/lambda/*/bootstrap` was present (run `scripts/lambda-build` first for every function, arm64)."
            );
        }

        let _ = writeln!(out, "\n## 5. Database round trips per action\n");
        let _ = writeln!(
            out,
            "Counted on the wire: the connector (a second `host connector` process) reaches Postgres \
             through a proxy in the harness that counts client→server messages: one round trip per \
             simple `Query` and per `Sync` (an extended-protocol Parse/Bind/Execute flight). The \
             sandbox for this part runs inside the harness behind a layer that reads the count the \
             moment the MCP request arrives, so each round trip is placed before or after the \
             upstream call. Pool connection and MCP session were warmed first; {} requests counted.\n",
            self.action_round_trips.len()
        );
        let (before, after) = self.action_round_trip_summary();
        let posts: Vec<usize> = self.action_round_trips.iter().map(|c| c.mcp_posts).collect();
        let _ = writeln!(
            out,
            "`resolve_token`: **{before}** before the upstream call, **{after}** after (maximum over the requests; \
             MCP requests per action: {}).\n",
            summarize(&posts)
        );
        let _ = writeln!(out, "| when | SQL (one request) |\n|---|---|");
        for (when, sql) in &self.action_sql {
            let _ = writeln!(out, "| {when} | `{}` |", shorten(sql, 220));
        }
        let _ = writeln!(
            out,
            "\nThe token endpoint, same method: an authorization-code exchange takes **{}** round trips, a refresh rotation **{}**.\n",
            self.exchange_round_trips, self.refresh_round_trips
        );
        let _ = writeln!(out, "| exchange SQL |\n|---|");
        for sql in &self.exchange_sql {
            let _ = writeln!(out, "| `{}` |", shorten(sql, 220));
        }
        let _ = writeln!(out, "\n| refresh SQL |\n|---|");
        for sql in &self.refresh_sql {
            let _ = writeln!(out, "| `{}` |", shorten(sql, 220));
        }
        if let Some(profile) = &self.profile {
            profile.markdown(&mut out);
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\n## Notes from this run\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        let _ = writeln!(out, "\n{}", ANALYSIS.trim_end());
        out
    }
}

/// Connector minus direct (same table, same concurrency) at p50 and p99.
fn delta_in(cells: &[OverheadCell], cell: &OverheadCell) -> Option<(f64, f64)> {
    if !matches!(cell.way, Way::Connector | Way::ConnectorAsyncCommit) {
        return None;
    }
    let direct = cells.iter().find(|c| c.way == Way::Direct && c.concurrency == cell.concurrency)?;
    Some((cell.samples.p50() - direct.samples.p50(), cell.samples.p99() - direct.samples.p99()))
}

/// The markdown table of overhead cells, Δ and ratio against direct in the same cells.
fn overhead_table(out: &mut String, cells: &[OverheadCell]) {
    let _ = writeln!(
        out,
        "| way | concurrency | req/s | p50 ms | p99 ms | requests | errors | Δp50 ms | Δp99 ms | p50 ratio | CPU ms/req (connector · its Postgres backends · sandbox · mcpo · load generator) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for cell in cells {
        let direct = cells.iter().find(|c| c.way == Way::Direct && c.concurrency == cell.concurrency);
        let (d50, d99, ratio) = match (delta_in(cells, cell), direct) {
            (Some((a, b)), Some(direct)) => (
                format!("{a:+.2}"),
                format!("{b:+.2}"),
                format!("{:.2}×", cell.samples.p50() / direct.samples.p50().max(0.001)),
            ),
            _ => (String::new(), String::new(), String::new()),
        };
        let n = cell.samples.count().max(1) as f64;
        let per = |seconds: f64| seconds * 1000.0 / n;
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {:.3} · {:.3} · {:.3} · {:.3} · {:.3} |",
            cell.way.label(),
            cell.concurrency,
            cell.samples.rps(),
            cell.samples.p50(),
            cell.samples.p99(),
            cell.samples.count(),
            cell.samples.errors,
            d50,
            d99,
            ratio,
            per(cell.cpu.connector),
            per(cell.cpu.postgres),
            per(cell.cpu.sandbox),
            per(cell.cpu.mcpo),
            per(cell.cpu.driver),
        );
    }
}

fn summarize(values: &[usize]) -> String {
    let mut distinct: Vec<usize> = values.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" or ")
}

fn shorten(sql: &str, max: usize) -> String {
    let text = sql.replace('|', "\\|").replace('`', "'");
    if text.chars().count() <= max { text } else { format!("{}…", text.chars().take(max).collect::<String>()) }
}

/// A callgrind profile of the connector serving actions: instruction counts, which are
/// repeatable where timings are not.
#[derive(Debug, Default)]
pub struct CpuProfile {
    pub requests: usize,
    /// Instructions of the profiled part (after the warm-up when `zeroed`).
    pub total_ir: u64,
    pub zeroed: bool,
    pub file: String,
    /// (instructions, function) by self cost, most first.
    pub by_self: Vec<(u64, String)>,
    /// (instructions, crate or library) by self cost, most first.
    pub by_crate: Vec<(u64, String)>,
}

impl CpuProfile {
    /// Reads `callgrind_annotate --inclusive=no` output.
    pub fn parse(annotated: &str, requests: usize, zeroed: bool, file: &str) -> CpuProfile {
        let number = |text: &str| text.replace(',', "").parse::<u64>().ok();
        let total_ir = annotated
            .lines()
            .find(|l| l.contains("PROGRAM TOTALS"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(number)
            .unwrap_or(0);
        // Rows look like `1,234 (12.34%)  file:function [object]`. callgrind charges the
        // thread entry frames (clone, start_thread, the tokio worker loop) with nearly
        // everything; a row above half the total is such a frame, not real self cost.
        let rows: Vec<(u64, String, String)> = annotated
            .lines()
            .filter(|l| l.contains("%)") && !l.contains("PROGRAM TOTALS"))
            .filter_map(|l| {
                let ir = number(l.split_whitespace().next()?)?;
                let rest = l.split_once("%)")?.1.trim();
                let (location, object) = match rest.rsplit_once(" [") {
                    Some((location, object)) => (location, object.trim_end_matches(']')),
                    None => (rest, ""),
                };
                let function = [".rs:", ".c:", ".S:", ".h:", "???:"]
                    .iter()
                    .filter_map(|marker| location.find(marker).map(|i| &location[i + marker.len()..]))
                    .next()
                    .unwrap_or(location);
                Some((ir, function.to_owned(), object.to_owned()))
            })
            .filter(|(ir, _, _)| ir * 2 <= total_ir)
            .collect();
        let mut by_crate: std::collections::HashMap<String, u64> = Default::default();
        for (ir, function, object) in &rows {
            *by_crate.entry(crate_of(function, object)).or_default() += ir;
        }
        let mut by_crate: Vec<(u64, String)> = by_crate.into_iter().map(|(k, v)| (v, k)).collect();
        by_crate.sort_by_key(|entry| std::cmp::Reverse(entry.0));
        CpuProfile {
            requests,
            total_ir,
            zeroed,
            file: file.to_owned(),
            by_self: rows.into_iter().take(15).map(|(ir, f, _)| (ir, f)).collect(),
            by_crate,
        }
    }

    pub fn per_request(&self, ir: u64) -> f64 {
        ir as f64 / self.requests.max(1) as f64
    }

    fn markdown(&self, out: &mut String) {
        let _ = writeln!(out, "\n## 6. CPU profile (callgrind)\n");
        let _ = writeln!(
            out,
            "The connector (`[profile.profiling]`: the release profile with symbols) under `valgrind \
             --tool=callgrind`, serving {} `resolve_token` actions one at a time after 20 warm-up actions{}. \
             Instruction counts, not time: repeatable whatever else the machine does. **{:.0} instructions \
             per action** in the connector process (its tokio workers, hyper, the bearer check, the \
             Postgres and MCP clients, the log line); Postgres and the sandbox are other processes. \
             Profile: `{}` (`callgrind_annotate` it for more).\n",
            self.requests,
            if self.zeroed {
                " (counters zeroed after the warm-up)"
            } else {
                " (counters NOT zeroed: startup included)"
            },
            self.per_request(self.total_ir),
            self.file
        );
        let share = |ir: u64| ir as f64 * 100.0 / self.total_ir.max(1) as f64;
        let _ = writeln!(out, "| crate or library (self cost) | instructions per action | share |\n|---|---:|---:|");
        for (ir, name) in self.by_crate.iter().take(12) {
            let _ = writeln!(out, "| `{name}` | {:.0} | {:.1}% |", self.per_request(*ir), share(*ir));
        }
        let _ = writeln!(out, "\n| function (self cost) | instructions per action | share |\n|---|---:|---:|");
        for (ir, function) in &self.by_self {
            let _ =
                writeln!(out, "| `{}` | {:.0} | {:.1}% |", shorten(function, 120), self.per_request(*ir), share(*ir));
        }
    }
}

/// The crate a function belongs to (`<&curve25519_dalek::…` → `curve25519_dalek`), or
/// the library it was found in (`libc.so.6`).
fn crate_of(function: &str, object: &str) -> String {
    let name = function.trim_start_matches(['<', '&', '*']).trim_start_matches("mut ").trim_start_matches("dyn ");
    match name.split_once("::") {
        Some((krate, _)) if !krate.contains([' ', '<', '>']) => krate.to_owned(),
        _ if !object.is_empty() => object.rsplit('/').next().unwrap_or(object).to_owned(),
        _ => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callgrind_annotation_is_read_by_function_and_by_crate() {
        let annotated = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
1,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                    file:function
--------------------------------------------------------------------------------
  999 (99.90%)  ./misc/../sysdeps/unix/sysv/linux/x86_64/clone.S:clone [/usr/lib/x86_64-linux-gnu/libc.so.6]
  300 (30.00%)  /rustc/x/library/core/src/../../stdarch/crates/core_arch/src/x86/avx2.rs:<&curve25519_dalek::backend::vector::avx2::field::FieldElement2625x4 as core::ops::arith::Mul>::mul [/w/connector-bench]
  200 (20.00%)  /r/curve25519-dalek-4.1.3/src/backend/serial/u64/field.rs:curve25519_dalek::backend::serial::u64::field::FieldElement51::pow2k [/w/connector-bench]
  100 (10.00%)  ./malloc/./malloc/malloc.c:_int_free [/usr/lib/x86_64-linux-gnu/libc.so.6]
";
        let profile = CpuProfile::parse(annotated, 10, true, "out");
        assert_eq!(profile.total_ir, 1000);
        assert_eq!(profile.by_self.len(), 3, "the thread entry frame is not self cost");
        assert_eq!(profile.by_self[2], (100, "_int_free".to_owned()));
        assert_eq!(profile.by_crate[0], (500, "curve25519_dalek".to_owned()));
        assert_eq!(profile.by_crate[1], (100, "libc.so.6".to_owned()));
        assert_eq!(profile.per_request(500), 50.0);
    }
}
