//! The one conformance suite every [`Store`] backend must pass: the executable
//! specification of the trait's semantics.
//!
//! Each check is a public `async fn` that panics on a violation. Checks create their own
//! random ids and never touch shared rows (the `free`/`pro` tiers are only read), so the
//! whole suite can run repeatedly, in any order, against one database. Call
//! [`run_all`] from each backend's test.

use std::cmp::Reverse;
use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{
    ApprovalOutcome, ApprovalStatus, AuthorizationCode, AuthorizationRequest, ClaimOutcome, CodeRedemption, Durability,
    Grant, LAST_USED_GRANULARITY, Notification, OAuthClient, Profile, Receipt, Rotation, Store, StoreError,
    SwapApproval, VoiceHandoff,
};
use crate::tokens;

/// Runs every check against `store`.
pub async fn run_all(store: Arc<dyn Store>) {
    let s = store.as_ref();
    ping_succeeds(s).await;
    profiles_round_trip(s).await;
    tier_tools_have_seeded_defaults_and_can_be_replaced(s).await;
    clients_are_created_listed_and_rotated(s).await;
    deleting_a_client_revokes_its_grants(s).await;
    authorization_requests_expire_and_count_logins(s).await;
    authorization_codes_are_single_use(s).await;
    concurrent_redemptions_of_a_code_succeed_once(store.clone()).await;
    expired_authorization_codes_are_refused(s).await;
    grants_are_listed_and_revoked(s).await;
    refresh_tokens_rotate(s).await;
    a_retried_refresh_within_grace_gets_a_new_token(s).await;
    concurrent_refreshes_with_one_token_leave_one_usable_token(store.clone()).await;
    a_reused_refresh_token_revokes_the_grant(s).await;
    a_replay_after_the_successor_was_used_revokes_the_grant(s).await;
    expired_and_revoked_refresh_tokens_are_refused(s).await;
    revoking_by_refresh_token_is_limited_to_its_client(s).await;
    action_context_reflects_grant_profile_and_tier(s).await;
    receipts_paginate_newest_first(s).await;
    receipts_are_private_and_updatable(s).await;
    approvals_are_idempotent_per_key_until_they_expire(s).await;
    approval_claims_win_exactly_once(store.clone()).await;
    approvals_can_be_rejected_expire_and_finish_once(s).await;
    notifications_list_newest_first(s).await;
    voice_handoffs_are_single_use(s).await;
}

/// Now, at the microsecond precision the stores keep.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn a_client(now: DateTime<Utc>) -> OAuthClient {
    OAuthClient {
        id: format!("chatgpt-{}", Uuid::new_v4().simple()),
        name: "ChatGPT".to_string(),
        secret_hash: tokens::hash(&Uuid::new_v4().to_string()),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        redirect_uris: strings(&["https://chatgpt.com/aip/g-test/oauth/callback"]),
        scopes: strings(&["wallet.read", "trade"]),
        created_at: now,
    }
}

async fn new_client(store: &dyn Store, now: DateTime<Utc>) -> OAuthClient {
    let client = a_client(now);
    store.create_client(&client).await.expect("create client");
    client
}

async fn new_grant(store: &dyn Store, client: &OAuthClient, user_id: Uuid, at: DateTime<Utc>) -> Grant {
    let grant = Grant {
        id: Uuid::new_v4(),
        user_id,
        client_id: client.id.clone(),
        scopes: strings(&["wallet.read"]),
        created_at: at,
        last_used_at: None,
        revoked_at: None,
    };
    store.create_grant(&grant).await.expect("create grant");
    grant
}

/// A live grant with one refresh token; returns the grant and the token's hash.
async fn grant_with_refresh_token(store: &dyn Store, now: DateTime<Utc>) -> (Grant, String) {
    let client = new_client(store, now).await;
    let grant = new_grant(store, &client, Uuid::new_v4(), now).await;
    let token = tokens::hash(&Uuid::new_v4().to_string());
    store.create_refresh_token(&token, grant.id, now + Duration::days(30)).await.expect("create refresh token");
    (grant, token)
}

fn new_token() -> String {
    tokens::hash(&Uuid::new_v4().to_string())
}

/// `ping` answers.
pub async fn ping_succeeds(store: &dyn Store) {
    store.ping().await.expect("ping");
}

