//! Checks of [`AuthorizationStore`](crate::store::AuthorizationStore): requests and codes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{new_client, new_grant, new_token, now, strings};
use crate::ids::{ClientId, UserId};
use crate::store::{AuthorizationCode, AuthorizationRequest, CodeRedemption, OAuthClient, Store, StoreError};

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

    let stored = store.get_authorization_request(request.id, now).await.expect("get").expect("request");
    assert_eq!(stored.login_email.as_deref(), Some("b@example.com"));

    // Signing in replaces the address with the signed-in account's.
    let user_id = UserId::random();
    assert!(store.set_authorization_request_user(request.id, user_id, Some("a@example.com"), now).await.expect("set"));
    let stored = store.get_authorization_request(request.id, now).await.expect("get").expect("request");
    assert_eq!(stored.user_id, Some(user_id));
    assert_eq!(stored.login_attempts, 2);
    assert_eq!(stored.login_email.as_deref(), Some("a@example.com"));
    assert!(store.set_authorization_request_user(request.id, user_id, None, now).await.expect("set user"));
    let stored = store.get_authorization_request(request.id, now).await.expect("get").expect("request");
    assert_eq!(stored.login_email, None, "an address the provider did not confirm is not kept");

    let expired = request.expires_at;
    assert_eq!(store.get_authorization_request(request.id, expired).await.expect("get"), None);
    assert!(!store.set_authorization_request_user(request.id, user_id, None, expired).await.expect("set"));

    assert!(store.delete_authorization_request(request.id).await.expect("delete"));
    assert!(!store.delete_authorization_request(request.id).await.expect("delete again"));
    assert_eq!(store.get_authorization_request(request.id, now).await.expect("get"), None);

    let orphan = AuthorizationRequest { id: Uuid::new_v4(), client_id: ClientId::from("chatgpt-missing"), ..request };
    assert!(matches!(store.create_authorization_request(&orphan).await, Err(StoreError::NotFound(_))));
}

fn a_code(client: &OAuthClient, now: DateTime<Utc>) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: new_token(),
        client_id: client.id.clone(),
        user_id: UserId::random(),
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
