//! Receipts: the audit record of every action.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StoreResult;
use super::approvals::ApprovalStatus;
use crate::ids::{ApprovalId, ClientId, UserId};

/// What became of the step a receipt records. Stored and serialized as its name: `ok`,
/// `error`, or the swap approval's status (`pending_approval`, …) when the receipt
/// records an approval as it stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptStatus {
    /// The tool call (or the step) succeeded.
    Ok,
    /// The tool call failed; `error_code` says why.
    Error,
    /// A swap approval's state when the receipt was written (`swap_execute` records the
    /// approval it asked for, or found, as it stood).
    Approval(ApprovalStatus),
}

impl ReceiptStatus {
    /// The stored (and serialized) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptStatus::Ok => "ok",
            ReceiptStatus::Error => "error",
            ReceiptStatus::Approval(status) => status.as_str(),
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<ReceiptStatus> {
        match name {
            "ok" => Some(ReceiptStatus::Ok),
            "error" => Some(ReceiptStatus::Error),
            other => ApprovalStatus::parse(other).map(ReceiptStatus::Approval),
        }
    }

    /// `ok` for a success, `error` for a failure.
    pub fn of<T, E>(result: &Result<T, E>) -> ReceiptStatus {
        if result.is_ok() { ReceiptStatus::Ok } else { ReceiptStatus::Error }
    }
}

impl From<ApprovalStatus> for ReceiptStatus {
    fn from(status: ApprovalStatus) -> ReceiptStatus {
        ReceiptStatus::Approval(status)
    }
}

impl std::fmt::Display for ReceiptStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReceiptStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReceiptStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ReceiptStatus::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown receipt status {name:?}")))
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
    /// Stores one receipt.
    async fn insert_receipt(&self, receipt: &Receipt) -> StoreResult<()> {
        self.insert_receipts(std::slice::from_ref(receipt)).await
    }
    /// Stores several receipts in one round trip, all or nothing, durably: once this
    /// returns, a database crash cannot lose them (their ids are about to be handed out).
    async fn insert_receipts(&self, receipts: &[Receipt]) -> StoreResult<()>;
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
        let all =
            [ReceiptStatus::Ok, ReceiptStatus::Error].into_iter().chain(ApprovalStatus::ALL.map(ReceiptStatus::from));
        for status in all {
            assert_eq!(ReceiptStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).expect("serializes");
            assert_eq!(json, serde_json::json!(status.as_str()));
            assert_eq!(serde_json::from_value::<ReceiptStatus>(json).expect("deserializes"), status);
        }
        for status in ApprovalStatus::ALL {
            assert_eq!(ReceiptStatus::from(status).as_str(), status.as_str());
        }
        assert_eq!(ReceiptStatus::parse("approved"), None);
    }
}
