//! [`AuthorizationStore`] on Postgres: `connector_authorization_requests` and
//! `connector_authorization_codes`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{PgStore, conflict_on_duplicate};
use crate::ids::UserId;
use crate::store::{
    AuthorizationCode, AuthorizationRequest, AuthorizationStore, CodeExchange, CodeRedemption, StoreError, StoreResult,
};

const REQUEST_COLUMNS: &str = "id, client_id, redirect_uri, scopes, state, csrf_hash, user_id, \
    login_email, login_attempts, expires_at, created_at, code_challenge";

fn request_from_row(row: &Row) -> StoreResult<AuthorizationRequest> {
    Ok(AuthorizationRequest {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scopes: row.try_get("scopes")?,
        state: row.try_get("state")?,
        csrf_hash: row.try_get("csrf_hash")?,
        user_id: row.try_get("user_id")?,
        login_email: row.try_get("login_email")?,
        login_attempts: row.try_get("login_attempts")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        code_challenge: row.try_get("code_challenge")?,
    })
}

const CODE_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, scopes, expires_at, grant_id, code_challenge";

fn code_from_row(row: &Row) -> StoreResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        code_hash: row.try_get("code_hash")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scopes: row.try_get("scopes")?,
        expires_at: row.try_get("expires_at")?,
        grant_id: row.try_get("grant_id")?,
        code_challenge: row.try_get("code_challenge")?,
    })
}

