//! The nurse-rostering MILP and the fix-and-optimise search around it.
//!
//! Sets: employees e, days d in 0..H, shifts s. Decision x[e,d,s] = 1 when e works s on d
//! (no variable where s is forbidden: a listed day off or MaxShifts[s] = 0). w[e,d] =
//! sum_s x[e,d,s] <= 1 (rule 1). Rules 2-8 as linear rows on x and w:
//! - successions: x[e,d,s] + sum_{t in F(s)} x[e,d+1,t] <= 1 (one shift a day makes the
//!   aggregated row valid and tighter than one row per pair);
//! - per-type and total-minute limits: sums over d;
//! - rules 5-7 (max/min consecutive shifts, min consecutive days off): for an employee
//!   whose whole horizon is free, a path through a network of runs (`add_run_network`),
//!   whose LP relaxation is exact for the run structure; with it HiGHS proves Instance1-5,
//!   10 and 11 optimal (with the window rows below alone, Instance5 kept a 35% gap). An
//!   employee with fixed cells (a subproblem of the search) keeps the window rows:
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
//! instances optimal), beside which, and after it while time remains, the other lanes
//! re-optimise neighbourhoods of the best roster with everything else fixed: blocks of
//! employees over the whole horizon, windows of days over all employees (one window, or
//! two apart), blocks of employees within a window, the employees who could fill one
//! short shift (cover terms carry most of the cost), and some employees over every
//! Friday to Monday (where weekends are what staff run short of); employees are drawn
//! by the avoidable cost they carry inside the subproblem's days. Fixed cells become
//! constants, so a subproblem holds only its free cells. A neighbourhood grows when
//! HiGHS closes it quickly and shrinks when it runs out of time. Between them, without
//! HiGHS, a pass of swaps between pairs of employees, and rotations among three where no
//! swap serves ([`swap`]), serves the requests the cover leaves room for. Where the
//! whole model runs, each lane follows a trajectory of its own (its own best roster; the
//! best of them is the answer); on larger instances all lanes work one roster.

// The model is index arithmetic over (employee, day, shift); ranges read like the maths.
#![allow(clippy::needless_range_loop)]

use good_lp::{Expression, Variable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::requests::CellRequests;
use super::{bound, check, construct, planted, swap, Cover, Instance, NrpError, Roster};
use crate::highs::{HighsSettings, Milp};
use crate::solve::{Progress, SolveStatus};

/// Which cells a subproblem may change.
#[derive(Clone)]
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
    build_as(inst, free, fixed, false)
}

