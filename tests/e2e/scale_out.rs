//! Scale-out: one Temporal server (embedded by `careflow serve`), one PostgreSQL
//! database, two worker processes (the one inside `serve` and a `careflow worker`).
//! Both must execute work, and nothing may run twice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use careflow_store::Db;
use careflow_types::Role;

use crate::common::*;

const TOTAL: usize = 60;
const LAUNCHERS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_share_the_work_on_postgres() {
    let pg = PgDatabase::create("scale").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), Some(pg.url.clone()));
    let db = Db::connect(&pg.url)
        .await
        .expect("fresh PostgreSQL database");
    let tokens = seed(
        &db,
        &layout(1),
        &[
            ("clerk.e2e", Role::AdmissionsClerk),
            ("beds.e2e", Role::BedManager),
        ],
    )
    .await;
    let serve_pid = node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let worker_pid = node.spawn_worker("worker2");

    // Both workers poll the task queue before any work exists, so the split is the
    // server's doing and not a head start.
    let identities = [
        format!("careflow@{serve_pid}"),
        format!("careflow@{worker_pid}"),
    ];
    poll(
        "both workers to poll the task queue",
        Duration::from_secs(120),
        Duration::from_millis(250),
        || async {
            node.assert_alive();
            let out = node
                .temporal(&[
                    "task-queue",
                    "describe",
                    "--task-queue",
                    "careflow",
                    "-o",
                    "json",
                ])
                .await;
            identities
                .iter()
                .all(|id| out.contains(id.as_str()))
                .then_some(())
        },
    )
    .await;

    let clerk = node.client(&tokens["clerk.e2e"]);
    let bed_manager = node.client(&tokens["beds.e2e"]);
    let stop = Arc::new(AtomicBool::new(false));
    let approver = {
        let (stop, bed_manager) = (stop.clone(), bed_manager.clone());
        tokio::spawn(async move {
            let mut approved = 0;
            while !stop.load(Ordering::SeqCst) {
                approved += work_queue(&bed_manager).await.0;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            approved
        })
    };
    let started = Instant::now();
    let accepted: Arc<Mutex<Vec<Accepted>>> = Arc::default();
    let mut launchers = Vec::new();
    for l in 0..LAUNCHERS {
        let (clerk, accepted) = (clerk.clone(), accepted.clone());
        launchers.push(tokio::spawn(async move {
            for n in (l..TOTAL).step_by(LAUNCHERS) {
                let req = request(n, 0.15, &mut StdRng::seed_from_u64(n as u64));
                let launched = launch(&clerk, n, &req, Duration::from_secs(60)).await;
                assert!(!launched.ambiguous, "nothing is killed here");
                accepted.lock().unwrap().push(launched.accepted);
            }
        }));
    }
    for l in launchers {
        l.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    wait_until_all_final(&node, &db, &accepted, Duration::from_secs(240)).await;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let approved = approver.await.unwrap();

    // Who did the work: the identity of every started activity and workflow task.
    let h = histories(&node, &accepted).await;
    let activities = &h.activities;
    println!(
        "scale_out: {TOTAL} admissions in {elapsed:?}; activities started by {activities:?}; \
         workflow tasks by {:?}; {} activities retried",
        h.workflow_tasks, h.retried_activities
    );
    // An admission's database steps run inside its workflow tasks (local activities),
    // so the work each worker did shows in the workflow tasks it ran.
    for id in &identities {
        assert!(
            h.workflow_tasks.get(id).copied().unwrap_or(0) > 0,
            "worker {id} ran no workflow task: {:?}",
            h.workflow_tasks
        );
    }

    let outcome = check_invariants(&db, &accepted, &HashSet::new()).await;
    assert_eq!(
        node.workflow_count("ExecutionStatus!=\"Completed\"").await,
        0,
        "workflows failed, timed out or were terminated"
    );
    assert_api_agrees(&clerk, &db, &accepted).await;
    let verify = assert_audit_verifies(&node).await;
    println!("scale_out: {}", task_summary(&db).await);
    let (no_bed, no_bed_with_free) = no_bed_tasks(&db).await;
    println!(
        "scale_out: {no_bed} no-bed approval tasks, {no_bed_with_free} of them opened while the search saw free beds"
    );
    assert!(approved > 0, "the run must exercise the approval path");
    println!(
        "scale_out: {} admitted ({approved} after approval), {} declined; {verify}",
        outcome.admitted, outcome.declined
    );
    db.close().await;
    drop(node);
    drop(pg);
}
