//! Instances with a known optimum ("planted"), so that the solver's quality on large
//! instances can be measured as cost / optimum, where the twelve published instances stop
//! (generated instances of [`super::generate`] have no best-known values and the bound of
//! the search is weak on them).
//!
//! # Construction
//!
//! Staff, contracts and shift types are drawn as in [`super::generate`] (the same rule
//! types, the same contract mix and caps). Then:
//!
//! 1. A roster `P` (the planted roster) that meets every hard rule: per nurse, working runs
//!    of one allowed shift type each (runs of different types are separated by days off,
//!    so a forbidden succession cannot occur), of a length within the nurse's min/max
//!    consecutive rules, each after at least the minimum days off, within the weekend
//!    budget, the per-type caps and the maximum minutes; MinTotalMinutes is lowered to what
//!    the row reached when the greedy placement falls short (as `generate` does). The fixed
//!    days off are drawn among P's days off.
//! 2. "Scarce" types `S*` (the types of the latest family: nights when there are any): each
//!    nurse's cap on a type in `S*` is set to exactly the number P works of it.
//! 3. Cover: `req(d, s) = n_P(d, s)` (nurses on s on day d in P), except that on a few
//!    days a type in `S*` asks for `delta(d, s) >= 1` more. Under weight 100, over weight 1.
//! 4. Requests: shift-on requests for P's own shift on P's working days and shift-off
//!    requests for a shift P does not work that day (P meets them all), plus deliberate
//!    conflicts, each on a cell (nurse, day) of its own: an on-request on a fixed day off,
//!    or an on-request and an off-request for the same shift on the same cell (P meets the
//!    heavier one).
//!
//! # Why P is optimal
//!
//! [`lower_bound`] is valid for every instance of the format: the objective is the sum of
//! request costs (each belongs to one cell (e, d)), under-cover costs and over-cover costs,
//! all non-negative, so it is at least the sum of
//!
//! - for each cell, the least request cost over every choice the cell could take at all
//!   (off, or a shift s with `MaxShifts[s] > 0` when d is not a fixed day off): a superset
//!   of what any feasible roster can put there, so no feasible roster pays less on it;
//! - for each shift type s, `wu_min(s) * max(0, sum_d req(d, s) - sum_e avail(e, s))`,
//!   where `avail(e, s) = min(MaxShifts[s], days not fixed off, MaxTotalMinutes /
//!   minutes(s))` bounds how many s-shifts e can work, so `sum_d n(d, s) <= sum_e
//!   avail(e, s)` and the under-cover of s is at least `wu_min(s)` times
//!   `sum_d (req - n) >= sum_d req - sum_e avail`;
//! - 0 for over-cover.
//!
//! P attains every part: on a consistent request cell it pays 0; on a conflict cell it
//! takes the cheaper side (an on-request on a fixed day off: every choice pays w; an
//! on/off pair on shift s: s pays w_off, anything else w_on, P pays the smaller). For s in
//! `S*`, `avail(e, s) <= MaxShifts[s] = count_P(e, s)`, so `sum_e avail = sum_d n_P(d, s)`
//! and the bound is `100 * sum_d delta(d, s)`, what P pays (P is never over, never more
//! short than delta). For the other types `req = n_P` and `sum_e avail >= sum_e count_P =
//! sum_d req` (P is feasible, so its counts fit every part of `avail`): bound 0, P pays 0.
//! No over-cover anywhere. So `cost(P) = lower_bound = optimum`, stated as
//! [`Planted::optimum`] and checked by `tests/nrp_planted.rs` with the independent
//! checker. Many rosters may share that cost; the optimum, not the roster, is unique.
//!
//! What this does not capture: the optimum of a published instance is set by conflicts
//! between cover and the rules, which a solver must trade off; here the unavoidable cost
//! is isolated in single cells and in one type's total, and everything else can be met
//! exactly. So a solver that reaches a planted optimum shows it can find an exact fit of
//! cover and requests at that scale, not that it trades off as well as the best known
//! rosters do.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::generate::GenParams;
use super::requests::CellRequests;
use super::{Cover, Instance, Request, Roster, Staff};

