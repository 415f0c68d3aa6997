//! [`LimitStore`] on Postgres: `connector_rate_limits`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::PgStore;
use crate::store::{LimitKey, LimitStore, StoreResult};

#[async_trait]
impl LimitStore for PgStore {
    async fn count_hit(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<i64> {
        // One upsert: the row lock serialises concurrent hits, and each returns its own
        // count, so no two callers both see themselves under a limit that only one fits.
        let row = self
            .conn()
            .await?
            .query_typed_one(
                "insert into connector_rate_limits as l (bucket, key_hash, window_start, count) \
                 values ($1, $2, $3, 1) \
                 on conflict (bucket, key_hash, window_start) do update set count = l.count + 1 \
                 returning count",
                &[(&bucket, Type::TEXT), (&key.as_str(), Type::TEXT), (&window_start, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(row.try_get("count")?)
    }

    async fn refund_hit(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<()> {
        self.execute(
            "update connector_rate_limits set count = count - 1 \
             where bucket = $1 and key_hash = $2 and window_start = $3 and count > 0",
            &[(&bucket, Type::TEXT), (&key.as_str(), Type::TEXT), (&window_start, Type::TIMESTAMPTZ)],
        )
        .await?;
        Ok(())
    }

    async fn hits(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<i64> {
        let count = self
            .query_opt(
                "select count from connector_rate_limits \
                 where bucket = $1 and key_hash = $2 and window_start = $3",
                &[(&bucket, Type::TEXT), (&key.as_str(), Type::TEXT), (&window_start, Type::TIMESTAMPTZ)],
                |row| Ok(row.try_get::<_, i64>("count")?),
            )
            .await?;
        Ok(count.unwrap_or(0))
    }

    async fn purge_limits(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.execute("delete from connector_rate_limits where window_start < $1", &[(&before, Type::TIMESTAMPTZ)]).await
    }
}
