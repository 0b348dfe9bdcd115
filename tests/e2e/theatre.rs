//! A theatre day through the real binary: the model owner installs the committed
//! `surgery-duration` model with the CLI; one theatre administrator asks for the week's
//! lists with `careflow theatre plan`, the other approves them with `careflow approve`;
//! on Wednesday an emergency case (`careflow theatre event --emergency`) re-plans the
//! lists, the re-plan moves booked patients and goes back for approval, is approved,
//! and `careflow theatre list` shows it in force. Bad input is located and stores
//! nothing (a procedure the duration model does not know fails the week with the
//! field named), the requester may not approve, an auditor reads no patient key, and the
//! audit trail verifies.

use std::path::Path;
use std::time::Duration;

use sqlx::Row;

use careflow_store::{patients, Db};
use careflow_types::{AgeGroup, Role, Sex};

use crate::common::*;

const REQUESTER: &str = "theatre.tom";
const APPROVER: &str = "theatre.tess";
const AUDITOR: &str = "audit.e2e";

fn case(
    id: &str,
    key: &str,
    procedure: &str,
    surgeon: &str,
    category: &str,
    waited: u32,
) -> serde_json::Value {
    let specialty = match procedure {
        "total_knee_arthroplasty" | "total_hip_arthroplasty" => "orthopaedics",
        "cystoscopy_turbt" => "urology",
        _ => "general_surgery",
    };
    serde_json::json!({
        "case_id": id, "patient_key": key, "procedure": procedure, "specialty": specialty,
        "surgeon_id": surgeon, "category": category, "days_waited": waited
    })
}

/// The week of the workflow tests (3 theatres, 20 cases, 5 days): surgeon S01 has more
/// cases than their Monday and Wednesday hold, so a Wednesday emergency for S01 moves a
/// booked patient. Far enough ahead that the week never ends during the test.
pub(crate) fn week(keys: &[String]) -> serde_json::Value {
    let mut cases = Vec::new();
    for i in 1..=5u32 {
        cases.push(case(
            &format!("C{i:02}"),
            &keys[i as usize - 1],
            "lap_cholecystectomy",
            "S01",
            "P3",
            20 + i,
        ));
        cases.push(case(
            &format!("C{:02}", i + 5),
            &keys[i as usize + 4],
            "inguinal_hernia_repair",
            "S01",
            "P4",
            30 + i,
        ));
    }
    let rest = [
        ("total_knee_arthroplasty", "S02", "P3", 40),
        ("total_hip_arthroplasty", "S02", "P3", 60),
        ("total_knee_arthroplasty", "S02", "P4", 130),
        ("total_hip_arthroplasty", "S02", "P4", 12),
        ("cystoscopy_turbt", "S03", "P2", 28),
        ("cystoscopy_turbt", "S03", "P2", 10),
        ("cystoscopy_turbt", "S03", "P3", 15),
        ("cystoscopy_turbt", "S03", "P4", 5),
        ("colectomy", "S04", "P2", 12),
        ("colectomy", "S04", "P3", 50),
    ];
    for (n, (procedure, surgeon, category, waited)) in rest.into_iter().enumerate() {
        cases.push(case(
            &format!("C{}", n + 11),
            &keys[n + 10],
            procedure,
            surgeon,
            category,
            waited,
        ));
    }
    let sessions = |days: &[u32], minutes: u32| -> Vec<serde_json::Value> {
        days.iter()
            .map(|d| serde_json::json!({"day": d, "staffed_minutes": minutes}))
            .collect()
    };
    serde_json::json!({
        "week_start": "2027-03-01",
        "days": 5,
        "theatres": [
            {"theatre_id": "T1", "sessions": sessions(&[0, 1, 2, 3, 4], 480), "max_overtime_minutes": 60},
            {"theatre_id": "T2", "sessions": sessions(&[0, 1, 2, 3], 420), "max_overtime_minutes": 60},
            {"theatre_id": "T3", "sessions": sessions(&[1, 3], 300), "max_overtime_minutes": 30}
        ],
        "surgeons": [
            {"surgeon_id": "S01", "days": [0, 2]},
            {"surgeon_id": "S02", "days": [1, 3]},
            {"surgeon_id": "S03", "days": [0, 1, 2, 3, 4]},
            {"surgeon_id": "S04", "days": [2, 4]}
        ],
        "cases": cases,
        "target_utilisation": 0.85,
        "solve_seconds": 5,
        "seed": 7
    })
}

