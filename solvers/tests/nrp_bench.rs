//! Long NRP runs, ignored by default: with `NRP_INSTANCE=path` solves one instance like
//! `careflow solve nrp`, otherwise runs the Instance1..12 bench table. `NRP_TIME` sets the
//! seconds per instance (default 300), `NRP_DIR` the benchmark folder.
//!
//! Run with `cargo test --release -p solvers --test nrp_bench -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use careflow_solvers::nrp;
use careflow_solvers::solve::{ignore_progress, machine_threads, SolveOptions};

#[test]
#[ignore = "minutes per instance; run by hand"]
fn nrp_bench() -> Result<(), nrp::NrpError> {
    let time: f64 = std::env::var("NRP_TIME")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(300.0);
    if let Ok(one) = std::env::var("NRP_INSTANCE") {
        let inst = nrp::read_instance(Path::new(&one))?;
        let opts = SolveOptions {
            time_limit: Duration::from_secs_f64(time),
            ..SolveOptions::default()
        };
        let outcome = nrp::solve(&inst, &opts, &mut ignore_progress)?;
        print!("{}", nrp::cost_table(&inst, &outcome));
        return Ok(());
    }
    let dir = std::env::var("NRP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/benchmarks/nrp-curtois")
        });
    let opts = SolveOptions {
        time_limit: Duration::from_secs_f64(time),
        threads: machine_threads(),
        ..SolveOptions::default()
    };
    nrp::bench(&dir, &opts, &[])
}
