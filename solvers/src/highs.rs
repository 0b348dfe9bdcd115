//! The one place that knows HiGHS: builds a good_lp problem, applies the settings a
//! careflow solve needs (time limit, MIP gap, threads, seed, silent output) on the HiGHS
//! model itself, solves, and reads back what good_lp hides (status, MIP gap, best bound).
//!
//! Why not good_lp's own option setters: options set through good_lp are lost by
//! `into_inner()`, which we need for the gap and bound; good_lp also never passes the
//! objective's constant to HiGHS, so it is added back here. Columns follow variable
//! creation order, which [`Milp`] records so values can be read back by [`Variable`].
//!
//! The `highs` crate exposes no callback (and this workspace forbids `unsafe`), so
//! progress is reported around each HiGHS call: one event when it starts and one with the
//! incumbent and bound when it returns. Models that call HiGHS repeatedly (fix-and-optimise)
//! report after every call.

use std::collections::HashMap;
use std::time::Instant;

use good_lp::{
    Constraint, Expression, IntoAffineExpression, ProblemVariables, Solution, SolutionStatus,
    SolverModel, Variable, VariableDefinition,
};

use crate::solve::{Progress, SolveOptions, SolveStatus};

/// The MILP solver every model calls, as named in plan headers.
pub const SOLVER: &str = "HiGHS";

/// The HiGHS release linked in: the one `highs-sys` builds from source, whose version
/// follows HiGHS's (a test checks it against Cargo.lock). The `highs` crate has no safe
/// call that returns it.
pub const SOLVER_VERSION: &str = "1.16.0";

/// What went wrong inside HiGHS itself (not infeasibility: that is a [`SolveStatus`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HighsError {
    /// HiGHS rejected the model while it was being built.
    #[error("HiGHS could not build the model: {0}")]
    Build(String),
    /// HiGHS rejected an option name or value.
    #[error("HiGHS rejected option `{0}`")]
    Option(String),
    /// HiGHS failed while solving (not infeasibility).
    #[error("HiGHS failed: {0}")]
    Solve(String),
    /// The objective is unbounded below: a modelling error, never a planning outcome.
    #[error("the model is unbounded (a modelling error)")]
    Unbounded,
}

/// A value for an extra HiGHS option (see the HiGHS option list).
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// A boolean option.
    Bool(bool),
    /// An integer option.
    Int(i32),
    /// A floating-point option.
    Float(f64),
    /// A string option.
    Str(String),
}

/// HiGHS settings for one call.
#[derive(Debug, Clone)]
pub struct HighsSettings {
    /// Seconds HiGHS may run in this call; 0 stops at once.
    pub time_limit_s: f64,
    /// Relative MIP gap at which HiGHS may stop; `None` keeps HiGHS's default.
    pub mip_gap: Option<f64>,
    /// Threads HiGHS may use.
    pub threads: u32,
    /// HiGHS `random_seed`.
    pub seed: u64,
    /// Print HiGHS's log (for debugging a model only).
    pub verbose: bool,
    /// Progress events measure `elapsed_s` from here: the start of the caller's whole solve.
    pub started: Instant,
    /// Any other HiGHS options, applied last.
    pub extra: Vec<(String, OptionValue)>,
}

impl HighsSettings {
    /// Settings for a whole solve started now, from the caller's options.
    pub fn new(opts: &SolveOptions) -> Self {
        Self {
            time_limit_s: opts.time_limit.as_secs_f64(),
            mip_gap: opts.mip_gap,
            threads: opts.threads.max(1),
            seed: opts.seed,
            verbose: false,
            started: Instant::now(),
            extra: Vec::new(),
        }
    }

    /// Seconds since `started`.
    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The same settings with another time limit for one call (e.g. one subproblem).
    pub fn with_time_limit(&self, seconds: f64) -> Self {
        Self {
            time_limit_s: seconds.max(0.0),
            ..self.clone()
        }
    }

    /// The same settings with another thread count (e.g. one subproblem of several that
    /// run at once).
    pub fn with_threads(&self, threads: u32) -> Self {
        Self {
            threads: threads.max(1),
            ..self.clone()
        }
    }

