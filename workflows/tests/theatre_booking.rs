//! The theatre-booking workflow against the official Temporal test server (time
//! skipping), a real SQLite domain database, the committed `surgery-duration` ONNX model
//! run by ONNX Runtime and HiGHS, on a small generated week (3 theatres, 20 cases, 5
//! days): the list is published only after the theatre administrator approves it; a
//! rejection leaves no list in force until a change re-plans it; an undecided list
//! escalates to the site manager; cancelling the workflow withdraws the open proposal;
//! a day-of cancellation is published at once while an emergency case that moves a
//! booked patient goes back for approval; bad input fails with the located field and
//! stores nothing; and each solver step's stored snapshot solves again to the same
//! objective.

use std::time::Duration;

use sqlx::Row;
use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions,
    WorkflowQueryOptions, WorkflowStartOptions,
};
use temporalio_common::protos::temporal::api::testservice::v1::SleepRequest;

use careflow_activities::theatre_booking::replay_solve;
use careflow_forecasters::bundle::sha256_file;
use careflow_store::{audit, decisions, Db};
use careflow_testkit::poll::poll;
use careflow_types::{
    CloseWeek, DayOfChange, DayOfEvent, Decision, Role, SurgeonWeek, TheatreBookingInput,
    TheatreListStatus, TheatreSession, TheatreStage, TheatreWeek, TheatreWeekOutcome,
    TheatreWeekRequest, UrgencyCategory, WaitingCase, TASK_QUEUE,
};
use careflow_workflows::TheatreBookingWorkflow;

mod common;
use common::{actions, maybe_record, models_dir, signed, start_server, with_worker};

/// The theatre administrators: tom asks for the lists, tess approves them.
const REQUESTER: &str = "theatre.tom";
const APPROVER: &str = "theatre.tess";

/// The week planned: a Monday far enough ahead that the week never ends during a test.
const WEEK_START: &str = "2027-03-01";

fn case(
    id: &str,
    procedure: &str,
    surgeon: &str,
    category: UrgencyCategory,
    days_waited: u32,
) -> WaitingCase {
    WaitingCase {
        case_id: id.into(),
        patient_key: format!("PK-{id}"),
        procedure: procedure.into(),
        specialty: match procedure {
            "total_knee_arthroplasty" | "total_hip_arthroplasty" => "orthopaedics",
            "cystoscopy_turbt" => "urology",
            _ => "general_surgery",
        }
        .into(),
        surgeon_id: surgeon.into(),
        category,
        days_waited,
        asa_class: 2,
        bmi_ge_35: false,
        teaching_case: false,
        release_day: 0,
    }
}

fn theatre(id: &str, days: &[u32], minutes: u32, overtime: u32) -> TheatreWeek {
    TheatreWeek {
        theatre_id: id.into(),
        sessions: days
            .iter()
            .map(|&day| TheatreSession {
                day,
                staffed_minutes: minutes,
            })
            .collect(),
        max_overtime_minutes: overtime,
    }
}

