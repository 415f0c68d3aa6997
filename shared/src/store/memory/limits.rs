//! [`LimitStore`] in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::store::{LimitKey, LimitStore, StoreResult};

#[async_trait]
impl LimitStore for MemoryStore {
    async fn count_hit(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<i64> {
        let mut state = self.state()?;
        let count = state.rate_limits.entry((bucket.to_owned(), key.clone(), window_start)).or_insert(0);
        *count += 1;
        Ok(*count)
    }

    async fn refund_hit(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<()> {
        let mut state = self.state()?;
        if let Some(count) = state.rate_limits.get_mut(&(bucket.to_owned(), key.clone(), window_start)) {
            *count = (*count - 1).max(0);
        }
        Ok(())
    }

    async fn hits(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<i64> {
        let state = self.state()?;
        Ok(state.rate_limits.get(&(bucket.to_owned(), key.clone(), window_start)).copied().unwrap_or(0))
    }

    async fn purge_limits(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.state()?;
        let was = state.rate_limits.len();
        state.rate_limits.retain(|(_, _, window_start), _| *window_start >= before);
        Ok((was - state.rate_limits.len()) as u64)
    }
}
