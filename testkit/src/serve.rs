//! `connector serve` as a child process on a free port.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Served {
    pub base_url: String,
    /// Lines `connector serve` printed up to and including its banner.
    pub banner: Vec<String>,
    /// Every line printed after the banner (the JSON request logs).
    pub logs: Arc<Mutex<Vec<String>>>,
    _child: Child,
}

impl Served {
    /// The log lines so far, parsed as JSON (non-JSON lines skipped).
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        let lines = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The dev client secret the banner printed.
    pub fn banner_secret(&self) -> &str {
        self.banner
            .iter()
            .find_map(|l| l.split("client secret").nth(1))
            .map(str::trim)
            .expect("the banner prints the client secret")
    }

    pub fn raw_logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
    }
}

/// Starts `connector serve --port 0` with exactly `env` (and PATH), and waits for its
/// banner.
pub async fn start(env: &[(String, String)]) -> Served {
    let mut child = Command::new(crate::binaries::path("connector"))
        .args(["serve", "--port", "0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("connector serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    let base_url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            banner.push(line.clone());
            if let Some(rest) = line.split("listening on ").nth(1) {
                return rest.split_whitespace().next().expect("url").to_owned();
            }
        }
        panic!("connector serve exited before listening: {banner:?}")
    })
    .await
    .expect("connector serve listens within 30 s");
    // Read the rest of the banner, then keep draining stdout in the background.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_millis(50), lines.next_line()).await {
        banner.push(line);
    }
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    Served { base_url, banner, logs, _child: child }
}

/// `connector serve` configured as a deployment that signs people in through Supabase
/// Auth (its stand-in `supabase`), on the database at `database_url`, with `extra`
/// settings after those (a later setting wins).
pub async fn start_on_supabase(
    database_url: &str,
    supabase: &crate::standins::FakeSupabaseAuth,
    extra: &[(&str, &str)],
) -> Served {
    let anon_key = supabase.anon_key();
    let base = [
        ("DATABASE_URL", database_url),
        ("DATABASE_TLS", "false"),
        ("IDENTITY_PROVIDER", "supabase"),
        ("SUPABASE_URL", supabase.url.as_str()),
        ("SUPABASE_ANON_KEY", anon_key.as_str()),
    ];
    let env: Vec<(String, String)> =
        base.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    start(&env).await
}
