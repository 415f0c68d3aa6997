//! Managing OAuth clients: the one implementation behind the operator API
//! (`/oauth/clients…`) and `connector clients …`.
//!
//! A client is what ChatGPT's GPT authenticates as at the token endpoint (RFC 6749 §2.3.1,
//! `client_secret_post` / `client_secret_basic`). Its secret is generated here, shown once
//! and stored only as a hash. Rotation may keep the previous secret valid for a stated
//! overlap, so a GPT can be re-configured without a window in which token requests fail;
//! the product runbook asks to rotate when moving from staging to production. Deleting a
//! client is the org-wide revocation: the store revokes every grant (and so every refresh
//! token) of it in the same transaction, and the per-action grant check makes outstanding
//! access tokens useless at once.
//!
//! Every function takes the store and `now` from the caller, like the store itself, so a
//! handler, the CLI and a test share the code and the tests control the clock.

use chrono::{DateTime, SubsecRound, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::ClientId;
use crate::scope::Scope;
use crate::store::{OAuthClient, Store, StoreError};
use crate::tokens;

/// The longest a rotated-out secret may stay valid: long enough to roll a GPT's
/// configuration through staging and production, short enough that a leaked secret
/// cannot hide behind "rotation".
pub const MAX_PREVIOUS_SECRET_OVERLAP_SECONDS: u32 = 7 * 24 * 60 * 60;

/// The prefix of generated client ids; ChatGPT is the only kind of client we have.
pub const GENERATED_ID_PREFIX: &str = "chatgpt-";

/// The prefix of client secrets, so a leaked one is recognisable to secret scanners.
pub const SECRET_PREFIX: &str = "dxcs_";

const MAX_NAME_CHARS: usize = 100;
const MAX_REDIRECT_URIS: usize = 10;
const MAX_REDIRECT_URI_BYTES: usize = 2048;
const MAX_CLIENT_ID_BYTES: usize = 64;

/// Why a client operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The input breaks a rule; the message says which, for the operator to fix.
    #[error("{0}")]
    Invalid(String),
    /// The id is taken, now or by a client deleted earlier (ids are never reused, so a
    /// new client can never inherit an old one's grants or logs).
    #[error("a client with this id already exists")]
    Exists,
    /// No live client has this id.
    #[error("no client with this id")]
    NotFound,
    /// The store failed.
    #[error("the store failed")]
    Store(#[source] StoreError),
}

impl From<StoreError> for ClientError {
    fn from(error: StoreError) -> ClientError {
        ClientError::Store(error)
    }
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> ApiError {
        match error {
            ClientError::Invalid(message) => ApiError::BadRequest(message),
            ClientError::Exists => ApiError::Conflict(error.to_string()),
            ClientError::NotFound => ApiError::Missing("no OAuth client with this id"),
            ClientError::Store(cause) => ApiError::Unexpected(anyhow::Error::new(cause)),
        }
    }
}

/// A client secret in the clear. It exists only between generation and the one response
/// (or CLI output) that shows it; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    fn generate() -> ClientSecret {
        ClientSecret(tokens::generate(SECRET_PREFIX))
    }

    /// The secret itself, to show the operator once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

impl Serialize for ClientSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// What an operator asks to register (`POST /oauth/clients`, `connector clients create`).
/// Unknown fields are rejected so a typo (`redirect_uri`) is an error, not a silent default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Shown on the consent page and in the user's linked accounts.
    pub name: String,
    /// Where authorization responses may go; `/authorize` requires an exact match.
    pub redirect_uris: Vec<String>,
    /// Defaults to every scope ([`Scope::ALL`]).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Defaults to `chatgpt-` and 12 random hex digits.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// A client as an operator sees it: never a secret or a hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientView {
    pub client_id: ClientId,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Until when the secret before the last rotation is still accepted; `null` when no
    /// previous secret is accepted any more.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

