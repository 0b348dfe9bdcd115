//! The admission workflow against the official Temporal test server (time skipping)
//! with a real SQLite domain database: every path a patient can take, the human
//! approval exactly once, escalation at the deadline, cancellation, and replay of
//! saved histories (the determinism guard).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Row;
use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions,
    WorkflowHistory, WorkflowStartOptions,
};
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

use temporalio_common::protos::temporal::api::testservice::v1::SleepRequest;

use careflow_store::hospital::{seed_layout, WardSpec};
use careflow_store::{audit, Db};
use careflow_types::{
    AdmissionInput, AdmissionKind, AdmissionOutcome, AdmissionRequest, AdmissionStage, AgeGroup,
    Decision, Role, Sex, COMPUTE_TASK_QUEUE, TASK_QUEUE,
};
use careflow_workflows::AdmissionWorkflow;

mod common;
use common::{actions, maybe_record, signed, start_server, with_worker};

fn ward(
    id: &str,
    specialty: &str,
    paediatric: bool,
    bays: (u32, u32),
    side_rooms: u32,
) -> WardSpec {
    WardSpec {
        ward_id: id.into(),
        name: id.into(),
        specialty: specialty.into(),
        paediatric,
        bays,
        side_rooms,
    }
}

async fn hospital(wards: &[WardSpec]) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("careflow.db")))
        .await
        .expect("db");
    seed_layout(&db, wards).await.expect("seed");
    (dir, db)
}

fn request(specialty: &str, age_group: AgeGroup, kind: AdmissionKind) -> AdmissionInput {
    let id = uuid_like();
    AdmissionInput {
        admission_id: id,
        request: AdmissionRequest {
            patient_ref: format!("MRN-{}", uuid_like()),
            kind,
            sex: Sex::Female,
            age_group,
            specialty: specialty.into(),
            isolation: false,
            expected_los_days: 3,
            requested_by: "clerk.ana".into(),
        },
        contested_bed: None,
    }
}

fn uuid_like() -> String {
    format!("{:x}", rand_u64())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.finish()
}

/// One value from the domain database: `sql` selects a single column `v` with one `$1`.
async fn value<T>(db: &Db, sql: &str, bind: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    sqlx::query(sql)
        .bind(bind.to_owned())
        .fetch_one(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get("v")
}

async fn wait_for_task(db: &Db, workflow_id: &str, role: Role) -> String {
    for _ in 0..600 {
        let row = sqlx::query(
            "SELECT task_id FROM tasks WHERE workflow_id = $1 AND role = $2 AND status = 'open'",
        )
        .bind(workflow_id)
        .bind(role.as_str())
        .fetch_optional(db.pool())
        .await
        .expect("query");
        if let Some(row) = row {
            return row.get::<String, _>("task_id");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no open {role} task appeared for {workflow_id}");
}

async fn start(client: &Client, input: AdmissionInput) -> String {
    let workflow_id = format!("admission-{}", input.admission_id);
    client
        .start_workflow(
            AdmissionWorkflow::run,
            input,
            WorkflowStartOptions::new(TASK_QUEUE, workflow_id.clone()).build(),
        )
        .await
        .expect("start");
    workflow_id
}

async fn result(client: &Client, workflow_id: &str) -> AdmissionOutcome {
    client
        .get_workflow_handle::<AdmissionWorkflow>(workflow_id.to_owned())
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("workflow result")
}

fn decision(task_id: &str, approve: bool, actor: &str, role: Role) -> Decision {
    Decision {
        task_id: task_id.into(),
        approve,
        actor: actor.into(),
        role,
        reason: "capacity meeting agreed".into(),
        bed_id: None,
        signature_id: None,
    }
}

#[tokio::test]
async fn matching_bed_is_assigned_without_a_person() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[ward("CARD", "cardiology", false, (1, 2), 1)]).await;
    with_worker(&client, &db, async {
        let wf = start(
            &client,
            request("cardiology", AgeGroup::Adult, AdmissionKind::Emergency),
        )
        .await;
        let outcome = result(&client, &wf).await;
        assert_eq!(outcome.stage, AdmissionStage::Admitted);
        let bed = outcome.bed_id.expect("bed");
        assert!(
            bed.starts_with("CARD-BAY1"),
            "a bay bed is preferred over the side room: {bed}"
        );
        let active: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM bed_assignments WHERE bed_id = $1 AND released_at IS NULL",
        )
        .bind(&bed)
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n");
        assert_eq!(active, 1);
        assert_eq!(
            actions(&db, &wf).await,
            [
                "admission.requested",
                "admission.bed_search",
                "admission.bed_assigned"
            ]
        );
        assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
        maybe_record(&client, &wf, "admitted_directly_local_steps").await;
    })
    .await;
}

