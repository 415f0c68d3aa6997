//! [`ProfileStore`] in memory.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ids::{GrantId, UserId};
use crate::store::{ActionContext, Grant, LAST_USED_GRANULARITY, Profile, ProfileStore, StoreResult};

/// The tier a user without a profile gets.
const DEFAULT_TIER: &str = "free";

#[async_trait]
impl ProfileStore for MemoryStore {
    async fn upsert_profile(&self, profile: &Profile) -> StoreResult<()> {
        self.state()?.profiles.insert(profile.user_id, profile.clone());
        Ok(())
    }

    async fn get_profile(&self, user_id: UserId) -> StoreResult<Option<Profile>> {
        Ok(self.state()?.profiles.get(&user_id).cloned())
    }

    async fn set_tier_tools(&self, tier: &str, tools: &[String]) -> StoreResult<()> {
        self.state()?.tier_tools.insert(tier.to_string(), tools.to_vec());
        Ok(())
    }

    async fn tier_tools(&self, tier: &str) -> StoreResult<Vec<String>> {
        Ok(self.state()?.tier_tools.get(tier).cloned().unwrap_or_default())
    }

    async fn action_context(
        &self,
        grant_id: GrantId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ActionContext>> {
        let mut state = self.state()?;
        let Some(grant) = state.grants.get(&grant_id).filter(|g| g.user_id == user_id) else {
            return Ok(None);
        };
        let client = state.live_client(&grant.client_id);
        let grant_live = grant.is_live() && client.is_some();
        let client_redirect_uris = client.map(|c| c.redirect_uris.clone()).unwrap_or_default();
        let scopes = grant.scopes.clone();
        let (tier, chatgpt_enabled, mcp_enabled) = match state.profiles.get(&user_id) {
            Some(profile) => (profile.tier.clone(), profile.channel_on("chatgpt"), profile.channel_on("mcp")),
            None => (DEFAULT_TIER.to_string(), false, false),
        };
        let allowed_tools = state.tier_tools.get(&tier).cloned().unwrap_or_default();
        let stale = |g: &Grant| g.last_used_at.is_none_or(|at| at <= now - LAST_USED_GRANULARITY);
        if let Some(grant) = state.grants.get_mut(&grant_id).filter(|g| g.is_live() && stale(g)) {
            grant.last_used_at = Some(now);
        }
        Ok(Some(ActionContext {
            grant_live,
            scopes,
            tier,
            chatgpt_enabled,
            allowed_tools,
            mcp_enabled,
            client_redirect_uris,
        }))
    }
}
