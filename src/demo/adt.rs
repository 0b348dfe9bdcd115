//! The demo's patient administration system (PAS): part of the day reaches careflow as
//! a hospital's does, as HL7 v2 ADT messages over MLLP to `careflow demo`'s listener.
//!
//! The PAS has its own location codes (PV1-3: `GMED1^BAY2^3` for careflow's bed
//! `GMED-1-BAY2-B3`), written to the location map the listener loads. It sends, in
//! event-time order:
//! - the last 24 hours of emergency department registrations (A04, patient class E,
//!   the ED's own chairs, which careflow does not manage) and the departures of those
//!   who went home (A03); careflow keeps the hourly counts for the ED forecasters;
//! - a few of those patients admitted to a ward without a bed (A01): careflow's
//!   admission workflow chooses the bed, asking the bed manager where policy says;
//! - elective admissions into beds the PAS names (A01), a transfer (A02), an update of
//!   the expected discharge (A08) and a discharge (A03);
//! - one resend (acknowledged again, nothing changes) and two faults on purpose: a
//!   discharge of a patient never admitted (AE, with the ERR position) and a message
//!   that is not HL7 (AR).
//!
//! The patients are synthetic; their names and numbers stay in careflow's `patients`
//! table and nowhere else.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::rngs::StdRng;
use rand::Rng;

use careflow_hl7::sender::MllpSender;
use careflow_store::{adt, hospital, Db};
use careflow_types::{AdmissionKind, AdmissionRequest, AgeGroup, Sex};

/// The PAS's MSH-3 (sending application) and MSH-4 (facility): careflow knows the
/// sender as `PAS^DEMOHOSP`.
const SENDER: &str = "PAS";
const FACILITY: &str = "DEMOHOSP";
/// The ED's point of care: not a careflow ward, so its patients are "elsewhere".
const ED: &str = "EMERG";
/// Wards the ED admits to without naming a bed (careflow's ward ids).
const ACUTE_WARDS: [&str; 4] = ["GMED-1", "GMED-2", "ELDR", "RESP"];

/// The PAS's code of careflow's ward `ward_id` (its point of care, PV1-3.1).
fn point_of_care(ward_id: &str) -> String {
    ward_id.replace('-', "")
}

/// The PAS's codes (point of care, room, bed) of every careflow bed.
async fn bed_codes(db: &Db) -> Result<BTreeMap<String, (String, String, String)>> {
    let places = hospital::site_places(db).await?;
    let ward_of: HashMap<&str, &str> = places
        .rooms
        .iter()
        .map(|(r, w)| (r.as_str(), w.as_str()))
        .collect();
    let mut out = BTreeMap::new();
    for b in &places.beds {
        let ward = ward_of
            .get(b.room_id.as_str())
            .with_context(|| format!("bed {} stands in no known room", b.bed_id))?;
        // careflow's ids are WARD-ROOM-Bn: the PAS knows the room and the bed number.
        let room = b.room_id.trim_start_matches(&format!("{ward}-")).to_owned();
        let bed = b
            .bed_id
            .trim_start_matches(&format!("{}-B", b.room_id))
            .to_owned();
        out.insert(b.bed_id.clone(), (point_of_care(ward), room, bed));
    }
    Ok(out)
}

/// Writes the listener's location map (the PAS's codes to careflow's wards and beds).
pub async fn write_location_map(db: &Db, path: &Path) -> Result<()> {
    let places = hospital::site_places(db).await?;
    let wards: Vec<_> = places
        .wards
        .iter()
        .map(|(w, _)| serde_json::json!({"point_of_care": point_of_care(w), "ward_id": w}))
        .collect();
    let beds: Vec<_> = bed_codes(db)
        .await?
        .into_iter()
        .map(|(bed_id, (poc, room, bed))| {
            serde_json::json!({"point_of_care": poc, "room": room, "bed": bed, "bed_id": bed_id})
        })
        .collect();
    let map = serde_json::json!({"wards": wards, "beds": beds});
    std::fs::write(path, serde_json::to_vec_pretty(&map)?)
        .with_context(|| format!("writing the demo's location map {}", path.display()))
}

