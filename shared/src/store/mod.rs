//! Storage: every record the connector keeps, behind one narrow [`Store`] trait.
//!
//! The trait owns profiles and tier entitlements, OAuth clients, in-flight authorization
//! requests, authorization codes, grants and their refresh tokens (RFC 6749 §4.1, §6 and
//! the rotation advice of OAuth 2.0 Security BCP §4.14), the per-action context, receipts,
//! swap approvals, notifications and voice handoffs. Two backends implement it:
//! [`memory::MemoryStore`] for `connector serve` without a database, and
//! [`postgres::PgStore`] for Supabase. Both must pass the one [`conformance`] suite, which
//! is the executable specification of the semantics documented here.
//!
//! Conventions every method follows:
//! - secrets are never stored: codes and refresh tokens are looked up by the SHA-256 hex
//!   the caller computed ([`crate::tokens::hash`]);
//! - anything that depends on time takes `now` from the caller, so tests control the clock;
//! - timestamps are kept to the microsecond (Postgres precision);
//! - "not there" is `Ok(None)` or `Ok(false)`; [`StoreError`] is for what a caller must
//!   handle differently ([`StoreError::Conflict`], [`StoreError::NotFound`]) and for faults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod memory;
pub mod migrate;
pub mod postgres;

// Always compiled (it is small, and unused code is dropped from the Lambda binaries):
// a feature flag would give the test build and the function builds two different
// `shared` artifacts and double the work of every build.
pub mod conformance;

pub use memory::MemoryStore;
pub use postgres::PgStore;

/// The outcome of every store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store operation did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with the same key already exists (a duplicate client id or code hash).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A record the operation depends on is missing (e.g. the grant's client was deleted).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed or returned something we cannot read.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A Dexter user's profile: their tier and which channels they enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The Dexter (Supabase auth) user id; `profiles.id`.
    pub user_id: Uuid,
    /// The user's email, when Dexter knows it.
    pub email: Option<String>,
    /// Entitlement tier, e.g. `free` or `pro`; maps to tools through `tier_tools`.
    pub tier: String,
    /// Channel switches, e.g. `{"chatgpt": true}`; only JSON `true` enables a channel.
    pub channels: serde_json::Value,
}

/// An OAuth client registered by an operator (ChatGPT's GPT is one).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClient {
    /// Public client id, e.g. `chatgpt-…`.
    pub id: String,
    /// Human name shown on the consent page and in the linked-accounts list.
    pub name: String,
    /// Hash of the current client secret.
    pub secret_hash: String,
    /// Hash of the secret before the last rotation, accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<String>,
    /// When the previous secret stops being accepted.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Registered redirect URIs; `/authorize` requires an exact match.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// When the client was registered.
    pub created_at: DateTime<Utc>,
}

/// An in-flight `/authorize` → login → consent flow, keyed by an id kept in a cookie.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest {
    /// The request id.
    pub id: Uuid,
    /// The client that started the flow.
    pub client_id: String,
    /// The redirect URI the client asked for (already checked against the client).
    pub redirect_uri: String,
    /// The scopes being asked for.
    pub scopes: Vec<String>,
    /// The client's `state`, echoed back on redirect.
    pub state: String,
    /// Hash of the CSRF token bound to the login and consent forms.
    pub csrf_hash: String,
    /// The Dexter user, once they have logged in.
    pub user_id: Option<Uuid>,
    /// The email the user last tried to log in with.
    pub login_email: Option<String>,
    /// How many login attempts were made on this request (for throttling).
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
    pub code_hash: String,
    /// The client the code was issued to.
    pub client_id: String,
    /// The user who consented.
    pub user_id: Uuid,
    /// The redirect URI of the authorization request (must match at the token endpoint).
    pub redirect_uri: String,
    /// The consented scopes.
    pub scopes: Vec<String>,
    /// Codes live ten minutes.
    pub expires_at: DateTime<Utc>,
    /// The grant this code produced, once redeemed (so a replay can revoke it).
    pub grant_id: Option<Uuid>,
}

/// What redeeming an authorization code found.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Redeemed(AuthorizationCode),
    /// The code was used before; RFC 6749 §4.1.2 says to revoke the grant it produced.
    AlreadyUsed {
        /// The grant the first redemption produced, if it was attached already.
        grant_id: Option<Uuid>,
    },
    /// The code was never used and is past its expiry.
    Expired,
    /// No such code.
    NotFound,
}

