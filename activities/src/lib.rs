//! careflow-activities: the side-effecting steps of careflow's workflows.
//!
//! Owns the domain database (schema, migrations, queries) and the audit trail, and
//! exposes Temporal activities that the workflows call. Every activity that changes
//! something carries an idempotency key derived from the workflow id and step, so a
//! retried activity never does its work twice, and writes its audit entry in the same
//! transaction as the change.
#![warn(missing_docs)]

pub mod admission;
pub mod audit;
pub mod bed_plan;
pub mod db;
pub mod error;
pub mod hospital;
pub mod patients;
pub mod tasks;
pub mod users;

pub use db::{Backend, Db};
pub use error::{Error, Result};
