//! `fhir_search`: latency of FHIR searches through the API in-process over a real
//! SQLite database: Location search over a 1,000-bed site, Appointment search over a
//! year of published theatre lists (52 weeks, 8 theatres, 5 days, 4 cases a session).
//! Prints p50, p95 and max per query (milliseconds) and the machine's load average.
//!
//! ```text
//! cargo bench -p dashboards --bench fhir_search            # optimised
//! cargo bench --workspace --locked --bench fhir_search --profile dev   # as the tests build
//! ```

use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::decisions::{ModelUse, NewDecisionStep};
use careflow_store::hospital::{self, WardSpec};
use careflow_store::{patients, theatre, users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::{AgeGroup, Decision, ListConclusion, Role, Sex, TheatreListProposal};

const PASSWORD: &str = "bench pass phrase";
const WEEKS: u32 = 52;
const THEATRES: u32 = 8;
const CASES_PER_SESSION: u32 = 4;
/// Samples per query (`FHIR_BENCH_SAMPLES`, default 100).
fn samples() -> usize {
    std::env::var("FHIR_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

/// 40 wards of 4 six-bed bays and one side room: 1,000 beds.
fn thousand_beds() -> Vec<WardSpec> {
    (0..40)
        .map(|i| WardSpec {
            ward_id: format!("W{i:02}"),
            name: format!("Ward {i}"),
            specialty: "general_medicine".into(),
            paediatric: false,
            bays: (4, 6),
            side_rooms: 1,
        })
        .collect()
}

fn step(workflow: &str) -> NewDecisionStep {
    NewDecisionStep {
        workflow_id: workflow.into(),
        step: "solve/r0".into(),
        kind: "theatre_booking.input".into(),
        snapshot_json: format!("{{\"for\":\"{workflow}\"}}"),
        models: vec![ModelUse {
            name: "surgery-duration".into(),
            version: "1.0.0".into(),
            sha256: "ab".repeat(32),
        }],
        solver: Some("HiGHS".into()),
        solver_version: Some("1.16.0".into()),
        careflow_version: "0.1.0".into(),
        seed: Some(1),
        time_limit_s: Some(5.0),
        threads: Some(1),
        result_digest: "cd".repeat(32),
    }
}

/// A year of published weeks from 2026-01-05 (Mondays).
async fn seed_year(db: &Db, keys: &[String]) {
    let first = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("date");
    for w in 0..WEEKS {
        let week_start = (first + chrono::Duration::weeks(i64::from(w))).to_string();
        let list_id = format!("theatre-{week_start}-bench");
        let mut booked = Vec::new();
        let mut sessions = Vec::new();
        for t in 0..THEATRES {
            for day in 0..5 {
                sessions.push(json!({
                    "theatre_id": format!("T{t}"), "day": day, "staffed_minutes": 480,
                    "cases": CASES_PER_SESSION, "planned_minutes": 400, "expected_minutes": 390.0,
                    "utilisation": 0.81, "expected_overtime_minutes": 5.0, "overtime_probability": 0.1
                }));
                for c in 0..CASES_PER_SESSION {
                    let n = booked.len();
                    booked.push(json!({
                        "case_id": format!("C{w}-{n}"), "patient_key": keys[n % keys.len()],
                        "procedure": "hernia_repair", "surgeon_id": format!("S{t}"),
                        "category": "P3", "theatre_id": format!("T{t}"), "day": day, "order": c,
                        "start_minute": c * 100, "planned_minutes": 100,
                        "p50_minutes": 90.0, "p90_minutes": 110.0
                    }));
                }
            }
        }
        let proposal: TheatreListProposal = serde_json::from_value(json!({
            "list_id": list_id, "revision": 0, "week_start": week_start, "days": 5,
            "from_day": 0, "solver_status": "optimal", "objective": 1.0, "mip_gap": 0.0,
            "solve_seconds": 1.0, "booked": booked, "sessions": sessions, "deferred": [],
            "changes": [], "utilisation": 0.81, "target_utilisation": 0.85,
            "sessions_below_target": 0, "expected_overtime_minutes": 200.0, "conflicts": [],
            "durations": {"model_name": "surgery-duration", "model_version": "1.0.0",
                          "model_sha256": "ab".repeat(32), "execution_provider": "CPUExecutionProvider",
                          "origin": week_start, "horizon_hours": 120},
            "decision_step": "solve/r0", "snapshot_sha256": "", "replanned_after": []
        }))
        .expect("proposal");
        let wf = format!("wf-{list_id}");
        theatre::store_proposal(db, &wf, "theatre.tom", &proposal, &step(&wf))
            .await
            .expect("store");
        let decision = Decision {
            task_id: "t".into(),
            approve: true,
            actor: "theatre.tess".into(),
            role: Role::TheatreAdmin,
            reason: "weekly meeting".into(),
            bed_id: None,
            signature_id: None,
        };
        theatre::conclude(db, &wf, &list_id, 0, &ListConclusion::Decided(decision))
            .await
            .expect("publish");
    }
}

async fn get(state: &AppState, path: &str, token: &str) -> (StatusCode, Value) {
    let resp = app(state.clone())
        .oneshot(
            Request::builder()
                .uri(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn login(state: &AppState, name: &str) -> String {
    let resp = app(state.clone())
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/api/login")
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"username": name, "password": PASSWORD}).to_string(),
                ))
                .expect("request"),
        )
        .await
        .expect("response");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let v: Value = serde_json::from_slice(&bytes).expect("login json");
    v["token"].as_str().expect("token").to_owned()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(state: &AppState, token: &str, path: &str, expect_total: u64) {
    let (status, first) = get(state, path, token).await;
    assert_eq!(status, StatusCode::OK, "{path}: {first}");
    let total = first["total"].as_u64().unwrap_or(0);
    assert_eq!(total, expect_total, "{path}");
    let samples = samples();
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        let (status, _) = get(state, path, token).await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, StatusCode::OK);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{path}\n  total {total}, {samples} samples: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms[ms.len() - 1]
    );
}

