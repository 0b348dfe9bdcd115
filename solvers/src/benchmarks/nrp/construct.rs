//! A roster that meets every hard rule, fast: the rules never couple employees, so each
//! employee's row is built alone, as the best path through a network of runs, priced by
//! what it gains for the roster (cover still missing, requests), with the others fixed.
//!
//! The path (a dynamic programme over days) is exact for the run rules: working runs of
//! one shift type, at most MaxConsecutiveShifts long and at least MinConsecutiveShifts
//! unless they touch day 0 or day H-1, off runs of at least MinConsecutiveDaysOff unless
//! they touch an end, no work on a listed day off; successions hold because a run keeps
//! one type (one that may follow itself) and runs are apart. The budgets (total minutes
//! between the minimum and the maximum, worked weekends, shifts per type) are priced: a
//! price per minute found by bisection until the minutes fall in their range, a price per
//! weekend and per type raised until those hold. Every row is checked by the independent
//! checker's rules ([`check::employee_hard`]) before it is kept; an employee for whom the
//! prices find no row is left to the caller (an exact MILP of that employee's rules).
//!
//! One pass builds every row once (employees in a random order, each seeing the cover the
//! earlier ones left); later passes re-build each row against all the others and keep it
//! when it costs less, so the roster only improves. A pass takes time and memory linear
//! in employees x days x shift types (a row costs days x types x MaxConsecutiveShifts per
//! price tried, a bounded number of prices).

// Index arithmetic over (day, shift); ranges read like the maths.
#![allow(clippy::needless_range_loop)]

use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::{check, Instance, Roster};

/// One employee's rules as the programme reads them.
struct Rules {
    /// Not a listed day off.
    day_ok: Vec<bool>,
    /// Shift types with MaxShifts > 0.
    allowed: Vec<usize>,
    /// Per type: may follow itself (a run of it may last more than one day).
    repeats: Vec<bool>,
    max_on: usize,
    min_on: usize,
    /// At least 1.
    min_off: usize,
    max_weekends: u32,
    min_minutes: u32,
    max_minutes: u32,
    caps: Vec<u32>,
    /// `pred[j]`: the indices i into `allowed` whose shift may precede `allowed[j]` on
    /// the next day.
    pred: Vec<Vec<usize>>,
}

impl Rules {
    fn new(inst: &Instance, e: usize) -> Self {
        let st = &inst.staff[e];
        let mut day_ok = vec![true; inst.horizon];
        for &d in &inst.days_off[e] {
            day_ok[d] = false;
        }
        let allowed: Vec<usize> = (0..inst.shifts.len())
            .filter(|&s| st.max_shifts[s] > 0)
            .collect();
        let pred = allowed
            .iter()
            .map(|&t| {
                (0..allowed.len())
                    .filter(|&i| !inst.shifts[allowed[i]].forbidden_next.contains(&t))
                    .collect()
            })
            .collect();
        Self {
            day_ok,
            pred,
            allowed,
            repeats: (0..inst.shifts.len())
                .map(|s| !inst.shifts[s].forbidden_next.contains(&s))
                .collect(),
            max_on: (st.max_consecutive as usize).min(inst.horizon),
            min_on: st.min_consecutive as usize,
            min_off: (st.min_days_off as usize).max(1),
            max_weekends: st.max_weekends,
            min_minutes: st.min_minutes,
            max_minutes: st.max_minutes,
            caps: st.max_shifts.clone(),
        }
    }
}

/// Prices on one employee's budgets (kept between passes as a warm start).
#[derive(Debug, Clone)]
struct Prices {
    /// Per minute worked (negative when more work is wanted).
    minute: f64,
    /// Per weekend worked.
    weekend: f64,
    /// Per shift of each type.
    shift: Vec<f64>,
}

/// Reused buffers of the programme.
struct Dp {
    h: usize,
    ns: usize,
    /// `work[d]`: best value with a working run ending on day d-1.
    work: Vec<f64>,
    /// `(first day, shift)` of that run.
    work_from: Vec<(u32, u32)>,
    /// `off[d * m + k]`: best value with day d-1 off in an off run of length k+1 (k = m-1:
    /// the minimum is met, or the run touches day 0).
    off: Vec<f64>,
    /// Where that came from: -1 the end of a working run, -2 the start, k an off run of
    /// length k+1.
    off_from: Vec<i32>,
    /// Saturdays before day d.
    saturdays: Vec<u32>,
    /// Effective value of (day, shift) under the prices.
    value: Vec<f64>,
}