/// What the feed did, for the day's report.
#[derive(Debug, Default)]
pub struct FeedReport {
    /// ACKs by MSA-1.
    pub acks: BTreeMap<String, u32>,
    /// ED registrations sent (A04).
    pub ed_registrations: u32,
    /// ED departures sent (A03).
    pub ed_departures: u32,
    /// Workflow ids of the admissions the feed handed to careflow's admission workflow.
    pub handed_over: Vec<String>,
    /// Elective admissions into named beds.
    pub into_beds: u32,
    /// Transfers between beds (A02).
    pub transfers: u32,
    /// Updates (A08).
    pub updates: u32,
    /// Discharges from a ward (A03).
    pub discharges: u32,
    /// The ERR segments of the faults sent on purpose.
    pub faults: Vec<String>,
}

/// One synthetic patient as the PAS holds them.
struct Person {
    mrn: String,
    family: &'static str,
    given: &'static str,
    birth: String,
    sex: Sex,
    age_group: AgeGroup,
}

const FAMILY: [&str; 12] = [
    "Okafor",
    "Hughes",
    "Patel",
    "Nowak",
    "Kowalczyk",
    "Evans",
    "Begum",
    "O'Neill",
    "Jones",
    "Haddad",
    "Murphy",
    "Fernandes",
];
const GIVEN: [&str; 12] = [
    "Amara", "Gareth", "Priya", "Tomasz", "Zofia", "Rhys", "Nasrin", "Siobhan", "Dylan", "Layla",
    "Ciaran", "Beatriz",
];

/// The HL7 timestamp of `t` (UTC, with its offset).
fn hl7_ts(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S+0000").to_string()
}

struct Pas {
    sender: MllpSender,
    /// Control ids are unique per run of the demo: a restarted demo is a new feed.
    run: String,
    next: u32,
    report: FeedReport,
}

impl Pas {
    fn person(&mut self, rng: &mut StdRng, now: DateTime<Utc>) -> Person {
        self.next += 1;
        let age: i64 = match rng.random_range(0..10) {
            0 => rng.random_range(1..16),
            1..=6 => rng.random_range(18..75),
            _ => rng.random_range(75..95),
        };
        let birth = (now - Duration::days(age * 365 + rng.random_range(0..365)))
            .format("%Y%m%d")
            .to_string();
        Person {
            mrn: format!("{}{:04}", self.run, self.next),
            family: FAMILY[rng.random_range(0..FAMILY.len())],
            given: GIVEN[rng.random_range(0..GIVEN.len())],
            birth,
            sex: if rng.random_bool(0.5) {
                Sex::Female
            } else {
                Sex::Male
            },
            age_group: match age {
                0..16 => AgeGroup::Child,
                16..75 => AgeGroup::Adult,
                _ => AgeGroup::Elderly,
            },
        }
    }

    /// An ADT message about `p` at `t`; returns (control id, text).
    fn message(
        &mut self,
        trigger: &str,
        t: DateTime<Utc>,
        p: &Person,
        class: &str,
        pv1_3: &str,
        expected_discharge: Option<DateTime<Utc>>,
    ) -> (String, String) {
        self.next += 1;
        let control = format!("{}M{:05}", self.run, self.next);
        let sex = if p.sex == Sex::Female { "F" } else { "M" };
        let mut text = format!(
            "MSH|^~\\&|{SENDER}|{FACILITY}|CAREFLOW|{FACILITY}|{ts}||ADT^{trigger}^ADT_A01|{control}|P|2.5.1|||||||UNICODE UTF-8\r\
             EVN|{trigger}|{ts}\r\
             PID|1||{mrn}^^^DEMOHOSP^MR||{family}^{given}||{birth}|{sex}|||{n} Infirmary Street^^Leeds^^LS1 3EX||0113 496 0{n:03}\r\
             PV1|1|{class}|{pv1_3}\r",
            ts = hl7_ts(t),
            mrn = p.mrn,
            family = p.family,
            given = p.given,
            birth = p.birth,
            n = self.next % 1000,
        );
        if let Some(d) = expected_discharge {
            text.push_str(&format!("PV2|||||||||{}\r", hl7_ts(d)));
        }
        (control, text)
    }

