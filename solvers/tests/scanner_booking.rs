//! Scanner booking: generated weeks respect every hard rule (including the exact
//! expected-overtime bound), overbooking is used only where it books someone, and
//! impossible urgent scans are explained.

use std::time::Duration;

use careflow_solvers::scanner_booking::{
    self, ConflictKind, Maintenance, Modality, ScanRequest, Scanner, ScannerInput, ScannerPlan,
    SolveError, Urgency,
};
use careflow_solvers::solve::SolveOptions;

fn opts(s: u64) -> SolveOptions {
    SolveOptions {
        time_limit: Duration::from_secs(s),
        ..SolveOptions::default()
    }
}

fn assert_within_rules(input: &ScannerInput, plan: &ScannerPlan) {
    assert_eq!(
        scanner_booking::violations(input, plan),
        Vec::<String>::new()
    );
}

#[test]
fn generated_weeks_are_booked_within_the_rules() {
    for seed in [1, 2] {
        let input = scanner_booking::generate(seed, 1);
        let plan = scanner_booking::solve(&input, &opts(20), &mut |_| {}).unwrap();
        assert_within_rules(&input, &plan);
        // Demand is above capacity: some routine requests wait, and overbooking is used.
        assert!(!plan.unbooked.is_empty());
        assert_eq!(scanner_booking::generate(seed, 1), input);
    }
}

fn request(id: &str, urgency: Urgency, no_show: f64) -> ScanRequest {
    ScanRequest {
        id: id.into(),
        modality: Modality::Ct,
        urgency,
        release_day: 0,
        deadline_day: 0,
        slots: 1,
        contrast: false,
        anaesthesia: false,
        no_show_probability: no_show,
    }
}

fn one_ct(requests: Vec<ScanRequest>) -> ScannerInput {
    ScannerInput {
        days: 1,
        slots_per_day: 4,
        scanners: vec![Scanner {
            id: "CT1".into(),
            modality: Modality::Ct,
            contrast: false,
            maintenance: vec![Maintenance {
                day: 0,
                from_slot: 2,
                to_slot: 3,
            }],
            anaesthesia_days: vec![],
        }],
        requests,
        policy: Default::default(),
        previous: vec![],
    }
}

#[test]
fn overbooking_is_bounded_by_expected_overtime() {
    // 3 open slots (one in maintenance). Five routine outpatients who each miss with
    // probability 0.5: booking all five gives E[overtime] = P(4 come) + 2 P(5 come) = 7/32,
    // within the 0.5-slot bound, so overbooking books them all.
    let input = one_ct(
        (1..=5)
            .map(|i| request(&format!("R{i}"), Urgency::Routine, 0.5))
            .collect(),
    );
    let plan = scanner_booking::solve(&input, &opts(10), &mut |_| {}).unwrap();
    assert_within_rules(&input, &plan);
    let day = &plan.scanner_days[0];
    assert_eq!(day.open_slots, 3);
    assert!(day.booked_slots > 3, "no-shows make room for overbooking");
    assert_eq!(plan.cost.overbooked_slots, day.booked_slots - 3);
    // With nobody missing, nothing is overbooked.
    let sure = one_ct(
        (1..=5)
            .map(|i| request(&format!("R{i}"), Urgency::Routine, 0.0))
            .collect(),
    );
    let plan = scanner_booking::solve(&sure, &opts(10), &mut |_| {}).unwrap();
    assert_eq!(plan.scanner_days[0].booked_slots, 3);
    assert_eq!(plan.unbooked.len(), 2);
}

#[test]
fn impossible_urgent_scans_are_explained() {
    // Six urgent inpatients today for three open slots plus two overbooked.
    let input = one_ct(
        (1..=6)
            .map(|i| request(&format!("U{i}"), Urgency::Urgent, 0.0))
            .collect(),
    );
    let err = scanner_booking::solve(&input, &opts(10), &mut |_| {}).unwrap_err();
    let SolveError::Infeasible { conflicts } = err else {
        panic!("expected an explanation, got {err:?}");
    };
    assert!(
        conflicts
            .iter()
            .any(|c| c.message.contains("scanner CT1 on day 0")
                || c.message.contains("cannot be scanned")),
        "{conflicts:?}"
    );
    // A contrast scan on a scanner without contrast is named directly.
    let mut r = request("C1", Urgency::Emergency, 0.0);
    r.contrast = true;
    let err = scanner_booking::solve(&one_ct(vec![r]), &opts(10), &mut |_| {}).unwrap_err();
    let SolveError::Infeasible { conflicts } = err else {
        panic!("expected an explanation, got {err:?}");
    };
    assert!(
        conflicts[0].message.contains("C1") && conflicts[0].message.contains("contrast"),
        "{conflicts:?}"
    );
    assert_eq!(conflicts[0].kind, ConflictKind::UrgentScan);
}

#[test]
fn malformed_json_is_located() {
    let text = serde_json::to_string(&one_ct(vec![request("R1", Urgency::Routine, 0.1)]))
        .unwrap()
        .replace("\"ct\"", "\"pet\"");
    match ScannerInput::from_json(&text) {
        Err(SolveError::Parse(e)) => assert_eq!(e.path, "scanners[0].modality"),
        other => panic!("expected a located error, got {other:?}"),
    }
}

#[test]
fn the_checker_catches_a_broken_plan() {
    let input = one_ct(
        (1..=5)
            .map(|i| request(&format!("R{i}"), Urgency::Routine, 0.5))
            .collect(),
    );
    let plan = scanner_booking::solve(&input, &opts(10), &mut |_| {}).unwrap();
    assert_within_rules(&input, &plan);
    assert_eq!(plan.header.model, "scanner_booking");
    // A scan starting in the maintenance window (slot 2).
    let mut p = plan.clone();
    p.bookings[0].start_slot = 2;
    let v = scanner_booking::violations(&input, &p);
    assert!(
        v.iter().any(|m| m.contains("starts in maintenance")),
        "{v:?}"
    );
    // With nobody missing, the same five bookings exceed the expected-overtime bound.
    let mut sure = input.clone();
    for r in &mut sure.requests {
        r.no_show_probability = 0.0;
    }
    let v = scanner_booking::violations(&sure, &plan);
    assert!(v.iter().any(|m| m.contains("expected overtime")), "{v:?}");
}
