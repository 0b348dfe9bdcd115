//! The FHIR R4 view through the HTTP API in-process over a real SQLite database: the
//! CapabilityStatement without login, Locations only after login, the site's wards,
//! rooms and beds with their operational status, paging links, a bad parameter refused
//! with an OperationOutcome naming it, and every resource parsed by an independent FHIR
//! implementation (PyPI `fhir.resources`, installed by scripts/setup).

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::{hospital, users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::Role;

const PASSWORD: &str = "fhir reader's pass";

async fn call(
    state: &AppState,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let resp = app(state.clone())
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Parses `resource` with fhir.resources' R4B models in the project's venv; panics with
/// the parser's message when it refuses.
fn independent_parse(resource: &Value) {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/setup",
        python.display()
    );
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), resource.to_string()).expect("write resource");
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(
            "import json,sys\n\
             from fhir.resources.R4B import get_fhir_model_class\n\
             d=json.load(open(sys.argv[1]))\n\
             get_fhir_model_class(d['resourceType']).model_validate(d)\n",
        )
        .arg(file.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "fhir.resources refused {}: {}",
        resource["resourceType"],
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn seeded() -> (temporal::TestServer, tempfile::TempDir, Db, AppState) {
    let (server, client) = temporal::start_test_server().await;
    let (dir, db) = db::sqlite().await;
    let layout: Vec<_> = hospital::demo_layout().into_iter().take(2).collect();
    hospital::seed_layout(&db, &layout).await.expect("layout");
    users::upsert_with_password(&db, "ben", Role::BedManager, Some(PASSWORD), "test")
        .await
        .expect("user");
    let state = AppState {
        db: db.clone(),
        client,
    };
    (server, dir, db, state)
}

#[tokio::test]
async fn locations_are_served_as_fhir_after_login() {
    let (_server, _dir, _db, state) = seeded().await;

    let (status, cap) = call(&state, "GET", "/fhir/r4/metadata", None, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cap["resourceType"], "CapabilityStatement");
    assert_eq!(cap["fhirVersion"], "4.0.1");
    independent_parse(&cap);

    let (status, outcome) = call(&state, "GET", "/fhir/r4/Location", None, Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(outcome["resourceType"], "OperationOutcome");

    let (status, login) = call(
        &state,
        "POST",
        "/api/login",
        None,
        json!({"username": "ben", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["token"].as_str().expect("token");

    let (status, all) = call(
        &state,
        "GET",
        "/fhir/r4/Location?_count=500",
        Some(token),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["resourceType"], "Bundle");
    assert_eq!(all["type"], "searchset");
    let entries = all["entry"].as_array().expect("entries");
    let beds: Vec<&Value> = entries
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["physicalType"]["coding"][0]["code"] == "bd")
        .collect();
    let wards = entries
        .iter()
        .filter(|e| e["resource"]["physicalType"]["coding"][0]["code"] == "wa")
        .count();
    assert_eq!(wards, 2);
    assert!(!beds.is_empty());
    assert_eq!(all["total"].as_u64(), Some(entries.len() as u64));
    for bed in &beds {
        assert_eq!(
            bed["operationalStatus"]["code"], "U",
            "an empty site: every bed unoccupied"
        );
        assert!(bed["partOf"]["reference"]
            .as_str()
            .unwrap_or("")
            .starts_with("Location/"));
    }
    independent_parse(&all);

    let (status, page) = call(
        &state,
        "GET",
        "/fhir/r4/Location?_count=2",
        Some(token),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["entry"].as_array().map(Vec::len), Some(2));
    let links = page["link"].as_array().expect("links");
    assert!(links.iter().any(|l| l["relation"] == "next"), "{page}");

    let bed_id = beds[0]["id"].as_str().expect("bed id");
    let (status, one) = call(
        &state,
        "GET",
        &format!("/fhir/r4/Location/{bed_id}"),
        Some(token),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], bed_id);
    independent_parse(&one);

    let (status, missing) = call(
        &state,
        "GET",
        "/fhir/r4/Location/no-such-bed",
        Some(token),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["resourceType"], "OperationOutcome");

    let (status, bad) = call(
        &state,
        "GET",
        "/fhir/r4/Location?colour=red",
        Some(token),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["resourceType"], "OperationOutcome");
    assert!(
        bad["issue"][0]["expression"].to_string().contains("colour"),
        "{bad}"
    );
    independent_parse(&bad);
}
