//! `careflow solve beds|theatres|scanners|generate`: a generated input solves and the
//! plan is written; a malformed input is refused with file, line, column and field,
//! once; an impossible one names the constraints that conflict.

use careflow_solvers::cli::{run, ModelArgs, ModelKind, SolveCommand};

fn args(input: std::path::PathBuf, out: std::path::PathBuf) -> ModelArgs {
    ModelArgs {
        input,
        time_limit: 30.0,
        out: Some(out),
        seed: 0,
    }
}

#[test]
fn generated_inputs_solve_and_plans_are_written() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, size) in [
        (ModelKind::Beds, 1),
        (ModelKind::Theatres, 1),
        (ModelKind::Scanners, 1),
    ] {
        let input = dir.path().join(format!("{kind:?}.json"));
        let out = dir.path().join(format!("{kind:?}-plan.json"));
        run(SolveCommand::Generate {
            model: kind,
            seed: 5,
            size,
            out: Some(input.clone()),
        })
        .unwrap();
        let a = args(input, out.clone());
        match kind {
            ModelKind::Beds => run(SolveCommand::Beds(a)),
            ModelKind::Theatres => run(SolveCommand::Theatres(a)),
            ModelKind::Scanners => run(SolveCommand::Scanners(a)),
        }
        .unwrap_or_else(|e| panic!("{kind:?}: {e:#}"));
        let plan: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert!(plan["cost"]["total"].is_number(), "{kind:?}: {plan}");
        assert!(plan["status"].is_string(), "{kind:?}: {plan}");
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
    let err = run(SolveCommand::Beds(args(
        input.clone(),
        dir.path().join("o.json"),
    )))
    .expect_err("malformed");
    let msg = format!("{err:#}");
    assert!(msg.contains("beds.json"), "{msg}");
    assert!(msg.contains("line 2, column"), "{msg}");
    assert!(msg.contains("patients[0].sex"), "{msg}");
    assert_eq!(msg.matches("unknown variant").count(), 1, "{msg}");
    assert!(!dir.path().join("o.json").exists());
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
    let err =
        run(SolveCommand::Beds(args(input, dir.path().join("o.json")))).expect_err("infeasible");
    let msg = format!("{err:#}");
    assert!(msg.contains("infeasible"), "{msg}");
    assert!(
        msg.contains("requires isolation but no single room free"),
        "{msg}"
    );
}
