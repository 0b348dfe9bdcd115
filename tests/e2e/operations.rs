//! Operating careflow: `/api/health` asks the database and Temporal each time (503
//! naming Temporal while the embedded server is down, 200 again once careflow's
//! supervisor has restarted it, without restarting careflow); SIGTERM drains (exit 0
//! within the bound) and leaves an anchor of the final audit head that `careflow audit
//! verify` checks; the admissions in flight at the stop finish after the restart.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use careflow_store::anchor;
use careflow_store::Db;
use careflow_types::{Health, Role};

use crate::common::*;

/// GET /api/health: status code and body.
async fn health(node: &Node) -> Option<(u16, Health)> {
    let r = reqwest::Client::new()
        .get(format!("{}/api/health", node.api()))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    let code = r.status().as_u16();
    Some((code, r.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_follows_temporal_and_sigterm_drains_with_an_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(&db, &layout(2), &[("clerk.e2e", Role::AdmissionsClerk)]).await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let clerk = node.client(&tokens["clerk.e2e"]);

    let (code, h) = health(&node).await.expect("health answers");
    assert_eq!(
        (code, h.database.as_str(), h.temporal.as_str()),
        (200, "ok", "ok"),
        "{h:?}"
    );

    // The embedded Temporal server dies: health names it, then recovers by itself.
    let temporal = node.temporal_pid().expect("embedded Temporal pid");
    kill_pid(temporal);
    let down = poll(
        "health to report Temporal down",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            node.assert_alive();
            health(&node).await.filter(|(code, _)| *code == 503)
        },
    )
    .await;
    assert!(down.1.temporal.starts_with("down"), "{:?}", down.1);
    assert_eq!(down.1.database, "ok", "{:?}", down.1);
    assert_eq!(down.1.status, "unavailable");
    let back = Instant::now();
    poll(
        "health to recover after the supervisor restarts Temporal",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || async { health(&node).await.filter(|(code, _)| *code == 200) },
    )
    .await;
    assert_ne!(node.temporal_pid(), Some(temporal), "a new Temporal server");
    eprintln!("health back to 200 {:?} after 503", back.elapsed());

    // Admissions that need no person, some still running when SIGTERM arrives.
    let mut accepted = Vec::new();
    for n in 0..6 {
        let req = request(n, 0.0, &mut StdRng::seed_from_u64(n as u64));
        accepted.push(
            launch(&clerk, n, &req, Duration::from_secs(60))
                .await
                .accepted,
        );
    }
    let (status, took) = node.terminate(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "SIGTERM must end careflow with 0, got {status}"
    );
    assert!(
        took < Duration::from_secs(40),
        "drained in {took:?}, bound is --drain-seconds 30 + 10"
    );
    let log = node.log_tail("serve.log", 60);
    assert!(log.contains("SIGTERM: draining"), "{log}");
    // The control of the payload-key test below: without a key, Temporal's database
    // holds the clinical attributes of the requests in clear.
    let specialties: Vec<String> = (0..6)
        .map(|n| request(n, 0.0, &mut StdRng::seed_from_u64(n as u64)).specialty)
        .collect();
    assert!(
        specialties.iter().any(|s| in_temporal_db(&node.dir, s)),
        "without a payload key the specialties {specialties:?} are in clear"
    );

    // The final anchor names the head as careflow left it.
    let head = audit_seq(&db).await;
    let anchors = std::fs::read_to_string(anchor::anchor_file(&node.dir)).expect("anchor file");
    let last: anchor::Anchor =
        serde_json::from_str(anchors.lines().last().expect("an anchor")).expect("anchor line");
    assert_eq!(last.seq, head, "the shutdown anchor names the final head");
    let verified = assert_audit_verifies(&node).await;
    assert!(
        verified.contains(&format!("latest anchor: entry {head} "))
            && verified.contains("0 entries since"),
        "{verified}"
    );

    // Nothing was lost: after the restart every admission finishes.
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    wait_until_all_final(&node, &db, &accepted, Duration::from_secs(120)).await;
    assert_audit_verifies(&node).await;
}

/// Whether `needle` occurs in the embedded Temporal server's database files (the WAL
/// included: recent writes may not be checkpointed yet).
fn in_temporal_db(dir: &std::path::Path, needle: &str) -> bool {
    ["temporal.db", "temporal.db-wal"].iter().any(|f| {
        std::fs::read(dir.join(f))
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            .unwrap_or(false)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_payload_key_temporal_holds_no_clinical_attribute_in_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    node.env
        .push(("CAREFLOW_PAYLOAD_KEY".into(), "5a".repeat(32)));
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(&db, &layout(2), &[("clerk.e2e", Role::AdmissionsClerk)]).await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let clerk = node.client(&tokens["clerk.e2e"]);
    // The requests of the test above, whose specialties it finds in clear without a key.
    let mut accepted = Vec::new();
    let mut specialties = Vec::new();
    for n in 0..6 {
        let req = request(n, 0.0, &mut StdRng::seed_from_u64(n as u64));
        specialties.push(req.specialty.clone());
        accepted.push(
            launch(&clerk, n, &req, Duration::from_secs(60))
                .await
                .accepted,
        );
    }
    wait_until_all_final(&node, &db, &accepted, Duration::from_secs(120)).await;
    // The API decodes what it reads back through the same key.
    let status = clerk
        .admission_status(&accepted[0].workflow_id)
        .await
        .expect("status through the API");
    assert!(
        matches!(
            serde_json::to_value(status.stage).unwrap().as_str(),
            Some("admitted" | "declined")
        ),
        "{status:?}"
    );
    let (status, _) = node.terminate(Duration::from_secs(60)).await;
    assert!(status.success());
    // The dev server is stopped with careflow, so its files are complete now.
    let history = node.dir.join("temporal.db");
    assert!(history.exists());
    let patient_key: String = sqlx::query_scalar("SELECT patient_key FROM admissions LIMIT 1")
        .fetch_one(db.pool())
        .await
        .unwrap();
    for clear in specialties
        .iter()
        .map(String::as_str)
        .chain([patient_key.as_str()])
    {
        assert!(
            !in_temporal_db(&node.dir, clear),
            "{clear:?} found in clear in the Temporal database"
        );
    }
    assert!(
        in_temporal_db(&node.dir, "binary/encrypted"),
        "sealed payloads are stored"
    );
}
