//! A bed plan through the real binary: a model owner registers and installs the
//! committed `ed-arrivals` model with the CLI, a site manager asks for a plan and a bed
//! manager, logged in with the CLI, approves it signing with their password; the plan,
//! the task and the audit trail all name the model (version and sha256) that forecast
//! the demand, and the signature is on record.

use std::time::Duration;

use rand::SeedableRng;
use sqlx::Row;

use careflow_store::Db;
use careflow_types::Role;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bed_plan_names_its_forecast_model_and_is_published_by_the_bed_manager() {
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
            ("model.owner", Role::Admin),
        ],
    )
    .await;
    // The calendar-only version: the bed plan passes no arrivals history (1.2.0 needs it).
    let version = "1.1.0";
    let sha = node
        .install_model(&db, "ed-arrivals", version, "model.owner")
        .await;

    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    // A few patients in beds, through the real admission workflow.
    let clerk = node.client(&tokens["clerk.e2e"]);
    // The people who use the CLI log in first; nothing secret lands in the data dir.
    node.login("site.e2e").await;
    node.login("beds.e2e").await;
    node.login("clerk.e2e").await;
    assert!(!node.dir.join("tokens").exists());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for n in 0..6 {
        let req = request(n, 0.0, &mut rng);
        launch(&clerk, n, &req, Duration::from_secs(60)).await;
    }
    poll(
        "six patients in beds",
        Duration::from_secs(120),
        Duration::from_millis(300),
        || async { (count(&db, "bed_assignments").await >= 6).then_some(()) },
    )
    .await;

    let plan_id = stdout(
        &node
            .cli(&[
                "plan-beds",
                // The site manager asks; the bed manager approves (separation of duties).
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
    assert!(plan_id.starts_with("bedplan-2026-12-01-"), "{plan_id}");
    let task_id = poll(
        "the bed-plan approval task",
        Duration::from_secs(120),
        Duration::from_millis(300),
        || async {
            let out = node.cli(&["tasks", "--as", "beds.e2e"]).await;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find(|l| l.contains("\tbed_plan\t"))
                .map(|l| l.split('\t').next().unwrap().to_owned())
        },
    )
    .await;
    // The approver sees which model forecast the demand before deciding.
    let task_line = String::from_utf8_lossy(&node.cli(&["tasks", "--as", "beds.e2e"]).await.stdout)
        .into_owned();
    assert!(
        task_line.contains(&format!("ed-arrivals {version}")),
        "{task_line}"
    );
    assert!(task_line.contains(&sha[..12]), "{task_line}");

    // A wrong password signs nothing and is refused, saying so.
    let wrong = node
        .cli_with_stdin(
            &[
                "approve",
                &task_id,
                "--reason",
                "moves and reserve agreed at the bed meeting",
                "--as",
                "beds.e2e",
                "--password-stdin",
            ],
            "not the password\n",
        )
        .await;
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("attempts left"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    stdout(
        &node
            .cli_with_stdin(
                &[
                    "approve",
                    &task_id,
                    "--reason",
                    "moves and reserve agreed at the bed meeting",
                    "--as",
                    "beds.e2e",
                    "--password-stdin",
                ],
                &format!("{PASSWORD}\n"),
            )
            .await,
        "approve",
    );
    let shown = poll(
        "the published plan",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || async {
            let out = node.cli(&["bed-plan", &plan_id, "--as", "beds.e2e"]).await;
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            (v["record"]["status"] == "published").then_some(v)
        },
    )
    .await;
    let record = &shown["record"];
    assert_eq!(record["decided_by"], "beds.e2e");
    assert_eq!(
        record["proposal"]["demand"]["provenance"]["model_sha256"],
        sha.as_str()
    );
    assert_eq!(
        record["proposal"]["demand"]["provenance"]["model_version"],
        version
    );
    assert!(record["proposal"]["patients"].as_u64().unwrap() >= 6);

    // The published plan's moves are orders for the wards: the CLI lists them as the
    // store holds them, one per move the plan proposed; the ward reports one done.
    let proposed = record["proposal"]["moves"]
        .as_array()
        .expect("the proposal's moves")
        .len();
    let ordered: Vec<(String, String)> = sqlx::query(
        "SELECT plan_id, admission_id FROM bed_moves WHERE status = 'ordered' ORDER BY admission_id",
    )
    .fetch_all(db.pool())
    .await
    .expect("move orders")
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(ordered.len(), proposed, "one order per proposed move");
    eprintln!("bed plan {plan_id}: {proposed} move order(s)");
    assert!(ordered.iter().all(|(p, _)| p == &plan_id));
    let listed: Vec<serde_json::Value> = serde_json::from_str(&stdout(
        &node.cli(&["bed-moves", "--as", "beds.e2e"]).await,
        "bed-moves",
    ))
    .expect("bed-moves prints JSON");
    let mut listed: Vec<(String, String)> = listed
        .iter()
        .map(|m| {
            (
                m["plan_id"].as_str().unwrap().to_owned(),
                m["admission_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(listed, ordered);
    let clerk_view = node.cli(&["bed-moves", "--as", "clerk.e2e"]).await;
    assert!(!clerk_view.status.success(), "a clerk sees no move orders");
    assert!(
        String::from_utf8_lossy(&clerk_view.stderr).contains("admissions_clerk may not"),
        "{}",
        String::from_utf8_lossy(&clerk_view.stderr)
    );
    if let Some((plan, admission)) = ordered.first() {
        let done = stdout(
            &node
                .cli(&["bed-moves", "--done", plan, admission, "--as", "beds.e2e"])
                .await,
            "bed-moves --done",
        );
        assert!(done.contains("\"done\""), "{done}");
    }

    // The decision is linked to the bed manager's signature of it.
    let (signer, meaning, used): (String, String, Option<String>) = sqlx::query(
        "SELECT s.signer, s.meaning, s.used_at FROM signatures s JOIN tasks t ON t.signature_id = s.signature_id \
         WHERE t.task_id = $1",
    )
    .bind(&task_id)
    .fetch_one(db.pool())
    .await
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .expect("the decision's signature");
    assert_eq!(
        (signer.as_str(), meaning.as_str()),
        ("beds.e2e", "approved")
    );
    assert!(used.is_some());

    // A second approval of the same task is refused.
    let again = node
        .cli_with_stdin(
            &[
                "approve",
                &task_id,
                "--reason",
                "approving twice",
                "--as",
                "beds.e2e",
                "--password-stdin",
            ],
            PASSWORD,
        )
        .await;
    assert!(!again.status.success());

    let out = node.cli(&["audit", "verify"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let used: String = sqlx::query(
        "SELECT reason FROM audit_log WHERE action = 'forecast.used' AND workflow_id = $1",
    )
    .bind(&plan_id)
    .fetch_one(db.pool())
    .await
    .expect("forecast.used entry")
    .get(0);
    assert!(used.contains(&sha), "{used}");
}
