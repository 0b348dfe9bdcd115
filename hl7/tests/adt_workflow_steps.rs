//! What the feed asks of careflow's admission workflows, on a real SQLite and a real
//! PostgreSQL store with a recording [`Admissions`] in place of Temporal (the workflow's
//! own steps are the store's, called as its activities call them):
//!
//! - a discharge (A03) or cancelled admit (A11) of a stay whose bed a workflow chooses
//!   cancels that workflow after the store has committed, with a reason naming the
//!   trigger and no identifier; a cancel that cannot be delivered leaves the message
//!   unacknowledged and the resend delivers it; the workflow's clean-up then leaves the
//!   feed's status alone;
//! - a cancelled discharge (A13) takes the bed the workflow gave again when it is free,
//!   and hands a stay that never got one to a new workflow (id from the A13);
//! - a transfer (A02) or registration (A04) into a ward without a bed hands the choice
//!   to a new workflow (id from sender and MSH-10) for the same stay, the old bed freed;
//!   a resend starts nothing new; a cancelled transfer (A12) puts the patient back in
//!   the old bed and cancels the transfer's workflow, whose bed goes back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use sqlx::Row;

use careflow_hl7::ack::AckCode;
use careflow_hl7::listener::{Admissions, StartFuture};
use careflow_hl7::{Hl7Service, LocationMap};
use careflow_store::admissions::{self, AssignBed, AssignOutcome};
use careflow_store::{adt, hospital, Db};
use careflow_types::{AdmissionInput, AdmissionStage};

const SURNAME: &str = "MARCHBANKS";

/// One ADT message from PAS^GENERAL.
fn adt_msg(trigger: &str, ctrl: &str, mrn: &str, pv1_3: &str, at: DateTime<Utc>) -> String {
    let t = at.format("%Y%m%d%H%M%S");
    format!(
        "MSH|^~\\&|PAS|GENERAL|CAREFLOW|CAREFLOW|{t}||ADT^{trigger}|{ctrl}|P|2.5.1\r\
         EVN|{trigger}|{t}\r\
         PID|1||{mrn}^^^GENERAL^MR||{SURNAME}^OLWEN||19580301|F|||9 MILL ROAD^^YORK\r\
         PV1|1|I|{pv1_3}\r"
    )
}

/// Records what the listener asks; fails the first `fail_cancels` cancels. Each call
/// notes the status the store shows for the workflow's stay at that moment.
struct Recorder {
    db: Db,
    calls: Mutex<Vec<String>>,
    starts: Mutex<Vec<(String, AdmissionInput)>>,
    fail_cancels: AtomicUsize,
}

impl Recorder {
    async fn status_of(&self, workflow_id: &str) -> String {
        sqlx::query("SELECT status FROM admissions WHERE workflow_id = $1 OR admission_id = $2")
            .bind(workflow_id)
            .bind(workflow_id.trim_start_matches("admission-"))
            .fetch_optional(self.db.pool())
            .await
            .unwrap()
            .map(|r| r.get::<String, _>("status"))
            .unwrap_or_else(|| "-".into())
    }
}

impl Admissions for Recorder {
    fn start<'a>(&'a self, workflow_id: &'a str, input: &'a AdmissionInput) -> StartFuture<'a> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("start {workflow_id} for {}", input.admission_id));
            self.starts
                .lock()
                .unwrap()
                .push((workflow_id.to_owned(), input.clone()));
            Ok(())
        })
    }

    fn cancel<'a>(&'a self, workflow_id: &'a str, reason: &'a str) -> StartFuture<'a> {
        Box::pin(async move {
            let status = self.status_of(workflow_id).await;
            self.calls
                .lock()
                .unwrap()
                .push(format!("cancel {workflow_id} [{status}] {reason}"));
            if self
                .fail_cancels
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err("Temporal unreachable".into());
            }
            Ok(())
        })
    }
}

