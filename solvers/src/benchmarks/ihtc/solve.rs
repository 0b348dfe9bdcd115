//! The IHTC solver: a greedy construction, an admission-day MILP, simulated annealing over
//! all decisions, and an exact HiGHS MILP for the theatre assignment of each day.
//!
//! 1. Construction: patients are inserted one at a time (mandatory first, tightest due day
//!    first) at the (day, room, theatre) of least added cost, nurses by a rotation that keeps
//!    a nurse on a room across days. A mandatory patient with no feasible place is still
//!    placed at least violation; the search then repairs it.
//! 2. Admission-day MILP (HiGHS): days for all patients under surgeon limits, the day's
//!    theatre time and beds per gender (rooms relaxed). Its days seed a second construction,
//!    kept if cheaper. Skipped when re-planning from a feasible warm start.
//! 3. Simulated annealing on the search objective (cost + the re-planning penalty + a price
//!    per unit of hard violation that rises while the plan is infeasible and falls while it
//!    is feasible, so the search can cross infeasible plans; only feasible plans become the
//!    best): move a patient's day, room or theatre, admit or drop an optional patient,
//!    re-insert a patient at its cheapest place, swap an admitted patient for an unscheduled
//!    one, swap two patients' rooms, change the nurse of a room-shift (random or best), give
//!    one nurse a room for a run of days, swap the nurses of two rooms. Every choice comes
//!    from one RNG seeded by [`SolveOptions::seed`]; the temperature follows the elapsed
//!    share of the time limit (or of `max_moves`, which makes a run fully reproducible).
//! 4. Theatre MILP: the theatre decision only affects open theatres, surgeon transfers and
//!    theatre overtime, all of a single day, so each day's assignment is solved exactly.
//!
//! The construction is not interrupted by the time limit, so a very short limit can be
//! overrun on large instances. The figures returned are recomputed by [`super::evaluate`]
//! from the final plan.

use std::time::Instant;

