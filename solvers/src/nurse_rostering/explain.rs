//! Why a ward cannot be rostered, in the words of the nurses' contracts. The hard rules
//! never couple nurses (cover is priced, not required), so a ward is impossible exactly
//! when one nurse's own rules are: the contracted minimum cannot be worked on the days
//! leave, the limit on shifts in a row and the weekend limit leave.

use super::model::Index;
use super::{Conflict, ConflictKind, RosterInput, RosterPlan};

/// Conflicts found before any solve: a nurse whose contracted minimum exceeds what the
/// days they can work could hold, even with the longest shift they may work every time.
pub(super) fn contract_conflicts(ix: &Index) -> Vec<Conflict> {
    let inst = &ix.instance;
    let h = inst.horizon;
    let mut out = Vec::new();
    for (e, st) in inst.staff.iter().enumerate() {
        let longest = inst
            .shifts
            .iter()
            .enumerate()
            .filter(|(s, _)| st.max_shifts[*s] > 0)
            .map(|(_, sh)| sh.minutes)
            .max()
            .unwrap_or(0);
        let workable = most_working_days(ix, e);
        let most = workable as u64 * u64::from(longest);
        if most < u64::from(st.min_minutes) {
            out.push(Conflict::new(
                ConflictKind::NurseRules,
                format!(
                    "nurse {}: the contracted minimum of {} h cannot be worked: {} of {h} days \
                     are leave, at most {} shifts in a row and {} weekends leave {workable} \
                     working days, at most {} h",
                    st.id,
                    f64::from(st.min_minutes) / 60.0,
                    inst.days_off[e].len(),
                    st.max_consecutive,
                    st.max_weekends,
                    most as f64 / 60.0
                ),
            ));
        }
    }
    out
}

/// An upper bound on the days nurse `e` can work, so that a conflict is named only when
/// proven: the most days leave and the limit on shifts in a row allow (greedy from day
/// 0, exact for that rule as runs have no minimum length), and at most the weekdays not
/// on leave plus two days of each weekend the limit allows.
fn most_working_days(ix: &Index, e: usize) -> u32 {
    let inst = &ix.instance;
    let st = &inst.staff[e];
    if st.max_shifts.iter().all(|&m| m == 0) {
        return 0;
    }
    let (mut run, mut in_a_row) = (0u32, 0u32);
    let mut weekdays = 0u32;
    for d in 0..inst.horizon {
        let leave = inst.days_off[e].contains(&d);
        if !leave && d % 7 < 5 {
            weekdays += 1;
        }
        if leave || run >= st.max_consecutive {
            run = 0;
            continue;
        }
        run += 1;
        in_a_row += 1;
    }
    in_a_row.min(weekdays + 2 * st.max_weekends)
}

/// The conflicts behind an infeasibility the NRP search proved (`reason` says how): the
/// contract conflicts if any name it, else the proof as HiGHS gave it.
pub(super) fn explain(ix: &Index, reason: &str) -> Vec<Conflict> {
    let named = contract_conflicts(ix);
    if !named.is_empty() {
        return named;
    }
    vec![Conflict::new(
        ConflictKind::NurseRules,
        format!("no roster meets every nurse's rules: {reason}"),
    )]
}

/// The rostering rules that bind in `plan`, in the words of the contracts: nurses whose
/// hours, runs or weekends leave no room for one more shift.
pub fn binding(input: &RosterInput, plan: &RosterPlan) -> Vec<String> {
    let grid = Grid::new(input, plan);
    let mut out = Vec::new();
    for (e, n) in input.nurses.iter().enumerate() {
        let shortest = n
            .shifts
            .iter()
            .filter_map(|s| grid.minutes_of(s))
            .min()
            .unwrap_or(0);
        let worked = grid.minutes_worked(e);
        if shortest > 0 && worked + shortest > n.max_minutes {
            out.push(format!(
                "nurse {}: {:.1} h of the {:.1} h contracted maximum rostered; no further \
                 shift fits",
                n.id,
                f64::from(worked) / 60.0,
                f64::from(n.max_minutes) / 60.0
            ));
        }
        let weekends = grid.weekends_worked(e);
        if n.max_weekends > 0 && weekends >= n.max_weekends && grid.weeks() > n.max_weekends {
            out.push(format!(
                "nurse {}: works {weekends} weekends, the most the contract allows",
                n.id
            ));
        }
    }
    out
}

/// Why each shift left short of its cover is short: for every nurse who may work that
/// shift and is not on it, the first rule that keeps them off (leave, another shift that
/// day, rest between shifts, contracted hours, shifts in a row, weekends, a day off they
/// asked for, or a day the re-roster keeps as in force), counted by rule.
pub fn why_short(input: &RosterInput, plan: &RosterPlan) -> Vec<ShortShift> {
    let grid = Grid::new(input, plan);
    let mut out = Vec::new();
    for need in &input.cover {
        let on = grid.count_on(need.day, &need.shift);
        if on >= need.nurses {
            continue;
        }
        let mut reasons: Vec<(String, Vec<String>)> = Vec::new();
        for (e, n) in input.nurses.iter().enumerate() {
            if !n.shifts.contains(&need.shift) || grid.shift_of(e, need.day) == Some(&need.shift) {
                continue;
            }
            let why = grid.kept_off(e, need.day, &need.shift);
            match reasons.iter_mut().find(|(r, _)| *r == why) {
                Some((_, who)) => who.push(n.id.clone()),
                None => reasons.push((why, vec![n.id.clone()])),
            }
        }
        out.push(ShortShift {
            day: need.day,
            shift: need.shift.clone(),
            required: need.nurses,
            rostered: on,
            kept_off: reasons,
        });
    }
    out
}