/// What one row uses of its budgets (also the swap pass's running totals).
pub(super) struct Usage {
    pub(super) minutes: u32,
    pub(super) weekends: u32,
    pub(super) per_type: Vec<u32>,
}

pub(super) fn usage(inst: &Instance, row: &[Option<usize>]) -> Usage {
    let mut u = Usage {
        minutes: 0,
        weekends: 0,
        per_type: vec![0; inst.shifts.len()],
    };
    for s in row.iter().flatten() {
        u.minutes += inst.shifts[*s].minutes;
        u.per_type[*s] += 1;
    }
    let h = inst.horizon;
    u.weekends = (0..h.div_ceil(7))
        .filter(|k| {
            [7 * k + 5, 7 * k + 6]
                .iter()
                .any(|&d| d < h && row[d].is_some())
        })
        .count() as u32;
    u
}

impl Dp {
    fn new(inst: &Instance) -> Self {
        let h = inst.horizon;
        let mut saturdays = vec![0u32; h + 1];
        for d in 0..h {
            saturdays[d + 1] = saturdays[d] + u32::from(d % 7 == 5);
        }
        Self {
            h,
            ns: inst.shifts.len(),
            work: Vec::new(),
            work_from: Vec::new(),
            off: Vec::new(),
            off_from: Vec::new(),
            saturdays,
            value: vec![0.0; h * inst.shifts.len()],
        }
    }

    /// Weekends touched by a run of days `d..d+l` (a weekend meets at most one run: its
    /// two days are adjacent).
    fn weekends(&self, d: usize, l: usize) -> u32 {
        self.saturdays[d + l] - self.saturdays[d] + u32::from(d % 7 == 6)
    }

    /// The best row for `gain` (per day and shift) under `prices`, exact for the run
    /// rules and the days off; `None` when no row satisfies even those.
    fn best_row(
        &mut self,
        inst: &Instance,
        rules: &Rules,
        gain: &[f64],
        prices: &Prices,
    ) -> Option<Vec<Option<usize>>> {
        let (h, ns) = (self.h, self.ns);
        let m = rules.min_off;
        for &s in &rules.allowed {
            let cost = prices.minute * inst.shifts[s].minutes as f64 + prices.shift[s];
            for d in 0..h {
                self.value[d * ns + s] = gain[d * ns + s] - cost;
            }
        }
        let neg = f64::NEG_INFINITY;
        self.work.clear();
        self.work.resize(h + 1, neg);
        self.work_from.clear();
        self.work_from.resize(h + 1, (0, 0));
        self.off.clear();
        self.off.resize((h + 1) * m, neg);
        self.off_from.clear();
        self.off_from.resize((h + 1) * m, 0);
        for d in 0..h {
            // Working runs that start on day d.
            let base = if d == 0 { 0.0 } else { self.off[d * m + m - 1] };
            if base > neg && rules.day_ok[d] {
                for &s in &rules.allowed {
                    let mut acc = 0.0;
                    let longest = if rules.repeats[s] { rules.max_on } else { 1 };
                    for l in 1..=longest.min(h - d) {
                        let day = d + l - 1;
                        if !rules.day_ok[day] {
                            break;
                        }
                        acc += self.value[day * ns + s];
                        let end = d + l;
                        if l < rules.min_on && d != 0 && end != h {
                            continue;
                        }
                        let v = base + acc - prices.weekend * self.weekends(d, l) as f64;
                        if v > self.work[end] {
                            self.work[end] = v;
                            self.work_from[end] = (d as u32, s as u32);
                        }
                    }
                }
            }
            // Day d off.
            let next = (d + 1) * m;
            let relax = |off: &mut Vec<f64>, from: &mut Vec<i32>, k: usize, v: f64, f: i32| {
                if v > off[next + k] {
                    off[next + k] = v;
                    from[next + k] = f;
                }
            };
            if d == 0 {
                // An off run touching day 0 is exempt from the minimum.
                relax(&mut self.off, &mut self.off_from, m - 1, 0.0, -2);
            } else {
                let w = self.work[d];
                if w > neg {
                    relax(&mut self.off, &mut self.off_from, 0, w, -1);
                }
                for k in 0..m {
                    let v = self.off[d * m + k];
                    if v > neg {
                        relax(
                            &mut self.off,
                            &mut self.off_from,
                            (k + 1).min(m - 1),
                            v,
                            k as i32,
                        );
                    }
                }
            }
        }
        // The end: a working run ending on day H-1, or any off run (it touches H-1).
        let mut best = self.work[h];
        let mut state: Option<usize> = None; // None: work; Some(k): off run k
        for k in 0..m {
            if self.off[h * m + k] > best {
                best = self.off[h * m + k];
                state = Some(k);
            }
        }
        if best == neg {
            return None;
        }
        let mut row = vec![None; h];
        let mut pos = h;
        loop {
            match state {
                None => {
                    let (d, s) = self.work_from[pos];
                    let d = d as usize;
                    for c in &mut row[d..pos] {
                        *c = Some(s as usize);
                    }
                    if d == 0 {
                        break;
                    }
                    pos = d;
                    state = Some(m - 1);
                }
                Some(k) => {
                    let f = self.off_from[pos * m + k];
                    pos -= 1;
                    match f {
                        -2 => break,
                        -1 => state = None,
                        k => state = Some(k as usize),
                    }
                }
            }
        }
        Some(row)
    }
}

