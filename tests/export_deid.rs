//! `careflow export deid` over a real SQLite database fed by the ADT decoder with full
//! HL7 messages (names, addresses, birth dates, phone and national numbers), imaging
//! orders and a booked scan: no identifier, name, address, phone or birth date of the
//! input, and no careflow key, appears in the output; dates are shifted per patient
//! with intervals kept; ages over 89 are one band; small aggregate cells are
//! suppressed; only the administrator may export, and every export is audited. Every
//! exported resource parses with PyPI `fhir.resources` (R4B).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use careflow::export::{self, DeidKey};
use careflow_hl7::decode::{decode, Decoded};
use careflow_hl7::location::{BedEntry, LocationFile, LocationMap, WardEntry};
use careflow_store::service_requests::{self, Entry, NewServiceRequest};
use careflow_store::users::User;
use careflow_store::{adt, audit, hospital, users, views, Db};
use careflow_testkit::db;
use careflow_types::Role;

struct Person {
    mrn: String,
    national: String,
    family: String,
    given: String,
    dob: &'static str,
    street: String,
    phone: String,
}

fn people() -> Vec<Person> {
    let dobs = [
        "19610419", "19740202", "19880812", "19801130", "19721003", "19990716", "19270305",
    ];
    (0..7)
        .map(|i| Person {
            mrn: format!("H{}", 4_820_117 + i * 13),
            national: format!("943 476 {:04}", 5919 + i),
            family: format!("Kshlerin{}", 58 + i),
            given: format!("Rosalind{}", 241 + i),
            dob: dobs[i],
            street: format!("{} Lowe Ramp", 1023 + i),
            phone: format!("0117 496 {:04}", 31 + i),
        })
        .collect()
}

fn message(p: &Person, control: &str, trigger: &str, at: &str, pv1_3: &str) -> String {
    format!(
        "MSH|^~\\&|PAS|GENERAL|CAREFLOW|CAREFLOW|{at}||ADT^{trigger}|{control}|P|2.5\r\
         EVN|{trigger}|{at}\r\
         PID|1||{}^^^NHS^NH~{}^^^GENERAL^MR||{}^{}||{}|F|||{}^^Worcester^^WR1 2AB||{}\r\
         PV1|1|I|{pv1_3}\r",
        p.national, p.mrn, p.family, p.given, p.dob, p.street, p.phone
    )
}

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/venv/bin/python");
    assert!(p.exists(), "{} missing: run scripts/setup", p.display());
    p
}

fn parse_all(dir: &Path) {
    let out = std::process::Command::new(python())
        .arg("-c")
        .arg(
            "import json,sys,glob\n\
             from fhir.resources.R4B import get_fhir_model_class\n\
             n=0\n\
             for f in glob.glob(sys.argv[1]+'/*.ndjson'):\n\
             \x20   for line in open(f):\n\
             \x20       d=json.loads(line); get_fhir_model_class(d['resourceType']).model_validate(d); n+=1\n\
             print(n)\n",
        )
        .arg(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "fhir.resources refused an exported resource: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n: usize = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("count");
    assert!(n > 10, "only {n} resources parsed");
}

async fn feed(db: &Db, people: &[Person]) {
    let places = hospital::site_places(db).await.expect("places");
    let ward_of = |room: &str| {
        places
            .rooms
            .iter()
            .find(|(r, _)| r == room)
            .expect("room")
            .1
            .clone()
    };
    let wards: Vec<String> = places.wards.iter().map(|(w, _)| w.clone()).collect();
    let file = LocationFile {
        wards: wards
            .iter()
            .map(|w| WardEntry {
                point_of_care: w.clone(),
                ward_id: w.clone(),
            })
            .collect(),
        beds: places
            .beds
            .iter()
            .map(|b| BedEntry {
                point_of_care: ward_of(&b.room_id),
                room: b.room_id.clone(),
                bed: b.bed_id.clone(),
                bed_id: b.bed_id.clone(),
            })
            .collect(),
    };
    let map = LocationMap::from_file(file).expect("map");
    // Six patients on the first ward (a cell big enough to show), one on the second.
    let first: Vec<_> = places
        .beds
        .iter()
        .filter(|b| ward_of(&b.room_id) == wards[0])
        .collect();
    let second = places
        .beds
        .iter()
        .find(|b| ward_of(&b.room_id) == wards[1])
        .expect("bed");
    for (i, p) in people.iter().enumerate() {
        let bed = if i < 6 { first[i] } else { second };
        let pv1 = format!("{}^{}^{}", ward_of(&bed.room_id), bed.room_id, bed.bed_id);
        let mut msgs = vec![message(p, &format!("A{i}"), "A01", "20261201083000", &pv1)];
        if i == 0 {
            let other = first[6];
            let pv1b = format!(
                "{}^{}^{}",
                ward_of(&other.room_id),
                other.room_id,
                other.bed_id
            );
            msgs.push(message(p, "T0", "A02", "20261202140000", &pv1b));
        }
        for m in msgs {
            let Decoded::Adt(msg, _) = decode(m.as_bytes(), &map) else {
                panic!("message {i} did not decode");
            };
            assert_eq!(
                adt::apply(db, &msg).await.expect("apply"),
                adt::AdtOutcome::Applied
            );
        }
    }
}

fn read_out(dir: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).expect("out dir") {
        all.push_str(&std::fs::read_to_string(e.expect("entry").path()).expect("file"));
    }
    all
}

