//! Crash recovery: SIGKILL `careflow serve` repeatedly while a few hundred admissions
//! run, restart it each time (it re-attaches to the dev server it left running), then
//! kill the Temporal dev server itself and let careflow's supervisor bring it back.
//! Every admission must still finish exactly once, and the audit chain must verify.
//!
//! Figures (run with `--nocapture`): for each restart, how long until the API answers,
//! until an activity writes again, and until admissions that were in flight at the
//! kill finish.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use careflow_store::Db;
use careflow_types::Role;

use crate::common::*;

/// Admissions launched; at least 200 must be accepted.
const TOTAL: usize = 240;
/// Concurrent clerks launching admissions.
const LAUNCHERS: usize = 8;
/// SIGKILLs of careflow.
const KILLS: usize = 6;
/// Share of requests for a specialty without a ward (outlier bed: needs approval).
const APPROVAL_SHARE: f64 = 0.12;
/// Admissions accepted but not finished that the clerks allow before launching more:
/// keeps launches going through the whole run, so that kills hit requests arriving
/// as well as work in flight (unbounded, all 240 are accepted within a second).
const WINDOW: usize = 40;
/// Admissions per phase: the run is cut into KILLS + 2 phases and the launchers release
/// the next phase only after the next kill, so that every kill (the careflow ones and the
/// Temporal one) lands while admissions are still arriving and in flight, however fast
/// the machine finishes them.
const PHASE: usize = TOTAL / (KILLS + 2);

struct Restart {
    restarted: Instant,
    in_flight: Vec<String>,
    api_ready: Duration,
    first_write: Duration,
    first_in_flight_done: Option<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admissions_survive_careflow_and_temporal_kills() {
    let seed: u64 = std::env::var("CAREFLOW_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash: seed {seed} (set CAREFLOW_E2E_SEED to replay the kill schedule)");
    let mut rng = StdRng::seed_from_u64(seed);

    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed_users(&db).await;
    node.spawn_serve();
    let first_ready = node.wait_ready(Duration::from_secs(120)).await;
    println!("crash: first start (dev server included) ready in {first_ready:?}");

    let clerk = node.client(&tokens["clerk.e2e"]);
    let bed_manager = node.client(&tokens["beds.e2e"]);
    let accepted: Arc<Mutex<Vec<Accepted>>> = Arc::default();
    let ambiguous: Arc<Mutex<HashSet<usize>>> = Arc::default();
    let run_start = Instant::now();

    // Progress: admissions in a final state, counted from the database, and when each
    // was first seen final (to within the 100 ms polling period).
    let finished = Arc::new(AtomicUsize::new(0));
    let finished_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (db, finished, finished_at, stop) = (
            db.clone(),
            finished.clone(),
            finished_at.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let statuses = admission_statuses(&db).await;
                let now = Instant::now();
                {
                    let mut at = finished_at.lock().unwrap();
                    for (id, s) in statuses {
                        if FINAL.contains(&s.as_str()) {
                            at.entry(id).or_insert(now);
                        }
                    }
                    finished.store(at.len(), Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // Clerks: launch TOTAL admissions, retrying through the outages.
    let next = Arc::new(AtomicUsize::new(0));
    // Kills so far (careflow and Temporal): admission n is launched only once
    // n < (kills + 2) * PHASE, a phase ahead of the next kill's threshold.
    let kills_done = Arc::new(AtomicUsize::new(0));
    let mut launchers = Vec::new();
    for _ in 0..LAUNCHERS {
        let (next, clerk, accepted, ambiguous, finished, kills_done) = (
            next.clone(),
            clerk.clone(),
            accepted.clone(),
            ambiguous.clone(),
            finished.clone(),
            kills_done.clone(),
        );
        launchers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= TOTAL {
                    return;
                }
                poll(
                    "room in the launch window",
                    Duration::from_secs(400),
                    Duration::from_millis(50),
                    || async {
                        let open = accepted.lock().unwrap().len();
                        let released = (kills_done.load(Ordering::SeqCst) + 2) * PHASE;
                        (open < finished.load(Ordering::SeqCst) + WINDOW && n < released)
                            .then_some(())
                    },
                )
                .await;
                let req = request(
                    n,
                    APPROVAL_SHARE,
                    &mut StdRng::seed_from_u64(seed ^ n as u64),
                );
                let l = launch(&clerk, n, &req, Duration::from_secs(300)).await;
                if l.ambiguous {
                    ambiguous.lock().unwrap().insert(n);
                }
                accepted.lock().unwrap().push(l.accepted);
            }
        }));
    }