impl Dp {
    /// The best row as [`Dp::best_row`], but day by day with the state (length of the
    /// working run so far, today's shift) or (length of the off run so far): runs may mix
    /// shift types in any order the successions allow. Costs days x MaxConsecutiveShifts
    /// x types^2, so it serves employees with few allowed types.
    fn best_row_by_day(
        &mut self,
        inst: &Instance,
        rules: &Rules,
        gain: &[f64],
        prices: &Prices,
    ) -> Option<Vec<Option<usize>>> {
        let (h, ns) = (self.h, self.ns);
        let na = rules.allowed.len();
        let max_on = rules.max_on;
        let m = rules.min_off;
        // States: work (l, j) at (l-1)*na + j for l in 1..=max_on; off k at
        // max_on*na + k-1 for k in 1..=m (k = m: at least m).
        let nw = max_on * na;
        let n = nw + m;
        let neg = f64::NEG_INFINITY;
        let val = |d: usize, j: usize, p: &Prices| {
            let s = rules.allowed[j];
            gain[d * ns + s] - p.minute * inst.shifts[s].minutes as f64 - p.shift[s]
        };
        let weekend = |d: usize| d % 7 == 5 || d % 7 == 6;
        self.work.clear();
        self.work.resize(n, neg); // current day
        self.off.clear();
        self.off.resize(n, neg); // next day
        self.off_from.clear();
        self.off_from.resize(h * n, -1);
        // Day 0 (a Monday).
        if rules.day_ok[0] && max_on > 0 {
            for j in 0..na {
                self.work[j] = val(0, j, prices);
            }
        }
        self.work[nw] = 0.0;
        for d in 0..h - 1 {
            let next = d + 1;
            self.off.iter_mut().for_each(|v| *v = neg);
            let back = &mut self.off_from[next * n..(next + 1) * n];
            let cur = &self.work;
            let nxt = &mut self.off;
            let mut relax = |to: usize, v: f64, from: usize| {
                if v > nxt[to] {
                    nxt[to] = v;
                    back[to] = from as i32;
                }
            };
            let sat = next % 7 == 5;
            for l in 1..=max_on {
                for j in 0..na {
                    let i = (l - 1) * na + j;
                    let v = cur[i];
                    if v == neg {
                        continue;
                    }
                    // Off tomorrow: the run ends; it must be long enough unless it began
                    // on day 0.
                    if l >= rules.min_on || l == d + 1 {
                        relax(nw, v, i);
                    }
                }
            }
            // Off runs go on.
            for k in 1..=m {
                let v = cur[nw + k - 1];
                if v > neg {
                    relax(nw + k.min(m - 1), v, nw + k - 1);
                }
            }
            if rules.day_ok[next] {
                // Work tomorrow after work today: the run grows.
                for l in 1..max_on {
                    for j2 in 0..na {
                        let mut best = neg;
                        let mut from = 0;
                        for &j in &rules.pred[j2] {
                            let v = cur[(l - 1) * na + j];
                            if v > best {
                                best = v;
                                from = (l - 1) * na + j;
                            }
                        }
                        if best > neg {
                            let w = best + val(next, j2, prices)
                                - if sat { prices.weekend } else { 0.0 };
                            relax(l * na + j2, w, from);
                        }
                    }
                }
                // Work tomorrow after a day off: a new run, once the off run is long
                // enough (or began on day 0).
                let mut best = neg;
                let mut from = 0;
                for k in 1..=m {
                    let v = cur[nw + k - 1];
                    if v > best && (k >= m || k == d + 1) {
                        best = v;
                        from = nw + k - 1;
                    }
                }
                if best > neg {
                    let charge = if weekend(next) { prices.weekend } else { 0.0 };
                    for j2 in 0..na {
                        relax(j2, best + val(next, j2, prices) - charge, from);
                    }
                }
            }
            std::mem::swap(&mut self.work, &mut self.off);
        }
        // Any state at the end: the last run touches day H-1.
        let (mut state, mut best) = (usize::MAX, neg);
        for (i, &v) in self.work.iter().enumerate() {
            if v > best {
                best = v;
                state = i;
            }
        }
        if best == neg {
            return None;
        }
        let mut row = vec![None; h];
        for d in (0..h).rev() {
            if state < nw {
                row[d] = Some(rules.allowed[state % na]);
            }
            if d > 0 {
                state = self.off_from[d * n + state] as usize;
            }
        }
        Some(row)
    }
}

