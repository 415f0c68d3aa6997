//! OAuth for MCP clients (issue 14), end to end over HTTP on Postgres: clients that
//! register themselves (RFC 7591), clients named by the URL of their client ID metadata
//! document (served by this test on 127.0.0.1, which only `connector serve`'s local mode
//! accepts), `private_key_jwt` client assertions (RFC 7523) and public clients with PKCE,
//! loopback redirects on any port, and the consent page's account of who is asking.
//! [`Browser`] plays the person through the real pages; Turnstile and Supabase Auth are
//! the stand-ins.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use oauth2::PkceCodeChallenge;
use serde_json::{Value, json};
use shared::UserId;
use shared::ids::ClientId;
use testkit::app::{Options, TestApp, spawn_app};
use testkit::browser::{Browser, Page};
use testkit::db::TestDatabase;
use testkit::standins::TestSigningKey;
use uuid::Uuid;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The connector on a fresh Postgres database.
async fn app() -> (TestApp, TestDatabase) {
    let (db, store) = TestDatabase::migrated().await;
    let app = spawn_app(Arc::new(store), Options::default()).await;
    (app, db)
}

fn http() -> reqwest::Client {
    shared::tls::client_builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

fn unique_email() -> String {
    format!("agent-{}@example.com", &Uuid::new_v4().simple().to_string()[..10])
}

/// POSTs JSON to `/oauth/register`: (status, body).
async fn register(app: &TestApp, metadata: &Value) -> (u16, Value) {
    let response =
        http().post(format!("{}/oauth/register", app.base_url)).json(metadata).send().await.expect("register");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs a form to the token endpoint: (status, body).
async fn token(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http().post(format!("{}/oauth/chatgpt/token", app.base_url)).form(form).send().await.expect("token");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An authorization URL with PKCE S256; returns the URL, the `state` and the verifier.
fn authorize_url(app: &TestApp, client_id: &str, redirect_uri: &str) -> (String, String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = Uuid::new_v4().simple().to_string();
    let mut url = reqwest::Url::parse(&format!("{}/oauth/chatgpt/authorize", app.base_url)).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "mcp:invoke profile")
        .append_pair("state", &state)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    (url.to_string(), state, verifier.secret().to_owned())
}

/// Follows `authorize_url` through sign-in to the consent page: (consent page, user).
async fn sign_in(app: &TestApp, browser: &mut Browser, authorize_url: &str, email: &str) -> (Page, UserId) {
    let to_login = browser.get(authorize_url).await;
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let login = browser.get(&format!("{}{}", app.base_url, to_login.location.expect("login"))).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let (request, csrf) = (login.field("request"), login.field("csrf"));
    let turnstile = app.siteverify.issue_token();
    let code_page = browser
        .post_form(
            &format!("{}/oauth/chatgpt/login", app.base_url),
            &[("request", &request), ("csrf", &csrf), ("email", email), ("cf-turnstile-response", &turnstile)],
        )
        .await;
    assert_eq!(code_page.status, 200, "{}", code_page.body);
    let user_id = app.supabase.user_id_for(email).expect("Supabase knows the user");
    app.give_profile(user_id, email, "pro", true).await;
    let code = app.supabase.last_code_for(email).expect("an emailed code");
    let to_consent = browser
        .post_form(
            &format!("{}/oauth/chatgpt/callback", app.base_url),
            &[("request", &request), ("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    let consent = browser.get(&format!("{}{}", app.base_url, to_consent.location.expect("consent"))).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    (consent, user_id)
}

/// Allows on the consent page: the redirect it sends the browser to.
async fn allow(app: &TestApp, browser: &mut Browser, consent: &Page) -> Page {
    let back = browser
        .post_form(
            &format!("{}/oauth/chatgpt/consent", app.base_url),
            &[("request", &consent.field("request")), ("csrf", &consent.field("csrf")), ("decision", "allow")],
        )
        .await;
    assert_eq!(back.status, 303, "{}", back.body);
    back
}

async fn get_profile_status(app: &TestApp, access_token: &str) -> u16 {
    http()
        .get(format!("{}/connector/chatgpt/get_profile", app.base_url))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("get_profile")
        .status()
        .as_u16()
}

async fn linked_accounts(app: &TestApp, user_id: UserId) -> Vec<Value> {
    let listed: Value = http()
        .get(format!("{}/dexter/linked-accounts", app.base_url))
        .bearer_auth(app.dexter_session(user_id))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    listed["linked_accounts"].as_array().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn metadata_offers_registration_documents_and_the_mcp_client_methods() {
    let (app, _db) = app().await;
    let meta: Value = testkit::get_json(&format!("{}/.well-known/oauth-authorization-server", app.base_url)).await;
    assert_eq!(meta["registration_endpoint"], format!("{}/oauth/register", app.base_url));
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    let methods = meta["token_endpoint_auth_methods_supported"].as_array().expect("methods");
    for method in ["none", "private_key_jwt", "client_secret_basic", "client_secret_post"] {
        assert!(methods.contains(&json!(method)), "{method} missing from {methods:?}");
    }
    assert_eq!(meta["token_endpoint_auth_signing_alg_values_supported"], json!(["RS256", "ES256"]));
    assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
}

// ---------------------------------------------------------------------------------------
// Dynamic client registration

#[tokio::test]
async fn a_registered_public_client_links_on_any_loopback_port_with_pkce_and_can_be_revoked() {
    let (app, _db) = app().await;
    let (status, registered) = register(
        &app,
        &json!({
            "client_name": "Claude Code",
            "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let client_id = registered["client_id"].as_str().expect("client_id").to_owned();
    assert!(registered.get("client_secret").is_none(), "a public client gets no secret: {registered}");
    assert_eq!(registered["token_endpoint_auth_method"], "none");

    // Claude Code listens on whatever port is free: the port is not part of the match.
    let redirect_uri = "http://127.0.0.1:49213/callback";
    let (url, state, verifier) = authorize_url(&app, &client_id, redirect_uri);
    let mut browser = Browser::default();
    let email = unique_email();
    let (consent, user_id) = sign_in(&app, &mut browser, &url, &email).await;
    assert!(consent.body.contains("Claude Code"));
    assert!(consent.body.contains("id=\"client-unverified\""), "{}", consent.body);
    assert!(consent.body.contains("Dexter has not verified it"));
    assert!(consent.body.contains("id=\"return-host\">127.0.0.1<"), "{}", consent.body);
    let back = allow(&app, &mut browser, &consent).await;
    assert!(back.location.as_deref().expect("location").starts_with(redirect_uri));
    assert_eq!(back.redirect_param("state").as_deref(), Some(state.as_str()));
    assert_eq!(back.redirect_param("iss").as_deref(), Some(app.base_url.as_str()));
    let code = back.redirect_param("code").expect("code");

    // A public client: no secret, its verifier proves it is the one that asked.
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, tokens) = token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    // The failed attempt above did not spend the code (it was refused before).
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    assert_eq!(get_profile_status(&app, &access).await, 200);
    let registration = app.store.get_registration(&ClientId::from(client_id.clone())).await.unwrap().unwrap();
    assert!(registration.last_used_at.is_some(), "the first token marks the registration used");

    let (status, refreshed) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");

    // Dexter lists the link under the name the client gave, and revoking it cuts it off.
    let accounts = linked_accounts(&app, user_id).await;
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(accounts[0]["client_name"], "Claude Code");
    let grant_id = accounts[0]["grant_id"].as_str().unwrap();
    let url = format!("{}/dexter/linked-accounts/{grant_id}", app.base_url);
    assert_eq!(http().delete(&url).bearer_auth(app.dexter_session(user_id)).send().await.unwrap().status(), 204);
    assert_eq!(get_profile_status(&app, refreshed["access_token"].as_str().unwrap()).await, 401);
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn a_public_client_must_use_pkce_and_other_loopback_paths_and_hosts_do_not_match() {
    let (app, _db) = app().await;
    let (_, registered) =
        register(&app, &json!({"redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none"}))
            .await;
    let client_id = registered["client_id"].as_str().unwrap();
    let mut browser = Browser::default();
    let base = format!("{}/oauth/chatgpt/authorize?response_type=code&state=s&client_id={client_id}", app.base_url);
    let no_pkce = browser.get(&format!("{base}&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback")).await;
    assert_eq!(no_pkce.status, 303);
    assert_eq!(no_pkce.redirect_param("error").as_deref(), Some("invalid_request"));
    for redirect in [
        "http%3A%2F%2F127.0.0.1%3A5555%2Fother",
        "http%3A%2F%2Flocalhost%3A5555%2Fcallback",
        "https%3A%2F%2F127.0.0.1%2Fcallback",
        "http%3A%2F%2F127.0.0.1.evil.example%2Fcallback",
    ] {
        let page = browser.get(&format!("{base}&redirect_uri={redirect}")).await;
        assert_eq!(page.status, 400, "{redirect} must get a page, not a redirect");
        assert!(page.location.is_none());
    }
}

#[tokio::test]
async fn registration_refuses_bad_redirects_and_metadata_and_stores_nothing() {
    let (app, _db) = app().await;
    let before = app.store.list_clients().await.unwrap().len();
    for (metadata, error) in [
        (json!({}), "invalid_redirect_uri"),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["http://evil.example/callback"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["javascript:alert(document.cookie)"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback#x"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["/callback"]}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "token_endpoint_auth_method": "client_secret_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "token_endpoint_auth_method": "private_key_jwt",
                   "jwks_uri": "http://169.254.169.254/keys"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "token_endpoint_auth_method": "private_key_jwt",
                   "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "scope": "admin"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let (status, body) = register(&app, &metadata).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{metadata} -> {body}");
        assert!(body["error_description"].is_string() && body["request_id"].is_string(), "{body}");
    }
    assert_eq!(app.store.list_clients().await.unwrap().len(), before, "nothing was registered");
}

#[tokio::test]
async fn a_confidential_registration_gets_its_secret_once_and_must_use_it() {
    let (app, _db) = app().await;
    let (status, registered) = register(
        &app,
        &json!({"client_name": "Cursor", "redirect_uris": ["https://cursor.example/oauth/callback"],
                "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let client_id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().expect("a secret");
    assert_eq!(registered["client_secret_expires_at"], 0);
    let stored = app.store.get_client(&ClientId::from(client_id.to_owned())).await.unwrap().unwrap();
    assert!(stored.secret_hash.matches(secret) && !stored.public);
    // Naming itself without the secret is not enough for a confidential client.
    let (status, body) =
        token(&app, &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", client_id)]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", client_id),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, body) = token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", client_id), ("client_secret", secret)],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "authenticated, then refused the token");
}

#[tokio::test]
async fn registration_is_rate_limited_per_client_address() {
    let (app, _db) = app().await;
    let metadata = json!({"redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none"});
    let budget = shared::limits::REGISTRATIONS_PER_IP.limit;
    for _ in 0..budget {
        assert_eq!(register(&app, &metadata).await.0, 201);
    }
    let registered = app.store.list_clients().await.unwrap().len();
    let response = http().post(format!("{}/oauth/register", app.base_url)).json(&metadata).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["request_id"].is_string());
    assert_eq!(app.store.list_clients().await.unwrap().len(), registered, "the refused one stored nothing");
}

#[tokio::test]
async fn a_registration_never_used_expires_and_a_used_one_does_not() {
    let (app, db) = app().await;
    let metadata = json!({"redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none"});
    let (_, unused) = register(&app, &metadata).await;
    let (_, used) = register(&app, &metadata).await;
    let (unused, used) = (unused["client_id"].as_str().unwrap(), used["client_id"].as_str().unwrap());
    app.store.mark_client_used(&ClientId::from(used.to_owned()), chrono::Utc::now()).await.unwrap();
    // A day and an hour later.
    db.connect()
        .await
        .execute("update connector_client_registrations set registered_at = registered_at - interval '25 hours'", &[])
        .await
        .unwrap();

    let mut browser = Browser::default();
    let (url, _, _) = authorize_url(&app, unused, "http://127.0.0.1:4000/callback");
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("not registered with Dexter"), "{}", page.body);
    let (status, body) =
        token(&app, &[("grant_type", "refresh_token"), ("refresh_token", "x"), ("client_id", unused)]).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));

    let (url, _, _) = authorize_url(&app, used, "http://127.0.0.1:4000/callback");
    assert_eq!(browser.get(&url).await.status, 303, "a used registration stays");
}

// ---------------------------------------------------------------------------------------
// Client ID metadata documents and private_key_jwt

/// A client's web server on 127.0.0.1: its metadata document and its JWKS.
struct ClientSite {
    base: String,
    document: Arc<Mutex<Value>>,
    jwks: Arc<Mutex<Value>>,
    document_fetches: Arc<AtomicUsize>,
    jwks_fetches: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct SiteState {
    document: Arc<Mutex<Value>>,
    jwks: Arc<Mutex<Value>>,
    document_fetches: Arc<AtomicUsize>,
    jwks_fetches: Arc<AtomicUsize>,
}

impl ClientSite {
    async fn start() -> ClientSite {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = SiteState {
            document: Arc::new(Mutex::new(Value::Null)),
            jwks: Arc::new(Mutex::new(json!({"keys": []}))),
            document_fetches: Arc::new(AtomicUsize::new(0)),
            jwks_fetches: Arc::new(AtomicUsize::new(0)),
        };
        let router = Router::new()
            .route(
                "/oauth/client.json",
                get(|State(s): State<SiteState>| async move {
                    s.document_fetches.fetch_add(1, Ordering::SeqCst);
                    let body = s.document.lock().unwrap().clone();
                    ([("cache-control", "public, max-age=600")], axum::Json(body)).into_response()
                }),
            )
            .route(
                "/oauth/jwks.json",
                get(|State(s): State<SiteState>| async move {
                    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                    axum::Json(s.jwks.lock().unwrap().clone())
                }),
            )
            .route("/oauth/huge.json", get(|| async { "x".repeat(64 * 1024) }))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        ClientSite {
            base,
            document: state.document,
            jwks: state.jwks,
            document_fetches: state.document_fetches,
            jwks_fetches: state.jwks_fetches,
        }
    }

    fn client_id(&self) -> String {
        format!("{}/oauth/client.json", self.base)
    }

    /// Publishes a document like ChatGPT's: private_key_jwt with a jwks_uri.
    fn publish(&self, name: &str, redirect_uri: &str, keys: &[&TestSigningKey]) {
        *self.document.lock().unwrap() = json!({
            "client_id": self.client_id(),
            "client_name": name,
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "jwks_uri": format!("{}/oauth/jwks.json", self.base),
        });
        *self.jwks.lock().unwrap() = json!({"keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>()});
    }

    /// Publishes a public client's document (`none`, PKCE), as the MCP SDK uses one.
    fn publish_public(&self, name: &str, redirect_uri: &str) {
        *self.document.lock().unwrap() = json!({
            "client_id": self.client_id(),
            "client_name": name,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        });
    }
}

/// A client assertion for `client_id`: iss = sub = client_id, aud = `aud`, 60 s.
fn assertion_claims(client_id: &str, aud: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
           "jti": Uuid::new_v4().to_string()})
}

fn token_endpoint(app: &TestApp) -> String {
    format!("{}/oauth/chatgpt/token", app.base_url)
}

const CHATGPT_REDIRECT: &str = "https://chatgpt.com/connector_platform_oauth_redirect";

/// Links a Dexter account through the document client: (tokens, user, refresh token).
async fn link_document_client(app: &TestApp, site: &ClientSite, key: &TestSigningKey) -> (Value, UserId) {
    let client_id = site.client_id();
    let (url, _, verifier) = authorize_url(app, &client_id, CHATGPT_REDIRECT);
    let mut browser = Browser::default();
    let (consent, user_id) = sign_in(app, &mut browser, &url, &unique_email()).await;
    assert!(consent.body.contains("Example Agent"), "{}", consent.body);
    assert!(consent.body.contains("id=\"client-unverified\""));
    assert!(consent.body.contains("id=\"return-host\">chatgpt.com<"));
    let back = allow(app, &mut browser, &consent).await;
    assert!(back.location.as_deref().unwrap().starts_with(CHATGPT_REDIRECT));
    let code = back.redirect_param("code").expect("code");
    let assertion = key.sign(&assertion_claims(&client_id, &token_endpoint(app)));
    let (status, tokens) = token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CHATGPT_REDIRECT),
            ("code_verifier", &verifier),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    (tokens, user_id)
}

#[tokio::test]
async fn a_metadata_document_client_links_with_pkce_and_private_key_jwt() {
    let (app, _db) = app().await;
    let site = ClientSite::start().await;
    let key = TestSigningKey::rs256();
    site.publish("Example Agent", CHATGPT_REDIRECT, &[&key]);
    let (tokens, user_id) = link_document_client(&app, &site, &key).await;
    assert_eq!(get_profile_status(&app, tokens["access_token"].as_str().unwrap()).await, 200);

    // Refresh, authenticated by a fresh assertion (here with client_id in the body too).
    let client_id = site.client_id();
    let assertion = key.sign(&assertion_claims(&client_id, &token_endpoint(&app)));
    let (status, refreshed) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(site.document_fetches.load(Ordering::SeqCst), 1, "the document is cached per its max-age");

    let accounts = linked_accounts(&app, user_id).await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["client_name"], "Example Agent");

    // RFC 7009 revocation, authenticated the same way.
    let assertion = key.sign(&assertion_claims(&client_id, &token_endpoint(&app)));
    let response = http()
        .post(format!("{}/oauth/chatgpt/revoke", app.base_url))
        .form(&[
            ("token", refreshed["refresh_token"].as_str().unwrap()),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(get_profile_status(&app, refreshed["access_token"].as_str().unwrap()).await, 401);
}

#[tokio::test]
async fn forged_replayed_and_misaddressed_client_assertions_are_refused_and_change_nothing() {
    let (app, _db) = app().await;
    let site = ClientSite::start().await;
    let key = TestSigningKey::rs256();
    let es256 = TestSigningKey::es256();
    site.publish("Example Agent", CHATGPT_REDIRECT, &[&key, &es256]);
    let (tokens, _) = link_document_client(&app, &site, &key).await;
    let client_id = site.client_id();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let endpoint = token_endpoint(&app);
    let now = chrono::Utc::now().timestamp();

    let claims = |patch: Value| {
        let mut claims = assertion_claims(&client_id, &endpoint);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let used = key.sign(&claims(json!({})));
    let (status, _) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-token"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &used),
        ],
    )
    .await;
    assert_eq!(status, 400, "the assertion authenticated; the bogus refresh token was refused");

    let unsigned = {
        use base64::Engine;
        let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims(json!({}))))
    };
    let attacks: Vec<(&str, String)> = vec![
        ("a replayed jti", used.clone()),
        ("aud with a trailing slash", key.sign(&claims(json!({"aud": format!("{endpoint}/")})))),
        ("aud with a double slash", key.sign(&claims(json!({"aud": endpoint.replace("/oauth/", "//oauth/")})))),
        ("aud is the issuer", key.sign(&claims(json!({"aud": app.base_url})))),
        ("no aud", key.sign(&claims(json!({"aud": null})))),
        ("expired", key.sign(&claims(json!({"iat": now - 600, "exp": now - 300})))),
        ("lives an hour", key.sign(&claims(json!({"exp": now + 3600})))),
        ("no jti", key.sign(&claims(json!({"jti": null})))),
        ("sub is another client", key.sign(&claims(json!({"sub": "https://chatgpt.com/oauth/client.json"})))),
        (
            "signed by another key under the client's kid",
            TestSigningKey::es256_next().sign_as(&es256.kid, &claims(json!({}))),
        ),
        (
            "signed by another key under an unknown kid",
            TestSigningKey::es256_next().sign_as("unknown", &claims(json!({}))),
        ),
        ("an ES256 key under the RSA key's kid", es256.sign_as(&key.kid, &claims(json!({})))),
        ("alg none", unsigned),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (attack, assertion) in &attacks {
        let (status, body) = token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
                ("client_id", &client_id),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion),
            ],
        )
        .await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{attack}: {body}");
    }
    // A wrong assertion type is a malformed request.
    let fresh = es256.sign(&claims(json!({})));
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
            ("client_assertion", &fresh),
        ],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    // A document client cannot skip authentication as if it were public.
    let (status, body) =
        token(&app, &[("grant_type", "refresh_token"), ("refresh_token", &refresh_token), ("client_id", &client_id)])
            .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));

    // Nothing changed: the refresh token still works with a good assertion (ES256 here).
    let (status, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &fresh),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_clients_keys_are_fetched_once_again_for_a_rotated_kid_and_not_for_a_storm_of_unknown_ones() {
    let (app, _db) = app().await;
    let site = ClientSite::start().await;
    let key = TestSigningKey::rs256();
    site.publish("Example Agent", CHATGPT_REDIRECT, &[&key]);
    let (tokens, _) = link_document_client(&app, &site, &key).await;
    let client_id = site.client_id();
    let endpoint = token_endpoint(&app);
    let mut refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let fetches = || site.jwks_fetches.load(Ordering::SeqCst);
    // Refreshes with `assertion`: (status, error), keeping the new refresh token.
    let mut refresh = async |assertion: String| {
        let (status, body) = token(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ],
        )
        .await;
        if let Some(next) = body["refresh_token"].as_str() {
            refresh_token = next.to_owned();
        }
        (status, body["error"].as_str().map(str::to_owned))
    };

    // Two token requests (the code exchange and a refresh): one fetch, then the cache.
    assert_eq!(refresh(key.sign(&assertion_claims(&client_id, &endpoint))).await, (200, None));
    assert_eq!(fetches(), 1, "the second token request used the cached keys");

    // The client rotates to a key we have not seen: its kid makes us fetch once more.
    let next = TestSigningKey::es256_next();
    *site.jwks.lock().unwrap() = json!({"keys": [key.public_jwk.clone(), next.public_jwk.clone()]});
    assert_eq!(refresh(next.sign(&assertion_claims(&client_id, &endpoint))).await, (200, None));
    assert_eq!(fetches(), 2);

    // Anyone can name any kid: a storm of unknown ones is refused without another fetch
    // (one per minute per jwks_uri at most), and the keys we hold keep working.
    for i in 0..20 {
        let forged = next.sign_as(&format!("unknown-{i}"), &assertion_claims(&client_id, &endpoint));
        assert_eq!(refresh(forged).await, (401, Some("invalid_client".to_owned())), "unknown kid {i}");
    }
    assert_eq!(fetches(), 2, "unknown kids within the window fetch nothing");
    assert_eq!(refresh(next.sign(&assertion_claims(&client_id, &endpoint))).await, (200, None));
    assert_eq!(refresh(key.sign(&assertion_claims(&client_id, &endpoint))).await, (200, None));
    assert_eq!(fetches(), 2);
}

#[tokio::test]
async fn a_document_that_does_not_name_itself_or_lists_other_redirects_links_nothing() {
    let (app, _db) = app().await;
    let site = ClientSite::start().await;
    let key = TestSigningKey::rs256();
    let mut browser = Browser::default();

    // Claims to be ChatGPT's document.
    site.publish("ChatGPT", CHATGPT_REDIRECT, &[&key]);
    site.document.lock().unwrap()["client_id"] = json!("https://chatgpt.com/oauth/client.json");
    let (url, _, _) = authorize_url(&app, &site.client_id(), CHATGPT_REDIRECT);
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("client_id is not the URL it was fetched from"), "{}", page.body);
    assert!(app.store.get_client(&ClientId::from(site.client_id())).await.unwrap().is_none());

    // Names itself, but the request asks to return somewhere the document does not list.
    site.publish("Example Agent", CHATGPT_REDIRECT, &[&key]);
    let (url, _, _) = authorize_url(&app, &site.client_id(), "https://evil.example/callback");
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none(), "an unlisted redirect gets a page, never a redirect");

    // Too big a document.
    let (url, _, _) = authorize_url(&app, &format!("{}/oauth/huge.json", site.base), CHATGPT_REDIRECT);
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("larger than"), "{}", page.body);
}

