//! The nurse-rostering MILP and the fix-and-optimise search around it.
//!
//! Sets: employees e, days d in 0..H, shifts s. Decision x[e,d,s] = 1 when e works s on d
//! (no variable where s is forbidden: a listed day off or MaxShifts[s] = 0). w[e,d] =
//! sum_s x[e,d,s] <= 1 (rule 1). Rules 2-8 as linear rows on x and w:
//! - successions: x[e,d,s] + sum_{t in F(s)} x[e,d+1,t] <= 1 (one shift a day makes the
//!   aggregated row valid and tighter than one row per pair);
//! - per-type and total-minute limits: sums over d;
//! - max consecutive C: every window of C+1 days has at most C working days (days outside
//!   the horizon are off, so only windows inside it matter);
//! - min consecutive shifts k: no pattern off, l working days, off with l < k whose two
//!   off days both lie inside the horizon (`sum w[d+1..d+l] - w[d] - w[d+l+1] <= l-1`);
//!   runs touching day 0 or H-1 are exempt, so no pattern starts before day 0 or ends
//!   after H-1; min days off is the mirror pattern;
//! - weekends: v[e,k] >= w[e,Sat], v[e,k] >= w[e,Sun], sum_k v[e,k] <= MaxWeekends.
//!
//! Objective: requests (on: weight * (1 - x), off: weight * x) + cover
//! (n[d,s] + under - over = requirement, priced by the cover weights).
//!
//! Search: one MILP on the whole instance for part of the time (it proves the small
//! instances optimal); then, while time remains, re-optimise neighbourhoods of the best
//! roster with everything else fixed: blocks of employees over the whole horizon, windows
//! of days over all employees, and blocks of employees within a window. Fixed cells
//! become constants, so a subproblem holds only its free cells. A neighbourhood grows
//! when HiGHS closes it quickly and shrinks when it runs out of time.

// The model is index arithmetic over (employee, day, shift); ranges read like the maths.
#![allow(clippy::needless_range_loop)]

use good_lp::{Expression, Variable};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{check, Instance, NrpError, Roster};
use crate::highs::{HighsSettings, Milp};
use crate::solve::{Progress, SolveStatus};

/// Which cells a subproblem may change.
struct Free {
    cells: Vec<Vec<bool>>,
}

impl Free {
    fn all(inst: &Instance) -> Self {
        Self {
            cells: vec![vec![true; inst.horizon]; inst.staff.len()],
        }
    }
}

struct Built {
    milp: Milp,
    /// x[e][d][s], None where fixed or forbidden.
    x: Vec<Vec<Vec<Option<Variable>>>>,
    hint: Vec<(Variable, f64)>,
}

