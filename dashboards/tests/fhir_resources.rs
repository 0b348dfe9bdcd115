//! The FHIR R4 view of careflow's stays, published plans and orders, over a real
//! SQLite database and the API in-process: Encounter with its location history (from
//! the ADT feed's store), Appointment, Slot and Schedule of a published theatre list
//! and a booked scanner run, Practitioner and PractitionerRole of a published roster,
//! ServiceRequest created by POST and in transaction Bundles. Search parameters,
//! paging, roles and pseudonyms; bad input refused with an OperationOutcome naming the
//! element and nothing stored (a transaction all or nothing, HL7-style examples of the
//! read-only types and a Synthea-style bundle refused); every resource careflow
//! returns parsed by PyPI `fhir.resources` (R4B) and read by PyPI `fhirclient` against
//! the API on a real socket.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use tower::ServiceExt;

use careflow_dashboards::{app, AppState};
use careflow_store::adt::{self, AdtEventType, AdtMessage, Place};
use careflow_store::decisions::{ModelUse, NewDecisionStep};
use careflow_store::{hospital, patients, rosters, scanner, service_requests, theatre, users, Db};
use careflow_testkit::{db, temporal};
use careflow_types::{
    AgeGroup, Decision, ListConclusion, Role, RosterProposal, ScanConclusion,
    ScannerBookingProposal, Sex, TheatreListProposal,
};

const PASSWORD: &str = "fhir resources pass";
const MRN: &str = "MRN-7761203";

struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: Value,
}

async fn call(state: &AppState, method: &str, path: &str, token: &str, body: Value) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "careflow.test")
        .header("content-type", "application/fhir+json")
        .header("authorization", format!("Bearer {token}"));
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
    let location = resp
        .headers()
        .get("location")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body");
    Reply {
        status,
        location,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

async fn get(state: &AppState, path: &str, token: &str) -> Value {
    let r = call(state, "GET", path, token, Value::Null).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    r.body
}

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    assert!(p.exists(), "{} missing: run scripts/setup", p.display());
    p
}

/// Parses every resource of `resources` with fhir.resources' R4B models; panics with
/// the parser's message when it refuses one.
fn independent_parse(resources: &[Value]) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), Value::Array(resources.to_vec()).to_string()).expect("write");
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(
            "import json,sys\n\
             from fhir.resources.R4B import get_fhir_model_class\n\
             for d in json.load(open(sys.argv[1])):\n\
             \x20   get_fhir_model_class(d['resourceType']).model_validate(d)\n",
        )
        .arg(file.path())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "fhir.resources refused a resource: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn outcome_at(r: &Reply, status: StatusCode, expression: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["resourceType"], "OperationOutcome", "{}", r.body);
    let exprs = r.body["issue"][0]["expression"].to_string();
    assert!(
        exprs.contains(expression),
        "expected the expression {expression}, got {}",
        r.body
    );
}

fn provenance(name: &str) -> Value {
    json!({"model_name": name, "model_version": "1.0.0", "model_sha256": "ab".repeat(32),
           "execution_provider": "CPUExecutionProvider", "origin": "2026-12-07", "horizon_hours": 120})
}

