//! Nurse rostering at hospital scale: a roster always comes first (within every hard rule,
//! by the independent checker), infeasibility only when proven, a time limit never read
//! as infeasibility, the generator's instances feasible and readable as benchmark files.
//! Short time limits: these check behaviour, not timing (the bench measures quality).

use std::path::Path;
use std::time::Duration;

use careflow_solvers::nrp::generate::{generate, generate_with_witness, instance_text, GenParams};
use careflow_solvers::nrp::{self, NrpError};
use careflow_solvers::solve::{Progress, SolveOptions, SolveStatus};

fn opts(seconds: f64) -> SolveOptions {
    SolveOptions {
        time_limit: Duration::from_secs_f64(seconds),
        ..SolveOptions::default()
    }
}

/// Two weeks; employee B must work 14 shifts of 480 minutes (MinTotalMinutes 6720) but
/// may work at most 5 in a row: no row of B meets B's rules, so no roster exists. A is
/// unconstrained, so only a proof about B can find it.
const IMPOSSIBLE: &str = "\
SECTION_HORIZON
14

SECTION_SHIFTS
D,480,

SECTION_STAFF
A,D=14,6720,0,14,1,1,2
B,D=14,6720,6720,5,1,1,2

SECTION_DAYS_OFF

SECTION_SHIFT_ON_REQUESTS

SECTION_SHIFT_OFF_REQUESTS

SECTION_COVER
0,D,1,100,1
";

#[test]
fn a_provably_infeasible_instance_is_reported_infeasible_naming_the_employee() {
    let inst = nrp::parse_instance(IMPOSSIBLE, "impossible", Path::new("impossible.txt")).unwrap();
    match nrp::solve(&inst, &opts(30.0), &mut |_| {}) {
        Err(NrpError::Infeasible { reason }) => {
            assert!(reason.contains("employee B"), "{reason}");
        }
        other => panic!("expected a proven infeasibility, got {other:?}"),
    }
}

#[test]
fn a_time_limit_is_never_reported_as_infeasibility() {
    // The same impossible instance with no time to prove anything: the answer is "no
    // roster found within the time limit", never "infeasible".
    let inst = nrp::parse_instance(IMPOSSIBLE, "impossible", Path::new("impossible.txt")).unwrap();
    match nrp::solve(&inst, &opts(0.001), &mut |_| {}) {
        Err(NrpError::NoRoster { tried }) => {
            assert!(tried.contains("B"), "{tried}");
        }
        other => panic!("expected no roster within the time limit, got {other:?}"),
    }
}

#[test]
fn generated_instances_read_back_equal_from_the_benchmark_text_format() {
    for p in [
        GenParams {
            nurses: 12,
            days: 28,
            shifts: 3,
            seed: 4,
        },
        GenParams {
            nurses: 30,
            days: 84,
            shifts: 10,
            seed: 2,
        },
    ] {
        let inst = generate(&p);
        let text = instance_text(&inst);
        let back = nrp::parse_instance(&text, &inst.name, Path::new("gen.txt")).unwrap();
        assert_eq!(back, inst, "{}", inst.name);
        // Same parameters, same instance.
        assert_eq!(generate(&p), inst);
        assert_eq!(inst.staff.len(), p.nurses);
        assert_eq!(inst.horizon, p.days);
        assert_eq!(inst.shifts.len(), p.shifts);
    }
}

/// Every generated instance is feasible: its witness roster meets every hard rule by the
/// independent checker, from a small one to the largest of the family's scale.
#[test]
fn generated_instances_have_a_witness_within_every_hard_rule() {
    for (nurses, days, shifts) in [
        (8, 14, 1),
        (20, 28, 3),
        (33, 42, 4),
        (23, 84, 3),
        (51, 364, 10),
        (150, 364, 32),
    ] {
        for seed in [1, 2] {
            let p = GenParams {
                nurses,
                days,
                shifts,
                seed,
            };
            let (inst, witness) = generate_with_witness(&p);
            let report = nrp::check(&inst, &witness);
            assert_eq!(report.hard_total(), 0, "{}: {:?}", inst.name, report.hard);
        }
    }
}

