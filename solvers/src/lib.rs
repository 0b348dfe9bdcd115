//! careflow-solvers (placeholder, being written)

pub mod highs;
