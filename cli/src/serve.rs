//! `connector serve`: every route on one local listener, on embedded defaults, and the
//! sweep of its store every five minutes (`SWEEP_INTERVAL_SECONDS` to change it), so a
//! long-running server's in-memory store stays bounded.

use std::net::SocketAddr;

use anyhow::Context;
use secrecy::ExposeSecret;
use shared::AppState;
use shared::config::{Config, Mode};
use shared::identity::dev::{DEV_USER_EMAIL, DEV_USER_ID};
use shared::store::{OAuthClient, Profile};

/// How often `connector serve` sweeps its store (in memory, nothing else would), unless
/// `SWEEP_INTERVAL_SECONDS` says otherwise.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// `SWEEP_INTERVAL_SECONDS` (a whole number of seconds, at least 1), else [`SWEEP_EVERY`].
fn sweep_interval() -> anyhow::Result<std::time::Duration> {
    match std::env::var("SWEEP_INTERVAL_SECONDS") {
        Err(_) => Ok(SWEEP_EVERY),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(seconds) if seconds > 0 => Ok(std::time::Duration::from_secs(seconds)),
            _ => anyhow::bail!(
                "configuration error: SWEEP_INTERVAL_SECONDS must be a whole number of seconds, at least 1"
            ),
        },
    }
}

/// The local OAuth client `connector serve` seeds; its secret is new on every start.
pub const DEV_CLIENT_ID: &str = "chatgpt-dev";

pub async fn run(port: u16) -> anyhow::Result<()> {
    shared::telemetry::init();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .with_context(|| format!("could not listen on 127.0.0.1:{port} (try --port)"))?;
    let port = listener.local_addr()?.port();

    let mut config = Config::load(Mode::Local { port }).await?;
    // No MCP_URL: serve Dexter's tool names from the in-process sandbox, which checks
    // our per-call JWTs exactly as dexter-mcp does.
    let _sandbox = match &config.mcp.url {
        Some(_) => None,
        None => {
            let options = sandbox_mcp::SandboxOptions::default();
            let sandbox = sandbox_mcp::spawn(config.mcp.jwt_secret.clone(), options).await?;
            config.mcp.url = Some(sandbox.url.clone());
            Some(sandbox)
        }
    };
    if let Some(db) = &config.database {
        let applied = shared::store::migrate::run(db.url.expose_secret(), db.tls).await?;
        for name in applied {
            println!("applied migration {name}");
        }
    }
    let storage = if config.database.is_some() { "Postgres (DATABASE_URL)" } else { "in-memory" };
    let upstream = match &_sandbox {
        Some(sandbox) => format!("sandbox MCP server at {}", sandbox.url),
        None => "MCP_URL".to_owned(),
    };
    let state = AppState::from_config(config)?;
    let client_secret = seed_dev_account(&state).await?;
    print_banner(&state.config, port, storage, &upstream, &client_secret);

    let store = state.store.clone();
    let sweep_every = sweep_interval()?;
    tokio::spawn(async move {
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + sweep_every, sweep_every);
        loop {
            every.tick().await;
            if let Err(e) = shared::sweep::run(store.as_ref()).await {
                tracing::warn!(error = %e, "sweep failed; trying again at the next interval");
            }
        }
    });

    let config = state.config.clone();
    let app = shared::http::finish(shared::routes::all_routes(state).merge(dev_callback_router()), &config);
    // With the peer address, which the per-address budgets count under (`ClientIp`).
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            println!("stopping");
        })
        .await?;
    Ok(())
}