    // Bed manager: works the approval queue as tasks appear.
    let decisions = Arc::new(Mutex::new((0usize, 0usize)));
    let approver = {
        let (stop, decisions, bed_manager) = (stop.clone(), decisions.clone(), bed_manager.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let (a, d) = work_queue(&bed_manager).await;
                {
                    let mut t = decisions.lock().unwrap();
                    t.0 += a;
                    t.1 += d;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    // Kill schedule: at random points of the run (by finished admissions), plus a
    // random delay, so kills land in every phase (start, search, approval wait,
    // assignment) while requests keep arriving.
    // Kill k comes when finished admissions reach a random point of phase k, which the
    // launchers have released (plus a phase more) before it.
    let thresholds: Vec<usize> = (0..KILLS)
        .map(|k| k * PHASE + rng.random_range(PHASE / 3..PHASE))
        .collect();
    let accepted_len = || accepted.lock().unwrap().len();
    let mut restarts = Vec::new();
    for (k, threshold) in thresholds.iter().enumerate() {
        poll(
            "progress before a kill",
            Duration::from_secs(300),
            Duration::from_millis(50),
            || async { (finished.load(Ordering::SeqCst) >= *threshold).then_some(()) },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..500))).await;

        node.assert_alive();
        node.kill();
        kills_done.fetch_add(1, Ordering::SeqCst);
        // No activity writes while careflow (the only worker) is dead.
        let seq_at_kill = activity_seq(&db).await;
        let in_flight: Vec<String> = admission_statuses(&db)
            .await
            .into_iter()
            .filter(|(_, s)| !FINAL.contains(&s.as_str()))
            .map(|(id, _)| id)
            .collect();
        let restarted = Instant::now();
        let pid = node.spawn_serve();
        let api_ready = node.wait_ready(Duration::from_secs(120)).await;
        // Launches for the next phase were released at the kill, so there is always
        // something to write.
        let first_write = poll(
            "an activity to write after the restart",
            Duration::from_secs(180),
            Duration::from_millis(20),
            || async { (activity_seq(&db).await > seq_at_kill).then(|| restarted.elapsed()) },
        )
        .await;
        let first_in_flight_done = if in_flight.is_empty() {
            None
        } else {
            let ids = in_flight.clone();
            Some(
                poll(
                    "an admission in flight at the kill to finish",
                    Duration::from_secs(180),
                    Duration::from_millis(20),
                    || async {
                        let now = admission_statuses(&db).await;
                        ids.iter()
                            .any(|id| FINAL.contains(&now[id].as_str()))
                            .then(|| restarted.elapsed())
                    },
                )
                .await,
            )
        };
        println!(
            "crash: kill {} after {} accepted, {} finished: new pid {pid}, {} in flight; API ready {:?}, first write {:?}, first in-flight done {:?}",
            k + 1,
            accepted_len(),
            finished.load(Ordering::SeqCst),
            in_flight.len(),
            api_ready,
            first_write,
            first_in_flight_done
        );
        restarts.push(Restart {
            restarted,
            in_flight,
            api_ready,
            first_write,
            first_in_flight_done,
        });
    }

    // Kill the Temporal dev server once; the running careflow only attached to it and
    // must notice it is gone and start it again on the same database file.
    let temporal_kill_at = KILLS * PHASE + rng.random_range(PHASE / 3..PHASE);
    poll(
        "progress before the Temporal kill",
        Duration::from_secs(300),
        Duration::from_millis(50),
        || async { (finished.load(Ordering::SeqCst) >= temporal_kill_at).then_some(()) },
    )
    .await;
    let old_pid = node.temporal_pid().expect("temporal.pid");
    let completed_before = node.workflow_count("ExecutionStatus=\"Completed\"").await;
    kill_pid(old_pid);
    kills_done.fetch_add(1, Ordering::SeqCst);
    let killed = Instant::now();
    let address = node.temporal_address();
    let new_pid = poll(
        "careflow to restart the Temporal dev server",
        Duration::from_secs(120),
        Duration::from_millis(50),
        || async {
            node.assert_alive();
            match node.temporal_pid() {
                Some(p)
                    if p != old_pid && tokio::net::TcpStream::connect(&address).await.is_ok() =>
                {
                    Some(p)
                }
                _ => None,
            }
        },
    )
    .await;
    let temporal_back = killed.elapsed();
    // A workflow completing needs the server to dispatch and accept its final task: the
    // first one after the restart marks the service as working again.
    let next_completion = poll(
        "a workflow to complete after the Temporal restart",
        Duration::from_secs(180),
        Duration::from_millis(100),
        || async {
            (node.workflow_count("ExecutionStatus=\"Completed\"").await > completed_before)
                .then(|| killed.elapsed())
        },
    )
    .await;
    println!(
        "crash: Temporal dev server (pid {old_pid}) killed after {} finished; careflow restarted it \
         as pid {new_pid} in {temporal_back:?}; next workflow completion {next_completion:?} after the kill",
        finished.load(Ordering::SeqCst)
    );

    for l in launchers {
        l.await.expect("launcher");
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), TOTAL, "every admission accepted");
    wait_until_all_final(&node, &db, &accepted, Duration::from_secs(300)).await;
    let elapsed = run_start.elapsed();
    stop.store(true, Ordering::SeqCst);
    approver.await.unwrap();
    monitor.await.unwrap();

