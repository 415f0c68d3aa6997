//! The foundation, driven from outside: the same route answers identically from its
//! Lambda binary (under an emulated Lambda Runtime API, fed API Gateway HTTP API
//! events) and from `connector serve`; configuration comes from env or from Secrets
//! Manager (moto); every failure is a JSON error carrying the request id.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::{get, post};
use serde_json::{Value, json};
use shared::config::{Config, Mode};
use shared::keys::SigningKeys;
use shared::secrets::{AwsSettings, fetch_with};
use shared::store::Notification;
use shared::store::memory::MemoryStore;
use shared::store::prelude::*;
use testkit::db::TestDatabase;
use testkit::lambda::{GatewayEvent, LambdaFunction};
use testkit::moto::Moto;
use testkit::{binaries, fixture, lambda_env, serve};
use tower::ServiceExt;

fn new_signing_keys() -> (Value, String) {
    let jwk = SigningKeys::generate_jwk();
    let text = json!([jwk]).to_string();
    (jwk, text)
}

fn header_of(response: &Value, name: &str) -> String {
    response["headers"][name].as_str().unwrap_or_default().to_owned()
}

fn body_of(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("a text body")).expect("a JSON body")
}

/// An API Gateway HTTP API (payload 2.0) event for `method path`, with a JSON body on
/// the methods that take one.
fn gateway_event(method: &axum::http::Method, path: &str, route: &str, request_id: &str) -> Value {
    let event = GatewayEvent::new(method.as_str(), path).route(route).request_id(request_id);
    let event = if *method == axum::http::Method::POST { event.json_body(&json!({})) } else { event };
    event.build()
}

/// A JSON body with its request id (which differs between hosts by design) taken out.
fn without_request_id(mut body: Value) -> Value {
    if let Some(object) = body.as_object_mut() {
        object.remove("request_id");
    }
    body
}

#[tokio::test]
async fn each_function_binary_answers_exactly_like_connector_serve() {
    let db = TestDatabase::create().await;
    shared::store::migrate::run(db.url(), false).await.expect("migrations apply");
    let (_, keys) = new_signing_keys();
    let env = lambda_env(db.url(), &keys);
    let served = serve::start(&env).await;
    let http = shared::tls::client();

    let mut compared = 0;
    for function in shared::routes::functions() {
        let name = function.name();
        let mut lambda = LambdaFunction::start(&binaries::path(&name), &env).await;
        for (n, (method, route)) in function.routes().into_iter().enumerate() {
            let path = concrete(&route);
            let request_id = format!("Parity{n}{}=", name.replace('-', ""));
            let from_lambda = lambda.invoke(gateway_event(&method, &path, &route, &request_id)).await;
            let mut local = http.request(method.clone(), format!("{}{path}", served.base_url));
            if method == axum::http::Method::POST {
                local = local.header("content-type", "application/json").body("{}");
            }
            let from_serve = local.send().await.expect("serve answers");
            let what = format!("{name}: {method} {route}");

            assert_eq!(from_lambda["statusCode"], from_serve.status().as_u16(), "{what}: {from_lambda}");
            // API Gateway's request id is the response's request id.
            assert_eq!(header_of(&from_lambda, "x-request-id"), request_id, "{what}");
            let content_type = from_serve.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(header_of(&from_lambda, "content-type"), content_type.clone().unwrap_or_default(), "{what}");
            for header in ["cache-control", "www-authenticate"] {
                let local = from_serve.headers().get(header).map(|v| v.to_str().unwrap_or_default().to_owned());
                assert_eq!(header_of(&from_lambda, header), local.unwrap_or_default(), "{what}: header {header}");
            }
            if content_type.is_some_and(|t| t.starts_with("application/json")) {
                let local_body: Value = from_serve.json().await.expect("JSON");
                let lambda_body = body_of(&from_lambda);
                if let Some(id) = lambda_body.get("request_id") {
                    assert_eq!(id, request_id.as_str(), "{what}: the error names API Gateway's request id");
                }
                assert_eq!(without_request_id(lambda_body), without_request_id(local_body), "{what}: body");
            }
            compared += 1;
        }
        // And nothing else: a route of another function is no route here (and a scheduled
        // function, which has none, refuses every event but its schedule's).
        if function.schedule().is_some() {
            let other = shared::routes::functions().find_map(|f| f.routes().into_iter().next()).expect("a route");
            let (method, route) = other;
            let event = gateway_event(&method, &concrete(&route), &route, "ParityOther=");
            let refused = lambda.try_invoke(event).await.expect_err("a scheduled function answers no request");
            assert!(refused.to_string().contains("not a Scheduled Event"), "{name}: {refused:#}");
            continue;
        }
        let other = shared::routes::functions()
            .find(|f| f.name() != name)
            .and_then(|f| f.routes().into_iter().next())
            .expect("there is more than one function");
        let (method, route) = other;
        let path = concrete(&route);
        let response = lambda.invoke(gateway_event(&method, &path, &route, "ParityOther=")).await;
        assert_eq!(response["statusCode"], 404, "{name} answers {method} {route}: {response}");
        assert_eq!(body_of(&response)["message"], "no route for this path", "{name}: {method} {route}");
    }
    let all_routes: usize = shared::routes::functions().map(|f| f.routes().len()).sum();
    assert_eq!(compared, all_routes);
}

