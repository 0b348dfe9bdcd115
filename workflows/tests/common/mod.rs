//! Shared by the workflow tests: the official Temporal test server (from the test kit)
//! and a careflow worker on a real domain database.
#![allow(dead_code)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use temporalio_client::{Client, UntypedWorkflow, WorkflowFetchHistoryOptions};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use careflow_forecasters::bundle::{sha256_file, ModelBundle};
use careflow_store::registry::{self, ModelFacts};
use careflow_store::Db;
use careflow_types::{Decision, Role, COMPUTE_TASK_QUEUE, TASK_QUEUE};

/// The official Temporal test server, one per test so that time skipping in one test
/// cannot fire another test's timers.
pub use careflow_testkit::temporal::start_test_server as start_server;

/// The committed forecasting models.
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../forecasters/models")
}

/// The people the tests act as. The approval step checks every decision against the
/// store's users, so they exist as users with these roles.
pub const STAFF: [(&str, Role); 7] = [
    ("clerk.ana", Role::AdmissionsClerk),
    ("beds.ben", Role::BedManager),
    ("beds.bea", Role::BedManager),
    ("bm.lee", Role::BedManager),
    ("bm.kim", Role::BedManager),
    ("site.sam", Role::SiteManager),
    ("dr.release", Role::Admin),
];

/// The password of every one of the [`STAFF`].
pub const STAFF_PASSWORD: &str = "staff password for tests";

/// Runs `body` while a careflow worker polls the task queue (in the same task: the
/// worker's future is not Send). The [`STAFF`] are users of `db` first, with
/// [`STAFF_PASSWORD`].
pub async fn with_worker<Fut: Future>(client: &Client, db: &Db, body: Fut) -> Fut::Output {
    with_workers(client, db, std::future::ready(()), body).await
}

/// [`with_worker`] whose compute worker (the solver and forecaster queue) starts
/// polling only once `compute_from` completes.
pub async fn with_workers<Fut: Future>(
    client: &Client,
    db: &Db,
    compute_from: impl Future<Output = ()>,
    body: Fut,
) -> Fut::Output {
    for (name, role) in STAFF {
        careflow_store::users::upsert_with_password(db, name, role, Some(STAFF_PASSWORD), "test")
            .await
            .expect("staff user");
    }
    let runtime = Runtime::from_current_tokio(Default::default()).expect("runtime");
    let mut opts = WorkerOptions::new(TASK_QUEUE).build();
    careflow_workflows::register(&mut opts, db.clone(), models_dir()).expect("register");
    let mut worker = Worker::new(&runtime, client.clone(), opts).expect("worker");
    // The solver and forecaster steps go to a queue of their own, as in `careflow serve`.
    let mut compute_opts = WorkerOptions::new(COMPUTE_TASK_QUEUE).build();
    careflow_workflows::register_compute(&mut compute_opts, db.clone(), models_dir());
    let mut compute = Worker::new(&runtime, client.clone(), compute_opts).expect("worker");
    let (stop, stop_compute) = (worker.shutdown_handle(), compute.shutdown_handle());
    let compute_run = async {
        compute_from.await;
        compute.run().await
    };
    let run = futures::future::join(worker.run(), compute_run);
    tokio::pin!(run);
    tokio::pin!(body);
    let out = tokio::select! {
        r = &mut run => panic!("worker stopped early: {r:?}"),
        out = &mut body => out,
    };
    stop();
    stop_compute();
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
    out
}

/// `d` signed as the API signs a decision: its actor (one of the [`STAFF`]) re-enters
/// their password over the task as the store holds it, and the decision carries the
/// signature. The one way these tests make a decision that the store will record; a
/// decision sent without it is what a forger past the API would send.
pub async fn signed(db: &Db, d: Decision) -> Decision {
    let task_id = d.task_id.clone();
    sign(db, d)
        .await
        .unwrap_or_else(|e| panic!("signing task {task_id}: {e}"))
}

/// Signs `d` with its actor's [`STAFF_PASSWORD`] over the task as the store holds it.
async fn sign(db: &Db, d: Decision) -> Result<Decision, String> {
    let task = careflow_store::tasks::get(db, &d.task_id)
        .await
        .map_err(|e| e.to_string())?;
    let signature = careflow_store::tasks::sign_decision(
        db,
        &task,
        &d.actor,
        STAFF_PASSWORD,
        d.approve,
        &d.reason,
        d.bed_id.as_deref(),
    )
    .await
    .map_err(|e| format!("{}: {e}", d.actor))?;
    Ok(Decision {
        signature_id: Some(signature.signature_id),
        ..d
    })
}

/// A decision as the person would send it through the API: signed when the store lets
/// them sign it, else unsigned (the API never asks a requester or the wrong role to
/// sign, so what reaches the workflow then is what a forger past the API would send,
/// and the approval step must refuse it).
pub async fn signed_if_allowed(db: &Db, d: Decision) -> Decision {
    sign(db, d.clone()).await.unwrap_or(d)
}

/// A staff user of a process's tests, with [`STAFF_PASSWORD`].
pub async fn staff_user(db: &Db, name: &str, role: Role) {
    careflow_store::users::upsert_with_password(db, name, role, Some(STAFF_PASSWORD), "test")
        .await
        .unwrap_or_else(|e| panic!("staff user {name}: {e}"));
}

/// Registers the committed model in `dir` and installs it as the first production
/// version, as the site's admin `dr.release` would; returns its sha256.
pub async fn promote_committed_model(db: &Db, dir: &Path, reason: &str) -> String {
    let bundle = ModelBundle::open(dir).expect("committed model opens");
    let facts = ModelFacts {
        name: bundle.header.name.clone(),
        version: bundle.header.version.clone(),
        sha256: sha256_file(&bundle.onnx_path).expect("hash"),
        card_json: bundle.card_json.clone(),
    };
    careflow_store::users::upsert(db, "dr.release", Role::Admin, "test")
        .await
        .expect("admin");
    let entry = registry::register(db, &facts, "dr.release")
        .await
        .expect("register");
    registry::install(db, &entry.name, &entry.version, "dr.release", reason)
        .await
        .expect("install");
    entry.sha256
}

/// Saves the run's history as a replay fixture `tests/histories/NAME.json` when
/// CAREFLOW_RECORD_HISTORIES is set (replayed by `saved_histories_replay` in
/// `admission.rs`). Only for new workflow paths: a released history is never re-recorded.
pub async fn maybe_record(client: &Client, workflow_id: &str, name: &str) {
    if std::env::var_os("CAREFLOW_RECORD_HISTORIES").is_none() {
        return;
    }
    let json = client
        .get_workflow_handle::<UntypedWorkflow>(workflow_id.to_owned())
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await
        .expect("history");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories")
        .join(format!("{name}.json"));
    std::fs::write(&path, json).expect("write history");
}

/// The audit trail's actions for one workflow, in order.
pub async fn actions(db: &Db, workflow_id: &str) -> Vec<String> {
    careflow_store::audit::entries_for_workflow(db, workflow_id)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect()
}