async fn map(dir: &std::path::Path, db: &Db) -> LocationMap {
    hospital::seed_layout(db, &hospital::demo_layout())
        .await
        .expect("seed");
    let places = hospital::site_places(db).await.expect("places");
    let beds: Vec<serde_json::Value> = places
        .beds
        .iter()
        .map(|b| {
            let mut parts: Vec<&str> = b.bed_id.rsplitn(3, '-').collect();
            parts.reverse();
            serde_json::json!({"point_of_care": parts[0].replace('-', ""), "room": parts[1], "bed": parts[2], "bed_id": b.bed_id})
        })
        .collect();
    let file = serde_json::json!({
        "wards": places.wards.iter().map(|(w, _)| serde_json::json!({"point_of_care": w.replace('-', ""), "ward_id": w})).collect::<Vec<_>>(),
        "beds": beds,
    });
    let path = dir.join("locations.json");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    LocationMap::load(&path, db).await.expect("map")
}

/// The workflow's bed step, as its activity runs it.
async fn assign(db: &Db, workflow_id: &str, input: &AdmissionInput, bed: &str) -> AssignOutcome {
    admissions::assign_bed(
        db,
        &AssignBed {
            workflow_id: workflow_id.into(),
            admission: input.clone(),
            bed_id: bed.into(),
            attempt: 1,
            approved_by: None,
        },
    )
    .await
    .expect("assign")
}

