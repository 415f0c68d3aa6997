//! Child processes (this binary re-executed as a host, mcpo, the release binaries) and
//! what /proc says about them.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A child process that announced `READY <address>` on stderr. Killed when dropped.
pub struct Host {
    /// Held so the process lives as long as this value (`kill_on_drop`).
    #[allow(dead_code)]
    pub child: Child,
    pub address: String,
    pub pid: u32,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Host {
    /// Starts this binary as `connector-bench host <what>` with `env` added, and waits for
    /// its `READY` line.
    pub async fn start(what: &str, env: &[(String, String)]) -> anyhow::Result<Host> {
        let exe = std::env::current_exe().context("locating connector-bench")?;
        Host::start_exe(&exe, what, env).await
    }

    /// [`Host::start`] of another `connector-bench` binary: the same source built another
    /// way (`--alt-connector-exe`, e.g. another profile).
    pub async fn start_exe(exe: &Path, what: &str, env: &[(String, String)]) -> anyhow::Result<Host> {
        let mut command = Command::new(exe);
        command
            .args(["host", what])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            // The connector's JSON request logs go where Lambda's go: a pipe nobody
            // waits for. Here, /dev/null, so the logging cost is paid but not the reading.
            .stdout(Stdio::null());
        Host::spawn(command, what).await
    }

    /// [`Host::start`] of `exe` (a `connector-bench` built with symbols) under
    /// `valgrind --tool=callgrind`, which writes its profile to `out` when the host exits
    /// ([`Host::finish`]).
    pub async fn start_under_callgrind(
        exe: &Path,
        what: &str,
        env: &[(String, String)],
        out: &Path,
    ) -> anyhow::Result<Host> {
        let mut command = Command::new("valgrind");
        command
            .args(["--tool=callgrind", "--quiet"])
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(exe)
            .args(["host", what])
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null());
        Host::spawn(command, what).await
    }

    /// Closes the host's stdin, which ends it, and waits for it to exit.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(Duration::from_secs(120), self.child.wait())
            .await
            .context("the host did not exit within 120 s of its stdin closing")??;
        if !status.success() {
            bail!("the host exited with {status}: {}", self.tail());
        }
        Ok(())
    }

    async fn spawn(mut command: Command, what: &str) -> anyhow::Result<Host> {
        command.stdin(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().with_context(|| format!("starting the {what} host"))?;
        let pid = child.id().unwrap_or(0);
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let address = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .with_context(|| format!("the {what} host did not start within 30 s"))??;
            match line {
                Some(line) => {
                    if let Some(address) = line.strip_prefix("READY ") {
                        break address.trim().to_owned();
                    }
                    push_tail(&tail, line);
                }
                None => bail!("the {what} host exited before it was ready: {}", tail_text(&tail)),
            }
        };
        let drain = tail.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                push_tail(&drain, line);
            }
        });
        Ok(Host { child, address, pid, tail })
    }

    pub fn tail(&self) -> String {
        tail_text(&self.tail)
    }

    pub fn usage(&self) -> Usage {
        Usage::of(self.pid)
    }
}

fn push_tail(tail: &Mutex<VecDeque<String>>, line: String) {
    let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
    if tail.len() >= 20 {
        tail.pop_front();
    }
    tail.push_back(line);
}

fn tail_text(tail: &Mutex<VecDeque<String>>) -> String {
    tail.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect::<Vec<_>>().join("\n")
}

/// Memory and CPU time of a process, from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Peak resident set (VmHWM), KiB.
    pub hwm_kib: u64,
    /// Current resident set (VmRSS), KiB.
    pub rss_kib: u64,
}

impl Usage {
    pub fn of(pid: u32) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Usage { hwm_kib: field("VmHWM:"), rss_kib: field("VmRSS:") }
    }

    pub fn hwm_mib(&self) -> f64 {
        self.hwm_kib as f64 / 1024.0
    }

    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

/// utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; fields restart after its ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 → index 11, stime index 12.
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)).filter_map(|v| v.parse::<u64>().ok()).sum();
    ticks as f64 / clock_ticks() as f64
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// A free loopback port (bound, then released) for a process that wants one on its
/// command line.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The output of a command, trimmed, or `None` when it fails.
pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// mcpo, the MCP → OpenAPI proxy, pointed at `mcp_url` over streamable HTTP with a fixed
/// bearer, protected by `api_key`. Waits until its tool route exists.
pub struct Mcpo {
    /// Held so the process lives as long as this value (`kill_on_drop`).
    #[allow(dead_code)]
    pub child: Child,
    pub base_url: String,
    pub pid: u32,
    pub version: String,
}

impl Mcpo {
    pub async fn start(program: &str, mcp_url: &str, bearer: &str, api_key: &str) -> anyhow::Result<Mcpo> {
        let version = command_output(
            program.replace("bin/mcpo", "bin/python").as_str(),
            &["-c", "import importlib.metadata as m; print(m.version('mcpo'))"],
        )
        .unwrap_or_else(|| "?".into());
        let port = free_port()?;
        let headers = serde_json::json!({ "Authorization": format!("Bearer {bearer}") }).to_string();
        let mut child = Command::new(program)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--api-key", api_key])
            .args(["--server-type", "streamable-http", "--header", &headers, "--", mcp_url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        let pid = child.id().unwrap_or(0);
        let base_url = format!("http://127.0.0.1:{port}");
        let http = shared::tls::client();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("mcpo exited during startup ({status})");
            }
            let ready = http
                .post(format!("{base_url}/solana_resolve_token"))
                .bearer_auth(api_key)
                .json(&serde_json::json!({ "query": "SOL", "limit": 5 }))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("mcpo did not serve solana_resolve_token within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Mcpo { child, base_url, pid, version })
    }
}
