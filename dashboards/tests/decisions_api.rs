//! `/api/decisions/...` in-process over a real SQLite database: the routes reach the
//! solver only through the service the binary injects (here the same
//! `careflow_activities::decisions::Decisions` the binary uses), check the caller's
//! role, replay a stored bed-plan step identically, explain it, and refuse a tampered
//! snapshot with a clear message. Without a service the routes say so.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use careflow_activities::bed_plan::{self, replay_solve};
use careflow_activities::decisions::Decisions;
use careflow_dashboards::{app, with_decisions, AppState, DecisionService, ServiceFuture};
use careflow_store::decisions::{self, DecisionResult, DecisionStep, NewDecisionStep};
use careflow_store::{users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::{DecisionExplanation, ReplayReport, Role};

struct Service(Decisions);

impl DecisionService for Service {
    fn replay<'a>(
        &'a self,
        user: &'a str,
        role: Role,
        workflow_id: &'a str,
        step: Option<&'a str>,
    ) -> ServiceFuture<'a, ReplayReport> {
        Box::pin(self.0.replay(user, role, workflow_id, step))
    }
    fn explain<'a>(
        &'a self,
        user: &'a str,
        role: Role,
        workflow_id: &'a str,
        step: Option<&'a str>,
    ) -> ServiceFuture<'a, DecisionExplanation> {
        Box::pin(self.0.explain(user, role, workflow_id, step))
    }
}

/// One cardiology ward with a bay of two and a side room; a woman in the bay and an
/// isolation patient who is in the bay and must go to the side room.
const BED_INPUT: &str = r#"{"horizon_days":2,
 "wards":[{"id":"CARD","specialties":["cardiology"],"min_age":16,"max_age":null}],
 "rooms":[{"id":"CARD-BAY1","ward":"CARD","beds":2,"equipment":[]},
          {"id":"CARD-SR1","ward":"CARD","beds":1,"equipment":[]}],
 "patients":[
  {"id":"adm-1","sex":"female","age":50,"specialty":"cardiology","admit_day":0,"discharge_day":2,
   "isolation":false,"equipment":[],"current_room":"CARD-BAY1"},
  {"id":"adm-2","sex":"female","age":70,"specialty":"cardiology","admit_day":0,"discharge_day":2,
   "isolation":true,"equipment":[],"current_room":"CARD-BAY1"}],
 "emergency_forecast":[{"ward":"CARD","day":0,"quantiles":[[0.5,0.0],[0.9,1.0]]}],
 "previous":[]}"#;

async fn store_step(db: &Db) -> String {
    // Stored as the activity stores it: compact JSON text, whose hash is the key.
    let input: Value = serde_json::from_str(BED_INPUT).expect("input");
    let json = serde_json::to_string(&input).expect("json");
    let settings = DecisionStep {
        workflow_id: "bedplan-api".into(),
        step: bed_plan::SOLVE_STEP.into(),
        snapshot_sha256: decisions::sha256_hex(&json),
        models: Vec::new(),
        solver: Some("HiGHS".into()),
        solver_version: Some("1.16".into()),
        careflow_version: "0.1.0".into(),
        seed: Some(0),
        time_limit_s: Some(20.0),
        threads: Some(1),
        result_digest: String::new(),
        created_at: String::new(),
    };
    let (outcome, _) = replay_solve(&json, &settings).expect("solves");
    decisions::record(
        db,
        &NewDecisionStep {
            workflow_id: settings.workflow_id.clone(),
            step: settings.step.clone(),
            kind: bed_plan::SOLVE_SNAPSHOT.into(),
            snapshot_json: json,
            models: Vec::new(),
            solver: settings.solver.clone(),
            solver_version: settings.solver_version.clone(),
            careflow_version: settings.careflow_version.clone(),
            seed: settings.seed,
            time_limit_s: settings.time_limit_s,
            threads: settings.threads,
            result_digest: outcome.digest(),
        },
    )
    .await
    .expect("record");
    decisions::record_result(
        db,
        &DecisionResult {
            workflow_id: settings.workflow_id.clone(),
            step: settings.step.clone(),
            solver_status: "optimal".into(),
            objective: None,
            mip_gap: None,
            result_json: serde_json::to_string(&outcome).expect("result"),
        },
    )
    .await
    .expect("result");
    settings.snapshot_sha256
}

async fn call(
    state: &AppState,
    svc: Option<Arc<Service>>,
    token: &str,
    path: &str,
    post: bool,
) -> (StatusCode, Value) {
    let req = if post {
        Request::post(path)
    } else {
        Request::get(path)
    }
    .header("authorization", format!("Bearer {token}"))
    .body(Body::empty())
    .expect("request");
    let router = match svc {
        Some(s) => with_decisions(app(state.clone()), s),
        None => app(state.clone()),
    };
    let resp = router.oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_replay_and_explain_through_the_injected_service() {
    let (_server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let auditor = users::upsert(&db, "aud", Role::Auditor, "test")
        .await
        .expect("user");
    let clerk = users::upsert(&db, "ana", Role::AdmissionsClerk, "test")
        .await
        .expect("user");
    let bed_manager = users::upsert(&db, "ben", Role::BedManager, "test")
        .await
        .expect("user");
    let sha = store_step(&db).await;
    let state = AppState {
        db: db.clone(),
        client,
    };
    let svc = Arc::new(Service(Decisions::new(db.clone(), std::env::temp_dir())));

    let (status, body) = call(
        &state,
        None,
        &auditor,
        "/api/decisions/bedplan-api/replay",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = call(
        &state,
        Some(svc.clone()),
        &auditor,
        "/api/decisions/bedplan-api/replay?step=solve/bed-plan",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["verdict"], "identical", "{body}");

    let (status, body) = call(
        &state,
        Some(svc.clone()),
        &auditor,
        "/api/decisions/bedplan-api/explain",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["cost_terms"].as_array().map(Vec::len),
        Some(4),
        "{body}"
    );
    let moved = body["changes"].as_array().expect("changes");
    assert!(
        moved
            .iter()
            .any(|c| c["subject"] == "adm-2" && c["to"] == "CARD-SR1"),
        "{body}"
    );

    let (status, body) = call(
        &state,
        Some(svc.clone()),
        &clerk,
        "/api/decisions/bedplan-api/explain",
        false,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Move orders are for the people who move patients.
    let (status, body) = call(&state, None, &bed_manager, "/api/bed-moves", false).await;
    assert_eq!((status, body), (StatusCode::OK, serde_json::json!([])));
    let (status, _) = call(&state, None, &clerk, "/api/bed-moves", false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    sqlx::query("UPDATE decision_snapshots SET json = json || ' ' WHERE sha256 = $1")
        .bind(&sha)
        .execute(db.pool())
        .await
        .expect("tamper");
    let (status, body) = call(
        &state,
        Some(svc),
        &auditor,
        "/api/decisions/bedplan-api/replay",
        true,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("was altered"),
        "{body}"
    );
}
