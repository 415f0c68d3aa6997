//! `/oauth/chatgpt/login`: email and Cloudflare Turnstile.
//!
//! The Turnstile token is single use, so it is verified exactly once: by the connector
//! (siteverify) or, when Supabase Auth's own captcha protection is on, by Supabase,
//! which receives it as `gotrue_meta_security.captcha_token`. Then the identity provider
//! emails a one-time code and a magic link; the next page asks for the code, and both
//! finish at `/oauth/chatgpt/callback`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use super::flow::{self, Flow, FlowError};
use super::pages::{self, escape, flow_fields};
use super::{MAX_LOGIN_ATTEMPTS, paths};
use crate::identity::IdentityError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().route(paths::LOGIN, get(show).post(submit)).with_state(state)
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
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, FlowError> {
    let flow = flow::load(&state, &headers, &form.request, Some(&form.csrf)).await?;
    let email = form.email.trim().to_ascii_lowercase();
    if !looks_like_email(&email) {
        return Ok(email_page(&state, &flow, StatusCode::BAD_REQUEST, Some("Enter a valid email address.")));
    }
    let attempts = state.store.record_login_attempt(flow.request.id, &email).await?.ok_or_else(flow::expired)?;
    if attempts > MAX_LOGIN_ATTEMPTS {
        return Ok(pages::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many sign-in emails were requested for this link. Start again from ChatGPT in a few minutes.",
        ));
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
        if let Err(e) = state.turnstile.verify(&turnstile_token, None).await {
            tracing::info!(error = %e, "turnstile verification failed");
            return Ok(email_page(&state, &flow, StatusCode::BAD_REQUEST, Some("The human check failed. Try again.")));
        }
        None
    };

    let magic_link = format!("{}{}", state.config.public_base_url, flow::step_url(paths::CALLBACK, flow.request.id));
    match state.identity.send_login_email(&email, captcha_for_provider, &magic_link).await {
        Ok(()) => Ok(code_page(&flow, &email, StatusCode::OK, None)),
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
        Err(e) => Err(FlowError::from(anyhow::Error::new(e))),
    }
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
         <div class=\"cf-turnstile\" data-sitekey=\"{site_key}\" style=\"margin-top:1rem\"></div>\
         <div class=\"actions\"><button type=\"submit\">Email me a code</button></div></form>",
        action = paths::LOGIN,
        fields = flow_fields(&flow.request.id.to_string(), &flow.secret),
        site_key = escape(&state.config.turnstile.site_key),
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
