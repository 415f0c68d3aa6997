//! `/oauth/chatgpt/consent`: the signed-in person sees which app asks for what, and as
//! whom they are signed in (so a browser walked into someone else's sign-in shows it),
//! and allows or denies. A client that named itself (self-registered, or described by its
//! own metadata document) is marked as not verified by Dexter, with the host the browser
//! will return to. Allow issues a single-use code and returns the browser to the
//! client; Deny returns `error=access_denied`. A Dexter account without the client's
//! channel enabled (`profiles.channels.chatgpt` for ChatGPT's clients, `channels.mcp` for
//! other MCP clients: [`channel`]) gets a page saying how to enable it, and no code.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::Utc;
use serde::Deserialize;

use super::flow::{self, Flow, FlowError, client_redirect};
use super::login::StepQuery;
use super::pages::{self, escape, flow_fields};
use super::redirect;
use super::{CODE_TTL, channel, paths};
use crate::ids::{ClientId, UserId};
use crate::scope::Scope;
use crate::state::AppState;
use crate::store::AuthorizationCode;

pub fn router(state: AppState) -> Router {
    Router::new().route(paths::CONSENT, get(show).post(decide)).with_state(state)
}

/// The signed-in user, or a redirect back to the login page.
fn signed_in(flow: &Flow) -> Result<UserId, FlowError> {
    flow.request
        .user_id
        .ok_or_else(|| FlowError::page(Redirect::to(&flow::step_url(paths::LOGIN, flow.request.id)).into_response()))
}

/// The client's channel when none it may be linked through is on in the user's profile
/// ([`channel::linkable_through`]): they may not link it.
async fn disabled_channel(
    state: &AppState,
    user_id: UserId,
    client_id: &ClientId,
) -> Result<Option<&'static str>, FlowError> {
    let client = state.store.get_client(client_id).await?.ok_or_else(flow::expired)?;
    let profile = state.store.get_profile(user_id).await?;
    let enabled = profile.is_some_and(|p| channel::linkable_through(&client).iter().any(|c| p.channel_on(c)));
    Ok(if enabled { None } else { Some(channel::of(&client)) })
}

fn channel_disabled_page(channel: &str) -> Response {
    if channel != channel::CHATGPT {
        // Linkable through either channel: name both settings.
        return pages::page(
            StatusCode::FORBIDDEN,
            "This app is not enabled",
            "<h1>This app isn't enabled for your Dexter account</h1>\
             <p>Your account has neither the ChatGPT nor the MCP clients channel turned on, so this app \
             can't be linked yet.</p>\
             <p>In Dexter, open <strong>Settings → Channels</strong> and turn on <strong>ChatGPT</strong> or \
             <strong>MCP clients</strong> (or ask your Dexter administrator to set \
             <code>channels.chatgpt = true</code> or <code>channels.mcp = true</code> on your profile), \
             then connect again from your app.</p>",
            false,
        );
    }
    pages::page(
        StatusCode::FORBIDDEN,
        "ChatGPT is not enabled",
        "<h1>ChatGPT isn't enabled for your Dexter account</h1>\
         <p>Your account doesn't have the ChatGPT channel turned on, so it can't be linked yet.</p>\
         <p>In Dexter, open <strong>Settings → Channels</strong> and turn on <strong>ChatGPT</strong> \
         (or ask your Dexter administrator to set <code>channels.chatgpt = true</code> on your profile), \
         then click Connect in ChatGPT again.</p>",
        false,
    )
}

async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StepQuery>,
) -> Result<Response, FlowError> {
    let flow = flow::load(&state, &headers, &query.request, None).await?;
    let user_id = signed_in(&flow)?;
    if let Some(channel) = disabled_channel(&state, user_id, &flow.request.client_id).await? {
        return Ok(channel_disabled_page(channel));
    }
    let client = state.store.get_client(&flow.request.client_id).await?.ok_or_else(flow::expired)?;
    // A client that registered itself, or that its own document describes, named itself:
    // say so, and say where the browser will go, which is what the person can check.
    let self_described = state.store.get_registration(&client.id).await?.is_some();
    let provenance = if self_described {
        format!(
            "<p class=\"client-unverified\" id=\"client-unverified\"><strong>{client}</strong> is the name this app \
             gave itself; Dexter has not verified it. After you decide you will be sent to \
             <strong id=\"return-host\">{host}</strong>.</p>",
            client = escape(&client.name),
            host = escape(&redirect::host_of(&flow.request.redirect_uri)),
        )
    } else {
        String::new()
    };
    let scopes: String = flow
        .request
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s))
        .map(|scope| format!("<li><code>{}</code>: {}</li>", escape(scope.as_str()), escape(scope.description())))
        .collect();
    let account = match flow.request.login_email.as_deref() {
        Some(email) => format!("Signed in as <strong>{}</strong>.", escape(email)),
        None => "Signed in to Dexter.".to_owned(),
    };
    let body = format!(
        "<h1>Allow {client} to use your Dexter account?</h1>\
         <p class=\"account\">{account} Not you? Choose Deny, then start again from ChatGPT and sign in \
         with your own account.</p>\
         {provenance}\
         <p><strong>{client}</strong> is asking to:</p><ul class=\"scopes\">{scopes}</ul>\
         <p class=\"muted\">It never sees your keys. Swaps it requests wait for your approval in Dexter. \
         You can disconnect it any time in Dexter or in ChatGPT's settings.</p>\
         <form method=\"post\" action=\"{action}\">{fields}\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
         </div></form>",
        client = escape(&client.name),
        action = paths::CONSENT,
        fields = flow_fields(&flow.request.id.to_string(), &flow.secret),
    );
    Ok(pages::page(StatusCode::OK, "Allow access", &body, false))
}

#[derive(Deserialize)]
struct DecisionForm {
    request: String,
    csrf: String,
    decision: String,
}

#[tracing::instrument(skip_all)]
async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<DecisionForm>,
) -> Result<Response, FlowError> {
    let flow = flow::load(&state, &headers, &form.request, Some(&form.csrf)).await?;
    let user_id = signed_in(&flow)?;
    let request = &flow.request;
    // Deleting the request first makes the decision exactly-once: a double submission
    // (or a race of two) finds nothing to decide.
    if !state.store.delete_authorization_request(request.id).await? {
        return Err(flow::expired());
    }
    let mut response = match form.decision.as_str() {
        "allow" => {
            if let Some(channel) = disabled_channel(&state, user_id, &flow.request.client_id).await? {
                return Ok(channel_disabled_page(channel));
            }
            let code = crate::tokens::generate("dxac_");
            state
                .store
                .create_authorization_code(&AuthorizationCode {
                    code_hash: crate::TokenHash::of(&code),
                    client_id: request.client_id.clone(),
                    user_id,
                    redirect_uri: request.redirect_uri.clone(),
                    scopes: request.scopes.clone(),
                    expires_at: Utc::now() + CODE_TTL,
                    grant_id: None,
                    code_challenge: request.code_challenge.clone(),
                })
                .await?;
            client_redirect(&state, &request.redirect_uri, &[("code", &code), ("state", &request.state)])
        }
        "deny" => client_redirect(
            &state,
            &request.redirect_uri,
            &[("error", "access_denied"), ("error_description", "the user denied access"), ("state", &request.state)],
        ),
        _ => client_redirect(
            &state,
            &request.redirect_uri,
            &[("error", "invalid_request"), ("error_description", "no decision was made"), ("state", &request.state)],
        ),
    };
    response.headers_mut().insert(header::SET_COOKIE, flow::clear_cookie(&state, request.id));
    Ok(response)
}
