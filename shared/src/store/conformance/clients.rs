//! Checks of [`ClientStore`](crate::store::ClientStore).

use chrono::Duration;

use super::{new_client, new_grant, new_token, now};
use crate::ids::{ClientId, GrantId, TokenHash, UserId};
use crate::store::{AuthorizationCode, CodeRedemption, Grant, Rotation, Store, StoreError};

/// Clients: duplicate ids conflict, listing shows them, secret rotation keeps or drops
/// the previous secret.
pub async fn clients_are_created_listed_and_rotated(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    assert_eq!(store.get_client(&client.id).await.expect("get"), Some(client.clone()));
    assert!(matches!(store.create_client(&client).await, Err(StoreError::Conflict(_))));
    let listed = store.list_clients().await.expect("list");
    assert!(listed.contains(&client));
    assert_eq!(store.get_client(&ClientId::from("chatgpt-missing")).await.expect("get"), None);

    let overlap_until = now + Duration::hours(1);
    assert!(store.rotate_client_secret(&client.id, &TokenHash::of("new"), Some(overlap_until)).await.expect("rotate"));
    let rotated = store.get_client(&client.id).await.expect("get").expect("client");
    assert_eq!(rotated.secret_hash, TokenHash::of("new"));
    assert_eq!(rotated.previous_secret_hash, Some(client.secret_hash.clone()));
    assert_eq!(rotated.previous_secret_expires_at, Some(overlap_until));

    assert!(store.rotate_client_secret(&client.id, &TokenHash::of("newer"), None).await.expect("rotate"));
    let rotated = store.get_client(&client.id).await.expect("get").expect("client");
    assert_eq!(rotated.secret_hash, TokenHash::of("newer"));
    assert_eq!(rotated.previous_secret_hash, None);
    assert_eq!(rotated.previous_secret_expires_at, None);

    assert!(
        !store
            .rotate_client_secret(&ClientId::from("chatgpt-missing"), &TokenHash::of("x"), None)
            .await
            .expect("rotate missing")
    );
}

/// Deleting a client revokes every grant of it at once (and its tokens, and its
/// in-flight codes); the id can never be registered again.
pub async fn deleting_a_client_revokes_its_grants(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let other = new_client(store, now).await;
    let first = new_grant(store, &client, UserId::random(), now).await;
    let second = new_grant(store, &client, UserId::random(), now).await;
    let unrelated = new_grant(store, &other, UserId::random(), now).await;
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
        code_challenge: None,
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
        store
            .redeem_authorization_code(&super::authorization::exchange_for(&code, &new_token(), later))
            .await
            .expect("redeem"),
        CodeRedemption::NotFound
    );
    assert!(matches!(store.create_client(&client).await, Err(StoreError::Conflict(_))));
    assert!(matches!(
        store.create_grant(&Grant { id: GrantId::random(), ..first }).await,
        Err(StoreError::NotFound(_))
    ));
}
