//! Fresh domain databases, migrated by [`Db::connect`]: a SQLite file in a temporary
//! directory, a PostgreSQL schema of its own, or a PostgreSQL database of its own, on
//! the server at 127.0.0.1:5432 (database `test`, trust auth; `CAREFLOW_TEST_PG`
//! overrides the URL).

use rand::Rng;
use sqlx::Connection;

use careflow_store::Db;

/// URL of the PostgreSQL database the tests start from.
pub fn pg_base() -> String {
    std::env::var("CAREFLOW_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

async fn admin() -> sqlx::PgConnection {
    let url = pg_base();
    sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {url} (set CAREFLOW_TEST_PG to use another server): {e}")
    })
}

/// The audit key of the test databases (64 hex digits): fixed, so that digests are
/// the same in every handle of a test and a test can recompute them.
pub const TEST_AUDIT_KEY: &str = "5e1f0c4d2b7a69880f3e2d1c0b9a8776655443322110ffeeddccbbaa99887766";

/// The [`careflow_store::anchor::AnchorKey`] of [`TEST_AUDIT_KEY`].
pub fn test_audit_key() -> careflow_store::anchor::AnchorKey {
    careflow_store::anchor::AnchorKey::from_hex(TEST_AUDIT_KEY, "testkit").expect("test key")
}

/// A SQLite database in a temporary directory, which the returned guard keeps.
pub async fn sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("careflow.db")))
        .await
        .expect("SQLite database opens");
    (dir, db.with_audit_key(&test_audit_key()))
}

/// A PostgreSQL database in a schema of its own (`cf_test_<random>`), so that tests do
/// not see each other's rows. The schema is left behind for inspection.
pub async fn postgres() -> Db {
    let schema = format!("cf_test_{:016x}", rand::rng().random::<u64>());
    let mut admin = admin().await;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let _ = admin.close().await;
    let url = format!("{}?options=-c%20search_path%3D{schema}", pg_base());
    Db::connect(&url)
        .await
        .expect("PostgreSQL schema opens")
        .with_audit_key(&test_audit_key())
}

/// A PostgreSQL database of its own for one test, dropped (connections and all) when
/// this guard drops. A database rather than a schema where careflow processes share it:
/// careflow's writer lock is a database-wide advisory lock, and a database of its own
/// keeps the test from queueing behind other tests' writers.
pub struct PgDatabase {
    /// Its name, `cf_test_<tag>_<random>`.
    pub name: String,
    /// The URL to connect to it.
    pub url: String,
}

impl PgDatabase {
    /// Creates the database (empty: careflow migrates it on connect).
    pub async fn create(tag: &str) -> Self {
        let name = format!("cf_test_{tag}_{:08x}", rand::rng().random::<u32>());
        let mut admin = admin().await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let base = pg_base();
        let (prefix, _) = base
            .rsplit_once('/')
            .expect("CAREFLOW_TEST_PG is a URL ending in /DATABASE");
        let url = format!("{prefix}/{name}");
        Self { name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: the async clean-up gets a thread and a
        // runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&pg_base()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}
