//! Backup under load and restore: `careflow backup` while admissions are launched and
//! wait for a bed manager, `careflow restore` into a fresh data directory, then
//! careflow started there carries the restored workflows on to the end. The backup
//! carries the audit anchors (never the key): restore needs the site's audit key,
//! checks the restored chain against them and puts them in place, so `careflow audit
//! verify` on the restored site checks against the anchor of the snapshot. A damaged
//! backup, a foreign file, a missing or wrong audit key and a non-empty data directory
//! are refused with the reason and leave nothing behind.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use sqlx::Row;

use careflow::backup::{Manifest, MANIFEST};
use careflow_store::Db;
use careflow_types::Role;

use crate::common::*;

const TOTAL: usize = 16;

fn manifest_of(file: &std::path::Path) -> Manifest {
    let mut archive = tar::Archive::new(std::fs::File::open(file).unwrap());
    let mut first = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(first.path().unwrap().to_string_lossy(), MANIFEST);
    let mut text = String::new();
    first.read_to_string(&mut text).unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn counts(db: &Db, tables: &[&str]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for t in tables {
        out.insert((*t).to_owned(), count(db, t).await);
    }
    out
}

fn failed_with(out: &std::process::Output, what: &str, mentions: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what}: must be refused");
    assert!(
        stderr.contains(mentions),
        "{what}: the error must say '{mentions}': {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_load_restores_verifies_and_carries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(
        &db,
        &layout(1),
        &[
            ("clerk.e2e", Role::AdmissionsClerk),
            ("beds.e2e", Role::BedManager),
        ],
    )
    .await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let clerk = node.client(&tokens["clerk.e2e"]);

    // Half the admissions need a bed manager, who does not work before the backup:
    // their workflows are waiting in the snapshot and must finish after the restore.
    let accepted: Arc<Mutex<Vec<Accepted>>> = Arc::default();
    let launcher = {
        let (clerk, accepted) = (clerk.clone(), accepted.clone());
        tokio::spawn(async move {
            for n in 0..TOTAL {
                let req = request(n, 0.5, &mut StdRng::seed_from_u64(n as u64));
                let launched = launch(&clerk, n, &req, Duration::from_secs(60)).await;
                accepted.lock().unwrap().push(launched.accepted);
            }
        })
    };
    poll(
        "a few admissions to be accepted",
        Duration::from_secs(120),
        Duration::from_millis(100),
        || async { (accepted.lock().unwrap().len() >= 4).then_some(()) },
    )
    .await;
    // Accepted means the workflow started; its admission row is written by the
    // workflow's first activity, which on a slow machine comes a moment later.
    poll(
        "the first admissions to reach the store",
        Duration::from_secs(120),
        Duration::from_millis(100),
        || {
            let db = &db;
            async move { (count(db, "admissions").await >= 2).then_some(()) }
        },
    )
    .await;
    let file = tmp.path().join("site.careflow-backup");
    let file_arg = file.display().to_string();
    let out = node.cli(&["backup", "--out", &file_arg]).await;
    let printed = stdout(&out, "careflow backup under load");
    println!("backup: {printed}");
    launcher.await.unwrap();
    let launched_before_stop = accepted.lock().unwrap().len();
    assert_eq!(launched_before_stop, TOTAL);
    node.kill();
    drop(node);

    let manifest = manifest_of(&file);
    assert_eq!(manifest.format, "careflow-backup");
    let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["temporal.db", "careflow.db", "audit.anchors"]);
    assert!(manifest.audit_entries > 0);
    assert_eq!(
        manifest.anchored,
        Some(manifest.audit_entries),
        "the snapshot's own head is anchored in the backup"
    );
    assert!(
        manifest.counts["admissions"] > 0,
        "taken while admissions ran"
    );

    // Refusals first: each leaves the target empty.
    let fresh = tmp.path().join("refused");
    let refused = Node::new(&fresh, None);
    let mut damaged = std::fs::read(&file).unwrap();
    let at = damaged.len() - 4096;
    damaged[at] ^= 0x5a;
    let damaged_file = tmp.path().join("damaged.careflow-backup");
    std::fs::write(&damaged_file, &damaged).unwrap();
    let out = refused
        .cli(&["restore", &damaged_file.display().to_string()])
        .await;
    failed_with(&out, "a damaged backup", "damaged");
    let foreign = tmp.path().join("foreign.tar");
    std::fs::write(&foreign, b"PK\x03\x04 this is a zip file, not careflow's").unwrap();
    let out = refused
        .cli(&["restore", &foreign.display().to_string()])
        .await;
    failed_with(&out, "a foreign file", "not a careflow backup");
    assert_eq!(
        std::fs::read_dir(&fresh).unwrap().count(),
        0,
        "a refused restore leaves nothing in the data directory"
    );
    let out = refused.cli(&["restore", &file_arg]).await;
    failed_with(
        &out,
        "an anchored backup without the audit key",
        "audit key",
    );
    let wrong_key = tmp.path().join("wrong.key");
    std::fs::write(&wrong_key, "11".repeat(32)).unwrap();
    let out = refused
        .cli(&[
            "restore",
            &file_arg,
            "--audit-key",
            &wrong_key.display().to_string(),
        ])
        .await;
    failed_with(&out, "an anchored backup with a wrong key", "wrong key");
    assert_eq!(
        std::fs::read_dir(&fresh).unwrap().count(),
        0,
        "a refused restore leaves nothing in the data directory"
    );
    std::fs::write(fresh.join("careflow.db"), b"someone's data").unwrap();
    let out = refused.cli(&["restore", &file_arg]).await;
    failed_with(&out, "a non-empty data directory", "not empty");
    drop(refused);

    // Restore into a fresh data directory: the same counts, a chain that verifies.
    let mut restored = Node::new(&tmp.path().join("restored"), None);
    let site_key = tmp.path().join("data").join("audit.key");
    let out = restored
        .cli(&[
            "restore",
            &file_arg,
            "--audit-key",
            &site_key.display().to_string(),
        ])
        .await;
    println!("restore: {}", stdout(&out, "careflow restore"));
    assert_eq!(
        std::fs::read(tmp.path().join("restored").join("audit.key")).unwrap(),
        std::fs::read(&site_key).unwrap(),
        "the site's key is put in place"
    );
    let rdb = Db::connect(&restored.database_url()).await.unwrap();
    let tables: Vec<&str> = manifest.counts.keys().map(String::as_str).collect();
    assert_eq!(counts(&rdb, &tables).await, manifest.counts);
    let verified = assert_audit_verifies(&restored).await;
    println!("backup: audit {verified}");
    assert!(
        verified.contains(&format!(
            "latest anchor: entry {} at",
            manifest.audit_entries
        )),
        "audit verify on the restored site checks against the backup's anchor: {verified}"
    );

    // careflow on the restored site: the workflows of the snapshot carry on.
    restored.spawn_serve();
    restored.wait_ready(Duration::from_secs(120)).await;
    let in_snapshot: Vec<Accepted> =
        sqlx::query("SELECT admission_id, workflow_id FROM admissions")
            .fetch_all(rdb.pool())
            .await
            .unwrap()
            .iter()
            .enumerate()
            .map(|(n, r)| Accepted {
                n,
                admission_id: r.get(0),
                workflow_id: r.get(1),
            })
            .collect();
    let waiting = in_snapshot.len()
        - admission_statuses(&rdb)
            .await
            .values()
            .filter(|s| FINAL.contains(&s.as_str()))
            .count();
    let bed_manager = restored.client(&tokens["beds.e2e"]);
    let statuses_done = || async {
        let now = admission_statuses(&rdb).await;
        now.values().all(|s| FINAL.contains(&s.as_str()))
    };
    let mut decided = 0;
    for _ in 0..600 {
        restored.assert_alive();
        let (a, d) = work_queue(&bed_manager).await;
        decided += a + d;
        if statuses_done().await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_until_all_final(&restored, &rdb, &in_snapshot, Duration::from_secs(120)).await;
    assert!(
        waiting > 0 && decided > 0,
        "the snapshot must hold admissions still waiting ({waiting}) that are decided after the restore ({decided})"
    );
    assert_eq!(
        restored
            .workflow_count("ExecutionStatus!=\"Completed\"")
            .await,
        0,
        "restored workflows failed, timed out or were terminated"
    );
    println!(
        "backup: {} admissions in the snapshot, {waiting} still open, {decided} decided after the restore; audit {}",
        in_snapshot.len(),
        assert_audit_verifies(&restored).await
    );
    rdb.close().await;
    db.close().await;
}
