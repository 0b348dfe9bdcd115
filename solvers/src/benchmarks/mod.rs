//! Public benchmarks the solvers are measured on, apart from the hospital models: each
//! has its file format (typed, with located read errors), an independent evaluator that
//! scores any solution as the benchmark's own checker does, and a solver.
//!
//! - [`ihtc`]: IHTC-2024, integrated admission, room, theatre and nurse planning.
//! - [`nrp`]: Curtois & Qu nurse rostering (schedulingbenchmarks.org Instance1..24).

pub mod ihtc;
pub mod nrp;
