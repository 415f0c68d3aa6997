//! Checks of [`SweepStore`](crate::store::SweepStore).
//!
//! Every record here lives around [`base`], a date long past: a sweep as of then removes
//! nothing another check (running at the real time, maybe on the same database) relies
//! on, and these checks see their own rows only. Counts are at least what each check
//! seeded, for the same reason.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use super::approvals::an_approval;
use super::authorization::{a_code, exchange_for};
use super::clients::a_registration;
use super::{a_client, new_client, new_grant, new_token, strings};
use crate::ids::{ClientId, UserId};
use crate::store::clients::UNUSED_REGISTRATION_TTL;
use crate::store::sweep::{OUTCOME_UNKNOWN_CODE, OUTCOME_UNKNOWN_KIND, STUCK_EXECUTION};
use crate::store::{
    ApprovalStatus, AuthorizationRequest, ClaimOutcome, ClientKind, CodeRedemption, LimitKey, Notification, Rotation,
    Store, VoiceHandoff,
};

/// The time these checks sweep at.
fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2001, 1, 1, 0, 0, 0).single().expect("a valid date")
}

/// Expired requests, codes (spent ones after a week), refresh tokens, used or expired
/// voice tickets, old notifications and finished windows go; live ones stay, and a rotated
/// token stays until its expiry, still counting as reuse.
pub async fn sweep_removes_what_expired_and_keeps_what_lives(store: &dyn Store) {
    let now = base();
    let client = new_client(store, now - Duration::days(90)).await;

    // Authorization requests.
    let request = |expires_at| AuthorizationRequest {
        id: Uuid::new_v4(),
        client_id: client.id.clone(),
        redirect_uri: client.redirect_uris[0].clone(),
        scopes: strings(&["wallet.read"]),
        state: "xyz".to_string(),
        csrf_hash: new_token(),
        user_id: None,
        login_email: Some("someone@example.com".to_owned()),
        login_attempts: 1,
        code_challenge: None,
        expires_at,
        created_at: now - Duration::minutes(30),
    };
    let old_request = request(now - Duration::minutes(1));
    let live_request = request(now + Duration::minutes(15));
    for r in [&old_request, &live_request] {
        store.create_authorization_request(r).await.expect("create request");
    }

    // Codes: unused and expired; spent a minute before now; spent over a week ago; live.
    let code_expiring = |expires_at| {
        let mut code = a_code(&client, now);
        code.expires_at = expires_at;
        code
    };
    let unused_expired = code_expiring(now - Duration::minutes(1));
    let spent_recently = code_expiring(now - Duration::minutes(1));
    let spent_long_ago = code_expiring(now - Duration::days(8));
    let live_code = code_expiring(now + Duration::minutes(10));
    for code in [&unused_expired, &spent_recently, &spent_long_ago, &live_code] {
        store.create_authorization_code(code).await.expect("create code");
    }
    for code in [&spent_recently, &spent_long_ago] {
        let refresh = new_token();
        let at = code.expires_at - Duration::minutes(5);
        let redeemed = store.redeem_authorization_code(&exchange_for(code, &refresh, at)).await.expect("redeem");
        assert!(matches!(redeemed, CodeRedemption::Redeemed(_)), "{redeemed:?}");
    }

    // Refresh tokens of one grant: one expired, one live.
    let grant = new_grant(store, &client, UserId::random(), now - Duration::days(90)).await;
    let (old_token, live_token) = (new_token(), new_token());
    store.create_refresh_token(&old_token, grant.id, now - Duration::seconds(1)).await.expect("old token");
    store.create_refresh_token(&live_token, grant.id, now + Duration::days(30)).await.expect("live token");

    // Voice handoffs: used, expired, live.
    let user_id = UserId::random();
    let handoff = |expires_at| VoiceHandoff {
        id: Uuid::new_v4(),
        user_id,
        grant_id: grant.id,
        context: json!({}),
        expires_at,
        created_at: now - Duration::minutes(10),
        consumed_at: None,
    };
    let (used, expired, live_handoff) =
        (handoff(now + Duration::minutes(5)), handoff(now - Duration::minutes(1)), handoff(now + Duration::minutes(5)));
    for h in [&used, &expired, &live_handoff] {
        store.create_voice_handoff(h).await.expect("create handoff");
    }
    assert!(store.consume_voice_handoff(used.id, user_id, now).await.expect("consume").is_some());

    // Notifications: unread for 31 days, read 8 days ago, read an hour ago, new.
    let notification = |created_at, read_at| Notification {
        id: Uuid::new_v4(),
        user_id,
        kind: "swap_approval_requested".to_owned(),
        title: "Approve a swap".to_owned(),
        body: json!({}),
        created_at,
        read_at,
    };
    let old_unread = notification(now - Duration::days(31), None);
    let read_long_ago = notification(now - Duration::days(10), Some(now - Duration::days(8)));
    let read_recently = notification(now - Duration::days(1), Some(now - Duration::hours(1)));
    let fresh = notification(now, None);
    for n in [&old_unread, &read_long_ago, &read_recently, &fresh] {
        store.insert_notification(n).await.expect("insert notification");
    }

    // Rate-limit windows: two days old, an hour old.
    let key = LimitKey::of("sweep-check", &Uuid::new_v4().to_string());
    let (old_window, live_window) = (now - Duration::days(2), now - Duration::hours(1));
    for window in [old_window, live_window] {
        store.count_hit("sweep-check", &key, window).await.expect("hit");
    }

    let report = store.sweep(now).await.expect("sweep");
    assert!(report.authorization_requests >= 1, "{report:?}");
    assert!(report.authorization_codes >= 2, "{report:?}");
    assert!(report.refresh_tokens >= 1, "{report:?}");
    assert!(report.voice_handoffs >= 2, "{report:?}");
    assert!(report.notifications >= 2, "{report:?}");
    assert!(report.rate_limit_windows >= 1, "{report:?}");

    // What went is gone even to a reader whose clock says it is still valid.
    let earlier = now - Duration::days(30);
    assert_eq!(store.get_authorization_request(old_request.id, earlier).await.expect("get"), None);
    assert!(store.get_authorization_request(live_request.id, now).await.expect("get").is_some());
    for gone in [&unused_expired, &spent_long_ago] {
        let redeemed =
            store.redeem_authorization_code(&exchange_for(gone, &new_token(), earlier)).await.expect("redeem");
        assert_eq!(redeemed, CodeRedemption::NotFound);
    }
    // A spent code is kept a week past expiry: replaying it still names its grant.
    let replay =
        store.redeem_authorization_code(&exchange_for(&spent_recently, &new_token(), now)).await.expect("replay");
    assert!(matches!(replay, CodeRedemption::AlreadyUsed { grant_id: Some(_) }), "{replay:?}");
    let live = store.redeem_authorization_code(&exchange_for(&live_code, &new_token(), now)).await.expect("redeem");
    assert!(matches!(live, CodeRedemption::Redeemed(_)), "{live:?}");

    let grace = Duration::seconds(60);
    let rotation = |presented, at| async move {
        store.rotate_refresh_token(presented, &new_token(), now + Duration::days(30), at, grace).await.expect("rotate")
    };
    assert_eq!(rotation(&old_token, earlier).await, Rotation::NotFound);
    assert!(matches!(rotation(&live_token, now).await, Rotation::Rotated { .. }));
    // The rotated token is not expired: a sweep keeps it, and presenting it is reuse.
    store.sweep(now + Duration::minutes(2)).await.expect("sweep");
    assert_eq!(rotation(&live_token, now + Duration::minutes(2)).await, Rotation::Reused { grant_id: grant.id });

    assert!(store.consume_voice_handoff(expired.id, user_id, earlier).await.expect("consume").is_none());
    assert!(store.consume_voice_handoff(live_handoff.id, user_id, now).await.expect("consume").is_some());

    let listed = store.list_notifications(user_id, 10).await.expect("list");
    assert_eq!(listed, vec![fresh, read_recently]);

    assert_eq!(store.hits("sweep-check", &key, old_window).await.expect("hits"), 0);
    assert_eq!(store.hits("sweep-check", &key, live_window).await.expect("hits"), 1);
}

