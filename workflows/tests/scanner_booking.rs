//! The scanner-booking workflow against the official Temporal test server (time
//! skipping), a real SQLite domain database, the committed `scanner-no-show` ONNX model
//! run by ONNX Runtime and HiGHS, on small generated weeks (one CT scanner, a day of
//! four slots, seven outpatients likely to miss their scan): a booking within policy is
//! booked without a person and recorded as careflow's decision; overbooking beyond
//! policy goes to the imaging manager; a rejection re-plans without overbooking; an
//! undecided booking escalates to the site manager; cancelling withdraws the open
//! proposal; a request no scanner can take before its deadline escalates as a task
//! naming it and why; attendance is recorded per booked scan, beside the probability
//! the model gave it; bad input fails with the located field and stores nothing; and the
//! stored solver snapshot solves again to the same objective.

use std::time::Duration;

use sqlx::Row;
use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions,
    WorkflowQueryOptions, WorkflowStartOptions,
};
use temporalio_common::protos::temporal::api::testservice::v1::SleepRequest;

use careflow_activities::scanner_booking::replay_solve;
use careflow_store::{audit, decisions, scanner, Db};
use careflow_testkit::poll::poll;
use careflow_types::{
    AttendanceReport, Decision, Role, ScanAttendance, ScanModality, ScanRequestEntry, ScanUrgency,
    ScannerBookingInput, ScannerBookingOutcome, ScannerBookingStatus, ScannerStage, ScannerWeek,
    ScannerWeekRequest, TASK_QUEUE,
};
use careflow_workflows::ScannerBookingWorkflow;

mod common;
use common::{actions, maybe_record, models_dir, start_server, with_worker};

/// The imaging managers: ian asks for the bookings, ivy approves them.
const REQUESTER: &str = "imaging.ian";
const APPROVER: &str = "imaging.ivy";

/// The week planned: far enough ahead that it never ends during a test.
const WEEK_START: &str = "2027-03-01";

/// An outpatient CT request whose patient is likely to miss it (young, long wait, far
/// away, two earlier no-shows, no reminder): the model gives it about 0.39.
fn likely_no_show(id: &str) -> ScanRequestEntry {
    ScanRequestEntry {
        request_id: id.into(),
        patient_key: format!("PK-{id}"),
        modality: ScanModality::Ct,
        urgency: ScanUrgency::Routine,
        release_day: 0,
        // Past the one day planned: a request left over waits for the next week.
        deadline_day: 3,
        slots: 1,
        contrast: false,
        anaesthesia: false,
        inpatient: false,
        ordered_days_before: 200,
        age_years: 25,
        median_income_usd: 15_000.0,
        commute_miles: 60.0,
        prior_no_shows: 2,
        reminder_sent: false,
    }
}

/// One CT scanner with four slots and seven likely no-shows: the MILP books six (two
/// overbooked, the expected overtime 0.3 slots), the seventh waits.
fn week() -> ScannerWeekRequest {
    ScannerWeekRequest {
        week_start: WEEK_START.into(),
        days: 1,
        slots_per_day: 4,
        scanners: vec![ScannerWeek {
            scanner_id: "CT1".into(),
            modality: ScanModality::Ct,
            contrast: true,
            closures: Vec::new(),
            anaesthesia_days: Vec::new(),
        }],
        requests: (1..=7).map(|i| likely_no_show(&format!("R{i}"))).collect(),
        policy: Default::default(),
        solve_seconds: 5,
        seed: 7,
        requested_by: REQUESTER.into(),
    }
}

/// The same week under a policy that books at most one overbooked slot without
/// approval.
fn strict_week() -> ScannerWeekRequest {
    let mut w = week();
    w.policy.max_overbooked_slots = 1;
    w
}

/// A fresh database with the imaging managers and the committed no-show model promoted
/// to production; returns the model file's sha256.
async fn hospital() -> (tempfile::TempDir, Db, String) {
    let (dir, db) = careflow_testkit::db::sqlite().await;
    for name in [REQUESTER, APPROVER] {
        common::staff_user(&db, name, Role::ImagingManager).await;
    }
    let model = careflow_forecasters::bundle::latest_version_dir(&models_dir(), "scanner-no-show")
        .expect("committed scanner-no-show model");
    let sha =
        common::promote_committed_model(&db, &model, "validated on held-out appointments").await;
    (dir, db, sha)
}