/// A small surgical week: general surgeon S01 has more cases than their two days
/// hold (so some wait), one P2 case falls due mid-week, one P4 case is past its
/// 18-week deadline.
fn week() -> TheatreWeekRequest {
    use UrgencyCategory::*;
    let mut cases = Vec::new();
    for i in 1..=5 {
        cases.push(case(
            &format!("C{i:02}"),
            "lap_cholecystectomy",
            "S01",
            P3,
            20 + i,
        ));
        cases.push(case(
            &format!("C{:02}", i + 5),
            "inguinal_hernia_repair",
            "S01",
            P4,
            30 + i,
        ));
    }
    cases.extend([
        case("C11", "total_knee_arthroplasty", "S02", P3, 40),
        case("C12", "total_hip_arthroplasty", "S02", P3, 60),
        case("C13", "total_knee_arthroplasty", "S02", P4, 130),
        case("C14", "total_hip_arthroplasty", "S02", P4, 12),
        case("C15", "cystoscopy_turbt", "S03", P2, 28),
        case("C16", "cystoscopy_turbt", "S03", P2, 10),
        case("C17", "cystoscopy_turbt", "S03", P3, 15),
        case("C18", "cystoscopy_turbt", "S03", P4, 5),
        case("C19", "colectomy", "S04", P2, 12),
        case("C20", "colectomy", "S04", P3, 50),
    ]);
    TheatreWeekRequest {
        week_start: WEEK_START.into(),
        days: 5,
        // Sessions of different lengths: no two theatres are interchangeable.
        theatres: vec![
            theatre("T1", &[0, 1, 2, 3, 4], 480, 60),
            theatre("T2", &[0, 1, 2, 3], 420, 60),
            theatre("T3", &[1, 3], 300, 30),
        ],
        surgeons: vec![
            SurgeonWeek {
                surgeon_id: "S01".into(),
                days: vec![0, 2],
                max_minutes_per_day: 540,
            },
            SurgeonWeek {
                surgeon_id: "S02".into(),
                days: vec![1, 3],
                max_minutes_per_day: 540,
            },
            SurgeonWeek {
                surgeon_id: "S03".into(),
                days: vec![0, 1, 2, 3, 4],
                max_minutes_per_day: 540,
            },
            SurgeonWeek {
                surgeon_id: "S04".into(),
                days: vec![2, 4],
                max_minutes_per_day: 540,
            },
        ],
        cases,
        target_utilisation: 0.85,
        solve_seconds: 5,
        seed: 7,
        requested_by: REQUESTER.into(),
    }
}

/// A fresh database with the theatre staff and the committed duration model promoted
/// to production; returns the model file's sha256.
async fn hospital() -> (tempfile::TempDir, Db, String) {
    let (dir, db) = careflow_testkit::db::sqlite().await;
    for (name, role) in [
        (REQUESTER, Role::TheatreAdmin),
        (APPROVER, Role::TheatreAdmin),
    ] {
        careflow_store::users::upsert_with_password(
            &db,
            name,
            role,
            Some(common::STAFF_PASSWORD),
            "test",
        )
        .await
        .expect("theatre staff");
    }
    let sha = promote_duration_model(&db).await;
    (dir, db, sha)
}

async fn promote_duration_model(db: &Db) -> String {
    let dir = careflow_forecasters::bundle::latest_version_dir(&models_dir(), "surgery-duration")
        .expect("committed surgery-duration model");
    common::promote_committed_model(db, &dir, "validated on the held-out cases").await
}

async fn start(client: &Client, list_id: &str, request: TheatreWeekRequest) {
    client
        .start_workflow(
            TheatreBookingWorkflow::run,
            TheatreBookingInput {
                list_id: list_id.into(),
                request,
            },
            WorkflowStartOptions::new(TASK_QUEUE, list_id.to_owned()).build(),
        )
        .await
        .expect("start theatre week");
}

/// Waits until revision `revision` has an open approval task in `role`'s queue.
async fn open_task(db: &Db, workflow_id: &str, revision: u32, role: Role) -> String {
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
            assert_eq!(row.get::<String, _>("kind"), "theatre_list");
            (row.get::<String, _>("role") == role.as_str()).then(|| task_id.clone())
        },
    )
    .await
}