/// An approval `executing` for longer than [`STUCK_EXECUTION`] becomes `unknown` with one
/// notification to its user; it can no longer finish, and later sweeps leave it alone.
pub async fn a_stuck_execution_becomes_unknown_once_and_is_notified(store: &dyn Store) {
    let now = base();
    let user_id = UserId::random();
    let approval = an_approval(user_id, "stuck", now);
    store.create_or_get_approval(&approval, now).await.expect("create");
    assert!(matches!(store.claim_approval(approval.id, user_id, now).await.expect("claim"), ClaimOutcome::Won(_)));

    // Not yet stuck: an execution may take a while.
    store.sweep(now + STUCK_EXECUTION - Duration::seconds(1)).await.expect("sweep");
    let current = store.get_approval(approval.id, user_id).await.expect("get").expect("approval");
    assert_eq!(current.status, ApprovalStatus::Executing);
    assert!(store.list_notifications(user_id, 10).await.expect("list").is_empty());

    let later = now + STUCK_EXECUTION;
    let report = store.sweep(later).await.expect("sweep");
    assert!(report.stuck_approvals >= 1, "{report:?}");
    let resolved = store.get_approval(approval.id, user_id).await.expect("get").expect("approval");
    assert_eq!(resolved.status, ApprovalStatus::Unknown);
    assert_eq!(resolved.error_code.as_deref(), Some(OUTCOME_UNKNOWN_CODE));
    assert_eq!(resolved.finished_at, Some(later));
    assert_eq!(resolved.result, None);

    let notified = store.list_notifications(user_id, 10).await.expect("list");
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!(notified[0].kind, OUTCOME_UNKNOWN_KIND);
    assert_eq!(notified[0].body, json!({ "approval_id": approval.id }));
    assert_eq!(notified[0].read_at, None);

    // A late executor cannot record an outcome over it, nor can anyone approve it again.
    let outcome = crate::store::ApprovalOutcome::Executed { result: json!({}), receipt_id: None };
    assert!(!store.finish_approval(approval.id, &outcome, later).await.expect("finish"));
    assert!(matches!(
        store.claim_approval(approval.id, user_id, later).await.expect("claim"),
        ClaimOutcome::AlreadyDecided(_) | ClaimOutcome::Expired
    ));
    store.sweep(later + Duration::hours(1)).await.expect("sweep again");
    assert_eq!(store.list_notifications(user_id, 10).await.expect("list").len(), 1);
    let still = store.get_approval(approval.id, user_id).await.expect("get").expect("approval");
    assert_eq!(still, resolved);
}

