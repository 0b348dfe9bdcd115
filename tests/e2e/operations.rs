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
    assert_eq!((code, h.database.as_str(), h.temporal.as_str()), (200, "ok", "ok"), "{h:?}");

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
        accepted.push(launch(&clerk, n, &req, Duration::from_secs(60)).await.accepted);
    }
    let (status, took) = node.terminate(Duration::from_secs(60)).await;
    assert!(status.success(), "SIGTERM must end careflow with 0, got {status}");
    assert!(
        took < Duration::from_secs(40),
        "drained in {took:?}, bound is --drain-seconds 30 + 10"
    );
    let log = node.log_tail("serve.log", 60);
    assert!(log.contains("SIGTERM: draining"), "{log}");

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
