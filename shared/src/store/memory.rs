//! The in-process [`Store`]: plain maps behind one mutex, for `connector serve` without a
//! database and for fast tests.
//!
//! One mutex over all the maps makes every method a transaction, which is how this
//! backend matches the atomicity the Postgres one gets from SQL (single-use codes,
//! exactly-once approval claims, refresh rotation). The lock is never held across an
//! `.await`. Data lives as long as the process.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use anyhow::anyhow;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    ActionContext, ApprovalOutcome, ApprovalStatus, AuthorizationCode, AuthorizationRequest, ClaimOutcome,
    CodeRedemption, Durability, Grant, GrantSummary, LAST_USED_GRANULARITY, Notification, OAuthClient, Profile,
    Receipt, ReceiptCursor, Rotation, Store, StoreError, StoreResult, SwapApproval, VoiceHandoff,
};

/// The tier a user without a profile gets.
const DEFAULT_TIER: &str = "free";

/// The in-memory store. Cheap to create; starts with the same tier defaults the
/// migrations seed.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    profiles: HashMap<Uuid, Profile>,
    tier_tools: HashMap<String, Vec<String>>,
    /// Deleted clients stay (with their deletion time) so their ids are never reused.
    clients: HashMap<String, (OAuthClient, Option<DateTime<Utc>>)>,
    authorization_requests: HashMap<Uuid, AuthorizationRequest>,
    codes: HashMap<String, StoredCode>,
    grants: HashMap<Uuid, Grant>,
    refresh_tokens: HashMap<String, StoredRefreshToken>,
    receipts: HashMap<Uuid, Receipt>,
    approvals: HashMap<Uuid, StoredApproval>,
    notifications: HashMap<Uuid, Notification>,
    voice_handoffs: HashMap<Uuid, VoiceHandoff>,
}

#[derive(Debug)]
struct StoredCode {
    code: AuthorizationCode,
    used_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct StoredRefreshToken {
    grant_id: Uuid,
    expires_at: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    replaced_by: Option<String>,
}

#[derive(Debug)]
struct StoredApproval {
    approval: SwapApproval,
    /// False once a newer approval took over the idempotency key (after expiry).
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
    fn live_client(&self, id: &str) -> Option<&OAuthClient> {
        match self.clients.get(id) {
            Some((client, None)) => Some(client),
            _ => None,
        }
    }

    /// Revokes a live grant. Its refresh tokens die with it: a token is only honoured
    /// while its grant is live.
    fn revoke_grant(&mut self, id: Uuid, now: DateTime<Utc>) -> bool {
        match self.grants.get_mut(&id) {
            Some(grant) if grant.revoked_at.is_none() => {
                grant.revoked_at = Some(now);
                true
            }
            _ => false,
        }
    }

    /// Moves an approval out of pending, once; the rest of the race sees the winner.
    fn decide_approval(&mut self, id: Uuid, user_id: Uuid, now: DateTime<Utc>, to: ApprovalStatus) -> ClaimOutcome {
        let Some(stored) = self.approvals.get_mut(&id) else {
            return ClaimOutcome::NotFound;
        };
        let approval = &mut stored.approval;
        if approval.user_id != user_id {
            return ClaimOutcome::NotFound;
        }
        if approval.status != ApprovalStatus::PendingApproval {
            return ClaimOutcome::AlreadyDecided(approval.clone());
        }
        approval.decided_at = Some(now);
        if approval.expires_at <= now {
            approval.status = ApprovalStatus::Expired;
            return ClaimOutcome::Expired;
        }
        approval.status = to;
        ClaimOutcome::Won(approval.clone())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.state().map(drop)
    }

    async fn upsert_profile(&self, profile: &Profile) -> StoreResult<()> {
        self.state()?.profiles.insert(profile.user_id, profile.clone());
        Ok(())
    }

    async fn get_profile(&self, user_id: Uuid) -> StoreResult<Option<Profile>> {
        Ok(self.state()?.profiles.get(&user_id).cloned())
    }

