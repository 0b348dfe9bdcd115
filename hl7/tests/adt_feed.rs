//! A generated day of ADT sent by an independent sender (PyPI `hl7`'s MLLP client)
//! to the listener on a real SQLite store: resends, reordering, cancels, a malformed
//! message, contradictions, a connection dropped mid-message, LF and CRLF segment ends,
//! ISO 8859-1 and escape sequences. Afterwards the census equals the one the generator
//! expects (computed by the generator itself, not by careflow), ED arrivals per hour
//! match, and no name, address, phone or identifier appears in the audit trail.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use careflow_hl7::{Hl7Service, LocationMap};
use careflow_store::{adt, audit, hospital, Db};

/// A small deterministic generator (no dependency on a RNG crate's stream).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Where {
    Bed(String),
    Elsewhere(String),
    Discharged,
    Cancelled,
}

struct Patient {
    mrn: String,
    /// A national number, a second repeat of PID-3 (careflow keys on the MR one).
    national: String,
    name: String,
    address: String,
    phone: String,
    sex: &'static str,
    dob: String,
}

struct Day {
    rng: Lcg,
    patients: Vec<Patient>,
    at: BTreeMap<usize, Where>,
    msgs: Vec<Step>,
    ctrl: u32,
    ed_by_hour: BTreeMap<String, i64>,
    bed_codes: BTreeMap<String, String>, // careflow bed id -> PV1-3
}

#[derive(Clone)]
struct Step {
    text: String,
    encoding: &'static str,
    cut: Option<usize>,
    expect: &'static str,
    /// For AE/AR: the ERR position text the ACK must carry.
    err_has: &'static [&'static str],
}

const VERSIONS: [&str; 8] = ["2.2", "2.3", "2.3.1", "2.4", "2.5.1", "2.6", "2.7", "2.8"];
const SURNAMES: [&str; 8] = [
    "ZWEIFEL",
    "QUARTERMAINE",
    "OKONKWO",
    "VASQUEZ",
    "LINDQVIST",
    "HALLORAN",
    "BRIGHTWATER",
    "NAKAJIMA",
];
const GIVEN: [&str; 6] = [
    "PERPETUA", "ALGERNON", "MARISOL", "TOBIAS", "IFEOMA", "SVEA",
];

impl Day {
    fn patient(&mut self) -> usize {
        let i = self.patients.len();
        let r = self.rng.next(1000);
        self.patients.push(Patient {
            mrn: format!("M{:07}", 4_200_000 + i * 7 + (r as usize % 7)),
            national: format!("94{:08}", 31_000_000 + i * 13),
            name: format!(
                "{}{}^{}",
                SURNAMES[i % SURNAMES.len()],
                i,
                GIVEN[(r as usize) % GIVEN.len()]
            ),
            address: format!(
                "{} ELMSTEAD CRESCENT^^NORTHWICK^^NW{} {}QZ",
                10 + i,
                i % 9,
                i % 7
            ),
            phone: format!("0755501{:04}", 1000 + i),
            sex: if r % 2 == 0 { "F" } else { "M" },
            dob: format!("19{:02}0{}1{}", 30 + (r % 60), 1 + r % 9, r % 10),
        });
        i
    }

    /// An ADT message for patient `p`. `pv1_3` is PV1-3 as sent; `extra_pv2` sets PV2-9.
    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        trigger: &str,
        at: DateTime<Utc>,
        p: usize,
        class: &str,
        pv1_3: &str,
        pv2_9: Option<DateTime<Utc>>,
        charset: &str,
    ) -> String {
        self.ctrl += 1;
        let v = VERSIONS[self.ctrl as usize % VERSIONS.len()];
        let t = at.format("%Y%m%d%H%M%S");
        let pt = &self.patients[p];
        let mut s = format!(
            "MSH|^~\\&|PAS|GENERAL|CAREFLOW|CAREFLOW|{t}||ADT^{trigger}|C{:05}|P|{v}||||||{charset}\r\
             EVN|{trigger}|{t}\r\
             PID|1||{}^^^NHS^NH~{}^^^GENERAL^MR||{}||{}|{}|||{}||{}\r\
             PV1|1|{class}|{pv1_3}\r",
            self.ctrl, pt.national, pt.mrn, pt.name, pt.dob, pt.sex, pt.address, pt.phone
        );
        if let Some(d) = pv2_9 {
            s.push_str(&format!("PV2|||||||||{}\r", d.format("%Y%m%d%H%M")));
        }
        s
    }

    fn send(&mut self, text: String) {
        self.msgs.push(Step {
            text,
            encoding: "utf-8",
            cut: None,
            expect: "AA",
            err_has: &[],
        });
    }

    fn free_beds(&self, pool: &[String]) -> Vec<String> {
        let taken: BTreeSet<&String> = self
            .at
            .values()
            .filter_map(|w| match w {
                Where::Bed(b) => Some(b),
                _ => None,
            })
            .collect();
        pool.iter()
            .filter(|b| !taken.contains(b))
            .cloned()
            .collect()
    }
}