    /// The same settings with another seed (each call of a search its own).
    pub fn with_seed(&self, seed: u64) -> Self {
        Self {
            seed,
            ..self.clone()
        }
    }
}

/// A minimisation MILP under construction: variables, constraints, objective.
#[derive(Default)]
pub struct Milp {
    vars: ProblemVariables,
    index: HashMap<Variable, usize>,
    constraints: Vec<Constraint>,
    objective: Expression,
}

impl Milp {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a variable and returns it.
    pub fn add(&mut self, def: VariableDefinition) -> Variable {
        let v = self.vars.add(def);
        self.index.insert(v, self.index.len());
        v
    }

    /// Adds a 0/1 variable.
    pub fn binary(&mut self) -> Variable {
        self.add(good_lp::variable().binary())
    }

    /// Adds a continuous variable in `[lo, hi]`.
    pub fn continuous(&mut self, lo: f64, hi: f64) -> Variable {
        self.add(good_lp::variable().min(lo).max(hi))
    }

    /// Adds a constraint.
    pub fn constrain(&mut self, c: Constraint) {
        self.constraints.push(c);
    }

    /// Adds `e` to the objective (minimised).
    pub fn minimise(&mut self, e: impl IntoAffineExpression) {
        self.objective += e.into_expression();
    }

    /// Number of variables so far.
    pub fn num_vars(&self) -> usize {
        self.index.len()
    }

    /// Number of constraints so far.
    pub fn num_constraints(&self) -> usize {
        self.constraints.len()
    }