/// One user's authorization of one client: what a "linked account" is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// The grant id (carried in access tokens).
    pub id: Uuid,
    /// The Dexter user.
    pub user_id: Uuid,
    /// The client.
    pub client_id: String,
    /// Consented scopes.
    pub scopes: Vec<String>,
    /// When the grant was created.
    pub created_at: DateTime<Utc>,
    /// Last action or refresh through this grant.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Set once; a revoked grant never comes back.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Grant {
    /// Whether the grant may still be used.
    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A live grant with its client's display name, for the linked-accounts list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantSummary {
    /// The grant.
    pub grant: Grant,
    /// The client's name.
    pub client_name: String,
}

/// What presenting a refresh token did (see [`Store::rotate_refresh_token`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The presented token was current; it is retired and the new one is current.
    Rotated {
        /// The grant the token belongs to.
        grant: Grant,
    },
    /// The presented token was retired moments ago and its successor never used: a retry.
    /// The new token was issued and the unused successor invalidated.
    ReplayWithinGrace {
        /// The grant the token belongs to.
        grant: Grant,
    },
    /// A retired token came back after the grace window or after its successor was used:
    /// the grant (and so every token of it) is now revoked.
    Reused {
        /// The grant that was revoked.
        grant_id: Uuid,
    },
    /// The token is past its expiry; nothing changed.
    Expired,
    /// The token's grant is revoked.
    Revoked,
    /// No such token.
    NotFound,
}

/// How stale a grant's `last_used_at` may get before an action bumps it. Within this,
/// an action's grant query writes nothing: no commit to flush, no row lock to queue on
/// when one user's calls run concurrently.
pub const LAST_USED_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Whether a write must survive a database crash the moment it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledged once flushed to disk: receipts of consequential actions.
    Durable,
    /// Acknowledged once written: Postgres flushes it within a few hundred milliseconds
    /// (an asynchronous commit). A server crash in that window can lose it but never
    /// corrupts anything. Receipts of reads.
    Relaxed,
}

/// Everything an action needs to authorize a call, loaded in one round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionContext {
    /// The grant exists, is not revoked and its client is not deleted.
    pub grant_live: bool,
    /// The grant's scopes.
    pub scopes: Vec<String>,
    /// The user's tier (`free` when they have no profile).
    pub tier: String,
    /// Whether `profiles.channels.chatgpt` is JSON `true`.
    pub chatgpt_enabled: bool,
    /// The MCP tools the tier allows (empty for an unknown tier).
    pub allowed_tools: Vec<String>,
}

/// An audit record of one action, returned to ChatGPT and shown in Dexter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The receipt id.
    pub id: Uuid,
    /// The Dexter user.
    pub user_id: Uuid,
    /// The OAuth client that called.
    pub client_id: String,
    /// The GPT action, e.g. `swap_preview`.
    pub action: String,
    /// The MCP tool called, if any.
    pub mcp_tool: Option<String>,
    /// SHA-256 hex of the canonical arguments (never the arguments themselves).
    pub args_digest: String,
    /// `ok`, `error`, `pending_approval`, …
    pub status: String,
    /// Machine-readable error code when `status` is `error`.
    pub error_code: Option<String>,
    /// Time spent in the upstream MCP call.
    pub upstream_latency_ms: Option<i64>,
    /// The request id (`x-request-id`) that produced it.
    pub request_id: String,
    /// The swap approval this receipt belongs to, if any.
    pub approval_id: Option<Uuid>,
    /// When the action ran.
    pub created_at: DateTime<Utc>,
}

impl Receipt {
    /// The keyset cursor that continues a listing after this receipt.
    pub fn cursor(&self) -> ReceiptCursor {
        ReceiptCursor { created_at: self.created_at, id: self.id }
    }
}

/// Position in the newest-first receipts feed: list what comes strictly after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptCursor {
    /// `created_at` of the last receipt seen.
    pub created_at: DateTime<Utc>,
    /// `id` of the last receipt seen (breaks ties between equal timestamps).
    pub id: Uuid,
}

