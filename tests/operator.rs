//! The operator API and `connector clients`, driven from outside: registering, listing,
//! rotating and deleting OAuth clients, against the in-memory store and Postgres. Deleting
//! a client is the org-wide revocation: every grant and refresh token of it dies at once.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::config::{Config, Mode};
use shared::ids::{ClientId, GrantId, UserId};
use shared::operator::clients::secret_matches;
use shared::store::memory::MemoryStore;
use shared::store::postgres::PgStore;
use shared::store::prelude::*;
use shared::store::{Grant, Rotation, Store};
use testkit::binaries;
use testkit::db::TestDatabase;
use tower::ServiceExt;
use uuid::Uuid;

const ADMIN_TOKEN: &str = "test-admin-token-test-admin-token-0123";
const CHATGPT_CALLBACK: &str = "https://chatgpt.com/aip/g-0123abcd/oauth/callback";
const OPENAI_CALLBACK: &str = "https://chat.openai.com/aip/g-0123abcd/oauth/callback";

/// The operator routes with every shared layer, over `store`.
fn operator_app(store: Arc<dyn Store>) -> Router {
    let env: HashMap<String, String> = [("ADMIN_TOKEN".to_owned(), ADMIN_TOKEN.to_owned())].into_iter().collect();
    let config =
        Config::from_sources(Mode::Local { port: 3000 }, &env, &Default::default()).expect("local configuration");
    let state = shared::AppState::with_store(config, store);
    let config = state.config.clone();
    shared::http::finish(shared::operator::router(state), &config)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    raw: String,
}

/// Sends one request; `body` is sent as JSON text when given.
async fn send(app: &Router, method: Method, path: &str, token: Option<&str>, body: Option<&str>) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match body {
        Some(text) => request.header(header::CONTENT_TYPE, "application/json").body(Body::from(text.to_owned())),
        None => request.body(Body::empty()),
    }
    .expect("a valid request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply { status, headers, body, raw }
}

async fn admin(app: &Router, method: Method, path: &str, body: Option<Value>) -> Reply {
    let text = body.map(|b| b.to_string());
    send(app, method, path, Some(ADMIN_TOKEN), text.as_deref()).await
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("an RFC 3339 time, got {value}"))
}

fn secret_of(reply: &Reply) -> String {
    let secret =
        reply.body["client_secret"].as_str().unwrap_or_else(|| panic!("a client_secret in {}", reply.raw)).to_owned();
    assert!(secret.starts_with("dxcs_"), "{secret}");
    secret
}

