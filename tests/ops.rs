//! What operators rely on (issue 13): every action call's request log line is a valid
//! CloudWatch Embedded Metric Format document (one metric per call, no extra call), on
//! `connector serve` and under the Lambda runtime; outages of the database, Supabase Auth
//! and Turnstile answer clean 503s with `Retry-After` and the request id, lose nothing,
//! and recover by themselves.

use std::time::{Duration, Instant};

use sandbox_mcp::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use shared::config::DEFAULT_METRICS_NAMESPACE;
use shared::ids::{ClientId, GrantId, UserId};
use shared::keys::SigningKeys;
use shared::store::postgres::PgStore;
use shared::store::prelude::*;
use shared::store::{Grant, OAuthClient, Profile};
use testkit::db::TestDatabase;
use testkit::lambda::{GatewayEvent, LambdaFunction};
use testkit::serve::Served;
use testkit::{binaries, lambda_env, serve};

const MCP_SECRET: &str = "sandbox-mcp-secret-0123456789abcdef-xyz";
const ALL: [&str; 3] = ["mcp:invoke", "wallet:read", "profile"];
const RESOLVE: &str = "/connector/chatgpt/resolve_token";
const PROFILE: &str = "/connector/chatgpt/get_profile";

// ---------------------------------------------------------------------------------------
// Metrics

/// Checks `line` against the EMF specification's rules for one metric directive, and
/// returns its `_aws` object: a `Timestamp` in epoch milliseconds (close to now), one
/// directive in `namespace` with the dimension set `[action, status_class]` whose values
/// are top-level strings, and every declared metric a top-level number.
fn assert_emf(line: &Value, namespace: &str) -> Value {
    let aws = line.get("_aws").unwrap_or_else(|| panic!("no _aws object: {line}"));
    assert!(aws.is_object(), "_aws must be an object, not {aws}");
    let timestamp = aws["Timestamp"].as_i64().unwrap_or_else(|| panic!("Timestamp is not an integer: {aws}"));
    let now = chrono::Utc::now().timestamp_millis();
    assert!((now - 600_000..=now + 1000).contains(&timestamp), "Timestamp {timestamp} is not epoch ms near {now}");
    let directives = aws["CloudWatchMetrics"].as_array().unwrap_or_else(|| panic!("no CloudWatchMetrics: {aws}"));
    assert_eq!(directives.len(), 1, "{aws}");
    let directive = &directives[0];
    assert_eq!(directive["Namespace"], namespace, "{aws}");
    assert_eq!(directive["Dimensions"], json!([["action", "status_class"]]), "{aws}");
    for dimension in ["action", "status_class"] {
        let value = line[dimension].as_str().unwrap_or_else(|| panic!("dimension {dimension} is not a string: {line}"));
        assert!(!value.is_empty() && value.len() <= 1024, "{line}");
    }
    let metrics = directive["Metrics"].as_array().unwrap_or_else(|| panic!("no Metrics: {aws}"));
    assert!(!metrics.is_empty() && metrics.len() <= 100, "{aws}");
    for metric in metrics {
        let name = metric["Name"].as_str().unwrap_or_else(|| panic!("a metric without a name: {aws}"));
        assert!(line[name].is_number(), "metric {name} is not a top-level number: {line}");
        let unit = metric["Unit"].as_str().unwrap_or_default();
        assert!(["Count", "Milliseconds"].contains(&unit), "unit {unit:?}: {aws}");
    }
    assert_eq!(line["calls"], 1, "{line}");
    aws.clone()
}

