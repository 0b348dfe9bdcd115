//! Real databases for the tests: a temporary SQLite file, and a fresh schema on the
//! PostgreSQL server at 127.0.0.1:5432 (database `test`).

#![allow(dead_code)]

use careflow_activities::Db;

/// PostgreSQL server the tests use (override with CAREFLOW_TEST_PG).
pub fn pg_base() -> String {
    std::env::var("CAREFLOW_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A SQLite database in a temporary directory (kept alive by the returned guard).
pub async fn sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("careflow.db")))
        .await
        .expect("sqlite opens");
    (dir, db)
}

/// A PostgreSQL database in a schema of its own, so tests do not see each other.
pub async fn postgres() -> Db {
    let schema = format!("cf_test_{}", uuid_like());
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&pg_base())
        .await
        .expect("PostgreSQL at 127.0.0.1:5432 (see README)");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let url = format!("{}?options=-c%20search_path%3D{schema}", pg_base());
    Db::connect(&url).await.expect("postgres schema opens")
}

fn uuid_like() -> String {
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).expect("random");
    hex::encode(buf)
}
