//! The audit trail on real SQLite and PostgreSQL: one unbroken chain under concurrent
//! writers, idempotent appends, append-only enforcement, and tamper detection that
//! names the exact entry.

mod common;

use careflow_store::{audit, Db};
use careflow_types::{AuditBreakKind, NewAuditEntry};

fn entry(n: usize, who: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: who.into(),
        role: "bed_manager".into(),
        action: "task.approved".into(),
        meaning: Some("approved bed assignment".into()),
        reason: Some(format!("reason {n}")),
        workflow_id: Some(format!("admission-{n}")),
        step: Some("decision".into()),
        input_digest: Some(audit::sha256_json(&n)),
        output_digest: None,
        idempotency_key: format!("{who}/{n}"),
    }
}

/// Eight writers append 25 entries each at once; the result is one chain of 200.
async fn concurrent_writers_build_one_chain(db: &Db) {
    let mut handles = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            for n in 0..25 {
                audit::append_one(&db, entry(n, &format!("writer{w}")))
                    .await
                    .expect("append");
            }
        }));
    }
    for h in handles {
        h.await.expect("writer task");
    }
    let v = audit::verify(db).await.expect("verify");
    assert_eq!(v.entries, 200);
    assert_eq!(v.first_break, None, "chain must be intact");
    let all = audit::entries(db).await.expect("entries");
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
}

/// A retried step (same key) gets the first entry back and writes nothing new.
async fn retried_append_writes_once(db: &Db) {
    let first = audit::append_one(db, entry(1, "retry"))
        .await
        .expect("append");
    let mut again = entry(1, "retry");
    again.reason = Some("a retry with other details".into());
    let second = audit::append_one(db, again).await.expect("append again");
    assert_eq!(first, second);
    assert_eq!(audit::entries(db).await.expect("entries").len(), 1);
}

/// UPDATE and DELETE on the audit table are refused by the database itself.
async fn database_refuses_update_and_delete(db: &Db) {
    audit::append_one(db, entry(1, "a")).await.expect("append");
    let upd = sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
        .execute(db.pool())
        .await;
    let err = upd.expect_err("update must be refused").to_string();
    assert!(err.contains("append-only"), "unexpected error: {err}");
    let del = sqlx::query("DELETE FROM audit_log WHERE seq = 1")
        .execute(db.pool())
        .await;
    assert!(del
        .expect_err("delete must be refused")
        .to_string()
        .contains("append-only"));
    assert_eq!(audit::verify(db).await.expect("verify").first_break, None);
}

#[tokio::test]
async fn sqlite_concurrent_writers_build_one_chain() {
    let (_dir, db) = common::sqlite().await;
    concurrent_writers_build_one_chain(&db).await;
}

#[tokio::test]
async fn postgres_concurrent_writers_build_one_chain() {
    let db = common::postgres().await;
    concurrent_writers_build_one_chain(&db).await;
}

#[tokio::test]
async fn sqlite_retried_append_writes_once() {
    let (_dir, db) = common::sqlite().await;
    retried_append_writes_once(&db).await;
}

#[tokio::test]
async fn postgres_retried_append_writes_once() {
    let db = common::postgres().await;
    retried_append_writes_once(&db).await;
}

#[tokio::test]
async fn sqlite_refuses_update_and_delete() {
    let (_dir, db) = common::sqlite().await;
    database_refuses_update_and_delete(&db).await;
}

#[tokio::test]
async fn postgres_refuses_update_delete_and_truncate() {
    let db = common::postgres().await;
    database_refuses_update_and_delete(&db).await;
    let trunc = sqlx::query("TRUNCATE audit_log").execute(db.pool()).await;
    assert!(trunc
        .expect_err("truncate must be refused")
        .to_string()
        .contains("append-only"));
}

/// A trail of ten entries on SQLite whose append-only triggers an attacker with file
/// access has dropped, ready to be tampered with.
async fn tamperable_trail() -> (tempfile::TempDir, Db) {
    let (dir, db) = common::sqlite().await;
    for n in 1..=10 {
        audit::append_one(&db, entry(n, "ben"))
            .await
            .expect("append");
    }
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
    for t in ["audit_log_no_update", "audit_log_no_delete"] {
        sqlx::query(&format!("DROP TRIGGER {t}"))
            .execute(db.pool())
            .await
            .expect("drop trigger");
    }
    (dir, db)
}

