//! The scanner-booking MILP, the exact expected overtime of a list under independent
//! no-shows, and the slot layout of a solution.

use std::collections::HashMap;

use good_lp::{Expression, Variable};

use super::{ScanBooking, ScanRequest, ScannerCost, ScannerDay, ScannerInput, Urgency};
use crate::highs::Milp;

/// Slots of scanner `k` open on day `d` (not in maintenance).
pub(super) fn open_slots(input: &ScannerInput, k: usize, d: u32) -> u32 {
    let closed: u32 = input.scanners[k]
        .maintenance
        .iter()
        .filter(|m| m.day == d)
        .map(|m| {
            m.to_slot
                .min(input.slots_per_day)
                .saturating_sub(m.from_slot)
        })
        .sum();
    input.slots_per_day.saturating_sub(closed)
}

/// Whether request `r` may be scanned on scanner `k` on day `d`.
pub(super) fn allowed(input: &ScannerInput, r: &ScanRequest, k: usize, d: u32) -> bool {
    let s = &input.scanners[k];
    let hard_deadline = r.urgency != Urgency::Routine;
    s.modality == r.modality
        && (!r.contrast || s.contrast)
        && (!r.anaesthesia || s.anaesthesia_days.contains(&d))
        && d >= r.release_day
        && (!hard_deadline || d <= r.deadline_day)
}

pub(super) struct Built {
    pub(super) milp: Milp,
    /// (scanner, day, x[r,k,d]) per request, allowed scanner-days only.
    pub(super) x: Vec<Vec<(usize, u32, Variable)>>,
    pub(super) urgent_slack: Vec<(usize, Variable)>,
    pub(super) cap_slack: Vec<(usize, u32, Variable)>,
    pub(super) mean_slack: Vec<(usize, u32, Variable)>,
    pub(super) hint: Vec<(Variable, f64)>,
}

// Elastic prices: a missing urgent scan is the last resort; a slot over the limit names
// the full scanner-day first.
const ELASTIC_REQUEST: f64 = 1e5;
const ELASTIC_SLOT: f64 = 1e3;

pub(super) fn build(
    input: &ScannerInput,
    caps: &HashMap<(usize, u32), u32>,
    previous: &[Option<(usize, u32)>],
    elastic: bool,
) -> Built {
    let p = &input.policy;
    let mut m = Milp::new();
    let mut x = Vec::new();
    let mut hint = Vec::new();
    let mut urgent_slack = Vec::new();
    let mut cap_slack = Vec::new();
    let mut mean_slack = Vec::new();
    let nk = input.scanners.len();
    let mut booked: HashMap<(usize, u32), Expression> = HashMap::new();
    let mut expected: HashMap<(usize, u32), Expression> = HashMap::new();
    let mut anaesthesia: HashMap<(usize, u32), Expression> = HashMap::new();
    for (ri, r) in input.requests.iter().enumerate() {
        let mut row = Vec::new();
        let mut once = Expression::from(0.0);
        for k in 0..nk {
            for d in 0..input.days {
                if !allowed(input, r, k, d) {
                    continue;
                }
                let v = m.binary();
                row.push((k, d, v));
                once += v;
                *booked.entry((k, d)).or_default() += r.slots as f64 * v;
                *expected.entry((k, d)).or_default() +=
                    r.slots as f64 * (1.0 - r.no_show_probability) * v;
                if r.anaesthesia {
                    *anaesthesia.entry((k, d)).or_default() += v;
                }
                if d > r.deadline_day {
                    m.minimise(p.late_day * (d - r.deadline_day) as f64 * v);
                }
                if previous[ri].is_some_and(|q| q != (k, d)) {
                    m.minimise(p.change * v);
                }
                hint.push((v, f64::from(u8::from(previous[ri] == Some((k, d))))));
            }
        }
        if r.urgency == Urgency::Routine {
            m.minimise(p.unbooked_routine - p.unbooked_routine * once.clone());
            m.constrain(once.leq(1.0));
        } else {
            if elastic {
                let u = m.continuous(0.0, 1.0);
                m.minimise(ELASTIC_REQUEST * u);
                urgent_slack.push((ri, u));
                once += u;
            }
            m.constrain(once.eq(1.0));
        }
        x.push(row);
    }
    let mut keys: Vec<(usize, u32)> = booked.keys().copied().collect();
    keys.sort();
    for key in keys {
        let open = open_slots(input, key.0, key.1) as f64;
        let over = m.continuous(0.0, f64::INFINITY);
        let b = booked[&key].clone();
        // over >= booked - open: the overbooked slots, priced.
        m.constrain((Expression::from(over) - b.clone()).geq(-open));
        m.minimise(p.overbooked_slot * over);
        let cap = caps
            .get(&key)
            .map_or(open + p.max_overbooked_slots as f64, |&c| c as f64);
        let mut lhs = b;
        if elastic {
            let s = m.continuous(0.0, f64::INFINITY);
            m.minimise(ELASTIC_SLOT * s);
            cap_slack.push((key.0, key.1, s));
            lhs -= s;
        }
        m.constrain(lhs.leq(cap));
        // The mean load bounds the expected overtime from below; the exact check follows.
        let mut mean = expected[&key].clone();
        if elastic {
            let s = m.continuous(0.0, f64::INFINITY);
            m.minimise(ELASTIC_SLOT * s);
            mean_slack.push((key.0, key.1, s));
            mean -= s;
        }
        m.constrain(mean.leq(open + p.max_expected_overtime_slots));
        if let Some(a) = anaesthesia.get(&key) {
            m.constrain(a.clone().leq(p.max_anaesthesia_cases as f64));
        }
    }
    Built {
        milp: m,
        x,
        urgent_slack,
        cap_slack,
        mean_slack,
        hint,
    }
}

