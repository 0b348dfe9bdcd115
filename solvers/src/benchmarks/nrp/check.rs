//! An independent scorer for rosters: counts hard-rule violations by type and the soft
//! terms, written from the benchmark README without sharing code with the MILP, so a test
//! can confirm the MILP's roster is feasible and that its cost equals the MILP objective.

use std::collections::HashMap;

use serde::Serialize;

use super::{Instance, Roster, RosterFile};

/// Hard-rule violations by type (counted as the README's checker counts them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HardCounts {
    /// Extra entries for an (employee, day) already listed.
    pub one_shift_per_day: u32,
    /// Entries naming an unknown employee or shift, or a bad day.
    pub invalid_entry: u32,
    /// Consecutive-day pairs where the second shift may not follow the first.
    pub forbidden_succession: u32,
    /// (employee, shift type) pairs over MaxShifts.
    pub max_shifts: u32,
    /// Employees over MaxTotalMinutes.
    pub max_total_minutes: u32,
    /// Employees under MinTotalMinutes.
    pub min_total_minutes: u32,
    /// Working runs longer than MaxConsecutiveShifts.
    pub max_consecutive_shifts: u32,
    /// Interior working runs shorter than MinConsecutiveShifts.
    pub min_consecutive_shifts: u32,
    /// Interior runs of days off shorter than MinConsecutiveDaysOff.
    pub min_consecutive_days_off: u32,
    /// Employees over MaxWeekends.
    pub max_weekends: u32,
    /// Shifts on a day listed in SECTION_DAYS_OFF.
    pub days_off: u32,
    /// 1 when the solution names another instance.
    pub instance_name: u32,
}

impl HardCounts {
    /// Each type with its count, in README order.
    pub fn terms(&self) -> [(&'static str, u32); 12] {
        [
            ("one_shift_per_day", self.one_shift_per_day),
            ("invalid_entry", self.invalid_entry),
            ("forbidden_succession", self.forbidden_succession),
            ("max_shifts", self.max_shifts),
            ("max_total_minutes", self.max_total_minutes),
            ("min_total_minutes", self.min_total_minutes),
            ("max_consecutive_shifts", self.max_consecutive_shifts),
            ("min_consecutive_shifts", self.min_consecutive_shifts),
            ("min_consecutive_days_off", self.min_consecutive_days_off),
            ("max_weekends", self.max_weekends),
            ("days_off", self.days_off),
            ("instance_name", self.instance_name),
        ]
    }

    /// Sum over all types.
    pub fn total(&self) -> u32 {
        self.terms().iter().map(|(_, n)| n).sum()
    }

    /// Adds the per-employee rule counts of `o` (rules 2-9) to these.
    fn add(&mut self, o: &HardCounts) {
        self.forbidden_succession += o.forbidden_succession;
        self.max_shifts += o.max_shifts;
        self.max_total_minutes += o.max_total_minutes;
        self.min_total_minutes += o.min_total_minutes;
        self.max_consecutive_shifts += o.max_consecutive_shifts;
        self.min_consecutive_shifts += o.min_consecutive_shifts;
        self.min_consecutive_days_off += o.min_consecutive_days_off;
        self.max_weekends += o.max_weekends;
        self.days_off += o.days_off;
    }
}

/// A roster's score.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Hard violations by type.
    pub hard: HardCounts,
    /// Weight of shift-on requests not granted.
    pub shift_on_requests: u64,
    /// Weight of shift-off requests not granted.
    pub shift_off_requests: u64,
    /// Under-cover penalty.
    pub cover_under: u64,
    /// Over-cover penalty.
    pub cover_over: u64,
}

impl Report {
    /// The objective: sum of the soft terms.
    pub fn cost(&self) -> u64 {
        self.shift_on_requests + self.shift_off_requests + self.cover_under + self.cover_over
    }

    /// Hard violations, all types together.
    pub fn hard_total(&self) -> u32 {
        self.hard.total()
    }
}