/// A planted instance: the instance, a roster that meets every hard rule and its cost,
/// which is the optimum (see the module documentation).
#[derive(Debug, Clone)]
pub struct Planted {
    /// The instance (named `Plant<nurses>x<days>s<shifts>-<seed>`).
    pub instance: Instance,
    /// The planted roster.
    pub roster: Roster,
    /// Its cost, proven optimal: equal to [`lower_bound`] of the instance.
    pub optimum: u64,
}

/// The instance name of a planted instance.
pub fn name(p: &GenParams) -> String {
    format!(
        "Plant{}x{}s{}-{}",
        p.nurses,
        p.days.max(7).div_ceil(7) * 7,
        p.shifts.clamp(1, 32),
        p.seed
    )
}

/// A planted instance with the structure of [`super::generate::generate`]'s for the same
/// parameters (different random draws).
pub fn generate_planted(p: &GenParams) -> Planted {
    // Staff, shifts and caps as the plain generator draws them; its requests, days off
    // and cover are replaced below.
    let base = super::generate::generate(p);
    let mut rng = StdRng::seed_from_u64(p.seed ^ 0x0070_6c61_6e74_6564);
    let h = base.horizon;
    let ns = base.shifts.len();
    let n = base.staff.len();
    let scale = h as f64 / 28.0;
    let shifts = base.shifts;
    let mut staff = base.staff;

    let family = |s: usize| shifts[s].forbidden_next.len();
    let top = (0..ns).map(family).max().unwrap_or(0);
    let scarce: Vec<usize> = (0..ns).filter(|&s| ns > 1 && family(s) == top).collect();

    // 1. The planted roster.
    let mut cells = vec![vec![None; h]; n];
    for (e, st) in staff.iter_mut().enumerate() {
        let (row, minutes) = planted_row(st, &shifts, h, &mut rng);
        if minutes < st.min_minutes {
            st.min_minutes = minutes;
        }
        cells[e] = row;
    }
    // 2. Scarce types: the cap is what P works.
    for (e, st) in staff.iter_mut().enumerate() {
        for &s in &scarce {
            st.max_shifts[s] = cells[e].iter().filter(|&&c| c == Some(s)).count() as u32;
        }
    }

    // Fixed days off: one or two per 28 days (sometimes two in a row) on P's days off.
    let mut days_off = vec![Vec::new(); n];
    for (e, list) in days_off.iter_mut().enumerate() {
        for b in 0..h.div_ceil(28) {
            let (lo, hi) = (28 * b, (28 * b + 28).min(h));
            let off: Vec<usize> = (lo..hi).filter(|&d| cells[e][d].is_none()).collect();
            if off.is_empty() {
                continue;
            }
            for _ in 0..rng.random_range(1..=2usize) {
                let d = off[rng.random_range(0..off.len())];
                let len = if rng.random_bool(0.3) { 2 } else { 1 };
                let row = cells[e].iter().enumerate();
                for (x, c) in row.take((d + len).min(hi)).skip(d) {
                    if c.is_none() && !list.contains(&x) {
                        list.push(x);
                    }
                }
            }
        }
        list.sort_unstable();
    }

    // 3. Cover: P's counts, plus a shortage on scarce types.
    let mut req = vec![0u32; h * ns];
    for row in &cells {
        for (d, c) in row.iter().enumerate() {
            if let Some(s) = c {
                req[d * ns + s] += 1;
            }
        }
    }
    let mut shortage = 0u64;
    if !scarce.is_empty() {
        let total = ((n as f64 * scale) / 8.0).round().max(1.0) as usize;
        for _ in 0..total {
            let d = rng.random_range(0..h);
            let s = scarce[rng.random_range(0..scarce.len())];
            req[d * ns + s] += 1;
            shortage += 1;
        }
    }
    let cover: Vec<Cover> = (0..h)
        .flat_map(|d| (0..ns).map(move |s| (d, s)))
        .map(|(d, s)| Cover {
            day: d,
            shift: s,
            requirement: req[d * ns + s],
            under_weight: 100,
            over_weight: 1,
        })
        .collect();

    // 4. Requests, one cell each: consistent blocks, then the conflicts.
    let mut on_requests = Vec::new();
    let mut off_requests = Vec::new();
    let mut conflict_cost = 0u64;
    for e in 0..n {
        let allowed: Vec<usize> = (0..ns).filter(|&s| staff[e].max_shifts[s] > 0).collect();
        let mut taken = vec![false; h];
        for &d in &days_off[e] {
            taken[d] = true;
        }
        // Consistent on-requests: P's shift on P's working days, in short blocks.
        let target = (5.0 * scale).round() as usize;
        let (mut made, mut tries) = (0, 0);
        while made < target && tries < 20 * target + 20 {
            tries += 1;
            let d0 = rng.random_range(0..h);
            let w = rng.random_range(1..=3u32);
            for d in d0..(d0 + rng.random_range(1..=5usize)).min(h) {
                let Some(s) = cells[e][d] else { break };
                if taken[d] || made >= target {
                    break;
                }
                taken[d] = true;
                made += 1;
                on_requests.push(Request {
                    employee: e,
                    day: d,
                    shift: s,
                    weight: w,
                });
            }
        }
        // Consistent off-requests: a shift P does not work that day.
        let target = (2.5 * scale).round() as usize;
        let (mut made, mut tries) = (0, 0);
        while made < target && tries < 20 * target + 20 && !allowed.is_empty() {
            tries += 1;
            let d = rng.random_range(0..h);
            let s = allowed[rng.random_range(0..allowed.len())];
            if taken[d] || cells[e][d] == Some(s) {
                continue;
            }
            taken[d] = true;
            made += 1;
            off_requests.push(Request {
                employee: e,
                day: d,
                shift: s,
                weight: rng.random_range(1..=3u32),
            });
        }
        if allowed.is_empty() {
            continue;
        }
        // Conflicts: about one per nurse and 28 days on a fixed day off, one more as an
        // on/off pair on a free cell.
        let target = scale.round().max(1.0) as usize;
        for &d in days_off[e].iter().take(target) {
            let w = rng.random_range(1..=3u32);
            on_requests.push(Request {
                employee: e,
                day: d,
                shift: allowed[rng.random_range(0..allowed.len())],
                weight: w,
            });
            conflict_cost += w as u64;
        }
        let (mut made, mut tries) = (0, 0);
        while made < target && tries < 20 * target + 20 {
            tries += 1;
            let d = rng.random_range(0..h);
            if taken[d] {
                continue;
            }
            taken[d] = true;
            made += 1;
            let heavy = rng.random_range(2..=4u32);
            let light = rng.random_range(1..heavy);
            // P works s: the on-request is the heavy one; P is off or on another shift:
            // the off-request is.
            let (s, w_on, w_off) = match cells[e][d] {
                Some(s) => (s, heavy, light),
                None => (allowed[rng.random_range(0..allowed.len())], light, heavy),
            };
            on_requests.push(Request {
                employee: e,
                day: d,
                shift: s,
                weight: w_on,
            });
            off_requests.push(Request {
                employee: e,
                day: d,
                shift: s,
                weight: w_off,
            });
            conflict_cost += light as u64;
        }
    }
    on_requests.sort_by_key(|q| (q.employee, q.day));
    off_requests.sort_by_key(|q| (q.employee, q.day));

    let instance = Instance {
        name: name(p),
        horizon: h,
        shifts,
        staff,
        days_off,
        on_requests,
        off_requests,
        cover,
    };
    Planted {
        instance,
        roster: Roster { cells },
        optimum: conflict_cost + 100 * shortage,
    }
}

