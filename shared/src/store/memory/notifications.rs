//! [`NotificationStore`] in memory.

use std::cmp::Reverse;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::MemoryStore;
use crate::ids::UserId;
use crate::store::{Notification, NotificationStore, StoreError, StoreResult, VoiceHandoff};

#[async_trait]
impl NotificationStore for MemoryStore {
    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.notifications.contains_key(&notification.id) {
            return Err(StoreError::Conflict("notification"));
        }
        state.add_notification(notification.clone());
        Ok(())
    }

    async fn list_notifications(&self, user_id: UserId, limit: u32) -> StoreResult<Vec<Notification>> {
        let state = self.state()?;
        let mut notifications: Vec<Notification> =
            state.notifications.values().filter(|n| n.user_id == user_id).cloned().collect();
        notifications.sort_by_key(|x| Reverse((x.created_at, x.id)));
        notifications.truncate(limit as usize);
        Ok(notifications)
    }

    async fn create_voice_handoff(&self, handoff: &VoiceHandoff) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.voice_handoffs.contains_key(&handoff.id) {
            return Err(StoreError::Conflict("voice handoff"));
        }
        state.voice_handoffs.insert(handoff.id, handoff.clone());
        Ok(())
    }

    async fn consume_voice_handoff(
        &self,
        id: Uuid,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<VoiceHandoff>> {
        let mut state = self.state()?;
        Ok(match state.voice_handoffs.get_mut(&id) {
            Some(handoff)
                if handoff.user_id == user_id && handoff.consumed_at.is_none() && handoff.expires_at > now =>
            {
                handoff.consumed_at = Some(now);
                Some(handoff.clone())
            }
            _ => None,
        })
    }
}