#[tokio::test]
async fn outlier_bed_needs_approval_and_a_second_decision_is_refused() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[ward("GMED", "general_medicine", false, (1, 4), 0)]).await;
    with_worker(&client, &db, async {
        let wf = start(
            &client,
            request("cardiology", AgeGroup::Adult, AdmissionKind::Elective),
        )
        .await;
        let task = wait_for_task(&db, &wf, Role::BedManager).await;
        let handle = client.get_workflow_handle::<AdmissionWorkflow>(wf.clone());
        let wrong = handle
            .execute_update(
                AdmissionWorkflow::decide,
                decision("not-this-task", true, "beds.ben", Role::BedManager),
                WorkflowExecuteUpdateOptions::default(),
            )
            .await;
        assert!(
            wrong.is_err(),
            "a decision for another task must be refused"
        );
        let answer = handle
            .execute_update(
                AdmissionWorkflow::decide,
                signed(&db, decision(&task, true, "beds.ben", Role::BedManager)).await,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("first decision accepted");
        assert!(answer.contains("approved"));
        let outcome = result(&client, &wf).await;
        assert_eq!(outcome.stage, AdmissionStage::Admitted);
        assert!(outcome.bed_id.expect("bed").starts_with("GMED"));
        // The workflow has finished; a second decision cannot reach it.
        let second = handle
            .execute_update(
                AdmissionWorkflow::decide,
                decision(&task, false, "beds.bea", Role::BedManager),
                WorkflowExecuteUpdateOptions::default(),
            )
            .await;
        assert!(second.is_err(), "second decision must be refused");
        let entries = audit::entries_for_workflow(&db, &wf).await.expect("audit");
        let approval: Vec<_> = entries
            .iter()
            .filter(|e| e.action == "task.approved")
            .collect();
        assert_eq!(approval.len(), 1, "exactly one decision recorded");
        assert_eq!(approval[0].actor, "beds.ben");
        assert_eq!(approval[0].role, "bed_manager");
        assert_eq!(
            approval[0].meaning.as_deref(),
            Some("approved outlier bed assignment")
        );
        assert_eq!(
            approval[0].reason.as_deref(),
            Some("capacity meeting agreed")
        );
        let status: String = value(
            &db,
            "SELECT status AS v FROM tasks WHERE task_id = $1",
            &task,
        )
        .await;
        assert_eq!(status, "approved");
        maybe_record(&client, &wf, "outlier_approved_local_steps").await;
    })
    .await;
}