async fn status(client: &Client, workflow_id: &str) -> TheatreListStatus {
    client
        .get_workflow_handle::<TheatreBookingWorkflow>(workflow_id.to_owned())
        .query(
            TheatreBookingWorkflow::status,
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
    stage: TheatreStage,
) -> TheatreListStatus {
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

fn decision(task_id: &str, approve: bool, actor: &str, role: Role) -> Decision {
    Decision {
        task_id: task_id.into(),
        approve,
        actor: actor.into(),
        role,
        reason: "lists agreed at the theatre scheduling meeting".into(),
        bed_id: None,
        signature_id: None,
    }
}

async fn decide(client: &Client, workflow_id: &str, d: Decision) -> Result<String, String> {
    client
        .get_workflow_handle::<TheatreBookingWorkflow>(workflow_id.to_owned())
        .execute_update(
            TheatreBookingWorkflow::decide,
            d,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn report(client: &Client, workflow_id: &str, event: DayOfEvent) -> Result<String, String> {
    client
        .get_workflow_handle::<TheatreBookingWorkflow>(workflow_id.to_owned())
        .execute_update(
            TheatreBookingWorkflow::report_event,
            event,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn close(client: &Client, workflow_id: &str) -> TheatreWeekOutcome {
    let handle = client.get_workflow_handle::<TheatreBookingWorkflow>(workflow_id.to_owned());
    handle
        .execute_update(
            TheatreBookingWorkflow::close_week,
            CloseWeek {
                closed_by: APPROVER.into(),
                reason: "the week's lists are done".into(),
            },
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .expect("close");
    handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("week outcome")
}

async fn list_status(db: &Db, list_id: &str, revision: u32) -> String {
    sqlx::query("SELECT status FROM theatre_lists WHERE list_id = $1 AND revision = $2")
        .bind(list_id)
        .bind(i64::from(revision))
        .fetch_one(db.pool())
        .await
        .expect("list row")
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

fn event(day: u32, change: DayOfChange) -> DayOfEvent {
    DayOfEvent {
        day,
        reported_by: REQUESTER.into(),
        change,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_week_is_published_after_approval_and_a_cancellation_is_replanned_at_once() {
    let (_server, client) = start_server().await;
    let (_dir, db, sha) = hospital().await;
    let wf = "theatre-week-a";
    with_worker(&client, &db, async {
        start(&client, wf, week()).await;
        let task = open_task(&db, wf, 0, Role::TheatreAdmin).await;
        assert_eq!(list_status(&db, wf, 0).await, "proposed");
        let s = reaches(&client, wf, 0, TheatreStage::AwaitingApproval).await;
        let p = s.proposal.expect("proposal");

        // What the approver sees: durations from the production model by hash, every
        // session's load and overtime risk, and the cases that wait with the reason.
        assert_eq!(p.durations.model_name, "surgery-duration");
        assert_eq!(p.durations.model_sha256, sha);
        assert_eq!(p.booked.len() + p.deferred.len(), 20);
        assert_eq!(p.sessions.len(), 11);
        assert!(
            p.utilisation > 0.3 && p.utilisation < 1.2,
            "{}",
            p.utilisation
        );
        assert!(p
            .sessions
            .iter()
            .all(|x| (0.0..=1.0).contains(&x.overtime_probability)));
        assert!(p.expected_overtime_minutes >= 0.0);
        assert!(p.booked.iter().all(|b| b.p90_minutes > b.p50_minutes));
        assert!(
            p.deferred.iter().all(|d| d.reason.contains("surgeon")),
            "{:?}",
            p.deferred
        );
        assert!(
            p.deferred.iter().all(|d| d.category != UrgencyCategory::P1),
            "urgent work is never deferred"
        );
        let c15 = p
            .booked
            .iter()
            .find(|b| b.case_id == "C15")
            .expect("C15 due mid-week is booked");
        assert!(c15.day <= 2, "C15 (P2, due day 2) on day {}", c15.day);
        assert!(p.changes.is_empty());
        let summary: String = sqlx::query("SELECT summary FROM tasks WHERE task_id = $1")
            .bind(&task)
            .fetch_one(db.pool())
            .await
            .expect("task")
            .get("summary");
        assert!(
            summary.contains("utilisation") && summary.contains("expected overtime"),
            "{summary}"
        );
        assert!(summary.contains(&sha[..12]), "{summary}");
        assert!(
            !summary.contains("PK-"),
            "no patient key in the task: {summary}"
        );
        eprintln!("week's first list: {summary}");

        // Each solver and forecaster step stored what it used; the stored input is
        // content-addressed and solves again to the same objective.
        let steps = decisions::steps(&db, wf).await.expect("steps");
        let names: Vec<&str> = steps.iter().map(|x| x.step.as_str()).collect();
        assert_eq!(names, ["forecast/r0", "solve/r0"]);
        assert!(steps
            .iter()
            .all(|x| x.models[0].sha256 == sha && x.careflow_version == env!("CARGO_PKG_VERSION")));
        let solve = &steps[1];
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
        let file = tempfile::NamedTempFile::new().expect("tmp");
        std::fs::write(file.path(), &snapshot.json).expect("write");
        assert_eq!(
            sha256_file(file.path()).expect("hash"),
            solve.snapshot_sha256
        );
        let json = snapshot.json.clone();
        let step = solve.clone();
        let again = tokio::task::spawn_blocking(move || replay_solve(&json, &step))
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
            assert_eq!(again.result_digest, solve.result_digest);
        }

        // "Why was this case deferred?": explain names every deferred case with the
        // reason the administrator saw; the replay service reproduces the step.
        let service = careflow_activities::decisions::Decisions::new(db.clone(), models_dir());
        let why = service
            .explain("aud.ines", Role::Auditor, wf, Some("solve/r0"))
            .await
            .expect("explain");
        assert!(!p.deferred.is_empty());
        for d in &p.deferred {
            assert!(
                why.changes
                    .iter()
                    .any(|c| c.subject == d.case_id && c.change == "deferred" && c.why == d.reason),
                "{} missing from {:?}",
                d.case_id,
                why.changes
            );
        }
        let replayed = service
            .replay("aud.ines", Role::Auditor, wf, None)
            .await
            .expect("replay");
        assert!(replayed.verdict.reproduced(), "{}", replayed.summary);

        // The week cannot be closed while its list awaits a decision.
        let early = client
            .get_workflow_handle::<TheatreBookingWorkflow>(wf.to_owned())
            .execute_update(
                TheatreBookingWorkflow::close_week,
                CloseWeek {
                    closed_by: APPROVER.into(),
                    reason: "no lists this week".into(),
                },
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect_err("close refused");
        assert!(
            format!("{early:?}").contains("awaits a decision"),
            "{early:?}"
        );

        // The requester may not approve the list they asked for.
        let own = decide(
            &client,
            wf,
            signed(&db, decision(&task, true, REQUESTER, Role::TheatreAdmin)).await,
        )
        .await;
        assert!(own.unwrap_err().contains("someone else must decide"));
        let answer = decide(
            &client,
            wf,
            signed(&db, decision(&task, true, APPROVER, Role::TheatreAdmin)).await,
        )
        .await
        .expect("approval");
        assert!(answer.contains("published"), "{answer}");
        let s = reaches(&client, wf, 0, TheatreStage::Published).await;
        assert_eq!(s.in_force, Some(0));
        assert_eq!(list_status(&db, wf, 0).await, "published");

        // Bad events are refused with the field located, and change nothing.
        let bad = report(
            &client,
            wf,
            event(
                9,
                DayOfChange::CaseCancelled {
                    case_id: "C99".into(),
                    reason: "x".into(),
                },
            ),
        )
        .await
        .unwrap_err();
        for located in [
            "day: day 9 is outside",
            "change.case_id: case C99 is not on",
            "change.reason",
        ] {
            assert!(bad.contains(located), "{located} in {bad}");
        }
        // A cancellation frees time and moves nobody: published at once, audited.
        let victim = p
            .booked
            .iter()
            .find(|b| b.surgeon_id == "S02" && b.day == 3)
            .map(|b| b.case_id.clone())
            .expect("a case of S02 on day 3");
        let answer = report(
            &client,
            wf,
            event(
                2,
                DayOfChange::CaseCancelled {
                    case_id: victim.clone(),
                    reason: "patient unwell".into(),
                },
            ),
        )
        .await
        .expect("cancellation taken");
        assert!(answer.contains("re-planned from day 2"), "{answer}");
        let s = reaches(&client, wf, 1, TheatreStage::Published).await;
        assert_eq!(s.in_force, Some(1));
        let r1 = s.proposal.expect("r1");
        assert!(r1.changes.is_empty(), "{:?}", r1.changes);
        assert!(r1.booked.iter().all(|b| b.case_id != victim));
        assert_eq!(r1.from_day, 2);
        assert_eq!(list_status(&db, wf, 0).await, "superseded");
        let r1_row = sqlx::query(
            "SELECT status, decided_by FROM theatre_lists WHERE list_id = $1 AND revision = 1",
        )
        .bind(wf)
        .fetch_one(db.pool())
        .await
        .expect("r1 row");
        assert_eq!(r1_row.get::<String, _>("status"), "published");
        assert_eq!(r1_row.get::<String, _>("decided_by"), "careflow");

        let outcome = close(&client, wf).await;
        assert_eq!(outcome.stage, TheatreStage::Closed);
        assert_eq!(outcome.in_force.map(|p| p.revision), Some(1));
        maybe_record(&client, wf, "theatre_published_then_replanned").await;
    })
    .await;

    let acts = actions(&db, wf).await;
    for a in [
        "decision.recorded",
        "theatre_list.proposed",
        "task.approved",
        "theatre_list.published",
    ] {
        assert!(acts.contains(&a.to_owned()), "{a} in {acts:?}");
    }
    let published_unchanged = audit::entries_for_workflow(&db, wf)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "theatre_list.published")
        .any(|e| {
            e.reason
                .as_deref()
                .unwrap_or_default()
                .contains("published without approval")
        });
    assert!(published_unchanged);
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_list_leaves_none_in_force_until_a_change_replans_it() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "theatre-week-r";
    with_worker(&client, &db, async {
        start(&client, wf, week()).await;
        let task = open_task(&db, wf, 0, Role::TheatreAdmin).await;
        decide(
            &client,
            wf,
            signed(&db, decision(&task, false, APPROVER, Role::TheatreAdmin)).await,
        )
        .await
        .expect("rejection");
        let s = reaches(&client, wf, 0, TheatreStage::Rejected).await;
        assert_eq!(s.in_force, None);
        assert_eq!(list_status(&db, wf, 0).await, "rejected");

        // The administrator staffs an extra Friday list; the re-plan needs approval
        // again (no list is in force), from a new task.
        report(
            &client,
            wf,
            DayOfEvent {
                day: 0,
                reported_by: APPROVER.into(),
                change: DayOfChange::SessionAdded {
                    theatre_id: "T2".into(),
                    session_day: 4,
                    staffed_minutes: 420,
                },
            },
        )
        .await
        .expect("extra session");
        let t1 = open_task(&db, wf, 1, Role::TheatreAdmin).await;
        assert_ne!(t1, task);
        // Whoever reported the change may not approve the re-plan it caused.
        let own = decide(
            &client,
            wf,
            signed(&db, decision(&t1, true, APPROVER, Role::TheatreAdmin)).await,
        )
        .await;
        assert!(own.unwrap_err().contains("someone else must decide"));
        decide(
            &client,
            wf,
            signed(&db, decision(&t1, true, REQUESTER, Role::TheatreAdmin)).await,
        )
        .await
        .expect("approval of r1");
        let s = reaches(&client, wf, 1, TheatreStage::Published).await;
        let r1 = s.proposal.expect("r1");
        assert_eq!(r1.sessions.len(), 12);
        assert!(r1.replanned_after[0].contains("extra 420-minute session in theatre T2 on day 4"));
        assert_eq!(r1.from_day, 0);
        assert_eq!(list_status(&db, wf, 1).await, "published");
        let outcome = close(&client, wf).await;
        assert_eq!(outcome.in_force.map(|p| p.revision), Some(1));
        maybe_record(&client, wf, "theatre_rejected_then_replanned").await;
    })
    .await;
    let acts = actions(&db, wf).await;
    assert!(
        acts.contains(&"theatre_list.rejected".to_owned()),
        "{acts:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecided_list_escalates_to_the_site_manager() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "theatre-week-late";
    with_worker(&client, &db, async {
        start(&client, wf, week()).await;
        let task = open_task(&db, wf, 0, Role::TheatreAdmin).await;
        // Nobody answers for four hours and a minute of (skipped) server time.
        let past_deadline = SleepRequest {
            duration: Some(prost_wkt_types::Duration {
                seconds: 4 * 3600 + 60,
                nanos: 0,
            }),
        };
        client
            .connection()
            .test_service()
            .unlock_time_skipping_with_sleep(temporalio_client::tonic::Request::new(past_deadline))
            .await
            .expect("skip time");
        assert_eq!(open_task(&db, wf, 0, Role::SiteManager).await, task);
        let refused = decide(
            &client,
            wf,
            signed(&db, decision(&task, true, APPROVER, Role::TheatreAdmin)).await,
        )
        .await;
        assert!(refused.unwrap_err().contains("site_manager queue"));
        decide(
            &client,
            wf,
            signed(&db, decision(&task, true, "site.sam", Role::SiteManager)).await,
        )
        .await
        .expect("site manager approves");
        let s = reaches(&client, wf, 0, TheatreStage::Published).await;
        assert_eq!(s.escalations, 1);
        close(&client, wf).await;
        maybe_record(&client, wf, "theatre_escalated_then_approved").await;
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
    assert_eq!(
        approved.meaning.as_deref(),
        Some("approved theatre list for publication")
    );
    assert!(actions(&db, wf)
        .await
        .contains(&"task.escalated".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_the_week_withdraws_the_open_proposal() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "theatre-week-c";
    with_worker(&client, &db, async {
        start(&client, wf, week()).await;
        let task = open_task(&db, wf, 0, Role::TheatreAdmin).await;
        let handle = client.get_workflow_handle::<TheatreBookingWorkflow>(wf.to_owned());
        handle
            .cancel(
                WorkflowCancelOptions::builder()
                    .reason("theatre suite refurbishment brought forward".to_owned())
                    .build(),
            )
            .await
            .expect("cancel");
        let outcome = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("outcome");
        assert_eq!(outcome.stage, TheatreStage::Cancelled);
        assert_eq!(
            outcome.reason.as_deref(),
            Some("theatre suite refurbishment brought forward")
        );
        assert_eq!(list_status(&db, wf, 0).await, "cancelled");
        let task_status: String = sqlx::query("SELECT status FROM tasks WHERE task_id = $1")
            .bind(&task)
            .fetch_one(db.pool())
            .await
            .expect("task")
            .get("status");
        assert_eq!(task_status, "cancelled");
        maybe_record(&client, wf, "theatre_cancelled_while_waiting").await;
    })
    .await;
    assert!(actions(&db, wf)
        .await
        .contains(&"theatre_list.withdrawn".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_emergency_case_that_moves_a_booked_patient_goes_back_for_approval() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "theatre-week-e";
    with_worker(&client, &db, async {
        start(&client, wf, week()).await;
        let task = open_task(&db, wf, 0, Role::TheatreAdmin).await;
        decide(&client, wf, signed(&db, decision(&task, true, APPROVER, Role::TheatreAdmin)).await)
            .await
            .expect("approval");
        let r0 = reaches(&client, wf, 0, TheatreStage::Published).await.proposal.expect("r0");

        // Wednesday: an emergency appendicectomy for S01, whose Wednesday list is full.
        let mut emergency = case("E01", "lap_appendectomy", "S01", UrgencyCategory::P1, 0);
        emergency.patient_key = "PK-E01".into();
        report(&client, wf, event(2, DayOfChange::EmergencyCase { case: emergency }))
            .await
            .expect("emergency case taken");
        let t1 = open_task(&db, wf, 1, Role::TheatreAdmin).await;
        let s = reaches(&client, wf, 1, TheatreStage::AwaitingApproval).await;
        let r1 = s.proposal.expect("r1");
        let e01 = r1.booked.iter().find(|b| b.case_id == "E01").expect("E01 booked");
        assert_eq!(e01.day, 2);
        assert!(r1.moves_booked_patients());
        // Monday and Tuesday were done: kept exactly as published.
        let done = |p: &careflow_types::TheatreListProposal| {
            let mut v: Vec<_> = p.booked.iter().filter(|b| b.day < 2).map(|b| (b.case_id.clone(), b.theatre_id.clone(), b.day)).collect();
            v.sort();
            v
        };
        assert_eq!(done(&r1), done(&r0));
        assert!(r1.changes.iter().all(|c| c.from_day >= 2));
        eprintln!(
            "emergency re-plan: solver {} in {:.2} s, gap {:?}, {} booked patient(s) moved or deferred: {:?}",
            r1.solver_status,
            r1.solve_seconds,
            r1.mip_gap,
            r1.changes.len(),
            r1.changes.iter().map(|c| format!("{} {}->{:?}: {}", c.case_id, c.from_theatre, c.to_theatre, c.why)).collect::<Vec<_>>()
        );
        decide(&client, wf, signed(&db, decision(&t1, true, APPROVER, Role::TheatreAdmin)).await)
            .await
            .expect("re-plan approved");
        let r1 = reaches(&client, wf, 1, TheatreStage::Published).await.proposal.expect("r1");
        assert_eq!(list_status(&db, wf, 0).await, "superseded");
        assert_eq!(list_status(&db, wf, 1).await, "published");

        // Thursday: theatre T1 closes; its booked patients move or wait, and the
        // re-plan goes back for approval.
        let in_t1: Vec<&str> = r1
            .booked
            .iter()
            .filter(|b| b.theatre_id == "T1" && b.day == 3)
            .map(|b| b.case_id.as_str())
            .collect();
        assert!(!in_t1.is_empty(), "T1 has a Thursday list");
        report(
            &client,
            wf,
            event(
                3,
                DayOfChange::TheatreClosed {
                    theatre_id: "T1".into(),
                    session_day: 3,
                    reason: "anaesthetic machine failed".into(),
                },
            ),
        )
        .await
        .expect("closure taken");
        let t2 = open_task(&db, wf, 2, Role::TheatreAdmin).await;
        let r2 = reaches(&client, wf, 2, TheatreStage::AwaitingApproval).await.proposal.expect("r2");
        let moved: Vec<&str> = r2.changes.iter().map(|c| c.case_id.as_str()).collect();
        assert!(in_t1.iter().all(|c| moved.contains(c)), "T1's Thursday patients move: {:?}", r2.changes);
        assert!(r2.changes.iter().all(|c| c.from_day >= 3), "{:?}", r2.changes);
        eprintln!(
            "closure re-plan: solver {} in {:.2} s, gap {:?}, {} booked patient(s) moved or deferred ({} were in T1)",
            r2.solver_status, r2.solve_seconds, r2.mip_gap, r2.changes.len(), in_t1.len()
        );
        assert!(r2.booked.iter().all(|b| !(b.theatre_id == "T1" && b.day == 3)));
        assert!(r2.sessions.iter().all(|x| !(x.theatre_id == "T1" && x.day == 3)));
        decide(&client, wf, signed(&db, decision(&t2, true, APPROVER, Role::TheatreAdmin)).await)
            .await
            .expect("closure re-plan approved");
        reaches(&client, wf, 2, TheatreStage::Published).await;
        let steps = decisions::steps(&db, wf).await.expect("steps");
        assert_eq!(steps.len(), 6, "forecast and solve per revision");
        close(&client, wf).await;
        maybe_record(&client, wf, "theatre_emergency_reapproved").await;
    })
    .await;
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_fails_with_the_located_field_and_stores_nothing() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    with_worker(&client, &db, async {
        let mut bad = week();
        bad.week_start = "2027-02-30".into();
        bad.cases[1].surgeon_id = "S99".into();
        start(&client, "theatre-week-bad", bad).await;
        let err = client
            .get_workflow_handle::<TheatreBookingWorkflow>("theatre-week-bad".to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("invalid week");
        let err = format!("{err:?}");
        assert!(
            err.contains("week_start: '2027-02-30' is not a date"),
            "{err}"
        );
        assert!(
            err.contains("cases[1].surgeon_id: surgeon S99 is not among"),
            "{err}"
        );

        // A procedure the duration model does not know fails the forecast step.
        let mut unknown = week();
        unknown.cases[3].procedure = "heart_transplant".into();
        start(&client, "theatre-week-unknown", unknown).await;
        let err = client
            .get_workflow_handle::<TheatreBookingWorkflow>("theatre-week-unknown".to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("unknown procedure");
        let err = format!("{err:?}");
        assert!(
            err.contains("cases[3].procedure: case C07 names procedure \\\"heart_transplant\\\""),
            "{err}"
        );
    })
    .await;
    for wf in ["theatre-week-bad", "theatre-week-unknown"] {
        for table in ["theatre_lists", "decision_steps", "tasks", "audit_log"] {
            let n = count(
                &db,
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE workflow_id = $1"),
                wf,
            )
            .await;
            assert_eq!(n, 0, "{table} has rows for {wf}");
        }
    }
    let snapshots: i64 = sqlx::query("SELECT COUNT(*) AS n FROM decision_snapshots")
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n");
    assert_eq!(snapshots, 0);
}
