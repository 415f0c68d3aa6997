//! Checks of [`ClientStore`](crate::store::ClientStore).

use chrono::Duration;

use super::{a_client, new_client, new_grant, new_token, now, strings};
use crate::ids::{ClientId, GrantId, TokenHash, UserId};
use crate::store::{
    AuthorizationCode, ClientKind, ClientRegistration, CodeRedemption, Grant, Rotation, Store, StoreError,
};

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

pub(super) fn a_registration(
    client_id: &ClientId,
    kind: ClientKind,
    now: chrono::DateTime<chrono::Utc>,
) -> ClientRegistration {
    ClientRegistration {
        client_id: client_id.clone(),
        kind,
        token_endpoint_auth_method: "none".into(),
        jwks_uri: None,
        jwks: None,
        registered_at: now,
        last_used_at: None,
        document_expires_at: None,
    }
}

/// A self-registered client is created with its registration in one step (a reused id
/// conflicts and changes nothing); `last_used_at` is set once, by the first use; an
/// operator client has no registration, and a deleted client's is not returned.
pub async fn registered_clients_keep_their_registration(store: &dyn Store) {
    let now = now();
    let mut client = a_client(now);
    client.public = true;
    let registration = a_registration(&client.id, ClientKind::Dynamic, now);
    store.register_client(&client, &registration).await.expect("register");
    assert_eq!(store.get_client(&client.id).await.expect("get"), Some(client.clone()));
    assert_eq!(store.get_registration(&client.id).await.expect("get"), Some(registration.clone()));

    let mut other = a_client(now);
    other.id = client.id.clone();
    other.name = "Impostor".into();
    assert!(matches!(store.register_client(&other, &registration).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_client(&client.id).await.expect("get").expect("client").name, client.name);

    store.mark_client_used(&client.id, now + Duration::minutes(1)).await.expect("use");
    store.mark_client_used(&client.id, now + Duration::minutes(2)).await.expect("use again");
    let used = store.get_registration(&client.id).await.expect("get").expect("registration");
    assert_eq!(used.last_used_at, Some(now + Duration::minutes(1)));

    let operator = new_client(store, now).await;
    assert_eq!(store.get_registration(&operator.id).await.expect("get"), None);
    store.mark_client_used(&operator.id, now).await.expect("marking an operator client is a no-op");

    assert!(store.delete_client(&client.id, now).await.expect("delete"));
    assert_eq!(store.get_registration(&client.id).await.expect("get"), None);
}

/// Saving a document client twice updates it in place (keeping when it was first seen
/// and used); an id held by an operator client or a deleted client is not taken over.
pub async fn document_clients_are_refreshed_not_duplicated(store: &dyn Store) {
    let now = now();
    let mut client = a_client(now);
    client.id = ClientId::from(format!("https://client.example/{}.json", uuid::Uuid::new_v4().simple()));
    client.public = true;
    let mut registration = a_registration(&client.id, ClientKind::Document, now);
    registration.document_expires_at = Some(now + Duration::minutes(5));
    assert!(store.save_document_client(&client, &registration).await.expect("save"));
    store.mark_client_used(&client.id, now).await.expect("use");

    let later = now + Duration::minutes(10);
    let mut renamed = client.clone();
    renamed.name = "Renamed".into();
    renamed.redirect_uris = strings(&["http://127.0.0.1/callback"]);
    renamed.public = false;
    renamed.created_at = later;
    let mut refreshed = registration.clone();
    refreshed.token_endpoint_auth_method = "private_key_jwt".into();
    refreshed.jwks_uri = Some("https://client.example/jwks.json".into());
    refreshed.registered_at = later;
    refreshed.document_expires_at = Some(later + Duration::minutes(5));
    assert!(store.save_document_client(&renamed, &refreshed).await.expect("refresh"));

    let saved = store.get_client(&client.id).await.expect("get").expect("client");
    assert_eq!((saved.name.as_str(), saved.public, saved.created_at), ("Renamed", false, now));
    assert_eq!(saved.redirect_uris, renamed.redirect_uris);
    let saved = store.get_registration(&client.id).await.expect("get").expect("registration");
    assert_eq!(saved.token_endpoint_auth_method, "private_key_jwt");
    assert_eq!(saved.jwks_uri, refreshed.jwks_uri);
    assert_eq!(saved.document_expires_at, refreshed.document_expires_at);
    assert_eq!((saved.registered_at, saved.last_used_at), (now, Some(now)));

    let operator = new_client(store, now).await;
    let mut takeover = renamed.clone();
    takeover.id = operator.id.clone();
    let takeover_registration = a_registration(&operator.id, ClientKind::Document, now);
    assert!(!store.save_document_client(&takeover, &takeover_registration).await.expect("save"));
    assert_eq!(store.get_client(&operator.id).await.expect("get"), Some(operator.clone()));

    assert!(store.delete_client(&client.id, now).await.expect("delete"));
    assert!(!store.save_document_client(&renamed, &refreshed).await.expect("save deleted"));
    assert_eq!(store.get_client(&client.id).await.expect("get"), None);
}

/// A client assertion's `jti` is accepted once per client while it has not expired.
pub async fn assertion_jtis_are_spent_once_until_they_expire(store: &dyn Store) {
    let now = now();
    let client = ClientId::from(format!("https://client.example/{}.json", uuid::Uuid::new_v4().simple()));
    let other = ClientId::from(format!("https://other.example/{}.json", uuid::Uuid::new_v4().simple()));
    let jti = uuid::Uuid::new_v4().to_string();
    let expires = now + Duration::minutes(1);
    assert!(store.spend_assertion_jti(&client, &jti, expires, now).await.expect("spend"));
    assert!(!store.spend_assertion_jti(&client, &jti, expires, now).await.expect("replay"));
    assert!(store.spend_assertion_jti(&other, &jti, expires, now).await.expect("another client's"));
    // Once expired the assertion itself is refused, so its jti may be forgotten.
    let after = expires + Duration::seconds(1);
    assert!(store.spend_assertion_jti(&client, &jti, after + Duration::minutes(1), after).await.expect("after"));
}