/// Employees with at most this many allowed shift types get the day-by-day programme
/// (mixed runs); wider ones the run programme (one type per run), which costs types
/// instead of types^2.
const MIXED_RUN_TYPES: usize = 12;

/// The nested price searches of one row.
struct PriceSearch<'s> {
    inst: &'s Instance,
    rules: &'s Rules,
    /// Gains without noise: what a row is worth.
    gain: &'s [f64],
    /// Gains with the tie-breaking noise: what the programme maximises.
    noise: &'s [f64],
    dp: &'s mut Dp,
    scale: f64,
    /// The best row seen that keeps every budget, by its gain.
    best: Option<(f64, Vec<Option<usize>>)>,
    /// The row seen closest to the budgets, by [`penalty`] (the repair's start).
    closest: Option<(f64, Vec<Option<usize>>)>,
}

impl PriceSearch<'_> {
    /// The programme's row under `prices`, recorded as `best` or `closest`.
    fn eval(&mut self, prices: &Prices) -> Option<(Vec<Option<usize>>, Usage)> {
        let row = if self.rules.allowed.len() <= MIXED_RUN_TYPES {
            self.dp
                .best_row_by_day(self.inst, self.rules, self.noise, prices)?
        } else {
            self.dp
                .best_row(self.inst, self.rules, self.noise, prices)?
        };
        let u = usage(self.inst, &row);
        let r = self.rules;
        let within = u.minutes >= r.min_minutes
            && u.minutes <= r.max_minutes
            && u.weekends <= r.max_weekends
            && r.allowed.iter().all(|&s| u.per_type[s] <= r.caps[s]);
        if within {
            let ns = self.inst.shifts.len();
            let v: f64 = row
                .iter()
                .enumerate()
                .filter_map(|(d, s)| s.map(|s| self.gain[d * ns + s]))
                .sum();
            if self.best.as_ref().is_none_or(|(b, _)| v > *b) {
                self.best = Some((v, row.clone()));
            }
        } else {
            let p = penalty(self.inst, r, &row);
            if self.closest.as_ref().is_none_or(|(q, _)| p < *q) {
                self.closest = Some((p, row.clone()));
            }
        }
        Some((row, u))
    }

    /// Bisection on the minute price until the minutes are in range; the usage there.
    fn fit_minutes(&mut self, prices: &mut Prices) -> Option<Usage> {
        let r = self.rules;
        let mut step = self.scale / 480.0 / 4.0;
        let mut too_much: Option<f64> = None; // a price with too many minutes
        let mut too_little: Option<f64> = None;
        for _ in 0..40 {
            let (_, u) = self.eval(prices)?;
            if u.minutes > r.max_minutes {
                too_much = Some(prices.minute);
                prices.minute = match too_little {
                    Some(hi) => 0.5 * (prices.minute + hi),
                    None => {
                        step *= 2.0;
                        prices.minute + step
                    }
                };
            } else if u.minutes < r.min_minutes {
                too_little = Some(prices.minute);
                prices.minute = match too_much {
                    Some(lo) => 0.5 * (prices.minute + lo),
                    None => {
                        step *= 2.0;
                        prices.minute - step
                    }
                };
            } else {
                return Some(u);
            }
            if let (Some(a), Some(b)) = (too_much, too_little) {
                if (a - b).abs() < 1e-7 * self.scale / 480.0 {
                    return None;
                }
            }
        }
        None
    }

    /// The lowest weekend price (to a few percent) at which the weekends keep their limit,
    /// the minutes fitted at each; the usage there.
    fn fit_weekends(&mut self, prices: &mut Prices) -> Option<Usage> {
        let max = self.rules.max_weekends;
        let u = self.fit_minutes(prices)?;
        if u.weekends <= max && prices.weekend == 0.0 {
            return Some(u);
        }
        let (mut lo, mut hi, mut at_hi) = if u.weekends <= max {
            // Feasible at the warm price: see whether a lower one still is.
            (0.0, prices.weekend, Some(u))
        } else {
            (prices.weekend, f64::INFINITY, None)
        };
        let mut step = self.scale / 4.0;
        for _ in 0..24 {
            let trial = if hi.is_finite() {
                if hi - lo < 0.05 * hi.max(self.scale / 64.0) {
                    break;
                }
                0.5 * (lo + hi)
            } else {
                step *= 2.0;
                lo + step
            };
            prices.weekend = trial;
            match self.fit_minutes(prices) {
                Some(u) if u.weekends <= max => {
                    hi = trial;
                    at_hi = Some(u);
                }
                Some(_) => lo = trial,
                None => {
                    if hi.is_finite() {
                        // No minute fit at this price; stay with the feasible one.
                        break;
                    }
                    lo = trial;
                }
            }
        }
        if hi.is_finite() {
            prices.weekend = hi;
        }
        at_hi
    }
}