/// Creates (or refreshes) the dev user and the dev OAuth client; returns the client's
/// new secret.
async fn seed_dev_account(state: &AppState) -> anyhow::Result<String> {
    let store = &state.store;
    store
        .upsert_profile(&Profile {
            user_id: DEV_USER_ID,
            email: Some(DEV_USER_EMAIL.into()),
            tier: "pro".into(),
            // Both channels: the dev account links a GPT and local MCP clients (Claude Code).
            channels: serde_json::json!({ "chatgpt": true, "mcp": true }),
        })
        .await?;

    let secret = shared::tokens::generate("dxcs_");
    let secret_hash = shared::TokenHash::of(&secret);
    let client_id = shared::ClientId::from(DEV_CLIENT_ID);
    if store.get_client(&client_id).await?.is_some() {
        store.rotate_client_secret(&client_id, &secret_hash, None).await?;
    } else {
        let base = &state.config.public_base_url;
        store
            .create_client(&OAuthClient {
                id: client_id,
                name: "ChatGPT (local development)".into(),
                secret_hash,
                previous_secret_hash: None,
                previous_secret_expires_at: None,
                redirect_uris: vec![
                    "https://chatgpt.com/aip/g-dev/oauth/callback".into(),
                    "https://chat.openai.com/aip/g-dev/oauth/callback".into(),
                    format!("{base}/dev/oauth/callback"),
                ],
                scopes: vec!["mcp:invoke".into(), "wallet:read".into(), "profile".into()],
                created_at: chrono::Utc::now(),
                public: false,
            })
            .await?;
    }
    Ok(secret)
}

fn print_banner(config: &Config, port: u16, storage: &str, upstream: &str, client_secret: &str) {
    let base = &config.public_base_url;
    println!(
        "\nDexter ChatGPT connector listening on http://127.0.0.1:{port}  (storage: {storage}; Ctrl-C stops it)\n\
         public base URL {base}\n\
         tools           {upstream}\n\n\
         dev user        {DEV_USER_ID}  <{DEV_USER_EMAIL}>\n\
         dev client id   {DEV_CLIENT_ID}\n\
         client secret   {client_secret}\n\n\
         GPT editor\n\
         \x20 Import from URL     {base}/connector/chatgpt/openapi.json\n\
         \x20 Authorization URL   {base}/oauth/chatgpt/authorize\n\
         \x20 Token URL           {base}/oauth/chatgpt/token\n\
         \x20 Scopes              mcp:invoke wallet:read profile\n\n\
         MCP clients (Claude Code, MCP Inspector)\n\
         \x20 Server URL          {base}/mcp\n\n\
         Health {base}/healthz   JWKS {base}/.well-known/jwks.json\n"
    );
}

/// Where the dev client's third redirect URI lands: shows the code and the curl command
/// that exchanges it, so the whole OAuth flow can be tried locally without ChatGPT.
fn dev_callback_router() -> axum::Router {
    use axum::extract::Query;
    use axum::response::Html;
    use std::collections::HashMap;

    axum::Router::new().route(
        "/dev/oauth/callback",
        axum::routing::get(|Query(params): Query<HashMap<String, String>>| async move {
            let escape = shared::oauth::pages::escape;
            let body = match (params.get("code"), params.get("error")) {
                (Some(code), _) => format!(
                    "<h1>Linked</h1><p>ChatGPT would now exchange this code (valid 10 minutes, once):</p>\
                     <pre>curl -s -u {DEV_CLIENT_ID}:$CLIENT_SECRET \\\n  -d grant_type=authorization_code \\\n  \
                     -d code={} \\\n  -d redirect_uri=$BASE/dev/oauth/callback \\\n  $BASE/oauth/chatgpt/token</pre>",
                    escape(code)
                ),
                (None, Some(error)) => format!("<h1>Not linked</h1><p>error: <code>{}</code></p>", escape(error)),
                _ => "<h1>Nothing to show</h1>".to_owned(),
            };
            // The empty icon, as on the OAuth pages: no /favicon.ico request and no 404 on
            // the console of the browser that just linked.
            Html(format!(
                "<!doctype html><meta charset=utf-8><link rel=icon href=\"data:,\"><title>dev callback</title>\
                 <main>{body}</main>"
            ))
        }),
    )
}
