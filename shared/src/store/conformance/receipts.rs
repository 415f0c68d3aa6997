//! Checks of [`ReceiptStore`](crate::store::ReceiptStore).

use std::cmp::Reverse;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::{new_token, now};
use crate::ids::{ApprovalId, ClientId, UserId};
use crate::store::{ApprovalStatus, Receipt, ReceiptStatus, Store, StoreError};

/// A receipt of a read action, for `user_id`.
pub fn a_receipt(user_id: UserId, created_at: DateTime<Utc>) -> Receipt {
    Receipt {
        id: Uuid::new_v4(),
        user_id,
        client_id: ClientId::from("chatgpt-test"),
        action: "swap_preview".to_string(),
        mcp_tool: Some("solana_swap_preview".to_string()),
        args_digest: new_token().as_str().to_owned(),
        status: ReceiptStatus::Ok,
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
    let user_id = UserId::random();
    let mut receipts: Vec<Receipt> = (0..5).map(|i| a_receipt(user_id, now + Duration::seconds(i))).collect();
    // Three receipts in the same microsecond.
    let tie = now + Duration::seconds(2);
    receipts.extend((0..2).map(|_| a_receipt(user_id, tie)));
    receipts[0].mcp_tool = None;
    receipts[0].status = ReceiptStatus::Error;
    receipts[0].error_code = Some("upstream_timeout".to_string());
    receipts[0].upstream_latency_ms = None;
    receipts[0].approval_id = Some(ApprovalId::random());

    let (first, rest) = receipts.split_at(1);
    store.insert_receipt(&first[0]).await.expect("insert one");
    store.insert_receipts(rest).await.expect("insert many");
    store.insert_receipts(&[]).await.expect("insert none");
    store.insert_receipt(&a_receipt(UserId::random(), now)).await.expect("someone else's");
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
    let receipt = Receipt {
        status: ReceiptStatus::Approval(ApprovalStatus::PendingApproval),
        ..a_receipt(UserId::random(), now)
    };
    store.insert_receipt(&receipt).await.expect("insert");
    assert_eq!(store.get_receipt(receipt.id, receipt.user_id).await.expect("get"), Some(receipt.clone()));
    assert_eq!(store.get_receipt(receipt.id, UserId::random()).await.expect("get"), None);
    assert!(store.update_receipt_status(receipt.id, ReceiptStatus::Error, Some("swap_failed")).await.expect("update"));
    let updated = store.get_receipt(receipt.id, receipt.user_id).await.expect("get").expect("receipt");
    assert_eq!(updated.status, ReceiptStatus::Error);
    assert_eq!(updated.error_code.as_deref(), Some("swap_failed"));
    assert!(!store.update_receipt_status(Uuid::new_v4(), ReceiptStatus::Ok, None).await.expect("unknown"));
}
