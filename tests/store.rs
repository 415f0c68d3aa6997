//! The storage layer against both backends: the conformance suite, one test per check
//! per backend (`conformance::{memory,postgres}::<family>::<check>`, generated from the
//! suite's list by `shared::store_conformance!`), and migrations on a database that looks
//! like Dexter's Supabase project.

use std::sync::Arc;

use shared::UserId;
use shared::store::conformance::a_receipt;
use shared::store::migrate::{self, MIGRATIONS};
use shared::store::postgres::PgStore;
use shared::store::prelude::*;
use testkit::db::TestDatabase;

/// A migrated Postgres store on a fresh database, dropped with the returned guard.
async fn migrated_postgres() -> (PgStore, TestDatabase) {
    let db = TestDatabase::create().await;
    let store = PgStore::connect(db.url(), false).expect("pool builds");
    store.migrate().await.expect("migrations apply");
    (store, db)
}

mod conformance {
    mod memory {
        use std::sync::Arc;

        use shared::store::Store;
        use shared::store::memory::MemoryStore;

        async fn store() -> (Arc<dyn Store>, ()) {
            (Arc::new(MemoryStore::new()), ())
        }

        shared::store_conformance!(tests: store);
    }

    mod postgres {
        use std::sync::Arc;

        use shared::store::Store;
        use testkit::db::TestDatabase;

        /// Every check gets its own database: nextest runs each test in its own process.
        async fn store() -> (Arc<dyn Store>, TestDatabase) {
            let (store, db) = crate::migrated_postgres().await;
            (Arc::new(store), db)
        }

        shared::store_conformance!(tests: store);
    }
}

/// Every check uses fresh ids, so the whole suite passes twice over on one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suite_passes_twice_on_one_postgres_database() {
    let (store, _db) = migrated_postgres().await;
    let store: Arc<dyn Store> = Arc::new(store);
    shared::store::conformance::run_all(store.clone()).await;
    shared::store::conformance::run_all(store).await;
}

/// Every receipt is durable before its id is handed out, whatever the database's default:
/// the receipts function turns an operator's `synchronous_commit = off` back on for its
/// own transaction, and a receipt stored through a pool whose database defaults to off
/// is there.
#[tokio::test]
async fn receipts_commit_synchronously_even_where_the_database_says_otherwise() {
    let (store, db) = migrated_postgres().await;
    let client = db.connect().await;
    client.batch_execute("begin; set local synchronous_commit = off").await.expect("begin");
    let empty = "'{}'";
    let call = format!("select connector_insert_receipts({})", [empty; 12].join(", "));
    client.batch_execute(&call).await.expect("the receipts function");
    let mode: String =
        client.query_one("select current_setting('synchronous_commit')", &[]).await.expect("setting").get(0);
    assert_eq!(mode, "local", "the receipts function must commit synchronously");
    client.batch_execute("rollback").await.expect("rollback");

    client.batch_execute(&format!("alter database {} set synchronous_commit = off", db.name())).await.expect("alter");
    drop(store);
    let store = PgStore::connect(db.url(), false).expect("pool builds");
    assert_eq!(store.setting("synchronous_commit").await.expect("setting"), "off", "the database's default is off");
    let receipt = a_receipt(UserId::random(), chrono::Utc::now());
    store.insert_receipts(std::slice::from_ref(&receipt)).await.expect("insert");
    assert!(store.get_receipt(receipt.id, receipt.user_id).await.expect("read").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_respect_an_existing_profiles_table() {
    let db = TestDatabase::create().await;
    // Dexter's Supabase project: profiles exists, with its own columns and rows.
    let user_id = UserId::random();
    let client = db.connect().await;
    client
        .batch_execute(&format!(
            "create table profiles (id uuid primary key, username text not null); \
             insert into profiles (id, username) values ('{user_id}', 'alice');"
        ))
        .await
        .expect("Supabase-like profiles table");

    // Two migrators at once (two deploys): the lock makes them take turns.
    let (first, second) = tokio::join!(migrate::run(db.url(), false), migrate::run(db.url(), false));
    let mut applied = first.expect("first migrator");
    applied.extend(second.expect("second migrator"));
    applied.sort();
    let all: Vec<String> = MIGRATIONS.iter().map(|m| m.name.to_owned()).collect();
    assert_eq!(applied, all, "every migration applied exactly once");
    assert!(migrate::run(db.url(), false).await.expect("third run").is_empty());

    // Dexter's columns and rows are untouched; ours arrived with their defaults.
    let row = client
        .query_typed_one(
            "select username, tier, channels from profiles where id = $1",
            &[(&user_id, tokio_postgres::types::Type::UUID)],
        )
        .await
        .expect("alice is still there");
    assert_eq!(row.get::<_, String>("username"), "alice");
    assert_eq!(row.get::<_, String>("tier"), "free");
    assert_eq!(row.get::<_, serde_json::Value>("channels"), serde_json::json!({}));

    let store = PgStore::connect(db.url(), false).expect("pool builds");
    let profile = store.get_profile(user_id).await.expect("profile reads").expect("alice");
    assert_eq!(profile.tier, "free");
    assert_eq!(store.tier_tools("pro").await.expect("seeded").len(), 9);
}
