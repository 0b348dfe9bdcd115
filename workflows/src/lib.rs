//! careflow-workflows: the hospital's processes as Temporal workflows.
//!
//! One file per process. Workflows use only the workflow context's time and
//! randomness and do no I/O: every side effect is an activity of
//! `careflow-activities`, so Temporal's event history checkpoints each step and a
//! crashed worker resumes where it stopped. Every process that waits for a person does
//! so through the one approval step in [`approval`].
#![warn(missing_docs)]

pub mod admission;
pub mod approval;
pub mod bed_plan;
pub mod ethics_review;
pub mod model_release;
pub mod nurse_rostering;
pub mod scanner_booking;
pub mod theatre_booking;

use temporalio_common::RetryPolicy;
use temporalio_sdk::{ActivityOptions, WorkerOptions, WorkflowRegistrationError};

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use careflow_activities::admission::AdmissionActivities;
use careflow_activities::approval::ApprovalActivities;
use careflow_activities::bed_plan::BedPlanActivities;
use careflow_activities::ethics_review::EthicsActivities;
use careflow_activities::model_release::ReleaseActivities;
use careflow_activities::nurse_rostering::RosterActivities;
use careflow_activities::scanner_booking::ScannerActivities;
use careflow_activities::theatre_booking::TheatreActivities;
use careflow_store::Db;
use careflow_types::{COMPUTE_TASK_QUEUE, REFUSED_ERROR_TYPE};

pub use admission::AdmissionWorkflow;
pub use bed_plan::BedPlanWorkflow;
pub use ethics_review::EthicsReviewWorkflow;
pub use model_release::ModelReleaseWorkflow;
pub use nurse_rostering::NurseRosteringWorkflow;
pub use scanner_booking::ScannerBookingWorkflow;
pub use theatre_booking::TheatreBookingWorkflow;

/// Registers every careflow workflow and activity on a worker's options. Forecasting
/// steps load models from `models_dir/<name>/<version>/` after checking each file's
/// sha256 against the model registry.
pub fn register(
    options: &mut WorkerOptions,
    db: Db,
    models_dir: PathBuf,
) -> Result<(), WorkflowRegistrationError> {
    options
        .register_workflow::<AdmissionWorkflow>()?
        .register_workflow::<BedPlanWorkflow>()?
        .register_workflow::<TheatreBookingWorkflow>()?
        .register_workflow::<NurseRosteringWorkflow>()?
        .register_workflow::<ScannerBookingWorkflow>()?
        .register_workflow::<ModelReleaseWorkflow>()?
        .register_workflow::<EthicsReviewWorkflow>()?
        .register_activities(ApprovalActivities::new(db.clone()))
        .register_activities(AdmissionActivities::new(db.clone()))
        .register_activities(ReleaseActivities::new(db.clone(), models_dir.clone()))
        .register_activities(EthicsActivities::new(db.clone()))
        .register_activities(TheatreActivities::new(db.clone(), models_dir.clone()))
        .register_activities(RosterActivities::new(db.clone(), models_dir.clone()))
        .register_activities(ScannerActivities::new(db.clone(), models_dir.clone()))
        .register_activities(BedPlanActivities::new(db, models_dir));
    Ok(())
}

/// Registers the activities on the options of the compute worker, which polls
/// [`COMPUTE_TASK_QUEUE`] for the solver and forecaster steps (it runs no workflows).
pub fn register_compute(options: &mut WorkerOptions, db: Db, models_dir: PathBuf) {
    options
        .register_activities(TheatreActivities::new(db.clone(), models_dir.clone()))
        .register_activities(RosterActivities::new(db.clone(), models_dir.clone()))
        .register_activities(ScannerActivities::new(db.clone(), models_dir.clone()))
        .register_activities(BedPlanActivities::new(db, models_dir));
}

/// Version marker of the histories whose solver and forecaster steps are scheduled on
/// [`COMPUTE_TASK_QUEUE`]. A workflow that reached its first solve before this change
/// replays without the marker and keeps the task queue it used.
pub const COMPUTE_QUEUE_PATCH: &str = "compute-task-queue";

/// Options of a solver or forecaster step: on the compute queue (for workflows past
/// [`COMPUTE_QUEUE_PATCH`]), a few attempts only (a solve that failed three times will
/// not succeed on the fourth, and each attempt may take minutes).
pub(crate) fn compute_opts<W>(
    ctx: &temporalio_sdk::WorkflowContext<W>,
    start_to_close: Duration,
) -> ActivityOptions {
    let queue = ctx
        .patched(COMPUTE_QUEUE_PATCH)
        .then(|| COMPUTE_TASK_QUEUE.to_owned());
    ActivityOptions::with_start_to_close_timeout(start_to_close)
        .maybe_task_queue(queue)
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(30))
                .maximum_attempts(3)
                .non_retryable_error_types([REFUSED_ERROR_TYPE])
                .build(),
        )
        .build()
}

/// Retries of a short database step: quick at first, then every 10 s, for about five
/// minutes (a database restart or a 30 s outage is ridden out) and then the workflow
/// sees the failure instead of retrying for ever. Refusals are never retried.
pub(crate) fn step_retry() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_millis(500))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(10))
        .maximum_attempts(35)
        .non_retryable_error_types([REFUSED_ERROR_TYPE])
        .build()
}

/// Options of a short database step (one transaction).
pub(crate) fn step_opts(start_to_close: Duration) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(start_to_close)
        .retry_policy(step_retry())
        .build()
}

/// When a task opened now with `deadline` falls due (RFC 3339, UTC), from the
/// workflow's own clock so that replay gives the same answer.
pub(crate) fn due_at<W>(ctx: &temporalio_sdk::WorkflowContext<W>, deadline: Duration) -> String {
    let now = ctx.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH);
    chrono::DateTime::<chrono::Utc>::from(now + deadline)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
