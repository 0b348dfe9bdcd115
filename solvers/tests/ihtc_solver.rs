//! The IHTC solver on a hand-solvable instance, on an impossible one, on a published
//! instance (test01, kept in `tests/fixtures/ihtc`: feasibility, reproducibility, agreement
//! with the evaluator) and in re-planning mode. Runs are bounded by a move budget, not by
//! time, so they are reproducible.

use std::path::{Path, PathBuf};
use std::time::Duration;

use careflow_solvers::ihtc::{
    evaluate, solve_with, AdmissionDay, Instance, SearchParams, Solution,
};
use careflow_solvers::solve::{Progress, SolveOptions, SolveStatus};

/// test01 of IHTC-2024 and its reference solution, kept in the repository.
fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ihtc")
        .join(file)
}

fn opts(seed: u64) -> SolveOptions {
    SolveOptions {
        // Generous: the move budget, not the clock, ends these runs.
        time_limit: Duration::from_secs(600),
        seed,
        ..SolveOptions::default()
    }
}

fn params(moves: u64) -> SearchParams {
    SearchParams {
        max_moves: Some(moves),
        ..SearchParams::default()
    }
}

/// Two mandatory patients, one single-bed room, two days, one nurse on every shift.
fn tiny(surgeon_minutes: u32) -> Instance {
    let shifts: Vec<_> = (0..2)
        .flat_map(|d| {
            ["early", "late", "night"]
                .map(|s| serde_json::json!({"day": d, "shift": s, "max_load": 100}))
        })
        .collect();
    let patient = |id: &str| {
        serde_json::json!({
            "id": id, "mandatory": true, "gender": "A", "age_group": "adult", "length_of_stay": 1,
            "surgery_release_day": 0, "surgery_due_day": 1, "surgery_duration": 60, "surgeon_id": "s0",
            "incompatible_room_ids": [], "workload_produced": [1, 1, 1], "skill_level_required": [0, 0, 0]
        })
    };
    let json = serde_json::json!({
        "days": 2, "skill_levels": 1, "shift_types": ["early", "late", "night"],
        "age_groups": ["infant", "adult", "elderly"], "occupants": [],
        "patients": [patient("p0"), patient("p1")],
        "surgeons": [{"id": "s0", "max_surgery_time": [surgeon_minutes, surgeon_minutes]}],
        "operating_theaters": [{"id": "t0", "availability": [480, 480]}, {"id": "t1", "availability": [480, 480]}],
        "rooms": [{"id": "r0", "capacity": 1}],
        "nurses": [{"id": "n0", "skill_level": 0, "working_shifts": shifts}],
        "weights": {"room_mixed_age": 1, "room_nurse_skill": 1, "continuity_of_care": 2,
                    "nurse_eccessive_workload": 1, "open_operating_theater": 10, "surgeon_transfer": 1,
                    "patient_delay": 3, "unscheduled_optional": 50}
    });
    Instance::from_json(&json.to_string(), "tiny.json").unwrap()
}

#[test]
fn solves_a_hand_checked_instance_to_its_optimum() {
    let instance = tiny(480);
    let mut events = Vec::new();
    let mut sink = |p: Progress| events.push(p);
    let out = solve_with(&instance, &opts(1), None, &mut sink, &params(5_000)).unwrap();
    // One bed: the patients go on different days. Cheapest: one delayed day (3), two open
    // theatre-days (20), one nurse per stay (2 x 2).
    assert_eq!(out.status, SolveStatus::TimeLimit);
    assert!(out.evaluation.is_feasible(), "{:?}", out.evaluation.hard);
    assert_eq!(out.evaluation.total_cost, 3 + 20 + 4);
    let days: Vec<AdmissionDay> = out
        .solution
        .patients
        .iter()
        .map(|p| p.admission_day)
        .collect();
    assert!(days.contains(&AdmissionDay::Day(0)) && days.contains(&AdmissionDay::Day(1)));
    assert_eq!(events.last().and_then(|p| p.incumbent), Some(27.0));
}

#[test]
fn reports_infeasible_when_no_plan_fits() {
    // The surgeon cannot operate at all, yet both patients are mandatory.
    let instance = tiny(0);
    let out = solve_with(&instance, &opts(1), None, &mut |_| {}, &params(2_000)).unwrap();
    assert_eq!(out.status, SolveStatus::Infeasible);
    assert!(
        out.evaluation.hard.surgeon_overtime > 0 || out.evaluation.hard.mandatory_unscheduled > 0
    );
}

#[test]
fn feasible_reproducible_and_consistent_with_the_evaluator() {
    let instance = Instance::from_file(fixture("test01.json")).unwrap();
    let run = || solve_with(&instance, &opts(7), None, &mut |_| {}, &params(30_000)).unwrap();
    let a = run();
    assert!(a.evaluation.is_feasible(), "{:?}", a.evaluation.hard);
    assert_eq!(a.status, SolveStatus::TimeLimit);
    // The returned figures are those of the returned JSON.
    let json = Solution::from_json(&a.solution.to_json(), "out.json").unwrap();
    assert_eq!(evaluate(&instance, &json).unwrap(), a.evaluation);
    // Same seed, same move budget: same plan.
    let b = run();
    assert_eq!(a.solution, b.solution);
    // Every patient is listed, every nurse with all its working shifts.
    assert_eq!(a.solution.patients.len(), instance.patients.len());
    assert_eq!(a.solution.nurses.len(), instance.nurses.len());
}

#[test]
fn replanning_keeps_decisions_when_changes_are_expensive() {
    let instance = Instance::from_file(fixture("test01.json")).unwrap();
    let warm = Solution::from_file(fixture("sol_test01.json")).unwrap();
    let sticky = SearchParams {
        change_weight: 1_000_000,
        ..params(20_000)
    };
    let out = solve_with(&instance, &opts(3), Some(&warm), &mut |_| {}, &sticky).unwrap();
    assert!(out.evaluation.is_feasible());
    assert_eq!(out.changes, 0);
    for p in &out.solution.patients {
        let w = warm.patients.iter().find(|w| w.id == p.id).unwrap();
        assert_eq!(
            (p.admission_day, &p.room, &p.operating_theater),
            (w.admission_day, &w.room, &w.operating_theater)
        );
    }

    // With cheap changes the search may move patients, and counts what it moved.
    let loose = SearchParams {
        change_weight: 0,
        ..params(20_000)
    };
    let out = solve_with(&instance, &opts(3), Some(&warm), &mut |_| {}, &loose).unwrap();
    let moved: usize = out
        .solution
        .patients
        .iter()
        .map(|p| {
            let w = warm.patients.iter().find(|w| w.id == p.id).unwrap();
            if (p.admission_day == AdmissionDay::None) != (w.admission_day == AdmissionDay::None) {
                3
            } else {
                usize::from(p.admission_day != w.admission_day)
                    + usize::from(p.room != w.room)
                    + usize::from(p.operating_theater != w.operating_theater)
            }
        })
        .sum();
    assert_eq!(out.changes, moved);
}
