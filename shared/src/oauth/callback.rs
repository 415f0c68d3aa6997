//! `/oauth/chatgpt/callback`: where a sign-in completes. `GET` is where a magic link
//! returns (`token_hash` and `type`, Supabase's server-side link format); `POST` takes
//! the one-time code typed on the code page. Either way the verified identity is
//! attached to the authorization request and the browser moves on to consent.
//!
//! Guessing is budgeted ([`crate::limits`]), and every budget is spent in the store
//! *before* the identity provider is asked, so concurrent guesses cannot overshoot it:
//! [`limits::CODES_PER_REQUEST`] tries per authorization request, after which the request
//! is deleted and the person starts again from ChatGPT; [`limits::CODES_PER_EMAIL`] per
//! address across requests; and the client address's [`throttle::CALLBACK`] budget on
//! every request to this route.
//!
//! When Supabase Auth is down (unreachable, 5xx, too slow) nothing was checked: the try
//! is refunded and the step answers `503` with `Retry-After` ([`flow::provider_unavailable`]),
//! the code page again (or, for a magic link, a page saying to reload it), so the same
//! code or link works once the provider is back.

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::flow::{self, Flow, FlowError};
use super::login::code_page;
use super::throttle::{self, too_many_page, wait_text};
use super::{pages, paths};
use crate::http::RequestId;
use crate::identity::{IdentityError, IdentityUser};
use crate::limits::{self, Verdict};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let routes = Router::new().route(paths::CALLBACK, get(magic_link).post(code)).with_state(state.clone());
    throttle::limit_per_client_ip(routes, &state, throttle::CALLBACK)
}

#[derive(Deserialize)]
struct LinkQuery {
    request: String,
    token_hash: Option<String>,
    #[serde(rename = "type")]
    link_type: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn magic_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    request_id: Option<Extension<RequestId>>,
    Query(query): Query<LinkQuery>,
) -> Result<Response, FlowError> {
    let request_id = request_id.map(|Extension(RequestId(id))| id).unwrap_or_default();
    let flow = flow::load(&state, &headers, &query.request, None).await?;
    let (Some(token_hash), link_type) = (query.token_hash.as_deref(), query.link_type.as_deref()) else {
        return Ok(pages::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is incomplete",
            "Open the link exactly as it arrived in your email, or type the code instead.",
        ));
    };
    let now = Utc::now();
    if let Some(refusal) = spend_attempt(&state, &flow, flow.request.login_email.as_deref(), now).await? {
        return Ok(refusal);
    }
    match state.identity.verify_magic_link(token_hash, link_type.unwrap_or("magiclink")).await {
        Ok(user) => complete(&state, &flow, user).await,
        Err(IdentityError::InvalidCode) => Ok(pages::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link has expired",
            "The link was already used or has expired. Start again from ChatGPT.",
        )),
        Err(IdentityError::Unavailable(cause)) => {
            tracing::warn!(error.cause_chain = ?cause, "Supabase Auth is unavailable; the try is refunded");
            refund_attempt(&state, &flow, flow.request.login_email.as_deref(), now).await?;
            Ok(flow::provider_unavailable(pages::error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is briefly unavailable",
                &format!(
                    "Your request is kept and this link still works: reload this page in a few seconds to finish \
                     signing in. (Reference {request_id})"
                ),
            )))
        }
        Err(e) => Err(FlowError::from(anyhow::Error::new(e))),
    }
}

#[derive(Deserialize)]
struct CodeForm {
    request: String,
    csrf: String,
    code: String,
}