    async fn set_tier_tools(&self, tier: &str, tools: &[String]) -> StoreResult<()> {
        self.state()?.tier_tools.insert(tier.to_string(), tools.to_vec());
        Ok(())
    }

    async fn tier_tools(&self, tier: &str) -> StoreResult<Vec<String>> {
        Ok(self.state()?.tier_tools.get(tier).cloned().unwrap_or_default())
    }

    async fn create_client(&self, client: &OAuthClient) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.clients.contains_key(&client.id) {
            return Err(StoreError::Conflict("client"));
        }
        state.clients.insert(client.id.clone(), (client.clone(), None));
        Ok(())
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<OAuthClient>> {
        Ok(self.state()?.live_client(id).cloned())
    }

    async fn list_clients(&self) -> StoreResult<Vec<OAuthClient>> {
        let state = self.state()?;
        let mut clients: Vec<OAuthClient> = state
            .clients
            .values()
            .filter(|(_, deleted_at)| deleted_at.is_none())
            .map(|(client, _)| client.clone())
            .collect();
        clients.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(clients)
    }

    async fn rotate_client_secret(
        &self,
        id: &str,
        new_secret_hash: &str,
        keep_previous_until: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        let Some((client, None)) = state.clients.get_mut(id) else {
            return Ok(false);
        };
        let old = std::mem::replace(&mut client.secret_hash, new_secret_hash.to_string());
        client.previous_secret_hash = keep_previous_until.map(|_| old);
        client.previous_secret_expires_at = keep_previous_until;
        Ok(true)
    }

    async fn delete_client(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.state()?;
        let Some((_, deleted_at @ None)) = state.clients.get_mut(id) else {
            return Ok(false);
        };
        *deleted_at = Some(now);
        for grant in state.grants.values_mut() {
            if grant.client_id == id && grant.revoked_at.is_none() {
                grant.revoked_at = Some(now);
            }
        }
        // In-flight flows of a deleted client cannot finish.
        state.authorization_requests.retain(|_, r| r.client_id != id);
        state.codes.retain(|_, c| c.code.client_id != id);
        Ok(true)
    }

    async fn create_authorization_request(&self, request: &AuthorizationRequest) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.live_client(&request.client_id).is_none() {
            return Err(StoreError::NotFound("client"));
        }
        if state.authorization_requests.contains_key(&request.id) {
            return Err(StoreError::Conflict("authorization request"));
        }
        state.authorization_requests.insert(request.id, request.clone());
        Ok(())
    }

