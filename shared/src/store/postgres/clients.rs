//! [`ClientStore`] on Postgres: `connector_oauth_clients`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::{PgStore, conflict_on_duplicate};
use crate::ids::{ClientId, TokenHash};
use crate::store::{ClientStore, OAuthClient, StoreResult};

const CLIENT_COLUMNS: &str = "id, name, secret_hash, previous_secret_hash, \
    previous_secret_expires_at, redirect_uris, scopes, created_at, public";

fn client_from_row(row: &Row) -> StoreResult<OAuthClient> {
    Ok(OAuthClient {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        previous_secret_hash: row.try_get("previous_secret_hash")?,
        previous_secret_expires_at: row.try_get("previous_secret_expires_at")?,
        redirect_uris: row.try_get("redirect_uris")?,
        scopes: row.try_get("scopes")?,
        created_at: row.try_get("created_at")?,
        public: row.try_get("public")?,
    })
}

#[async_trait]
impl ClientStore for PgStore {
    async fn create_client(&self, client: &OAuthClient) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_oauth_clients ({CLIENT_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        self.execute_or(
            &sql,
            &[
                (&client.id, Type::TEXT),
                (&client.name, Type::TEXT),
                (&client.secret_hash, Type::TEXT),
                (&client.previous_secret_hash, Type::TEXT),
                (&client.previous_secret_expires_at, Type::TIMESTAMPTZ),
                (&client.redirect_uris, Type::TEXT_ARRAY),
                (&client.scopes, Type::TEXT_ARRAY),
                (&client.created_at, Type::TIMESTAMPTZ),
                (&client.public, Type::BOOL),
            ],
            conflict_on_duplicate("client"),
        )
        .await?;
        Ok(())
    }

    async fn get_client(&self, id: &ClientId) -> StoreResult<Option<OAuthClient>> {
        let sql = format!(
            "select {CLIENT_COLUMNS} from connector_oauth_clients \
             where id = $1 and deleted_at is null"
        );
        self.query_opt(&sql, &[(&id, Type::TEXT)], client_from_row).await
    }

    async fn list_clients(&self) -> StoreResult<Vec<OAuthClient>> {
        let sql = format!(
            "select {CLIENT_COLUMNS} from connector_oauth_clients \
             where deleted_at is null order by created_at, id"
        );
        self.query_all(&sql, &[], client_from_row).await
    }

    async fn rotate_client_secret(
        &self,
        id: &ClientId,
        new_secret_hash: &TokenHash,
        keep_previous_until: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        // On the right of SET, secret_hash is still the old value.
        let updated = self
            .execute(
                "update connector_oauth_clients set \
                 previous_secret_hash = case when $3 is null then null else secret_hash end, \
                 previous_secret_expires_at = $3, secret_hash = $2 \
                 where id = $1 and deleted_at is null",
                &[(&id, Type::TEXT), (&new_secret_hash, Type::TEXT), (&keep_previous_until, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn delete_client(&self, id: &ClientId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        // Separate statements, not one CTE: each sees grants committed while it waited
        // for the client row (a grant being created holds that row FOR SHARE).
        let deleted = tx
            .execute_typed(
                "update connector_oauth_clients set deleted_at = $2 \
                 where id = $1 and deleted_at is null",
                &[(&id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.execute_typed(
            "update connector_grants set revoked_at = $2 \
             where client_id = $1 and revoked_at is null",
            &[(&id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
        // In-flight flows of a deleted client cannot finish.
        tx.execute_typed("delete from connector_authorization_requests where client_id = $1", &[(&id, Type::TEXT)])
            .await?;
        tx.execute_typed("delete from connector_authorization_codes where client_id = $1", &[(&id, Type::TEXT)])
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