/// Builds rows for one roster: the employees' rules, their prices, the cover counts.
pub(super) struct Constructor<'a> {
    inst: &'a Instance,
    rules: Vec<Rules>,
    prices: Vec<Prices>,
    dp: Dp,
    /// `count[d * ns + s]`: employees on (d, s).
    count: Vec<u32>,
    /// `cover[d * ns + s]`: (requirement, under weight, over weight).
    cover: Vec<Option<(u32, f64, f64)>>,
    /// Request gains per employee: (day * ns + shift, gain of working it).
    requests: Vec<Vec<(usize, f64)>>,
    gain: Vec<f64>,
    noise: Vec<f64>,
}

/// The result of [`Constructor::construct`].
pub(super) struct Construction {
    /// A row within the hard rules for every employee not in `open`; those are off.
    pub roster: Roster,
    /// Employees for whom no row was found (left to an exact model).
    pub open: Vec<usize>,
}

impl<'a> Constructor<'a> {
    pub(super) fn new(inst: &'a Instance) -> Self {
        let ns = inst.shifts.len();
        let h = inst.horizon;
        let mut cover = vec![None; h * ns];
        for c in &inst.cover {
            cover[c.day * ns + c.shift] =
                Some((c.requirement, c.under_weight as f64, c.over_weight as f64));
        }
        let mut requests = vec![Vec::new(); inst.staff.len()];
        for q in &inst.on_requests {
            requests[q.employee].push((q.day * ns + q.shift, q.weight as f64));
        }
        for q in &inst.off_requests {
            requests[q.employee].push((q.day * ns + q.shift, -(q.weight as f64)));
        }
        Self {
            inst,
            rules: (0..inst.staff.len()).map(|e| Rules::new(inst, e)).collect(),
            prices: vec![
                Prices {
                    minute: 0.0,
                    weekend: 0.0,
                    shift: vec![0.0; ns],
                };
                inst.staff.len()
            ],
            dp: Dp::new(inst),
            count: vec![0; h * ns],
            cover,
            requests,
            gain: vec![0.0; h * ns],
            noise: vec![0.0; h * ns],
        }
    }

