//! [`AuthorizationStore`] in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{MemoryStore, StoredCode, StoredRefreshToken};
use crate::ids::UserId;
use crate::store::{
    AuthorizationCode, AuthorizationRequest, AuthorizationStore, CodeExchange, CodeRedemption, StoreError, StoreResult,
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

    async fn redeem_authorization_code(&self, exchange: &CodeExchange<'_>) -> StoreResult<CodeRedemption> {
        let mut state = self.state()?;
        let Some(stored) = state.codes.get(exchange.code_hash) else {
            return Ok(CodeRedemption::NotFound);
        };
        // A replay is reported as such even after expiry, so the caller still revokes.
        if stored.used_at.is_some() {
            return Ok(CodeRedemption::AlreadyUsed { grant_id: stored.code.grant_id });
        }
        if stored.code.expires_at <= exchange.now {
            return Ok(CodeRedemption::Expired);
        }
        if let Err(mismatch) = stored.code.admits(exchange) {
            return Ok(CodeRedemption::Mismatch(mismatch));
        }
        let grant = stored.code.grant(exchange);
        if state.live_client(&grant.client_id).is_none() {
            return Err(StoreError::NotFound("client"));
        }
        if state.grants.contains_key(&grant.id) {
            return Err(StoreError::Conflict("grant"));
        }
        if state.refresh_tokens.contains_key(exchange.refresh_token_hash) {
            return Err(StoreError::Conflict("refresh token"));
        }
        state.grants.insert(grant.id, grant.clone());
        state.refresh_tokens.insert(
            exchange.refresh_token_hash.clone(),
            StoredRefreshToken::new(grant.id, exchange.refresh_token_expires_at),
        );
        if let Some(stored) = state.codes.get_mut(exchange.code_hash) {
            stored.used_at = Some(exchange.now);
            stored.code.grant_id = Some(grant.id);
        }
        Ok(CodeRedemption::Redeemed(grant))
    }
}
