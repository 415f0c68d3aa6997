//! Rate-limit counters: how many times something happened to one key in one fixed window
//! (sign-in emails to an address this hour, codes tried on one authorization request,
//! requests from one client address). Kept in the store so that every Lambda instance
//! counts against the same budget; [`crate::limits`] decides what the counts mean.
//!
//! Keys are stored hashed ([`LimitKey`]): the table never holds an email address or an
//! IP address in the clear.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::StoreResult;

/// The stored form of a limited value: SHA-256 hex over the bucket and the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LimitKey(String);

impl LimitKey {
    /// The key of `value` in `bucket` (the bucket is hashed in too, so one value has
    /// unrelated keys in different buckets).
    pub fn of(bucket: &str, value: &str) -> LimitKey {
        let mut hasher = Sha256::new();
        hasher.update(b"dexter-connector rate limit\0");
        hasher.update(bucket.as_bytes());
        hasher.update(b"\0");
        hasher.update(value.as_bytes());
        LimitKey(hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shared counters in fixed windows.
#[async_trait::async_trait]
pub trait LimitStore: Send + Sync {
    /// Counts one hit on `key` in `bucket` for the window starting at `window_start`,
    /// atomically, and returns the window's count including this hit. Of any number of
    /// concurrent callers, each sees a different count.
    async fn count_hit(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<i64>;
    /// Takes back one hit counted in the window (never below zero): for a use that did
    /// not happen because a service the connector depends on failed.
    async fn refund_hit(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<()>;
    /// The window's count so far, without counting (0 for a window never hit).
    async fn hits(&self, bucket: &str, key: &LimitKey, window_start: DateTime<Utc>) -> StoreResult<i64>;
    /// Forgets every window that started before `before`; how many were forgotten.
    async fn purge_limits(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
