//! The Postgres store (Supabase in production), over a lazily connecting deadpool pool:
//! [`PgStore`], its pool and statement helpers here, one module per record family with
//! that family's SQL.
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

use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{Health, StoreError, StoreResult};

mod approvals;
mod authorization;
mod clients;
mod grants;
mod limits;
mod notifications;
mod profiles;
mod receipts;
mod sweep;

/// Connections per pool. A Lambda execution environment serves one request at a time;
/// a few connections cover the concurrent MCP fan-out and `connector serve`.
const POOL_SIZE: usize = 4;
/// How long a caller waits for a connection before the request fails.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

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

    /// A pooled connection. Failing to get one (the server is down or restarting, or every
    /// connection is busy past [`POOL_TIMEOUT`]) is [`StoreError::Unavailable`]: a dead
    /// connection is dropped by the pool's recycling, and the next caller connects afresh.
    async fn conn(&self) -> StoreResult<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(anyhow::Error::new(e).context("getting a Postgres connection")))
    }

    /// Runs one statement on a pooled connection: the number of rows it affected.
    async fn execute(&self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        Ok(self.conn().await?.execute_typed(sql, params).await?)
    }

    /// [`PgStore::execute`], with a statement failure mapped by `on_error` (e.g.
    /// [`conflict_on_duplicate`]).
    async fn execute_or(
        &self,
        sql: &str,
        params: &[Param<'_>],
        on_error: impl FnOnce(tokio_postgres::Error) -> StoreError,
    ) -> StoreResult<u64> {
        self.conn().await?.execute_typed(sql, params).await.map_err(on_error)
    }

    /// Runs one statement on a pooled connection and reads the row it returned, if any.
    async fn query_opt<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        read: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let row = self.conn().await?.query_typed_opt(sql, params).await?;
        row.as_ref().map(read).transpose()
    }

    /// Runs one statement on a pooled connection and reads every row it returned.
    async fn query_all<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        read: fn(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        rows(self.conn().await?.query_typed(sql, params).await?, read)
    }
}

/// One statement parameter with its type spelled out (`query_typed`, `execute_typed`).
type Param<'a> = (&'a (dyn ToSql + Sync), Type);

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
        if connection_lost(&error) {
            StoreError::Unavailable(anyhow::Error::new(error).context("the Postgres connection was lost"))
        } else {
            StoreError::Unexpected(anyhow::Error::new(error).context("Postgres statement failed"))
        }
    }
}

/// Whether a statement failed because the server went away rather than because of the
/// statement: the connection closed or broke (an I/O error), or the server said it is
/// shutting down, crashed or not yet accepting connections (SQLSTATE class 08 and
/// 57P01–57P03). A statement cut off this way either did not commit or its commit was
/// not acknowledged; the callers' writes are safe to retry.
fn connection_lost(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return code.code().starts_with("08")
            || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW].contains(code);
    }
    std::error::Error::source(error).is_some_and(|cause| cause.is::<std::io::Error>())
}

/// Maps a unique violation on insert to [`StoreError::Conflict`].
fn conflict_on_duplicate(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |error| {
        if error.code() == Some(&SqlState::UNIQUE_VIOLATION) { StoreError::Conflict(what) } else { error.into() }
    }
}

fn rows<T>(rows: Vec<Row>, read: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(read).collect()
}

#[async_trait]
impl Health for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        self.conn().await?.simple_query("select 1").await?;
        Ok(())
    }

    async fn warm(&self) {
        // The connection goes back to the pool when dropped, open.
        let _ = self.conn().await;
    }
}