    async fn get_authorization_request(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AuthorizationRequest>> {
        Ok(self.state()?.authorization_requests.get(&id).filter(|r| r.expires_at > now).cloned())
    }

    async fn set_authorization_request_user(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.state()?;
        match state.authorization_requests.get_mut(&id) {
            Some(request) if request.expires_at > now => {
                request.user_id = Some(user_id);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_login_attempt(&self, id: Uuid, email: &str) -> StoreResult<Option<i32>> {
        let mut state = self.state()?;
        Ok(state.authorization_requests.get_mut(&id).map(|request| {
            request.login_attempts += 1;
            request.login_email = Some(email.to_string());
            request.login_attempts
        }))
    }

    async fn delete_authorization_request(&self, id: Uuid) -> StoreResult<bool> {
        Ok(self.state()?.authorization_requests.remove(&id).is_some())
    }

    async fn create_authorization_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.live_client(&code.client_id).is_none() {
            return Err(StoreError::NotFound("client"));
        }
        if state.codes.contains_key(&code.code_hash) {
            return Err(StoreError::Conflict("authorization code"));
        }
        state.codes.insert(code.code_hash.clone(), StoredCode { code: code.clone(), used_at: None });
        Ok(())
    }

    async fn redeem_authorization_code(&self, code_hash: &str, now: DateTime<Utc>) -> StoreResult<CodeRedemption> {
        let mut state = self.state()?;
        let Some(stored) = state.codes.get_mut(code_hash) else {
            return Ok(CodeRedemption::NotFound);
        };
        // A replay is reported as such even after expiry, so the caller still revokes.
        if stored.used_at.is_some() {
            return Ok(CodeRedemption::AlreadyUsed { grant_id: stored.code.grant_id });
        }
        if stored.code.expires_at <= now {
            return Ok(CodeRedemption::Expired);
        }
        stored.used_at = Some(now);
        Ok(CodeRedemption::Redeemed(stored.code.clone()))
    }

    async fn attach_grant_to_code(&self, code_hash: &str, grant_id: Uuid) -> StoreResult<bool> {
        let mut state = self.state()?;
        Ok(match state.codes.get_mut(code_hash) {
            Some(stored) => {
                stored.code.grant_id = Some(grant_id);
                true
            }
            None => false,
        })
    }

    async fn create_grant(&self, grant: &Grant) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.live_client(&grant.client_id).is_none() {
            return Err(StoreError::NotFound("client"));
        }
        if state.grants.contains_key(&grant.id) {
            return Err(StoreError::Conflict("grant"));
        }
        state.grants.insert(grant.id, grant.clone());
        Ok(())
    }

    async fn get_grant(&self, id: Uuid) -> StoreResult<Option<Grant>> {
        Ok(self.state()?.grants.get(&id).cloned())
    }

    async fn list_grants_for_user(&self, user_id: Uuid) -> StoreResult<Vec<GrantSummary>> {
        let state = self.state()?;
        let mut grants: Vec<GrantSummary> = state
            .grants
            .values()
            .filter(|g| g.user_id == user_id && g.is_live())
            .filter_map(|grant| {
                let client = state.live_client(&grant.client_id)?;
                Some(GrantSummary { grant: grant.clone(), client_name: client.name.clone() })
            })
            .collect();
        grants.sort_by_key(|s| Reverse((s.grant.created_at, s.grant.id)));
        Ok(grants)
    }

    async fn revoke_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(self.state()?.revoke_grant(id, now))
    }

    async fn revoke_grant_for_user(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.state()?;
        if state.grants.get(&id).map(|g| g.user_id) != Some(user_id) {
            return Ok(false);
        }
        Ok(state.revoke_grant(id, now))
    }

    async fn touch_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        if let Some(grant) = self.state()?.grants.get_mut(&id) {
            grant.last_used_at = Some(now);
        }
        Ok(())
    }

