//! [`GrantStore`] on Postgres: `connector_grants` and `connector_refresh_tokens`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

use super::{PgStore, conflict_on_duplicate};
use crate::ids::{ClientId, GrantId, TokenHash, UserId};
use crate::store::{Grant, GrantStore, GrantSummary, Rotation, StoreError, StoreResult};

/// Grant columns qualified with the alias `g`, so they also work in joins.
const GRANT_COLUMNS: &str = "g.id, g.user_id, g.client_id, g.scopes, g.created_at, g.last_used_at, g.revoked_at";

fn grant_from_row(row: &Row) -> StoreResult<Grant> {
    Ok(Grant {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        scopes: row.try_get("scopes")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

/// Revokes a grant inside a rotation's transaction (reuse detected).
async fn revoke_in(tx: &tokio_postgres::Transaction<'_>, grant_id: GrantId, now: DateTime<Utc>) -> StoreResult<()> {
    tx.execute_typed(
        "update connector_grants set revoked_at = $2 where id = $1 and revoked_at is null",
        &[(&grant_id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
    )
    .await?;
    Ok(())
}

/// One step of [`GrantStore::rotate_refresh_token`], run inside its transaction.
async fn rotate_in(
    tx: &tokio_postgres::Transaction<'_>,
    presented_hash: &TokenHash,
    new_hash: &TokenHash,
    new_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> StoreResult<Rotation> {
    // Lock the grant first: every rotation, replay and revocation of this grant's tokens
    // waits here, so they happen one after another.
    let sql = format!(
        "select {GRANT_COLUMNS} from connector_grants g \
         where g.id = (select grant_id from connector_refresh_tokens where token_hash = $1) \
         for update"
    );
    let Some(row) = tx.query_typed_opt(&sql, &[(&presented_hash, Type::TEXT)]).await? else {
        return Ok(Rotation::NotFound);
    };
    let grant = grant_from_row(&row)?;
    if !grant.is_live() {
        return Ok(Rotation::Revoked);
    }
    // Read the token after taking the lock, so we see what the previous holder wrote.
    let Some(token) = tx
        .query_typed_opt(
            "select expires_at, rotated_at, replaced_by, superseded_at from connector_refresh_tokens \
             where token_hash = $1",
            &[(&presented_hash, Type::TEXT)],
        )
        .await?
    else {
        return Ok(Rotation::NotFound);
    };
    let expires_at: DateTime<Utc> = token.try_get("expires_at")?;
    let rotated_at: Option<DateTime<Utc>> = token.try_get("rotated_at")?;
    let successor: Option<TokenHash> = token.try_get("replaced_by")?;
    let superseded_at: Option<DateTime<Utc>> = token.try_get("superseded_at")?;
    if expires_at <= now {
        return Ok(Rotation::Expired);
    }
    if superseded_at.is_some() {
        revoke_in(tx, grant.id, now).await?;
        return Ok(Rotation::Reused { grant_id: grant.id });
    }
    let outcome = match rotated_at {
        None => {
            // The client proved which token it kept: every other current one is
            // superseded, and remembered as such.
            tx.execute_typed(
                "update connector_refresh_tokens set superseded_at = $3 \
                 where grant_id = $1 and rotated_at is null and superseded_at is null and token_hash <> $2",
                &[(&grant.id, Type::UUID), (&presented_hash, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
            Rotation::Rotated { grant: grant.clone() }
        }
        Some(rotated_at) => {
            let successor_current = match &successor {
                Some(hash) => tx
                    .query_typed_opt(
                        "select 1 from connector_refresh_tokens \
                         where token_hash = $1 and rotated_at is null and superseded_at is null",
                        &[(hash, Type::TEXT)],
                    )
                    .await?
                    .is_some(),
                None => false,
            };
            if !(successor_current && now <= rotated_at + grace) {
                revoke_in(tx, grant.id, now).await?;
                return Ok(Rotation::Reused { grant_id: grant.id });
            }
            // A retry: the earlier successors stay current beside the new one.
            Rotation::ReplayWithinGrace { grant: grant.clone() }
        }
    };
    let grant_id = match &outcome {
        Rotation::Rotated { grant } | Rotation::ReplayWithinGrace { grant } => grant.id,
        _ => return Ok(outcome),
    };
    // Keep the first retirement time so retries cannot stretch the grace window.
    tx.execute_typed(
        "update connector_refresh_tokens \
         set rotated_at = coalesce(rotated_at, $2), replaced_by = $3 where token_hash = $1",
        &[(&presented_hash, Type::TEXT), (&now, Type::TIMESTAMPTZ), (&new_hash, Type::TEXT)],
    )
    .await?;
    tx.execute_typed(
        "insert into connector_refresh_tokens (token_hash, grant_id, expires_at) \
         values ($1, $2, $3)",
        &[(&new_hash, Type::TEXT), (&grant_id, Type::UUID), (&new_expires_at, Type::TIMESTAMPTZ)],
    )
    .await
    .map_err(conflict_on_duplicate("refresh token"))?;
    Ok(outcome)
}

#[async_trait]
impl GrantStore for PgStore {
    async fn create_grant(&self, grant: &Grant) -> StoreResult<()> {
        // FOR SHARE on the client row: a concurrent delete_client waits for this insert
        // and then revokes it, or wins first and this inserts nothing.
        let inserted = self
            .execute_or(
                "insert into connector_grants \
                 (id, user_id, client_id, scopes, created_at, last_used_at, revoked_at) \
                 select $1, $2, c.id, $4, $5, $6, $7 \
                 from connector_oauth_clients c where c.id = $3 and c.deleted_at is null \
                 for share",
                &[
                    (&grant.id, Type::UUID),
                    (&grant.user_id, Type::UUID),
                    (&grant.client_id, Type::TEXT),
                    (&grant.scopes, Type::TEXT_ARRAY),
                    (&grant.created_at, Type::TIMESTAMPTZ),
                    (&grant.last_used_at, Type::TIMESTAMPTZ),
                    (&grant.revoked_at, Type::TIMESTAMPTZ),
                ],
                conflict_on_duplicate("grant"),
            )
            .await?;
        if inserted == 0 {
            return Err(StoreError::NotFound("client"));
        }
        Ok(())
    }

    async fn get_grant(&self, id: GrantId) -> StoreResult<Option<Grant>> {
        let sql = format!("select {GRANT_COLUMNS} from connector_grants g where g.id = $1");
        self.query_opt(&sql, &[(&id, Type::UUID)], grant_from_row).await
    }

    async fn list_grants_for_user(&self, user_id: UserId) -> StoreResult<Vec<GrantSummary>> {
        let sql = format!(
            "select {GRANT_COLUMNS}, c.name as client_name from connector_grants g \
             join connector_oauth_clients c on c.id = g.client_id and c.deleted_at is null \
             where g.user_id = $1 and g.revoked_at is null \
             order by g.created_at desc, g.id desc"
        );
        self.query_all(&sql, &[(&user_id, Type::UUID)], |row| {
            Ok(GrantSummary { grant: grant_from_row(row)?, client_name: row.try_get("client_name")? })
        })
        .await
    }

    async fn revoke_grant(&self, id: GrantId, now: DateTime<Utc>) -> StoreResult<bool> {
        let updated = self
            .execute(
                "update connector_grants set revoked_at = $2 \
                 where id = $1 and revoked_at is null",
                &[(&id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn revoke_grant_for_user(&self, id: GrantId, user_id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let updated = self
            .execute(
                "update connector_grants set revoked_at = $3 \
                 where id = $1 and user_id = $2 and revoked_at is null",
                &[(&id, Type::UUID), (&user_id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn touch_grant(&self, id: GrantId, now: DateTime<Utc>) -> StoreResult<()> {
        self.execute(
            "update connector_grants set last_used_at = $2 where id = $1",
            &[(&id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
        )
        .await?;
        Ok(())
    }

    async fn create_refresh_token(
        &self,
        token_hash: &TokenHash,
        grant_id: GrantId,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.execute_or(
            "insert into connector_refresh_tokens (token_hash, grant_id, expires_at) \
             values ($1, $2, $3)",
            &[(&token_hash, Type::TEXT), (&grant_id, Type::UUID), (&expires_at, Type::TIMESTAMPTZ)],
            |error| match error.code() {
                Some(&SqlState::FOREIGN_KEY_VIOLATION) => StoreError::NotFound("grant"),
                _ => conflict_on_duplicate("refresh token")(error),
            },
        )
        .await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &TokenHash,
        new_hash: &TokenHash,
        new_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> StoreResult<Rotation> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let outcome = rotate_in(&tx, presented_hash, new_hash, new_expires_at, now, grace).await?;
        // Commit on every outcome: `Reused` revoked the grant, and that must stick.
        tx.commit().await?;
        Ok(outcome)
    }

    async fn revoke_grant_by_refresh_token(
        &self,
        token_hash: &TokenHash,
        client_id: &ClientId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<GrantId>> {
        // RFC 7009 §2.2: revoking an already revoked token is a success, so report the
        // grant even when it was revoked before.
        self.query_opt(
            "update connector_grants g set revoked_at = coalesce(g.revoked_at, $3) \
             from connector_refresh_tokens t \
             where t.token_hash = $1 and g.id = t.grant_id and g.client_id = $2 \
             returning g.id",
            &[(&token_hash, Type::TEXT), (&client_id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
            |row| Ok(row.try_get("id")?),
        )
        .await
    }
}