#[tokio::test]
async fn a_forged_decision_sent_past_the_api_is_refused_and_audited() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[ward("GMED", "general_medicine", false, (1, 4), 0)]).await;
    with_worker(&client, &db, async {
        let wf = start(
            &client,
            request("cardiology", AgeGroup::Adult, AdmissionKind::Elective),
        )
        .await;
        let task = wait_for_task(&db, &wf, Role::BedManager).await;
        let handle = client.get_workflow_handle::<AdmissionWorkflow>(wf.clone());
        let send = |d: Decision| {
            let handle = &handle;
            async move {
                handle
                    .execute_update(
                        AdmissionWorkflow::decide,
                        d,
                        WorkflowExecuteUpdateOptions::default(),
                    )
                    .await
            }
        };
        // The clerk who asked for the admission cannot approve it, whatever role the
        // update claims: the workflow's validator refuses it.
        let own = send(decision(&task, true, "clerk.ana", Role::BedManager)).await;
        assert!(
            format!("{:?}", own.unwrap_err()).contains("asked for"),
            "separation of duties"
        );
        // The wrong queue is refused too.
        assert!(send(decision(&task, true, "site.sam", Role::SiteManager))
            .await
            .is_err());
        // Someone careflow does not know, claiming the bed manager's role, passes the
        // validator (it cannot see users) but the recording activity refuses it against
        // the store: nothing is approved and the refusal is audited.
        send(decision(&task, true, "mallory", Role::BedManager))
            .await
            .expect("the validator lets it through to the recording step");
        for _ in 0..200 {
            if actions(&db, &wf)
                .await
                .contains(&"task.decision_refused".to_owned())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let refusal = audit::entries_for_workflow(&db, &wf)
            .await
            .expect("audit")
            .into_iter()
            .find(|e| e.action == "task.decision_refused")
            .expect("the forged decision's refusal is audited");
        assert!(
            refusal
                .reason
                .as_deref()
                .unwrap()
                .contains("mallory is not a careflow user"),
            "{refusal:?}"
        );
        let status: String = value(
            &db,
            "SELECT status AS v FROM tasks WHERE task_id = $1",
            &task,
        )
        .await;
        assert_eq!(status, "open", "the task waits for a real decision");

        // The bed manager's real decision then goes through.
        send(signed(&db, decision(&task, true, "beds.ben", Role::BedManager)).await)
            .await
            .expect("a valid decision after the refusal");
        let outcome = result(&client, &wf).await;
        assert_eq!(outcome.stage, AdmissionStage::Admitted);
        let approved: Vec<_> = audit::entries_for_workflow(&db, &wf)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.action == "task.approved")
            .map(|e| e.actor)
            .collect();
        assert_eq!(approved, ["beds.ben"]);
        maybe_record(&client, &wf, "forged_decision_refused_local_steps").await;
    })
    .await;
}

/// Waits until the workflow's audit trail holds `n` refusals; returns their reasons.
async fn refusals(db: &Db, workflow_id: &str, n: usize) -> Vec<String> {
    for _ in 0..300 {
        let found: Vec<String> = audit::entries_for_workflow(db, workflow_id)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.action == "task.decision_refused")
            .map(|e| e.reason.unwrap_or_default())
            .collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{n} refusals not audited for {workflow_id}");
}

#[tokio::test]
async fn an_unsigned_or_misused_signature_sent_past_the_api_is_refused_and_audited() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[ward("GMED", "general_medicine", false, (1, 4), 0)]).await;
    with_worker(&client, &db, async {
        let wf = start(
            &client,
            request("cardiology", AgeGroup::Adult, AdmissionKind::Elective),
        )
        .await;
        let task = wait_for_task(&db, &wf, Role::BedManager).await;
        let handle = client.get_workflow_handle::<AdmissionWorkflow>(wf.clone());
        let send = |d: Decision| {
            let handle = &handle;
            async move {
                handle
                    .execute_update(
                        AdmissionWorkflow::decide,
                        d,
                        WorkflowExecuteUpdateOptions::default(),
                    )
                    .await
                    .expect("the validator cannot see signatures: the store judges them")
            }
        };
        // Someone with access to Temporal but not to the bed manager's password sends
        // the bed manager's decision unsigned, then with a colleague's signature, then
        // with the bed manager's signature of a rejection turned into an approval.
        // Each is refused by the recording step before the next can be taken.
        send(decision(&task, true, "beds.ben", Role::BedManager)).await;
        refusals(&db, &wf, 1).await;
        let bea = signed(&db, decision(&task, true, "beds.bea", Role::BedManager)).await;
        send(Decision {
            actor: "beds.ben".into(),
            ..bea
        })
        .await;
        refusals(&db, &wf, 2).await;
        let rejection = signed(&db, decision(&task, false, "beds.ben", Role::BedManager)).await;
        send(Decision {
            approve: true,
            ..rejection
        })
        .await;
        let reasons = refusals(&db, &wf, 3).await;
        assert!(reasons[0].contains("not signed"), "{reasons:?}");
        assert!(
            reasons[1].contains("made by beds.bea, not by beds.ben"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].contains("means rejected, but the decision is approved"),
            "{reasons:?}"
        );
        let status: String = value(
            &db,
            "SELECT status AS v FROM tasks WHERE task_id = $1",
            &task,
        )
        .await;
        assert_eq!(status, "open", "nothing forged was recorded");

        // The bed manager's own signed decision goes through and uses its signature.
        let real = signed(&db, decision(&task, true, "beds.ben", Role::BedManager)).await;
        let signature_id = real.signature_id.clone().expect("signed");
        send(real).await;
        let outcome = result(&client, &wf).await;
        assert_eq!(outcome.stage, AdmissionStage::Admitted);
        let linked: String = value(
            &db,
            "SELECT signature_id AS v FROM tasks WHERE task_id = $1",
            &task,
        )
        .await;
        assert_eq!(linked, signature_id);
        let sig = careflow_store::signatures::get(&db, &signature_id)
            .await
            .expect("read")
            .expect("signature");
        assert_eq!(
            (sig.signer.as_str(), sig.meaning.as_str()),
            ("beds.ben", "approved")
        );
        assert!(sig.used_at.is_some());
        assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
        maybe_record(&client, &wf, "signature_refusals_then_signed_local_steps").await;
    })
    .await;
}

