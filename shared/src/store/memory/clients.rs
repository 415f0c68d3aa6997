//! [`ClientStore`] in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ids::{ClientId, TokenHash};
use crate::store::{ClientKind, ClientRegistration, ClientStore, OAuthClient, StoreError, StoreResult};

#[async_trait]
impl ClientStore for MemoryStore {
    async fn create_client(&self, client: &OAuthClient) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.clients.contains_key(&client.id) {
            return Err(StoreError::Conflict("client"));
        }
        state.clients.insert(client.id.clone(), (client.clone(), None));
        Ok(())
    }

    async fn get_client(&self, id: &ClientId) -> StoreResult<Option<OAuthClient>> {
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
        id: &ClientId,
        new_secret_hash: &TokenHash,
        keep_previous_until: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        let Some((client, None)) = state.clients.get_mut(id) else {
            return Ok(false);
        };
        let old = std::mem::replace(&mut client.secret_hash, new_secret_hash.clone());
        client.previous_secret_hash = keep_previous_until.map(|_| old);
        client.previous_secret_expires_at = keep_previous_until;
        Ok(true)
    }

    async fn delete_client(&self, id: &ClientId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut state = self.state()?;
        let Some((_, deleted_at @ None)) = state.clients.get_mut(id) else {
            return Ok(false);
        };
        *deleted_at = Some(now);
        for grant in state.grants.values_mut() {
            if grant.client_id == *id && grant.revoked_at.is_none() {
                grant.revoked_at = Some(now);
            }
        }
        // In-flight flows of a deleted client cannot finish.
        state.authorization_requests.retain(|_, r| r.client_id != *id);
        state.codes.retain(|_, c| c.code.client_id != *id);
        Ok(true)
    }

    async fn register_client(&self, client: &OAuthClient, registration: &ClientRegistration) -> StoreResult<()> {
        let mut state = self.state()?;
        if state.clients.contains_key(&client.id) {
            return Err(StoreError::Conflict("client"));
        }
        state.clients.insert(client.id.clone(), (client.clone(), None));
        state.registrations.insert(client.id.clone(), registration.clone());
        Ok(())
    }

    async fn save_document_client(&self, client: &OAuthClient, registration: &ClientRegistration) -> StoreResult<bool> {
        let mut guard = self.state()?;
        let state = &mut *guard;
        match state.clients.get_mut(&client.id) {
            None => {
                state.clients.insert(client.id.clone(), (client.clone(), None));
                state.registrations.insert(client.id.clone(), registration.clone());
                Ok(true)
            }
            Some((_, Some(_))) => Ok(false),
            Some((existing, None)) => {
                let Some(saved) = state.registrations.get_mut(&client.id).filter(|r| r.kind == ClientKind::Document)
                else {
                    return Ok(false);
                };
                saved.token_endpoint_auth_method = registration.token_endpoint_auth_method.clone();
                saved.jwks_uri = registration.jwks_uri.clone();
                saved.jwks = registration.jwks.clone();
                saved.document_expires_at = registration.document_expires_at;
                existing.name = client.name.clone();
                existing.redirect_uris = client.redirect_uris.clone();
                existing.scopes = client.scopes.clone();
                existing.public = client.public;
                Ok(true)
            }
        }
    }

    async fn get_registration(&self, id: &ClientId) -> StoreResult<Option<ClientRegistration>> {
        let state = self.state()?;
        state.live_client(id).map_or(Ok(None), |_| Ok(state.registrations.get(id).cloned()))
    }

    async fn mark_client_used(&self, id: &ClientId, now: DateTime<Utc>) -> StoreResult<()> {
        if let Some(registration) = self.state()?.registrations.get_mut(id) {
            registration.last_used_at.get_or_insert(now);
        }
        Ok(())
    }

    async fn spend_assertion_jti(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        state.assertion_jtis.retain(|_, expires| *expires > now);
        let key = (client_id.clone(), jti.to_owned());
        if state.assertion_jtis.contains_key(&key) {
            return Ok(false);
        }
        state.assertion_jtis.insert(key, expires_at);
        Ok(true)
    }
}
