//! Stand-ins for the two services the login flow calls that cannot run here: Cloudflare
//! Turnstile's siteverify and Supabase Auth. Each is a small axum server on
//! `127.0.0.1:0` speaking the real wire contract, so the production clients are what the
//! tests exercise.
//!
//! - [`FakeSiteverify`]: `POST /turnstile/v0/siteverify`, form-encoded `secret`,
//!   `response`, `remoteip`, `idempotency_key`; answers `{"success", "error-codes",
//!   "hostname", "action", ...}` with the host name and widget action the token was solved
//!   on ([`FakeSiteverify::issue_token_solved_on`]). Tokens are single use; a repeated
//!   `idempotency_key` replays the first answer.
//! - [`FakeSupabaseAuth`]: `POST /auth/v1/otp` and `POST /auth/v1/verify`, `apikey`
//!   required, errors in Supabase's default `{"code", "error_code", "msg"}` shape. Sent
//!   "emails" are recorded instead of delivered. Like the real service it allows one email
//!   per address per 60 s and, in captcha mode, checks the captcha token with siteverify
//!   itself. It also publishes the project's asymmetric JWT signing keys at
//!   `GET /auth/v1/.well-known/jwks.json` ([`TestSigningKey`]: committed test keys whose
//!   private halves the tests sign session tokens with), counting the fetches, and can
//!   rotate them.
//!
//! Both can be taken down and brought back (`go_down(status)`, `recover()`): while down
//! they answer that 5xx to every call without processing it, as an outage would.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use uuid::Uuid;

/// Serves `router` on an ephemeral local port until the returned handle is dropped.
async fn spawn(router: Router) -> (SocketAddr, ServerTask) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, ServerTask(task))
}

/// Stops the server with its owner.
struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// Cloudflare Turnstile siteverify

/// Cloudflare's siteverify for one widget secret.
pub struct FakeSiteverify {
    /// The full siteverify URL, for `TurnstileConfig::siteverify_url`.
    pub url: String,
    /// The widget secret it accepts.
    pub secret: String,
    state: Arc<Mutex<SiteverifyState>>,
    _server: ServerTask,
}

#[derive(Default)]
struct SiteverifyState {
    secret: String,
    /// Issued and not yet spent, with the host name and action each was solved on.
    live: HashMap<String, (String, String)>,
    spent: HashSet<String>,
    /// First answer per idempotency key, replayed on a repeat.
    answers: HashMap<String, Value>,
    calls: usize,
    /// Per token: how many calls carried it (replays included).
    sends: HashMap<String, usize>,
    last_remoteip: Option<String>,
    /// Answers to process and then lose (502), as if the connection broke on the way back.
    lose_answers: usize,
    /// Bytes of padding (in `cdata`) every successful answer carries.
    padding: usize,
    /// `Some(status)` while it is down: every call answers that status, unprocessed.
    outage: Option<StatusCode>,
}

/// Where [`FakeSiteverify::issue_token`]'s challenges are solved: the host of the
/// in-process test app's and `connector serve`'s default base URL, with the login page's action.
pub const DEFAULT_TURNSTILE_HOSTNAME: &str = "127.0.0.1";

impl FakeSiteverify {
    pub async fn start(secret: &str) -> FakeSiteverify {
        let state = Arc::new(Mutex::new(SiteverifyState { secret: secret.to_owned(), ..SiteverifyState::default() }));
        let router = Router::new().route("/turnstile/v0/siteverify", post(siteverify)).with_state(state.clone());
        let (addr, server) = spawn(router).await;
        FakeSiteverify {
            url: format!("http://{addr}/turnstile/v0/siteverify"),
            secret: secret.to_owned(),
            state,
            _server: server,
        }
    }

    /// A token as the widget would hand the browser after a solved challenge on
    /// [`DEFAULT_TURNSTILE_HOSTNAME`] with `data-action="login"`.
    pub fn issue_token(&self) -> String {
        self.issue_token_solved_on(DEFAULT_TURNSTILE_HOSTNAME, "login")
    }

    /// A token for a challenge solved on a page at `hostname` whose widget has
    /// `data-action` `action`: siteverify reports both back.
    pub fn issue_token_solved_on(&self, hostname: &str, action: &str) -> String {
        let token = format!("0.fake-turnstile.{}", Uuid::new_v4().simple());
        lock(&self.state).live.insert(token.clone(), (hostname.to_owned(), action.to_owned()));
        token
    }

