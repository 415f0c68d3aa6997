//! [`SweepStore`] on Postgres: batched deletes, and one statement that resolves stuck
//! approvals and raises their notifications together.
//!
//! Each batch picks at most [`BATCH`] rows by `ctid` with `for update skip locked`, so two
//! sweeps running at once split the work instead of waiting on each other, and deletes
//! them in one short statement that checks the condition again. A batch that comes back
//! short ends that table's loop.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::{Param, PgStore};
use crate::store::clients::UNUSED_REGISTRATION_TTL;
use crate::store::sweep::{
    BATCH, NOTIFICATION_RETENTION, OUTCOME_UNKNOWN_CODE, OUTCOME_UNKNOWN_KIND, OUTCOME_UNKNOWN_TITLE,
    RATE_LIMIT_RETENTION, READ_NOTIFICATION_RETENTION, SPENT_CODE_RETENTION, STUCK_EXECUTION,
};
use crate::store::{StoreResult, SweepReport, SweepStore};

#[async_trait]
impl SweepStore for PgStore {
    async fn sweep(&self, now: DateTime<Utc>) -> StoreResult<SweepReport> {
        let at_now: &[Param<'_>] = &[(&now, Type::TIMESTAMPTZ)];
        let old = now - NOTIFICATION_RETENTION;
        let read_long_ago = now - READ_NOTIFICATION_RETENTION;
        let windows_before = now - RATE_LIMIT_RETENTION;
        let spent_codes_before = now - SPENT_CODE_RETENTION;
        Ok(SweepReport {
            // Resolved first: its notification is new and must not be swept below.
            stuck_approvals: self.resolve_stuck_approvals(now).await?,
            authorization_requests: self
                .delete_batched("connector_authorization_requests", "expires_at <= $1", at_now)
                .await?,
            authorization_codes: self
                .delete_batched(
                    "connector_authorization_codes",
                    "((used_at is null and expires_at <= $1) or expires_at <= $2)",
                    &[(&now, Type::TIMESTAMPTZ), (&spent_codes_before, Type::TIMESTAMPTZ)],
                )
                .await?,
            refresh_tokens: self.delete_batched("connector_refresh_tokens", "expires_at <= $1", at_now).await?,
            voice_handoffs: self
                .delete_batched("connector_voice_handoffs", "(consumed_at is not null or expires_at <= $1)", at_now)
                .await?,
            notifications: self
                .delete_batched(
                    "connector_notifications",
                    "(created_at < $1 or read_at < $2)",
                    &[(&old, Type::TIMESTAMPTZ), (&read_long_ago, Type::TIMESTAMPTZ)],
                )
                .await?,
            rate_limit_windows: self
                .delete_batched("connector_rate_limits", "window_start < $1", &[(&windows_before, Type::TIMESTAMPTZ)])
                .await?,
            // After requests and codes: an expired one no longer keeps its client.
            client_registrations: self.delete_dead_registrations(now).await?,
            client_assertions: self.delete_batched("connector_client_assertions", "expires_at <= $1", at_now).await?,
        })
    }
}

impl PgStore {
    /// Deletes the rows of `table` matching `condition`, [`BATCH`] at a time; how many.
    async fn delete_batched(&self, table: &str, condition: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        let sql = format!(
            "delete from {table} where ctid = any(array( \
                 select ctid from {table} where {condition} limit {BATCH} for update skip locked \
             )) and {condition}"
        );
        self.repeat_batches(&sql, params).await
    }

    /// Runs `sql`, a statement that removes at most [`BATCH`] rows, until a run removes
    /// fewer; how many it removed in all.
    async fn repeat_batches(&self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let batch = self.execute(sql, params).await?;
            deleted += batch;
            if batch < BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// Self-registered clients never used and past [`UNUSED_REGISTRATION_TTL`] that no
    /// grant, code or authorization request names: registration and client row go in one
    /// statement. The client rows are locked `for update skip locked`, so a grant or code
    /// being inserted for one (its foreign key check holds the row `for key share`) makes
    /// this sweep leave it, and concurrent sweeps split the rows.
    async fn delete_dead_registrations(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let registered_before = now - UNUSED_REGISTRATION_TTL;
        let sql = format!(
            "with dead as ( \
                 select c.id from connector_oauth_clients c \
                 join connector_client_registrations r on r.client_id = c.id \
                 where r.kind = 'dynamic' and r.last_used_at is null and r.registered_at <= $1 \
                   and not exists (select 1 from connector_grants g where g.client_id = c.id) \
                   and not exists (select 1 from connector_authorization_codes k where k.client_id = c.id) \
                   and not exists (select 1 from connector_authorization_requests a where a.client_id = c.id) \
                 limit {BATCH} for update of c, r skip locked \
             ), registrations as ( \
                 delete from connector_client_registrations r using dead where r.client_id = dead.id \
                 returning r.client_id \
             ) \
             delete from connector_oauth_clients c using registrations where c.id = registrations.client_id"
        );
        self.repeat_batches(&sql, &[(&registered_before, Type::TIMESTAMPTZ)]).await
    }

    /// Approvals `executing` for longer than [`STUCK_EXECUTION`] become `unknown`, each
    /// with its notification, in one statement: the update's `status = 'executing'` check
    /// under the row lock lets exactly one sweep resolve an approval, and the
    /// notification commits with it or not at all.
    async fn resolve_stuck_approvals(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let stuck_since = now - STUCK_EXECUTION;
        let sql = format!(
            "with resolved as ( \
                 update connector_swap_approvals set status = 'unknown', error_code = $3, finished_at = $1 \
                 where id = any(array( \
                     select id from connector_swap_approvals \
                     where status = 'executing' and decided_at <= $2 limit {BATCH} for update skip locked \
                 )) and status = 'executing' \
                 returning id, user_id \
             ), notified as ( \
                 insert into connector_notifications (id, user_id, kind, title, body, created_at) \
                 select gen_random_uuid(), user_id, $4, $5, jsonb_build_object('approval_id', id), $1 \
                 from resolved returning 1 \
             ) \
             select count(*) from notified"
        );
        let mut resolved = 0;
        loop {
            let row = self
                .conn()
                .await?
                .query_typed_one(
                    &sql,
                    &[
                        (&now, Type::TIMESTAMPTZ),
                        (&stuck_since, Type::TIMESTAMPTZ),
                        (&OUTCOME_UNKNOWN_CODE, Type::TEXT),
                        (&OUTCOME_UNKNOWN_KIND, Type::TEXT),
                        (&OUTCOME_UNKNOWN_TITLE, Type::TEXT),
                    ],
                )
                .await?;
            let batch = row.try_get::<_, i64>(0)? as u64;
            resolved += batch;
            if batch < BATCH as u64 {
                return Ok(resolved);
            }
        }
    }
}
