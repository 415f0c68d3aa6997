//! Checks of [`AuthorizationStore`](crate::store::AuthorizationStore): requests and codes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{new_client, new_token, now, strings};
use crate::ids::{ClientId, CodeChallenge, GrantId, TokenHash, UserId};
use crate::store::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, CodeMismatch, CodeRedemption, OAuthClient, Rotation, Store,
    StoreError,
};

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
        code_challenge: Some(CodeChallenge::s256(VERIFIER)),
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

/// A PKCE verifier (RFC 7636 Appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

pub(super) fn a_code(client: &OAuthClient, now: DateTime<Utc>) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: new_token(),
        client_id: client.id.clone(),
        user_id: UserId::random(),
        redirect_uri: client.redirect_uris[0].clone(),
        scopes: strings(&["wallet.read"]),
        expires_at: now + Duration::minutes(10),
        grant_id: None,
        code_challenge: None,
    }
}

/// The exchange the code's own client makes (no PKCE), creating a new grant and token.
pub(super) fn exchange_for<'a>(
    code: &'a AuthorizationCode,
    refresh_token_hash: &'a TokenHash,
    now: DateTime<Utc>,
) -> CodeExchange<'a> {
    CodeExchange {
        code_hash: &code.code_hash,
        client_id: &code.client_id,
        redirect_uri: &code.redirect_uri,
        code_verifier: None,
        grant_id: GrantId::random(),
        refresh_token_hash,
        refresh_token_expires_at: now + Duration::days(30),
        now,
    }
}

/// A code redeems once, creating its grant and first refresh token together; a replay
/// reports that grant, even after expiry.
pub async fn authorization_codes_are_single_use(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let code = a_code(&client, now);
    store.create_authorization_code(&code).await.expect("create");
    assert!(matches!(store.create_authorization_code(&code).await, Err(StoreError::Conflict(_))));

    let refresh = new_token();
    let exchange = exchange_for(&code, &refresh, now);
    let CodeRedemption::Redeemed(grant) = store.redeem_authorization_code(&exchange).await.expect("redeem") else {
        panic!("the first redemption redeems");
    };
    assert_eq!(grant.id, exchange.grant_id);
    assert_eq!((grant.user_id, &grant.client_id, &grant.scopes), (code.user_id, &code.client_id, &code.scopes));
    assert_eq!(store.get_grant(grant.id).await.expect("get"), Some(grant.clone()));
    let rotated = store
        .rotate_refresh_token(&refresh, &new_token(), now + Duration::days(30), now, Duration::seconds(30))
        .await
        .expect("rotate");
    assert_eq!(rotated, Rotation::Rotated { grant: grant.clone() }, "the first refresh token came with the grant");

    let again = exchange_for(&code, &refresh, now);
    assert_eq!(
        store.redeem_authorization_code(&again).await.expect("replay"),
        CodeRedemption::AlreadyUsed { grant_id: Some(grant.id) }
    );
    assert_eq!(store.get_grant(again.grant_id).await.expect("get"), None, "a replay creates nothing");
    // Even after expiry, a replay is a replay: the caller must revoke the grant.
    let much_later = now + Duration::hours(2);
    let unused = new_token();
    assert_eq!(
        store.redeem_authorization_code(&exchange_for(&code, &unused, much_later)).await.expect("replay"),
        CodeRedemption::AlreadyUsed { grant_id: Some(grant.id) }
    );
    let unknown = AuthorizationCode { code_hash: new_token(), ..code.clone() };
    assert_eq!(
        store.redeem_authorization_code(&exchange_for(&unknown, &unused, now)).await.expect("unknown"),
        CodeRedemption::NotFound
    );
}