    /// Solves on HiGHS. `initial` is a hint (a full or partial assignment; unnamed
    /// variables are 0); HiGHS ignores it when it is infeasible. Reports a progress event
    /// when HiGHS starts and one when it returns.
    pub fn solve(
        self,
        settings: &HighsSettings,
        initial: Option<&[(Variable, f64)]>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<MilpResult, HighsError> {
        let call_started = Instant::now();
        progress(Progress {
            elapsed_s: settings.elapsed_s(),
            incumbent: None,
            bound: None,
        });
        let constant = self.objective.constant();
        let n = self.index.len();
        let mut problem = self
            .vars
            .minimise(self.objective)
            .using(good_lp::solvers::highs::highs);
        for c in self.constraints {
            problem.add_constraint(c);
        }
        let mut model = problem
            .try_into_inner()
            .map_err(|e| HighsError::Build(e.to_string()))?;
        let mut set = |name: &str, value: &OptionValue| {
            let r = match value {
                OptionValue::Bool(b) => model.try_set_option(name, *b),
                OptionValue::Int(i) => model.try_set_option(name, *i),
                OptionValue::Float(f) => model.try_set_option(name, *f),
                OptionValue::Str(s) => model.try_set_option(name, s.as_str()),
            };
            r.map_err(|_| HighsError::Option(name.to_string()))
        };
        set("output_flag", &OptionValue::Bool(settings.verbose))?;
        set("log_to_console", &OptionValue::Bool(settings.verbose))?;
        set(
            "time_limit",
            &OptionValue::Float(settings.time_limit_s.max(0.0)),
        )?;
        set("threads", &OptionValue::Int(settings.threads.max(1) as i32))?;
        // HiGHS's seed is a non-negative C int.
        set(
            "random_seed",
            &OptionValue::Int((settings.seed % i32::MAX as u64) as i32),
        )?;
        if let Some(gap) = settings.mip_gap {
            set("mip_rel_gap", &OptionValue::Float(gap))?;
        }
        for (name, value) in &settings.extra {
            set(name, value)?;
        }
        if let Some(init) = initial {
            let mut cols = vec![0.0; n];
            for (v, x) in init {
                if let Some(&i) = self.index.get(v) {
                    cols[i] = *x;
                }
            }
            // A rejected hint only costs the warm start, never the solve.
            let _ = model.try_set_solution(Some(&cols), None, None, None);
        }
        let solved = model
            .try_solve()
            .map_err(|e| HighsError::Solve(format!("{e:?}")))?;
        use highs_status::Status;
        let model_status = highs_status::classify(solved.status());
        // 2 = HiGHS's kSolutionStatusFeasible: a primal point exists (optimal or not).
        let has_point = solved
            .int_info_value(c"primal_solution_status")
            .unwrap_or(0)
            == 2;
        let status = match model_status {
            Status::Optimal => SolveStatus::Optimal,
            Status::Stopped => SolveStatus::TimeLimit,
            Status::Infeasible => SolveStatus::Infeasible,
            Status::Empty => SolveStatus::Optimal,
            Status::Unbounded => return Err(HighsError::Unbounded),
            Status::Error(e) => return Err(HighsError::Solve(e)),
        };
        let values = match model_status {
            Status::Empty => Some(vec![0.0; n]),
            _ if has_point && status != SolveStatus::Infeasible => {
                Some(solved.get_solution().columns().to_vec())
            }
            _ => None,
        };
        let objective = values.as_ref().map(|_| solved.objective_value() + constant);
        let gap = solved.mip_gap();
        let empty = matches!(model_status, Status::Empty);
        let mip_gap = match status {
            // No columns: nothing to prove.
            _ if empty => Some(0.0),
            // An LP (no integer columns) reports an infinite gap even when optimal.
            SolveStatus::Optimal => Some(if gap.is_finite() { gap } else { 0.0 }),
            _ => gap.is_finite().then_some(gap),
        };
        let dual = solved
            .double_info_value(c"mip_dual_bound")
            .ok()
            .filter(|b| b.is_finite());
        let bound = match status {
            _ if empty => objective,
            SolveStatus::Infeasible => None,
            // Pure LPs have no MIP dual bound; the optimum is the bound.
            SolveStatus::Optimal => dual.map(|b| b + constant).or(objective),
            SolveStatus::TimeLimit => dual.map(|b| b + constant),
        };
        progress(Progress {
            elapsed_s: settings.elapsed_s(),
            incumbent: objective,
            bound,
        });
        Ok(MilpResult {
            status,
            objective,
            bound,
            mip_gap,
            elapsed_s: call_started.elapsed().as_secs_f64(),
            values: values.map(|values| Assignment {
                values,
                index: self.index,
            }),
        })
    }
}

/// What one HiGHS call returned.
#[derive(Debug, Clone)]
pub struct MilpResult {
    /// Optimal, stopped by the time limit (with or without a point), or infeasible.
    pub status: SolveStatus,
    /// Objective of the returned point, constant included.
    pub objective: Option<f64>,
    /// Best proven lower bound, constant included.
    pub bound: Option<f64>,
    /// HiGHS's relative MIP gap.
    pub mip_gap: Option<f64>,
    /// Seconds this call took.
    pub elapsed_s: f64,
    /// The best point found, if any.
    pub values: Option<Assignment>,
}

/// Variable values of a solved model.
#[derive(Debug, Clone)]
pub struct Assignment {
    values: Vec<f64>,
    index: HashMap<Variable, usize>,
}

impl Assignment {
    /// The value of `v` (0 for a variable of another model).
    pub fn get(&self, v: Variable) -> f64 {
        self.index.get(&v).map_or(0.0, |&i| self.values[i])
    }

    /// `v` rounded to the nearest integer as a bool (for binaries).
    pub fn is_one(&self, v: Variable) -> bool {
        self.get(v) > 0.5
    }
}

impl Solution for Assignment {
    fn status(&self) -> SolutionStatus {
        SolutionStatus::Optimal
    }

    fn value(&self, variable: Variable) -> f64 {
        self.get(variable)
    }
}

/// HiGHS's model status, sorted into what a caller must handle.
mod highs_status {
    pub(super) enum Status {
        Optimal,
        Stopped,
        Infeasible,
        Unbounded,
        Empty,
        Error(String),
    }

