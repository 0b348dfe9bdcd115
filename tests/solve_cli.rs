//! `careflow solve ...` run as the binary: a generated input solves and the plan is
//! written; a malformed input is refused with file, line, column and field, once; an
//! impossible one names the constraints that conflict; an IHTC solution is accepted by
//! the evaluator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use careflow_solvers::ihtc::{evaluate, Instance, Solution};

/// `careflow solve ARGS...`, run to completion.
fn solve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_careflow"))
        .arg("solve")
        .args(args)
        .output()
        .expect("careflow runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn generated_inputs_solve_and_plans_are_written() {
    let dir = tempfile::tempdir().unwrap();
    for model in ["beds", "theatres", "scanners"] {
        let input = dir.path().join(format!("{model}.json"));
        let out = dir.path().join(format!("{model}-plan.json"));
        let gen = solve(&[
            "generate",
            model,
            "--seed",
            "5",
            "--size",
            "1",
            "--out",
            path(&input),
        ]);
        assert!(gen.status.success(), "{model}: {}", stderr(&gen));
        let run = solve(&[
            model,
            path(&input),
            "--time-limit",
            "30",
            "--out",
            path(&out),
        ]);
        assert!(run.status.success(), "{model}: {}", stderr(&run));
        assert!(
            stderr(&run).contains("status "),
            "{model}: {}",
            stderr(&run)
        );
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert!(plan["cost"]["total"].is_number(), "{model}: {plan}");
        assert!(plan["status"].is_string(), "{model}: {plan}");
    }
}

#[test]
fn malformed_input_is_located_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("beds.json");
    std::fs::write(
        &input,
        "{\"horizon_days\": 2, \"wards\": [], \"rooms\": [],\n \"patients\": [{\"id\": \"P1\", \"sex\": \"F\"}]}",
    )
    .unwrap();
    let o = dir.path().join("o.json");
    let out = solve(&["beds", path(&input), "--out", path(&o)]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(msg.contains("beds.json"), "{msg}");
    assert!(msg.contains("line 2, column"), "{msg}");
    assert!(msg.contains("patients[0].sex"), "{msg}");
    assert_eq!(msg.matches("unknown variant").count(), 1, "{msg}");
    assert!(!o.exists());
}

#[test]
fn an_impossible_input_names_the_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("beds.json");
    // Two patients needing isolation, one single room.
    let body = serde_json::json!({
        "horizon_days": 2,
        "wards": [{"id": "W1", "specialties": ["medicine"]}],
        "rooms": [{"id": "W1-S1", "ward": "W1", "beds": 1}],
        "patients": [
            {"id": "P1", "sex": "female", "age": 50, "specialty": "medicine", "admit_day": 0, "discharge_day": 2, "isolation": true},
            {"id": "P2", "sex": "male", "age": 60, "specialty": "medicine", "admit_day": 0, "discharge_day": 2, "isolation": true}
        ]
    });
    std::fs::write(&input, body.to_string()).unwrap();
    let o = dir.path().join("o.json");
    let out = solve(&["beds", path(&input), "--out", path(&o)]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(msg.contains("infeasible"), "{msg}");
    assert!(
        msg.contains("requires isolation but no single room free"),
        "{msg}"
    );
}

#[test]
fn ihtc_writes_a_solution_the_evaluator_accepts() {
    // test01 of IHTC-2024, kept in the solvers crate's fixtures.
    let instance_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("solvers/tests/fixtures/ihtc/test01.json");
    let dir = tempfile::tempdir().unwrap();
    let sol = dir.path().join("sol.json");
    let out = solve(&[
        "ihtc",
        path(&instance_path),
        "--time-limit",
        "1",
        "--out",
        path(&sol),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("total") && table.contains("status: "),
        "{table}"
    );
    let instance = Instance::from_file(&instance_path).unwrap();
    let solution = Solution::from_file(&sol).unwrap();
    assert_eq!(solution.patients.len(), instance.patients.len());
    assert!(evaluate(&instance, &solution).unwrap().is_feasible());
}

/// Two weeks; employee B must work 14 shifts of 480 minutes but at most 5 in a row: no row
/// of B meets B's rules, so no roster exists (the same instance as the solvers crate's
/// `nrp_scale` test).
const NRP_IMPOSSIBLE: &str = "\
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
fn nrp_a_proven_infeasibility_exits_2_and_a_time_limit_without_roster_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("impossible.txt");
    std::fs::write(&input, NRP_IMPOSSIBLE).unwrap();
    let o = dir.path().join("roster.json");

    let proven = solve(&["nrp", path(&input), "--time-limit", "30", "--out", path(&o)]);
    assert_eq!(proven.status.code(), Some(2), "{}", stderr(&proven));
    let msg = stderr(&proven);
    assert!(msg.contains("no roster satisfies the hard rules"), "{msg}");
    assert!(msg.contains("employee B"), "{msg}");
    assert!(!o.exists());

    // No time to prove anything: "not found within the time limit", never "infeasible".
    let short = solve(&[
        "nrp",
        path(&input),
        "--time-limit",
        "0.001",
        "--out",
        path(&o),
    ]);
    assert_eq!(short.status.code(), Some(3), "{}", stderr(&short));
    let msg = stderr(&short);
    assert!(
        msg.contains("no roster found within the time limit"),
        "{msg}"
    );
    assert!(!msg.contains("no roster satisfies"), "{msg}");
    assert!(!o.exists());
}

#[test]
fn nrp_a_large_generated_instance_gets_a_valid_roster_with_progress_streamed() {
    use careflow_solvers::nrp::{self, generate};
    let p = generate::GenParams {
        nurses: 60,
        days: 84,
        shifts: 4,
        seed: 2,
    };
    let inst = generate::generate(&p);
    let dir = tempfile::tempdir().unwrap();
    // Named as the instance, so the roster file's `instance` field matches it.
    let input = dir.path().join(format!("{}.txt", inst.name));
    std::fs::write(&input, generate::instance_text(&inst)).unwrap();
    let o = dir.path().join("roster.json");
    let run = solve(&["nrp", path(&input), "--time-limit", "10", "--out", path(&o)]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(table.contains("hard=0 "), "{table}");
    // Not a terminal: one progress line per change of incumbent or bound.
    let msg = stderr(&run);
    assert!(
        msg.lines().any(|l| l.contains("best ")),
        "no incumbent streamed: {msg}"
    );
    let file = nrp::RosterFile::from_file(&o).unwrap();
    assert!(!file.assignments.is_empty());
    // The written roster, read back, meets every hard rule by the independent checker.
    let report = nrp::check_file(&inst, &file);
    assert_eq!(report.hard_total(), 0, "{:?}", report.hard);
}

#[test]
fn nrp_threads_must_be_at_least_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("any.txt");
    std::fs::write(&input, "SECTION_HORIZON\n7\n").unwrap();
    let run = solve(&["nrp", path(&input), "--threads", "0"]);
    // A usage error, not 2 (proven infeasible).
    assert_eq!(run.status.code(), Some(64), "{}", stderr(&run));
    let msg = stderr(&run);
    assert!(msg.contains("--threads"), "{msg}");
}
