//! Budgets: how often something may happen per email address, per client address or per
//! authorization request, counted in the store so that every Lambda instance spends from
//! the same budget (issue 12, "Sign-in"; the numbers are documented in
//! `docs/security.md`).
//!
//! A [`Budget`] is a bucket name, a limit and a fixed window. [`spend`] counts one use
//! atomically *before* the guarded work and says whether it fits: of any number of
//! concurrent callers, exactly `limit` are allowed per window. [`exhausted`] only looks,
//! for budgets that count failures after the fact (the token endpoint). [`refund`] gives a
//! use back when it never happened because Supabase Auth or Turnstile was down. Windows are
//! aligned to the epoch (an hourly budget restarts on the hour), except per-request
//! budgets, which last as long as their request.
//!
//! Keys are hashed before they reach the store ([`LimitKey`]).

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::store::{LimitKey, Store, StoreResult};

/// How often one thing may happen to one key in one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The counter's name in the store (`connector_rate_limits.bucket`).
    pub bucket: &'static str,
    /// Uses allowed per window.
    pub limit: i64,
    /// The window's length.
    pub window: Duration,
}

/// One-time codes and magic links tried on one authorization request; after the last one
/// the request is deleted. Counted from the request's creation, for its whole lifetime
/// (`oauth::AUTHORIZATION_REQUEST_TTL`, which a test keeps within this window).
pub const CODES_PER_REQUEST: Budget = Budget { bucket: "code-per-request", limit: 5, window: Duration::minutes(15) };
/// One-time codes and magic links tried for one email address, across requests.
pub const CODES_PER_EMAIL: Budget = Budget { bucket: "code-per-email", limit: 10, window: Duration::hours(1) };
/// Sign-in emails one authorization request may send (counted from its creation).
pub const EMAILS_PER_REQUEST: Budget = Budget { bucket: "email-per-request", limit: 5, window: Duration::minutes(15) };
/// Sign-in emails sent to one address, across requests.
pub const EMAILS_PER_ADDRESS: Budget = Budget { bucket: "email-per-address", limit: 5, window: Duration::hours(1) };
/// Sign-in emails requested from one client address.
pub const EMAILS_PER_IP: Budget = Budget { bucket: "email-per-ip", limit: 20, window: Duration::hours(1) };
/// Requests to `/oauth/chatgpt/authorize` from one client address. Each valid one stores an
/// authorization request, and the endpoint needs no credentials: without a budget a
/// flood of requests would fill the table and use up the route's API Gateway throttle.
pub const AUTHORIZE_PER_IP: Budget = Budget { bucket: "authorize-per-ip", limit: 100, window: Duration::minutes(10) };
/// Requests to `/oauth/chatgpt/login` from one client address.
pub const LOGIN_PER_IP: Budget = Budget { bucket: "login-per-ip", limit: 100, window: Duration::minutes(10) };
/// Requests to `/oauth/chatgpt/callback` (codes and magic links) from one client address.
pub const CALLBACK_PER_IP: Budget = Budget { bucket: "callback-per-ip", limit: 100, window: Duration::minutes(10) };
/// Refused requests (4xx) to `/oauth/chatgpt/token` from one client address. Only
/// refusals count: ChatGPT's servers make every user's token requests from a few
/// addresses, and their successful exchanges and refreshes must never be throttled.
pub const TOKEN_FAILURES_PER_IP: Budget =
    Budget { bucket: "token-failures-per-ip", limit: 100, window: Duration::minutes(10) };

/// Client registrations (RFC 7591, `/oauth/register`) from one client address. A client
/// registers once per install; a flood of registrations is someone filling the table.
pub const REGISTRATIONS_PER_IP: Budget =
    Budget { bucket: "registrations-per-ip", limit: 20, window: Duration::hours(1) };

/// Windows older than this are purged (longer than any budget's window).
const KEEP_WINDOWS: Duration = crate::store::sweep::RATE_LIMIT_RETENTION;

/// Whether a use fits its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over budget until the window ends.
    Exceeded {
        retry_after: Duration,
    },
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed)
    }
}