    fn add_row(&mut self, row: &[Option<usize>], sign: i32) {
        let ns = self.inst.shifts.len();
        for (d, s) in row.iter().enumerate() {
            if let Some(s) = s {
                let c = &mut self.count[d * ns + s];
                *c = (*c as i32 + sign) as u32;
            }
        }
    }

    /// Gain of employee `e` working each (day, shift), the others as counted now.
    fn fill_gain(&mut self, e: usize) {
        for (i, g) in self.gain.iter_mut().enumerate() {
            *g = match self.cover[i] {
                Some((req, under, over)) => {
                    if self.count[i] < req {
                        under
                    } else {
                        -over
                    }
                }
                None => 0.0,
            };
        }
        for &(i, w) in &self.requests[e] {
            self.gain[i] += w;
        }
    }

    /// What `row` gains over a day off everywhere (no noise).
    fn row_gain(&self, row: &[Option<usize>]) -> f64 {
        let ns = self.inst.shifts.len();
        row.iter()
            .enumerate()
            .filter_map(|(d, s)| s.map(|s| self.gain[d * ns + s]))
            .sum()
    }

    /// A row for `e` within every hard rule, as good as the prices find for the current
    /// gains (then repaired by [`repair`] when the prices alone miss the budgets), or
    /// `None`. The minute price is bisected inside the weekend price, which is bisected
    /// inside a few raises of the per-type prices; of all rows met on the way that keep
    /// every budget, the one gaining most is taken.
    fn row_for(&mut self, e: usize, rng: &mut StdRng) -> Option<Vec<Option<usize>>> {
        let inst = self.inst;
        for (n, g) in self.noise.iter_mut().zip(&self.gain) {
            // Breaks ties between equal rows at random, below every real price step.
            *n = g + rng.random_range(0.0..0.25);
        }
        let scale = self.gain.iter().fold(1.0f64, |a, g| a.max(g.abs())) + 1.0;
        let mut search = PriceSearch {
            inst,
            rules: &self.rules[e],
            gain: &self.gain,
            noise: &self.noise,
            dp: &mut self.dp,
            scale,
            best: None,
            closest: None,
        };
        let mut prices = self.prices[e].clone();
        for _ in 0..6 {
            let Some(u) = search.fit_weekends(&mut prices) else {
                break;
            };
            let mut ok = true;
            for &s in &search.rules.allowed {
                if u.per_type[s] > search.rules.caps[s] {
                    ok = false;
                    prices.shift[s] = prices.shift[s] * 2.0 + scale / 16.0;
                }
            }
            if ok {
                break;
            }
        }
        let (best, closest) = (search.best.take(), search.closest.take());
        if let Some((_, row)) = best {
            self.prices[e] = prices;
            return (check::employee_hard(inst, e, &row).total() == 0).then_some(row);
        }
        let (p0, start) = closest?;
        let rules = &self.rules[e];
        let row = repair(inst, rules, &self.gain, start.clone());
        if row.is_none() && std::env::var_os("NRP_DEBUG").is_some() {
            let show: String = start
                .iter()
                .map(|c| c.map_or('.', |s| inst.shifts[s].id.chars().next().unwrap_or('?')))
                .collect();
            eprintln!(
                "repair failed for {} from penalty {p0}: {show}",
                inst.staff[e].id
            );
        }
        let row = row?;
        (check::employee_hard(inst, e, &row).total() == 0).then_some(row)
    }

    /// One row per employee, in a random order, each priced by the cover the earlier
    /// ones left.
    pub(super) fn construct(&mut self, rng: &mut StdRng) -> Construction {
        let inst = self.inst;
        let mut roster = Roster::empty(inst);
        self.count.iter_mut().for_each(|c| *c = 0);
        let mut order: Vec<usize> = (0..inst.staff.len()).collect();
        order.shuffle(rng);
        let mut open = Vec::new();
        for &e in &order {
            self.fill_gain(e);
            match self.row_for(e, rng) {
                Some(row) => {
                    self.add_row(&row, 1);
                    roster.cells[e] = row;
                }
                None => open.push(e),
            }
        }
        open.sort_unstable();
        Construction { roster, open }
    }