/// Create → list → rotate (with and without overlap) → delete, checking the store's
/// view at each step. Runs against whichever backend it is given.
async fn the_whole_client_lifecycle(store: Arc<dyn Store>) {
    let app = operator_app(store.clone());

    // Create: defaults filled in, the secret shown once.
    let created = admin(
        &app,
        Method::POST,
        "/oauth/clients",
        Some(json!({ "name": "ChatGPT (staging)", "redirect_uris": [CHATGPT_CALLBACK, OPENAI_CALLBACK] })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    let id = ClientId::from(created.body["client_id"].as_str().expect("an id"));
    let suffix = id.as_str().strip_prefix("chatgpt-").expect("a chatgpt- id");
    assert_eq!(suffix.len(), 12, "{id}");
    assert_eq!(created.body["name"], "ChatGPT (staging)");
    assert_eq!(created.body["redirect_uris"], json!([CHATGPT_CALLBACK, OPENAI_CALLBACK]));
    assert_eq!(created.body["scopes"], json!(["mcp:invoke", "wallet:read", "profile"]));
    let first_secret = secret_of(&created);
    let stored = store.get_client(&id).await.unwrap().expect("stored");
    assert_ne!(stored.secret_hash.as_str(), first_secret, "stored hashed");
    assert!(secret_matches(&stored, &first_secret, Utc::now()));
    assert_eq!(stored.created_at, time(&created.body["created_at"]));

    // List and show: the client, never its secret or hash.
    let listed = admin(&app, Method::GET, "/oauth/clients", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.raw);
    let entry = listed.body["clients"]
        .as_array()
        .expect("a clients array")
        .iter()
        .find(|c| c["client_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} listed in {}", listed.raw))
        .clone();
    let mut fields: Vec<&str> = entry.as_object().expect("an object").keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["client_id", "created_at", "name", "previous_secret_expires_at", "redirect_uris", "scopes"]);
    assert_eq!(entry["previous_secret_expires_at"], Value::Null);
    for leak in [first_secret.as_str(), stored.secret_hash.as_str()] {
        assert!(!listed.raw.contains(leak), "the list leaks a secret");
    }
    let shown = admin(&app, Method::GET, &format!("/oauth/clients/{id}"), None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.raw);
    assert_eq!(shown.body, entry);

    // A user links their account: a grant with a refresh token.
    let user_id = UserId::random();
    let now = Utc::now();
    let grant = Grant {
        id: GrantId::random(),
        user_id,
        client_id: id.clone(),
        scopes: vec!["mcp:invoke".into()],
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    store.create_grant(&grant).await.expect("grant stored");
    let refresh_hash = shared::TokenHash::of(&shared::tokens::generate("dxrt_"));
    store
        .create_refresh_token(&refresh_hash, grant.id, now + chrono::Duration::days(30))
        .await
        .expect("refresh token stored");
    let context = store.action_context(grant.id, user_id, now).await.unwrap().expect("context");
    assert!(context.grant_live);

    // Rotate with no body: the old secret dies at once.
    let rotated =
        send(&app, Method::POST, &format!("/oauth/clients/{id}/rotate-secret"), Some(ADMIN_TOKEN), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.raw);
    assert_eq!(rotated.body["client_id"], id.as_str());
    assert_eq!(rotated.body["previous_secret_expires_at"], Value::Null);
    let second_secret = secret_of(&rotated);
    assert_ne!(second_secret, first_secret);
    let stored = store.get_client(&id).await.unwrap().expect("stored");
    assert!(secret_matches(&stored, &second_secret, Utc::now()));
    assert!(!secret_matches(&stored, &first_secret, Utc::now()));

    // Rotate with an overlap: the old secret works until the stated time, not after.
    let before = Utc::now();
    let overlapped = admin(
        &app,
        Method::POST,
        &format!("/oauth/clients/{id}/rotate-secret"),
        Some(json!({ "keep_previous_for_seconds": 3600 })),
    )
    .await;
    assert_eq!(overlapped.status, StatusCode::OK, "{}", overlapped.raw);
    let third_secret = secret_of(&overlapped);
    let until = time(&overlapped.body["previous_secret_expires_at"]);
    assert!(until >= before + chrono::Duration::seconds(3599));
    assert!(until <= Utc::now() + chrono::Duration::seconds(3600));
    let stored = store.get_client(&id).await.unwrap().expect("stored");
    let now = Utc::now();
    assert!(secret_matches(&stored, &third_secret, now));
    assert!(secret_matches(&stored, &second_secret, now));
    assert!(!secret_matches(&stored, &first_secret, now));
    assert!(!secret_matches(&stored, &second_secret, until));
    assert!(secret_matches(&stored, &third_secret, until));
    let shown = admin(&app, Method::GET, &format!("/oauth/clients/{id}"), None).await;
    assert_eq!(time(&shown.body["previous_secret_expires_at"]), until);

    // More than a week of overlap is refused, and changes nothing.
    let too_long = admin(
        &app,
        Method::POST,
        &format!("/oauth/clients/{id}/rotate-secret"),
        Some(json!({ "keep_previous_for_seconds": 7 * 24 * 3600 + 1 })),
    )
    .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST, "{}", too_long.raw);
    let unchanged = store.get_client(&id).await.unwrap().expect("stored");
    assert!(secret_matches(&unchanged, &third_secret, Utc::now()));

    // Delete: the client, its grant and its refresh token die at once.
    let deleted = admin(&app, Method::DELETE, &format!("/oauth/clients/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.raw);
    assert!(deleted.raw.is_empty());
    let grant_now = store.get_grant(grant.id).await.unwrap().expect("kept");
    assert!(grant_now.revoked_at.is_some(), "the grant is revoked");
    let context = store.action_context(grant.id, user_id, Utc::now()).await.unwrap();
    assert!(context.is_none_or(|c| !c.grant_live), "actions see a dead grant");
    let refreshed = store
        .rotate_refresh_token(
            &refresh_hash,
            &shared::TokenHash::of("dxrt_next"),
            Utc::now() + chrono::Duration::days(30),
            Utc::now(),
            chrono::Duration::seconds(30),
        )
        .await
        .unwrap();
    assert_eq!(refreshed, Rotation::Revoked);
    assert!(store.get_client(&id).await.unwrap().is_none());

    // The id is gone for every route; deleting again says so.
    for (method, path) in [
        (Method::GET, format!("/oauth/clients/{id}")),
        (Method::DELETE, format!("/oauth/clients/{id}")),
        (Method::POST, format!("/oauth/clients/{id}/rotate-secret")),
    ] {
        let reply = admin(&app, method.clone(), &path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(reply.body["error"], "not_found");
        assert!(reply.body["request_id"].is_string());
    }
    let listed = admin(&app, Method::GET, "/oauth/clients", None).await;
    assert!(!listed.raw.contains(id.as_str()), "a deleted client is not listed");

    // A chosen id is kept; it can be taken only once, even after deletion.
    let chosen = format!("chatgpt-prod-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let body = json!({
        "name": "ChatGPT",
        "redirect_uris": [CHATGPT_CALLBACK],
        "scopes": ["wallet:read"],
        "client_id": chosen,
    });
    let first = admin(&app, Method::POST, "/oauth/clients", Some(body.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.raw);
    assert_eq!(first.body["client_id"], chosen.as_str());
    assert_eq!(first.body["scopes"], json!(["wallet:read"]));
    let again = admin(&app, Method::POST, "/oauth/clients", Some(body.clone())).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.raw);
    assert!(again.raw.contains("already exists"), "{}", again.raw);
    let gone = admin(&app, Method::DELETE, &format!("/oauth/clients/{chosen}"), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    // A deleted client's id is never reused: still a conflict.
    let reused = admin(&app, Method::POST, "/oauth/clients", Some(body)).await;
    assert_eq!(reused.status, StatusCode::CONFLICT, "{}", reused.raw);
}

#[tokio::test]
async fn an_operator_creates_lists_rotates_and_deletes_a_client_in_memory() {
    the_whole_client_lifecycle(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_creates_lists_rotates_and_deletes_a_client_in_postgres() {
    let db = TestDatabase::create().await;
    let store = PgStore::connect(db.url(), false).expect("pool builds");
    store.migrate().await.expect("migrations apply");
    the_whole_client_lifecycle(Arc::new(store)).await;
}

#[tokio::test]
async fn every_operator_route_requires_the_admin_token() {
    let store = Arc::new(MemoryStore::new());
    let app = operator_app(store.clone());
    let body = json!({ "name": "x", "redirect_uris": [CHATGPT_CALLBACK] }).to_string();
    let routes = [
        (Method::POST, "/oauth/clients", Some(body.as_str())),
        (Method::GET, "/oauth/clients", None),
        (Method::GET, "/oauth/clients/chatgpt-dev", None),
        (Method::DELETE, "/oauth/clients/chatgpt-dev", None),
        (Method::POST, "/oauth/clients/chatgpt-dev/rotate-secret", None),
        // Unauthenticated callers do not get to see validation either.
        (Method::POST, "/oauth/clients", Some("{not json")),
    ];
    for (method, path, body) in routes {
        for token in [None, Some("wrong-token"), Some(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])] {
            let reply = send(&app, method.clone(), path, token, body).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}: {}", reply.raw);
            assert_eq!(reply.body["error"], "invalid_token");
            assert!(reply.body["request_id"].is_string());
            let challenge =
                reply.headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(challenge.starts_with("Bearer "), "{challenge:?}");
        }
    }
    // The right token under another scheme is still not a Bearer credential.
    let basic = app
        .clone()
        .oneshot(
            Request::get("/oauth/clients")
                .header(header::AUTHORIZATION, format!("Basic {ADMIN_TOKEN}"))
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("infallible");
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    assert!(store.list_clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn invalid_clients_are_refused_with_400_and_nothing_is_stored() {
    let store = Arc::new(MemoryStore::new());
    let app = operator_app(store.clone());
    let with_uris = |uris: Value| json!({ "name": "ChatGPT", "redirect_uris": uris });
    let cases = [
        ("plain http to a public host", with_uris(json!(["http://chatgpt.com/aip/g-1/oauth/callback"]))),
        ("a fragment", with_uris(json!(["https://chatgpt.com/aip/g-1/oauth/callback#x"]))),
        ("a relative URI", with_uris(json!(["/aip/g-1/oauth/callback"]))),
        ("no scheme", with_uris(json!(["chatgpt.com/aip/g-1/oauth/callback"]))),
        ("an empty list", with_uris(json!([]))),
        (
            "eleven URIs",
            with_uris(json!(
                (0..11).map(|i| format!("https://chatgpt.com/aip/g-{i}/oauth/callback")).collect::<Vec<_>>()
            )),
        ),
        ("a duplicate URI", with_uris(json!([CHATGPT_CALLBACK, CHATGPT_CALLBACK]))),
        ("an empty name", json!({ "name": "  ", "redirect_uris": [CHATGPT_CALLBACK] })),
        ("a long name", json!({ "name": "x".repeat(101), "redirect_uris": [CHATGPT_CALLBACK] })),
        ("an unknown scope", json!({ "name": "n", "redirect_uris": [CHATGPT_CALLBACK], "scopes": ["admin"] })),
        ("no scope at all", json!({ "name": "n", "redirect_uris": [CHATGPT_CALLBACK], "scopes": [] })),
        (
            "a client id with a colon",
            json!({ "name": "n", "redirect_uris": [CHATGPT_CALLBACK], "client_id": "chatgpt:prod" }),
        ),
        ("a misspelt field", json!({ "name": "n", "redirect_uri": [CHATGPT_CALLBACK] })),
        ("a missing name", json!({ "redirect_uris": [CHATGPT_CALLBACK] })),
    ];
    for (case, body) in cases {
        let reply = admin(&app, Method::POST, "/oauth/clients", Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{case}: {}", reply.raw);
        assert_eq!(reply.body["error"], "invalid_request", "{case}");
        assert!(reply.body["message"].is_string() && reply.body["request_id"].is_string());
    }
    assert!(store.list_clients().await.unwrap().is_empty(), "nothing stored");

    // Loopback http is fine for local testing.
    let local = admin(
        &app,
        Method::POST,
        "/oauth/clients",
        Some(with_uris(json!(["http://127.0.0.1:3000/cb", "http://localhost:8080/cb"]))),
    )
    .await;
    assert_eq!(local.status, StatusCode::CREATED, "{}", local.raw);
}

#[tokio::test]
async fn malformed_json_gets_the_standard_400() {
    let app = operator_app(Arc::new(MemoryStore::new()));
    for path in ["/oauth/clients", "/oauth/clients/chatgpt-x/rotate-secret"] {
        let reply = send(&app, Method::POST, path, Some(ADMIN_TOKEN), Some("{not json")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {}", reply.raw);
        assert_eq!(reply.body["error"], "invalid_json", "{path}");
        assert!(reply.body["request_id"].is_string());
    }
    let negative = send(
        &app,
        Method::POST,
        "/oauth/clients/chatgpt-x/rotate-secret",
        Some(ADMIN_TOKEN),
        Some(r#"{"keep_previous_for_seconds": -1}"#),
    )
    .await;
    assert_eq!(negative.status, StatusCode::BAD_REQUEST, "{}", negative.raw);
    assert_eq!(negative.body["error"], "invalid_request");
}

/// Runs `connector clients …` against `database_url` (or with no `DATABASE_URL`).
async fn connector_clients(database_url: Option<&str>, args: &[&str]) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(binaries::path("connector"));
    command.arg("clients").args(args).env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url).env("DATABASE_TLS", "false");
    }
    let output = command.output().await.expect("connector runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_lists_rotates_and_deletes_clients_in_the_database() {
    let db = TestDatabase::create().await;
    shared::store::migrate::run(db.url(), false).await.expect("migrations apply");
    let url = Some(db.url());

    let (ok, stdout, stderr) = connector_clients(
        url,
        &[
            "create",
            "--name",
            "ChatGPT (production)",
            "--redirect-uri",
            CHATGPT_CALLBACK,
            "--redirect-uri",
            OPENAI_CALLBACK,
            "--client-id",
            "chatgpt-cli-test",
        ],
    )
    .await;
    assert!(ok, "create failed: {stdout}{stderr}");
    assert!(stdout.contains("chatgpt-cli-test"), "{stdout}");
    assert!(stdout.contains("GPT editor"), "{stdout}");
    let secret = stdout
        .split_whitespace()
        .find(|w| w.starts_with("dxcs_"))
        .unwrap_or_else(|| panic!("a secret in {stdout}"))
        .to_owned();
    let store = PgStore::connect(db.url(), false).expect("pool builds");
    let stored =
        store.get_client(&ClientId::from("chatgpt-cli-test")).await.unwrap().expect("the CLI stored the client");
    assert!(secret_matches(&stored, &secret, Utc::now()));
    assert_eq!(stored.redirect_uris, [CHATGPT_CALLBACK, OPENAI_CALLBACK]);

    let (ok, stdout, stderr) = connector_clients(url, &["list"]).await;
    assert!(ok, "list failed: {stderr}");
    assert!(stdout.contains("chatgpt-cli-test") && stdout.contains("ChatGPT (production)"));
    assert!(!stdout.contains(&secret) && !stdout.contains(stored.secret_hash.as_str()));

    // The same rules as the API: a bad redirect URI is refused, with the reason.
    let (ok, _, stderr) =
        connector_clients(url, &["create", "--name", "n", "--redirect-uri", "http://chatgpt.com/cb"]).await;
    assert!(!ok);
    assert!(stderr.contains("http"), "{stderr}");

    let (ok, stdout, stderr) =
        connector_clients(url, &["rotate-secret", "chatgpt-cli-test", "--keep-previous-for", "3600"]).await;
    assert!(ok, "rotate failed: {stderr}");
    assert!(stdout.contains("keeps working until"), "{stdout}");
    let rotated = store.get_client(&ClientId::from("chatgpt-cli-test")).await.unwrap().expect("kept");
    assert!(secret_matches(&rotated, &secret, Utc::now()), "overlap");
    assert!(!secret_matches(&rotated, &secret, Utc::now() + chrono::Duration::hours(2)));

    let (ok, _, stderr) = connector_clients(url, &["delete", "chatgpt-cli-test"]).await;
    assert!(ok, "delete failed: {stderr}");
    assert!(store.get_client(&ClientId::from("chatgpt-cli-test")).await.unwrap().is_none());
    let (ok, _, stderr) = connector_clients(url, &["delete", "chatgpt-cli-test"]).await;
    assert!(!ok, "deleting twice fails");
    assert!(stderr.contains("no client with this id"), "{stderr}");

    let (ok, _, stderr) = connector_clients(None, &["list"]).await;
    assert!(!ok);
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");
}
