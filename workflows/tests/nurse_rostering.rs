//! The nurse-rostering workflow against the official Temporal test server (time
//! skipping), a real SQLite domain database, the committed `bed-demand` ONNX model run by
//! ONNX Runtime and HiGHS, on a small generated ward (12 nurses, 4 weeks): the roster is
//! published only after the department head approves it; a sick call re-rosters only
//! the days it affects, with few changes, for the nurse in charge; a surge's re-roster
//! rejected leaves the roster in force; a rejected roster is planned again from a revised
//! request; an undecided roster escalates to the site manager; cancelling withdraws the
//! open proposal; bad input fails with the located field and stores nothing; each
//! solver step's stored snapshot solves again to the same objective, and the independent
//! checker accepts every published roster against its stored input.

use std::time::Duration;

use sqlx::Row;
use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions,
    WorkflowQueryOptions, WorkflowStartOptions,
};
use temporalio_common::protos::temporal::api::testservice::v1::SleepRequest;

use careflow_activities::nurse_rostering::{check_proposal, replay_solve};
use careflow_store::{audit, decisions, Db};
use careflow_testkit::poll::poll;
use careflow_types::{
    default_shifts, Decision, NurseRosteringInput, Role, RosterChange, RosterEvent, RosterProposal,
    RosterRequest, RosterRevision, RosterStage, RosterStatus, WardNurse, TASK_QUEUE,
};
use careflow_workflows::NurseRosteringWorkflow;

mod common;
use common::{actions, maybe_record, models_dir, start_server, with_worker};

/// The department heads: hana asks for the roster, dev approves it.
const REQUESTER: &str = "head.hana";
const APPROVER: &str = "head.dev";
/// The ward's nurses in charge: nia reports a sick call, noor approves the re-roster.
const REPORTER: &str = "nic.nia";
const NURSE_IN_CHARGE: &str = "nic.noor";

/// The period rostered: a Monday far enough ahead that it never ends during a test.
const START: &str = "2027-03-01";

/// A small children's ward: 9 full-time and 3 part-time nurses, 10 of them on nights,
/// one on a week's leave, a few requested days off; about 7 patients (the forecast's 0.9
/// quantile about 10), so the contracts cover the shifts with a little to spare.
fn ward() -> RosterRequest {
    let nurses = (1..=12)
        .map(|i| WardNurse {
            nurse_id: format!("RN{i:02}"),
            contracted_hours_per_week: if i % 4 == 0 { 22.5 } else { 37.5 },
            skills: if i % 4 == 1 && i > 1 {
                Vec::new()
            } else {
                vec!["nights".into()]
            },
            max_consecutive_shifts: 5,
            max_weekends: 2,
            day_off_requests: match i {
                2 => vec![3, 4],
                5 => vec![12],
                7 => vec![19, 20],
                _ => Vec::new(),
            },
            leave_days: if i == 3 {
                (14..21).collect()
            } else {
                Vec::new()
            },
        })
        .collect();
    RosterRequest {
        ward: "paediatrics".into(),
        start_date: START.into(),
        days: 28,
        census_at_origin: 7,
        admissions_last_28_days: vec![1; 28],
        shifts: default_shifts(),
        nurses,
        solve_seconds: 10,
        seed: 5,
        requested_by: REQUESTER.into(),
    }
}

/// A fresh database with the ward's staff and the committed bed-demand model promoted
/// to production; returns the model file's sha256.
async fn hospital() -> (tempfile::TempDir, Db, String) {
    let (dir, db) = careflow_testkit::db::sqlite().await;
    for (name, role) in [
        (REQUESTER, Role::DepartmentHead),
        (APPROVER, Role::DepartmentHead),
        (REPORTER, Role::NurseInCharge),
        (NURSE_IN_CHARGE, Role::NurseInCharge),
    ] {
        common::staff_user(&db, name, role).await;
    }
    let model = careflow_forecasters::bundle::latest_version_dir(&models_dir(), "bed-demand")
        .expect("committed bed-demand model");
    let sha = common::promote_committed_model(&db, &model, "validated on the held-out year").await;
    (dir, db, sha)
}

async fn start(client: &Client, roster_id: &str, request: RosterRequest) {
    client
        .start_workflow(
            NurseRosteringWorkflow::run,
            NurseRosteringInput {
                roster_id: roster_id.into(),
                request,
            },
            WorkflowStartOptions::new(TASK_QUEUE, roster_id.to_owned()).build(),
        )
        .await
        .expect("start roster");
}

