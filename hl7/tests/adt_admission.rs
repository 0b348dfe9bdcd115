//! Admits the feed hands to careflow's admission workflow, against the official Temporal
//! test server, a careflow worker and a real SQLite store, over MLLP on a socket:
//!
//! - an A01 into a managed ward without a bed starts the admission workflow (workflow id
//!   from the sender and MSH-10 only), is acknowledged AA once it runs, and a resend
//!   starts nothing more; the workflow's bed is the stay's, so the sender's discharge
//!   frees it; no identifier or name reaches Temporal;
//! - an A01 into a bed careflow holds for another admission leaves the hold alone,
//!   records the patient on the ward and asks the bed manager (a task naming the held
//!   bed and its holder) before the new admission gets a bed.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use serde_json::json;
use temporalio_client::{
    Client, UntypedWorkflow, WorkflowExecuteUpdateOptions, WorkflowFetchHistoryOptions,
};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use careflow_dashboards::workflows::{AdtAdmissions, Decide};
use careflow_hl7::{Hl7Service, LocationMap};
use careflow_store::{adt, audit, hospital, tasks, users, Db};
use careflow_types::{AdmissionKind, AdmissionRequest, AgeGroup, Decision, Role, Sex, TASK_QUEUE};

/// One MLLP exchange on `stream`: the frame out, the ACK back (MSA-1, whole ACK).
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    msg: &str,
) -> (String, String) {
    let mut frame = vec![0x0b];
    frame.extend_from_slice(msg.as_bytes());
    frame.extend_from_slice(&[0x1c, 0x0d]);
    stream.write_all(&frame).await.expect("send");
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut byte))
            .await
            .expect("an ACK within 60 s")
            .expect("read");
        assert!(n > 0, "the listener closed the connection without an ACK");
        buf.push(byte[0]);
        if buf.ends_with(&[0x1c, 0x0d]) {
            break;
        }
    }
    let ack = String::from_utf8_lossy(&buf[1..buf.len() - 2]).into_owned();
    let msa = ack
        .split('\r')
        .find(|s| s.starts_with("MSA|"))
        .expect("an MSA segment")
        .split('|')
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (msa, ack)
}

const SURNAME: &str = "QUILLFEATHER";
const REASON: &str = "the held bed stays with its admission; the proposed bed is free";

/// An A01 from PAS^GENERAL with control id `ctrl` for `mrn`; `pv1_3` as sent.
fn a01(ctrl: &str, mrn: &str, pv1_3: &str, sex: &str, at: DateTime<Utc>) -> String {
    let t = at.format("%Y%m%d%H%M%S");
    let pv2 = (at + Span::days(4)).format("%Y%m%d%H%M");
    format!(
        "MSH|^~\\&|PAS|GENERAL|CAREFLOW|CAREFLOW|{t}||ADT^A01|{ctrl}|P|2.5.1\r\
         EVN|A01|{t}\r\
         PID|1||{mrn}^^^GENERAL^MR||{SURNAME}^ISOLDE||19600412|{sex}|||1 PRIVET LANE^^LEEDS\r\
         PV1|1|I|{pv1_3}\r\
         PV2|||||||||{pv2}\r"
    )
}

fn a03(ctrl: &str, mrn: &str, pv1_3: &str, at: DateTime<Utc>) -> String {
    let t = at.format("%Y%m%d%H%M%S");
    format!(
        "MSH|^~\\&|PAS|GENERAL|CAREFLOW|CAREFLOW|{t}||ADT^A03|{ctrl}|P|2.5.1\r\
         EVN|A03|{t}\r\
         PID|1||{mrn}^^^GENERAL^MR||{SURNAME}^ISOLDE||19600412|F\r\
         PV1|1|I|{pv1_3}\r"
    )
}

/// The demo hospital and a location map in the sender's codes (CARDA^BAY1^B2 for
/// careflow's CARD-A-BAY1-B2).
async fn hospital_and_map(dir: &std::path::Path, db: &Db) -> LocationMap {
    hospital::seed_layout(db, &hospital::demo_layout())
        .await
        .expect("seed");
    let places = hospital::site_places(db).await.expect("places");
    let code = |bed: &str| {
        let mut parts: Vec<&str> = bed.rsplitn(3, '-').collect();
        parts.reverse();
        (
            parts[0].replace('-', ""),
            parts[1].to_owned(),
            parts[2].to_owned(),
        )
    };
    let file = json!({
        "wards": places.wards.iter().map(|(w, _)| json!({"point_of_care": w.replace('-', ""), "ward_id": w})).collect::<Vec<_>>(),
        "beds": places.beds.iter().map(|b| {
            let (p, r, n) = code(&b.bed_id);
            json!({"point_of_care": p, "room": r, "bed": n, "bed_id": b.bed_id})
        }).collect::<Vec<_>>(),
    });
    let path = dir.join("locations.json");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    LocationMap::load(&path, db).await.expect("map")
}

