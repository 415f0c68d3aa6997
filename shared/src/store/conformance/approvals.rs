//! Checks of [`ApprovalStore`](crate::store::ApprovalStore).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use super::now;
use crate::ids::{ApprovalId, ClientId, GrantId, UserId};
use crate::store::{ApprovalOutcome, ApprovalStatus, ClaimOutcome, RequestedApproval, Store, SwapApproval};

pub(super) fn an_approval(user_id: UserId, key: &str, now: DateTime<Utc>) -> SwapApproval {
    SwapApproval {
        id: ApprovalId::random(),
        user_id,
        client_id: ClientId::from("chatgpt-test"),
        grant_id: GrantId::random(),
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

fn created(outcome: &RequestedApproval) -> bool {
    matches!(outcome, RequestedApproval::Created(_))
}

/// The same (user, key, swap) returns the first approval until it expires; then a new one.
pub async fn approvals_are_idempotent_per_key_until_they_expire(store: &dyn Store) {
    let now = now();
    let user_id = UserId::random();
    let first = an_approval(user_id, "key-1", now);
    assert_eq!(
        store.create_or_get_approval(&first, now).await.expect("create"),
        RequestedApproval::Created(first.clone())
    );
    let retry = an_approval(user_id, "key-1", now);
    assert_eq!(
        store.create_or_get_approval(&retry, now).await.expect("retry"),
        RequestedApproval::Repeated(first.clone())
    );
    // The key is per user, and another key is another approval.
    let other_user = an_approval(UserId::random(), "key-1", now);
    assert!(created(&store.create_or_get_approval(&other_user, now).await.expect("other user")));
    let other_key = an_approval(user_id, "key-2", now);
    assert!(created(&store.create_or_get_approval(&other_key, now).await.expect("other key")));

    let pending = store.list_pending_approvals(user_id, now).await.expect("pending");
    let ids: Vec<ApprovalId> = pending.iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first.id) && ids.contains(&other_key.id));
    assert_eq!(store.get_approval(first.id, user_id).await.expect("get"), Some(first.clone()));
    assert_eq!(store.get_approval(first.id, UserId::random()).await.expect("get"), None);

    // After expiry, the key asks again and the old approval reads as expired.
    let later = first.expires_at + Duration::seconds(1);
    let fresh = an_approval(user_id, "key-1", later);
    assert_eq!(
        store.create_or_get_approval(&fresh, later).await.expect("after expiry"),
        RequestedApproval::Created(fresh.clone())
    );
    let old = store.get_approval(first.id, user_id).await.expect("get").expect("old");
    assert_eq!(old.status_at(later), ApprovalStatus::Expired);
    assert!(!store.list_pending_approvals(user_id, later).await.expect("pending").iter().any(|a| a.id == first.id));
    assert_eq!(
        store.create_or_get_approval(&an_approval(user_id, "key-1", later), later).await.expect("retry"),
        RequestedApproval::Repeated(fresh)
    );
}

/// The same key for a different swap, while its approval waits, is refused and stores
/// nothing; the waiting approval is untouched.
pub async fn a_key_reused_for_another_swap_is_refused_and_stores_nothing(store: &dyn Store) {
    let now = now();
    let user_id = UserId::random();
    let first = an_approval(user_id, "key-reused", now);
    store.create_or_get_approval(&first, now).await.expect("create");
    let mut other_swap = an_approval(user_id, "key-reused", now);
    other_swap.request = json!({"input_mint": "SOL", "output_mint": "USDC", "amount": "1500"});
    assert_eq!(
        store.create_or_get_approval(&other_swap, now).await.expect("reused"),
        RequestedApproval::KeyReused(first.clone())
    );
    assert_eq!(store.get_approval(other_swap.id, user_id).await.expect("get"), None, "nothing stored");
    assert_eq!(store.get_approval(first.id, user_id).await.expect("get"), Some(first.clone()));
    let pending = store.list_pending_approvals(user_id, now).await.expect("pending");
    assert_eq!(pending, vec![first.clone()]);
    // And the original swap under the key is still a retry.
    assert_eq!(
        store.create_or_get_approval(&an_approval(user_id, "key-reused", now), now).await.expect("retry"),
        RequestedApproval::Repeated(first)
    );
}

