//! The model-release routes in-process over a real SQLite database and the official
//! Temporal test server: who may start, read, promote and roll back a release, and
//! located errors with nothing written or started.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::{users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::Role;

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
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
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

async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get("n")
}

fn release(owner: &str) -> Value {
    json!({
        "model_name": "ed-arrivals",
        "version": "1.1.0",
        "owner": owner,
        "project_id": "eth-none",
    })
}

#[tokio::test]
async fn release_routes_check_roles_and_locate_bad_input_before_anything_starts() {
    let (_server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let token = |name: &'static str, role: Role| {
        let db = db.clone();
        async move { users::upsert(&db, name, role, "test").await.expect("user") }
    };
    let clerk = token("ana", Role::AdmissionsClerk).await;
    let lead = token("lead.lu", Role::ProjectLead).await;
    let owner = token("model.owner", Role::Admin).await;
    let auditor = token("audit.ada", Role::Auditor).await;
    let state = AppState {
        db: db.clone(),
        client,
    };
    let before = count(&db, "audit_log").await;

    // Only a project lead starts a release; a clerk reads none; an auditor reads them.
    for who in [&clerk, &owner, &auditor] {
        let (status, _) = call(
            &state,
            who,
            "POST",
            "/api/releases",
            Some(release("model.owner")),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = call(&state, &clerk, "GET", "/api/releases", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, listed) = call(&state, &auditor, "GET", "/api/releases", None).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([])));
    // Only an admin decides a promotion or rolls back; the author cannot.
    let decision = json!({"approve": true, "reason": "shadow fine", "password": "pw"});
    let rollback = json!({"reason": "worse on Mondays", "password": "pw"});
    for who in [&lead, &clerk, &auditor] {
        let (status, _) = call(
            &state,
            who,
            "POST",
            "/api/releases/release-x/promotion",
            Some(decision.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(
            &state,
            who,
            "POST",
            "/api/releases/release-x/rollback",
            Some(rollback.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = call(
        &state,
        &owner,
        "POST",
        "/api/releases/release-x/rollback",
        Some(rollback),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every wrong field is named: the author as owner, a margin out of range, a version
    // that is not a directory name, a project that does not exist; an unknown field too.
    let mut bad = release("lead.lu");
    bad["version"] = json!("../1.1.0");
    bad["subgroup_margin"] = json!(1.5);
    let mut not_admin = release("audit.ada");
    not_admin["shadow_seconds"] = json!(0);
    let mut unknown = release("model.owner");
    unknown["promote_now"] = json!(true);
    for (body, fields) in [
        (
            bad,
            vec![
                "owner",
                "cannot release it alone",
                "version",
                "subgroup_margin",
                "project_id",
            ],
        ),
        (
            not_admin,
            vec!["owner", "a model's owner is an admin", "shadow_seconds"],
        ),
        (unknown, vec!["promote_now"]),
    ] {
        let (status, answer) =
            call(&state, &lead, "POST", "/api/releases", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let text = answer.to_string();
        for f in fields {
            assert!(text.contains(f), "{f} in {text}");
        }
    }
    let (status, answer) = call(
        &state,
        &owner,
        "POST",
        "/api/releases/release-x/rollback",
        Some(json!({"reason": "", "password": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = answer["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["reason", "password"]);

    // Only an admin records observed values; a bad one is located.
    let truth = json!({"model_name": "ed-arrivals", "observations": [
        {"target": "2026-12-04T07", "value": 6.0},
        {"target": "2026-12-04T08", "value": -1.0}
    ]});
    let (status, _) = call(
        &state,
        &lead,
        "POST",
        "/api/releases/truth",
        Some(truth.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = call(&state, &owner, "POST", "/api/releases/truth", Some(truth)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer.to_string().contains("observations[1].value"),
        "{answer}"
    );

    assert_eq!(count(&db, "model_releases").await, 0);
    assert_eq!(count(&db, "audit_log").await, before);
}
