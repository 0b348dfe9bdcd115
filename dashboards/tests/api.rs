//! The HTTP API in-process (`app().oneshot`) over a real SQLite database and the
//! official Temporal test server: who may do what, located errors with nothing
//! written, pseudonymised patients, and idempotent admission requests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::{users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::Role;

struct Env {
    _server: temporal::TestServer,
    _dir: tempfile::TempDir,
    db: Db,
    state: AppState,
    clerk: String,
    bed_manager: String,
}

async fn env() -> Env {
    let (server, client) = temporal::start_test_server().await;
    let (dir, db) = db::sqlite().await;
    let clerk = users::upsert(&db, "ana", Role::AdmissionsClerk, "test")
        .await
        .expect("user");
    let bed_manager = users::upsert(&db, "ben", Role::BedManager, "test")
        .await
        .expect("user");
    let state = AppState {
        db: db.clone(),
        client,
    };
    Env {
        _server: server,
        _dir: dir,
        db,
        state,
        clerk,
        bed_manager,
    }
}

fn admission() -> Value {
    json!({"patient_ref": "MRN-42", "kind": "emergency", "sex": "male", "age_group": "adult",
           "specialty": "cardiology", "isolation": false, "expected_los_days": 4})
}

async fn call(
    env: &Env,
    token: &str,
    path: &str,
    body: String,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let resp = app(env.state.clone())
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n")
}

#[tokio::test]
async fn malformed_requests_are_located_and_write_nothing() {
    let env = env().await;
    let before = (
        count(&env.db, "patients").await,
        count(&env.db, "audit_log").await,
    );
    let mut bad_los = admission();
    bad_los["expected_los_days"] = json!(0);
    let mut bad_kind = admission();
    bad_kind["kind"] = json!("urgent");
    let mut unknown = admission();
    unknown["ward"] = json!("CARD-A");
    let cases = [
        ("{\"patient_ref\": ", "line 1"),
        (&bad_los.to_string() as &str, "expected_los_days"),
        (&bad_kind.to_string(), "kind"),
        (&unknown.to_string(), "ward"),
        ("{\"patient_ref\": \"MRN-1\"}", "kind"),
    ];
    for (body, names) in cases {
        let (status, json) = call(&env, &env.clerk, "/api/admissions", body.to_owned(), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let msg = json["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(names), "{body} -> {msg}");
    }
    assert_eq!(
        before,
        (
            count(&env.db, "patients").await,
            count(&env.db, "audit_log").await
        )
    );
}

#[tokio::test]
async fn roles_limit_what_each_user_may_do() {
    let env = env().await;
    let (status, _) = call(
        &env,
        "not-a-token",
        "/api/admissions",
        admission().to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, json) = call(
        &env,
        &env.bed_manager,
        "/api/admissions",
        admission().to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(json["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("bed_manager"));
    let (status, _) = call(
        &env,
        &env.clerk,
        "/api/tasks/x/decision",
        json!({"approve": true, "reason": "fine"}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_retried_request_with_its_key_starts_one_admission_under_a_pseudonym() {
    let env = env().await;
    let (s1, first) = call(
        &env,
        &env.clerk,
        "/api/admissions",
        admission().to_string(),
        Some("ED-2026-0042"),
    )
    .await;
    let (s2, again) = call(
        &env,
        &env.clerk,
        "/api/admissions",
        admission().to_string(),
        Some("ED-2026-0042"),
    )
    .await;
    assert_eq!(s1, StatusCode::CREATED);
    assert_eq!(s2, StatusCode::OK, "{again}");
    assert_eq!(first["workflow_id"], again["workflow_id"]);
    let (s3, other) = call(
        &env,
        &env.clerk,
        "/api/admissions",
        admission().to_string(),
        Some("ED-2026-0043"),
    )
    .await;
    assert_eq!(s3, StatusCode::CREATED);
    assert_ne!(first["workflow_id"], other["workflow_id"]);
    // The workflow received the pseudonym, not the MRN.
    let handle = env
        .state
        .client
        .get_workflow_handle::<careflow_workflows::AdmissionWorkflow>(
            first["workflow_id"].as_str().expect("id").to_owned(),
        );
    let history = handle
        .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default())
        .to_json()
        .await
        .expect("history");
    let text = String::from_utf8_lossy(&history);
    assert!(
        !text.contains("MRN-42"),
        "the MRN reached Temporal's history"
    );
    let key: String = sqlx::query("SELECT patient_key FROM patients WHERE patient_ref = 'MRN-42'")
        .fetch_one(env.db.pool())
        .await
        .expect("patient")
        .get("patient_key");
    assert!(key.starts_with("PK-"));
}

#[tokio::test]
async fn bed_plan_requests_are_checked_for_role_and_fields_before_anything_starts() {
    let env = env().await;
    let before = count(&env.db, "audit_log").await;
    // A clerk may not ask for a bed plan.
    let (status, _) = call(
        &env,
        &env.clerk,
        "/api/bed-plans",
        json!({"plan_date": "2026-11-30"}).to_string(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Every wrong field is named; an unknown one too.
    let cases = [
        (
            json!({"plan_date": "30/11/2026", "horizon_days": 40, "solve_seconds": 0}),
            vec!["plan_date", "horizon_days", "solve_seconds"],
        ),
        (
            json!({"plan_date": "2026-11-30", "wards": 3}),
            vec!["wards"],
        ),
        (json!({"horizon_days": 3}), vec!["plan_date"]),
    ];
    for (body, fields) in cases {
        let (status, json) = call(
            &env,
            &env.bed_manager,
            "/api/bed-plans",
            body.to_string(),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let text = json.to_string();
        for f in fields {
            assert!(text.contains(f), "{body} -> {text}");
        }
    }
    assert_eq!(count(&env.db, "bed_plans").await, 0);
    assert_eq!(count(&env.db, "audit_log").await, before);
}
