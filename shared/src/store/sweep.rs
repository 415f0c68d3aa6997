//! The sweep: what is no longer needed leaves the store, so no table grows without bound.
//!
//! Every record that has a useful life ends:
//! - an authorization request (and the email address typed on it) at its expiry;
//! - an unused authorization code at its expiry; a spent one [`SPENT_CODE_RETENTION`]
//!   after it (a spent code presented again revokes the grant it gave, RFC 9700 §4.2.4,
//!   even after expiry, so its row outlives the code);
//! - a refresh token at its own expiry, whether current, rotated, superseded or of a
//!   revoked grant: until then a rotated or superseded token's row must stay, because
//!   presenting it is reuse and revokes the grant (RFC 9700 §4.14.2); after it, presenting
//!   it is refused as expired before reuse is considered, so the row has done its job;
//! - a voice handoff once used or expired;
//! - a notification [`READ_NOTIFICATION_RETENTION`] after it was read, or
//!   [`NOTIFICATION_RETENTION`] after it was raised;
//! - a rate-limit window [`RATE_LIMIT_RETENTION`] after it started;
//! - a self-registered client (RFC 7591) never used within
//!   [`UNUSED_REGISTRATION_TTL`](super::clients::UNUSED_REGISTRATION_TTL) of registering,
//!   with its registration, once no grant, code or authorization request names it (it
//!   is refused from its expiry on, so none can start; one with a grant, even revoked,
//!   stays, so the grant keeps its client). Its row goes, not only its registration:
//!   these are what anyone can create without signing in;
//! - a spent client assertion `jti` once the assertion has expired (spending one also
//!   purges expired ones; the sweep catches those of clients that stopped coming).
//!
//! Receipts and swap approvals are the audit trail and stay; grants stay too (the user's
//! list of linked accounts).
//!
//! An approval still `executing` [`STUCK_EXECUTION`] after it was claimed was left by an
//! execution that crashed (an execution ends within the MCP deadline, seconds). Whether
//! the swap ran is unknown, so it is never run again: it becomes
//! [`ApprovalStatus::Unknown`](super::ApprovalStatus::Unknown) and the user is told, in the
//! same step, to check their wallet.
//!
//! Deletes run in batches of at most [`BATCH`] rows, each its own short statement, so a
//! large backlog never holds locks for long. Every step is idempotent and concurrent
//! sweeps are safe: a row is deleted or resolved by exactly one of them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Notification, StoreResult, SwapApproval};

/// Rows deleted per statement.
pub const BATCH: i64 = 5000;
/// How long a spent code's row outlives its expiry, so replaying it still revokes.
pub const SPENT_CODE_RETENTION: Duration = Duration::days(7);
/// How long an approval may stay `executing` before the sweep calls its outcome unknown.
pub const STUCK_EXECUTION: Duration = Duration::minutes(10);
/// Notifications older than this go, read or not.
pub const NOTIFICATION_RETENTION: Duration = Duration::days(30);
/// Read notifications go this long after they were read.
pub const READ_NOTIFICATION_RETENTION: Duration = Duration::days(7);
/// Rate-limit windows older than this go (longer than any budget's window in
/// [`crate::limits`], which also purges them as new windows open).
pub const RATE_LIMIT_RETENTION: Duration = Duration::days(1);
/// The notification kind raised for an approval whose outcome is unknown.
pub const OUTCOME_UNKNOWN_KIND: &str = "swap_outcome_unknown";
/// The error code recorded on such an approval.
pub const OUTCOME_UNKNOWN_CODE: &str = "outcome_unknown";

/// What one sweep removed or resolved, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Expired authorization requests (with their login emails).
    pub authorization_requests: u64,
    /// Expired unused authorization codes, and spent ones a week past expiry.
    pub authorization_codes: u64,
    /// Refresh tokens past their expiry (rotated, superseded, of revoked grants, or unused).
    pub refresh_tokens: u64,
    /// Used or expired voice handoffs.
    pub voice_handoffs: u64,
    /// Old or long-read notifications.
    pub notifications: u64,
    /// Finished rate-limit windows.
    pub rate_limit_windows: u64,
    /// Approvals stuck in `executing`, now `unknown` (each with a notification).
    pub stuck_approvals: u64,
    /// Self-registered clients never used, past their expiry (client and registration).
    #[serde(default)]
    pub client_registrations: u64,
    /// Spent client assertion `jti`s past their expiry.
    #[serde(default)]
    pub client_assertions: u64,
}

impl SweepReport {
    /// Everything removed or resolved.
    pub fn total(&self) -> u64 {
        self.authorization_requests
            + self.authorization_codes
            + self.refresh_tokens
            + self.voice_handoffs
            + self.notifications
            + self.rate_limit_windows
            + self.stuck_approvals
            + self.client_registrations
            + self.client_assertions
    }
}

/// The notification telling a user that a swap's outcome is unknown. Raised in the same
/// step that resolves the approval, which happens once, so it is raised once.
pub fn outcome_unknown_notification(approval: &SwapApproval, now: DateTime<Utc>) -> Notification {
    Notification {
        id: Uuid::new_v4(),
        user_id: approval.user_id,
        kind: OUTCOME_UNKNOWN_KIND.to_owned(),
        title: OUTCOME_UNKNOWN_TITLE.to_owned(),
        body: serde_json::json!({ "approval_id": approval.id }),
        created_at: now,
        read_at: None,
    }
}

/// The title of that notification.
pub const OUTCOME_UNKNOWN_TITLE: &str =
    "A swap you approved was interrupted: check your wallet to see whether it went through";

/// The sweep.
#[async_trait::async_trait]
pub trait SweepStore: Send + Sync {
    /// Removes what is no longer needed as of `now` and resolves approvals stuck in
    /// `executing` (see the module docs); what it did, per kind.
    async fn sweep(&self, now: DateTime<Utc>) -> StoreResult<SweepReport>;
}
