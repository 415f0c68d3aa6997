//! The function binaries served by `cargo lambda watch`, the way a developer runs them
//! locally (docs/deploy.md, README): each request goes through cargo-lambda's API
//! Gateway HTTP API emulation to the real binary under the Lambda Runtime API, at the
//! same paths as API Gateway ([workspace.metadata.lambda.watch.router] in Cargo.toml,
//! kept equal to template.yaml by scripts/check-template).
//!
//! cargo-lambda comes from PyPI into .venv (scripts/requirements-test.txt). Without it
//! the test is skipped with one line, except under CI=true, where that is a failure.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use shared::keys::SigningKeys;
use shared::store::prelude::*;
use shared::store::{Grant, OAuthClient, PgStore, Profile};
use shared::{ClientId, GrantId, UserId};
use testkit::binaries::as_from_a_shell;
use testkit::db::TestDatabase;
use testkit::lambda_env;
use uuid::Uuid;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace").to_owned()
}

/// .venv's cargo-lambda, else one on PATH; the test fails when there is neither.
fn cargo_lambda() -> PathBuf {
    let venv = workspace_root().join(".venv/bin/cargo-lambda");
    let on_path = || {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join("cargo-lambda"))
            .find(|candidate| candidate.is_file())
    };
    match Some(venv).filter(|p| p.is_file()).or_else(on_path) {
        Some(path) => path,
        None => panic!("cargo-lambda is not installed: run scripts/test (it installs it into .venv)"),
    }
}

/// `cargo lambda watch` on a free port, stopped with SIGTERM (which ends the function
/// processes it started) when dropped.
struct Watch {
    child: Child,
    base_url: String,
    log: PathBuf,
}

impl Watch {
    fn start(cargo_lambda: &Path, env: &[(String, String)]) -> Watch {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let log = std::env::temp_dir().join(format!("cargo-lambda-watch-{port}.log"));
        let output = std::fs::File::create(&log).expect("log file");
        // cargo-lambda runs each function with `cargo run --bin <name>` (a debug build,
        // already there after scripts/test's build step) and finds zig through python3.
        let bin_dir = cargo_lambda.parent().expect("a directory").to_owned();
        let path = std::env::join_paths(
            std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .expect("PATH");
        let child = as_from_a_shell(&mut Command::new(cargo_lambda))
            .args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()])
            // No rebuilds when files change while the test runs.
            .arg("--ignore-changes")
            .current_dir(workspace_root())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(output.try_clone().expect("log file"))
            .stderr(output)
            .spawn()
            .expect("cargo lambda watch starts");
        let watch = Watch { child, base_url: format!("http://127.0.0.1:{port}"), log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "cargo lambda watch did not listen within 60 s\n{}", watch.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
        watch
    }