    /// Sends and counts; the ACK's ERR when it is not AA.
    async fn send(&mut self, text: &str) -> Result<Option<String>> {
        let ack = self.sender.send(text).await?;
        *self.report.acks.entry(ack.code.clone()).or_default() += 1;
        Ok((ack.code != "AA").then(|| ack.err.unwrap_or_else(|| ack.code.clone())))
    }

    /// Sends a message that careflow must accept.
    async fn accepted(&mut self, text: &str, what: &str) -> Result<()> {
        match self.send(text).await? {
            None => Ok(()),
            Some(err) => anyhow::bail!("the demo's PAS: {what} was not accepted: {err}"),
        }
    }
}

/// Arrivals per hour at the ED by hour of day (a UK type-1 department's shape: quiet
/// before dawn, busiest late morning to evening), about 130 a day.
const ED_HOURLY: [f64; 24] = [
    3.5, 3.0, 2.5, 2.0, 2.0, 2.0, 2.5, 3.5, 5.5, 7.5, 8.5, 8.5, 8.0, 8.0, 7.5, 7.5, 7.5, 7.0, 7.0,
    6.5, 6.0, 5.5, 5.0, 4.0,
];

/// Feeds part of the day through the ADT listener at `addr`.
pub async fn feed_day(db: &Db, addr: &str, rng: &mut StdRng) -> Result<FeedReport> {
    let now = Utc::now();
    let mut pas = Pas {
        sender: MllpSender::connect(addr).await?,
        run: now.format("D%y%m%d%H%M%S").to_string(),
        next: 0,
        report: FeedReport::default(),
    };
    let hour0 = now.duration_trunc(Duration::hours(1))? - Duration::hours(24);

    // The ED's last 24 hours: registrations, and departures for those who went home.
    let mut ed: Vec<(DateTime<Utc>, Person)> = Vec::new();
    let mut timeline: Vec<(DateTime<Utc>, String, String)> = Vec::new();
    for h in 0..24 {
        let start = hour0 + Duration::hours(h);
        let mean = ED_HOURLY[start.format("%H").to_string().parse::<usize>()?];
        // Poisson by inversion: the demo's counts vary like a real ED's.
        let (mut k, mut p, limit) = (0, 1.0, (-mean).exp());
        loop {
            p *= rng.random::<f64>();
            if p <= limit {
                break;
            }
            k += 1;
        }
        for _ in 0..k {
            let at = start + Duration::seconds(rng.random_range(0..3600));
            let person = pas.person(rng, now);
            let (_, msg) = pas.message("A04", at, &person, "E", &format!("{ED}^^"), None);
            timeline.push((at, "ED registration".into(), msg));
            pas.report.ed_registrations += 1;
            ed.push((at, person));
        }
    }
    // Those who arrived more than four hours ago went home after two to four hours,
    // except the few the ED admits (below).
    // The most recent arrivals are the ones still in the ED whom it admits.
    let stay_on = ed.len() - 4.min(ed.len());
    for (at, person) in &ed[..stay_on] {
        if now - *at > Duration::hours(4) {
            let left = *at + Duration::minutes(rng.random_range(120..240));
            let (_, msg) = pas.message("A03", left, person, "E", &format!("{ED}^^"), None);
            timeline.push((left, "ED departure".into(), msg));
            pas.report.ed_departures += 1;
        }
    }
    timeline.sort_by_key(|(at, _, _)| *at);
    for (_, what, msg) in &timeline {
        pas.accepted(msg, what).await?;
    }

    // Elective admissions into beds the PAS names, as its bed bureau does.
    let codes = bed_codes(db).await?;
    let code_of = |bed_id: &str| {
        codes
            .get(bed_id)
            .map(|(w, r, b)| format!("{w}^{r}^{b}"))
            .with_context(|| format!("bed {bed_id} has no PAS code"))
    };
    let mut in_beds: Vec<(Person, String)> = Vec::new();
    let mut first_admit: Option<String> = None;
    for specialty in ["general_surgery", "orthopaedics", "cardiology"] {
        let person = loop {
            let p = pas.person(rng, now);
            if p.age_group == AgeGroup::Adult {
                break p;
            }
        };
        let request = AdmissionRequest {
            patient_ref: String::new(),
            kind: AdmissionKind::Elective,
            sex: person.sex,
            age_group: person.age_group,
            specialty: specialty.into(),
            isolation: false,
            expected_los_days: 3,
            requested_by: SENDER.into(),
        };
        let beds = hospital::bed_states(db.pool(), None).await?;
        let Some(bed) = hospital::choose_bed(&request, &beds).proposal else {
            continue;
        };
        let at = now - Duration::minutes(90);
        let (_, msg) = pas.message(
            "A01",
            at,
            &person,
            "I",
            &code_of(&bed.bed_id)?,
            Some(at + Duration::days(3)),
        );
        pas.accepted(&msg, "an elective admission into a named bed")
            .await?;
        first_admit.get_or_insert(msg);
        pas.report.into_beds += 1;
        in_beds.push((person, bed.bed_id));
    }
    // The first moves to another bed on its ward (a bay to a side room, say), its
    // expected discharge is put back a day, and the last goes home.
    if let Some((person, from)) = in_beds.first() {
        let request = AdmissionRequest {
            patient_ref: String::new(),
            kind: AdmissionKind::Elective,
            sex: person.sex,
            age_group: person.age_group,
            specialty: "general_surgery".into(),
            isolation: false,
            expected_los_days: 3,
            requested_by: SENDER.into(),
        };
        let beds: Vec<_> = hospital::bed_states(db.pool(), None)
            .await?
            .into_iter()
            .filter(|b| &b.bed_id != from)
            .collect();
        if let Some(to) = hospital::choose_bed(&request, &beds).proposal {
            let at = now - Duration::minutes(30);
            let (_, msg) = pas.message("A02", at, person, "I", &code_of(&to.bed_id)?, None);
            pas.accepted(&msg, "a transfer").await?;
            pas.report.transfers += 1;
            let (_, msg) = pas.message(
                "A08",
                at + Duration::minutes(5),
                person,
                "I",
                &code_of(&to.bed_id)?,
                Some(now + Duration::days(4)),
            );
            pas.accepted(&msg, "an update of the expected discharge")
                .await?;
            pas.report.updates += 1;
        }
    }
    if let Some((person, bed)) = in_beds.last().filter(|_| in_beds.len() > 1) {
        let (_, msg) = pas.message(
            "A03",
            now - Duration::minutes(10),
            person,
            "I",
            &code_of(bed)?,
            None,
        );
        pas.accepted(&msg, "a discharge").await?;
        pas.report.discharges += 1;
    }

    // The ED admits a few to a ward without naming a bed: careflow's admission
    // workflow chooses it (the workflow id comes from the sender and MSH-10 only).
    for (i, (arrived, person)) in ed[stay_on..].iter().enumerate() {
        let ward = ACUTE_WARDS[i % ACUTE_WARDS.len()];
        let (control, msg) = pas.message(
            "A01",
            *arrived + (now - *arrived) / 2,
            person,
            "E",
            &point_of_care(ward),
            Some(now + Duration::days(rng.random_range(2..7))),
        );
        pas.accepted(&msg, "an admission from the ED to a ward without a bed")
            .await?;
        pas.report.handed_over.push(format!(
            "admission-{}",
            adt::workflow_admission_id(&format!("{SENDER}^{FACILITY}"), &control)
        ));
    }

    // A resend: acknowledged again, nothing changes.
    if let Some(msg) = first_admit {
        pas.accepted(&msg, "a resent admission").await?;
    }
    // Faults on purpose, each answered with where the fault is.
    let stranger = pas.person(rng, now);
    let (_, msg) = pas.message("A03", now, &stranger, "I", "SURG^BAY1^1", None);
    if let Some(err) = pas.send(&msg).await? {
        pas.report
            .faults
            .push(format!("discharge of a patient never admitted: {err}"));
    }
    if let Some(err) = pas.send("this line is not an HL7 message").await? {
        pas.report.faults.push(format!("not HL7: {err}"));
    }
    Ok(pas.report)
}
