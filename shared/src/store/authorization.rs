//! In-flight authorization requests and the authorization codes they end in.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::{ClientId, GrantId, TokenHash, UserId};

use super::StoreResult;

/// An in-flight `/authorize` → login → consent flow, keyed by an id kept in a cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest {
    /// The request id.
    pub id: Uuid,
    /// The client that started the flow.
    pub client_id: ClientId,
    /// The redirect URI the client asked for (already checked against the client).
    pub redirect_uri: String,
    /// The scopes being asked for.
    pub scopes: Vec<String>,
    /// The client's `state`, echoed back on redirect.
    pub state: String,
    /// Hash of the CSRF token bound to the login and consent forms.
    pub csrf_hash: TokenHash,
    /// The Dexter user, once they have logged in.
    pub user_id: Option<UserId>,
    /// The address the last sign-in email went to (attached only once Turnstile passed and
    /// the email was sent), then the signed-in account's address; shown on consent and
    /// gone with the request.
    pub login_email: Option<String>,
    /// How many sign-in emails this request sent (the budgets themselves are
    /// [`crate::limits`]').
    pub login_attempts: i32,
    /// After this the request is gone.
    pub expires_at: DateTime<Utc>,
    /// When `/authorize` created it.
    pub created_at: DateTime<Utc>,
}

/// An authorization code, stored by the SHA-256 hex of the code; single use.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationCode {
    /// SHA-256 hex of the code handed to the client.
    pub code_hash: TokenHash,
    /// The client the code was issued to.
    pub client_id: ClientId,
    /// The user who consented.
    pub user_id: UserId,
    /// The redirect URI of the authorization request (must match at the token endpoint).
    pub redirect_uri: String,
    /// The consented scopes.
    pub scopes: Vec<String>,
    /// Codes live ten minutes.
    pub expires_at: DateTime<Utc>,
    /// The grant this code produced, once redeemed (so a replay can revoke it).
    pub grant_id: Option<GrantId>,
}

/// What redeeming an authorization code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Redeemed(AuthorizationCode),
    /// The code was used before; RFC 6749 §4.1.2 says to revoke the grant it produced.
    AlreadyUsed {
        /// The grant the first redemption produced, if it was attached already.
        grant_id: Option<GrantId>,
    },
    /// The code was never used and is past its expiry.
    Expired,
    /// No such code.
    NotFound,
}

/// Authorization requests (the `/authorize` flow) and authorization codes.
#[async_trait::async_trait]
pub trait AuthorizationStore: Send + Sync {
    // --- authorization requests ---

    /// Stores a new authorization request.
    async fn create_authorization_request(&self, request: &AuthorizationRequest) -> StoreResult<()>;
    /// Reads a request; `None` once it has expired.
    async fn get_authorization_request(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AuthorizationRequest>>;
    /// Records who signed in and their address as the identity provider gave it (`None`
    /// forgets the address the email went to); false if the request is gone or expired.
    async fn set_authorization_request_user(
        &self,
        id: Uuid,
        user_id: UserId,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Attaches the address a sign-in email was just sent to, and counts the email; the
    /// count so far, `None` if no request.
    async fn record_login_attempt(&self, id: Uuid, email: &str) -> StoreResult<Option<i32>>;
    /// Forgets a finished or abandoned request; false if it was not there.
    async fn delete_authorization_request(&self, id: Uuid) -> StoreResult<bool>;

    // --- authorization codes ---

    /// Stores a freshly issued code (by hash); [`StoreError::Conflict`](super::StoreError::Conflict)
    /// on a duplicate hash.
    async fn create_authorization_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Spends a code atomically: exactly one caller ever gets `Redeemed`.
    async fn redeem_authorization_code(&self, code_hash: &TokenHash, now: DateTime<Utc>)
    -> StoreResult<CodeRedemption>;
    /// Records the grant a redeemed code produced; false if there is no such code.
    async fn attach_grant_to_code(&self, code_hash: &TokenHash, grant_id: GrantId) -> StoreResult<bool>;
}