    /// Re-builds each row against all the others (random order) and keeps it when the
    /// roster costs less; repeats until a pass changes nothing or `deadline_s` (seconds
    /// since `started`). Rows in `roster` must meet the hard rules. Returns the passes made.
    pub(super) fn improve(
        &mut self,
        roster: &mut Roster,
        rng: &mut StdRng,
        started: Instant,
        deadline_s: f64,
    ) -> usize {
        let inst = self.inst;
        self.count.iter_mut().for_each(|c| *c = 0);
        for row in &roster.cells {
            self.add_row(row, 1);
        }
        let mut order: Vec<usize> = (0..inst.staff.len()).collect();
        let mut passes = 0;
        loop {
            passes += 1;
            order.shuffle(rng);
            let mut changed = false;
            for &e in &order {
                if started.elapsed().as_secs_f64() > deadline_s {
                    return passes;
                }
                let old = std::mem::take(&mut roster.cells[e]);
                self.add_row(&old, -1);
                self.fill_gain(e);
                let keep = match self.row_for(e, rng) {
                    Some(row) if self.row_gain(&row) > self.row_gain(&old) + 1e-9 => {
                        changed = true;
                        row
                    }
                    _ => old,
                };
                self.add_row(&keep, 1);
                roster.cells[e] = keep;
            }
            if !changed {
                return passes;
            }
        }
    }
}

/// Steps of [`repair`] before the row is left to the exact model.
const REPAIR_STEPS: usize = 60;

/// How far a row is from meeting one employee's rules: short or long runs by the days
/// missing or extra, work on days off, forbidden successions, minutes outside the range
/// (in 480-minute shifts), weekends and shifts over their limits. 0 exactly when the row
/// meets every rule.
fn penalty(inst: &Instance, rules: &Rules, row: &[Option<usize>]) -> f64 {
    let h = row.len();
    let mut p = 0.0;
    let mut start = 0;
    while start < h {
        let kind = row[start].is_some();
        let mut end = start;
        while end + 1 < h && row[end + 1].is_some() == kind {
            end += 1;
        }
        let len = end - start + 1;
        let interior = start > 0 && end < h - 1;
        if kind {
            p += len.saturating_sub(rules.max_on) as f64;
            if interior {
                p += rules.min_on.saturating_sub(len) as f64;
            }
        } else if interior {
            p += rules.min_off.saturating_sub(len) as f64;
        }
        start = end + 1;
    }
    for d in 0..h {
        if let Some(s) = row[d] {
            if !rules.day_ok[d] {
                p += 2.0;
            }
            if let Some(Some(t)) = row.get(d + 1) {
                if inst.shifts[s].forbidden_next.contains(t) {
                    p += 1.0;
                }
            }
        }
    }
    let u = usage(inst, row);
    p += rules.min_minutes.saturating_sub(u.minutes) as f64 / 480.0;
    p += u.minutes.saturating_sub(rules.max_minutes) as f64 / 480.0;
    p += u.weekends.saturating_sub(rules.max_weekends) as f64;
    for (s, &n) in u.per_type.iter().enumerate() {
        p += n.saturating_sub(rules.caps[s]) as f64;
    }
    p
}

