//! A minimal Lambda Runtime API (`/2018-06-01/runtime/…`, the protocol every custom
//! runtime polls), after `tests/support/lambda.rs`, with timestamps: when the function
//! first asks for an invocation (its init is over) and when each response arrives.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

type Answer = Result<(Value, Instant), String>;
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>;

#[derive(Clone)]
struct Runtime {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    pending: Pending,
    first_next: Arc<OnceLock<Instant>>,
}

/// One function binary running against the emulated Runtime API.
pub struct Function {
    pub child: Child,
    pub pid: u32,
    /// Just before the process was spawned.
    pub spawned_at: Instant,
    events: mpsc::Sender<(String, Value)>,
    pending: Pending,
    first_next: Arc<OnceLock<Instant>>,
    first: Option<oneshot::Receiver<Answer>>,
    server: tokio::task::JoinHandle<()>,
    sequence: u64,
}

/// What a cold start took, from the spawn.
#[derive(Clone, Copy, Debug)]
pub struct ColdStart {
    /// Until the function first asked for an invocation: Lambda's Init phase.
    pub init: Duration,
    /// Until the first invocation's response was posted.
    pub first_response: Duration,
}

impl Function {
    /// Starts a Runtime API, queues `first_event`, then spawns `binary`: the clock starts
    /// at the spawn, and the first invocation waits for nothing but the function.
    pub async fn start(
        binary: &std::path::Path,
        env: &[(String, String)],
        first_event: Value,
    ) -> anyhow::Result<Function> {
        let (events, rx) = mpsc::channel(8);
        let pending: Pending = Arc::default();
        let first_next: Arc<OnceLock<Instant>> = Arc::default();
        let runtime =
            Runtime { events: Arc::new(Mutex::new(rx)), pending: pending.clone(), first_next: first_next.clone() };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(runtime);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut sequence = 1;
        let first = enqueue(&events, &pending, &mut sequence, first_event).await?;

        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function").to_owned();
        let mut command = Command::new(binary);
        command
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().unwrap_or(0);
        Ok(Function { child, pid, spawned_at, events, pending, first_next, first: Some(first), server, sequence })
    }

    /// Waits for the response to the first event; returns it with the cold-start times.
    pub async fn first_response(&mut self) -> anyhow::Result<(Value, ColdStart)> {
        let rx = self.first.take().ok_or_else(|| anyhow!("the first response was already taken"))?;
        let (value, at) = self.wait(rx).await?;
        let init = self.first_next.get().copied().unwrap_or(at);
        Ok((value, ColdStart { init: init - self.spawned_at, first_response: at - self.spawned_at }))
    }

    /// Delivers one more event and waits for its response document.
    pub async fn invoke(&mut self, event: Value) -> anyhow::Result<Value> {
        let rx = enqueue(&self.events, &self.pending, &mut self.sequence, event).await?;
        Ok(self.wait(rx).await?.0)
    }

    async fn wait(&mut self, rx: oneshot::Receiver<Answer>) -> anyhow::Result<(Value, Instant)> {
        match tokio::time::timeout(Duration::from_secs(20), rx).await {
            Ok(Ok(Ok(answer))) => Ok(answer),
            Ok(Ok(Err(error))) => Err(anyhow!("the function reported an invocation error: {error}")),
            Ok(Err(_)) => Err(anyhow!("the runtime dropped the invocation")),
            Err(_) => Err(anyhow!("no response within 20 s (process status: {:?})", self.child.try_wait())),
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}

async fn enqueue(
    events: &mpsc::Sender<(String, Value)>,
    pending: &Pending,
    sequence: &mut u64,
    event: Value,
) -> anyhow::Result<oneshot::Receiver<Answer>> {
    let id = format!("bench-{:08}", *sequence);
    *sequence += 1;
    let (tx, rx) = oneshot::channel();
    pending.lock().await.insert(id.clone(), tx);
    events.send((id, event)).await.context("the runtime API is gone")?;
    Ok(rx)
}

async fn next(State(runtime): State<Runtime>) -> impl IntoResponse {
    let _ = runtime.first_next.set(Instant::now());
    let Some((id, event)) = runtime.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
    headers.insert("lambda-runtime-deadline-ms", (now_ms + 30_000).to_string().parse().expect("header"));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".parse().expect("header"),
    );
    headers.insert("lambda-runtime-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793".parse().expect("header"));
    (StatusCode::OK, headers, event.to_string())
}

async fn respond(State(runtime): State<Runtime>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(tx) = runtime.pending.lock().await.remove(&id) {
        let _ = tx.send(Ok((value, at)));
    }
    StatusCode::ACCEPTED
}

async fn fail(State(runtime): State<Runtime>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    if let Some(tx) = runtime.pending.lock().await.remove(&id) {
        let _ = tx.send(Err(String::from_utf8_lossy(&body).into_owned()));
    }
    StatusCode::ACCEPTED
}

async fn init_error(body: Bytes) -> StatusCode {
    eprintln!("function init error: {}", String::from_utf8_lossy(&body));
    StatusCode::ACCEPTED
}

/// An API Gateway HTTP API (v2) event for `GET path?query` with `headers`.
pub fn apigw_get(path: &str, query: &str, headers: &[(&str, &str)], request_id: &str) -> Value {
    let mut header_map = serde_json::Map::new();
    for (name, value) in [
        ("accept", "application/json"),
        ("host", "api.dexter.cash"),
        ("user-agent", "connector-bench"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-proto", "https"),
    ]
    .into_iter()
    .chain(headers.iter().copied())
    {
        header_map.insert(name.to_owned(), Value::String(value.to_owned()));
    }
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("GET {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "queryStringParameters": params,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": "api.dexter.cash",
            "domainPrefix": "api",
            "http": { "method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "connector-bench" },
            "requestId": request_id,
            "routeKey": format!("GET {path}"),
            "stage": "$default",
            "time": "29/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795953600000u64
        },
        "isBase64Encoded": false
    })
}
