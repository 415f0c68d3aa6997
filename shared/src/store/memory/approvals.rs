//! [`ApprovalStore`] in memory.

use std::cmp::Reverse;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{MemoryStore, State, StoredApproval};
use crate::ids::{ApprovalId, UserId};
use crate::store::approvals::outcome_columns;
use crate::store::{
    ApprovalOutcome, ApprovalStatus, ApprovalStore, ClaimOutcome, RequestedApproval, StoreError, StoreResult,
    SwapApproval,
};

impl State {
    /// Moves an approval out of pending, once; the rest of the race sees the winner.
    fn decide_approval(
        &mut self,
        id: ApprovalId,
        user_id: UserId,
        now: DateTime<Utc>,
        to: ApprovalStatus,
    ) -> ClaimOutcome {
        let Some(stored) = self.approvals.get_mut(&id) else {
            return ClaimOutcome::NotFound;
        };
        let approval = &mut stored.approval;
        if approval.user_id != user_id {
            return ClaimOutcome::NotFound;
        }
        if approval.status != ApprovalStatus::PendingApproval {
            return ClaimOutcome::AlreadyDecided(approval.clone());
        }
        approval.decided_at = Some(now);
        if approval.expires_at <= now {
            approval.status = ApprovalStatus::Expired;
            return ClaimOutcome::Expired;
        }
        approval.status = to;
        ClaimOutcome::Won(approval.clone())
    }
}

#[async_trait]
impl ApprovalStore for MemoryStore {
    async fn create_or_get_approval(
        &self,
        approval: &SwapApproval,
        now: DateTime<Utc>,
    ) -> StoreResult<RequestedApproval> {
        // One lock over the lookup, the comparison and the insert: atomic.
        let mut state = self.state()?;
        let holder = state.approvals.values_mut().find(|s| {
            s.holds_key
                && s.approval.user_id == approval.user_id
                && s.approval.idempotency_key == approval.idempotency_key
        });
        if let Some(existing) = holder {
            if existing.approval.holds_key_at(now) {
                let standing = existing.approval.clone();
                return Ok(if standing.request == approval.request {
                    RequestedApproval::Repeated(standing)
                } else {
                    RequestedApproval::KeyReused(standing)
                });
            }
            // The old approval was decided or lapsed: it gives up the key and, if
            // undecided, expires.
            existing.holds_key = false;
            if existing.approval.status == ApprovalStatus::PendingApproval {
                existing.approval.status = ApprovalStatus::Expired;
                existing.approval.decided_at = Some(now);
            }
        }
        if state.approvals.contains_key(&approval.id) {
            return Err(StoreError::Conflict("swap approval"));
        }
        state.approvals.insert(approval.id, StoredApproval { approval: approval.clone(), holds_key: true });
        Ok(RequestedApproval::Created(approval.clone()))
    }

    async fn get_approval(&self, id: ApprovalId, user_id: UserId) -> StoreResult<Option<SwapApproval>> {
        Ok(self.state()?.approvals.get(&id).map(|s| &s.approval).filter(|a| a.user_id == user_id).cloned())
    }

    async fn list_pending_approvals(&self, user_id: UserId, now: DateTime<Utc>) -> StoreResult<Vec<SwapApproval>> {
        let state = self.state()?;
        let mut pending: Vec<SwapApproval> = state
            .approvals
            .values()
            .map(|s| &s.approval)
            .filter(|a| a.user_id == user_id && a.status_at(now) == ApprovalStatus::PendingApproval)
            .cloned()
            .collect();
        pending.sort_by_key(|x| Reverse((x.created_at, x.id)));
        Ok(pending)
    }

    async fn claim_approval(&self, id: ApprovalId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<ClaimOutcome> {
        Ok(self.state()?.decide_approval(id, user_id, now, ApprovalStatus::Executing))
    }

    async fn reject_approval(&self, id: ApprovalId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<ClaimOutcome> {
        Ok(self.state()?.decide_approval(id, user_id, now, ApprovalStatus::Rejected))
    }

    async fn finish_approval(
        &self,
        id: ApprovalId,
        outcome: &ApprovalOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.state()?;
        let Some(stored) = state.approvals.get_mut(&id) else {
            return Ok(false);
        };
        let approval = &mut stored.approval;
        if approval.status != ApprovalStatus::Executing {
            return Ok(false);
        }
        let (status, result, error_code, receipt_id) = outcome_columns(outcome);
        approval.status = status;
        approval.result = result;
        approval.error_code = error_code;
        approval.receipt_id = receipt_id;
        approval.finished_at = Some(now);
        Ok(true)
    }
}
