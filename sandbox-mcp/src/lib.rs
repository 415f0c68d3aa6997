//! A sandbox of Dexter's MCP server (dexter-mcp) for `connector serve` and the tests: the
//! same tool names, argument fields and result shapes (`docs/dexter-mcp.md`), with
//! deterministic data ([`data`]), served over the MCP Streamable HTTP transport (MCP
//! specification 2025-06-18) by the official Rust SDK, rmcp, with stateful sessions.
//!
//! In front of rmcp sits the same bearer check dexter-mcp makes, and its binding of a
//! session to its owner (`gate`). Pointing the connector's `MCP_URL` at the real
//! dexter-mcp instead changes nothing in the connector.
//!
//! [`spawn`] serves it on `127.0.0.1:0`; [`router`] gives the axum router to mount
//! elsewhere. [`SandboxHandle`] counts calls and sessions and queues faults, so tests can
//! drive a client's error paths against this real server.

pub mod data;
mod gate;
mod tools;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use rmcp::transport::streamable_http_server::session::SessionManager;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use secrecy::SecretString;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use tools::{DEFAULT_SLIPPAGE_BPS, FEE_BPS, MAX_ALERTS_PER_USER};

/// How the sandbox answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SandboxOptions {
    /// Answer each request with one `application/json` body instead of a
    /// `text/event-stream` (the transport allows both; a client must take either).
    pub json_response: bool,
    /// Every tool call answers after this long (zero, the default: at once), like an
    /// upstream that does real work; the benchmarks' 50 ms-upstream cell.
    pub call_delay: Duration,
}

/// Makes the sandbox answer like an upstream that returns far too much, to test that the
/// connector's answers stay within ChatGPT's limits. Zero (the default) leaves a field's
/// behaviour as usual.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Oversize {
    /// Each user has this many managed wallets (the usual two first).
    pub wallets: usize,
    /// Every wallet holds this many tokens (the largest by value last), and
    /// `solana_list_balances` ignores its `limit`.
    pub balances: usize,
    /// `solana_resolve_token` and `search` return this many results, ignoring their limits.
    pub results: usize,
    /// `alerts_list` lists this many alerts besides those created.
    pub alerts: usize,
    /// Characters (`é`, two bytes each) appended to every label, name, snippet and answer.
    pub padding: usize,
}

/// A running sandbox on `127.0.0.1`; it stops when dropped.
pub struct Sandbox {
    /// The MCP endpoint, `http://127.0.0.1:PORT/mcp`: the connector's `MCP_URL`, and the
    /// `iss`/`aud` its tokens must carry.
    pub url: String,
    handle: SandboxHandle,
}

/// Observes and steers a sandbox; cheap to clone.
#[derive(Clone)]
pub struct SandboxHandle {
    state: Arc<State>,
}

/// What every session and the gate share.
pub(crate) struct State {
    jwt_secret: SecretString,
    /// The sandbox's own `/mcp` URL: the expected `iss` and `aud`.
    url: String,
    json_response: bool,
    call_delay: Duration,
    session_manager: Arc<LocalSessionManager>,
    cancel: CancellationToken,
    /// Session id → the user id that created it.
    owners: Mutex<HashMap<String, String>>,
    sessions_created: AtomicUsize,
    calls: Mutex<HashMap<String, usize>>,
    faults: Mutex<VecDeque<Fault>>,
    /// User id → alerts, in creation order.
    alerts: Mutex<HashMap<String, Vec<Value>>>,
    alert_sequence: AtomicU64,
    executions: AtomicU64,
    oversize: Mutex<Oversize>,
    /// The last [`BEARERS_KEPT`] bearer tokens presented, oldest first.
    bearers: Mutex<VecDeque<String>>,
}

/// How many presented bearer tokens a sandbox remembers.
pub const BEARERS_KEPT: usize = 100;

/// What the gate put in the request's extensions for the tools: the verified caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    user_id: String,
    wallet_public_key: Option<String>,
}

/// A failure queued for the next tool call.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Fault {
    Status(u16),
    Delay(Duration),
    Garbage,
}

/// Serves a sandbox on `127.0.0.1` at a free port. Tokens must be signed with
/// `jwt_secret` for the returned [`Sandbox::url`].
pub async fn spawn(jwt_secret: impl Into<SecretString>, options: SandboxOptions) -> anyhow::Result<Sandbox> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the sandbox MCP server")?;
    let address = listener.local_addr().context("reading the sandbox MCP server's address")?;
    let url = format!("http://{address}/mcp");
    let (app, handle) = router(jwt_secret.into(), url.clone(), options);
    let cancel = handle.state.cancel.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned()).await;
        if let Err(error) = served {
            tracing::error!(%error, "the sandbox MCP server stopped");
        }
    });
    tracing::info!(%url, "sandbox MCP server listening");
    Ok(Sandbox { url, handle })
}

