//! A local Lambda Runtime API (the `/2018-06-01/runtime/...` protocol every custom
//! runtime polls), enough to run a real function binary the way Lambda does: the
//! binary starts with `AWS_LAMBDA_RUNTIME_API` pointing here, asks for the next
//! invocation, and posts back its response. It keeps time: when the function first asks
//! for an invocation (its init is over) and when each response arrives, for cold starts.
//!
//! Tests use the panicking conveniences ([`LambdaFunction::start`], [`LambdaFunction::invoke`],
//! [`LambdaFunction::exit`]); the benchmark harness the fallible ones, with the first
//! event queued before the spawn ([`LambdaFunction::start_with`],
//! [`LambdaFunction::first_response`], [`LambdaFunction::try_invoke`]).
//! [`GatewayEvent`] builds the API Gateway HTTP API (payload 2.0) events they are fed.

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
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

/// How long an invocation (or a startup failure's exit) may take.
const TIMEOUT: Duration = Duration::from_secs(20);

type Answer = Result<(Value, Instant), String>;
type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Answer>>>>;

#[derive(Clone)]
struct Runtime {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    pending: Pending,
    first_next: Arc<OnceLock<Instant>>,
}

/// One function binary running against the emulated Runtime API.
pub struct LambdaFunction {
    child: Child,
    /// The process id (0 if it exited at once).
    pub pid: u32,
    /// Just before the process was spawned.
    pub spawned_at: Instant,
    events: mpsc::Sender<(String, Value)>,
    pending: Pending,
    first_next: Arc<OnceLock<Instant>>,
    first: Option<oneshot::Receiver<Answer>>,
    /// The process's stderr, read as it comes (a full pipe would stall the function).
    stderr: tokio::task::JoinHandle<String>,
    /// The process's stdout lines so far (its JSON log), read as they come.
    stdout: Arc<std::sync::Mutex<Vec<String>>>,
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

impl LambdaFunction {
    /// Starts `binary` with the given environment (plus the variables Lambda sets);
    /// panics when it cannot be spawned.
    pub async fn start(binary: &std::path::Path, env: &[(String, String)]) -> LambdaFunction {
        LambdaFunction::spawn(binary, env, None).await.unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Starts a Runtime API, queues `first_event`, then spawns `binary`: the clock starts
    /// at the spawn, and the first invocation waits for nothing but the function. Its
    /// answer is [`LambdaFunction::first_response`].
    pub async fn start_with(
        binary: &std::path::Path,
        env: &[(String, String)],
        first_event: Value,
    ) -> anyhow::Result<LambdaFunction> {
        LambdaFunction::spawn(binary, env, Some(first_event)).await
    }

    async fn spawn(
        binary: &std::path::Path,
        env: &[(String, String)],
        first_event: Option<Value>,
    ) -> anyhow::Result<LambdaFunction> {
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the Runtime API")?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut sequence = 1;
        let first = match first_event {
            Some(event) => Some(enqueue(&events, &pending, &mut sequence, event).await?),
            None => None,
        };

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
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().unwrap_or(0);
        let stderr = child.stderr.take();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            if let Some(mut stderr) = stderr {
                let _ = stderr.read_to_string(&mut text).await;
            }
            text
        });
        let stdout_lines: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        if let Some(stdout) = child.stdout.take() {
            let sink = stdout_lines.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        Ok(LambdaFunction {
            child,
            pid,
            spawned_at,
            events,
            pending,
            first_next,
            first,
            stderr,
            stdout: stdout_lines,
            server,
            sequence,
        })
    }

    /// Waits for the response to the event given to [`LambdaFunction::start_with`];
    /// returns it with the cold-start times.
    pub async fn first_response(&mut self) -> anyhow::Result<(Value, ColdStart)> {
        let rx = self.first.take().ok_or_else(|| anyhow!("no first event, or its response was already taken"))?;
        let (value, at) = self.wait(rx).await?;
        let init = self.first_next.get().copied().unwrap_or(at);
        Ok((value, ColdStart { init: init - self.spawned_at, first_response: at - self.spawned_at }))
    }

