//! The one conformance suite every [`Store`] backend must pass: the executable
//! specification of the store traits' semantics, one module of checks per record family.
//!
//! Each check is a public `async fn` that panics on a violation. Checks create their own
//! random ids and never touch shared rows (the `free`/`pro` tiers are only read), so the
//! whole suite can run repeatedly, in any order, against one database.
//!
//! [`store_conformance!`](crate::store_conformance) holds the list of checks. A backend's
//! tests come from it, one `#[tokio::test]` per check (`store_conformance!(tests: make)`),
//! so adding a check to the list adds a test for every backend; [`run`] (each check
//! taking `Arc<dyn Store>`) and [`run_all`] are generated from it too.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use uuid::Uuid;

use super::{Grant, OAuthClient, Store};
use crate::ids::{ClientId, GrantId, TokenHash, UserId};

pub mod approvals;
pub mod authorization;
pub mod clients;
pub mod grants;
pub mod health;
pub mod limits;
pub mod notifications;
pub mod profiles;
pub mod receipts;
pub mod sweep;

pub use receipts::a_receipt;

/// The conformance checks, by family: the single list that every backend's tests, the
/// [`run`](crate::store::conformance::run) wrappers and
/// [`run_all`](crate::store::conformance::run_all) are generated from. A check marked
/// `(&)` takes `&dyn Store`; one marked `(Arc)` takes `Arc<dyn Store>` (it races tasks).
///
/// `store_conformance!(tests: make)` expands, where it is invoked, to one module per
/// family (`health`, `profiles`, `clients`, `authorization`, `grants`, `receipts`,
/// `approvals`, `notifications`, `limits`, `sweep`) holding one multi-threaded `#[tokio::test]` per
/// check, named after it. Each test calls `make().await`, an `async fn` of the invoking
/// module returning `(Arc<dyn Store>, guard)`, and runs its check on that store while the
/// guard (e.g. the test's database) lives.
#[macro_export]
macro_rules! store_conformance {
    (tests: $make:ident) => {
        $crate::store_conformance!(@list [@tests $make]);
    };

    // The list.
    (@list [$($then:tt)*]) => {
        $crate::store_conformance! {
            $($then)*
            health {
                ping_succeeds(&),
            }
            profiles {
                profiles_round_trip(&),
                tier_tools_have_seeded_defaults_and_can_be_replaced(&),
                action_context_reflects_grant_profile_and_tier(&),
            }
            clients {
                clients_are_created_listed_and_rotated(&),
                deleting_a_client_revokes_its_grants(&),
                registered_clients_keep_their_registration(&),
                document_clients_are_refreshed_not_duplicated(&),
                assertion_jtis_are_spent_once_until_they_expire(&),
            }
            authorization {
                authorization_requests_expire_and_count_logins(&),
                authorization_codes_are_single_use(&),
                a_code_is_spent_only_by_its_client_redirect_and_verifier(&),
                concurrent_redemptions_of_a_code_succeed_once(Arc),
                expired_authorization_codes_are_refused(&),
            }
            grants {
                grants_are_listed_and_revoked(&),
                refresh_tokens_rotate(&),
                a_retried_refresh_within_grace_gets_a_new_token(&),
                concurrent_refreshes_with_one_token_leave_every_answer_usable(Arc),
                a_reused_refresh_token_revokes_the_grant(&),
                a_replay_after_the_successor_was_used_revokes_the_grant(&),
                expired_and_revoked_refresh_tokens_are_refused(&),
                revoking_by_refresh_token_is_limited_to_its_client(&),
            }
            receipts {
                receipts_paginate_newest_first(&),
                receipts_are_private_and_updatable(&),
            }
            approvals {
                approvals_are_idempotent_per_key_until_they_expire(&),
                a_key_reused_for_another_swap_is_refused_and_stores_nothing(&),
                a_decided_approval_frees_its_key(&),
                concurrent_requests_under_one_key_store_one_approval(Arc),
                approval_claims_win_exactly_once(Arc),
                approvals_can_be_rejected_expire_and_finish_once(&),
            }
            notifications {
                notifications_list_newest_first(&),
                voice_handoffs_are_single_use(&),
            }
            limits {
                rate_limit_windows_count_per_bucket_key_and_window(&),
                rate_limit_keys_do_not_hold_the_value(&),
                rate_limit_refunds_take_back_one_hit(&),
                concurrent_rate_limit_hits_each_see_their_own_count(Arc),
            }
            sweep {
                sweep_removes_what_expired_and_keeps_what_lives(&),
                a_stuck_execution_becomes_unknown_once_and_is_notified(&),
                concurrent_sweeps_resolve_each_stuck_execution_once(Arc),
                unused_registrations_and_spent_assertions_go_after_their_expiry(&),
            }
        }
    };

    // One test per check, in one module per family.
    (@tests $make:ident $($family:ident { $($check:ident($kind:tt)),* $(,)? })*) => {
        $(
            mod $family {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $check() {
                        let (store, _guard) = super::$make().await;
                        $crate::store::conformance::run::$check(store).await;
                    }
                )*
            }
        )*
    };

    // The uniform wrappers and `run_all` (expanded once, in `store::conformance`).
    (@run $($family:ident { $($check:ident($kind:tt)),* $(,)? })*) => {
        /// Every check taking the store as `Arc<dyn Store>`, named as in its family module:
        /// what generated tests call.
        pub mod run {
            use std::sync::Arc;

            use $crate::store::Store;

            $($(
                #[doc = concat!(
                    "Runs [`", stringify!($family), "::", stringify!($check), "`](super::",
                    stringify!($family), "::", stringify!($check), ")."
                )]
                pub async fn $check(store: Arc<dyn Store>) {
                    $crate::store_conformance!(@call $family $check $kind store);
                }
            )*)*
        }

        /// Runs every check against `store`, in list order.
        pub async fn run_all(store: Arc<dyn Store>) {
            $($(
                run::$check(store.clone()).await;
            )*)*
        }
    };
    (@call $family:ident $check:ident & $store:ident) => {
        $crate::store::conformance::$family::$check($store.as_ref()).await
    };
    (@call $family:ident $check:ident Arc $store:ident) => {
        $crate::store::conformance::$family::$check($store).await
    };
}