    /// From now on every successful answer is padded to more than `bytes` bytes, as a
    /// misbehaving siteverify (or something impersonating it) might answer.
    pub fn pad_answers(&self, bytes: usize) {
        lock(&self.state).padding = bytes;
    }

    /// HTTP calls received.
    pub fn calls(&self) -> usize {
        lock(&self.state).calls
    }

    /// How many calls carried `token`, idempotent replays included.
    pub fn times_sent(&self, token: &str) -> usize {
        lock(&self.state).sends.get(token).copied().unwrap_or(0)
    }

    /// The `remoteip` of the last call.
    pub fn last_remoteip(&self) -> Option<String> {
        lock(&self.state).last_remoteip.clone()
    }

    /// The next answer is computed (the token is spent) but the caller gets a 502.
    pub fn lose_next_answer(&self) {
        lock(&self.state).lose_answers += 1;
    }

    /// An outage: until [`FakeSiteverify::recover`], every call answers `status` (a 5xx)
    /// without looking at the token, as Cloudflare's edge does when siteverify is down.
    pub fn go_down(&self, status: u16) {
        lock(&self.state).outage = Some(StatusCode::from_u16(status).expect("a status"));
    }

    /// The outage is over.
    pub fn recover(&self) {
        lock(&self.state).outage = None;
    }
}

async fn siteverify(
    State(state): State<Arc<Mutex<SiteverifyState>>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut s = lock(&state);
    s.calls += 1;
    if let Some(status) = s.outage {
        return (status, "siteverify is unavailable").into_response();
    }
    let token = form.get("response").cloned().unwrap_or_default();
    *s.sends.entry(token.clone()).or_default() += 1;
    s.last_remoteip = form.get("remoteip").cloned();

    let key = form.get("idempotency_key").cloned();
    let replay = key.as_ref().and_then(|k| s.answers.get(k).cloned());
    let answer = replay.unwrap_or_else(|| {
        let error = match form.get("secret") {
            None => Some("missing-input-secret"),
            Some(secret) if *secret != s.secret => Some("invalid-input-secret"),
            _ if token.is_empty() => Some("missing-input-response"),
            _ if s.spent.contains(&token) => Some("timeout-or-duplicate"),
            _ if !s.live.contains_key(&token) => Some("invalid-input-response"),
            _ => None,
        };
        let answer = match error {
            Some(code) => json!({"success": false, "error-codes": [code], "messages": []}),
            None => {
                let (hostname, action) = s.live.remove(&token).unwrap_or_default();
                s.spent.insert(token.clone());
                json!({
                    "success": true,
                    "error-codes": [],
                    "challenge_ts": chrono::Utc::now().to_rfc3339(),
                    "hostname": hostname,
                    "action": action,
                    "cdata": "x".repeat(s.padding),
                    "metadata": {"interactive": false},
                    "messages": [],
                })
            }
        };
        if let Some(k) = key {
            s.answers.insert(k, answer.clone());
        }
        answer
    });
    if s.lose_answers > 0 {
        s.lose_answers -= 1;
        return StatusCode::BAD_GATEWAY.into_response();
    }
    Json(answer).into_response()
}

// ---------------------------------------------------------------------------------------
// Supabase Auth

/// Supabase Auth for one project, with email OTP sign-in.
pub struct FakeSupabaseAuth {
    /// The project URL (`SUPABASE_URL`), without a trailing slash.
    pub url: String,
    state: Arc<Mutex<AuthState>>,
    _server: ServerTask,
}

struct AuthState {
    anon_key: String,
    /// `/otp` calls that got past the API key, per email address (refused ones included).
    otp_calls: HashMap<String, usize>,
    /// `/verify` calls that got past the API key.
    verify_calls: usize,
    /// The shortest time between two emails to one address.
    email_min_interval: Duration,
    /// Bytes of padding every successful answer carries.
    padding: usize,
    users: HashMap<String, Uuid>,
    /// By email: the live code and its link token hash (one credential, as in Supabase).
    pending: HashMap<String, Otp>,
    /// Every email "sent", last one per address.
    outbox: HashMap<String, Otp>,
    /// `Some((siteverify url, secret))` when captcha protection is on.
    captcha: Option<(String, String)>,
    http: reqwest::Client,
    /// The public JWKs the JWKS endpoint publishes.
    published: Vec<Value>,
    jwks_fetches: usize,
    /// `Some(status)` while it is down: `/otp` and `/verify` answer that status, unprocessed.
    outage: Option<StatusCode>,
}

