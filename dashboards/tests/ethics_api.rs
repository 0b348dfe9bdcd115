//! The ethics routes in-process over a real SQLite database, the official Temporal test
//! server and a careflow worker: who may take which step, located errors for bad
//! bodies with nothing written, signing steps that need the password (a wrong one
//! refused and counted), and a step that goes through the review workflow.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::{ethics, users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::{Role, TASK_QUEUE};

const PW: &str = "committee password 2026";

async fn call(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
        .expect("request");
    let resp = app(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn post(state: &AppState, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    call(state, token, "POST", path, Some(body)).await
}

async fn count(db: &Db, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n")
}

fn project() -> Value {
    json!({
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

#[tokio::test(flavor = "multi_thread")]
async fn ethics_steps_are_checked_for_role_fields_and_signature() {
    let (_server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let mut token = std::collections::HashMap::new();
    for (n, r) in [
        ("lead.lu", Role::ProjectLead),
        ("sec.sue", Role::EthicsSecretary),
        ("chair.cy", Role::CommitteeChair),
        ("sci.sam", Role::CommitteeMember),
        ("clerk.ana", Role::AdmissionsClerk),
        ("admin", Role::Admin),
    ] {
        token.insert(
            n,
            users::upsert_with_password(&db, n, r, Some(PW), "test")
                .await
                .expect("user"),
        );
    }
    let t = |n: &str| token[n].clone();
    let state = AppState {
        db: db.clone(),
        client: client.clone(),
    };

    // Membership: the secretary adds members; a committee member may not.
    let (status, _) = post(
        &state,
        &t("sci.sam"),
        "/api/ethics/members",
        json!({"user": "sci.sam", "lay": false}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (m, lay) in [("chair.cy", false), ("sci.sam", true)] {
        let (status, a) = post(
            &state,
            &t("sec.sue"),
            "/api/ethics/members",
            json!({"user": m, "lay": lay}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{a}");
    }

    // Only a project lead submits; a missing section is named, and nothing is written.
    let before = count(&db, "SELECT COUNT(*) AS n FROM ethics_submissions").await;
    for who in ["clerk.ana", "sci.sam", "sec.sue"] {
        let (status, _) = post(&state, &t(who), "/api/ethics/submissions", project()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
    }
    let mut bad = project();
    bad["consent_plan"] = json!(" ");
    bad["documents"][0]["name"] = json!("");
    let (status, answer) = post(&state, &t("lead.lu"), "/api/ethics/submissions", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let fields: Vec<&str> = answer["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["consent_plan", "documents[0].name"],
        "{answer}"
    );
    // A wrong type is located by field, line and column.
    let mut wrong = project();
    wrong["documents"] = json!("protocol.md");
    let (status, answer) = post(&state, &t("lead.lu"), "/api/ethics/submissions", wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer["error"]["fields"][0]["field"], "documents",
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("column"),
        "{answer}"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM ethics_submissions").await,
        before
    );

    let (status, answer) = post(&state, &t("lead.lu"), "/api/ethics/submissions", project()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["submission_id"].as_str().expect("id").to_owned();
    assert_eq!(answer["workflow_id"], ethics::workflow_id(&id));

    // Secretary-only, member-only and chair-only steps, refused to the other roles
    // before anything reaches the workflow.
    let check = json!({"complete": true, "comments": "all sections present"});
    for (who, path, body) in [
        ("lead.lu", "check", check.clone()),
        (
            "chair.cy",
            "route",
            json!({"route": "full_committee", "reason": "live data"}),
        ),
        (
            "lead.lu",
            "review",
            json!({"recommendation": "approve", "comments": "fine", "password": PW}),
        ),
        (
            "sci.sam",
            "decision",
            json!({"meeting_id": "mtg-x", "outcome": "approved", "letter": "approved as submitted", "password": PW}),
        ),
        (
            "sec.sue",
            "votes",
            json!({"meeting_id": "mtg-x", "vote": "approve", "password": PW}),
        ),
        ("auditor", "check", check.clone()),
    ] {
        let tok = token
            .get(who)
            .cloned()
            .unwrap_or_else(|| "no-such-token".into());
        let (status, answer) = post(
            &state,
            &tok,
            &format!("/api/ethics/submissions/{id}/{path}"),
            body,
        )
        .await;
        let expected = if who == "auditor" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, expected, "{who} {path}: {answer}");
    }
    // An unknown route and a step signed without the password are located.
    let (status, answer) = post(
        &state,
        &t("sec.sue"),
        &format!("/api/ethics/submissions/{id}/route"),
        json!({"route": "fast_track", "reason": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["fields"][0]["field"], "route", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fast_track"),
        "{answer}"
    );
    let (status, answer) = post(
        &state,
        &t("sci.sam"),
        &format!("/api/ethics/submissions/{id}/review"),
        json!({"recommendation": "approve", "comments": "fine", "password": ""}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer["error"]["fields"][0]["field"], "password",
        "{answer}"
    );
    // A wrong password signs nothing and is counted.
    let failures = count(
        &db,
        "SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'sci.sam' AND action LIKE '%fail%'",
    )
    .await;
    let (status, answer) = post(
        &state,
        &t("sci.sam"),
        &format!("/api/ethics/submissions/{id}/review"),
        json!({"recommendation": "approve", "comments": "fine", "password": "not my password"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["error"]["code"], "bad_credentials");
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM signatures").await, 0);
    assert!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'sci.sam' AND action LIKE '%fail%'"
        )
        .await
            > failures
    );

    // With a worker, the secretary's check goes through the review workflow; a step
    // that does not fit the state is refused with the reason.
    let runtime = Runtime::from_current_tokio(Default::default()).expect("runtime");
    let mut opts = WorkerOptions::new(TASK_QUEUE).build();
    careflow_workflows::register(&mut opts, db.clone(), std::env::temp_dir()).expect("register");
    let mut worker = Worker::new(&runtime, client.clone(), opts).expect("worker");
    let stop = worker.shutdown_handle();
    let run = worker.run();
    tokio::pin!(run);
    let body = async {
        let (status, answer) = post(
            &state,
            &t("sec.sue"),
            &format!("/api/ethics/submissions/{id}/route"),
            json!({"route": "expedited", "reason": "low risk"}),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("the route needs it complete"),
            "{answer}"
        );
        let (status, answer) = call(&state, &t("sec.sue"), "GET", "/api/ethics/queue", None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(
            answer
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["submission_id"] == id.as_str() && q["action"] == "check completeness"),
            "{answer}"
        );
        let (status, answer) = post(
            &state,
            &t("sec.sue"),
            &format!("/api/ethics/submissions/{id}/check"),
            check.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["submission"]["state"], "complete", "{answer}");
        let (status, answer) = call(
            &state,
            &t("clerk.ana"),
            "GET",
            &format!("/api/ethics/submissions/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
        let (status, answer) = call(
            &state,
            &t("chair.cy"),
            "GET",
            &format!("/api/ethics/submissions/{id}"),
            None,
        )
        .await;
        assert_eq!(
            (status, answer["state"].as_str()),
            (StatusCode::OK, Some("complete")),
            "{answer}"
        );
    };
    tokio::select! {
        r = &mut run => panic!("worker stopped early: {r:?}"),
        () = body => {}
    }
    stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
}
