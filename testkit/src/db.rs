//! Throwaway Postgres databases: one uuid-named database per test, created through the
//! maintenance database and dropped (connections and all) when the test ends.
//!
//! `DATABASE_URL` names the maintenance database (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and must be a URL. When Postgres is not
//! reachable the test fails, naming the URL: it never passes without having run.

use std::net::SocketAddr;

use anyhow::Context;
use tokio_postgres::NoTls;
use uuid::Uuid;

const DEFAULT_MAINTENANCE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database that is dropped when this value is (or by
/// [`TestDatabase::drop_database`]).
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    maintenance_url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates `connector_test_<uuid>`; panics when Postgres is not reachable.
    pub async fn create() -> TestDatabase {
        TestDatabase::try_create("connector_test").await.unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// [`TestDatabase::create`] with every migration applied, and the connector's store on it.
    pub async fn migrated() -> (TestDatabase, shared::store::PgStore) {
        let db = TestDatabase::create().await;
        shared::store::migrate::run(db.url(), false).await.expect("migrations apply");
        let store = shared::store::PgStore::connect(db.url(), false).expect("the store's pool builds");
        (db, store)
    }

    /// Creates `<prefix>_<uuid>`.
    pub async fn try_create(prefix: &str) -> anyhow::Result<TestDatabase> {
        let maintenance_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_MAINTENANCE_URL.to_owned());
        let client = connect(&maintenance_url).await.with_context(|| {
            format!("postgres not reachable at {} (set DATABASE_URL to a reachable server)", redact(&maintenance_url))
        })?;
        let name = format!("{prefix}_{}", Uuid::new_v4().simple());
        client
            .batch_execute(&format!("create database {name}"))
            .await
            .with_context(|| format!("could not create database {name}"))?;
        let url = with_database(&maintenance_url, &name);
        Ok(TestDatabase { name, url, maintenance_url, dropped: false })
    }

    /// The URL of the new database (no TLS).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The new database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the maintenance database it was created through.
    pub fn maintenance_url(&self) -> &str {
        &self.maintenance_url
    }

    /// A plain connection to the new database, its connection task spawned.
    pub async fn connect(&self) -> tokio_postgres::Client {
        connect(&self.url).await.unwrap_or_else(|e| panic!("could not connect to {}: {e}", self.name))
    }

    /// Drops the database now, on this runtime (dropping the value does it from a thread
    /// of its own); a failure is printed, not returned.
    pub async fn drop_database(mut self) {
        self.dropped = true;
        if let Err(error) = drop_database(&self.maintenance_url, &self.name).await {
            eprintln!("could not drop {}: {error}", self.name);
        }
    }

    /// `alter database … set synchronous_commit = off` (or `reset` when `on`): for new
    /// connections to this database only.
    pub async fn set_synchronous_commit(&self, on: bool) -> anyhow::Result<()> {
        let client = connect(&self.maintenance_url).await?;
        let sql = if on {
            format!("alter database {} reset synchronous_commit", self.name)
        } else {
            format!("alter database {} set synchronous_commit = off", self.name)
        };
        client.batch_execute(&sql).await?;
        Ok(())
    }

    /// host:port of the server (loopback when the URL names none).
    pub fn socket_addr(&self) -> anyhow::Result<SocketAddr> {
        let config: tokio_postgres::Config = self.url.parse()?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        use std::net::ToSocketAddrs;
        (host.as_str(), port).to_socket_addrs()?.next().context("resolving the database host")
    }

    /// The database's URL with host:port replaced by `proxy` (user and password kept).
    pub fn url_via(&self, proxy: SocketAddr) -> String {
        let config: tokio_postgres::Config = self.url.parse().expect("a URL made by try_create");
        let user = config.get_user().unwrap_or("postgres");
        let password = config.get_password().map(|p| format!(":{}", String::from_utf8_lossy(p))).unwrap_or_default();
        format!("postgres://{user}{password}@{proxy}/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down: drop the
        // database from a thread with its own runtime, and wait for it.
        let maintenance_url = self.maintenance_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(drop_database(&maintenance_url, &name)).map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!("could not drop test database {}: the dropping thread panicked", self.name),
        }
    }
}

async fn drop_database(maintenance_url: &str, name: &str) -> Result<(), tokio_postgres::Error> {
    let client = connect(maintenance_url).await?;
    client.batch_execute(&format!("drop database if exists {name} with (force)")).await
}

/// A plain connection to `url` (no TLS), its connection task spawned.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped; an error then is not news.
        let _ = connection.await;
    });
    Ok(client)
}

/// `url` with its database (the path) replaced by `database`, query string kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{database}?{query}"),
        None => format!("{root}/{database}"),
    }
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let Some(at) = url[scheme_end..].find('@').map(|i| scheme_end + i) else {
        return url.to_owned();
    };
    match url[scheme_end..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end], &url[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_in_a_url_is_replaced_and_the_query_kept() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "t"), "postgres://u@h:5432/t");
        assert_eq!(with_database("postgres://u@h:5432", "t"), "postgres://u@h:5432/t");
        assert_eq!(
            with_database("postgresql://u:p@h/postgres?sslmode=disable", "t"),
            "postgresql://u:p@h/t?sslmode=disable"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