/// One test's world: the official Temporal test server, a SQLite store with the demo
/// hospital and its location map, and the listener with the admission workflow at hand
/// (stopped when the scene drops).
struct Scene {
    _server: careflow_testkit::temporal::TestServer,
    client: Client,
    _dir: tempfile::TempDir,
    db: Db,
    port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Scene {
    async fn start() -> Self {
        let (server, client) = careflow_testkit::temporal::start_test_server().await;
        let (dir, db) = careflow_testkit::db::sqlite().await;
        let map = hospital_and_map(dir.path(), &db).await;
        let (port, stop) = listen(&db, map, &client).await;
        Self {
            _server: server,
            client,
            _dir: dir,
            db,
            port,
            _stop: stop,
        }
    }
}

/// An admission in progress (`holder`, another patient) holds `bed` on a cardiology
/// ward: its bed search's hold.
async fn hold(db: &Db, bed: &str, holder: &str) {
    let mut tx = db.begin_write().await.unwrap();
    let request = AdmissionRequest {
        patient_ref: "PK-someone-else".into(),
        kind: AdmissionKind::Elective,
        sex: Sex::Male,
        age_group: AgeGroup::Adult,
        specialty: "cardiology".into(),
        isolation: false,
        expected_los_days: 2,
        requested_by: "clerk.ana".into(),
    };
    hospital::hold_bed(&mut tx, holder, Some(bed), &request)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Runs `body` with a careflow worker polling the main task queue (in this task: the
/// worker's future is not Send).
async fn with_worker<F: Future>(client: &Client, db: &Db, body: F) -> F::Output {
    let runtime = Runtime::from_current_tokio(Default::default()).expect("runtime");
    let mut opts = WorkerOptions::new(TASK_QUEUE).build();
    careflow_workflows::register(&mut opts, db.clone(), std::env::temp_dir()).expect("register");
    let mut worker = Worker::new(&runtime, client.clone(), opts).expect("worker");
    let stop = worker.shutdown_handle();
    let run = worker.run();
    tokio::pin!(run);
    tokio::pin!(body);
    let out = tokio::select! {
        r = &mut run => panic!("worker stopped early: {r:?}"),
        out = &mut body => out,
    };
    stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), run).await;
    out
}

/// The listener with the admission workflow at hand, on a free port.
async fn listen(
    db: &Db,
    map: LocationMap,
    client: &Client,
) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service =
        Hl7Service::new(db.clone(), map).with_admissions(Arc::new(AdtAdmissions(client.clone())));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service.serve(listener, async {
        let _ = stopped.await;
    }));
    (port, stop)
}

async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(v) = probe().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 60 s");
}