/// A key is free once its approval is decided: rejected, approved (executing), executed
/// or failed. The same swap asked again is a new approval, not the old decision; the old
/// approval is untouched.
pub async fn a_decided_approval_frees_its_key(store: &dyn Store) {
    let now = now();
    let user_id = UserId::random();
    let finished = ApprovalOutcome::Executed { result: json!({"signature": "5abc"}), receipt_id: None };
    for decide in ["reject", "claim", "execute", "fail"] {
        let key = format!("decided-{decide}");
        let first = an_approval(user_id, &key, now);
        store.create_or_get_approval(&first, now).await.expect("create");
        let decision = if decide == "reject" {
            store.reject_approval(first.id, user_id, now).await.expect("reject")
        } else {
            store.claim_approval(first.id, user_id, now).await.expect("claim")
        };
        assert!(matches!(decision, ClaimOutcome::Won(_)), "{decide}: {decision:?}");
        match decide {
            "execute" => assert!(store.finish_approval(first.id, &finished, now).await.expect("finish")),
            "fail" => {
                let failed = ApprovalOutcome::Failed { error_code: "slippage".into(), result: None, receipt_id: None };
                assert!(store.finish_approval(first.id, &failed, now).await.expect("finish"));
            }
            _ => {}
        }
        let decided = store.get_approval(first.id, user_id).await.expect("get").expect("decided");
        assert_ne!(decided.status, ApprovalStatus::PendingApproval, "{decide}");

        let again = an_approval(user_id, &key, now);
        assert_eq!(
            store.create_or_get_approval(&again, now).await.expect("again"),
            RequestedApproval::Created(again.clone()),
            "after {decide}, the key asks anew"
        );
        assert_eq!(store.get_approval(first.id, user_id).await.expect("get"), Some(decided), "{decide}");
        // The new approval holds the key now: a retry finds it.
        assert_eq!(
            store.create_or_get_approval(&an_approval(user_id, &key, now), now).await.expect("retry"),
            RequestedApproval::Repeated(again)
        );
    }
}

/// Sixteen concurrent requests under one key, half for one swap and half for another:
/// exactly one approval is stored; every other caller gets it back as a retry (same
/// swap) or a reused key (the other swap).
pub async fn concurrent_requests_under_one_key_store_one_approval(store: Arc<dyn Store>) {
    let now = now();
    let user_id = UserId::random();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let mut approval = an_approval(user_id, "racing-key", now);
            if i % 2 == 1 {
                approval.request = json!({"input_mint": "USDC", "output_mint": "SOL", "amount": "7"});
            }
            tokio::spawn(async move { (approval.clone(), store.create_or_get_approval(&approval, now).await) })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        let (asked, outcome) = task.await.expect("task");
        outcomes.push((asked, outcome.expect("request")));
    }
    let winners: Vec<&SwapApproval> = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            RequestedApproval::Created(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "exactly one approval is created: {outcomes:?}");
    let winner = winners[0].clone();
    for (asked, outcome) in &outcomes {
        match outcome {
            RequestedApproval::Created(_) => {}
            RequestedApproval::Repeated(a) => {
                assert_eq!(a, &winner);
                assert_eq!(asked.request, winner.request, "a retry asked for the same swap");
            }
            RequestedApproval::KeyReused(a) => {
                assert_eq!(a, &winner);
                assert_ne!(asked.request, winner.request, "a reused key asked for another swap");
            }
        }
    }
    assert_eq!(store.list_pending_approvals(user_id, now).await.expect("pending"), vec![winner]);
}

/// Eight concurrent approvals of one swap: exactly one wins, the rest see it decided.
pub async fn approval_claims_win_exactly_once(store: Arc<dyn Store>) {
    let now = now();
    let user_id = UserId::random();
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
    let user_id = UserId::random();

    let rejected = an_approval(user_id, "reject", now);
    store.create_or_get_approval(&rejected, now).await.expect("create");
    assert_eq!(
        store.claim_approval(rejected.id, UserId::random(), now).await.expect("not mine"),
        ClaimOutcome::NotFound
    );
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
    assert_eq!(
        store.claim_approval(ApprovalId::random(), user_id, now).await.expect("unknown"),
        ClaimOutcome::NotFound
    );
}