#[tokio::test]
async fn decision_while_waiting_is_taken_once() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[ward("GMED", "general_medicine", false, (1, 4), 0)]).await;
    with_worker(&client, &db, async {
        let wf = start(&client, request("respiratory", AgeGroup::Adult, AdmissionKind::Elective)).await;
        let task = wait_for_task(&db, &wf, Role::BedManager).await;
        let handle = client.get_workflow_handle::<AdmissionWorkflow>(wf.clone());
        let ben = signed(&db, decision(&task, true, "beds.ben", Role::BedManager)).await;
        let bea = signed(&db, decision(&task, false, "beds.bea", Role::BedManager)).await;
        let (a, b) = tokio::join!(
            handle.execute_update(
                AdmissionWorkflow::decide,
                ben,
                WorkflowExecuteUpdateOptions::default(),
            ),
            handle.execute_update(
                AdmissionWorkflow::decide,
                bea,
                WorkflowExecuteUpdateOptions::default(),
            )
        );
        assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "exactly one of two racing decisions wins");
        let refused = match (a, b) {
            (Err(e), _) | (_, Err(e)) => e,
            _ => unreachable!("checked above"),
        };
        assert!(refused.to_string().contains("already decided"), "{refused}");
        let outcome = result(&client, &wf).await;
        assert!(outcome.stage.is_final());
        let decided: i64 = value(&db, "SELECT COUNT(*) AS v FROM audit_log WHERE workflow_id = $1 AND action IN ('task.approved','task.rejected')", &wf).await;
        assert_eq!(decided, 1);
    })
    .await;
}

