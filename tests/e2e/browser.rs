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

/// A theatre administrator approves the week's lists in the browser (the workflow
/// publishes them); the ethics secretary, two members and the chair take a submission
/// through a quorate meeting to a signed approval; a department head sees the theatre
/// Gantt chart drawn from the published lists. The node script checks the pages; this
/// test checks the database behind them and keeps the screenshots.
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
    seed(
        &db,
        &layout(1),
        &[
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
    node.install_model(&db, "surgery-duration", "1.0.0", "model.owner")
        .await;
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
        "ethics-quorum.png",
        "ethics-meeting.png",
        "ethics-decided.png",
        "dashboard-theatre.png",
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