/// Builds the model over the free cells; other cells keep `fixed`'s value.
fn build(inst: &Instance, free: &Free, fixed: Option<&Roster>) -> Built {
    let h = inst.horizon;
    let ns = inst.shifts.len();
    let mut m = Milp::new();
    let mut hint: Vec<(Variable, f64)> = Vec::new();
    let fixed_at = |e: usize, d: usize| fixed.and_then(|r| r.cells[e][d]);
    let mut x = vec![vec![vec![None; ns]; h]; inst.staff.len()];
    for (e, st) in inst.staff.iter().enumerate() {
        for d in 0..h {
            if !free.cells[e][d] || inst.days_off[e].contains(&d) {
                continue;
            }
            for s in 0..ns {
                if st.max_shifts[s] == 0 {
                    continue;
                }
                let v = m.binary();
                x[e][d][s] = Some(v);
                hint.push((v, f64::from(u8::from(fixed_at(e, d) == Some(s)))));
            }
        }
    }
    // A cell as an expression: its variable, or the fixed roster's constant.
    let cell = |e: usize, d: usize, s: usize| -> Expression {
        match x[e][d][s] {
            Some(v) => v.into(),
            None if free.cells[e][d] => 0.0.into(),
            None => f64::from(u8::from(fixed_at(e, d) == Some(s))).into(),
        }
    };
    let work = |e: usize, d: usize| -> Expression { (0..ns).map(|s| cell(e, d, s)).sum() };

    for (e, st) in inst.staff.iter().enumerate() {
        // An employee with no free cell is a constant: only their cover counts.
        if !free.cells[e].iter().any(|&f| f) {
            continue;
        }
        let w: Vec<Expression> = (0..h).map(|d| work(e, d)).collect();
        let touches = |lo: usize, hi: usize| (lo..=hi.min(h - 1)).any(|d| free.cells[e][d]);
        for d in 0..h {
            if free.cells[e][d] {
                m.constrain(w[d].clone().leq(1.0));
            }
        }
        for d in 0..h.saturating_sub(1) {
            if !touches(d, d + 1) {
                continue;
            }
            for (s, sh) in inst.shifts.iter().enumerate() {
                if sh.forbidden_next.is_empty() {
                    continue;
                }
                let mut row = cell(e, d, s);
                for &t in &sh.forbidden_next {
                    row += cell(e, d + 1, t);
                }
                m.constrain(row.leq(1.0));
            }
        }
        for s in 0..ns {
            if st.max_shifts[s] < h as u32 {
                let n: Expression = (0..h).map(|d| cell(e, d, s)).sum();
                m.constrain(n.leq(st.max_shifts[s] as f64));
            }
        }
        let mut minutes = Expression::from(0.0);
        for d in 0..h {
            for (s, sh) in inst.shifts.iter().enumerate() {
                minutes += sh.minutes as f64 * cell(e, d, s);
            }
        }
        m.constrain(minutes.clone().leq(st.max_minutes as f64));
        m.constrain(minutes.geq(st.min_minutes as f64));
        let c = st.max_consecutive as usize;
        if c < h {
            for d in 0..h - c {
                if touches(d, d + c) {
                    let sum: Expression = (d..=d + c).map(|i| w[i].clone()).sum();
                    m.constrain(sum.leq(c as f64));
                }
            }
        }
        for l in 1..st.min_consecutive as usize {
            for d in 0..h.saturating_sub(l + 1) {
                if !touches(d, d + l + 1) {
                    continue;
                }
                let inner: Expression = (d + 1..=d + l).map(|i| w[i].clone()).sum();
                m.constrain((inner - w[d].clone() - w[d + l + 1].clone()).leq(l as f64 - 1.0));
            }
        }
        for l in 1..st.min_days_off as usize {
            for d in 0..h.saturating_sub(l + 1) {
                if !touches(d, d + l + 1) {
                    continue;
                }
                let inner: Expression = (d + 1..=d + l).map(|i| w[i].clone()).sum();
                m.constrain((w[d].clone() + w[d + l + 1].clone() - inner).leq(1.0));
            }
        }
        let mut weekends = Expression::from(0.0);
        for k in 0..h.div_ceil(7) {
            let days: Vec<usize> = [7 * k + 5, 7 * k + 6]
                .into_iter()
                .filter(|&d| d < h)
                .collect();
            if days.is_empty() {
                continue;
            }
            let v = m.binary();
            let worked = fixed.is_some_and(|r| days.iter().any(|&d| r.cells[e][d].is_some()));
            hint.push((v, f64::from(u8::from(worked))));
            for &d in &days {
                m.constrain(w[d].clone().leq(v));
            }
            weekends += v;
        }
        m.constrain(weekends.leq(st.max_weekends as f64));
    }

    for q in &inst.on_requests {
        m.minimise(q.weight as f64 * (1.0 - cell(q.employee, q.day, q.shift)));
    }
    for q in &inst.off_requests {
        m.minimise(q.weight as f64 * cell(q.employee, q.day, q.shift));
    }
    for c in &inst.cover {
        let n: Expression = (0..inst.staff.len()).map(|e| cell(e, c.day, c.shift)).sum();
        let under = m.continuous(0.0, f64::INFINITY);
        let over = m.continuous(0.0, f64::INFINITY);
        if let Some(r) = fixed {
            let have = r
                .cells
                .iter()
                .filter(|row| row[c.day] == Some(c.shift))
                .count() as f64;
            let req = c.requirement as f64;
            hint.push((under, (req - have).max(0.0)));
            hint.push((over, (have - req).max(0.0)));
        }
        m.constrain((n + under - over).eq(c.requirement as f64));
        m.minimise(c.under_weight as f64 * under + c.over_weight as f64 * over);
    }
    Built { milp: m, x, hint }
}

/// The roster a solved model describes.
fn read_roster(
    inst: &Instance,
    free: &Free,
    fixed: Option<&Roster>,
    x: &[Vec<Vec<Option<Variable>>>],
    values: &crate::highs::Assignment,
) -> Roster {
    let mut r = fixed.cloned().unwrap_or_else(|| Roster::empty(inst));
    for e in 0..inst.staff.len() {
        for d in 0..inst.horizon {
            if !free.cells[e][d] {
                continue;
            }
            r.cells[e][d] = x[e][d]
                .iter()
                .position(|v| v.is_some_and(|v| values.is_one(v)));
        }
    }
    r
}

/// The search's result.
pub(super) struct Found {
    pub roster: Roster,
    pub objective: u64,
    pub status: SolveStatus,
    pub bound: Option<f64>,
}