/// A row of runs, one allowed type per run (a type in its run's random draw, the cap
/// permitting), lengths within the run rules, at least the minimum days off between runs,
/// within the weekend budget and MaxTotalMinutes, stopping once it reaches a random aim
/// between MinTotalMinutes and most of MaxTotalMinutes. Returns the row and its minutes.
fn planted_row(
    st: &Staff,
    shifts: &[super::Shift],
    h: usize,
    rng: &mut StdRng,
) -> (Vec<Option<usize>>, u32) {
    let mut row = vec![None; h];
    let max_on = st.max_consecutive as usize;
    let allowed: Vec<usize> = (0..shifts.len())
        .filter(|&s| st.max_shifts[s] > 0 && shifts[s].minutes > 0)
        .collect();
    if max_on == 0 || allowed.is_empty() {
        return (row, 0);
    }
    let min_on = (st.min_consecutive as usize).clamp(1, max_on);
    let min_off = (st.min_days_off as usize).max(1);
    let weekend_of = |d: usize| (d % 7 >= 5).then_some(d / 7);
    let mut used = vec![0u32; shifts.len()];
    let mut minutes = 0u32;
    let mut weekends = 0u32;
    let mut last_weekend = None;
    // Start somewhere in the first rest so that rows do not all begin on day 0.
    let mut d = rng.random_range(0..=min_off.min(h.saturating_sub(1)));
    // Aim between the minimum and most of the maximum, so that cover (P's counts) is
    // near the staff's capacity as in the published instances.
    let slack = st.max_minutes.saturating_sub(st.min_minutes) as f64;
    let aim = st.min_minutes + (slack * rng.random_range(0.0..0.8)) as u32;
    while d < h && minutes < aim {
        let s = allowed[rng.random_range(0..allowed.len())];
        let left = st.max_shifts[s].saturating_sub(used[s]) as usize;
        let m = shifts[s].minutes;
        let want = rng.random_range(min_on..=max_on).min(left);
        let mut len = 0;
        let mut new_weekends = 0;
        let mut lw = last_weekend;
        while len < want && d + len < h && minutes + m * (len as u32 + 1) <= st.max_minutes {
            if let Some(k) = weekend_of(d + len) {
                if lw != Some(k) {
                    if weekends + new_weekends >= st.max_weekends {
                        break;
                    }
                    new_weekends += 1;
                    lw = Some(k);
                }
            }
            len += 1;
            // Stop as soon as the aim is met, when the run is long enough.
            if minutes + m * len as u32 >= aim && len >= min_on {
                break;
            }
        }
        if len == 0 || (len < min_on && d + len < h) {
            d += 1;
            continue;
        }
        for c in &mut row[d..d + len] {
            *c = Some(s);
        }
        used[s] += len as u32;
        minutes += m * len as u32;
        weekends += new_weekends;
        last_weekend = lw;
        d += len + min_off + usize::from(rng.random_bool(0.3));
    }
    (row, minutes)
}