#[tokio::test]
async fn the_research_export_holds_no_identifier_and_keeps_intervals() {
    let (dir, db) = db::sqlite().await;
    let layout: Vec<_> = hospital::demo_layout().into_iter().take(2).collect();
    hospital::seed_layout(&db, &layout).await.expect("layout");
    let people = people();
    feed(&db, &people).await;
    let mut keys = Vec::new();
    for p in &people {
        keys.push(
            adt::patient_key_of(&db, &p.mrn)
                .await
                .expect("key")
                .expect("registered"),
        );
    }
    // An imaging order for the oldest patient, 95 at the order.
    let scan = serde_json::from_value(json!({
        "request_id": "SR-1", "patient_key": keys[6], "modality": "ct", "urgency": "routine",
        "deadline_day": 3, "age_years": 95
    }))
    .expect("scan entry");
    service_requests::create_all(
        &db,
        &[NewServiceRequest {
            request_id: "SR-1".into(),
            patient_key: keys[6].clone(),
            priority: "routine".into(),
            code: "ct".into(),
            earliest: chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
            latest: chrono::NaiveDate::from_ymd_opt(2026, 12, 20).unwrap(),
            identifier_system: "urn:oid:1.2.36.1.4.1.30003".into(),
            identifier_value: "ORDER-55519".into(),
            entry: Entry::Scanner(scan),
        }],
        "imaging.ian",
        "imaging_manager",
    )
    .await
    .expect("order");

    let key = DeidKey::load_or_create(dir.path()).expect("key");
    let key_file = std::fs::read_to_string(dir.path().join(export::KEY_FILE)).expect("key file");
    let out = dir.path().join("export");
    let auditor = User {
        name: "audit.amy".into(),
        role: Role::Auditor,
    };
    let refused = export::deid(&db, &key, &auditor, &out, 5)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("may not export"), "{refused}");
    assert!(!out.exists(), "nothing is written for a refused export");

    let admin = User {
        name: "admin.ada".into(),
        role: Role::Admin,
    };
    let summary = export::deid(&db, &key, &admin, &out, 5)
        .await
        .expect("export");
    assert_eq!(summary.counts["Patient"], 7);
    assert_eq!(summary.counts["Encounter"], 7);
    assert_eq!(summary.counts["ServiceRequest"], 1);
    assert_eq!(summary.suppressed_cells, 1, "the second ward's single stay");

    let text = read_out(&out);
    let mut forbidden: Vec<String> = vec![
        key_file.trim().to_owned(),
        "ORDER-55519".into(),
        "SR-1".into(),
    ];
    for (p, k) in people.iter().zip(&keys) {
        forbidden.extend([
            p.mrn.clone(),
            p.national.clone(),
            p.family.clone(),
            p.given.clone(),
            p.street.clone(),
            p.phone.clone(),
            p.dob.to_owned(),
            format!("{}-{}-{}", &p.dob[..4], &p.dob[4..6], &p.dob[6..]),
            k.clone(),
        ]);
    }
    forbidden.extend(["Worcester".into(), "WR1 2AB".into(), "imaging.ian".into()]);
    for f in &forbidden {
        assert!(!text.contains(f.as_str()), "the export contains {f:?}");
    }
    assert!(
        text.contains("\"90+\""),
        "an age over 89 is exported as the 90+ band"
    );
    let table =
        std::fs::read_to_string(out.join("stays_by_ward_sex_age_group.csv")).expect("table");
    assert!(table.lines().any(|l| l.ends_with(",6")), "{table}");
    assert!(table.lines().any(|l| l.ends_with(",<5")), "{table}");

    // Dates shifted, the interval between a patient's two beds kept.
    let stays = views::stays(&db).await.expect("stays");
    let moved = stays
        .iter()
        .find(|s| s.beds.len() == 2)
        .expect("the transferred stay");
    let at = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    };
    let original = at(&moved.beds[1].from) - at(&moved.beds[0].from);
    let encounters: Vec<Value> = std::fs::read_to_string(out.join("Encounter.ndjson"))
        .expect("encounters")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let exported = encounters
        .iter()
        .find(|e| e["location"].as_array().is_some_and(|l| l.len() == 2))
        .expect("exported stay with two beds");
    let loc = exported["location"].as_array().unwrap();
    let shifted = at(loc[1]["period"]["start"].as_str().unwrap())
        - at(loc[0]["period"]["start"].as_str().unwrap());
    assert!(
        (shifted - original).num_seconds().abs() <= 1,
        "{shifted} vs {original}"
    );
    assert_ne!(
        loc[0]["period"]["start"].as_str().unwrap()[..10],
        moved.beds[0].from[..10],
        "dates are shifted"
    );
    parse_all(&out);

    // The same key gives the same pseudonyms; every export is audited.
    let again = dir.path().join("export-2");
    export::deid(&db, &key, &admin, &again, 5)
        .await
        .expect("export again");
    assert_eq!(
        std::fs::read_to_string(out.join("Patient.ndjson")).unwrap(),
        std::fs::read_to_string(again.join("Patient.ndjson")).unwrap()
    );
    let exports: Vec<_> = audit::entries(&db)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "export.deid")
        .collect();
    assert_eq!(exports.len(), 2);
    assert!(exports.iter().all(|e| e.actor == "admin.ada"));
    assert!(!audit::entries(&db).await.unwrap().iter().any(|e| {
        let line = serde_json::to_string(e).unwrap();
        people
            .iter()
            .any(|p| line.contains(&p.mrn) || line.contains(&p.family))
    }));

    // The command line: the token's user must hold an exporting role.
    const PASSWORD: &str = "export pass phrase";
    for (name, role) in [("admin.ada", Role::Admin), ("audit.amy", Role::Auditor)] {
        users::upsert_with_password(&db, name, role, Some(PASSWORD), "test")
            .await
            .expect("user");
    }
    let cli = |name: &'static str, out: PathBuf| {
        let db = db.clone();
        let data_dir = dir.path().to_owned();
        async move {
            let session = users::login(&db, name, PASSWORD, std::time::Duration::from_secs(600))
                .await
                .expect("login");
            std::process::Command::new(env!("CARGO_BIN_EXE_careflow"))
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["export", "deid", "--out"])
                .arg(&out)
                .args(["--token", &session.token])
                .env_remove(export::KEY_ENV)
                .env_remove("CAREFLOW_DATABASE")
                .output()
                .expect("careflow runs")
        }
    };
    let denied = cli("audit.amy", dir.path().join("export-cli-denied")).await;
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("may not export"));
    let by_cli = dir.path().join("export-cli");
    let done = cli("admin.ada", by_cli.clone()).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("Patient.ndjson")).unwrap(),
        std::fs::read_to_string(by_cli.join("Patient.ndjson")).unwrap(),
        "the command line uses the data directory's key"
    );
}

