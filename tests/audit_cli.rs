//! `careflow audit verify` run as the binary on a SQLite data directory whose trail was
//! anchored (as `careflow serve` anchors it): intact, it names the latest anchor; after
//! an attacker with write access to the database rebuilds the chain with a forged entry,
//! every hash recomputed and the head moved, the chain alone still verifies (shown by
//! running without the key) but against the anchor the rewrite is named and the exit
//! status is 1.

use std::path::Path;
use std::process::{Command, Output};

use careflow_store::anchor::{self, AnchorKey};
use careflow_store::{audit, Db};
use careflow_types::NewAuditEntry;

fn verify(data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_careflow"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["audit", "verify"])
        .env_remove(anchor::KEY_ENV)
        .env_remove("CAREFLOW_DATABASE")
        .output()
        .expect("careflow runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn decision(n: i64, reason: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: "beds.ben".into(),
        role: "bed_manager".into(),
        action: "task.approved".into(),
        meaning: Some("approved".into()),
        reason: Some(reason.into()),
        workflow_id: Some(format!("admission-{n}")),
        step: Some("approval".into()),
        input_digest: None,
        output_digest: None,
        idempotency_key: format!("audit-cli/{n}"),
    }
}

/// What someone who can write the SQLite file can do: drop every trigger, empty the
/// trail and its head, and append a rebuilt trail through careflow's own code.
async fn rewrite(db: &Db, forged_at: i64, count: i64) {
    let triggers: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(db.pool())
            .await
            .unwrap();
    for t in triggers {
        sqlx::query(&format!("DROP TRIGGER {t}"))
            .execute(db.pool())
            .await
            .unwrap();
    }
    for table in ["audit_log", "audit_head"] {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(db.pool())
            .await
            .unwrap();
    }
    for n in 1..=count {
        let reason = if n == forged_at {
            "patient refused the bed".to_owned()
        } else {
            format!("ward {n} had room")
        };
        audit::append_one(db, decision(n, &reason)).await.unwrap();
    }
}

#[tokio::test]
async fn audit_verify_names_a_rewrite_caught_by_the_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = Db::connect(&Db::sqlite_url(&dir.join("careflow.db")))
        .await
        .unwrap();
    for n in 1..=5 {
        audit::append_one(&db, decision(n, &format!("ward {n} had room")))
            .await
            .unwrap();
    }
    let key = AnchorKey::load_or_create(dir).unwrap();
    let anchored = anchor::write_anchor(&db, &key, &anchor::anchor_file(dir))
        .await
        .unwrap()
        .expect("an anchor of entry 5");
    assert_eq!(anchored.seq, 5);
    let before = audit::entries(&db).await.unwrap();
    // Entries after the anchor are reported as not yet anchored.
    audit::append_one(&db, decision(6, "ward 6 had room"))
        .await
        .unwrap();

    let out = verify(dir);
    assert!(out.status.success(), "intact trail: {}", stdout(&out));
    assert!(
        stdout(&out).contains("6 entries verified")
            && stdout(&out).contains("latest anchor: entry 5")
            && stdout(&out).contains("1 entries since"),
        "{}",
        stdout(&out)
    );

    rewrite(&db, 3, 6).await;
    let after = audit::entries(&db).await.unwrap();
    assert_ne!(
        before[2].hash, after[2].hash,
        "entry 3 was rebuilt with other content"
    );
    assert_eq!(
        audit::verify(&db).await.unwrap().first_break,
        None,
        "the rebuilt chain is internally consistent"
    );

    // Without the key only the chain can be checked, and the forgery passes: this is
    // what the anchor adds.
    std::fs::rename(dir.join(anchor::KEY_FILE), dir.join("key.aside")).unwrap();
    let out = verify(dir);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("no anchor key"), "{}", stdout(&out));
    std::fs::rename(dir.join("key.aside"), dir.join(anchor::KEY_FILE)).unwrap();

    let out = verify(dir);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rewrite must fail verify: {}",
        stdout(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("BROKEN") && text.contains("rewritten") && text.contains("entries 1..5"),
        "verify must name the rewritten range: {text}"
    );
}
