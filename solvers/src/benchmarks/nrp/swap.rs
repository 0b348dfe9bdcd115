//! Swaps: two employees exchange what they work over a window of days. Every day keeps the
//! same shifts worked, so the cover cost cannot change and a swap is priced by the two
//! employees' requests alone, in O(window); the hard rules are checked only where the
//! two rows changed (the runs that meet the window, the successions across its edges)
//! plus the budgets (minutes, shifts per type, weekends) from running totals.
//!
//! Why: on a year of 150 nurses, what a 300 s search left was requests, not cover (250
//! heads short where 244 are unavoidable, but 11,655 of requests against the optimum's
//! 6,847). A request is met by handing a shift to the employee who asked for it, which
//! means taking it from whoever works it that day, and that employee's row must stay
//! within the rules: a swap of a stretch of days between the two. The MILP subproblems
//! find such swaps only when they happen to free that pair of employees (3 of 150 at a
//! time); this pass tries every employee who works the wanted shift and every window
//! around the request, in microseconds each. The search runs it only on instances too
//! large for the whole model (see `KindChooser::new` in `model.rs`).
//!
//! Strict descent: a swap is kept only when it lowers the cost, so a pass ends at a local
//! optimum (`closed`) or at its deadline.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::construct::{usage, Usage};
use super::requests::CellRequests;
use super::{Instance, Roster};

/// The requests by cell and the fixed days off, indexed for the swap pass.
pub(super) struct Swaps<'a> {
    inst: &'a Instance,
    requests: CellRequests,
    /// `day_off[e][d]`: d is one of e's fixed days off.
    day_off: Vec<Vec<bool>>,
}

/// What one pass did.
pub(super) struct Pass {
    /// Cost removed (requests only: the cover is unchanged by construction).
    pub gain: u64,
    /// The pass reached a roster no swap within its span improves (else: its deadline).
    pub closed: bool,
    /// The swaps made, in order, for [`Swaps::replay`] on a roster that has changed
    /// elsewhere meanwhile.
    pub moves: Vec<Move>,
}

/// One swap: employees `pair` exchanged days `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Move {
    pub pair: (usize, usize),
    pub first: usize,
    pub last: usize,
}

/// Whether `row` works on Saturday or Sunday of week `k` (day 0 is a Monday).
fn weekend_worked(row: &[Option<usize>], k: usize) -> bool {
    [7 * k + 5, 7 * k + 6]
        .iter()
        .any(|&d| d < row.len() && row[d].is_some())
}

impl<'a> Swaps<'a> {
    pub(super) fn new(inst: &'a Instance) -> Self {
        let (n, h) = (inst.staff.len(), inst.horizon);
        let mut day_off = vec![vec![false; h]; n];
        for (e, days) in inst.days_off.iter().enumerate() {
            for &d in days {
                day_off[e][d] = true;
            }
        }
        Self {
            inst,
            requests: CellRequests::new(inst),
            day_off,
        }
    }

    /// Request cost of employee `e` working `c` on day `d`.
    fn cell_cost(&self, e: usize, d: usize, c: Option<usize>) -> i64 {
        self.requests.cost(e, d, c) as i64
    }