/// Moves runs of `row` until it meets the rules: each step takes the move that lowers the
/// [`penalty`] most (then gains most; a step that lowers nothing is taken too, never back to
/// a row visited lately) among shrinking, extending, dropping, shifting or
/// re-typing a working run and placing a new run in an off run. Used when the prices
/// alone miss a narrow budget (e.g. exactly ten shifts); a step costs O(runs x types x
/// days).
fn repair(
    inst: &Instance,
    rules: &Rules,
    gain: &[f64],
    mut row: Vec<Option<usize>>,
) -> Option<Vec<Option<usize>>> {
    /// Set days a..=b to s (None: off); a move is one or two of these.
    type Op = (usize, usize, Option<usize>);
    let h = row.len();
    let ns = inst.shifts.len();
    let value = |r: &[Option<usize>]| -> f64 {
        r.iter()
            .enumerate()
            .filter_map(|(d, s)| s.map(|s| gain[d * ns + s]))
            .sum()
    };
    let mut pen = penalty(inst, rules, &row);
    let mut trial = row.clone();
    // Rows visited lately (by hash): a step may keep or even raise the penalty, but never
    // goes back to one of these, so the walk crosses plateaus without cycling.
    let hash = |r: &[Option<usize>]| {
        use std::hash::{Hash, Hasher};
        let mut s = std::collections::hash_map::DefaultHasher::new();
        r.hash(&mut s);
        s.finish()
    };
    let mut recent: std::collections::VecDeque<u64> = std::collections::VecDeque::new();
    recent.push_back(hash(&row));
    for _ in 0..REPAIR_STEPS {
        if pen == 0.0 {
            return Some(row);
        }
        // Maximal runs: (first, last, working).
        let mut runs = Vec::new();
        let mut start = 0;
        while start < h {
            let kind = row[start].is_some();
            let mut end = start;
            while end + 1 < h && row[end + 1].is_some() == kind {
                end += 1;
            }
            runs.push((start, end, kind));
            start = end + 1;
        }
        let mut moves: Vec<[Option<Op>; 2]> = Vec::new();
        let one = |o: Op| [Some(o), None];
        for &(a, b, working) in &runs {
            if working {
                let s = row[a];
                moves.push(one((a, b, None)));
                moves.push(one((a, a, None)));
                moves.push(one((b, b, None)));
                if a > 0 {
                    moves.push(one((a - 1, a - 1, s)));
                }
                if b + 1 < h {
                    moves.push(one((b + 1, b + 1, s)));
                }
                for &t in &rules.allowed {
                    if Some(t) != s {
                        moves.push(one((a, b, Some(t))));
                    }
                }
                // The run shifted by up to three days either way.
                for k in 1..=3usize {
                    if a >= k {
                        moves.push([Some((a, b, None)), Some((a - k, b - k, s))]);
                    }
                    if b + k < h {
                        moves.push([Some((a, b, None)), Some((a + k, b + k, s))]);
                    }
                }
            } else {
                let lens = [rules.min_on.max(1), rules.min_on.max(1) + 1];
                for &l in &lens {
                    if l > rules.max_on || l > b - a + 1 {
                        continue;
                    }
                    let mut starts = vec![a, b + 1 - l, (a + b + 1 - l) / 2];
                    if a > 0 && a + rules.min_off + l <= b + 1 {
                        starts.push(a + rules.min_off);
                    }
                    if b + 1 < h && b + 1 >= rules.min_off + l + a {
                        starts.push(b + 1 - rules.min_off - l);
                    }
                    for st in starts {
                        for &t in &rules.allowed {
                            moves.push(one((st, st + l - 1, Some(t))));
                        }
                    }
                }
            }
        }
        let mut best: Option<(f64, f64, usize)> = None;
        'moves: for (i, ops) in moves.iter().enumerate() {
            for &(a, b, s) in ops.iter().flatten() {
                if s.is_some() && (a..=b).any(|d| !rules.day_ok[d]) {
                    continue 'moves;
                }
            }
            for &(a, b, s) in ops.iter().flatten() {
                for c in &mut trial[a..=b] {
                    *c = s;
                }
            }
            let p = penalty(inst, rules, &trial);
            let v = value(&trial);
            let better = best.is_none_or(|(bp, bv, _)| p < bp - 1e-9 || (p < bp + 1e-9 && v > bv));
            if better && !recent.contains(&hash(&trial)) {
                best = Some((p, v, i));
            }
            for &(a, b, _) in ops.iter().flatten() {
                trial[a..=b].copy_from_slice(&row[a..=b]);
            }
        }
        let (p, _, i) = best?;
        for &(a, b, s) in moves[i].iter().flatten() {
            for c in &mut row[a..=b] {
                *c = s;
            }
        }
        trial.copy_from_slice(&row);
        pen = p;
        recent.push_back(hash(&row));
        if recent.len() > 30 {
            recent.pop_front();
        }
    }
    (pen == 0.0).then_some(row)
}