impl ClientView {
    /// The operator's view of `client` as of `now`.
    pub fn of(client: &OAuthClient, now: DateTime<Utc>) -> ClientView {
        ClientView {
            client_id: client.id.clone(),
            name: client.name.clone(),
            redirect_uris: client.redirect_uris.clone(),
            scopes: client.scopes.clone(),
            created_at: client.created_at,
            previous_secret_expires_at: previous_secret_deadline(client, now),
        }
    }
}

/// A newly registered client, with the only copy of its secret.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedClient {
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A client's new secret, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct RotatedSecret {
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
    /// Until when the old secret is still accepted; `null` when it died with the rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

/// Registers a client after checking every rule; the secret is returned, its hash stored.
pub async fn create_client(
    store: &dyn Store,
    new: NewClient,
    now: DateTime<Utc>,
) -> Result<CreatedClient, ClientError> {
    let client_id = match new.client_id {
        Some(id) => validate_client_id(id)?,
        None => generate_client_id(),
    };
    let name = validate_name(&new.name)?;
    let redirect_uris = validate_redirect_uris(new.redirect_uris)?;
    let scopes = validate_scopes(new.scopes)?;
    let secret = ClientSecret::generate();
    // The store keeps microseconds; truncating here makes this response agree with
    // every later read of the client.
    let created_at = now.trunc_subsecs(6);

    let client = OAuthClient {
        id: ClientId::from(client_id),
        name,
        secret_hash: crate::TokenHash::of(secret.expose()),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        redirect_uris,
        scopes,
        created_at,
        public: false,
    };
    match store.create_client(&client).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(ClientError::Exists),
        Err(other) => return Err(other.into()),
    }
    tracing::info!(client_id = %client.id, "oauth client created");
    Ok(CreatedClient {
        client_id: client.id,
        client_secret: secret,
        name: client.name,
        redirect_uris: client.redirect_uris,
        scopes: client.scopes,
        created_at,
    })
}

/// Every live client, oldest first.
pub async fn list_clients(store: &dyn Store, now: DateTime<Utc>) -> Result<Vec<ClientView>, ClientError> {
    let clients = store.list_clients().await?;
    Ok(clients.iter().map(|c| ClientView::of(c, now)).collect())
}

/// One live client.
pub async fn get_client(store: &dyn Store, id: &ClientId, now: DateTime<Utc>) -> Result<ClientView, ClientError> {
    match store.get_client(id).await? {
        Some(client) => Ok(ClientView::of(&client, now)),
        None => Err(ClientError::NotFound),
    }
}

/// Deletes a client and revokes every grant and token of it at once (org-wide
/// revocation). An id that is unknown or already deleted is [`ClientError::NotFound`]:
/// an operator who mistypes an id should hear about it rather than believe they revoked
/// something.
pub async fn delete_client(store: &dyn Store, id: &ClientId, now: DateTime<Utc>) -> Result<(), ClientError> {
    if store.delete_client(id, now).await? {
        tracing::info!(client_id = %id, "oauth client deleted and its grants revoked");
        Ok(())
    } else {
        Err(ClientError::NotFound)
    }
}

/// Gives a client a new secret. With `keep_previous_for_seconds` > 0 the old secret
/// stays valid that long (at most [`MAX_PREVIOUS_SECRET_OVERLAP_SECONDS`]); with 0 it
/// stops working now. A secret from an earlier rotation dies either way: there is only
/// ever one previous secret.
pub async fn rotate_secret(
    store: &dyn Store,
    id: &ClientId,
    keep_previous_for_seconds: u32,
    now: DateTime<Utc>,
) -> Result<RotatedSecret, ClientError> {
    if keep_previous_for_seconds > MAX_PREVIOUS_SECRET_OVERLAP_SECONDS {
        return Err(ClientError::Invalid(format!(
            "keep_previous_for_seconds may be at most {MAX_PREVIOUS_SECRET_OVERLAP_SECONDS} (7 days)"
        )));
    }
    let keep_previous_until = (keep_previous_for_seconds > 0)
        .then(|| now.trunc_subsecs(6) + chrono::Duration::seconds(i64::from(keep_previous_for_seconds)));
    let secret = ClientSecret::generate();
    let rotated = store.rotate_client_secret(id, &crate::TokenHash::of(secret.expose()), keep_previous_until).await?;
    if !rotated {
        return Err(ClientError::NotFound);
    }
    tracing::info!(client_id = %id, keep_previous_for_seconds, "oauth client secret rotated");
    Ok(RotatedSecret { client_id: id.clone(), client_secret: secret, previous_secret_expires_at: keep_previous_until })
}