// ---------------------------------------------------------------------------------------
// A real client: the official MCP Python SDK, as an agent linking a Dexter account

const MCP_SECRET: &str = "sandbox-mcp-secret-0123456789abcdef-xyz";

/// The connector on a fresh Postgres database, with the sandbox MCP server upstream and
/// voice handoffs on, so that every tool can be called.
async fn app_with_upstream() -> (TestApp, TestDatabase, sandbox_mcp::Sandbox) {
    let (db, store) = TestDatabase::migrated().await;
    let sandbox = sandbox_mcp::spawn(secrecy::SecretString::from(MCP_SECRET), sandbox_mcp::SandboxOptions::default())
        .await
        .expect("sandbox");
    let options =
        Options { mcp: Some((sandbox.url.clone(), MCP_SECRET.into())), enable_voice: true, ..Options::default() };
    (spawn_app(Arc::new(store), options).await, db, sandbox)
}

/// What the agent reported, and what the person did for it.
struct AgentRun {
    /// Its `RESULT` lines, in order.
    results: Vec<Value>,
    user_id: UserId,
    /// How often it sent the person to authorize.
    authorizations: usize,
    /// The swap approvals the person approved in Dexter.
    approved: Vec<String>,
    stderr: String,
}

impl AgentRun {
    fn step(&self, name: &str) -> &Value {
        self.results
            .iter()
            .find(|r| r["step"] == name)
            .unwrap_or_else(|| panic!("no {name} step: {:?}\n{}", self.results, self.stderr))
    }
}