/// A lower bound on the cost of every roster of `inst` that meets the hard rules (valid for
/// any instance; equal to the optimum on planted ones): per cell the least request cost
/// over the choices the cell could take at all, plus per shift type the under-cover that
/// the staff's capacity for it cannot avoid (see the module documentation).
pub fn lower_bound(inst: &Instance) -> u64 {
    let h = inst.horizon;
    let ns = inst.shifts.len();
    // Per cell, the least request cost over the choices it could take at all.
    let mut bound = CellRequests::new(inst).floor_total();
    for s in 0..ns {
        let mut demand = 0u64;
        let mut wu = u64::MAX;
        for c in inst.cover.iter().filter(|c| c.shift == s) {
            demand += c.requirement as u64;
            if c.requirement > 0 {
                wu = wu.min(c.under_weight as u64);
            }
        }
        let m = inst.shifts[s].minutes;
        let avail: u64 = inst
            .staff
            .iter()
            .enumerate()
            .map(|(e, st)| {
                let mut barred = vec![false; h];
                for &d in inst.days_off[e].iter().filter(|&&d| d < h) {
                    barred[d] = true;
                }
                let free = barred.iter().filter(|&&b| !b).count();
                let by_minutes = st.max_minutes.checked_div(m).map_or(u64::MAX, u64::from);
                (st.max_shifts[s] as u64).min(free as u64).min(by_minutes)
            })
            .sum();
        if demand > avail && wu != u64::MAX {
            bound += wu * (demand - avail);
        }
    }
    bound
}
