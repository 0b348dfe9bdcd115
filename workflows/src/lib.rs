//! careflow-workflows: the hospital's processes as Temporal workflows.
//!
//! One file per process. Workflows use only the workflow context's time and
//! randomness and do no I/O: every side effect is an activity of
//! `careflow-activities`, so Temporal's event history checkpoints each step and a
//! crashed worker resumes where it stopped.
#![warn(missing_docs)]

pub mod admission;

use temporalio_sdk::{WorkerOptions, WorkflowRegistrationError};

use careflow_activities::admission::AdmissionActivities;
use careflow_activities::Db;

pub use admission::AdmissionWorkflow;

/// Registers every careflow workflow and activity on a worker's options.
pub fn register(options: &mut WorkerOptions, db: Db) -> Result<(), WorkflowRegistrationError> {
    options
        .register_workflow::<AdmissionWorkflow>()?
        .register_activities(AdmissionActivities::new(db));
    Ok(())
}