/// A shift rostered below its cover, and what keeps the other nurses off it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShortShift {
    /// Day.
    pub day: u32,
    /// Shift.
    pub shift: String,
    /// Nurses required.
    pub required: u32,
    /// Nurses rostered.
    pub rostered: u32,
    /// (rule in words, the nurses it keeps off), in the nurses' order.
    pub kept_off: Vec<(String, Vec<String>)>,
}

impl ShortShift {
    /// One line: the cell, and each rule with the nurses it keeps off.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .kept_off
            .iter()
            .map(|(why, who)| format!("{} ({})", why, who.join(", ")))
            .collect();
        format!(
            "day {} shift {}: {} of {} nurses; the others who work it: {}",
            self.day,
            self.shift,
            self.rostered,
            self.required,
            if parts.is_empty() {
                "none".to_owned()
            } else {
                parts.join("; ")
            }
        )
    }
}

/// The roster as a nurse x day grid, with the questions the explanations ask of it.
struct Grid<'a> {
    input: &'a RosterInput,
    cells: Vec<Vec<Option<&'a str>>>,
}

impl<'a> Grid<'a> {
    fn new(input: &'a RosterInput, plan: &'a RosterPlan) -> Self {
        let mut cells = vec![vec![None; input.days as usize]; input.nurses.len()];
        for s in &plan.shifts {
            let e = input.nurses.iter().position(|n| n.id == s.nurse);
            if let (Some(e), true) = (e, s.day < input.days) {
                cells[e][s.day as usize] = Some(s.shift.as_str());
            }
        }
        Grid { input, cells }
    }

    fn weeks(&self) -> u32 {
        self.input.days / 7
    }

    fn minutes_of(&self, shift: &str) -> Option<u32> {
        self.input
            .shifts
            .iter()
            .find(|s| s.id == shift)
            .map(|s| s.minutes)
    }

    fn forbids(&self, first: &str, next: &str) -> bool {
        self.input
            .shifts
            .iter()
            .find(|s| s.id == first)
            .is_some_and(|s| s.not_followed_by.iter().any(|n| n == next))
    }

    fn shift_of(&self, e: usize, day: u32) -> Option<&str> {
        self.cells[e].get(day as usize).copied().flatten()
    }

    fn count_on(&self, day: u32, shift: &str) -> u32 {
        (0..self.cells.len())
            .filter(|&e| self.shift_of(e, day) == Some(shift))
            .count() as u32
    }

    fn minutes_worked(&self, e: usize) -> u32 {
        self.cells[e]
            .iter()
            .flatten()
            .filter_map(|s| self.minutes_of(s))
            .sum()
    }

    /// Weekends (Saturday and Sunday, days 5 and 6 of each week) with any shift.
    fn weekends_worked(&self, e: usize) -> u32 {
        (0..self.weeks())
            .filter(|w| self.works_weekend(e, *w))
            .count() as u32
    }

    fn works_weekend(&self, e: usize, week: u32) -> bool {
        self.shift_of(e, week * 7 + 5).is_some() || self.shift_of(e, week * 7 + 6).is_some()
    }

    /// The shifts in a row nurse `e` would work if rostered on `day` too.
    fn run_with(&self, e: usize, day: u32) -> u32 {
        let before = (0..day)
            .rev()
            .take_while(|&d| self.shift_of(e, d).is_some())
            .count() as u32;
        let after = (day + 1..self.input.days)
            .take_while(|&d| self.shift_of(e, d).is_some())
            .count() as u32;
        before + 1 + after
    }

    /// The first rule that keeps nurse `e` off `shift` on `day`.
    fn kept_off(&self, e: usize, day: u32, shift: &str) -> String {
        let n = &self.input.nurses[e];
        if n.leave_days.contains(&day) {
            return "on leave".into();
        }
        if !self.input.replans(day) {
            return "the re-roster keeps this day as in force".into();
        }
        let today = self.shift_of(e, day);
        if let Some(other) = today {
            return format!("rostered on shift {other} that day");
        }
        if let Some(prev) = day.checked_sub(1).and_then(|d| self.shift_of(e, d)) {
            if self.forbids(prev, shift) {
                return format!("rest after the {prev} shift the day before");
            }
        }
        if let Some(next) = self.shift_of(e, day + 1) {
            if self.forbids(shift, next) {
                return format!("rest before the {next} shift the day after");
            }
        }
        let minutes = self.minutes_of(shift).unwrap_or(0);
        if self.minutes_worked(e) + minutes > n.max_minutes {
            return "at the contracted maximum hours".into();
        }
        let run = self.run_with(e, day);
        if run > n.max_consecutive_shifts.max(1) {
            return format!(
                "would work {run} shifts in a row (at most {})",
                n.max_consecutive_shifts
            );
        }
        let week = day / 7;
        if day % 7 >= 5 && !self.works_weekend(e, week) && self.weekends_worked(e) >= n.max_weekends
        {
            return format!(
                "already works {} weekends, the most allowed",
                n.max_weekends
            );
        }
        if n.day_off_requests.contains(&day) {
            return "asked for the day off".into();
        }
        "free, and rostering them costs more than the shortfall (cover, requests and \
         changes priced together)"
            .into()
    }
}