/// The metric names a line declares.
fn declared(aws: &Value) -> Vec<String> {
    aws["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["Name"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Waits (up to 10 s) for the log line of `request_id` in `lines()`.
async fn line_of(lines: impl Fn() -> Vec<Value>, request_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = lines().into_iter().find(|l| l["request_id"] == request_id && l["message"] == "request") {
            return line;
        }
        assert!(Instant::now() < deadline, "no request log line for {request_id}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Dexter user with a `pro` profile and a grant for `client_id`, and an access token
/// for it issued by `issuer` with `keys`.
async fn linked_user(store: &PgStore, keys: &SigningKeys, issuer: &str, client_id: &ClientId) -> String {
    let user_id = UserId::random();
    store
        .upsert_profile(&Profile {
            user_id,
            email: Some(format!("{user_id}@example.com")),
            tier: "pro".into(),
            channels: json!({ "chatgpt": true }),
        })
        .await
        .expect("profile");
    let now = chrono::Utc::now();
    let scopes: Vec<String> = ALL.iter().map(|s| (*s).to_owned()).collect();
    let grant = Grant {
        id: GrantId::random(),
        user_id,
        client_id: client_id.clone(),
        scopes: scopes.clone(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    store.create_grant(&grant).await.expect("grant");
    shared::oauth::access_token::issue(keys, issuer, user_id, client_id, grant.id, &scopes, now).expect("token")
}

fn new_signing_keys() -> (SigningKeys, String) {
    let text = json!([SigningKeys::generate_jwk()]).to_string();
    (SigningKeys::from_json(&text).expect("keys"), text)
}

struct Reply {
    status: u16,
    request_id: String,
    retry_after: Option<String>,
    body: Value,
}

async fn get(url: &str, token: &str) -> Reply {
    let response = shared::tls::client().get(url).bearer_auth(token).send().await.expect("request");
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = header("x-request-id").unwrap_or_default();
    let retry_after = header("retry-after");
    let body = response.json().await.unwrap_or(Value::Null);
    Reply { status, request_id, retry_after, body }
}

async fn sandbox() -> Sandbox {
    sandbox_mcp::spawn(secrecy::SecretString::from(MCP_SECRET), SandboxOptions::default()).await.expect("sandbox")
}

/// `connector serve` on `database_url` with the sandbox upstream, signing with `keys`.
async fn serve_on(database_url: &str, keys: &str, sandbox: &Sandbox, extra: &[(&str, &str)]) -> Served {
    let mut env: Vec<(String, String)> = [
        ("DATABASE_URL", database_url),
        ("DATABASE_TLS", "false"),
        ("SIGNING_KEYS", keys),
        ("MCP_URL", sandbox.url.as_str()),
        ("MCP_JWT_SECRET", MCP_SECRET),
        ("MCP_TIMEOUT_MS", "3000"),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    serve::start(&env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_call_on_connector_serve_logs_one_emf_metric_in_its_request_line() {
    let db = TestDatabase::create().await;
    let sandbox = sandbox().await;
    let (keys, keys_text) = new_signing_keys();
    let served = serve_on(db.url(), &keys_text, &sandbox, &[]).await;
    let store = PgStore::connect(db.url(), false).expect("store");
    let token = linked_user(&store, &keys, &served.base_url, &ClientId::from("chatgpt-dev")).await;
    let lines = || served.log_lines();

    // A read that calls the upstream: 2xx with its latency.
    let ok = get(&format!("{}{RESOLVE}?query=SOL", served.base_url), &token).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let line = line_of(lines, &ok.request_id).await;
    let aws = assert_emf(&line, DEFAULT_METRICS_NAMESPACE);
    assert_eq!(line["action"], "resolve_token");
    assert_eq!(line["status_class"], "2xx");
    assert_eq!(declared(&aws), ["calls", "upstream_ms"]);
    assert!(line["upstream_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{line}");
    // The rest of the request line is as it always was.
    assert_eq!(line["http.status"], 200);
    assert_eq!(line["http.route"], RESOLVE);

    // An action that calls no upstream: no upstream_ms, declared or not.
    let profile = get(&format!("{}{PROFILE}", served.base_url), &token).await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    let line = line_of(lines, &profile.request_id).await;
    let aws = assert_emf(&line, DEFAULT_METRICS_NAMESPACE);
    assert_eq!((line["action"].as_str(), line["status_class"].as_str()), (Some("get_profile"), Some("2xx")));
    assert_eq!(declared(&aws), ["calls"]);
    assert!(line.get("upstream_ms").is_none(), "{line}");

    // A refused token: counted under 4xx, never reaching the upstream.
    let refused = get(&format!("{}{RESOLVE}?query=SOL", served.base_url), "not-a-token").await;
    assert_eq!(refused.status, 401);
    let line = line_of(lines, &refused.request_id).await;
    let aws = assert_emf(&line, DEFAULT_METRICS_NAMESPACE);
    assert_eq!((line["action"].as_str(), line["status_class"].as_str()), (Some("resolve_token"), Some("4xx")));
    assert_eq!(declared(&aws), ["calls"]);

    // The upstream failing: counted under 5xx, with the failed call's latency.
    sandbox.fail_next_with_status(500);
    let failed = get(&format!("{}{RESOLVE}?query=SOL", served.base_url), &token).await;
    assert_eq!(failed.status, 502, "{}", failed.body);
    let line = line_of(lines, &failed.request_id).await;
    let aws = assert_emf(&line, DEFAULT_METRICS_NAMESPACE);
    assert_eq!((line["action"].as_str(), line["status_class"].as_str()), (Some("resolve_token"), Some("5xx")));
    assert_eq!(declared(&aws), ["calls", "upstream_ms"]);

    // A request that is no action call: the request line as before, without metrics.
    let health = shared::tls::client().get(format!("{}/healthz", served.base_url)).send().await.expect("healthz");
    let health_id = health.headers()["x-request-id"].to_str().expect("id").to_owned();
    let line = line_of(lines, &health_id).await;
    for member in ["_aws", "action", "status_class", "calls", "upstream_ms"] {
        assert!(line.get(member).is_none(), "a non-action line carries {member}: {line}");
    }
    assert_eq!(line["http.route"], "/healthz");

    // Never a token in the log.
    assert!(!served.raw_logs().contains(&token), "an access token reached the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_action_function_logs_its_metric_in_the_stacks_namespace() {
    let db = TestDatabase::create().await;
    shared::store::migrate::run(db.url(), false).await.expect("migrations");
    let sandbox = sandbox().await;
    let (keys, keys_text) = new_signing_keys();
    let store = PgStore::connect(db.url(), false).expect("store");
    let client_id = ClientId::from("chatgpt-ops");
    store
        .create_client(&OAuthClient {
            id: client_id.clone(),
            name: "Ops test".into(),
            secret_hash: shared::TokenHash::of("dxcs_unused"),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec!["https://chatgpt.com/aip/g-1/oauth/callback".into()],
            scopes: ALL.iter().map(|s| (*s).to_owned()).collect(),
            created_at: chrono::Utc::now(),
            public: false,
        })
        .await
        .expect("client");
    let token = linked_user(&store, &keys, testkit::PUBLIC_BASE_URL, &client_id).await;

    let namespace = "DexterConnector/dexter-connector-prod";
    let mut env = lambda_env(db.url(), &keys_text);
    env.retain(|(k, _)| k != "MCP_URL" && k != "MCP_JWT_SECRET");
    env.extend([
        ("MCP_URL".to_owned(), sandbox.url.clone()),
        ("MCP_JWT_SECRET".to_owned(), MCP_SECRET.to_owned()),
        ("METRICS_NAMESPACE".to_owned(), namespace.to_owned()),
    ]);
    let mut function = LambdaFunction::start(&binaries::path("resolve-token"), &env).await;
    let event = |request_id: &str| {
        GatewayEvent::get(RESOLVE)
            .query("query=SOL")
            .header("authorization", &format!("Bearer {token}"))
            .request_id(request_id)
            .build()
    };

    let response = function.invoke(event("ops-lambda-ok")).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    let line = line_of(|| function.log_lines(), "ops-lambda-ok").await;
    let aws = assert_emf(&line, namespace);
    assert_eq!((line["action"].as_str(), line["status_class"].as_str()), (Some("resolve_token"), Some("2xx")));
    assert_eq!(declared(&aws), ["calls", "upstream_ms"]);

    sandbox.fail_next_with_status(500);
    let response = function.invoke(event("ops-lambda-upstream-down")).await;
    assert_eq!(response["statusCode"], 502, "{response}");
    let line = line_of(|| function.log_lines(), "ops-lambda-upstream-down").await;
    assert_emf(&line, namespace);
    assert_eq!(line["status_class"], "5xx");
    assert!(line["upstream_ms"].is_number(), "{line}");

    // Every line the function wrote is one JSON object: EMF lines are single lines too.
    let lines = function.log_lines();
    assert!(lines.iter().filter(|l| l.get("_aws").is_some()).count() == 2, "{lines:?}");
}