    /// Delivers one event and waits for the function's response document; panics on an
    /// invocation error or after 20 s.
    pub async fn invoke(&mut self, event: Value) -> Value {
        self.try_invoke(event).await.unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Delivers one event and waits for the function's response document.
    pub async fn try_invoke(&mut self, event: Value) -> anyhow::Result<Value> {
        let rx = enqueue(&self.events, &self.pending, &mut self.sequence, event).await?;
        Ok(self.wait(rx).await?.0)
    }

    async fn wait(&mut self, rx: oneshot::Receiver<Answer>) -> anyhow::Result<(Value, Instant)> {
        match tokio::time::timeout(TIMEOUT, rx).await {
            Ok(Ok(Ok(answer))) => Ok(answer),
            Ok(Ok(Err(error))) => Err(anyhow!("the function reported an invocation error: {error}")),
            Ok(Err(_)) => Err(anyhow!("the runtime dropped the invocation")),
            Err(_) => Err(anyhow!("no response within 20 s (process status: {:?})", self.child.try_wait())),
        }
    }

    /// The function's stdout lines so far that are JSON (its log lines), parsed.
    pub fn log_lines(&self) -> Vec<Value> {
        let lines = self.stdout.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits for the process to exit (it should, on a startup error) and returns its
    /// exit code and stderr; panics when it is still running after 20 s.
    pub async fn exit(mut self) -> (Option<i32>, String) {
        let status = tokio::time::timeout(TIMEOUT, self.child.wait()).await.expect("the function exits").expect("wait");
        let stderr = (&mut self.stderr).await.unwrap_or_default();
        (status.code(), stderr)
    }
}

impl Drop for LambdaFunction {
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
    let id = format!("invocation-{:08}", *sequence);
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
        "arn:aws:lambda:us-east-1:123456789012:function:test".parse().expect("header"),
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

/// An API Gateway HTTP API (payload 2.0) event, as API Gateway sends one to a function:
/// `GatewayEvent::new("GET", "/connector/chatgpt/resolve_token").query("query=SOL").build()`.
#[derive(Clone, Debug)]
pub struct GatewayEvent {
    method: String,
    path: String,
    route: Option<String>,
    query: String,
    headers: serde_json::Map<String, Value>,
    body: Option<String>,
    request_id: String,
    source_ip: String,
}

impl GatewayEvent {
    /// `method path`, routed by the same pattern, with the headers API Gateway adds.
    pub fn new(method: &str, path: &str) -> GatewayEvent {
        let mut headers = serde_json::Map::new();
        for (name, value) in [
            ("accept", "application/json"),
            ("host", "api.dexter.cash"),
            ("user-agent", "connector-testkit"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-port", "443"),
            ("x-forwarded-proto", "https"),
        ] {
            headers.insert(name.to_owned(), Value::String(value.to_owned()));
        }
        GatewayEvent {
            method: method.to_owned(),
            path: path.to_owned(),
            route: None,
            query: String::new(),
            headers,
            body: None,
            request_id: "JKJaXmPLvHcESHA=".to_owned(),
            source_ip: "203.0.113.7".to_owned(),
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> GatewayEvent {
        GatewayEvent::new("GET", path)
    }

    /// The route pattern that matched (`/oauth/clients/{id}`); the path by default.
    pub fn route(mut self, route: &str) -> GatewayEvent {
        self.route = Some(route.to_owned());
        self
    }

    /// The raw query string (`query=SOL&limit=5`), without the `?`.
    pub fn query(mut self, query: &str) -> GatewayEvent {
        self.query = query.to_owned();
        self
    }

    /// One more header (lower-case name), or another value for one already there.
    pub fn header(mut self, name: &str, value: &str) -> GatewayEvent {
        self.headers.insert(name.to_owned(), Value::String(value.to_owned()));
        self
    }

    /// A JSON body, with its content type.
    pub fn json_body(self, body: &Value) -> GatewayEvent {
        let mut event = self.header("content-type", "application/json");
        event.body = Some(body.to_string());
        event
    }

    /// A form-urlencoded body, with its content type.
    pub fn form_body(self, pairs: &[(&str, &str)]) -> GatewayEvent {
        let mut url = reqwest::Url::parse("http://form.invalid/").expect("a URL");
        url.query_pairs_mut().extend_pairs(pairs);
        let mut event = self.header("content-type", "application/x-www-form-urlencoded");
        event.body = Some(url.query().unwrap_or_default().to_owned());
        event
    }

    /// The caller's address as API Gateway saw the connection
    /// (`requestContext.http.sourceIp`; `x-forwarded-for` follows it, as API Gateway
    /// appends the address it saw).
    pub fn source_ip(mut self, ip: &str) -> GatewayEvent {
        self.source_ip = ip.to_owned();
        self.header("x-forwarded-for", ip)
    }

    /// API Gateway's request id (`requestContext.requestId`).
    pub fn request_id(mut self, request_id: &str) -> GatewayEvent {
        self.request_id = request_id.to_owned();
        self
    }

    /// The event document.
    pub fn build(&self) -> Value {
        let route_key = format!("{} {}", self.method, self.route.as_deref().unwrap_or(&self.path));
        let user_agent = self.headers.get("user-agent").cloned().unwrap_or(Value::Null);
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": self.headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "r3pmxmplak",
                "domainName": "api.dexter.cash",
                "domainPrefix": "api",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": user_agent
                },
                "requestId": self.request_id,
                "routeKey": route_key,
                "stage": "$default",
                "time": "29/Nov/2026:12:00:00 +0000",
                "timeEpoch": 1795953600000u64
            },
            "isBase64Encoded": false
        });
        if !self.query.is_empty() {
            let mut params = serde_json::Map::new();
            for pair in self.query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                params.insert(k.to_owned(), Value::String(v.to_owned()));
            }
            event["queryStringParameters"] = Value::Object(params);
        }
        if let Some(body) = &self.body {
            event["body"] = Value::String(body.clone());
        }
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_event_is_the_fixture_api_gateway_sends() {
        let built = GatewayEvent::new("POST", "/healthz")
            .header("user-agent", "curl/8.5.0")
            .json_body(&json!({}))
            .request_id("Np2aYy7ToAMEc3A=")
            .build();
        assert_eq!(built, crate::fixture("apigw-v2/post-healthz.json"));
    }

    #[test]
    fn a_gateway_event_carries_its_route_pattern_and_query() {
        let event = GatewayEvent::get("/oauth/clients/abc").route("/oauth/clients/{id}").query("a=1&b").build();
        assert_eq!(event["routeKey"], "GET /oauth/clients/{id}");
        assert_eq!(event["requestContext"]["routeKey"], "GET /oauth/clients/{id}");
        assert_eq!(event["rawPath"], "/oauth/clients/abc");
        assert_eq!(event["queryStringParameters"], json!({ "a": "1", "b": "" }));
        assert!(event.get("body").is_none());
    }
}