#[tokio::test]
async fn no_bed_then_rejection_declines_the_admission() {
    let (_server, client) = start_server().await;
    // A child, and no children's ward: no bed satisfies the hard rules.
    let (_dir, db) = hospital(&[ward("GMED", "general_medicine", false, (1, 4), 0)]).await;
    with_worker(&client, &db, async {
        let wf = start(
            &client,
            request("paediatrics", AgeGroup::Child, AdmissionKind::Elective),
        )
        .await;
        let task = wait_for_task(&db, &wf, Role::BedManager).await;
        let kind: String =
            value(&db, "SELECT kind AS v FROM tasks WHERE task_id = $1", &task).await;
        assert_eq!(kind, "no_bed");
        let refused = client
            .get_workflow_handle::<AdmissionWorkflow>(wf.clone())
            .execute_update(
                AdmissionWorkflow::decide,
                Decision {
                    reason: "no".into(),
                    ..decision(&task, false, "beds.ben", Role::BedManager)
                },
                WorkflowExecuteUpdateOptions::default(),
            )
            .await;
        assert!(refused.is_err(), "a decision without a reason is refused");
        client
            .get_workflow_handle::<AdmissionWorkflow>(wf.clone())
            .execute_update(
                AdmissionWorkflow::decide,
                signed(&db, decision(&task, false, "beds.ben", Role::BedManager)).await,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("decision");
        let outcome = result(&client, &wf).await;
        assert_eq!(outcome.stage, AdmissionStage::Declined);
        assert_eq!(outcome.reason.as_deref(), Some("capacity meeting agreed"));
        let status: String = value(
            &db,
            "SELECT status AS v FROM admissions WHERE workflow_id = $1",
            &wf,
        )
        .await;
        assert_eq!(status, "declined");
        let assigned: i64 = sqlx::query("SELECT COUNT(*) AS n FROM bed_assignments")
            .fetch_one(db.pool())
            .await
            .expect("count")
            .get("n");
        assert_eq!(assigned, 0);
        maybe_record(&client, &wf, "no_bed_declined_local_steps").await;
    })
    .await;
}

#[tokio::test]
async fn undecided_task_escalates_to_the_site_manager() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[ward("GMED", "general_medicine", false, (1, 4), 0)]).await;
    with_worker(&client, &db, async {
        let wf = start(
            &client,
            request("cardiology", AgeGroup::Adult, AdmissionKind::Emergency),
        )
        .await;
        let first = wait_for_task(&db, &wf, Role::BedManager).await;
        // Nobody answers for 16 minutes of (skipped) server time: past the deadline.
        let sixteen_minutes = SleepRequest {
            duration: Some(prost_wkt_types::Duration {
                seconds: 16 * 60,
                nanos: 0,
            }),
        };
        client
            .connection()
            .test_service()
            .unlock_time_skipping_with_sleep(temporalio_client::tonic::Request::new(
                sixteen_minutes,
            ))
            .await
            .expect("skip time");
        let task = wait_for_task(&db, &wf, Role::SiteManager).await;
        assert_eq!(task, first, "the same task moves queue");
        let row = sqlx::query("SELECT escalations FROM tasks WHERE task_id = $1")
            .bind(&task)
            .fetch_one(db.pool())
            .await
            .expect("task");
        assert!(row.get::<i64, _>("escalations") >= 1);
        client
            .get_workflow_handle::<AdmissionWorkflow>(wf.clone())
            .execute_update(
                AdmissionWorkflow::decide,
                signed(&db, decision(&task, true, "site.sam", Role::SiteManager)).await,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("decision");
        let outcome = result(&client, &wf).await;
        assert_eq!(outcome.stage, AdmissionStage::Admitted);
        let acts = actions(&db, &wf).await;
        assert!(acts.contains(&"task.escalated".to_owned()), "{acts:?}");
        let approved = audit::entries_for_workflow(&db, &wf)
            .await
            .expect("audit")
            .into_iter()
            .find(|e| e.action == "task.approved")
            .expect("approval entry");
        assert_eq!(
            (approved.actor.as_str(), approved.role.as_str()),
            ("site.sam", "site_manager")
        );
        maybe_record(&client, &wf, "escalated_then_approved_local_steps").await;
    })
    .await;
}

#[tokio::test]
async fn cancellation_closes_the_open_task() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[ward("GMED", "general_medicine", false, (1, 4), 0)]).await;
    with_worker(&client, &db, async {
        let wf = start(
            &client,
            request("orthopaedics", AgeGroup::Adult, AdmissionKind::Elective),
        )
        .await;
        let task = wait_for_task(&db, &wf, Role::BedManager).await;
        client
            .get_workflow_handle::<AdmissionWorkflow>(wf.clone())
            .cancel(
                WorkflowCancelOptions::builder()
                    .reason("patient went home".to_owned())
                    .build(),
            )
            .await
            .expect("cancel");
        let outcome = result(&client, &wf).await;
        assert_eq!(outcome.stage, AdmissionStage::Cancelled);
        let status: String = value(
            &db,
            "SELECT status AS v FROM tasks WHERE task_id = $1",
            &task,
        )
        .await;
        assert_eq!(status, "cancelled");
        assert!(actions(&db, &wf)
            .await
            .contains(&"admission.cancelled".to_owned()));
        maybe_record(&client, &wf, "cancelled_while_waiting_local_steps").await;
    })
    .await;
}