/// [`build`], or its LP relaxation (`relaxed`: every 0/1 variable in [0, 1]), whose
/// optimum is a lower bound on every roster's cost.
fn build_as(inst: &Instance, free: &Free, fixed: Option<&Roster>, relaxed: bool) -> Built {
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
                let v = if relaxed {
                    m.continuous(0.0, 1.0)
                } else {
                    m.binary()
                };
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
        // An employee free over the whole horizon gets the run network (exact for rules
        // 5-7); one with fixed cells keeps the window rows, which touch only free cells.
        let runs_exact = free.cells[e].iter().all(|&f| f);
        if runs_exact {
            add_run_network(&mut m, st, &w);
        }
        let touches = |lo: usize, hi: usize| (lo..=hi.min(h - 1)).any(|d| free.cells[e][d]);
        // Rows for rules 5-7 only where the run network does not already hold them.
        let run_rows = |lo: usize, hi: usize| !runs_exact && touches(lo, hi);
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
                if run_rows(d, d + c) {
                    let sum: Expression = (d..=d + c).map(|i| w[i].clone()).sum();
                    m.constrain(sum.leq(c as f64));
                }
            }
        }
        for l in 1..st.min_consecutive as usize {
            for d in 0..h.saturating_sub(l + 1) {
                if !run_rows(d, d + l + 1) {
                    continue;
                }
                let inner: Expression = (d + 1..=d + l).map(|i| w[i].clone()).sum();
                m.constrain((inner - w[d].clone() - w[d + l + 1].clone()).leq(l as f64 - 1.0));
            }
        }
        // The same rules from the run's start (j = 1 is the l = 1 pattern above): a run
        // of work that starts on day d >= 1 (day d-1 off) lasts through d+j for every j
        // below the minimum that stays inside the horizon; days off alike. Valid by the
        // same exemptions, and tighter in the LP when the minimum is 3 or more.
        let k = st.min_consecutive as usize;
        for d in 1..h {
            for j in 2..k.min(h - d) {
                if run_rows(d - 1, d + j) {
                    m.constrain((w[d].clone() - w[d - 1].clone() - w[d + j].clone()).leq(0.0));
                }
            }
        }
        let k = st.min_days_off as usize;
        for d in 1..h {
            for j in 2..k.min(h - d) {
                if run_rows(d - 1, d + j) {
                    m.constrain((w[d - 1].clone() - w[d].clone() + w[d + j].clone()).leq(1.0));
                }
            }
        }
        for l in 1..st.min_days_off as usize {
            for d in 0..h.saturating_sub(l + 1) {
                if !run_rows(d, d + l + 1) {
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
            let v = if relaxed {
                m.continuous(0.0, 1.0)
            } else {
                m.binary()
            };
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
    // Cover: the fixed cells' count is a constant; a (day, shift) with no free variable
    // is a constant penalty (kept in the objective, so the whole model's bound and
    // objective stay the roster's cost) and needs no row.
    let mut fixed_count = vec![0u32; h * ns];
    let mut hint_count = vec![0u32; h * ns];
    let mut free_on_day: Vec<Vec<usize>> = vec![Vec::new(); h];
    for e in 0..inst.staff.len() {
        for d in 0..h {
            let here = fixed_at(e, d);
            if let Some(s) = here {
                hint_count[d * ns + s] += 1;
            }
            if free.cells[e][d] {
                free_on_day[d].push(e);
            } else if let Some(s) = here {
                fixed_count[d * ns + s] += 1;
            }
        }
    }
    for c in &inst.cover {
        let i = c.day * ns + c.shift;
        let req = c.requirement as f64;
        let vars: Vec<Variable> = free_on_day[c.day]
            .iter()
            .filter_map(|&e| x[e][c.day][c.shift])
            .collect();
        let have = fixed_count[i] as f64;
        if vars.is_empty() {
            let penalty = c.under_weight as f64 * (req - have).max(0.0)
                + c.over_weight as f64 * (have - req).max(0.0);
            m.minimise(Expression::from(penalty));
            continue;
        }
        let n: Expression = vars
            .iter()
            .map(|&v| Expression::from(v))
            .sum::<Expression>()
            + have;
        let under = m.continuous(0.0, f64::INFINITY);
        let over = m.continuous(0.0, f64::INFINITY);
        if fixed.is_some() {
            let have = hint_count[i] as f64;
            hint.push((under, (req - have).max(0.0)));
            hint.push((over, (have - req).max(0.0)));
        }
        m.constrain((n + under - over).eq(req));
        m.minimise(c.under_weight as f64 * under + c.over_weight as f64 * over);
    }
    Built { milp: m, x, hint }
}

/// Rules 5-7 for one employee as a path through a network of runs, whose LP relaxation
/// is exact for the run structure (the window rows are not: they let a fractional roster
/// work 0.8 of every day). Nodes: `start_work[d]` (a working run begins on day d, day d-1
/// off or d = 0), `start_off[d]` (an off run begins on day d, day d-1 worked), `off[d]`
/// (an off run that has met its minimum may go on through day d or end before it), and
/// the end of the horizon. Arcs:
/// - work run of l days from d: `start_work[d] -> start_off[d+l]`, l <= MaxConsecutive,
///   and l >= MinConsecutive unless the run touches day 0 or day H-1 (exempt);
/// - minimum off run: `start_off[d] -> off[min(d+m, H)]` (m = MinConsecutiveDaysOff; a run
///   cut short by the end of the horizon touches day H-1 and is exempt);
/// - one more day off: `off[d] -> off[d+1]`; work again: `off[d] -> start_work[d]`;
///   `off[H]` is the end.
///
/// The horizon begins in `off[0]` (an off run touching day 0 is exempt; `off[0] ->
/// start_work[0]` starts with work). Every path covers each day by exactly one arc, so
/// `w[d]` = flow on the work arcs over d. Arc flows may be continuous: with `w` integral
/// every path in the flow has the same working days.
fn add_run_network(m: &mut Milp, st: &super::Staff, w: &[Expression]) {
    let h = w.len();
    let max_on = (st.max_consecutive as usize).min(h);
    let min_on = st.min_consecutive as usize;
    let min_off = (st.min_days_off as usize).max(1);
    // inflow - outflow per node; the path enters off[0] and leaves at off[h]
    let mut start_work: Vec<Expression> = (0..=h).map(|_| Expression::from(0.0)).collect();
    let mut start_off: Vec<Expression> = (0..=h).map(|_| Expression::from(0.0)).collect();
    let mut off: Vec<Expression> = (0..=h).map(|_| Expression::from(0.0)).collect();
    let mut covered: Vec<Expression> = (0..h).map(|_| Expression::from(0.0)).collect();
    let arc = |m: &mut Milp| m.continuous(0.0, 1.0);
    for d in 0..h {
        for l in 1..=max_on.min(h - d) {
            if l < min_on && d != 0 && d + l != h {
                continue;
            }
            let a = arc(m);
            start_work[d] -= a;
            start_off[d + l] += a;
            for c in &mut covered[d..d + l] {
                *c += a;
            }
        }
    }
    for d in 1..h {
        // minimum off run (or the rest of the horizon when less is left: exempt)
        let a = arc(m);
        start_off[d] -= a;
        off[(d + min_off).min(h)] += a;
    }
    for d in 0..h {
        let more = arc(m);
        off[d] -= more;
        off[d + 1] += more;
        let back = arc(m);
        off[d] -= back;
        start_work[d] += back;
    }
    // A working run ending on day H-1 leads to start_off[H], which is the end too.
    let finish = arc(m);
    start_off[h] -= finish;
    off[h] += finish;
    // start_off[0] has no arcs (day 0 starts in off[0]) and start_work[h] none either.
    for d in 0..h {
        m.constrain(start_work[d].clone().eq(0.0));
        if d > 0 {
            m.constrain(start_off[d].clone().eq(0.0));
            m.constrain(off[d].clone().eq(0.0));
        }
    }
    m.constrain(off[0].clone().eq(-1.0));
    m.constrain(off[h].clone().eq(1.0));
    for d in 0..h {
        m.constrain(covered[d].clone().eq(w[d].clone()));
    }
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

/// Progress as the caller sees it: the best roster's cost and the best bound so far, on
/// every improvement and at least once a second while the search runs.
struct Stream<'p> {
    sink: &'p mut dyn FnMut(Progress),
    incumbent: Option<f64>,
    bound: Option<f64>,
    last: f64,
}

impl Stream<'_> {
    fn emit(&mut self, elapsed_s: f64) {
        self.last = elapsed_s;
        (self.sink)(Progress {
            elapsed_s,
            incumbent: self.incumbent,
            bound: self.bound,
        });
    }

    fn improved(&mut self, elapsed_s: f64, cost: u64) {
        self.incumbent = Some(cost as f64);
        self.emit(elapsed_s);
    }

    fn tick(&mut self, elapsed_s: f64) {
        if elapsed_s - self.last >= 1.0 {
            self.emit(elapsed_s);
        }
    }
}

/// What the exact model of one employee's rules said.
enum EmployeeRow {
    Row(Vec<Option<usize>>),
    /// HiGHS proved that no row meets this employee's rules (twice: with and without
    /// presolve).
    Infeasible,
    /// Neither a row nor a proof within the time given.
    Unknown,
}

/// The roster, then its improvement. Construction (a row per employee within every hard
/// rule, `construct`); an exact MILP for any employee the construction left open; a few
/// passes that re-build each row against the others; bounds; then the lanes: the whole
/// model, warm-started from that roster, for part of the time (it proves the small
/// instances optimal and gives the bound) in one, many small fix-and-optimise steps and
/// swap passes in the others and, once the whole model is done, in all of them until the
/// budget is spent: where the whole model runs, each lane on a roster of its own (a
/// trajectory, [`Team`]), elsewhere all on one. The search returns by the budget plus a
/// grace even if a HiGHS call does not.
///
/// Infeasibility is reported only when HiGHS proves that one employee's rules admit no row
/// (the hard rules never couple employees, and the cover rows have slacks, so the whole
/// model is infeasible exactly when one employee's block is) or proves the whole model
/// infeasible; a time limit is never read as infeasibility.
pub(super) fn search(
    inst: &Instance,
    settings: &HighsSettings,
    progress: &mut dyn FnMut(Progress),
) -> Result<Found, NrpError> {
    // `threads` is how many subproblems run at once (step 4); HiGHS itself gets one
    // thread in every call, as the whole model and the subproblems were tuned with.
    let lanes_asked = settings.threads as usize;
    let settings = &settings.with_threads(1);
    let budget = settings.time_limit_s;
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let debug = std::env::var_os("NRP_DEBUG").is_some();
    let mut stream = Stream {
        sink: progress,
        incumbent: None,
        bound: None,
        last: f64::NEG_INFINITY,
    };
    stream.emit(settings.elapsed_s());

    // 1. A roster within the hard rules.
    let mut ctor = construct::Constructor::new(inst);
    let built = ctor.construct(&mut rng);
    let mut best = built.roster;
    let mut open = built.open;
    if debug {
        eprintln!(
            "construction: {} rows, {} open, t {:.2}",
            inst.staff.len() - open.len(),
            open.len(),
            settings.elapsed_s()
        );
    }
    let mut tried = Vec::new();
    if !open.is_empty() {
        tried.push(format!(
            "construction left {} of {} employees without a row",
            open.len(),
            inst.staff.len()
        ));
    }
    let mut attempt = 0;
    while !open.is_empty() {
        attempt += 1;
        let left = budget - settings.elapsed_s();
        if left <= 0.05 {
            tried.push(format!(
                "the exact model of each of {} employees ({}) found no row and no proof \
                 within the time limit",
                open.len(),
                employee_names(inst, &open)
            ));
            return Err(NrpError::NoRoster {
                tried: tried.join("; "),
            });
        }
        // Share what is left among the open employees, more each round.
        let limit = (left / open.len() as f64).min(5.0 * f64::from(1u32 << attempt.min(6)));
        let mut still = Vec::new();
        for &e in &open {
            let lim = limit.min(budget - settings.elapsed_s()).max(0.0);
            match employee_row(inst, e, &best, settings, lim) {
                EmployeeRow::Row(row) => best.cells[e] = row,
                EmployeeRow::Infeasible => {
                    return Err(NrpError::Infeasible {
                        reason: format!(
                            "HiGHS proves that employee {}'s own rules admit no roster \
                             (with and without presolve)",
                            inst.staff[e].id
                        ),
                    })
                }
                EmployeeRow::Unknown => still.push(e),
            }
        }
        open = still;
    }
    let mut best_cost = check::check(inst, &best).cost();
    stream.improved(settings.elapsed_s(), best_cost);

    // 2. Re-build each row against the others while that pays (a few seconds at most).
    let passes = ctor.improve(
        &mut best,
        &mut rng,
        settings.started,
        settings.elapsed_s() + (budget * 0.05).min(10.0),
    );
    let cost = check::check(inst, &best).cost();
    if cost < best_cost {
        best_cost = cost;
        stream.improved(settings.elapsed_s(), best_cost);
    }
    if debug {
        let r = check::check(inst, &best);
        eprintln!(
            "construction improved by {passes} passes: cost {best_cost} t {:.2} \
             (on {} off {} under {} over {})",
            settings.elapsed_s(),
            r.shift_on_requests,
            r.shift_off_requests,
            r.cover_under,
            r.cover_over
        );
    }

    if let Some(path) = std::env::var_os("NRP_DUMP_START") {
        dump(inst, &best, &path);
    }

    // 3. Bounds, before the subproblems: the Lagrangian (cover rows and each employee's
    // budgets priced) on the clock, and the combinatorial bound. The whole model, which
    // also gives a bound, runs as the first job of the lanes below.
    let cells: usize = inst
        .staff
        .iter()
        .map(|st| st.max_shifts.iter().filter(|&&m| m > 0).count() * inst.horizon)
        .sum();
    let whole_cells = std::env::var("NRP_WHOLE_CELLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(WHOLE_MODEL_CELLS);
    let whole_runs = cells <= whole_cells && budget - settings.elapsed_s() > 0.5;
    let mut bound: Option<f64> = None;
    // (The LP relaxation was used here; on a year of 150 nurses and 32 types HiGHS ran
    // more than a minute past its time limit.) Where the whole model runs, its bound is
    // usually the stronger, so the Lagrangian gets a small share there (it often
    // converges sooner).
    if budget - settings.elapsed_s() > 0.3 {
        let share = std::env::var("NRP_LAGRANGE_SHARE")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(if whole_runs {
                LAGRANGE_SHARE_BESIDE_WHOLE
            } else {
                LAGRANGE_SHARE
            });
        let end = settings.elapsed_s() + (budget * share).min(budget - settings.elapsed_s() - 0.2);
        let mut lagrange = bound::Lagrange::new(inst);
        while settings.elapsed_s() < end && !lagrange.finished(best_cost as f64) {
            // In slices of at most a second, so that the bar moves.
            let slice_end = (settings.elapsed_s() + 1.0).min(end);
            let stop = settings.started + std::time::Duration::from_secs_f64(slice_end);
            if let Some(b) = lagrange.run(best_cost as f64, stop) {
                if bound.is_none_or(|x| b > x) {
                    bound = Some(b);
                    stream.bound = bound;
                }
            }
            stream.emit(settings.elapsed_s());
        }
        if debug {
            eprintln!(
                "Lagrangian bound: {bound:?} after {} iterations t {:.1}",
                lagrange.iterations,
                settings.elapsed_s()
            );
        }
    }
    // The combinatorial bound (unavoidable request conflicts per cell and the cover no
    // staff capacity can fill, `planted::lower_bound`): weak on the published instances,
    // exact on planted ones, and a moment to compute.
    let simple = planted::lower_bound(inst) as f64;
    if bound.is_none_or(|b| simple > b) {
        bound = Some(simple);
        stream.bound = bound;
        // Streamed now: on a loaded machine the budget may be spent before the
        // improvement rounds below emit again.
        stream.emit(settings.elapsed_s());
    }
    // Costs are integers, so the bound rounds up, but only past HiGHS's feasibility
    // tolerance: a bound of 3443.0000001 proves 3443, not 3444.
    let round_up = |b: Option<f64>| b.map(|b| (b - 1e-4).ceil() as u64);
    let mut bound_u = round_up(bound);

    // 4. The lanes: `lanes` jobs at once, one HiGHS thread each. The first job is the
    // whole model, warm-started from the roster in hand, for part of the time: it proves
    // the small instances optimal within this share and gives the bound; on larger ones
    // it rarely finds a better roster, so meanwhile the other lanes already run
    // subproblems (before, the second core idled through it). Then fix-and-optimise
    // around each trajectory's best roster, on cells no other running subproblem of that
    // trajectory holds. Each subproblem starts from its trajectory's best roster when it
    // is handed out; when it ends, its cells are laid onto that roster as it is then, and
    // kept where the result meets every rule and costs no more.
    let whole_limit = whole_runs.then(|| {
        let share = if cells <= SMALL_MODEL_CELLS {
            0.3
        } else {
            0.15
        };
        std::env::var("NRP_WHOLE_S")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(budget * share)
            .min(budget - settings.elapsed_s())
    });
    // Short calls: many small steps beat a few large ones; the sizes adapt so that most
    // calls close well inside this limit. Where the whole model does not run, the search
    // is throughput-bound and shorter calls still pay: on the year of 150 nurses (300 s,
    // seeds 0-2) calls of budget / 100 (3 s) ended 7.3-9.0% above the optimum, of
    // budget / 200 (1.5 s) 6.3-6.8%, and got within 10% at 162-196 s instead of
    // 200-267 s (solvers README).
    let calls = if whole_runs {
        SUB_CALLS
    } else {
        SUB_CALLS_THROUGHPUT
    };
    let sub_limit = std::env::var("NRP_SUB_S")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or((budget / calls).clamp(0.5, 3.0));
    let lanes = lanes_asked.clamp(1, MAX_LANES);
    // Where the whole model runs, each lane follows its own trajectory (one lane's
    // results never laid on another's roster); the best of them is the answer. There the
    // neighbourhoods are large shares of the roster, and two lanes on one roster held
    // each other's cells out of them: Instance8 ended with a 13th head missing in half
    // its runs with two lanes on one roster, and in none of four with one lane alone. On
    // larger instances the search is throughput-bound, so all lanes work one roster.
    let team_count = if whole_runs { lanes } else { 1 };
    let mut teams: Vec<Team> = (0..team_count)
        .map(|_| Team {
            best: best.clone(),
            best_cost,
            chooser: KindChooser::new(!whole_runs),
            hoods: Neighbourhoods::new(inst),
        })
        .collect();
    let mut failures = 0u32;
    let (mut kept, mut laid) = (0u32, 0u32);
    // The lanes are detached threads, each with its own copy of the instance, so that the
    // search can return on time even when a HiGHS call never does (seen once, in HiGHS's
    // restart presolve, `strengthenInequalities`, minutes past a 0.6 s limit): such a lane
    // is left behind past the deadline and a grace, its result never read.
    let shared = std::sync::Arc::new(inst.clone());
    let swaps = swap::Swaps::new(inst);
    let hard_stop = settings.started
        + std::time::Duration::from_secs_f64(budget + (budget * 0.1).max(LANE_GRACE_S));
    let mut abandoned = 0;
    let rounds = {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<(usize, Job, Result<Solved, String>)>();
        let mut pool = Lanes {
            inst,
            settings,
            sub_limit,
            to_lane: Vec::with_capacity(lanes),
            holding: vec![None; lanes],
            teams: team_count,
            round: 0,
        };
        for w in 0..lanes {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            pool.to_lane.push(Some(tx));
            let done = done_tx.clone();
            let inst = std::sync::Arc::clone(&shared);
            std::thread::spawn(move || {
                let swaps = swap::Swaps::new(&inst);
                while let Ok(job) = rx.recv() {
                    let lane = solve_lane(&inst, &swaps, &job);
                    if done.send((w, job, lane)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut running = 0;
        for w in 0..lanes {
            let team = &teams[pool.team(w)];
            let sent = match whole_limit {
                Some(limit) if w == 0 => pool.dispatch_whole(w, &team.best, limit),
                _ => pool.dispatch(w, team, &mut rng),
            };
            if sent {
                running += 1;
            }
        }
        while running > 0 {
            let wait = hard_stop.saturating_duration_since(std::time::Instant::now());
            let (w, job, result) = match done_rx.recv_timeout(wait) {
                Ok(done) => done,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    abandoned = running;
                    break;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            running -= 1;
            pool.holding[w] = None;
            let overall_before = best_cost_of(&teams);
            let team = &mut teams[pool.team(w)];
            let cost_before = team.best_cost;
            match (result, job.kind) {
                (Err(e), _) => {
                    // One failed job costs its round, not the roster.
                    failures += 1;
                    if debug {
                        eprintln!("{:?}: HiGHS failed: {e}", job.kind);
                    }
                }
                (Ok(done), None) => {
                    if done.status == SolveStatus::Infeasible {
                        // A roster within every rule is in hand, so this is HiGHS's
                        // numerics, not a proof: keep the roster.
                        tried.push("HiGHS reported the whole model infeasible; ignored".into());
                    } else if let Some(b) = done.bound {
                        if bound.is_none_or(|x| b > x) {
                            bound = Some(b);
                            bound_u = round_up(bound);
                            stream.bound = bound;
                        }
                    }
                    if let Some((cand, cost)) = done.found {
                        if done.status == SolveStatus::Optimal {
                            // HiGHS closed the gap with its own tolerance, so its bound
                            // may sit a hair below this roster's integer cost, which is
                            // the optimum.
                            bound_u = bound_u.max(Some(cost));
                        }
                        if cost <= team.best_cost {
                            team.best = cand;
                            team.best_cost = cost;
                        }
                    }
                    if debug {
                        eprintln!(
                            "whole model: {:?} cost {} bound {bound:?} t {:.1}",
                            done.status,
                            team.best_cost,
                            settings.elapsed_s()
                        );
                    }
                }
                (Ok(done), Some(kind)) => {
                    let (l, k) = team.lay(inst, &swaps, &job.free, &done);
                    laid += l;
                    kept += k;
                    let gain = cost_before - team.best_cost;
                    if debug {
                        eprintln!(
                            "round {} team {} {:?} size {} status {:?} t {:.2} gain {gain} best {} at {:.1}",
                            pool.round,
                            pool.team(w),
                            kind,
                            team.hoods.size(kind),
                            done.status,
                            done.seconds,
                            team.best_cost,
                            settings.elapsed_s()
                        );
                    }
                    let closed = done.status != SolveStatus::TimeLimit;
                    team.hoods
                        .adapt(kind, closed, done.seconds < job.limit * 0.25);
                    team.chooser.record(kind, gain as f64, done.seconds);
                }
            }
            let overall = best_cost_of(&teams);
            if overall < overall_before {
                stream.improved(settings.elapsed_s(), overall);
            } else {
                stream.tick(settings.elapsed_s());
            }
            let proven = bound_u.is_some_and(|b| overall <= b);
            let team = &teams[pool.team(w)];
            if !proven && failures <= 20 && pool.dispatch(w, team, &mut rng) {
                running += 1;
            } else {
                // Ends that lane's thread; the others finish their job.
                pool.to_lane[w] = None;
            }
        }
        // Ends every lane's thread (but one stuck in HiGHS, which ends with the process).
        pool.to_lane.clear();
        pool.round
    };
    if debug && abandoned > 0 {
        eprintln!("{abandoned} lane(s) left behind in a HiGHS call past the time limit");
    }
    if debug {
        let ends: Vec<u64> = teams.iter().map(|t| t.best_cost).collect();
        eprintln!("{lanes} lanes: {kept} of {laid} results kept; trajectories ended at {ends:?}");
    }
    // The best trajectory's roster (the first of equals).
    let Team {
        best, best_cost, ..
    } = teams
        .into_iter()
        .min_by_key(|t| t.best_cost)
        .expect("at least one trajectory");
    let status = if bound_u.is_some_and(|b| best_cost <= b) {
        SolveStatus::Optimal
    } else {
        SolveStatus::TimeLimit
    };
    stream.emit(settings.elapsed_s());
    if debug {
        let r = check::check(inst, &best);
        eprintln!(
            "end: {rounds} rounds, on {} off {} under {} over {}",
            r.shift_on_requests, r.shift_off_requests, r.cover_under, r.cover_over
        );
    }
    if let Some(path) = std::env::var_os("NRP_DUMP") {
        dump(inst, &best, &path);
    }
    Ok(Found {
        roster: best,
        objective: best_cost,
        status,
        bound,
    })
}

/// Development aid: a roster as text, a line per employee, a shift id or - a day
/// (`NRP_DUMP`: the final roster; `NRP_DUMP_START`: the constructed one).
fn dump(inst: &Instance, roster: &Roster, path: &std::ffi::OsStr) {
    let text: String = inst
        .staff
        .iter()
        .zip(&roster.cells)
        .map(|(st, row)| {
            let days: Vec<&str> = row
                .iter()
                .map(|c| c.map_or("-", |s| inst.shifts[s].id.as_str()))
                .collect();
            format!("{} {}\n", st.id, days.join(" "))
        })
        .collect();
    let _ = std::fs::write(path, text);
}

/// "A, B and C" (at most eight, then "and N more").
fn employee_names(inst: &Instance, es: &[usize]) -> String {
    let names: Vec<&str> = es
        .iter()
        .take(8)
        .map(|&e| inst.staff[e].id.as_str())
        .collect();
    let more = es.len().saturating_sub(8);
    let mut s = names.join(", ");
    if more > 0 {
        s.push_str(&format!(" and {more} more"));
    }
    s
}

/// Whole models up to this many (employee, day, allowed shift) cells are solved for part
/// of the time (bound and, on small instances, the optimum); larger ones go straight to
/// the subproblems.
const WHOLE_MODEL_CELLS: usize = 60_000;

/// Share of the time the Lagrangian bound may take when the whole MILP gives none.
const LAGRANGE_SHARE: f64 = 0.08;

/// Share of the time the Lagrangian bound may take where the whole MILP runs too (as
/// the lanes' first job), whose bound is usually the stronger.
const LAGRANGE_SHARE_BESIDE_WHOLE: f64 = 0.02;

/// Instances with at most this many (employee, day, allowed shift) cells give the whole
/// model 30% of the time (Instance1-5: it proves 1-4 optimal there); larger ones 15%.
const SMALL_MODEL_CELLS: usize = 1000;

/// Where the whole model runs (the published instances, where this was tuned), a
/// subproblem's time limit is the budget over this, within 0.5-3 s.
const SUB_CALLS: f64 = 100.0;

/// The same where the whole model does not run: the search is throughput-bound there.
const SUB_CALLS_THROUGHPUT: f64 = 200.0;

/// On horizons longer than this, whole-row subproblems free a window of this many days
/// (four weeks, the horizon the whole model closes on Instance4-12). Chosen over 56 days
/// and the whole horizon on generated instances of 23-150 nurses over 42-364 days, two
/// generator seeds, 30 s: best of the three on all seven.
const LONG_SPAN: usize = 28;

/// Seconds (at least; or a tenth of the budget) past the time limit that the search waits
/// for a lane's HiGHS call before leaving it behind.
const LANE_GRACE_S: f64 = 5.0;

/// Days either side of a request that a swap starts out reaching (then adapted like the
/// other kinds' sizes): a week, so that a swap can carry a whole run of work and the rest
/// after it.
const SWAP_REACH: usize = 7;

/// The shapes of subproblem the search cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A few employees over the whole horizon: swaps work between them.
    Employees,
    /// All employees over a window of days: reshuffles cover locally.
    Days,
    /// Half the employees over a two-week window.
    Block,
    /// Employees who could fill one short (or relieve one over-full) shift, over the
    /// whole horizon: cover costs sit on days, not on employees, so the cost-biased
    /// employee choice alone never aims at them.
    Cover,
    /// All employees over two windows of days apart: work moves between distant parts
    /// of the horizon with every employee's budgets kept (a weekend given up in one
    /// window is worked in the other). Where staff are short on weekends (Instance8:
    /// every nurse must work both days of each weekend they may), the missing heads sit
    /// on weekends weeks apart, and no single window or handful of rows reaches them.
    Windows,
    /// No MILP: two employees exchange their shifts over a window of days, every pair and
    /// window around each unmet request tried, or three rotate them where no pair serves
    /// ([`swap`]). The cover stays as it is, so this serves the requests once the cover
    /// is settled, which the MILP kinds reach only when they happen to free the right
    /// pair. Its size is the days either side of the request a swap may reach.
    Swaps,
    /// Some employees over every weekend of a span, each with the Friday before and the
    /// Monday after: where staff may work only so many weekends, the heads missing sit on
    /// weekends, and a nurse gives one up only by taking another.
    Weekends,
}

impl Kind {
    /// The order the search takes them in. Under-cover costs 100 a unit, so the kinds
    /// aimed at it (day windows over all employees, cover helpers) come twice as often.
    /// `Weekends` and `Swaps` come last, so that the first seven run in the order they
    /// always did.
    const CYCLE: [Kind; 9] = [
        Kind::Days,
        Kind::Employees,
        Kind::Cover,
        Kind::Windows,
        Kind::Days,
        Kind::Block,
        Kind::Cover,
        Kind::Weekends,
        Kind::Swaps,
    ];

    /// Every kind, in `index` order.
    const ALL: [Kind; 7] = [
        Kind::Employees,
        Kind::Days,
        Kind::Block,
        Kind::Cover,
        Kind::Windows,
        Kind::Swaps,
        Kind::Weekends,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Most subproblems run at once, whatever the threads asked for: beyond this the lanes'
/// changes rarely combine (they share employees' horizon budgets).
const MAX_LANES: usize = 8;

/// One trajectory of the search: its best roster, and how its kinds have paid and its
/// neighbourhoods have grown on the way there.
struct Team {
    best: Roster,
    best_cost: u64,
    chooser: KindChooser,
    hoods: Neighbourhoods,
}

impl Team {
    /// Lays a finished job onto this trajectory's best roster as it is now (its other
    /// lanes may have changed other cells since the job started): a swap pass's moves,
    /// made again one by one, or a subproblem's `free` cells from its roster. A result is
    /// kept where the roster then meets every rule and costs no more. Returns how many
    /// results were laid and how many kept.
    fn lay(
        &mut self,
        inst: &Instance,
        swaps: &swap::Swaps,
        free: &Free,
        done: &Solved,
    ) -> (u32, u32) {
        let (mut laid, mut kept) = (0, 0);
        if !done.moves.is_empty() {
            laid += 1;
            let before = self.best.clone();
            let gain = swaps.replay(&mut self.best, &done.moves);
            if gain > 0 {
                // The replay checks every rule it touches; this checks it did.
                let report = check::check(inst, &self.best);
                if report.hard_total() == 0 && report.cost() + gain == self.best_cost {
                    kept += 1;
                    self.best_cost = report.cost();
                } else {
                    debug_assert!(false, "a replayed swap broke the roster");
                    self.best = before;
                }
            }
        }
        if let Some((cand, _)) = &done.found {
            laid += 1;
            let mut trial = self.best.clone();
            for (e, row) in free.cells.iter().enumerate() {
                for (d, &f) in row.iter().enumerate() {
                    if f {
                        trial.cells[e][d] = cand.cells[e][d];
                    }
                }
            }
            let report = check::check(inst, &trial);
            // Equal cost is accepted too: moving along a plateau changes which
            // neighbourhoods can improve next.
            if report.hard_total() == 0 && report.cost() <= self.best_cost {
                kept += 1;
                self.best = trial;
                self.best_cost = report.cost();
            }
        }
        (laid, kept)
    }
}

/// The lowest cost any trajectory has reached.
fn best_cost_of(teams: &[Team]) -> u64 {
    teams.iter().map(|t| t.best_cost).min().unwrap_or(u64::MAX)
}

/// A subproblem handed to a lane: what to free, the roster it starts from, HiGHS's
/// settings and its time limit.
struct Job {
    /// The subproblem's kind; `None` for the whole model (run once, as the first job, so
    /// never drawn, sized or measured).
    kind: Option<Kind>,
    /// The kind's size when it was drawn (what `Swaps` reads; the MILP kinds' size is
    /// already in `free`).
    size: usize,
    free: Free,
    base: Roster,
    settings: HighsSettings,
    limit: f64,
}

/// The handing-out side of the lanes: where each lane's jobs go and which cells its
/// running subproblem holds.
struct Lanes<'a> {
    inst: &'a Instance,
    settings: &'a HighsSettings,
    sub_limit: f64,
    /// A lane's job queue; `None` once the lane is closed.
    to_lane: Vec<Option<std::sync::mpsc::Sender<Job>>>,
    /// Cells held by each lane's running subproblem.
    holding: Vec<Option<Free>>,
    /// How many trajectories the lanes work for: lane `w` for trajectory `w % teams`.
    teams: usize,
    /// Subproblems handed out so far (each its own HiGHS seed).
    round: u64,
}

impl Lanes<'_> {
    /// The trajectory (index into the search's teams) lane `w` works for.
    fn team(&self, w: usize) -> usize {
        w % self.teams
    }

    /// Hands lane `w` the whole model, warm-started from `best`, for `limit` seconds. It
    /// holds no cells: its roster replaces the best one only when it costs no more.
    fn dispatch_whole(&mut self, w: usize, best: &Roster, limit: f64) -> bool {
        let job = Job {
            kind: None,
            size: 0,
            free: Free::all(self.inst),
            base: best.clone(),
            settings: self.settings.with_time_limit(limit),
            limit,
        };
        self.send(w, job)
    }

    /// Queues `job` on lane `w`; false when the lane is closed.
    fn send(&self, w: usize, job: Job) -> bool {
        self.to_lane[w]
            .as_ref()
            .is_some_and(|tx| tx.send(job).is_ok())
    }

    /// Hands lane `w` its next subproblem around `team`'s best roster (the lane's
    /// trajectory): a kind by its chooser, its cells by its neighbourhoods, less those
    /// another lane of the same trajectory holds (a few draws, in case they are all held).
    /// False, and the lane closed, when time is up or no draw left a free cell.
    fn dispatch(&mut self, w: usize, team: &Team, rng: &mut StdRng) -> bool {
        let Team {
            best,
            chooser,
            hoods,
            ..
        } = team;
        let left = self.settings.time_limit_s - self.settings.elapsed_s();
        if left >= 0.2 {
            // The cells held by this trajectory's running subproblems (only lanes of the
            // same trajectory work on the same roster).
            let mut held = vec![vec![false; self.inst.horizon]; self.inst.staff.len()];
            for v in (0..self.holding.len()).filter(|&v| self.team(v) == self.team(w)) {
                for (e, row) in self.holding[v]
                    .iter()
                    .flat_map(|h| h.cells.iter().enumerate())
                {
                    for (d, &c) in row.iter().enumerate() {
                        held[e][d] |= c;
                    }
                }
            }
            for _ in 0..4 {
                self.round += 1;
                let kind = chooser.choose(self.round, rng);
                let mut free = hoods.pick(self.inst, best, kind, rng);
                let mut any = false;
                for (e, row) in free.cells.iter_mut().enumerate() {
                    for (d, c) in row.iter_mut().enumerate() {
                        *c &= !held[e][d];
                        any |= *c;
                    }
                }
                if !any {
                    continue;
                }
                // A swap pass holds nothing: it makes a few small changes anywhere, which
                // are checked when laid like any other result.
                self.holding[w] = (kind != Kind::Swaps).then(|| free.clone());
                let limit = self.sub_limit.min(left);
                let job = Job {
                    kind: Some(kind),
                    size: hoods.size(kind),
                    free,
                    base: best.clone(),
                    settings: self
                        .settings
                        .with_time_limit(limit)
                        .with_seed(self.settings.seed.wrapping_add(self.round)),
                    limit,
                };
                if self.send(w, job) {
                    return true;
                }
                break;
            }
        }
        self.holding[w] = None;
        self.to_lane[w] = None;
        false
    }
}

/// A job HiGHS ran to its end or its limit.
struct Solved {
    /// The roster and its cost, when HiGHS gave one that meets every rule.
    found: Option<(Roster, u64)>,
    status: SolveStatus,
    /// HiGHS's bound on the objective: for the whole model, on every roster's cost.
    bound: Option<f64>,
    seconds: f64,
    /// A swap pass's swaps (its `found` is `None`).
    moves: Vec<swap::Move>,
}

/// One job: `free`'s cells re-optimised with the rest of `base` fixed (all of them for
/// the whole model), warm-started from `base` (so HiGHS never returns worse than it was
/// given). An error is HiGHS's.
fn solve_lane(inst: &Instance, swaps: &swap::Swaps, job: &Job) -> Result<Solved, String> {
    let started = std::time::Instant::now();
    if job.kind == Some(Kind::Swaps) {
        let mut roster = job.base.clone();
        let mut rng = StdRng::seed_from_u64(job.settings.seed);
        let deadline = started + std::time::Duration::from_secs_f64(job.limit);
        let pass = swaps.improve(&mut roster, &job.free.cells, job.size, deadline, &mut rng);
        debug_assert_eq!(pass.gain == 0, pass.moves.is_empty());
        return Ok(Solved {
            // The moves, not the roster: they are made again on the best roster as it is
            // when this returns (the pass holds no cells, so other lanes may have changed
            // some of its rows meanwhile; one voided move must not void the rest).
            found: None,
            moves: pass.moves,
            // "Optimal" here: no swap within its reach improves the roster.
            status: if pass.closed {
                SolveStatus::Optimal
            } else {
                SolveStatus::TimeLimit
            },
            bound: None,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let sub = build(inst, &job.free, Some(&job.base));
    let r = sub
        .milp
        .solve(&job.settings, Some(&sub.hint), &mut |_| {})
        .map_err(|e| e.to_string())?;
    let found = r.values.as_ref().and_then(|v| {
        let cand = read_roster(inst, &job.free, Some(&job.base), &sub.x, v);
        let report = check::check(inst, &cand);
        (report.hard_total() == 0).then(|| (cand, report.cost()))
    });
    Ok(Solved {
        found,
        status: r.status,
        bound: r.bound,
        seconds: started.elapsed().as_secs_f64(),
        moves: Vec::new(),
    })
}

/// Which kind of subproblem comes next: after one pass of [`Kind::CYCLE`] (each kind
/// measured), drawn with weight by each kind's recent gain per second, so that the kind
/// repairing the current roster fastest runs most; every kind keeps a floor share, since a
/// kind idle now (e.g. `Employees` while cover dominates) is the one that pays later.
struct KindChooser {
    /// Exponentially smoothed cost removed per second, per kind.
    rate: [f64; Kind::ALL.len()],
    /// `Kind::CYCLE` less the kinds this search does not draw.
    cycle: Vec<Kind>,
    /// The kinds this search draws, in `index` order.
    kinds: Vec<Kind>,
}

impl KindChooser {
    /// Share each kind keeps whatever its rate.
    const FLOOR: f64 = 0.08;
    /// Weight of the newest round in a kind's rate.
    const SMOOTHING: f64 = 0.3;

    /// Every kind, or every kind but `Swaps`. Swaps run only where the whole model does
    /// not (the large instances, a year of 51 or 150 nurses: 1.090 against 1.189 on the
    /// 150). On the published instances the subproblems already free a tenth of the
    /// staff over the whole horizon, and two runs of Instance8 with swaps ended at 1.102
    /// and 1.113 (a 13th head missing) against 1.031-1.042 without: the swaps found 27
    /// of cost in all there, but they change which subproblems are drawn when.
    fn new(swaps: bool) -> Self {
        let on = |k: &Kind| swaps || *k != Kind::Swaps;
        Self {
            rate: [0.0; Kind::ALL.len()],
            cycle: Kind::CYCLE.into_iter().filter(on).collect(),
            kinds: Kind::ALL.into_iter().filter(on).collect(),
        }
    }

    fn choose(&self, round: u64, rng: &mut StdRng) -> Kind {
        let (cycle, kinds) = (&self.cycle, &self.kinds);
        let n = cycle.len() as u64;
        let total: f64 = kinds.iter().map(|k| self.rate[k.index()]).sum();
        if round <= n || total <= 0.0 {
            return cycle[(round % n) as usize];
        }
        let floors = Self::FLOOR * kinds.len() as f64;
        let weight: Vec<f64> = kinds
            .iter()
            .map(|k| Self::FLOOR + (1.0 - floors) * self.rate[k.index()] / total)
            .collect();
        let mut x = rng.random_range(0.0..weight.iter().sum::<f64>());
        for (k, w) in kinds.iter().zip(&weight) {
            if x < *w {
                return *k;
            }
            x -= w;
        }
        kinds[kinds.len() - 1]
    }

    fn record(&mut self, kind: Kind, gain: f64, seconds: f64) {
        let r = &mut self.rate[kind.index()];
        *r = (1.0 - Self::SMOOTHING) * *r + Self::SMOOTHING * gain / seconds.max(0.01);
    }
}

/// Adaptive neighbourhood sizes and the cost-biased choice of what to free.
struct Neighbourhoods {
    /// Current size per kind: employees, days, employees, employees, days per window,
    /// days a swap reaches either side of its request, employees.
    size: [usize; Kind::ALL.len()],
    /// Largest size per kind.
    max: [usize; Kind::ALL.len()],
    /// Days a whole-row subproblem (`Employees`, `Cover`) frees on a long horizon.
    span: usize,
    /// What the draws weigh requests by.
    requests: CellRequests,
}

impl Neighbourhoods {
    fn new(inst: &Instance) -> Self {
        let e = inst.staff.len();
        let h = inst.horizon;
        Self {
            size: [
                3.min(e),
                5.min(h),
                (e / 4).clamp(2, e),
                3.min(e),
                4.min(h / 3).max(1),
                SWAP_REACH.min(h),
                (e / 2).clamp(1, e),
            ],
            // Two windows of at most a third of the horizon each can stay apart.
            max: [e, h, e, e, (h / 3).max(1), h, e],
            span: std::env::var("NRP_SPAN")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(LONG_SPAN),
            requests: CellRequests::new(inst),
        }
    }

    /// Cost carried by each day in `r`: avoidable request cost and the cover penalty
    /// (`penalty`, by cover term).
    fn day_costs(&self, inst: &Instance, r: &Roster, penalty: &[u64]) -> Vec<u64> {
        let mut day = self.requests.avoidable_by_day(r);
        for (c, p) in inst.cover.iter().zip(penalty) {
            day[c.day] += p;
        }
        day
    }

    fn size(&self, kind: Kind) -> usize {
        self.size[kind.index()]
    }

    /// Closed fast: one bigger next time; ran out of time: one smaller.
    fn adapt(&mut self, kind: Kind, closed: bool, fast: bool) {
        let i = kind.index();
        if closed && fast {
            self.size[i] = (self.size[i] + 1).min(self.max[i]);
        } else if !closed {
            self.size[i] = self.size[i].saturating_sub(1).max(2.min(self.max[i]));
        }
    }

    /// The days a whole-row subproblem frees: the whole horizon when it is short; on a
    /// long one (a year) a window of `span` days around `centre` (or a day drawn by the
    /// cost it carries), since a few rows over a whole year are too large a MILP to
    /// close in a subproblem's seconds.
    fn span(
        &self,
        centre: Option<usize>,
        day_cost: &[u64],
        h: usize,
        rng: &mut StdRng,
    ) -> (usize, usize) {
        if h <= self.span {
            return (0, h);
        }
        let centre = centre.unwrap_or_else(|| weighted_sample(by_cost(day_cost), 1, rng)[0]);
        let start = window_start(centre, self.span, h, rng);
        (start, start + self.span)
    }

    /// The cells of the next subproblem. Days are drawn with weight 1 plus the cost they
    /// carry now, employees with weight 1 plus the cost their requests carry inside the
    /// subproblem's days, so unmet requests and short cover get attention first, while
    /// every choice keeps some chance. Only avoidable request cost counts (above each
    /// cell's floor, [`CellRequests`]): a conflict every roster pays says nothing about
    /// where to look. And only inside the days: drawn by a whole year's cost, an
    /// employee's unmet requests mostly lie outside a 28-day window, and the subproblem
    /// frees rows it cannot improve.
    fn pick(&self, inst: &Instance, best: &Roster, kind: Kind, rng: &mut StdRng) -> Free {
        let e_count = inst.staff.len();
        let h = inst.horizon;
        let penalty = cover_penalties(inst, best);
        let day_cost = self.day_costs(inst, best, &penalty);
        let mut free = Free {
            cells: vec![vec![false; h]; e_count],
        };
        let size = self.size(kind);
        match kind {
            Kind::Cover => {
                let term = costly_cover(inst, &penalty, rng);
                let (lo, hi) = self.span(term.map(|c| c.day), &day_cost, h, rng);
                let cost = self.requests.avoidable_in(best, lo, hi);
                let helpers = match term {
                    Some(c) => cover_helpers(inst, best, c, &cost, size, rng),
                    None => colleagues(inst, &cost, size, rng),
                };
                for e in helpers {
                    free.cells[e][lo..hi].iter_mut().for_each(|c| *c = true);
                }
            }
            Kind::Employees => {
                let (lo, hi) = self.span(None, &day_cost, h, rng);
                let cost = self.requests.avoidable_in(best, lo, hi);
                for e in colleagues(inst, &cost, size, rng) {
                    free.cells[e][lo..hi].iter_mut().for_each(|c| *c = true);
                }
            }
            Kind::Days | Kind::Windows => {
                // A window around a costly day; for `Windows` a second one apart from it,
                // around a costly day or (half the time) any day, since the work to move
                // may sit where nothing is short.
                let centre = weighted_sample(by_cost(&day_cost), 1, rng)[0];
                let first = window_start(centre, size, h, rng);
                let mut starts = vec![first];
                if kind == Kind::Windows {
                    let apart = |d: usize| d + size < first || d >= first + 2 * size;
                    let uniform = rng.random_bool(0.5);
                    let weight: Vec<f64> = (0..h)
                        .map(|d| match (apart(d), uniform) {
                            (false, _) => 0.0,
                            (true, true) => 1.0,
                            (true, false) => 1.0 + day_cost[d] as f64,
                        })
                        .collect();
                    if let Some(&other) = weighted_sample(weight, 1, rng).first() {
                        starts.push(window_start(other, size, h, rng));
                    }
                }
                for row in &mut free.cells {
                    for &start in &starts {
                        row[start..start + size].iter_mut().for_each(|c| *c = true);
                    }
                }
            }
            // Every cell (less those other lanes hold): the pass picks its own.
            Kind::Swaps => return Free::all(inst),
            Kind::Weekends => {
                let (lo, hi) = self.span(None, &day_cost, h, rng);
                let days: Vec<usize> = (lo..hi).filter(|&d| friday_to_monday(d)).collect();
                let cost = self.requests.avoidable_in(best, lo, hi);
                for e in weighted_sample(by_cost(&cost), size, rng) {
                    days.iter().for_each(|&d| free.cells[e][d] = true);
                }
            }
            Kind::Block => {
                let w = 14.min(h);
                let centre = weighted_sample(by_cost(&day_cost), 1, rng)[0];
                let start = window_start(centre, w, h, rng);
                let cost = self.requests.avoidable_in(best, start, start + w);
                for e in weighted_sample(by_cost(&cost), size, rng) {
                    free.cells[e][start..start + w]
                        .iter_mut()
                        .for_each(|c| *c = true);
                }
            }
        }
        free
    }
}

/// `k` employees for a whole-horizon subproblem: the first drawn by cost, the others
/// mostly among those who may work a shift type the first may work, since only they can
/// take over each other's shifts.
fn colleagues(inst: &Instance, emp_cost: &[u64], k: usize, rng: &mut StdRng) -> Vec<usize> {
    let first = weighted_sample(by_cost(emp_cost), 1, rng)[0];
    let shared = |e: usize| {
        (0..inst.shifts.len())
            .any(|s| inst.staff[e].max_shifts[s] > 0 && inst.staff[first].max_shifts[s] > 0)
    };
    // Weights for the rest: cost-biased, a tenth for those with no shift type in common.
    let rest: Vec<f64> = (0..inst.staff.len())
        .map(|e| {
            let w = 1.0 + emp_cost[e] as f64;
            if e == first {
                0.0
            } else if shared(e) {
                w
            } else {
                0.1 * w
            }
        })
        .collect();
    let mut out = vec![first];
    out.extend(weighted_sample(rest, k.saturating_sub(1), rng));
    out
}

/// A cover term drawn by the penalty it carries now (`penalty`, by term); `None` when
/// none carries any.
fn costly_cover<'i>(inst: &'i Instance, penalty: &[u64], rng: &mut StdRng) -> Option<&'i Cover> {
    if penalty.iter().all(|&p| p == 0) {
        return None;
    }
    let weight = penalty.iter().map(|&p| p as f64).collect();
    Some(&inst.cover[weighted_sample(weight, 1, rng)[0]])
}

/// `k` employees for a whole-row subproblem around the cover term `c`: drawn (by `cost`)
/// among those who may work that shift that day and do not, so that one of them can take
/// it over or the over-full shift can lose one; the rest at random, to make room.
fn cover_helpers(
    inst: &Instance,
    best: &Roster,
    c: &Cover,
    cost: &[u64],
    k: usize,
    rng: &mut StdRng,
) -> Vec<usize> {
    let able = |e: usize| {
        inst.staff[e].max_shifts[c.shift] > 0
            && !inst.days_off[e].contains(&c.day)
            && best.cells[e][c.day] != Some(c.shift)
    };
    let first: Vec<f64> = (0..inst.staff.len())
        .map(|e| if able(e) { 1.0 + cost[e] as f64 } else { 0.0 })
        .collect();
    let mut out = weighted_sample(first, k.div_ceil(2), rng);
    let rest: Vec<f64> = (0..inst.staff.len())
        .map(|e| {
            if out.contains(&e) {
                0.0
            } else {
                1.0 + cost[e] as f64
            }
        })
        .collect();
    out.extend(weighted_sample(rest, k.saturating_sub(out.len()), rng));
    out
}

/// Whether day `d` is a Friday, Saturday, Sunday or Monday (day 0 is a Monday): a
/// weekend and the days that link it to the weeks either side.
fn friday_to_monday(d: usize) -> bool {
    matches!(d % 7, 4..=6 | 0)
}

/// A window of `len` days that contains `centre`, placed at random around it.
fn window_start(centre: usize, len: usize, h: usize, rng: &mut StdRng) -> usize {
    let lo = (centre + 1).saturating_sub(len);
    let hi = centre.min(h - len);
    if lo >= hi {
        hi
    } else {
        rng.random_range(lo..=hi)
    }
}

/// Draw weights from costs: 1 + cost, so that every index keeps some chance.
fn by_cost(cost: &[u64]) -> Vec<f64> {
    cost.iter().map(|&c| 1.0 + c as f64).collect()
}

/// Up to `k` distinct indices of positive weight, drawn with probability proportional to
/// their weight.
fn weighted_sample(mut weight: Vec<f64>, k: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut out = Vec::with_capacity(k);
    for _ in 0..k.min(weight.len()) {
        let total: f64 = weight.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut r = rng.random_range(0.0..total);
        let mut chosen = weight.len() - 1;
        for (i, &w) in weight.iter().enumerate() {
            if w > 0.0 && r < w {
                chosen = i;
                break;
            }
            r -= w;
        }
        // Rounding can leave `chosen` on a taken index; take the first free one then.
        if weight[chosen] == 0.0 {
            chosen = weight.iter().position(|&w| w > 0.0).unwrap_or(chosen);
        }
        weight[chosen] = 0.0;
        out.push(chosen);
    }
    out
}

/// The penalty each cover term carries in `r` (by term, as `inst.cover`). The heads are
/// counted in one pass over the roster, not per term: this runs at every draw.
fn cover_penalties(inst: &Instance, r: &Roster) -> Vec<u64> {
    let ns = inst.shifts.len();
    let mut heads = vec![0u64; inst.horizon * ns];
    for row in &r.cells {
        for (d, c) in row.iter().enumerate() {
            if let Some(s) = c {
                heads[d * ns + s] += 1;
            }
        }
    }
    inst.cover
        .iter()
        .map(|c| {
            let have = heads[c.day * ns + c.shift];
            let req = u64::from(c.requirement);
            u64::from(c.under_weight) * req.saturating_sub(have)
                + u64::from(c.over_weight) * have.saturating_sub(req)
        })
        .collect()
}

/// Employee `e`'s row from the exact MILP of their rules (the others fixed as in
/// `roster`, which only prices the cover), within `limit_s` seconds. A HiGHS failure is
/// `Unknown`, never a proof.
fn employee_row(
    inst: &Instance,
    e: usize,
    roster: &Roster,
    settings: &HighsSettings,
    limit_s: f64,
) -> EmployeeRow {
    let mut free = Free {
        cells: vec![vec![false; inst.horizon]; inst.staff.len()],
    };
    free.cells[e].iter_mut().for_each(|c| *c = true);
    let row_of = |b: &Built, v: &crate::highs::Assignment| {
        let row = read_roster(inst, &free, Some(roster), &b.x, v).cells[e].clone();
        if check::employee_hard(inst, e, &row).total() == 0 {
            EmployeeRow::Row(row)
        } else {
            EmployeeRow::Unknown
        }
    };
    let b = build(inst, &free, Some(roster));
    let Built { milp, x, hint } = b;
    let b = Built {
        milp: Milp::new(),
        x,
        hint,
    };
    let Ok(r) = milp.solve(&settings.with_time_limit(limit_s), None, &mut |_| {}) else {
        return EmployeeRow::Unknown;
    };
    if let Some(v) = &r.values {
        return row_of(&b, v);
    }
    if r.status != SolveStatus::Infeasible {
        return EmployeeRow::Unknown;
    }
    // Infeasible: confirmed without presolve before it counts as a proof.
    let Built { milp, x, hint } = build(inst, &free, Some(roster));
    let b = Built {
        milp: Milp::new(),
        x,
        hint,
    };
    let mut again = settings.with_time_limit(limit_s.max(1.0));
    again.extra.push((
        "presolve".into(),
        crate::highs::OptionValue::Str("off".into()),
    ));
    match milp.solve(&again, None, &mut |_| {}) {
        Ok(r) if r.status == SolveStatus::Infeasible => EmployeeRow::Infeasible,
        Ok(r) => r
            .values
            .as_ref()
            .map_or(EmployeeRow::Unknown, |v| row_of(&b, v)),
        Err(_) => EmployeeRow::Unknown,
    }
}

/// Re-optimises only the days marked in `free_days`, every other cell kept as `start`
/// has it, warm-started from `start` (a re-roster of the days a sick call or a surge
/// affects). One MILP over the free cells; the rows that touch them hold every hard rule
/// across the edges of the window. A roster whose fixed cells break a hard rule (or a
/// model HiGHS proves infeasible twice, with and without presolve) is an infeasibility;
/// a time limit without a roster is `NoRoster`.
pub(super) fn solve_days(
    inst: &Instance,
    start: &Roster,
    free_days: &[bool],
    settings: &HighsSettings,
    progress: &mut dyn FnMut(Progress),
) -> Result<Found, NrpError> {
    let free = Free {
        cells: vec![
            (0..inst.horizon)
                .map(|d| free_days.get(d).copied().unwrap_or(false))
                .collect();
            inst.staff.len()
        ],
    };
    let built = build(inst, &free, Some(start));
    let r = built
        .milp
        .solve(settings, Some(&built.hint), &mut *progress)?;
    let Some(values) = &r.values else {
        if r.status == SolveStatus::Infeasible {
            let mut again = settings.clone();
            again.extra.push((
                "presolve".into(),
                crate::highs::OptionValue::Str("off".into()),
            ));
            let rebuilt = build(inst, &free, Some(start));
            if let Ok(r2) = rebuilt.milp.solve(&again, None, &mut |_| {}) {
                if r2.status == SolveStatus::Infeasible {
                    return Err(NrpError::Infeasible {
                        reason: "HiGHS proves that no roster of the re-rostered days meets the \
                                 hard rules with the other days kept (with and without presolve)"
                            .into(),
                    });
                }
            }
        }
        return Err(NrpError::NoRoster {
            tried: format!(
                "one MILP over {} re-rostered day(s) found no roster within the time limit",
                free_days.iter().filter(|&&f| f).count()
            ),
        });
    };
    let roster = read_roster(inst, &free, Some(start), &built.x, values);
    let report = check::check(inst, &roster);
    if report.hard_total() > 0 {
        return Err(NrpError::NoRoster {
            tried: "the re-rostered days' MILP returned a roster the checker refuses".into(),
        });
    }
    progress(Progress {
        elapsed_s: settings.elapsed_s(),
        incumbent: Some(report.cost() as f64),
        bound: r.bound,
    });
    Ok(Found {
        roster,
        objective: report.cost(),
        status: r.status,
        bound: r.bound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benchmarks::nrp::generate::{generate_with_witness, GenParams};

    /// Days on which `free` frees someone, and whether it frees everyone on each.
    fn free_days(free: &Free) -> Vec<usize> {
        let h = free.cells[0].len();
        (0..h)
            .filter(|&d| free.cells.iter().any(|row| row[d]))
            .inspect(|&d| assert!(free.cells.iter().all(|row| row[d]), "day {d} half free"))
            .collect()
    }

    /// Each kind frees what it says, at every size it can take: `Windows` every employee
    /// on two windows of `size` days that do not touch (or one, when the horizon leaves
    /// no room for a second apart from the first); `Days` every employee on one window.
    #[test]
    fn the_window_kinds_free_every_employee_on_their_days() {
        let (inst, witness) = generate_with_witness(&GenParams {
            nurses: 12,
            days: 28,
            shifts: 3,
            seed: 1,
        });
        let mut hoods = Neighbourhoods::new(&inst);
        let mut rng = StdRng::seed_from_u64(7);
        let mut two = 0;
        for size in 1..=hoods.max[Kind::Windows.index()] {
            hoods.size[Kind::Windows.index()] = size;
            for _ in 0..50 {
                let days = free_days(&hoods.pick(&inst, &witness, Kind::Windows, &mut rng));
                // Runs of consecutive days: one or two, each `size` long, apart.
                let mut runs: Vec<(usize, usize)> = Vec::new();
                for d in days {
                    match runs.last_mut() {
                        Some((_, end)) if *end == d => *end = d + 1,
                        _ => runs.push((d, d + 1)),
                    }
                }
                match runs.as_slice() {
                    [(a, b)] => assert_eq!(b - a, size, "one window of {size}: {runs:?}"),
                    [(a, b), (c, d)] => {
                        two += 1;
                        assert_eq!((b - a, d - c), (size, size), "{runs:?}");
                        assert!(b < c, "windows touch: {runs:?}");
                    }
                    _ => panic!("size {size}: {runs:?}"),
                }
            }
        }
        // With 28 days two windows apart fit at every size up to a third of it; most
        // draws find room for the second.
        assert!(two > 300, "only {two} of 450 draws had two windows");
        hoods.size[Kind::Days.index()] = 9;
        let days = free_days(&hoods.pick(&inst, &witness, Kind::Days, &mut rng));
        assert_eq!(days.len(), 9);
        assert_eq!(days[8] - days[0], 8, "one window: {days:?}");
    }

    /// `Weekends` frees `size` employees on every Friday to Monday of its span and on
    /// nothing else: over the whole of a four-week horizon, within one span of a year.
    #[test]
    fn the_weekend_kind_frees_fridays_to_mondays_of_some_employees() {
        for (days, span) in [(28, 28), (364, LONG_SPAN)] {
            let (inst, witness) = generate_with_witness(&GenParams {
                nurses: 12,
                days,
                shifts: 3,
                seed: 1,
            });
            let mut hoods = Neighbourhoods::new(&inst);
            hoods.size[Kind::Weekends.index()] = 5;
            let mut rng = StdRng::seed_from_u64(3);
            for _ in 0..20 {
                let free = hoods.pick(&inst, &witness, Kind::Weekends, &mut rng);
                let rows: Vec<&Vec<bool>> =
                    free.cells.iter().filter(|r| r.iter().any(|&c| c)).collect();
                assert_eq!(rows.len(), 5, "{days} days: employees freed");
                let freed: Vec<usize> = (0..days).filter(|&d| rows[0][d]).collect();
                assert!(rows.iter().all(|r| (0..days).all(|d| r[d] == rows[0][d])));
                assert!(
                    freed.iter().all(|&d| friday_to_monday(d)),
                    "{days} days: a weekday freed: {freed:?}"
                );
                let (first, last) = (freed[0], freed[freed.len() - 1]);
                assert!(
                    last - first < span,
                    "{days} days: {first}..={last} past the span"
                );
                // Every Friday to Monday between the first and last freed day.
                let expected = (first..=last).filter(|&d| friday_to_monday(d)).count();
                assert_eq!(freed.len(), expected, "{days} days: {freed:?}");
                assert!(freed.len() >= 14, "{days} days: only {freed:?}");
            }
        }
    }

    /// A lane's subproblem leaves out the cells that running subproblems of its own
    /// trajectory hold, and only those: another trajectory's lanes work on another roster.
    #[test]
    fn lanes_hold_cells_only_from_their_own_trajectory() {
        let (inst, witness) = generate_with_witness(&GenParams {
            nurses: 12,
            days: 28,
            shifts: 3,
            seed: 1,
        });
        let settings = HighsSettings::new(&crate::solve::SolveOptions::default());
        let (to_lane, from_pool): (Vec<_>, Vec<_>) =
            (0..3).map(|_| std::sync::mpsc::channel::<Job>()).unzip();
        // Lanes 0 and 2 work for trajectory 0, lane 1 for trajectory 1; lane 0 holds every
        // cell.
        let mut pool = Lanes {
            inst: &inst,
            settings: &settings,
            sub_limit: 1.0,
            to_lane: to_lane.into_iter().map(Some).collect(),
            holding: vec![Some(Free::all(&inst)), None, None],
            teams: 2,
            round: 0,
        };
        let team = Team {
            best_cost: check::check(&inst, &witness).cost(),
            best: witness,
            chooser: KindChooser::new(false),
            hoods: Neighbourhoods::new(&inst),
        };
        let mut rng = StdRng::seed_from_u64(5);
        assert!(!pool.dispatch(2, &team, &mut rng), "lane 2 got a held cell");
        assert!(
            pool.to_lane[2].is_none(),
            "lane 2 left open with nothing to do"
        );
        assert!(pool.holding[2].is_none());
        assert!(
            pool.dispatch(1, &team, &mut rng),
            "lane 1 found nothing free"
        );
        let job = from_pool[1].try_recv().expect("lane 1's job");
        assert!(job.free.cells.iter().flatten().any(|&c| c));
        let held = pool.holding[1].as_ref().expect("lane 1 holds its cells");
        assert_eq!(held.cells, job.free.cells);
    }

    /// The kind chooser runs every kind within its first pass, and afterwards still draws
    /// each one now and then (its floor), whatever the measured rates.
    #[test]
    fn the_chooser_reaches_every_kind() {
        let mut rng = StdRng::seed_from_u64(3);
        for swaps in [true, false] {
            let mut chooser = KindChooser::new(swaps);
            let first: Vec<Kind> = (1..=Kind::CYCLE.len() as u64)
                .map(|r| chooser.choose(r, &mut rng))
                .collect();
            for k in Kind::ALL {
                let drawn = first.contains(&k);
                assert_eq!(drawn, swaps || k != Kind::Swaps, "{k:?} in {first:?}");
            }
            // Only Days pays; every other kind this search draws keeps its floor (8%),
            // Days takes the rest (52% of draws with seven kinds, 60% with six).
            chooser.record(Kind::Days, 500.0, 1.0);
            let mut count = [0usize; Kind::ALL.len()];
            for r in 100..5100 {
                count[chooser.choose(r, &mut rng).index()] += 1;
            }
            for k in Kind::ALL {
                let share = count[k.index()] as f64 / 5000.0;
                if k == Kind::Days {
                    assert!(share > 0.47, "Days {share}");
                } else if k == Kind::Swaps && !swaps {
                    assert_eq!(share, 0.0, "Swaps drawn while off");
                } else {
                    assert!((0.05..0.12).contains(&share), "{k:?} {share}");
                }
            }
        }
    }
}