#[tokio::test]
async fn the_jwks_function_serves_the_configured_public_keys_only() {
    let db = TestDatabase::create().await;
    let (jwk, keys) = new_signing_keys();
    let mut function = LambdaFunction::start(&binaries::path("discovery"), &lambda_env(db.url(), &keys)).await;
    let response = function.invoke(fixture("apigw-v2/get-jwks.json")).await;
    let jwks = body_of(&response);
    assert_eq!(
        jwks,
        json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": jwk["kid"], "x": jwk["x"] }] })
    );
    assert!(!response.to_string().contains(jwk["d"].as_str().unwrap()));
}

#[tokio::test]
async fn errors_under_lambda_carry_api_gateways_request_id() {
    let db = TestDatabase::create().await;
    let (_, keys) = new_signing_keys();
    let mut function = LambdaFunction::start(&binaries::path("healthz"), &lambda_env(db.url(), &keys)).await;

    let unknown = function.invoke(fixture("apigw-v2/get-unknown-route.json")).await;
    assert_eq!(unknown["statusCode"], 404);
    assert_eq!(
        body_of(&unknown),
        json!({ "error": "not_found", "message": "no route for this path", "request_id": "Lm0kQx5ZoAMEb1w=" })
    );
    assert_eq!(header_of(&unknown, "x-request-id"), "Lm0kQx5ZoAMEb1w=");

    let wrong_method = function.invoke(fixture("apigw-v2/post-healthz.json")).await;
    assert_eq!(wrong_method["statusCode"], 405);
    assert_eq!(body_of(&wrong_method)["error"], "method_not_allowed");
    assert_eq!(body_of(&wrong_method)["request_id"], "Np2aYy7ToAMEc3A=");
}

#[tokio::test]
async fn the_function_reads_its_secrets_from_secrets_manager() {
    let moto = Moto::start().await;
    let (jwk, keys) = new_signing_keys();
    let secret = json!({
        "SIGNING_KEYS": keys,
        "MCP_JWT_SECRET": "from-secrets-manager-0123456789abcdef",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "TURNSTILE_SECRET_KEY": "0x4AAAAAAAtest-turnstile-secret",
        "ADMIN_TOKEN": "from-secrets-manager-admin-0123456789",
        "SUPABASE_ANON_KEY": "anon",
        "SUPABASE_JWT_SECRET": "from-secrets-manager-supabase-0123456789",
    });
    let made = moto.provision(&format!("dexter/connector/{}", uuid::Uuid::new_v4()), &secret.to_string()).await;
    let arn = made.secret_arn.as_str();
    let settings = |secret_access_key: &str| {
        let env: HashMap<String, String> = moto.env(&made.access_key_id, secret_access_key).into_iter().collect();
        AwsSettings::from_env(&env).expect("complete AWS settings")
    };

    // The library path: the AWS SDK's SigV4 signature, recomputed and accepted by moto.
    let values = fetch_with(&settings(&made.secret_access_key), arn).await.expect("the secret reads");
    assert!(format!("{values:?}").contains("SIGNING_KEYS") && !format!("{values:?}").contains("from-secrets-manager"));

    // Signed with the wrong secret key: refused, and the error names neither key.
    let refused = fetch_with(&settings("not-the-secret-access-key"), arn).await.unwrap_err().to_string();
    assert!(refused.contains("403") && refused.contains("SignatureDoesNotMatch"), "{refused}");
    assert!(!refused.contains("not-the-secret-access-key") && !refused.contains(&made.secret_access_key));

    // The binary path: only non-secret settings in the environment.
    let mut env: Vec<(String, String)> = moto.env(&made.access_key_id, &made.secret_access_key);
    for (k, v) in [
        ("CONNECTOR_SECRET_ARN", arn),
        ("PUBLIC_BASE_URL", "https://api.dexter.cash"),
        ("MCP_URL", "http://127.0.0.1:9/mcp"),
        ("TURNSTILE_SITE_KEY", "1x00000000000000000000AA"),
        ("DATABASE_TLS", "false"),
        ("SUPABASE_URL", "http://127.0.0.1:9"),
    ] {
        env.push((k.into(), v.into()));
    }
    let mut function = LambdaFunction::start(&binaries::path("discovery"), &env).await;
    let response = function.invoke(fixture("apigw-v2/get-jwks.json")).await;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(body_of(&response)["keys"][0]["kid"], jwk["kid"]);

    // A secret that does not exist stops startup with one line naming it.
    let mut env = moto.env(&made.access_key_id, &made.secret_access_key);
    env.push(("CONNECTOR_SECRET_ARN".into(), "dexter/connector/missing".into()));
    env.push(("PUBLIC_BASE_URL".into(), "https://api.dexter.cash".into()));
    let (code, stderr) = LambdaFunction::start(&binaries::path("discovery"), &env).await.exit().await;
    assert_eq!(code, Some(1));
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("could not read secret dexter/connector/missing"), "{stderr}");
}

