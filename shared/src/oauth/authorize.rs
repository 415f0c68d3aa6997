//! `GET /oauth/chatgpt/authorize` (RFC 6749 §4.1.1): where ChatGPT sends the person's
//! browser when they click Connect.
//!
//! The client is any [`clients::find`] knows: operator-registered, self-registered, or
//! named by its metadata document's URL (fetched here when not cached). Redirect URIs
//! match exactly, loopback ones on any port ([`redirect::matches`]).
//!
//! An unknown client or an unregistered redirect URI gets an error page and never a
//! redirect (§4.1.2.1: redirecting would make us an open redirector). Every other
//! problem is redirected back to the client with `error`, `state` and `iss` (RFC 9207).
//! A valid request is stored (it expires) and the browser goes on to the login page.
//!
//! PKCE (RFC 7636, required of authorization servers by RFC 9700 §2.1.1): an `S256`
//! `code_challenge` is stored with the request and bound to its code. `plain`, and a
//! challenge without a method (which RFC 7636 reads as `plain`), are refused: `plain`
//! protects nothing once the authorization request is seen. Public clients must send one;
//! for confidential clients it is optional (ChatGPT's GPT Actions send none).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::Utc;
use uuid::Uuid;

use super::clients::{self, Unknown};
use super::flow::{self, FlowError, client_redirect};
use super::redirect;
use super::{AUTHORIZATION_REQUEST_TTL, access_token, pages, parse_scopes, paths};
use crate::ids::CodeChallenge;
use crate::state::AppState;
use crate::store::AuthorizationRequest;

pub fn router(state: AppState) -> Router {
    let routes = Router::new().route(paths::AUTHORIZE, get(authorize)).with_state(state.clone());
    super::throttle::limit_per_client_ip(routes, &state, super::throttle::AUTHORIZE)
}

/// The longest `state` we carry (ChatGPT's are far shorter).
const MAX_STATE_LEN: usize = 1024;

#[tracing::instrument(skip_all)]
async fn authorize(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response, FlowError> {
    let params: Vec<(String, String)> = query
        .as_deref()
        .map(|q| reqwest::Url::parse(&format!("http://x/?{q}")))
        .transpose()
        .ok()
        .flatten()
        .map(|url| url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let repeated = |name: &str| params.iter().filter(|(k, _)| k == name).count() > 1;

    // Who is asking and where to send the answer: until both are trusted, only pages.
    let bad_client = |explanation: &str| {
        Ok(pages::error_page(StatusCode::BAD_REQUEST, "This app can't connect to Dexter", explanation))
    };
    let Some(client_id) = param("client_id").filter(|_| !repeated("client_id")) else {
        return bad_client("The request did not say which app is asking (client_id is missing).");
    };
    let client = match clients::find(&state, client_id, Utc::now()).await? {
        Ok(known) => known.client,
        Err(Unknown::NotRegistered) => return bad_client("The app asking for access is not registered with Dexter."),
        Err(Unknown::BadDocument(why)) => return bad_client(&why),
    };
    let Some(redirect_uri) = param("redirect_uri").filter(|_| !repeated("redirect_uri")) else {
        return bad_client("The request did not say where to return (redirect_uri is missing).");
    };
    if !redirect::matches(&client.redirect_uris, redirect_uri) {
        return bad_client(
            "The address this app asked us to return you to is not registered for it. \
             If you configured this GPT, check its OAuth callback URL in Dexter.",
        );
    }

    // From here on, errors go back to the client.
    let state_param = param("state");
    let fail = |error: &str, description: &str| -> Result<Response, FlowError> {
        let mut query = vec![("error", error), ("error_description", description)];
        if let Some(s) = state_param {
            query.push(("state", s));
        }
        Ok(client_redirect(&state, redirect_uri, &query))
    };
    for name in ["response_type", "scope", "state", "code_challenge", "code_challenge_method"] {
        if repeated(name) {
            return fail("invalid_request", &format!("{name} is repeated"));
        }
    }
    let Some(client_state) = state_param.filter(|s| !s.is_empty() && s.len() <= MAX_STATE_LEN) else {
        return fail("invalid_request", "state is required");
    };
    match param("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required"),
        Some(_) => return fail("unsupported_response_type", "only response_type=code is supported"),
    }
    let scopes = match param("scope").map(parse_scopes) {
        None => client.scopes.clone(),
        Some(None) => return fail("invalid_scope", "unknown scope requested"),
        Some(Some(scopes)) if scopes.is_empty() => client.scopes.clone(),
        Some(Some(scopes)) => scopes,
    };
    if let Some(extra) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return fail("invalid_scope", &format!("this client may not request {extra}"));
    }
    // RFC 8707 §2: a resource this server issues no tokens for is refused here; the
    // token request names the resource again and its token gets that audience.
    if repeated("resource") {
        return fail("invalid_target", "one resource per request");
    }
    if access_token::audience_for(&state.config.public_base_url, param("resource")).is_none() {
        return fail("invalid_target", "resource is not a resource this server issues tokens for");
    }
    let code_challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (None, None) if client.public => {
            return fail(
                "invalid_request",
                "this client must use PKCE: send code_challenge with code_challenge_method=S256",
            );
        }
        (None, None) => None,
        (None, Some(_)) => return fail("invalid_request", "code_challenge_method was sent without code_challenge"),
        (Some(_), None | Some("plain")) => {
            return fail("invalid_request", "code_challenge_method must be S256; plain is not supported");
        }
        (Some(challenge), Some("S256")) => match CodeChallenge::parse(challenge) {
            Some(challenge) => Some(challenge),
            None => {
                return fail("invalid_request", "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~");
            }
        },
        (Some(_), Some(_)) => return fail("invalid_request", "unsupported code_challenge_method; use S256"),
    };

    let now = Utc::now();
    let secret = crate::tokens::generate("");
    let request = AuthorizationRequest {
        id: Uuid::new_v4(),
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: client_state.to_owned(),
        csrf_hash: crate::TokenHash::of(&secret),
        user_id: None,
        login_email: None,
        login_attempts: 0,
        code_challenge,
        expires_at: now + AUTHORIZATION_REQUEST_TTL,
        created_at: now,
    };
    state.store.create_authorization_request(&request).await?;
    let mut response = Redirect::to(&flow::step_url(paths::LOGIN, request.id)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, flow::set_cookie(&state, request.id, &secret));
    response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}
