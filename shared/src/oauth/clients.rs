//! Finding the client a `client_id` names, whichever way it became one:
//!
//! - an operator registered it (`/oauth/clients`; ChatGPT's GPT Actions);
//! - it registered itself at [`super::register`] (RFC 7591): such a registration expires
//!   if no token request of it ever succeeds within [`UNUSED_REGISTRATION_TTL`], so
//!   abandoned registrations do not pile up as live clients;
//! - its id is the `https` URL of its client ID metadata document
//!   (draft-ietf-oauth-client-id-metadata-document, MCP 2025-11-25): the document is
//!   fetched behind the [`fetch`] fence (at most [`MAX_DOCUMENT_BYTES`]), must name its
//!   own URL as `client_id`, and its `redirect_uris` bind the request. It is kept in the
//!   store as a client row for as long as its `Cache-Control: max-age` says, within
//!   [`MIN_DOCUMENT_CACHE`] and [`MAX_DOCUMENT_CACHE`], then fetched again.
//!
//! A document client authenticates with `none` (a public client: PKCE S256 is required)
//! or `private_key_jwt` with a `jwks_uri`; it cannot hold a secret we issued.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::fetch::{self, Fence};
use super::redirect;
use crate::ids::ClientId;
use crate::scope::Scope;
use crate::state::AppState;
use crate::store::{ClientKind, ClientRegistration, OAuthClient, StoreError};

pub use crate::store::clients::UNUSED_REGISTRATION_TTL;
/// The largest client ID metadata document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// A document is fetched again after at least this long, whatever it says.
pub const MIN_DOCUMENT_CACHE: StdDuration = StdDuration::from_secs(60);
/// ... and at most this long, whatever it says.
pub const MAX_DOCUMENT_CACHE: StdDuration = StdDuration::from_secs(24 * 3600);
/// How long a document without `max-age` is kept.
pub const DEFAULT_DOCUMENT_CACHE: StdDuration = StdDuration::from_secs(300);
/// The longest client name shown.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;
/// The longest client ID URL accepted.
const MAX_CLIENT_ID_URL_LEN: usize = 2000;

/// A client and, unless an operator registered it, its registration.
#[derive(Debug, Clone)]
pub struct KnownClient {
    pub client: OAuthClient,
    pub registration: Option<ClientRegistration>,
}

impl KnownClient {
    /// How it authenticates at the token endpoint.
    pub fn auth_method(&self) -> &str {
        match &self.registration {
            Some(registration) => &registration.token_endpoint_auth_method,
            None if self.client.public => "none",
            None => "client_secret",
        }
    }
}

/// Why a `client_id` names no client.
#[derive(Debug)]
pub enum Unknown {
    /// Nothing by that id (or a registration that expired unused, or a deleted client).
    NotRegistered,
    /// A metadata document that could not be fetched or is not valid; says why.
    BadDocument(String),
}

/// Whether `id` looks like a client ID metadata document URL under `fence`.
pub fn is_document_url(fence: Fence, id: &str) -> bool {
    id.starts_with("https://") || (fence == Fence::Local && id.starts_with("http://127.0.0.1"))
}

/// The client `id` names, fetching its metadata document when it is one that is not
/// (freshly) cached.
pub async fn find(state: &AppState, id: &str, now: DateTime<Utc>) -> Result<Result<KnownClient, Unknown>, StoreError> {
    let fence = Fence::for_base_url(&state.config.public_base_url);
    let client_id = ClientId::from(id.to_owned());
    let client = state.store.get_client(&client_id).await?;
    let registration = match &client {
        Some(_) => state.store.get_registration(&client_id).await?,
        None => None,
    };
    match (client, registration) {
        (Some(client), None) => Ok(Ok(KnownClient { client, registration: None })),
        (Some(client), Some(registration)) if registration.kind == ClientKind::Dynamic => {
            let expired =
                registration.last_used_at.is_none() && registration.registered_at + UNUSED_REGISTRATION_TTL <= now;
            if expired {
                return Ok(Err(Unknown::NotRegistered));
            }
            Ok(Ok(KnownClient { client, registration: Some(registration) }))
        }
        (Some(client), Some(registration)) if registration.document_expires_at.is_some_and(|at| at > now) => {
            Ok(Ok(KnownClient { client, registration: Some(registration) }))
        }
        (_, _) if is_document_url(fence, id) => refresh_document(state, fence, &client_id, now).await,
        (_, _) => Ok(Err(Unknown::NotRegistered)),
    }
}