async fn start(client: &Client, booking_id: &str, request: ScannerWeekRequest) {
    client
        .start_workflow(
            ScannerBookingWorkflow::run,
            ScannerBookingInput {
                booking_id: booking_id.into(),
                request,
            },
            WorkflowStartOptions::new(TASK_QUEUE, booking_id.to_owned()).build(),
        )
        .await
        .expect("start scanner booking");
}

/// Waits until revision `revision` has an open task of `kind` in `role`'s queue.
async fn open_task(db: &Db, workflow_id: &str, revision: u32, kind: &str, role: Role) -> String {
    let task_id = format!("{workflow_id}-r{revision}-approve");
    poll(
        &format!("task {task_id} open in the {role} queue"),
        Duration::from_secs(120),
        Duration::from_millis(100),
        || async {
            let row =
                sqlx::query("SELECT kind, role FROM tasks WHERE task_id = $1 AND status = 'open'")
                    .bind(&task_id)
                    .fetch_optional(db.pool())
                    .await
                    .expect("query")?;
            assert_eq!(row.get::<String, _>("kind"), kind);
            (row.get::<String, _>("role") == role.as_str()).then(|| task_id.clone())
        },
    )
    .await
}

async fn task_summary(db: &Db, task_id: &str) -> String {
    sqlx::query("SELECT summary FROM tasks WHERE task_id = $1")
        .bind(task_id)
        .fetch_one(db.pool())
        .await
        .expect("task")
        .get("summary")
}

async fn status(client: &Client, workflow_id: &str) -> ScannerBookingStatus {
    client
        .get_workflow_handle::<ScannerBookingWorkflow>(workflow_id.to_owned())
        .query(
            ScannerBookingWorkflow::status,
            (),
            WorkflowQueryOptions::default(),
        )
        .await
        .expect("status")
}

/// Waits until the workflow reaches `stage` with revision `revision`.
async fn reaches(
    client: &Client,
    workflow_id: &str,
    revision: u32,
    stage: ScannerStage,
) -> ScannerBookingStatus {
    poll(
        &format!("{workflow_id} revision {revision} {stage:?}"),
        Duration::from_secs(120),
        Duration::from_millis(100),
        || async {
            let s = status(client, workflow_id).await;
            (s.revision == revision && s.stage == stage).then_some(s)
        },
    )
    .await
}

