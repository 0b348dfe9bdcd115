//! careflow-store: the hospital's domain data and its audit trail.
//!
//! Owns every table and migration (SQLite for the embedded default, PostgreSQL for
//! bigger sites, the same SQL on both), the hash-chained audit trail, users and roles,
//! approval tasks, patients and their pseudonyms, wards, rooms and beds, admissions,
//! bed plans, forecast runs and the model registry.
//!
//! Every function that changes data writes its audit entry in the same transaction as
//! the change, so a change without its audit entry (or the reverse) cannot be stored.
//! Functions that a workflow step calls are keyed by workflow id and step: called
//! twice (an activity retried after a crash), they find the work done and return the
//! same answer.
//!
//! Knows nothing of Temporal, the solvers or the forecasting runtime: the activities
//! turn its rows into solver and forecaster inputs.
#![warn(missing_docs)]

pub mod admissions;
pub mod adt;
pub mod anchor;
pub mod audit;
pub mod bed_plans;
pub mod db;
pub mod decisions;
pub mod error;
pub mod ethics;
pub mod hospital;
pub mod patients;
mod proposals;
pub mod registry;
pub mod releases;
pub mod rosters;
pub mod scanner;
pub mod service_requests;
pub mod signatures;
pub mod tasks;
pub mod theatre;
pub mod users;
pub mod views;

pub use db::{Backend, Db};
pub use error::{Error, Result};
