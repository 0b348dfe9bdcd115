//! careflow-solvers (placeholder, being written)

pub mod highs;
pub mod nrp;
