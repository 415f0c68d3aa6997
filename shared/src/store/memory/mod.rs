//! The in-process store: plain maps behind one mutex, for `connector serve` without a
//! database and for fast tests. [`MemoryStore`] and its state are here, one module per
//! record family with that family's methods.
//!
//! One mutex over all the maps makes every method a transaction, which is how this
//! backend matches the atomicity the Postgres one gets from SQL (single-use codes,
//! exactly-once approval claims, refresh rotation). The lock is never held across an
//! `.await`. Data lives as long as the process, less what the sweep removes and the
//! per-user caps drop (see the `sweep` module).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use anyhow::anyhow;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::{ApprovalId, ClientId, GrantId, TokenHash, UserId};

use super::{
    AuthorizationCode, AuthorizationRequest, Grant, Health, LimitKey, Notification, OAuthClient, Profile, Receipt,
    StoreError, StoreResult, SwapApproval, VoiceHandoff,
};

mod approvals;
mod authorization;
mod clients;
mod grants;
mod limits;
mod notifications;
mod profiles;
mod receipts;
mod sweep;

pub use sweep::{NOTIFICATIONS_PER_USER, RECEIPTS_PER_USER};

/// The in-memory store. Cheap to create; starts with the same tier defaults the
/// migrations seed.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    profiles: HashMap<UserId, Profile>,
    tier_tools: HashMap<String, Vec<String>>,
    /// Deleted clients stay (with their deletion time) so their ids are never reused.
    clients: HashMap<ClientId, (OAuthClient, Option<DateTime<Utc>>)>,
    /// Self-registered and metadata-document clients' registrations.
    registrations: HashMap<ClientId, super::ClientRegistration>,
    /// Spent client assertion `jti`s and when each expires.
    assertion_jtis: HashMap<(ClientId, String), DateTime<Utc>>,
    authorization_requests: HashMap<Uuid, AuthorizationRequest>,
    codes: HashMap<TokenHash, StoredCode>,
    grants: HashMap<GrantId, Grant>,
    refresh_tokens: HashMap<TokenHash, StoredRefreshToken>,
    receipts: HashMap<Uuid, Receipt>,
    approvals: HashMap<ApprovalId, StoredApproval>,
    notifications: HashMap<Uuid, Notification>,
    voice_handoffs: HashMap<Uuid, VoiceHandoff>,
    /// Rate-limit counters by (bucket, key, window start).
    rate_limits: HashMap<(String, LimitKey, DateTime<Utc>), i64>,
    /// Each user's notification ids, oldest first: the per-user cap drops from the front.
    notification_order: HashMap<UserId, VecDeque<Uuid>>,
    /// Each user's receipt ids, oldest first: the per-user cap drops from the front.
    receipt_order: HashMap<UserId, VecDeque<Uuid>>,
}

#[derive(Debug)]
struct StoredCode {
    code: AuthorizationCode,
    used_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct StoredRefreshToken {
    grant_id: GrantId,
    expires_at: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    replaced_by: Option<TokenHash>,
    /// Set when the token was superseded unused (a tombstone: presenting it is a replay).
    superseded_at: Option<DateTime<Utc>>,
}

impl StoredRefreshToken {
    /// A new current token of `grant_id`.
    fn new(grant_id: GrantId, expires_at: DateTime<Utc>) -> StoredRefreshToken {
        StoredRefreshToken { grant_id, expires_at, rotated_at: None, replaced_by: None, superseded_at: None }
    }

    /// Neither used nor superseded: it can still be used.
    fn is_current(&self) -> bool {
        self.rotated_at.is_none() && self.superseded_at.is_none()
    }
}

#[derive(Debug)]
struct StoredApproval {
    approval: SwapApproval,
    /// False once a newer approval took over the idempotency key (after a decision or
    /// expiry).
    holds_key: bool,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with the default tier → tools table.
    pub fn new() -> Self {
        let tier_tools = default_tier_tools()
            .into_iter()
            .map(|(tier, tools)| {
                let tools = tools.iter().map(|tool| tool.to_string()).collect();
                (tier.to_string(), tools)
            })
            .collect();
        MemoryStore { state: Mutex::new(State { tier_tools, ..State::default() }) }
    }

    fn state(&self) -> StoreResult<MutexGuard<'_, State>> {
        // A poisoned lock means a panic mid-update; refuse to serve half-written state.
        self.state.lock().map_err(|_| StoreError::Unexpected(anyhow!("memory store lock poisoned")))
    }
}

/// The tier defaults `migrations/0001_profiles_and_tiers.sql` seeds.
fn default_tier_tools() -> [(&'static str, Vec<&'static str>); 2] {
    let free = vec![
        "list_my_wallets",
        "solana_list_balances",
        "solana_resolve_token",
        "solana_swap_preview",
        "search",
        "alerts_list",
    ];
    let mut pro = free.clone();
    pro.extend(["solana_swap_execute", "alerts_create", "pumpstream_live_summary"]);
    [("free", free), ("pro", pro)]
}

impl State {
    fn live_client(&self, id: &ClientId) -> Option<&OAuthClient> {
        match self.clients.get(id) {
            Some((client, None)) => Some(client),
            _ => None,
        }
    }
}

#[async_trait]
impl Health for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.state().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MemoryStore;
    use crate::store::Store;

    /// A fresh memory store, for every check of the conformance suite.
    async fn memory_store() -> (Arc<dyn Store>, ()) {
        (Arc::new(MemoryStore::new()), ())
    }

    crate::store_conformance!(tests: memory_store);
}
