//! Checks of [`NotificationStore`](crate::store::NotificationStore): notifications and voice handoffs.

use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use super::now;
use crate::ids::{GrantId, UserId};
use crate::store::{Notification, Store, StoreError, VoiceHandoff};

/// Notifications list newest first, limited, per user.
pub async fn notifications_list_newest_first(store: &dyn Store) {
    let now = now();
    let user_id = UserId::random();
    let notifications: Vec<Notification> = (0..3)
        .map(|i| Notification {
            id: Uuid::new_v4(),
            user_id,
            kind: "swap_approval_requested".to_string(),
            title: format!("Approve swap {i}"),
            body: json!({"approval_id": Uuid::new_v4()}),
            created_at: now + Duration::seconds(i),
            read_at: None,
        })
        .collect();
    for notification in &notifications {
        store.insert_notification(notification).await.expect("insert");
    }
    assert!(matches!(store.insert_notification(&notifications[0]).await, Err(StoreError::Conflict(_))));
    let listed = store.list_notifications(user_id, 2).await.expect("list");
    assert_eq!(listed, vec![notifications[2].clone(), notifications[1].clone()]);
    assert!(store.list_notifications(UserId::random(), 10).await.expect("list").is_empty());
}

/// A voice handoff ticket works once, and never after it expires.
pub async fn voice_handoffs_are_single_use(store: &dyn Store) {
    let now = now();
    let handoff = VoiceHandoff {
        id: Uuid::new_v4(),
        user_id: UserId::random(),
        grant_id: GrantId::random(),
        context: json!({"topic": "SOL price"}),
        expires_at: now + Duration::minutes(5),
        created_at: now,
        consumed_at: None,
    };
    store.create_voice_handoff(&handoff).await.expect("create");
    // Someone else presenting the id neither reads nor spends it.
    assert_eq!(store.consume_voice_handoff(handoff.id, UserId::random(), now).await.expect("stranger"), None);
    let consumed = store.consume_voice_handoff(handoff.id, handoff.user_id, now).await.expect("consume");
    assert_eq!(consumed, Some(VoiceHandoff { consumed_at: Some(now), ..handoff.clone() }));
    assert_eq!(store.consume_voice_handoff(handoff.id, handoff.user_id, now).await.expect("again"), None);

    let expiring = VoiceHandoff { id: Uuid::new_v4(), ..handoff };
    store.create_voice_handoff(&expiring).await.expect("create");
    assert_eq!(
        store.consume_voice_handoff(expiring.id, expiring.user_id, expiring.expires_at).await.expect("expired"),
        None
    );
    assert_eq!(store.consume_voice_handoff(Uuid::new_v4(), handoff.user_id, now).await.expect("unknown"), None);
}
