//! One CloudWatch metric per action call, in the request's own log line: no extra call,
//! no agent. CloudWatch Logs reads a line that carries a top-level `_aws` object as an
//! Embedded Metric Format document and turns its members into metrics.
//!
//! [`measure`] wraps each action's route: it gives the call an [`UpstreamClock`] (the
//! [`crate::actions::ActionCall`] adds each MCP call's latency to it) and puts an [`ActionMetrics`]
//! on the response. The request log line ([`crate::http::observe`]) then carries
//! `action`, `status_class`, `calls` (1) and `upstream_ms` (only when an upstream call
//! was made), and the `_aws` directive that names them ([`ActionMetrics::directive`]);
//! [`crate::telemetry`] writes that directive as a JSON object. Dimension values are the
//! declared action name and the status class: a handful of values, never anything a
//! caller chose, so the metric count stays bounded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

/// The metric dimensions, in the order CloudWatch lists them.
pub const DIMENSIONS: [&str; 2] = ["action", "status_class"];

/// The sum of one action call's upstream latencies, shared between the route's wrapper
/// and the handler's [`crate::actions::ActionCall`].
#[derive(Clone, Default, Debug)]
pub struct UpstreamClock(Arc<Mutex<Option<Duration>>>);

impl UpstreamClock {
    /// Adds one upstream call's latency.
    pub fn add(&self, latency: Duration) {
        if let Ok(mut total) = self.0.lock() {
            *total = Some(total.unwrap_or_default() + latency);
        }
    }

    /// The sum so far; `None` when no upstream call was made.
    pub fn total(&self) -> Option<Duration> {
        self.0.lock().ok().and_then(|total| *total)
    }
}

/// What the request log line needs to carry one action call's metrics.
#[derive(Clone, Debug)]
pub struct ActionMetrics {
    pub namespace: Arc<str>,
    pub action: &'static str,
    /// The sum of the call's upstream latencies; `None` when it made no upstream call.
    pub upstream: Option<Duration>,
}

impl ActionMetrics {
    /// `2xx`, `4xx`, `5xx` (or `1xx`, `3xx`).
    pub fn status_class(status: StatusCode) -> String {
        format!("{}xx", status.as_u16() / 100)
    }

    /// The upstream latency in milliseconds, when there was one.
    pub fn upstream_ms(&self) -> Option<f64> {
        self.upstream.map(|d| d.as_secs_f64() * 1000.0)
    }

    /// The EMF `_aws` directive for a line written at `timestamp_ms` (Unix epoch ms): the
    /// namespace, the one dimension set, and the metrics the line carries (`upstream_ms`
    /// only when it was measured, since EMF requires every declared metric's member).
    pub fn directive(&self, timestamp_ms: i64) -> Value {
        let mut metrics = vec![json!({"Name": "calls", "Unit": "Count"})];
        if self.upstream.is_some() {
            metrics.push(json!({"Name": "upstream_ms", "Unit": "Milliseconds"}));
        }
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": &*self.namespace,
                "Dimensions": [DIMENSIONS],
                "Metrics": metrics,
            }],
        })
    }
}

/// What [`measure`] knows of the route it wraps.
#[derive(Clone)]
pub struct Measured {
    pub namespace: Arc<str>,
    pub action: &'static str,
}

/// Wraps one action's route: a clock for the handler, the metrics on the response.
pub async fn measure(State(measured): State<Measured>, mut req: Request, next: Next) -> Response {
    let clock = UpstreamClock::default();
    req.extensions_mut().insert(clock.clone());
    let mut response = next.run(req).await;
    response.extensions_mut().insert(ActionMetrics {
        namespace: measured.namespace,
        action: measured.action,
        upstream: clock.total(),
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directive_declares_upstream_ms_only_when_it_was_measured() {
        let metrics = ActionMetrics { namespace: "N/s".into(), action: "search", upstream: None };
        let directive = metrics.directive(1);
        let names: Vec<&str> = directive["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["calls"]);
        let measured = ActionMetrics { upstream: Some(Duration::from_millis(3)), ..metrics };
        assert_eq!(measured.directive(1)["CloudWatchMetrics"][0]["Metrics"][1]["Name"], "upstream_ms");
        assert_eq!(measured.upstream_ms(), Some(3.0));
    }

    #[test]
    fn a_clock_sums_its_calls() {
        let clock = UpstreamClock::default();
        assert_eq!(clock.total(), None);
        clock.add(Duration::from_millis(2));
        clock.clone().add(Duration::from_millis(5));
        assert_eq!(clock.total(), Some(Duration::from_millis(7)));
        assert_eq!(ActionMetrics::status_class(StatusCode::BAD_GATEWAY), "5xx");
    }
}
