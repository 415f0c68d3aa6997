//! Checks of [`ProfileStore`](crate::store::ProfileStore), including the action context.

use chrono::Duration;
use serde_json::json;
use uuid::Uuid;

use super::{new_client, new_grant, now, strings};
use crate::ids::{GrantId, UserId};
use crate::store::{LAST_USED_GRANULARITY, Profile, Store};

/// A profile reads back as written, and upsert replaces it.
pub async fn profiles_round_trip(store: &dyn Store) {
    let mut profile = Profile {
        user_id: UserId::random(),
        email: Some("trader@example.com".to_string()),
        tier: "free".to_string(),
        channels: json!({"chatgpt": true}),
    };
    assert_eq!(store.get_profile(profile.user_id).await.expect("get"), None);
    store.upsert_profile(&profile).await.expect("insert profile");
    assert_eq!(store.get_profile(profile.user_id).await.expect("get"), Some(profile.clone()));
    profile.tier = "pro".to_string();
    profile.email = None;
    profile.channels = json!({"chatgpt": false, "telegram": true});
    store.upsert_profile(&profile).await.expect("update profile");
    assert_eq!(store.get_profile(profile.user_id).await.expect("get"), Some(profile));
}

/// The migrations' tier defaults are there; a tier's tools can be replaced.
pub async fn tier_tools_have_seeded_defaults_and_can_be_replaced(store: &dyn Store) {
    let free = store.tier_tools("free").await.expect("free tools");
    let pro = store.tier_tools("pro").await.expect("pro tools");
    for tool in ["list_my_wallets", "solana_swap_preview", "search", "alerts_list"] {
        assert!(free.iter().any(|t| t == tool), "free lacks {tool}");
        assert!(pro.iter().any(|t| t == tool), "pro lacks {tool}");
    }
    for tool in ["solana_swap_execute", "alerts_create", "pumpstream_live_summary"] {
        assert!(!free.iter().any(|t| t == tool), "free must not have {tool}");
        assert!(pro.iter().any(|t| t == tool), "pro lacks {tool}");
    }

    let tier = format!("tier-{}", Uuid::new_v4().simple());
    assert!(store.tier_tools(&tier).await.expect("unknown").is_empty());
    store.set_tier_tools(&tier, &strings(&["search", "alerts_list"])).await.expect("set");
    store.set_tier_tools(&tier, &strings(&["search"])).await.expect("replace");
    assert_eq!(store.tier_tools(&tier).await.expect("get"), strings(&["search"]));
}

/// The action context: liveness, tier and tools, channel switch, defaults without a profile.
pub async fn action_context_reflects_grant_profile_and_tier(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;

    // No profile: free tier, channel off.
    let user_id = UserId::random();
    let grant = new_grant(store, &client, user_id, now).await;
    let context = store.action_context(grant.id, user_id, now).await.expect("context").expect("some");
    assert!(context.grant_live);
    assert_eq!(context.scopes, grant.scopes);
    assert_eq!(context.tier, "free");
    assert!(!context.chatgpt_enabled);
    assert!(!context.mcp_enabled);
    assert_eq!(context.client_redirect_uris, client.redirect_uris, "the client's redirects decide its channel");
    assert_eq!(context.allowed_tools, store.tier_tools("free").await.expect("free"));
    let touched = store.get_grant(grant.id).await.expect("get").expect("grant");
    assert_eq!(touched.last_used_at, Some(now));

    // Within the granularity the bump is skipped; past it, it happens.
    let soon = now + Duration::seconds(30);
    store.action_context(grant.id, user_id, soon).await.expect("context").expect("some");
    assert_eq!(store.get_grant(grant.id).await.expect("get").expect("grant").last_used_at, Some(now));
    let stale = now + LAST_USED_GRANULARITY;
    store.action_context(grant.id, user_id, stale).await.expect("context").expect("some");
    assert_eq!(store.get_grant(grant.id).await.expect("get").expect("grant").last_used_at, Some(stale));

    // A pro profile with the channel on.
    store
        .upsert_profile(&Profile { user_id, email: None, tier: "pro".to_string(), channels: json!({"chatgpt": true}) })
        .await
        .expect("profile");
    let context = store.action_context(grant.id, user_id, now).await.expect("context").expect("some");
    assert_eq!(context.tier, "pro");
    assert!(context.chatgpt_enabled);
    assert!(context.allowed_tools.iter().any(|t| t == "solana_swap_execute"));

    assert!(!context.mcp_enabled);

    // The MCP channel is its own switch.
    store
        .upsert_profile(&Profile { user_id, email: None, tier: "pro".to_string(), channels: json!({"mcp": true}) })
        .await
        .expect("profile");
    let context = store.action_context(grant.id, user_id, now).await.expect("context").expect("some");
    assert!(context.mcp_enabled && !context.chatgpt_enabled);

    // Only JSON true enables a channel.
    for channels in [
        json!({"chatgpt": "true", "mcp": "true"}),
        json!({"chatgpt": false, "mcp": false}),
        json!({"mcp": 1}),
        json!({}),
    ] {
        store
            .upsert_profile(&Profile { user_id, email: None, tier: "pro".to_string(), channels })
            .await
            .expect("profile");
        let context = store.action_context(grant.id, user_id, now).await.expect("context").expect("some");
        assert!(!context.chatgpt_enabled && !context.mcp_enabled);
    }

    // An unknown tier allows nothing.
    let tier = format!("tier-{}", Uuid::new_v4().simple());
    store
        .upsert_profile(&Profile { user_id, email: None, tier: tier.clone(), channels: json!({"chatgpt": true}) })
        .await
        .expect("profile");
    let context = store.action_context(grant.id, user_id, now).await.expect("context").expect("some");
    assert_eq!(context.tier, tier);
    assert!(context.allowed_tools.is_empty());

    // Another user's grant, or an unknown one, is not found.
    assert_eq!(store.action_context(grant.id, UserId::random(), now).await.expect("context"), None);
    assert_eq!(store.action_context(GrantId::random(), user_id, now).await.expect("context"), None);

    // Revoked: still found, not live, and not touched any more, however stale.
    let later = stale + Duration::minutes(10);
    store.revoke_grant(grant.id, stale).await.expect("revoke");
    let context = store.action_context(grant.id, user_id, later).await.expect("context").expect("some");
    assert!(!context.grant_live);
    let stored = store.get_grant(grant.id).await.expect("get").expect("grant");
    assert_eq!(stored.last_used_at, Some(stale));
}
