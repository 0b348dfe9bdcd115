//! The model-release workflow against the official Temporal test server (time
//! skipping), a real SQLite domain database (PostgreSQL too for the release path) and
//! the committed ONNX models run by ONNX Runtime: a candidate worse than production in
//! a subgroup is stopped by the gate naming metric and subgroup; a candidate that
//! passes waits for the ethics committee's decision on its amendment, forecasts beside
//! production on a live bed plan (shadow), is compared once the truth arrives, is
//! promoted by its owner only (the author is refused), and is rolled back with a
//! signed reason; a release whose author would own it is refused at registration; a
//! release cancelled before production is withdrawn; surgery durations are validated
//! per specialty.

use std::time::Duration;

use sqlx::Row;
use temporalio_client::{
    Client, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowStartOptions,
};
use temporalio_common::protos::temporal::api::testservice::v1::SleepRequest;

use careflow_store::ethics::{self, Recommendation, Route, SubmissionContent};
use careflow_store::hospital::{seed_layout, WardSpec};
use careflow_store::registry;
use careflow_store::releases::{self, Stage};
use careflow_store::Db;
use careflow_types::{
    BedPlanInput, BedPlanRequest, Decision, ReleaseInput, ReleaseOutcome, ReleaseStage, Role,
    RollbackRequest, TASK_QUEUE,
};
use careflow_workflows::{BedPlanWorkflow, ModelReleaseWorkflow};

mod common;
use common::{
    actions, maybe_record, models_dir, signed_if_allowed, staff_user, start_server, with_worker,
    STAFF_PASSWORD,
};

/// The author: the lead of the AI project that owns the model.
const AUTHOR: &str = "lead.lu";
/// The model's owner, an admin.
const OWNER: &str = "model.owner";

async fn database() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = Db::connect(&Db::sqlite_url(&dir.path().join("careflow.db")))
        .await
        .expect("db");
    people(&db).await;
    (dir, db)
}

/// The release's people: author, owner and the ethics committee's secretary and reviewer.
async fn people(db: &Db) {
    for (name, role) in [
        (AUTHOR, Role::ProjectLead),
        (OWNER, Role::Admin),
        ("sec.sue", Role::EthicsSecretary),
        ("sci.sam", Role::CommitteeMember),
    ] {
        staff_user(db, name, role).await;
    }
}

/// `ed-arrivals` `version` in production, installed as a site's admin would.
async fn production(db: &Db, version: &str) {
    common::promote_committed_model(
        db,
        &models_dir().join("ed-arrivals").join(version),
        "installed with the site",
    )
    .await;
}

fn content(title: &str) -> SubmissionContent {
    SubmissionContent {
        title: title.into(),
        technical_plan: "Poisson GLM of hourly ED arrivals".into(),
        use_case: "bed planning".into(),
        expected_benefit: "fewer outlier placements".into(),
        risks: "forecast error".into(),
        data_used: "ED arrival counts".into(),
        legal_basis: "public task".into(),
        consent_plan: "no identifiable data".into(),
        bias_assessment: "errors by hour block, weekday and holiday".into(),
        documents: vec![],
    }
}

/// The secretary finds it complete and routes it expedited; one reviewer approves it,
/// signed. (The ethics committee's own workflow drives these steps in production.)
async fn expedited_approval(db: &Db, id: &str) {
    ethics::check_completeness(db, id, "sec.sue", true, "complete")
        .await
        .expect("complete");
    ethics::route(db, id, "sec.sue", Route::Expedited, "low risk")
        .await
        .expect("route");
    ethics::assign_reviewers(db, id, "sec.sue", &["sci.sam".into()])
        .await
        .expect("assign");
    let s = ethics::review(
        db,
        id,
        "sci.sam",
        STAFF_PASSWORD,
        Recommendation::Approve,
        "bias report reviewed",
    )
    .await
    .expect("review");
    assert_eq!(s.state, "approved");
}

