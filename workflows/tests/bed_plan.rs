//! The bed-plan workflow against the official Temporal test server, a real SQLite
//! domain database, the committed ONNX model run by ONNX Runtime and HiGHS: the plan
//! uses the production model (checked by hash) and records which one, places every
//! inpatient, is published only after a bed manager approves, supersedes the plan in
//! force, and fails with the reason when no usable model is in production.

use std::time::Duration;

use sqlx::Row;
use temporalio_client::{
    Client, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowQueryOptions,
    WorkflowStartOptions,
};

use careflow_store::hospital::{seed_layout, WardSpec};
use careflow_store::{audit, Db};
use careflow_types::{
    AdmissionInput, AdmissionKind, AdmissionRequest, AdmissionStage, AgeGroup, BedPlanInput,
    BedPlanOutcome, BedPlanRequest, BedPlanStage, Decision, Role, Sex, TASK_QUEUE,
};
use careflow_workflows::{AdmissionWorkflow, BedPlanWorkflow};

mod common;
use common::{maybe_record, models_dir, signed, start_server, with_worker, with_workers};

fn ward(id: &str, specialty: &str, bays: (u32, u32), side_rooms: u32) -> WardSpec {
    WardSpec {
        ward_id: id.into(),
        name: id.into(),
        specialty: specialty.into(),
        paediatric: false,
        bays,
        side_rooms,
    }
}

/// Two small wards with `inpatients` (sex, specialty, bed) already in beds, on SQLite.
async fn hospital(inpatients: &[(&str, &str, &str)]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("careflow.db")))
        .await
        .expect("db");
    seed(&db, inpatients).await;
    (dir, db)
}

/// The same on the PostgreSQL server at 127.0.0.1:5432 (database `test`; override
/// with CAREFLOW_TEST_PG), in a schema of its own.
async fn hospital_on_postgres(inpatients: &[(&str, &str, &str)]) -> Db {
    let db = careflow_testkit::db::postgres().await;
    seed(&db, inpatients).await;
    db
}

