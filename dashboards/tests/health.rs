//! `/api/health` asks the domain database and Temporal on every call: 200 while both
//! answer, 503 naming the one that does not; and the API refuses a body over
//! `MAX_BODY_BYTES` with 413 before reading it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;

use careflow_dashboards::{app, AppState, MAX_BODY_BYTES};
use careflow_testkit::{db, temporal};
use careflow_types::Health;

async fn health(state: &AppState) -> (StatusCode, Health) {
    let resp = app(state.clone())
        .oneshot(Request::get("/api/health").body(Body::empty()).unwrap())
        .await
        .expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("health JSON"))
}

#[tokio::test]
async fn health_names_the_part_that_is_down() {
    let (server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let state = AppState {
        db: db.clone(),
        client,
    };
    let (code, h) = health(&state).await;
    assert_eq!(code, StatusCode::OK, "{h:?}");
    assert_eq!(
        (h.status.as_str(), h.database.as_str(), h.temporal.as_str()),
        ("ok", "ok", "ok")
    );

    drop(server);
    let (code, h) = health(&state).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{h:?}");
    assert_eq!(h.status, "unavailable");
    assert_eq!(h.database, "ok");
    assert!(h.temporal.starts_with("down: "), "{h:?}");

    db.close().await;
    let (code, h) = health(&state).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{h:?}");
    assert!(h.database.starts_with("down: "), "{h:?}");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let (_server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let state = AppState { db, client };
    let body = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
    let resp = app(state)
        .oneshot(
            Request::post("/api/login")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