async fn history_json(client: &Client, workflow_id: &str) -> String {
    let json = client
        .get_workflow_handle::<UntypedWorkflow>(workflow_id.to_owned())
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await
        .expect("history");
    // Payloads are base64 in the history's JSON: decode every `data` field.
    fn walk(v: &serde_json::Value, out: &mut String) {
        use base64::Engine;
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if let (true, Some(text)) = (k == "data", x.as_str()) {
                        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text) {
                            out.push_str(&String::from_utf8_lossy(&bytes));
                            out.push('\n');
                        }
                    }
                    walk(x, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = String::from_utf8_lossy(&json).into_owned();
    let parsed: serde_json::Value = serde_json::from_slice(&json).expect("history JSON");
    walk(&parsed, &mut out);
    out
}

async fn count(db: &Db, sql: &str, bind: &str) -> i64 {
    use sqlx::Row;
    sqlx::query(sql)
        .bind(bind.to_owned())
        .fetch_one(db.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get::<i64, _>("n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admit_without_a_bed_starts_the_admission_workflow_once() {
    let scene = Scene::start().await;
    let (client, db, port) = (scene.client.clone(), scene.db.clone(), scene.port);
    let at = Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, 0).unwrap();
    let mrn = "M7310042";
    with_worker(&client, &db, async {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        // PID-8 missing: the workflow needs the sex for same-sex bays; AE at PID-8.
        let (code, ack) = exchange(&mut conn, &a01("NB0", "M7310099", "CARDA^^", "", at)).await;
        assert_eq!(code, "AE", "{ack}");
        assert!(ack.contains("PID^1^8"), "{ack}");

        let msg = a01("NB1", mrn, "CARDA^^", "F", at);
        let (code, ack) = exchange(&mut conn, &msg).await;
        assert_eq!(code, "AA", "{ack}");
        let admission_id = adt::workflow_admission_id("PAS^GENERAL", "NB1");
        let workflow_id = format!("admission-{admission_id}");
        // The workflow chooses a bed on a cardiology ward; the stay is in it.
        let key = adt::patient_key_of(&db, mrn)
            .await
            .unwrap()
            .expect("registered");
        let bed = wait_for("the workflow's bed", || async {
            adt::census(&db)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.patient_key == key)
                .and_then(|r| r.bed_id)
        })
        .await;
        assert!(bed.starts_with("CARD-"), "{bed}");
        assert!(adt::occupied_beds(&db)
            .await
            .unwrap()
            .contains(&(bed.clone(), key.clone())));
        // A resend: acknowledged again, nothing started or assigned twice.
        let (code, _) = exchange(&mut conn, &msg).await;
        assert_eq!(code, "AA");
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM bed_assignments WHERE admission_id = $1",
                &admission_id
            )
            .await,
            1
        );
        let actions: Vec<String> = audit::entries_for_workflow(&db, &workflow_id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions
                .iter()
                .filter(|a| *a == "admission.requested")
                .count(),
            1,
            "{actions:?}"
        );
        assert!(
            actions.contains(&"admission.bed_assigned".to_owned()),
            "{actions:?}"
        );
        // Temporal holds the pseudonym only: no identifier, name or address.
        let history = history_json(&client, &workflow_id).await;
        assert!(history.contains(&key), "the workflow admits the pseudonym");
        for secret in [mrn, SURNAME, "ISOLDE", "PRIVET", "19600412"] {
            assert!(!history.contains(secret), "{secret} reached Temporal");
            assert!(!workflow_id.contains(secret));
        }
        // The sender's discharge frees the bed the workflow gave the stay.
        let (code, ack) =
            exchange(&mut conn, &a03("NB2", mrn, "CARDA^^", at + Span::hours(30))).await;
        assert_eq!(code, "AA", "{ack}");
        assert!(!adt::occupied_beds(&db)
            .await
            .unwrap()
            .iter()
            .any(|(b, _)| *b == bed));
        let row = adt::census(&db)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.patient_key == key)
            .unwrap();
        assert_eq!((row.status.as_str(), row.bed_id), ("discharged", None));

        // From the emergency department (registered in a chair) to a ward without a bed:
        // the ED attendance ends, the inpatient stay is the workflow's and gets its bed.
        let ed_mrn = "M7310055";
        let a04 = a01("ED1", ed_mrn, "ED^^CHAIR1", "M", at + Span::hours(1))
            .replace("ADT^A01", "ADT^A04")
            .replace("EVN|A01", "EVN|A04")
            .replace("PV1|1|I|", "PV1|1|E|");
        let (code, ack) = exchange(&mut conn, &a04).await;
        assert_eq!(code, "AA", "{ack}");
        let (code, ack) = exchange(
            &mut conn,
            &a01("ED2", ed_mrn, "CARDA^^", "M", at + Span::hours(3)),
        )
        .await;
        assert_eq!(code, "AA", "{ack}");
        let ed_key = adt::patient_key_of(&db, ed_mrn).await.unwrap().unwrap();
        let ed_bed = wait_for("the ED patient's bed", || async {
            adt::census(&db)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.patient_key == ed_key)
                .and_then(|r| r.bed_id)
        })
        .await;
        assert!(ed_bed.starts_with("CARD-"), "{ed_bed}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admit_into_a_held_bed_leaves_the_hold_and_asks_the_bed_manager() {
    let scene = Scene::start().await;
    let (client, db, port) = (scene.client.clone(), scene.db.clone(), scene.port);
    users::upsert_with_password(
        &db,
        "beds.ben",
        Role::BedManager,
        Some("ben's password"),
        "test",
    )
    .await
    .unwrap();
    // An admission in progress holds CARD-A-BAY1-B1 (its bed search's hold).
    let held = "CARD-A-BAY1-B1";
    let holder = "admission-in-progress-1";
    hold(&db, held, holder).await;
    let at = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
    let mrn = "M7310077";
    with_worker(&client, &db, async {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (code, ack) = exchange(&mut conn, &a01("HB1", mrn, "CARDA^BAY1^B1", "M", at)).await;
        assert_eq!(code, "AA", "{ack}");
        let admission_id = adt::workflow_admission_id("PAS^GENERAL", "HB1");
        let workflow_id = format!("admission-{admission_id}");
        // The hold stands; the patient is on the ward without a bed yet.
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM bed_holds WHERE workflow_id = $1",
                holder
            )
            .await,
            1
        );
        let key = adt::patient_key_of(&db, mrn).await.unwrap().unwrap();
        let row = adt::census(&db)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.patient_key == key)
            .unwrap();
        assert_eq!((row.status.as_str(), row.bed_id), ("admitted", None));
        // The bed manager is asked, told of the held bed and its holder.
        let task = wait_for("the bed manager's task", || async {
            tasks::open_for_role(&db, Role::BedManager)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.workflow_id == workflow_id)
        })
        .await;
        assert!(
            task.summary.contains(held) && task.summary.contains(holder),
            "{}",
            task.summary
        );
        assert!(!task.summary.contains(mrn) && !task.summary.contains(SURNAME));
        let proposed = task.proposed_bed.clone().expect("a bed is proposed");
        assert_ne!(proposed, held);
        // The bed manager approves the proposal (signed, as the API does).
        tasks::claim(&db, &task.task_id, "beds.ben", Role::BedManager)
            .await
            .unwrap();
        let signature =
            tasks::sign_decision(&db, &task, "beds.ben", "ben's password", true, REASON, None)
                .await
                .unwrap();
        client
            .get_workflow_handle::<UntypedWorkflow>(workflow_id.clone())
            .execute_update(
                Decide::<UntypedWorkflow>::new(),
                Decision {
                    task_id: task.task_id.clone(),
                    approve: true,
                    actor: "beds.ben".into(),
                    role: Role::BedManager,
                    reason: REASON.into(),
                    bed_id: None,
                    signature_id: Some(signature.signature_id),
                },
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
            .expect("decision accepted");
        let bed = wait_for("the approved bed", || async {
            adt::census(&db)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.patient_key == key)
                .and_then(|r| r.bed_id)
        })
        .await;
        assert_eq!(bed, proposed);
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM bed_holds WHERE workflow_id = $1",
                holder
            )
            .await,
            1,
            "the other admission keeps its bed"
        );
    })
    .await;
}

