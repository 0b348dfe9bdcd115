//! careflow-activities: the side-effecting steps of careflow's workflows, as thin
//! Temporal activity adapters over the store, the solvers and the forecasters.
//!
//! One file per process (`admission.rs`, `bed_plan.rs`) plus the one approval step
//! every process shares (`approval.rs`). An activity reads or writes through
//! `careflow-store`, whose functions write their audit entry in the same transaction
//! as the change and are keyed by workflow id and step, so a retried activity never
//! does its work twice. What retrying cannot heal (bad input, a refused check, a model
//! file whose hash differs) becomes a non-retryable failure that names the problem.
#![warn(missing_docs)]

pub mod admission;
pub mod approval;
pub mod bed_plan;
pub mod theatre_booking;

use temporalio_sdk::activities::ActivityError;
use temporalio_sdk::ApplicationFailure;

/// A failure that retrying cannot heal; the workflow sees `msg`.
pub(crate) fn non_retryable(msg: String) -> ActivityError {
    ActivityError::application(ApplicationFailure::non_retryable(msg))
}

/// A store error as the workflow sees it: a database that failed is retried (it may
/// come back), anything the data itself refuses is not.
pub(crate) fn store_failure(e: careflow_store::Error) -> ActivityError {
    use careflow_store::Error as E;
    match e {
        E::Database(_) => ActivityError::from(e),
        other => non_retryable(other.to_string()),
    }
}
