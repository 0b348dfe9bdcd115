//! Scanner booking: generated weeks respect every hard rule (including the exact
//! expected-overtime bound), overbooking is used only where it books someone, and
//! impossible urgent scans are explained.

use std::time::Duration;

use careflow_solvers::scanner_booking::{
    self, Maintenance, Modality, ScanRequest, Scanner, ScannerError, ScannerInput, ScannerPlan,
    Urgency,
};
use careflow_solvers::solve::SolveOptions;

fn opts(s: u64) -> SolveOptions {
    SolveOptions {
        time_limit: Duration::from_secs(s),
        ..SolveOptions::default()
    }
}

/// Recomputes the hard rules from the plan alone.
fn check(input: &ScannerInput, plan: &ScannerPlan) {
    for b in &plan.bookings {
        let r = input.requests.iter().find(|r| r.id == b.request).unwrap();
        let s = input.scanners.iter().find(|s| s.id == b.scanner).unwrap();
        assert_eq!(r.modality, s.modality);
        assert!(!r.contrast || s.contrast, "{} needs contrast", r.id);
        assert!(!r.anaesthesia || s.anaesthesia_days.contains(&b.day));
        assert!(b.day >= r.release_day);
        if r.urgency != Urgency::Routine {
            assert!(b.day <= r.deadline_day, "{} past its deadline", r.id);
        }
        assert!(
            !s.maintenance
                .iter()
                .any(|m| m.day == b.day && (m.from_slot..m.to_slot).contains(&b.start_slot)),
            "{} starts in maintenance",
            r.id
        );
    }
    for r in input
        .requests
        .iter()
        .filter(|r| r.urgency != Urgency::Routine)
    {
        assert!(
            plan.bookings.iter().any(|b| b.request == r.id),
            "{} unbooked",
            r.id
        );
    }
    for sd in &plan.scanner_days {
        assert!(sd.booked_slots <= sd.open_slots + input.policy.max_overbooked_slots);
        assert!(
            sd.expected_overtime_slots <= input.policy.max_expected_overtime_slots + 1e-9,
            "{sd:?}"
        );
    }
    assert_eq!(
        plan.bookings.len() + plan.unbooked.len(),
        input.requests.len()
    );
}

#[test]
fn generated_weeks_are_booked_within_the_rules() {
    for seed in [1, 2] {
        let input = scanner_booking::generate(seed, 1);
        let plan = scanner_booking::solve(&input, &opts(20), &mut |_| {}).unwrap();
        check(&input, &plan);
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
    check(&input, &plan);
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
    let ScannerError::Infeasible { conflicts } = err else {
        panic!("expected an explanation, got {err:?}");
    };
    assert!(
        conflicts
            .iter()
            .any(|c| c.contains("scanner CT1 on day 0") || c.contains("cannot be scanned")),
        "{conflicts:?}"
    );
    // A contrast scan on a scanner without contrast is named directly.
    let mut r = request("C1", Urgency::Emergency, 0.0);
    r.contrast = true;
    let err = scanner_booking::solve(&one_ct(vec![r]), &opts(10), &mut |_| {}).unwrap_err();
    let ScannerError::Infeasible { conflicts } = err else {
        panic!("expected an explanation, got {err:?}");
    };
    assert!(
        conflicts[0].contains("C1") && conflicts[0].contains("contrast"),
        "{conflicts:?}"
    );
}

#[test]
fn malformed_json_is_located() {
    let text = serde_json::to_string(&one_ct(vec![request("R1", Urgency::Routine, 0.1)]))
        .unwrap()
        .replace("\"ct\"", "\"pet\"");
    match ScannerInput::from_json(&text) {
        Err(ScannerError::Parse(e)) => assert_eq!(e.path, "scanners[0].modality"),
        other => panic!("expected a located error, got {other:?}"),
    }
}