#[tokio::main]
async fn main() {
    let (_server, client) = temporal::start_test_server().await;
    let (_dir, db) = db::sqlite().await;
    let beds = hospital::seed_layout(&db, &thousand_beds())
        .await
        .expect("layout");
    assert_eq!(beds, 1000);
    let mut keys = Vec::new();
    for i in 0..200 {
        keys.push(
            patients::pseudonymise(&db, &format!("MRN{i:06}"), Sex::Female, AgeGroup::Adult)
                .await
                .expect("patient"),
        );
    }
    let t = Instant::now();
    seed_year(&db, &keys).await;
    println!(
        "seeded 1,000 beds and {} theatre bookings over {WEEKS} weeks in {:.1} s",
        WEEKS * THEATRES * 5 * CASES_PER_SESSION,
        t.elapsed().as_secs_f64()
    );
    for (name, role) in [
        ("beds.ben", Role::BedManager),
        ("theatre.tom", Role::TheatreAdmin),
    ] {
        users::upsert_with_password(&db, name, role, Some(PASSWORD), "bench")
            .await
            .expect("user");
    }
    let state = AppState { db, client };
    let ben = login(&state, "beds.ben").await;
    let tom = login(&state, "theatre.tom").await;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());
    let places = 1 + 40 + 40 * 5 + 1000 + u64::from(THEATRES);
    measure(&state, &ben, "/fhir/r4/Location?_count=50", places).await;
    measure(
        &state,
        &ben,
        "/fhir/r4/Location?partof=Location/W07-BAY1&_count=50",
        6,
    )
    .await;
    measure(
        &state,
        &ben,
        "/fhir/r4/Location?operational-status=U&_count=100",
        1000,
    )
    .await;
    let year = u64::from(WEEKS * THEATRES * 5 * CASES_PER_SESSION);
    measure(&state, &tom, "/fhir/r4/Appointment?_count=50", year).await;
    measure(
        &state,
        &tom,
        "/fhir/r4/Appointment?date=ge2026-06-01&date=lt2026-06-06&_count=50",
        u64::from(THEATRES * 5 * CASES_PER_SESSION),
    )
    .await;
    measure(
        &state,
        &tom,
        "/fhir/r4/Appointment?location=Location/theatre-T3&_count=50",
        u64::from(WEEKS * 5 * CASES_PER_SESSION),
    )
    .await;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
}
