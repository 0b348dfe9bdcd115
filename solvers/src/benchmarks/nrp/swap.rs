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
//! Where no swap between two employees serves a request, three rotate a window (the one
//! who asked takes the second's days, the second the third's, the third the first's):
//! the cover stays as it is all the same. A third row gets around the run rules that
//! refuse most swaps: the days the requester gives up go to someone whose row fits them.
//! On the final roster of a 300 s search on the year of 150 nurses, where no swap was
//! left, rotations and the swaps they opened removed 136 of cost in about 2 s; with them
//! the search ends 1.040-1.056 above the optimum there instead of 1.059-1.073 (solvers
//! README, "Rotations").
//!
//! Strict descent: a swap or rotation is kept only when it lowers the cost, so a pass
//! ends at a local optimum (`closed`) or at its deadline.

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
    /// The pass reached a roster no swap or rotation within its reach improves (else: its
    /// deadline).
    pub closed: bool,
    /// The swaps and rotations made, in order, for [`Swaps::replay`] on a roster that has
    /// changed elsewhere meanwhile.
    pub moves: Vec<Move>,
}

/// One exchange of days `first..=last`: each of `rows` takes the next one's days there,
/// the last takes the first's (two employees swap, three rotate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Move {
    pub rows: Vec<usize>,
    pub first: usize,
    pub last: usize,
}

