//! The OpenAPI document at `/api/openapi.json` is generated from the handlers and
//! matches the router: every operation it lists is routed (called without a token it
//! is refused for that, never answered 404 or 405), names its roles, and needs the
//! bearer token unless it is the login or the health check.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_testkit::{db, temporal};

#[tokio::test]
async fn every_documented_operation_is_routed_and_names_its_roles() {
    let (_server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let state = AppState { db, client };
    let call = |method: &str, path: &str| {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let router = app(state.clone());
        async move { router.oneshot(req).await.expect("response") }
    };
    let resp = call("GET", "/api/openapi.json").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
        .await
        .unwrap();
    let doc: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let public = path == "/api/login" || path == "/api/health";
            assert!(
                op["description"].as_str().unwrap().starts_with("Roles: "),
                "{method} {path}"
            );
            assert_eq!(op["security"].is_array(), !public, "{method} {path}");
            let placeholders = path.matches('{').count();
            let declared = op["parameters"].as_array().map_or(0, Vec::len);
            assert_eq!(
                placeholders, declared,
                "{method} {path} declares its path parameters"
            );
            let concrete = path
                .split('/')
                .map(|s| if s.starts_with('{') { "x-1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let status = call(&method.to_uppercase(), &concrete).await.status();
            let want = match (path.as_str(), public) {
                ("/api/health", _) => StatusCode::OK,
                // An empty login is refused for what it lacks.
                ("/api/login", _) => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNAUTHORIZED,
            };
            assert_eq!(status, want, "{method} {path}");
        }
    }
    // Every route of the API's table in dashboards/README.md under /api.
    assert_eq!(
        operations,
        35,
        "{}",
        paths.keys().cloned().collect::<Vec<_>>().join("\n")
    );
}
