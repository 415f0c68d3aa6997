//! Swap approvals: swaps ChatGPT asked for, waiting for the user's decision in Dexter.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{ApprovalId, ClientId, GrantId, UserId};

use super::StoreResult;

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
    /// The execution was interrupted (a crash) and whether the swap ran is unknown; the
    /// sweep records this for an approval left `executing`, never runs it again, and tells
    /// the user to check their wallet (see [`crate::store::sweep`]).
    Unknown,
}

impl ApprovalStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [ApprovalStatus; 7] = [
        ApprovalStatus::PendingApproval,
        ApprovalStatus::Executing,
        ApprovalStatus::Executed,
        ApprovalStatus::Failed,
        ApprovalStatus::Rejected,
        ApprovalStatus::Expired,
        ApprovalStatus::Unknown,
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
            ApprovalStatus::Unknown => "unknown",
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
    pub id: ApprovalId,
    /// The Dexter user who must approve.
    pub user_id: UserId,
    /// The client that asked.
    pub client_id: ClientId,
    /// The grant it asked through.
    pub grant_id: GrantId,
    /// The caller's idempotency key; one pending approval per (user, key).
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

impl SwapApproval {
    /// Whether it still holds its idempotency key at `now`: only while it waits for the
    /// user. Once decided (approved, rejected, executed, failed) or expired, the key is
    /// free for a new request.
    pub fn holds_key_at(&self, now: DateTime<Utc>) -> bool {
        self.status_at(now) == ApprovalStatus::PendingApproval
    }
}

/// What asking for a swap approval under an idempotency key found
/// ([`ApprovalStore::create_or_get_approval`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RequestedApproval {
    /// Stored: no pending approval held the key (a decided or expired one gives it up).
    Created(SwapApproval),
    /// The same swap already waits under the key (a retry): the approval that stands.
    Repeated(SwapApproval),
    /// A pending approval for a different swap holds the key: nothing was stored. The
    /// approval that holds it.
    KeyReused(SwapApproval),
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

/// How an executing swap ended (see [`ApprovalStore::finish_approval`]).
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

/// The columns an [`ApprovalOutcome`] writes: status, result, error code, receipt.
/// Shared by the backends.
pub(in crate::store) fn outcome_columns(
    outcome: &ApprovalOutcome,
) -> (ApprovalStatus, Option<serde_json::Value>, Option<String>, Option<Uuid>) {
    match outcome {
        ApprovalOutcome::Executed { result, receipt_id } => {
            (ApprovalStatus::Executed, Some(result.clone()), None, *receipt_id)
        }
        ApprovalOutcome::Failed { error_code, result, receipt_id } => {
            (ApprovalStatus::Failed, result.clone(), Some(error_code.clone()), *receipt_id)
        }
    }
}

/// Swap approvals.
#[async_trait::async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Stores `approval` unless a pending, unexpired approval of the user holds the same
    /// idempotency key: then it is a retry when that approval's `request` equals this one
    /// (JSON equality), and a reused key otherwise (nothing stored). A decided or expired
    /// holder gives the key up to the new approval. The comparison and the insert are one
    /// atomic step: concurrent callers with one key get one approval, and a decision made
    /// meanwhile is seen.
    async fn create_or_get_approval(
        &self,
        approval: &SwapApproval,
        now: DateTime<Utc>,
    ) -> StoreResult<RequestedApproval>;
    /// Reads one of a user's approvals.
    async fn get_approval(&self, id: ApprovalId, user_id: UserId) -> StoreResult<Option<SwapApproval>>;
    /// A user's approvals still waiting for a decision, newest first.
    async fn list_pending_approvals(&self, user_id: UserId, now: DateTime<Utc>) -> StoreResult<Vec<SwapApproval>>;
    /// Approves: moves pending → executing exactly once, however many callers race.
    async fn claim_approval(&self, id: ApprovalId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<ClaimOutcome>;
    /// Rejects: moves pending → rejected exactly once.
    async fn reject_approval(&self, id: ApprovalId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<ClaimOutcome>;
    /// Records how an executing swap ended; false unless it was executing.
    async fn finish_approval(&self, id: ApprovalId, outcome: &ApprovalOutcome, now: DateTime<Utc>)
    -> StoreResult<bool>;
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
