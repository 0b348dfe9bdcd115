//! What every model in this crate shares: how a solve is asked for, how it went, and
//! how it reports progress while it runs.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a caller asks for a solve.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// Wall-clock limit for the whole solve (all MILP calls and heuristics together).
    pub time_limit: Duration,
    /// Relative MIP gap at which HiGHS may stop early; `None` keeps HiGHS's default.
    pub mip_gap: Option<f64>,
    /// Threads HiGHS may use. 1 keeps results reproducible on small machines.
    pub threads: u32,
    /// Seed for every random choice (HiGHS's `random_seed` and our heuristics), so a
    /// solve is deterministic for a given seed.
    pub seed: u64,
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            time_limit: Duration::from_secs(60),
            mip_gap: None,
            threads: 1,
            seed: 0,
        }
    }
}

/// The cores this process may use (1 when the OS does not say): the default thread count
/// where a solver can use more than one.
pub fn machine_threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// How a solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolveStatus {
    /// Proven optimal (within the requested gap).
    Optimal,
    /// A feasible plan, stopped by the time limit before optimality was proven.
    TimeLimit,
    /// No plan satisfies the hard constraints; see the model's explanation.
    Infeasible,
}

/// One progress event: the best plan so far and the best bound, at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Seconds since the solve started.
    pub elapsed_s: f64,
    /// Objective of the best plan found so far, if any.
    pub incumbent: Option<f64>,
    /// Best proven lower bound (minimisation), if known.
    pub bound: Option<f64>,
}

/// Receives progress events while a model solves. The CLI draws a progress bar from
/// them; workflows record them as activity heartbeats.
pub type ProgressSink<'a> = &'a mut dyn FnMut(Progress);

/// A no-op sink for callers that do not watch progress.
pub fn ignore_progress(_: Progress) {}

/// Redraws one progress line on stderr (`[####......]  12.3s  best 3145`) when stderr is a
/// terminal; logs and CI get nothing, only the summary the caller prints at the end.
pub fn draw_progress(p: Progress, time_limit_s: f64) {
    const WIDTH: usize = 30;
    if !std::io::stderr().is_terminal() {
        return;
    }
    let done = ((p.elapsed_s / time_limit_s).clamp(0.0, 1.0) * WIDTH as f64) as usize;
    let cost = p.incumbent.map_or("no feasible plan yet".to_string(), |c| {
        format!("best {c:.0}")
    });
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r[{}{}] {:>6.1}s  {cost:<24}",
        "#".repeat(done),
        ".".repeat(WIDTH - done),
        p.elapsed_s
    );
    let _ = err.flush();
}
