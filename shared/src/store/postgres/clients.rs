//! [`ClientStore`] on Postgres: `connector_oauth_clients`, with
//! `connector_client_registrations` and `connector_client_assertions` (migration 0012).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{GenericClient, Row};

use super::{PgStore, conflict_on_duplicate};
use crate::ids::{ClientId, TokenHash};
use crate::store::{ClientKind, ClientRegistration, ClientStore, OAuthClient, StoreError, StoreResult};

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

const REGISTRATION_COLUMNS: &str = "r.client_id, r.kind, r.token_endpoint_auth_method, r.jwks_uri, r.jwks, \
    r.registered_at, r.last_used_at, r.document_expires_at";

fn registration_from_row(row: &Row) -> StoreResult<ClientRegistration> {
    let kind: String = row.try_get("kind")?;
    Ok(ClientRegistration {
        client_id: row.try_get("client_id")?,
        kind: ClientKind::parse(&kind)
            .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("unknown client registration kind {kind:?}")))?,
        token_endpoint_auth_method: row.try_get("token_endpoint_auth_method")?,
        jwks_uri: row.try_get("jwks_uri")?,
        jwks: row.try_get("jwks")?,
        registered_at: row.try_get("registered_at")?,
        last_used_at: row.try_get("last_used_at")?,
        document_expires_at: row.try_get("document_expires_at")?,
    })
}

#[async_trait]
impl ClientStore for PgStore {
    async fn create_client(&self, client: &OAuthClient) -> StoreResult<()> {
        insert_client(&**self.conn().await?, client).await?;
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

    async fn register_client(&self, client: &OAuthClient, registration: &ClientRegistration) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        insert_client(&*tx, client).await?;
        insert_registration(&tx, registration).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn save_document_client(&self, client: &OAuthClient, registration: &ClientRegistration) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // Insert, or update a live document client; a deleted or other kind of client
        // with this id is left alone (the row lock orders concurrent refreshes).
        let sql = format!(
            "insert into connector_oauth_clients ({CLIENT_COLUMNS}) \
             values ($1, $2, $3, null, null, $4, $5, $6, $7) \
             on conflict (id) do update set name = excluded.name, redirect_uris = excluded.redirect_uris, \
               scopes = excluded.scopes, public = excluded.public \
             where connector_oauth_clients.deleted_at is null and exists ( \
               select 1 from connector_client_registrations r \
               where r.client_id = excluded.id and r.kind = 'document')"
        );
        let written = tx
            .execute_typed(
                &sql,
                &[
                    (&client.id, Type::TEXT),
                    (&client.name, Type::TEXT),
                    (&client.secret_hash, Type::TEXT),
                    (&client.redirect_uris, Type::TEXT_ARRAY),
                    (&client.scopes, Type::TEXT_ARRAY),
                    (&client.created_at, Type::TIMESTAMPTZ),
                    (&client.public, Type::BOOL),
                ],
            )
            .await?;
        if written == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.execute_typed(
            "insert into connector_client_registrations (client_id, kind, token_endpoint_auth_method, \
               jwks_uri, jwks, registered_at, last_used_at, document_expires_at) \
             values ($1, 'document', $2, $3, $4, $5, null, $6) \
             on conflict (client_id) do update set \
               token_endpoint_auth_method = excluded.token_endpoint_auth_method, \
               jwks_uri = excluded.jwks_uri, jwks = excluded.jwks, \
               document_expires_at = excluded.document_expires_at",
            &[
                (&registration.client_id, Type::TEXT),
                (&registration.token_endpoint_auth_method, Type::TEXT),
                (&registration.jwks_uri, Type::TEXT),
                (&registration.jwks, Type::TEXT),
                (&registration.registered_at, Type::TIMESTAMPTZ),
                (&registration.document_expires_at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn get_registration(&self, id: &ClientId) -> StoreResult<Option<ClientRegistration>> {
        let sql = format!(
            "select {REGISTRATION_COLUMNS} from connector_client_registrations r \
             join connector_oauth_clients c on c.id = r.client_id \
             where r.client_id = $1 and c.deleted_at is null"
        );
        self.query_opt(&sql, &[(&id, Type::TEXT)], registration_from_row).await
    }

    async fn mark_client_used(&self, id: &ClientId, now: DateTime<Utc>) -> StoreResult<()> {
        self.execute(
            "update connector_client_registrations set last_used_at = $2 \
             where client_id = $1 and last_used_at is null",
            &[(&id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
        Ok(())
    }

    async fn spend_assertion_jti(
        &self,
        client_id: &ClientId,
        jti: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.execute("delete from connector_client_assertions where expires_at <= $1", &[(&now, Type::TIMESTAMPTZ)])
            .await?;
        let inserted = self
            .execute(
                "insert into connector_client_assertions (client_id, jti, expires_at) values ($1, $2, $3) \
                 on conflict (client_id, jti) do nothing",
                &[(&client_id, Type::TEXT), (&jti, Type::TEXT), (&expires_at, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(inserted == 1)
    }
}

/// Stores a new client row, on a pooled connection or inside a transaction;
/// [`StoreError::Conflict`] when the id is taken.
async fn insert_client(db: &impl GenericClient, client: &OAuthClient) -> StoreResult<()> {
    let sql = format!(
        "insert into connector_oauth_clients ({CLIENT_COLUMNS}) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    );
    db.execute_typed(
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
    )
    .await
    .map_err(conflict_on_duplicate("client"))?;
    Ok(())
}

async fn insert_registration(
    tx: &deadpool_postgres::Transaction<'_>,
    registration: &ClientRegistration,
) -> StoreResult<()> {
    tx.execute_typed(
        "insert into connector_client_registrations (client_id, kind, token_endpoint_auth_method, \
           jwks_uri, jwks, registered_at, last_used_at, document_expires_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            (&registration.client_id, Type::TEXT),
            (&registration.kind.as_str(), Type::TEXT),
            (&registration.token_endpoint_auth_method, Type::TEXT),
            (&registration.jwks_uri, Type::TEXT),
            (&registration.jwks, Type::TEXT),
            (&registration.registered_at, Type::TIMESTAMPTZ),
            (&registration.last_used_at, Type::TIMESTAMPTZ),
            (&registration.document_expires_at, Type::TIMESTAMPTZ),
        ],
    )
    .await?;
    Ok(())
}