/// The determinism guard: every saved history must replay against today's code.
/// Publishes a bed plan for today that keeps `reserve` beds free on `ward` (the
/// forecast 0.9 quantile of emergency admissions), as the bed-plan workflow would.
async fn publish_reserve(db: &Db, ward: &str, reserve: f64) {
    use careflow_store::decisions::{DecisionResult, NewDecisionStep};
    use careflow_types::{
        BedPlanInput, BedPlanProposal, BedPlanRequest, EmergencyDemand, ForecastProvenance,
        WardDemand,
    };
    let today = chrono::Utc::now().date_naive().to_string();
    let plan = BedPlanInput {
        plan_id: "plan-today".into(),
        request: BedPlanRequest {
            plan_date: today.clone(),
            horizon_days: 1,
            solve_seconds: 5,
            requested_by: "bm.kim".into(),
        },
    };
    let proposal = BedPlanProposal {
        plan_id: "plan-today".into(),
        solver_status: "optimal".into(),
        cost_total: 0.0,
        outlier_days: 0,
        transfers: 0,
        reserve_shortfall: 0.0,
        mip_gap: Some(0.0),
        patients: 0,
        moves: Vec::new(),
        shortfalls: Vec::new(),
        conflicts: Vec::new(),
        demand: EmergencyDemand {
            provenance: ForecastProvenance {
                model_name: "ed-arrivals".into(),
                model_version: "1.1.0".into(),
                model_sha256: "ab".repeat(32),
                execution_provider: "CPUExecutionProvider".into(),
                origin: format!("{today}T00:00:00"),
                horizon_hours: 24,
            },
            wards: vec![WardDemand {
                ward_id: ward.into(),
                day: 0,
                mean: reserve,
                p50: reserve,
                p90: reserve,
            }],
            ed_arrivals_per_day: vec![10.0],
            admission_rate: 0.13,
        },
    };
    let step = NewDecisionStep {
        workflow_id: "plan-today".into(),
        step: "solve/bed-plan".into(),
        kind: "bed_allocation.input".into(),
        snapshot_json: "{}".into(),
        models: Vec::new(),
        solver: None,
        solver_version: None,
        careflow_version: "0.1.0".into(),
        seed: None,
        time_limit_s: None,
        threads: None,
        result_digest: String::new(),
    };
    let result = DecisionResult {
        workflow_id: "plan-today".into(),
        step: "solve/bed-plan".into(),
        solver_status: "optimal".into(),
        objective: Some(0.0),
        mip_gap: Some(0.0),
        result_json: "{}".into(),
    };
    careflow_store::bed_plans::store_proposal(
        db,
        "plan-today",
        &plan,
        &proposal,
        &[],
        &step,
        &result,
    )
    .await
    .expect("proposal");
    careflow_store::bed_plans::conclude(
        db,
        "plan-today",
        "plan-today",
        &decision("plan-today-approve", true, "bm.lee", Role::BedManager),
    )
    .await
    .expect("publish");
}

#[tokio::test]
async fn an_elective_admission_keeps_off_the_emergency_reserve_and_an_emergency_gets_it() {
    let (_server, client) = start_server().await;
    let (_dir, db) = hospital(&[
        ward("CARD", "cardiology", false, (1, 2), 0),
        ward("GMED", "general_medicine", false, (1, 2), 0),
    ])
    .await;
    // Both cardiology beds are free and the published plan holds two back.
    publish_reserve(&db, "CARD", 2.0).await;
    with_worker(&client, &db, async {
        let elective = start(
            &client,
            request("cardiology", AgeGroup::Adult, AdmissionKind::Elective),
        )
        .await;
        // Offered a general-medicine bed instead, which a bed manager must approve.
        let task = wait_for_task(&db, &elective, Role::BedManager).await;
        let summary: String = value(
            &db,
            "SELECT summary AS v FROM tasks WHERE task_id = $1",
            &task,
        )
        .await;
        assert!(
            summary.contains("held back for emergencies by bed plan plan-today")
                && summary.contains("GMED"),
            "{summary}"
        );
        let emergency = start(
            &client,
            request("cardiology", AgeGroup::Adult, AdmissionKind::Emergency),
        )
        .await;
        let outcome = result(&client, &emergency).await;
        assert_eq!(outcome.stage, AdmissionStage::Admitted);
        assert!(outcome.bed_id.expect("bed").starts_with("CARD"));
    })
    .await;
}

#[tokio::test]
async fn saved_histories_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("histories dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected saved histories in {}",
        dir.display()
    );
    // Histories from the test server carry no workflow id, so replay runs under another
    // id: workflow logic must never branch on its own id (it only names side effects).
    let replayer = WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .register_workflow::<AdmissionWorkflow>()
            .expect("register")
            .register_workflow::<careflow_workflows::BedPlanWorkflow>()
            .expect("register")
            .register_workflow::<careflow_workflows::TheatreBookingWorkflow>()
            .expect("register")
            .register_workflow::<careflow_workflows::NurseRosteringWorkflow>()
            .expect("register")
            .register_workflow::<careflow_workflows::ScannerBookingWorkflow>()
            .expect("register")
            .register_workflow::<careflow_workflows::ModelReleaseWorkflow>()
            .expect("register")
            .register_workflow::<careflow_workflows::EthicsReviewWorkflow>()
            .expect("register")
            .build(),
    )
    .expect("replayer");
    for f in files {
        let bytes = std::fs::read(&f).expect("read");
        let history = WorkflowHistory::from_json(&bytes).expect("history json");
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("{} no longer replays: {e}", f.display()));
    }
}

