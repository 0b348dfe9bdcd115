//! An AI project before the ethics committee through the real binary: the project lead
//! submits it with `careflow ethics submit`, the secretary finds it in `careflow ethics
//! queue`, checks, routes and assigns it, the reviewers review it signing with their
//! passwords, the secretary records a quorate meeting, members vote (signed) and the
//! chair signs the approval with its letter; a wrong password signs nothing.

use std::time::Duration;

use careflow_store::{ethics, Db};
use careflow_types::Role;

use crate::common::*;

const PEOPLE: [(&str, Role); 6] = [
    ("lead.e2e", Role::ProjectLead),
    ("sec.e2e", Role::EthicsSecretary),
    ("chair.e2e", Role::CommitteeChair),
    ("sci.e2e", Role::CommitteeMember),
    ("sci2.e2e", Role::CommitteeMember),
    ("lay.e2e", Role::CommitteeMember),
];

fn project() -> serde_json::Value {
    serde_json::json!({
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
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_is_approved_by_a_quorate_committee_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(&tmp.path().join("data"), None);
    let db = Db::connect(&node.database_url()).await.unwrap();
    seed(&db, &layout(1), &PEOPLE).await;
    node.spawn_serve();
    node.wait_ready(Duration::from_secs(120)).await;
    for (name, _) in PEOPLE {
        node.login(name).await;
    }
    let signed = |args: Vec<String>| {
        let mut args = args;
        args.push("--password-stdin".into());
        args
    };
    let cli = |args: Vec<String>| {
        let node = &node;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            stdout(&node.cli(&refs).await, &args.join(" "))
        }
    };
    let cli_pw = |args: Vec<String>, password: String| {
        let node = &node;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            node.cli_with_stdin(&refs, &format!("{password}\n")).await
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let sec = "sec.e2e";
    for (m, lay) in [
        ("chair.e2e", false),
        ("sci.e2e", false),
        ("sci2.e2e", false),
        ("lay.e2e", true),
    ] {
        let mut args = s(&["ethics", "add-member", m, "--as", sec]);
        if lay {
            args.push("--lay".into());
        }
        cli(args).await;
    }
    let file = tmp.path().join("project.json");
    std::fs::write(&file, project().to_string()).unwrap();
    let id = cli(s(&[
        "ethics",
        "submit",
        "--file",
        file.to_str().unwrap(),
        "--as",
        "lead.e2e",
    ]))
    .await;
    assert!(id.starts_with("eth-"), "{id}");
    let queue = cli(s(&["ethics", "queue", "--as", sec])).await;
    let line = queue
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{id} in {queue}"));
    assert!(line.contains("\tsubmitted\tcheck completeness\t"), "{line}");

    cli(s(&[
        "ethics",
        "check",
        &id,
        "--comments",
        "all sections present",
        "--as",
        sec,
    ]))
    .await;
    cli(s(&[
        "ethics",
        "route",
        &id,
        "--route",
        "full-committee",
        "--reason",
        "live operational data",
        "--as",
        sec,
    ]))
    .await;
    cli(s(&[
        "ethics",
        "assign",
        &id,
        "--reviewer",
        "sci.e2e",
        "--reviewer",
        "lay.e2e",
        "--as",
        sec,
    ]))
    .await;
    // A wrong password signs nothing.
    let review = |who: &str| {
        signed(s(&[
            "ethics",
            "review",
            &id,
            "--recommendation",
            "approve",
            "--comments",
            "aggregate data, approved plans",
            "--as",
            who,
        ]))
    };
    let wrong = cli_pw(review("sci.e2e"), "not the password".into()).await;
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("attempts left"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    for who in ["sci.e2e", "lay.e2e"] {
        stdout(&cli_pw(review(who), PASSWORD.into()).await, "review");
    }
    let held: serde_json::Value = serde_json::from_str(
        &cli(s(&[
            "ethics",
            "meeting",
            &id,
            "--present",
            "chair.e2e",
            "--present",
            "sci.e2e",
            "--present",
            "lay.e2e",
            "--as",
            sec,
        ]))
        .await,
    )
    .unwrap();
    assert_eq!(held["meeting"]["quorate"], true, "{held}");
    let meeting = held["meeting"]["meeting_id"].as_str().unwrap().to_owned();
    for who in ["chair.e2e", "sci.e2e", "lay.e2e"] {
        stdout(
            &cli_pw(
                signed(s(&[
                    "ethics",
                    "vote",
                    &id,
                    "--meeting",
                    &meeting,
                    "--vote",
                    "approve",
                    "--as",
                    who,
                ])),
                PASSWORD.into(),
            )
            .await,
            "vote",
        );
    }
    let decided: serde_json::Value = serde_json::from_str(&stdout(
        &cli_pw(
            signed(s(&[
                "ethics",
                "decide",
                &id,
                "--meeting",
                &meeting,
                "--outcome",
                "approved",
                "--letter",
                "The committee approves the forecaster for twelve months.",
                "--as",
                "chair.e2e",
            ])),
            PASSWORD.into(),
        )
        .await,
        "decide",
    ))
    .unwrap();
    assert_eq!(decided["submission"]["state"], "approved", "{decided}");
    let shown: serde_json::Value =
        serde_json::from_str(&cli(s(&["ethics", "show", &id, "--as", "chair.e2e"])).await).unwrap();
    assert_eq!(shown["decision"], "approved");
    assert!(shown["approved_until"].is_string(), "{shown}");
    // Every signature is on record, the chain intact.
    let stored = ethics::get(&db, &id).await.unwrap();
    assert_eq!(stored.state, "approved");
    let signatures: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM signatures WHERE used_at IS NOT NULL AND subject LIKE $1",
    )
    .bind(format!("ethics/{id}/%"))
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(signatures, 2 + 3 + 1);
    assert_audit_verifies(&node).await;
}