/// Another client, another redirect URI, or a wrong, missing or unexpected PKCE verifier
/// does not spend a code, and creates nothing; the rightful exchange still works after.
pub async fn a_code_is_spent_only_by_its_client_redirect_and_verifier(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let other = new_client(store, now).await;
    let with_pkce = AuthorizationCode { code_challenge: Some(CodeChallenge::s256(VERIFIER)), ..a_code(&client, now) };
    let without_pkce = a_code(&client, now);
    store.create_authorization_code(&with_pkce).await.expect("create");
    store.create_authorization_code(&without_pkce).await.expect("create");

    let refresh = new_token();
    let right = CodeExchange { code_verifier: Some(VERIFIER), ..exchange_for(&with_pkce, &refresh, now) };
    let other_redirect = format!("{}/other", with_pkce.redirect_uri);
    let attacker_verifier = "A".repeat(43);
    let challenge = CodeChallenge::s256(VERIFIER);
    let refused = [
        (CodeExchange { client_id: &other.id, ..right.clone() }, CodeMismatch::Client),
        (CodeExchange { redirect_uri: &other_redirect, ..right.clone() }, CodeMismatch::RedirectUri),
        (CodeExchange { code_verifier: None, ..right.clone() }, CodeMismatch::Verifier),
        (CodeExchange { code_verifier: Some(&attacker_verifier), ..right.clone() }, CodeMismatch::Verifier),
        // The challenge itself is not a verifier (what `plain` would accept).
        (CodeExchange { code_verifier: Some(challenge.as_str()), ..right.clone() }, CodeMismatch::Verifier),
        (
            CodeExchange { code_verifier: Some(VERIFIER), ..exchange_for(&without_pkce, &refresh, now) },
            CodeMismatch::UnexpectedVerifier,
        ),
    ];
    for (exchange, mismatch) in &refused {
        assert_eq!(
            store.redeem_authorization_code(exchange).await.expect("refused"),
            CodeRedemption::Mismatch(*mismatch)
        );
        assert_eq!(store.get_grant(exchange.grant_id).await.expect("get"), None, "{mismatch:?} created a grant");
    }
    let rotated = store
        .rotate_refresh_token(&refresh, &new_token(), now + Duration::days(30), now, Duration::seconds(30))
        .await
        .expect("rotate");
    assert_eq!(rotated, Rotation::NotFound, "a refused exchange stored no refresh token");

    assert!(matches!(store.redeem_authorization_code(&right).await.expect("redeem"), CodeRedemption::Redeemed(_)));
    let another_refresh = new_token();
    let plain = exchange_for(&without_pkce, &another_refresh, now);
    assert!(matches!(store.redeem_authorization_code(&plain).await.expect("redeem"), CodeRedemption::Redeemed(_)));
}

/// Eight concurrent redemptions of one code: exactly one gets it, and every other one
/// sees the grant it created (so the caller can revoke it as a replay).
pub async fn concurrent_redemptions_of_a_code_succeed_once(store: Arc<dyn Store>) {
    let now = now();
    let client = new_client(store.as_ref(), now).await;
    let code = a_code(&client, now);
    store.create_authorization_code(&code).await.expect("create");
    let redemptions: Vec<_> = (0..8)
        .map(|_| {
            let (store, code) = (store.clone(), code.clone());
            tokio::spawn(async move {
                let refresh = new_token();
                store.redeem_authorization_code(&exchange_for(&code, &refresh, now)).await
            })
        })
        .collect();
    let mut redeemed = Vec::new();
    let mut replays = Vec::new();
    for redemption in redemptions {
        match redemption.await.expect("task").expect("redeem") {
            CodeRedemption::Redeemed(grant) => redeemed.push(grant.id),
            CodeRedemption::AlreadyUsed { grant_id } => replays.push(grant_id),
            other => panic!("unexpected redemption {other:?}"),
        }
    }
    assert_eq!(redeemed.len(), 1, "exactly one redemption must succeed");
    assert_eq!(replays, vec![Some(redeemed[0]); 7], "every replay sees the grant");
}

/// An unused code past its expiry is refused and stays unusable.
pub async fn expired_authorization_codes_are_refused(store: &dyn Store) {
    let now = now();
    let client = new_client(store, now).await;
    let code = a_code(&client, now);
    store.create_authorization_code(&code).await.expect("create");
    let refresh = new_token();
    for at in [code.expires_at, code.expires_at + Duration::seconds(1)] {
        let exchange = exchange_for(&code, &refresh, at);
        assert_eq!(store.redeem_authorization_code(&exchange).await.expect("redeem"), CodeRedemption::Expired);
        assert_eq!(store.get_grant(exchange.grant_id).await.expect("get"), None);
    }
}
