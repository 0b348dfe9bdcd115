//! `careflow decision replay|explain` run as the binary on a domain database holding a
//! stored bed-plan step and a stored theatre step (recorded as the activities record
//! them: the solver's whole input as the snapshot, HiGHS settings, the result's digest):
//! both replay identically (exit 0), explain prints the cost by term and the binding
//! constraints, a caller without the right role is refused, and a snapshot edited in
//! the database is refused with a clear error.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use careflow_activities::bed_plan::{self, BedSolveResult};
use careflow_activities::theatre_booking::{self, plan_digest};
use careflow_solvers::highs::{SOLVER, SOLVER_VERSION};
use careflow_solvers::solve::SolveOptions;
use careflow_solvers::{bed_allocation, theatre_booking as tb};
use careflow_store::decisions::{self, DecisionResult, NewDecisionStep};
use careflow_store::{audit, users, Db};
use careflow_types::Role;

fn careflow(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_careflow"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("decision")
        .args(args)
        .output()
        .expect("careflow runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn step(
    workflow_id: &str,
    step: &str,
    kind: &str,
    json: String,
    opts: &SolveOptions,
    digest: String,
) -> NewDecisionStep {
    NewDecisionStep {
        workflow_id: workflow_id.into(),
        step: step.into(),
        kind: kind.into(),
        snapshot_json: json,
        models: Vec::new(),
        solver: Some(SOLVER.into()),
        solver_version: Some(SOLVER_VERSION.into()),
        careflow_version: env!("CARGO_PKG_VERSION").into(),
        seed: Some(opts.seed),
        time_limit_s: Some(opts.time_limit.as_secs_f64()),
        threads: Some(opts.threads),
        result_digest: digest,
    }
}

/// Stores a solved bed allocation and a solved theatre week as decision steps.
async fn stored_steps(db: &Db) {
    let opts = SolveOptions {
        time_limit: Duration::from_secs(30),
        threads: 1,
        seed: 0,
        mip_gap: None,
    };
    let beds = bed_allocation::generate(3, 1);
    let plan = bed_allocation::solve(&beds, &opts, &mut |_| {}).expect("bed plan");
    let outcome = BedSolveResult::Plan(plan.clone());
    decisions::record(
        db,
        &step(
            "bedplan-cli",
            bed_plan::SOLVE_STEP,
            bed_plan::SOLVE_SNAPSHOT,
            serde_json::to_string(&beds).unwrap(),
            &opts,
            outcome.digest(),
        ),
    )
    .await
    .expect("bed step");
    decisions::record_result(
        db,
        &DecisionResult {
            workflow_id: "bedplan-cli".into(),
            step: bed_plan::SOLVE_STEP.into(),
            solver_status: "optimal".into(),
            objective: Some(plan.header.objective),
            mip_gap: plan.header.mip_gap,
            result_json: serde_json::to_string(&outcome).unwrap(),
        },
    )
    .await
    .expect("bed result");

    let week = tb::generate(3, 1);
    let plan = tb::solve(&week, &opts, &mut |_| {}).expect("theatre plan");
    decisions::record(
        db,
        &step(
            "theatre-cli",
            "solve/r0",
            theatre_booking::SOLVE_SNAPSHOT,
            serde_json::to_string(&week).unwrap(),
            &opts,
            plan_digest(&plan),
        ),
    )
    .await
    .expect("theatre step");
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_bed_and_theatre_steps_replay_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("careflow.db")))
        .await
        .expect("db");
    users::upsert(&db, "aud.ines", Role::Auditor, "test")
        .await
        .expect("user");
    users::upsert(&db, "bm.lee", Role::BedManager, "test")
        .await
        .expect("user");
    users::upsert(&db, "clerk.ana", Role::AdmissionsClerk, "test")
        .await
        .expect("user");
    stored_steps(&db).await;
    let data = dir.path();

    let beds = careflow(data, &["replay", "bedplan-cli", "--as", "aud.ines"]);
    assert!(beds.status.success(), "{}", text(&beds));
    assert!(
        text(&beds).contains("identical to the recorded result"),
        "{}",
        text(&beds)
    );
    let theatre = careflow(
        data,
        &[
            "replay",
            "theatre-cli",
            "solve/r0",
            "--as",
            "aud.ines",
            "--json",
        ],
    );
    assert!(theatre.status.success(), "{}", text(&theatre));
    let report: serde_json::Value = serde_json::from_slice(&theatre.stdout).expect("json");
    assert_eq!(report["verdict"], "identical");

    // The bed manager reads bed-plan decisions, not theatre ones; a clerk neither.
    let explain = careflow(data, &["explain", "bedplan-cli", "--as", "bm.lee"]);
    assert!(explain.status.success(), "{}", text(&explain));
    let out = text(&explain);
    assert!(
        out.contains("cost by term:") && out.contains("outlier patient-days"),
        "{out}"
    );
    assert!(out.contains("binding constraints:"), "{out}");
    let other = careflow(data, &["replay", "theatre-cli", "--as", "bm.lee"]);
    assert!(!other.status.success());
    assert!(
        text(&other).contains("may not read this decision"),
        "{}",
        text(&other)
    );
    let clerk = careflow(data, &["explain", "bedplan-cli", "--as", "clerk.ana"]);
    assert!(!clerk.status.success());

    // A step that does not exist is named with the steps that do.
    let missing = careflow(
        data,
        &["replay", "bedplan-cli", "solve/r9", "--as", "aud.ines"],
    );
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("recorded steps: solve/bed-plan"),
        "{}",
        text(&missing)
    );

    // Two replays, each audited with who ran it.
    let replays = audit::entries(&db)
        .await
        .expect("trail")
        .into_iter()
        .filter(|e| e.action == "decision.replayed")
        .count();
    assert_eq!(replays, 2);

    // An edited snapshot no longer hashes to its key: refused, saying so.
    let sha = decisions::step(&db, "bedplan-cli", bed_plan::SOLVE_STEP)
        .await
        .expect("read")
        .expect("step")
        .snapshot_sha256;
    sqlx::query("UPDATE decision_snapshots SET json = json || ' ' WHERE sha256 = $1")
        .bind(&sha)
        .execute(db.pool())
        .await
        .expect("tamper");
    let tampered = careflow(data, &["replay", "bedplan-cli", "--as", "aud.ines"]);
    assert!(!tampered.status.success());
    assert!(
        text(&tampered).contains(&format!("decision snapshot {sha} was altered")),
        "{}",
        text(&tampered)
    );
}