/// Where a swap approval is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for the user in Dexter.
    PendingApproval,
    /// Approved and claimed by exactly one executor.
    Executing,
    /// The swap ran.
    Executed,
    /// The swap was attempted and failed.
    Failed,
    /// The user said no.
    Rejected,
    /// Nobody decided before `expires_at`.
    Expired,
}

impl ApprovalStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [ApprovalStatus; 6] = [
        ApprovalStatus::PendingApproval,
        ApprovalStatus::Executing,
        ApprovalStatus::Executed,
        ApprovalStatus::Failed,
        ApprovalStatus::Rejected,
        ApprovalStatus::Expired,
    ];

    /// The stored (and serialized) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::PendingApproval => "pending_approval",
            ApprovalStatus::Executing => "executing",
            ApprovalStatus::Executed => "executed",
            ApprovalStatus::Failed => "failed",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<ApprovalStatus> {
        ApprovalStatus::ALL.into_iter().find(|status| status.as_str() == name)
    }
}

/// A swap ChatGPT asked for, waiting for (or past) the user's decision in Dexter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwapApproval {
    /// The approval id returned to ChatGPT with the `202`.
    pub id: Uuid,
    /// The Dexter user who must approve.
    pub user_id: Uuid,
    /// The client that asked.
    pub client_id: String,
    /// The grant it asked through.
    pub grant_id: Uuid,
    /// The caller's idempotency key; one live approval per (user, key).
    pub idempotency_key: String,
    /// The swap request as ChatGPT sent it (validated).
    pub request: serde_json::Value,
    /// Where it is in its life.
    pub status: ApprovalStatus,
    /// The swap's result once executed (or the failure details).
    pub result: Option<serde_json::Value>,
    /// Machine-readable error code when failed.
    pub error_code: Option<String>,
    /// The receipt of the execution.
    pub receipt_id: Option<Uuid>,
    /// When ChatGPT asked.
    pub created_at: DateTime<Utc>,
    /// After this it can no longer be approved.
    pub expires_at: DateTime<Utc>,
    /// When the user approved, rejected, or it was found expired.
    pub decided_at: Option<DateTime<Utc>>,
    /// When the execution ended (executed or failed).
    pub finished_at: Option<DateTime<Utc>>,
}

impl SwapApproval {
    /// The status as of `now`: a pending approval past its expiry reads as expired even
    /// before anything wrote that down.
    pub fn status_at(&self, now: DateTime<Utc>) -> ApprovalStatus {
        if self.status == ApprovalStatus::PendingApproval && self.expires_at <= now {
            ApprovalStatus::Expired
        } else {
            self.status
        }
    }
}

/// What an attempt to decide a pending approval (claim or reject) found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// This call made the decision; the approval as it now stands.
    Won(SwapApproval),
    /// Someone decided first; the approval as it now stands.
    AlreadyDecided(SwapApproval),
    /// It was still pending but past its expiry (now recorded as expired).
    Expired,
    /// No such approval for this user.
    NotFound,
}

/// How an executing swap ended (see [`Store::finish_approval`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalOutcome {
    /// The swap ran.
    Executed {
        /// What the upstream returned.
        result: serde_json::Value,
        /// The receipt of the execution.
        receipt_id: Option<Uuid>,
    },
    /// The swap failed.
    Failed {
        /// Machine-readable reason.
        error_code: String,
        /// Upstream details, if any.
        result: Option<serde_json::Value>,
        /// The receipt of the attempt.
        receipt_id: Option<Uuid>,
    },
}

/// A message for the bell in Dexter's UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The notification id.
    pub id: Uuid,
    /// Who sees it.
    pub user_id: Uuid,
    /// What it is about, e.g. `swap_approval_requested`.
    pub kind: String,
    /// One-line title.
    pub title: String,
    /// Structured details for the UI (e.g. the approval id).
    pub body: serde_json::Value,
    /// When it was raised.
    pub created_at: DateTime<Utc>,
    /// When the user read it.
    pub read_at: Option<DateTime<Utc>>,
}

