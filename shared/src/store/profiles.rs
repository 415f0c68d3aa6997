//! Profiles and tier entitlements, and the per-action context built from them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::ids::{GrantId, UserId};

/// A Dexter user's profile: their tier and which channels they enabled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The Dexter (Supabase auth) user id; `profiles.id`.
    pub user_id: UserId,
    /// The user's email, when Dexter knows it.
    pub email: Option<String>,
    /// Entitlement tier, e.g. `free` or `pro`; maps to tools through `tier_tools`.
    pub tier: String,
    /// Channel switches, e.g. `{"chatgpt": true}`; only JSON `true` enables a channel.
    pub channels: serde_json::Value,
}

impl Profile {
    /// Whether `channels` has `channel` set to JSON `true` (what `connector_action_context`
    /// compares in Postgres).
    pub fn channel_on(&self, channel: &str) -> bool {
        self.channels.get(channel) == Some(&serde_json::Value::Bool(true))
    }
}

/// How stale a grant's `last_used_at` may get before an action bumps it. Within this,
/// an action's grant query writes nothing: no commit to flush, no row lock to queue on
/// when one user's calls run concurrently.
pub const LAST_USED_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Everything an action needs to authorize a call, loaded in one round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionContext {
    /// The grant exists, is not revoked and its client is not deleted.
    pub grant_live: bool,
    /// The grant's scopes.
    pub scopes: Vec<String>,
    /// The user's tier (`free` when they have no profile).
    pub tier: String,
    /// Whether `profiles.channels.chatgpt` is JSON `true`.
    pub chatgpt_enabled: bool,
    /// The MCP tools the tier allows (empty for an unknown tier).
    pub allowed_tools: Vec<String>,
    /// Whether `profiles.channels.mcp` is JSON `true`.
    pub mcp_enabled: bool,
    /// The redirect URIs of the grant's client (empty when it was deleted): they decide
    /// which channel gates the client's calls to `/mcp` (`oauth::channel`).
    pub client_redirect_uris: Vec<String>,
}

/// Profiles and entitlements, and what an action reads of them.
#[async_trait::async_trait]
pub trait ProfileStore: Send + Sync {
    /// Creates or replaces the connector's columns of a profile.
    async fn upsert_profile(&self, profile: &Profile) -> StoreResult<()>;
    /// Reads a profile.
    async fn get_profile(&self, user_id: UserId) -> StoreResult<Option<Profile>>;
    /// Replaces the MCP tools a tier allows.
    async fn set_tier_tools(&self, tier: &str, tools: &[String]) -> StoreResult<()>;
    /// The MCP tools a tier allows (empty for an unknown tier).
    async fn tier_tools(&self, tier: &str) -> StoreResult<Vec<String>>;

    /// Loads grant liveness, scopes, tier, channel switch and allowed tools in one round
    /// trip, bumping the grant's `last_used_at` if live and older than
    /// [`LAST_USED_GRANULARITY`]. `None` if the grant does not
    /// exist or is not `user_id`'s.
    async fn action_context(
        &self,
        grant_id: GrantId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ActionContext>>;
}
