//! The pages in a real browser: Debian's chromium driven by playwright-core
//! (tests/browser, installed by scripts/setup) against the real binary. A site manager
//! asks for a bed plan; the bed manager logs in on the login page, claims the task,
//! approves it signing with their password (a wrong one first), and the workflow
//! publishes the plan; an auditor verifies the chain, searches it and exports it. The
//! node script checks the pages; this test checks the database behind them and keeps
//! the screenshots (target/tmp/browser/).

use std::process::Command;
use std::time::Duration;

use rand::SeedableRng;
use sqlx::Row;

use careflow_store::{bed_plans, Db};
use careflow_types::Role;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bed_manager_approves_a_plan_in_the_browser_and_an_auditor_exports_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script_dir = root.join("tests/browser");
    assert!(
        script_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in tests/browser: run scripts/setup"
    );
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(
        &db,
        &layout(1),
        &[
            ("clerk.e2e", Role::AdmissionsClerk),
            ("beds.e2e", Role::BedManager),
            ("site.e2e", Role::SiteManager),
            ("auditor.e2e", Role::Auditor),
            ("model.owner", Role::Admin),
        ],
    )
    .await;
    node.install_model(&db, "ed-arrivals", "1.1.0", "model.owner")
        .await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    let clerk = node.client(&tokens["clerk.e2e"]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for n in 0..4 {
        launch(
            &clerk,
            n,
            &request(n, 0.0, &mut rng),
            Duration::from_secs(60),
        )
        .await;
    }
    poll(
        "four patients in beds",
        Duration::from_secs(120),
        Duration::from_millis(300),
        || async { (count(&db, "bed_assignments").await >= 4).then_some(()) },
    )
    .await;
    node.login("site.e2e").await;
    let plan_id = stdout(
        &node
            .cli(&[
                "plan-beds",
                "--as",
                "site.e2e",
                "--date",
                "2026-12-01",
                "--horizon",
                "2",
                "--solve-seconds",
                "10",
            ])
            .await,
        "plan-beds",
    );
    let task_id: String = poll(
        "the bed-plan approval task",
        Duration::from_secs(120),
        Duration::from_millis(300),
        || async {
            sqlx::query("SELECT task_id FROM tasks WHERE workflow_id = $1 AND status = 'open'")
                .bind(&plan_id)
                .fetch_optional(db.pool())
                .await
                .ok()
                .flatten()
                .map(|r| r.get::<String, _>(0))
        },
    )
    .await;

    let mut cmd = Command::new("node");
    cmd.arg("approve_and_audit.mjs")
        .current_dir(&script_dir)
        .env("CAREFLOW_URL", node.api())
        .env("TASK_ID", &task_id)
        .env("PLAN_ID", &plan_id)
        .env("BED_MANAGER", "beds.e2e")
        .env("AUDITOR", "auditor.e2e")
        .env("PASSWORD", PASSWORD)
        .env("SHOTS_DIR", &shots);
    let out =
        careflow_testkit::process::output(cmd, Duration::from_secs(300), "browser scenario").await;
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{said}");
    assert!(
        out.status.success(),
        "the browser scenario failed ({}):\n{said}\nserve log:\n{}",
        out.status,
        node.log_tail("serve.log", 40)
    );
    assert!(
        said.contains("browser scenario: all checks passed"),
        "{said}"
    );

    // What the pages said is what the database holds.
    let plan = bed_plans::get(&db, &plan_id)
        .await
        .unwrap()
        .expect("the plan");
    assert_eq!(plan.status, "published");
    assert_eq!(plan.decided_by.as_deref(), Some("beds.e2e"));
    let (signer, meaning): (String, String) = sqlx::query(
        "SELECT s.signer, s.meaning FROM signatures s JOIN tasks t ON t.signature_id = s.signature_id \
         WHERE t.task_id = $1",
    )
    .bind(&task_id)
    .fetch_one(db.pool())
    .await
    .map(|r| (r.get(0), r.get(1)))
    .expect("the decision's signature");
    assert_eq!(
        (signer.as_str(), meaning.as_str()),
        ("beds.e2e", "approved")
    );
    let reason: String = sqlx::query(
        "SELECT reason FROM audit_log WHERE action = 'task.approved' AND workflow_id = $1",
    )
    .bind(&plan_id)
    .fetch_one(db.pool())
    .await
    .expect("the approval's audit entry")
    .get(0);
    assert!(reason.starts_with("Moves and reserve agreed"), "{reason}");
    // One wrong password was entered on the page, and counted.
    let failed: i64 = sqlx::query(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'user.password_failed' AND actor = 'beds.e2e'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap()
    .get(0);
    assert_eq!(failed, 1);
    for shot in [
        "inbox.png",
        "task-approved.png",
        "dashboard.png",
        "audit.png",
    ] {
        let len = std::fs::metadata(shots.join(shot))
            .unwrap_or_else(|e| panic!("screenshot {shot}: {e}"))
            .len();
        assert!(len > 10_000, "{shot} is {len} bytes");
    }
    let out = node.cli(&["audit", "verify"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A small imaging week (two scanners, 16 requests, five of them inpatients) as the
/// radiology system would send it, each patient known by a pseudonym.
fn scanner_week(keys: &[String]) -> careflow_types::ScannerWeekRequest {
    let week_start = (chrono::Utc::now().date_naive() + chrono::Days::new(7))
        .format("%Y-%m-%d")
        .to_string();
    let requests: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let urgency = match i % 5 {
                0 => "emergency",
                1 => "urgent",
                _ => "routine",
            };
            serde_json::json!({
                "request_id": format!("RAD-{i:03}"),
                "patient_key": key,
                "modality": if i % 3 == 0 { "mri" } else { "ct" },
                "urgency": urgency,
                "deadline_day": if urgency == "routine" { 6 } else { 1 },
                "inpatient": urgency != "routine",
                "ordered_days_before": 5 + 7 * (i as u32 % 6),
                "age_years": 30 + 3 * i as u32,
                "prior_no_shows": u32::from(i % 4 == 3),
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "week_start": week_start,
        "days": 3,
        "slots_per_day": 8,
        "scanners": [
            {"scanner_id": "CT1", "modality": "ct", "contrast": true},
            {"scanner_id": "MR1", "modality": "mri", "contrast": true}
        ],
        "requests": requests,
        "solve_seconds": 5,
        "seed": 3
    }))
    .expect("scanner week")
}

/// A ward of 14 nurses over the week from next Monday, about ten patients.
fn roster_week() -> careflow_types::RosterRequest {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let ahead = 7 - today.weekday().num_days_from_monday();
    let admissions = [2, 3, 1, 2, 3, 1, 2].repeat(4);
    let nurses: Vec<serde_json::Value> = (1..=14)
        .map(|i| {
            serde_json::json!({
                "nurse_id": format!("RN{i:02}"),
                "contracted_hours_per_week": if i % 5 == 0 { 22.5 } else { 37.5 },
                "skills": ["nights", "iv"],
                "day_off_requests": if i % 4 == 0 { vec![i % 7] } else { Vec::new() },
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "ward": "surgery",
        "start_date": (today + chrono::Days::new(u64::from(ahead))).format("%Y-%m-%d").to_string(),
        "days": 7,
        "census_at_origin": 10,
        "admissions_last_28_days": admissions,
        "shifts": careflow_types::default_shifts(),
        "nurses": nurses,
        "solve_seconds": 5,
        "seed": 1
    }))
    .expect("roster request")
}

/// Books the imaging week (within policy: booked at once) and records each booked
/// patient's attendance, every third a no-show; returns (scans booked, no-shows).
async fn book_scans_and_record_attendance(
    imaging: &careflow::client::ApiClient,
    week: &careflow_types::ScannerWeekRequest,
) -> (usize, usize) {
    use careflow_types::{AttendanceReport, ScanAttendance, ScannerStage};
    let booking = imaging
        .create_scanner_booking(week, None)
        .await
        .expect("scanner booking")
        .booking_id;
    let status = poll(
        "the imaging week booked",
        Duration::from_secs(180),
        Duration::from_millis(300),
        || async {
            let s = imaging.scanner_booking(&booking).await.ok()?;
            assert!(
                !matches!(
                    s.stage,
                    ScannerStage::AwaitingApproval
                        | ScannerStage::Infeasible
                        | ScannerStage::Rejected
                        | ScannerStage::Cancelled
                ),
                "booking {booking} is {:?}, not booked within policy",
                s.stage
            );
            (s.stage == ScannerStage::Booked).then_some(s)
        },
    )
    .await;
    let booked = status.proposal.expect("a booked run's proposal").booked;
    let mut no_shows = 0;
    for (i, b) in booked.iter().enumerate() {
        let no_show = i % 3 == 2;
        no_shows += usize::from(no_show);
        let report = AttendanceReport {
            request_id: b.request_id.clone(),
            outcome: if no_show {
                ScanAttendance::NoShow
            } else {
                ScanAttendance::Attended
            },
            recorded_by: String::new(),
        };
        imaging
            .record_attendance(&booking, &report)
            .await
            .expect("attendance");
    }
    poll(
        "every attendance recorded",
        Duration::from_secs(120),
        Duration::from_millis(300),
        || async {
            let s = imaging.scanner_booking(&booking).await.ok()?;
            (s.stage == ScannerStage::Closed).then_some(())
        },
    )
    .await;
    (booked.len(), no_shows)
}

/// The roster asked for by the nurse in charge, approved by the department head
/// (signed with the password); returns once it is published.
async fn publish_roster(
    nurse_in_charge: &careflow::client::ApiClient,
    head: &careflow::client::ApiClient,
    request: &careflow_types::RosterRequest,
) {
    use careflow_types::{DecisionRequest, RosterStage};
    let roster = nurse_in_charge
        .create_roster(request, None)
        .await
        .expect("roster")
        .roster_id;
    let task = poll(
        "the roster's approval task",
        Duration::from_secs(180),
        Duration::from_millis(300),
        || async {
            let s = nurse_in_charge.roster_status(&roster).await.ok()?;
            assert!(!s.stage.is_final(), "roster {roster} ended {:?}", s.stage);
            s.task_id
        },
    )
    .await;
    head.decide(
        &task,
        &DecisionRequest {
            approve: true,
            reason: "Cover and requested days off reviewed with the ward".into(),
            bed_id: None,
            password: PASSWORD.into(),
        },
    )
    .await
    .expect("roster approval");
    poll(
        "the roster published",
        Duration::from_secs(120),
        Duration::from_millis(300),
        || async {
            let s = nurse_in_charge.roster_status(&roster).await.ok()?;
            (s.stage == RosterStage::Published).then_some(())
        },
    )
    .await;
}

/// A theatre administrator approves the week's lists in the browser (the workflow
/// publishes them); the ethics secretary returns a submission as incomplete, its
/// applicant resubmits a new version on the page, and the secretary, two members and
/// the chair take it through a quorate meeting to a signed approval; a department head
/// sees the theatre Gantt chart drawn from the published lists, the imaging board of a
/// booked week with its attendance and the roster board of a published roster. The
/// node script checks the pages; this test checks the database behind them and keeps
/// the screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_theatre_list_and_an_ethics_submission_are_decided_in_the_browser() {
    use careflow_store::{ethics, patients, theatre};
    use careflow_types::{AgeGroup, Sex};

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script_dir = root.join("tests/browser");
    assert!(
        script_dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in tests/browser: run scripts/setup"
    );
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-departments");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    let tokens = seed(
        &db,
        &layout(1),
        &[
            ("imaging.ian", Role::ImagingManager),
            ("nic.e2e", Role::NurseInCharge),
            ("theatre.tom", Role::TheatreAdmin),
            ("theatre.tess", Role::TheatreAdmin),
            ("head.e2e", Role::DepartmentHead),
            ("lead.e2e", Role::ProjectLead),
            ("sec.e2e", Role::EthicsSecretary),
            ("chair.e2e", Role::CommitteeChair),
            ("sci.e2e", Role::CommitteeMember),
            ("lay.e2e", Role::CommitteeMember),
            ("model.owner", Role::Admin),
        ],
    )
    .await;
    for (model, version) in [
        ("surgery-duration", "1.0.0"),
        ("scanner-no-show", "1.0.0"),
        ("bed-demand", "1.0.0"),
    ] {
        node.install_model(&db, model, version, "model.owner").await;
    }
    let mut keys = Vec::new();
    for n in 0..21 {
        keys.push(
            patients::pseudonymise(&db, &format!("MRN-B{n:03}"), Sex::Female, AgeGroup::Adult)
                .await
                .unwrap(),
        );
    }
    let week_file =
        crate::theatre::write_json(tmp.path(), "week.json", &crate::theatre::week(&keys));
    let mut scan_keys = Vec::new();
    for n in 0..16 {
        scan_keys.push(
            patients::pseudonymise(&db, &format!("MRN-S{n:03}"), Sex::Male, AgeGroup::Adult)
                .await
                .unwrap(),
        );
    }
    // The committee and a submission, as the secretary and the project lead left them.
    for (m, lay) in [("chair.e2e", false), ("sci.e2e", false), ("lay.e2e", true)] {
        ethics::add_member(&db, "sec.e2e", m, lay).await.unwrap();
    }
    let content: ethics::SubmissionContent = serde_json::from_value(serde_json::json!({
        "title": "ED arrivals forecaster",
        "technical_plan": "gradient-boosted hourly forecast",
        "use_case": "bed planning",
        "expected_benefit": "fewer outliers",
        "risks": "under-forecast on holidays",
        "data_used": "hourly ED attendance counts",
        "legal_basis": "public task",
        "consent_plan": "aggregate counts only",
        "bias_assessment": "error by hour block, weekday, holiday",
        "documents": [{"name": "protocol.md", "content": "rolling-origin backtest"}]
    }))
    .unwrap();
    let submission = ethics::submit(&db, "lead.e2e", &content)
        .await
        .unwrap()
        .submission_id;

    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    node.login("theatre.tom").await;
    let list_id = stdout(
        &node
            .cli(&["theatre", "plan", &week_file, "--as", "theatre.tom"])
            .await,
        "theatre plan",
    );
    // The imaging week and the ward roster run beside the theatre lists' solve.
    let imaging = node.client(&tokens["imaging.ian"]);
    let week = scanner_week(&scan_keys);
    let scans = book_scans_and_record_attendance(&imaging, &week);
    let (nurse_in_charge, head) = (
        node.client(&tokens["nic.e2e"]),
        node.client(&tokens["head.e2e"]),
    );
    let ward = roster_week();
    let roster = publish_roster(&nurse_in_charge, &head, &ward);
    let ((scans_booked, no_shows), ()) = tokio::join!(scans, roster);
    let task_id: String = poll(
        "the theatre list approval task",
        Duration::from_secs(180),
        Duration::from_millis(300),
        || async {
            sqlx::query("SELECT task_id FROM tasks WHERE workflow_id = $1 AND status = 'open'")
                .bind(&list_id)
                .fetch_optional(db.pool())
                .await
                .ok()
                .flatten()
                .map(|r| r.get::<String, _>(0))
        },
    )
    .await;

    let mut cmd = Command::new("node");
    cmd.arg("theatre_ethics_boards.mjs")
        .current_dir(&script_dir)
        .env("CAREFLOW_URL", node.api())
        .env("PASSWORD", PASSWORD)
        .env("SHOTS_DIR", &shots)
        .env("THEATRE_TASK", &task_id)
        .env("THEATRE_ADMIN", "theatre.tess")
        .env("SUBMISSION_ID", &submission)
        .env("APPLICANT", "lead.e2e")
        .env("SCANS_BOOKED", scans_booked.to_string())
        .env("NO_SHOWS", no_shows.to_string())
        .env("SECRETARY", "sec.e2e")
        .env("REVIEWERS", "sci.e2e,lay.e2e")
        .env("CHAIR", "chair.e2e")
        .env("DEPARTMENT_HEAD", "head.e2e");
    let out =
        careflow_testkit::process::output(cmd, Duration::from_secs(400), "browser scenario").await;
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{said}");
    assert!(
        out.status.success(),
        "the browser scenario failed ({}):\n{said}\nserve log:\n{}",
        out.status,
        node.log_tail("serve.log", 40)
    );
    assert!(
        said.contains("browser scenario: all checks passed"),
        "{said}"
    );

    // What the pages said is what the database holds.
    let revisions = theatre::revisions(&db, &list_id).await.unwrap();
    let r0 = &revisions[0];
    assert_eq!(r0.status, "published");
    assert_eq!(r0.decided_by.as_deref(), Some("theatre.tess"));
    let s = ethics::get(&db, &submission).await.unwrap();
    assert_eq!(s.state, "approved");
    assert!(s.approved_until.is_some());
    assert_eq!(
        s.version, 2,
        "the applicant's resubmission is the approved version"
    );
    let resubmitted: String = sqlx::query(
        "SELECT actor FROM audit_log WHERE action = 'ethics.resubmitted' AND workflow_id = $1",
    )
    .bind(ethics::workflow_id(&submission))
    .fetch_one(db.pool())
    .await
    .expect("the resubmission's audit entry")
    .get(0);
    assert_eq!(resubmitted, "lead.e2e");
    assert!(ethics::content(&db, &submission)
        .await
        .unwrap()
        .documents
        .iter()
        .any(|d| d.name == "poster.md"));
    let signed: i64 = sqlx::query(
        "SELECT COUNT(*) FROM signatures WHERE used_at IS NOT NULL AND signer IN \
         ('sci.e2e', 'lay.e2e', 'chair.e2e')",
    )
    .fetch_one(db.pool())
    .await
    .unwrap()
    .get(0);
    assert_eq!(signed, 2 + 3 + 1, "two reviews, three votes, the decision");
    for shot in [
        "theatre-task.png",
        "ethics-resubmit.png",
        "ethics-quorum.png",
        "ethics-meeting.png",
        "ethics-decided.png",
        "dashboard-theatre.png",
        "dashboard-scanner.png",
        "dashboard-roster.png",
    ] {
        let len = std::fs::metadata(shots.join(shot))
            .unwrap_or_else(|e| panic!("screenshot {shot}: {e}"))
            .len();
        assert!(len > 10_000, "{shot} is {len} bytes");
    }
    // The metrics hold the worker's solve and forecast times and the outcomes.
    let metrics = reqwest::get(format!("{}/metrics", node.api()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    for (family, label) in [
        ("careflow_solver_duration_seconds", "problem=\"theatre\""),
        ("careflow_solver_duration_seconds", "problem=\"scanner\""),
        ("careflow_solver_duration_seconds", "problem=\"roster\""),
        (
            "careflow_forecast_duration_seconds",
            "model=\"surgery-duration\"",
        ),
        (
            "careflow_forecast_duration_seconds",
            "model=\"scanner-no-show\"",
        ),
        ("careflow_forecast_duration_seconds", "model=\"bed-demand\""),
    ] {
        let count = format!("{family}_count{{{label}}} ");
        let n: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&count))
            .unwrap_or_else(|| panic!("no {count}in\n{metrics}"))
            .parse()
            .unwrap();
        assert!(n >= 1, "{count}{n}");
    }
    for line in [
        "careflow_workflow_records{state=\"approved\",workflow=\"ethics_review\"} 1",
        "careflow_workflow_records{state=\"booked\",workflow=\"scanner_booking\"} 1",
        "careflow_workflow_records{state=\"published\",workflow=\"nurse_rostering\"} 1",
    ] {
        assert!(metrics.contains(line), "no {line} in\n{metrics}");
    }
    let out = node.cli(&["audit", "verify"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