    /// The end of cargo-lambda's output (its own log and the functions').
    fn logs(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(6000);
        let start = (start..text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        format!("--- {} (end) ---\n{}", self.log.display(), &text[start..])
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed {
            eprintln!("{}", self.logs());
        }
        // SIGTERM: cargo-lambda shuts its function processes down before exiting;
        // SIGKILL would leave them behind.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                if !failed {
                    let _ = std::fs::remove_file(&self.log);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn cargo_lambda_watch_serves_the_token_endpoint_and_an_action_at_api_gateway_paths() {
    let cargo_lambda = cargo_lambda();
    let db = TestDatabase::create().await;
    shared::store::migrate::run(db.url(), false).await.expect("migrations apply");
    let jwk = SigningKeys::generate_jwk();
    let keys = json!([jwk]).to_string();

    // A linked account, as a finished OAuth flow leaves it: a client, a user with a
    // profile, a grant and its refresh token.
    let store = PgStore::connect(db.url(), false).expect("store");
    let now = Utc::now();
    let client_id = ClientId::from(format!("chatgpt-watch-{}", &Uuid::new_v4().simple().to_string()[..8]));
    let client_secret = shared::tokens::generate("dxcs_");
    store
        .create_client(&OAuthClient {
            id: client_id.clone(),
            name: "Dexter Console (watch)".into(),
            secret_hash: shared::TokenHash::of(&client_secret),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec!["https://chatgpt.com/aip/g-watch/oauth/callback".into()],
            scopes: vec!["mcp:invoke".into(), "wallet:read".into(), "profile".into()],
            created_at: now,
            public: false,
        })
        .await
        .expect("client");
    let user_id = UserId::random();
    store
        .upsert_profile(&Profile {
            user_id,
            email: Some("watch@example.com".into()),
            tier: "pro".into(),
            channels: json!({ "chatgpt": true }),
        })
        .await
        .expect("profile");
    let grant = Grant {
        id: GrantId::random(),
        user_id,
        client_id: client_id.clone(),
        scopes: vec!["profile".into(), "wallet:read".into()],
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    store.create_grant(&grant).await.expect("grant");
    let refresh_token = shared::tokens::generate("dxrt_");
    store
        .create_refresh_token(&shared::TokenHash::of(&refresh_token), grant.id, now + chrono::Duration::days(1))
        .await
        .expect("refresh token");

    // cargo-lambda starts a function on its first request with `cargo run --bin <name>`
    // from the workspace root: the default members' feature set, not scripts/test's
    // `--workspace` one, so build exactly that first, without a timeout.
    let functions = ["discovery", "oauth-token", "get-profile"];
    let status = as_from_a_shell(&mut Command::new(env!("CARGO")))
        .args(["build", "--quiet"])
        .args(functions.iter().flat_map(|name| ["--bin", name]))
        .current_dir(workspace_root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build of {functions:?} failed");

    let watch = Watch::start(&cargo_lambda, &lambda_env(db.url(), &keys));
    // Generous: each function's first request still runs `cargo run`, which may wait for
    // the build directory's lock while other tests build.
    let http = shared::tls::client_builder().timeout(Duration::from_secs(600)).build().expect("client");
    let url = |path: &str| format!("{}{path}", watch.base_url);

    // discovery: the JWKS publishes the signing key.
    let response = http.get(url("/.well-known/jwks.json")).send().await.expect("jwks answers");
    assert_eq!(response.status(), 200, "{}", watch.logs());
    let jwks: Value = response.json().await.expect("JSON");
    assert_eq!(jwks["keys"][0]["kid"], jwk["kid"], "{jwks}");

    // oauth-token: a wrong client secret is RFC 6749 §5.2 invalid_client.
    let response = http
        .post(url("/oauth/chatgpt/token"))
        .basic_auth(&client_id, Some("dxcs_wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())])
        .send()
        .await
        .expect("token endpoint answers");
    assert_eq!(response.status(), 401, "{}", watch.logs());
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_client", "{body}");

    // oauth-token: the right secret rotates the refresh token and issues an access token.
    let response = http
        .post(url("/oauth/chatgpt/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.as_str())])
        .send()
        .await
        .expect("token endpoint answers");
    assert_eq!(response.status(), 200, "{}", watch.logs());
    let tokens: Value = response.json().await.expect("JSON");
    assert!(tokens["token_type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case("bearer")), "{tokens}");
    let new_refresh = tokens["refresh_token"].as_str().expect("a new refresh token");
    assert!(new_refresh.starts_with("dxrt_") && new_refresh != refresh_token, "{tokens}");
    let access_token = tokens["access_token"].as_str().expect("an access token");

    // get-profile: the action accepts the token another function issued.
    let response =
        http.get(url("/connector/chatgpt/get_profile")).bearer_auth(access_token).send().await.expect("action answers");
    assert_eq!(response.status(), 200, "{}", watch.logs());
    assert!(response.headers().contains_key("x-request-id"));
    let profile: Value = response.json().await.expect("JSON");
    assert_eq!(profile["user_id"], user_id.to_string(), "{profile}");
    assert_eq!(profile["email"], "watch@example.com", "{profile}");
    assert_eq!(profile["tier"], "pro", "{profile}");

    // And without a token, the same action refuses with 401 and a JSON error.
    let response = http.get(url("/connector/chatgpt/get_profile")).send().await.expect("action answers");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("JSON");
    assert!(body["request_id"].is_string(), "{body}");
}