/// Waits until revision `revision` has an open approval task of `kind` in `role`'s queue.
async fn open_task(db: &Db, workflow_id: &str, revision: u32, kind: &str, role: Role) -> String {
    let task_id = format!("{workflow_id}-r{revision}-approve");
    poll(
        &format!("task {task_id} open in the {role} queue"),
        Duration::from_secs(180),
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

async fn status(client: &Client, workflow_id: &str) -> RosterStatus {
    client
        .get_workflow_handle::<NurseRosteringWorkflow>(workflow_id.to_owned())
        .query(
            NurseRosteringWorkflow::status,
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
    stage: RosterStage,
) -> RosterStatus {
    poll(
        &format!("{workflow_id} revision {revision} {stage:?}"),
        Duration::from_secs(180),
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
        reason: "cover and requests agreed with the ward".into(),
        bed_id: None,
        signature_id: None,
    };
    let d = common::signed_if_allowed(db, d).await;
    client
        .get_workflow_handle::<NurseRosteringWorkflow>(workflow_id.to_owned())
        .execute_update(
            NurseRosteringWorkflow::decide,
            d,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn report(
    client: &Client,
    workflow_id: &str,
    change: RosterChange,
) -> Result<String, String> {
    client
        .get_workflow_handle::<NurseRosteringWorkflow>(workflow_id.to_owned())
        .execute_update(
            NurseRosteringWorkflow::report_event,
            RosterEvent {
                reported_by: REPORTER.into(),
                change,
            },
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn roster_status(db: &Db, roster_id: &str, revision: u32) -> String {
    sqlx::query("SELECT status FROM rosters WHERE roster_id = $1 AND revision = $2")
        .bind(roster_id)
        .bind(i64::from(revision))
        .fetch_one(db.pool())
        .await
        .expect("roster row")
        .get("status")
}

/// The independent checker accepts the proposal against the input its step stored, and
/// that input solves again to the same objective.
async fn check_against_snapshot(db: &Db, workflow_id: &str, p: &RosterProposal) {
    let step = decisions::step(db, workflow_id, &p.decision_step)
        .await
        .expect("read")
        .expect("solve step");
    assert_eq!(step.snapshot_sha256, p.snapshot_sha256);
    let snapshot = decisions::snapshot(db, &step.snapshot_sha256)
        .await
        .expect("read")
        .expect("snapshot stored");
    let broken = check_proposal(&snapshot.json, p).expect("snapshot reads");
    assert!(broken.is_empty(), "revision {}: {broken:?}", p.revision);
    let json = snapshot.json.clone();
    let again = tokio::task::spawn_blocking(move || replay_solve(&json, &step))
        .await
        .expect("join")
        .expect("replay");
    if p.solver_status == "optimal" {
        assert!(
            (again.objective - p.objective).abs() < 1e-6,
            "replayed {} vs stored {}",
            again.objective,
            p.objective
        );
    } else {
        // Stopped by the time limit: the replay finds a roster within the recorded gap.
        let gap = p.mip_gap.unwrap_or(1.0).max(again.mip_gap.unwrap_or(1.0));
        assert!(
            (again.objective - p.objective).abs() <= gap * p.objective.max(again.objective) + 1e-6,
            "replayed {} vs stored {} (gap {gap})",
            again.objective,
            p.objective
        );
    }
}

/// `decision explain` of the step: its cost terms add up to the objective, every
/// changed cell and refused day off is named, and every shift left short says what kept
/// each other nurse who works it off.
async fn check_explained(db: &Db, workflow_id: &str, p: &RosterProposal) {
    let service = careflow_activities::decisions::Decisions::new(db.clone(), models_dir());
    let why = service
        .explain(
            "aud.ines",
            Role::Auditor,
            workflow_id,
            Some(&p.decision_step),
        )
        .await
        .expect("explain");
    eprintln!("roster explained: {:#?}", why.binding);
    let total: f64 = why.cost_terms.iter().map(|t| t.cost).sum();
    assert!(
        (total - p.objective).abs() < 1e-6,
        "cost terms {total} vs objective {}: {:?}",
        p.objective,
        why.cost_terms
    );
    for c in &p.changes {
        let subject = format!("nurse {} day {}", c.nurse_id, c.day);
        assert!(
            why.changes
                .iter()
                .any(|e| e.subject == subject && e.change == "re-rostered"),
            "{subject} missing from {:?}",
            why.changes
        );
    }
    for u in &p.unmet_requests {
        let subject = format!("nurse {} day {}", u.nurse_id, u.day);
        assert!(why.changes.iter().any(|e| e.subject == subject));
    }
    for c in p.coverage.iter().filter(|c| c.rostered < c.required) {
        let cell = format!(
            "day {} shift {}: {} of {}",
            c.day, c.shift_id, c.rostered, c.required
        );
        assert!(
            why.binding.iter().any(|b| b.starts_with(&cell)),
            "{cell} not explained: {:?}",
            why.binding
        );
    }
}

fn cells(p: &RosterProposal, keep: impl Fn(u32) -> bool) -> Vec<(String, u32, String)> {
    let mut v: Vec<_> = p
        .assignments
        .iter()
        .filter(|a| keep(a.day))
        .map(|a| (a.nurse_id.clone(), a.day, a.shift_id.clone()))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn the_roster_is_published_after_approval_and_a_sick_call_rerosters_only_its_days() {
    let (_server, client) = start_server().await;
    let (_dir, db, sha) = hospital().await;
    let wf = "roster-paeds-a";
    with_worker(&client, &db, async {
        start(&client, wf, ward()).await;
        let task = open_task(&db, wf, 0, "roster", Role::DepartmentHead).await;
        assert_eq!(roster_status(&db, wf, 0).await, "proposed");
        let s = reaches(&client, wf, 0, RosterStage::AwaitingApproval).await;
        let p = s.proposal.expect("proposal");

        // What the department head sees: demand from the production model by hash,
        // every shift's cover, unmet requests and each nurse's share.
        assert_eq!(p.demand.model_name, "bed-demand");
        assert_eq!(p.demand.model_sha256, sha);
        assert_eq!(p.coverage.len(), 28 * 3);
        assert!(p.coverage.iter().all(|c| c.required >= 1));
        assert_eq!(p.loads.len(), 12);
        assert!(p
            .assignments
            .iter()
            .all(|a| !(a.nurse_id == "RN03" && (14..21).contains(&a.day))), "leave is kept");
        assert!(p
            .assignments
            .iter()
            .all(|a| a.shift_id != "N" || !["RN05", "RN09"].contains(&a.nurse_id.as_str())),
            "nights only for nurses with the skill");
        assert!(p.changes.is_empty());
        assert!(p.nurse_shifts_short < 10, "the contracts cover the ward: {}", p.nurse_shifts_short);
        assert!(p.fairness.hours_ratio_min > 0.85 && p.fairness.hours_ratio_max < 1.2, "{:?}", p.fairness);
        let summary: String = sqlx::query("SELECT summary FROM tasks WHERE task_id = $1")
            .bind(&task)
            .fetch_one(db.pool())
            .await
            .expect("task")
            .get("summary");
        for part in ["Coverage:", "Requested days off not granted", "Fairness:", &sha[..12]] {
            assert!(summary.contains(part), "{part} in {summary}");
        }
        eprintln!("first roster: {summary}");

        let steps = decisions::steps(&db, wf).await.expect("steps");
        let names: Vec<&str> = steps.iter().map(|x| x.step.as_str()).collect();
        assert_eq!(names, ["forecast/r0", "solve/r0"]);
        assert!(steps.iter().all(|x| x.models[0].sha256 == sha));
        assert_eq!(
            (steps[1].solver.as_deref(), steps[1].seed, steps[1].time_limit_s, steps[1].threads),
            (Some("HiGHS"), Some(5), Some(10.0), Some(1))
        );
        check_against_snapshot(&db, wf, &p).await;
        check_explained(&db, wf, &p).await;

        // The requester may not approve the roster they asked for.
        let own = decide(&db, &client, wf, &task, true, REQUESTER, Role::DepartmentHead).await;
        assert!(own.unwrap_err().contains("someone else must decide"));
        let answer = decide(&db, &client, wf, &task, true, APPROVER, Role::DepartmentHead)
            .await
            .expect("approval");
        assert!(answer.contains("published"), "{answer}");
        let s = reaches(&client, wf, 0, RosterStage::Published).await;
        assert_eq!(s.in_force, Some(0));
        assert_eq!(roster_status(&db, wf, 0).await, "published");

        // A bad event is refused with the fields located, and changes nothing.
        let bad = report(
            &client,
            wf,
            RosterChange::SickCall {
                nurse_id: "RN99".into(),
                first_day: 30,
                last_day: 2,
            },
        )
        .await
        .unwrap_err();
        for located in ["change.nurse_id: nurse RN99", "change.first_day", "change.last_day"] {
            assert!(bad.contains(located), "{located} in {bad}");
        }

        // A nurse rostered on days 10 and 11 calls in sick for both: only those days are
        // re-rostered, for the nurse in charge.
        let works = |n: &str, d: u32| p.assignments.iter().any(|a| a.nurse_id == n && a.day == d);
        let sick = p
            .loads
            .iter()
            .map(|l| l.nurse_id.clone())
            .find(|n| works(n, 10) && works(n, 11))
            .expect("a nurse on days 10 and 11");
        let sick_shifts = 2;
        report(
            &client,
            wf,
            RosterChange::SickCall {
                nurse_id: sick.clone(),
                first_day: 10,
                last_day: 11,
            },
        )
        .await
        .expect("sick call taken");
        let t1 = open_task(&db, wf, 1, "reroster", Role::NurseInCharge).await;
        let r1 = reaches(&client, wf, 1, RosterStage::AwaitingApproval)
            .await
            .proposal
            .expect("r1");
        assert_eq!(r1.replanned_days, [10, 11]);
        assert!(r1.changes.iter().all(|c| (10..=11).contains(&c.day)), "{:?}", r1.changes);
        assert_eq!(cells(&r1, |d| !(10..=11).contains(&d)), cells(&p, |d| !(10..=11).contains(&d)));
        assert!(r1.assignments.iter().all(|a| !(a.nurse_id == sick && (10..=11).contains(&a.day))));
        // Each of the sick nurse's lost shifts is a change; covering it costs one more each at most.
        assert!(
            r1.changes.len() >= sick_shifts && r1.changes.len() <= 2 * sick_shifts.max(1),
            "{sick_shifts} sick shifts, {:?}",
            r1.changes
        );
        eprintln!(
            "sick-call re-roster: solver {} in {:.2} s, gap {:?}, {} cells changed ({} shifts lost): {:?}",
            r1.solver_status,
            r1.solve_seconds,
            r1.mip_gap,
            r1.changes.len(),
            sick_shifts,
            r1.changes
        );
        check_against_snapshot(&db, wf, &r1).await;
        check_explained(&db, wf, &r1).await;
        // The reporter may not approve the re-roster; a department head is not its queue.
        let own = decide(&db, &client, wf, &t1, true, REPORTER, Role::NurseInCharge).await;
        assert!(own.unwrap_err().contains("someone else must decide"));
        let wrong = decide(&db, &client, wf, &t1, true, APPROVER, Role::DepartmentHead).await;
        assert!(wrong.unwrap_err().contains("nurse_in_charge queue"));
        decide(&db, &client, wf, &t1, true, NURSE_IN_CHARGE, Role::NurseInCharge)
            .await
            .expect("re-roster approved");
        let s = reaches(&client, wf, 1, RosterStage::Published).await;
        assert_eq!(s.in_force, Some(1));
        assert_eq!(
            (roster_status(&db, wf, 0).await, roster_status(&db, wf, 1).await),
            ("superseded".into(), "published".into())
        );

        // A surge on days 20-21 re-rosters those days; rejected, the roster in force stays.
        report(
            &client,
            wf,
            RosterChange::Surge {
                first_day: 20,
                last_day: 21,
                extra_patients: 8,
                reason: "norovirus closure of the neighbouring ward".into(),
            },
        )
        .await
        .expect("surge taken");
        let t2 = open_task(&db, wf, 2, "reroster", Role::NurseInCharge).await;
        let r2 = reaches(&client, wf, 2, RosterStage::AwaitingApproval)
            .await
            .proposal
            .expect("r2");
        assert_eq!(r2.replanned_days, [20, 21]);
        assert!(r2.changes.iter().all(|c| (20..=21).contains(&c.day)));
        let need = |p: &RosterProposal, d: u32| -> u32 {
            p.coverage.iter().filter(|c| c.day == d).map(|c| c.required).sum()
        };
        assert!(need(&r2, 20) > need(&r1, 20), "the surge raises the requirement");
        assert!(!r2.changes.is_empty(), "nurses with hours to spare cover the surge");
        eprintln!(
            "surge re-roster: solver {} in {:.2} s, {} cells changed",
            r2.solver_status,
            r2.solve_seconds,
            r2.changes.len()
        );
        check_against_snapshot(&db, wf, &r2).await;
        decide(&db, &client, wf, &t2, false, NURSE_IN_CHARGE, Role::NurseInCharge)
            .await
            .expect("re-roster rejected");
        let s = reaches(&client, wf, 2, RosterStage::Published).await;
        assert_eq!(s.in_force, Some(1));
        assert_eq!(roster_status(&db, wf, 2).await, "rejected");
        assert_eq!(roster_status(&db, wf, 1).await, "published");
        maybe_record(&client, wf, "roster_published_then_rerostered").await;
    })
    .await;

    let acts = actions(&db, wf).await;
    for a in [
        "roster.proposed",
        "task.approved",
        "roster.published",
        "task.rejected",
        "roster.rejected",
    ] {
        assert!(acts.contains(&a.to_owned()), "{a} in {acts:?}");
    }
    let meanings: Vec<String> = audit::entries_for_workflow(&db, wf)
        .await
        .expect("audit")
        .into_iter()
        .filter_map(|e| e.meaning)
        .collect();
    assert!(
        meanings.contains(&"approved nurse roster for publication".to_owned()),
        "{meanings:?}"
    );
    assert!(
        meanings.contains(&"approved re-roster for publication".to_owned()),
        "{meanings:?}"
    );
    assert_eq!(audit::verify(&db).await.expect("verify").first_break, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_roster_is_planned_again_from_a_revised_request() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "roster-paeds-r";
    with_worker(&client, &db, async {
        start(&client, wf, ward()).await;
        let task = open_task(&db, wf, 0, "roster", Role::DepartmentHead).await;
        decide(
            &db,
            &client,
            wf,
            &task,
            false,
            APPROVER,
            Role::DepartmentHead,
        )
        .await
        .expect("rejection");
        let s = reaches(&client, wf, 0, RosterStage::Rejected).await;
        assert_eq!(s.in_force, None);
        assert_eq!(roster_status(&db, wf, 0).await, "rejected");

        // A revision for another ward is refused, located; the right one is planned.
        let handle = client.get_workflow_handle::<NurseRosteringWorkflow>(wf.to_owned());
        let mut other = ward();
        other.ward = "icu".into();
        let refused = handle
            .execute_update(
                NurseRosteringWorkflow::revise,
                RosterRevision { request: other },
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect_err("another ward");
        assert!(
            format!("{refused:?}").contains("request.ward"),
            "{refused:?}"
        );
        let mut revised = ward();
        revised.nurses[5].leave_days = vec![0, 1, 2, 3, 4];
        handle
            .execute_update(
                NurseRosteringWorkflow::revise,
                RosterRevision { request: revised },
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("revised request");
        let t1 = open_task(&db, wf, 1, "roster", Role::DepartmentHead).await;
        assert_ne!(t1, task);
        let r1 = reaches(&client, wf, 1, RosterStage::AwaitingApproval)
            .await
            .proposal
            .expect("r1");
        assert!(
            r1.replanned_days.is_empty(),
            "the whole period is planned again"
        );
        assert!(r1
            .assignments
            .iter()
            .all(|a| !(a.nurse_id == "RN06" && a.day < 5)));
        check_against_snapshot(&db, wf, &r1).await;
        decide(&db, &client, wf, &t1, true, APPROVER, Role::DepartmentHead)
            .await
            .expect("approval of r1");
        reaches(&client, wf, 1, RosterStage::Published).await;
        assert_eq!(roster_status(&db, wf, 1).await, "published");
        maybe_record(&client, wf, "roster_rejected_then_replanned").await;
    })
    .await;
    assert!(actions(&db, wf)
        .await
        .contains(&"roster.rejected".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecided_roster_escalates_to_the_site_manager() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "roster-paeds-late";
    with_worker(&client, &db, async {
        start(&client, wf, ward()).await;
        let task = open_task(&db, wf, 0, "roster", Role::DepartmentHead).await;
        let past_deadline = SleepRequest {
            duration: Some(prost_wkt_types::Duration {
                seconds: 24 * 3600 + 60,
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
            open_task(&db, wf, 0, "roster", Role::SiteManager).await,
            task
        );
        let refused = decide(
            &db,
            &client,
            wf,
            &task,
            true,
            APPROVER,
            Role::DepartmentHead,
        )
        .await;
        assert!(refused.unwrap_err().contains("site_manager queue"));
        decide(&db, &client, wf, &task, true, "site.sam", Role::SiteManager)
            .await
            .expect("site manager approves");
        let s = reaches(&client, wf, 0, RosterStage::Published).await;
        assert_eq!(s.escalations, 1);
        maybe_record(&client, wf, "roster_escalated_then_approved").await;
    })
    .await;
    assert!(actions(&db, wf)
        .await
        .contains(&"task.escalated".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelling_the_roster_withdraws_the_open_proposal() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "roster-paeds-c";
    with_worker(&client, &db, async {
        start(&client, wf, ward()).await;
        let task = open_task(&db, wf, 0, "roster", Role::DepartmentHead).await;
        let handle = client.get_workflow_handle::<NurseRosteringWorkflow>(wf.to_owned());
        handle
            .cancel(
                WorkflowCancelOptions::builder()
                    .reason("ward merged with paediatrics B".to_owned())
                    .build(),
            )
            .await
            .expect("cancel");
        let outcome = handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("outcome");
        assert_eq!(outcome.stage, RosterStage::Cancelled);
        assert_eq!(
            outcome.reason.as_deref(),
            Some("ward merged with paediatrics B")
        );
        assert_eq!(roster_status(&db, wf, 0).await, "cancelled");
        let task_status: String = sqlx::query("SELECT status FROM tasks WHERE task_id = $1")
            .bind(&task)
            .fetch_one(db.pool())
            .await
            .expect("task")
            .get("status");
        assert_eq!(task_status, "cancelled");
        maybe_record(&client, wf, "roster_cancelled_while_waiting").await;
    })
    .await;
    assert!(actions(&db, wf)
        .await
        .contains(&"roster.withdrawn".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_fails_with_the_located_field_and_stores_nothing() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    with_worker(&client, &db, async {
        let mut bad = ward();
        bad.start_date = "2027-03-02".into();
        bad.nurses[1].leave_days = vec![28];
        start(&client, "roster-bad", bad).await;
        let err = client
            .get_workflow_handle::<NurseRosteringWorkflow>("roster-bad".to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("invalid roster");
        let err = format!("{err:?}");
        assert!(err.contains("start_date: 2027-03-02 is a Tue"), "{err}");
        assert!(
            err.contains("nurses[1].leave_days[0]: day 28 is outside"),
            "{err}"
        );

        let mut unknown = ward();
        unknown.ward = "cardiology".into();
        start(&client, "roster-unknown", unknown).await;
        let err = client
            .get_workflow_handle::<NurseRosteringWorkflow>("roster-unknown".to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("unknown ward");
        let err = format!("{err:?}");
        assert!(
            err.contains("ward: the bed-demand model does not know ward"),
            "{err}"
        );
    })
    .await;
    for wf in ["roster-bad", "roster-unknown"] {
        for table in ["rosters", "decision_steps", "tasks", "audit_log"] {
            let n: i64 = sqlx::query(&format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE workflow_id = $1"
            ))
            .bind(wf)
            .fetch_one(db.pool())
            .await
            .expect("count")
            .get("n");
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

#[tokio::test(flavor = "multi_thread")]
async fn an_impossible_contract_ends_infeasible_with_the_nurse_named() {
    let (_server, client) = start_server().await;
    let (_dir, db, _) = hospital().await;
    let wf = "roster-paeds-x";
    with_worker(&client, &db, async {
        // 48 hours a week, but never two shifts in a row and no weekends: at most 14
        // shifts in four weeks, 140 hours, far below the contract.
        let mut impossible = ward();
        impossible.nurses[3].contracted_hours_per_week = 48.0;
        impossible.nurses[3].max_consecutive_shifts = 1;
        impossible.nurses[3].max_weekends = 0;
        start(&client, wf, impossible).await;
        let outcome = client
            .get_workflow_handle::<NurseRosteringWorkflow>(wf.to_owned())
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect("outcome");
        assert_eq!(outcome.stage, RosterStage::Infeasible);
        let reason = outcome.reason.expect("reason");
        assert!(
            reason.contains("nurse RN04: the contracted minimum"),
            "{reason}"
        );
        assert_eq!(roster_status(&db, wf, 0).await, "infeasible");
        maybe_record(&client, wf, "roster_infeasible_contract").await;
    })
    .await;
    assert!(actions(&db, wf)
        .await
        .contains(&"roster.infeasible".to_owned()));
}