/// Whether `presented` is the client's secret as of `now`: the current one, or the one
/// before the last rotation while its overlap lasts. For the token endpoint's client
/// authentication. Both hashes are always compared, each in constant time, so the
/// answer's timing does not say which secret (if any) matched.
pub fn secret_matches(client: &OAuthClient, presented: &str, now: DateTime<Utc>) -> bool {
    let current = client.secret_hash.matches(presented);
    let previous = match (&client.previous_secret_hash, client.previous_secret_expires_at) {
        (Some(hash), Some(expires_at)) => hash.matches(presented) && now < expires_at,
        _ => false,
    };
    current | previous
}

/// When the previous secret stops being accepted, if it still is at `now`.
fn previous_secret_deadline(client: &OAuthClient, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    client.previous_secret_hash.as_ref().and(client.previous_secret_expires_at).filter(|expires_at| now < *expires_at)
}

/// `chatgpt-` and 48 random bits in hex: unguessable enough that ids do not collide, short
/// enough to read out.
fn generate_client_id() -> String {
    let mut bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{GENERATED_ID_PREFIX}{hex}")
}

/// Ids travel in URL paths and HTTP Basic credentials (where `:` separates id from
/// secret), so they are restricted to unreserved URL characters.
fn validate_client_id(id: String) -> Result<String, ClientError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.len() < 3 || id.len() > MAX_CLIENT_ID_BYTES || !id.chars().all(allowed) {
        return Err(ClientError::Invalid(format!(
            "client_id must be 3 to {MAX_CLIENT_ID_BYTES} characters of letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(id)
}

fn validate_name(name: &str) -> Result<String, ClientError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ClientError::Invalid(format!("name must be 1 to {MAX_NAME_CHARS} characters")));
    }
    // The name is rendered on the consent page; control characters have no business there.
    if name.chars().any(char::is_control) {
        return Err(ClientError::Invalid("name must not contain control characters".into()));
    }
    Ok(name.to_owned())
}

fn validate_redirect_uris(uris: Vec<String>) -> Result<Vec<String>, ClientError> {
    if uris.is_empty() || uris.len() > MAX_REDIRECT_URIS {
        return Err(ClientError::Invalid(format!("redirect_uris must list 1 to {MAX_REDIRECT_URIS} URIs")));
    }
    for (i, uri) in uris.iter().enumerate() {
        validate_redirect_uri(uri)
            .map_err(|reason| ClientError::Invalid(format!("redirect URI {uri:?} is not acceptable: {reason}")))?;
        if uris[..i].contains(uri) {
            return Err(ClientError::Invalid(format!("redirect URI {uri:?} is listed twice")));
        }
    }
    Ok(uris)
}

/// An absolute `https` URL without a fragment (RFC 6749 §3.1.2), or plain `http` to a
/// loopback host for local testing (RFC 8252 §7.3). ChatGPT's callbacks are
/// `https://chatgpt.com/aip/g-…/oauth/callback` and its `chat.openai.com` twin.
///
/// The URI is stored exactly as given, because `/authorize` compares strings; so it must
/// already be in the form a parser would not rewrite around the edges.
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_REDIRECT_URI_BYTES {
        return Err(format!("longer than {MAX_REDIRECT_URI_BYTES} bytes"));
    }
    if uri.trim() != uri || uri.is_empty() {
        return Err("empty or surrounded by whitespace".into());
    }
    let url = reqwest::Url::parse(uri).map_err(|e| format!("not an absolute URL ({e})"))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err("a redirect URI must not have a fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a redirect URI must not carry credentials".into());
    }
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if matches!(host, "127.0.0.1" | "localhost" | "[::1]") => Ok(()),
        "http" => Err("plain http is only allowed to 127.0.0.1 or localhost; use https".into()),
        _ => Err("expected an https:// URL".into()),
    }
}

