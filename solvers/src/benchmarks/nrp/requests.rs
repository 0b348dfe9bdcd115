//! Requests indexed by cell (employee, day), with the least request cost each cell pays
//! whatever it holds (its floor: above 0 only where requests conflict). The swap pass
//! prices swaps by it; the search draws its subproblems by the cost above the floors (the
//! part a subproblem can remove); `planted::lower_bound` sums the floors.

use super::{Instance, Roster};

/// The requests by cell (employee, day), with what each cell pays at least.
pub(super) struct CellRequests {
    /// `requests[e][d]`: (shift, weight, is an on-request) of every request on (e, d).
    requests: Vec<Vec<Vec<(usize, u32, bool)>>>,
    /// `floor[e][d]`: the least request cost of (e, d) over every choice it could take
    /// (off, or a shift e may work when d is not a fixed day off). Above 0 only where the
    /// requests conflict: an on-request on a fixed day off, or an on- and an off-request
    /// for the same shift; every roster pays it.
    floor: Vec<Vec<u64>>,
}

impl CellRequests {
    pub(super) fn new(inst: &Instance) -> Self {
        let (n, h) = (inst.staff.len(), inst.horizon);
        let mut requests = vec![vec![Vec::new(); h]; n];
        for q in &inst.on_requests {
            requests[q.employee][q.day].push((q.shift, q.weight, true));
        }
        for q in &inst.off_requests {
            requests[q.employee][q.day].push((q.shift, q.weight, false));
        }
        let mut cells = Self {
            requests,
            floor: vec![vec![0; h]; n],
        };
        for (e, st) in inst.staff.iter().enumerate() {
            for d in 0..h {
                if cells.requests[e][d].is_empty() {
                    continue;
                }
                let off_only = inst.days_off[e].contains(&d);
                let worked = (0..inst.shifts.len())
                    .filter(|&s| !off_only && st.max_shifts[s] > 0)
                    .map(|s| cells.cost(e, d, Some(s)));
                cells.floor[e][d] = worked.fold(cells.cost(e, d, None), u64::min);
            }
        }
        cells
    }

    /// Whether any request sits on (e, d).
    pub(super) fn any(&self, e: usize, d: usize) -> bool {
        !self.requests[e][d].is_empty()
    }

    /// Request cost of employee `e` working `c` on day `d`.
    pub(super) fn cost(&self, e: usize, d: usize, c: Option<usize>) -> u64 {
        self.requests[e][d]
            .iter()
            .map(|&(s, w, on)| {
                if (c == Some(s)) != on {
                    u64::from(w)
                } else {
                    0
                }
            })
            .sum()
    }

    /// What every roster pays for its requests at least: the floors of all cells.
    pub(super) fn floor_total(&self) -> u64 {
        self.floor.iter().flatten().sum()
    }

    /// What the requests of (e, d) cost in `r` beyond the cell's floor.
    fn above_floor(&self, r: &Roster, e: usize, d: usize) -> u64 {
        if self.any(e, d) {
            self.cost(e, d, r.cells[e][d]) - self.floor[e][d]
        } else {
            0
        }
    }

    /// What each employee's requests on days `lo..hi` cost in `r` beyond their floors:
    /// the part of their cost a subproblem over those days could remove.
    pub(super) fn avoidable_in(&self, r: &Roster, lo: usize, hi: usize) -> Vec<u64> {
        (0..self.requests.len())
            .map(|e| (lo..hi).map(|d| self.above_floor(r, e, d)).sum())
            .collect()
    }

    /// What the requests of each day cost in `r` beyond their floors.
    pub(super) fn avoidable_by_day(&self, r: &Roster) -> Vec<u64> {
        let h = r.cells.first().map_or(0, Vec::len);
        (0..h)
            .map(|d| {
                (0..self.requests.len())
                    .map(|e| self.above_floor(r, e, d))
                    .sum()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::benchmarks::nrp::generate::GenParams;
    use crate::benchmarks::nrp::{check, construct};

    /// The floors are what every roster pays: the planted roster, which pays only its
    /// request conflicts, has no avoidable request cost on any day or employee; on any
    /// roster the floors plus the avoidable cost are the checker's request cost, by
    /// employee and by day alike.
    #[test]
    fn avoidable_request_cost_is_what_lies_above_the_conflicts() {
        use crate::benchmarks::nrp::planted::generate_planted;
        let p = generate_planted(&GenParams {
            nurses: 12,
            days: 28,
            shifts: 3,
            seed: 4,
        });
        let (inst, h) = (&p.instance, p.instance.horizon);
        let cells = CellRequests::new(inst);
        let floors = cells.floor_total();
        assert!(floors > 0, "the planted instance has request conflicts");
        assert!(cells.avoidable_in(&p.roster, 0, h).iter().all(|&c| c == 0));
        assert!(cells.avoidable_by_day(&p.roster).iter().all(|&c| c == 0));
        let mut rng = StdRng::seed_from_u64(3);
        let built = construct::Constructor::new(inst).construct(&mut rng).roster;
        let r = check::check(inst, &built);
        let requests = r.shift_on_requests + r.shift_off_requests;
        let by_employee: u64 = cells.avoidable_in(&built, 0, h).iter().sum();
        let by_day: u64 = cells.avoidable_by_day(&built).iter().sum();
        assert!(
            by_employee > 0,
            "a constructed roster left no request unmet"
        );
        assert_eq!(by_employee + floors, requests);
        assert_eq!(by_day, by_employee);
        // A window counts only its own days.
        let halves: u64 = [(0, 10), (10, h)]
            .iter()
            .map(|&(lo, hi)| cells.avoidable_in(&built, lo, hi).iter().sum::<u64>())
            .sum();
        assert_eq!(halves, by_employee);
    }
}
