//! Long NRP runs, ignored by default: with `NRP_INSTANCE=path` solves one instance like
//! `careflow solve nrp`, otherwise runs the Instance1..12 bench table. `NRP_TIME` sets the
//! seconds per instance (default 300), `NRP_DIR` the benchmark folder.
//!
//! Run with `cargo test --release -p solvers --test nrp_bench -- --ignored --nocapture`.

use std::path::{Path, PathBuf};

use careflow_solvers::nrp;

#[test]
#[ignore = "minutes per instance; run by hand"]
fn nrp_bench() -> anyhow::Result<()> {
    let time: f64 = std::env::var("NRP_TIME")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(300.0);
    if let Ok(one) = std::env::var("NRP_INSTANCE") {
        return nrp::run_cli(Path::new(&one), time, None, 0);
    }
    let dir = std::env::var("NRP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/benchmarks/nrp-curtois")
        });
    nrp::bench(&dir, time, 0, &[])
}