impl Budget {
    /// The start of the fixed window `now` falls in.
    pub fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let length = self.window.num_seconds().max(1);
        let start = now.timestamp().div_euclid(length) * length;
        Utc.timestamp_opt(start, 0).single().unwrap_or(now)
    }

    fn verdict(&self, count: i64, window_start: DateTime<Utc>, now: DateTime<Utc>) -> Verdict {
        if count <= self.limit {
            Verdict::Allowed
        } else {
            let retry_after = (window_start + self.window - now).max(Duration::seconds(1));
            Verdict::Exceeded { retry_after }
        }
    }
}

/// Counts one use of `budget` by `key` in the window of `now` and says whether it fits.
/// The use is counted even when it does not fit (a caller over budget stays over it).
pub async fn spend(store: &dyn Store, budget: &Budget, key: &str, now: DateTime<Utc>) -> StoreResult<Verdict> {
    spend_in(store, budget, key, budget.window_start(now), now).await
}

/// [`spend`] in the window that starts at `window_start` rather than an aligned one: for
/// budgets of a thing with its own lifetime, such as an authorization request.
pub async fn spend_in(
    store: &dyn Store,
    budget: &Budget,
    key: &str,
    window_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Verdict> {
    let count = store.count_hit(budget.bucket, &LimitKey::of(budget.bucket, key), window_start).await?;
    if count == 1 {
        // A new window opened: a cheap moment to forget long-finished ones, so the table
        // stays as small as the traffic of the last day.
        store.purge_limits(now - KEEP_WINDOWS).await?;
    }
    Ok(budget.verdict(count, window_start, now))
}

/// Gives back one use of `budget` by `key` that [`spend`] counted at `now` (the same
/// `now`, so the same window): for a use that did not happen because a service the
/// connector depends on was unavailable. Our outage is not the person's attempt.
pub async fn refund(store: &dyn Store, budget: &Budget, key: &str, now: DateTime<Utc>) -> StoreResult<()> {
    refund_in(store, budget, key, budget.window_start(now)).await
}

/// [`refund`] of a use counted by [`spend_in`] in the window starting at `window_start`.
pub async fn refund_in(store: &dyn Store, budget: &Budget, key: &str, window_start: DateTime<Utc>) -> StoreResult<()> {
    store.refund_hit(budget.bucket, &LimitKey::of(budget.bucket, key), window_start).await
}

/// Whether `key` has already used all of `budget` in the window of `now`, without
/// counting a use: for budgets whose uses are counted afterwards, with [`spend`].
pub async fn exhausted(store: &dyn Store, budget: &Budget, key: &str, now: DateTime<Utc>) -> StoreResult<Verdict> {
    let window_start = budget.window_start(now);
    let count = store.hits(budget.bucket, &LimitKey::of(budget.bucket, key), window_start).await?;
    // `count` uses so far: one more fits while count < limit.
    Ok(budget.verdict(count + 1, window_start, now))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::memory::MemoryStore;

    const BUDGET: Budget = Budget { bucket: "test", limit: 3, window: Duration::hours(1) };

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 5, 42, 17).unwrap();
        assert_eq!(BUDGET.window_start(now), Utc.with_ymd_and_hms(2026, 12, 2, 5, 0, 0).unwrap());
    }

    #[tokio::test]
    async fn a_budget_allows_its_limit_then_says_when_to_retry() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 5, 42, 0).unwrap();
        for _ in 0..3 {
            assert!(exhausted(store.as_ref(), &BUDGET, "k", now).await.unwrap().is_allowed());
            assert_eq!(spend(store.as_ref(), &BUDGET, "k", now).await.unwrap(), Verdict::Allowed);
        }
        let over = Verdict::Exceeded { retry_after: Duration::minutes(18) };
        assert_eq!(exhausted(store.as_ref(), &BUDGET, "k", now).await.unwrap(), over);
        assert_eq!(spend(store.as_ref(), &BUDGET, "k", now).await.unwrap(), over);
        assert_eq!(spend(store.as_ref(), &BUDGET, "other", now).await.unwrap(), Verdict::Allowed);
        let next_hour = now + Duration::minutes(18);
        assert_eq!(spend(store.as_ref(), &BUDGET, "k", next_hour).await.unwrap(), Verdict::Allowed);
    }
}