/// The approved ethics project that owns `ed-arrivals`.
async fn approved_project(db: &Db) -> String {
    ethics::add_member(db, OWNER, "sci.sam", false)
        .await
        .expect("member");
    let p = ethics::submit(db, AUTHOR, &content("ED arrivals forecasting"))
        .await
        .expect("submit");
    expedited_approval(db, &p.submission_id).await;
    p.submission_id
}

fn input(release_id: &str, version: &str, project_id: &str, subgroup_margin: f64) -> ReleaseInput {
    ReleaseInput {
        release_id: release_id.into(),
        model_name: "ed-arrivals".into(),
        version: version.into(),
        author: AUTHOR.into(),
        owner: OWNER.into(),
        project_id: project_id.into(),
        overall_margin: 1.0,
        subgroup_margin,
        ethics_poll_seconds: 3600,
        shadow_seconds: 24 * 3600,
        rollback_window_seconds: 30 * 24 * 3600,
    }
}

async fn start(client: &Client, input: ReleaseInput) {
    let id = input.release_id.clone();
    client
        .start_workflow(
            ModelReleaseWorkflow::run,
            input,
            WorkflowStartOptions::new(TASK_QUEUE, id).build(),
        )
        .await
        .expect("start release");
}

async fn outcome(client: &Client, id: &str) -> ReleaseOutcome {
    client
        .get_workflow_handle::<ModelReleaseWorkflow>(id.to_owned())
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("release result")
}

async fn skip(client: &Client, seconds: i64) {
    client
        .connection()
        .test_service()
        .unlock_time_skipping_with_sleep(temporalio_client::tonic::Request::new(SleepRequest {
            duration: Some(prost_wkt_types::Duration { seconds, nanos: 0 }),
        }))
        .await
        .expect("skip time");
}