/// A profile reads back as written, and upsert replaces it.
pub async fn profiles_round_trip(store: &dyn Store) {
    let mut profile = Profile {
        user_id: Uuid::new_v4(),
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

/// Clients: duplicate ids conflict, listing shows them, secret rotation keeps or drops
/// the previous secret.
pub async fn clients_are_created_listed_and_rotated(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    assert_eq!(store.get_client(&client.id).await.expect("get"), Some(client.clone()));
    assert!(matches!(store.create_client(&client).await, Err(StoreError::Conflict(_))));
    let listed = store.list_clients().await.expect("list");
    assert!(listed.contains(&client));
    assert_eq!(store.get_client("chatgpt-missing").await.expect("get"), None);

    let overlap_until = now + Duration::hours(1);
    assert!(store.rotate_client_secret(&client.id, "new-hash", Some(overlap_until)).await.expect("rotate"));
    let rotated = store.get_client(&client.id).await.expect("get").expect("client");
    assert_eq!(rotated.secret_hash, "new-hash");
    assert_eq!(rotated.previous_secret_hash, Some(client.secret_hash.clone()));
    assert_eq!(rotated.previous_secret_expires_at, Some(overlap_until));

    assert!(store.rotate_client_secret(&client.id, "newer-hash", None).await.expect("rotate"));
    let rotated = store.get_client(&client.id).await.expect("get").expect("client");
    assert_eq!(rotated.secret_hash, "newer-hash");
    assert_eq!(rotated.previous_secret_hash, None);
    assert_eq!(rotated.previous_secret_expires_at, None);

    assert!(!store.rotate_client_secret("chatgpt-missing", "x", None).await.expect("rotate missing"));
}

/// Deleting a client revokes every grant of it at once (and its tokens, and its
/// in-flight codes); the id can never be registered again.
pub async fn deleting_a_client_revokes_its_grants(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let other = new_client(store, now).await;
    let first = new_grant(store, &client, Uuid::new_v4(), now).await;
    let second = new_grant(store, &client, Uuid::new_v4(), now).await;
    let unrelated = new_grant(store, &other, Uuid::new_v4(), now).await;
    let token = new_token();
    store.create_refresh_token(&token, first.id, now + Duration::days(30)).await.expect("token");
    let code = AuthorizationCode {
        code_hash: new_token(),
        client_id: client.id.clone(),
        user_id: first.user_id,
        redirect_uri: client.redirect_uris[0].clone(),
        scopes: client.scopes.clone(),
        expires_at: now + Duration::minutes(10),
        grant_id: None,
    };
    store.create_authorization_code(&code).await.expect("code");

    let later = now + Duration::seconds(5);
    assert!(store.delete_client(&client.id, later).await.expect("delete"));
    assert!(!store.delete_client(&client.id, later).await.expect("delete again"));
    assert_eq!(store.get_client(&client.id).await.expect("get"), None);
    assert!(!store.list_clients().await.expect("list").iter().any(|c| c.id == client.id));
    for grant in [&first, &second] {
        let grant = store.get_grant(grant.id).await.expect("get").expect("grant");
        assert_eq!(grant.revoked_at, Some(later));
    }
    let unrelated = store.get_grant(unrelated.id).await.expect("get").expect("grant");
    assert!(unrelated.is_live());
    assert_eq!(
        store
            .rotate_refresh_token(&token, &new_token(), later + Duration::days(30), later, Duration::seconds(30))
            .await
            .expect("rotate"),
        Rotation::Revoked
    );
    assert_eq!(
        store.redeem_authorization_code(&code.code_hash, later).await.expect("redeem"),
        CodeRedemption::NotFound
    );
    assert!(matches!(store.create_client(&client).await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.create_grant(&Grant { id: Uuid::new_v4(), ..first }).await, Err(StoreError::NotFound(_))));
}

/// Authorization requests: readable until they expire, bound to a user once, logins counted.
pub async fn authorization_requests_expire_and_count_logins(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let request = AuthorizationRequest {
        id: Uuid::new_v4(),
        client_id: client.id.clone(),
        redirect_uri: client.redirect_uris[0].clone(),
        scopes: strings(&["wallet.read"]),
        state: "xyz".to_string(),
        csrf_hash: new_token(),
        user_id: None,
        login_email: None,
        login_attempts: 0,
        expires_at: now + Duration::minutes(15),
        created_at: now,
    };
    store.create_authorization_request(&request).await.expect("create");
    assert_eq!(store.get_authorization_request(request.id, now).await.expect("get"), Some(request.clone()));

    assert_eq!(store.record_login_attempt(request.id, "a@example.com").await.expect("login"), Some(1));
    assert_eq!(store.record_login_attempt(request.id, "b@example.com").await.expect("login"), Some(2));
    assert_eq!(store.record_login_attempt(Uuid::new_v4(), "a@example.com").await.expect("login"), None);

    let user_id = Uuid::new_v4();
    assert!(store.set_authorization_request_user(request.id, user_id, now).await.expect("set user"));
    let stored = store.get_authorization_request(request.id, now).await.expect("get").expect("request");
    assert_eq!(stored.user_id, Some(user_id));
    assert_eq!(stored.login_attempts, 2);
    assert_eq!(stored.login_email.as_deref(), Some("b@example.com"));

    let expired = request.expires_at;
    assert_eq!(store.get_authorization_request(request.id, expired).await.expect("get"), None);
    assert!(!store.set_authorization_request_user(request.id, user_id, expired).await.expect("set"));

    assert!(store.delete_authorization_request(request.id).await.expect("delete"));
    assert!(!store.delete_authorization_request(request.id).await.expect("delete again"));
    assert_eq!(store.get_authorization_request(request.id, now).await.expect("get"), None);

    let orphan = AuthorizationRequest { id: Uuid::new_v4(), client_id: "chatgpt-missing".to_string(), ..request };
    assert!(matches!(store.create_authorization_request(&orphan).await, Err(StoreError::NotFound(_))));
}

fn a_code(client: &OAuthClient, now: DateTime<Utc>) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: new_token(),
        client_id: client.id.clone(),
        user_id: Uuid::new_v4(),
        redirect_uri: client.redirect_uris[0].clone(),
        scopes: strings(&["wallet.read"]),
        expires_at: now + Duration::minutes(10),
        grant_id: None,
    }
}

