//! careflow-solvers: MILP models for hospital planning (good_lp + HiGHS).
//!
//! Knows nothing of Temporal or the domain database: every model is a pure function
//! from a typed problem to a typed plan, with a time limit and a progress stream.

pub mod bed_allocation;
pub mod cli;
pub mod highs;
pub mod ihtc;
pub mod nrp;
pub mod scanner_booking;
pub mod solve;
pub mod theatre_booking;
