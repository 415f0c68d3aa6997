//! A local Lambda Runtime API (the `/2018-06-01/runtime/...` protocol every custom
//! runtime polls), enough to run a real function binary the way Lambda does: the
//! binary starts with `AWS_LAMBDA_RUNTIME_API` pointing here, asks for the next
//! invocation, and posts back its response.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>>;

#[derive(Clone)]
struct Runtime {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    pending: Pending,
}

/// One function binary running against the emulated Runtime API.
pub struct LambdaFunction {
    child: Child,
    events: mpsc::Sender<(String, Value)>,
    pending: Pending,
    server: tokio::task::JoinHandle<()>,
}

impl LambdaFunction {
    /// Starts `binary` with the given environment (plus the variables Lambda sets).
    pub async fn start(binary: &std::path::Path, env: &[(String, String)]) -> LambdaFunction {
        let (events, rx) = mpsc::channel(8);
        let pending: Pending = Arc::default();
        let runtime = Runtime { events: Arc::new(Mutex::new(rx)), pending: pending.clone() };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(runtime);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let name = binary.file_name().and_then(|n| n.to_str()).unwrap_or("function").to_owned();
        let child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the function binary starts");
        LambdaFunction { child, events, pending, server }
    }

    /// Delivers one event and waits for the function's response document.
    pub async fn invoke(&mut self, event: Value) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id.clone(), tx);
        self.events.send((id, event)).await.expect("runtime is up");
        match tokio::time::timeout(Duration::from_secs(20), rx).await {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(error))) => panic!("the function reported an invocation error: {error}"),
            Ok(Err(_)) => panic!("the runtime dropped the invocation"),
            Err(_) => {
                let status = self.child.try_wait();
                panic!("no response within 20 s (process status: {status:?})")
            }
        }
    }

    /// Waits for the process to exit (it should, on a startup error) and returns its
    /// exit code and stderr.
    pub async fn exit(mut self) -> (Option<i32>, String) {
        let stderr = self.child.stderr.take();
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the function exits")
            .expect("wait");
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            use tokio::io::AsyncReadExt;
            let _ = stderr.read_to_string(&mut text).await;
        }
        (status.code(), text)
    }
}

impl Drop for LambdaFunction {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}

async fn next(State(runtime): State<Runtime>) -> impl IntoResponse {
    let Some((id, event)) = runtime.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), String::new());
    };
    let deadline = chrono_like_now_ms() + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", id.parse().expect("header"));
    headers.insert("lambda-runtime-deadline-ms", deadline.to_string().parse().expect("header"));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:test".parse().expect("header"),
    );
    headers.insert("lambda-runtime-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793".parse().expect("header"));
    (StatusCode::OK, headers, event.to_string())
}

async fn respond(State(runtime): State<Runtime>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(tx) = runtime.pending.lock().await.remove(&id) {
        let _ = tx.send(Ok(value));
    }
    StatusCode::ACCEPTED
}

async fn fail(State(runtime): State<Runtime>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    if let Some(tx) = runtime.pending.lock().await.remove(&id) {
        let _ = tx.send(Err(String::from_utf8_lossy(&body).into_owned()));
    }
    StatusCode::ACCEPTED
}

async fn init_error() -> StatusCode {
    StatusCode::ACCEPTED
}

fn chrono_like_now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}
