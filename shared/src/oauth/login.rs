//! `/oauth/chatgpt/login`: email and Cloudflare Turnstile.
//!
//! The Turnstile token is single use, so it is verified exactly once: by the connector
//! (siteverify, which must say the challenge was solved on our host for the `login`
//! action, and hears the visitor's address) or, when Supabase Auth's own captcha
//! protection is on, by Supabase, which receives it as
//! `gotrue_meta_security.captcha_token`. Then the identity provider emails a one-time code
//! and a magic link; the next page asks for the code, and both finish at
//! `/oauth/chatgpt/callback`.
//!
//! Sending costs Dexter's email quota, so it has budgets ([`crate::limits`]): per
//! authorization request, per client address and per email address, spent in the store
//! only once the human check passed (nobody can use up someone else's address's budget
//! without solving a challenge each time). The address is attached to the request only
//! after the email was sent: a request names the address its code is checked against,
//! and nothing else can put one there. Every request to this route also spends the
//! client address's [`throttle::LOGIN`] budget.
//!
//! When siteverify or Supabase Auth is down (unreachable, 5xx, too slow) the email page
//! comes back with `503` and `Retry-After` ([`flow::provider_unavailable`]): the request
//! is kept and the budgets this attempt spent are refunded, so retrying costs nothing.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::flow::{self, Flow, FlowError};
use super::pages::{self, escape, flow_fields};
use super::paths;
use super::throttle::{self, too_many_page, wait_text};
use crate::http::RequestId;
use crate::http::extract::ClientIp;
use crate::identity::IdentityError;
use crate::limits::{self, Verdict};
use crate::state::AppState;
use crate::turnstile::{Expected, LOGIN_ACTION, TurnstileError};

pub fn router(state: AppState) -> Router {
    let routes = Router::new().route(paths::LOGIN, get(show).post(submit)).with_state(state.clone());
    throttle::limit_per_client_ip(routes, &state, throttle::LOGIN)
}

#[derive(Deserialize)]
pub struct StepQuery {
    pub request: String,
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StepQuery>,
) -> Result<Response, FlowError> {
    let flow = flow::load(&state, &headers, &query.request, None).await?;
    if flow.request.user_id.is_some() {
        return Ok(Redirect::to(&flow::step_url(paths::CONSENT, flow.request.id)).into_response());
    }
    Ok(email_page(&state, &flow, StatusCode::OK, None))
}

#[derive(Deserialize)]
pub struct LoginForm {
    request: String,
    csrf: String,
    email: String,
    #[serde(rename = "cf-turnstile-response", default)]
    turnstile: String,
}

#[tracing::instrument(skip_all)]
async fn submit(
    State(state): State<AppState>,
    client_ip: ClientIp,
    headers: HeaderMap,
    request_id: Option<Extension<RequestId>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, FlowError> {
    let request_id = request_id.map(|Extension(RequestId(id))| id).unwrap_or_default();
    let flow = flow::load(&state, &headers, &form.request, Some(&form.csrf)).await?;
    let email = form.email.trim().to_ascii_lowercase();
    if !looks_like_email(&email) {
        return Ok(email_page(&state, &flow, StatusCode::BAD_REQUEST, Some("Enter a valid email address.")));
    }
    // With Cloudflare's always-pass test keys (local runs only; a deployment refuses
    // them) a browser that could not load the widget offline may still sign in.
    let turnstile_token = if form.turnstile.is_empty() && state.turnstile.uses_test_keys() {
        "XXXX.DUMMY.TOKEN.XXXX".to_owned()
    } else {
        form.turnstile.clone()
    };
    if turnstile_token.is_empty() {
        return Ok(email_page(&state, &flow, StatusCode::BAD_REQUEST, Some("Complete the human check first.")));
    }

    let captcha_for_provider = if state.identity.verifies_captcha() {
        Some(turnstile_token.as_str())
    } else {
        let expected = Expected { hostname: &public_host(&state), action: LOGIN_ACTION };
        match state.turnstile.verify(&turnstile_token, client_ip.address().as_deref(), expected).await {
            Ok(()) => {}
            // Nothing was spent yet: the same step can simply be submitted again.
            Err(TurnstileError::Unavailable(cause)) => {
                tracing::warn!(error.cause_chain = ?cause, "siteverify is unavailable");
                return Ok(unavailable(&state, &flow, &request_id));
            }
            Err(e) => {
                tracing::info!(error = %e, "turnstile verification failed");
                return Ok(email_page(
                    &state,
                    &flow,
                    StatusCode::BAD_REQUEST,
                    Some("The human check failed. Try again."),
                ));
            }
        }
        None
    };

    let now = Utc::now();
    if let Some(refusal) = spend_send_budgets(&state, &flow, &email, &client_ip, now).await? {
        return Ok(refusal);
    }
    let magic_link = format!("{}{}", state.config.public_base_url, flow::step_url(paths::CALLBACK, flow.request.id));
    match state.identity.send_login_email(&email, captcha_for_provider, &magic_link).await {
        Ok(()) => {
            // Only now, with the email sent, does the request name the address.
            state.store.record_login_attempt(flow.request.id, &email).await?.ok_or_else(flow::expired)?;
            Ok(code_page(&flow, &email, StatusCode::OK, None))
        }
        Err(IdentityError::CaptchaRejected) => {
            Ok(email_page(&state, &flow, StatusCode::BAD_REQUEST, Some("The human check failed. Try again.")))
        }
        Err(IdentityError::InvalidEmail) => {
            Ok(email_page(&state, &flow, StatusCode::BAD_REQUEST, Some("Enter a valid email address.")))
        }
        Err(IdentityError::RateLimited) => Ok(pages::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many emails",
            "We sent too many sign-in emails to this address. Wait a minute and try again.",
        )),
        Err(IdentityError::Unavailable(cause)) => {
            tracing::warn!(error.cause_chain = ?cause, "Supabase Auth is unavailable; the email budgets are refunded");
            refund_send_budgets(&state, &flow, &email, &client_ip, now).await?;
            Ok(unavailable(&state, &flow, &request_id))
        }
        Err(e) => Err(FlowError::from(anyhow::Error::new(e))),
    }
}