/// `POST /api/exports/deid`: the administrator gets the same files as the command line
/// (audited); the auditor is refused and nothing is exported; a bad body is located.
#[tokio::test]
async fn the_api_export_is_the_admins_and_audited() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    let (_server, client) = careflow_testkit::temporal::start_test_server().await;
    let (dir, db) = db::sqlite().await;
    let layout: Vec<_> = hospital::demo_layout().into_iter().take(2).collect();
    hospital::seed_layout(&db, &layout).await.expect("layout");
    let people = people();
    feed(&db, &people).await;
    let admin = users::upsert(&db, "admin.ada", Role::Admin, "test")
        .await
        .expect("admin");
    let auditor = users::upsert(&db, "audit.amy", Role::Auditor, "test")
        .await
        .expect("auditor");
    let router = careflow_dashboards::with_exports(
        careflow_dashboards::app(careflow_dashboards::AppState {
            db: db.clone(),
            client,
        }),
        std::sync::Arc::new(export::ApiExports {
            db: db.clone(),
            data_dir: dir.path().to_owned(),
        }),
    );
    let call = |token: String, body: &'static str| {
        let router = router.clone();
        async move {
            let resp = router
                .oneshot(
                    Request::post("/api/exports/deid")
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .body(Body::from(body))
                        .expect("request"),
                )
                .await
                .expect("response");
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
                .await
                .expect("body");
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let exports = |db: Db| async move {
        audit::entries(&db)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.action == "export.deid")
            .count()
    };
    let (status, _) = call(auditor, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(admin.clone(), r#"{"min_cell": 0}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("min_cell"), "{body}");
    assert_eq!(exports(db.clone()).await, 0, "nothing exported yet");

    let (status, body) = call(admin, r#"{"min_cell": 5}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let files = body["files"].as_object().expect("files");
    for name in [
        "Patient.ndjson",
        "Encounter.ndjson",
        "ServiceRequest.ndjson",
        "Appointment.ndjson",
        "stays_by_ward_sex_age_group.csv",
        "manifest.json",
    ] {
        assert!(files.contains_key(name), "{name} missing");
    }
    assert_eq!(files["Patient.ndjson"].as_str().unwrap().lines().count(), 7);
    let text = body.to_string();
    for p in &people {
        for secret in [&p.mrn, &p.national, &p.family, &p.street, &p.phone] {
            assert!(
                !text.contains(secret.as_str()),
                "the API export contains {secret}"
            );
        }
    }
    assert_eq!(exports(db.clone()).await, 1, "the export is audited");
    // The same key as the command line's: the data directory's.
    let out = dir.path().join("cli-export");
    let key = DeidKey::load_or_create(dir.path()).expect("key");
    let admin_user = User {
        name: "admin.ada".into(),
        role: Role::Admin,
    };
    export::deid(&db, &key, &admin_user, &out, 5)
        .await
        .expect("export");
    assert_eq!(
        std::fs::read_to_string(out.join("Patient.ndjson")).unwrap(),
        files["Patient.ndjson"].as_str().unwrap()
    );
}