#[tokio::test]
async fn a_missing_setting_stops_startup_with_one_line_naming_it() {
    let (_, keys) = new_signing_keys();
    let env: Vec<(String, String)> = lambda_env("postgres://postgres@127.0.0.1:5432/postgres", &keys)
        .into_iter()
        .filter(|(k, _)| k != "MCP_URL")
        .collect();
    let (code, stderr) = LambdaFunction::start(&binaries::path("healthz"), &env).await.exit().await;
    assert_eq!(code, Some(1));
    assert_eq!(stderr.trim(), "startup failed: configuration error: MCP_URL is not set");
}

#[tokio::test]
async fn connector_serve_prints_what_the_gpt_editor_needs_and_logs_one_line_per_request() {
    let served = serve::start(&[("RUST_LOG".into(), "info".into())]).await;
    let banner = served.banner.join("\n");
    for needle in [
        "storage: in-memory",
        "dev user",
        "dev client id   chatgpt-dev",
        "client secret   dxcs_",
        "/connector/chatgpt/openapi.json",
        "/oauth/chatgpt/authorize",
        "/oauth/chatgpt/token",
        "mcp:invoke wallet:read profile",
        "Server URL          http://127.0.0.1:",
    ] {
        assert!(banner.contains(needle), "banner lacks {needle:?}:\n{banner}");
    }

    let secret_code = "dxac_never-log-this-code";
    let response = shared::tls::client()
        .get(format!("{}/healthz?code={secret_code}&state=s", served.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let line = served
        .log_lines()
        .into_iter()
        .find(|l| l["request_id"] == request_id.as_str())
        .unwrap_or_else(|| panic!("no log line for {request_id}:\n{}", served.raw_logs()));
    assert_eq!(line["http.method"], "GET");
    assert_eq!(line["http.route"], "/healthz");
    assert_eq!(line["http.status"], 200);
    assert!(line["latency_ms"].is_number());
    assert!(!served.raw_logs().contains(secret_code), "a code reached the logs");
    assert!(!served.raw_logs().contains(served.banner_secret()), "the client secret reached the logs");
}

/// A router with the shared layers and two test-only routes: one that stores what it
/// receives, one that panics.
fn router_with_test_routes(store: Arc<MemoryStore>) -> Router {
    let config = Config::from_sources(Mode::Local { port: 3000 }, &Default::default(), &Default::default()).unwrap();
    let state = shared::AppState::with_store(config, store.clone());
    let recorder = Router::new()
        .route(
            "/test/record",
            post(
                |axum::extract::State(store): axum::extract::State<Arc<MemoryStore>>,
                 shared::http::extract::Json(body): shared::http::extract::Json<Value>| async move {
                    store
                        .insert_notification(&Notification {
                            id: uuid::Uuid::new_v4(),
                            user_id: shared::UserId::from(uuid::Uuid::nil()),
                            kind: "test".into(),
                            title: "recorded".into(),
                            body,
                            created_at: chrono_now(),
                            read_at: None,
                        })
                        .await
                        .map_err(|e| shared::ApiError::Unexpected(e.into()))?;
                    Ok::<_, shared::ApiError>(StatusCode::CREATED)
                },
            ),
        )
        .route(
            "/test/panic",
            get(|| async {
                if true {
                    panic!("boom")
                }
            }),
        )
        .with_state(store);
    let config = state.config.clone();
    shared::http::finish(shared::routes::all_routes(state).merge(recorder), &config)
}

fn chrono_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Value, String) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let header_id = response.headers().get("x-request-id").expect("x-request-id").to_str().unwrap().to_owned();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body, header_id)
}

fn post_json(body: impl Into<Body>, content_type: Option<&str>) -> Request<Body> {
    let mut builder = Request::post("/test/record");
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder.body(body.into()).unwrap()
}