/// A one-time ticket that moves a ChatGPT conversation into Dexter's voice mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceHandoff {
    /// The ticket id, put in the handoff link.
    pub id: Uuid,
    /// The Dexter user.
    pub user_id: Uuid,
    /// The grant that created it.
    pub grant_id: Uuid,
    /// Conversation context handed to voice.
    pub context: serde_json::Value,
    /// After this the link is dead.
    pub expires_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was used; a ticket is used at most once.
    pub consumed_at: Option<DateTime<Utc>>,
}

/// Everything the connector stores. One trait, shared as `Arc<dyn Store>`.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// A cheap round trip to the backend, for `/healthz`.
    async fn ping(&self) -> StoreResult<()>;

    /// Opens what the first request will need (a pooled connection), so that a cold
    /// start pays for it while the runtime waits for its first event. Best effort:
    /// a failure here is met again, and reported, by that request.
    async fn warm(&self) {}

    // --- profiles and entitlements ---

    /// Creates or replaces the connector's columns of a profile.
    async fn upsert_profile(&self, profile: &Profile) -> StoreResult<()>;
    /// Reads a profile.
    async fn get_profile(&self, user_id: Uuid) -> StoreResult<Option<Profile>>;
    /// Replaces the MCP tools a tier allows.
    async fn set_tier_tools(&self, tier: &str, tools: &[String]) -> StoreResult<()>;
    /// The MCP tools a tier allows (empty for an unknown tier).
    async fn tier_tools(&self, tier: &str) -> StoreResult<Vec<String>>;

    // --- OAuth clients ---

    /// Registers a client; [`StoreError::Conflict`] if the id was ever used.
    async fn create_client(&self, client: &OAuthClient) -> StoreResult<()>;
    /// Reads a (not deleted) client.
    async fn get_client(&self, id: &str) -> StoreResult<Option<OAuthClient>>;
    /// Every (not deleted) client, oldest first.
    async fn list_clients(&self) -> StoreResult<Vec<OAuthClient>>;
    /// Replaces the secret; the old one stays valid until `keep_previous_until` (or dies
    /// now when `None`). False if there is no such client.
    async fn rotate_client_secret(
        &self,
        id: &str,
        new_secret_hash: &str,
        keep_previous_until: Option<DateTime<Utc>>,
    ) -> StoreResult<bool>;
    /// Deletes a client and, in the same transaction, revokes every grant (and so every
    /// token) of it. False if there was no such client.
    async fn delete_client(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool>;

    // --- authorization requests ---

    /// Stores a new authorization request.
    async fn create_authorization_request(&self, request: &AuthorizationRequest) -> StoreResult<()>;
    /// Reads a request; `None` once it has expired.
    async fn get_authorization_request(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AuthorizationRequest>>;
    /// Records who logged in; false if the request is gone or expired.
    async fn set_authorization_request_user(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Counts a login attempt with `email`; the attempt count so far, `None` if no request.
    async fn record_login_attempt(&self, id: Uuid, email: &str) -> StoreResult<Option<i32>>;
    /// Forgets a finished or abandoned request; false if it was not there.
    async fn delete_authorization_request(&self, id: Uuid) -> StoreResult<bool>;

    // --- authorization codes ---

    /// Stores a freshly issued code (by hash); [`StoreError::Conflict`] on a duplicate hash.
    async fn create_authorization_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Spends a code atomically: exactly one caller ever gets `Redeemed`.
    async fn redeem_authorization_code(&self, code_hash: &str, now: DateTime<Utc>) -> StoreResult<CodeRedemption>;
    /// Records the grant a redeemed code produced; false if there is no such code.
    async fn attach_grant_to_code(&self, code_hash: &str, grant_id: Uuid) -> StoreResult<bool>;

    // --- grants ---

    /// Stores a new grant; [`StoreError::NotFound`] if its client does not exist (or was
    /// deleted meanwhile).
    async fn create_grant(&self, grant: &Grant) -> StoreResult<()>;
    /// Reads a grant, live or revoked.
    async fn get_grant(&self, id: Uuid) -> StoreResult<Option<Grant>>;
    /// A user's live grants, newest first, with their clients' names.
    async fn list_grants_for_user(&self, user_id: Uuid) -> StoreResult<Vec<GrantSummary>>;
    /// Revokes a grant and with it every refresh token; false if not found or already revoked.
    async fn revoke_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;
    /// [`Store::revoke_grant`], only if the grant belongs to `user_id`.
    async fn revoke_grant_for_user(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Records use of a grant.
    async fn touch_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()>;

    // --- refresh tokens ---

    /// Stores the first refresh token of a grant (by hash).
    async fn create_refresh_token(
        &self,
        token_hash: &str,
        grant_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Exchanges a refresh token for `new_hash`, in one transaction serialised per grant.
    ///
    /// A token is current until used, then retired (pointing at its successor). Presenting
    /// a retired token again is a replay. Within `grace` of its retirement, and while its
    /// successor has not been used, the replay is a client retry: a new token is issued
    /// and the unused successor invalidated, so a grant never has more than one usable
    /// token for long. Any other replay means the token leaked: the grant is revoked.
    /// Using a current token also invalidates any other unused token of the grant.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> StoreResult<Rotation>;
    /// RFC 7009 for refresh tokens: revokes the token's grant if it belongs to `client_id`.
    /// The revoked grant's id, `None` if the token is unknown or another client's.
    async fn revoke_grant_by_refresh_token(
        &self,
        token_hash: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>>;

    // --- actions ---

    /// Loads grant liveness, scopes, tier, channel switch and allowed tools in one round
    /// trip, bumping the grant's `last_used_at` if live and older than
    /// [`LAST_USED_GRANULARITY`]. `None` if the grant does not
    /// exist or is not `user_id`'s.
    async fn action_context(
        &self,
        grant_id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ActionContext>>;

    // --- receipts ---

    /// Stores one receipt, durably.
    async fn insert_receipt(&self, receipt: &Receipt) -> StoreResult<()> {
        self.insert_receipts(std::slice::from_ref(receipt), Durability::Durable).await
    }
    /// Stores several receipts in one round trip.
    async fn insert_receipts(&self, receipts: &[Receipt], durability: Durability) -> StoreResult<()>;
    /// Reads one of a user's receipts.
    async fn get_receipt(&self, id: Uuid, user_id: Uuid) -> StoreResult<Option<Receipt>>;
    /// A user's receipts, newest first, strictly after `before` when given.
    async fn list_receipts(
        &self,
        user_id: Uuid,
        before: Option<ReceiptCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Receipt>>;
    /// Sets a receipt's status (e.g. when its approval is decided); false if not found.
    async fn update_receipt_status(&self, id: Uuid, status: &str, error_code: Option<&str>) -> StoreResult<bool>;

    // --- swap approvals ---

    /// Stores `approval` unless the user has an unexpired one with the same idempotency
    /// key; returns the one that stands and whether this call created it.
    async fn create_or_get_approval(
        &self,
        approval: &SwapApproval,
        now: DateTime<Utc>,
    ) -> StoreResult<(SwapApproval, bool)>;
    /// Reads one of a user's approvals.
    async fn get_approval(&self, id: Uuid, user_id: Uuid) -> StoreResult<Option<SwapApproval>>;
    /// A user's approvals still waiting for a decision, newest first.
    async fn list_pending_approvals(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<SwapApproval>>;
    /// Approves: moves pending → executing exactly once, however many callers race.
    async fn claim_approval(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<ClaimOutcome>;
    /// Rejects: moves pending → rejected exactly once.
    async fn reject_approval(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<ClaimOutcome>;
    /// Records how an executing swap ended; false unless it was executing.
    async fn finish_approval(&self, id: Uuid, outcome: &ApprovalOutcome, now: DateTime<Utc>) -> StoreResult<bool>;

    // --- notifications and voice ---

    /// Raises a notification.
    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()>;
    /// A user's latest notifications, newest first.
    async fn list_notifications(&self, user_id: Uuid, limit: u32) -> StoreResult<Vec<Notification>>;
    /// Stores a voice handoff ticket.
    async fn create_voice_handoff(&self, handoff: &VoiceHandoff) -> StoreResult<()>;
    /// Uses a ticket: returns it the first time, before expiry; `None` ever after.
    async fn consume_voice_handoff(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<VoiceHandoff>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approval_status_names_round_trip() {
        for status in ApprovalStatus::ALL {
            assert_eq!(ApprovalStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).expect("serializes");
            assert_eq!(json, serde_json::json!(status.as_str()));
        }
        assert_eq!(ApprovalStatus::parse("approved"), None);
    }
}
