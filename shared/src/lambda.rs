//! Running a router fragment as an AWS Lambda function behind API Gateway.

use axum::Router;

use crate::config::{Config, Mode};
use crate::state::AppState;
use crate::{http, telemetry};

/// Everything a function's `main` does: logs, configuration and state once per cold
/// start, then the fragment under `lambda_http` until the execution environment ends.
/// A configuration error ends startup with one line naming the setting.
pub async fn serve(fragment: fn(AppState) -> Router) -> Result<(), lambda_http::Error> {
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
    lambda_http::run(http::finish(fragment(state))).await
}
