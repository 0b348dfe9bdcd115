//! careflow-solvers (placeholder, being written)

pub mod bed_allocation;
pub mod cli;
pub mod highs;
pub mod ihtc;
pub mod nrp;
pub mod theatre_booking;
pub mod scanner_booking;
