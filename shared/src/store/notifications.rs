//! Notifications for the bell in Dexter's UI, and voice handoff tickets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{GrantId, UserId};

use super::StoreResult;

/// A message for the bell in Dexter's UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The notification id.
    pub id: Uuid,
    /// Who sees it.
    pub user_id: UserId,
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
    pub user_id: UserId,
    /// The grant that created it.
    pub grant_id: GrantId,
    /// Conversation context handed to voice.
    pub context: serde_json::Value,
    /// After this the link is dead.
    pub expires_at: DateTime<Utc>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was used; a ticket is used at most once.
    pub consumed_at: Option<DateTime<Utc>>,
}

/// Notifications and voice handoffs.
#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync {
    /// Raises a notification.
    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()>;
    /// A user's latest notifications, newest first.
    async fn list_notifications(&self, user_id: UserId, limit: u32) -> StoreResult<Vec<Notification>>;
    /// Stores a voice handoff ticket.
    async fn create_voice_handoff(&self, handoff: &VoiceHandoff) -> StoreResult<()>;
    /// Uses a ticket: returns it the first time, before expiry; `None` ever after.
    async fn consume_voice_handoff(
        &self,
        id: Uuid,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<VoiceHandoff>>;
}