fn step(workflow: &str, kind: &str) -> NewDecisionStep {
    NewDecisionStep {
        workflow_id: workflow.into(),
        step: "solve/r0".into(),
        kind: kind.into(),
        snapshot_json: format!("{{\"for\":\"{workflow}\"}}"),
        models: vec![ModelUse {
            name: "m".into(),
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

fn decision(actor: &str, role: Role) -> Decision {
    Decision {
        task_id: "t".into(),
        approve: true,
        actor: actor.into(),
        role,
        reason: "agreed at the planning meeting".into(),
        bed_id: None,
        signature_id: None,
    }
}

/// A stay from the ADT feed: admitted into one bed, transferred to another.
async fn seed_stay(db: &Db, beds: &[(String, String)]) {
    let msg = |control: &str, event: AdtEventType, hour: u32, bed: &(String, String)| AdtMessage {
        sender: "PAS^GENERAL".into(),
        control_id: control.into(),
        content_sha256: careflow_store::audit::sha256_json(&control),
        event_type: event,
        event_time: Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0).unwrap(),
        patient_ref: MRN.into(),
        sex: Some(Sex::Female),
        age_group: AgeGroup::Adult,
        patient_class: "I".into(),
        place: Some(Place::Bed {
            ward_id: bed.0.clone(),
            bed_id: bed.1.clone(),
        }),
        expected_discharge: None,
    };
    for m in [
        msg("C1", AdtEventType::A01, 8, &beds[0]),
        msg("C2", AdtEventType::A02, 12, &beds[1]),
    ] {
        let outcome = adt::apply(db, &m).await.expect("apply");
        assert_eq!(outcome, adt::AdtOutcome::Applied);
    }
}

async fn seed_plans(db: &Db, key: &str) {
    let list: TheatreListProposal = serde_json::from_value(json!({
        "list_id": "theatre-2026-12-07-a", "revision": 0, "week_start": "2026-12-07", "days": 5,
        "from_day": 0, "solver_status": "optimal", "objective": 1.0, "mip_gap": 0.0,
        "solve_seconds": 0.1,
        "booked": [
            {"case_id": "C1", "patient_key": key, "procedure": "lap_cholecystectomy",
             "surgeon_id": "S01", "category": "P3", "theatre_id": "T1", "day": 0, "order": 0,
             "start_minute": 0, "planned_minutes": 90, "p50_minutes": 80.0, "p90_minutes": 95.0},
            {"case_id": "C2", "patient_key": key, "procedure": "hernia_repair",
             "surgeon_id": "S01", "category": "P4", "theatre_id": "T1", "day": 2, "order": 0,
             "start_minute": 30, "planned_minutes": 60, "p50_minutes": 55.0, "p90_minutes": 65.0}
        ],
        "sessions": [
            {"theatre_id": "T1", "day": 0, "staffed_minutes": 480, "cases": 1, "planned_minutes": 90,
             "expected_minutes": 85.0, "utilisation": 0.2, "expected_overtime_minutes": 0.0,
             "overtime_probability": 0.0},
            {"theatre_id": "T1", "day": 2, "staffed_minutes": 480, "cases": 1, "planned_minutes": 60,
             "expected_minutes": 57.0, "utilisation": 0.1, "expected_overtime_minutes": 0.0,
             "overtime_probability": 0.0},
            {"theatre_id": "T2", "day": 1, "staffed_minutes": 240, "cases": 0, "planned_minutes": 0,
             "expected_minutes": 0.0, "utilisation": 0.0, "expected_overtime_minutes": 0.0,
             "overtime_probability": 0.0}
        ],
        "deferred": [], "changes": [], "utilisation": 0.2, "target_utilisation": 0.85,
        "sessions_below_target": 3, "expected_overtime_minutes": 0.0, "conflicts": [],
        "durations": provenance("surgery-duration"), "decision_step": "solve/r0",
        "snapshot_sha256": "", "replanned_after": []
    }))
    .expect("theatre list");
    theatre::store_proposal(
        db,
        "wf-theatre",
        "theatre.tom",
        &list,
        &step("wf-theatre", "theatre_booking.input"),
    )
    .await
    .expect("store list");
    theatre::conclude(
        db,
        "wf-theatre",
        "theatre-2026-12-07-a",
        0,
        &ListConclusion::Decided(decision("theatre.tess", Role::TheatreAdmin)),
    )
    .await
    .expect("publish list");

    let run: ScannerBookingProposal = serde_json::from_value(json!({
        "booking_id": "scan-2026-12-07-a", "revision": 0, "week_start": "2026-12-07", "days": 5,
        "solver_status": "optimal", "objective": 1.0, "mip_gap": 0.0, "solve_seconds": 0.1,
        "booked": [
            {"request_id": "R1", "patient_key": key, "modality": "mri", "urgency": "routine",
             "scanner_id": "MR1", "day": 1, "start_slot": 3, "overbooked": false,
             "no_show_probability": 0.1, "days_late": 0}
        ],
        "waiting": [], "breaches": [],
        "scanner_days": [{"scanner_id": "MR1", "day": 1, "open_slots": 16, "booked_slots": 1,
                          "expected_overtime_slots": 0.0}],
        "overbooked_slots": 0, "expected_overtime_slots": 0.0, "over_policy": [],
        "policy": {"max_overbooked_slots": 2, "max_breached_deadlines": 0},
        "overbooking_allowed": true, "conflicts": [], "no_show": provenance("scanner-no-show"),
        "decision_step": "solve/r0", "snapshot_sha256": ""
    }))
    .expect("scanner run");
    scanner::store_proposal(
        db,
        "wf-scan",
        "imaging.ian",
        &run,
        &step("wf-scan", "scanner_booking.input"),
    )
    .await
    .expect("store run");
    scanner::conclude(
        db,
        "wf-scan",
        "scan-2026-12-07-a",
        0,
        &ScanConclusion::WithinPolicy {
            reason: "no overbooking".into(),
        },
    )
    .await
    .expect("book run");

    let roster: RosterProposal = serde_json::from_value(json!({
        "roster_id": "roster-surgery-a", "revision": 0, "ward": "surgery",
        "start_date": "2026-12-07", "days": 28, "replanned_days": [], "solver_status": "optimal",
        "objective": 1.0, "mip_gap": 0.0, "solve_seconds": 0.1,
        "assignments": [{"nurse_id": "N100", "day": 0, "shift_id": "E"},
                        {"nurse_id": "N200", "day": 0, "shift_id": "L"}],
        "coverage": [], "nurse_shifts_short": 0, "nurse_shifts_over": 0, "unmet_requests": [],
        "loads": [
            {"nurse_id": "N100", "minutes": 450, "contracted_minutes": 9000, "shifts": 1, "nights": 0,
             "weekends": 0, "unmet_requests": 0},
            {"nurse_id": "N200", "minutes": 450, "contracted_minutes": 9000, "shifts": 1, "nights": 0,
             "weekends": 0, "unmet_requests": 0}
        ],
        "fairness": {"nights_spread": 0, "weekends_spread": 0, "unmet_requests_spread": 0,
                     "hours_ratio_min": 0.05, "hours_ratio_max": 0.05},
        "changes": [], "conflicts": [], "demand": provenance("bed-demand"),
        "decision_step": "solve/r0", "snapshot_sha256": "", "replanned_after": []
    }))
    .expect("roster");
    rosters::store_proposal(
        db,
        "wf-roster",
        "nurse.nia",
        &roster,
        &step("wf-roster", "roster.input"),
    )
    .await
    .expect("store roster");
    rosters::conclude(
        db,
        "wf-roster",
        "roster-surgery-a",
        0,
        &decision("head.hal", Role::DepartmentHead),
    )
    .await
    .expect("publish roster");
}

struct Site {
    _server: temporal::TestServer,
    _dir: tempfile::TempDir,
    db: Db,
    state: AppState,
    key: String,
    beds: Vec<(String, String)>,
}

async fn site() -> Site {
    let (server, client) = temporal::start_test_server().await;
    let (dir, db) = db::sqlite().await;
    let layout: Vec<_> = hospital::demo_layout().into_iter().take(2).collect();
    hospital::seed_layout(&db, &layout).await.expect("layout");
    let places = hospital::site_places(&db).await.expect("places");
    let ward_of = |room: &str| {
        places
            .rooms
            .iter()
            .find(|(r, _)| r == room)
            .map(|(_, w)| w.clone())
            .expect("room's ward")
    };
    let beds: Vec<(String, String)> = places
        .beds
        .iter()
        .take(2)
        .map(|b| (ward_of(&b.room_id), b.bed_id.clone()))
        .collect();
    for (name, role) in [
        ("clerk.cat", Role::AdmissionsClerk),
        ("beds.ben", Role::BedManager),
        ("theatre.tom", Role::TheatreAdmin),
        ("imaging.ian", Role::ImagingManager),
        ("audit.amy", Role::Auditor),
        ("head.hal", Role::DepartmentHead),
        ("admin.ada", Role::Admin),
    ] {
        users::upsert_with_password(&db, name, role, Some(PASSWORD), "test")
            .await
            .expect("user");
    }
    seed_stay(&db, &beds).await;
    let key = adt::patient_key_of(&db, MRN)
        .await
        .expect("key")
        .expect("registered");
    seed_plans(&db, &key).await;
    let state = AppState {
        db: db.clone(),
        client,
    };
    Site {
        _server: server,
        _dir: dir,
        db,
        state,
        key,
        beds,
    }
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
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let v: Value = serde_json::from_slice(&bytes).expect("json");
    v["token"].as_str().expect("token").to_owned()
}

fn resources(bundle: &Value) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .map(|l| l.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

fn imaging_order(subject: Value, placer: &str) -> Value {
    json!({
        "resourceType": "ServiceRequest",
        "identifier": [{"system": "urn:oid:1.2.36.1.4.1.30003", "value": placer}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005"}]}],
        "priority": "urgent",
        "code": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "MR"}]},
        "subject": subject,
        "occurrencePeriod": {"start": "2026-12-07", "end": "2026-12-11"},
        "note": [{"text": "free text that stays with the placer"}]
    })
}

fn surgical_order(key: &str, placer: &str) -> Value {
    json!({
        "resourceType": "ServiceRequest",
        "identifier": [{"system": "urn:oid:1.2.36.1.4.1.30003", "value": placer}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "387713003"}]}],
        "priority": "routine",
        "code": {"coding": [{"system": "urn:careflow:procedure", "code": "hernia_repair"}]},
        "subject": {"reference": format!("Patient/{key}")},
        "performer": [{"identifier": {"system": "urn:careflow:surgeon", "value": "S01"}}],
        "performerType": {"coding": [{"system": "urn:careflow:specialty", "code": "general_surgery"}]},
        "occurrencePeriod": {"start": "2026-12-07", "end": "2027-03-01"}
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn stays_plans_and_orders_are_served_as_fhir() {
    let site = site().await;
    let s = &site.state;
    let ben = login(s, "beds.ben").await;
    let cat = login(s, "clerk.cat").await;
    let amy = login(s, "audit.amy").await;
    let tom = login(s, "theatre.tom").await;
    let ian = login(s, "imaging.ian").await;
    let hal = login(s, "head.hal").await;
    let mut served: Vec<Value> = Vec::new();

    let cap = get(s, "/fhir/r4/metadata", &ben).await;
    let types: Vec<&str> = cap["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    for t in [
        "Location",
        "Encounter",
        "Appointment",
        "Slot",
        "Schedule",
        "Practitioner",
        "PractitionerRole",
        "ServiceRequest",
    ] {
        assert!(
            types.contains(&t),
            "{t} missing from the CapabilityStatement"
        );
    }
    served.push(cap);

    // Encounter: the stay with both beds it held, the first one completed.
    let enc = get(s, "/fhir/r4/Encounter", &ben).await;
    assert_eq!(enc["total"], 1, "{enc}");
    let stay = &enc["entry"][0]["resource"];
    assert_eq!(stay["status"], "in-progress");
    let beds: Vec<(&str, &str)> = stay["location"]
        .as_array()
        .expect("locations")
        .iter()
        .filter(|l| l["physicalType"]["coding"][0]["code"] == "bd")
        .map(|l| {
            (
                l["location"]["reference"].as_str().unwrap(),
                l["status"].as_str().unwrap(),
            )
        })
        .collect();
    let (b0, b1) = (
        format!("Location/{}", site.beds[0].1),
        format!("Location/{}", site.beds[1].1),
    );
    assert_eq!(beds, [(b0.as_str(), "completed"), (b1.as_str(), "active")]);
    assert_eq!(stay["subject"]["identifier"]["value"], site.key.as_str());
    assert!(
        !enc.to_string().contains(MRN),
        "a bed manager sees no hospital number"
    );
    served.push(enc.clone());
    // The clerk matching the stay at the desk sees the hospital number; the auditor nothing.
    let by_clerk = get(s, "/fhir/r4/Encounter", &cat).await;
    assert_eq!(
        by_clerk["entry"][0]["resource"]["subject"]["identifier"]["value"],
        MRN
    );
    let by_auditor = get(s, "/fhir/r4/Encounter", &amy).await;
    assert!(!by_auditor.to_string().contains(&site.key) && !by_auditor.to_string().contains(MRN));
    served.push(by_auditor);
    // Roles: the imaging manager has no business with stays.
    let r = call(s, "GET", "/fhir/r4/Encounter", &ian, Value::Null).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["resourceType"], "OperationOutcome");
    // Search parameters.
    let total = |v: &Value| v["total"].as_u64().unwrap_or(u64::MAX);
    let id = stay["id"].as_str().unwrap();
    for (query, want) in [
        (format!("_id={id}"), 1),
        ("_id=nobody".to_owned(), 0),
        (format!("identifier=urn:careflow:admission|{id}"), 1),
        ("status=in-progress".to_owned(), 1),
        ("status=finished".to_owned(), 0),
        (format!("location={b1}"), 1),
        (format!("location={}", site.beds[0].0), 1),
        ("location=Location/elsewhere".to_owned(), 0),
        ("date=ge2026-01-01".to_owned(), 1),
        ("date=lt2000-01-01".to_owned(), 0),
        ("partof=Encounter/none".to_owned(), 0),
    ] {
        let v = get(s, &format!("/fhir/r4/Encounter?{query}"), &ben).await;
        assert_eq!(total(&v), want, "Encounter?{query}: {v}");
    }
    outcome_at(
        &call(
            s,
            "GET",
            "/fhir/r4/Encounter?date=yesterday",
            &ben,
            Value::Null,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "date",
    );
    outcome_at(
        &call(
            s,
            "GET",
            "/fhir/r4/Encounter?status=walking",
            &ben,
            Value::Null,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "status",
    );
    outcome_at(
        &call(
            s,
            "GET",
            "/fhir/r4/Encounter?_count=many",
            &ben,
            Value::Null,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "_count",
    );
    let one = get(s, &format!("/fhir/r4/Encounter/{id}"), &ben).await;
    assert_eq!(one["id"], id);
    served.push(one);

    // Appointment, Slot, Schedule: the theatre administrator sees the theatre only.
    let appts = get(s, "/fhir/r4/Appointment", &tom).await;
    assert_eq!(total(&appts), 2, "{appts}");
    assert!(resources(&appts)
        .iter()
        .all(|a| a["serviceCategory"][0]["coding"][0]["code"] == "theatre"));
    let first = resources(&appts)[0].clone();
    assert_eq!(first["start"], "2026-12-07T08:00:00Z");
    assert_eq!(first["end"], "2026-12-07T09:30:00Z");
    served.push(appts);
    let scans = get(s, "/fhir/r4/Appointment", &ian).await;
    assert_eq!(total(&scans), 1, "{scans}");
    assert_eq!(
        scans["entry"][0]["resource"]["start"],
        "2026-12-08T09:30:00Z"
    );
    served.push(scans);
    let paged = get(
        s,
        "/fhir/r4/Appointment?_count=1&location=Location/theatre-T1",
        &tom,
    )
    .await;
    assert_eq!(paged["entry"].as_array().map(Vec::len), Some(1));
    assert!(
        paged["link"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["relation"] == "next"),
        "{paged}"
    );
    for (query, want) in [
        ("date=2026-12-07", 1),
        ("date=ge2026-12-08&date=lt2026-12-12", 1),
        ("status=booked", 2),
        ("status=noshow", 0),
        ("identifier=urn:careflow:theatre-case|C2", 1),
    ] {
        let v = get(s, &format!("/fhir/r4/Appointment?{query}"), &tom).await;
        assert_eq!(total(&v), want, "Appointment?{query}: {v}");
    }
    let slots = get(s, "/fhir/r4/Slot?schedule=Schedule/theatre-T2", &tom).await;
    assert_eq!(total(&slots), 1);
    assert_eq!(slots["entry"][0]["resource"]["status"], "free");
    served.push(get(s, "/fhir/r4/Slot", &amy).await);
    let busy = get(s, "/fhir/r4/Slot?status=busy&start=ge2026-12-09", &tom).await;
    assert_eq!(total(&busy), 1, "{busy}");
    let schedules = get(s, "/fhir/r4/Schedule", &amy).await;
    let ids: Vec<String> = resources(&schedules)
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, ["scanner-MR1", "theatre-T1", "theatre-T2"]);
    served.push(schedules);
    served.push(get(s, "/fhir/r4/Schedule/theatre-T1", &tom).await);
    // The theatres and scanners are Locations of the site, so the references resolve.
    served.push(get(s, "/fhir/r4/Location/theatre-T1", &tom).await);
    let auditor_appts = get(s, "/fhir/r4/Appointment", &amy).await;
    assert_eq!(total(&auditor_appts), 3);
    assert!(
        !auditor_appts.to_string().contains(&site.key),
        "keys withheld from the auditor"
    );
    served.push(auditor_appts);

    // Practitioner and PractitionerRole of the published roster.
    let nurses = get(s, "/fhir/r4/Practitioner", &hal).await;
    assert_eq!(total(&nurses), 2);
    served.push(nurses);
    let roles = get(
        s,
        "/fhir/r4/PractitionerRole?practitioner=Practitioner/nurse-N100&date=ge2026-12-20&date=le2026-12-20",
        &hal,
    )
    .await;
    assert_eq!(total(&roles), 1, "{roles}");
    served.push(roles);
    let r = call(s, "GET", "/fhir/r4/Practitioner", &tom, Value::Null).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // ServiceRequest: an imaging request by the imaging manager, by hospital number.
    let created = call(
        s,
        "POST",
        "/fhir/r4/ServiceRequest",
        &ian,
        imaging_order(
            json!({"identifier": {"system": "urn:careflow:mrn", "value": MRN}}),
            "ORD-1",
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let sr_id = created.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created.location.as_deref(),
        Some(format!("http://careflow.test/fhir/r4/ServiceRequest/{sr_id}").as_str())
    );
    assert!(
        !created.body.to_string().contains(MRN),
        "the order is kept by pseudonym"
    );
    assert!(
        !created.body.to_string().contains("free text"),
        "free text is not kept"
    );
    served.push(created.body.clone());
    served.push(get(s, &format!("/fhir/r4/ServiceRequest/{sr_id}"), &ian).await);
    let stored = || async { service_requests::all(&site.db).await.expect("orders").len() };
    assert_eq!(stored().await, 1);

    // Bad orders: located, nothing stored.
    let mut no_subject = imaging_order(Value::Null, "ORD-2");
    no_subject.as_object_mut().unwrap().remove("subject");
    outcome_at(
        &call(s, "POST", "/fhir/r4/ServiceRequest", &ian, no_subject).await,
        StatusCode::BAD_REQUEST,
        "subject",
    );
    outcome_at(
        &call(
            s,
            "POST",
            "/fhir/r4/ServiceRequest",
            &ian,
            imaging_order(
                json!({"identifier": {"system": "urn:careflow:mrn", "value": "MRN-unknown"}}),
                "ORD-3",
            ),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ServiceRequest.subject",
    );
    let mut wrong_code = imaging_order(
        json!({"reference": format!("Patient/{}", site.key)}),
        "ORD-4",
    );
    wrong_code["code"] = json!({"coding": [{"system": "http://loinc.org", "code": "24558-9"}]});
    outcome_at(
        &call(s, "POST", "/fhir/r4/ServiceRequest", &ian, wrong_code).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ServiceRequest.code",
    );
    let mut bad_type = imaging_order(
        json!({"reference": format!("Patient/{}", site.key)}),
        "ORD-5",
    );
    bad_type["priority"] = json!(7);
    outcome_at(
        &call(s, "POST", "/fhir/r4/ServiceRequest", &ian, bad_type).await,
        StatusCode::BAD_REQUEST,
        "priority",
    );
    outcome_at(
        &call(
            s,
            "POST",
            "/fhir/r4/ServiceRequest",
            &ian,
            imaging_order(
                json!({"reference": format!("Patient/{}", site.key)}),
                "ORD-1",
            ),
        )
        .await,
        StatusCode::CONFLICT,
        "ServiceRequest.identifier",
    );
    let r = call(
        s,
        "POST",
        "/fhir/r4/ServiceRequest",
        &ian,
        surgical_order(&site.key, "ORD-6"),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "the imaging manager places no surgery"
    );
    assert_eq!(stored().await, 1);

    // A transaction Bundle: one bad entry, nothing stored; all good, all stored.
    let bundle = |entries: Vec<Value>| {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": entries.into_iter().map(|r| json!({
            "fullUrl": "urn:uuid:0b5d4f3e-0000-4000-8000-000000000001",
            "resource": r, "request": {"method": "POST", "url": "ServiceRequest"}})).collect::<Vec<_>>()})
    };
    let mut bad_second = surgical_order(&site.key, "ORD-8");
    bad_second.as_object_mut().unwrap().remove("performer");
    outcome_at(
        &call(
            s,
            "POST",
            "/fhir/r4",
            &tom,
            bundle(vec![surgical_order(&site.key, "ORD-7"), bad_second]),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Bundle.entry[1].resource.performer",
    );
    outcome_at(
        &call(
            s,
            "POST",
            "/fhir/r4",
            &tom,
            bundle(vec![
                surgical_order(&site.key, "ORD-7"),
                surgical_order(&site.key, "ORD-7"),
            ]),
        )
        .await,
        StatusCode::CONFLICT,
        "Bundle.entry[1].resource.identifier",
    );
    assert_eq!(stored().await, 1, "a refused transaction stores nothing");
    let done = call(
        s,
        "POST",
        "/fhir/r4",
        &tom,
        bundle(vec![
            surgical_order(&site.key, "ORD-7"),
            surgical_order(&site.key, "ORD-8"),
        ]),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["type"], "transaction-response");
    assert_eq!(done.body["entry"][1]["response"]["status"], "201 Created");
    served.push(done.body.clone());
    assert_eq!(stored().await, 3);
    let orders = get(
        s,
        "/fhir/r4/ServiceRequest?category=http://snomed.info/sct|387713003",
        &tom,
    )
    .await;
    assert_eq!(total(&orders), 2, "{orders}");
    served.push(orders);

    // HL7-style published examples of the types careflow only serves are refused with
    // a located OperationOutcome; so is a Synthea-style patient bundle, as a whole.
    let examples = fixtures();
    for (path, example) in &examples["read_only"].as_object().expect("examples").clone() {
        let r = call(
            s,
            "POST",
            &format!("/fhir/r4/{path}"),
            &ben,
            example.clone(),
        )
        .await;
        outcome_at(&r, StatusCode::METHOD_NOT_ALLOWED, path);
        served.push(r.body);
    }
    let r = call(
        s,
        "POST",
        "/fhir/r4/ServiceRequest",
        &ian,
        examples["servicerequest_example"].clone(),
    )
    .await;
    outcome_at(&r, StatusCode::UNPROCESSABLE_ENTITY, "ServiceRequest.");
    let r = call(
        s,
        "POST",
        "/fhir/r4",
        &tom,
        examples["synthea_bundle"].clone(),
    )
    .await;
    outcome_at(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Bundle.entry[0].resource.resourceType",
    );
    served.push(r.body);
    assert_eq!(
        stored().await,
        3,
        "nothing of the refused examples is stored"
    );

    // The next theatre week takes the waiting-list entries placed through FHIR.
    let week = json!({
        "week_start": "2026-12-14",
        "theatres": [{"theatre_id": "T1", "sessions": [{"day": 0, "staffed_minutes": 480}]}],
        "surgeons": [{"surgeon_id": "S01", "days": [0]}],
        "cases": [{"case_id": "C9", "patient_key": site.key, "procedure": "colectomy",
                   "specialty": "general_surgery", "surgeon_id": "S01", "category": "P2", "days_waited": 20}]
    });
    let started = app(s.clone())
        .oneshot(
            Request::builder()
                .method("POST")
                .uri("/api/theatre-weeks")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {tom}"))
                .body(Body::from(week.to_string()))
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(started.status(), StatusCode::CREATED);
    let taken: Vec<_> = service_requests::all(&site.db)
        .await
        .expect("orders")
        .into_iter()
        .filter(|o| o.taken_by.is_some())
        .collect();
    assert_eq!(taken.len(), 2, "both surgical orders joined the week");
    assert!(taken.iter().all(|o| o
        .taken_by
        .as_deref()
        .is_some_and(|t| t.starts_with("theatre-2026-12-14"))));

    independent_parse(&served);
    fhirclient_reads(&site, &ben, &tom, &hal).await;
}

fn fixtures() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fhir_examples.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixtures")).expect("fixtures json")
}

/// PyPI fhirclient (R4 models, strict) searches every type through the API on a real
/// socket, following the paging links, and reads each resource back by id.
async fn fhirclient_reads(site: &Site, ben: &str, tom: &str, hal: &str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app(site.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let script = r#"
import json, sys
from fhirclient import client
from fhirclient.models.encounter import Encounter
from fhirclient.models.appointment import Appointment
from fhirclient.models.slot import Slot
from fhirclient.models.schedule import Schedule
from fhirclient.models.location import Location
from fhirclient.models.practitioner import Practitioner
from fhirclient.models.practitionerrole import PractitionerRole
from fhirclient.models.servicerequest import ServiceRequest
base, plan = sys.argv[1], json.loads(sys.argv[2])
kinds = {c.__name__: c for c in [Encounter, Appointment, Slot, Schedule, Location, Practitioner, PractitionerRole, ServiceRequest]}
out = {}
for name, token in plan:
    smart = client.FHIRClient(settings={"app_id": "careflow-test", "api_base": base})
    smart.server.session.headers["Authorization"] = "Bearer " + token
    found = list(kinds[name].where(struct={"_count": "1"}).perform_resources_iter(smart.server))
    for r in found:
        again = kinds[name].read(r.id, smart.server)
        assert again.id == r.id
    out[name] = len(found)
print(json.dumps(out))
"#;
    let plan = json!([
        ["Encounter", ben],
        ["Location", ben],
        ["Appointment", tom],
        ["Slot", tom],
        ["Schedule", tom],
        ["ServiceRequest", tom],
        ["Practitioner", hal],
        ["PractitionerRole", hal]
    ]);
    let out = tokio::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(format!("http://{addr}/fhir/r4/"))
        .arg(plan.to_string())
        .output()
        .await
        .expect("run fhirclient");
    assert!(
        out.status.success(),
        "fhirclient failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Value = serde_json::from_slice(&out.stdout).expect("counts");
    assert_eq!(counts["Encounter"], 1, "{counts}");
    assert_eq!(counts["Appointment"], 2, "{counts}");
    assert_eq!(counts["Slot"], 3, "{counts}");
    assert_eq!(counts["Schedule"], 2, "{counts}");
    assert_eq!(counts["ServiceRequest"], 2, "{counts}");
    assert_eq!(counts["Practitioner"], 2, "{counts}");
    assert_eq!(counts["PractitionerRole"], 2, "{counts}");
    assert!(counts["Location"].as_u64().unwrap_or(0) > 10, "{counts}");
    // The patient's key was registered through the ADT feed only.
    assert!(patients::unknown_keys(&site.db, &[site.key.as_str()])
        .await
        .expect("keys")
        .is_empty());
}

/// An order booked in a published plan names its Appointment (and the booked slot) in
/// an extension and stays `active`; once the scan is attended it reads `completed`,
/// and the resource still parses with `fhir.resources`.
#[tokio::test(flavor = "multi_thread")]
async fn a_booked_order_names_its_appointment_and_completes_when_attended() {
    let site = site().await;
    let s = &site.state;
    // The imaging order R1, which the booked scanner run of `seed_plans` books.
    let scan = serde_json::from_value(json!({
        "request_id": "R1", "patient_key": site.key, "modality": "mri", "urgency": "routine",
        "deadline_day": 3, "age_years": 60
    }))
    .expect("scan entry");
    service_requests::create_all(
        &site.db,
        &[service_requests::NewServiceRequest {
            request_id: "R1".into(),
            patient_key: site.key.clone(),
            priority: "routine".into(),
            code: "mri".into(),
            earliest: chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
            latest: chrono::NaiveDate::from_ymd_opt(2026, 12, 11).unwrap(),
            identifier_system: "urn:oid:1.2.36.1.4.1.30003".into(),
            identifier_value: "ORDER-R1".into(),
            entry: service_requests::Entry::Scanner(scan),
        }],
        "imaging.ian",
        "imaging_manager",
    )
    .await
    .expect("order");
    let ian = login(s, "imaging.ian").await;
    let sr = get(s, "/fhir/r4/ServiceRequest/R1", &ian).await;
    assert_eq!(sr["status"], "active", "{sr}");
    let booked = &sr["extension"][0];
    assert_eq!(
        booked["url"], "urn:careflow:fhir:booked-appointment",
        "{sr}"
    );
    let appointment = booked["extension"][0]["valueReference"]["reference"]
        .as_str()
        .expect("the Appointment")
        .to_owned();
    // The Appointment it names is the one based on the order.
    let appts = get(s, "/fhir/r4/Appointment?based-on=ServiceRequest/R1", &ian).await;
    let found = resources(&appts);
    assert_eq!(found.len(), 1, "{appts}");
    assert_eq!(
        format!("Appointment/{}", found[0]["id"].as_str().unwrap()),
        appointment
    );
    assert_eq!(booked["extension"][1]["valueDateTime"], found[0]["start"]);

    scanner::record_attendance(
        &site.db,
        "wf-scan",
        "scan-2026-12-07-a",
        &careflow_types::AttendanceReport {
            request_id: "R1".into(),
            outcome: careflow_types::ScanAttendance::Attended,
            recorded_by: "imaging.ian".into(),
        },
    )
    .await
    .expect("attendance");
    let sr = get(s, "/fhir/r4/ServiceRequest/R1", &ian).await;
    assert_eq!(sr["status"], "completed", "{sr}");
    let completed = get(s, "/fhir/r4/ServiceRequest?status=completed", &ian).await;
    assert_eq!(resources(&completed).len(), 1, "{completed}");
    independent_parse(&[sr]);
}