/// [`AuthorizationStore::redeem_authorization_code`] inside its transaction. The code's
/// row lock orders concurrent redeemers: the first spends it; the others wait, then read
/// it spent, with the grant id the first one wrote.
async fn redeem_in(tx: &tokio_postgres::Transaction<'_>, exchange: &CodeExchange<'_>) -> StoreResult<CodeRedemption> {
    let sql =
        format!("select {CODE_COLUMNS}, used_at from connector_authorization_codes where code_hash = $1 for update");
    let Some(row) = tx.query_typed_opt(&sql, &[(exchange.code_hash, Type::TEXT)]).await? else {
        return Ok(CodeRedemption::NotFound);
    };
    let code = code_from_row(&row)?;
    let used_at: Option<DateTime<Utc>> = row.try_get("used_at")?;
    // A replay is reported as such even after expiry, so the caller still revokes.
    if used_at.is_some() {
        return Ok(CodeRedemption::AlreadyUsed { grant_id: code.grant_id });
    }
    if code.expires_at <= exchange.now {
        return Ok(CodeRedemption::Expired);
    }
    if let Err(mismatch) = code.admits(exchange) {
        return Ok(CodeRedemption::Mismatch(mismatch));
    }
    let grant = code.grant(exchange);
    // FOR SHARE on the client row: a concurrent delete_client waits for this insert and
    // then revokes it, or wins first and this inserts nothing.
    let inserted = tx
        .execute_typed(
            "insert into connector_grants (id, user_id, client_id, scopes, created_at, last_used_at) \
             select $1, $2, c.id, $4, $5, $5 \
             from connector_oauth_clients c where c.id = $3 and c.deleted_at is null \
             for share",
            &[
                (&grant.id, Type::UUID),
                (&grant.user_id, Type::UUID),
                (&grant.client_id, Type::TEXT),
                (&grant.scopes, Type::TEXT_ARRAY),
                (&exchange.now, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .map_err(conflict_on_duplicate("grant"))?;
    if inserted == 0 {
        return Err(StoreError::NotFound("client"));
    }
    tx.execute_typed(
        "update connector_authorization_codes set used_at = $2, grant_id = $3 where code_hash = $1",
        &[(exchange.code_hash, Type::TEXT), (&exchange.now, Type::TIMESTAMPTZ), (&grant.id, Type::UUID)],
    )
    .await?;
    tx.execute_typed(
        "insert into connector_refresh_tokens (token_hash, grant_id, expires_at) values ($1, $2, $3)",
        &[
            (exchange.refresh_token_hash, Type::TEXT),
            (&grant.id, Type::UUID),
            (&exchange.refresh_token_expires_at, Type::TIMESTAMPTZ),
        ],
    )
    .await
    .map_err(conflict_on_duplicate("refresh token"))?;
    Ok(CodeRedemption::Redeemed(grant))
}

#[async_trait]
impl AuthorizationStore for PgStore {
    async fn create_authorization_request(&self, request: &AuthorizationRequest) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_authorization_requests ({REQUEST_COLUMNS}) \
             select $1, c.id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
             from connector_oauth_clients c where c.id = $2 and c.deleted_at is null \
             for share"
        );
        let inserted = self
            .execute_or(
                &sql,
                &[
                    (&request.id, Type::UUID),
                    (&request.client_id, Type::TEXT),
                    (&request.redirect_uri, Type::TEXT),
                    (&request.scopes, Type::TEXT_ARRAY),
                    (&request.state, Type::TEXT),
                    (&request.csrf_hash, Type::TEXT),
                    (&request.user_id, Type::UUID),
                    (&request.login_email, Type::TEXT),
                    (&request.login_attempts, Type::INT4),
                    (&request.expires_at, Type::TIMESTAMPTZ),
                    (&request.created_at, Type::TIMESTAMPTZ),
                    (&request.code_challenge, Type::TEXT),
                ],
                conflict_on_duplicate("authorization request"),
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::NotFound("client"));
        }
        Ok(())
    }

    async fn get_authorization_request(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<AuthorizationRequest>> {
        let sql = format!(
            "select {REQUEST_COLUMNS} from connector_authorization_requests \
             where id = $1 and expires_at > $2"
        );
        self.query_opt(&sql, &[(&id, Type::UUID), (&now, Type::TIMESTAMPTZ)], request_from_row).await
    }

    async fn set_authorization_request_user(
        &self,
        id: Uuid,
        user_id: UserId,
        email: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let updated = self
            .execute(
                "update connector_authorization_requests set user_id = $2, login_email = $4 \
                 where id = $1 and expires_at > $3",
                &[(&id, Type::UUID), (&user_id, Type::UUID), (&now, Type::TIMESTAMPTZ), (&email, Type::TEXT)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn record_login_attempt(&self, id: Uuid, email: &str) -> StoreResult<Option<i32>> {
        self.query_opt(
            "update connector_authorization_requests \
             set login_attempts = login_attempts + 1, login_email = $2 \
             where id = $1 returning login_attempts",
            &[(&id, Type::UUID), (&email, Type::TEXT)],
            |row| Ok(row.try_get("login_attempts")?),
        )
        .await
    }

    async fn delete_authorization_request(&self, id: Uuid) -> StoreResult<bool> {
        let deleted =
            self.execute("delete from connector_authorization_requests where id = $1", &[(&id, Type::UUID)]).await?;
        Ok(deleted == 1)
    }

    async fn create_authorization_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_authorization_codes ({CODE_COLUMNS}) \
             select $1, c.id, $3, $4, $5, $6, $7, $8 \
             from connector_oauth_clients c where c.id = $2 and c.deleted_at is null \
             for share"
        );
        let inserted = self
            .execute_or(
                &sql,
                &[
                    (&code.code_hash, Type::TEXT),
                    (&code.client_id, Type::TEXT),
                    (&code.user_id, Type::UUID),
                    (&code.redirect_uri, Type::TEXT),
                    (&code.scopes, Type::TEXT_ARRAY),
                    (&code.expires_at, Type::TIMESTAMPTZ),
                    (&code.grant_id, Type::UUID),
                    (&code.code_challenge, Type::TEXT),
                ],
                conflict_on_duplicate("authorization code"),
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::NotFound("client"));
        }
        Ok(())
    }

    async fn redeem_authorization_code(&self, exchange: &CodeExchange<'_>) -> StoreResult<CodeRedemption> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let outcome = redeem_in(&tx, exchange).await?;
        // Only a redemption changed anything; committing the rest just ends the read.
        tx.commit().await?;
        Ok(outcome)
    }
}
