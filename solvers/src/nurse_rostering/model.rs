//! A ward stated as a Curtois & Qu NRP instance (the rules and prices mapped as `mod.rs`
//! describes), and the NRP roster read back as rostered shifts with the cost by term.

use std::collections::{HashMap, HashSet};

use super::{RosterCost, RosterInput, RosteredShift, SolveError};
use crate::input::index_by_id;
use crate::nrp::{Cover, Instance, Request, Roster, Shift, Staff};

/// Checked indices of the input and the NRP instance it states.
pub(super) struct Index<'a> {
    pub(super) input: &'a RosterInput,
    pub(super) instance: Instance,
    /// The roster in force as an NRP roster (everyone off where it says nothing).
    pub(super) previous: Roster,
}

impl<'a> Index<'a> {
    pub(super) fn new(input: &'a RosterInput) -> Result<Self, SolveError> {
        let h = input.days as usize;
        if h == 0 || h % 7 != 0 {
            return Err(SolveError::Invalid(format!(
                "{} days: a roster covers whole weeks starting on a Monday",
                input.days
            )));
        }
        let shift_ix = index_by_id(&input.shifts, |s| &s.id);
        let nurse_ix = index_by_id(&input.nurses, |n| &n.id);
        if shift_ix.len() != input.shifts.len() || nurse_ix.len() != input.nurses.len() {
            return Err(SolveError::Invalid("shift or nurse ids repeat".into()));
        }
        let shift_of = |id: &str, what: &str| {
            shift_ix
                .get(id)
                .copied()
                .ok_or_else(|| SolveError::Invalid(format!("{what} names unknown shift {id}")))
        };
        let day_in = |d: u32, what: &str| {
            if d < input.days {
                Ok(d as usize)
            } else {
                Err(SolveError::Invalid(format!(
                    "{what}: day {d} is past the {}-day roster",
                    input.days
                )))
            }
        };
        let mut shifts = Vec::new();
        for s in &input.shifts {
            let forbidden_next = s
                .not_followed_by
                .iter()
                .map(|n| shift_of(n, &format!("shift {}", s.id)))
                .collect::<Result<Vec<_>, _>>()?;
            shifts.push(Shift {
                id: s.id.clone(),
                minutes: s.minutes,
                forbidden_next,
            });
        }
        let w = &input.weights;
        let mut staff = Vec::new();
        let mut days_off = Vec::new();
        let mut off_requests = Vec::new();
        let mut on_requests = Vec::new();
        for (e, n) in input.nurses.iter().enumerate() {
            let what = format!("nurse {}", n.id);
            let mut allowed = vec![false; shifts.len()];
            for s in &n.shifts {
                allowed[shift_of(s, &what)?] = true;
            }
            staff.push(Staff {
                id: n.id.clone(),
                max_shifts: allowed
                    .iter()
                    .map(|&a| if a { h as u32 } else { 0 })
                    .collect(),
                max_minutes: n.max_minutes,
                min_minutes: n.min_minutes.min(n.max_minutes),
                max_consecutive: n.max_consecutive_shifts.max(1),
                min_consecutive: 1,
                min_days_off: 1,
                max_weekends: n.max_weekends,
            });
            let leave: HashSet<usize> = n
                .leave_days
                .iter()
                .map(|&d| day_in(d, &what))
                .collect::<Result<_, _>>()?;
            let mut leave: Vec<usize> = leave.into_iter().collect();
            leave.sort_unstable();
            for &d in &n.day_off_requests {
                let d = day_in(d, &what)?;
                if leave.contains(&d) {
                    continue;
                }
                for (s, _) in allowed.iter().enumerate().filter(|(_, a)| **a) {
                    off_requests.push(Request {
                        employee: e,
                        day: d,
                        shift: s,
                        weight: w.day_off_request,
                    });
                }
            }
            days_off.push(leave);
        }
        let mut previous = Roster {
            cells: vec![vec![None; h]; input.nurses.len()],
        };
        for p in &input.previous {
            let e = *nurse_ix.get(p.nurse.as_str()).ok_or_else(|| {
                SolveError::Invalid(format!(
                    "the roster in force names unknown nurse {}",
                    p.nurse
                ))
            })?;
            let d = day_in(p.day, "the roster in force")?;
            if previous.cells[e][d].is_some() {
                return Err(SolveError::Invalid(format!(
                    "the roster in force gives nurse {} two shifts on day {d}",
                    p.nurse
                )));
            }
            previous.cells[e][d] = Some(shift_of(&p.shift, "the roster in force")?);
        }
        // The change penalty, as requests on the re-rostered days: the shift in force
        // wanted (on), or any shift unwanted where the nurse was off. A changed cell
        // breaks exactly one of them.
        if !input.previous.is_empty() {
            for (e, row) in previous.cells.iter().enumerate() {
                for (d, cell) in row.iter().enumerate() {
                    if !input.replans(d as u32) {
                        if cell.is_some() && days_off[e].contains(&d) {
                            return Err(SolveError::Invalid(format!(
                                "nurse {} is on leave on day {d}, which the re-roster keeps as \
                                 in force with a shift; re-roster that day too",
                                input.nurses[e].id
                            )));
                        }
                        continue;
                    }
                    match cell {
                        Some(s) => on_requests.push(Request {
                            employee: e,
                            day: d,
                            shift: *s,
                            weight: w.change,
                        }),
                        None => {
                            for s in (0..shifts.len()).filter(|&s| staff[e].max_shifts[s] > 0) {
                                off_requests.push(Request {
                                    employee: e,
                                    day: d,
                                    shift: s,
                                    weight: w.change,
                                });
                            }
                        }
                    }
                }
            }
        }
        let mut need: HashMap<(usize, usize), u32> = HashMap::new();
        for c in &input.cover {
            let d = day_in(c.day, "cover")?;
            let s = shift_of(&c.shift, "cover")?;
            *need.entry((d, s)).or_default() += c.nurses;
        }
        let mut cover = Vec::new();
        for d in 0..h {
            for s in 0..shifts.len() {
                cover.push(Cover {
                    day: d,
                    shift: s,
                    requirement: need.get(&(d, s)).copied().unwrap_or(0),
                    under_weight: w.cover_under,
                    over_weight: w.cover_over,
                });
            }
        }
        Ok(Self {
            input,
            instance: Instance {
                name: "ward".into(),
                horizon: h,
                shifts,
                staff,
                days_off,
                on_requests,
                off_requests,
                cover,
            },
            previous,
        })
    }

