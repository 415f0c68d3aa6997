//! [`NotificationStore`] on Postgres: `connector_notifications` and
//! `connector_voice_handoffs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{PgStore, conflict_on_duplicate};
use crate::ids::UserId;
use crate::store::{Notification, NotificationStore, StoreResult, VoiceHandoff};

const NOTIFICATION_COLUMNS: &str = "id, user_id, kind, title, body, created_at, read_at";

fn notification_from_row(row: &Row) -> StoreResult<Notification> {
    Ok(Notification {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        read_at: row.try_get("read_at")?,
    })
}

const HANDOFF_COLUMNS: &str = "id, user_id, grant_id, context, expires_at, created_at, consumed_at";

fn handoff_from_row(row: &Row) -> StoreResult<VoiceHandoff> {
    Ok(VoiceHandoff {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        grant_id: row.try_get("grant_id")?,
        context: row.try_get("context")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        consumed_at: row.try_get("consumed_at")?,
    })
}

#[async_trait]
impl NotificationStore for PgStore {
    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_notifications ({NOTIFICATION_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        );
        self.execute_or(
            &sql,
            &[
                (&notification.id, Type::UUID),
                (&notification.user_id, Type::UUID),
                (&notification.kind, Type::TEXT),
                (&notification.title, Type::TEXT),
                (&notification.body, Type::JSONB),
                (&notification.created_at, Type::TIMESTAMPTZ),
                (&notification.read_at, Type::TIMESTAMPTZ),
            ],
            conflict_on_duplicate("notification"),
        )
        .await?;
        Ok(())
    }

    async fn list_notifications(&self, user_id: UserId, limit: u32) -> StoreResult<Vec<Notification>> {
        let sql = format!(
            "select {NOTIFICATION_COLUMNS} from connector_notifications where user_id = $1 \
             order by created_at desc, id desc limit $2"
        );
        self.query_all(&sql, &[(&user_id, Type::UUID), (&i64::from(limit), Type::INT8)], notification_from_row).await
    }

    async fn create_voice_handoff(&self, handoff: &VoiceHandoff) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_voice_handoffs ({HANDOFF_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        );
        self.execute_or(
            &sql,
            &[
                (&handoff.id, Type::UUID),
                (&handoff.user_id, Type::UUID),
                (&handoff.grant_id, Type::UUID),
                (&handoff.context, Type::JSONB),
                (&handoff.expires_at, Type::TIMESTAMPTZ),
                (&handoff.created_at, Type::TIMESTAMPTZ),
                (&handoff.consumed_at, Type::TIMESTAMPTZ),
            ],
            conflict_on_duplicate("voice handoff"),
        )
        .await?;
        Ok(())
    }

    async fn consume_voice_handoff(
        &self,
        id: Uuid,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<VoiceHandoff>> {
        let sql = format!(
            "update connector_voice_handoffs set consumed_at = $2 \
             where id = $1 and user_id = $3 and consumed_at is null and expires_at > $2 \
             returning {HANDOFF_COLUMNS}"
        );
        self.query_opt(&sql, &[(&id, Type::UUID), (&now, Type::TIMESTAMPTZ), (&user_id, Type::UUID)], handoff_from_row)
            .await
    }
}