/// `a01` with another trigger (A02, A11, A12, A13).
fn as_trigger(msg: &str, trigger: &str) -> String {
    msg.replace("ADT^A01", &format!("ADT^{trigger}"))
        .replace("EVN|A01", &format!("EVN|{trigger}"))
}

async fn wait_closed(db: &Db, workflow_id: &str) {
    wait_for("the workflow's clean-up", || async {
        audit::entries_for_workflow(db, workflow_id)
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "admission.cancelled")
            .then_some(())
    })
    .await;
}

async fn status_of(db: &Db, admission_id: &str) -> String {
    use sqlx::Row;
    sqlx::query("SELECT status FROM admissions WHERE admission_id = $1")
        .bind(admission_id)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get("status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_senders_discharge_or_cancel_cancels_a_waiting_admission_workflow() {
    let scene = Scene::start().await;
    let (client, db, port) = (scene.client.clone(), scene.db.clone(), scene.port);
    // An admission in progress holds CARD-A-BAY1-B1: admits into it wait for the bed
    // manager.
    let held = "CARD-A-BAY1-B1";
    hold(&db, held, "admission-in-progress-2").await;
    let at = Utc.with_ymd_and_hms(2026, 12, 3, 11, 0, 0).unwrap();
    with_worker(&client, &db, async {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        for (n, (mrn, trigger, status)) in [
            ("M7320001", "A03", "discharged"),
            ("M7320002", "A11", "cancelled"),
        ]
        .into_iter()
        .enumerate()
        {
            let admit = a01(&format!("CX{n}1"), mrn, "CARDA^BAY1^B1", "M", at);
            let (code, ack) = exchange(&mut conn, &admit).await;
            assert_eq!(code, "AA", "{ack}");
            let admission_id = adt::workflow_admission_id("PAS^GENERAL", &format!("CX{n}1"));
            let workflow_id = format!("admission-{admission_id}");
            let task = wait_for("the bed manager's task", || async {
                tasks::open_for_role(&db, Role::BedManager)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|t| t.workflow_id == workflow_id)
            })
            .await;
            // The sender ends the stay while the workflow waits for the bed manager.
            let end = as_trigger(
                &a01(
                    &format!("CX{n}2"),
                    mrn,
                    "CARDA^BAY1^B1",
                    "M",
                    at + Span::hours(1),
                ),
                trigger,
            );
            let (code, ack) = exchange(&mut conn, &end).await;
            assert_eq!(code, "AA", "{ack}");
            wait_closed(&db, &workflow_id).await;
            // The workflow's clean-up kept the feed's status, closed the task and let
            // go of the bed it held.
            assert_eq!(status_of(&db, &admission_id).await, status);
            assert!(!tasks::open_for_role(&db, Role::BedManager)
                .await
                .unwrap()
                .iter()
                .any(|t| t.task_id == task.task_id));
            assert_eq!(
                count(
                    &db,
                    "SELECT COUNT(*) AS n FROM bed_holds WHERE workflow_id = $1",
                    &workflow_id
                )
                .await,
                0
            );
            let history = history_json(&client, &workflow_id).await;
            assert!(
                history.contains(&format!("HL7 ADT {trigger}")),
                "the cancel names its trigger"
            );
            // Cancelled through Temporal (its cancel request in the history), then ended as
            // cancelled by its own clean-up.
            assert!(
                history
                    .to_lowercase()
                    .contains("workflowexecutioncancelrequested"),
                "a cancel request in the history"
            );
            for secret in [mrn, SURNAME, "ISOLDE", "PRIVET", "19600412"] {
                assert!(!history.contains(secret), "{secret} reached Temporal");
            }
            // A resend: acknowledged again (the workflow has finished).
            let (code, ack) = exchange(&mut conn, &end).await;
            assert_eq!(code, "AA", "{ack}");
        }
        // The discharge is cancelled: the stay is on its ward again and a new workflow
        // (the A13's id) chooses its bed.
        let mrn = "M7320001";
        let a13 = as_trigger(
            &a01("CX03", mrn, "CARDA^^", "M", at + Span::hours(2)),
            "A13",
        );
        let (code, ack) = exchange(&mut conn, &a13).await;
        assert_eq!(code, "AA", "{ack}");
        let key = adt::patient_key_of(&db, mrn).await.unwrap().unwrap();
        let bed = wait_for("the reopened stay's bed", || async {
            adt::census(&db)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.patient_key == key)
                .and_then(|r| r.bed_id)
        })
        .await;
        assert!(bed.starts_with("CARD-"), "{bed}");
        let stay = adt::workflow_admission_id("PAS^GENERAL", "CX01");
        assert_eq!(status_of(&db, &stay).await, "admitted");
        let w2 = format!(
            "admission-{}",
            adt::workflow_admission_id("PAS^GENERAL", "CX03")
        );
        assert!(audit::entries_for_workflow(&db, &w2)
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "admission.bed_assigned"));

        // In a bed the sender named, transferred to a ward without a bed: the old bed
        // is freed and a workflow places the patient on the new ward; the transfer
        // cancelled, the patient is back in the old bed and the new one is free.
        let mrn = "M7320003";
        let (code, ack) = exchange(&mut conn, &a01("TX1", mrn, "CARDA^BAY2^B1", "F", at)).await;
        assert_eq!(code, "AA", "{ack}");
        let key = adt::patient_key_of(&db, mrn).await.unwrap().unwrap();
        let a02 = as_trigger(&a01("TX2", mrn, "RESP^^", "F", at + Span::hours(3)), "A02");
        let (code, ack) = exchange(&mut conn, &a02).await;
        assert_eq!(code, "AA", "{ack}");
        let new_bed = wait_for("the bed on the new ward", || async {
            adt::census(&db)
                .await
                .unwrap()
                .into_iter()
                .find(|r| r.patient_key == key)
                .and_then(|r| r.bed_id)
                .filter(|b| b.starts_with("RESP-"))
        })
        .await;
        let occupied = adt::occupied_beds(&db).await.unwrap();
        assert!(!occupied.iter().any(|(b, _)| b == "CARD-A-BAY2-B1"));
        let (code, _) = exchange(&mut conn, &a02).await;
        assert_eq!(code, "AA");
        let a12 = as_trigger(
            &a01("TX3", mrn, "CARDA^BAY2^B1", "F", at + Span::hours(4)),
            "A12",
        );
        let (code, ack) = exchange(&mut conn, &a12).await;
        assert_eq!(code, "AA", "{ack}");
        let occupied = adt::occupied_beds(&db).await.unwrap();
        assert!(occupied.contains(&("CARD-A-BAY2-B1".to_owned(), key.clone())));
        assert!(!occupied.iter().any(|(b, _)| *b == new_bed));
    })
    .await;
}
