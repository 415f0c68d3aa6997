//! OAuth clients registered by an operator.

use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::ids::{ClientId, TokenHash};

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
}