#[tokio::test]
async fn bad_input_gets_a_json_error_with_the_request_id_and_stores_nothing() {
    let store = Arc::new(MemoryStore::new());
    let app = router_with_test_routes(store.clone());
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(101 * 1024));

    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        ("malformed JSON", post_json("{\"a\":", Some("application/json")), StatusCode::BAD_REQUEST, "invalid_json"),
        (
            "wrong content type",
            post_json("{}", Some("text/plain")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        ("no content type", post_json("{}", None), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (
            "oversize body",
            post_json(big.clone(), Some("application/json")),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "oversize declared length",
            Request::post("/test/record")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, big.len().to_string())
                .body(Body::from(big.clone()))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "unknown route",
            Request::get("/connector/chatgpt/nope").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "bad method",
            Request::delete("/healthz").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (what, request, status, code) in cases {
        let (got_status, body, header_id) = call(&app, request).await;
        assert_eq!(got_status, status, "{what}: {body}");
        assert_eq!(body["error"], code, "{what}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
        assert_eq!(body["request_id"], header_id.as_str(), "{what}");
        assert_eq!(uuid::Uuid::parse_str(&header_id).map(|u| u.get_version_num()), Ok(4), "{what}");
    }
    assert!(
        store.list_notifications(shared::UserId::from(uuid::Uuid::nil()), 10).await.unwrap().is_empty(),
        "bad input stored something"
    );

    let (status, _, _) = call(&app, post_json("{\"ok\":true}", Some("application/json"))).await;
    assert_eq!(status, StatusCode::CREATED, "a good request still works");
    assert_eq!(store.list_notifications(shared::UserId::from(uuid::Uuid::nil()), 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_and_the_process_keeps_serving() {
    let app = router_with_test_routes(Arc::new(MemoryStore::new()));
    let (status, body, header_id) = call(&app, Request::get("/test/panic").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "internal_error");
    assert_eq!(body["request_id"], header_id.as_str());
    assert!(!body.to_string().contains("boom"), "panic text leaked: {body}");

    let (status, body, _) = call(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

/// What every `functions/<name>/src/main.rs` is, word for word.
const FUNCTION_MAIN: &str =
    "//! A Lambda function of the Dexter ChatGPT connector: the one `shared::routes` names after
//! this crate. Every crate in functions/ has this same file.

fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run(const { shared::routes::function(env!(\"CARGO_PKG_NAME\")) })
}
";

/// A concrete path for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{id}", "chatgpt-x").replace("{grant_id}", &uuid::Uuid::nil().to_string())
}

#[tokio::test]
async fn every_function_crate_is_registered_and_serves_exactly_its_declared_routes() {
    let functions_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    let mut crates: Vec<String> =
        std::fs::read_dir(&functions_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    crates.sort();
    let mut registered: Vec<String> = shared::routes::functions().map(|f| f.name().into_owned()).collect();
    registered.sort();
    assert_eq!(crates, registered, "functions/ and shared::routes disagree");

    let config = Config::from_sources(Mode::Local { port: 3000 }, &Default::default(), &Default::default()).unwrap();
    let state = shared::AppState::with_store(config, Arc::new(MemoryStore::new()));
    let every_route: Vec<(String, axum::http::Method, String)> = shared::routes::functions()
        .flat_map(|f| f.routes().into_iter().map(move |(m, p)| (f.name().into_owned(), m, p)))
        .collect();
    for function in shared::routes::functions() {
        let name = function.name();
        let main = std::fs::read_to_string(functions_dir.join(name.as_ref()).join("src/main.rs")).unwrap();
        assert_eq!(main, FUNCTION_MAIN, "functions/{name}/src/main.rs must be the shared one");
        let alone = shared::http::finish(function.router(state.clone()), &state.config);
        for (owner, method, path) in &every_route {
            let request = Request::builder().method(method).uri(concrete(path)).body(Body::empty()).unwrap();
            let (status, body, _) = call(&alone, request).await;
            let unrouted = status == StatusCode::NOT_FOUND && body["message"] == "no route for this path";
            if owner == name.as_ref() {
                assert!(!unrouted, "{name} does not serve {method} {path}");
                // A route may answer 405 itself, saying why (GET and DELETE /mcp, as the MCP
                // transport says); the fallback's 405 means it is not routed.
                let fallback_405 = status == StatusCode::METHOD_NOT_ALLOWED
                    && body["message"] == shared::error::ApiError::MethodNotAllowed.to_string();
                assert!(!fallback_405, "{name} does not serve {method} {path}");
            } else {
                // Another function's route: not served here (a 405 means the path is, for another method).
                assert!(
                    unrouted || status == StatusCode::METHOD_NOT_ALLOWED,
                    "{name} answers {method} {path}, a route of {owner}: {status} {body}"
                );
            }
        }
    }
}
