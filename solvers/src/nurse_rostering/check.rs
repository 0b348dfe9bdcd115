//! An independent checker of ward rosters: every hard rule and the cost recomputed from
//! the input and the plan alone, in the ward's terms, without the NRP model or checker.

use std::collections::HashMap;

use super::{RosterInput, RosterPlan};

/// Checks a plan against the hard rules, the re-roster window and its stated cost;
/// returns what is broken (empty when none).
pub fn violations(input: &RosterInput, plan: &RosterPlan) -> Vec<String> {
    let mut out = Vec::new();
    let mut cell: HashMap<(&str, u32), &str> = HashMap::new();
    for a in &plan.shifts {
        let Some(nurse) = input.nurses.iter().find(|n| n.id == a.nurse) else {
            out.push(format!("shift for unknown nurse {}", a.nurse));
            continue;
        };
        if !input.shifts.iter().any(|s| s.id == a.shift) {
            out.push(format!("nurse {} on unknown shift {}", a.nurse, a.shift));
            continue;
        }
        if a.day >= input.days {
            out.push(format!(
                "nurse {} on day {} past the roster",
                a.nurse, a.day
            ));
        }
        if !nurse.shifts.contains(&a.shift) {
            out.push(format!(
                "nurse {} on shift {} they may not work (day {})",
                a.nurse, a.shift, a.day
            ));
        }
        if nurse.leave_days.contains(&a.day) {
            out.push(format!("nurse {} rostered on leave day {}", a.nurse, a.day));
        }
        if cell.insert((&a.nurse, a.day), &a.shift).is_some() {
            out.push(format!("nurse {} has two shifts on day {}", a.nurse, a.day));
        }
    }
    let minutes_of: HashMap<&str, u32> = input
        .shifts
        .iter()
        .map(|s| (s.id.as_str(), s.minutes))
        .collect();
    for n in &input.nurses {
        let at = |d: u32| cell.get(&(n.id.as_str(), d)).copied();
        let minutes: u32 = (0..input.days)
            .filter_map(at)
            .map(|s| minutes_of.get(s).copied().unwrap_or(0))
            .sum();
        if minutes < n.min_minutes || minutes > n.max_minutes {
            out.push(format!(
                "nurse {}: {minutes} minutes rostered, contract {}..={}",
                n.id, n.min_minutes, n.max_minutes
            ));
        }
        let mut run = 0;
        for d in 0..input.days {
            run = if at(d).is_some() { run + 1 } else { 0 };
            if run == n.max_consecutive_shifts + 1 {
                out.push(format!(
                    "nurse {}: more than {} shifts in a row ending day {d}",
                    n.id, n.max_consecutive_shifts
                ));
            }
            if let (Some(today), Some(next)) = (at(d), at(d + 1)) {
                let forbidden = input
                    .shifts
                    .iter()
                    .find(|s| s.id == today)
                    .is_some_and(|s| s.not_followed_by.iter().any(|x| x == next));
                if forbidden {
                    out.push(format!(
                        "nurse {}: {next} on day {} straight after {today}",
                        n.id,
                        d + 1
                    ));
                }
            }
        }
        let weekends = (0..input.days / 7)
            .filter(|k| at(7 * k + 5).is_some() || at(7 * k + 6).is_some())
            .count() as u32;
        if weekends > n.max_weekends {
            out.push(format!(
                "nurse {}: {weekends} weekends, at most {}",
                n.id, n.max_weekends
            ));
        }
    }
    // Outside the re-roster window the roster in force stands, cell by cell.
    let before: HashMap<(&str, u32), &str> = input
        .previous
        .iter()
        .map(|p| ((p.nurse.as_str(), p.day), p.shift.as_str()))
        .collect();
    let mut changes = 0u32;
    for n in &input.nurses {
        for d in 0..input.days {
            let (now, then) = (
                cell.get(&(n.id.as_str(), d)),
                before.get(&(n.id.as_str(), d)),
            );
            if input.previous.is_empty() || now == then {
                continue;
            }
            if input.replans(d) {
                changes += 1;
            } else {
                out.push(format!(
                    "nurse {} day {d} changed outside the re-rostered days",
                    n.id
                ));
            }
        }
    }
    // The cost as stated must be the cost of these shifts.
    let w = &input.weights;
    let (mut short, mut over) = (0u32, 0u32);
    for d in 0..input.days {
        for s in &input.shifts {
            let need: u32 = input
                .cover
                .iter()
                .filter(|c| c.day == d && c.shift == s.id)
                .map(|c| c.nurses)
                .sum();
            let have = cell
                .iter()
                .filter(|((_, day), sh)| *day == d && **sh == s.id)
                .count() as u32;
            short += need.saturating_sub(have);
            over += have.saturating_sub(need);
        }
    }
    let unmet = input
        .nurses
        .iter()
        .flat_map(|n| n.day_off_requests.iter().map(move |&d| (n, d)))
        .filter(|(n, d)| !n.leave_days.contains(d) && cell.contains_key(&(n.id.as_str(), *d)))
        .count() as u32;
    let total = f64::from(short) * f64::from(w.cover_under)
        + f64::from(over) * f64::from(w.cover_over)
        + f64::from(unmet) * f64::from(w.day_off_request)
        + f64::from(changes) * f64::from(w.change);
    let c = &plan.cost;
    if (c.short, c.over, c.unmet_requests, c.changes) != (short, over, unmet, changes)
        || (c.total - total).abs() > 1e-6
        || (plan.header.objective - total).abs() > 1e-6
    {
        out.push(format!(
            "stated cost {c:?} (objective {}) differs from the shifts' cost: short {short}, over \
             {over}, unmet requests {unmet}, changes {changes}, total {total}",
            plan.header.objective
        ));
    }
    out
}
