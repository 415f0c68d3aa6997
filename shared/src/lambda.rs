//! Running one function as an AWS Lambda function: its routes behind API Gateway, or a
//! scheduled job once per EventBridge invocation.

use crate::config::{Config, Mode};
use crate::routes::Function;
use crate::state::AppState;
use crate::{http, telemetry};

pub use lambda_http::Error;

/// A function crate's whole `main`: `shared::lambda::run(const { shared::routes::function(env!("CARGO_PKG_NAME")) })`.
pub fn run(function: Function) -> Result<(), Error> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(function))
}

/// Logs, configuration and state once per cold start, then the function's routes under
/// `lambda_http` (a scheduled job: the job once per invocation, whatever the event)
/// until the execution environment ends. A configuration error ends
/// startup with one line naming the setting.
pub async fn serve(function: Function) -> Result<(), Error> {
    telemetry::init();
    let state = match Config::load(Mode::Lambda).await {
        Ok(config) => AppState::from_config(config).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let state = match state {
        Ok(state) => state,
        Err(message) => {
            eprintln!("startup failed: {message}");
            std::process::exit(1);
        }
    };
    let store = state.store.clone();
    tokio::spawn(async move { store.warm().await });
    if let Function::Scheduled { job, .. } = function {
        let handler = lambda_http::service_fn(move |event: lambda_http::LambdaEvent<serde_json::Value>| {
            let state = state.clone();
            async move {
                if !is_scheduled_event(&event.payload) {
                    return Err(Error::from(
                        "this function runs on its EventBridge schedule only; the event is not a Scheduled Event",
                    ));
                }
                job(state).await.map_err(|e| Error::from(format!("{e:#}")))
            }
        });
        return lambda_http::lambda_runtime::run(handler).await;
    }
    let routes = function.router(state.clone());
    lambda_http::run(http::finish(routes, &state.config)).await
}

/// Whether `event` is what an EventBridge schedule sends (`source` `aws.events`,
/// `detail-type` `Scheduled Event`): a scheduled function does its job for nothing else,
/// and an invocation with anything else (an API Gateway request, a test event) fails.
pub fn is_scheduled_event(event: &serde_json::Value) -> bool {
    event["source"] == "aws.events" && event["detail-type"] == "Scheduled Event"
}
