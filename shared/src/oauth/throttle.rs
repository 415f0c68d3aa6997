//! Per-client-address budgets on the OAuth endpoints, as a layer on a route's router: the
//! budget is spent in the store before the handler runs, so every Lambda instance counts
//! against the same one (see [`crate::limits`] for the numbers). The address is
//! [`ClientIp`]'s: API Gateway's `sourceIp`, or the socket peer under `connector serve`,
//! never a header the caller wrote.
//!
//! A [`Rule`] says what is counted and how a refusal looks: the person's pages get a page,
//! machine endpoints an RFC 6749 §5.2 JSON error. Either is `429` with `Retry-After` and
//! the request id. The login page, the callback, the token endpoint and dynamic client
//! registration each have one; another endpoint takes one with [`limit_per_client_ip`]
//! and a [`Rule`] of its own.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};

use super::flow::FlowError;
use super::pages;
use crate::error::{ApiError, ErrorBody};
use crate::http::extract::client_ip;
use crate::limits::{self, Budget, Verdict};
use crate::state::AppState;

/// What one endpoint's per-address budget counts, and how it refuses.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub budget: Budget,
    pub counts: Counts,
    pub refusal: Refusal,
}

/// Which requests spend the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// Every request, before it runs.
    Every,
    /// Only requests answered with a 4xx, counted after they ran; a caller who has
    /// used the budget up is refused before the handler runs.
    Refusals,
}

/// How a request over budget is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An HTML page (the person's browser).
    Page,
    /// An RFC 6749 §5.2 JSON error (a client's server).
    OAuthJson,
}

/// `/oauth/chatgpt/authorize`: every request (each valid one stores a request).
pub const AUTHORIZE: Rule = Rule { budget: limits::AUTHORIZE_PER_IP, counts: Counts::Every, refusal: Refusal::Page };
/// `/oauth/chatgpt/login`: every request.
pub const LOGIN: Rule = Rule { budget: limits::LOGIN_PER_IP, counts: Counts::Every, refusal: Refusal::Page };
/// `/oauth/chatgpt/callback` (typed codes and magic links): every request.
pub const CALLBACK: Rule = Rule { budget: limits::CALLBACK_PER_IP, counts: Counts::Every, refusal: Refusal::Page };
/// `/oauth/chatgpt/token`: refused requests only (see [`limits::TOKEN_FAILURES_PER_IP`]).
pub const TOKEN: Rule =
    Rule { budget: limits::TOKEN_FAILURES_PER_IP, counts: Counts::Refusals, refusal: Refusal::OAuthJson };

/// `/oauth/register` (RFC 7591): every request.
pub const REGISTER: Rule =
    Rule { budget: limits::REGISTRATIONS_PER_IP, counts: Counts::Every, refusal: Refusal::OAuthJson };

/// `router` with `rule` applied to every request it serves.
pub fn limit_per_client_ip(router: Router, state: &AppState, rule: Rule) -> Router {
    router.layer(middleware::from_fn_with_state((state.clone(), rule), guard))
}

async fn guard(State((state, rule)): State<(AppState, Rule)>, request: Request, next: Next) -> Response {
    let key = client_ip(request.extensions()).limit_key();
    let now = Utc::now();
    let store = state.store.as_ref();
    let verdict = match rule.counts {
        Counts::Every => limits::spend(store, &rule.budget, &key, now).await,
        Counts::Refusals => limits::exhausted(store, &rule.budget, &key, now).await,
    };
    match verdict {
        Ok(Verdict::Allowed) => {}
        Ok(Verdict::Exceeded { retry_after }) => {
            tracing::warn!(bucket = rule.budget.bucket, "client address over its budget");
            return refuse(rule.refusal, retry_after);
        }
        Err(e) => {
            return match rule.refusal {
                Refusal::Page => FlowError::from(e).into_response(),
                Refusal::OAuthJson => ApiError::from(e).into_response(),
            };
        }
    }
    let response = next.run(request).await;
    if rule.counts == Counts::Refusals && response.status().is_client_error() {
        // The answer stands; a failure to count it is logged, not turned into a 500.
        if let Err(e) = limits::spend(store, &rule.budget, &key, now).await {
            tracing::error!(error.cause_chain = ?e, "counting a refused request failed");
        }
    }
    response
}

/// `429` with `Retry-After` (whole seconds, rounded up).
fn refuse(refusal: Refusal, retry_after: Duration) -> Response {
    let seconds = retry_after_seconds(retry_after);
    match refusal {
        Refusal::Page => too_many_page(
            "Too many attempts",
            &format!(
                "Too many sign-in attempts came from your network. Wait {} and start again from ChatGPT.",
                wait_text(seconds)
            ),
            retry_after,
        ),
        Refusal::OAuthJson => {
            let body = ErrorBody {
                error: "temporarily_unavailable",
                message: format!("too many refused requests from this address; retry after {seconds} seconds"),
                oauth: true,
                receipt_ids: Vec::new(),
            };
            // The request middleware renders the body with the request id.
            let mut response = (StatusCode::TOO_MANY_REQUESTS, body.render("")).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
            response.extensions_mut().insert(body);
            response
        }
    }
}

/// A `429` page with `Retry-After`: a budget of the person's flow is used up.
pub fn too_many_page(title: &str, explanation: &str, retry_after: Duration) -> Response {
    let mut response = pages::error_page(StatusCode::TOO_MANY_REQUESTS, title, explanation);
    if let Ok(value) = HeaderValue::from_str(&retry_after_seconds(retry_after).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Whole seconds, rounded up.
fn retry_after_seconds(retry_after: Duration) -> i64 {
    (retry_after.num_milliseconds().max(0) + 999) / 1000
}

/// "a minute", "12 minutes": how long a person should wait, for a page.
pub fn wait_text(seconds: i64) -> String {
    let minutes = (seconds + 59) / 60;
    if minutes <= 1 { "a minute".to_owned() } else { format!("{minutes} minutes") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_request_code_budget_outlives_the_request() {
        assert!(limits::CODES_PER_REQUEST.window >= super::super::AUTHORIZATION_REQUEST_TTL);
    }

    #[test]
    fn waits_are_said_in_minutes() {
        assert_eq!(wait_text(1), "a minute");
        assert_eq!(wait_text(60), "a minute");
        assert_eq!(wait_text(61), "2 minutes");
        assert_eq!(wait_text(3600), "60 minutes");
    }
}
