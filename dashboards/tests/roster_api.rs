//! The roster routes in-process over a real SQLite database and the official Temporal
//! test server: who may ask for a roster or report a sick call, and located errors with
//! nothing written or started.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::{users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::Role;

async fn post(state: &AppState, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
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

fn ward() -> Value {
    json!({
        "ward": "surgery",
        "start_date": "2027-03-01",
        "census_at_origin": 10,
        "admissions_last_28_days": vec![1; 28],
        "nurses": [{"nurse_id": "RN01", "contracted_hours_per_week": 37.5}]
    })
}

#[tokio::test]
async fn roster_requests_and_events_are_checked_for_role_and_fields_before_anything_starts() {
    let (_server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let clerk = users::upsert(&db, "ana", Role::AdmissionsClerk, "test")
        .await
        .expect("user");
    let head = users::upsert(&db, "hana", Role::DepartmentHead, "test")
        .await
        .expect("user");
    let state = AppState {
        db: db.clone(),
        client,
    };
    let before = count(&db, "audit_log").await;

    // A clerk may neither ask for a roster nor report a sick call.
    let (status, _) = post(&state, &clerk, "/api/rosters", ward()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let sick =
        json!({"change": {"kind": "sick_call", "nurse_id": "RN01", "first_day": 1, "last_day": 1}});
    let (status, _) = post(&state, &clerk, "/api/rosters/roster-x/events", sick.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Every wrong field is named; an unknown one too.
    let mut bad = ward();
    bad["start_date"] = json!("2027-03-02");
    bad["days"] = json!(30);
    bad["nurses"][0]["leave_days"] = json!([40]);
    let mut unknown = ward();
    unknown["beds"] = json!(3);
    for (body, fields) in [
        (bad, vec!["start_date", "days", "nurses[0].leave_days[0]"]),
        (unknown, vec!["beds"]),
    ] {
        let (status, answer) = post(&state, &head, "/api/rosters", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let text = answer.to_string();
        for f in fields {
            assert!(text.contains(f), "{f} in {text}");
        }
    }
    // An event for a roster that does not run is refused.
    let (status, answer) = post(&state, &head, "/api/rosters/roster-x/events", sick).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");

    assert_eq!(count(&db, "rosters").await, 0);
    assert_eq!(count(&db, "audit_log").await, before);
}
