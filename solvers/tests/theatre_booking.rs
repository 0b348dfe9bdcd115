//! Theatre booking: generated weeks respect every hard rule, cost terms add up, identical
//! theatres are ordered, re-planning keeps bookings, impossible urgent work is explained.

use std::time::Duration;

use careflow_solvers::solve::SolveOptions;
use careflow_solvers::theatre_booking::{
    self, Case, ConflictKind, PreviousBooking, Priority, SolveError, Surgeon, Theatre,
    TheatreInput, TheatrePlan,
};

fn opts() -> SolveOptions {
    SolveOptions {
        time_limit: Duration::from_secs(30),
        ..SolveOptions::default()
    }
}

fn assert_within_rules(input: &TheatreInput, plan: &TheatrePlan) {
    assert_eq!(
        theatre_booking::violations(input, plan),
        Vec::<String>::new()
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
        assert_within_rules(&input, &plan);
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
    assert_within_rules(&input, &plan);
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
    let SolveError::Infeasible { conflicts } = err else {
        panic!("expected an explanation, got {err:?}");
    };
    assert!(
        conflicts.iter().any(|c| {
            let m = &c.message;
            m.contains("theatre T") && m.contains("day 1")
                || m.contains("surgeon S2 on day 1")
                || m.contains("urgent case U")
        }),
        "{conflicts:?}"
    );
    assert!(conflicts.iter().all(|c| matches!(
        c.kind,
        ConflictKind::TheatreMinutes | ConflictKind::SurgeonMinutes | ConflictKind::UrgentCase
    )));
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
        Err(SolveError::Parse(e)) => assert_eq!(e.path, "cases[0].priority"),
        other => panic!("expected a located error, got {other:?}"),
    }
}

#[test]
fn the_checker_catches_a_broken_plan() {
    let input = two_theatres(vec![
        case("C1", "S1", Priority::Routine, 80.0),
        case("C2", "S1", Priority::Urgent, 120.0),
        case("C3", "S2", Priority::Routine, 60.0),
    ]);
    let plan = theatre_booking::solve(&input, &opts(), &mut |_| {}).unwrap();
    assert_within_rules(&input, &plan);
    assert_eq!(plan.header.model, "theatre_booking");
    let broken = |edit: &dyn Fn(&mut TheatrePlan)| {
        let mut p = plan.clone();
        edit(&mut p);
        theatre_booking::violations(&input, &p)
    };
    // S2 does not operate on day 0.
    let v = broken(&|p| {
        let b = p.bookings.iter_mut().find(|b| b.case == "C3").unwrap();
        b.day = 0;
    });
    assert!(
        v.iter().any(|m| m.contains("day off of surgeon S2")),
        "{v:?}"
    );
    // The urgent case dropped to the waiting list.
    let v = broken(&|p| {
        p.bookings.retain(|b| b.case != "C2");
        p.unbooked.push("C2".into());
    });
    assert!(v.iter().any(|m| m == "urgent case C2 unbooked"), "{v:?}");
    // C2 planned at 300 minutes: with C1, 380 in a 240 + 30 list, and C1 starts inside C2.
    let v = broken(&|p| p.bookings[0].planned_minutes = 300);
    assert!(
        v.iter()
            .any(|m| m.contains("380 planned minutes, 240 session + 30 overtime")),
        "{v:?}"
    );
    assert!(v.iter().any(|m| m.contains("overlap")), "{v:?}");
}
