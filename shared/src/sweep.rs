//! The scheduled sweep: the `sweep` function's job (an EventBridge schedule in
//! template.yaml invokes it hourly) and what `connector sweep` and `connector serve` run.
//! What it removes and why is [`crate::store::sweep`].

use chrono::Utc;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::state::AppState;
use crate::store::{Store, StoreResult, SweepReport};

/// One sweep of `store` as of now, logged as one line with the counts (never a row's
/// content).
pub async fn run(store: &dyn Store) -> StoreResult<SweepReport> {
    let report = store.sweep(Utc::now()).await?;
    tracing::info!(
        authorization_requests = report.authorization_requests,
        authorization_codes = report.authorization_codes,
        refresh_tokens = report.refresh_tokens,
        voice_handoffs = report.voice_handoffs,
        notifications = report.notifications,
        rate_limit_windows = report.rate_limit_windows,
        stuck_approvals = report.stuck_approvals,
        client_registrations = report.client_registrations,
        client_assertions = report.client_assertions,
        "swept"
    );
    Ok(report)
}

/// The `sweep` function's job ([`crate::routes::SCHEDULED`]): one sweep per invocation,
/// answered with the counts. A failure fails the invocation, which the function's
/// `Errors` alarm reports; the next scheduled run picks up where it stopped.
pub fn scheduled(state: AppState) -> BoxFuture<'static, anyhow::Result<serde_json::Value>> {
    async move {
        let report = run(state.store.as_ref()).await?;
        Ok(serde_json::to_value(report)?)
    }
    .boxed()
}