    /// Swaps that lower the cost, until none is left or `deadline`. Only cells marked in
    /// `free` change; a swap covers at most `span` days either side of the request it
    /// serves. `roster` must meet every hard rule, and still does after.
    pub(super) fn improve(
        &self,
        roster: &mut Roster,
        free: &[Vec<bool>],
        span: usize,
        deadline: Instant,
        rng: &mut StdRng,
    ) -> Pass {
        let inst = self.inst;
        let mut budgets: Vec<Usage> = roster.cells.iter().map(|r| usage(inst, r)).collect();
        let mut scratch = vec![0i32; inst.shifts.len()];
        let mut gain = 0u64;
        let mut moves = Vec::new();
        loop {
            // Cells that cost something now: each is served by handing its employee
            // another's cell on that day.
            let mut hot: Vec<(usize, usize)> = (0..inst.staff.len())
                .flat_map(|e| (0..inst.horizon).map(move |d| (e, d)))
                .filter(|&(e, d)| {
                    free[e][d]
                        && self.requests.any(e, d)
                        && self.cell_cost(e, d, roster.cells[e][d]) > 0
                })
                .collect();
            hot.shuffle(rng);
            let mut improved = false;
            for (e1, d) in hot {
                if Instant::now() >= deadline {
                    return Pass {
                        gain,
                        closed: false,
                        moves,
                    };
                }
                let c1 = roster.cells[e1][d];
                let k1 = self.cell_cost(e1, d, c1);
                if k1 == 0 {
                    continue;
                }
                let mut others: Vec<usize> = (0..inst.staff.len())
                    .filter(|&e2| {
                        e2 != e1
                            && free[e2][d]
                            && roster.cells[e2][d] != c1
                            && self.cell_cost(e1, d, roster.cells[e2][d]) < k1
                    })
                    .collect();
                others.shuffle(rng);
                for e2 in others {
                    if let Some((g, m)) =
                        self.try_pair(roster, &mut budgets, &mut scratch, free, (e1, e2), d, span)
                    {
                        gain += g;
                        moves.push(m);
                        improved = true;
                        break;
                    }
                }
            }
            if !improved {
                return Pass {
                    gain,
                    closed: true,
                    moves,
                };
            }
        }
    }

    /// The shortest window around day `d` (at most `span` days either side, all free for
    /// both) whose swap between `e1` and `e2` lowers the cost and keeps both rows within
    /// the rules: made, and its gain returned.
    #[allow(clippy::too_many_arguments)]
    fn try_pair(
        &self,
        roster: &mut Roster,
        budgets: &mut [Usage],
        scratch: &mut [i32],
        free: &[Vec<bool>],
        (e1, e2): (usize, usize),
        d: usize,
        span: usize,
    ) -> Option<(u64, Move)> {
        let h = self.inst.horizon;
        let both_free = |x: usize| free[e1][x] && free[e2][x];
        let mut lo = d;
        while lo > 0 && d - (lo - 1) <= span && both_free(lo - 1) {
            lo -= 1;
        }
        let mut hi = d;
        while hi + 1 < h && hi + 1 - d <= span && both_free(hi + 1) {
            hi += 1;
        }
        // prefix[i]: cost change of swapping days lo..lo+i.
        let mut prefix = Vec::with_capacity(hi - lo + 2);
        prefix.push(0i64);
        for x in lo..=hi {
            prefix.push(prefix[prefix.len() - 1] + self.day_change(roster, (e1, e2), x));
        }
        for len in 1..=hi - lo + 1 {
            let first = lo.max((d + 1).saturating_sub(len));
            let last = d.min(hi + 1 - len);
            for a in first..=last {
                let b = a + len - 1;
                let change = prefix[b + 1 - lo] - prefix[a - lo];
                if change < 0 && self.swap_if_valid(roster, budgets, scratch, (e1, e2), a, b) {
                    let m = Move {
                        pair: (e1, e2),
                        first: a,
                        last: b,
                    };
                    return Some(((-change) as u64, m));
                }
            }
        }
        None
    }

    /// What swapping day `x` of the two employees changes in their request cost.
    fn day_change(&self, roster: &Roster, (e1, e2): (usize, usize), x: usize) -> i64 {
        let (c1, c2) = (roster.cells[e1][x], roster.cells[e2][x]);
        if c1 == c2 {
            return 0;
        }
        self.cell_cost(e1, x, c2) + self.cell_cost(e2, x, c1)
            - self.cell_cost(e1, x, c1)
            - self.cell_cost(e2, x, c2)
    }