fn validate_scopes(scopes: Option<Vec<String>>) -> Result<Vec<String>, ClientError> {
    let Some(asked) = scopes else {
        return Ok(Scope::all_names().into_iter().map(str::to_owned).collect());
    };
    if asked.is_empty() {
        return Err(ClientError::Invalid("scopes must name at least one scope (omit it for all of them)".into()));
    }
    let mut scopes: Vec<String> = Vec::with_capacity(asked.len());
    for scope in asked {
        if Scope::parse(&scope).is_none() {
            return Err(ClientError::Invalid(format!(
                "unknown scope {scope:?}; known scopes are {}",
                Scope::all_names().join(", ")
            )));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatgpt_callbacks_and_loopback_urls_are_acceptable_redirect_uris() {
        for uri in [
            "https://chatgpt.com/aip/g-abc123/oauth/callback",
            "https://chat.openai.com/aip/g-abc123/oauth/callback",
            "http://127.0.0.1:3000/dev/oauth/callback",
            "http://localhost/callback?x=1",
        ] {
            assert_eq!(validate_redirect_uri(uri), Ok(()), "{uri}");
        }
    }

    #[test]
    fn unsafe_or_malformed_redirect_uris_are_refused() {
        for uri in [
            "http://chatgpt.com/aip/g-abc/oauth/callback",
            "https://chatgpt.com/aip/g-abc/oauth/callback#frag",
            "https://chatgpt.com/cb#",
            "/aip/g-abc/oauth/callback",
            "chatgpt.com/callback",
            "javascript:alert(1)",
            "https://user:pw@chatgpt.com/cb",
            " https://chatgpt.com/cb",
            "",
            "http://127.0.0.1.evil.example/cb",
        ] {
            assert!(validate_redirect_uri(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn generated_client_ids_are_chatgpt_and_twelve_hex_digits() {
        let id = generate_client_id();
        let suffix = id.strip_prefix("chatgpt-").expect("prefix");
        assert_eq!(suffix.len(), 12);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, generate_client_id());
    }

    #[test]
    fn client_ids_may_not_hold_separators() {
        assert!(validate_client_id("chatgpt-prod".into()).is_ok());
        for bad in ["a:b", "a/b", "ab", "a b", ""] {
            assert!(validate_client_id(bad.into()).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_default_to_all_and_must_be_known() {
        assert_eq!(validate_scopes(None).expect("default"), Scope::all_names());
        assert_eq!(validate_scopes(Some(vec!["profile".into(), "profile".into()])).expect("dedup"), ["profile"]);
        assert!(validate_scopes(Some(vec![])).is_err());
        assert!(validate_scopes(Some(vec!["admin".into()])).is_err());
    }

    #[test]
    fn the_previous_secret_matches_only_until_its_expiry() {
        let now = Utc::now();
        let client = OAuthClient {
            id: "c".into(),
            name: "c".into(),
            secret_hash: crate::TokenHash::of("new"),
            previous_secret_hash: Some(crate::TokenHash::of("old")),
            previous_secret_expires_at: Some(now + chrono::Duration::seconds(60)),
            redirect_uris: vec![],
            scopes: vec![],
            created_at: now,
            public: false,
        };
        assert!(secret_matches(&client, "new", now));
        assert!(secret_matches(&client, "old", now));
        assert!(!secret_matches(&client, "other", now));
        let later = now + chrono::Duration::seconds(60);
        assert!(secret_matches(&client, "new", later));
        assert!(!secret_matches(&client, "old", later));
    }

    #[test]
    fn a_client_secret_never_debug_prints() {
        let secret = ClientSecret::generate();
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }
}
