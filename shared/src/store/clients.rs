//! OAuth clients: registered by an operator, registered by themselves (RFC 7591), or
//! named by the URL of their client ID metadata document. Every client has an
//! [`OAuthClient`] row; the last two also have a [`ClientRegistration`] saying how they
//! authenticate at the token endpoint and, for registrations, whether they were ever used.

use chrono::{DateTime, Duration, Utc};

use super::StoreResult;
use crate::ids::{ClientId, TokenHash};

/// A self-registered client never used for this long is no longer a client: it is
/// refused from then on, and the sweep deletes it ([`super::sweep`]).
pub const UNUSED_REGISTRATION_TTL: Duration = Duration::hours(24);

/// An OAuth client registered by an operator (ChatGPT's GPT is one).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClient {
    /// Public client id, e.g. `chatgpt-…`.
    pub id: ClientId,
    /// Human name shown on the consent page and in the linked-accounts list.
    pub name: String,
    /// Hash of the current client secret.
    pub secret_hash: TokenHash,
    /// Hash of the secret before the last rotation, accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<TokenHash>,
    /// When the previous secret stops being accepted.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Registered redirect URIs; `/authorize` requires an exact match.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// When the client was registered.
    pub created_at: DateTime<Utc>,
    /// A public client (RFC 6749 §2.1) cannot keep a secret, so nothing but PKCE ties its
    /// code to the app that asked for it: `/authorize` requires an `S256` challenge of it.
    /// Operators register confidential clients (ChatGPT's GPT Actions are one).
    pub public: bool,
}

/// How a client that was not registered by an operator came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Registered itself at the registration endpoint (RFC 7591).
    Dynamic,
    /// Its id is the https URL of its client ID metadata document.
    Document,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Dynamic => "dynamic",
            ClientKind::Document => "document",
        }
    }

    pub fn parse(text: &str) -> Option<ClientKind> {
        match text {
            "dynamic" => Some(ClientKind::Dynamic),
            "document" => Some(ClientKind::Document),
            _ => None,
        }
    }
}

/// What a self-registered or metadata-document client declared about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRegistration {
    pub client_id: ClientId,
    pub kind: ClientKind,
    /// `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// Where its `private_key_jwt` keys are published.
    pub jwks_uri: Option<String>,
    /// Its `private_key_jwt` keys given inline (a JWKS as JSON text).
    pub jwks: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// Its first successful token request; `None` while it has never been used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// For a metadata document: when it must be fetched again.
    pub document_expires_at: Option<DateTime<Utc>>,
}

/// OAuth clients.
#[async_trait::async_trait]
pub trait ClientStore: Send + Sync {
    /// Registers a client; [`StoreError::Conflict`](super::StoreError::Conflict) if the id
    /// was ever used.
    async fn create_client(&self, client: &OAuthClient) -> StoreResult<()>;
    /// Reads a (not deleted) client.
    async fn get_client(&self, id: &ClientId) -> StoreResult<Option<OAuthClient>>;
    /// Every (not deleted) client, oldest first.
    async fn list_clients(&self) -> StoreResult<Vec<OAuthClient>>;
    /// Replaces the secret; the old one stays valid until `keep_previous_until` (or dies
    /// now when `None`). False if there is no such client.
    async fn rotate_client_secret(
        &self,
        id: &ClientId,
        new_secret_hash: &TokenHash,
        keep_previous_until: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// Deletes a client and, in the same transaction, revokes every grant (and so every
    /// token) of it. False if there was no such client.
    async fn delete_client(&self, id: &ClientId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Registers a self-registered client and its registration together;
    /// [`StoreError::Conflict`](super::StoreError::Conflict) if the id was ever used.
    async fn register_client(&self, client: &OAuthClient, registration: &ClientRegistration) -> StoreResult<()>;
    /// Creates or refreshes a metadata-document client from a fresh fetch of its document:
    /// name, redirect URIs, public flag, auth method, keys and cache expiry are replaced;
    /// `registered_at` and `last_used_at` are kept. False (and nothing written) if the id
    /// belongs to a deleted client or to a client that is not a document client.
    async fn save_document_client(&self, client: &OAuthClient, registration: &ClientRegistration) -> StoreResult<bool>;
    /// The registration of a (not deleted) self-registered or document client.
    async fn get_registration(&self, id: &ClientId) -> StoreResult<Option<ClientRegistration>>;
    /// Records a successful token request (sets `last_used_at` if unset).
    async fn mark_client_used(&self, id: &ClientId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Spends a client assertion's `jti` (RFC 7523 §3): true the first time, false when
    /// the client already presented it and it has not expired. Expired ones are purged.
    async fn spend_assertion_jti(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
}