    /// The requirement of (day, shift).
    pub(super) fn requirement(&self, d: usize, s: usize) -> u32 {
        self.instance.cover[d * self.instance.shifts.len() + s].requirement
    }
}

/// The rostered shifts and the cost by term, recomputed from the roster (the terms add
/// up to the NRP objective: the change penalty and the requests are its requests).
pub(super) fn decode(ix: &Index, roster: &Roster) -> (Vec<RosteredShift>, RosterCost) {
    let input = ix.input;
    let inst = &ix.instance;
    let w = &input.weights;
    let mut shifts = Vec::new();
    let mut cost = RosterCost::default();
    for (e, row) in roster.cells.iter().enumerate() {
        let nurse = &input.nurses[e];
        for (d, cell) in row.iter().enumerate() {
            if let Some(s) = cell {
                shifts.push(RosteredShift {
                    nurse: nurse.id.clone(),
                    day: d as u32,
                    shift: inst.shifts[*s].id.clone(),
                });
                if nurse.day_off_requests.contains(&(d as u32)) && !inst.days_off[e].contains(&d) {
                    cost.unmet_requests += 1;
                }
            }
            if !input.previous.is_empty()
                && input.replans(d as u32)
                && ix.previous.cells[e][d] != *cell
            {
                cost.changes += 1;
            }
        }
    }
    for d in 0..inst.horizon {
        for s in 0..inst.shifts.len() {
            let have = roster.cells.iter().filter(|r| r[d] == Some(s)).count() as u32;
            let req = ix.requirement(d, s);
            cost.short += req.saturating_sub(have);
            cost.over += have.saturating_sub(req);
        }
    }
    cost.total = f64::from(cost.short) * f64::from(w.cover_under)
        + f64::from(cost.over) * f64::from(w.cover_over)
        + f64::from(cost.unmet_requests) * f64::from(w.day_off_request)
        + f64::from(cost.changes) * f64::from(w.change);
    (shifts, cost)
}
