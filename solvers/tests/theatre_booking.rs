//! Theatre booking: generated weeks respect every hard rule, cost terms add up, identical
//! theatres are ordered, re-planning keeps bookings, impossible urgent work is explained.

use std::collections::HashMap;
use std::time::Duration;

use careflow_solvers::solve::SolveOptions;
use careflow_solvers::theatre_booking::{
    self, Case, PreviousBooking, Priority, Surgeon, Theatre, TheatreError, TheatreInput,
    TheatrePlan,
};

fn opts() -> SolveOptions {
    SolveOptions {
        time_limit: Duration::from_secs(30),
        ..SolveOptions::default()
    }
}

/// Recomputes the hard rules from the plan alone.
fn check(input: &TheatreInput, plan: &TheatrePlan) {
    let mut theatre_minutes: HashMap<(String, u32), u32> = HashMap::new();
    let mut surgeon_theatres: HashMap<(String, u32), Vec<String>> = HashMap::new();
    for b in &plan.bookings {
        let case = input.cases.iter().find(|c| c.id == b.case).unwrap();
        let surgeon = input
            .surgeons
            .iter()
            .find(|s| s.id == case.surgeon)
            .unwrap();
        assert!(
            surgeon.available_days.contains(&b.day),
            "{} on a day off",
            b.case
        );
        assert!(b.day >= case.release_day);
        *theatre_minutes
            .entry((b.theatre.clone(), b.day))
            .or_default() += b.planned_minutes;
        let ts = surgeon_theatres
            .entry((surgeon.id.clone(), b.day))
            .or_default();
        if !ts.contains(&b.theatre) {
            ts.push(b.theatre.clone());
        }
    }
    for ((t, d), minutes) in &theatre_minutes {
        let th = input.theatres.iter().find(|x| &x.id == t).unwrap();
        assert!(*minutes <= th.session_minutes[*d as usize] + th.max_overtime_minutes);
    }
    for ts in surgeon_theatres.values() {
        assert_eq!(ts.len(), 1, "a surgeon's list is split over theatres");
    }
    for c in input
        .cases
        .iter()
        .filter(|c| c.priority == Priority::Urgent)
    {
        assert!(
            plan.bookings.iter().any(|b| b.case == c.id),
            "urgent {} unbooked",
            c.id
        );
    }
    assert_eq!(
        plan.bookings.len() + plan.unbooked.len(),
        input.cases.len(),
        "every case booked once or listed as waiting"
    );
}

#[test]
fn generated_weeks_are_booked_within_the_rules() {
    // A limit short enough that HiGHS may stop early: the plan must still obey every rule.
    let quick = SolveOptions {
        time_limit: Duration::from_secs(8),
        ..SolveOptions::default()
    };
    for seed in [1, 2] {
        let input = theatre_booking::generate(seed, 3);
        let plan = theatre_booking::solve(&input, &quick, &mut |_| {}).unwrap();
        check(&input, &plan);
        assert!(plan.bookings.len() > input.cases.len() / 2);
        let w = &input.weights;
        let unbooked_cost: f64 = plan
            .unbooked
            .iter()
            .map(
                |id| match input.cases.iter().find(|c| &c.id == id).unwrap().priority {
                    Priority::Soon => w.unbooked_soon,
                    _ => w.unbooked_routine,
                },
            )
            .sum();
        assert!(
            plan.cost.total + 1e-6
                >= unbooked_cost + w.overtime_minute * plan.cost.overtime_minutes
        );
        assert_eq!(theatre_booking::generate(seed, 3), input);
    }
}

fn theatre(id: &str) -> Theatre {
    Theatre {
        id: id.into(),
        session_minutes: vec![240, 240],
        max_overtime_minutes: 30,
    }
}

fn case(id: &str, surgeon: &str, priority: Priority, minutes: f64) -> Case {
    Case {
        id: id.into(),
        surgeon: surgeon.into(),
        procedure: "test".into(),
        priority,
        release_day: 0,
        due_day: 0,
        duration_quantiles: vec![(0.5, minutes * 0.8), (0.8, minutes)],
    }
}

fn two_theatres(cases: Vec<Case>) -> TheatreInput {
    TheatreInput {
        days: 2,
        theatres: vec![theatre("T1"), theatre("T2")],
        surgeons: vec![
            Surgeon {
                id: "S1".into(),
                available_days: vec![0, 1],
                max_minutes_per_day: 480,
            },
            Surgeon {
                id: "S2".into(),
                available_days: vec![1],
                max_minutes_per_day: 480,
            },
        ],
        cases,
        weights: Default::default(),
        previous: vec![],
    }
}

#[test]
fn robust_durations_order_and_identical_theatres() {
    // S1's two cases fit day 0 of one theatre (200 planned minutes, the 0.8 quantile).
    let input = two_theatres(vec![
        case("C1", "S1", Priority::Routine, 80.0),
        case("C2", "S1", Priority::Urgent, 120.0),
    ]);
    let plan = theatre_booking::solve(&input, &opts(), &mut |_| {}).unwrap();
    check(&input, &plan);
    assert_eq!(plan.cost.total, 0.0);
    // Identical theatres: the loaded one is the first.
    assert!(plan
        .bookings
        .iter()
        .all(|b| b.theatre == "T1" && b.day == 0));
    // The urgent case opens the list.
    assert_eq!(plan.bookings[0].case, "C2");
    assert_eq!(plan.bookings[1].start_minute, 120);
}

#[test]
fn replanning_keeps_previous_bookings() {
    let mut input = two_theatres(vec![case("C1", "S1", Priority::Routine, 60.0)]);
    input.cases[0].due_day = 1;
    input.previous = vec![PreviousBooking {
        case: "C1".into(),
        theatre: "T1".into(),
        day: 1,
    }];
    let plan = theatre_booking::solve(&input, &opts(), &mut |_| {}).unwrap();
    assert_eq!((plan.bookings[0].day, plan.cost.changes), (1, 0));
}

#[test]
fn impossible_urgent_work_is_explained() {
    // S2 operates only on day 1: three urgent 200-minute cases cannot fit one 240+30 list.
    let input = two_theatres(vec![
        case("U1", "S2", Priority::Urgent, 200.0),
        case("U2", "S2", Priority::Urgent, 200.0),
        case("U3", "S2", Priority::Urgent, 200.0),
    ]);
    let err = theatre_booking::solve(&input, &opts(), &mut |_| {}).unwrap_err();
    let TheatreError::Infeasible { conflicts } = err else {
        panic!("expected an explanation, got {err:?}");
    };
    assert!(
        conflicts
            .iter()
            .any(|c| c.contains("theatre T") && c.contains("day 1")
                || c.contains("surgeon S2 on day 1")
                || c.contains("urgent case U")),
        "{conflicts:?}"
    );
}

#[test]
fn malformed_json_is_located() {
    let text = serde_json::to_string_pretty(&two_theatres(vec![case(
        "C1",
        "S1",
        Priority::Routine,
        60.0,
    )]))
    .unwrap()
    .replace("\"routine\"", "\"whenever\"");
    match TheatreInput::from_json(&text) {
        Err(TheatreError::Parse(e)) => assert_eq!(e.path, "cases[0].priority"),
        other => panic!("expected a located error, got {other:?}"),
    }
}
