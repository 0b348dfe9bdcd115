//! Runs one good_lp model on HiGHS with the options a subproblem needs (time limit, seed,
//! threads, quiet output) and reads back what good_lp does not expose: the
//! MIP gap. Options are set on the HiGHS model itself because good_lp's are lost by
//! `into_inner()`.

use good_lp::{Constraint, Expression, ProblemVariables, SolverModel};

use super::{Error, Result};

pub(crate) struct MilpOptions {
    pub time_limit_s: f64,
    pub threads: u32,
    pub seed: u64,
    pub mip_gap: Option<f64>,
    pub verbose: bool,
}

pub(crate) struct MilpResult {
    /// Column values, in variable creation order.
    pub values: Vec<f64>,
    pub mip_gap: Option<f64>,
}

/// Minimises `objective`; `Ok(None)` when HiGHS found no feasible point (infeasible or out
/// of time), `Err` only when HiGHS itself failed.
pub(crate) fn minimise(
    vars: ProblemVariables,
    objective: Expression,
    constraints: Vec<Constraint>,
    opts: &MilpOptions,
    initial: Option<&[f64]>,
) -> Result<Option<MilpResult>> {
    let mut problem = vars
        .minimise(objective)
        .using(good_lp::solvers::highs::highs);
    for c in constraints {
        problem.add_constraint(c);
    }
    let mut model = problem
        .try_into_inner()
        .map_err(|e| Error::Highs(e.to_string()))?;
    // `highs::Model` here is good_lp's HiGHS crate (2.x), not the `highs` 1.x this crate
    // lists, so the type is never named.
    let opt_err = |name: &str| Error::Highs(format!("cannot set option {name}"));
    model
        .try_set_option("output_flag", opts.verbose)
        .map_err(|_| opt_err("output_flag"))?;
    model
        .try_set_option("time_limit", opts.time_limit_s.max(0.01))
        .map_err(|_| opt_err("time_limit"))?;
    model
        .try_set_option("threads", opts.threads.max(1) as i32)
        .map_err(|_| opt_err("threads"))?;
    model
        .try_set_option("random_seed", (opts.seed % i32::MAX as u64) as i32)
        .map_err(|_| opt_err("random_seed"))?;
    if let Some(gap) = opts.mip_gap {
        model
            .try_set_option("mip_rel_gap", gap)
            .map_err(|_| opt_err("mip_rel_gap"))?;
    }
    if let Some(init) = initial {
        // A wrong length only loses the hint.
        let _ = model.try_set_solution(Some(init), None, None, None);
    }
    let solved = model
        .try_solve()
        .map_err(|e| Error::Highs(format!("{e:?}")))?;
    // 2 = a feasible primal solution exists (HiGHS's kSolutionStatusFeasible).
    let feasible = solved
        .int_info_value(c"primal_solution_status")
        .unwrap_or(0)
        == 2;
    if !feasible {
        return Ok(None);
    }
    let gap = solved.mip_gap();
    let mip_gap = gap.is_finite().then_some(gap);
    Ok(Some(MilpResult {
        values: solved.get_solution().columns().to_vec(),
        mip_gap,
    }))
}
