//! `careflow demo --exit`, the README's main job, end to end on the embedded default
//! (Temporal dev server and SQLite): the day runs, part of it arrives from the demo's
//! patient administration system as HL7 v2 ADT over MLLP, the published plans are read
//! back through FHIR, the audit trail verifies, and no name or number the PAS sent
//! appears anywhere in the data directory outside careflow's `patients` table.
//!
//! Its own test binary (not in `e2e`): the demo is the heaviest scenario and runs
//! alone rather than beside the crash tests.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sqlx::Row;

use careflow_store::Db;
use careflow_testkit::paths::tool;
use careflow_testkit::ports::{free_port, temporal_port};
use careflow_testkit::process::output;

const CAREFLOW: &str = env!("CARGO_BIN_EXE_careflow");

/// The first number in `line` after `label`.
fn number_after(line: &str, label: &str) -> u64 {
    let rest = &line[line
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} not in {line:?}"))
        + label.len()..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line:?}"))
}

fn line_with<'a>(text: &'a str, what: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("the demo said nothing with {what:?}:\n{text}"))
}

/// Every file under `dir` except the domain database (checked table by table).
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if !p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("careflow.db"))
        {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_feeds_adt_over_mllp_and_shows_its_plans_through_fhir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut cmd = Command::new(CAREFLOW);
    cmd.args(["--data-dir", &dir.display().to_string()])
        .args(["--temporal-port", &temporal_port().to_string()])
        .args(["demo", "--exit", "--admissions", "8"])
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--hl7-listen", &format!("127.0.0.1:{}", free_port())])
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("CAREFLOW_TEMPORAL_BIN", tool("temporal"))
        .env_remove("CAREFLOW_DATABASE")
        .env_remove("CAREFLOW_TEMPORAL")
        .env_remove("CAREFLOW_DATA_DIR");
    let out = output(cmd, Duration::from_secs(1500), "careflow demo --exit").await;
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the demo failed:\n{said}");
    // Shown with the test's output when an assertion below fails.
    println!("{said}");

    // The ADT feed: every message acknowledged, the two faults on purpose refused with
    // where they are.
    let feed = line_with(&said, "HL7 ADT feed from the PAS over MLLP");
    let sent = number_after(&feed[feed.find("MLLP to").unwrap()..], ": ");
    let aa = number_after(feed, "messages, ");
    assert!(feed.contains("1 AE") && feed.contains("1 AR"), "{feed}");
    assert_eq!(aa + 2, sent, "all but the two faults accepted: {feed}");
    assert!(
        said.contains("never admitted: ERR|") && said.contains("PID^1^3"),
        "the AE names PID-3:\n{said}"
    );
    let ed = line_with(&said, "registrations (A04)");
    let registrations = number_after(ed, "ED: ");
    assert!(registrations > 50, "a day of ED arrivals: {ed}");
    let handed = line_with(&said, "handed to careflow's admission workflow");
    assert_eq!(number_after(handed, "(A01): "), 4, "{handed}");

    // The FHIR view of the published plans.
    let appointments = line_with(&said, "Appointment: theatre cases");
    assert!(
        number_after(appointments, "theatre cases ") > 0
            && number_after(appointments, "scans ") > 0,
        "theatre cases and scans are read back through FHIR: {appointments}"
    );
    let schedules = line_with(&said, "Schedule: ");
    assert!(number_after(schedules, "(") > 0, "{schedules}");
    let roster = line_with(&said, "PractitionerRole: ");
    assert!(number_after(roster, "PractitionerRole: ") > 0, "{roster}");

    // What the store holds: the hourly ED counts add up to the registrations sent, the
    // four stays handed over were each decided by their admission workflow.
    let db = Db::connect(&Db::sqlite_url(&dir.join("careflow.db")))
        .await
        .unwrap();
    let counted: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(arrivals), 0) AS BIGINT) AS n FROM ed_arrivals_hourly",
    )
    .fetch_one(db.pool())
    .await
    .unwrap()
    .get("n");
    assert_eq!(counted as u64, registrations);
    let handed_over =
        sqlx::query("SELECT status FROM admissions WHERE workflow_id LIKE 'admission-ADT-WF-%'")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(handed_over.len(), 4);
    for r in &handed_over {
        let status: String = r.get("status");
        assert!(
            ["admitted", "declined"].contains(&status.as_str()),
            "an ED admission handed to the workflow ended {status}"
        );
    }
    let verify = output(
        {
            let mut c = Command::new(CAREFLOW);
            c.args(["--data-dir", &dir.display().to_string(), "audit", "verify"])
                .env("XDG_CONFIG_HOME", tmp.path().join("config"))
                .env_remove("CAREFLOW_DATABASE");
            c
        },
        Duration::from_secs(120),
        "careflow audit verify",
    )
    .await;
    assert!(
        verify.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // The PAS's identifiers: its medical record numbers are careflow's patient_ref.
    let mrns: Vec<String> =
        sqlx::query("SELECT patient_ref FROM patients WHERE patient_ref GLOB 'D[0-9]*'")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("patient_ref"))
            .collect();
    assert!(mrns.len() as u64 >= registrations, "{} MRNs", mrns.len());
    // Names, the street and the phone numbers the PAS sent are kept nowhere at all.
    let mut needles: Vec<String> = ["Kowalczyk", "Fernandes", "Infirmary Street", "0113 496"]
        .map(String::from)
        .to_vec();
    needles.extend(mrns.iter().cloned());
    assert!(
        !needles.iter().any(|n| said.contains(n.as_str())),
        "an identifier in the demo's output"
    );
    // Other files of the data dir: Temporal's database, logs, anchors, location map.
    let mut others = Vec::new();
    files(&dir, &mut others);
    assert!(
        others
            .iter()
            .any(|p| p.to_string_lossy().contains("temporal")),
        "Temporal's database is in the data dir: {others:?}"
    );
    for p in &others {
        let bytes = std::fs::read(p).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for n in &needles {
            assert!(!text.contains(n.as_str()), "{n:?} found in {}", p.display());
        }
    }
    // Every table of the domain database but `patients`.
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('patients') \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get("name"))
    .collect();
    assert!(tables.len() > 10 && tables.contains(&"adt_events".to_owned()));
    for t in &tables {
        // Each row as JSON text (SQLite's json_object over its columns).
        let columns: Vec<String> =
            sqlx::query(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .fetch_all(db.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.get("name"))
                .collect();
        let pairs: Vec<String> = columns
            .iter()
            .map(|c| format!("'{c}', CAST(\"{c}\" AS TEXT)"))
            .collect();
        let rows = sqlx::query(&format!(
            "SELECT CAST(json_object({}) AS TEXT) AS row FROM \"{t}\"",
            pairs.join(", ")
        ))
        .fetch_all(db.pool())
        .await
        .unwrap();
        for r in rows {
            let row: String = r.get("row");
            for n in &needles {
                assert!(!row.contains(n.as_str()), "{n:?} in table {t}: {row}");
            }
        }
    }
}
