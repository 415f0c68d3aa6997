//! [`ApprovalStore`] on Postgres: `connector_swap_approvals`.

use anyhow::anyhow;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::{Param, PgStore, conflict_on_duplicate};
use crate::ids::{ApprovalId, UserId};
use crate::store::approvals::outcome_columns;
use crate::store::{
    ApprovalOutcome, ApprovalStatus, ApprovalStore, ClaimOutcome, RequestedApproval, StoreError, StoreResult,
    SwapApproval,
};

/// How many times `create_or_get_approval` retries when racing another creator.
const APPROVAL_ATTEMPTS: usize = 3;

const APPROVAL_COLUMNS: &str = "id, user_id, client_id, grant_id, idempotency_key, request, \
    status, result, error_code, receipt_id, created_at, expires_at, decided_at, finished_at";

fn approval_from_row(row: &Row) -> StoreResult<SwapApproval> {
    let status: String = row.try_get("status")?;
    Ok(SwapApproval {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        grant_id: row.try_get("grant_id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        request: row.try_get("request")?,
        status: ApprovalStatus::parse(&status).ok_or_else(|| anyhow!("unknown swap approval status {status:?}"))?,
        result: row.try_get("result")?,
        error_code: row.try_get("error_code")?,
        receipt_id: row.try_get("receipt_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        decided_at: row.try_get("decided_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

#[async_trait]
impl ApprovalStore for PgStore {
    async fn create_or_get_approval(
        &self,
        approval: &SwapApproval,
        now: DateTime<Utc>,
    ) -> StoreResult<RequestedApproval> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let insert = format!(
            "insert into connector_swap_approvals ({APPROVAL_COLUMNS}, holds_key) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, true) \
             on conflict (user_id, idempotency_key) where holds_key do nothing \
             returning {APPROVAL_COLUMNS}"
        );
        // The holder, locked: a concurrent decision waits for this transaction, and
        // Postgres compares the requests as jsonb (1.0 = 1), as they were stored.
        let holder = format!(
            "select {APPROVAL_COLUMNS}, request = $3 as same_request from connector_swap_approvals \
             where user_id = $1 and idempotency_key = $2 and holds_key for update"
        );
        // Each pass: insert, or find the holder of the key. A pending, unexpired holder
        // answers (the same swap: a retry; another: a reused key); a decided or expired
        // one gives up the key and the next pass inserts. Losing a race to a concurrent
        // creator just means the next pass finds its approval.
        for _ in 0..APPROVAL_ATTEMPTS {
            let inserted = tx
                .query_typed_opt(
                    &insert,
                    &[
                        (&approval.id, Type::UUID),
                        (&approval.user_id, Type::UUID),
                        (&approval.client_id, Type::TEXT),
                        (&approval.grant_id, Type::UUID),
                        (&approval.idempotency_key, Type::TEXT),
                        (&approval.request, Type::JSONB),
                        (&approval.status.as_str(), Type::TEXT),
                        (&approval.result, Type::JSONB),
                        (&approval.error_code, Type::TEXT),
                        (&approval.receipt_id, Type::UUID),
                        (&approval.created_at, Type::TIMESTAMPTZ),
                        (&approval.expires_at, Type::TIMESTAMPTZ),
                        (&approval.decided_at, Type::TIMESTAMPTZ),
                        (&approval.finished_at, Type::TIMESTAMPTZ),
                    ],
                )
                .await
                .map_err(conflict_on_duplicate("swap approval"))?;
            if let Some(row) = inserted {
                let created = approval_from_row(&row)?;
                tx.commit().await?;
                return Ok(RequestedApproval::Created(created));
            }
            let existing = tx
                .query_typed_opt(
                    &holder,
                    &[
                        (&approval.user_id, Type::UUID),
                        (&approval.idempotency_key, Type::TEXT),
                        (&approval.request, Type::JSONB),
                    ],
                )
                .await?;
            let Some(row) = existing else { continue };
            let same_request: bool = row.try_get("same_request")?;
            let existing = approval_from_row(&row)?;
            if existing.holds_key_at(now) {
                tx.commit().await?;
                return Ok(if same_request {
                    RequestedApproval::Repeated(existing)
                } else {
                    RequestedApproval::KeyReused(existing)
                });
            }
            tx.execute_typed(
                "update connector_swap_approvals set holds_key = false, \
                 decided_at = case when status = 'pending_approval' then $2 else decided_at end, \
                 status = case when status = 'pending_approval' then 'expired' else status end \
                 where id = $1",
                &[(&existing.id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        }
        Err(StoreError::Unexpected(anyhow!(
            "could not settle swap approval for idempotency key after {APPROVAL_ATTEMPTS} attempts"
        )))
    }

    async fn get_approval(&self, id: ApprovalId, user_id: UserId) -> StoreResult<Option<SwapApproval>> {
        let sql = format!(
            "select {APPROVAL_COLUMNS} from connector_swap_approvals \
             where id = $1 and user_id = $2"
        );
        self.query_opt(&sql, &[(&id, Type::UUID), (&user_id, Type::UUID)], approval_from_row).await
    }

    async fn list_pending_approvals(&self, user_id: UserId, now: DateTime<Utc>) -> StoreResult<Vec<SwapApproval>> {
        let sql = format!(
            "select {APPROVAL_COLUMNS} from connector_swap_approvals \
             where user_id = $1 and status = 'pending_approval' and expires_at > $2 \
             order by created_at desc, id desc"
        );
        self.query_all(&sql, &[(&user_id, Type::UUID), (&now, Type::TIMESTAMPTZ)], approval_from_row).await
    }

    async fn claim_approval(&self, id: ApprovalId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<ClaimOutcome> {
        self.decide_approval(id, user_id, now, ApprovalStatus::Executing).await
    }

    async fn reject_approval(&self, id: ApprovalId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<ClaimOutcome> {
        self.decide_approval(id, user_id, now, ApprovalStatus::Rejected).await
    }

    async fn finish_approval(
        &self,
        id: ApprovalId,
        outcome: &ApprovalOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (status, result, error_code, receipt_id) = outcome_columns(outcome);
        let updated = self
            .execute(
                "update connector_swap_approvals \
                 set status = $2, result = $3, error_code = $4, receipt_id = $5, finished_at = $6 \
                 where id = $1 and status = 'executing'",
                &[
                    (&id, Type::UUID),
                    (&status.as_str(), Type::TEXT),
                    (&result, Type::JSONB),
                    (&error_code, Type::TEXT),
                    (&receipt_id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        Ok(updated == 1)
    }
}

impl PgStore {
    /// Moves a pending approval to `to`, exactly once however many callers race: the
    /// row lock makes every other UPDATE re-check `status = 'pending_approval'` and miss.
    async fn decide_approval(
        &self,
        id: ApprovalId,
        user_id: UserId,
        now: DateTime<Utc>,
        to: ApprovalStatus,
    ) -> StoreResult<ClaimOutcome> {
        let client = self.conn().await?;
        let params: &[Param<'_>] =
            &[(&id, Type::UUID), (&user_id, Type::UUID), (&now, Type::TIMESTAMPTZ), (&to.as_str(), Type::TEXT)];
        let decide = format!(
            "update connector_swap_approvals set status = $4, decided_at = $3 \
             where id = $1 and user_id = $2 and status = 'pending_approval' and expires_at > $3 \
             returning {APPROVAL_COLUMNS}"
        );
        if let Some(row) = client.query_typed_opt(&decide, params).await? {
            return Ok(ClaimOutcome::Won(approval_from_row(&row)?));
        }
        // Lost: it is decided, expired (record that), or not this user's.
        let expire = "update connector_swap_approvals set status = 'expired', decided_at = $3 \
             where id = $1 and user_id = $2 and status = 'pending_approval' \
             and expires_at <= $3 returning id";
        if client.query_typed_opt(expire, &params[..3]).await?.is_some() {
            return Ok(ClaimOutcome::Expired);
        }
        let current = format!(
            "select {APPROVAL_COLUMNS} from connector_swap_approvals \
             where id = $1 and user_id = $2"
        );
        match client.query_typed_opt(&current, &params[..2]).await? {
            Some(row) => Ok(ClaimOutcome::AlreadyDecided(approval_from_row(&row)?)),
            None => Ok(ClaimOutcome::NotFound),
        }
    }
}