/// Sweeps running at once resolve each stuck approval once, with one notification each.
pub async fn concurrent_sweeps_resolve_each_stuck_execution_once(store: Arc<dyn Store>) {
    let now = base();
    let user_id = UserId::random();
    let mut ids = Vec::new();
    for i in 0..6 {
        let approval = an_approval(user_id, &format!("stuck-{i}"), now);
        store.create_or_get_approval(&approval, now).await.expect("create");
        store.claim_approval(approval.id, user_id, now).await.expect("claim");
        ids.push(approval.id);
    }
    let later = now + STUCK_EXECUTION + Duration::minutes(1);
    let sweeps: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.sweep(later).await.expect("sweep") })
        })
        .collect();
    let mut resolved = 0;
    for sweep in sweeps {
        resolved += sweep.await.expect("task").stuck_approvals;
    }
    assert!(resolved >= 6, "{resolved}");
    for id in ids {
        let approval = store.get_approval(id, user_id).await.expect("get").expect("approval");
        assert_eq!(approval.status, ApprovalStatus::Unknown);
    }
    let notified = store.list_notifications(user_id, 100).await.expect("list");
    assert_eq!(notified.len(), 6, "one notification per approval: {notified:?}");
}

/// A self-registered client never used within [`UNUSED_REGISTRATION_TTL`] goes with its
/// registration, unless a grant, code or request names it; a used one, a younger one, a
/// document client and an operator client stay. Expired assertion `jti`s go; a live one
/// stays spent.
pub async fn unused_registrations_and_spent_assertions_go_after_their_expiry(store: &dyn Store) {
    let now = base();
    let expired = now - UNUSED_REGISTRATION_TTL - Duration::minutes(1);
    let register = |kind: ClientKind, at| async move {
        let mut client = a_client(at);
        client.public = true;
        let registration = a_registration(&client.id, kind, at);
        match kind {
            ClientKind::Dynamic => store.register_client(&client, &registration).await.expect("register"),
            ClientKind::Document => {
                assert!(store.save_document_client(&client, &registration).await.expect("save document"));
            }
        }
        client
    };
    let dead = register(ClientKind::Dynamic, expired).await;
    let young = register(ClientKind::Dynamic, now - UNUSED_REGISTRATION_TTL + Duration::minutes(1)).await;
    let used = register(ClientKind::Dynamic, expired).await;
    store.mark_client_used(&used.id, expired + Duration::minutes(5)).await.expect("use");
    let granted = register(ClientKind::Dynamic, expired).await;
    let grant = new_grant(store, &granted, UserId::random(), expired + Duration::minutes(5)).await;
    store.revoke_grant(grant.id, expired + Duration::minutes(6)).await.expect("revoke");
    let with_code = register(ClientKind::Dynamic, expired).await;
    let mut code = super::authorization::a_code(&with_code, now);
    code.expires_at = now + Duration::minutes(5);
    store.create_authorization_code(&code).await.expect("create code");
    let document = register(ClientKind::Document, expired).await;
    let operator = new_client(store, expired).await;

    let client = ClientId::from(format!("https://client.example/{}.json", Uuid::new_v4().simple()));
    let (spent, live) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let earlier = now - Duration::minutes(10);
    assert!(store.spend_assertion_jti(&client, &spent, now - Duration::minutes(1), earlier).await.expect("spend"));
    assert!(store.spend_assertion_jti(&client, &live, now + Duration::minutes(1), earlier).await.expect("spend"));

    let report = store.sweep(now).await.expect("sweep");
    assert!(report.client_registrations >= 1, "{report:?}");
    assert!(report.client_assertions >= 1, "{report:?}");
    assert_eq!(store.get_client(&dead.id).await.expect("get"), None);
    assert_eq!(store.get_registration(&dead.id).await.expect("get"), None);
    for kept in [&young, &used, &granted, &with_code, &document, &operator] {
        assert_eq!(store.get_client(&kept.id).await.expect("get").as_ref(), Some(kept), "{}", kept.id);
    }
    for kept in [&young, &used, &granted, &with_code, &document] {
        assert!(store.get_registration(&kept.id).await.expect("get").is_some(), "{}", kept.id);
    }
    assert!(!store.spend_assertion_jti(&client, &live, now + Duration::minutes(1), now).await.expect("replay"));

    // Once its code is gone, nothing keeps the unused one with a code.
    store.sweep(now + Duration::minutes(5)).await.expect("sweep");
    assert_eq!(store.get_client(&with_code.id).await.expect("get"), None);
    assert!(store.get_client(&granted.id).await.expect("get").is_some(), "a grant keeps its client");
}