/// A year of 51 nurses and 10 shift types (the size that was once called infeasible):
/// a roster within every hard rule by the independent checker, never `Infeasible`, with
/// the incumbent streamed long before the end and only ever improving.
#[test]
fn a_year_long_generated_instance_gets_a_valid_roster() {
    let inst = generate(&GenParams {
        nurses: 51,
        days: 364,
        shifts: 10,
        seed: 1,
    });
    let mut events: Vec<Progress> = Vec::new();
    let out = nrp::solve(&inst, &opts(8.0), &mut |p| events.push(p))
        .unwrap_or_else(|e| panic!("a feasible instance must get a roster: {e}"));
    let report = nrp::check(&inst, &out.roster);
    assert_eq!(report.hard_total(), 0, "{:?}", report.hard);
    assert_eq!(report.cost(), out.objective);
    assert_ne!(out.status, SolveStatus::Infeasible);
    let first = events
        .iter()
        .position(|p| p.incumbent.is_some())
        .expect("an incumbent is streamed");
    assert!(
        first + 1 < events.len(),
        "the incumbent comes before the end"
    );
    let costs: Vec<f64> = events.iter().filter_map(|p| p.incumbent).collect();
    assert!(costs.windows(2).all(|w| w[1] <= w[0]), "{costs:?}");
    assert_eq!(costs.last().copied(), Some(out.objective as f64));
}

/// A ward-sized instance too large for the whole MILP (80 nurses, half a year, 12 shift
/// types): a roster that the independent checker finds within every hard rule, a bound
/// streamed that is never above the roster's cost, and the solve ends near its time
/// limit. The limit on the wall clock is loose on purpose (a debug build on a shared
/// machine); it catches a step that ignores the clock, as the LP relaxation once did when
/// it ran a minute past a 20-second limit.
#[test]
fn a_ward_sized_generated_instance_gets_a_valid_roster_and_a_bound_on_time() {
    let inst = generate(&GenParams {
        nurses: 80,
        days: 182,
        shifts: 12,
        seed: 2,
    });
    let limit = 10.0;
    let started = std::time::Instant::now();
    let mut events: Vec<Progress> = Vec::new();
    let out = nrp::solve(&inst, &opts(limit), &mut |p| events.push(p))
        .unwrap_or_else(|e| panic!("a feasible instance must get a roster: {e}"));
    let took = started.elapsed().as_secs_f64();
    let report = nrp::check(&inst, &out.roster);
    assert_eq!(report.hard_total(), 0, "{:?}", report.hard);
    assert_eq!(report.cost(), out.objective);
    assert_ne!(out.status, SolveStatus::Infeasible);
    let bound = out.bound.expect("a bound on a large instance");
    assert!(bound <= out.objective as f64 + 1e-6, "bound {bound}");
    assert!(
        events
            .iter()
            .any(|p| p.bound == Some(bound) && p.incumbent.is_some()),
        "the bound is streamed with the incumbent"
    );
    assert!(
        took < limit + 30.0,
        "the solve took {took:.1} s against a limit of {limit} s"
    );
}

/// Medium generated instances (the whole model runs on them) and a wide one: valid
/// rosters, a bound streamed with the incumbent, never above it.
#[test]
fn generated_instances_get_valid_rosters_and_a_bound() {
    for p in [
        GenParams {
            nurses: 33,
            days: 42,
            shifts: 4,
            seed: 1,
        },
        GenParams {
            nurses: 23,
            days: 84,
            shifts: 3,
            seed: 3,
        },
        GenParams {
            nurses: 120,
            days: 28,
            shifts: 18,
            seed: 1,
        },
    ] {
        let inst = generate(&p);
        let mut last = None;
        let out = nrp::solve(&inst, &opts(6.0), &mut |e| last = Some(e))
            .unwrap_or_else(|e| panic!("{}: {e}", inst.name));
        let report = nrp::check(&inst, &out.roster);
        assert_eq!(report.hard_total(), 0, "{}: {:?}", inst.name, report.hard);
        assert_eq!(report.cost(), out.objective, "{}", inst.name);
        if let Some(b) = out.bound {
            assert!(b <= out.objective as f64 + 1e-6, "{}: bound {b}", inst.name);
            assert_eq!(
                last.and_then(|e: Progress| e.bound),
                Some(b),
                "{}",
                inst.name
            );
        }
    }
}

/// The construction alone (no time for anything else) meets every hard rule on the
/// twelve benchmark instances.
#[test]
fn the_first_roster_meets_the_hard_rules_on_instance1_to_12() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/benchmarks/nrp-curtois");
    assert!(
        dir.is_dir(),
        "{} is absent: this test needs the Curtois & Qu instances",
        dir.display()
    );
    for i in 1..=12 {
        let inst = nrp::read_instance(&dir.join(format!("instances/Instance{i}.txt"))).unwrap();
        let out = nrp::solve(&inst, &opts(0.05), &mut |_| {})
            .unwrap_or_else(|e| panic!("Instance{i}: {e}"));
        let report = nrp::check(&inst, &out.roster);
        assert_eq!(report.hard_total(), 0, "Instance{i}: {:?}", report.hard);
    }
}
