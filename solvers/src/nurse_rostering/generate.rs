//! A seeded ward for demos and tests.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{CoverNeed, Nurse, RosterInput, RosterWeights, ShiftType};

/// A ward of `nurses` nurses over `weeks` weeks: early, late and night shifts (no early
/// or late after a night, no early after a late); most nurses full time (37.5 h), some
/// part time (22.5 h), three in four on nights; a week of leave for some, a few requested
/// days off each; cover of about what the contracts can give (more on weekdays). Same
/// seed, same ward.
pub fn generate(seed: u64, nurses: usize, weeks: u32) -> RosterInput {
    let mut rng = StdRng::seed_from_u64(seed);
    let days = 7 * weeks.max(1);
    let shift = |id: &str, minutes, next: &[&str]| ShiftType {
        id: id.into(),
        minutes,
        not_followed_by: next.iter().map(|s| (*s).into()).collect(),
    };
    let shifts = vec![
        shift("E", 450, &[]),
        shift("L", 450, &["E"]),
        shift("N", 600, &["E", "L"]),
    ];
    let mut list = Vec::new();
    let mut supply = 0u32;
    for i in 0..nurses.max(1) {
        let hours = if rng.random_bool(0.75) { 37.5 } else { 22.5 };
        let leave: Vec<u32> = if rng.random_bool(0.3) {
            let w = rng.random_range(0..weeks.max(1));
            (7 * w..7 * w + 7).collect()
        } else {
            Vec::new()
        };
        let requests: Vec<u32> = (0..rng.random_range(0..4))
            .map(|_| rng.random_range(0..days))
            .filter(|d| !leave.contains(d))
            .collect();
        let mut requests = requests;
        requests.sort_unstable();
        requests.dedup();
        let net = (hours * 60.0 / 7.0 * f64::from(days - leave.len() as u32)).round() as u32;
        supply += net / 450;
        let mut allowed = vec!["E".to_owned(), "L".to_owned()];
        if rng.random_bool(0.75) {
            allowed.push("N".into());
        }
        list.push(Nurse {
            id: format!("RN{:03}", i + 1),
            shifts: allowed,
            min_minutes: net.saturating_sub(450),
            max_minutes: net + 450,
            max_consecutive_shifts: 5,
            max_weekends: weeks.div_ceil(2),
            leave_days: leave,
            day_off_requests: requests,
        });
    }
    // Spread about the shifts the contracts give over the days, weekdays a little more.
    let per_day = f64::from(supply) / f64::from(days);
    let mut cover = Vec::new();
    for d in 0..days {
        let f = if d % 7 >= 5 { 0.85 } else { 1.05 };
        let n = (per_day * f).max(3.0);
        let night = (n * 0.25).round().max(1.0) as u32;
        let early = ((n - f64::from(night)) * 0.55).round() as u32;
        let late = (n.round() as u32).saturating_sub(night + early);
        for (s, k) in [("E", early), ("L", late), ("N", night)] {
            cover.push(CoverNeed {
                day: d,
                shift: s.into(),
                nurses: k,
            });
        }
    }
    RosterInput {
        days,
        shifts,
        nurses: list,
        cover,
        weights: RosterWeights::default(),
        previous: Vec::new(),
        replan_days: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{solve, violations, RosteredShift, SolveError};
    use super::*;
    use crate::solve::{ignore_progress, SolveOptions};
    use std::time::Duration;

    fn opts(seconds: u64) -> SolveOptions {
        SolveOptions {
            time_limit: Duration::from_secs(seconds),
            seed: 3,
            ..SolveOptions::default()
        }
    }

    #[test]
    fn a_generated_ward_is_rostered_within_every_rule_and_a_sick_call_changes_only_its_days() {
        let input = generate(11, 10, 4);
        let plan = solve(&input, &opts(10), &mut ignore_progress).expect("roster");
        assert!(
            violations(&input, &plan).is_empty(),
            "{:?}",
            violations(&input, &plan)
        );
        assert_eq!(plan.cost.changes, 0);

        // RN001 is off sick on the days 8-10 of the roster in force.
        let mut sick = input.clone();
        sick.previous = plan.shifts.clone();
        sick.replan_days = vec![8, 9, 10];
        let nurse = &mut sick.nurses[0];
        let lost: u32 = plan
            .shifts
            .iter()
            .filter(|s| s.nurse == nurse.id && (8..=10).contains(&s.day))
            .map(|s| if s.shift == "N" { 600 } else { 450 })
            .sum();
        nurse.leave_days.extend([8, 9, 10]);
        nurse.min_minutes = nurse.min_minutes.saturating_sub(lost);
        let again = solve(&sick, &opts(10), &mut ignore_progress).expect("re-roster");
        assert!(
            violations(&sick, &again).is_empty(),
            "{:?}",
            violations(&sick, &again)
        );
        let outside = |p: &[RosteredShift]| -> Vec<RosteredShift> {
            p.iter()
                .filter(|s| !(8..=10).contains(&s.day))
                .cloned()
                .collect()
        };
        assert_eq!(outside(&again.shifts), outside(&plan.shifts));
        assert!(again
            .shifts
            .iter()
            .all(|s| !(s.nurse == "RN001" && (8..=10).contains(&s.day))));
        let sick_shifts = plan
            .shifts
            .iter()
            .filter(|s| s.nurse == "RN001" && (8..=10).contains(&s.day))
            .count() as u32;
        // Each lost shift is a change; a replacement is one more each at most.
        assert!(again.cost.changes >= sick_shifts && again.cost.changes <= 3 * sick_shifts.max(1));
    }

    #[test]
    fn a_contract_no_days_can_hold_is_named() {
        let mut input = generate(2, 4, 1);
        input.nurses[1].leave_days = (0..6).collect();
        input.nurses[1].min_minutes = 2000;
        let err = solve(&input, &opts(5), &mut ignore_progress).unwrap_err();
        let SolveError::Infeasible { conflicts } = err else {
            panic!("expected infeasible, got {err:?}");
        };
        assert_eq!(conflicts.len(), 1);
        assert!(
            conflicts[0].message.contains("nurse RN002"),
            "{:?}",
            conflicts
        );
    }
}