    /// Makes again, on `roster`, each of `moves` that still lowers the cost and keeps
    /// every rule there (a pass ran on an older copy; other lanes may have changed rows
    /// since, which would void a move or make it worse, but never the others). Returns
    /// the cost removed.
    pub(super) fn replay(&self, roster: &mut Roster, moves: &[Move]) -> u64 {
        let mut budgets: Vec<Usage> = roster.cells.iter().map(|r| usage(self.inst, r)).collect();
        let mut scratch = vec![0i32; self.inst.shifts.len()];
        let mut gain = 0u64;
        for m in moves {
            let change: i64 = (m.first..=m.last)
                .map(|x| self.day_change(roster, m.pair, x))
                .sum();
            if change < 0
                && self.swap_if_valid(roster, &mut budgets, &mut scratch, m.pair, m.first, m.last)
            {
                gain += (-change) as u64;
            }
        }
        gain
    }

    /// Swaps days a..=b of `e1` and `e2` when both rows stay within every hard rule;
    /// otherwise leaves the roster as it was.
    fn swap_if_valid(
        &self,
        roster: &mut Roster,
        budgets: &mut [Usage],
        per_type_change: &mut [i32],
        (e1, e2): (usize, usize),
        a: usize,
        b: usize,
    ) -> bool {
        let inst = self.inst;
        let (st1, st2) = (&inst.staff[e1], &inst.staff[e2]);
        // Budgets from the totals: what e1 gains, e2 loses.
        let mut minutes = 0i64;
        let mut ok = true;
        for x in a..=b {
            let (c1, c2) = (roster.cells[e1][x], roster.cells[e2][x]);
            if let Some(s) = c1 {
                per_type_change[s] -= 1;
                minutes -= i64::from(inst.shifts[s].minutes);
                ok &= !self.day_off[e2][x];
            }
            if let Some(s) = c2 {
                per_type_change[s] += 1;
                minutes += i64::from(inst.shifts[s].minutes);
                ok &= !self.day_off[e1][x];
            }
        }
        for x in a..=b {
            for s in [roster.cells[e1][x], roster.cells[e2][x]]
                .into_iter()
                .flatten()
            {
                let k = i64::from(per_type_change[s]);
                ok &= i64::from(budgets[e1].per_type[s]) + k <= i64::from(st1.max_shifts[s]);
                ok &= i64::from(budgets[e2].per_type[s]) - k <= i64::from(st2.max_shifts[s]);
                per_type_change[s] = 0;
            }
        }
        let m1 = i64::from(budgets[e1].minutes) + minutes;
        let m2 = i64::from(budgets[e2].minutes) - minutes;
        ok &= (i64::from(st1.min_minutes)..=i64::from(st1.max_minutes)).contains(&m1);
        ok &= (i64::from(st2.min_minutes)..=i64::from(st2.max_minutes)).contains(&m2);
        if !ok
            || !self.weekends_kept(roster, budgets, e1, e2, a, b)
            || !self.weekends_kept(roster, budgets, e2, e1, a, b)
        {
            return false;
        }
        swap_days(roster, e1, e2, a, b);
        let ok = self.runs_valid(&roster.cells[e1], e1, a, b)
            && self.runs_valid(&roster.cells[e2], e2, a, b);
        if !ok {
            swap_days(roster, e1, e2, a, b);
            return false;
        }
        budgets[e1] = usage(inst, &roster.cells[e1]);
        budgets[e2] = usage(inst, &roster.cells[e2]);
        debug_assert_eq!(
            super::check::employee_hard(inst, e1, &roster.cells[e1]).total()
                + super::check::employee_hard(inst, e2, &roster.cells[e2]).total(),
            0,
            "a swap broke a rule"
        );
        true
    }