/// The sandbox as an axum router serving `/mcp`, for mounting on a listener of the
/// caller's choice; `url` is where it will be reached (ending in `/mcp`). Call
/// [`SandboxHandle::shutdown`] to end its sessions.
pub fn router(jwt_secret: SecretString, url: String, options: SandboxOptions) -> (axum::Router, SandboxHandle) {
    let cancel = CancellationToken::new();
    let session_manager = Arc::new(LocalSessionManager::default());
    let state = Arc::new(State {
        jwt_secret,
        url: url.clone(),
        json_response: options.json_response,
        call_delay: options.call_delay,
        session_manager: session_manager.clone(),
        cancel: cancel.clone(),
        owners: Mutex::new(HashMap::new()),
        sessions_created: AtomicUsize::new(0),
        calls: Mutex::new(HashMap::new()),
        faults: Mutex::new(VecDeque::new()),
        alerts: Mutex::new(HashMap::new()),
        alert_sequence: AtomicU64::new(0),
        executions: AtomicU64::new(0),
        oversize: Mutex::new(Oversize::default()),
        bearers: Mutex::new(VecDeque::new()),
    });
    // rmcp checks the Host header against loopback names (DNS rebinding); a sandbox
    // mounted under another name must be reachable by it too.
    let mut allowed_hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Some(host) = host_of(&url) {
        allowed_hosts.push(host);
    }
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(cancel)
        .with_allowed_hosts(allowed_hosts)
        // Priming events let SSE clients resume; the connector's client never resumes.
        .with_sse_retry(None);
    let service = {
        let state = state.clone();
        StreamableHttpService::new(move || Ok(tools::SandboxServer::new(state.clone())), session_manager, config)
    };
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate::gate));
    (app, SandboxHandle { state })
}

impl Sandbox {
    /// A handle that outlives borrows of the sandbox (e.g. moved into a task).
    pub fn handle(&self) -> SandboxHandle {
        self.handle.clone()
    }

    /// How many times `tool` ran.
    pub fn calls(&self, tool: &str) -> usize {
        self.handle.calls(tool)
    }

    /// How many sessions were initialised.
    pub fn sessions_created(&self) -> usize {
        self.handle.sessions_created()
    }

    /// The next tool call is answered with this HTTP status instead of running.
    pub fn fail_next_with_status(&self, status: u16) {
        self.handle.fail_next_with_status(status);
    }

    /// The next tool call runs after `delay`.
    pub fn delay_next(&self, delay: Duration) {
        self.handle.delay_next(delay);
    }

    /// The next tool call is answered with a truncated JSON body.
    pub fn garble_next(&self) {
        self.handle.garble_next();
    }

    /// Forgets every session, as a restarted dexter-mcp does.
    pub async fn forget_sessions(&self) {
        self.handle.forget_sessions().await;
    }

    /// From now on, answers as oversized as `oversize` says.
    pub fn set_oversize(&self, oversize: Oversize) {
        self.handle.set_oversize(oversize);
    }

    /// The bearer tokens requests presented, accepted or not (the last [`BEARERS_KEPT`],
    /// oldest first): what a caller sent upstream, for tests to check.
    pub fn bearers_received(&self) -> Vec<String> {
        self.handle.bearers_received()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

impl SandboxHandle {
    pub fn url(&self) -> &str {
        &self.state.url
    }

    pub fn calls(&self, tool: &str) -> usize {
        lock(&self.state.calls).get(tool).copied().unwrap_or(0)
    }

    pub fn sessions_created(&self) -> usize {
        self.state.sessions_created.load(Ordering::Relaxed)
    }

    pub fn fail_next_with_status(&self, status: u16) {
        self.state.faults().push_back(Fault::Status(status));
    }

    pub fn delay_next(&self, delay: Duration) {
        self.state.faults().push_back(Fault::Delay(delay));
    }

    pub fn garble_next(&self) {
        self.state.faults().push_back(Fault::Garbage);
    }

    /// Forgets every session: later requests naming one get 404, as from a restarted server.
    pub async fn forget_sessions(&self) {
        let ids: Vec<String> = self.state.owners().drain().map(|(id, _)| id).collect();
        for id in ids {
            // Already gone is as good as closed.
            let _ = self.state.session_manager.close_session(&id.into()).await;
        }
    }

    pub fn set_oversize(&self, oversize: Oversize) {
        *lock(&self.state.oversize) = oversize;
    }

    pub fn bearers_received(&self) -> Vec<String> {
        lock(&self.state.bearers).iter().cloned().collect()
    }

    /// Stops serving: ends every session and, for [`spawn`]ed sandboxes, the listener.
    pub fn shutdown(&self) {
        self.state.cancel.cancel();
    }
}

impl State {
    fn owners(&self) -> MutexGuard<'_, HashMap<String, String>> {
        lock(&self.owners)
    }

    fn faults(&self) -> MutexGuard<'_, VecDeque<Fault>> {
        lock(&self.faults)
    }

    fn alerts(&self) -> MutexGuard<'_, HashMap<String, Vec<Value>>> {
        lock(&self.alerts)
    }

    fn oversize(&self) -> Oversize {
        *lock(&self.oversize)
    }

    fn note_bearer(&self, token: &str) {
        let mut bearers = lock(&self.bearers);
        if bearers.len() == BEARERS_KEPT {
            bearers.pop_front();
        }
        bearers.push_back(token.to_owned());
    }

    fn count_call(&self, tool: &str) {
        *lock(&self.calls).entry(tool.to_owned()).or_default() += 1;
    }
}

/// A poisoned lock only means a test panicked elsewhere; the maps stay consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The host of an `http(s)://host[:port]/…` URL.
fn host_of(url: &str) -> Option<String> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}
