//! The Postgres [`Store`] (Supabase in production), over a lazily connecting deadpool pool.
//!
//! Every statement is unnamed (`query_typed`/`execute_typed`, parameter types spelled out)
//! or a simple query, never `client.query`/`prepare`: a transaction-mode pooler
//! (Supabase's, PgBouncer, RDS Proxy) hands each transaction a different server
//! connection, where a named prepared statement from an earlier one does not exist.
//!
//! Atomicity comes from SQL, not from the caller: single-statement
//! `UPDATE … WHERE <still in the old state> RETURNING` for single-use codes, voice tickets
//! and approval claims; one transaction holding the grant's row lock (`FOR UPDATE`) for
//! refresh rotation; one transaction for client deletion and its grant revocation.

use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use super::memory::outcome_columns;
use super::{
    ActionContext, ApprovalOutcome, ApprovalStatus, AuthorizationCode, AuthorizationRequest, ClaimOutcome,
    CodeRedemption, Durability, Grant, GrantSummary, LAST_USED_GRANULARITY, Notification, OAuthClient, Profile,
    Receipt, ReceiptCursor, Rotation, Store, StoreError, StoreResult, SwapApproval, VoiceHandoff,
};

/// Connections per pool. A Lambda execution environment serves one request at a time;
/// a few connections cover the concurrent MCP fan-out and `connector serve`.
const POOL_SIZE: usize = 4;
/// How long a caller waits for a connection before the request fails.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times `create_or_get_approval` retries when racing another creator.
const APPROVAL_ATTEMPTS: usize = 3;

/// The Postgres store. Cloning shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's config holds the database password: never print it.
        f.debug_struct("PgStore").field("status", &self.pool.status()).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Builds the pool without connecting (the first query connects). With `tls`, the
    /// connection requires TLS verified against the webpki roots; without, it is plain
    /// (local and tests). `tls` overrides any `sslmode` in the URL.
    pub fn connect(database_url: &str, tls: bool) -> anyhow::Result<PgStore> {
        let connector = if tls { Some(rustls_connector(None)?) } else { None };
        Self::build(database_url, connector)
    }

    /// [`PgStore::connect`] with TLS, also trusting the PEM certificate(s) in `ca_pem`:
    /// Supabase signs its database certificates with its own CA, downloadable from the
    /// project's database settings.
    pub fn connect_with_ca(database_url: &str, ca_pem: &str) -> anyhow::Result<PgStore> {
        Self::build(database_url, Some(rustls_connector(Some(ca_pem))?))
    }

    fn build(database_url: &str, tls: Option<MakeRustlsConnect>) -> anyhow::Result<PgStore> {
        let mut config: tokio_postgres::Config =
            database_url.parse().context("DATABASE_URL is not a valid Postgres connection string")?;
        config.ssl_mode(if tls.is_some() { SslMode::Require } else { SslMode::Disable });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(POOL_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("dexter-chatgpt-connector");
        }
        // Fast recycling: a pooled connection is reused unless it is closed; nothing
        // session-level survives between our statements, so there is nothing to reset.
        let manager_config = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match tls {
            Some(tls) => Manager::from_config(config, tls, manager_config),
            None => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .context("building the Postgres pool")?;
        Ok(PgStore { pool })
    }

    /// Applies pending migrations over one pooled connection (see [`super::migrate`]).
    pub async fn migrate(&self) -> anyhow::Result<Vec<String>> {
        let mut client = self.pool.get().await.context("connecting to Postgres")?;
        super::migrate::run_on(&mut client).await
    }

    /// A server setting as a pooled connection sees it (`current_setting`), for checks
    /// and diagnostics.
    pub async fn setting(&self, name: &str) -> StoreResult<String> {
        let row = self.conn().await?.query_typed_one("select current_setting($1)", &[(&name, Type::TEXT)]).await?;
        Ok(row.try_get(0)?)
    }

    async fn conn(&self) -> StoreResult<Object> {
        self.pool.get().await.context("getting a Postgres connection from the pool").map_err(StoreError::Unexpected)
    }
}