    let ambiguous = ambiguous.lock().unwrap().clone();
    let outcome = check_invariants(&db, &accepted, &ambiguous).await;
    let not_completed = node.workflow_count("ExecutionStatus!=\"Completed\"").await;
    assert_eq!(
        not_completed, 0,
        "workflows failed, timed out or were terminated"
    );
    assert_api_agrees(&clerk, &db, &accepted).await;
    // Work the killed workers had in hand was redone (activities retried, workflow tasks
    // timed out and rescheduled), and the invariants above show it took effect once.
    let h = histories(&node, &accepted).await;
    println!(
        "crash: histories: {} activities retried, {} workflow tasks timed out, {} worker identities",
        h.retried_activities,
        h.workflow_task_timeouts,
        h.workflow_tasks.len()
    );
    // Admissions run their database steps inside workflow tasks (local activities), so
    // the restarted processes show in the workflow tasks they worked.
    assert!(
        h.workflow_tasks.len() > 1,
        "workflow tasks ran on the restarted processes: {:?}",
        h.workflow_tasks
    );
    let verify = assert_audit_verifies(&node).await;
    println!("crash: {}", task_summary(&db).await);
    let (no_bed, no_bed_with_free) = no_bed_tasks(&db).await;
    println!(
        "crash: {no_bed} no-bed approval tasks, {no_bed_with_free} of them opened while the search saw free beds"
    );
    let (approved, declined) = *decisions.lock().unwrap();
    assert!(approved > 0, "the run must exercise the approval path");
    assert!(
        outcome.admitted >= TOTAL * 3 / 4,
        "most admissions get a bed: {outcome:?}"
    );

    println!(
        "crash: {TOTAL} admissions in {elapsed:?} through {KILLS} careflow kills and 1 Temporal kill: \
         {} admitted ({approved} outliers approved), {} declined ({declined} no-bed declines), \
         {} lost requests retried with their Idempotency-Key, {} duplicate admissions, {} patients in two beds; {verify}",
        outcome.admitted,
        outcome.declined,
        ambiguous.len(),
        outcome.duplicate_patients.len(),
        outcome.patients_in_two_beds
    );
    // Resume after each restart: when the admissions in flight at the kill finished.
    // Those that waited on a person are left out (their time is the approver's, and an
    // approved outlier bed may be taken meanwhile, which asks again).
    let needed_person: HashSet<String> = sqlx::query(
        "SELECT DISTINCT a.admission_id FROM tasks t JOIN admissions a ON a.workflow_id = t.workflow_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| sqlx::Row::get::<String, _>(r, 0))
    .collect();
    let finished_at = finished_at.lock().unwrap().clone();
    println!(
        "crash: restart  in-flight  api-ready  first-write  first-in-flight-done  \
         in-flight-without-person: n  p50  max"
    );
    let mut all_resume = Vec::new();
    for (i, r) in restarts.iter().enumerate() {
        let mut resume: Vec<Duration> = r
            .in_flight
            .iter()
            .filter(|id| !needed_person.contains(*id))
            .filter_map(|id| finished_at.get(id))
            .map(|t| t.saturating_duration_since(r.restarted))
            .collect();
        resume.sort();
        all_resume.extend(resume.iter().copied());
        println!(
            "crash: {:>7}  {:>9}  {:>9.2?}  {:>11.2?}  {:>20}  {:>3}  {:.2?}  {:.2?}",
            i + 1,
            r.in_flight.len(),
            r.api_ready,
            r.first_write,
            r.first_in_flight_done
                .map(|d| format!("{d:.2?}"))
                .unwrap_or_else(|| "-".into()),
            resume.len(),
            percentile(&resume, 0.5),
            resume.last().copied().unwrap_or_default(),
        );
    }
    all_resume.sort();
    println!(
        "crash: over all restarts, {} in-flight admissions without a person finished p50 {:.2?}, p95 {:.2?}, max {:.2?} after the restart",
        all_resume.len(),
        percentile(&all_resume, 0.5),
        percentile(&all_resume, 0.95),
        all_resume.last().copied().unwrap_or_default()
    );
    db.close().await;
}

async fn seed_users(db: &Db) -> std::collections::HashMap<String, String> {
    seed(
        db,
        &layout(2),
        &[
            ("clerk.e2e", Role::AdmissionsClerk),
            ("beds.e2e", Role::BedManager),
        ],
    )
    .await
}
