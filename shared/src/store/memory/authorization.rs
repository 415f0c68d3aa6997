//! [`AuthorizationStore`] in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MemoryStore, StoredCode};
use crate::ids::{GrantId, TokenHash, UserId};
use crate::store::{
    AuthorizationCode, AuthorizationRequest, AuthorizationStore, CodeRedemption, StoreError, StoreResult,
};

#[async_trait]
impl AuthorizationStore for MemoryStore {
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

    async fn set_authorization_request_user(
        &self,
        id: Uuid,
        user_id: UserId,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        match state.authorization_requests.get_mut(&id) {
            Some(request) if request.expires_at > now => {
                request.user_id = Some(user_id);
                request.login_email = email.map(str::to_owned);
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

    async fn redeem_authorization_code(
        &self,
        code_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<CodeRedemption> {
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

    async fn attach_grant_to_code(&self, code_hash: &TokenHash, grant_id: GrantId) -> StoreResult<bool> {
        let mut state = self.state()?;
        Ok(match state.codes.get_mut(code_hash) {
            Some(stored) => {
                stored.code.grant_id = Some(grant_id);
                true
            }
            None => false,
        })
    }
}