/// Full MILP for part of the budget, then fix-and-optimise until the budget is spent.
pub(super) fn search(
    inst: &Instance,
    settings: &HighsSettings,
    progress: &mut dyn FnMut(Progress),
) -> Result<Found, NrpError> {
    let budget = settings.time_limit_s;
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let all = Free::all(inst);
    let built = build(inst, &all, None);
    // The whole model proves the small instances optimal within this share of the time;
    // larger ones get a start point and a lower bound from it and leave the rest of the
    // time to the neighbourhoods.
    let first_limit = budget * 0.3;
    let first = built
        .milp
        .solve(&settings.with_time_limit(first_limit), None, progress)
        .map_err(NrpError::Highs)?;
    if first.status == SolveStatus::Infeasible {
        return Err(NrpError::Infeasible);
    }
    let bound = first.bound;
    let mut best = match &first.values {
        Some(v) => read_roster(inst, &all, None, &built.x, v),
        None => per_employee_start(inst, settings)?,
    };
    let mut best_cost = check::check(inst, &best).cost();
    if first.status == SolveStatus::Optimal {
        return Ok(Found {
            roster: best,
            objective: best_cost,
            status: SolveStatus::Optimal,
            bound,
        });
    }
    // Costs are integers, so the bound rounds up, but only past HiGHS's feasibility
    // tolerance: a bound of 3443.0000001 proves 3443, not 3444.
    let bound_u = bound.map(|b| (b - 1e-4).ceil() as u64);
    let e_count = inst.staff.len();
    let h = inst.horizon;
    // Neighbourhood sizes per kind: employees over the whole horizon, days over all
    // employees, employees over a two-week window.
    let mut size = [
        (e_count / 3).clamp(2, e_count),
        7.min(h),
        (e_count / 2).clamp(2, e_count),
    ];
    let max_size = [e_count, h, e_count];
    let sub_limit: f64 = 6.0;
    let mut round = 0u64;
    while settings.elapsed_s() + 0.5 < budget {
        if bound_u.is_some_and(|b| best_cost <= b) {
            break;
        }
        round += 1;
        let mut free = Free {
            cells: vec![vec![false; h]; e_count],
        };
        let kind = (round % 3) as usize;
        let mut staff: Vec<usize> = (0..e_count).collect();
        staff.shuffle(&mut rng);
        match kind {
            0 => {
                for &e in staff.iter().take(size[0]) {
                    free.cells[e].iter_mut().for_each(|c| *c = true);
                }
            }
            1 => {
                let start = rng.random_range(0..=h - size[1]);
                for row in &mut free.cells {
                    row[start..start + size[1]]
                        .iter_mut()
                        .for_each(|c| *c = true);
                }
            }
            _ => {
                let w2 = 14.min(h);
                let start = rng.random_range(0..=h - w2);
                for &e in staff.iter().take(size[2]) {
                    free.cells[e][start..start + w2]
                        .iter_mut()
                        .for_each(|c| *c = true);
                }
            }
        }
        let limit = sub_limit.min(budget - settings.elapsed_s()).max(0.0);
        let sub = build(inst, &free, Some(&best));
        let nv = sub.milp.num_vars();
        // The best roster is a feasible start for HiGHS, so a subproblem never returns
        // worse than what it was given.
        let sub_settings = settings
            .with_time_limit(limit)
            .with_seed(settings.seed.wrapping_add(round));
        let r = sub
            .milp
            .solve(&sub_settings, Some(&sub.hint), &mut |_| {})
            .map_err(NrpError::Highs)?;
        if std::env::var_os("NRP_DEBUG").is_some() {
            eprintln!(
                "round {round} kind {kind} size {:?} vars {nv} status {:?} obj {:?} t {:.1} best {best_cost}",
                size, r.status, r.objective, r.elapsed_s
            );
        }
        if let Some(v) = &r.values {
            let cand = read_roster(inst, &free, Some(&best), &sub.x, v);
            let report = check::check(inst, &cand);
            if report.hard_total() == 0 && report.cost() < best_cost {
                best = cand;
                best_cost = report.cost();
                progress(Progress {
                    elapsed_s: settings.elapsed_s(),
                    incumbent: Some(best_cost as f64),
                    bound,
                });
            }
        }
        // Closed quickly (solved or proven without improvement): try a bigger
        // neighbourhood of this kind; ran out of time: a smaller one.
        let closed = r.status != SolveStatus::TimeLimit;
        if closed && r.elapsed_s < limit * 0.3 {
            size[kind] = (size[kind] + 1).min(max_size[kind]);
        } else if !closed {
            size[kind] = size[kind].saturating_sub(1).max(1);
        }
    }
    let status = if bound_u.is_some_and(|b| best_cost <= b) {
        SolveStatus::Optimal
    } else {
        SolveStatus::TimeLimit
    };
    Ok(Found {
        roster: best,
        objective: best_cost,
        status,
        bound,
    })
}

/// A feasible start when the whole model found none in time: each employee alone (cover
/// left out), which the hard rules allow because they never couple employees.
fn per_employee_start(inst: &Instance, settings: &HighsSettings) -> Result<Roster, NrpError> {
    let mut roster = Roster::empty(inst);
    for e in 0..inst.staff.len() {
        let mut free = Free {
            cells: vec![vec![false; inst.horizon]; inst.staff.len()],
        };
        free.cells[e].iter_mut().for_each(|c| *c = true);
        let b = build(inst, &free, Some(&roster));
        let r = b
            .milp
            .solve(&settings.with_time_limit(5.0), None, &mut |_| {})
            .map_err(NrpError::Highs)?;
        match &r.values {
            Some(v) => roster = read_roster(inst, &free, Some(&roster), &b.x, v),
            None => return Err(NrpError::Infeasible),
        }
    }
    Ok(roster)
}
