//! Schema migrations: the SQL files in `migrations/`, compiled in, applied in order.
//!
//! Each file runs once per database, in its own transaction, recorded by name in
//! `connector_schema_migrations`. A transaction-scoped advisory lock makes concurrent
//! migrators (two deploys, a deploy and `connector migrate`) take turns; being
//! transaction-scoped, it also works through a transaction-mode pooler, where a
//! session lock would be held by whichever server connection happened to run it.
//! The files themselves are idempotent (`if not exists`, `on conflict do nothing`) and
//! only add to Dexter's existing `profiles` table, never change what is there.

use anyhow::Context;
use tokio_postgres::types::Type;

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// File name without `.sql`; the key recorded once applied.
    pub name: &'static str,
    /// The SQL, run as one simple-query batch.
    pub sql: &'static str,
}

/// Every migration, in the order they apply. Append only: never edit or reorder a
/// migration that has shipped.
pub const MIGRATIONS: &[Migration] = &[
    Migration { name: "0001_profiles_and_tiers", sql: include_str!("../../../migrations/0001_profiles_and_tiers.sql") },
    Migration { name: "0002_oauth", sql: include_str!("../../../migrations/0002_oauth.sql") },
    Migration { name: "0003_actions", sql: include_str!("../../../migrations/0003_actions.sql") },
    Migration { name: "0004_action_functions", sql: include_str!("../../../migrations/0004_action_functions.sql") },
    Migration { name: "0005_signin_limits", sql: include_str!("../../../migrations/0005_signin_limits.sql") },
    Migration { name: "0006_pkce_and_refresh", sql: include_str!("../../../migrations/0006_pkce_and_refresh.sql") },
    Migration { name: "0007_entitlements", sql: include_str!("../../../migrations/0007_entitlements.sql") },
    Migration { name: "0009_durable_receipts", sql: include_str!("../../../migrations/0009_durable_receipts.sql") },
    Migration { name: "0010_sweep", sql: include_str!("../../../migrations/0010_sweep.sql") },
    Migration {
        name: "0012_client_registrations",
        sql: include_str!("../../../migrations/0012_client_registrations.sql"),
    },
    Migration {
        name: "0014_channel_in_action_context",
        sql: include_str!("../../../migrations/0014_channel_in_action_context.sql"),
    },
];

/// `pg_advisory_xact_lock` key shared by every migrator ("connecto" in ASCII).
const LOCK_KEY: i64 = 0x636f_6e6e_6563_746f;

const CREATE_LEDGER: &str = "create table if not exists connector_schema_migrations ( \
     name text primary key, \
     applied_at timestamptz not null default now() \
 ); \
 alter table connector_schema_migrations enable row level security;";

/// Applies every migration not yet recorded; returns the names it applied (empty when
/// the database was up to date).
pub async fn run_on(client: &mut tokio_postgres::Client) -> anyhow::Result<Vec<String>> {
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        let tx = client.transaction().await.context("starting a migration transaction")?;
        tx.execute_typed("select pg_advisory_xact_lock($1)", &[(&LOCK_KEY, Type::INT8)])
            .await
            .context("taking the migration lock")?;
        // Created under the lock, so concurrent first runs do not race on it.
        tx.batch_execute(CREATE_LEDGER).await.context("creating connector_schema_migrations")?;
        let done = tx
            .query_typed_opt(
                "select name from connector_schema_migrations where name = $1",
                &[(&migration.name, Type::TEXT)],
            )
            .await
            .context("reading connector_schema_migrations")?
            .is_some();
        if done {
            tx.commit().await?;
            continue;
        }
        tx.batch_execute(migration.sql).await.with_context(|| format!("applying migration {}", migration.name))?;
        tx.execute_typed(
            "insert into connector_schema_migrations (name) values ($1)",
            &[(&migration.name, Type::TEXT)],
        )
        .await
        .with_context(|| format!("recording migration {}", migration.name))?;
        tx.commit().await.with_context(|| format!("committing migration {}", migration.name))?;
        applied.push(migration.name.to_string());
    }
    Ok(applied)
}

/// Connects to `database_url` (TLS as in [`super::PgStore::connect`]) and applies every
/// pending migration; returns the names it applied.
pub async fn run(database_url: &str, tls: bool) -> anyhow::Result<Vec<String>> {
    super::PgStore::connect(database_url, tls)?.migrate().await
}