    /// Whether `e`'s row keeps its weekend budget once days a..=b come from `other`'s
    /// row: only the weeks the window touches are recounted.
    fn weekends_kept(
        &self,
        roster: &Roster,
        budgets: &[Usage],
        e: usize,
        other: usize,
        a: usize,
        b: usize,
    ) -> bool {
        let (row, incoming) = (&roster.cells[e], &roster.cells[other]);
        let h = row.len();
        let mut count = i64::from(budgets[e].weekends);
        for k in a / 7..=b / 7 {
            let after = [7 * k + 5, 7 * k + 6].iter().any(|&d| {
                d < h
                    && if (a..=b).contains(&d) {
                        incoming[d].is_some()
                    } else {
                        row[d].is_some()
                    }
            });
            count += i64::from(after) - i64::from(weekend_worked(row, k));
        }
        count <= i64::from(self.inst.staff[e].max_weekends)
    }

    /// Successions across and inside days a..=b, and every run of work or rest that
    /// meets them (the runs further out did not change), by the rules of
    /// [`super::check::employee_hard`].
    fn runs_valid(&self, row: &[Option<usize>], e: usize, a: usize, b: usize) -> bool {
        let inst = self.inst;
        let h = row.len();
        let st = &inst.staff[e];
        for x in a.saturating_sub(1)..(b + 1).min(h - 1) {
            if let (Some(s), Some(t)) = (row[x], row[x + 1]) {
                if inst.shifts[s].forbidden_next.contains(&t) {
                    return false;
                }
            }
        }
        // The same run walk as the checker's, kept apart on purpose: the checker stays
        // independent of the search, and the tests hold this one to it.
        let works = |x: usize| row[x].is_some();
        let mut start = a.saturating_sub(1);
        while start > 0 && works(start - 1) == works(start) {
            start -= 1;
        }
        let far = (b + 1).min(h - 1);
        while start <= far {
            let kind = works(start);
            let mut end = start;
            while end + 1 < h && works(end + 1) == kind {
                end += 1;
            }
            let len = (end - start + 1) as u32;
            let interior = start > 0 && end < h - 1;
            let ok = if kind {
                len <= st.max_consecutive && !(interior && len < st.min_consecutive)
            } else {
                !(interior && len < st.min_days_off)
            };
            if !ok {
                return false;
            }
            start = end + 1;
        }
        true
    }
}

