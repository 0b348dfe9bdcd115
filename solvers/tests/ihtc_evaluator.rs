//! The evaluator must reproduce the official validator's figures for the 20 published
//! reference solutions: hard violations and total cost from `reference/costs.csv`, and,
//! where a reference file carries the validator's `costs` line, every weighted term.
//! The behaviour tests run on test01 and its reference solution, kept in
//! `tests/fixtures/ihtc`; the test over all 20 needs `../shared/benchmarks/ihtc2024`.

use std::path::{Path, PathBuf};

use careflow_solvers::ihtc::{evaluate, Error, Instance, Solution};

/// The published instances and reference solutions; a test that needs them fails here,
/// saying so, when they are absent.
fn bench_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/benchmarks/ihtc2024");
    assert!(
        dir.is_dir(),
        "{} is absent: this test needs ../shared/benchmarks/ihtc2024 (the IHTC-2024 \
         instances and reference solutions, next to the repository)",
        dir.display()
    );
    dir
}

/// test01 and its reference solution, kept in the repository.
fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ihtc")
        .join(file)
}

/// Parses the validator's line, e.g. `Cost: 3177, Unscheduled: 1200,  Delay: 660, ...`.
fn validator_terms(line: &str) -> Vec<(String, u64)> {
    line.split(',')
        .map(|part| {
            let (k, v) = part.split_once(':').expect("`name: value` pairs");
            (
                k.trim().to_string(),
                v.trim().parse().expect("an integer cost"),
            )
        })
        .collect()
}

/// The evaluator on one reference solution: the validator's hard violations and total,
/// and each term of its `costs` line when the file carries one.
fn check_reference(name: &str, instance: &Path, sol_path: &Path, hard: u64, total: u64) {
    let instance = Instance::from_file(instance).unwrap();
    let solution = Solution::from_file(sol_path).unwrap();
    let eval = evaluate(&instance, &solution).unwrap();
    assert_eq!(
        eval.hard.total(),
        hard,
        "{name}: hard violations {:?}",
        eval.hard
    );
    assert_eq!(
        eval.total_cost, total,
        "{name}: cost breakdown {:?}",
        eval.costs
    );

    // The validator's own per-term line, kept in some reference files.
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sol_path).unwrap()).unwrap();
    if let Some(line) = raw["costs"][0].as_str() {
        for (term, value) in validator_terms(line) {
            let ours = match term.as_str() {
                "Cost" => eval.total_cost,
                "Unscheduled" => eval.costs.unscheduled_optional,
                "Delay" => eval.costs.patient_delay,
                "OpenOT" => eval.costs.open_operating_theater,
                "AgeMix" => eval.costs.room_mixed_age,
                "Skill" => eval.costs.room_nurse_skill,
                "Excess" => eval.costs.nurse_excessive_workload,
                "Continuity" => eval.costs.continuity_of_care,
                "SurgeonTransfer" => eval.costs.surgeon_transfer,
                other => panic!("{name}: unknown validator term {other}"),
            };
            assert_eq!(ours, value, "{name}: term {term}");
        }
    }
}

#[test]
fn the_fixture_reference_solution_costs_what_the_validator_says() {
    // test01's row of reference/costs.csv: no hard violation, total 3177.
    check_reference(
        "test01",
        &fixture("test01.json"),
        &fixture("sol_test01.json"),
        0,
        3177,
    );
}

#[test]
fn reproduces_reference_costs() {
    let dir = bench_dir();
    let csv = std::fs::read_to_string(dir.join("reference/costs.csv")).unwrap();
    let mut checked = 0;
    for line in csv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let (name, hard, total): (&str, u64, u64) =
            (f[0], f[1].parse().unwrap(), f[2].parse().unwrap());
        check_reference(
            name,
            &dir.join(format!("instances/{name}.json")),
            &dir.join(format!("reference/sol_{name}.json")),
            hard,
            total,
        );
        checked += 1;
    }
    assert_eq!(checked, 20);
}

#[test]
fn counts_hard_violations_by_type() {
    let instance = Instance::from_file(fixture("test01.json")).unwrap();
    let mut solution = Solution::from_file(fixture("sol_test01.json")).unwrap();
    // Dropping a mandatory patient is one violation of that type and nothing else.
    let mandatory = instance.patients.iter().find(|p| p.mandatory).unwrap();
    let before = evaluate(&instance, &solution).unwrap();
    solution.patients.retain(|p| p.id != mandatory.id);
    let eval = evaluate(&instance, &solution).unwrap();
    assert_eq!(eval.hard.mandatory_unscheduled, 1);
    assert_eq!(eval.hard.total(), 1);
    assert!(eval.costs.patient_delay <= before.costs.patient_delay);

    // Removing every nurse leaves each occupied room-shift uncovered.
    let mut no_nurses = Solution::from_file(fixture("sol_test01.json")).unwrap();
    for n in &mut no_nurses.nurses {
        n.assignments.clear();
    }
    let eval = evaluate(&instance, &no_nurses).unwrap();
    assert!(eval.hard.uncovered_room > 0);
    assert_eq!(eval.costs.continuity_of_care, 0);
}

#[test]
fn parse_errors_name_file_and_json_path() {
    let text = r#"{"patients": [{"id": "p0", "admission_day": "soon"}], "nurses": []}"#;
    match Solution::from_json(text, "sol.json") {
        Err(Error::Parse {
            file, path, line, ..
        }) => {
            assert_eq!(file, PathBuf::from("sol.json"));
            assert_eq!(path, "patients[0].admission_day");
            assert_eq!(line, 1);
        }
        other => panic!("expected a located parse error, got {other:?}"),
    }
}

#[test]
fn invalid_references_are_located() {
    let path = fixture("test01.json");
    let mut raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    raw["patients"][3]["surgeon_id"] = "nobody".into();
    match Instance::from_json(&raw.to_string(), "x.json") {
        Err(Error::Invalid { path, message, .. }) => {
            assert_eq!(path, "patients[3].surgeon_id");
            assert!(message.contains("nobody"), "{message}");
        }
        other => panic!("expected an invalid-reference error, got {other:?}"),
    }

    let instance = Instance::from_file(&path).unwrap();
    let mut solution = Solution::from_file(fixture("sol_test01.json")).unwrap();
    let i = solution
        .patients
        .iter()
        .position(|p| p.room.is_some())
        .unwrap();
    solution.patients[i].room = Some("r99".into());
    match evaluate(&instance, &solution) {
        Err(Error::Invalid { path, .. }) => assert_eq!(path, format!("patients[{i}].room")),
        other => panic!("expected an invalid-reference error, got {other:?}"),
    }
}

#[test]
fn solution_json_round_trips() {
    let instance = Instance::from_file(fixture("test01.json")).unwrap();
    let solution = Solution::from_file(fixture("sol_test01.json")).unwrap();
    let again = Solution::from_json(&solution.to_json(), "again.json").unwrap();
    assert_eq!(again, solution);
    assert_eq!(
        evaluate(&instance, &again).unwrap(),
        evaluate(&instance, &solution).unwrap()
    );
}
