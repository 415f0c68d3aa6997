//! The test kit (`connector-testkit`) of the black-box tests (`tests/`) and the benchmark
//! harness (`bench/`): a Lambda Runtime API emulator that runs the real function binaries
//! and the API Gateway events it feeds them, `connector serve` as a child process,
//! throwaway Postgres databases, moto, stand-ins for third parties, and headless Chromium
//! through chromedriver (`webdriver`).

pub mod app;
pub mod binaries;
pub mod browser;
pub mod cluster;
pub mod db;
pub mod lambda;
pub mod moto;
pub mod serve;
pub mod standins;
pub mod webdriver;

use std::path::PathBuf;

/// GET `url` with the connector's own HTTP client (rustls on ring) and parse the JSON body.
pub async fn get_json(url: &str) -> serde_json::Value {
    let response = shared::tls::client().get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response.json().await.unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// `testkit/fixtures/<relative>` parsed as JSON.
pub fn fixture(relative: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The public base URL of the deployment the functions are configured as (`lambda_env`):
/// the issuer of the access tokens they accept.
pub const PUBLIC_BASE_URL: &str = "https://api.dexter.cash";

/// The settings a deployed function needs, pointing at the given database.
pub fn lambda_env(database_url: &str, signing_keys: &str) -> Vec<(String, String)> {
    [
        ("PUBLIC_BASE_URL", PUBLIC_BASE_URL),
        ("SIGNING_KEYS", signing_keys),
        ("MCP_URL", "http://127.0.0.1:9/mcp"),
        ("MCP_JWT_SECRET", "test-mcp-secret-test-mcp-secret-0123"),
        ("DATABASE_URL", database_url),
        ("DATABASE_TLS", "false"),
        ("TURNSTILE_SITE_KEY", "1x00000000000000000000AA"),
        ("TURNSTILE_SECRET_KEY", "0x4AAAAAAAtest-turnstile-secret"),
        ("ADMIN_TOKEN", "test-admin-token-test-admin-token-0123"),
        ("SUPABASE_URL", "http://127.0.0.1:9"),
        ("SUPABASE_ANON_KEY", "test-anon-key"),
        ("SUPABASE_JWT_SECRET", "test-supabase-jwt-secret-0123456789abcdef"),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