fn rustls_connector(extra_roots_pem: Option<&str>) -> anyhow::Result<MakeRustlsConnect> {
    let mut roots = crate::tls::web_pki_roots();
    if let Some(pem) = extra_roots_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.context("reading the database CA certificate PEM")?;
            roots.add(cert).context("adding the database CA certificate")?;
        }
    }
    Ok(MakeRustlsConnect::new(crate::tls::client_config(roots)))
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::Unexpected(anyhow::Error::new(error).context("Postgres statement failed"))
    }
}

/// Maps a unique violation on insert to [`StoreError::Conflict`].
fn conflict_on_duplicate(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |error| {
        if error.code() == Some(&SqlState::UNIQUE_VIOLATION) { StoreError::Conflict(what) } else { error.into() }
    }
}

// Column lists, in the order the row readers below expect them.

const PROFILE_COLUMNS: &str = "id, email, tier::text as tier, channels";

fn profile_from_row(row: &Row) -> StoreResult<Profile> {
    Ok(Profile {
        user_id: row.try_get("id")?,
        email: row.try_get("email")?,
        // Supabase's profiles existed before us; tolerate rows that predate our defaults.
        tier: row.try_get::<_, Option<String>>("tier")?.unwrap_or_else(|| "free".to_string()),
        channels: row.try_get::<_, Option<serde_json::Value>>("channels")?.unwrap_or_else(|| serde_json::json!({})),
    })
}

const CLIENT_COLUMNS: &str = "id, name, secret_hash, previous_secret_hash, \
    previous_secret_expires_at, redirect_uris, scopes, created_at";

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
    })
}

const REQUEST_COLUMNS: &str = "id, client_id, redirect_uri, scopes, state, csrf_hash, user_id, \
    login_email, login_attempts, expires_at, created_at";

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
    })
}

const CODE_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, scopes, expires_at, grant_id";

fn code_from_row(row: &Row) -> StoreResult<AuthorizationCode> {
    Ok(AuthorizationCode {
        code_hash: row.try_get("code_hash")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scopes: row.try_get("scopes")?,
        expires_at: row.try_get("expires_at")?,
        grant_id: row.try_get("grant_id")?,
    })
}

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

const RECEIPT_COLUMNS: &str = "id, user_id, client_id, action, mcp_tool, args_digest, status, \
    error_code, upstream_latency_ms, request_id, approval_id, created_at";

fn receipt_from_row(row: &Row) -> StoreResult<Receipt> {
    Ok(Receipt {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        action: row.try_get("action")?,
        mcp_tool: row.try_get("mcp_tool")?,
        args_digest: row.try_get("args_digest")?,
        status: row.try_get("status")?,
        error_code: row.try_get("error_code")?,
        upstream_latency_ms: row.try_get("upstream_latency_ms")?,
        request_id: row.try_get("request_id")?,
        approval_id: row.try_get("approval_id")?,
        created_at: row.try_get("created_at")?,
    })
}

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

const NOTIFICATION_COLUMNS: &str = "id, user_id, kind, title, body, created_at, read_at";

fn notification_from_row(row: &Row) -> StoreResult<Notification> {
    Ok(Notification {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        read_at: row.try_get("read_at")?,
    })
}

const HANDOFF_COLUMNS: &str = "id, user_id, grant_id, context, expires_at, created_at, consumed_at";

fn handoff_from_row(row: &Row) -> StoreResult<VoiceHandoff> {
    Ok(VoiceHandoff {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        grant_id: row.try_get("grant_id")?,
        context: row.try_get("context")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        consumed_at: row.try_get("consumed_at")?,
    })
}

fn rows<T>(rows: Vec<Row>, read: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(read).collect()
}

