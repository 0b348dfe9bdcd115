//! careflow-solvers (placeholder, being written)
