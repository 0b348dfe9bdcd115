//! careflow-solvers (placeholder, being written)

pub mod bed_allocation;
pub mod highs;
pub mod nrp;
pub mod theatre_booking;
pub mod scanner_booking;