/// A code redeems once; a replay reports the grant the first redemption produced.
pub async fn authorization_codes_are_single_use(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let code = a_code(&client, now);
    store.create_authorization_code(&code).await.expect("create");
    assert!(matches!(store.create_authorization_code(&code).await, Err(StoreError::Conflict(_))));

    assert_eq!(
        store.redeem_authorization_code(&code.code_hash, now).await.expect("redeem"),
        CodeRedemption::Redeemed(code.clone())
    );
    assert_eq!(
        store.redeem_authorization_code(&code.code_hash, now).await.expect("replay"),
        CodeRedemption::AlreadyUsed { grant_id: None }
    );
    let grant = new_grant(store, &client, code.user_id, now).await;
    assert!(store.attach_grant_to_code(&code.code_hash, grant.id).await.expect("attach"));
    // Even after expiry, a replay is a replay: the caller must revoke the grant.
    let much_later = now + Duration::hours(2);
    assert_eq!(
        store.redeem_authorization_code(&code.code_hash, much_later).await.expect("replay"),
        CodeRedemption::AlreadyUsed { grant_id: Some(grant.id) }
    );
    assert_eq!(store.redeem_authorization_code(&new_token(), now).await.expect("unknown"), CodeRedemption::NotFound);
    assert!(!store.attach_grant_to_code(&new_token(), grant.id).await.expect("attach unknown"));
}

/// Eight concurrent redemptions of one code: exactly one gets it.
pub async fn concurrent_redemptions_of_a_code_succeed_once(store: Arc<dyn Store>) {
    let now = now();
    let client = new_client(store.as_ref(), now).await;
    let code = a_code(&client, now);
    store.create_authorization_code(&code).await.expect("create");
    let redemptions: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let hash = code.code_hash.clone();
            tokio::spawn(async move { store.redeem_authorization_code(&hash, now).await })
        })
        .collect();
    let mut redeemed = 0;
    for redemption in redemptions {
        match redemption.await.expect("task").expect("redeem") {
            CodeRedemption::Redeemed(_) => redeemed += 1,
            CodeRedemption::AlreadyUsed { .. } => {}
            other => panic!("unexpected redemption {other:?}"),
        }
    }
    assert_eq!(redeemed, 1, "exactly one redemption must succeed");
}

/// An unused code past its expiry is refused and stays unusable.
pub async fn expired_authorization_codes_are_refused(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let code = a_code(&client, now);
    store.create_authorization_code(&code).await.expect("create");
    assert_eq!(
        store.redeem_authorization_code(&code.code_hash, code.expires_at).await.expect("redeem"),
        CodeRedemption::Expired
    );
    assert_eq!(
        store.redeem_authorization_code(&code.code_hash, code.expires_at + Duration::seconds(1)).await.expect("redeem"),
        CodeRedemption::Expired
    );
}

/// A user's live grants list newest first with client names; revocation is per user.
pub async fn grants_are_listed_and_revoked(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let user_id = Uuid::new_v4();
    let older = new_grant(store, &client, user_id, now).await;
    let newer = new_grant(store, &client, user_id, now + Duration::seconds(1)).await;
    let someone_elses = new_grant(store, &client, Uuid::new_v4(), now).await;
    assert!(matches!(store.create_grant(&older).await, Err(StoreError::Conflict(_))));

    let listed = store.list_grants_for_user(user_id).await.expect("list");
    let ids: Vec<Uuid> = listed.iter().map(|s| s.grant.id).collect();
    assert_eq!(ids, vec![newer.id, older.id]);
    assert!(listed.iter().all(|s| s.client_name == client.name));
    assert_eq!(listed[0].grant, newer);

    let touched_at = now + Duration::minutes(1);
    store.touch_grant(older.id, touched_at).await.expect("touch");
    let stored = store.get_grant(older.id).await.expect("get").expect("grant");
    assert_eq!(stored.last_used_at, Some(touched_at));

    assert!(!store.revoke_grant_for_user(someone_elses.id, user_id, now).await.expect("not mine"));
    assert!(store.revoke_grant_for_user(older.id, user_id, now).await.expect("revoke"));
    assert!(!store.revoke_grant_for_user(older.id, user_id, now).await.expect("again"));
    assert!(store.revoke_grant(newer.id, now).await.expect("revoke"));
    assert!(!store.revoke_grant(newer.id, now).await.expect("again"));
    assert!(!store.revoke_grant(Uuid::new_v4(), now).await.expect("unknown"));
    assert!(store.list_grants_for_user(user_id).await.expect("list").is_empty());
    let revoked = store.get_grant(older.id).await.expect("get").expect("grant");
    assert_eq!(revoked.revoked_at, Some(now));
    assert_eq!(store.get_grant(Uuid::new_v4()).await.expect("get"), None);
}

