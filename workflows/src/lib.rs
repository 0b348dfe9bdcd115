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
pub mod nurse_rostering;
pub mod scanner_booking;
pub mod theatre_booking;

use temporalio_sdk::{WorkerOptions, WorkflowRegistrationError};

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use careflow_activities::admission::AdmissionActivities;
use careflow_activities::approval::ApprovalActivities;
use careflow_activities::bed_plan::BedPlanActivities;
use careflow_activities::ethics_review::EthicsActivities;
use careflow_activities::nurse_rostering::RosterActivities;
use careflow_activities::scanner_booking::ScannerActivities;
use careflow_activities::theatre_booking::TheatreActivities;
use careflow_store::Db;

pub use admission::AdmissionWorkflow;
pub use bed_plan::BedPlanWorkflow;
pub use ethics_review::EthicsReviewWorkflow;
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
        .register_workflow::<EthicsReviewWorkflow>()?
        .register_activities(ApprovalActivities::new(db.clone()))
        .register_activities(AdmissionActivities::new(db.clone()))
        .register_activities(EthicsActivities::new(db.clone()))
        .register_activities(TheatreActivities::new(db.clone(), models_dir.clone()))
        .register_activities(RosterActivities::new(db.clone(), models_dir.clone()))
        .register_activities(ScannerActivities::new(db.clone(), models_dir.clone()))
        .register_activities(BedPlanActivities::new(db, models_dir));
    Ok(())
}

/// When a task opened now with `deadline` falls due (RFC 3339, UTC), from the
/// workflow's own clock so that replay gives the same answer.
pub(crate) fn due_at<W>(ctx: &temporalio_sdk::WorkflowContext<W>, deadline: Duration) -> String {
    let now = ctx.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH);
    chrono::DateTime::<chrono::Utc>::from(now + deadline)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
