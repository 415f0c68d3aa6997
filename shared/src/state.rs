//! The state every handler shares, built once per cold start (per process locally):
//! configuration, the store (whose pool connects lazily) and one HTTP client.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;

use crate::config::{Config, IdentityConfig};
use crate::identity::jwks::ClientKeyCache;
use crate::identity::session::SessionVerifier;
use crate::identity::{self, IdentityProvider};
use crate::mcp::McpClient;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::store::postgres::PgStore;
use crate::turnstile::Turnstile;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    /// One connection pool for every outbound HTTP call (Turnstile, Supabase, MCP).
    pub http: reqwest::Client,
    /// Signs people in during the OAuth flow (Supabase Auth, or the dev provider locally).
    pub identity: Arc<dyn IdentityProvider>,
    /// Verifies Dexter's Supabase session JWTs on `/dexter/*` (its JWKS cache lives as
    /// long as the process).
    pub sessions: SessionVerifier,
    pub turnstile: Turnstile,
    /// dexter-mcp (or the sandbox), `None` only when no MCP server is configured.
    pub mcp: Option<McpClient>,
    /// MCP clients' `private_key_jwt` keys fetched from their `jwks_uri`s.
    pub client_keys: Arc<ClientKeyCache>,
}

impl AppState {
    /// The state for a configuration: Postgres when a database is configured, otherwise
    /// a fresh in-memory store.
    pub fn from_config(config: Config) -> anyhow::Result<AppState> {
        let store: Arc<dyn Store> = match &config.database {
            Some(db) => match &db.ca_pem {
                Some(ca_pem) => Arc::new(PgStore::connect_with_ca(db.url.expose_secret(), ca_pem)?),
                None => Arc::new(PgStore::connect(db.url.expose_secret(), db.tls)?),
            },
            None => Arc::new(MemoryStore::new()),
        };
        Ok(AppState::with_store(config, store))
    }

    /// The state for a configuration and a store the caller built.
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> AppState {
        let http = crate::tls::client_builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!("dexter-chatgpt-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's fixed settings are valid");
        let identity = identity::from_config(&config, http.clone());
        let anon_key = match &config.identity {
            IdentityConfig::Supabase { anon_key, .. } => Some(anon_key.clone()),
            IdentityConfig::Dev => None,
        };
        let sessions = SessionVerifier::new(&config.sessions, anon_key, http.clone());
        let turnstile = Turnstile::new(config.turnstile.clone(), http.clone());
        let mcp = config
            .mcp
            .url
            .clone()
            .map(|url| McpClient::new(url, config.mcp.jwt_secret.clone(), http.clone(), config.mcp.deadline));
        let client_keys = Arc::new(ClientKeyCache::default());
        AppState { config: Arc::new(config), store, http, identity, sessions, turnstile, mcp, client_keys }
    }
}