/// Using the current token retires it for a new one; the new one works in turn.
pub async fn refresh_tokens_rotate(store: &dyn Store) {
    let now = now();
    let grace = Duration::seconds(30);
    let (grant, first) = grant_with_refresh_token(store, now).await;
    let second = new_token();
    assert_eq!(
        store.rotate_refresh_token(&first, &second, now + Duration::days(30), now, grace).await.expect("rotate"),
        Rotation::Rotated { grant: grant.clone() }
    );
    let later = now + Duration::hours(1);
    let third = new_token();
    assert_eq!(
        store.rotate_refresh_token(&second, &third, later + Duration::days(30), later, grace).await.expect("rotate"),
        Rotation::Rotated { grant: grant.clone() }
    );
    assert_eq!(
        store.rotate_refresh_token(&new_token(), &new_token(), later, later, grace).await.expect("unknown"),
        Rotation::NotFound
    );
    assert!(matches!(store.create_refresh_token(&third, grant.id, later).await, Err(StoreError::Conflict(_))));
    assert!(matches!(
        store.create_refresh_token(&new_token(), Uuid::new_v4(), later).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A retry with the just-retired token, within grace, gets a new token; the successor it
/// replaces (never received by the client) is dead, and the grant lives on. Grace runs
/// from the first rotation: retries cannot stretch it.
pub async fn a_retried_refresh_within_grace_gets_a_new_token(store: &dyn Store) {
    let now = now();
    let grace = Duration::seconds(30);
    let expiry = now + Duration::days(30);

    let (grant, first) = grant_with_refresh_token(store, now).await;
    let lost = new_token();
    store.rotate_refresh_token(&first, &lost, expiry, now, grace).await.expect("rotate");
    let retry_at = now + Duration::seconds(10);
    let kept = new_token();
    assert_eq!(
        store.rotate_refresh_token(&first, &kept, expiry, retry_at, grace).await.expect("retry"),
        Rotation::ReplayWithinGrace { grant: grant.clone() }
    );
    assert_eq!(
        store.rotate_refresh_token(&lost, &new_token(), expiry, retry_at, grace).await.expect("lost"),
        Rotation::NotFound
    );
    let next = now + Duration::minutes(5);
    assert_eq!(
        store.rotate_refresh_token(&kept, &new_token(), expiry, next, grace).await.expect("use"),
        Rotation::Rotated { grant: grant.clone() }
    );
    assert!(store.get_grant(grant.id).await.expect("get").expect("grant").is_live());

    let (grant, first) = grant_with_refresh_token(store, now).await;
    store.rotate_refresh_token(&first, &new_token(), expiry, now, grace).await.expect("rotate");
    let late_retry = now + Duration::seconds(25);
    assert_eq!(
        store.rotate_refresh_token(&first, &new_token(), expiry, late_retry, grace).await.expect("retry"),
        Rotation::ReplayWithinGrace { grant: grant.clone() }
    );
    let past_first_grace = now + Duration::seconds(35);
    assert_eq!(
        store.rotate_refresh_token(&first, &new_token(), expiry, past_first_grace, grace).await.expect("retry"),
        Rotation::Reused { grant_id: grant.id }
    );
}

/// Eight concurrent refreshes with one token (a client racing itself) are serialised:
/// one rotation, seven retries, the grant lives, and only the last token issued works.
pub async fn concurrent_refreshes_with_one_token_leave_one_usable_token(store: Arc<dyn Store>) {
    let now = now();
    let grace = Duration::seconds(30);
    let expiry = now + Duration::days(30);
    let (grant, token) = grant_with_refresh_token(store.as_ref(), now).await;
    let new_hashes: Vec<String> = (0..8).map(|_| new_token()).collect();
    let refreshes: Vec<_> = new_hashes
        .iter()
        .map(|new_hash| {
            let (store, token, new_hash) = (store.clone(), token.clone(), new_hash.clone());
            tokio::spawn(async move { store.rotate_refresh_token(&token, &new_hash, expiry, now, grace).await })
        })
        .collect();
    let mut rotated = 0;
    for refresh in refreshes {
        match refresh.await.expect("task").expect("rotate") {
            Rotation::Rotated { .. } => rotated += 1,
            Rotation::ReplayWithinGrace { .. } => {}
            other => panic!("unexpected rotation {other:?}"),
        }
    }
    assert_eq!(rotated, 1, "exactly one refresh rotates; the rest are retries");
    assert!(store.get_grant(grant.id).await.expect("get").expect("grant").is_live());

    let later = now + Duration::minutes(1);
    let mut usable = 0;
    for new_hash in &new_hashes {
        match store.rotate_refresh_token(new_hash, &new_token(), expiry, later, grace).await.expect("use") {
            Rotation::Rotated { .. } => usable += 1,
            Rotation::NotFound => {}
            other => panic!("unexpected rotation {other:?}"),
        }
    }
    assert_eq!(usable, 1, "exactly one issued token stays usable");
}

/// A retired token presented after the grace window revokes the grant and every token.
pub async fn a_reused_refresh_token_revokes_the_grant(store: &dyn Store) {
    let now = now();
    let grace = Duration::seconds(30);
    let expiry = now + Duration::days(30);
    let (grant, first) = grant_with_refresh_token(store, now).await;
    let second = new_token();
    store.rotate_refresh_token(&first, &second, expiry, now, grace).await.expect("rotate");

    let after_grace = now + grace + Duration::seconds(1);
    assert_eq!(
        store.rotate_refresh_token(&first, &new_token(), expiry, after_grace, grace).await.expect("reuse"),
        Rotation::Reused { grant_id: grant.id }
    );
    let revoked = store.get_grant(grant.id).await.expect("get").expect("grant");
    assert_eq!(revoked.revoked_at, Some(after_grace));
    assert_eq!(
        store.rotate_refresh_token(&second, &new_token(), expiry, after_grace, grace).await.expect("current"),
        Rotation::Revoked
    );
}

/// Once the successor has been used, even a quick replay of its parent is theft.
pub async fn a_replay_after_the_successor_was_used_revokes_the_grant(store: &dyn Store) {
    let now = now();
    let grace = Duration::seconds(30);
    let expiry = now + Duration::days(30);
    let (grant, first) = grant_with_refresh_token(store, now).await;
    let second = new_token();
    store.rotate_refresh_token(&first, &second, expiry, now, grace).await.expect("rotate");
    let soon = now + Duration::seconds(1);
    store.rotate_refresh_token(&second, &new_token(), expiry, soon, grace).await.expect("rotate");
    assert_eq!(
        store.rotate_refresh_token(&first, &new_token(), expiry, soon, grace).await.expect("replay"),
        Rotation::Reused { grant_id: grant.id }
    );
}

/// An expired token is refused without harming the grant; a revoked grant's tokens are dead.
pub async fn expired_and_revoked_refresh_tokens_are_refused(store: &dyn Store) {
    let now = now();
    let grace = Duration::seconds(30);
    let (grant, token) = grant_with_refresh_token(store, now).await;
    let after_expiry = now + Duration::days(31);
    assert_eq!(
        store
            .rotate_refresh_token(&token, &new_token(), after_expiry + Duration::days(30), after_expiry, grace)
            .await
            .expect("expired"),
        Rotation::Expired
    );
    assert!(store.get_grant(grant.id).await.expect("get").expect("grant").is_live());

    let (grant, token) = grant_with_refresh_token(store, now).await;
    assert!(store.revoke_grant(grant.id, now).await.expect("revoke"));
    assert_eq!(
        store.rotate_refresh_token(&token, &new_token(), now + Duration::days(30), now, grace).await.expect("revoked"),
        Rotation::Revoked
    );
}

/// RFC 7009: a client revokes a grant through its refresh token, never another client's.
pub async fn revoking_by_refresh_token_is_limited_to_its_client(store: &dyn Store) {
    let now = now();
    let (grant, token) = grant_with_refresh_token(store, now).await;
    assert_eq!(store.revoke_grant_by_refresh_token(&token, "chatgpt-other", now).await.expect("other"), None);
    assert!(store.get_grant(grant.id).await.expect("get").expect("grant").is_live());
    assert_eq!(
        store.revoke_grant_by_refresh_token(&token, &grant.client_id, now).await.expect("revoke"),
        Some(grant.id)
    );
    assert!(!store.get_grant(grant.id).await.expect("get").expect("grant").is_live());
    // Revoking again still succeeds (RFC 7009 §2.2).
    assert_eq!(
        store.revoke_grant_by_refresh_token(&token, &grant.client_id, now).await.expect("again"),
        Some(grant.id)
    );
    assert_eq!(store.revoke_grant_by_refresh_token(&new_token(), &grant.client_id, now).await.expect("unknown"), None);
}

/// The action context: liveness, tier and tools, channel switch, defaults without a profile.
pub async fn action_context_reflects_grant_profile_and_tier(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;

    // No profile: free tier, channel off.
    let user_id = Uuid::new_v4();
    let grant = new_grant(store, &client, user_id, now).await;
    let context = store.action_context(grant.id, user_id, now).await.expect("context").expect("some");
    assert!(context.grant_live);
    assert_eq!(context.scopes, grant.scopes);
    assert_eq!(context.tier, "free");
    assert!(!context.chatgpt_enabled);
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

    // Only JSON true enables the channel.
    for channels in [json!({"chatgpt": "true"}), json!({"chatgpt": false}), json!({})] {
        store
            .upsert_profile(&Profile { user_id, email: None, tier: "pro".to_string(), channels })
            .await
            .expect("profile");
        let context = store.action_context(grant.id, user_id, now).await.expect("context").expect("some");
        assert!(!context.chatgpt_enabled);
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
    assert_eq!(store.action_context(grant.id, Uuid::new_v4(), now).await.expect("context"), None);
    assert_eq!(store.action_context(Uuid::new_v4(), user_id, now).await.expect("context"), None);

    // Revoked: still found, not live, and not touched any more, however stale.
    let later = stale + Duration::minutes(10);
    store.revoke_grant(grant.id, stale).await.expect("revoke");
    let context = store.action_context(grant.id, user_id, later).await.expect("context").expect("some");
    assert!(!context.grant_live);
    let stored = store.get_grant(grant.id).await.expect("get").expect("grant");
    assert_eq!(stored.last_used_at, Some(stale));
}

/// A receipt of a read action, for `user_id`.
pub fn a_receipt(user_id: Uuid, created_at: DateTime<Utc>) -> Receipt {
    Receipt {
        id: Uuid::new_v4(),
        user_id,
        client_id: "chatgpt-test".to_string(),
        action: "swap_preview".to_string(),
        mcp_tool: Some("solana_swap_preview".to_string()),
        args_digest: new_token(),
        status: "ok".to_string(),
        error_code: None,
        upstream_latency_ms: Some(120),
        request_id: Uuid::new_v4().to_string(),
        approval_id: None,
        created_at,
    }
}

/// Receipts list newest first; the keyset cursor walks every page without gaps or
/// repeats, ties on `created_at` broken by id.
pub async fn receipts_paginate_newest_first(store: &dyn Store) {
    let now = now();
    let user_id = Uuid::new_v4();
    let mut receipts: Vec<Receipt> = (0..5).map(|i| a_receipt(user_id, now + Duration::seconds(i))).collect();
    // Three receipts in the same microsecond.
    let tie = now + Duration::seconds(2);
    receipts.extend((0..2).map(|_| a_receipt(user_id, tie)));
    receipts[0].mcp_tool = None;
    receipts[0].status = "error".to_string();
    receipts[0].error_code = Some("upstream_timeout".to_string());
    receipts[0].upstream_latency_ms = None;
    receipts[0].approval_id = Some(Uuid::new_v4());

    let (first, rest) = receipts.split_at(1);
    store.insert_receipt(&first[0]).await.expect("insert one");
    store.insert_receipts(rest, Durability::Relaxed).await.expect("insert many");
    store.insert_receipts(&[], Durability::Durable).await.expect("insert none");
    store.insert_receipt(&a_receipt(Uuid::new_v4(), now)).await.expect("someone else's");
    assert!(matches!(store.insert_receipt(&first[0]).await, Err(StoreError::Conflict(_))));

    let mut expected = receipts.clone();
    expected.sort_by_key(|x| Reverse((x.created_at, x.id)));
    let mut walked = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_receipts(user_id, cursor, 2).await.expect("page");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some(last.cursor());
        walked.extend(page);
    }
    assert_eq!(walked, expected);
}

/// A receipt is visible only to its user; its status can be updated.
pub async fn receipts_are_private_and_updatable(store: &dyn Store) {
    let now = now();
    let receipt = Receipt { status: "pending_approval".to_string(), ..a_receipt(Uuid::new_v4(), now) };
    store.insert_receipt(&receipt).await.expect("insert");
    assert_eq!(store.get_receipt(receipt.id, receipt.user_id).await.expect("get"), Some(receipt.clone()));
    assert_eq!(store.get_receipt(receipt.id, Uuid::new_v4()).await.expect("get"), None);
    assert!(store.update_receipt_status(receipt.id, "error", Some("swap_failed")).await.expect("update"));
    let updated = store.get_receipt(receipt.id, receipt.user_id).await.expect("get").expect("receipt");
    assert_eq!(updated.status, "error");
    assert_eq!(updated.error_code.as_deref(), Some("swap_failed"));
    assert!(!store.update_receipt_status(Uuid::new_v4(), "ok", None).await.expect("unknown"));
}

fn an_approval(user_id: Uuid, key: &str, now: DateTime<Utc>) -> SwapApproval {
    SwapApproval {
        id: Uuid::new_v4(),
        user_id,
        client_id: "chatgpt-test".to_string(),
        grant_id: Uuid::new_v4(),
        idempotency_key: key.to_string(),
        request: json!({"input_mint": "SOL", "output_mint": "USDC", "amount": "1.5"}),
        status: ApprovalStatus::PendingApproval,
        result: None,
        error_code: None,
        receipt_id: None,
        created_at: now,
        expires_at: now + Duration::minutes(10),
        decided_at: None,
        finished_at: None,
    }
}

/// The same (user, key) returns the first approval until it expires; then a new one.
pub async fn approvals_are_idempotent_per_key_until_they_expire(store: &dyn Store) {
    let now = now();
    let user_id = Uuid::new_v4();
    let first = an_approval(user_id, "key-1", now);
    assert_eq!(store.create_or_get_approval(&first, now).await.expect("create"), (first.clone(), true));
    let retry = an_approval(user_id, "key-1", now);
    assert_eq!(store.create_or_get_approval(&retry, now).await.expect("retry"), (first.clone(), false));
    // The key is per user, and another key is another approval.
    let other_user = an_approval(Uuid::new_v4(), "key-1", now);
    assert!(store.create_or_get_approval(&other_user, now).await.expect("other user").1);
    let other_key = an_approval(user_id, "key-2", now);
    assert!(store.create_or_get_approval(&other_key, now).await.expect("other key").1);

    let pending = store.list_pending_approvals(user_id, now).await.expect("pending");
    let ids: Vec<Uuid> = pending.iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first.id) && ids.contains(&other_key.id));
    assert_eq!(store.get_approval(first.id, user_id).await.expect("get"), Some(first.clone()));
    assert_eq!(store.get_approval(first.id, Uuid::new_v4()).await.expect("get"), None);

    // After expiry, the key asks again and the old approval reads as expired.
    let later = first.expires_at + Duration::seconds(1);
    let fresh = an_approval(user_id, "key-1", later);
    assert_eq!(store.create_or_get_approval(&fresh, later).await.expect("after expiry"), (fresh.clone(), true));
    let old = store.get_approval(first.id, user_id).await.expect("get").expect("old");
    assert_eq!(old.status_at(later), ApprovalStatus::Expired);
    assert!(!store.list_pending_approvals(user_id, later).await.expect("pending").iter().any(|a| a.id == first.id));
    assert_eq!(
        store.create_or_get_approval(&an_approval(user_id, "key-1", later), later).await.expect("retry"),
        (fresh, false)
    );
}

/// Eight concurrent approvals of one swap: exactly one wins, the rest see it decided.
pub async fn approval_claims_win_exactly_once(store: Arc<dyn Store>) {
    let now = now();
    let user_id = Uuid::new_v4();
    let approval = an_approval(user_id, "race", now);
    store.create_or_get_approval(&approval, now).await.expect("create");

    let claims: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_approval(approval.id, user_id, now).await })
        })
        .collect();
    let mut won = 0;
    for claim in claims {
        match claim.await.expect("task").expect("claim") {
            ClaimOutcome::Won(claimed) => {
                won += 1;
                assert_eq!(claimed.status, ApprovalStatus::Executing);
                assert_eq!(claimed.decided_at, Some(now));
            }
            ClaimOutcome::AlreadyDecided(current) => {
                assert_eq!(current.status, ApprovalStatus::Executing);
            }
            other => panic!("unexpected claim outcome {other:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one claim must win");
}

/// Rejection decides once, expiry is recorded, and an execution finishes once.
pub async fn approvals_can_be_rejected_expire_and_finish_once(store: &dyn Store) {
    let now = now();
    let user_id = Uuid::new_v4();

    let rejected = an_approval(user_id, "reject", now);
    store.create_or_get_approval(&rejected, now).await.expect("create");
    assert_eq!(store.claim_approval(rejected.id, Uuid::new_v4(), now).await.expect("not mine"), ClaimOutcome::NotFound);
    let ClaimOutcome::Won(decided) = store.reject_approval(rejected.id, user_id, now).await.expect("reject") else {
        panic!("reject must win");
    };
    assert_eq!(decided.status, ApprovalStatus::Rejected);
    assert!(matches!(
        store.claim_approval(rejected.id, user_id, now).await.expect("claim"),
        ClaimOutcome::AlreadyDecided(a) if a.status == ApprovalStatus::Rejected
    ));

    let lapsed = an_approval(user_id, "lapse", now);
    store.create_or_get_approval(&lapsed, now).await.expect("create");
    let late = lapsed.expires_at;
    assert_eq!(store.claim_approval(lapsed.id, user_id, late).await.expect("claim"), ClaimOutcome::Expired);
    let stored = store.get_approval(lapsed.id, user_id).await.expect("get").expect("lapsed");
    assert_eq!(stored.status, ApprovalStatus::Expired);
    assert!(matches!(
        store.reject_approval(lapsed.id, user_id, late).await.expect("reject"),
        ClaimOutcome::AlreadyDecided(_)
    ));

    let executed = an_approval(user_id, "execute", now);
    store.create_or_get_approval(&executed, now).await.expect("create");
    let outcome = ApprovalOutcome::Executed { result: json!({"signature": "5xyz"}), receipt_id: Some(Uuid::new_v4()) };
    // Not executing yet: nothing to finish.
    assert!(!store.finish_approval(executed.id, &outcome, now).await.expect("finish"));
    store.claim_approval(executed.id, user_id, now).await.expect("claim");
    let done_at = now + Duration::seconds(3);
    assert!(store.finish_approval(executed.id, &outcome, done_at).await.expect("finish"));
    let failed = ApprovalOutcome::Failed { error_code: "slippage".to_string(), result: None, receipt_id: None };
    assert!(!store.finish_approval(executed.id, &failed, done_at).await.expect("finish twice"));
    let stored = store.get_approval(executed.id, user_id).await.expect("get").expect("executed");
    assert_eq!(stored.status, ApprovalStatus::Executed);
    assert_eq!(stored.result, Some(json!({"signature": "5xyz"})));
    assert_eq!(stored.finished_at, Some(done_at));
    let ApprovalOutcome::Executed { receipt_id, .. } = outcome else { unreachable!() };
    assert_eq!(stored.receipt_id, receipt_id);

    let failing = an_approval(user_id, "fail", now);
    store.create_or_get_approval(&failing, now).await.expect("create");
    store.claim_approval(failing.id, user_id, now).await.expect("claim");
    assert!(store.finish_approval(failing.id, &failed, done_at).await.expect("finish"));
    let stored = store.get_approval(failing.id, user_id).await.expect("get").expect("failed");
    assert_eq!(stored.status, ApprovalStatus::Failed);
    assert_eq!(stored.error_code.as_deref(), Some("slippage"));

    assert!(store.list_pending_approvals(user_id, now).await.expect("pending").is_empty());
    assert_eq!(store.claim_approval(Uuid::new_v4(), user_id, now).await.expect("unknown"), ClaimOutcome::NotFound);
}

/// Notifications list newest first, limited, per user.
pub async fn notifications_list_newest_first(store: &dyn Store) {
    let now = now();
    let user_id = Uuid::new_v4();
    let notifications: Vec<Notification> = (0..3)
        .map(|i| Notification {
            id: Uuid::new_v4(),
            user_id,
            kind: "swap_approval_requested".to_string(),
            title: format!("Approve swap {i}"),
            body: json!({"approval_id": Uuid::new_v4()}),
            created_at: now + Duration::seconds(i),
            read_at: None,
        })
        .collect();
    for notification in &notifications {
        store.insert_notification(notification).await.expect("insert");
    }
    assert!(matches!(store.insert_notification(&notifications[0]).await, Err(StoreError::Conflict(_))));
    let listed = store.list_notifications(user_id, 2).await.expect("list");
    assert_eq!(listed, vec![notifications[2].clone(), notifications[1].clone()]);
    assert!(store.list_notifications(Uuid::new_v4(), 10).await.expect("list").is_empty());
}

/// A voice handoff ticket works once, and never after it expires.
pub async fn voice_handoffs_are_single_use(store: &dyn Store) {
    let now = now();
    let handoff = VoiceHandoff {
        id: Uuid::new_v4(),
        user_id: Uuid::new_v4(),
        grant_id: Uuid::new_v4(),
        context: json!({"topic": "SOL price"}),
        expires_at: now + Duration::minutes(5),
        created_at: now,
        consumed_at: None,
    };
    store.create_voice_handoff(&handoff).await.expect("create");
    // Someone else presenting the id neither reads nor spends it.
    assert_eq!(store.consume_voice_handoff(handoff.id, Uuid::new_v4(), now).await.expect("stranger"), None);
    let consumed = store.consume_voice_handoff(handoff.id, handoff.user_id, now).await.expect("consume");
    assert_eq!(consumed, Some(VoiceHandoff { consumed_at: Some(now), ..handoff.clone() }));
    assert_eq!(store.consume_voice_handoff(handoff.id, handoff.user_id, now).await.expect("again"), None);

    let expiring = VoiceHandoff { id: Uuid::new_v4(), ..handoff };
    store.create_voice_handoff(&expiring).await.expect("create");
    assert_eq!(
        store.consume_voice_handoff(expiring.id, expiring.user_id, expiring.expires_at).await.expect("expired"),
        None
    );
    assert_eq!(store.consume_voice_handoff(Uuid::new_v4(), handoff.user_id, now).await.expect("unknown"), None);
}
