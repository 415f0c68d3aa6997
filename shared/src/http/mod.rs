//! The plumbing every host wraps its routes in (the routes themselves are
//! [`crate::routes`]). A Lambda function serves one function's routes; `connector serve`
//! merges them all. Either way [`finish`] adds the same behaviour around them: request
//! ids, the per-request log line (with an action call's metrics), JSON errors for unknown routes and methods, the body
//! size limit, panic recovery, and HSTS when the deployment is https. [`extract`] holds
//! extractors whose rejections are JSON errors.

pub mod extract;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::config::Config;
use crate::error::{ApiError, ErrorBody};
use crate::metrics::ActionMetrics;

/// The largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 100 * 1024;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What an https deployment sends on every response (RFC 6797): browsers use https only
/// for this host and its subdomains for two years, so nobody on the network can strip
/// TLS from a later visit to the login or consent pages.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";

/// Wraps a fragment (or the merge of several) in the behaviour every host shares.
pub fn finish(routes: Router, config: &Config) -> Router {
    let routes = routes
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(observe));
    // Outermost, so every answer has it: pages, JSON, errors, even a panic's.
    if config.public_base_url.starts_with("https://") {
        routes.layer(middleware::map_response(strict_transport_security))
    } else {
        routes
    }
}

/// What a panicking handler answers: a 500 JSON error, the process keeps serving.
pub fn panicked(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Unexpected(anyhow::anyhow!("the handler panicked")).into_response()
}

async fn strict_transport_security(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
    response
}

/// The id that ties a response, its error body and its log lines together: API Gateway's
/// request id when the request came through it, otherwise a fresh UUID.
pub fn request_id_of(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    let from_gateway = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    from_gateway
        .filter(|id| !id.is_empty() && HeaderValue::from_str(id).is_ok())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Assigns the request id, renders error bodies with it, and writes one log line per
/// request. The line names the matched route pattern, never the raw URI: query strings
/// carry authorization codes and states.
pub async fn observe(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request_id_of(&req);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    req.extensions_mut().insert(RequestId(request_id.clone()));

    let oversized = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES);

    let span = tracing::info_span!("request", request_id = %request_id);
    let mut response = if oversized {
        ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }.into_response()
    } else {
        next.run(req).instrument(span.clone()).await
    };
    // Taken before an error body is rendered into a fresh response below.
    let metrics = response.extensions_mut().remove::<ActionMetrics>();

    // axum answers some failures itself (a bare 405, 413 from the body limit): give
    // them the same JSON shape as ours.
    if response.extensions().get::<ErrorBody>().is_none() {
        let implicit = match response.status() {
            StatusCode::METHOD_NOT_ALLOWED => Some(ApiError::MethodNotAllowed),
            StatusCode::PAYLOAD_TOO_LARGE => Some(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }),
            _ => None,
        };
        if let Some(err) = implicit {
            let headers = std::mem::take(response.headers_mut());
            response = err.into_response();
            if let Some(allow) = headers.get(header::ALLOW) {
                response.headers_mut().insert(header::ALLOW, allow.clone());
            }
        }
    }
    if let Some(body) = response.extensions_mut().remove::<ErrorBody>() {
        let status = response.status();
        let mut headers = std::mem::take(response.headers_mut());
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut rendered = (status, body.render(&request_id)).into_response();
        rendered.headers_mut().extend(headers);
        response = rendered;
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }

    let status = response.status();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match metrics {
        // An action call: the same line, plus its metrics as an EMF document (`_aws` is
        // written as a JSON object by `crate::telemetry`).
        Some(metrics) => tracing::info!(
            request_id = %request_id,
            http.method = %method,
            http.route = %route,
            http.status = status.as_u16(),
            latency_ms,
            action = metrics.action,
            status_class = %ActionMetrics::status_class(status),
            calls = 1u64,
            upstream_ms = metrics.upstream_ms(),
            _aws = %metrics.directive(chrono::Utc::now().timestamp_millis()),
            "request"
        ),
        None => tracing::info!(
            request_id = %request_id,
            http.method = %method,
            http.route = %route,
            http.status = status.as_u16(),
            latency_ms,
            "request"
        ),
    }
    response
}

/// The request id, available to handlers as an extension.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);