/// Fetches and validates the document at `id`, saves it and returns the saved client.
async fn refresh_document(
    state: &AppState,
    fence: Fence,
    id: &ClientId,
    now: DateTime<Utc>,
) -> Result<Result<KnownClient, Unknown>, StoreError> {
    let fetched = match fetch::fetch(fence, id.as_str(), MAX_DOCUMENT_BYTES, "application/json").await {
        Ok(fetched) => fetched,
        Err(why) => {
            tracing::warn!(reason = %why, "a client ID metadata document could not be fetched");
            return Ok(Err(Unknown::BadDocument(format!("Its client metadata document could not be fetched: {why}."))));
        }
    };
    let (client, mut registration) = match parse_document(fence, id, &fetched.body, now) {
        Ok(parsed) => parsed,
        Err(why) => {
            tracing::warn!(reason = %why, "a client ID metadata document is not valid");
            return Ok(Err(Unknown::BadDocument(format!("Its client metadata document is not valid: {why}."))));
        }
    };
    let keep = fetched.max_age.unwrap_or(DEFAULT_DOCUMENT_CACHE).clamp(MIN_DOCUMENT_CACHE, MAX_DOCUMENT_CACHE);
    registration.document_expires_at = Some(now + Duration::from_std(keep).unwrap_or(Duration::minutes(5)));
    if !state.store.save_document_client(&client, &registration).await? {
        return Ok(Err(Unknown::NotRegistered));
    }
    let client = state.store.get_client(id).await?;
    let registration = state.store.get_registration(id).await?;
    Ok(match client {
        Some(client) => Ok(KnownClient { client, registration }),
        None => Err(Unknown::NotRegistered),
    })
}

/// The members of a client ID metadata document we read.
#[derive(Deserialize)]
struct Document {
    client_id: Option<String>,
    client_name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    jwks_uri: Option<String>,
    jwks: Option<serde_json::Value>,
    client_secret: Option<serde_json::Value>,
}