pub(crate) fn write_json(dir: &Path, name: &str, value: &serde_json::Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path.display().to_string()
}

/// `careflow theatre status` as `user`, parsed.
async fn status(node: &Node, list_id: &str, user: &str) -> serde_json::Value {
    let out = node
        .cli(&["theatre", "status", list_id, "--as", user])
        .await;
    serde_json::from_str(&stdout(&out, "theatre status")).expect("status JSON")
}

/// Waits until revision `revision` has an open task in the approver's queue.
async fn approval_task(node: &Node, revision: u32) -> String {
    poll(
        &format!("the theatre list approval task of revision {revision}"),
        Duration::from_secs(180),
        Duration::from_millis(500),
        || async {
            let out = node.cli(&["tasks", "--as", APPROVER]).await;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.contains("\ttheatre_list\t"))
                .map(|l| l.split('\t').next().unwrap().to_owned())
                .find(|id| id.ends_with(&format!("-r{revision}-approve")))
        },
    )
    .await
}

/// Waits until revision `revision` is the list in force.
async fn published(node: &Node, list_id: &str, revision: u32) -> serde_json::Value {
    poll(
        &format!("revision {revision} of {list_id} in force"),
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            let s = status(node, list_id, APPROVER).await;
            (s["status"]["stage"] == "published" && s["status"]["in_force"] == revision)
                .then_some(s)
        },
    )
    .await
}