/// Runs `tests/mcp_sdk_oauth_client.py` with `args` against the app's /mcp and plays the
/// person: signs in and allows when the agent asks the first time (and refuses if it asks
/// again), approves its swap in Dexter, and revokes the link in Dexter's linked accounts
/// once the agent has called every tool.
async fn run_sdk_agent(app: &TestApp, args: &[&str]) -> AgentRun {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/mcp_sdk_oauth_client.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .arg(format!("{}/mcp", app.base_url))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python from .venv runs (`mcp` is in scripts/requirements-test.txt)");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut results = Vec::new();
    let mut user: Option<UserId> = None;
    let mut authorizations = 0;
    let mut approved = Vec::new();
    let run = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            let answer = if let Some(url) = line.strip_prefix("AUTHORIZE ") {
                authorizations += 1;
                if user.is_some() {
                    "STOP".to_owned()
                } else {
                    let mut browser = Browser::default();
                    let email = unique_email();
                    let (consent, user_id) = sign_in(app, &mut browser, url, &email).await;
                    // A client other than ChatGPT's calls /mcp under the `mcp` channel.
                    app.store
                        .upsert_profile(&shared::store::Profile {
                            user_id,
                            email: Some(email.clone()),
                            tier: "pro".into(),
                            channels: json!({ "chatgpt": true, "mcp": true }),
                        })
                        .await
                        .expect("profile");
                    assert!(consent.body.contains("MCP SDK test client"), "{}", consent.body);
                    assert!(consent.body.contains("id=\"client-unverified\""));
                    assert!(consent.body.contains("id=\"return-host\">127.0.0.1<"), "{}", consent.body);
                    user = Some(user_id);
                    allow(app, &mut browser, &consent).await.location.expect("redirect")
                }
            } else if let Some(approval_id) = line.strip_prefix("APPROVAL ") {
                let session = app.dexter_session(user.expect("signed in"));
                let response = http()
                    .post(format!("{}/dexter/approvals/{approval_id}/approve", app.base_url))
                    .bearer_auth(session)
                    .send()
                    .await
                    .expect("approve");
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
                approved.push(approval_id.to_owned());
                "APPROVED".to_owned()
            } else if line == "LINKED" {
                let user_id = user.expect("signed in");
                let accounts = linked_accounts(app, user_id).await;
                assert_eq!(accounts.len(), 1, "{accounts:?}");
                assert_eq!(accounts[0]["client_name"], "MCP SDK test client");
                let grant_id = accounts[0]["grant_id"].as_str().expect("grant_id");
                let response = http()
                    .delete(format!("{}/dexter/linked-accounts/{grant_id}", app.base_url))
                    .bearer_auth(app.dexter_session(user_id))
                    .send()
                    .await
                    .expect("revoke");
                assert!(response.status().is_success(), "{}", response.status());
                "REVOKED".to_owned()
            } else {
                if let Some(json) = line.strip_prefix("RESULT ") {
                    results.push(serde_json::from_str::<Value>(json).expect("a JSON result"));
                }
                continue;
            };
            stdin.write_all(format!("{answer}\n").as_bytes()).await.expect("write");
            stdin.flush().await.expect("flush");
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(90), run).await.expect("the SDK agent finishes within 90 s");
    let output = child.wait_with_output().await.expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "the SDK agent failed:\n{stderr}");
    AgentRun { results, user_id: user.expect("the SDK sent the person to authorize"), authorizations, approved, stderr }
}