/// One step of [`Store::rotate_refresh_token`], run inside its transaction.
async fn rotate_in(
    tx: &tokio_postgres::Transaction<'_>,
    presented_hash: &str,
    new_hash: &str,
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
            "select expires_at, rotated_at, replaced_by from connector_refresh_tokens \
             where token_hash = $1",
            &[(&presented_hash, Type::TEXT)],
        )
        .await?
    else {
        return Ok(Rotation::NotFound);
    };
    let expires_at: DateTime<Utc> = token.try_get("expires_at")?;
    let rotated_at: Option<DateTime<Utc>> = token.try_get("rotated_at")?;
    let successor: Option<String> = token.try_get("replaced_by")?;
    if expires_at <= now {
        return Ok(Rotation::Expired);
    }
    let outcome = match rotated_at {
        None => {
            // The client proved which token it kept: every other unused one goes.
            tx.execute_typed(
                "delete from connector_refresh_tokens \
                 where grant_id = $1 and rotated_at is null and token_hash <> $2",
                &[(&grant.id, Type::UUID), (&presented_hash, Type::TEXT)],
            )
            .await?;
            Rotation::Rotated { grant }
        }
        Some(rotated_at) => {
            let successor_unused = match &successor {
                Some(hash) => tx
                    .query_typed_opt(
                        "select 1 from connector_refresh_tokens \
                         where token_hash = $1 and rotated_at is null",
                        &[(hash, Type::TEXT)],
                    )
                    .await?
                    .is_some(),
                None => false,
            };
            if !(successor_unused && now <= rotated_at + grace) {
                tx.execute_typed(
                    "update connector_grants set revoked_at = $2 \
                     where id = $1 and revoked_at is null",
                    &[(&grant.id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
                )
                .await?;
                return Ok(Rotation::Reused { grant_id: grant.id });
            }
            // A retry: the successor never reached the client, so it must not stay valid.
            tx.execute_typed("delete from connector_refresh_tokens where token_hash = $1", &[(&successor, Type::TEXT)])
                .await?;
            Rotation::ReplayWithinGrace { grant }
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
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        self.conn().await?.simple_query("select 1").await?;
        Ok(())
    }

    async fn warm(&self) {
        // The connection goes back to the pool when dropped, open.
        let _ = self.conn().await;
    }

    async fn upsert_profile(&self, profile: &Profile) -> StoreResult<()> {
        self.conn()
            .await?
            .execute_typed(
                "insert into profiles (id, email, tier, channels) values ($1, $2, $3, $4) \
                 on conflict (id) do update set email = excluded.email, \
                 tier = excluded.tier, channels = excluded.channels",
                &[
                    (&profile.user_id, Type::UUID),
                    (&profile.email, Type::TEXT),
                    (&profile.tier, Type::TEXT),
                    (&profile.channels, Type::JSONB),
                ],
            )
            .await?;
        Ok(())
    }

    async fn get_profile(&self, user_id: Uuid) -> StoreResult<Option<Profile>> {
        let sql = format!("select {PROFILE_COLUMNS} from profiles where id = $1");
        let row = self.conn().await?.query_typed_opt(&sql, &[(&user_id, Type::UUID)]).await?;
        row.as_ref().map(profile_from_row).transpose()
    }

    async fn set_tier_tools(&self, tier: &str, tools: &[String]) -> StoreResult<()> {
        self.conn()
            .await?
            .execute_typed(
                "insert into connector_tier_tools (tier, tools) values ($1, $2) \
                 on conflict (tier) do update set tools = excluded.tools",
                &[(&tier, Type::TEXT), (&tools, Type::TEXT_ARRAY)],
            )
            .await?;
        Ok(())
    }

    async fn tier_tools(&self, tier: &str) -> StoreResult<Vec<String>> {
        let row = self
            .conn()
            .await?
            .query_typed_opt("select tools from connector_tier_tools where tier = $1", &[(&tier, Type::TEXT)])
            .await?;
        match row {
            Some(row) => Ok(row.try_get("tools")?),
            None => Ok(Vec::new()),
        }
    }

    async fn create_client(&self, client: &OAuthClient) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_oauth_clients ({CLIENT_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        self.conn()
            .await?
            .execute_typed(
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
                ],
            )
            .await
            .map_err(conflict_on_duplicate("client"))?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<OAuthClient>> {
        let sql = format!(
            "select {CLIENT_COLUMNS} from connector_oauth_clients \
             where id = $1 and deleted_at is null"
        );
        let row = self.conn().await?.query_typed_opt(&sql, &[(&id, Type::TEXT)]).await?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<OAuthClient>> {
        let sql = format!(
            "select {CLIENT_COLUMNS} from connector_oauth_clients \
             where deleted_at is null order by created_at, id"
        );
        rows(self.conn().await?.query_typed(&sql, &[]).await?, client_from_row)
    }

    async fn rotate_client_secret(
        &self,
        id: &str,
        new_secret_hash: &str,
        keep_previous_until: Option<DateTime<Utc>>,
    ) -> StoreResult<bool> {
        // On the right of SET, secret_hash is still the old value.
        let updated = self
            .conn()
            .await?
            .execute_typed(
                "update connector_oauth_clients set \
                 previous_secret_hash = case when $3 is null then null else secret_hash end, \
                 previous_secret_expires_at = $3, secret_hash = $2 \
                 where id = $1 and deleted_at is null",
                &[(&id, Type::TEXT), (&new_secret_hash, Type::TEXT), (&keep_previous_until, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn delete_client(&self, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
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

    async fn create_authorization_request(&self, request: &AuthorizationRequest) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_authorization_requests ({REQUEST_COLUMNS}) \
             select $1, c.id, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             from connector_oauth_clients c where c.id = $2 and c.deleted_at is null \
             for share"
        );
        let inserted = self
            .conn()
            .await?
            .execute_typed(
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
                ],
            )
            .await
            .map_err(conflict_on_duplicate("authorization request"))?;
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
        let row = self.conn().await?.query_typed_opt(&sql, &[(&id, Type::UUID), (&now, Type::TIMESTAMPTZ)]).await?;
        row.as_ref().map(request_from_row).transpose()
    }

    async fn set_authorization_request_user(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let updated = self
            .conn()
            .await?
            .execute_typed(
                "update connector_authorization_requests set user_id = $2 \
                 where id = $1 and expires_at > $3",
                &[(&id, Type::UUID), (&user_id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn record_login_attempt(&self, id: Uuid, email: &str) -> StoreResult<Option<i32>> {
        let row = self
            .conn()
            .await?
            .query_typed_opt(
                "update connector_authorization_requests \
                 set login_attempts = login_attempts + 1, login_email = $2 \
                 where id = $1 returning login_attempts",
                &[(&id, Type::UUID), (&email, Type::TEXT)],
            )
            .await?;
        match row {
            Some(row) => Ok(Some(row.try_get("login_attempts")?)),
            None => Ok(None),
        }
    }

    async fn delete_authorization_request(&self, id: Uuid) -> StoreResult<bool> {
        let deleted = self
            .conn()
            .await?
            .execute_typed("delete from connector_authorization_requests where id = $1", &[(&id, Type::UUID)])
            .await?;
        Ok(deleted == 1)
    }

    async fn create_authorization_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_authorization_codes ({CODE_COLUMNS}) \
             select $1, c.id, $3, $4, $5, $6, $7 \
             from connector_oauth_clients c where c.id = $2 and c.deleted_at is null \
             for share"
        );
        let inserted = self
            .conn()
            .await?
            .execute_typed(
                &sql,
                &[
                    (&code.code_hash, Type::TEXT),
                    (&code.client_id, Type::TEXT),
                    (&code.user_id, Type::UUID),
                    (&code.redirect_uri, Type::TEXT),
                    (&code.scopes, Type::TEXT_ARRAY),
                    (&code.expires_at, Type::TIMESTAMPTZ),
                    (&code.grant_id, Type::UUID),
                ],
            )
            .await
            .map_err(conflict_on_duplicate("authorization code"))?;
        if inserted == 0 {
            return Err(StoreError::NotFound("client"));
        }
        Ok(())
    }

    async fn redeem_authorization_code(&self, code_hash: &str, now: DateTime<Utc>) -> StoreResult<CodeRedemption> {
        let client = self.conn().await?;
        // The WHERE clause is the single-use guarantee: of concurrent redeemers, the row
        // lock lets one update and the others re-check `used_at is null` and match nothing.
        let sql = format!(
            "update connector_authorization_codes set used_at = $2 \
             where code_hash = $1 and used_at is null and expires_at > $2 \
             returning {CODE_COLUMNS}"
        );
        let params: &[(&(dyn ToSql + Sync), Type)] = &[(&code_hash, Type::TEXT), (&now, Type::TIMESTAMPTZ)];
        if let Some(row) = client.query_typed_opt(&sql, params).await? {
            return Ok(CodeRedemption::Redeemed(code_from_row(&row)?));
        }
        let row = client
            .query_typed_opt(
                "select used_at, grant_id from connector_authorization_codes \
                 where code_hash = $1",
                &[(&code_hash, Type::TEXT)],
            )
            .await?;
        let Some(row) = row else {
            return Ok(CodeRedemption::NotFound);
        };
        let used_at: Option<DateTime<Utc>> = row.try_get("used_at")?;
        // A replay is reported as such even after expiry, so the caller still revokes.
        Ok(match used_at {
            Some(_) => CodeRedemption::AlreadyUsed { grant_id: row.try_get("grant_id")? },
            None => CodeRedemption::Expired,
        })
    }

    async fn attach_grant_to_code(&self, code_hash: &str, grant_id: Uuid) -> StoreResult<bool> {
        let updated = self
            .conn()
            .await?
            .execute_typed(
                "update connector_authorization_codes set grant_id = $2 where code_hash = $1",
                &[(&code_hash, Type::TEXT), (&grant_id, Type::UUID)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn create_grant(&self, grant: &Grant) -> StoreResult<()> {
        // FOR SHARE on the client row: a concurrent delete_client waits for this insert
        // and then revokes it, or wins first and this inserts nothing.
        let inserted = self
            .conn()
            .await?
            .execute_typed(
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
            )
            .await
            .map_err(conflict_on_duplicate("grant"))?;
        if inserted == 0 {
            return Err(StoreError::NotFound("client"));
        }
        Ok(())
    }

    async fn get_grant(&self, id: Uuid) -> StoreResult<Option<Grant>> {
        let sql = format!("select {GRANT_COLUMNS} from connector_grants g where g.id = $1");
        let row = self.conn().await?.query_typed_opt(&sql, &[(&id, Type::UUID)]).await?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn list_grants_for_user(&self, user_id: Uuid) -> StoreResult<Vec<GrantSummary>> {
        let sql = format!(
            "select {GRANT_COLUMNS}, c.name as client_name from connector_grants g \
             join connector_oauth_clients c on c.id = g.client_id and c.deleted_at is null \
             where g.user_id = $1 and g.revoked_at is null \
             order by g.created_at desc, g.id desc"
        );
        let found = self.conn().await?.query_typed(&sql, &[(&user_id, Type::UUID)]).await?;
        rows(found, |row| Ok(GrantSummary { grant: grant_from_row(row)?, client_name: row.try_get("client_name")? }))
    }

    async fn revoke_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let updated = self
            .conn()
            .await?
            .execute_typed(
                "update connector_grants set revoked_at = $2 \
                 where id = $1 and revoked_at is null",
                &[(&id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn revoke_grant_for_user(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<bool> {
        let updated = self
            .conn()
            .await?
            .execute_typed(
                "update connector_grants set revoked_at = $3 \
                 where id = $1 and user_id = $2 and revoked_at is null",
                &[(&id, Type::UUID), (&user_id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn touch_grant(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        self.conn()
            .await?
            .execute_typed(
                "update connector_grants set last_used_at = $2 where id = $1",
                &[(&id, Type::UUID), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        Ok(())
    }

    async fn create_refresh_token(
        &self,
        token_hash: &str,
        grant_id: Uuid,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.conn()
            .await?
            .execute_typed(
                "insert into connector_refresh_tokens (token_hash, grant_id, expires_at) \
                 values ($1, $2, $3)",
                &[(&token_hash, Type::TEXT), (&grant_id, Type::UUID), (&expires_at, Type::TIMESTAMPTZ)],
            )
            .await
            .map_err(|error| match error.code() {
                Some(&SqlState::FOREIGN_KEY_VIOLATION) => StoreError::NotFound("grant"),
                _ => conflict_on_duplicate("refresh token")(error),
            })?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
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
        token_hash: &str,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Uuid>> {
        // RFC 7009 §2.2: revoking an already revoked token is a success, so report the
        // grant even when it was revoked before.
        let row = self
            .conn()
            .await?
            .query_typed_opt(
                "update connector_grants g set revoked_at = coalesce(g.revoked_at, $3) \
                 from connector_refresh_tokens t \
                 where t.token_hash = $1 and g.id = t.grant_id and g.client_id = $2 \
                 returning g.id",
                &[(&token_hash, Type::TEXT), (&client_id, Type::TEXT), (&now, Type::TIMESTAMPTZ)],
            )
            .await?;
        match row {
            Some(row) => Ok(Some(row.try_get("id")?)),
            None => Ok(None),
        }
    }

    async fn action_context(
        &self,
        grant_id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ActionContext>> {
        // One statement, one round trip on every action: a PL/pgSQL function (migration
        // 0004) whose plans the server keeps, where the same SQL sent as an unnamed
        // statement is parsed and planned on every call. It bumps last_used_at only when
        // stale, so most actions write nothing and commit free.
        let row = self
            .conn()
            .await?
            .query_typed_opt(
                "select grant_live, scopes, tier, chatgpt_enabled, allowed_tools \
                 from connector_action_context($1, $2, $3, $4)",
                &[
                    (&grant_id, Type::UUID),
                    (&user_id, Type::UUID),
                    (&now, Type::TIMESTAMPTZ),
                    (&(now - LAST_USED_GRANULARITY), Type::TIMESTAMPTZ),
                ],
            )
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ActionContext {
            grant_live: row.try_get("grant_live")?,
            scopes: row.try_get("scopes")?,
            tier: row.try_get("tier")?,
            chatgpt_enabled: row.try_get("chatgpt_enabled")?,
            allowed_tools: row.try_get("allowed_tools")?,
        }))
    }

    async fn insert_receipts(&self, receipts: &[Receipt], durability: Durability) -> StoreResult<()> {
        if receipts.is_empty() {
            return Ok(());
        }
        // One call with column arrays, unnested back into rows by the function (migration
        // 0004, whose plan the server keeps): one round trip, and all or nothing. Relaxed
        // turns synchronous_commit off for this statement's own transaction only.
        let ids: Vec<Uuid> = receipts.iter().map(|r| r.id).collect();
        let user_ids: Vec<Uuid> = receipts.iter().map(|r| r.user_id).collect();
        let client_ids: Vec<&str> = receipts.iter().map(|r| r.client_id.as_str()).collect();
        let actions: Vec<&str> = receipts.iter().map(|r| r.action.as_str()).collect();
        let tools: Vec<Option<&str>> = receipts.iter().map(|r| r.mcp_tool.as_deref()).collect();
        let digests: Vec<&str> = receipts.iter().map(|r| r.args_digest.as_str()).collect();
        let statuses: Vec<&str> = receipts.iter().map(|r| r.status.as_str()).collect();
        let error_codes: Vec<Option<&str>> = receipts.iter().map(|r| r.error_code.as_deref()).collect();
        let latencies: Vec<Option<i64>> = receipts.iter().map(|r| r.upstream_latency_ms).collect();
        let request_ids: Vec<&str> = receipts.iter().map(|r| r.request_id.as_str()).collect();
        let approval_ids: Vec<Option<Uuid>> = receipts.iter().map(|r| r.approval_id).collect();
        let created: Vec<DateTime<Utc>> = receipts.iter().map(|r| r.created_at).collect();
        let relaxed = durability == Durability::Relaxed;
        self.conn()
            .await?
            .execute_typed(
                "select connector_insert_receipts($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
                    (&relaxed, Type::BOOL),
                ],
            )
            .await
            .map_err(conflict_on_duplicate("receipt"))?;
        Ok(())
    }

    async fn get_receipt(&self, id: Uuid, user_id: Uuid) -> StoreResult<Option<Receipt>> {
        let sql = format!("select {RECEIPT_COLUMNS} from connector_receipts where id = $1 and user_id = $2");
        let row = self.conn().await?.query_typed_opt(&sql, &[(&id, Type::UUID), (&user_id, Type::UUID)]).await?;
        row.as_ref().map(receipt_from_row).transpose()
    }

    async fn list_receipts(
        &self,
        user_id: Uuid,
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

    async fn update_receipt_status(&self, id: Uuid, status: &str, error_code: Option<&str>) -> StoreResult<bool> {
        let updated = self
            .conn()
            .await?
            .execute_typed(
                "update connector_receipts set status = $2, error_code = $3 where id = $1",
                &[(&id, Type::UUID), (&status, Type::TEXT), (&error_code, Type::TEXT)],
            )
            .await?;
        Ok(updated == 1)
    }

    async fn create_or_get_approval(
        &self,
        approval: &SwapApproval,
        now: DateTime<Utc>,
    ) -> StoreResult<(SwapApproval, bool)> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let insert = format!(
            "insert into connector_swap_approvals ({APPROVAL_COLUMNS}, holds_key) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, true) \
             on conflict (user_id, idempotency_key) where holds_key do nothing \
             returning {APPROVAL_COLUMNS}"
        );
        let holder = format!(
            "select {APPROVAL_COLUMNS} from connector_swap_approvals \
             where user_id = $1 and idempotency_key = $2 and holds_key for update"
        );
        // Each pass: insert, or find the holder of the key. An unexpired holder answers;
        // an expired one gives up the key and the next pass inserts. Losing a race to a
        // concurrent creator just means the next pass finds its approval.
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
                return Ok((created, true));
            }
            let existing = tx
                .query_typed_opt(&holder, &[(&approval.user_id, Type::UUID), (&approval.idempotency_key, Type::TEXT)])
                .await?;
            let Some(row) = existing else { continue };
            let existing = approval_from_row(&row)?;
            if existing.expires_at > now {
                tx.commit().await?;
                return Ok((existing, false));
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

    async fn get_approval(&self, id: Uuid, user_id: Uuid) -> StoreResult<Option<SwapApproval>> {
        let sql = format!(
            "select {APPROVAL_COLUMNS} from connector_swap_approvals \
             where id = $1 and user_id = $2"
        );
        let row = self.conn().await?.query_typed_opt(&sql, &[(&id, Type::UUID), (&user_id, Type::UUID)]).await?;
        row.as_ref().map(approval_from_row).transpose()
    }

    async fn list_pending_approvals(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Vec<SwapApproval>> {
        let sql = format!(
            "select {APPROVAL_COLUMNS} from connector_swap_approvals \
             where user_id = $1 and status = 'pending_approval' and expires_at > $2 \
             order by created_at desc, id desc"
        );
        let found = self.conn().await?.query_typed(&sql, &[(&user_id, Type::UUID), (&now, Type::TIMESTAMPTZ)]).await?;
        rows(found, approval_from_row)
    }

    async fn claim_approval(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<ClaimOutcome> {
        self.decide_approval(id, user_id, now, ApprovalStatus::Executing).await
    }

    async fn reject_approval(&self, id: Uuid, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<ClaimOutcome> {
        self.decide_approval(id, user_id, now, ApprovalStatus::Rejected).await
    }

    async fn finish_approval(&self, id: Uuid, outcome: &ApprovalOutcome, now: DateTime<Utc>) -> StoreResult<bool> {
        let (status, result, error_code, receipt_id) = outcome_columns(outcome);
        let updated = self
            .conn()
            .await?
            .execute_typed(
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

    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_notifications ({NOTIFICATION_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        );
        self.conn()
            .await?
            .execute_typed(
                &sql,
                &[
                    (&notification.id, Type::UUID),
                    (&notification.user_id, Type::UUID),
                    (&notification.kind, Type::TEXT),
                    (&notification.title, Type::TEXT),
                    (&notification.body, Type::JSONB),
                    (&notification.created_at, Type::TIMESTAMPTZ),
                    (&notification.read_at, Type::TIMESTAMPTZ),
                ],
            )
            .await
            .map_err(conflict_on_duplicate("notification"))?;
        Ok(())
    }

    async fn list_notifications(&self, user_id: Uuid, limit: u32) -> StoreResult<Vec<Notification>> {
        let sql = format!(
            "select {NOTIFICATION_COLUMNS} from connector_notifications where user_id = $1 \
             order by created_at desc, id desc limit $2"
        );
        let found =
            self.conn().await?.query_typed(&sql, &[(&user_id, Type::UUID), (&i64::from(limit), Type::INT8)]).await?;
        rows(found, notification_from_row)
    }

    async fn create_voice_handoff(&self, handoff: &VoiceHandoff) -> StoreResult<()> {
        let sql = format!(
            "insert into connector_voice_handoffs ({HANDOFF_COLUMNS}) \
             values ($1, $2, $3, $4, $5, $6, $7)"
        );
        self.conn()
            .await?
            .execute_typed(
                &sql,
                &[
                    (&handoff.id, Type::UUID),
                    (&handoff.user_id, Type::UUID),
                    (&handoff.grant_id, Type::UUID),
                    (&handoff.context, Type::JSONB),
                    (&handoff.expires_at, Type::TIMESTAMPTZ),
                    (&handoff.created_at, Type::TIMESTAMPTZ),
                    (&handoff.consumed_at, Type::TIMESTAMPTZ),
                ],
            )
            .await
            .map_err(conflict_on_duplicate("voice handoff"))?;
        Ok(())
    }

    async fn consume_voice_handoff(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<VoiceHandoff>> {
        let sql = format!(
            "update connector_voice_handoffs set consumed_at = $2 \
             where id = $1 and user_id = $3 and consumed_at is null and expires_at > $2 \
             returning {HANDOFF_COLUMNS}"
        );
        let row = self
            .conn()
            .await?
            .query_typed_opt(&sql, &[(&id, Type::UUID), (&now, Type::TIMESTAMPTZ), (&user_id, Type::UUID)])
            .await?;
        row.as_ref().map(handoff_from_row).transpose()
    }
}

impl PgStore {
    /// Moves a pending approval to `to`, exactly once however many callers race: the
    /// row lock makes every other UPDATE re-check `status = 'pending_approval'` and miss.
    async fn decide_approval(
        &self,
        id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
        to: ApprovalStatus,
    ) -> StoreResult<ClaimOutcome> {
        let client = self.conn().await?;
        let params: &[(&(dyn ToSql + Sync), Type)] =
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
