//! [`ReceiptStore`] on Postgres: `connector_receipts`, inserted through the batch
//! function of migration 0004.

use anyhow::anyhow;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{PgStore, conflict_on_duplicate, rows};
use crate::ids::{ApprovalId, UserId};
use crate::store::{Receipt, ReceiptCursor, ReceiptStatus, ReceiptStore, StoreResult};

const RECEIPT_COLUMNS: &str = "id, user_id, client_id, action, mcp_tool, args_digest, status, \
    error_code, upstream_latency_ms, request_id, approval_id, created_at";

fn receipt_from_row(row: &Row) -> StoreResult<Receipt> {
    let status: String = row.try_get("status")?;
    Ok(Receipt {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        action: row.try_get("action")?,
        mcp_tool: row.try_get("mcp_tool")?,
        args_digest: row.try_get("args_digest")?,
        status: ReceiptStatus::parse(&status).ok_or_else(|| anyhow!("unknown receipt status {status:?}"))?,
        error_code: row.try_get("error_code")?,
        upstream_latency_ms: row.try_get("upstream_latency_ms")?,
        request_id: row.try_get("request_id")?,
        approval_id: row.try_get("approval_id")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl ReceiptStore for PgStore {
    async fn insert_receipts(&self, receipts: &[Receipt]) -> StoreResult<()> {
        if receipts.is_empty() {
            return Ok(());
        }
        // One call with column arrays, unnested back into rows by the function (migration
        // 0009, whose plan the server keeps): one round trip, all or nothing, committed
        // synchronously (the function turns a database-wide synchronous_commit=off back
        // on for its own transaction).
        let ids: Vec<Uuid> = receipts.iter().map(|r| r.id).collect();
        let user_ids: Vec<UserId> = receipts.iter().map(|r| r.user_id).collect();
        let client_ids: Vec<&str> = receipts.iter().map(|r| r.client_id.as_str()).collect();
        let actions: Vec<&str> = receipts.iter().map(|r| r.action.as_str()).collect();
        let tools: Vec<Option<&str>> = receipts.iter().map(|r| r.mcp_tool.as_deref()).collect();
        let digests: Vec<&str> = receipts.iter().map(|r| r.args_digest.as_str()).collect();
        let statuses: Vec<&str> = receipts.iter().map(|r| r.status.as_str()).collect();
        let error_codes: Vec<Option<&str>> = receipts.iter().map(|r| r.error_code.as_deref()).collect();
        let latencies: Vec<Option<i64>> = receipts.iter().map(|r| r.upstream_latency_ms).collect();
        let request_ids: Vec<&str> = receipts.iter().map(|r| r.request_id.as_str()).collect();
        let approval_ids: Vec<Option<ApprovalId>> = receipts.iter().map(|r| r.approval_id).collect();
        let created: Vec<DateTime<Utc>> = receipts.iter().map(|r| r.created_at).collect();
        self.execute_or(
            "select connector_insert_receipts($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                (&ids, Type::UUID_ARRAY),
                (&user_ids, Type::UUID_ARRAY),
                (&client_ids, Type::TEXT_ARRAY),
                (&actions, Type::TEXT_ARRAY),
                (&tools, Type::TEXT_ARRAY),
                (&digests, Type::TEXT_ARRAY),
                (&statuses, Type::TEXT_ARRAY),
                (&error_codes, Type::TEXT_ARRAY),
                (&latencies, Type::INT8_ARRAY),
                (&request_ids, Type::TEXT_ARRAY),
                (&approval_ids, Type::UUID_ARRAY),
                (&created, Type::TIMESTAMPTZ_ARRAY),
            ],
            conflict_on_duplicate("receipt"),
        )
        .await?;
        Ok(())
    }

    async fn get_receipt(&self, id: Uuid, user_id: UserId) -> StoreResult<Option<Receipt>> {
        let sql = format!("select {RECEIPT_COLUMNS} from connector_receipts where id = $1 and user_id = $2");
        self.query_opt(&sql, &[(&id, Type::UUID), (&user_id, Type::UUID)], receipt_from_row).await
    }

    async fn list_receipts(
        &self,
        user_id: UserId,
        before: Option<ReceiptCursor>,
        limit: u32,
    ) -> StoreResult<Vec<Receipt>> {
        let limit = i64::from(limit);
        let client = self.conn().await?;
        // Two statements rather than `$2 is null or …`, so both walk the feed index.
        let found = match before {
            None => {
                let sql = format!(
                    "select {RECEIPT_COLUMNS} from connector_receipts where user_id = $1 \
                     order by created_at desc, id desc limit $2"
                );
                client.query_typed(&sql, &[(&user_id, Type::UUID), (&limit, Type::INT8)]).await?
            }
            Some(cursor) => {
                let sql = format!(
                    "select {RECEIPT_COLUMNS} from connector_receipts \
                     where user_id = $1 and (created_at, id) < ($2, $3) \
                     order by created_at desc, id desc limit $4"
                );
                client
                    .query_typed(
                        &sql,
                        &[
                            (&user_id, Type::UUID),
                            (&cursor.created_at, Type::TIMESTAMPTZ),
                            (&cursor.id, Type::UUID),
                            (&limit, Type::INT8),
                        ],
                    )
                    .await?
            }
        };
        rows(found, receipt_from_row)
    }

    async fn update_receipt_status(
        &self,
        id: Uuid,
        status: ReceiptStatus,
        error_code: Option<&str>,
    ) -> StoreResult<bool> {
        let updated = self
            .execute(
                "update connector_receipts set status = $2, error_code = $3 where id = $1",
                &[(&id, Type::UUID), (&status.as_str(), Type::TEXT), (&error_code, Type::TEXT)],
            )
            .await?;
        Ok(updated == 1)
    }
}