/// E[(S - open)+] where S = sum of slots of the requests that show up, each independently.
pub(super) fn expected_overtime(input: &ScannerInput, list: &[usize], open: u32) -> f64 {
    let total: usize = list.iter().map(|&r| input.requests[r].slots as usize).sum();
    let mut dist = vec![0.0; total + 1];
    dist[0] = 1.0;
    for &r in list {
        let req = &input.requests[r];
        let q = 1.0 - req.no_show_probability;
        let s = req.slots as usize;
        for v in (0..=total).rev() {
            let came = if v >= s { dist[v - s] * q } else { 0.0 };
            dist[v] = dist[v] * (1.0 - q) + came;
        }
    }
    dist.iter()
        .enumerate()
        .map(|(v, pr)| pr * (v as f64 - open as f64).max(0.0))
        .sum()
}

/// Lays each scanner-day's list out on its open slots, most urgent first, and prices it.
pub(super) fn layout(
    input: &ScannerInput,
    lists: &HashMap<(usize, u32), Vec<usize>>,
    previous: &[Option<(usize, u32)>],
) -> (Vec<ScanBooking>, Vec<String>, Vec<ScannerDay>, ScannerCost) {
    let p = &input.policy;
    let mut cost = ScannerCost::default();
    let mut bookings = Vec::new();
    let mut scanner_days = Vec::new();
    let mut booked_ids = vec![false; input.requests.len()];
    let mut keys: Vec<&(usize, u32)> = lists.keys().collect();
    keys.sort();
    for &key in keys {
        let (k, d) = key;
        let mut list = lists[&key].clone();
        // Most urgent first; among equals, the likeliest to come first so that those
        // pushed into shared slots are the likeliest no-shows.
        list.sort_by(|&a, &b| {
            let (ra, rb) = (&input.requests[a], &input.requests[b]);
            ra.urgency
                .cmp(&rb.urgency)
                .then(ra.no_show_probability.total_cmp(&rb.no_show_probability))
        });
        let open: Vec<u32> = (0..input.slots_per_day)
            .filter(|s| {
                !input.scanners[k]
                    .maintenance
                    .iter()
                    .any(|m| m.day == d && (m.from_slot..m.to_slot).contains(s))
            })
            .collect();
        let mut next = 0usize;
        let mut booked_slots = 0;
        for &r in &list {
            let req = &input.requests[r];
            let overbooked = next >= open.len();
            let at = if overbooked {
                // Shares the slot of the request least likely to come.
                (next - open.len()) % open.len().max(1)
            } else {
                next
            };
            bookings.push(ScanBooking {
                request: req.id.clone(),
                scanner: input.scanners[k].id.clone(),
                day: d,
                start_slot: open.get(at).copied().unwrap_or(0),
                overbooked,
            });
            next += req.slots as usize;
            booked_slots += req.slots;
            booked_ids[r] = true;
            if d > req.deadline_day {
                cost.late_days += d - req.deadline_day;
            }
            if previous[r].is_some_and(|q| q != (k, d)) {
                cost.changes += 1;
            }
        }
        let open_n = open.len() as u32;
        cost.overbooked_slots += booked_slots.saturating_sub(open_n);
        scanner_days.push(ScannerDay {
            scanner: input.scanners[k].id.clone(),
            day: d,
            open_slots: open_n,
            booked_slots,
            expected_overtime_slots: expected_overtime(input, &list, open_n),
        });
    }
    let unbooked: Vec<String> = input
        .requests
        .iter()
        .zip(&booked_ids)
        .filter(|(_, b)| !**b)
        .map(|(r, _)| r.id.clone())
        .collect();
    cost.unbooked = unbooked.len() as u32;
    cost.total = p.unbooked_routine * cost.unbooked as f64
        + p.late_day * cost.late_days as f64
        + p.change * cost.changes as f64
        + p.overbooked_slot * cost.overbooked_slots as f64;
    (bookings, unbooked, scanner_days, cost)
}
