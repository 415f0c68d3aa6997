//! [`ProfileStore`] on Postgres: Supabase's `profiles`, `connector_tier_tools`, and the
//! action context function (migration 0004).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::PgStore;
use crate::ids::{GrantId, UserId};
use crate::store::{ActionContext, LAST_USED_GRANULARITY, Profile, ProfileStore, StoreResult};

// Column lists, in the order the row readers expect them.

const PROFILE_COLUMNS: &str = "id, email, tier::text as tier, channels";

fn profile_from_row(row: &Row) -> StoreResult<Profile> {
    Ok(Profile {
        user_id: row.try_get("id")?,
        email: row.try_get("email")?,
        // Supabase's profiles existed before us; tolerate rows that predate our defaults.
        tier: row.try_get::<_, Option<String>>("tier")?.unwrap_or_else(|| "free".to_string()),
        channels: row.try_get::<_, Option<serde_json::Value>>("channels")?.unwrap_or_else(|| serde_json::json!({})),
    })
}

#[async_trait]
impl ProfileStore for PgStore {
    async fn upsert_profile(&self, profile: &Profile) -> StoreResult<()> {
        self.execute(
            "insert into profiles (id, email, tier, channels) values ($1, $2, $3, $4) \
             on conflict (id) do update set email = excluded.email, \
             tier = excluded.tier, channels = excluded.channels",
            &[
                (&profile.user_id, Type::UUID),
                (&profile.email, Type::TEXT),
                (&profile.tier, Type::TEXT),
                (&profile.channels, Type::JSONB),
            ],
        )
        .await?;
        Ok(())
    }

    async fn get_profile(&self, user_id: UserId) -> StoreResult<Option<Profile>> {
        let sql = format!("select {PROFILE_COLUMNS} from profiles where id = $1");
        self.query_opt(&sql, &[(&user_id, Type::UUID)], profile_from_row).await
    }

    async fn set_tier_tools(&self, tier: &str, tools: &[String]) -> StoreResult<()> {
        self.execute(
            "insert into connector_tier_tools (tier, tools) values ($1, $2) \
             on conflict (tier) do update set tools = excluded.tools",
            &[(&tier, Type::TEXT), (&tools, Type::TEXT_ARRAY)],
        )
        .await?;
        Ok(())
    }

    async fn tier_tools(&self, tier: &str) -> StoreResult<Vec<String>> {
        let tools = self
            .query_opt("select tools from connector_tier_tools where tier = $1", &[(&tier, Type::TEXT)], |row| {
                Ok(row.try_get("tools")?)
            })
            .await?;
        Ok(tools.unwrap_or_default())
    }

    async fn action_context(
        &self,
        grant_id: GrantId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ActionContext>> {
        // One statement, one round trip on every action: a PL/pgSQL function (migration
        // 0004) whose plans the server keeps, where the same SQL sent as an unnamed
        // statement is parsed and planned on every call. It bumps last_used_at only when
        // stale, so most actions write nothing and commit free.
        self.query_opt(
            "select grant_live, scopes, tier, chatgpt_enabled, allowed_tools, mcp_enabled, \
             client_redirect_uris from connector_action_context($1, $2, $3, $4)",
            &[
                (&grant_id, Type::UUID),
                (&user_id, Type::UUID),
                (&now, Type::TIMESTAMPTZ),
                (&(now - LAST_USED_GRANULARITY), Type::TIMESTAMPTZ),
            ],
            |row| {
                Ok(ActionContext {
                    grant_live: row.try_get("grant_live")?,
                    scopes: row.try_get("scopes")?,
                    tier: row.try_get("tier")?,
                    chatgpt_enabled: row.try_get("chatgpt_enabled")?,
                    allowed_tools: row.try_get("allowed_tools")?,
                    mcp_enabled: row.try_get("mcp_enabled")?,
                    client_redirect_uris: row.try_get("client_redirect_uris")?,
                })
            },
        )
        .await
    }
}
