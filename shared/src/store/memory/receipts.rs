//! [`ReceiptStore`] in memory.

use std::cmp::Reverse;

use async_trait::async_trait;
use uuid::Uuid;

use super::MemoryStore;
use crate::ids::UserId;
use crate::store::{Receipt, ReceiptCursor, ReceiptStatus, ReceiptStore, StoreError, StoreResult};

#[async_trait]
impl ReceiptStore for MemoryStore {
    async fn insert_receipts(&self, receipts: &[Receipt]) -> StoreResult<()> {
        let mut state = self.state()?;
        // All or nothing, like the single INSERT of the Postgres store.
        let mut ids = std::collections::HashSet::new();
        if receipts.iter().any(|r| state.receipts.contains_key(&r.id) || !ids.insert(r.id)) {
            return Err(StoreError::Conflict("receipt"));
        }
        for receipt in receipts {
            state.receipts.insert(receipt.id, receipt.clone());
            state.note_receipt(receipt.user_id, receipt.id);
        }
        Ok(())
    }

    async fn get_receipt(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<Receipt>> {
        Ok(self.state()?.receipts.get(&id).filter(|r| r.user_id == user_id).cloned())
    }

    async fn list_receipts(
        &self,
        user_id: UserId,
        before: Option<ReceiptCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Receipt>> {
        let state = self.state()?;
        let mut receipts: Vec<Receipt> = state
            .receipts
            .values()
            .filter(|r| r.user_id == user_id)
            .filter(|r| before.is_none_or(|c| (r.created_at, r.id) < (c.created_at, c.id)))
            .cloned()
            .collect();
        receipts.sort_by_key(|x| Reverse((x.created_at, x.id)));
        receipts.truncate(limit as usize);
        Ok(receipts)
    }

    async fn update_receipt_status(
        &self,
        id: Uuid,
        status: ReceiptStatus,
        error_code: Option<&str>,
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        Ok(match state.receipts.get_mut(&id) {
            Some(receipt) => {
                receipt.status = status;
                receipt.error_code = error_code.map(str::to_string);
                true
            }
            None => false,
        })
    }
}
