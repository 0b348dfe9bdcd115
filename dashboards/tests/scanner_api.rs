//! The scanner-booking routes in-process (`app().oneshot`) over a real SQLite database
//! and the official Temporal test server: only imaging managers (and admins) start a
//! booking run, a bad week is refused with every problem located and nothing written,
//! a good one starts its workflow, and only imaging managers record attendance (the
//! workflow itself is exercised in `workflows/tests/scanner_booking.rs`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::{users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::Role;

fn week() -> Value {
    json!({
        "week_start": "2027-03-01",
        "days": 1,
        "slots_per_day": 4,
        "scanners": [{"scanner_id": "CT1", "modality": "ct", "contrast": true}],
        "requests": [{"request_id": "R1", "patient_key": "PK-1", "modality": "ct",
                      "urgency": "routine", "deadline_day": 3, "age_years": 50}],
        // Overwritten by the server with the signed-in user.
        "requested_by": "someone.else"
    })
}

async fn send(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
    body: String,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
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

#[tokio::test]
async fn scanner_routes_check_role_and_fields_before_anything_starts() {
    let (_server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let imaging = users::upsert(&db, "imaging.ivy", Role::ImagingManager, "test")
        .await
        .expect("user");
    let clerk = users::upsert(&db, "ana", Role::AdmissionsClerk, "test")
        .await
        .expect("user");
    let state = AppState {
        db: db.clone(),
        client,
    };
    let audit_before = count(&db, "audit_log").await;

    let (status, _) = send(
        &state,
        &clerk,
        "POST",
        "/api/scanner-bookings",
        week().to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let mut bad = week();
    bad["requests"][0]["patient_key"] = json!("MRN-77");
    bad["requests"][0]["slots"] = json!(0);
    let (status, body) = send(
        &state,
        &imaging,
        "POST",
        "/api/scanner-bookings",
        bad.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let text = body.to_string();
    assert!(text.contains("requests[0].patient_key"), "{text}");
    assert!(text.contains("requests[0].slots"), "{text}");
    let mut unknown = week();
    unknown["requests"][0]["mrn"] = json!("MRN-77");
    let (status, body) = send(
        &state,
        &imaging,
        "POST",
        "/api/scanner-bookings",
        unknown.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("mrn"), "{body}");
    assert_eq!(
        count(&db, "audit_log").await,
        audit_before,
        "a refused request writes nothing"
    );

    let (status, body) = send(
        &state,
        &imaging,
        "POST",
        "/api/scanner-bookings",
        week().to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let booking_id = body["booking_id"].as_str().expect("booking id").to_owned();
    assert!(booking_id.starts_with("scan-2027-03-01-"), "{booking_id}");

    let report = json!({"request_id": "R1", "outcome": "attended"}).to_string();
    let path = format!("/api/scanner-bookings/{booking_id}/attendance");
    let (status, _) = send(&state, &clerk, "POST", &path, report).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
