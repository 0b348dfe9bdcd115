//! careflow-solvers: MILP models for hospital planning (good_lp + HiGHS).
//!
//! Knows nothing of Temporal, the domain database or the command line: every model is a
//! pure function from a typed problem to a typed plan, with a time limit, a seed and a
//! progress stream.
//!
//! - Hospital models, one folder each with the same files (`mod.rs` types and `solve`,
//!   `model.rs` the MILP, `explain.rs` why an input is impossible, `check.rs` an
//!   independent checker, `generate.rs` seeded demo data): [`bed_allocation`],
//!   [`theatre_booking`], [`scanner_booking`]. They share one error type ([`error`]), one
//!   JSON reader ([`input`]) and one plan header ([`plan`]).
//! - What every solve shares: [`solve`] (options, status, progress) and [`highs`] (the
//!   one place that talks to HiGHS).
//! - Benchmark code, apart: [`benchmarks`] ([`ihtc`], [`nrp`]).
//!
//! ```
//! use careflow_solvers::bed_allocation;
//! use careflow_solvers::solve::{ignore_progress, SolveOptions, SolveStatus};
//!
//! let input = bed_allocation::generate(1, 2);
//! let plan = bed_allocation::solve(&input, &SolveOptions::default(), &mut ignore_progress)?;
//! assert_ne!(plan.header.status, SolveStatus::Infeasible);
//! assert!(bed_allocation::violations(&input, &plan).is_empty());
//! # Ok::<(), careflow_solvers::error::SolveError>(())
//! ```

pub mod bed_allocation;
pub mod benchmarks;
pub mod error;
pub mod highs;
pub mod input;
pub mod nurse_rostering;
pub mod plan;
pub mod scanner_booking;
pub mod solve;
pub mod theatre_booking;

pub use benchmarks::{ihtc, nrp};