    async fn create_refresh_token(
        &self,
        token_hash: &str,
        grant_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut state = self.state()?;
        if !state.grants.contains_key(&grant_id) {
            return Err(StoreError::NotFound("grant"));
        }
        if state.refresh_tokens.contains_key(token_hash) {
            return Err(StoreError::Conflict("refresh token"));
        }
        state.refresh_tokens.insert(
            token_hash.to_string(),
            StoredRefreshToken { grant_id, expires_at, rotated_at: None, replaced_by: None },
        );
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> StoreResult<Rotation> {
        let mut state = self.state()?;
        let Some(token) = state.refresh_tokens.get(presented_hash) else {
            return Ok(Rotation::NotFound);
        };
        let (grant_id, expires_at, rotated_at, successor) =
            (token.grant_id, token.expires_at, token.rotated_at, token.replaced_by.clone());
        let Some(grant) = state.grants.get(&grant_id).cloned() else {
            return Ok(Rotation::NotFound);
        };
        if !grant.is_live() {
            return Ok(Rotation::Revoked);
        }
        if expires_at <= now {
            return Ok(Rotation::Expired);
        }
        if state.refresh_tokens.contains_key(new_hash) {
            return Err(StoreError::Conflict("refresh token"));
        }
        let outcome = match rotated_at {
            None => {
                // The client proved which token it kept: every other unused one goes.
                state
                    .refresh_tokens
                    .retain(|hash, t| t.grant_id != grant_id || t.rotated_at.is_some() || hash == presented_hash);
                Rotation::Rotated { grant }
            }
            Some(rotated_at) => {
                let successor_unused = successor
                    .as_ref()
                    .and_then(|hash| state.refresh_tokens.get(hash))
                    .is_some_and(|t| t.rotated_at.is_none());
                if !(successor_unused && now <= rotated_at + grace) {
                    state.revoke_grant(grant_id, now);
                    return Ok(Rotation::Reused { grant_id });
                }
                if let Some(successor) = successor {
                    state.refresh_tokens.remove(&successor);
                }
                Rotation::ReplayWithinGrace { grant }
            }
        };
        if let Some(presented) = state.refresh_tokens.get_mut(presented_hash) {
            // Keep the first retirement time so retries cannot stretch the grace window.
            presented.rotated_at.get_or_insert(now);
            presented.replaced_by = Some(new_hash.to_string());
        }
        state.refresh_tokens.insert(
            new_hash.to_string(),
            StoredRefreshToken { grant_id, expires_at: new_expires_at, rotated_at: None, replaced_by: None },
        );
        Ok(outcome)
    }

    async fn revoke_grant_by_refresh_token(
        &self,
        token_hash: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        let mut state = self.state()?;
        let Some(grant_id) = state.refresh_tokens.get(token_hash).map(|t| t.grant_id) else {
            return Ok(None);
        };
        if state.grants.get(&grant_id).map(|g| g.client_id.as_str()) != Some(client_id) {
            return Ok(None);
        }
        state.revoke_grant(grant_id, now);
        Ok(Some(grant_id))
    }

    async fn action_context(
        &self,
        grant_id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ActionContext>> {
        let mut state = self.state()?;
        let Some(grant) = state.grants.get(&grant_id).filter(|g| g.user_id == user_id) else {
            return Ok(None);
        };
        let grant_live = grant.is_live() && state.live_client(&grant.client_id).is_some();
        let scopes = grant.scopes.clone();
        let (tier, chatgpt_enabled) = match state.profiles.get(&user_id) {
            Some(profile) => {
                (profile.tier.clone(), profile.channels.get("chatgpt") == Some(&serde_json::Value::Bool(true)))
            }
            None => (DEFAULT_TIER.to_string(), false),
        };
        let allowed_tools = state.tier_tools.get(&tier).cloned().unwrap_or_default();
        let stale = |g: &Grant| g.last_used_at.is_none_or(|at| at <= now - LAST_USED_GRANULARITY);
        if let Some(grant) = state.grants.get_mut(&grant_id).filter(|g| g.is_live() && stale(g)) {
            grant.last_used_at = Some(now);
        }
        Ok(Some(ActionContext { grant_live, scopes, tier, chatgpt_enabled, allowed_tools }))
    }

    async fn insert_receipts(&self, receipts: &[Receipt], _durability: Durability) -> StoreResult<()> {
        let mut state = self.state()?;
        // All or nothing, like the single INSERT of the Postgres store.
        let mut ids = std::collections::HashSet::new();
        if receipts.iter().any(|r| state.receipts.contains_key(&r.id) || !ids.insert(r.id)) {
            return Err(StoreError::Conflict("receipt"));
        }
        for receipt in receipts {
            state.receipts.insert(receipt.id, receipt.clone());
        }
        Ok(())
    }

    async fn get_receipt(&self, id: Uuid, user_id: Uuid) -> StoreResult<Option<Receipt>> {
        Ok(self.state()?.receipts.get(&id).filter(|r| r.user_id == user_id).cloned())
    }

    async fn list_receipts(
        &self,
        user_id: Uuid,
        before: Option<ReceiptCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Receipt>> {
        let state = self.state()?;
        let mut receipts: Vec<Receipt> = state
            .receipts
            .values()
            .filter(|r| r.user_id == user_id)
            .filter(|r| before.is_none_or(|c| (r.created_at, r.id) < (c.created_at, c.id)))
            .cloned()
            .collect();
        receipts.sort_by_key(|x| Reverse((x.created_at, x.id)));
        receipts.truncate(limit as usize);
        Ok(receipts)
    }

    async fn update_receipt_status(&self, id: Uuid, status: &str, error_code: Option<&str>) -> StoreResult<bool> {
        let mut state = self.state()?;
        Ok(match state.receipts.get_mut(&id) {
            Some(receipt) => {
                receipt.status = status.to_string();
                receipt.error_code = error_code.map(str::to_string);
                true
            }
            None => false,
        })
    }

    async fn create_or_get_approval(
        &self,
        approval: &SwapApproval,
        now: DateTime<Utc>,
    ) -> StoreResult<(SwapApproval, bool)> {
        let mut state = self.state()?;
        let holder = state.approvals.values_mut().find(|s| {
            s.holds_key
                && s.approval.user_id == approval.user_id
                && s.approval.idempotency_key == approval.idempotency_key
        });
        if let Some(existing) = holder {
            if existing.approval.expires_at > now {
                return Ok((existing.approval.clone(), false));
            }
            // The old approval lapsed: it gives up the key and, if undecided, expires.
            existing.holds_key = false;
            if existing.approval.status == ApprovalStatus::PendingApproval {
                existing.approval.status = ApprovalStatus::Expired;
                existing.approval.decided_at = Some(now);
            }
        }
        if state.approvals.contains_key(&approval.id) {
            return Err(StoreError::Conflict("swap approval"));
        }
        state.approvals.insert(approval.id, StoredApproval { approval: approval.clone(), holds_key: true });
        Ok((approval.clone(), true))
    }

    async fn get_approval(&self, id: Uuid, user_id: Uuid) -> StoreResult<Option<SwapApproval>> {
        Ok(self.state()?.approvals.get(&id).map(|s| &s.approval).filter(|a| a.user_id == user_id).cloned())
    }

    async fn list_pending_approvals(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<SwapApproval>> {
        let state = self.state()?;
        let mut pending: Vec<SwapApproval> = state
            .approvals
            .values()
            .map(|s| &s.approval)
            .filter(|a| a.user_id == user_id && a.status_at(now) == ApprovalStatus::PendingApproval)
            .cloned()
            .collect();
        pending.sort_by_key(|x| Reverse((x.created_at, x.id)));
        Ok(pending)
    }

    async fn claim_approval(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<ClaimOutcome> {
        Ok(self.state()?.decide_approval(id, user_id, now, ApprovalStatus::Executing))
    }

    async fn reject_approval(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<ClaimOutcome> {
        Ok(self.state()?.decide_approval(id, user_id, now, ApprovalStatus::Rejected))
    }

    async fn finish_approval(&self, id: Uuid, outcome: &ApprovalOutcome, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.state()?;
        let Some(stored) = state.approvals.get_mut(&id) else {
            return Ok(false);
        };
        let approval = &mut stored.approval;
        if approval.status != ApprovalStatus::Executing {
            return Ok(false);
        }
        let (status, result, error_code, receipt_id) = outcome_columns(outcome);
        approval.status = status;
        approval.result = result;
        approval.error_code = error_code;
        approval.receipt_id = receipt_id;
        approval.finished_at = Some(now);
        Ok(true)
    }

    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.notifications.contains_key(&notification.id) {
            return Err(StoreError::Conflict("notification"));
        }
        state.notifications.insert(notification.id, notification.clone());
        Ok(())
    }

    async fn list_notifications(&self, user_id: Uuid, limit: u32) -> StoreResult<Vec<Notification>> {
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
        user_id: Uuid,
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

/// The columns an [`ApprovalOutcome`] writes: status, result, error code, receipt.
pub(super) fn outcome_columns(
    outcome: &ApprovalOutcome,
) -> (ApprovalStatus, Option<serde_json::Value>, Option<String>, Option<Uuid>) {
    match outcome {
        ApprovalOutcome::Executed { result, receipt_id } => {
            (ApprovalStatus::Executed, Some(result.clone()), None, *receipt_id)
        }
        ApprovalOutcome::Failed { error_code, result, receipt_id } => {
            (ApprovalStatus::Failed, result.clone(), Some(error_code.clone()), *receipt_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::MemoryStore;
    use crate::store::conformance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_store_passes_the_conformance_suite() {
        conformance::run_all(Arc::new(MemoryStore::new())).await;
    }
}