async fn seed(db: &Db, inpatients: &[(&str, &str, &str)]) {
    seed_layout(
        db,
        &[
            ward("CARD", "cardiology", (2, 4), 2),
            ward("GMED", "general_medicine", (2, 4), 2),
        ],
    )
    .await
    .expect("seed");
    let now = careflow_store::db::now();
    for (i, (sex, specialty, bed)) in inpatients.iter().enumerate() {
        let id = format!("adm-{i}");
        let key = format!("PK-{i}");
        for (sql, binds) in [
            (
                "INSERT INTO patients (patient_key, patient_ref, sex, age_group, created_at) VALUES ($1,NULL,$2,'adult',$3)",
                vec![key.clone(), sex.to_string(), now.clone()],
            ),
            (
                "INSERT INTO admissions (admission_id, workflow_id, patient_key, kind, sex, age_group, specialty, \
                 isolation, expected_los_days, requested_by, status, created_at, updated_at) \
                 VALUES ($1,$2,$3,'emergency',$4,'adult',$5,0,4,'clerk.ana','admitted',$6,$6)",
                vec![id.clone(), format!("wf-{id}"), key.clone(), sex.to_string(), specialty.to_string(), now.clone()],
            ),
            (
                "INSERT INTO bed_assignments (assignment_id, admission_id, bed_id, sex, isolation, assigned_at) \
                 VALUES ($1,$2,$3,$4,0,$5)",
                vec![format!("as-{i}"), id.clone(), bed.to_string(), sex.to_string(), now.clone()],
            ),
        ] {
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(b);
            }
            q.execute(db.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}

async fn promote_committed_model(db: &Db) -> String {
    // The calendar-only version: the bed plan passes no arrivals history (1.2.0 needs it).
    common::promote_committed_model(
        db,
        &models_dir().join("ed-arrivals/1.1.0"),
        "validated on the rolling-origin backtest",
    )
    .await
}

fn plan(plan_id: &str) -> BedPlanInput {
    BedPlanInput {
        plan_id: plan_id.into(),
        request: BedPlanRequest {
            plan_date: "2026-11-30".into(),
            horizon_days: 3,
            solve_seconds: 10,
            // Separation of duties: another bed manager (bm.lee) approves.
            requested_by: "bm.kim".into(),
        },
    }
}

async fn start(client: &Client, plan_id: &str) {
    client
        .start_workflow(
            BedPlanWorkflow::run,
            plan(plan_id),
            WorkflowStartOptions::new(TASK_QUEUE, plan_id.to_owned()).build(),
        )
        .await
        .expect("start bed plan");
}

async fn open_task(db: &Db, workflow_id: &str) -> String {
    for _ in 0..1200 {
        let row = sqlx::query(
            "SELECT task_id, kind, role FROM tasks WHERE workflow_id = $1 AND status = 'open'",
        )
        .bind(workflow_id)
        .fetch_optional(db.pool())
        .await
        .expect("query");
        if let Some(row) = row {
            assert_eq!(row.get::<String, _>("kind"), "bed_plan");
            assert_eq!(row.get::<String, _>("role"), "bed_manager");
            return row.get("task_id");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no open bed_plan task appeared for {workflow_id}");
}

async fn decide(
    client: &Client,
    db: &Db,
    plan_id: &str,
    task_id: &str,
    approve: bool,
) -> BedPlanOutcome {
    let handle = client.get_workflow_handle::<BedPlanWorkflow>(plan_id.to_owned());
    let decision = Decision {
        task_id: task_id.into(),
        approve,
        actor: "bm.lee".into(),
        role: Role::BedManager,
        reason: "reserve matches the winter pressure plan".into(),
        bed_id: None,
        signature_id: None,
    };
    handle
        .execute_update(
            BedPlanWorkflow::decide,
            signed(db, decision).await,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .expect("decision accepted");
    handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("plan result")
}

async fn plan_status(db: &Db, plan_id: &str) -> String {
    sqlx::query("SELECT status FROM bed_plans WHERE plan_id = $1")
        .bind(plan_id)
        .fetch_one(db.pool())
        .await
        .expect("plan row")
        .get("status")
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_records_the_production_model_and_is_published_only_after_approval() {
    let (_server, client) = start_server().await;
    let inpatients = [
        ("female", "cardiology", "CARD-BAY1-B1"),
        ("female", "cardiology", "CARD-BAY1-B2"),
        ("male", "general_medicine", "GMED-BAY1-B1"),
        ("male", "cardiology", "GMED-BAY2-B1"),
    ];
    let (_dir, db) = hospital(&inpatients).await;
    let sha = promote_committed_model(&db).await;

    with_worker(&client, &db, async {
        start(&client, "bedplan-a").await;
        let task = open_task(&db, "bedplan-a").await;
        assert_eq!(plan_status(&db, "bedplan-a").await, "proposed");

        // The proposal names the model that forecast the demand, by hash.
        let status = client
            .get_workflow_handle::<BedPlanWorkflow>("bedplan-a".to_owned())
            .query(BedPlanWorkflow::status, (), WorkflowQueryOptions::default())
            .await
            .expect("status");
        assert_eq!(status.stage, BedPlanStage::AwaitingApproval);
        let proposal = status.proposal.expect("proposal");
        assert_eq!(proposal.demand.provenance.model_name, "ed-arrivals");
        assert_eq!(proposal.demand.provenance.model_sha256, sha);
        assert_eq!(proposal.demand.provenance.horizon_hours, 72);
        assert_eq!(proposal.patients as usize, inpatients.len());
        assert_eq!(proposal.demand.ed_arrivals_per_day.len(), 3);
        assert!(proposal.demand.ed_arrivals_per_day.iter().all(|a| *a > 10.0));
        assert!(proposal.demand.wards.iter().all(|w| w.p90 >= w.p50));
        let run: (String, String) = {
            let row = sqlx::query(
                "SELECT model_sha256, execution_provider FROM forecast_runs WHERE workflow_id = 'bedplan-a'",
            )
            .fetch_one(db.pool())
            .await
            .expect("forecast run recorded");
            (row.get("model_sha256"), row.get("execution_provider"))
        };
        assert_eq!(run.0, sha);
        assert_eq!(run.1, proposal.demand.provenance.execution_provider);

        let outcome = decide(&client, &db, "bedplan-a", &task, true).await;
        assert_eq!(outcome.stage, BedPlanStage::Published);
        assert_eq!(outcome.decided_by.as_deref(), Some("bm.lee"));
        assert_eq!(plan_status(&db, "bedplan-a").await, "published");
        // Publishing ordered the plan's moves for the wards.
        let ordered = careflow_store::bed_plans::moves(&db, Some("bedplan-a"))
            .await
            .expect("moves");
        let ordered: Vec<(&str, &str)> = ordered
            .iter()
            .map(|m| (m.admission_id.as_str(), m.to_room.as_str()))
            .collect();
        let planned: Vec<(&str, &str)> = proposal
            .moves
            .iter()
            .map(|m| (m.admission_id.as_str(), m.to_room.as_str()))
            .collect();
        assert_eq!(ordered, planned);
        maybe_record(&client, "bedplan-a", "bed_plan_published_compute_queue").await;

        // A second approved plan supersedes the first; a rejected one changes nothing.
        start(&client, "bedplan-b").await;
        let task_b = open_task(&db, "bedplan-b").await;
        assert_eq!(decide(&client, &db, "bedplan-b", &task_b, true).await.stage, BedPlanStage::Published);
        assert_eq!(plan_status(&db, "bedplan-a").await, "superseded");
        start(&client, "bedplan-c").await;
        let task_c = open_task(&db, "bedplan-c").await;
        assert_eq!(decide(&client, &db, "bedplan-c", &task_c, false).await.stage, BedPlanStage::Rejected);
        assert_eq!(plan_status(&db, "bedplan-b").await, "published");
        assert_eq!(plan_status(&db, "bedplan-c").await, "rejected");
        maybe_record(&client, "bedplan-c", "bed_plan_rejected_compute_queue").await;
    })
    .await;

    // The trail says which model fed the plan and who approved it, and is intact.
    let entries = audit::entries(&db).await.expect("export");
    let used = entries
        .iter()
        .find(|e| e.action == "forecast.used" && e.workflow_id.as_deref() == Some("bedplan-a"))
        .expect("forecast.used entry");
    assert!(used.reason.as_deref().unwrap_or_default().contains(&sha));
    let approval = entries
        .iter()
        .find(|e| e.action == "task.approved" && e.workflow_id.as_deref() == Some("bedplan-a"))
        .expect("approval entry");
    assert_eq!(approval.actor, "bm.lee");
    assert_eq!(
        approval.meaning.as_deref(),
        Some("approved bed plan for publication")
    );
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_usable_production_model_the_plan_fails_with_the_reason() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[("female", "cardiology", "CARD-BAY1-B1")]).await;
    with_worker(&client, &db, async {
        start(&client, "bedplan-none").await;
        let err = client
            .get_workflow_handle::<BedPlanWorkflow>("bedplan-none".to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("no production model");
        assert!(
            format!("{err:?}").contains("no production model named \\\"ed-arrivals\\\""),
            "{err:?}"
        );

        // A production entry whose recorded hash is not the file's is refused too.
        promote_committed_model(&db).await;
        sqlx::query("UPDATE model_registry SET sha256 = $1 WHERE name = 'ed-arrivals'")
            .bind("0".repeat(64))
            .execute(db.pool())
            .await
            .expect("tamper");
        start(&client, "bedplan-tampered").await;
        let err = client
            .get_workflow_handle::<BedPlanWorkflow>("bedplan-tampered".to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("hash mismatch");
        assert!(
            format!("{err:?}").contains("but the registry records"),
            "{err:?}"
        );
    })
    .await;
    let plans: i64 = sqlx::query("SELECT COUNT(*) AS n FROM bed_plans")
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n");
    assert_eq!(plans, 0, "no plan is stored without a trusted forecast");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecided_plan_escalates_to_the_site_manager() {
    use temporalio_common::protos::temporal::api::testservice::v1::SleepRequest;
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[("male", "cardiology", "CARD-BAY1-B1")]).await;
    promote_committed_model(&db).await;
    with_worker(&client, &db, async {
        start(&client, "bedplan-late").await;
        let task = open_task(&db, "bedplan-late").await;
        // Nobody answers for two hours and a minute of (skipped) server time.
        let past_deadline = SleepRequest {
            duration: Some(prost_wkt_types::Duration {
                seconds: 2 * 3600 + 60,
                nanos: 0,
            }),
        };
        client
            .connection()
            .test_service()
            .unlock_time_skipping_with_sleep(temporalio_client::tonic::Request::new(past_deadline))
            .await
            .expect("skip time");
        let mut role = String::new();
        for _ in 0..600 {
            role = sqlx::query("SELECT role FROM tasks WHERE task_id = $1")
                .bind(&task)
                .fetch_one(db.pool())
                .await
                .expect("task")
                .get("role");
            if role == "site_manager" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(role, "site_manager");
        let handle = client.get_workflow_handle::<BedPlanWorkflow>("bedplan-late".to_owned());
        handle
            .execute_update(
                BedPlanWorkflow::decide,
                signed(
                    &db,
                    Decision {
                        task_id: task.clone(),
                        approve: true,
                        actor: "site.sam".into(),
                        role: Role::SiteManager,
                        reason: "approved out of hours by the site manager".into(),
                        bed_id: None,
                        signature_id: None,
                    },
                )
                .await,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("decision");
        let outcome = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("result");
        assert_eq!(outcome.stage, BedPlanStage::Published);
        assert_eq!(outcome.decided_by.as_deref(), Some("site.sam"));
    })
    .await;
    let actions: Vec<String> = audit::entries_for_workflow(&db, "bedplan-late")
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"task.escalated".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"bed_plan.published".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_on_postgresql() {
    let (_server, client) = start_server().await;
    let db = hospital_on_postgres(&[
        ("female", "cardiology", "CARD-BAY1-B1"),
        ("male", "cardiology", "GMED-BAY1-B1"),
    ])
    .await;
    let sha = promote_committed_model(&db).await;
    with_worker(&client, &db, async {
        start(&client, "bedplan-pg").await;
        let task = open_task(&db, "bedplan-pg").await;
        let outcome = decide(&client, &db, "bedplan-pg", &task, true).await;
        assert_eq!(outcome.stage, BedPlanStage::Published);
        assert_eq!(outcome.proposal.patients, 2);
        assert_eq!(outcome.proposal.demand.provenance.model_sha256, sha);
    })
    .await;
    assert_eq!(plan_status(&db, "bedplan-pg").await, "published");
    let runs: i64 = sqlx::query("SELECT COUNT(*) AS n FROM forecast_runs WHERE model_sha256 = $1")
        .bind(&sha)
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n");
    assert_eq!(runs, 1);
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_bed_plan_replays_and_explains_and_a_tampered_snapshot_is_refused() {
    use careflow_activities::decisions::Decisions;
    use careflow_store::decisions;
    use careflow_types::ReplayVerdict;

    let (_server, client) = start_server().await;
    // A male cardiology patient on the general-medicine ward: the plan moves him back.
    let inpatients = [
        ("female", "cardiology", "CARD-BAY1-B1"),
        ("male", "general_medicine", "GMED-BAY1-B1"),
        ("male", "cardiology", "GMED-BAY2-B1"),
    ];
    let (_dir, db) = hospital(&inpatients).await;
    let sha = promote_committed_model(&db).await;
    with_worker(&client, &db, async {
        start(&client, "bedplan-replay").await;
        open_task(&db, "bedplan-replay").await;
    })
    .await;

    // Both steps stored their whole input with the model, solver and settings.
    let steps = decisions::steps(&db, "bedplan-replay")
        .await
        .expect("steps");
    let names: Vec<&str> = steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(names, ["forecast/emergency-demand", "solve/bed-plan"]);
    assert!(steps.iter().all(|s| s.models[0].sha256 == sha));
    let solve = &steps[1];
    assert_eq!(
        (
            solve.solver.as_deref(),
            solve.seed,
            solve.time_limit_s,
            solve.threads
        ),
        (Some("HiGHS"), Some(0), Some(10.0), Some(1))
    );

    let service = Decisions::new(db.clone(), models_dir());
    let report = service
        .replay("aud.ines", Role::Auditor, "bedplan-replay", None)
        .await
        .expect("replay");
    assert_eq!(report.step, "solve/bed-plan");
    assert_eq!(
        report.verdict,
        ReplayVerdict::Identical,
        "{}",
        report.summary
    );
    assert_eq!(report.replayed_digest, solve.result_digest);
    let forecast = service
        .replay(
            "bm.kim",
            Role::BedManager,
            "bedplan-replay",
            Some("forecast/emergency-demand"),
        )
        .await
        .expect("forecast replay");
    assert_eq!(
        forecast.verdict,
        ReplayVerdict::Identical,
        "{}",
        forecast.summary
    );

    let why = service
        .explain("aud.ines", Role::Auditor, "bedplan-replay", None)
        .await
        .expect("explain");
    assert_eq!(why.cost_terms.len(), 4);
    let total: f64 = why.cost_terms.iter().map(|t| t.cost).sum();
    assert!((total - why.objective.expect("objective")).abs() < 1e-6);
    // The cardiology patient on the general-medicine ward stays there (a move costs
    // more than three outlier days): the outlier term counts his days, and every move
    // the proposal asked for is explained.
    let proposal = careflow_store::bed_plans::stored_proposal(&db, "bedplan-replay")
        .await
        .expect("read")
        .expect("proposal");
    let outliers = &why.cost_terms[0];
    assert!(outliers.term.starts_with("outlier patient-days"));
    assert_eq!(outliers.amount, f64::from(proposal.outlier_days));
    assert!(proposal.outlier_days > 0);
    let moved: Vec<&str> = why
        .changes
        .iter()
        .filter(|c| c.change == "moved")
        .map(|c| c.subject.as_str())
        .collect();
    let planned: Vec<&str> = proposal
        .moves
        .iter()
        .map(|m| m.admission_id.as_str())
        .collect();
    assert_eq!(moved, planned);
    eprintln!("bed plan explained: {why:?}");

    // Only auditors, admins and bed managers read bed-plan decisions.
    let refused = service
        .explain("clerk.ana", Role::AdmissionsClerk, "bedplan-replay", None)
        .await
        .expect_err("a clerk may not read it");
    assert!(
        matches!(refused, careflow_store::Error::Forbidden(_)),
        "{refused}"
    );

    // Each replay is audited with who ran it and the verdict.
    let entries = audit::entries(&db).await.expect("trail");
    let replays: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "decision.replayed")
        .collect();
    assert_eq!(replays.len(), 2);
    assert_eq!(replays[0].actor, "aud.ines");
    assert!(replays[0]
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("identical"));

    // A snapshot edited in the database no longer matches its key and is refused.
    sqlx::query("UPDATE decision_snapshots SET json = json || ' ' WHERE sha256 = $1")
        .bind(&solve.snapshot_sha256)
        .execute(db.pool())
        .await
        .expect("tamper");
    let err = service
        .replay("aud.ines", Role::Auditor, "bedplan-replay", None)
        .await
        .expect_err("tampered snapshot refused");
    assert!(
        matches!(&err, careflow_store::Error::Corrupt(m) if m.contains("altered")),
        "{err}"
    );
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}

async fn stage(client: &Client, plan_id: &str) -> BedPlanStage {
    client
        .get_workflow_handle::<BedPlanWorkflow>(plan_id.to_owned())
        .query(BedPlanWorkflow::status, (), WorkflowQueryOptions::default())
        .await
        .expect("status")
        .stage
}

/// Solver and forecaster steps run on a task queue of their own: while nothing serves
/// that queue (as when every compute slot is busy with a solve), a bed plan waits in
/// its forecast and an admission still goes from request to bed; once the compute
/// worker polls, the plan carries on to its proposal.
#[tokio::test]
async fn an_admission_does_not_wait_behind_the_compute_queue() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[]).await;
    promote_committed_model(&db).await;
    let (compute_go, compute_gate) = tokio::sync::oneshot::channel::<()>();
    let gate = async {
        let _ = compute_gate.await;
    };
    with_workers(&client, &db, gate, async {
        start(&client, "bedplan-q").await;
        let admission = AdmissionInput {
            admission_id: "q-1".into(),
            request: AdmissionRequest {
                patient_ref: "MRN-Q-1".into(),
                kind: AdmissionKind::Emergency,
                sex: Sex::Female,
                age_group: AgeGroup::Adult,
                specialty: "cardiology".into(),
                isolation: false,
                expected_los_days: 3,
                requested_by: "clerk.ana".into(),
            },
            contested_bed: None,
        };
        let outcome = client
            .start_workflow(
                AdmissionWorkflow::run,
                admission,
                WorkflowStartOptions::new(TASK_QUEUE, "admission-q-1".to_owned()).build(),
            )
            .await
            .expect("start admission")
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("admission result");
        assert_eq!(outcome.stage, AdmissionStage::Admitted, "{outcome:?}");
        assert_eq!(
            stage(&client, "bedplan-q").await,
            BedPlanStage::Forecasting,
            "the plan waits for the compute queue"
        );
        compute_go.send(()).expect("gate");
        open_task(&db, "bedplan-q").await;
        assert_eq!(
            stage(&client, "bedplan-q").await,
            BedPlanStage::AwaitingApproval
        );
    })
    .await;
}
