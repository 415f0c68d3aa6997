//! Checks of [`LimitStore`](crate::store::LimitStore): shared rate-limit counters.

use std::sync::Arc;

use chrono::Duration;
use uuid::Uuid;

use super::now;
use crate::store::{LimitKey, Store};

/// A unique bucket name, so checks never share counters.
fn a_bucket() -> String {
    format!("check-{}", Uuid::new_v4().simple())
}

/// Hits count per bucket, key and window; peeking does not count; old windows purge.
pub async fn rate_limit_windows_count_per_bucket_key_and_window(store: &dyn Store) {
    let now = now();
    let (bucket, other_bucket) = (a_bucket(), a_bucket());
    let key = LimitKey::of(&bucket, "a@example.com");
    let other_key = LimitKey::of(&bucket, "b@example.com");
    assert_eq!(store.hits(&bucket, &key, now).await.expect("hits"), 0);
    for expected in 1..=3 {
        assert_eq!(store.count_hit(&bucket, &key, now).await.expect("hit"), expected);
    }
    assert_eq!(store.hits(&bucket, &key, now).await.expect("hits"), 3);
    assert_eq!(store.hits(&bucket, &key, now).await.expect("hits"), 3, "peeking does not count");
    assert_eq!(store.count_hit(&bucket, &other_key, now).await.expect("hit"), 1, "another key");
    assert_eq!(store.count_hit(&other_bucket, &key, now).await.expect("hit"), 1, "another bucket");
    let next_window = now + Duration::hours(1);
    assert_eq!(store.count_hit(&bucket, &key, next_window).await.expect("hit"), 1, "another window");

    // Purging forgets windows that started before the cutoff, and only those.
    assert!(store.purge_limits(now + Duration::minutes(1)).await.expect("purge") >= 3);
    assert_eq!(store.hits(&bucket, &key, now).await.expect("hits"), 0);
    assert_eq!(store.hits(&bucket, &key, next_window).await.expect("hits"), 1);
}

/// A refund takes back one hit of its window only, never below zero; refunding a window
/// never hit creates nothing.
pub async fn rate_limit_refunds_take_back_one_hit(store: &dyn Store) {
    let now = now();
    let bucket = a_bucket();
    let key = LimitKey::of(&bucket, "c@example.com");
    let next_window = now + Duration::hours(1);
    store.refund_hit(&bucket, &key, now).await.expect("refund of nothing");
    assert_eq!(store.hits(&bucket, &key, now).await.expect("hits"), 0);
    for _ in 0..2 {
        store.count_hit(&bucket, &key, now).await.expect("hit");
    }
    store.count_hit(&bucket, &key, next_window).await.expect("hit");
    store.refund_hit(&bucket, &key, now).await.expect("refund");
    assert_eq!(store.hits(&bucket, &key, now).await.expect("hits"), 1);
    assert_eq!(store.hits(&bucket, &key, next_window).await.expect("hits"), 1, "another window is untouched");
    assert_eq!(store.count_hit(&bucket, &key, now).await.expect("hit"), 2, "the refunded use is free again");
    for _ in 0..3 {
        store.refund_hit(&bucket, &key, now).await.expect("refund");
    }
    assert_eq!(store.hits(&bucket, &key, now).await.expect("hits"), 0, "never below zero");
    assert_eq!(store.count_hit(&bucket, &key, now).await.expect("hit"), 1);
}

/// Keys are hashes: neither the value nor the bucket can be read back from one.
pub async fn rate_limit_keys_do_not_hold_the_value(store: &dyn Store) {
    let bucket = a_bucket();
    let key = LimitKey::of(&bucket, "victim@example.com");
    assert_eq!(key.as_str().len(), 64);
    assert!(key.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!key.as_str().contains("victim"));
    assert_ne!(key, LimitKey::of(&a_bucket(), "victim@example.com"), "the bucket is part of the key");
    assert_eq!(store.count_hit(&bucket, &key, now()).await.expect("hit"), 1);
}

/// Twenty concurrent hits on one key: each sees a different count, 1 to 20.
pub async fn concurrent_rate_limit_hits_each_see_their_own_count(store: Arc<dyn Store>) {
    let now = now();
    let bucket = a_bucket();
    let key = LimitKey::of(&bucket, "198.51.100.7");
    let hits: Vec<_> = (0..20)
        .map(|_| {
            let (store, bucket, key) = (store.clone(), bucket.clone(), key.clone());
            tokio::spawn(async move { store.count_hit(&bucket, &key, now).await })
        })
        .collect();
    let mut counts = Vec::new();
    for hit in hits {
        counts.push(hit.await.expect("task").expect("hit"));
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<i64>>());
    assert_eq!(store.hits(&bucket, &key, now).await.expect("hits"), 20);
}
