//! [`GrantStore`] in memory.

use std::cmp::Reverse;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, State, StoredRefreshToken};
use crate::ids::{ClientId, GrantId, TokenHash, UserId};
use crate::store::{Grant, GrantStore, GrantSummary, Rotation, StoreError, StoreResult};

impl State {
    /// Revokes a live grant. Its refresh tokens die with it: a token is only honoured
    /// while its grant is live.
    fn revoke_grant(&mut self, id: GrantId, now: DateTime<Utc>) -> bool {
        match self.grants.get_mut(&id) {
            Some(grant) if grant.revoked_at.is_none() => {
                grant.revoked_at = Some(now);
                true
            }
            _ => false,
        }
    }
}

#[async_trait]
impl GrantStore for MemoryStore {
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

    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>> {
        Ok(self.state()?.grants.get(&id).cloned())
    }

    async fn list_grants_for_user(&self, user_id: UserId) -> StoreResult<Vec<GrantSummary>> {
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

    async fn revoke_grant(&self, id: GrantId, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(self.state()?.revoke_grant(id, now))
    }

    async fn revoke_grant_for_user(&self, id: GrantId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.state()?;
        if state.grants.get(&id).map(|g| g.user_id) != Some(user_id) {
            return Ok(false);
        }
        Ok(state.revoke_grant(id, now))
    }

    async fn touch_grant(&self, id: GrantId, now: DateTime<Utc>) -> StoreResult<()> {
        if let Some(grant) = self.state()?.grants.get_mut(&id) {
            grant.last_used_at = Some(now);
        }
        Ok(())
    }

    async fn create_refresh_token(
        &self,
        token_hash: &TokenHash,
        grant_id: GrantId,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut state = self.state()?;
        if !state.grants.contains_key(&grant_id) {
            return Err(StoreError::NotFound("grant"));
        }
        if state.refresh_tokens.contains_key(token_hash) {
            return Err(StoreError::Conflict("refresh token"));
        }
        state.refresh_tokens.insert(token_hash.clone(), StoredRefreshToken::new(grant_id, expires_at));
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &TokenHash,
        new_hash: &TokenHash,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> StoreResult<Rotation> {
        let mut state = self.state()?;
        let Some(token) = state.refresh_tokens.get(presented_hash) else {
            return Ok(Rotation::NotFound);
        };
        let (grant_id, expires_at, rotated_at, superseded_at, successor) =
            (token.grant_id, token.expires_at, token.rotated_at, token.superseded_at, token.replaced_by.clone());
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
        if superseded_at.is_some() {
            state.revoke_grant(grant_id, now);
            return Ok(Rotation::Reused { grant_id });
        }
        let outcome = match rotated_at {
            None => {
                // The client proved which token it kept: every other current one is
                // superseded, and remembered as such.
                for (hash, token) in state.refresh_tokens.iter_mut() {
                    if token.grant_id == grant_id && token.is_current() && hash != presented_hash {
                        token.superseded_at = Some(now);
                    }
                }
                Rotation::Rotated { grant }
            }
            Some(rotated_at) => {
                let successor_current = successor
                    .as_ref()
                    .and_then(|hash| state.refresh_tokens.get(hash))
                    .is_some_and(StoredRefreshToken::is_current);
                if !(successor_current && now <= rotated_at + grace) {
                    state.revoke_grant(grant_id, now);
                    return Ok(Rotation::Reused { grant_id });
                }
                // A retry: the earlier successors stay current beside the new one.
                Rotation::ReplayWithinGrace { grant }
            }
        };
        if let Some(presented) = state.refresh_tokens.get_mut(presented_hash) {
            // Keep the first retirement time so retries cannot stretch the grace window.
            presented.rotated_at.get_or_insert(now);
            presented.replaced_by = Some(new_hash.clone());
        }
        state.refresh_tokens.insert(new_hash.clone(), StoredRefreshToken::new(grant_id, new_expires_at));
        Ok(outcome)
    }

    async fn revoke_grant_by_refresh_token(
        &self,
        token_hash: &TokenHash,
        client_id: &ClientId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<GrantId>> {
        let mut state = self.state()?;
        let Some(grant_id) = state.refresh_tokens.get(token_hash).map(|t| t.grant_id) else {
            return Ok(None);
        };
        if state.grants.get(&grant_id).map(|g| &g.client_id) != Some(client_id) {
            return Ok(None);
        }
        state.revoke_grant(grant_id, now);
        Ok(Some(grant_id))
    }
}
