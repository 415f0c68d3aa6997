//! Receipts: the audit record of every action.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::StoreResult;

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
}
