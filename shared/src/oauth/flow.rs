//! The in-flight authorization request as the browser carries it between pages.
//!
//! `/authorize` stores the request with the hash of a fresh random secret and sets that
//! secret as a cookie scoped to `/oauth/chatgpt` (HttpOnly, SameSite=Lax). Every later
//! page checks the cookie against the stored hash, and every form also posts the secret
//! back in a hidden field: a request id alone (in a URL, a log, a referrer) never lets
//! another browser continue someone's sign-in, and a cross-site form cannot either.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::oauth::pages;
use crate::state::AppState;
use crate::store::AuthorizationRequest;

/// The cookie that binds a browser to one authorization request.
pub fn cookie_name(request_id: Uuid) -> String {
    format!("dexter_oauth_{}", request_id.simple())
}

/// The `Set-Cookie` value for a new request.
pub fn set_cookie(state: &AppState, request_id: Uuid, secret: &str) -> HeaderValue {
    let secure = if state.config.public_base_url.starts_with("https://") { "; Secure" } else { "" };
    let max_age = super::AUTHORIZATION_REQUEST_TTL.num_seconds();
    let value = format!(
        "{}={secret}; Path=/oauth/chatgpt; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
        cookie_name(request_id)
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// An expired cookie, to clear the binding once the request is finished.
pub fn clear_cookie(request_id: Uuid) -> HeaderValue {
    let value = format!("{}=; Path=/oauth/chatgpt; Max-Age=0; HttpOnly; SameSite=Lax", cookie_name(request_id));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A request this browser is entitled to continue, and the secret its forms post back.
pub struct Flow {
    pub request: AuthorizationRequest,
    pub secret: String,
}

/// Why the flow cannot continue: an error page to show (never a redirect: we could not
/// tell whether the redirect target is the one the browser's request named).
pub struct FlowError(Box<Response>);

impl IntoResponse for FlowError {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl FlowError {
    pub fn page(response: Response) -> FlowError {
        FlowError(Box::new(response))
    }
}

impl From<anyhow::Error> for FlowError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error.cause_chain = ?e, "authorization flow failed");
        FlowError::page(pages::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "We could not continue linking your account. Please try again in a moment.",
        ))
    }
}

impl From<crate::store::StoreError> for FlowError {
    fn from(e: crate::store::StoreError) -> Self {
        FlowError::from(anyhow::Error::new(e))
    }
}

pub fn expired() -> FlowError {
    FlowError::page(pages::error_page(
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired",
        "The request to link your Dexter account has expired or was already used. Start again from ChatGPT.",
    ))
}

/// Loads the request named by `request_id` and checks this browser started it. When
/// the caller is a form submission, `form_secret` is the hidden field's value and must
/// match the cookie too.
pub async fn load(
    state: &AppState,
    headers: &HeaderMap,
    request_id: &str,
    form_secret: Option<&str>,
) -> Result<Flow, FlowError> {
    let id = Uuid::parse_str(request_id).map_err(|_| expired())?;
    let request = state.store.get_authorization_request(id, Utc::now()).await?.ok_or_else(expired)?;
    let wrong_browser = || {
        FlowError::page(pages::error_page(
            StatusCode::FORBIDDEN,
            "Continue in the browser you started in",
            "This sign-in was started in another browser or its cookie is missing. \
             Open the link in the browser where you clicked Connect in ChatGPT, or start again.",
        ))
    };
    let secret = cookie(headers, &cookie_name(id)).ok_or_else(wrong_browser)?;
    if !request.csrf_hash.matches(&secret) {
        return Err(wrong_browser());
    }
    if let Some(posted) = form_secret
        && !bool::from(posted.as_bytes().ct_eq(secret.as_bytes()))
    {
        return Err(wrong_browser());
    }
    Ok(Flow { request, secret })
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// An authorization response: a redirect to the client's registered redirect URI with
/// query parameters appended (RFC 6749 §4.1.2): `code` and `state`, or `error`,
/// `error_description` and `state`. Each also carries `iss`, this server's issuer
/// (RFC 9207), so a client talking to several servers can tell which one answered and
/// send the code nowhere else (mix-up defence).
pub fn client_redirect(state: &AppState, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match reqwest::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params).append_pair("iss", &state.config.public_base_url);
            Redirect::to(url.as_str()).into_response()
        }
        Err(_) => pages::error_page(
            StatusCode::BAD_REQUEST,
            "This app's redirect address is invalid",
            "The app asking for access is misconfigured. Tell its developer.",
        ),
    }
}

/// The page path of a step of the flow.
pub fn step_url(path: &str, request_id: Uuid) -> String {
    format!("{path}?request={request_id}")
}
