//! `spawn_app()`: the whole connector (every route, the shared layers) on
//! `127.0.0.1:0` in this process, configured like a deployment except for the stand-ins
//! of the services that cannot run here (Turnstile's siteverify, Supabase Auth).

use std::collections::HashMap;
use std::sync::Arc;

use shared::config::{Config, Mode};
use shared::ids::{ClientId, GrantId, UserId};
use shared::secrets::SecretValues;
use shared::store::{OAuthClient, Profile, Store};

use crate::standins::{FakeSiteverify, FakeSupabaseAuth};

pub const CLIENT_ID: &str = "chatgpt-test";
pub const REDIRECT_URI: &str = "https://chatgpt.com/aip/g-0123456789abcdef/oauth/callback";
pub const ANON_KEY: &str = "test-anon-key";
pub const TURNSTILE_SECRET: &str = "0x4AAAAAAAtest-secret";
pub const SUPABASE_JWT_SECRET: &str = "test-supabase-jwt-secret-0123456789abcdef";

pub struct TestApp {
    pub base_url: String,
    pub state: shared::AppState,
    pub store: Arc<dyn Store>,
    pub client_secret: String,
    pub siteverify: FakeSiteverify,
    pub supabase: FakeSupabaseAuth,
    _server: tokio::task::JoinHandle<()>,
}

/// Extra settings for a test app.
#[derive(Default)]
pub struct Options {
    /// `TURNSTILE_VERIFIED_BY=supabase`: Supabase checks the captcha, not the connector.
    pub supabase_verifies_captcha: bool,
    /// `MCP_URL` (a sandbox's) and its `MCP_JWT_SECRET`.
    pub mcp: Option<(String, String)>,
    /// `NEXT_PUBLIC_ENABLE_VOICE=true`.
    pub enable_voice: bool,
    /// `MCP_TIMEOUT_MS`.
    pub mcp_timeout_ms: Option<u64>,
}

pub async fn spawn_app(store: Arc<dyn Store>, options: Options) -> TestApp {
    let siteverify = FakeSiteverify::start(TURNSTILE_SECRET).await;
    let supabase = FakeSupabaseAuth::start(ANON_KEY).await;
    if options.supabase_verifies_captcha {
        supabase.require_captcha(&siteverify);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut env: HashMap<String, String> = [
        ("IDENTITY_PROVIDER", "supabase"),
        ("SUPABASE_URL", supabase.url.as_str()),
        ("SUPABASE_ANON_KEY", ANON_KEY),
        ("SUPABASE_JWT_SECRET", SUPABASE_JWT_SECRET),
        ("TURNSTILE_SITE_KEY", "0x4AAAAAAAtest-site-key"),
        ("TURNSTILE_SECRET_KEY", TURNSTILE_SECRET),
        ("TURNSTILE_SITEVERIFY_URL", siteverify.url.as_str()),
        ("TURNSTILE_VERIFIED_BY", if options.supabase_verifies_captcha { "supabase" } else { "connector" }),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if let Some((url, secret)) = &options.mcp {
        env.insert("MCP_URL".into(), url.clone());
        env.insert("MCP_JWT_SECRET".into(), secret.clone());
    }
    if options.enable_voice {
        env.insert("NEXT_PUBLIC_ENABLE_VOICE".into(), "true".into());
        env.insert("VOICE_URL".into(), "https://dexter.example/voice".into());
    }
    if let Some(ms) = options.mcp_timeout_ms {
        env.insert("MCP_TIMEOUT_MS".into(), ms.to_string());
    }
    let config = Config::from_sources(Mode::Local { port }, &env, &SecretValues::default()).expect("config");
    let base_url = config.public_base_url.clone();

    let client_secret = shared::tokens::generate("dxcs_");
    store
        .create_client(&OAuthClient {
            id: format!("{CLIENT_ID}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]).into(),
            name: "Dexter Console (GPT)".into(),
            secret_hash: shared::TokenHash::of(&client_secret),
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            redirect_uris: vec![REDIRECT_URI.into(), REDIRECT_URI.replace("chatgpt.com", "chat.openai.com")],
            scopes: vec!["mcp:invoke".into(), "wallet:read".into(), "profile".into()],
            created_at: chrono::Utc::now(),
            public: false,
        })
        .await
        .expect("client");

    let state = shared::AppState::with_store(config, store.clone());
    let app = shared::http::finish(shared::routes::all_routes(state.clone()), &state.config);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });
    TestApp { base_url, state, store, client_secret, siteverify, supabase, _server: server }
}

impl TestApp {
    /// The client id this app registered (unique per app, so apps can share a database).
    pub async fn client_id(&self) -> ClientId {
        let clients = self.store.list_clients().await.expect("clients");
        clients.into_iter().map(|c| c.id).find(|id| id.as_str().starts_with(CLIENT_ID)).expect("the test client")
    }

    /// Gives the Supabase user of `email` a Dexter profile.
    pub async fn give_profile(&self, user_id: UserId, email: &str, tier: &str, chatgpt: bool) {
        self.store
            .upsert_profile(&Profile {
                user_id,
                email: Some(email.into()),
                tier: tier.into(),
                channels: serde_json::json!({ "chatgpt": chatgpt }),
            })
            .await
            .expect("profile");
    }

    /// A linked account without the browser dance: a user with a profile, a grant for
    /// this app's client and an access token for it. Returns (user id, grant id, token).
    pub async fn linked_user(&self, tier: &str, chatgpt: bool, scopes: &[&str]) -> (UserId, GrantId, String) {
        let user_id = UserId::random();
        self.give_profile(user_id, &format!("{user_id}@example.com"), tier, chatgpt).await;
        let now = chrono::Utc::now();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let grant = shared::store::Grant {
            id: GrantId::random(),
            user_id,
            client_id: self.client_id().await,
            scopes: scopes.clone(),
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        self.store.create_grant(&grant).await.expect("grant");
        let token = shared::oauth::access_token::issue(
            &self.state.config.signing_keys,
            &self.base_url,
            user_id,
            &grant.client_id,
            grant.id,
            &scopes,
            now,
        )
        .expect("token");
        (user_id, grant.id, token)
    }

    /// A Supabase session JWT for a Dexter user, as Dexter's web app holds one (signed
    /// with the project's legacy HS256 secret).
    pub fn dexter_session(&self, user_id: UserId) -> String {
        let claims = self.supabase.session_claims(user_id);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SUPABASE_JWT_SECRET.as_bytes()),
        )
        .expect("jwt")
    }
}
