//! The theatre-week routes in-process (`app().oneshot`) over a real SQLite database and
//! the official Temporal test server: every bad field of a week located with nothing
//! written or started, patients by registered pseudonym only, who may do what, and
//! idempotent starts. (The week run end to end is the e2e test `theatre`.)

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::{patients, users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::{AgeGroup, Role, Sex};

struct Env {
    _server: temporal::TestServer,
    _dir: tempfile::TempDir,
    db: Db,
    state: AppState,
    planner: String,
    auditor: String,
    clerk: String,
    patient_key: String,
}

async fn env() -> Env {
    let (server, client) = temporal::start_test_server().await;
    let (dir, db) = db::sqlite().await;
    let planner = users::upsert(&db, "theatre.tom", Role::TheatreAdmin, "test")
        .await
        .expect("user");
    let auditor = users::upsert(&db, "audit.ada", Role::Auditor, "test")
        .await
        .expect("user");
    let clerk = users::upsert(&db, "ana", Role::AdmissionsClerk, "test")
        .await
        .expect("user");
    let patient_key = patients::pseudonymise(&db, "MRN-7", Sex::Male, AgeGroup::Adult)
        .await
        .expect("patient");
    Env {
        state: AppState {
            db: db.clone(),
            client,
        },
        _server: server,
        _dir: dir,
        db,
        planner,
        auditor,
        clerk,
        patient_key,
    }
}

fn week(patient_key: &str) -> Value {
    json!({
        "week_start": "2027-03-01",
        "theatres": [{"theatre_id": "T1", "sessions": [{"day": 0, "staffed_minutes": 480}]}],
        "surgeons": [{"surgeon_id": "S01", "days": [0]}],
        "cases": [{"case_id": "C1", "patient_key": patient_key, "procedure": "colectomy",
                   "specialty": "general_surgery", "surgeon_id": "S01",
                   "category": "P2", "days_waited": 20}]
    })
}

async fn call(
    env: &Env,
    token: &str,
    method: &str,
    path: &str,
    body: Option<String>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let resp = app(env.state.clone())
        .oneshot(
            req.body(body.map_or_else(Body::empty, Body::from))
                .expect("request"),
        )
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

fn fields(answer: &Value) -> Vec<String> {
    answer["error"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_bad_week_is_located_and_stores_nothing() {
    let env = env().await;
    let before = (
        count(&env.db, "audit_log").await,
        count(&env.db, "theatre_lists").await,
    );
    let mut bad_fields = week(&env.patient_key);
    bad_fields["week_start"] = json!("2027-02-30");
    bad_fields["cases"][0]["surgeon_id"] = json!("S99");
    let mut unknown_field = week(&env.patient_key);
    unknown_field["ward"] = json!("THEATRES");
    let mut hospital_number = week(&env.patient_key);
    hospital_number["cases"][0]["patient_key"] = json!("MRN-7");
    let cases = [
        ("{\"week_start\": ".to_owned(), vec!["line 1 column 15"]),
        (
            bad_fields.to_string(),
            vec!["week_start", "cases[0].surgeon_id"],
        ),
        (unknown_field.to_string(), vec!["ward"]),
        (hospital_number.to_string(), vec!["cases[0].patient_key"]),
    ];
    for (body, located) in cases {
        let (status, answer) = call(
            &env,
            &env.planner,
            "POST",
            "/api/theatre-weeks",
            Some(body.clone()),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        for field in located {
            assert!(
                message.contains(field) || fields(&answer).iter().any(|f| f == field),
                "{field} located in {answer}"
            );
        }
        assert!(
            !message.contains("MRN-7"),
            "the refusal repeats no hospital number: {message}"
        );
    }
    assert_eq!(
        before,
        (
            count(&env.db, "audit_log").await,
            count(&env.db, "theatre_lists").await
        )
    );
}

#[tokio::test]
async fn each_role_does_only_its_part_and_starts_are_idempotent() {
    let env = env().await;
    let body = week(&env.patient_key).to_string();
    for token in [&env.clerk, &env.auditor] {
        let (status, _) = call(
            &env,
            token,
            "POST",
            "/api/theatre-weeks",
            Some(body.clone()),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = call(&env, &env.clerk, "GET", "/api/theatre-weeks", None, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a clerk reads no theatre list"
    );
    let (status, listed) = call(&env, &env.auditor, "GET", "/api/theatre-weeks", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed, json!([]));

    // The same key twice starts one week; the body's requester is ignored.
    let mut claimed = week(&env.patient_key);
    claimed["requested_by"] = json!("someone.else");
    let (first, started) = call(
        &env,
        &env.planner,
        "POST",
        "/api/theatre-weeks",
        Some(claimed.to_string()),
        Some("week-2027-03-01"),
    )
    .await;
    assert_eq!(first, StatusCode::CREATED, "{started}");
    let list_id = started["list_id"].as_str().expect("list id").to_owned();
    assert!(list_id.starts_with("theatre-2027-03-01-"), "{list_id}");
    let (again, restarted) = call(
        &env,
        &env.planner,
        "POST",
        "/api/theatre-weeks",
        Some(body.clone()),
        Some("week-2027-03-01"),
    )
    .await;
    assert_eq!(again, StatusCode::OK);
    assert_eq!(restarted["list_id"], list_id.as_str());

    // A week that has not proposed yet has no stored list; an unknown one is not found.
    let (status, _) = call(
        &env,
        &env.planner,
        "GET",
        &format!("/api/theatre-weeks/{list_id}/list"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &env,
        &env.auditor,
        "GET",
        "/api/theatre-weeks/theatre-nope",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An auditor may not report events or close weeks.
    let (status, _) = call(
        &env,
        &env.auditor,
        "POST",
        &format!("/api/theatre-weeks/{list_id}/close"),
        Some(json!({"reason": "auditor closes"}).to_string()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An emergency case named by a hospital number is refused before the week sees it.
    let (status, answer) = call(
        &env,
        &env.planner,
        "POST",
        &format!("/api/theatre-weeks/{list_id}/events"),
        Some(
            json!({"day": 0, "change": {"kind": "emergency_case", "case": {
                "case_id": "E1", "patient_key": "MRN-8", "procedure": "lap_appendectomy",
                "specialty": "general_surgery", "surgeon_id": "S01", "category": "P1",
                "days_waited": 0}}})
            .to_string(),
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(fields(&answer), ["change.case.patient_key"]);
}
