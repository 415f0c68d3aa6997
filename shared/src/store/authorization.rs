//! In-flight authorization requests and the authorization codes they end in.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Grant;
use crate::ids::{ClientId, CodeChallenge, GrantId, TokenHash, UserId};

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
    /// The client's PKCE `S256` challenge, if it sent one; passed on to the code.
    pub code_challenge: Option<CodeChallenge>,
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
    /// The PKCE `S256` challenge of the authorization request: when set, only its
    /// verifier redeems the code; when not, a verifier is refused (RFC 9700 §2.1.1).
    pub code_challenge: Option<CodeChallenge>,
}

/// A token endpoint request to spend a code, and what to create if it may: the code's
/// grant (its id picked beforehand, so the spend records it) with its first refresh token.
/// Not `Debug`: it holds the presented verifier.
#[derive(Clone)]
pub struct CodeExchange<'a> {
    /// SHA-256 hex of the presented code.
    pub code_hash: &'a TokenHash,
    /// The authenticated client presenting it.
    pub client_id: &'a ClientId,
    /// The `redirect_uri` it presented.
    pub redirect_uri: &'a str,
    /// The PKCE `code_verifier` it presented, if any.
    pub code_verifier: Option<&'a str>,
    /// The grant to create.
    pub grant_id: GrantId,
    /// The first refresh token of that grant (by hash) and its expiry.
    pub refresh_token_hash: &'a TokenHash,
    pub refresh_token_expires_at: DateTime<Utc>,
    /// The time of the exchange.
    pub now: DateTime<Utc>,
}

/// Why a live code was not spent for a request: nothing changed, the code still works
/// for the request it was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeMismatch {
    /// Another client presented it.
    Client,
    /// The `redirect_uri` differs from the authorization request's.
    RedirectUri,
    /// The code has a challenge and no verifier, or a verifier that does not match it.
    Verifier,
    /// A verifier came for a code without a challenge (a PKCE downgrade).
    UnexpectedVerifier,
}

impl AuthorizationCode {
    /// Whether `exchange` may spend this code: the same client and redirect URI, and the
    /// PKCE verifier iff there is a challenge (compared in constant time). Both stores
    /// call this under the lock that spends the code.
    pub fn admits(&self, exchange: &CodeExchange<'_>) -> Result<(), CodeMismatch> {
        if self.client_id != *exchange.client_id {
            return Err(CodeMismatch::Client);
        }
        if self.redirect_uri != exchange.redirect_uri {
            return Err(CodeMismatch::RedirectUri);
        }
        match (&self.code_challenge, exchange.code_verifier) {
            (Some(challenge), Some(verifier)) if challenge.verified_by(verifier) => Ok(()),
            (Some(_), _) => Err(CodeMismatch::Verifier),
            (None, Some(_)) => Err(CodeMismatch::UnexpectedVerifier),
            (None, None) => Ok(()),
        }
    }

    /// The grant a successful exchange creates.
    pub fn grant(&self, exchange: &CodeExchange<'_>) -> Grant {
        Grant {
            id: exchange.grant_id,
            user_id: self.user_id,
            client_id: self.client_id.clone(),
            scopes: self.scopes.clone(),
            created_at: exchange.now,
            last_used_at: Some(exchange.now),
            revoked_at: None,
        }
    }
}

/// What redeeming an authorization code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// First use: the code is now spent, and the grant and its refresh token exist.
    Redeemed(Grant),
    /// The code was used before; RFC 6749 §4.1.2 says to revoke the grant it produced.
    AlreadyUsed {
        /// The grant the first redemption produced (recorded by the same update that
        /// spent the code, so a concurrent replay sees it too; `None` only for codes
        /// spent before that was so).
        grant_id: Option<GrantId>,
    },
    /// The code is live but not this request's to spend; nothing changed.
    Mismatch(CodeMismatch),
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
    /// Spends a code for `exchange` atomically: exactly one caller ever gets `Redeemed`.
    /// Under the code's lock, the code is checked ([`AuthorizationCode::admits`]); if it
    /// admits the exchange, it is marked used with the new grant's id, and the grant and
    /// its first refresh token are created, all or nothing. A code that does not admit
    /// the exchange stays as it was, so a wrong client, redirect URI or verifier cannot
    /// burn it. A used code reports `AlreadyUsed` whoever presents it.
    async fn redeem_authorization_code(&self, exchange: &CodeExchange<'_>) -> StoreResult<CodeRedemption>;
}