/// Scores a solution file: entries are resolved against the instance (malformed and
/// duplicate entries are counted, the first entry of an (employee, day) is scored).
pub fn check_file(inst: &Instance, file: &RosterFile) -> Report {
    let staff: HashMap<&str, usize> = inst
        .staff
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let shifts: HashMap<&str, usize> = inst
        .shifts
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut roster = Roster::empty(inst);
    let mut extra = HardCounts::default();
    for a in &file.assignments {
        let e = staff.get(a.employee.as_str());
        let s = shifts.get(a.shift.as_str());
        let d = a
            .day
            .as_u64()
            .map(|d| d as usize)
            .filter(|&d| d < inst.horizon);
        let (Some(&e), Some(&s), Some(d)) = (e, s, d) else {
            extra.invalid_entry += 1;
            continue;
        };
        if roster.cells[e][d].is_some() {
            extra.one_shift_per_day += 1;
        } else {
            roster.cells[e][d] = Some(s);
        }
    }
    if let Some(name) = &file.instance {
        if !name.eq_ignore_ascii_case(&inst.name) {
            extra.instance_name = 1;
        }
    }
    let mut report = check(inst, &roster);
    report.hard.one_shift_per_day = extra.one_shift_per_day;
    report.hard.invalid_entry = extra.invalid_entry;
    report.hard.instance_name = extra.instance_name;
    report
}

/// Scores a roster (one cell per employee and day, so rule 1 holds by construction).
pub fn check(inst: &Instance, roster: &Roster) -> Report {
    let mut r = Report::default();
    for e in 0..inst.staff.len() {
        r.hard.add(&employee_hard(inst, e, &roster.cells[e]));
    }
    for q in &inst.on_requests {
        if roster.cells[q.employee][q.day] != Some(q.shift) {
            r.shift_on_requests += q.weight as u64;
        }
    }
    for q in &inst.off_requests {
        if roster.cells[q.employee][q.day] == Some(q.shift) {
            r.shift_off_requests += q.weight as u64;
        }
    }
    for c in &inst.cover {
        let n = roster
            .cells
            .iter()
            .filter(|row| row[c.day] == Some(c.shift))
            .count() as u64;
        let req = c.requirement as u64;
        if n < req {
            r.cover_under += c.under_weight as u64 * (req - n);
        } else {
            r.cover_over += c.over_weight as u64 * (n - req);
        }
    }
    r
}

/// Rules 2-9 for one employee's row (`row[d]`: the shift worked on day d, `None` off).
/// The hard rules never couple employees, so a roster is feasible exactly when every
/// row is.
pub fn employee_hard(inst: &Instance, e: usize, row: &[Option<usize>]) -> HardCounts {
    let h = inst.horizon;
    let st = &inst.staff[e];
    let mut r = HardCounts::default();
    let works = |d: usize| row[d].is_some();
    for d in 0..h.saturating_sub(1) {
        if let (Some(s), Some(t)) = (row[d], row[d + 1]) {
            if inst.shifts[s].forbidden_next.contains(&t) {
                r.forbidden_succession += 1;
            }
        }
    }
    let mut per_type = vec![0u32; inst.shifts.len()];
    let mut minutes = 0u32;
    for s in row.iter().flatten() {
        per_type[*s] += 1;
        minutes += inst.shifts[*s].minutes;
    }
    r.max_shifts += per_type
        .iter()
        .zip(&st.max_shifts)
        .filter(|(n, m)| n > m)
        .count() as u32;
    r.max_total_minutes += u32::from(minutes > st.max_minutes);
    r.min_total_minutes += u32::from(minutes < st.min_minutes);
    // Walk the maximal runs of equal working status.
    let mut start = 0;
    while start < h {
        let kind = works(start);
        let mut end = start;
        while end + 1 < h && works(end + 1) == kind {
            end += 1;
        }
        let len = (end - start + 1) as u32;
        // Rules 6 and 7 only bind runs with the other kind on both sides inside the
        // horizon: a run touching day 0 or day H-1 may continue outside it.
        let interior = start > 0 && end < h - 1;
        if kind {
            r.max_consecutive_shifts += u32::from(len > st.max_consecutive);
            r.min_consecutive_shifts += u32::from(interior && len < st.min_consecutive);
        } else {
            r.min_consecutive_days_off += u32::from(interior && len < st.min_days_off);
        }
        start = end + 1;
    }
    let weekends = (0..h.div_ceil(7))
        .filter(|k| [7 * k + 5, 7 * k + 6].iter().any(|&d| d < h && works(d)))
        .count() as u32;
    r.max_weekends += u32::from(weekends > st.max_weekends);
    r.days_off += inst.days_off[e].iter().filter(|&&d| works(d)).count() as u32;
    r
}