async fn count_rows(db: &Db, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_theatre_day_is_replanned_after_an_emergency_and_the_replan_approved() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    seed(
        &db,
        &layout(1),
        &[
            (REQUESTER, Role::TheatreAdmin),
            (APPROVER, Role::TheatreAdmin),
            (AUDITOR, Role::Auditor),
            ("clerk.e2e", Role::AdmissionsClerk),
            ("model.owner", Role::Admin),
        ],
    )
    .await;
    let model_dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("forecasters/models/surgery-duration/1.0.0");
    stdout(
        &node
            .cli_as_admin(
                &["forecast", "register", model_dir.to_str().unwrap()],
                "model.owner",
            )
            .await,
        "forecast register",
    );
    stdout(
        &node
            .cli_as_admin(
                &[
                    "forecast",
                    "install",
                    "surgery-duration",
                    "1.0.0",
                    "--reason",
                    "held-out error reviewed by the model owner",
                ],
                "model.owner",
            )
            .await,
        "forecast install",
    );
    let sha: String = sqlx::query(
        "SELECT sha256 FROM model_registry WHERE name = 'surgery-duration' AND status = 'production'",
    )
    .fetch_one(db.pool())
    .await
    .expect("production model")
    .get(0);
    // The waiting list's patients, registered under pseudonyms as the PAS feed would.
    let mut keys = Vec::new();
    for n in 0..21 {
        keys.push(
            patients::pseudonymise(&db, &format!("MRN-T{n:03}"), Sex::Female, AgeGroup::Adult)
                .await
                .unwrap(),
        );
    }
    let files = tmp.path();
    let good = week(&keys);
    let week_file = write_json(files, "week.json", &good);
    // Two mistakes: a hospital number where a pseudonym belongs, a surgeon not on.
    let mut bad = good.clone();
    bad["cases"][0]["patient_key"] = "MRN-T000".into();
    bad["cases"][1]["surgeon_id"] = "S99".into();
    let bad_file = write_json(files, "bad-week.json", &bad);
    let mut emergency = case("E01", &keys[20], "lap_appendectomy", "S01", "P1", 0);
    emergency["asa_class"] = 2.into();
    let emergency_file = write_json(files, "emergency.json", &emergency);

    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    // The people who use the CLI log in first; decisions are signed with the password.
    for user in [REQUESTER, APPROVER, AUDITOR, "clerk.e2e"] {
        node.login(user).await;
    }

    // Bad input: every field located, nothing stored, nothing started.
    let audit_before = count_rows(&db, "SELECT COUNT(*) FROM audit_log").await;
    let out = node
        .cli(&["theatre", "plan", &bad_file, "--as", REQUESTER])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cases[0].patient_key"), "{err}");
    assert!(err.contains("cases[1].surgeon_id: surgeon S99"), "{err}");
    assert!(
        !err.contains("MRN-T000"),
        "the refusal repeats no identifier: {err}"
    );
    // A clerk may not ask for theatre lists.
    let out = node
        .cli(&["theatre", "plan", &week_file, "--as", "clerk.e2e"])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    assert_eq!(
        count_rows(&db, "SELECT COUNT(*) FROM theatre_lists").await,
        0
    );
    assert_eq!(
        count_rows(&db, "SELECT COUNT(*) FROM audit_log").await,
        audit_before
    );

    // A procedure the duration model does not know: the week starts, its forecast step
    // fails naming the case's field, and nothing is stored.
    let mut unknown = good.clone();
    unknown["cases"][3]["procedure"] = "heart_transplant".into();
    let unknown_file = write_json(files, "unknown-procedure.json", &unknown);
    let failed_id = stdout(
        &node
            .cli(&["theatre", "plan", &unknown_file, "--as", REQUESTER])
            .await,
        "theatre plan (unknown procedure)",
    );
    let failed = poll(
        "the week with an unknown procedure failed",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || async {
            let s = status(&node, &failed_id, APPROVER).await;
            (s["execution"] == "failed").then_some(s)
        },
    )
    .await;
    let why = failed["failure"].as_str().unwrap_or_default();
    assert!(
        why.contains("cases[3].procedure: case C07 names procedure \"heart_transplant\""),
        "{failed}"
    );
    assert_eq!(failed["status"], serde_json::Value::Null);
    assert_eq!(
        count_rows(&db, "SELECT COUNT(*) FROM theatre_lists").await,
        0
    );
    assert_eq!(
        count_rows(&db, "SELECT COUNT(*) FROM decision_steps").await,
        0
    );

    // Monday's plan: tom asks, tess approves.
    let list_id = stdout(
        &node
            .cli(&["theatre", "plan", &week_file, "--as", REQUESTER])
            .await,
        "theatre plan",
    );
    assert!(list_id.starts_with("theatre-2027-03-01-"), "{list_id}");
    let r0_task = approval_task(&node, 0).await;
    let task_line =
        String::from_utf8_lossy(&node.cli(&["tasks", "--as", APPROVER]).await.stdout).into_owned();
    assert!(
        task_line.contains(&sha[..12]),
        "the approver sees the model: {task_line}"
    );
    assert!(
        !task_line.contains("PK-"),
        "no patient key in the task: {task_line}"
    );
    let own = node
        .cli_with_stdin(
            &[
                "approve",
                &r0_task,
                "--reason",
                "my own lists look fine",
                "--as",
                REQUESTER,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        )
        .await;
    assert!(!own.status.success(), "the requester may not approve");
    assert!(
        String::from_utf8_lossy(&own.stderr).contains("someone else must decide"),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    stdout(
        &node
            .cli_with_stdin(
                &[
                    "approve",
                    &r0_task,
                    "--reason",
                    "lists agreed at the theatre scheduling meeting",
                    "--as",
                    APPROVER,
                    "--password-stdin",
                ],
                &format!("{PASSWORD}\n"),
            )
            .await,
        "approve revision 0",
    );
    let r0 = published(&node, &list_id, 0).await;
    let r0 = &r0["status"]["proposal"];
    assert_eq!(r0["durations"]["model_sha256"], sha.as_str());

    // Wednesday: an emergency appendicectomy for S01, whose Wednesday list is full.
    let refused = node
        .cli(&[
            "theatre", "event", &list_id, "--day", "9", "--cancel", "C99", "--reason", "x", "--as",
            REQUESTER,
        ])
        .await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("day: day 9 is outside"), "{err}");
    assert!(err.contains("change.case_id: case C99 is not on"), "{err}");
    let answer = stdout(
        &node
            .cli(&[
                "theatre",
                "event",
                &list_id,
                "--day",
                "2",
                "--emergency",
                &emergency_file,
                "--as",
                REQUESTER,
            ])
            .await,
        "theatre event",
    );
    assert!(answer.contains("re-planned from day 2"), "{answer}");
    let r1_task = approval_task(&node, 1).await;
    let s = status(&node, &list_id, APPROVER).await;
    let r1 = &s["status"]["proposal"];
    assert_eq!(r1["revision"], 1);
    let changes = r1["changes"].as_array().expect("changes");
    assert!(
        !changes.is_empty(),
        "the re-plan moves a booked patient: {r1}"
    );
    assert!(
        changes.iter().all(|c| c["from_day"].as_u64().unwrap() >= 2),
        "Monday's and Tuesday's lists were done: {changes:?}"
    );
    eprintln!(
        "emergency re-plan: solver {} in {:.2} s, gap {}, {} booked patient(s) moved or deferred",
        r1["solver_status"],
        r1["solve_seconds"].as_f64().unwrap(),
        r1["mip_gap"],
        changes.len()
    );
    stdout(
        &node
            .cli_with_stdin(
                &[
                    "approve",
                    &r1_task,
                    "--reason",
                    "moves agreed with the surgeons; patients told this morning",
                    "--as",
                    APPROVER,
                    "--password-stdin",
                ],
                &format!("{PASSWORD}\n"),
            )
            .await,
        "approve revision 1",
    );
    published(&node, &list_id, 1).await;

    // The list in force shows the re-plan, with the emergency case on Wednesday.
    let lists: serde_json::Value = serde_json::from_str(&stdout(
        &node
            .cli(&["theatre", "list", &list_id, "--as", APPROVER])
            .await,
        "theatre list",
    ))
    .unwrap();
    let in_force = &lists["in_force"];
    assert_eq!(in_force["revision"], 1);
    assert_eq!(in_force["status"], "published");
    assert_eq!(in_force["decided_by"], APPROVER);
    let e01 = in_force["proposal"]["booked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["case_id"] == "E01")
        .expect("E01 booked")
        .clone();
    assert_eq!(e01["day"], 2);
    assert_eq!(e01["patient_key"], keys[20].as_str());
    assert_eq!(lists["revisions"][0]["status"], "superseded");
    assert_eq!(lists["revisions"][1]["changes"], changes.len());

    // An auditor follows the decisions by case, without patient keys.
    let audited = stdout(
        &node
            .cli(&["theatre", "list", &list_id, "--as", AUDITOR])
            .await,
        "theatre list as auditor",
    );
    assert!(!audited.contains("PK-"), "{audited}");
    assert!(audited.contains("\"E01\""));
    let audited_status = stdout(
        &node
            .cli(&["theatre", "status", &list_id, "--as", AUDITOR])
            .await,
        "theatre status as auditor",
    );
    assert!(!audited_status.contains("PK-"));
    // ... and may not report events.
    let out = node
        .cli(&[
            "theatre",
            "event",
            &list_id,
            "--day",
            "3",
            "--cancel",
            "C11",
            "--reason",
            "auditor tries",
            "--as",
            AUDITOR,
        ])
        .await;
    assert!(!out.status.success());

    let closed = stdout(
        &node
            .cli(&[
                "theatre",
                "close",
                &list_id,
                "--reason",
                "the week's lists are done",
                "--as",
                APPROVER,
            ])
            .await,
        "theatre close",
    );
    assert!(closed.contains("closed by theatre.tess"), "{closed}");
    let ended = poll(
        "the week's workflow completed",
        Duration::from_secs(60),
        Duration::from_millis(300),
        || async {
            let s = status(&node, &list_id, APPROVER).await;
            (s["execution"] == "completed").then_some(s)
        },
    )
    .await;
    assert_eq!(ended["status"]["stage"], "closed");

    // Who approved what is in the trail, and the trail is intact.
    let approvals: Vec<(String, String)> = sqlx::query(
        "SELECT actor, meaning FROM audit_log WHERE workflow_id = $1 AND action = 'task.approved' ORDER BY seq",
    )
    .bind(&list_id)
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(
        approvals,
        vec![
            (
                APPROVER.to_owned(),
                "approved theatre list for publication".to_owned()
            ),
            (
                APPROVER.to_owned(),
                "approved theatre list for publication".to_owned()
            ),
        ]
    );
    let trail: Vec<String> = sqlx::query(
        "SELECT actor || ' ' || action || ' ' || COALESCE(reason, '') || ' ' || COALESCE(step, '') FROM audit_log",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert!(
        trail.iter().all(|e| !e.contains("MRN-T")),
        "no hospital number in the trail"
    );
    assert_audit_verifies(&node).await;
}
