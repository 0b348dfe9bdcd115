//! Least privilege on real PostgreSQL: an owner role migrates the database and grants
//! an application role what careflow needs. The application role appends audit entries
//! (the database advances the head itself) but is refused UPDATE, DELETE and TRUNCATE
//! of `audit_log` and `audit_head`, writing the head, and disabling or dropping their
//! triggers; even the owner cannot move the head anywhere but to the next entry.

use sqlx::Connection;

use careflow_store::{audit, Db};
use careflow_testkit::db::{pg_base, PgDatabase};
use careflow_types::NewAuditEntry;

fn entry(n: i64, who: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: who.into(),
        role: "bed_manager".into(),
        action: "task.approved".into(),
        meaning: Some("approved bed assignment".into()),
        reason: Some(format!("reason {n}")),
        workflow_id: Some(format!("admission-{n}")),
        step: Some("decision".into()),
        input_digest: None,
        output_digest: None,
        idempotency_key: format!("{who}/{n}"),
    }
}

/// `url` with its user replaced by `user` (trust authentication: no password).
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

async fn superuser(url: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(url)
        .await
        .expect("PostgreSQL as the test superuser")
}

async fn run(conn: &mut sqlx::PgConnection, sql: &str) {
    sqlx::query(sql)
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Runs `sql` on `db` and returns the refusal's text; fails the test if it succeeds.
async fn refused(db: &Db, sql: &str) -> String {
    match sqlx::query(sql).execute(db.pool()).await {
        Ok(_) => panic!("{sql}: must be refused"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn application_role_may_only_insert_and_select_audit_rows() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let tag = format!("{}_{nanos:x}", std::process::id());
    let (owner, app) = (format!("cf_owner_{tag}"), format!("cf_app_{tag}"));
    let pg = PgDatabase::create("roles").await;
    let mut admin = superuser(&pg_base()).await;
    run(&mut admin, &format!("CREATE ROLE {owner} LOGIN")).await;
    run(&mut admin, &format!("CREATE ROLE {app} LOGIN")).await;
    run(
        &mut admin,
        &format!("ALTER DATABASE {} OWNER TO {owner}", pg.name),
    )
    .await;
    let mut in_db = superuser(&pg.url).await;
    run(&mut in_db, &format!("ALTER SCHEMA public OWNER TO {owner}")).await;
    let _ = in_db.close().await;

    // The owner migrates and grants; the application connects without migrating.
    let owner_db = Db::connect(&as_user(&pg.url, &owner))
        .await
        .expect("owner migrates");
    audit::append_one(&owner_db, entry(1, "owner"))
        .await
        .expect("owner appends");
    owner_db.grant_application_role(&app).await.expect("grant");
    let app_db = Db::connect_migrated(&as_user(&pg.url, &app))
        .await
        .expect("application connects to the migrated database");

    for n in 2..=4 {
        audit::append_one(&app_db, entry(n, "app"))
            .await
            .expect("the application appends");
    }
    let head: (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(app_db.pool())
        .await
        .expect("the application reads the head");
    let entries = audit::entries(&app_db).await.expect("entries");
    assert_eq!(entries.len(), 4);
    assert_eq!(
        head,
        (4, entries[3].hash.clone()),
        "the database advanced the head"
    );
    assert_eq!(
        audit::verify(&app_db).await.expect("verify").first_break,
        None
    );

    for sql in [
        "UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
        "TRUNCATE audit_log",
        "UPDATE audit_head SET seq = 1",
        "DELETE FROM audit_head",
        "TRUNCATE audit_head",
        "INSERT INTO audit_head (id, seq, hash) VALUES (2, 1, 'x')",
        "DELETE FROM _sqlx_migrations",
    ] {
        let why = refused(&app_db, sql).await;
        assert!(why.contains("permission denied"), "{sql}: {why}");
    }
    for sql in [
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete",
        "ALTER TABLE audit_head DISABLE TRIGGER audit_head_no_rewind",
        "DROP TRIGGER audit_log_no_update_delete ON audit_log",
        "DROP TRIGGER audit_log_advance_head ON audit_log",
    ] {
        let why = refused(&app_db, sql).await;
        assert!(why.contains("must be owner"), "{sql}: {why}");
    }
    // An insert that does not extend the chain from the head is refused by the
    // database, whoever sends it.
    let forged = refused(
        &app_db,
        "INSERT INTO audit_log (seq, recorded_at, actor, role, action, idempotency_key, prev_hash, hash) \
         VALUES (9, 'x', 'mallory', 'admin', 'forged', 'forged', 'p', 'h')",
    )
    .await;
    assert!(forged.contains("does not extend the chain"), "{forged}");
    // The owner is refused moving the head back or deleting it too (its triggers).
    for sql in ["UPDATE audit_head SET seq = 2", "DELETE FROM audit_head"] {
        let why = refused(&owner_db, sql).await;
        assert!(why.contains("only advances"), "{sql}: {why}");
    }
    assert_eq!(
        audit::verify(&app_db).await.expect("verify").first_break,
        None
    );

    app_db.close().await;
    owner_db.close().await;
    drop(pg);
    for role in [&app, &owner] {
        // The database (and the grants in it) went with `pg`; the roles are cluster-wide.
        let _ = sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
            .execute(&mut admin)
            .await;
    }
}

#[tokio::test]
async fn application_role_refuses_an_unmigrated_database() {
    let pg = PgDatabase::create("unmigrated").await;
    let err = Db::connect_migrated(&pg.url)
        .await
        .expect_err("no schema yet");
    assert!(err.to_string().contains("careflow db migrate"), "{err}");
}