use good_lp::{Expression, Variable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::evaluate::{evaluate_plan, Adm, Evaluation, Plan};
use super::model::Model;
use super::search::{State, HARD};
use super::{Error, Instance, Result, Solution};
use crate::highs::{HighsSettings, Milp};
use crate::solve::{Progress, ProgressSink, SolveOptions, SolveStatus};

/// Knobs of the IHTC search beyond the shared [`SolveOptions`].
#[derive(Debug, Clone)]
pub struct SearchParams {
    /// Re-planning: cost of each changed decision (admission day, room, theatre) of a
    /// patient against the warm start. Admitting or dropping a patient counts as three.
    pub change_weight: u64,
    /// Stop after this many local-search moves (the time limit still applies). With a
    /// move budget the temperature follows moves, not time, so a run is reproducible.
    pub max_moves: Option<u64>,
    /// Let HiGHS print its log.
    pub verbose: bool,
}

impl Default for SearchParams {
    fn default() -> Self {
        Self {
            change_weight: 100,
            max_moves: None,
            verbose: false,
        }
    }
}

/// What a solve returns.
#[derive(Debug, Clone)]
pub struct SolveOutcome {
    /// The plan in the competition format.
    pub solution: Solution,
    /// Its hard violations and cost breakdown, from the evaluator.
    pub evaluation: Evaluation,
    /// `TimeLimit` for a feasible plan (the search cannot prove optimality), `Infeasible`
    /// when no plan without hard violations was found (not a proof that none exists).
    pub status: SolveStatus,
    /// Relative gap HiGHS reached on the admission-day MILP, when it ran (a subproblem's
    /// gap, not the whole problem's, for which no bound is known).
    pub mip_gap: Option<f64>,
    /// Lower bound on the whole problem's cost, when one is known (currently never).
    pub best_bound: Option<f64>,
    /// Decisions changed against the warm start (0 without one).
    pub changes: usize,
    /// Local-search moves tried.
    pub moves: u64,
}

/// Solves `instance` within `opts.time_limit`; see [`solve_with`].
pub fn solve(
    instance: &Instance,
    opts: &SolveOptions,
    warm_start: Option<&Solution>,
    progress: ProgressSink,
) -> Result<SolveOutcome> {
    solve_with(
        instance,
        opts,
        warm_start,
        progress,
        &SearchParams::default(),
    )
}

/// Solves `instance`. With a `warm_start` (a solution of the same instance) the search
/// starts from it and pays `params.change_weight` per decision changed against it.
pub fn solve_with(
    instance: &Instance,
    opts: &SolveOptions,
    warm_start: Option<&Solution>,
    progress: ProgressSink,
    params: &SearchParams,
) -> Result<SolveOutcome> {
    let start = Instant::now();
    let m = Model::new(instance).map_err(|(path, message)| Error::Invalid {
        file: "<instance>".into(),
        path,
        message,
    })?;
    let warm = warm_start.map(|s| Plan::from_solution(&m, s)).transpose()?;
    let reference = warm.as_ref().map(|p| p.adm.clone());
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut state = State::new(&m, reference, params.change_weight as i64);
    if let Some(plan) = &warm {
        state.load_nurses(plan);
        for (p, a) in plan.adm.iter().enumerate() {
            state.assign(p, *a);
        }
    }
    construct(&mut state, None);
    let mut mip_gap = None;
    if state.cost >= HARD || warm.is_none() {
        // A day plan with a global view of surgeon, theatre and bed capacity: needed when the
        // greedy could not place every mandatory patient without a violation, and often a
        // better start when beds are tight. Not used to re-plan a feasible warm start.
        let share = if state.cost >= HARD { 0.3 } else { 0.15 };
        let budget = share * opts.time_limit.as_secs_f64() - start.elapsed().as_secs_f64();
        if budget > 0.1 {
            if let Some((days, gap)) = admission_milp(&m, opts, params, budget)? {
                mip_gap = gap;
                let mut alt = State::new(&m, state_reference(&warm), params.change_weight as i64);
                if let Some(plan) = &warm {
                    alt.load_nurses(plan);
                }
                construct(&mut alt, Some(&days));
                if alt.cost < state.cost {
                    state = alt;
                }
            }
        }
    }
    progress(Progress {
        elapsed_s: start.elapsed().as_secs_f64(),
        incumbent: (state.cost < HARD).then_some(state.cost as f64),
        bound: None,
    });

    let limit = opts.time_limit.as_secs_f64();
    // Keep a little time for the theatre MILPs and the final evaluation.
    let search_end = limit - (0.05 * limit).min(2.0);
    let (adm, nurse, moves) = anneal(
        &mut state,
        &mut rng,
        start,
        search_end,
        params.max_moves,
        progress,
    );

    let mut best = State::new(&m, state_reference(&warm), params.change_weight as i64);
    for (p, a) in adm.iter().enumerate() {
        best.assign(p, *a);
    }
    let h_n = m.shifts();
    for (i, &n) in nurse.iter().enumerate() {
        best.set_nurse(i / h_n, i % h_n, n);
    }
    for d in 0..m.days {
        let left = limit - start.elapsed().as_secs_f64();
        if left <= 0.05 {
            break;
        }
        theatre_milp(&mut best, d, opts, params, left.min(2.0))?;
    }

    let plan = best.plan();
    let evaluation = evaluate_plan(&m, &plan);
    debug_assert_eq!(
        best.cost,
        evaluation.total_cost as i64
            + HARD * evaluation.hard.total() as i64
            + params.change_weight as i64 * best.changes() as i64,
        "incremental cost drifted from the evaluator"
    );
    let status = if evaluation.is_feasible() {
        SolveStatus::TimeLimit
    } else {
        SolveStatus::Infeasible
    };
    progress(Progress {
        elapsed_s: start.elapsed().as_secs_f64(),
        incumbent: evaluation
            .is_feasible()
            .then_some(evaluation.total_cost as f64),
        bound: None,
    });
    Ok(SolveOutcome {
        solution: plan.to_solution(&m, instance),
        evaluation,
        status,
        mip_gap,
        best_bound: None,
        changes: best.changes(),
        moves,
    })
}

fn state_reference(warm: &Option<Plan>) -> Option<Vec<Option<Adm>>> {
    warm.as_ref().map(|p| p.adm.clone())
}

/// Rooms a patient may use.
fn compatible_rooms(m: &Model, p: usize) -> Vec<usize> {
    (0..m.rooms())
        .filter(|&r| !m.patients[p].incompatible[r])
        .collect()
}

/// Greedy insertion of every patient not yet admitted. `days`, when given, proposes an
/// admission day per patient (from [`admission_milp`]); it is kept unless no feasible room
/// and theatre exist on it.
fn construct(state: &mut State, days: Option<&[Option<usize>]>) {
    let m = state.m;
    let mut order: Vec<usize> = (0..m.patients.len())
        .filter(|&p| state.adm[p].is_none())
        .collect();
    // Mandatory before optional, then the least room to move first.
    order.sort_by_key(|&p| {
        let pat = &m.patients[p];
        (
            !pat.mandatory,
            pat.last_day,
            pat.last_day.saturating_sub(pat.release),
            p,
        )
    });
    for p in order {
        let pat = &m.patients[p];
        let proposed = days.and_then(|d| d[p]);
        let mut best = proposed.and_then(|day| best_insertion(state, p, day..=day));
        if best.is_none_or(|(delta, _)| delta >= HARD / 2) {
            let all = best_insertion(state, p, pat.release..=pat.last_day.min(m.days - 1));
            if all.is_some_and(|(a, _)| best.is_none_or(|(b, _)| a < b)) {
                best = all;
            }
        }
        if let Some((delta, a)) = best {
            // Optional patients only when admitting them pays; mandatory ones always.
            if pat.mandatory || delta < 0 {
                state.assign(p, Some(a));
            }
        }
    }
}

/// The cheapest (day, room, theatre) for patient `p` over `days`, with its cost change.
fn best_insertion(
    state: &mut State,
    p: usize,
    days: std::ops::RangeInclusive<usize>,
) -> Option<(i64, Adm)> {
    // Rooms that are full, hold the other gender or are incompatible on the admission day
    // are skipped unless no other room is left anywhere.
    best_insertion_in(state, p, days.clone(), true)
        .or_else(|| best_insertion_in(state, p, days, false))
}

fn best_insertion_in(
    state: &mut State,
    p: usize,
    days: std::ops::RangeInclusive<usize>,
    skip_blocked: bool,
) -> Option<(i64, Adm)> {
    let m = state.m;
    let mut best: Option<(i64, Adm)> = None;
    for day in days {
        // The theatre only interacts with the day: pick it on the surgery terms alone.
        let Some(theater) = (0..m.theaters()).min_by_key(|&t| {
            let a = Adm {
                day,
                room: 0,
                theater: t,
            };
            (state.surgery_probe(p, a), t)
        }) else {
            continue;
        };
        for room in 0..m.rooms() {
            if skip_blocked && state.room_blocked(p, room, day) {
                continue;
            }
            let a = Adm { day, room, theater };
            let delta = state.assign(p, Some(a));
            state.assign(p, None);
            if best.is_none_or(|(bd, _)| delta < bd) {
                best = Some((delta, a));
            }
        }
    }
    best
}

type Snapshot = (Vec<Option<Adm>>, Vec<u32>, u64);

/// Simulated annealing; returns the best plan seen and the number of moves tried.
fn anneal(
    state: &mut State,
    rng: &mut StdRng,
    start: Instant,
    end_s: f64,
    max_moves: Option<u64>,
    progress: ProgressSink,
) -> Snapshot {
    let m = state.m;
    let p_n = m.patients.len();
    let rooms: Vec<Vec<usize>> = (0..p_n).map(|p| compatible_rooms(m, p)).collect();
    let mut best_cost = state.cost;
    let mut best = (state.adm.clone(), state.nurse.clone());
    let mut last_report = 0.0;
    let mut last_reported = None;

    // Start hot enough to accept typical worsening moves: the mean cost of a few random
    // moves that make things worse (hard violations excluded), all accepted.
    let mut sum = 0i64;
    let mut cnt = 0i64;
    let probe = Heat {
        t: f64::INFINITY,
        hw: f64::INFINITY,
    };
    for _ in 0..200 {
        let before = state.cost;
        if random_move(state, rng, &rooms, probe) {
            let d = state.cost - before;
            if d > 0 && d < HARD {
                sum += d;
                cnt += 1;
            }
        }
    }
    let t0 = if cnt > 0 {
        (T0_SHARE * sum as f64 / cnt as f64).max(2.0)
    } else {
        10.0
    };
    let t1 = 0.5f64.min(t0 / 10.0);
    if state.cost < best_cost {
        best_cost = state.cost;
        best = (state.adm.clone(), state.nurse.clone());
    }

    let mut moves = 0u64;
    // Hard violations cost `hw` each during the search, adapted so the search can cross
    // infeasible plans but keeps coming back (strategic oscillation); only feasible plans
    // become the best.
    let mut heat = Heat { t: t0, hw: t0 };
    loop {
        if moves % 256 == 0 {
            let el = start.elapsed().as_secs_f64();
            let time_frac = if end_s > 0.0 { el / end_s } else { 1.0 };
            let frac = match max_moves {
                Some(mm) => {
                    (moves as f64 / mm.max(1) as f64).max(if time_frac >= 1.0 { 1.0 } else { 0.0 })
                }
                None => time_frac,
            };
            if frac >= 1.0 {
                break;
            }
            heat.t = t0 * (t1 / t0).powf(frac);
            if state.cost >= HARD {
                heat.hw = (heat.hw * if frac > 0.9 { 1.2 } else { 1.02 }).min(1e12);
            } else {
                heat.hw = (heat.hw / 1.01).max(t0);
            }
            if best_cost < HARD
                && el - last_report > 0.25
                && Some(best_cost as f64) != last_reported
            {
                last_report = el;
                last_reported = Some(best_cost as f64);
                progress(Progress {
                    elapsed_s: el,
                    incumbent: Some(best_cost as f64),
                    bound: None,
                });
            }
        }
        moves += 1;
        if random_move(state, rng, &rooms, heat) && state.cost < best_cost {
            best_cost = state.cost;
            best.0.clone_from(&state.adm);
            best.1.clone_from(&state.nurse);
        }
    }
    if state.cost < best_cost {
        best = (state.adm.clone(), state.nurse.clone());
    }
    (best.0, best.1, moves)
}

/// Temperature and the current price of one unit of hard violation.
#[derive(Debug, Clone, Copy)]
struct Heat {
    t: f64,
    hw: f64,
}

/// Share of the mean worsening move taken as the starting temperature.
const T0_SHARE: f64 = 1.0;

/// Metropolis rule on the soft change plus `hw` per unit of hard change (the search
/// objective counts a unit as `HARD`, far above any soft sum, so the two split exactly).
fn accept(delta: i64, heat: Heat, rng: &mut StdRng) -> bool {
    let hard = (delta + HARD / 2).div_euclid(HARD);
    let soft = delta - hard * HARD;
    let eff = if hard == 0 {
        soft as f64
    } else {
        soft as f64 + heat.hw * hard as f64
    };
    eff <= 0.0 || (heat.t > 0.0 && rng.random::<f64>() < (-eff / heat.t).exp())
}

/// Tries one random move and keeps it by the Metropolis rule; returns whether it was kept.
fn random_move(state: &mut State, rng: &mut StdRng, rooms: &[Vec<usize>], heat: Heat) -> bool {
    let m = state.m;
    let p_n = m.patients.len();
    let kind = rng.random_range(0..1000u32);
    if kind < 15 && p_n > 0 {
        return reinsert(state, rng, heat);
    }
    if kind < 30 && p_n > 1 {
        return swap_in(state, rng, heat);
    }
    let kind = kind / 10;
    if kind < 45 && p_n > 0 {
        let p = rng.random_range(0..p_n);
        let pat = &m.patients[p];
        let cur = state.adm[p];
        if pat.release > pat.last_day || rooms[p].is_empty() || m.theaters() == 0 {
            return false;
        }
        let rand_day = |rng: &mut StdRng| rng.random_range(pat.release..=pat.last_day);
        let rand_room = |rng: &mut StdRng| rooms[p][rng.random_range(0..rooms[p].len())];
        let rand_t = |rng: &mut StdRng| rng.random_range(0..m.theaters());
        let to = match cur {
            None => Some(Adm {
                day: rand_day(rng),
                room: rand_room(rng),
                theater: rand_t(rng),
            }),
            Some(a) => match rng.random_range(0..100u32) {
                0..30 => Some(Adm {
                    day: rand_day(rng),
                    ..a
                }),
                30..55 => Some(Adm {
                    room: rand_room(rng),
                    ..a
                }),
                55..72 => Some(Adm {
                    theater: rand_t(rng),
                    ..a
                }),
                72..85 => Some(Adm {
                    day: rand_day(rng),
                    room: rand_room(rng),
                    theater: rand_t(rng),
                }),
                _ if !pat.mandatory => None,
                _ => {
                    let day = if rng.random_bool(0.5) {
                        a.day.saturating_sub(1)
                    } else {
                        a.day + 1
                    };
                    Some(Adm {
                        day: day.clamp(pat.release, pat.last_day),
                        ..a
                    })
                }
            },
        };
        let delta = state.assign(p, to);
        if accept(delta, heat, rng) {
            return true;
        }
        state.assign(p, cur);
        return false;
    }
    if kind < 55 && p_n > 1 {
        // Swap the rooms of two admitted patients.
        let p1 = rng.random_range(0..p_n);
        let p2 = rng.random_range(0..p_n);
        let (Some(a1), Some(a2)) = (state.adm[p1], state.adm[p2]) else {
            return false;
        };
        if p1 == p2 || a1.room == a2.room {
            return false;
        }
        let delta = state.assign(
            p1,
            Some(Adm {
                room: a2.room,
                ..a1
            }),
        ) + state.assign(
            p2,
            Some(Adm {
                room: a1.room,
                ..a2
            }),
        );
        if accept(delta, heat, rng) {
            return true;
        }
        state.assign(p2, Some(a2));
        state.assign(p1, Some(a1));
        return false;
    }
    // Nurse moves act on an occupied room-shift.
    let (r, d) = {
        let mut tries = 0;
        loop {
            let r = rng.random_range(0..m.rooms());
            let d = rng.random_range(0..m.days);
            if state.occupied(r, d) {
                break (r, d);
            }
            tries += 1;
            if tries > 20 {
                return false;
            }
        }
    };
    let h = d * m.spd + rng.random_range(0..m.spd);
    let avail = &m.nurses_in_shift[h];
    if avail.is_empty() {
        return false;
    }
    let n = avail[rng.random_range(0..avail.len())] as u32;
    if kind < 78 {
        let old = state.nurse_at(r, h);
        // Mostly a random nurse; sometimes the best one for this room-shift.
        let n = if kind < 62 {
            let mut best = (i64::MAX, n);
            for &cand in avail {
                let d = state.set_nurse(r, h, cand as u32);
                best = best.min((d, cand as u32));
                state.set_nurse(r, h, old);
            }
            best.1
        } else {
            n
        };
        let delta = state.set_nurse(r, h, n);
        if accept(delta, heat, rng) {
            return true;
        }
        state.set_nurse(r, h, old);
        false
    } else if kind < 90 {
        // The same nurse on this room for a run of days in the same shift type.
        let len = rng.random_range(2..=7usize);
        let mut changed: Vec<(usize, u32)> = Vec::with_capacity(len);
        let mut delta = 0;
        let mut hh = h;
        while changed.len() < len
            && hh < m.shifts()
            && m.nurse_max_load[n as usize][hh].is_some()
            && state.occupied(r, hh / m.spd)
        {
            changed.push((hh, state.nurse_at(r, hh)));
            delta += state.set_nurse(r, hh, n);
            hh += m.spd;
        }
        let mut hh = h;
        while changed.len() < len && hh >= m.spd {
            hh -= m.spd;
            if m.nurse_max_load[n as usize][hh].is_none() || !state.occupied(r, hh / m.spd) {
                break;
            }
            changed.push((hh, state.nurse_at(r, hh)));
            delta += state.set_nurse(r, hh, n);
        }
        if accept(delta, heat, rng) {
            return true;
        }
        for &(hh, old) in changed.iter().rev() {
            state.set_nurse(r, hh, old);
        }
        false
    } else {
        // Swap the nurses of two rooms in the same shift.
        let r2 = rng.random_range(0..m.rooms());
        let (n1, n2) = (state.nurse_at(r, h), state.nurse_at(r2, h));
        if r2 == r || n1 == n2 {
            return false;
        }
        let delta = state.set_nurse(r, h, n2) + state.set_nurse(r2, h, n1);
        if accept(delta, heat, rng) {
            return true;
        }
        state.set_nurse(r2, h, n2);
        state.set_nurse(r, h, n1);
        false
    }
}

/// The cheapest full window for a patient, admitted or not, possibly dropping an optional one.
fn best_move_out(state: &mut State, p: usize) -> (i64, Option<Adm>) {
    let m = state.m;
    let pat = &m.patients[p];
    let best = best_insertion(state, p, pat.release..=pat.last_day.min(m.days - 1));
    match best {
        Some((d, a)) if pat.mandatory || d < 0 => (d, Some(a)),
        _ if !pat.mandatory => (0, None),
        _ => (HARD, None),
    }
}

/// Takes a random patient out and puts it back at its cheapest place (or leaves an optional
/// one out).
fn reinsert(state: &mut State, rng: &mut StdRng, heat: Heat) -> bool {
    let p = rng.random_range(0..state.m.patients.len());
    let cur = state.adm[p];
    let mut delta = state.assign(p, None);
    let (_, to) = best_move_out(state, p);
    delta += state.assign(p, to);
    if accept(delta, heat, rng) {
        return true;
    }
    state.assign(p, cur);
    false
}

/// Admits an unscheduled optional patient at its cheapest place after taking out an admitted
/// one, which is then put back at its own cheapest place (or left out if optional).
fn swap_in(state: &mut State, rng: &mut StdRng, heat: Heat) -> bool {
    let m = state.m;
    let p_n = m.patients.len();
    let pick = |state: &State, rng: &mut StdRng, admitted: bool| {
        (0..20)
            .map(|_| rng.random_range(0..p_n))
            .find(|&p| state.adm[p].is_some() == admitted && (admitted || !m.patients[p].mandatory))
    };
    let (Some(out), Some(p_in)) = (pick(state, rng, true), pick(state, rng, false)) else {
        return false;
    };
    let cur = state.adm[out];
    let mut delta = state.assign(out, None);
    let pat = &m.patients[p_in];
    let Some((_, a)) = best_insertion(state, p_in, pat.release..=pat.last_day.min(m.days - 1))
    else {
        state.assign(out, cur);
        return false;
    };
    delta += state.assign(p_in, Some(a));
    let (_, to) = best_move_out(state, out);
    delta += state.assign(out, to);
    if accept(delta, heat, rng) {
        return true;
    }
    state.assign(out, None);
    state.assign(p_in, None);
    state.assign(out, cur);
    false
}

/// HiGHS settings for one subproblem call of `time_s` seconds.
fn highs_settings(opts: &SolveOptions, params: &SearchParams, time_s: f64) -> HighsSettings {
    HighsSettings {
        verbose: params.verbose,
        ..HighsSettings::new(opts).with_time_limit(time_s)
    }
}

/// Solves day `d`'s theatre assignment exactly and applies it if it is cheaper. Returns the
/// MIP gap HiGHS reached, if it ran.
fn theatre_milp(
    state: &mut State,
    d: usize,
    opts: &SolveOptions,
    params: &SearchParams,
    time_s: f64,
) -> Result<Option<f64>> {
    let m = state.m;
    let pats: Vec<usize> = (0..m.patients.len())
        .filter(|&p| state.adm[p].is_some_and(|a| a.day == d))
        .collect();
    if pats.len() < 2 || m.theaters() < 2 {
        return Ok(None);
    }
    let t_n = m.theaters();
    let surgeons: Vec<usize> = {
        let mut s: Vec<usize> = pats.iter().map(|&p| m.patients[p].surgeon).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let mut milp = Milp::new();
    let x: Vec<Vec<_>> = pats
        .iter()
        .map(|_| (0..t_n).map(|_| milp.binary()).collect())
        .collect();
    let open: Vec<_> = (0..t_n).map(|_| milp.binary()).collect();
    let used: Vec<Vec<_>> = surgeons
        .iter()
        .map(|_| (0..t_n).map(|_| milp.binary()).collect())
        .collect();
    let wt = &m.weights;
    let mut objective = Expression::from(0.0);
    for t in 0..t_n {
        objective += wt.open_operating_theater as f64 * open[t];
        for u in &used {
            objective += wt.surgeon_transfer as f64 * u[t];
        }
    }
    let mut cons = Vec::new();
    for (i, &p) in pats.iter().enumerate() {
        let one: Expression = x[i].iter().sum();
        cons.push(one.eq(1.0));
        let si = surgeons.binary_search(&m.patients[p].surgeon).unwrap_or(0);
        for t in 0..t_n {
            cons.push((x[i][t] - used[si][t]).leq(0.0));
            cons.push((x[i][t] - open[t]).leq(0.0));
        }
    }
    for t in 0..t_n {
        let load: Expression = pats
            .iter()
            .enumerate()
            .map(|(i, &p)| m.patients[p].duration as f64 * x[i][t])
            .sum();
        cons.push((load - m.theater_avail[t][d] as f64 * open[t]).leq(0.0));
    }
    // The current assignment as a starting point.
    let mut init = Vec::new();
    for (i, &p) in pats.iter().enumerate() {
        let cur = state.adm[p].map_or(usize::MAX, |a| a.theater);
        init.extend((0..t_n).map(|t| (x[i][t], f64::from(u8::from(cur == t)))));
    }
    for (t, &o) in open.iter().enumerate() {
        let on = pats
            .iter()
            .any(|&p| state.adm[p].is_some_and(|a| a.theater == t));
        init.push((o, f64::from(u8::from(on))));
    }
    for (&s, row) in surgeons.iter().zip(&used) {
        for (t, &u) in row.iter().enumerate() {
            let on = pats.iter().any(|&p| {
                m.patients[p].surgeon == s && state.adm[p].is_some_and(|a| a.theater == t)
            });
            init.push((u, f64::from(u8::from(on))));
        }
    }
    for c in cons {
        milp.constrain(c);
    }
    milp.minimise(objective);
    let settings = highs_settings(opts, params, time_s);
    let res = milp
        .solve(&settings, Some(&init), &mut |_| {})
        .map_err(|e| Error::Highs(e.to_string()))?;
    let Some(values) = res.values else {
        return Ok(None);
    };
    let old: Vec<(usize, Option<Adm>)> = pats.iter().map(|&p| (p, state.adm[p])).collect();
    let mut delta = 0;
    for (i, &p) in pats.iter().enumerate() {
        let t = (0..t_n).find(|&t| values.is_one(x[i][t])).unwrap_or(0);
        let a = state.adm[p].map(|a| Adm { theater: t, ..a });
        delta += state.assign(p, a);
    }
    if delta > 0 {
        for &(p, a) in old.iter().rev() {
            state.assign(p, a);
        }
    }
    Ok(res.mip_gap)
}

/// Admission days for all patients (mandatory ones surely) that respect surgeon limits, the day's total
/// theatre time and the beds of each gender per day (each free room is given to one gender
/// per day; rooms with occupants keep theirs). Rooms, incompatibilities and the packing
/// into single theatres are left to the greedy. Minimises delay and unscheduled optional
/// patients. Returns the day per
/// patient (`None` for the others) and HiGHS's final gap.
#[allow(clippy::type_complexity)]
fn admission_milp(
    m: &Model,
    opts: &SolveOptions,
    params: &SearchParams,
    time_s: f64,
) -> Result<Option<(Vec<Option<usize>>, Option<f64>)>> {
    let d_n = m.days;
    let planned: Vec<usize> = (0..m.patients.len())
        .filter(|&p| m.patients[p].release <= m.patients[p].last_day)
        .collect();
    if planned.is_empty() {
        return Ok(None);
    }
    let mut milp = Milp::new();
    let mut y: Vec<Vec<(usize, Variable)>> = Vec::with_capacity(planned.len());
    for &p in &planned {
        let pat = &m.patients[p];
        y.push(
            (pat.release..=pat.last_day)
                .map(|d| (d, milp.binary()))
                .collect(),
        );
    }
    // Occupants fix a room's gender and use its beds.
    let mut occ_beds = vec![vec![0u32; d_n]; m.rooms()];
    let mut occ_gender = vec![vec![None; d_n]; m.rooms()];
    for o in &m.occupants {
        for d in 0..o.person.los.min(d_n) {
            occ_beds[o.room][d] += 1;
            occ_gender[o.room][d] = Some(o.person.gender);
        }
    }
    let mut beds_a = vec![Expression::from(0.0); d_n];
    let mut beds_b = vec![Expression::from(0.0); d_n];
    for r in 0..m.rooms() {
        for d in 0..d_n {
            let free = f64::from(m.room_capacity[r].saturating_sub(occ_beds[r][d]));
            match occ_gender[r][d] {
                Some(0) => beds_a[d] += free,
                Some(_) => beds_b[d] += free,
                None => {
                    let g = milp.binary();
                    beds_a[d] += free * g;
                    beds_b[d] += free - free * g;
                }
            }
        }
    }
    let mut objective = Expression::from(0.0);
    let mut cons = Vec::new();
    let mut surgeon_day = vec![vec![Expression::from(0.0); d_n]; m.surgeons()];
    let mut theatre_day = vec![Expression::from(0.0); d_n];
    let mut present_a = vec![Expression::from(0.0); d_n];
    let mut present_b = vec![Expression::from(0.0); d_n];
    for (k, &p) in planned.iter().enumerate() {
        let pat = &m.patients[p];
        let one: Expression = y[k].iter().map(|&(_, v)| v).sum();
        if pat.mandatory {
            cons.push(one.eq(1.0));
        } else {
            objective -= m.weights.unscheduled_optional as f64 * one.clone();
            cons.push(one.leq(1.0));
        }
        let dur = f64::from(pat.duration);
        for &(d, v) in &y[k] {
            objective += (m.weights.patient_delay as f64 * (d - pat.release) as f64) * v;
            surgeon_day[pat.surgeon][d] += dur * v;
            theatre_day[d] += dur * v;
            for dd in d..(d + pat.person.los).min(d_n) {
                if pat.person.gender == 0 {
                    present_a[dd] += v;
                } else {
                    present_b[dd] += v;
                }
            }
        }
    }
    for (s, row) in surgeon_day.into_iter().enumerate() {
        for (d, e) in row.into_iter().enumerate() {
            cons.push(e.leq(f64::from(m.surgeon_max[s][d])));
        }
    }
    for (d, e) in theatre_day.into_iter().enumerate() {
        let avail: u32 = (0..m.theaters()).map(|t| m.theater_avail[t][d]).sum();
        cons.push(e.leq(f64::from(avail)));
    }
    for d in 0..d_n {
        cons.push((present_a[d].clone() - beds_a[d].clone()).leq(0.0));
        cons.push((present_b[d].clone() - beds_b[d].clone()).leq(0.0));
    }
    for c in cons {
        milp.constrain(c);
    }
    milp.minimise(objective);
    let settings = highs_settings(opts, params, time_s);
    let res = milp
        .solve(&settings, None, &mut |_| {})
        .map_err(|e| Error::Highs(e.to_string()))?;
    let Some(values) = res.values else {
        return Ok(None);
    };
    let mut days = vec![None; m.patients.len()];
    for (k, &p) in planned.iter().enumerate() {
        days[p] = y[k]
            .iter()
            .find(|&&(_, v)| values.is_one(v))
            .map(|&(d, _)| d);
    }
    Ok(Some((days, res.mip_gap)))
}