#[derive(Clone)]
struct Otp {
    code: String,
    token_hash: String,
    redirect_to: String,
    sent_at: Instant,
    expired: bool,
}

/// Supabase's default `GOTRUE_MAILER_OTP_EXP` and `SMTP_MAX_FREQUENCY`.
const OTP_TTL: Duration = Duration::from_secs(3600);
const EMAIL_MIN_INTERVAL: Duration = Duration::from_secs(60);

impl FakeSupabaseAuth {
    pub async fn start(anon_key: &str) -> FakeSupabaseAuth {
        let state = Arc::new(Mutex::new(AuthState {
            anon_key: anon_key.to_owned(),
            otp_calls: HashMap::new(),
            verify_calls: 0,
            email_min_interval: EMAIL_MIN_INTERVAL,
            padding: 0,
            users: HashMap::new(),
            pending: HashMap::new(),
            outbox: HashMap::new(),
            captcha: None,
            http: shared::tls::client(),
            published: vec![TestSigningKey::es256().public_jwk, TestSigningKey::rs256().public_jwk],
            jwks_fetches: 0,
            outage: None,
        }));
        let router = Router::new()
            .route("/auth/v1/.well-known/jwks.json", get(jwks))
            .route("/auth/v1/otp", post(otp))
            .route("/auth/v1/verify", post(verify))
            .route("/auth/v1/admin/generate_link", post(generate_link))
            .with_state(state.clone());
        let (addr, server) = spawn(router).await;
        FakeSupabaseAuth { url: format!("http://{addr}"), state, _server: server }
    }

    /// Turns on captcha protection: `/otp` then checks `gotrue_meta_security.captcha_token`
    /// with `siteverify`, as the real service does with its configured provider.
    pub fn require_captcha(&self, siteverify: &FakeSiteverify) {
        lock(&self.state).captcha = Some((siteverify.url.clone(), siteverify.secret.clone()));
    }

    /// The one-time code in the last email to `email`.
    pub fn last_code_for(&self, email: &str) -> Option<String> {
        lock(&self.state).outbox.get(email).map(|o| o.code.clone())
    }

    /// The last magic link to `email`: its `redirect_to` and its `token_hash`.
    pub fn last_magic_link_for(&self, email: &str) -> Option<(String, String)> {
        lock(&self.state).outbox.get(email).map(|o| (o.redirect_to.clone(), o.token_hash.clone()))
    }

    /// The project's `anon` key this stand-in accepts as `apikey`.
    pub fn anon_key(&self) -> String {
        lock(&self.state).anon_key.clone()
    }

    /// An existing Supabase user (e.g. an operator's smoke-test account) with a known id.
    pub fn add_user(&self, email: &str, id: shared::ids::UserId) {
        lock(&self.state).users.insert(email.to_lowercase(), id.into());
    }

    /// The user id Supabase gave `email`, once it signed up.
    pub fn user_id_for(&self, email: &str) -> Option<shared::ids::UserId> {
        lock(&self.state).users.get(email).copied().map(shared::ids::UserId::from)
    }

    /// `/otp` calls received (sign-in emails asked for), for every address.
    pub fn otp_calls(&self) -> usize {
        lock(&self.state).otp_calls.values().sum()
    }

    /// `/otp` calls received for `email`.
    pub fn otp_calls_for(&self, email: &str) -> usize {
        lock(&self.state).otp_calls.get(&email.to_lowercase()).copied().unwrap_or(0)
    }

    /// `/verify` calls received (codes and links checked).
    pub fn verify_calls(&self) -> usize {
        lock(&self.state).verify_calls
    }

    /// Sends to one address as often as asked (the project's `SMTP_MAX_FREQUENCY` set to
    /// 0), so that only the connector's own budgets limit them.
    pub fn allow_rapid_emails(&self) {
        lock(&self.state).email_min_interval = Duration::ZERO;
    }

    /// From now on every successful answer is padded to more than `bytes` bytes.
    pub fn pad_answers(&self, bytes: usize) {
        lock(&self.state).padding = bytes;
    }

    /// The `iss` of the project's session tokens (`<SUPABASE_URL>/auth/v1`).
    pub fn issuer(&self) -> String {
        format!("{}/auth/v1", self.url)
    }