async fn one(db: &Db, sql: &str, bind: &str) -> Option<String> {
    sqlx::query(sql)
        .bind(bind.to_owned())
        .fetch_optional(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .map(|r| r.get::<String, _>(0))
}

async fn bed_of(db: &Db, mrn: &str) -> Option<String> {
    let key = adt::patient_key_of(db, mrn).await.unwrap().unwrap();
    adt::census(db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.patient_key == key)
        .and_then(|r| r.bed_id)
}

async fn run(db: Db, dir: &std::path::Path) {
    let map = map(dir, &db).await;
    let rec = Arc::new(Recorder {
        db: db.clone(),
        calls: Mutex::default(),
        starts: Mutex::default(),
        fail_cancels: AtomicUsize::new(1),
    });
    let svc = Hl7Service::new(db.clone(), map).with_admissions(rec.clone());
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0).unwrap();
    let send = |m: String| {
        let svc = svc.clone();
        async move { svc.handle(m.as_bytes()).await }
    };
    let taken = |calls: &Mutex<Vec<String>>| std::mem::take(&mut *calls.lock().unwrap());

    // 1. Admitted to a ward without a bed: W1 starts; discharged before it placed the
    // patient: W1 is cancelled after the commit; the first cancel fails (no ACK), the
    // resend delivers it.
    let mrn = "M5510001";
    let (code, _) = send(adt_msg("A01", "S1", mrn, "CARDA^^", at))
        .await
        .unwrap();
    assert_eq!(code, AckCode::Accept);
    let w1 = format!(
        "admission-{}",
        adt::workflow_admission_id("PAS^GENERAL", "S1")
    );
    assert_eq!(
        taken(&rec.calls),
        vec![format!("start {w1} for {}", &w1[10..])]
    );
    let a03 = adt_msg("A03", "S2", mrn, "CARDA^^", at + Span::hours(2));
    let failed = send(a03.clone()).await;
    assert!(
        failed.is_err(),
        "an undelivered cancel must not be acknowledged"
    );
    let calls = taken(&rec.calls);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with(&format!("cancel {w1} [discharged] HL7 ADT A03")),
        "cancelled only after the discharge was committed: {calls:?}"
    );
    for secret in [mrn, SURNAME, "OLWEN", "19580301", "MILL"] {
        assert!(!calls[0].contains(secret), "{secret} in the cancel reason");
    }
    let (code, _) = send(a03).await.unwrap();
    assert_eq!(code, AckCode::Accept, "the resend delivers the cancel");
    assert_eq!(taken(&rec.calls).len(), 1);
    // W1's clean-up (cancelled) leaves the feed's status alone.
    admissions::close(
        &db,
        &w1,
        &w1[10..],
        AdmissionStage::Cancelled,
        Some("HL7 ADT A03"),
        "careflow",
    )
    .await
    .unwrap();
    assert_eq!(
        one(
            &db,
            "SELECT status FROM admissions WHERE admission_id = $1",
            &w1[10..]
        )
        .await
        .as_deref(),
        Some("discharged")
    );
    // A bed step of the cancelled W1 racing the discharge gives no bed.
    let input1 = rec.starts.lock().unwrap()[0].1.clone();
    assert!(matches!(
        assign(&db, &w1, &input1, "CARD-A-BAY1-B1").await,
        AssignOutcome::Unavailable { .. }
    ));
    // 2. The discharge is cancelled: W1 never gave a bed, so a new workflow (the A13's)
    // chooses one for the same stay.
    let (code, _) = send(adt_msg("A13", "S3", mrn, "CARDA^^", at + Span::hours(3)))
        .await
        .unwrap();
    assert_eq!(code, AckCode::Accept);
    let w2 = format!(
        "admission-{}",
        adt::workflow_admission_id("PAS^GENERAL", "S3")
    );
    assert_eq!(
        taken(&rec.calls),
        vec![format!("start {w2} for {}", &w1[10..])]
    );
    let input2 = rec.starts.lock().unwrap()[1].1.clone();
    assert_eq!(input2.admission_id, input1.admission_id, "the same stay");
    assert!(matches!(
        assign(&db, &w2, &input2, "CARD-A-BAY1-B1").await,
        AssignOutcome::Assigned { .. }
    ));
    assert_eq!(bed_of(&db, mrn).await.as_deref(), Some("CARD-A-BAY1-B1"));
    // Discharged and the discharge cancelled again: W2's bed is free, so it is the
    // stay's again and nothing starts.
    send(adt_msg("A03", "S4", mrn, "CARDA^^", at + Span::hours(5)))
        .await
        .unwrap();
    assert_eq!(bed_of(&db, mrn).await, None);
    let calls = taken(&rec.calls);
    assert!(
        calls.iter().all(|c| c.starts_with(&format!("cancel {w2}"))),
        "{calls:?}"
    );
    send(adt_msg("A13", "S5", mrn, "CARDA^^", at + Span::hours(6)))
        .await
        .unwrap();
    assert_eq!(taken(&rec.calls), Vec::<String>::new());
    assert_eq!(bed_of(&db, mrn).await.as_deref(), Some("CARD-A-BAY1-B1"));

    // 3. A cancelled admit of a stay whose workflow waits: cancelled, status 'cancelled'.
    let mrn3 = "M5510003";
    send(adt_msg("A01", "C1", mrn3, "RESP^^", at))
        .await
        .unwrap();
    let w3 = format!(
        "admission-{}",
        adt::workflow_admission_id("PAS^GENERAL", "C1")
    );
    taken(&rec.calls);
    send(adt_msg("A11", "C2", mrn3, "RESP^^", at + Span::hours(1)))
        .await
        .unwrap();
    let calls = taken(&rec.calls);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with(&format!("cancel {w3} [cancelled] HL7 ADT A11")),
        "{calls:?}"
    );

    // 4. In a bed the sender named, transferred to a ward without a bed: the old bed is
    // free, a workflow (the A02's) chooses one there for the same stay.
    let mrn4 = "M5510004";
    send(adt_msg("A01", "T1", mrn4, "GMED1^BAY1^B1", at))
        .await
        .unwrap();
    assert_eq!(bed_of(&db, mrn4).await.as_deref(), Some("GMED-1-BAY1-B1"));
    let stay = one(
        &db,
        "SELECT admission_id FROM adt_patients WHERE patient_key = $1",
        &adt::patient_key_of(&db, mrn4).await.unwrap().unwrap(),
    )
    .await
    .unwrap();
    taken(&rec.calls);
    let a02 = adt_msg("A02", "T2", mrn4, "RESP^^", at + Span::hours(4));
    let (code, _) = send(a02.clone()).await.unwrap();
    assert_eq!(code, AckCode::Accept);
    let w4 = format!(
        "admission-{}",
        adt::workflow_admission_id("PAS^GENERAL", "T2")
    );
    assert_eq!(taken(&rec.calls), vec![format!("start {w4} for {stay}")]);
    assert_eq!(bed_of(&db, mrn4).await, None, "the old bed is freed");
    let input4 = rec.starts.lock().unwrap().last().unwrap().1.clone();
    assert_eq!(input4.request.specialty, "respiratory");
    assert!(matches!(
        assign(&db, &w4, &input4, "RESP-BAY1-B1").await,
        AssignOutcome::Assigned { .. }
    ));
    assert_eq!(bed_of(&db, mrn4).await.as_deref(), Some("RESP-BAY1-B1"));
    // A resend: nothing starts again.
    let (code, _) = send(a02).await.unwrap();
    assert_eq!(code, AckCode::Accept);
    assert_eq!(taken(&rec.calls), Vec::<String>::new());
    // The transfer is cancelled: back in the old bed, the transfer's workflow cancelled
    // and its bed free.
    let (code, _) = send(adt_msg(
        "A12",
        "T3",
        mrn4,
        "GMED1^BAY1^B1",
        at + Span::hours(5),
    ))
    .await
    .unwrap();
    assert_eq!(code, AckCode::Accept);
    let calls = taken(&rec.calls);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with(&format!("cancel {w4} [")) && calls[0].contains("] HL7 ADT A12"),
        "{calls:?}"
    );
    assert_eq!(bed_of(&db, mrn4).await.as_deref(), Some("GMED-1-BAY1-B1"));
    assert!(!adt::occupied_beds(&db)
        .await
        .unwrap()
        .iter()
        .any(|(b, _)| b == "RESP-BAY1-B1"));
    // The transfer's workflow cleaning up leaves the stay and its bed alone.
    admissions::close(
        &db,
        &w4,
        &stay,
        AdmissionStage::Cancelled,
        Some("HL7 ADT A12"),
        "careflow",
    )
    .await
    .unwrap();
    assert_eq!(bed_of(&db, mrn4).await.as_deref(), Some("GMED-1-BAY1-B1"));
    assert_eq!(
        one(
            &db,
            "SELECT status FROM admissions WHERE admission_id = $1",
            &stay
        )
        .await
        .as_deref(),
        Some("admitted")
    );
    // A later transfer into a bed and a discharge replay as before.
    send(adt_msg(
        "A02",
        "T4",
        mrn4,
        "RESP^BAY1^B2",
        at + Span::hours(6),
    ))
    .await
    .unwrap();
    assert_eq!(bed_of(&db, mrn4).await.as_deref(), Some("RESP-BAY1-B2"));
    send(adt_msg(
        "A03",
        "T5",
        mrn4,
        "RESP^BAY1^B2",
        at + Span::hours(7),
    ))
    .await
    .unwrap();
    assert!(!adt::occupied_beds(&db)
        .await
        .unwrap()
        .iter()
        .any(|(b, _)| b == "RESP-BAY1-B2"));

    // 5. Registered (A04, inpatient) into a ward without a bed: handed over like an A01.
    let mrn5 = "M5510005";
    taken(&rec.calls);
    let (code, _) = send(adt_msg("A04", "R1", mrn5, "ORTH^^", at))
        .await
        .unwrap();
    assert_eq!(code, AckCode::Accept);
    let w5 = format!(
        "admission-{}",
        adt::workflow_admission_id("PAS^GENERAL", "R1")
    );
    assert_eq!(
        taken(&rec.calls),
        vec![format!("start {w5} for {}", &w5[10..])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_steps_on_sqlite() {
    let (dir, db) = careflow_testkit::db::sqlite().await;
    run(db, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_steps_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let db = careflow_testkit::db::postgres().await;
    run(db, dir.path()).await;
}
