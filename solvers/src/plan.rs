//! The header every hospital plan starts with: which model made it, how the solve ended
//! and under which settings, so a stored plan says how it can be reproduced.

use serde::{Deserialize, Serialize};

use crate::highs::{SOLVER, SOLVER_VERSION};
use crate::solve::{SolveOptions, SolveStatus};

/// How a plan was made. Plans embed it flattened, so its fields sit at the top level of
/// the plan JSON (`status`, `bound`, `mip_gap`, ...). Fields added after the first plans
/// were written default when absent, so older plan files still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanHeader {
    /// The model ("bed_allocation", "theatre_booking", "scanner_booking").
    #[serde(default)]
    pub model: String,
    /// Optimal or stopped by the time limit (an infeasible input is an error, not a plan).
    pub status: SolveStatus,
    /// The plan's weighted total (its `cost.total`).
    #[serde(default)]
    pub objective: f64,
    /// Best proven lower bound on the total, if known.
    pub bound: Option<f64>,
    /// Relative MIP gap, if known.
    pub mip_gap: Option<f64>,
    /// Seconds the solve took.
    #[serde(default)]
    pub elapsed_s: f64,
    /// The MILP solver ("HiGHS").
    #[serde(default)]
    pub solver: String,
    /// Its version.
    #[serde(default)]
    pub solver_version: String,
    /// Seed of every random choice.
    #[serde(default)]
    pub seed: u64,
    /// Threads the solver could use.
    #[serde(default)]
    pub threads: u32,
    /// The time limit asked for, seconds.
    #[serde(default)]
    pub time_limit_s: f64,
}

impl PlanHeader {
    /// The header of a plan of `model` solved under `opts`, with how the solve ended.
    pub fn new(
        model: &str,
        opts: &SolveOptions,
        status: SolveStatus,
        objective: f64,
        bound: Option<f64>,
        mip_gap: Option<f64>,
        elapsed_s: f64,
    ) -> Self {
        Self {
            model: model.to_owned(),
            status,
            objective,
            bound,
            mip_gap,
            elapsed_s,
            solver: SOLVER.to_owned(),
            solver_version: SOLVER_VERSION.to_owned(),
            seed: opts.seed,
            threads: opts.threads.max(1),
            time_limit_s: opts.time_limit.as_secs_f64(),
        }
    }
}