/// Polls `probe` until it gives a value (the worker runs in the same task, so this
/// yields to it).
async fn wait_for<T, F, Fut>(what: &str, probe: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..1200 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Waits until the release is at `want`.
async fn reach(db: &Db, id: &str, want: Stage) {
    wait_for(&format!("{id} {want}"), || async move {
        (stage(db, id).await == Some(want)).then_some(())
    })
    .await
}

async fn stage(db: &Db, id: &str) -> Option<Stage> {
    releases::get(db, id).await.ok().map(|r| r.stage)
}

/// Held by each test for its whole run. Known problem, not yet understood: since the
/// compute queue came in, a release cancelled while it waits for the ethics committee
/// never finishes when, in the same process, a release fails at its first steps (the
/// author as owner, or the gate). Each passes alone and in order; the hang is open work.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn a_candidate_worse_in_a_subgroup_is_stopped_naming_metric_and_subgroup() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_server, client) = start_server().await;
    let (_dir, db) = database().await;
    production(&db, "1.1.0").await;
    let project = approved_project(&db).await;
    with_worker(&client, &db, async {
        // Overall anything goes; in no subgroup may the candidate be worse at all.
        start(&client, input("release-gate", "1.0.0", &project, 0.0)).await;
        let out = outcome(&client, "release-gate").await;
        assert_eq!(out.stage, ReleaseStage::GateFailed, "{out:?}");
        assert!(!out.gate_failures.is_empty());
        let r = releases::get(&db, "release-gate").await.expect("release");
        assert_eq!(r.stage, Stage::GateFailed);
        let report = r.validation.expect("the report is stored");
        let stored = r.gate_failures.expect("the verdict is stored");
        assert_eq!(stored.len(), out.gate_failures.len());
        for (f, said) in stored.iter().zip(&out.gate_failures) {
            // Each failure is a subgroup of the bias report where the candidate's error
            // is above production's, and the outcome says which metric and subgroup.
            let g = report
                .subgroups
                .iter()
                .find(|g| g.subgroup == f.subgroup)
                .unwrap_or_else(|| panic!("{} is not a subgroup of the report", f.subgroup));
            let (p, c) = match f.metric.as_str() {
                "mae" => (g.production.mae.unwrap(), g.candidate.mae.unwrap()),
                "pinball" => (g.production.pinball.unwrap(), g.candidate.pinball.unwrap()),
                other => panic!("unexpected metric {other}"),
            };
            assert!(c > p, "{f:?}");
            assert!(
                said.contains(&format!("{} in {}", f.metric, f.subgroup)),
                "{said}"
            );
        }
        // The report covers every subgroup of the bias report.
        for prefix in ["hour_block=", "weekday=", "holiday=yes", "holiday=no"] {
            assert!(
                report
                    .subgroups
                    .iter()
                    .any(|g| g.subgroup.starts_with(prefix)),
                "{prefix} missing"
            );
        }
        assert_eq!(
            report
                .subgroups
                .iter()
                .filter(|g| g.subgroup.starts_with("weekday="))
                .count(),
            7
        );
        let acts = actions(&db, "release-gate").await;
        assert_eq!(
            acts,
            ["release.registered", "release.gate_failed"],
            "{acts:?}"
        );
        // Production is untouched and no amendment was filed.
        assert_eq!(
            registry::production(&db, "ed-arrivals")
                .await
                .expect("prod")
                .version,
            "1.1.0"
        );
        assert!(r.signoff_submission_id.is_none());
        maybe_record(&client, "release-gate", "release_gate_failed").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_waits_for_ethics_shadows_a_live_plan_is_promoted_by_its_owner_and_rolled_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_dir, db) = database().await;
    ethics_shadow_promotion_rollback(db, true).await;
}

/// The same on the PostgreSQL server at 127.0.0.1:5432 (database `test`; override with
/// CAREFLOW_TEST_PG), in a schema of its own.
#[tokio::test(flavor = "multi_thread")]
async fn the_release_path_on_postgres() {
    let _one = ONE_AT_A_TIME.lock().await;
    let db = careflow_testkit::db::postgres().await;
    people(&db).await;
    ethics_shadow_promotion_rollback(db, false).await;
}

async fn ethics_shadow_promotion_rollback(db: Db, record: bool) {
    let (_server, client) = start_server().await;
    seed_layout(
        &db,
        &[WardSpec {
            ward_id: "GMED".into(),
            name: "GMED".into(),
            specialty: "general_medicine".into(),
            paediatric: false,
            bays: (1, 4),
            side_rooms: 1,
        }],
    )
    .await
    .expect("layout");
    production(&db, "1.0.0").await;
    let project = approved_project(&db).await;
    let id = "release-shadow";
    with_worker(&client, &db, async {
        let db = &db;
        start(&client, input(id, "1.1.0", &project, 1.0)).await;

        // Validated, the amendment is filed; the release waits for the committee.
        let amendment = wait_for("the amendment", || async move {
            releases::get(db, id)
                .await
                .ok()
                .and_then(|r| r.signoff_submission_id)
        })
        .await;
        let filed = ethics::get(db, &amendment).await.expect("amendment");
        assert_eq!(
            (filed.kind.as_str(), filed.project_id.as_str(), filed.applicant.as_str()),
            ("amendment", project.as_str(), AUTHOR)
        );
        let docs = ethics::documents(db, &amendment, 1).await.expect("docs");
        assert_eq!(docs.len(), 1, "the validation report goes with it");
        // An hour of server time without a decision changes nothing.
        skip(&client, 3600 + 60).await;
        assert_eq!(stage(db, id).await, Some(Stage::Validated));

        // The committee approves; at its next look the release is signed off and shadows.
        expedited_approval(db, &amendment).await;
        skip(&client, 3600 + 60).await;
        reach(db, id, Stage::Shadow).await;

        // A live bed plan forecasts with production; the candidate runs beside it.
        client
            .start_workflow(
                BedPlanWorkflow::run,
                BedPlanInput {
                    plan_id: "plan-live".into(),
                    request: BedPlanRequest {
                        plan_date: "2026-11-30".into(),
                        horizon_days: 2,
                        solve_seconds: 5,
                        requested_by: "bm.kim".into(),
                    },
                },
                WorkflowStartOptions::new(TASK_QUEUE, "plan-live".to_owned()).build(),
            )
            .await
            .expect("start plan");
        let keys: Vec<String> = wait_for("the shadow forecasts", || async move {
            let keys: Vec<String> = sqlx::query(
                "SELECT target_key FROM shadow_forecasts WHERE release_id = $1 AND call_id = 'plan-live' \
                 ORDER BY target_key",
            )
            .bind(id)
            .fetch_all(db.pool())
            .await
            .expect("shadow rows")
            .iter()
            .map(|r| r.get("target_key"))
            .collect();
            (!keys.is_empty()).then_some(keys)
        })
        .await;
        assert_eq!(keys.len(), 48, "every forecast hour, both versions");
        let before = releases::shadow_comparison(db, id).await.expect("cmp");
        assert!(before.candidate.is_none(), "no truth yet, no comparison");
        // The truth arrives for the first day.
        let truths: Vec<(String, f64)> = keys
            .iter()
            .take(24)
            .enumerate()
            .map(|(i, k)| (k.clone(), (i % 9) as f64))
            .collect();
        releases::record_truth(db, "ed-arrivals", &truths, OWNER)
            .await
            .expect("truth");

        // End of the shadow period: compared, and the owner's promotion task opens.
        skip(&client, 24 * 3600 + 60).await;
        let task = &format!("{id}-promote");
        wait_for("the promotion task", || async move {
            careflow_store::tasks::get(db, task)
                .await
                .ok()
                .filter(|t| t.status == "open")
        })
        .await;
        let summary = careflow_store::tasks::get(db, task).await.expect("task").summary;
        assert!(
            summary.contains("shadow on 1 live calls, 48 targets, 24 with their truth"),
            "{summary}"
        );
        let handle = client.get_workflow_handle::<ModelReleaseWorkflow>(id.to_owned());
        let decision = |actor: &str, role: Role| Decision {
            task_id: task.clone(),
            approve: true,
            actor: actor.into(),
            role,
            reason: "shadow as good as production".into(),
            bed_id: None,
            signature_id: None,
        };
        // The author cannot release it alone; nor can an admin who is not the owner.
        for (actor, role, why) in [
            (AUTHOR, Role::ProjectLead, "cannot release it alone"),
            ("dr.release", Role::Admin, "not the owner"),
        ] {
            let err = handle
                .execute_update(
                    ModelReleaseWorkflow::decide,
                    signed_if_allowed(db, decision(actor, role)).await,
                    WorkflowExecuteUpdateOptions::default(),
                )
                .await
                .expect_err("refused");
            assert!(format!("{err:?}").contains(why), "{actor}: {err:?}");
        }
        handle
            .execute_update(
                ModelReleaseWorkflow::decide,
                common::signed(db, decision(OWNER, Role::Admin)).await,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("the owner promotes");
        reach(db, id, Stage::Production).await;
        assert_eq!(
            registry::production(db, "ed-arrivals").await.expect("prod").version,
            "1.1.0"
        );

        // A rollback without a valid signature is refused by the store; a signed one
        // returns 1.0.0.
        let reason = "Monday mornings under-forecast in live use";
        let unsigned = RollbackRequest {
            by: OWNER.into(),
            reason: reason.into(),
            signature_id: None,
        };
        handle
            .execute_update(
                ModelReleaseWorkflow::rollback,
                unsigned,
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("reaches the workflow");
        wait_for("the refused rollback", || async move {
            let acts = actions(db, id).await;
            acts.iter().any(|a| a == "release.rollback_refused").then_some(())
        })
        .await;
        assert_eq!(stage(db, id).await, Some(Stage::Production));
        let signature = releases::sign_step(db, id, "rollback", OWNER, STAFF_PASSWORD, reason)
            .await
            .expect("sign");
        handle
            .execute_update(
                ModelReleaseWorkflow::rollback,
                RollbackRequest {
                    by: OWNER.into(),
                    reason: reason.into(),
                    signature_id: Some(signature.signature_id),
                },
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("rollback");
        let out = outcome(&client, id).await;
        assert_eq!(out.stage, ReleaseStage::RolledBack, "{out:?}");
        assert_eq!(out.reason.as_deref(), Some(reason));
        assert_eq!(
            registry::production(db, "ed-arrivals").await.expect("prod").version,
            "1.0.0"
        );
        let acts = actions(db, id).await;
        for a in [
            "release.registered",
            "release.validated",
            "release.amendment_filed",
            "release.signed_off",
            "release.shadow_started",
            "release.shadow_recorded",
            "release.shadow_compared",
            "task.approved",
            "release.promoted",
            "release.rolled_back",
        ] {
            assert!(acts.iter().any(|x| x == a), "{a} missing from {acts:?}");
        }
        if record {
            maybe_record(&client, id, "release_shadow_promoted_rolled_back").await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_author_cannot_own_the_release() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_server, client) = start_server().await;
    let (_dir, db) = database().await;
    production(&db, "1.0.0").await;
    let project = approved_project(&db).await;
    with_worker(&client, &db, async {
        let mut alone = input("release-alone", "1.1.0", &project, 1.0);
        alone.owner = AUTHOR.into();
        start(&client, alone).await;
        let err = client
            .get_workflow_handle::<ModelReleaseWorkflow>("release-alone".to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("refused");
        assert!(
            format!("{err:?}").contains("cannot release it alone"),
            "{err:?}"
        );
        assert!(releases::get(&db, "release-alone").await.is_err());
    })
    .await;
}

// The cancellation often arrives while the ethics poll is scheduled but not started.
// The poll is abandoned, not cancelled (`ETHICS_POLL_ABANDON_PATCH`): a cancel request
// racing its dispatch was refused by the test server (`ACTIVITY_UNKNOWN`), and the
// workflow task then waited for a timeout that the test server's locked clock never
// fired, which hung this test in about one run of four.
#[tokio::test(flavor = "multi_thread")]
async fn a_release_cancelled_while_waiting_for_ethics_is_withdrawn() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (_server, client) = start_server().await;
    let (_dir, db) = database().await;
    production(&db, "1.0.0").await;
    let project = approved_project(&db).await;
    let id = "release-cancelled";
    with_worker(&client, &db, async {
        let db = &db;
        start(&client, input(id, "1.1.0", &project, 1.0)).await;
        wait_for("the amendment", || async move {
            releases::get(db, id)
                .await
                .ok()
                .and_then(|r| r.signoff_submission_id)
        })
        .await;
        client
            .get_workflow_handle::<ModelReleaseWorkflow>(id.to_owned())
            .cancel(
                temporalio_client::WorkflowCancelOptions::builder()
                    .reason("candidate superseded".to_owned())
                    .build(),
            )
            .await
            .expect("cancel");
        let out = outcome(&client, id).await;
        assert_eq!(out.stage, ReleaseStage::Withdrawn, "{out:?}");
        assert_eq!(stage(db, id).await, Some(Stage::Withdrawn));
        let withdrawn = careflow_store::audit::entries_for_workflow(db, id)
            .await
            .expect("audit")
            .into_iter()
            .find(|e| e.action == "release.withdrawn")
            .expect("withdrawal audited");
        assert!(
            withdrawn
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("candidate superseded"),
            "{withdrawn:?}"
        );
        assert_eq!(
            registry::production(db, "ed-arrivals")
                .await
                .expect("prod")
                .version,
            "1.0.0"
        );
        maybe_record(&client, id, "release_cancelled_awaiting_ethics").await;
    })
    .await;
}

#[test]
fn surgery_duration_is_validated_per_specialty_and_a_model_without_held_out_data_is_refused() {
    use careflow_forecasters::bundle::ModelBundle;
    let surgery = ModelBundle::open(&models_dir().join("surgery-duration/1.0.0")).expect("model");
    let report =
        careflow_activities::model_release::validate("surgery-duration", &surgery, &surgery)
            .expect("validation");
    let specialties: Vec<&str> = report
        .subgroups
        .iter()
        .map(|g| g.subgroup.as_str())
        .collect();
    assert_eq!(
        specialties,
        [
            "specialty=cardiac_surgery",
            "specialty=colorectal_surgery",
            "specialty=general_surgery",
            "specialty=orthopaedics",
            "specialty=urology"
        ]
    );
    assert_eq!(report.production.n, 8 * 400);
    // The same file on the same cases scores the same, and within the model's spread:
    // the median misses by well under the median duration.
    assert_eq!(report.production, report.candidate);
    for g in &report.subgroups {
        assert_eq!(g.production, g.candidate);
        let mae = g.production.mae.expect("a quantile model is scored by MAE");
        assert!(mae > 0.0 && mae < 100.0, "{g:?}");
    }
    assert!(careflow_store::releases::gate(
        &report,
        &careflow_store::releases::Margins {
            overall: 0.0,
            subgroup: 0.0
        }
    )
    .is_empty());
    let bed_demand = ModelBundle::open(&models_dir().join("bed-demand/1.0.0")).expect("model");
    let err = careflow_activities::model_release::validate("bed-demand", &bed_demand, &bed_demand)
        .expect_err("no held-out data");
    assert!(err.contains("no held-out data"), "{err}");
}

#[test]
fn scanner_no_show_is_validated_by_brier_per_age_band_sex_and_modality() {
    use careflow_forecasters::bundle::ModelBundle;
    use careflow_store::releases::{gate, Margins};
    let no_show = ModelBundle::open(&models_dir().join("scanner-no-show/1.0.0")).expect("model");
    let report =
        careflow_activities::model_release::validate("scanner-no-show", &no_show, &no_show)
            .expect("validation");
    let groups: Vec<&str> = report
        .subgroups
        .iter()
        .map(|g| g.subgroup.as_str())
        .collect();
    assert_eq!(
        groups,
        [
            "age_band=40-59",
            "age_band=<40",
            "age_band=>=60",
            "modality=CT",
            "modality=MG",
            "modality=MRI",
            "modality=NM",
            "modality=US",
            "modality=XR",
            "sex=female",
            "sex=male"
        ]
    );
    assert_eq!(report.production.n, 20_000);
    for dimension in ["age_band=", "sex=", "modality="] {
        let n: usize = report
            .subgroups
            .iter()
            .filter(|g| g.subgroup.starts_with(dimension))
            .map(|g| g.production.n)
            .sum();
        assert_eq!(n, 20_000, "every appointment in one {dimension} group");
    }
    // A probability is scored by the Brier score, not by quantile errors; with no-show
    // rates of a few per cent it is a few hundredths, and never 0 on drawn outcomes.
    let brier = report.production.brier.expect("Brier score");
    assert!(brier > 0.005 && brier < 0.1, "{:?}", report.production);
    assert_eq!(
        (report.production.mae, report.production.pinball),
        (None, None)
    );
    assert_eq!(report.production, report.candidate);
    let margins = Margins {
        overall: 0.0,
        subgroup: 0.0,
    };
    assert!(gate(&report, &margins).is_empty());
    // A candidate 5 % worse for women than production is stopped, naming the metric and
    // the subgroup.
    let mut worse = report.clone();
    let women = worse
        .subgroups
        .iter_mut()
        .find(|g| g.subgroup == "sex=female")
        .unwrap();
    women.candidate.brier = women.candidate.brier.map(|b| b * 1.05);
    let failures = gate(
        &worse,
        &Margins {
            overall: 0.02,
            subgroup: 0.02,
        },
    );
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        (failures[0].metric.as_str(), failures[0].subgroup.as_str()),
        ("brier", "sex=female")
    );
}