    /// The claims Supabase Auth puts in a signed-in user's session token (one factor,
    /// ten minutes left).
    pub fn session_claims(&self, user_id: shared::ids::UserId) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer(), "sub": user_id, "aud": "authenticated", "role": "authenticated",
            "aal": "aal1", "amr": [{"method": "otp", "timestamp": now}], "is_anonymous": false,
            "session_id": Uuid::new_v4(), "email": format!("{user_id}@example.com"),
            "iat": now, "exp": now + 600,
        })
    }

    /// Replaces the published keys, as a rotation (or a revocation) in the dashboard does.
    pub fn publish_keys(&self, keys: &[&TestSigningKey]) {
        lock(&self.state).published = keys.iter().map(|k| k.public_jwk.clone()).collect();
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        lock(&self.state).jwks_fetches
    }

    /// An outage: until [`FakeSupabaseAuth::recover`], `/otp` and `/verify` answer
    /// `status` (a 5xx) with a gateway's HTML body, sending and checking nothing.
    pub fn go_down(&self, status: u16) {
        lock(&self.state).outage = Some(StatusCode::from_u16(status).expect("a status"));
    }

    /// The outage is over.
    pub fn recover(&self) {
        lock(&self.state).outage = None;
    }

    /// Lets every code and link sent so far run out, as an hour passing would.
    pub fn expire_codes(&self) {
        for otp in lock(&self.state).pending.values_mut() {
            otp.expired = true;
        }
    }
}

/// The project's `service_role` key, which the admin API requires as the bearer.
pub const SERVICE_ROLE_KEY: &str = "test-service-role-key";

/// `POST /auth/v1/admin/generate_link` (GoTrue's admin API, service role only): mints a
/// sign-in credential for an existing user without sending an email, answering the user
/// with `action_link`, `email_otp`, `hashed_token`, `verification_type` and `redirect_to`
/// at the top level. The credential is the user's one live code and link, as `/otp`'s is.
async fn generate_link(
    State(state): State<Arc<Mutex<AuthState>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(SERVICE_ROLE_KEY) {
        return auth_error(StatusCode::FORBIDDEN, "not_admin", "User not allowed");
    }
    let mut s = lock(&state);
    if body["type"] != json!("magiclink") {
        return auth_error(StatusCode::BAD_REQUEST, "validation_failed", "Invalid link type");
    }
    let email = body["email"].as_str().unwrap_or("").to_lowercase();
    let Some(id) = s.users.get(&email).copied() else {
        return auth_error(StatusCode::NOT_FOUND, "user_not_found", "User with this email not found");
    };
    let minted = Otp {
        code: format!("{:06}", Uuid::new_v4().as_u128() % 1_000_000),
        token_hash: Uuid::new_v4().simple().to_string(),
        redirect_to: body["redirect_to"].as_str().unwrap_or_default().to_owned(),
        sent_at: Instant::now(),
        expired: false,
    };
    s.pending.insert(email.clone(), minted.clone());
    Json(json!({
        "id": id, "aud": "authenticated", "role": "authenticated", "email": email,
        "action_link": format!("/auth/v1/verify?token={}&type=magiclink", minted.token_hash),
        "email_otp": minted.code,
        "hashed_token": minted.token_hash,
        "verification_type": "magiclink",
        "redirect_to": minted.redirect_to,
    }))
    .into_response()
}

async fn jwks(State(state): State<Arc<Mutex<AuthState>>>) -> Response {
    let mut s = lock(&state);
    s.jwks_fetches += 1;
    // Supabase's edge caches it for ten minutes.
    ([("cache-control", "public, max-age=600")], Json(json!({ "keys": s.published }))).into_response()
}

/// One of the committed test key pairs (`testkit/keys/`): the private half signs session
/// tokens as Supabase Auth would, the public half is what the stand-in's JWKS publishes.
pub struct TestSigningKey {
    pub kid: String,
    pub algorithm: jsonwebtoken::Algorithm,
    pub public_jwk: Value,
    encoding: jsonwebtoken::EncodingKey,
}

impl TestSigningKey {
    /// The project's ES256 (P-256) key.
    pub fn es256() -> TestSigningKey {
        Self::load(include_str!("../keys/supabase-es256.pem"), include_str!("../keys/supabase-es256.jwk.json"))
    }

    /// A second ES256 key: the one a rotation switches to.
    pub fn es256_next() -> TestSigningKey {
        Self::load(
            include_str!("../keys/supabase-es256-next.pem"),
            include_str!("../keys/supabase-es256-next.jwk.json"),
        )
    }