/// A document as the client and registration it declares.
pub fn parse_document(
    fence: Fence,
    id: &ClientId,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(OAuthClient, ClientRegistration), String> {
    check_document_url(fence, id.as_str())?;
    let document: Document =
        serde_json::from_slice(body).map_err(|_| "it is not a JSON object of client metadata".to_owned())?;
    if document.client_id.as_deref() != Some(id.as_str()) {
        return Err("its client_id is not the URL it was fetched from".into());
    }
    if document.client_secret.is_some() {
        return Err("it contains a client_secret, which a public document cannot keep".into());
    }
    let redirect_uris = document.redirect_uris.filter(|uris| !uris.is_empty()).ok_or("it lists no redirect_uris")?;
    if redirect_uris.len() > redirect::MAX_REDIRECT_URIS {
        return Err(format!("it lists more than {} redirect_uris", redirect::MAX_REDIRECT_URIS));
    }
    for uri in &redirect_uris {
        redirect::check_declared(uri)?;
    }
    let auth_method = document.token_endpoint_auth_method.unwrap_or_else(|| "none".to_owned());
    let jwks_uri = match auth_method.as_str() {
        "none" => None,
        "private_key_jwt" => {
            if document.jwks.is_some() {
                return Err("private_key_jwt keys must be published at jwks_uri, not inline".into());
            }
            let uri = document.jwks_uri.ok_or("private_key_jwt needs a jwks_uri")?;
            let url = reqwest::Url::parse(&uri).map_err(|_| "its jwks_uri is not a URL".to_owned())?;
            fetch::check_url(fence, &url).map_err(|why| format!("its jwks_uri is refused: {why}"))?;
            Some(uri)
        }
        other => {
            return Err(format!("token_endpoint_auth_method {other} is not supported; use none or private_key_jwt"));
        }
    };
    let client = OAuthClient {
        id: id.clone(),
        name: client_name(document.client_name.as_deref(), id.as_str()),
        // Never presented: document clients authenticate without a secret we issued.
        secret_hash: crate::TokenHash::of(&crate::tokens::generate("")),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        redirect_uris,
        scopes: Scope::all_names().into_iter().map(str::to_owned).collect(),
        created_at: now,
        public: auth_method == "none",
    };
    let registration = ClientRegistration {
        client_id: id.clone(),
        kind: ClientKind::Document,
        token_endpoint_auth_method: auth_method,
        jwks_uri,
        jwks: None,
        registered_at: now,
        last_used_at: None,
        document_expires_at: None,
    };
    Ok((client, registration))
}

/// A client ID URL: https (or 127.0.0.1 locally), with a path, no query, no fragment,
/// no user information, no dot segments.
fn check_document_url(fence: Fence, id: &str) -> Result<(), String> {
    if id.len() > MAX_CLIENT_ID_URL_LEN {
        return Err("its URL is too long".into());
    }
    let url = reqwest::Url::parse(id).map_err(|_| "its client_id is not a URL".to_owned())?;
    fetch::check_url(fence, &url)?;
    if url.path() == "/" || url.query().is_some() || id.contains("/./") || id.contains("/../") {
        return Err("its URL must have a path and no query or dot segments".into());
    }
    // The parsed URL must be the id itself, so a string compare means what it looks like.
    if url.as_str() != id {
        return Err("its URL is not in canonical form".into());
    }
    Ok(())
}

/// Bidirectional formatting characters, which could make a name read as another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The name a client gave itself, trimmed and without control or bidirectional
/// formatting characters, or its host.
pub fn client_name(declared: Option<&str>, fallback_uri: &str) -> String {
    let cleaned: String = declared
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .take(MAX_CLIENT_NAME_CHARS)
        .collect::<String>()
        .trim()
        .to_owned();
    if cleaned.is_empty() { redirect::host_of(fallback_uri) } else { cleaned }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "https://chatgpt.com/oauth/client.json";

    fn parse(document: serde_json::Value) -> Result<(OAuthClient, ClientRegistration), String> {
        parse_document(Fence::Deployment, &ClientId::from(URL.to_owned()), document.to_string().as_bytes(), Utc::now())
    }

    #[test]
    fn chatgpts_document_is_a_private_key_jwt_client() {
        let (client, registration) = parse(json!({
            "client_id": URL,
            "client_name": "ChatGPT",
            "redirect_uris": ["https://chatgpt.com/connector_platform_oauth_redirect"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": "https://chatgpt.com/oauth/jwks.json",
        }))
        .expect("valid");
        assert_eq!(client.name, "ChatGPT");
        assert!(!client.public);
        assert_eq!(registration.token_endpoint_auth_method, "private_key_jwt");
        assert_eq!(registration.jwks_uri.as_deref(), Some("https://chatgpt.com/oauth/jwks.json"));
    }

    #[test]
    fn a_document_must_name_itself_and_declare_usable_redirects_and_methods() {
        let base = || json!({"client_id": URL, "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]});
        assert!(parse(base()).expect("public").0.public);
        let mut other = base();
        other["client_id"] = json!("https://evil.example/client.json");
        assert!(parse(other).is_err());
        let mut no_redirects = base();
        no_redirects["redirect_uris"] = json!([]);
        assert!(parse(no_redirects).is_err());
        let mut bad_redirect = base();
        bad_redirect["redirect_uris"] = json!(["javascript:alert(1)"]);
        assert!(parse(bad_redirect).is_err());
        let mut secret = base();
        secret["token_endpoint_auth_method"] = json!("client_secret_basic");
        assert!(parse(secret).is_err());
        let mut no_keys = base();
        no_keys["token_endpoint_auth_method"] = json!("private_key_jwt");
        assert!(parse(no_keys).is_err());
        let mut private_keys = base();
        private_keys["token_endpoint_auth_method"] = json!("private_key_jwt");
        private_keys["jwks_uri"] = json!("https://169.254.169.254/keys");
        // The address is checked when the keys are fetched; the scheme is checked here.
        assert!(parse(private_keys.clone()).is_ok());
        private_keys["jwks_uri"] = json!("http://chatgpt.com/keys");
        assert!(parse(private_keys).is_err());
        assert!(parse(json!(["not", "an", "object"])).is_err());
    }

    #[test]
    fn names_are_cleaned_and_default_to_the_host() {
        assert_eq!(client_name(Some("  Claude\u{202e}\n "), URL), "Claude");
        assert_eq!(client_name(None, URL), "chatgpt.com");
        assert_eq!(client_name(Some(&"x".repeat(500)), URL).len(), MAX_CLIENT_NAME_CHARS);
    }
}