async fn first_break(db: &Db) -> (i64, AuditBreakKind, String) {
    let b = audit::verify(db)
        .await
        .expect("verify")
        .first_break
        .expect("tampering must be detected");
    (b.seq, b.kind, b.detail)
}

#[tokio::test]
async fn edited_entry_is_named() {
    let (_dir, db) = tamperable_trail().await;
    sqlx::query("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 7")
        .execute(db.pool())
        .await
        .expect("tamper");
    let (seq, kind, detail) = first_break(&db).await;
    assert_eq!((seq, kind), (7, AuditBreakKind::Edited));
    assert!(detail.contains("entry 7"), "{detail}");
}

#[tokio::test]
async fn deleted_entry_is_named() {
    let (_dir, db) = tamperable_trail().await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 4")
        .execute(db.pool())
        .await
        .expect("tamper");
    let (seq, kind, detail) = first_break(&db).await;
    assert_eq!((seq, kind), (4, AuditBreakKind::Deleted));
    assert!(detail.contains("4..4"), "{detail}");
}

#[tokio::test]
async fn truncated_tail_is_named() {
    let (_dir, db) = tamperable_trail().await;
    sqlx::query("DELETE FROM audit_log WHERE seq >= 9")
        .execute(db.pool())
        .await
        .expect("tamper");
    let (seq, kind, _) = first_break(&db).await;
    assert_eq!((seq, kind), (9, AuditBreakKind::Truncated));
}

#[tokio::test]
async fn reordered_entries_are_named() {
    let (_dir, db) = tamperable_trail().await;
    // Swap entries 5 and 6 (through a free sequence number, as the key is unique).
    for (from, to) in [(5, 1000), (6, 5), (1000, 6)] {
        sqlx::query("UPDATE audit_log SET seq = $1 WHERE seq = $2")
            .bind(to as i64)
            .bind(from as i64)
            .execute(db.pool())
            .await
            .expect("tamper");
    }
    let (seq, kind, detail) = first_break(&db).await;
    assert_eq!((seq, kind), (5, AuditBreakKind::Reordered), "{detail}");
}

#[tokio::test]
async fn inserted_entry_is_named() {
    let (_dir, db) = tamperable_trail().await;
    // Make room at 4 and forge a well-formed entry there that chains to entry 3.
    for s in (4..=10).rev() {
        sqlx::query("UPDATE audit_log SET seq = $1 WHERE seq = $2")
            .bind(s as i64 + 1)
            .bind(s as i64)
            .execute(db.pool())
            .await
            .expect("tamper");
    }
    let all = audit::entries(&db).await.expect("entries");
    let third = all.iter().find(|e| e.seq == 3).expect("entry 3").clone();
    let mut forged = third.clone();
    forged.seq = 4;
    forged.actor = "mallory".into();
    forged.idempotency_key = "forged".into();
    forged.prev_hash = third.hash.clone();
    forged.hash = audit::entry_hash(&forged);
    sqlx::query(
        "INSERT INTO audit_log (seq, recorded_at, actor, role, action, meaning, reason, workflow_id, step, \
         input_digest, output_digest, idempotency_key, prev_hash, hash) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
    )
    .bind(forged.seq)
    .bind(&forged.recorded_at)
    .bind(&forged.actor)
    .bind(&forged.role)
    .bind(&forged.action)
    .bind(&forged.meaning)
    .bind(&forged.reason)
    .bind(&forged.workflow_id)
    .bind(&forged.step)
    .bind(&forged.input_digest)
    .bind(&forged.output_digest)
    .bind(&forged.idempotency_key)
    .bind(&forged.prev_hash)
    .bind(&forged.hash)
    .execute(db.pool())
    .await
    .expect("forge");
    let (seq, kind, detail) = first_break(&db).await;
    assert_eq!((seq, kind), (4, AuditBreakKind::Inserted), "{detail}");
}

#[tokio::test]
async fn deletion_hidden_by_renumbering_is_named() {
    let (_dir, db) = tamperable_trail().await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 6")
        .execute(db.pool())
        .await
        .expect("tamper");
    for s in 7..=10 {
        sqlx::query("UPDATE audit_log SET seq = $1 WHERE seq = $2")
            .bind(s as i64 - 1)
            .bind(s as i64)
            .execute(db.pool())
            .await
            .expect("tamper");
    }
    let (seq, kind, detail) = first_break(&db).await;
    assert_eq!((seq, kind), (6, AuditBreakKind::Deleted), "{detail}");
}