    // The status enum belongs to the `highs` crate good_lp links (not the one this crate
    // lists), so it is matched through its Debug name rather than named.
    pub(super) fn classify(s: impl std::fmt::Debug) -> Status {
        let name = format!("{s:?}");
        match name.as_str() {
            "Optimal" => Status::Optimal,
            "Infeasible" | "UnboundedOrInfeasible" => Status::Infeasible,
            "Unbounded" => Status::Unbounded,
            "ModelEmpty" => Status::Empty,
            "ReachedTimeLimit"
            | "ReachedIterationLimit"
            | "ReachedSolutionLimit"
            | "ReachedInterrupt"
            | "ReachedMemoryLimit"
            | "ObjectiveBound"
            | "ObjectiveTarget"
            | "Unknown" => Status::Stopped,
            _ => Status::Error(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solve::ignore_progress;
    use good_lp::Expression;

    fn settings(limit: f64) -> HighsSettings {
        HighsSettings::new(&SolveOptions::default()).with_time_limit(limit)
    }

    /// A knapsack big enough that HiGHS cannot finish before it first checks the clock.
    fn knapsack() -> (Milp, Vec<Variable>) {
        let mut m = Milp::new();
        let xs: Vec<Variable> = (0..60).map(|_| m.binary()).collect();
        let mut weight = Expression::from(0.0);
        for (i, &x) in xs.iter().enumerate() {
            let w = 17.0 + ((i * 37) % 23) as f64;
            let v = 11.0 + ((i * 53) % 29) as f64;
            weight += w * x;
            m.minimise(-v * x);
        }
        m.constrain(weight.leq(500.0));
        (m, xs)
    }

    #[test]
    fn solver_version_is_the_locked_highs_sys() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
            .expect("the workspace Cargo.lock");
        let locked = lock
            .split("[[package]]")
            .find(|p| p.contains("name = \"highs-sys\""))
            .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
            .map(|v| v.trim_matches('"').to_owned());
        assert_eq!(locked.as_deref(), Some(SOLVER_VERSION));
    }

    #[test]
    fn zero_time_limit_stops_with_time_limit() {
        let (m, _) = knapsack();
        let mut events = Vec::new();
        let r = m
            .solve(&settings(0.0), None, &mut |p| events.push(p))
            .unwrap();
        assert_eq!(r.status, SolveStatus::TimeLimit);
        assert_eq!(events.len(), 2, "a start and an end event");
        assert!(events[0].incumbent.is_none());
    }

    #[test]
    fn infeasible_model_is_reported_infeasible() {
        let mut m = Milp::new();
        let x = m.binary();
        let y = m.binary();
        m.constrain((x + y).geq(3.0));
        m.minimise(x);
        let r = m
            .solve(&settings(10.0), None, &mut ignore_progress)
            .unwrap();
        assert_eq!(r.status, SolveStatus::Infeasible);
        assert!(r.values.is_none());
        assert!(r.objective.is_none());
    }

    #[test]
    fn optimal_model_reports_objective_with_constant_gap_and_bound() {
        let mut m = Milp::new();
        let x = m.add(good_lp::variable().integer().min(0).max(10));
        let y = m.binary();
        m.constrain((x + 3 * y).geq(4.5));
        // The constant 100 is not seen by HiGHS; the result must include it.
        m.minimise(2 * x + 5 * y + 100.0);
        let mut events = Vec::new();
        let r = m
            .solve(&settings(10.0), None, &mut |p| events.push(p))
            .unwrap();
        assert_eq!(r.status, SolveStatus::Optimal);
        // x = 2, y = 1 costs 9; x = 5, y = 0 costs 10.
        assert_eq!(r.objective, Some(109.0));
        let v = r.values.as_ref().unwrap();
        assert_eq!((v.get(x), v.get(y)), (2.0, 1.0));
        assert!(r.mip_gap.unwrap() <= 1e-6);
        assert!((r.bound.unwrap() - 109.0).abs() < 1e-6);
        assert_eq!(events.last().unwrap().incumbent, Some(109.0));
    }

    #[test]
    fn warm_start_and_knapsack_reach_the_optimum() {
        let (m, xs) = knapsack();
        let hint: Vec<(Variable, f64)> = xs.iter().map(|&x| (x, 0.0)).collect();
        let r = m
            .solve(&settings(30.0), Some(&hint), &mut ignore_progress)
            .unwrap();
        assert_eq!(r.status, SolveStatus::Optimal);
        assert!(r.objective.unwrap() < 0.0);
        assert!(r.bound.unwrap() <= r.objective.unwrap() + 1e-6);
    }
}
