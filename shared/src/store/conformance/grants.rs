//! Checks of [`GrantStore`](crate::store::GrantStore): grants and refresh tokens.

use std::sync::Arc;

use chrono::Duration;

use super::{grant_with_refresh_token, new_client, new_grant, new_token, now};
use crate::ids::{ClientId, GrantId, TokenHash, UserId};
use crate::store::{Rotation, Store, StoreError};

/// A user's live grants list newest first with client names; revocation is per user.
pub async fn grants_are_listed_and_revoked(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let user_id = UserId::random();
    let older = new_grant(store, &client, user_id, now).await;
    let newer = new_grant(store, &client, user_id, now + Duration::seconds(1)).await;
    let someone_elses = new_grant(store, &client, UserId::random(), now).await;
    assert!(matches!(store.create_grant(&older).await, Err(StoreError::Conflict(_))));

    let listed = store.list_grants_for_user(user_id).await.expect("list");
    let ids: Vec<GrantId> = listed.iter().map(|s| s.grant.id).collect();
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
    assert!(!store.revoke_grant(GrantId::random(), now).await.expect("unknown"));
    assert!(store.list_grants_for_user(user_id).await.expect("list").is_empty());
    let revoked = store.get_grant(older.id).await.expect("get").expect("grant");
    assert_eq!(revoked.revoked_at, Some(now));
    assert_eq!(store.get_grant(GrantId::random()).await.expect("get"), None);
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
        store.create_refresh_token(&new_token(), GrantId::random(), later).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A retry with the just-retired token, within grace, gets a new token, and the successor
/// the first attempt got stays usable too: whichever the client kept works. Using one
/// supersedes the other, which is then a tombstone: presenting it revokes the grant.
/// Grace runs from the first rotation: retries cannot stretch it.
pub async fn a_retried_refresh_within_grace_gets_a_new_token(store: &dyn Store) {
    let now = now();
    let grace = Duration::seconds(30);
    let expiry = now + Duration::days(30);
    let retry_at = now + Duration::seconds(10);
    let next = now + Duration::minutes(5);

    for keep_the_retry in [true, false] {
        let (grant, first) = grant_with_refresh_token(store, now).await;
        let lost = new_token();
        store.rotate_refresh_token(&first, &lost, expiry, now, grace).await.expect("rotate");
        let retried = new_token();
        assert_eq!(
            store.rotate_refresh_token(&first, &retried, expiry, retry_at, grace).await.expect("retry"),
            Rotation::ReplayWithinGrace { grant: grant.clone() }
        );
        let (kept, dropped) = if keep_the_retry { (&retried, &lost) } else { (&lost, &retried) };
        assert_eq!(
            store.rotate_refresh_token(kept, &new_token(), expiry, next, grace).await.expect("use"),
            Rotation::Rotated { grant: grant.clone() },
            "the kept token works (kept the retry's: {keep_the_retry})"
        );
        assert!(store.get_grant(grant.id).await.expect("get").expect("grant").is_live());
        let much_later = next + Duration::days(1);
        assert_eq!(
            store.rotate_refresh_token(dropped, &new_token(), expiry, much_later, grace).await.expect("tombstone"),
            Rotation::Reused { grant_id: grant.id },
            "the superseded token is remembered"
        );
        assert_eq!(store.get_grant(grant.id).await.expect("get").expect("grant").revoked_at, Some(much_later));
    }

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
/// one rotation, seven retries, the grant lives, and every token issued works until the
/// client uses one; the others are then tombstones.
pub async fn concurrent_refreshes_with_one_token_leave_every_answer_usable(store: Arc<dyn Store>) {
    let now = now();
    let grace = Duration::seconds(30);
    let expiry = now + Duration::days(30);
    for kept in [0, 7] {
        let (grant, token) = grant_with_refresh_token(store.as_ref(), now).await;
        let new_hashes: Vec<TokenHash> = (0..8).map(|_| new_token()).collect();
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
        assert_eq!(
            store.rotate_refresh_token(&new_hashes[kept], &new_token(), expiry, later, grace).await.expect("use"),
            Rotation::Rotated { grant: grant.clone() },
            "the token the client kept (answer {kept}) works"
        );
        let other = &new_hashes[7 - kept];
        assert_eq!(
            store.rotate_refresh_token(other, &new_token(), expiry, later, grace).await.expect("other"),
            Rotation::Reused { grant_id: grant.id },
            "another answer, used after the kept one, is a tombstone"
        );
    }
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
    assert_eq!(
        store.revoke_grant_by_refresh_token(&token, &ClientId::from("chatgpt-other"), now).await.expect("other"),
        None
    );
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