    /// The project's RS256 (2048-bit) key.
    pub fn rs256() -> TestSigningKey {
        Self::load(include_str!("../keys/supabase-rs256.pem"), include_str!("../keys/supabase-rs256.jwk.json"))
    }

    /// The RS256 key's public half as PEM text, as anyone can rebuild it from the JWKS.
    pub fn rs256_public_pem() -> &'static str {
        include_str!("../keys/supabase-rs256.pub.pem")
    }

    fn load(private_pem: &str, public_jwk: &str) -> TestSigningKey {
        use base64::Engine;
        let public_jwk: Value = serde_json::from_str(public_jwk).expect("a committed JWK");
        let body: String = private_pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).expect("a committed PEM");
        let (algorithm, encoding) = match public_jwk["kty"].as_str() {
            // PKCS#8 for EC, PKCS#1 for RSA: what jsonwebtoken's DER constructors take.
            Some("EC") => (jsonwebtoken::Algorithm::ES256, jsonwebtoken::EncodingKey::from_ec_der(&der)),
            _ => (jsonwebtoken::Algorithm::RS256, jsonwebtoken::EncodingKey::from_rsa_der(&der)),
        };
        let kid = public_jwk["kid"].as_str().expect("a kid").to_owned();
        TestSigningKey { kid, algorithm, public_jwk, encoding }
    }

    /// `claims` signed with this key, the header naming its `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    /// `claims` signed with this key, the header naming `kid` (whatever key that is).
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.algorithm);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signs")
    }
}

/// Supabase's default error shape, with the `x-sb-error-code` header it sets.
fn auth_error(status: StatusCode, code: &str, msg: &str) -> Response {
    (
        status,
        [("x-sb-error-code", code.to_owned())],
        Json(json!({"code": status.as_u16(), "error_code": code, "msg": msg})),
    )
        .into_response()
}

/// Supabase's API gateway refuses requests without the project's key before Auth sees them.
#[allow(clippy::result_large_err)] // a test stand-in: the early-return response is fine unboxed
fn check_apikey(state: &AuthState, headers: &HeaderMap) -> Result<(), Response> {
    match headers.get("apikey").and_then(|v| v.to_str().ok()) {
        Some(key) if key == state.anon_key => Ok(()),
        Some(_) => Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."})),
        )
            .into_response()),
        None => Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "No API key found in request", "hint": "No `apikey` request header or url param was found."})),
        )
            .into_response()),
    }
}

async fn otp(
    State(state): State<Arc<Mutex<AuthState>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let captcha = {
        let s = lock(&state);
        if let Some(status) = s.outage {
            return outage_answer(status);
        }
        if let Err(refusal) = check_apikey(&s, &headers) {
            return refusal;
        }
        s.captcha.clone().map(|c| (c, s.http.clone()))
    };

    if let Some(((url, secret), http)) = captcha {
        let token = body["gotrue_meta_security"]["captcha_token"].as_str().unwrap_or("").trim().to_owned();
        if token.is_empty() {
            return auth_error(
                StatusCode::BAD_REQUEST,
                "captcha_failed",
                "captcha protection: request disallowed (no captcha_token found)",
            );
        }
        match check_captcha(&http, &url, &secret, &token).await {
            Ok(codes) if codes.is_empty() => {}
            Ok(codes) => {
                return auth_error(
                    StatusCode::BAD_REQUEST,
                    "captcha_failed",
                    &format!("captcha protection: request disallowed ({})", codes.join(", ")),
                );
            }
            Err(_) => {
                return auth_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unexpected_failure",
                    "captcha verification process failed",
                );
            }
        }
    }

    let email = body["email"].as_str().unwrap_or("").to_lowercase();
    *lock(&state).otp_calls.entry(email.clone()).or_default() += 1;
    let valid = matches!(email.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.'));
    if !valid {
        return auth_error(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Unable to validate email address: invalid format",
        );
    }
    let mut s = lock(&state);
    if !s.users.contains_key(&email) && body["create_user"] == json!(false) {
        return auth_error(StatusCode::UNPROCESSABLE_ENTITY, "otp_disabled", "Signups not allowed for otp");
    }
    if let Some(last) = s.outbox.get(&email) {
        let since = last.sent_at.elapsed();
        if since < s.email_min_interval {
            let wait = (s.email_min_interval - since).as_secs().max(1);
            return auth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "over_email_send_rate_limit",
                &format!("For security purposes, you can only request this after {wait} seconds."),
            );
        }
    }
    s.users.entry(email.clone()).or_insert_with(Uuid::new_v4);
    let sent = Otp {
        code: format!("{:06}", Uuid::new_v4().as_u128() % 1_000_000),
        token_hash: Uuid::new_v4().simple().to_string(),
        // Without one (or with one not on the allow-list) Supabase falls back to the site URL.
        redirect_to: query.get("redirect_to").cloned().unwrap_or_default(),
        sent_at: Instant::now(),
        expired: false,
    };
    s.pending.insert(email.clone(), sent.clone());
    s.outbox.insert(email, sent);
    if s.padding > 0 {
        return Json(json!({ "padding": "x".repeat(s.padding) })).into_response();
    }
    Json(json!({})).into_response()
}