/// Activity type -> task queue of every scheduled activity in a saved history, and
/// whether it carries the version marker `patch`.
fn queues_of(name: &str, patch: &str) -> (Vec<(String, String)>, bool) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories")
        .join(format!("{name}.json"));
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("history")).expect("JSON");
    let mut scheduled = Vec::new();
    let mut marked = false;
    for event in history["events"].as_array().expect("events") {
        let attrs = &event["attributes"];
        if let Some(a) = attrs.get("ActivityTaskScheduledEventAttributes") {
            scheduled.push((
                a["activity_type"]["name"].as_str().unwrap().to_owned(),
                a["task_queue"]["name"].as_str().unwrap().to_owned(),
            ));
        }
        if let Some(m) = attrs.get("MarkerRecordedEventAttributes") {
            // sdk-core's patch marker: its data is {"id":PATCH,"deprecated":false}.
            let patch = base64_of(&format!(r#"{{"id":"{patch}","deprecated":false}}"#));
            marked |= m["marker_name"] == "core_patch"
                && m["details"]["patch-data"]["payloads"][0]["data"] == patch.as_str();
        }
    }
    (scheduled, marked)
}

/// Standard base64 of `text` (how the history JSON carries payload bytes).
fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The replay gate for the compute task queue: a bed plan released before it (no
/// marker) scheduled its forecast and solve on the workflow's own queue, one recorded
/// after it carries the `compute-task-queue` marker and scheduled them on
/// `careflow-compute`; both replay with today's code (`saved_histories_replay`), so the
/// change keeps old workflows deterministic.
#[test]
fn compute_queue_marker_separates_old_and_new_bed_plans() {
    let compute = [
        "BedPlanActivities::forecast_emergency_demand",
        "BedPlanActivities::propose_bed_plan",
    ];
    let (old, old_marked) = queues_of(
        "bed_plan_published",
        careflow_workflows::COMPUTE_QUEUE_PATCH,
    );
    assert!(
        !old_marked,
        "a history from before the change has no marker"
    );
    assert!(old.iter().all(|(_, q)| q == TASK_QUEUE), "{old:?}");
    let (new, new_marked) = queues_of(
        "bed_plan_published_compute_queue",
        careflow_workflows::COMPUTE_QUEUE_PATCH,
    );
    assert!(new_marked, "the new history carries the marker");
    for (activity, queue) in &new {
        let expected = if compute.contains(&activity.as_str()) {
            COMPUTE_TASK_QUEUE
        } else {
            TASK_QUEUE
        };
        assert_eq!(queue, expected, "{activity}");
    }
    assert!(compute.iter().all(|c| new.iter().any(|(a, _)| a == c)));
}

/// The replay gate for local admission steps: an admission recorded before the change
/// (no marker) scheduled its three database steps as activities on the server; one
/// recorded after it carries the `admission-local-steps` marker and schedules none of
/// them (they are local activity markers in its history). Both replay with today's code
/// (`saved_histories_replay`).
#[test]
fn local_steps_marker_separates_old_and_new_admissions() {
    let patch = careflow_workflows::admission::ADMISSION_LOCAL_STEPS_PATCH;
    let steps = [
        "AdmissionActivities::register_admission",
        "AdmissionActivities::find_bed",
        "AdmissionActivities::assign_bed",
    ];
    let (old, old_marked) = queues_of("admitted_directly", patch);
    assert!(
        !old_marked,
        "a history from before the change has no marker"
    );
    let old: Vec<&str> = old.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(old, steps, "the old admission ran its steps as activities");
    let (new, new_marked) = queues_of("admitted_directly_local_steps", patch);
    assert!(new_marked, "the new history carries the marker");
    assert!(new.is_empty(), "no step goes through the server: {new:?}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories/admitted_directly_local_steps.json");
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("history")).expect("JSON");
    let local_markers = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| {
            e["attributes"]["MarkerRecordedEventAttributes"]["marker_name"] == "core_local_activity"
        })
        .count();
    assert_eq!(
        local_markers, 3,
        "register, find and assign are recorded as markers"
    );
}
