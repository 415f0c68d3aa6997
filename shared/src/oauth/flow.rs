//! The in-flight authorization request as the browser carries it between pages.
//!
//! `/authorize` stores the request with the hash of a fresh random secret and sets that
//! secret as a cookie (HttpOnly, SameSite=Lax). Every later page checks the cookie against
//! the stored hash, and every form also posts the secret back in a hidden field: a request
//! id alone (in a URL, a log, a referrer) never lets another browser continue someone's
//! sign-in, and a cross-site form cannot either.
//!
//! Over https the cookie is `__Host-dexter_oauth_<id>`: browsers accept that name only
//! with `Secure`, `Path=/` and no `Domain`, set by this very host, so a sibling subdomain
//! (or a plain-http page on the same name) cannot plant or overwrite one to walk a
//! victim's browser through someone else's flow. Plain-http local runs keep the
//! unprefixed name on `/oauth/chatgpt`, which browsers allow there.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::oauth::pages;
use crate::state::AppState;
use crate::store::AuthorizationRequest;

/// Whether the connector is served over https (then the cookie is `__Host-` prefixed).
fn over_https(state: &AppState) -> bool {
    state.config.public_base_url.starts_with("https://")
}

/// The cookie that binds a browser to one authorization request.
pub fn cookie_name(state: &AppState, request_id: Uuid) -> String {
    let prefix = if over_https(state) { "__Host-" } else { "" };
    format!("{prefix}dexter_oauth_{}", request_id.simple())
}

/// The attributes after the value: `__Host-` requires `Path=/`, `Secure` and no `Domain`.
fn cookie_attributes(state: &AppState, max_age: i64) -> String {
    if over_https(state) {
        format!("Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax")
    } else {
        format!("Path=/oauth/chatgpt; Max-Age={max_age}; HttpOnly; SameSite=Lax")
    }
}

/// The `Set-Cookie` value for a new request.
pub fn set_cookie(state: &AppState, request_id: Uuid, secret: &str) -> HeaderValue {
    let max_age = super::AUTHORIZATION_REQUEST_TTL.num_seconds();
    let value = format!("{}={secret}; {}", cookie_name(state, request_id), cookie_attributes(state, max_age));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// An expired cookie, to clear the binding once the request is finished.
pub fn clear_cookie(state: &AppState, request_id: Uuid) -> HeaderValue {
    let value = format!("{}=; {}", cookie_name(state, request_id), cookie_attributes(state, 0));
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
    /// The database being briefly unreachable is not the person's fault and loses nothing:
    /// the request is still stored, so the page says to try the same step again.
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(cause) => {
                tracing::warn!(error.cause_chain = ?cause, "the database is unavailable");
                let mut page = pages::error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Dexter is briefly unavailable",
                    "Nothing was lost. Go back and try the same step again in a few seconds.",
                );
                page.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from_static(crate::error::RETRY_AFTER_SECONDS),
                );
                FlowError::page(page)
            }
            other => FlowError::from(anyhow::Error::new(other)),
        }
    }
}

/// A sign-in step's answer when Supabase Auth or Turnstile is unreachable, failing (5xx)
/// or too slow: our outage, not the person's mistake. `page` is the step's own page again
/// (with [`provider_unavailable_text`] as its message), now with `503` and `Retry-After`,
/// so the person submits the same step again once the service is back. The request is
/// kept, and the step's budgets were refunded by the caller.
pub fn provider_unavailable(mut page: Response) -> Response {
    *page.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(crate::error::RETRY_AFTER_SECONDS));
    page
}

/// What the person is told on a [`provider_unavailable`] page, with the request id for
/// support.
pub fn provider_unavailable_text(request_id: &str) -> String {
    format!(
        "Sign-in is briefly unavailable. Your request is kept: try again in a few seconds. (Reference {request_id})"
    )
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
    let secret = cookie(headers, &cookie_name(state, id)).ok_or_else(wrong_browser)?;
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