/// Calls siteverify as Supabase does (`secret`, `response`, `remoteip`); the error codes,
/// empty on success.
async fn check_captcha(http: &reqwest::Client, url: &str, secret: &str, token: &str) -> anyhow::Result<Vec<String>> {
    let mut form = reqwest::Url::parse("http://form.invalid/")?;
    form.query_pairs_mut()
        .append_pair("secret", secret)
        .append_pair("response", token)
        .append_pair("remoteip", "127.0.0.1");
    let answer: Value = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.query().unwrap_or_default().to_owned())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if answer["success"] == json!(true) {
        return Ok(Vec::new());
    }
    Ok(answer["error-codes"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(str::to_owned)).collect())
}

/// What a down Supabase project answers: a gateway's error page, not GoTrue's JSON.
fn outage_answer(status: StatusCode) -> Response {
    (status, [("content-type", "text/html")], "<html><body><h1>Service Unavailable</h1></body></html>").into_response()
}

async fn verify(State(state): State<Arc<Mutex<AuthState>>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut s = lock(&state);
    if let Some(status) = s.outage {
        return outage_answer(status);
    }
    if let Err(refusal) = check_apikey(&s, &headers) {
        return refusal;
    }
    s.verify_calls += 1;
    let kind = body["type"].as_str().unwrap_or("");
    let token = body["token"].as_str().unwrap_or("");
    let token_hash = body["token_hash"].as_str().unwrap_or("");
    if kind.is_empty() {
        return auth_error(StatusCode::BAD_REQUEST, "validation_failed", "Verify requires a verification type");
    }
    if token.is_empty() == token_hash.is_empty() {
        return auth_error(
            StatusCode::BAD_REQUEST,
            "validation_failed",
            "Verify requires either a token or a token hash",
        );
    }
    if !["email", "magiclink", "signup"].contains(&kind) {
        return auth_error(StatusCode::BAD_REQUEST, "validation_failed", "Unsupported verification type");
    }

    let found = if token.is_empty() {
        if body.get("email").is_some() {
            return auth_error(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "Only the token_hash and type should be provided",
            );
        }
        s.pending.iter().find(|(_, o)| o.token_hash == token_hash).map(|(email, o)| (email.clone(), o.clone()))
    } else {
        let email = body["email"].as_str().unwrap_or("").to_lowercase();
        s.pending.get(&email).filter(|o| o.code == token).map(|o| (email.clone(), o.clone()))
    };
    let msg = if token.is_empty() { "Email link is invalid or has expired" } else { "Token has expired or is invalid" };
    let Some((email, otp)) = found else {
        return auth_error(StatusCode::FORBIDDEN, "otp_expired", msg);
    };
    if otp.expired || otp.sent_at.elapsed() > OTP_TTL {
        return auth_error(StatusCode::FORBIDDEN, "otp_expired", msg);
    }
    s.pending.remove(&email);
    let id = s.users[&email];
    let now = chrono::Utc::now().to_rfc3339();
    Json(json!({
        "access_token": format!("fake-access-{}", Uuid::new_v4().simple()),
        "token_type": "bearer",
        "expires_in": 3600,
        "expires_at": chrono::Utc::now().timestamp() + 3600,
        "refresh_token": Uuid::new_v4().simple().to_string(),
        "user": {
            "id": id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": email,
            "email_confirmed_at": now,
            "last_sign_in_at": now,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": { "padding": "x".repeat(s.padding) },
            "created_at": now,
            "updated_at": now,
        },
    }))
    .into_response()
}