/// The email page again, with `503` and `Retry-After`: siteverify or Supabase Auth is down.
fn unavailable(state: &AppState, flow: &Flow, request_id: &str) -> Response {
    let text = flow::provider_unavailable_text(request_id);
    flow::provider_unavailable(email_page(state, flow, StatusCode::SERVICE_UNAVAILABLE, Some(&text)))
}

/// Gives back what [`spend_send_budgets`] spent at `now`: no email was sent.
async fn refund_send_budgets(
    state: &AppState,
    flow: &Flow,
    email: &str,
    client_ip: &ClientIp,
    now: chrono::DateTime<Utc>,
) -> Result<(), FlowError> {
    let store = state.store.as_ref();
    let request = &flow.request;
    limits::refund_in(store, &limits::EMAILS_PER_REQUEST, &request.id.to_string(), request.created_at).await?;
    limits::refund(store, &limits::EMAILS_PER_IP, &client_ip.limit_key(), now).await?;
    limits::refund(store, &limits::EMAILS_PER_ADDRESS, email, now).await?;
    Ok(())
}

/// Spends one sign-in email from this request's, this client address's and this email
/// address's budgets; the page to show instead of sending when one is used up.
async fn spend_send_budgets(
    state: &AppState,
    flow: &Flow,
    email: &str,
    client_ip: &ClientIp,
    now: chrono::DateTime<Utc>,
) -> Result<Option<Response>, FlowError> {
    let store = state.store.as_ref();
    let request = &flow.request;
    let per_request =
        limits::spend_in(store, &limits::EMAILS_PER_REQUEST, &request.id.to_string(), request.created_at, now).await?;
    if let Verdict::Exceeded { retry_after } = per_request {
        return Ok(Some(too_many_page(
            "Too many attempts",
            "Too many sign-in emails were requested for this link. Start again from ChatGPT.",
            retry_after,
        )));
    }
    if let Verdict::Exceeded { retry_after } =
        limits::spend(store, &limits::EMAILS_PER_IP, &client_ip.limit_key(), now).await?
    {
        return Ok(Some(too_many_page(
            "Too many emails",
            &format!(
                "Too many sign-in emails were requested from your network. Wait {} and try again.",
                wait_text(retry_after.num_seconds())
            ),
            retry_after,
        )));
    }
    if let Verdict::Exceeded { retry_after } = limits::spend(store, &limits::EMAILS_PER_ADDRESS, email, now).await? {
        return Ok(Some(too_many_page(
            "Too many emails",
            &format!(
                "We sent too many sign-in emails to this address. Use the code in the latest one, or wait {} and \
                 try again.",
                wait_text(retry_after.num_seconds())
            ),
            retry_after,
        )));
    }
    Ok(None)
}

/// The host of `PUBLIC_BASE_URL`: where the login page's Turnstile challenge is solved.
fn public_host(state: &AppState) -> String {
    reqwest::Url::parse(&state.config.public_base_url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default()
}

fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && !domain.contains('@')
}

fn email_page(state: &AppState, flow: &Flow, status: StatusCode, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "<h1>Sign in to link Dexter with ChatGPT</h1>\
         <p class=\"muted\">We'll email you a one-time code.</p>{error}\
         <form method=\"post\" action=\"{action}\">{fields}\
         <label for=\"email\">Email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required autofocus>\
         <div class=\"cf-turnstile\" data-sitekey=\"{site_key}\" data-action=\"{turnstile_action}\" \
         style=\"margin-top:1rem\"></div>\
         <div class=\"actions\"><button type=\"submit\">Email me a code</button></div></form>",
        action = paths::LOGIN,
        fields = flow_fields(&flow.request.id.to_string(), &flow.secret),
        site_key = escape(&state.config.turnstile.site_key),
        turnstile_action = LOGIN_ACTION,
    );
    pages::page(status, "Sign in", &body, true)
}

/// The page that asks for the emailed code. Public to the callback, which shows it again
/// after a wrong code.
pub fn code_page(flow: &Flow, email: &str, status: StatusCode, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "<h1>Check your email</h1>\
         <p>We sent a one-time code to <strong>{email}</strong>. Enter it below, or open the link in the \
         email in this browser.</p>{error}\
         <form method=\"post\" action=\"{action}\">{fields}\
         <label for=\"code\">One-time code</label>\
         <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
         pattern=\"[0-9]{{6,10}}\" maxlength=\"10\" required autofocus>\
         <div class=\"actions\"><button type=\"submit\">Continue</button></div></form>",
        email = escape(email),
        action = paths::CALLBACK,
        fields = flow_fields(&flow.request.id.to_string(), &flow.secret),
    );
    pages::page(status, "Enter your code", &body, false)
}
