//! Router fragments, one per route group, and the layers every host wraps them in.
//!
//! A fragment is an `axum::Router` with its state applied. A Lambda function serves one
//! fragment; `connector serve` merges them all. Either way [`finish`] adds the same
//! behaviour around it: request ids, the per-request log line, JSON errors for unknown
//! routes and methods, the body size limit, and panic recovery.

pub mod discovery;
pub mod extract;
pub mod health;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The largest request body any route accepts.
pub const MAX_BODY_BYTES: usize = 100 * 1024;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A route group's router, given the state built once per cold start.
pub type Fragment = fn(AppState) -> Router;

/// One Lambda function: its name (= crate in `functions/`, binary, SAM `Binary`), the
/// routes API Gateway sends it (method, path in API Gateway's `{param}` syntax, which
/// axum shares), and the fragment that serves them.
pub struct Function {
    pub name: &'static str,
    pub routes: &'static [(&'static str, &'static str)],
    pub fragment: Fragment,
}

/// Every Lambda function of the connector. `template.yaml`, `functions/` and the
/// OpenAPI document are checked against this list.
pub const FUNCTIONS: &[Function] = &[
    Function { name: "healthz", routes: &[("GET", "/healthz")], fragment: health::router },
    Function {
        name: "discovery",
        routes: &[
            ("GET", "/.well-known/jwks.json"),
            ("GET", "/.well-known/oauth-authorization-server"),
            ("GET", "/connector/chatgpt/openapi.json"),
        ],
        fragment: discovery::router,
    },
    Function {
        name: "oauth-authorize",
        routes: &[("GET", "/oauth/chatgpt/authorize")],
        fragment: crate::oauth::authorize::router,
    },
    Function {
        name: "oauth-login",
        routes: &[("GET", "/oauth/chatgpt/login"), ("POST", "/oauth/chatgpt/login")],
        fragment: crate::oauth::login::router,
    },
    Function {
        name: "oauth-callback",
        routes: &[("GET", "/oauth/chatgpt/callback"), ("POST", "/oauth/chatgpt/callback")],
        fragment: crate::oauth::callback::router,
    },
    Function {
        name: "oauth-consent",
        routes: &[("GET", "/oauth/chatgpt/consent"), ("POST", "/oauth/chatgpt/consent")],
        fragment: crate::oauth::consent::router,
    },
    Function {
        name: "oauth-token",
        routes: &[("POST", "/oauth/chatgpt/token")],
        fragment: crate::oauth::token::router,
    },
    Function {
        name: "oauth-revoke",
        routes: &[("POST", "/oauth/chatgpt/revoke")],
        fragment: crate::oauth::revoke::router,
    },
    Function {
        name: "operator",
        routes: &[
            ("POST", "/oauth/clients"),
            ("GET", "/oauth/clients"),
            ("GET", "/oauth/clients/{id}"),
            ("DELETE", "/oauth/clients/{id}"),
            ("POST", "/oauth/clients/{id}/rotate-secret"),
        ],
        fragment: crate::operator::router,
    },
    Function {
        name: "dexter-api",
        routes: &[
            ("GET", "/dexter/linked-accounts"),
            ("DELETE", "/dexter/linked-accounts/{grant_id}"),
            ("GET", "/dexter/approvals"),
            ("POST", "/dexter/approvals/{id}/approve"),
            ("POST", "/dexter/approvals/{id}/reject"),
            ("GET", "/dexter/receipts"),
            ("GET", "/dexter/notifications"),
            ("GET", "/dexter/voice-handoffs/{id}"),
        ],
        fragment: crate::dexter::router,
    },
    Function {
        name: "get-portfolio",
        routes: &[("GET", "/connector/chatgpt/get_portfolio")],
        fragment: crate::actions::portfolio::router,
    },
    Function {
        name: "resolve-token",
        routes: &[("GET", "/connector/chatgpt/resolve_token")],
        fragment: crate::actions::token::router,
    },
    Function {
        name: "swap-preview",
        routes: &[("POST", "/connector/chatgpt/swap_preview")],
        fragment: crate::actions::swap::preview_router,
    },
    Function {
        name: "swap-execute",
        routes: &[("POST", "/connector/chatgpt/swap_execute")],
        fragment: crate::actions::swap::execute_router,
    },
    Function {
        name: "get-swap-status",
        routes: &[("GET", "/connector/chatgpt/get_swap_status")],
        fragment: crate::actions::status::swap_status_router,
    },
    Function {
        name: "get-receipt",
        routes: &[("GET", "/connector/chatgpt/get_receipt")],
        fragment: crate::actions::status::receipt_router,
    },
    Function {
        name: "get-alerts",
        routes: &[("GET", "/connector/chatgpt/get_alerts")],
        fragment: crate::actions::alerts::list_router,
    },
    Function {
        name: "create-alert",
        routes: &[("POST", "/connector/chatgpt/create_alert")],
        fragment: crate::actions::alerts::create_router,
    },
    Function {
        name: "search",
        routes: &[("GET", "/connector/chatgpt/search")],
        fragment: crate::actions::search::router,
    },
    Function {
        name: "handoff-voice",
        routes: &[("POST", "/connector/chatgpt/handoff_voice")],
        fragment: crate::actions::voice::router,
    },
    Function {
        name: "get-profile",
        routes: &[("GET", "/connector/chatgpt/get_profile")],
        fragment: crate::actions::profile::router,
    },
];

/// Every route this build serves, for `connector serve` and the tests.
pub fn all_routes(state: AppState) -> Router {
    FUNCTIONS.iter().fold(Router::new(), |routes, function| routes.merge((function.fragment)(state.clone())))
}

/// Wraps a fragment (or the merge of several) in the behaviour every host shares.
pub fn finish(routes: Router) -> Router {
    routes
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::Unexpected(anyhow::anyhow!("the handler panicked")).into_response()
        }))
        .layer(middleware::from_fn(observe))
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

    tracing::info!(
        request_id = %request_id,
        http.method = %method,
        http.route = %route,
        http.status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// The request id, available to handlers as an extension.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);
