//! `/oauth/chatgpt/callback`: where a sign-in completes. `GET` is where a magic link
//! returns (`token_hash` and `type`, Supabase's server-side link format); `POST` takes
//! the one-time code typed on the code page. Either way the verified identity is
//! attached to the authorization request and the browser moves on to consent.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::flow::{self, Flow, FlowError};
use super::login::code_page;
use super::{pages, paths};
use crate::identity::{IdentityError, IdentityUser};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new().route(paths::CALLBACK, get(magic_link).post(code)).with_state(state)
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
    Query(query): Query<LinkQuery>,
) -> Result<Response, FlowError> {
    let flow = flow::load(&state, &headers, &query.request, None).await?;
    let (Some(token_hash), link_type) = (query.token_hash.as_deref(), query.link_type.as_deref()) else {
        return Ok(pages::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link is incomplete",
            "Open the link exactly as it arrived in your email, or type the code instead.",
        ));
    };
    match state.identity.verify_magic_link(token_hash, link_type.unwrap_or("magiclink")).await {
        Ok(user) => complete(&state, &flow, user).await,
        Err(IdentityError::InvalidCode) => Ok(pages::error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in link has expired",
            "The link was already used or has expired. Start again from ChatGPT.",
        )),
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
    Form(form): Form<CodeForm>,
) -> Result<Response, FlowError> {
    let flow = flow::load(&state, &headers, &form.request, Some(&form.csrf)).await?;
    let Some(email) = flow.request.login_email.clone() else {
        return Ok(Redirect::to(&flow::step_url(paths::LOGIN, flow.request.id)).into_response());
    };
    let code: String = form.code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.is_empty() || code.len() > 10 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(code_page(&flow, &email, StatusCode::BAD_REQUEST, Some("Enter the code from the email.")));
    }
    match state.identity.verify_email_code(&email, &code).await {
        Ok(user) => complete(&state, &flow, user).await,
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
        Err(e) => Err(FlowError::from(anyhow::Error::new(e))),
    }
}

async fn complete(state: &AppState, flow: &Flow, user: IdentityUser) -> Result<Response, FlowError> {
    if !state.store.set_authorization_request_user(flow.request.id, user.id, Utc::now()).await? {
        return Err(flow::expired());
    }
    Ok(Redirect::to(&flow::step_url(paths::CONSENT, flow.request.id)).into_response())
}