fn code_of(bed_id: &str) -> String {
    // CARD-A-BAY1-B2 -> CARDA^BAY1^B2 (the sender's own codes differ from careflow's).
    let mut parts: Vec<&str> = bed_id.rsplitn(3, '-').collect();
    parts.reverse();
    format!("{}^{}^{}", parts[0].replace('-', ""), parts[1], parts[2])
}

fn run_sender(port: u16, steps: &[Step], dir: &std::path::Path) -> Vec<Value> {
    let plan: Vec<Value> = steps
        .iter()
        .map(|s| json!({"text": s.text, "encoding": s.encoding, "cut": s.cut}))
        .collect();
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, serde_json::to_vec(&plan).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mllp_client.py");
    let out = Command::new(careflow_testkit::paths::tool("python"))
        .arg(script)
        .arg(port.to_string())
        .arg(&plan_path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the python-hl7 sender failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the sender prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_adt_through_python_hl7_keeps_the_census_true_sqlite() {
    let (dir, db) = careflow_testkit::db::sqlite().await;
    let db_file = dir.path().join("careflow.db");
    day_of_adt(db, dir.path(), Some(&db_file)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_adt_through_python_hl7_keeps_the_census_true_postgres() {
    let db = careflow_testkit::db::postgres().await;
    let dir = tempfile::tempdir().unwrap();
    day_of_adt(db, dir.path(), None).await;
}

/// The day against `db`; `db_file`: the SQLite file whose bytes (and WAL) must hold no
/// name, address, phone or national number.
async fn day_of_adt(db: Db, dir: &std::path::Path, db_file: Option<&std::path::Path>) {
    hospital::seed_layout(&db, &hospital::demo_layout())
        .await
        .unwrap();
    let places = hospital::site_places(&db).await.unwrap();
    let all_beds: Vec<String> = places.beds.iter().map(|b| b.bed_id.clone()).collect();
    // The location map file, in the sender's codes.
    let file = json!({
        "wards": places.wards.iter().map(|(w, _)| json!({"point_of_care": w.replace('-', ""), "ward_id": w})).collect::<Vec<_>>(),
        "beds": all_beds.iter().map(|b| {
            let c = code_of(b);
            let p: Vec<&str> = c.split('^').collect();
            json!({"point_of_care": p[0], "room": p[1], "bed": p[2], "bed_id": b})
        }).collect::<Vec<_>>(),
    });
    let map_path = dir.join("locations.json");
    std::fs::write(&map_path, serde_json::to_vec_pretty(&file).unwrap()).unwrap();
    let map = LocationMap::load(&map_path, &db).await.unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = Hl7Service::new(db.clone(), map);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service.serve(listener, async {
        let _ = stopped.await;
    }));

    // Reserved beds for the scripted cases; the random day uses the others.
    let reserved: Vec<String> = all_beds.iter().rev().take(12).cloned().collect();
    let pool: Vec<String> = all_beds
        .iter()
        .filter(|b| !reserved.contains(b))
        .cloned()
        .collect();
    let mut day = Day {
        rng: Lcg(2026),
        patients: Vec::new(),
        at: BTreeMap::new(),
        msgs: Vec::new(),
        ctrl: 0,
        ed_by_hour: BTreeMap::new(),
        bed_codes: all_beds.iter().map(|b| (b.clone(), code_of(b))).collect(),
    };
    let start = Utc.with_ymd_and_hms(2026, 12, 3, 0, 0, 0).unwrap();
    let mut t = start;
    for _ in 0..220 {
        t += Duration::minutes(2 + day.rng.next(8) as i64);
        let in_bed: Vec<usize> = day
            .at
            .iter()
            .filter(|(_, w)| matches!(w, Where::Bed(_)))
            .map(|(p, _)| *p)
            .collect();
        let in_ed: Vec<usize> = day
            .at
            .iter()
            .filter(|(_, w)| matches!(w, Where::Elsewhere(e) if e == "ED"))
            .map(|(p, _)| *p)
            .collect();
        let free = day.free_beds(&pool);
        match day.rng.next(10) {
            0..=2 => {
                let p = day.patient();
                let m = day.message("A04", t, p, "E", "ED^^CHAIR3", None, "");
                day.send(m);
                day.at.insert(p, Where::Elsewhere("ED".into()));
                *day.ed_by_hour
                    .entry(t.format("%Y-%m-%dT%H:00:00Z").to_string())
                    .or_default() += 1;
            }
            3 | 4 if !free.is_empty() => {
                let bed = free[day.rng.next(free.len() as u64) as usize].clone();
                let code = day.bed_codes[&bed].clone();
                let (p, class) = if !in_ed.is_empty() && day.rng.next(2) == 0 {
                    (in_ed[day.rng.next(in_ed.len() as u64) as usize], "E")
                } else {
                    (day.patient(), "I")
                };
                let m = day.message("A01", t, p, class, &code, None, "");
                day.send(m);
                day.at.insert(p, Where::Bed(bed));
            }
            5 if !free.is_empty() && !in_bed.is_empty() => {
                let p = in_bed[day.rng.next(in_bed.len() as u64) as usize];
                let bed = free[day.rng.next(free.len() as u64) as usize].clone();
                let code = day.bed_codes[&bed].clone();
                let m = day.message("A02", t, p, "I", &code, None, "");
                day.send(m);
                day.at.insert(p, Where::Bed(bed));
            }
            6 | 7 if !in_bed.is_empty() || !in_ed.is_empty() => {
                let both: Vec<usize> = in_bed.iter().chain(&in_ed).copied().collect();
                let p = both[day.rng.next(both.len() as u64) as usize];
                let pv1_3 = match &day.at[&p] {
                    Where::Bed(b) => day.bed_codes[b].clone(),
                    _ => "ED^^CHAIR3".into(),
                };
                let m = day.message("A03", t, p, "I", &pv1_3, None, "");
                day.send(m);
                day.at.insert(p, Where::Discharged);
            }
            _ if !in_bed.is_empty() => {
                let p = in_bed[day.rng.next(in_bed.len() as u64) as usize];
                let Where::Bed(b) = day.at[&p].clone() else {
                    unreachable!()
                };
                let code = day.bed_codes[&b].clone();
                let m = day.message("A08", t, p, "I", &code, Some(t + Duration::days(3)), "");
                day.send(m);
            }
            _ => {}
        }
    }
    let random_day = day.msgs.len();
    let code = |i: usize| day_code(&reserved[i]);
    fn day_code(b: &str) -> String {
        code_of(b)
    }
    let h = |n: i64| start + Duration::hours(20) + Duration::minutes(n);

    // Reordered transfers: the later transfer arrives first; the earlier one must not
    // undo it.
    let x = day.patient();
    let a = day.message("A01", h(0), x, "I", &code(0), None, "");
    let b = day.message("A02", h(10), x, "I", &code(1), None, "");
    let c = day.message("A02", h(20), x, "I", &code(2), None, "");
    day.send(a);
    day.send(c);
    day.send(b);
    day.at.insert(x, Where::Bed(reserved[2].clone()));
    // A discharge that overtakes the transfer before it.
    let y = day.patient();
    let a = day.message("A01", h(1), y, "I", &code(3), None, "");
    let b = day.message("A02", h(11), y, "I", &code(4), None, "");
    let c = day.message("A03", h(21), y, "I", &code(4), None, "");
    day.send(a);
    day.send(c);
    day.send(b);
    day.at.insert(y, Where::Discharged);
    // Cancel admit; cancel transfer (LF segment ends); cancel discharge (CRLF ends).
    let z = day.patient();
    let a = day.message("A01", h(2), z, "I", &code(5), None, "");
    let b = day.message("A11", h(12), z, "I", &code(5), None, "");
    day.send(a);
    day.send(b);
    day.at.insert(z, Where::Cancelled);
    let w = day.patient();
    for (trig, m, bed) in [("A01", 3, 6), ("A02", 13, 7), ("A12", 23, 6)] {
        let msg = day.message(trig, h(m), w, "I", &code(bed), None, "");
        day.send(msg.replace('\r', "\n"));
    }
    day.at.insert(w, Where::Bed(reserved[6].clone()));
    let v = day.patient();
    for (trig, m) in [("A01", 4), ("A03", 14), ("A13", 24)] {
        let msg = day.message(trig, h(m), v, "I", &code(8), None, "");
        day.send(msg.replace('\r', "\r\n"));
    }
    day.at.insert(v, Where::Bed(reserved[8].clone()));
    // ISO 8859-1 (MSH-18) with a name outside ASCII.
    let u = day.patient();
    day.patients[u].name = "MÜLLER-STRAßBURGER^JÖRG".into();
    let m = day.message("A01", h(5), u, "I", &code(9), None, "8859/1");
    day.msgs.push(Step {
        text: m,
        encoding: "latin-1",
        cut: None,
        expect: "AA",
        err_has: &[],
    });
    day.at.insert(u, Where::Bed(reserved[9].clone()));
    // An escaped field separator in a point of care careflow does not manage.
    let e = day.patient();
    let m = day.message("A04", h(6), e, "O", "CLINIC\\F\\2^^", None, "");
    day.send(m);
    day.at.insert(e, Where::Elsewhere("CLINIC|2".into()));
    // A connection dropped mid-message, then the whole message on the client's connection.
    let d = day.patient();
    let m = day.message("A01", h(7), d, "I", &code(10), None, "");
    day.msgs.push(Step {
        text: m.clone(),
        encoding: "utf-8",
        cut: Some(m.len() / 2),
        expect: "",
        err_has: &[],
    });
    day.send(m);
    day.at.insert(d, Where::Bed(reserved[10].clone()));
    // Resends of messages already applied (some long since overtaken).
    for i in [0, 5, 17, random_day / 2, random_day - 1] {
        let again = day.msgs[i].clone();
        day.msgs.push(again);
    }
    // Contradictions: AE with the position.
    let occupied = day
        .at
        .values()
        .find_map(|w| match w {
            Where::Bed(b) if pool.contains(b) => Some(b.clone()),
            _ => None,
        })
        .expect("the day leaves someone in a bed");
    let k = day.patient();
    let m = day.message("A01", h(30), k, "I", &day_code(&occupied), None, "");
    day.msgs.push(Step {
        text: m,
        encoding: "utf-8",
        cut: None,
        expect: "AE",
        // HL7 table 0357: 206, application record locked (the bed is taken).
        err_has: &["PV1^1^3", "206^Application record locked"],
    });
    let j = day.patient();
    let m = day.message("A03", h(31), j, "I", "ED^^CHAIR1", None, "");
    day.msgs.push(Step {
        text: m,
        encoding: "utf-8",
        cut: None,
        expect: "AE",
        // 0357: 204, unknown key identifier (no open stay to discharge).
        err_has: &["PID^1^3", "204^Unknown key identifier"],
    });
    let q = day.patient();
    let m = day.message("A01", h(32), q, "I", &code(11), None, "");
    let pid3 = format!(
        "{}^^^NHS^NH~{}^^^GENERAL^MR",
        day.patients[q].national, day.patients[q].mrn
    );
    let no_pid3 = m.replace(&pid3, "");
    day.msgs.push(Step {
        text: no_pid3,
        encoding: "utf-8",
        cut: None,
        expect: "AE",
        err_has: &["PID^1^3", "101"],
    });
    let no_bed = day.message("A01", h(33), q, "I", "CARDA^^", None, "");
    day.msgs.push(Step {
        text: no_bed,
        encoding: "utf-8",
        cut: None,
        expect: "AE",
        err_has: &["PV1^1^3"],
    });
    // Malformed: AR.
    day.msgs.push(Step {
        text: "this is not an HL7 message\r".into(),
        encoding: "utf-8",
        cut: None,
        expect: "AR",
        err_has: &["MSH^1^0", "100"],
    });
    let m = day.message("A01", h(34), q, "I", &code(11), None, "");
    day.msgs.push(Step {
        text: m.replace("|P|2.", "|P|3."),
        encoding: "utf-8",
        cut: None,
        expect: "AR",
        err_has: &["MSH^1^12", "203"],
    });

    let results = run_sender(port, &day.msgs, dir);
    assert_eq!(results.len(), day.msgs.len());
    for (i, (step, got)) in day.msgs.iter().zip(&results).enumerate() {
        if step.cut.is_some() {
            continue;
        }
        let code = got["code"].as_str().unwrap();
        let err = got["err"].as_str().unwrap_or("");
        assert_eq!(
            code,
            step.expect,
            "message {i} ({}...) got {got}",
            &step.text[..step.text.find("PID").unwrap_or(step.text.len()).min(80)]
        );
        for pos in step.err_has {
            assert!(err.contains(pos), "message {i}: ERR {err:?} lacks {pos:?}");
        }
    }

    // The census the generator expects, patient by patient.
    let census = adt::census(&db).await.unwrap();
    let by_key: BTreeMap<&str, &adt::AdtCensusRow> =
        census.iter().map(|r| (r.patient_key.as_str(), r)).collect();
    let mut expected_beds = BTreeSet::new();
    for (p, want) in &day.at {
        let key: String = sqlx_key(&db, &day.patients[*p].mrn).await;
        let row = by_key
            .get(key.as_str())
            .expect("every patient is in the census");
        match want {
            Where::Bed(b) => {
                assert_eq!(
                    (row.status.as_str(), row.bed_id.as_deref()),
                    ("admitted", Some(b.as_str()))
                );
                expected_beds.insert((b.clone(), key.clone()));
            }
            Where::Elsewhere(e) => {
                assert_eq!(
                    (row.status.as_str(), row.elsewhere.as_deref()),
                    ("admitted", Some(e.as_str()))
                );
            }
            Where::Discharged => assert_eq!(row.status, "discharged"),
            Where::Cancelled => assert_eq!(row.status, "cancelled"),
        }
    }
    assert_eq!(
        census.len(),
        day.at.len(),
        "refused patients stay out of the census"
    );
    // The beds: exactly the expected ones occupied, by the expected patients.
    let occupied = careflow_store::adt::occupied_beds(&db).await.unwrap();
    assert_eq!(occupied.into_iter().collect::<BTreeSet<_>>(), expected_beds);
    // Hourly ED arrivals, counts only.
    let ed: BTreeMap<String, i64> = adt::ed_arrivals_hourly(&db)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(ed, day.ed_by_hour);
    // Refusals recorded with their position.
    let refusals = adt::refusals(&db).await.unwrap();
    assert_eq!(refusals.len(), 2, "{refusals:?}");

    // No identifier in the audit trail; no name, address or phone anywhere in the data dir.
    let trail = serde_json::to_string(&audit::entries(&db).await.unwrap()).unwrap()
        + &serde_json::to_string(&refusals).unwrap();
    assert!(audit::verify(&db).await.unwrap().first_break.is_none());
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    db.close().await;
    let mut files = Vec::new();
    if let Some(db_file) = db_file {
        for suffix in ["", "-wal"] {
            if let Ok(bytes) = std::fs::read(format!("{}{suffix}", db_file.display())) {
                files.push(bytes);
            }
        }
        assert!(!files.is_empty(), "the SQLite file is there to search");
    }
    for p in &day.patients {
        assert!(!trail.contains(&p.mrn), "an MRN is in the audit trail");
        assert!(
            !trail.contains(&p.national),
            "a national number is in the audit trail"
        );
        let surname = p.name.split('^').next().unwrap();
        let street = p.address.split('^').next().unwrap();
        for secret in [surname, &p.phone, street, &p.national] {
            assert!(!trail.contains(secret), "{secret} is in the audit trail");
            for bytes in &files {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{secret} is stored in the database"
                );
            }
        }
    }
}

async fn sqlx_key(db: &Db, mrn: &str) -> String {
    adt::patient_key_of(db, mrn)
        .await
        .unwrap()
        .expect("the patient is registered")
}
