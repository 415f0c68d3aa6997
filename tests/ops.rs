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
use shared::limits;
use shared::store::postgres::PgStore;
use shared::store::prelude::*;
use shared::store::{Grant, LimitKey, OAuthClient, Profile};
use testkit::app::{Options, REDIRECT_URI, TestApp, spawn_app};
use testkit::browser::{Browser, Page};
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
/// for it issued by `issuer` with `keys`: (token, grant).
async fn linked_user(store: &PgStore, keys: &SigningKeys, issuer: &str, client_id: &ClientId) -> (String, GrantId) {
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
    let token =
        shared::oauth::access_token::issue(keys, issuer, user_id, client_id, grant.id, &scopes, now).expect("token");
    (token, grant.id)
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
    let (token, _) = linked_user(&store, &keys, &served.base_url, &ClientId::from("chatgpt-dev")).await;
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

    // Every declared action, called as it comes (some answer 400 to an empty request):
    // one valid EMF line each, under its own name and the class of the status it answered.
    for action in shared::actions::ACTIONS {
        let url = format!("{}{}", served.base_url, action.path());
        let request = match action.method.as_str() {
            "POST" => shared::tls::client().post(&url).json(&json!({})),
            _ => shared::tls::client().get(&url),
        };
        let response = request.bearer_auth(&token).send().await.expect("request");
        let status = response.status().as_u16();
        let request_id = response.headers()["x-request-id"].to_str().expect("id").to_owned();
        let line = line_of(lines, &request_id).await;
        assert_emf(&line, DEFAULT_METRICS_NAMESPACE);
        assert_eq!(line["action"], action.name, "{line}");
        assert_eq!(line["status_class"], format!("{}xx", status / 100), "{} answered {status}: {line}", action.name);
        assert_eq!(line["http.status"], status, "{line}");
    }

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
    let (token, _) = linked_user(&store, &keys, testkit::PUBLIC_BASE_URL, &client_id).await;

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

// ---------------------------------------------------------------------------------------
// Database outage: the token endpoint and the actions answer 503 JSON, then recover

/// `POST /oauth/chatgpt/token` refreshing `refresh` as the dev client.
async fn refresh(served: &Served, refresh: &str) -> Reply {
    let response = shared::tls::client()
        .post(format!("{}/oauth/chatgpt/token", served.base_url))
        .basic_auth("chatgpt-dev", Some(served.banner_secret()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = header("x-request-id").unwrap_or_default();
    let retry_after = header("retry-after");
    let body = response.json().await.unwrap_or(Value::Null);
    Reply { status, request_id, retry_after, body }
}

/// An outage answer: `503 service_unavailable` JSON naming the request id, with
/// `Retry-After`.
fn assert_outage_answer(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 503, "{what} during the outage: {}", reply.body);
    assert_eq!(reply.body["error"], "service_unavailable", "{what}: {}", reply.body);
    assert!(!reply.request_id.is_empty(), "{what}: no x-request-id");
    assert_eq!(reply.body["request_id"], reply.request_id.as_str(), "{what}: {}", reply.body);
    let seconds = reply.retry_after.as_deref().and_then(|v| v.parse::<u64>().ok());
    assert!(seconds.is_some_and(|s| s >= 1), "{what}: Retry-After {:?}", reply.retry_after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_the_token_endpoint_and_actions_answer_503_and_recover_without_a_restart() {
    let cluster = testkit::cluster::Cluster::start();
    let (admin, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls).await.expect("cluster");
    tokio::spawn(connection);
    admin.batch_execute("create database connector").await.expect("create database");
    let database_url = cluster.url_of("connector");
    let sandbox = sandbox().await;
    let (keys, keys_text) = new_signing_keys();
    let served = serve_on(&database_url, &keys_text, &sandbox, &[("RUST_LOG", "warn")]).await;

    let store = PgStore::connect(&database_url, false).expect("store");
    let client_id = ClientId::from("chatgpt-dev");
    let (token, grant_id) = linked_user(&store, &keys, &served.base_url, &client_id).await;
    let refresh_token = shared::tokens::generate("dxrt_");
    let expires = chrono::Utc::now() + chrono::Duration::days(1);
    store.create_refresh_token(&shared::TokenHash::of(&refresh_token), grant_id, expires).await.expect("refresh");
    let action = format!("{}{RESOLVE}?query=SOL", served.base_url);
    assert_eq!(get(&action, &token).await.status, 200, "the action works before the outage");

    cluster.crash();
    for _ in 0..3 {
        assert_outage_answer(&get(&action, &token).await, "resolve_token");
        assert_outage_answer(&refresh(&served, &refresh_token).await, "the token endpoint");
    }

    cluster.start_again();
    // The pool drops its dead connections and reconnects by itself: bounded polling.
    let deadline = Instant::now() + Duration::from_secs(30);
    let back = loop {
        let reply = get(&action, &token).await;
        if reply.status == 200 {
            break reply;
        }
        assert_outage_answer(&reply, "resolve_token while the database restarts");
        assert!(Instant::now() < deadline, "the connector did not recover within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(back.body["receipt_ids"][0].is_string(), "{}", back.body);
    // The refresh token the outage answers did not spend still works.
    let refreshed = refresh(&served, &refresh_token).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert!(refreshed.body["access_token"].is_string() && refreshed.body["refresh_token"].is_string());
}

// ---------------------------------------------------------------------------------------
// Supabase Auth and Turnstile outages on the sign-in pages

/// ChatGPT's authorization URL for the test app's client.
async fn authorize_url(app: &TestApp) -> String {
    let client_id = app.client_id().await;
    format!(
        "{}/oauth/chatgpt/authorize?response_type=code&client_id={}&redirect_uri={}&state=s-{}&scope=profile\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        app.base_url,
        client_id.as_str(),
        urlencode(REDIRECT_URI),
        uuid::Uuid::new_v4().simple()
    )
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The login page of a fresh authorization request in `browser`: (request, csrf).
async fn login_page(app: &TestApp, browser: &mut Browser) -> (String, String) {
    let to_login = browser.get(&authorize_url(app).await).await;
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let login = browser.get(&format!("{}{}", app.base_url, to_login.location.expect("a redirect"))).await;
    assert_eq!(login.status, 200, "{}", login.body);
    (login.field("request"), login.field("csrf"))
}

async fn submit_email(app: &TestApp, browser: &mut Browser, request: &str, csrf: &str, email: &str) -> Page {
    let turnstile = app.siteverify.issue_token();
    browser
        .post_form(
            &format!("{}/oauth/chatgpt/login", app.base_url),
            &[("request", request), ("csrf", csrf), ("email", email), ("cf-turnstile-response", &turnstile)],
        )
        .await
}

async fn submit_code(app: &TestApp, browser: &mut Browser, request: &str, csrf: &str, code: &str) -> Page {
    browser
        .post_form(
            &format!("{}/oauth/chatgpt/callback", app.base_url),
            &[("request", request), ("csrf", csrf), ("code", code)],
        )
        .await
}

/// An outage page: `503`, `Retry-After`, the request id in the header and on the page,
/// the words a person needs, and (for form steps) the same form to submit again.
fn assert_outage_page(page: &Page, what: &str, with_form_of: Option<&str>) {
    assert_eq!(page.status, 503, "{what}: {}", page.body);
    let retry = page.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    assert!(retry.is_some_and(|s| s >= 1), "{what}: no Retry-After");
    let request_id = page.headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(!request_id.is_empty(), "{what}: no x-request-id");
    assert!(page.body.contains(request_id), "{what}: the page does not name request {request_id}:\n{}", page.body);
    assert!(page.body.contains("briefly unavailable"), "{what}:\n{}", page.body);
    assert!(page.body.contains("kept"), "{what}: the page must say the request is kept:\n{}", page.body);
    assert!(page.headers["content-type"].to_str().unwrap_or_default().starts_with("text/html"), "{what}");
    if let Some(request) = with_form_of {
        assert_eq!(page.field("request"), request, "{what}: the page offers the same step again");
    }
}

/// The count of `budget` for `key` in the window of a request created at `created_at`
/// (per-request budgets) or of now (the others).
async fn budget_used(
    app: &TestApp,
    budget: &limits::Budget,
    key: &str,
    window_start: chrono::DateTime<chrono::Utc>,
) -> i64 {
    app.store.hits(budget.bucket, &LimitKey::of(budget.bucket, key), window_start).await.expect("hits")
}

async fn postgres_app() -> (TestDatabase, TestApp) {
    let db = TestDatabase::create().await;
    let store = PgStore::connect(db.url(), false).expect("store");
    store.migrate().await.expect("migrations");
    let app = spawn_app(std::sync::Arc::new(store), Options::default()).await;
    app.supabase.allow_rapid_emails();
    (db, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turnstile_and_supabase_outages_at_the_email_step_answer_503_pages_and_the_same_step_succeeds_after() {
    let (_db, app) = postgres_app().await;
    let mut browser = Browser::default();
    let (request, csrf) = login_page(&app, &mut browser).await;
    let email = format!("outage-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let request_uuid = uuid::Uuid::parse_str(&request).expect("a request id");
    let created_at = app
        .store
        .get_authorization_request(request_uuid, chrono::Utc::now())
        .await
        .expect("get")
        .expect("kept")
        .created_at;

    // siteverify is down: more submissions than the request's email budget allows.
    app.siteverify.go_down(503);
    for _ in 0..=limits::EMAILS_PER_REQUEST.limit {
        let page = submit_email(&app, &mut browser, &request, &csrf, &email).await;
        assert_outage_page(&page, "login with siteverify down", Some(&request));
    }
    assert_eq!(app.supabase.otp_calls(), 0, "no email without a verified human check");
    app.siteverify.recover();

    // Supabase Auth is down: the human check passes, the email cannot be sent.
    app.supabase.go_down(503);
    for _ in 0..=limits::EMAILS_PER_REQUEST.limit {
        let page = submit_email(&app, &mut browser, &request, &csrf, &email).await;
        assert_outage_page(&page, "login with Supabase Auth down", Some(&request));
    }
    // Nothing was burned by our outage: no budget counts these attempts.
    assert_eq!(budget_used(&app, &limits::EMAILS_PER_REQUEST, &request, created_at).await, 0);
    let now = chrono::Utc::now();
    assert_eq!(
        budget_used(&app, &limits::EMAILS_PER_ADDRESS, &email, limits::EMAILS_PER_ADDRESS.window_start(now)).await,
        0
    );
    let request_now = app.store.get_authorization_request(request_uuid, now).await.expect("get").expect("kept");
    assert_eq!(request_now.login_email, None, "no address is attached while no email was sent");

    // Back up: the very same step succeeds.
    app.supabase.recover();
    let code_page = submit_email(&app, &mut browser, &request, &csrf, &email).await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    assert!(code_page.body.contains("Check your email"));
    assert_eq!(budget_used(&app, &limits::EMAILS_PER_REQUEST, &request, created_at).await, 1);
    let code = app.supabase.last_code_for(&email).expect("an emailed code");
    let user_id = app.supabase.user_id_for(&email).expect("a user");
    app.give_profile(user_id, &email, "pro", true).await;
    let to_consent = submit_code(&app, &mut browser, &request, &csrf, &code).await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    assert!(to_consent.location.unwrap_or_default().starts_with("/oauth/chatgpt/consent?request="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supabase_outage_at_the_code_step_burns_no_tries_and_the_same_code_works_after() {
    let (_db, app) = postgres_app().await;
    let mut browser = Browser::default();
    let (request, csrf) = login_page(&app, &mut browser).await;
    let email = format!("outage-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let page = submit_email(&app, &mut browser, &request, &csrf, &email).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let code = app.supabase.last_code_for(&email).expect("an emailed code");
    let user_id = app.supabase.user_id_for(&email).expect("a user");
    app.give_profile(user_id, &email, "pro", true).await;

    // More tries than the request allows (after which it would be deleted), all during
    // the outage: each answers 503 with the code form again, and none is counted.
    app.supabase.go_down(502);
    for _ in 0..=limits::CODES_PER_REQUEST.limit {
        let page = submit_code(&app, &mut browser, &request, &csrf, &code).await;
        assert_outage_page(&page, "code with Supabase Auth down", Some(&request));
        assert!(page.body.contains("name=\"code\""), "the code form is offered again");
    }
    assert_eq!(app.supabase.verify_calls(), 0);
    let now = chrono::Utc::now();
    assert_eq!(budget_used(&app, &limits::CODES_PER_EMAIL, &email, limits::CODES_PER_EMAIL.window_start(now)).await, 0);

    app.supabase.recover();
    let to_consent = submit_code(&app, &mut browser, &request, &csrf, &code).await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    let consent = browser.get(&format!("{}{}", app.base_url, to_consent.location.expect("consent"))).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magic_link_opened_during_a_supabase_outage_works_when_reloaded_after() {
    let (_db, app) = postgres_app().await;
    let mut browser = Browser::default();
    let (request, csrf) = login_page(&app, &mut browser).await;
    let email = format!("outage-{}@example.com", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    assert_eq!(submit_email(&app, &mut browser, &request, &csrf, &email).await.status, 200);
    let (redirect_to, token_hash) = app.supabase.last_magic_link_for(&email).expect("a magic link");
    let link = format!("{redirect_to}&token_hash={token_hash}&type=magiclink");

    app.supabase.go_down(504);
    for _ in 0..=limits::CODES_PER_REQUEST.limit {
        let page = browser.get(&link).await;
        assert_outage_page(&page, "magic link with Supabase Auth down", None);
        assert!(page.body.contains("reload"), "{}", page.body);
    }
    app.supabase.recover();
    let done = browser.get(&link).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.unwrap_or_default().starts_with("/oauth/chatgpt/consent?request="));
}