/// Exchanges days a..=b of two rows.
fn swap_days(roster: &mut Roster, e1: usize, e2: usize, a: usize, b: usize) {
    let (lo, hi) = (e1.min(e2), e1.max(e2));
    let (left, right) = roster.cells.split_at_mut(hi);
    left[lo][a..=b].swap_with_slice(&mut right[0][a..=b]);
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::benchmarks::nrp::generate::{generate_with_witness, GenParams};
    use crate::benchmarks::nrp::{check, construct};

    fn instance(nurses: usize, days: usize, shifts: usize) -> (Instance, Roster) {
        generate_with_witness(&GenParams {
            nurses,
            days,
            shifts,
            seed: 5,
        })
    }

    /// Heads on each (day, shift).
    fn cover(inst: &Instance, r: &Roster) -> Vec<u32> {
        let ns = inst.shifts.len();
        let mut n = vec![0; inst.horizon * ns];
        for row in &r.cells {
            for (d, c) in row.iter().enumerate() {
                if let Some(s) = c {
                    n[d * ns + s] += 1;
                }
            }
        }
        n
    }

    /// The local check (budgets from running totals, runs near the window) says yes
    /// exactly when the full checker passes both swapped rows, over thousands of random
    /// swaps on a roster that walks through the ones it accepts.
    #[test]
    fn a_swap_is_accepted_exactly_when_both_rows_keep_every_rule() {
        let (inst, mut roster) = instance(14, 28, 4);
        assert_eq!(check::check(&inst, &roster).hard_total(), 0);
        let swaps = Swaps::new(&inst);
        let mut budgets: Vec<Usage> = roster.cells.iter().map(|r| usage(&inst, r)).collect();
        let mut scratch = vec![0i32; inst.shifts.len()];
        let mut rng = StdRng::seed_from_u64(11);
        let (mut yes, mut no) = (0, 0);
        for _ in 0..20_000 {
            let e1 = rng.random_range(0..inst.staff.len());
            let e2 = (e1 + rng.random_range(1..inst.staff.len())) % inst.staff.len();
            let a = rng.random_range(0..inst.horizon);
            let b = (a + rng.random_range(0..10)).min(inst.horizon - 1);
            let mut expected = roster.clone();
            swap_days(&mut expected, e1, e2, a, b);
            let valid = check::employee_hard(&inst, e1, &expected.cells[e1]).total() == 0
                && check::employee_hard(&inst, e2, &expected.cells[e2]).total() == 0;
            let before = roster.clone();
            let taken =
                swaps.swap_if_valid(&mut roster, &mut budgets, &mut scratch, (e1, e2), a, b);
            assert_eq!(taken, valid, "swap of {e1} and {e2} on days {a}..={b}");
            assert_eq!(roster, if taken { expected } else { before });
            assert!(scratch.iter().all(|&k| k == 0), "scratch left dirty");
            if taken {
                yes += 1;
            } else {
                no += 1;
            }
        }
        // Both answers occur often enough for the comparison to mean something.
        assert!(yes > 500 && no > 500, "{yes} accepted, {no} refused");
        for (e, row) in roster.cells.iter().enumerate() {
            let b = usage(&inst, row);
            assert_eq!(
                (b.minutes, &b.per_type, b.weekends),
                (
                    budgets[e].minutes,
                    &budgets[e].per_type,
                    budgets[e].weekends
                ),
                "running totals of employee {e}"
            );
        }
    }

    /// A pass from a constructed roster lowers the cost by exactly what it reports, keeps
    /// every rule and every day's cover, changes only free cells, and ends at a roster
    /// that a second pass cannot improve.
    #[test]
    fn a_pass_serves_requests_without_touching_the_cover() {
        let (inst, _) = instance(20, 28, 4);
        let mut rng = StdRng::seed_from_u64(2);
        let mut roster = construct::Constructor::new(&inst)
            .construct(&mut rng)
            .roster;
        let start = check::check(&inst, &roster);
        assert_eq!(start.hard_total(), 0);
        let swaps = Swaps::new(&inst);
        // Two employees are held by someone else: their rows must not change.
        let mut free = vec![vec![true; inst.horizon]; inst.staff.len()];
        free[3] = vec![false; inst.horizon];
        free[7] = vec![false; inst.horizon];
        let before = roster.clone();
        let far = Instant::now() + std::time::Duration::from_secs(60);
        let pass = swaps.improve(&mut roster, &free, 7, far, &mut rng);
        let end = check::check(&inst, &roster);
        assert!(pass.closed);
        assert!(pass.gain > 0, "no swap found on a constructed roster");
        assert_eq!(end.hard_total(), 0);
        assert_eq!(start.cost() - end.cost(), pass.gain);
        assert_eq!(cover(&inst, &roster), cover(&inst, &before));
        assert_eq!(roster.cells[3], before.cells[3]);
        assert_eq!(roster.cells[7], before.cells[7]);
        let again = swaps.improve(&mut roster, &free, 7, far, &mut rng);
        assert_eq!((again.gain, again.closed), (0, true));
        // Replayed on the roster the pass started from, its moves give the same roster.
        let mut replayed = before.clone();
        assert_eq!(swaps.replay(&mut replayed, &pass.moves), pass.gain);
        assert_eq!(replayed, roster);
        // On a roster where one employee's row has changed since, the moves that involve
        // them are checked again: whatever is kept still meets every rule, and the gain
        // reported is the cost removed.
        let mut changed = before.clone();
        let e = pass.moves[0].pair.0;
        changed.cells[e] = vec![None; inst.horizon];
        let cost = check::check(&inst, &changed).cost();
        let gain = swaps.replay(&mut changed, &pass.moves);
        assert_eq!(check::check(&inst, &changed).cost() + gain, cost);
        for (x, row) in changed.cells.iter().enumerate() {
            if x != e {
                assert_eq!(check::employee_hard(&inst, x, row).total(), 0, "row {x}");
            }
        }
    }
}