/// Days either side of a request a rotation of three reaches at most: each one tries
/// every third employee, so its windows stay short (a swap's reach adapts and grows far
/// beyond this on a year).
const ROTATION_REACH: usize = 7;

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

    /// Swaps that lower the cost, and rotations of three where no swap serves a cell,
    /// until none is left or `deadline`. Only cells marked in `free` change; a swap covers
    /// at most `span` days either side of the request it serves, a rotation at most
    /// [`ROTATION_REACH`]. `roster` must meet every hard rule, and still does after.
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
                let mut found = None;
                for &e2 in &others {
                    found =
                        self.try_rows(roster, &mut budgets, &mut scratch, free, &[e1, e2], d, span);
                    if found.is_some() {
                        break;
                    }
                }
                if found.is_none() {
                    found = self.try_rotations(
                        roster,
                        &mut budgets,
                        &mut scratch,
                        free,
                        (e1, &others),
                        d,
                        span.min(ROTATION_REACH),
                        rng,
                    );
                }
                if let Some((g, m)) = found {
                    gain += g;
                    moves.push(m);
                    improved = true;
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

    /// A rotation of `e1`, one of `others` (whose cell on day `d` would cost `e1` less)
    /// and any third employee, over a window around `d` (at most `span` days either side):
    /// made, and its gain returned, when one lowers the cost and keeps every rule.
    #[allow(clippy::too_many_arguments)]
    fn try_rotations(
        &self,
        roster: &mut Roster,
        budgets: &mut [Usage],
        scratch: &mut [i32],
        free: &[Vec<bool>],
        (e1, others): (usize, &[usize]),
        d: usize,
        span: usize,
        rng: &mut StdRng,
    ) -> Option<(u64, Move)> {
        if others.is_empty() {
            return None;
        }
        let mut thirds: Vec<usize> = (0..self.inst.staff.len())
            .filter(|&e| e != e1 && free[e][d])
            .collect();
        thirds.shuffle(rng);
        for &e2 in others {
            for &e3 in &thirds {
                if e3 == e2 {
                    continue;
                }
                let found = self.try_rows(roster, budgets, scratch, free, &[e1, e2, e3], d, span);
                if found.is_some() {
                    return found;
                }
            }
        }
        None
    }

    /// The shortest window around day `d` (at most `span` days either side, all free for
    /// every one of `rows`) whose exchange ([`Move`]) lowers the cost and keeps every row
    /// within the rules: made, and its gain returned.
    #[allow(clippy::too_many_arguments)]
    fn try_rows(
        &self,
        roster: &mut Roster,
        budgets: &mut [Usage],
        scratch: &mut [i32],
        free: &[Vec<bool>],
        rows: &[usize],
        d: usize,
        span: usize,
    ) -> Option<(u64, Move)> {
        let h = self.inst.horizon;
        let all_free = |x: usize| rows.iter().all(|&e| free[e][x]);
        let mut lo = d;
        while lo > 0 && d - (lo - 1) <= span && all_free(lo - 1) {
            lo -= 1;
        }
        let mut hi = d;
        while hi + 1 < h && hi + 1 - d <= span && all_free(hi + 1) {
            hi += 1;
        }
        // prefix[i]: cost change of exchanging days lo..lo+i.
        let mut prefix = Vec::with_capacity(hi - lo + 2);
        prefix.push(0i64);
        for x in lo..=hi {
            prefix.push(prefix[prefix.len() - 1] + self.day_change(roster, rows, x));
        }
        for len in 1..=hi - lo + 1 {
            let first = lo.max((d + 1).saturating_sub(len));
            let last = d.min(hi + 1 - len);
            for a in first..=last {
                let b = a + len - 1;
                let change = prefix[b + 1 - lo] - prefix[a - lo];
                if change < 0 && self.exchange_if_valid(roster, budgets, scratch, rows, a, b) {
                    let m = Move {
                        rows: rows.to_vec(),
                        first: a,
                        last: b,
                    };
                    return Some(((-change) as u64, m));
                }
            }
        }
        None
    }

    /// What exchanging day `x` of `rows` ([`Move`]) changes in their request cost.
    fn day_change(&self, roster: &Roster, rows: &[usize], x: usize) -> i64 {
        let k = rows.len();
        (0..k)
            .map(|i| {
                let (e, donor) = (rows[i], rows[(i + 1) % k]);
                let (own, incoming) = (roster.cells[e][x], roster.cells[donor][x]);
                if own == incoming {
                    0
                } else {
                    self.cell_cost(e, x, incoming) - self.cell_cost(e, x, own)
                }
            })
            .sum()
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
                .map(|x| self.day_change(roster, &m.rows, x))
                .sum();
            if change < 0
                && self.exchange_if_valid(
                    roster,
                    &mut budgets,
                    &mut scratch,
                    &m.rows,
                    m.first,
                    m.last,
                )
            {
                gain += (-change) as u64;
            }
        }
        gain
    }

    /// Exchanges days a..=b of `rows` ([`Move`]) when every row stays within every hard
    /// rule; otherwise leaves the roster as it was.
    fn exchange_if_valid(
        &self,
        roster: &mut Roster,
        budgets: &mut [Usage],
        per_type_change: &mut [i32],
        rows: &[usize],
        a: usize,
        b: usize,
    ) -> bool {
        let inst = self.inst;
        let k = rows.len();
        // Budgets from the running totals: what each row gives up and takes in.
        for i in 0..k {
            let (e, donor) = (rows[i], rows[(i + 1) % k]);
            let st = &inst.staff[e];
            let mut minutes = i64::from(budgets[e].minutes);
            let mut ok = true;
            for x in a..=b {
                if let Some(s) = roster.cells[e][x] {
                    per_type_change[s] -= 1;
                    minutes -= i64::from(inst.shifts[s].minutes);
                }
                if let Some(s) = roster.cells[donor][x] {
                    per_type_change[s] += 1;
                    minutes += i64::from(inst.shifts[s].minutes);
                    ok &= !self.day_off[e][x];
                }
            }
            for x in a..=b {
                for s in [roster.cells[e][x], roster.cells[donor][x]]
                    .into_iter()
                    .flatten()
                {
                    let change = i64::from(per_type_change[s]);
                    ok &= i64::from(budgets[e].per_type[s]) + change <= i64::from(st.max_shifts[s]);
                    per_type_change[s] = 0;
                }
            }
            ok &= (i64::from(st.min_minutes)..=i64::from(st.max_minutes)).contains(&minutes);
            if !ok || !self.weekends_kept(roster, budgets, e, donor, a, b) {
                return false;
            }
        }
        exchange_days(roster, rows, a, b);
        if !rows
            .iter()
            .all(|&e| self.runs_valid(&roster.cells[e], e, a, b))
        {
            undo_exchange(roster, rows, a, b);
            return false;
        }
        for &e in rows {
            budgets[e] = usage(inst, &roster.cells[e]);
            debug_assert_eq!(
                super::check::employee_hard(inst, e, &roster.cells[e]).total(),
                0,
                "an exchange broke a rule"
            );
        }
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

/// Days a..=b of each of `rows` become the next row's, the last row's the first's.
fn exchange_days(roster: &mut Roster, rows: &[usize], a: usize, b: usize) {
    // Each step swaps the first row's window with another's, from the last row back:
    // the last row takes the first's days, each row before it the days the first row
    // took from the one after, and the first row ends with the second's.
    for &e in rows[1..].iter().rev() {
        swap_windows(roster, rows[0], e, a, b);
    }
}

/// Undoes [`exchange_days`]: the same swaps in the other order.
fn undo_exchange(roster: &mut Roster, rows: &[usize], a: usize, b: usize) {
    for &e in &rows[1..] {
        swap_windows(roster, rows[0], e, a, b);
    }
}

/// Exchanges days a..=b of two rows.
fn swap_windows(roster: &mut Roster, e1: usize, e2: usize, a: usize, b: usize) {
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
    /// exactly when the full checker passes every exchanged row, over thousands of random
    /// swaps of two rows and rotations of three on a roster that walks through the ones
    /// it accepts; an accepted one leaves each row with the next one's days.
    #[test]
    fn an_exchange_is_accepted_exactly_when_every_row_keeps_every_rule() {
        let (inst, mut roster) = instance(14, 28, 4);
        assert_eq!(check::check(&inst, &roster).hard_total(), 0);
        let swaps = Swaps::new(&inst);
        let mut budgets: Vec<Usage> = roster.cells.iter().map(|r| usage(&inst, r)).collect();
        let mut scratch = vec![0i32; inst.shifts.len()];
        let mut rng = StdRng::seed_from_u64(11);
        let (mut yes, mut no) = ([0; 4], [0; 4]);
        for _ in 0..40_000 {
            let k = rng.random_range(2..=3);
            let mut rows: Vec<usize> = (0..inst.staff.len()).collect();
            rows.shuffle(&mut rng);
            rows.truncate(k);
            let a = rng.random_range(0..inst.horizon);
            let b = (a + rng.random_range(0..10)).min(inst.horizon - 1);
            let mut expected = roster.clone();
            for i in 0..k {
                expected.cells[rows[i]][a..=b]
                    .copy_from_slice(&roster.cells[rows[(i + 1) % k]][a..=b]);
            }
            let valid = rows
                .iter()
                .all(|&e| check::employee_hard(&inst, e, &expected.cells[e]).total() == 0);
            let before = roster.clone();
            let taken =
                swaps.exchange_if_valid(&mut roster, &mut budgets, &mut scratch, &rows, a, b);
            assert_eq!(taken, valid, "exchange of {rows:?} on days {a}..={b}");
            assert_eq!(roster, if taken { expected } else { before });
            assert!(scratch.iter().all(|&k| k == 0), "scratch left dirty");
            if taken {
                yes[k] += 1;
            } else {
                no[k] += 1;
            }
        }
        // Both answers occur often enough, for swaps and rotations alike, for the
        // comparison to mean something.
        for k in 2..=3 {
            assert!(
                yes[k] > 300 && no[k] > 300,
                "{k} rows: {} accepted, {} refused",
                yes[k],
                no[k]
            );
        }
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

    /// A pass from a constructed roster (swaps and rotations both made) lowers the cost by
    /// exactly what it reports, keeps every rule and every day's cover, changes only free
    /// cells, and ends at a roster that a second pass cannot improve.
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
        // Both moves occur: swaps, and rotations where no swap served a request.
        let rotations = pass.moves.iter().filter(|m| m.rows.len() == 3).count();
        assert!(
            rotations > 0 && rotations < pass.moves.len(),
            "{rotations} rotations in {} moves",
            pass.moves.len()
        );
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
        let e = pass.moves[0].rows[0];
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
