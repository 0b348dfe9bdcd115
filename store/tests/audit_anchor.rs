//! Audit anchors on real SQLite: a chain rewritten with correctly hashed forged rows
//! passes the bare chain check but is caught against the anchor; a forged anchor line
//! is refused; a hostile row with a huge seq is reported, not searched forever.

mod common;

use careflow_store::anchor::{self, AnchorKey};
use careflow_store::audit;
use careflow_types::{AuditBreakKind, NewAuditEntry};

fn entry(n: i64) -> NewAuditEntry {
    NewAuditEntry {
        actor: "beds.ben".into(),
        role: "bed_manager".into(),
        action: "task.approved".into(),
        meaning: Some("approved".into()),
        reason: Some(format!("reason {n}")),
        workflow_id: None,
        step: None,
        input_digest: None,
        output_digest: None,
        idempotency_key: format!("anchor-test/{n}"),
    }
}

#[tokio::test]
async fn anchor_rewrite_is_caught() {
    let (dir, db) = common::sqlite().await;
    let key = AnchorKey::load_or_create(dir.path()).expect("key");
    let path = anchor::anchor_file(dir.path());
    for n in 1..=6 {
        audit::append_one(&db, entry(n)).await.expect("append");
    }
    let a = anchor::write_anchor(&db, &key, &path)
        .await
        .expect("anchor")
        .expect("a new anchor");
    assert_eq!(a.seq, 6);
    // The attacker drops the triggers and rebuilds the whole chain with entry 3 changed,
    // every hash recomputed, and the head moved.
    for t in [
        "audit_log_no_update",
        "audit_log_no_delete",
        "audit_head_no_delete",
        "audit_head_first",
        "audit_head_advance",
    ] {
        sqlx::query(&format!("DROP TRIGGER {t}"))
            .execute(db.pool())
            .await
            .expect("drop trigger");
    }
    sqlx::query("DELETE FROM audit_log")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_head")
        .execute(db.pool())
        .await
        .unwrap();
    for n in 1..=6 {
        let mut e = entry(n);
        if n == 3 {
            e.reason = Some("forged reason".into());
        }
        audit::append_one(&db, e).await.expect("forged append");
    }
    let bare = audit::verify(&db).await.expect("verify");
    assert_eq!(
        bare.first_break, None,
        "the bare chain cannot see the rewrite"
    );
    let anchored = anchor::verify(&db, &key, &path)
        .await
        .expect("anchored verify");
    let b = anchored.verification.first_break.expect("rewrite caught");
    assert_eq!(b.kind, AuditBreakKind::Edited);
    assert!(
        b.detail.contains("rewritten") && b.detail.contains("1..6"),
        "{}",
        b.detail
    );
    // A forged chain is never signed.
    assert!(anchor::write_anchor(&db, &key, &path).await.is_err());
}

#[tokio::test]
async fn anchor_with_wrong_mac_is_refused() {
    let (dir, db) = common::sqlite().await;
    let key = AnchorKey::load_or_create(dir.path()).expect("key");
    let path = anchor::anchor_file(dir.path());
    audit::append_one(&db, entry(1)).await.expect("append");
    anchor::write_anchor(&db, &key, &path)
        .await
        .expect("anchor");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"seq\":1", "\"seq\":2")).unwrap();
    let err = anchor::verify(&db, &key, &path)
        .await
        .expect_err("forged anchor");
    assert!(err.to_string().contains("line 1"), "{err}");
    let other = AnchorKey::from_hex(&"11".repeat(32), "test").unwrap();
    std::fs::write(&path, text).unwrap();
    assert!(
        anchor::read_anchors(&path, &other).is_err(),
        "wrong key must fail"
    );
    assert_eq!(anchor::read_anchors(&path, &key).unwrap().len(), 1);
}

#[tokio::test]
async fn hostile_huge_seq_is_reported() {
    let (_dir, db) = common::sqlite().await;
    audit::append_one(&db, entry(1)).await.expect("append");
    sqlx::query(
        "INSERT INTO audit_log (seq, recorded_at, actor, role, action, idempotency_key, prev_hash, hash) \
         VALUES ($1, 'x', 'mallory', 'admin', 'forged', 'k', 'p', 'h')",
    )
    .bind(i64::MAX)
    .execute(db.pool())
    .await
    .expect("insert hostile row");
    let v = audit::verify(&db).await.expect("verify");
    let b = v.first_break.expect("break found");
    assert_eq!(b.seq, i64::MAX);
    assert_eq!(b.kind, AuditBreakKind::Edited);
}

#[tokio::test]
async fn sqlite_head_only_advances_to_the_next_entry() {
    let (_dir, db) = common::sqlite().await;
    for n in 1..=3 {
        audit::append_one(&db, entry(n)).await.expect("append");
    }
    for sql in [
        "UPDATE audit_head SET seq = 2",
        "UPDATE audit_head SET hash = 'forged'",
        "DELETE FROM audit_head",
    ] {
        let err = sqlx::query(sql)
            .execute(db.pool())
            .await
            .expect_err("the head is guarded");
        assert!(err.to_string().contains("audit_head"), "{sql}: {err}");
    }
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}