/// What every run of the agent must show, whichever way it named itself: every declared
/// tool listed and called without error, receipts stored for what it was told, the swap
/// executed only after the person's approval, a rotating refresh, and after revocation
/// no more access (the SDK had to send the person back to sign in).
async fn assert_the_agent_used_every_tool_and_lost_access_when_revoked(
    app: &TestApp,
    sandbox: &sandbox_mcp::Sandbox,
    run: &AgentRun,
) {
    let linked = run.step("linked");
    assert_eq!(linked["protocol_version"], "2025-11-25");
    let names: Vec<&str> = shared::actions::ACTIONS.iter().map(|a| a.name).collect();
    assert_eq!(linked["tools"], json!(names));
    let called = linked["called"].as_object().expect("called");
    for name in &names {
        let outcome = called.get(*name).unwrap_or_else(|| panic!("{name} was not called: {linked}"));
        assert_eq!(outcome["is_error"], false, "{name}: {outcome}");
    }
    assert_eq!(called["get_profile"]["structured"]["user_id"], json!(run.user_id.to_string()));

    // The swap waited for the person: asked once, approved in Dexter, executed once.
    let approval_id = called["swap_execute"]["structured"]["approval_id"].as_str().expect("approval_id");
    assert_eq!(run.approved, vec![approval_id.to_owned()]);
    let status = &called["get_swap_status"]["structured"];
    assert_eq!(status["status"], "executed", "{status}");
    assert_eq!(sandbox.calls("solana_swap_execute"), 1);
    assert!(called["handoff_voice"]["structured"]["url"].is_string(), "{}", called["handoff_voice"]);

    // Every receipt the agent was told of is in Dexter, with the swap's execution.
    let stored: Vec<String> = http()
        .get(format!("{}/dexter/receipts?limit=100", app.base_url))
        .bearer_auth(app.dexter_session(run.user_id))
        .send()
        .await
        .expect("receipts")
        .json::<Value>()
        .await
        .expect("json")["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .filter_map(|r| r["receipt_id"].as_str().map(str::to_owned))
        .collect();
    let told: Vec<String> = called
        .values()
        .flat_map(|o| o["structured"]["receipt_ids"].as_array().cloned().unwrap_or_default())
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    assert!(told.len() >= names.len() - 2, "receipts for the calls: {told:?}");
    for id in &told {
        assert!(stored.contains(id), "receipt {id} is not stored: {stored:?}");
    }
    assert!(stored.contains(&status["receipt_id"].as_str().expect("the execution's receipt").to_owned()));

    let refreshed = run.step("refreshed");
    assert_eq!(refreshed["rotated"], true, "{refreshed}");
    assert_eq!(refreshed["profile"]["is_error"], false, "{refreshed}");

    // Revoked in Dexter: the agent lost access and had to ask the person again.
    assert_eq!(run.step("revoked")["asked_to_sign_in_again"], true, "{}", run.stderr);
    assert_eq!(run.authorizations, 2);
    assert!(linked_accounts(app, run.user_id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_python_sdk_registers_links_calls_every_tool_and_is_revoked() {
    let (app, _db, sandbox) = app_with_upstream().await;
    // The SDK discovers everything from the protected resource: /mcp's metadata (RFC 9728)
    // names the authorization server, whose metadata offers registration.
    let run = run_sdk_agent(&app, &["register"]).await;
    assert_the_agent_used_every_tool_and_lost_access_when_revoked(&app, &sandbox, &run).await;
    let linked = run.step("linked");
    assert_eq!(linked["auth_method"], "none");
    let client_id = linked["client_id"].as_str().expect("the SDK registered");
    assert!(client_id.starts_with("mcp-"), "{client_id}");
    let registration = app.store.get_registration(&ClientId::from(client_id.to_owned())).await.unwrap().unwrap();
    assert!(registration.last_used_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_python_sdk_names_itself_by_its_metadata_document_and_calls_every_tool() {
    let (app, _db, sandbox) = app_with_upstream().await;
    let site = ClientSite::start().await;
    site.publish_public("MCP SDK test client", "http://127.0.0.1:33418/callback");
    let run = run_sdk_agent(&app, &["document", &site.client_id()]).await;
    assert_the_agent_used_every_tool_and_lost_access_when_revoked(&app, &sandbox, &run).await;
    let linked = run.step("linked");
    assert_eq!(linked["client_id"], json!(site.client_id()), "no registration: the document's URL is the client id");
    assert_eq!(linked["auth_method"], "none");
    assert!(site.document_fetches.load(Ordering::SeqCst) >= 1);
    let client = app.store.get_registration(&ClientId::from(site.client_id())).await.unwrap().expect("cached");
    assert_eq!(client.kind, shared::store::ClientKind::Document, "known from its document, not registered");
}
