//! `careflow backup` and `careflow restore` of a PostgreSQL site (`pg_dump
//! --format=custom`, `pg_restore` into an empty database), each test on databases of
//! its own on the server at 127.0.0.1:5432: the restored database has every row of the
//! source and an audit chain that verifies; a restore into a database that is not
//! empty, and a damaged backup, are refused with the reason and leave no data directory.

use std::collections::BTreeMap;

use sqlx::Row;

use careflow::backup;
use careflow_store::{audit, hospital, users, Db};
use careflow_testkit::db::PgDatabase;
use careflow_types::Role;

/// Rows per table of the public schema (migrations' bookkeeping aside).
async fn counts(db: &Db) -> BTreeMap<String, i64> {
    let tables: Vec<String> = sqlx::query(
        "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations' ORDER BY table_name",
    )
    .fetch_all(db.pool())
    .await
    .expect("tables")
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let mut out = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM \"{t}\""))
            .fetch_one(db.pool())
            .await
            .expect("count")
            .get(0);
        out.insert(t, n);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_site_is_backed_up_and_restored_with_its_audit_chain() {
    let source = PgDatabase::create("backup_src").await;
    let db = Db::connect(&source.url).await.expect("source opens");
    hospital::seed_layout(&db, &hospital::demo_layout())
        .await
        .expect("layout");
    for (name, role) in [("admin.ada", Role::Admin), ("beds.ben", Role::BedManager)] {
        users::upsert(&db, name, role, "test").await.expect("user");
    }
    let before = counts(&db).await;
    let entries = audit::verify(&db).await.expect("verify").entries;
    assert!(entries > 0, "the source has an audit trail");
    assert!(before["beds"] > 100, "{before:?}");
    db.close().await;

    let dir = tempfile::tempdir().expect("tmp");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let file = dir.path().join("pg.careflow-backup");
    let manifest = backup::backup(&site, &source.url, &file)
        .await
        .expect("backup");
    assert_eq!(manifest.backend, "postgres");
    assert!(manifest
        .files
        .iter()
        .any(|f| f.name == backup::DOMAIN_PGDUMP));

    // The backup anchors the chain with the site's audit key; restore checks against it.
    let key = backup::RestoreKey::File(site.join(careflow_store::anchor::KEY_FILE));
    // Into an empty database: every row, and a chain that verifies.
    let target = PgDatabase::create("backup_dst").await;
    let restored_dir = dir.path().join("restored");
    backup::restore(&file, &restored_dir, Some(&target.url), &key)
        .await
        .expect("restore");
    assert!(restored_dir.is_dir());
    let restored = Db::connect(&target.url).await.expect("restored opens");
    assert_eq!(counts(&restored).await, before);
    let v = audit::verify(&restored).await.expect("verify");
    assert!(v.first_break.is_none(), "{:?}", v.first_break);
    assert_eq!(v.entries, entries);
    restored.close().await;

    // Not into a database that holds tables already.
    let again = dir.path().join("again");
    let err = backup::restore(&file, &again, Some(&target.url), &key)
        .await
        .expect_err("a non-empty database is refused")
        .to_string();
    assert!(err.contains("empty database"), "{err}");
    assert!(!again.exists(), "a refused restore leaves nothing behind");

    // A damaged backup: one byte of the dump changed.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == b"PGDMP")
        .expect("the custom-format dump in the tar file")
        + 200;
    bytes[at] ^= 0x5a;
    let damaged = dir.path().join("damaged.careflow-backup");
    std::fs::write(&damaged, bytes).unwrap();
    let empty = PgDatabase::create("backup_dmg").await;
    let err = backup::restore(&damaged, &dir.path().join("dmg"), Some(&empty.url), &key)
        .await
        .expect_err("a damaged backup is refused");
    let err = format!("{err:#}");
    assert!(err.contains("damaged"), "{err}");
    assert!(!dir.path().join("dmg").exists());
}
