//! Receipts: the audit record of every action.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StoreResult;
use super::approvals::ApprovalStatus;
use crate::ids::{ApprovalId, ClientId, UserId};

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

/// What became of the step a receipt records. Stored and serialized as its snake_case
/// name (`ok`, `error`, `pending_approval`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// The tool call (or the step) succeeded.
    Ok,
    /// The tool call failed; `error_code` says why.
    Error,
    /// A swap approval's state when the receipt was written (`swap_execute` records the
    /// approval it asked for, or found, as it stood).
    PendingApproval,
    /// See [`ApprovalStatus::Executing`].
    Executing,
    /// See [`ApprovalStatus::Executed`].
    Executed,
    /// See [`ApprovalStatus::Failed`].
    Failed,
    /// See [`ApprovalStatus::Rejected`].
    Rejected,
    /// See [`ApprovalStatus::Expired`].
    Expired,
}

impl ReceiptStatus {
    /// Every status.
    pub const ALL: [ReceiptStatus; 8] = [
        ReceiptStatus::Ok,
        ReceiptStatus::Error,
        ReceiptStatus::PendingApproval,
        ReceiptStatus::Executing,
        ReceiptStatus::Executed,
        ReceiptStatus::Failed,
        ReceiptStatus::Rejected,
        ReceiptStatus::Expired,
    ];

    /// The stored (and serialized) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptStatus::Ok => "ok",
            ReceiptStatus::Error => "error",
            ReceiptStatus::PendingApproval => "pending_approval",
            ReceiptStatus::Executing => "executing",
            ReceiptStatus::Executed => "executed",
            ReceiptStatus::Failed => "failed",
            ReceiptStatus::Rejected => "rejected",
            ReceiptStatus::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<ReceiptStatus> {
        ReceiptStatus::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// `ok` for a success, `error` for a failure.
    pub fn of<T, E>(result: &Result<T, E>) -> ReceiptStatus {
        if result.is_ok() { ReceiptStatus::Ok } else { ReceiptStatus::Error }
    }
}

impl From<ApprovalStatus> for ReceiptStatus {
    fn from(status: ApprovalStatus) -> ReceiptStatus {
        match status {
            ApprovalStatus::PendingApproval => ReceiptStatus::PendingApproval,
            ApprovalStatus::Executing => ReceiptStatus::Executing,
            ApprovalStatus::Executed => ReceiptStatus::Executed,
            ApprovalStatus::Failed => ReceiptStatus::Failed,
            ApprovalStatus::Rejected => ReceiptStatus::Rejected,
            ApprovalStatus::Expired => ReceiptStatus::Expired,
        }
    }
}

impl std::fmt::Display for ReceiptStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An audit record of one action, returned to ChatGPT and shown in Dexter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The receipt id.
    pub id: Uuid,
    /// The Dexter user.
    pub user_id: UserId,
    /// The OAuth client that called.
    pub client_id: ClientId,
    /// The GPT action, e.g. `swap_preview`.
    pub action: String,
    /// The MCP tool called, if any.
    pub mcp_tool: Option<String>,
    /// SHA-256 hex of the canonical arguments (never the arguments themselves).
    pub args_digest: String,
    /// `ok`, `error`, `pending_approval`, …
    pub status: ReceiptStatus,
    /// Machine-readable error code when `status` is `error`.
    pub error_code: Option<String>,
    /// Time spent in the upstream MCP call.
    pub upstream_latency_ms: Option<i64>,
    /// The request id (`x-request-id`) that produced it.
    pub request_id: String,
    /// The swap approval this receipt belongs to, if any.
    pub approval_id: Option<ApprovalId>,
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

/// Receipts.
#[async_trait::async_trait]
pub trait ReceiptStore: Send + Sync {
    /// Stores one receipt, durably.
    async fn insert_receipt(&self, receipt: &Receipt) -> StoreResult<()> {
        self.insert_receipts(std::slice::from_ref(receipt), Durability::Durable).await
    }
    /// Stores several receipts in one round trip.
    async fn insert_receipts(&self, receipts: &[Receipt], durability: Durability) -> StoreResult<()>;
    /// Reads one of a user's receipts.
    async fn get_receipt(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<Receipt>>;
    /// A user's receipts, newest first, strictly after `before` when given.
    async fn list_receipts(
        &self,
        user_id: UserId,
        before: Option<ReceiptCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Receipt>>;
    /// Sets a receipt's status (e.g. when its approval is decided); false if not found.
    async fn update_receipt_status(
        &self,
        id: Uuid,
        status: ReceiptStatus,
        error_code: Option<&str>,
    ) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_status_names_round_trip() {
        for status in ReceiptStatus::ALL {
            assert_eq!(ReceiptStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).expect("serializes");
            assert_eq!(json, serde_json::json!(status.as_str()));
        }
        for status in ApprovalStatus::ALL {
            assert_eq!(ReceiptStatus::from(status).as_str(), status.as_str());
        }
        assert_eq!(ReceiptStatus::parse("approved"), None);
    }
}