#[tracing::instrument(skip_all)]
async fn code(
    State(state): State<AppState>,
    headers: HeaderMap,
    request_id: Option<Extension<RequestId>>,
    Form(form): Form<CodeForm>,
) -> Result<Response, FlowError> {
    let request_id = request_id.map(|Extension(RequestId(id))| id).unwrap_or_default();
    let flow = flow::load(&state, &headers, &form.request, Some(&form.csrf)).await?;
    let Some(email) = flow.request.login_email.clone() else {
        return Ok(Redirect::to(&flow::step_url(paths::LOGIN, flow.request.id)).into_response());
    };
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.is_empty() || code.len() > 10 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(code_page(&flow, &email, StatusCode::BAD_REQUEST, Some("Enter the code from the email.")));
    }
    let now = Utc::now();
    if let Some(refusal) = spend_attempt(&state, &flow, Some(&email), now).await? {
        return Ok(refusal);
    }
    match state.identity.verify_email_code(&email, &code).await {
        Ok(user) => {
            // The code was checked against `email`: that is the account, whatever else
            // the provider says.
            let user = IdentityUser { email: Some(email.clone()), ..user };
            complete(&state, &flow, user).await
        }
        Err(IdentityError::InvalidCode) => Ok(code_page(
            &flow,
            &email,
            StatusCode::BAD_REQUEST,
            Some("That code is wrong or has expired. Check the latest email and try again."),
        )),
        Err(IdentityError::RateLimited) => Ok(pages::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many codes were tried. Wait a minute and start again from ChatGPT.",
        )),
        Err(IdentityError::Unavailable(cause)) => {
            tracing::warn!(error.cause_chain = ?cause, "Supabase Auth is unavailable; the try is refunded");
            refund_attempt(&state, &flow, Some(&email), now).await?;
            let text = flow::provider_unavailable_text(&request_id);
            Ok(flow::provider_unavailable(code_page(&flow, &email, StatusCode::SERVICE_UNAVAILABLE, Some(&text))))
        }
        Err(e) => Err(FlowError::from(anyhow::Error::new(e))),
    }
}

/// Spends one try from the request's and the address's budgets, before the identity
/// provider sees it; the page to show instead when one is used up. A request out of
/// tries is deleted: it can never be completed, whatever code comes next.
async fn spend_attempt(
    state: &AppState,
    flow: &Flow,
    email: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Result<Option<Response>, FlowError> {
    let store = state.store.as_ref();
    let request = &flow.request;
    let per_request =
        limits::spend_in(store, &limits::CODES_PER_REQUEST, &request.id.to_string(), request.created_at, now).await?;
    if !per_request.is_allowed() {
        store.delete_authorization_request(request.id).await?;
        tracing::warn!("authorization request out of sign-in tries; deleted");
        let mut page = pages::error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong codes",
            "Too many codes were tried for this sign-in, so it has been stopped to keep your account safe. \
             Start again from ChatGPT.",
        );
        page.headers_mut().insert(axum::http::header::SET_COOKIE, flow::clear_cookie(state, request.id));
        return Ok(Some(page));
    }
    if let Some(email) = email
        && let Verdict::Exceeded { retry_after } = limits::spend(store, &limits::CODES_PER_EMAIL, email, now).await?
    {
        return Ok(Some(too_many_page(
            "Too many wrong codes",
            &format!(
                "Too many codes were tried for this email address. Wait {} and start again from ChatGPT.",
                wait_text(retry_after.num_seconds())
            ),
            retry_after,
        )));
    }
    Ok(None)
}

/// Gives back what [`spend_attempt`] spent at `now`: the identity provider checked nothing.
async fn refund_attempt(
    state: &AppState,
    flow: &Flow,
    email: Option<&str>,
    now: chrono::DateTime<Utc>,
) -> Result<(), FlowError> {
    let store = state.store.as_ref();
    let request = &flow.request;
    limits::refund_in(store, &limits::CODES_PER_REQUEST, &request.id.to_string(), request.created_at).await?;
    if let Some(email) = email {
        limits::refund(store, &limits::CODES_PER_EMAIL, email, now).await?;
    }
    Ok(())
}

async fn complete(state: &AppState, flow: &Flow, user: IdentityUser) -> Result<Response, FlowError> {
    let email = user.email.as_deref().map(str::to_ascii_lowercase);
    if !state.store.set_authorization_request_user(flow.request.id, user.id, email.as_deref(), Utc::now()).await? {
        return Err(flow::expired());
    }
    Ok(Redirect::to(&flow::step_url(paths::CONSENT, flow.request.id)).into_response())
}