/// Every decision of these tests goes through here.
async fn decide(
    db: &Db,
    client: &Client,
    workflow_id: &str,
    task_id: &str,
    approve: bool,
    actor: &str,
    role: Role,
) -> Result<String, String> {
    let d = Decision {
        task_id: task_id.into(),
        approve,
        actor: actor.into(),
        role,
        reason: "agreed at the imaging huddle".into(),
        bed_id: None,
        signature_id: None,
    };
    let d = common::signed_if_allowed(db, d).await;
    client
        .get_workflow_handle::<ScannerBookingWorkflow>(workflow_id.to_owned())
        .execute_update(
            ScannerBookingWorkflow::decide,
            d,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn attend(
    client: &Client,
    workflow_id: &str,
    request_id: &str,
    outcome: ScanAttendance,
    by: &str,
) -> Result<String, String> {
    client
        .get_workflow_handle::<ScannerBookingWorkflow>(workflow_id.to_owned())
        .execute_update(
            ScannerBookingWorkflow::record_attendance,
            AttendanceReport {
                request_id: request_id.into(),
                outcome,
                recorded_by: by.into(),
            },
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn outcome(client: &Client, workflow_id: &str) -> ScannerBookingOutcome {
    client
        .get_workflow_handle::<ScannerBookingWorkflow>(workflow_id.to_owned())
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("booking outcome")
}

async fn booking_status(db: &Db, booking_id: &str, revision: u32) -> String {
    sqlx::query("SELECT status FROM scanner_bookings WHERE booking_id = $1 AND revision = $2")
        .bind(booking_id)
        .bind(i64::from(revision))
        .fetch_one(db.pool())
        .await
        .expect("booking row")
        .get("status")
}

async fn count(db: &Db, sql: &str, workflow_id: &str) -> i64 {
    sqlx::query(sql)
        .bind(workflow_id)
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_booking_within_policy_is_booked_without_a_person_and_attendance_closes_it() {
    let (_server, client) = start_server().await;
    let (_dir, db, sha) = hospital().await;
    let wf = "scan-week-a";
    with_worker(&client, &db, async {
        start(&client, wf, week()).await;
        let s = reaches(&client, wf, 0, ScannerStage::Booked).await;
        let p = s.proposal.expect("proposal");
        assert_eq!(p.no_show.model_name, "scanner-no-show");
        assert_eq!(p.no_show.model_sha256, sha);
        assert_eq!(p.booked.len(), 6, "{p:?}");
        assert_eq!(p.waiting.len(), 1);
        assert_eq!(
            p.overbooked_slots, 2,
            "two overbooked slots: within the policy of 2"
        );
        assert!(p.breaches.is_empty() && p.over_policy.is_empty());
        assert!(p
            .booked
            .iter()
            .all(|b| b.no_show_probability > 0.2 && b.no_show_probability < 0.6));
        assert!(
            p.expected_overtime_slots <= 0.5 + 1e-9,
            "{}",
            p.expected_overtime_slots
        );
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM tasks WHERE workflow_id = $1",
                wf
            )
            .await,
            0
        );
        let booked = audit::entries_for_workflow(&db, wf)
            .await
            .expect("audit")
            .into_iter()
            .find(|e| e.action == "scanner_booking.booked")
            .expect("booked entry");
        assert_eq!(
            (booked.actor.as_str(), booked.role.as_str()),
            ("careflow", "system")
        );
        assert!(
            booked
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("within policy")),
            "{booked:?}"
        );
        eprintln!(
            "within policy: solver {} in {:.2} s, gap {:?}, {} booked, {} overbooked slot(s), \
             expected overtime {:.3} slots",
            p.solver_status,
            p.solve_seconds,
            p.mip_gap,
            p.booked.len(),
            p.overbooked_slots,
            p.expected_overtime_slots
        );

        // The stored solver input is content-addressed and solves again to the same
        // objective.
        let steps = decisions::steps(&db, wf).await.expect("steps");
        let names: Vec<&str> = steps.iter().map(|x| x.step.as_str()).collect();
        assert_eq!(names, ["forecast/r0", "solve/r0"]);
        assert!(steps.iter().all(|x| x.models[0].sha256 == sha));
        let solve = steps[1].clone();
        assert_eq!(solve.snapshot_sha256, p.snapshot_sha256);
        assert_eq!(
            (
                solve.solver.as_deref(),
                solve.seed,
                solve.time_limit_s,
                solve.threads
            ),
            (Some("HiGHS"), Some(7), Some(5.0), Some(1))
        );
        let snapshot = decisions::snapshot(&db, &solve.snapshot_sha256)
            .await
            .expect("read")
            .expect("snapshot stored");
        let again = tokio::task::spawn_blocking(move || replay_solve(&snapshot.json, &solve))
            .await
            .expect("join")
            .expect("replay");
        assert!(
            (again.objective - p.objective).abs() < 1e-6,
            "{} vs {}",
            again.objective,
            p.objective
        );
        if p.solver_status == "optimal" {
            assert_eq!(again.result_digest, steps[1].result_digest);
        }

        // `decision explain`: cost terms that add up to the objective, and the request
        // left waiting named with why (every suitable scanner-day full, or a free slot
        // that cost more than waiting).
        let why = careflow_activities::decisions::Decisions::new(db.clone(), models_dir())
            .explain("ivy", Role::ImagingManager, wf, Some(&p.decision_step))
            .await
            .expect("explain");
        let total: f64 = why.cost_terms.iter().map(|t| t.cost).sum();
        assert!(
            (total - p.objective).abs() < 1e-6,
            "cost terms {total} vs objective {}: {:?}",
            p.objective,
            why.cost_terms
        );
        let waits = why
            .changes
            .iter()
            .find(|c| c.subject == p.waiting[0])
            .expect("the waiting request explained");
        assert_eq!(waits.change, "waits for next week");
        assert!(
            waits
                .why
                .starts_with("every scanner-day that could take it is full")
                || waits.why.starts_with("slots were free"),
            "{}",
            waits.why
        );

        // Attendance: refused for a scan that is not booked; refused by the store for
        // someone who holds no imaging role; recorded for each booked scan.
        let waiting = p.waiting[0].clone();
        let err = attend(&client, wf, &waiting, ScanAttendance::Attended, APPROVER)
            .await
            .unwrap_err();
        assert!(
            err.contains(&format!("request_id: request {waiting} has no booked scan")),
            "{err}"
        );
        let first = p.booked[0].request_id.clone();
        attend(&client, wf, &first, ScanAttendance::Attended, "clerk.ana")
            .await
            .expect("taken by the workflow, checked by the store");
        poll(
            "the clerk's report refused",
            Duration::from_secs(60),
            Duration::from_millis(100),
            || async { (status(&client, wf).await.attendance_refused == 1).then_some(()) },
        )
        .await;
        assert_eq!(status(&client, wf).await.attendance_recorded, 0);
        for (i, b) in p.booked.iter().enumerate() {
            let outcome = if i % 3 == 0 {
                ScanAttendance::NoShow
            } else {
                ScanAttendance::Attended
            };
            attend(&client, wf, &b.request_id, outcome, APPROVER)
                .await
                .expect("attendance");
        }
        let done = outcome(&client, wf).await;
        assert_eq!(done.stage, ScannerStage::Closed);
        let outcomes = scanner::no_show_outcomes(&db, "scanner-no-show")
            .await
            .expect("outcomes");
        assert_eq!(outcomes.len(), 6);
        for o in &outcomes {
            let b = p
                .booked
                .iter()
                .find(|b| b.request_id == o.request_id)
                .expect("booked");
            assert_eq!(o.predicted, b.no_show_probability);
            assert_eq!(o.model_sha256, sha);
        }
        assert!(outcomes.iter().any(|o| o.no_show) && outcomes.iter().any(|o| !o.no_show));
        maybe_record(&client, wf, "scanner_booked_within_policy").await;
    })
    .await;
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn overbooking_beyond_policy_is_booked_once_the_imaging_manager_approves() {
    let (_server, client) = start_server().await;
    let (_dir, db, sha) = hospital().await;
    let wf = "scan-week-b";
    with_worker(&client, &db, async {
        start(&client, wf, strict_week()).await;
        let task = open_task(&db, wf, 0, "scanner_booking", Role::ImagingManager).await;
        assert_eq!(booking_status(&db, wf, 0).await, "proposed");
        let p = reaches(&client, wf, 0, ScannerStage::AwaitingApproval)
            .await
            .proposal
            .expect("proposal");
        assert_eq!(p.overbooked_slots, 2);
        assert_eq!(
            p.over_policy,
            ["2 overbooked slot(s); policy books up to 1 without approval"]
        );
        let summary = task_summary(&db, &task).await;
        assert!(
            summary.contains("CT1 day 0 6 booked for 4 open"),
            "{summary}"
        );
        assert!(summary.contains(&sha[..12]), "{summary}");
        assert!(
            !summary.contains("PK-"),
            "no patient key in the task: {summary}"
        );
        eprintln!("over policy: {summary}");

        // Whoever asked for the booking may not approve it.
        let refused = decide(
            &db,
            &client,
            wf,
            &task,
            true,
            REQUESTER,
            Role::ImagingManager,
        )
        .await;
        assert!(refused.unwrap_err().contains("someone else must decide it"));
        decide(
            &db,
            &client,
            wf,
            &task,
            true,
            APPROVER,
            Role::ImagingManager,
        )
        .await
        .expect("approval");
        reaches(&client, wf, 0, ScannerStage::Booked).await;
        assert_eq!(booking_status(&db, wf, 0).await, "booked");
        let booked_scans = count(
            &db,
            "SELECT COUNT(*) AS n FROM scan_appointments WHERE workflow_id = $1",
            wf,
        )
        .await;
        assert_eq!(booked_scans, 6);
        maybe_record(&client, wf, "scanner_overbooking_approved").await;
    })
    .await;
    let approved = audit::entries_for_workflow(&db, wf)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "task.approved")
        .expect("approval entry");
    assert_eq!(
        (approved.actor.as_str(), approved.role.as_str()),
        (APPROVER, "imaging_manager")
    );
    assert_eq!(
        approved.meaning.as_deref(),
        Some("approved scanner booking beyond policy")
    );
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_booking_is_replanned_without_overbooking() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "scan-week-r";
    with_worker(&client, &db, async {
        start(&client, wf, strict_week()).await;
        let task = open_task(&db, wf, 0, "scanner_booking", Role::ImagingManager).await;
        decide(
            &db,
            &client,
            wf,
            &task,
            false,
            APPROVER,
            Role::ImagingManager,
        )
        .await
        .expect("rejection");
        let s = reaches(&client, wf, 1, ScannerStage::Booked).await;
        let p = s.proposal.expect("re-plan");
        assert!(!p.overbooking_allowed);
        assert_eq!(
            (p.overbooked_slots, p.booked.len(), p.waiting.len()),
            (0, 4, 3)
        );
        assert!(p.booked.iter().all(|b| !b.overbooked));
        assert_eq!(booking_status(&db, wf, 0).await, "rejected");
        assert_eq!(booking_status(&db, wf, 1).await, "booked");
        let steps: Vec<String> = decisions::steps(&db, wf)
            .await
            .expect("steps")
            .into_iter()
            .map(|s| s.step)
            .collect();
        assert_eq!(steps, ["forecast/r0", "solve/r0", "solve/r1"]);
        maybe_record(&client, wf, "scanner_rejected_then_replanned").await;
    })
    .await;
    let a = actions(&db, wf).await;
    assert!(a.contains(&"task.rejected".to_owned()), "{a:?}");
    assert_eq!(
        a.iter().filter(|x| *x == "scanner_booking.booked").count(),
        1
    );
    assert_eq!(a.last().map(String::as_str), Some("scanner_booking.booked"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecided_booking_escalates_to_the_site_manager() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "scan-week-late";
    with_worker(&client, &db, async {
        start(&client, wf, strict_week()).await;
        let task = open_task(&db, wf, 0, "scanner_booking", Role::ImagingManager).await;
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
        assert_eq!(
            open_task(&db, wf, 0, "scanner_booking", Role::SiteManager).await,
            task
        );
        let refused = decide(
            &db,
            &client,
            wf,
            &task,
            true,
            APPROVER,
            Role::ImagingManager,
        )
        .await;
        assert!(refused.unwrap_err().contains("site_manager queue"));
        decide(&db, &client, wf, &task, true, "site.sam", Role::SiteManager)
            .await
            .expect("site manager approves");
        let s = reaches(&client, wf, 0, ScannerStage::Booked).await;
        assert_eq!(s.escalations, 1);
        maybe_record(&client, wf, "scanner_escalated_then_approved").await;
    })
    .await;
    let approved = audit::entries_for_workflow(&db, wf)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "task.approved")
        .expect("approval entry");
    assert_eq!(
        (approved.actor.as_str(), approved.role.as_str()),
        ("site.sam", "site_manager")
    );
    assert!(actions(&db, wf)
        .await
        .contains(&"task.escalated".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_the_booking_withdraws_the_open_proposal() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "scan-week-c";
    with_worker(&client, &db, async {
        start(&client, wf, strict_week()).await;
        let task = open_task(&db, wf, 0, "scanner_booking", Role::ImagingManager).await;
        let handle = client.get_workflow_handle::<ScannerBookingWorkflow>(wf.to_owned());
        handle
            .cancel(
                WorkflowCancelOptions::builder()
                    .reason("CT1 taken out of service".to_owned())
                    .build(),
            )
            .await
            .expect("cancel");
        let done = outcome(&client, wf).await;
        assert_eq!(done.stage, ScannerStage::Cancelled);
        assert_eq!(done.reason.as_deref(), Some("CT1 taken out of service"));
        assert!(done.booked.is_none());
        assert_eq!(booking_status(&db, wf, 0).await, "cancelled");
        let task_status: String = sqlx::query("SELECT status FROM tasks WHERE task_id = $1")
            .bind(&task)
            .fetch_one(db.pool())
            .await
            .expect("task")
            .get("status");
        assert_eq!(task_status, "cancelled");
        maybe_record(&client, wf, "scanner_cancelled_while_waiting").await;
    })
    .await;
    assert!(actions(&db, wf)
        .await
        .contains(&"scanner_booking.withdrawn".to_owned()));
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM scan_appointments WHERE workflow_id = $1",
            wf
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_cannot_meet_its_deadline_escalates_naming_it_and_why() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "scan-week-d";
    with_worker(&client, &db, async {
        // An urgent contrast MRI due today, and the only MRI scanner gives no contrast.
        let mut w = week();
        w.requests.truncate(3);
        w.scanners.push(ScannerWeek {
            scanner_id: "MRI1".into(),
            modality: ScanModality::Mri,
            contrast: false,
            closures: Vec::new(),
            anaesthesia_days: Vec::new(),
        });
        w.requests.push(ScanRequestEntry {
            modality: ScanModality::Mri,
            urgency: ScanUrgency::Urgent,
            deadline_day: 0,
            contrast: true,
            inpatient: true,
            ..likely_no_show("U1")
        });
        start(&client, wf, w).await;
        let task = open_task(&db, wf, 0, "scan_deadline", Role::ImagingManager).await;
        let summary = task_summary(&db, &task).await;
        assert!(
            summary.contains(
                "U1 (urgent MRI, due day 0): no MRI contrast-capable scanner is open between day 0 and its deadline, day 0"
            ),
            "{summary}"
        );
        assert!(!summary.contains("PK-"), "{summary}");
        let p = status(&client, wf).await.proposal.expect("proposal");
        assert_eq!(p.breaches.len(), 1);
        assert!(p.over_policy.iter().any(|r| r == "urgent request U1 cannot be scanned by its deadline"));
        assert_eq!(p.booked.len(), 3, "the rest of the week is booked");
        decide(&db, &client, wf, &task, true, APPROVER, Role::ImagingManager)
            .await
            .expect("accepted: U1 goes to the partner hospital");
        reaches(&client, wf, 0, ScannerStage::Booked).await;
        maybe_record(&client, wf, "scanner_missed_deadline_accepted").await;
    })
    .await;
    let approved = audit::entries_for_workflow(&db, wf)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "task.approved")
        .expect("approval entry");
    assert_eq!(
        approved.meaning.as_deref(),
        Some("accepted scan requests missing their deadline")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_fails_with_the_located_field_and_stores_nothing() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "scan-week-bad";
    with_worker(&client, &db, async {
        let mut bad = week();
        bad.week_start = "2027-02-30".into();
        bad.requests[2].patient_key = "MRN-0042".into();
        bad.requests[4].slots = 0;
        start(&client, wf, bad).await;
        let err = client
            .get_workflow_handle::<ScannerBookingWorkflow>(wf.to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("invalid week");
        let err = format!("{err:?}");
        assert!(
            err.contains("week_start: '2027-02-30' is not a date"),
            "{err}"
        );
        assert!(
            err.contains("requests[2].patient_key: must be a pseudonymous patient key"),
            "{err}"
        );
        assert!(
            err.contains("requests[4].slots: 0 is outside 1..=8"),
            "{err}"
        );
        assert!(
            !err.contains("MRN-0042"),
            "the bad identifier is not echoed: {err}"
        );
    })
    .await;
    for table in [
        "scanner_bookings",
        "scan_appointments",
        "decision_steps",
        "tasks",
        "audit_log",
    ] {
        let n = count(
            &db,
            &format!("SELECT COUNT(*) AS n FROM {table} WHERE workflow_id = $1"),
            wf,
        )
        .await;
        assert_eq!(n, 0, "{table} has rows for {wf}");
    }
    let snapshots: i64 = sqlx::query("SELECT COUNT(*) AS n FROM decision_snapshots")
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n");
    assert_eq!(snapshots, 0);
}