crate::store_conformance!(@list [@run]);

// Helpers the family modules share.

/// Now, at the microsecond precision the stores keep.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn a_client(now: DateTime<Utc>) -> OAuthClient {
    OAuthClient {
        id: ClientId::from(format!("chatgpt-{}", Uuid::new_v4().simple())),
        name: "ChatGPT".to_string(),
        secret_hash: crate::TokenHash::of(&Uuid::new_v4().to_string()),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        redirect_uris: strings(&["https://chatgpt.com/aip/g-test/oauth/callback"]),
        scopes: strings(&["wallet.read", "trade"]),
        created_at: now,
        public: false,
    }
}

async fn new_client(store: &dyn Store, now: DateTime<Utc>) -> OAuthClient {
    let client = a_client(now);
    store.create_client(&client).await.expect("create client");
    client
}

async fn new_grant(store: &dyn Store, client: &OAuthClient, user_id: UserId, at: DateTime<Utc>) -> Grant {
    let grant = Grant {
        id: GrantId::random(),
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
async fn grant_with_refresh_token(store: &dyn Store, now: DateTime<Utc>) -> (Grant, TokenHash) {
    let client = new_client(store, now).await;
    let grant = new_grant(store, &client, UserId::random(), now).await;
    let token = crate::TokenHash::of(&Uuid::new_v4().to_string());
    store.create_refresh_token(&token, grant.id, now + Duration::days(30)).await.expect("create refresh token");
    (grant, token)
}

fn new_token() -> TokenHash {
    crate::TokenHash::of(&Uuid::new_v4().to_string())
}
