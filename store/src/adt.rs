//! The census as the hospital's patient administration system announces it (HL7 v2
//! ADT, decoded by the `hl7` crate): admissions, transfers, discharges and their
//! cancellations, applied in one transaction with their audit entry.
//!
//! The patient's identifier (PID-3) is swapped for the pseudonym of the `patients`
//! table here, as the API does; nothing else of the message identifies anyone, and the
//! message itself is kept only as its SHA-256 (to recognise a resend).
//!
//! Messages can arrive out of order. Each applied message is kept as a de-identified
//! event, and a patient's stays are replayed from all their events in event-time order
//! whenever one arrives, so a late transfer cannot undo a later discharge. The replayed
//! state then decides the census rows: an `admissions` row per stay (id `ADT-<event>`,
//! requested by `hl7:<sender>`) and its open bed assignment when the patient lies in a
//! bed careflow manages. A bed that someone else occupies, or that an admission in
//! progress holds, is never overwritten: the message is refused and the refusal kept.
//!
//! With careflow's admission workflow at hand ([`apply_with`] `workflows: true`, as
//! `careflow serve` runs the listener), an admission (A01) into a managed ward without a
//! bed, or into a bed that careflow holds for another admission, is recorded on the ward
//! and handed to that workflow ([`AdtOutcome::Admit`]): it chooses the bed (asking the bed
//! manager first when the sender's bed was held for someone else), and its bed belongs to
//! the stay, so a later transfer or discharge from the sender moves or frees it. A
//! registration (A04) into such a ward is handed over alike, and a transfer (A02) into
//! one frees the patient's old bed and hands the choice of the new bed to a new
//! admission workflow for the same stay (workflow id from the transfer's sender and
//! MSH-10). A message that ends or replaces such a workflow's choice (a discharge, a
//! cancelled admission or transfer, the sender naming a bed) answers with the
//! workflows to cancel ([`WorkflowSteps::cancel`]), computed again for a resend. A
//! cancelled discharge (A13) or transfer (A12) that reopens a stay on a ward whose
//! workflow never gave it a bed (or whose bed is taken now) hands the stay to a new
//! admission workflow (id from the A13's or A12's sender and MSH-10); one whose workflow
//! gave it a bed that is free takes that bed again.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use careflow_types::{AgeGroup, NewAuditEntry, Sex};

use crate::audit;
use crate::db::{now, Db};
use crate::error::Result;
use crate::patients::KEY_PREFIX;

/// The ADT trigger events careflow applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AdtEventType {
    /// Admit a patient.
    A01,
    /// Transfer a patient.
    A02,
    /// Discharge a patient.
    A03,
    /// Register a patient (the emergency department's arrivals among them).
    A04,
    /// Update patient information.
    A08,
    /// Cancel admit.
    A11,
    /// Cancel transfer.
    A12,
    /// Cancel discharge.
    A13,
}

impl AdtEventType {
    /// The trigger event code (MSH-9.2).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A01 => "A01",
            Self::A02 => "A02",
            Self::A03 => "A03",
            Self::A04 => "A04",
            Self::A08 => "A08",
            Self::A11 => "A11",
            Self::A12 => "A12",
            Self::A13 => "A13",
        }
    }

    /// The event of a trigger code, or `None` for one careflow does not apply.
    pub fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "A01" => Self::A01,
            "A02" => Self::A02,
            "A03" => Self::A03,
            "A04" => Self::A04,
            "A08" => Self::A08,
            "A11" => Self::A11,
            "A12" => Self::A12,
            "A13" => Self::A13,
            _ => return None,
        })
    }
}

/// Where a message puts the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Place {
    /// A bed careflow manages.
    Bed {
        /// careflow's ward.
        ward_id: String,
        /// careflow's bed.
        bed_id: String,
    },
    /// Somewhere careflow does not manage (an ED chair, a clinic, another site): the
    /// sender's point of care code.
    Elsewhere(String),
    /// A ward careflow manages, without a bed: careflow's admission workflow chooses it.
    Ward {
        /// careflow's ward.
        ward_id: String,
    },
}

/// One decoded ADT message, as the `hl7` crate hands it over.
#[derive(Clone)]
pub struct AdtMessage {
    /// MSH-3 and MSH-4 of the sender.
    pub sender: String,
    /// MSH-10.
    pub control_id: String,
    /// SHA-256 of the message (segment ends normalised), hex.
    pub content_sha256: String,
    /// MSH-9.2.
    pub event_type: AdtEventType,
    /// When the event happened (EVN, PV1-44/45).
    pub event_time: DateTime<Utc>,
    /// PID-3: kept in the `patients` table only.
    pub patient_ref: String,
    /// PID-8 when F or M.
    pub sex: Option<Sex>,
    /// From PID-7 at the event time (adult when unknown).
    pub age_group: AgeGroup,
    /// PV1-2 (E emergency, I inpatient, O outpatient...), empty when absent.
    pub patient_class: String,
    /// PV1-3 mapped to careflow's places; `None` when the message gives none.
    pub place: Option<Place>,
    /// PV2-9.
    pub expected_discharge: Option<DateTime<Utc>>,
}

// The patient's identifier must never reach a log line through `{:?}`.
impl fmt::Debug for AdtMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdtMessage")
            .field("sender", &self.sender)
            .field("control_id", &self.control_id)
            .field("event_type", &self.event_type)
            .field("event_time", &self.event_time)
            .field("patient_ref", &"<redacted>")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

/// Why a message was refused, by its position (for the ERR segment of an AE).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// What kind of contradiction it is (the ACK's condition code).
    pub condition: Condition,
    /// Segment (PID, PV1...).
    pub segment: String,
    /// Field number.
    pub field: u32,
    /// Component number, when the fault is in one.
    pub component: Option<u32>,
    /// What careflow knows that the message contradicts (no patient data).
    pub reason: String,
}

/// Why a message contradicts the census, in the terms of HL7 table 0357 (message error
/// condition codes) that the ACK's ERR-3 carries, so a sender's interface engine can
/// route the error without reading its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The patient or stay the message refers to is not known open (0357: 204, unknown
    /// key identifier): a discharge, transfer or cancel without the stay it needs.
    UnknownKey,
    /// The bed is taken: occupied by another patient, held for an admission in progress
    /// or closed (0357: 206, application record locked).
    RecordLocked,
    /// A field careflow needs for this event is empty (0357: 101).
    RequiredField,
    /// A code the location map names is not careflow's (0357: 103, table value not found).
    TableValue,
}

impl Refusal {
    fn new(
        condition: Condition,
        segment: &str,
        field: u32,
        component: Option<u32>,
        reason: String,
    ) -> Self {
        Self {
            condition,
            segment: segment.into(),
            field,
            component,
            reason,
        }
    }
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum AdtOutcome {
    /// Applied and committed.
    Applied,
    /// Applied before (same sender, MSH-10 and content): nothing changed.
    Duplicate,
    /// Contradicts the census: nothing changed, the refusal is recorded.
    Refused(Refusal),
    /// Applied now or before, and careflow's admission workflows must be told before
    /// the message is acknowledged: cancel those whose choice of a bed the message
    /// ended, then start the one that now chooses the stay's bed.
    Workflows(Box<WorkflowSteps>),
}

/// What the caller does with admission workflows once the store has committed, before
/// acknowledging; each step is idempotent (a resend answers the same steps).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkflowSteps {
    /// Workflows to cancel (already finished counts as done), first.
    pub cancel: Vec<WorkflowCancel>,
    /// The workflow to start (already started counts as done), then.
    pub start: Option<WorkflowStart>,
}

/// An admission workflow whose choice of a bed the message ended.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowCancel {
    /// `admission-ADT-WF-...`.
    pub workflow_id: String,
    /// The trigger and what the sender did (no patient data).
    pub reason: String,
}

/// An admission workflow to start for a stay on a managed ward without a bed.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowStart {
    /// `admission-<key>`, the key from the sender and MSH-10 of the message that handed
    /// the stay over ([`workflow_admission_id`]).
    pub workflow_id: String,
    /// Its input: the stay's admission id and the patient's pseudonym only.
    pub input: careflow_types::AdmissionInput,
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// One applied message, de-identified.
#[derive(Debug, Clone, Serialize)]
struct Event {
    event_id: String,
    event_type: String,
    event_time: String,
    received_at: String,
    patient_class: String,
    ward_id: Option<String>,
    bed_id: Option<String>,
    elsewhere: Option<String>,
    expected_discharge: Option<String>,
    /// The key (`ADT-WF-...`, workflow `admission-<key>`) of careflow's admission
    /// workflow that this message hands the choice of the stay's bed to: an admit or
    /// registration into a ward without a bed, or into a bed held for someone else (the
    /// key is then also the new stay's admission id); a transfer into a ward without a
    /// bed; a cancelled transfer or discharge that reopens a stay on such a ward.
    admission_workflow: Option<String>,
    /// The bed the sender named that careflow held for another admission, and that
    /// admission's workflow.
    contested_bed: Option<String>,
    contested_by: Option<String>,
}

impl Event {
    fn place(&self) -> Option<Place> {
        match (&self.ward_id, &self.bed_id, &self.elsewhere) {
            (Some(w), Some(b), _) => Some(Place::Bed {
                ward_id: w.clone(),
                bed_id: b.clone(),
            }),
            (_, _, Some(e)) => Some(Place::Elsewhere(e.clone())),
            (Some(w), None, None) => Some(Place::Ward { ward_id: w.clone() }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StayStatus {
    Admitted,
    Discharged,
    Cancelled,
}

impl StayStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Admitted => "admitted",
            Self::Discharged => "discharged",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One stay as the replay of a patient's events leaves it.
#[derive(Debug, Clone)]
struct Stay {
    admission_id: String,
    /// Whether the stay began by handing over to careflow's admission workflow (its
    /// admission id is that workflow's key).
    workflow: bool,
    /// The admission workflow that chooses (or chose) the stay's bed on its ward, while
    /// the stay is on a ward without a bed from the sender: `admission-<key>`.
    choosing: Option<String>,
    /// Every admission workflow the stay was handed to, oldest first.
    workflows: Vec<String>,
    patient_class: String,
    place: Option<Place>,
    /// Place and choosing workflow before each transfer (for A12).
    before_transfers: Vec<(Option<Place>, Option<String>)>,
    status: StayStatus,
    admitted_at: String,
    expected_discharge: Option<String>,
}

impl Stay {
    /// The admissions row's workflow: the one choosing the stay's bed, else the one it
    /// began with, else the feed's own (`adt/<admission id>`).
    fn workflow_id(&self) -> String {
        match (&self.choosing, self.workflow) {
            (Some(w), _) => w.clone(),
            (None, true) => format!("admission-{}", self.admission_id),
            (None, false) => format!("adt/{}", self.admission_id),
        }
    }

    /// Moves the stay to `place`; `handed` is the workflow key the event hands the
    /// choice of a bed to (only meaningful on a ward without a bed).
    fn move_to(&mut self, place: Option<Place>, handed: Option<&String>) {
        match (&place, handed) {
            (Some(Place::Ward { .. }), Some(key)) => self.hand_to(key),
            // On a ward without a bed and no new workflow: the one choosing stays.
            (Some(Place::Ward { .. }), None) => {}
            // The sender names the bed, or the patient is elsewhere.
            _ => self.choosing = None,
        }
        self.place = place;
    }

    fn hand_to(&mut self, key: &str) {
        let w = format!("admission-{key}");
        if !self.workflows.contains(&w) {
            self.workflows.push(w.clone());
        }
        self.choosing = Some(w);
    }

    /// The workflow choosing this open stay's bed, if any.
    fn live_workflow(&self) -> Option<&String> {
        (self.status == StayStatus::Admitted)
            .then_some(self.choosing.as_ref())
            .flatten()
    }
}

/// Replays a patient's events in order; the first event that contradicts the stays
/// before it is refused with the reason.
fn replay(events: &[Event]) -> std::result::Result<Vec<Stay>, (String, Refusal)> {
    let mut stays: Vec<Stay> = Vec::new();
    for e in events {
        let active = stays
            .last_mut()
            .filter(|s| s.status == StayStatus::Admitted);
        let refuse = |field: u32, why: &str| {
            Err((
                e.event_id.clone(),
                Refusal::new(
                    Condition::UnknownKey,
                    "PID",
                    field,
                    None,
                    format!("{} {why}", e.event_type),
                ),
            ))
        };
        let handed = e.admission_workflow.as_ref();
        let new_stay = |admission_id: String, workflow: bool| {
            let mut stay = Stay {
                admission_id,
                workflow,
                choosing: None,
                workflows: Vec::new(),
                patient_class: e.patient_class.clone(),
                place: None,
                before_transfers: Vec::new(),
                status: StayStatus::Admitted,
                admitted_at: e.event_time.clone(),
                expected_discharge: e.expected_discharge.clone(),
            };
            stay.move_to(e.place(), handed);
            stay
        };
        match e.event_type.as_str() {
            "A01" | "A04" => match active {
                // An admit handed to careflow's admission workflow ends an open stay that
                // lies in no careflow bed (an ED attendance, a clinic): the inpatient stay
                // is the workflow's, whose bed it gets.
                Some(stay)
                    if handed.is_some()
                        && !stay.workflow
                        && !matches!(stay.place, Some(Place::Bed { .. })) =>
                {
                    stay.status = StayStatus::Discharged;
                    stays.push(new_stay(handed.cloned().unwrap_or_default(), true));
                }
                // A second admit or registration while the stay is open moves the patient
                // (senders repeat A01 when a bed is allocated later).
                Some(stay) => {
                    if let Some(p) = e.place() {
                        stay.move_to(Some(p), handed);
                    }
                }
                None => stays.push(new_stay(
                    handed
                        .cloned()
                        .unwrap_or_else(|| format!("ADT-{}", e.event_id)),
                    handed.is_some(),
                )),
            },
            "A02" => match active {
                Some(stay) => {
                    stay.before_transfers
                        .push((stay.place.clone(), stay.choosing.clone()));
                    stay.move_to(e.place(), handed);
                }
                None => return refuse(3, "transfer of a patient careflow knows no open stay of"),
            },
            "A03" => match active {
                Some(stay) => stay.status = StayStatus::Discharged,
                None => {
                    return refuse(
                        3,
                        "discharge of a patient careflow knows no open stay of (never admitted or already discharged)",
                    )
                }
            },
            "A08" => {
                if let Some(stay) = active {
                    if e.expected_discharge.is_some() {
                        stay.expected_discharge = e.expected_discharge.clone();
                    }
                    if !e.patient_class.is_empty() {
                        stay.patient_class = e.patient_class.clone();
                    }
                }
            }
            "A11" => match active {
                Some(stay) => stay.status = StayStatus::Cancelled,
                None => return refuse(3, "cancel admit of a patient careflow knows no open stay of"),
            },
            "A12" => match active {
                Some(stay) if !stay.before_transfers.is_empty() => {
                    let (place, choosing) = stay.before_transfers.pop().unwrap_or_default();
                    stay.place = place;
                    stay.choosing = choosing;
                    if let Some(key) = handed {
                        stay.hand_to(key);
                    }
                }
                _ => return refuse(3, "cancel transfer of a patient with no transfer in an open stay"),
            },
            "A13" => match stays.last_mut() {
                Some(stay) if stay.status == StayStatus::Discharged => {
                    stay.status = StayStatus::Admitted;
                    if let Some(key) = handed {
                        stay.hand_to(key);
                    }
                }
                _ => return refuse(3, "cancel discharge of a patient whose last stay is not discharged"),
            },
            other => unreachable!("event type {other} is stored only when known"),
        }
    }
    Ok(stays)
}

/// The workflows choosing a bed for an open stay.
fn live_workflows(stays: &[Stay]) -> Vec<&String> {
    stays.iter().filter_map(Stay::live_workflow).collect()
}

/// The admission workflows that the event `event_id` (in `events`, sorted) ended or
/// replaced, and that no later event gave a stay back: each with the reason to cancel.
fn ended_by(events: &[Event], event_id: &str) -> Vec<WorkflowCancel> {
    let Some(i) = events.iter().position(|e| e.event_id == event_id) else {
        return Vec::new();
    };
    let (Ok(before), Ok(at), Ok(all)) =
        (replay(&events[..i]), replay(&events[..=i]), replay(events))
    else {
        return Vec::new();
    };
    let (at, all) = (live_workflows(&at), live_workflows(&all));
    let what = match events[i].event_type.as_str() {
        "A01" | "A04" => "the patient administration system placed the patient itself",
        "A02" => "the patient administration system transferred the patient",
        "A03" => "the patient administration system discharged the patient",
        "A11" => "the patient administration system cancelled the admission",
        "A12" => "the patient administration system cancelled the transfer",
        _ => "the patient administration system changed the stay",
    };
    live_workflows(&before)
        .into_iter()
        .filter(|w| !at.contains(w) && !all.contains(w))
        .map(|w| WorkflowCancel {
            workflow_id: w.clone(),
            reason: format!("HL7 ADT {}: {what}", events[i].event_type),
        })
        .collect()
}

/// The id of an applied message: the same sender, control id and content give the same
/// event.
fn event_id(msg: &AdtMessage) -> String {
    let mut h = Sha256::new();
    for part in [&msg.sender, &msg.control_id, &msg.content_sha256] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// The admission id of the workflow an admit hands its stay to: from the sender and
/// MSH-10 only (never from the patient's identifiers), so a resend names the same
/// workflow. `ADT-` like every stay of the feed.
pub fn workflow_admission_id(sender: &str, control_id: &str) -> String {
    let mut h = Sha256::new();
    for part in ["careflow-hl7-admission", sender, control_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("ADT-WF-{}", hex::encode(&h.finalize()[..12]))
}

/// The patient's pseudonym, registering the identifier on first sight (inside `tx`).
async fn patient_key(
    conn: &mut sqlx::AnyConnection,
    digests: &audit::DigestKey,
    msg: &AdtMessage,
) -> Result<String> {
    if let Some(row) = sqlx::query("SELECT patient_key FROM patients WHERE patient_ref = $1")
        .bind(&msg.patient_ref)
        .fetch_optional(&mut *conn)
        .await?
    {
        return Ok(row.try_get("patient_key")?);
    }
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).expect("the OS provides randomness");
    let key = format!("{KEY_PREFIX}{}", hex::encode(buf));
    sqlx::query(
        "INSERT INTO patients (patient_key, patient_ref, sex, age_group, created_at) VALUES ($1,$2,$3,$4,$5)",
    )
    .bind(&key)
    .bind(&msg.patient_ref)
    .bind(msg.sex.map(Sex::as_str).unwrap_or("unknown"))
    .bind(msg.age_group.as_str())
    .bind(now())
    .execute(&mut *conn)
    .await?;
    audit::append(
        conn,
        NewAuditEntry {
            actor: format!("hl7:{}", msg.sender),
            role: "interface".into(),
            action: "patient.pseudonymised".into(),
            meaning: None,
            reason: None,
            workflow_id: None,
            step: None,
            input_digest: None,
            output_digest: Some(digests.digest(&key)),
            idempotency_key: format!("patient/{key}"),
        },
    )
    .await?;
    Ok(key)
}

async fn events_of(conn: &mut sqlx::AnyConnection, patient_key: &str) -> Result<Vec<Event>> {
    let rows = sqlx::query(
        "SELECT event_id, event_type, event_time, received_at, patient_class, ward_id, bed_id, \
         elsewhere, expected_discharge, admission_workflow, contested_bed, contested_by \
         FROM adt_events WHERE patient_key = $1",
    )
    .bind(patient_key)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Event {
                event_id: r.try_get("event_id")?,
                event_type: r.try_get("event_type")?,
                event_time: r.try_get("event_time")?,
                received_at: r.try_get("received_at")?,
                patient_class: r.try_get("patient_class")?,
                ward_id: r.try_get("ward_id")?,
                bed_id: r.try_get("bed_id")?,
                elsewhere: r.try_get("elsewhere")?,
                expected_discharge: r.try_get("expected_discharge")?,
                admission_workflow: r.try_get("admission_workflow")?,
                contested_bed: r.try_get("contested_bed")?,
                contested_by: r.try_get("contested_by")?,
            })
        })
        .collect()
}

/// Applies one message: in one transaction with its audit entry, or not at all. No
/// admission workflow is at hand: an admit into a bed held for someone else is refused.
pub async fn apply(db: &Db, msg: &AdtMessage) -> Result<AdtOutcome> {
    apply_with(db, msg, false).await
}

/// [`apply`]; with `workflows`, an admit or registration (A01/A04) or a transfer (A02)
/// into a managed ward without a bed ([`Place::Ward`]), or an admit into a bed careflow
/// holds for another admission, is recorded on the ward and answered with
/// [`AdtOutcome::Workflows`] naming the workflow to start, also when it is a resend
/// and the stay still has no bed (the caller's start is idempotent); a message that
/// ends a workflow's choice names the workflows to cancel, also when resent.
pub async fn apply_with(db: &Db, msg: &AdtMessage, workflows: bool) -> Result<AdtOutcome> {
    let id = event_id(msg);
    let mut tx = db.begin_write().await?;
    let seen = sqlx::query(
        "SELECT event_id FROM adt_messages WHERE sender = $1 AND control_id = $2 AND content_sha256 = $3",
    )
    .bind(&msg.sender)
    .bind(&msg.control_id)
    .bind(&msg.content_sha256)
    .fetch_optional(&mut *tx)
    .await?;
    if seen.is_some() {
        drop(tx);
        return Ok(match workflows {
            true => steps_for(db, &id, None).await?,
            false => None,
        }
        .map_or(AdtOutcome::Duplicate, |s| {
            AdtOutcome::Workflows(Box::new(s))
        }));
    }
    match apply_in(&mut tx, db.digest_key(), msg, &id, workflows).await? {
        Applied::Done(ended) => {
            tx.commit().await?;
            Ok(match workflows {
                true => steps_for(db, &id, Some(ended)).await?,
                false => None,
            }
            .map_or(AdtOutcome::Applied, |s| AdtOutcome::Workflows(Box::new(s))))
        }
        Applied::Refused(refusal) => {
            // Nothing of the message stays; only the refusal is recorded.
            tx.rollback().await?;
            record_refusal(db, msg, &id, &refusal).await?;
            Ok(AdtOutcome::Refused(refusal))
        }
    }
}

/// What [`apply_in`] did.
enum Applied {
    /// Applied; these workflows' choice of a bed ended.
    Done(Vec<WorkflowCancel>),
    Refused(Refusal),
}

/// The workflow steps for applied event `event_id`: `ended` as computed when it was
/// applied, or (a resend) computed again from the patient's events.
async fn steps_for(
    db: &Db,
    event_id: &str,
    ended: Option<Vec<WorkflowCancel>>,
) -> Result<Option<WorkflowSteps>> {
    let cancel = match ended {
        Some(ended) => ended,
        None => {
            let mut conn = db.pool().acquire().await?;
            let key: Option<String> =
                sqlx::query("SELECT patient_key FROM adt_events WHERE event_id = $1")
                    .bind(event_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get("patient_key"))
                    .transpose()?;
            match key {
                Some(key) => {
                    let mut events = events_of(&mut conn, &key).await?;
                    sort_events(&mut events);
                    ended_by(&events, event_id)
                }
                None => Vec::new(),
            }
        }
    };
    let start = pending_admission(db, event_id).await?;
    Ok((!cancel.is_empty() || start.is_some()).then_some(WorkflowSteps { cancel, start }))
}

fn sort_events(events: &mut [Event]) {
    events.sort_by(|a, b| (&a.event_time, &a.received_at).cmp(&(&b.event_time, &b.received_at)));
}

/// The stay that event `event_id` handed to careflow's admission workflow, as that
/// workflow's start, while the stay is open, that workflow still chooses its bed and it
/// has none yet; `None` otherwise.
async fn pending_admission(db: &Db, event_id: &str) -> Result<Option<WorkflowStart>> {
    let row = sqlx::query(
        "SELECT a.admission_id, a.workflow_id, e.contested_bed, e.contested_by, a.patient_key, a.kind, a.sex, \
         a.age_group, a.specialty, a.expected_los_days, a.requested_by, a.status \
         FROM adt_events e JOIN admissions a ON a.workflow_id = 'admission-' || e.admission_workflow \
         WHERE e.event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let admission_id: String = r.try_get("admission_id")?;
    let workflow_id: String = r.try_get("workflow_id")?;
    let status: String = r.try_get("status")?;
    let has_bed = sqlx::query(
        "SELECT 1 AS one FROM bed_assignments WHERE admission_id = $1 AND released_at IS NULL",
    )
    .bind(&admission_id)
    .fetch_optional(db.pool())
    .await?
    .is_some();
    if status != "admitted" || has_bed {
        return Ok(None);
    }
    let sex = match r.try_get::<String, _>("sex")?.as_str() {
        "female" => Sex::Female,
        "male" => Sex::Male,
        // Refused before it was applied (PID-8 is required to admit through the workflow).
        _ => return Ok(None),
    };
    let age: String = r.try_get("age_group")?;
    let age_group = [AgeGroup::Child, AgeGroup::Adult, AgeGroup::Elderly]
        .into_iter()
        .find(|a| a.as_str() == age)
        .unwrap_or(AgeGroup::Adult);
    let kind = if r.try_get::<String, _>("kind")? == "emergency" {
        careflow_types::AdmissionKind::Emergency
    } else {
        careflow_types::AdmissionKind::Elective
    };
    let los: i64 = r.try_get("expected_los_days")?;
    let contested_bed = match (
        r.try_get::<Option<String>, _>("contested_bed")?,
        r.try_get::<Option<String>, _>("contested_by")?,
    ) {
        (Some(bed_id), Some(held_for)) => Some(careflow_types::ContestedBed { bed_id, held_for }),
        _ => None,
    };
    Ok(Some(WorkflowStart {
        workflow_id,
        input: careflow_types::AdmissionInput {
            admission_id,
            request: careflow_types::AdmissionRequest {
                patient_ref: r.try_get("patient_key")?,
                kind,
                sex,
                age_group,
                specialty: r.try_get("specialty")?,
                isolation: false,
                // PV2-9 gives it; unknown: one day, which each day's bed plan revisits.
                expected_los_days: los.clamp(1, i64::from(careflow_types::MAX_LOS_DAYS)) as u32,
                requested_by: r.try_get("requested_by")?,
            },
            contested_bed,
        },
    }))
}

/// The workflow holding `bed_id`, if one does.
async fn holder_of(conn: &mut sqlx::AnyConnection, bed_id: &str) -> Result<Option<String>> {
    sqlx::query("SELECT workflow_id FROM bed_holds WHERE bed_id = $1")
        .bind(bed_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("workflow_id"))
        .transpose()
        .map_err(Into::into)
}

async fn apply_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    digests: &audit::DigestKey,
    msg: &AdtMessage,
    id: &str,
    workflows: bool,
) -> Result<Applied> {
    let received_at = now();
    let key = patient_key(tx, digests, msg).await?;
    // An admit into a bed careflow holds for another admission (and nobody occupies)
    // opening a new stay: the hold stands; the patient is recorded on the bed's ward and
    // careflow's admission workflow, told of the held bed, asks the bed manager which
    // bed to use. (Telling the holding workflow instead would take its bed from a
    // patient a person may be approving it for right now; refusing would leave a patient
    // the hospital has admitted out of the census. A task for the bed manager on the new
    // admission keeps the one approval path every bed decision takes.)
    let mut place = msg.place.clone();
    let mut contested: Option<(String, String)> = None;
    let admits = matches!(msg.event_type, AdtEventType::A01 | AdtEventType::A04);
    if workflows && admits {
        if let Some(Place::Bed { ward_id, bed_id }) = &msg.place {
            // A patient already in a careflow bed is moved as before (and refused there).
            let open_stay = sqlx::query(
                "SELECT 1 AS one FROM adt_patients WHERE patient_key = $1 AND status = 'admitted' \
                 AND bed_id IS NOT NULL",
            )
            .bind(&key)
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
            let occupied = sqlx::query(
                "SELECT 1 AS one FROM bed_assignments WHERE bed_id = $1 AND released_at IS NULL",
            )
            .bind(bed_id)
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
            if !open_stay && !occupied {
                if let Some(holder) = holder_of(tx, bed_id).await? {
                    contested = Some((bed_id.clone(), holder));
                    place = Some(Place::Ward {
                        ward_id: ward_id.clone(),
                    });
                }
            }
        }
    }
    // An admit, registration or transfer into a ward without a bed: careflow's admission
    // workflow chooses the bed there.
    let mut admission_workflow = (workflows
        && (admits || msg.event_type == AdtEventType::A02)
        && matches!(place, Some(Place::Ward { .. })))
    .then(|| workflow_admission_id(&msg.sender, &msg.control_id));
    let (ward_id, bed_id, elsewhere) = match &place {
        Some(Place::Bed { ward_id, bed_id }) => (Some(ward_id.clone()), Some(bed_id.clone()), None),
        Some(Place::Ward { ward_id }) => (Some(ward_id.clone()), None, None),
        Some(Place::Elsewhere(e)) => (None, None, Some(e.clone())),
        None => (None, None, None),
    };
    let event = Event {
        event_id: id.to_owned(),
        event_type: msg.event_type.as_str().into(),
        event_time: ts(&msg.event_time),
        received_at: received_at.clone(),
        patient_class: msg.patient_class.clone(),
        ward_id,
        bed_id,
        elsewhere,
        expected_discharge: msg.expected_discharge.as_ref().map(ts),
        admission_workflow: admission_workflow.clone(),
        contested_bed: contested.as_ref().map(|c| c.0.clone()),
        contested_by: contested.as_ref().map(|c| c.1.clone()),
    };
    let mut event = event;
    let mut events = events_of(tx, &key).await?;
    events.push(event.clone());
    sort_events(&mut events);
    let mut stays = match replay(&events) {
        Ok(stays) => stays,
        Err((_, refusal)) => return Ok(Applied::Refused(refusal)),
    };
    // A cancelled transfer or discharge that reopens a stay on a ward without a bed
    // from the sender: the bed its workflow gave it, if that is free, is the stay's again;
    // else a new admission workflow chooses one.
    if workflows && matches!(msg.event_type, AdtEventType::A12 | AdtEventType::A13) {
        if let Some(stay) = stays.last().filter(|s| {
            s.status == StayStatus::Admitted && matches!(s.place, Some(Place::Ward { .. }))
        }) {
            if !ward_stay_has_bed(tx, stay).await? {
                admission_workflow = Some(workflow_admission_id(&msg.sender, &msg.control_id));
                event.admission_workflow = admission_workflow.clone();
                for e in events.iter_mut().filter(|e| e.event_id == event.event_id) {
                    e.admission_workflow = admission_workflow.clone();
                }
                stays = match replay(&events) {
                    Ok(stays) => stays,
                    Err((_, refusal)) => return Ok(Applied::Refused(refusal)),
                };
            }
        }
    }
    let ended = ended_by(&events, &event.event_id);
    let sex = msg.sex.map(Sex::as_str).unwrap_or("unknown");
    // Free the beds no stay lies in any more before taking new ones, so a patient moved
    // within careflow's beds never blocks themself.
    let mut wanted: Option<(String, String)> = None;
    for stay in &stays {
        let open: Option<String> = sqlx::query(
            "SELECT bed_id FROM bed_assignments WHERE admission_id = $1 AND released_at IS NULL",
        )
        .bind(&stay.admission_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("bed_id"))
        .transpose()?;
        let want_bed = match (&stay.status, &stay.place, &stay.choosing) {
            (StayStatus::Admitted, Some(Place::Bed { bed_id, .. }), _) => Some(bed_id.clone()),
            // On the ward in the bed careflow's admission workflow choosing it gave the
            // stay, if any (again, after a cancelled transfer or discharge).
            (StayStatus::Admitted, Some(Place::Ward { .. }), Some(w)) => {
                latest_bed_of(tx, &stay.admission_id, w).await?
            }
            (StayStatus::Admitted, Some(Place::Ward { .. }), None) => open.clone(),
            _ => None,
        };
        for w in &stay.workflows {
            if stay.live_workflow() != Some(w) {
                // Ended or replaced by the sender: a bed the workflow holds goes back.
                crate::hospital::release_holds(tx, w).await?;
            }
        }
        if open.is_some() && open != want_bed {
            sqlx::query(
                "UPDATE bed_assignments SET released_at = $1 WHERE admission_id = $2 AND released_at IS NULL",
            )
            .bind(&received_at)
            .bind(&stay.admission_id)
            .execute(&mut **tx)
            .await?;
        }
        if let Some(bed) = want_bed.filter(|b| open.as_ref() != Some(b)) {
            wanted = Some((stay.admission_id.clone(), bed));
        }
    }
    if let Some((admission_id, bed_id)) = &wanted {
        let bed = sqlx::query("SELECT in_service FROM beds WHERE bed_id = $1")
            .bind(bed_id)
            .fetch_optional(&mut **tx)
            .await?;
        let refusal = |condition, why: String| {
            Ok(Applied::Refused(Refusal::new(
                condition,
                "PV1",
                3,
                Some(3),
                why,
            )))
        };
        match bed {
            None => {
                return refusal(
                    Condition::TableValue,
                    format!("bed {bed_id} of the location map is not a careflow bed"),
                )
            }
            Some(r) if r.try_get::<i64, _>("in_service")? == 0 => {
                return refusal(
                    Condition::RecordLocked,
                    format!("bed {bed_id} is closed in careflow"),
                )
            }
            Some(_) => {}
        }
        let occupied = sqlx::query(
            "SELECT admission_id FROM bed_assignments WHERE bed_id = $1 AND released_at IS NULL",
        )
        .bind(bed_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(other) = occupied {
            let other: String = other.try_get("admission_id")?;
            return refusal(
                Condition::RecordLocked,
                format!(
                    "bed {bed_id} is occupied by another patient (admission {other}) in careflow"
                ),
            );
        }
        let held = sqlx::query("SELECT workflow_id FROM bed_holds WHERE bed_id = $1")
            .bind(bed_id)
            .fetch_optional(&mut **tx)
            .await?;
        let own = format!("admission-{admission_id}");
        if let Some(h) = held.filter(|h| h.try_get::<String, _>("workflow_id").ok() != Some(own)) {
            let wf: String = h.try_get("workflow_id")?;
            return refusal(
                Condition::RecordLocked,
                format!("bed {bed_id} is held for the admission in progress {wf} in careflow"),
            );
        }
        // The admissions row must exist before its assignment; written below, so only
        // remember what to assign.
        let _ = admission_id;
    }
    // Admissions rows follow the replayed stays.
    for stay in &stays {
        let specialty: Option<String> = match &stay.place {
            Some(Place::Bed { ward_id, .. }) | Some(Place::Ward { ward_id }) => {
                sqlx::query("SELECT specialty FROM wards WHERE ward_id = $1")
                    .bind(ward_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| r.try_get("specialty"))
                    .transpose()?
            }
            _ => None,
        };
        let los_days = stay
            .expected_discharge
            .as_deref()
            .and_then(|d| {
                let end = DateTime::parse_from_rfc3339(d).ok()?;
                let start = DateTime::parse_from_rfc3339(&stay.admitted_at).ok()?;
                Some(((end - start).num_hours() + 23).div_euclid(24).max(0))
            })
            .unwrap_or(0);
        let kind = if stay.patient_class == "E" {
            "emergency"
        } else {
            "elective"
        };
        sqlx::query(
            "INSERT INTO admissions (admission_id, workflow_id, patient_key, kind, sex, age_group, specialty, \
             isolation, expected_los_days, requested_by, status, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,0,$8,$9,$10,$11,$11) \
             ON CONFLICT (admission_id) DO UPDATE SET kind = excluded.kind, \
             specialty = CASE WHEN excluded.specialty = 'unknown' THEN admissions.specialty ELSE excluded.specialty END, \
             expected_los_days = excluded.expected_los_days, status = excluded.status, \
             workflow_id = excluded.workflow_id, updated_at = excluded.updated_at",
        )
        .bind(&stay.admission_id)
        .bind(stay.workflow_id())
        .bind(&key)
        .bind(kind)
        .bind(sex)
        .bind(msg.age_group.as_str())
        .bind(specialty.unwrap_or_else(|| "unknown".into()))
        .bind(los_days)
        .bind(format!("hl7:{}", msg.sender))
        .bind(stay.status.as_str())
        .bind(&received_at)
        .execute(&mut **tx)
        .await?;
    }
    let hands_over = admission_workflow.as_ref().is_some_and(|w| {
        let w = format!("admission-{w}");
        stays.iter().any(|s| s.live_workflow() == Some(&w))
    });
    if hands_over && sex == "unknown" {
        return Ok(Applied::Refused(Refusal::new(
            Condition::RequiredField,
            "PID",
            8,
            None,
            "administrative sex F or M is required to admit through careflow's admission workflow (same-sex bays)".into(),
        )));
    }
    if let Some((admission_id, bed_id)) = &wanted {
        if sex == "unknown" {
            return Ok(Applied::Refused(Refusal::new(
                Condition::RequiredField,
                "PID",
                8,
                None,
                format!("administrative sex F or M is required to place a patient in bed {bed_id} (same-sex bays)"),
            )));
        }
        sqlx::query(
            "INSERT INTO bed_assignments (assignment_id, admission_id, bed_id, sex, isolation, assigned_at) \
             VALUES ($1,$2,$3,$4,0,$5)",
        )
        .bind(format!("{admission_id}/{id}"))
        .bind(admission_id)
        .bind(bed_id)
        .bind(sex)
        .bind(&received_at)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO adt_events (event_id, patient_key, event_type, event_time, received_at, patient_class, \
         ward_id, bed_id, elsewhere, expected_discharge, admission_workflow, contested_bed, contested_by) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
    )
    .bind(&event.event_id)
    .bind(&key)
    .bind(&event.event_type)
    .bind(&event.event_time)
    .bind(&event.received_at)
    .bind(&event.patient_class)
    .bind(&event.ward_id)
    .bind(&event.bed_id)
    .bind(&event.elsewhere)
    .bind(&event.expected_discharge)
    .bind(&event.admission_workflow)
    .bind(&event.contested_bed)
    .bind(&event.contested_by)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO adt_messages (sender, control_id, content_sha256, event_id, received_at) VALUES ($1,$2,$3,$4,$5)",
    )
    .bind(&msg.sender)
    .bind(&msg.control_id)
    .bind(&msg.content_sha256)
    .bind(id)
    .bind(&received_at)
    .execute(&mut **tx)
    .await?;
    if msg.event_type == AdtEventType::A04 && msg.patient_class == "E" {
        sqlx::query(
            "INSERT INTO ed_arrivals_hourly (hour, arrivals) VALUES ($1, 1) \
             ON CONFLICT (hour) DO UPDATE SET arrivals = ed_arrivals_hourly.arrivals + 1",
        )
        .bind(msg.event_time.format("%Y-%m-%dT%H:00:00Z").to_string())
        .execute(&mut **tx)
        .await?;
    }
    let last = stays.last();
    let latest_time = events
        .last()
        .map(|e| e.event_time.clone())
        .unwrap_or_default();
    let (l_ward, l_bed, l_else) = match last.and_then(|s| s.place.clone()) {
        Some(Place::Bed { ward_id, bed_id }) => (Some(ward_id), Some(bed_id), None),
        Some(Place::Ward { ward_id }) => (Some(ward_id), None, None),
        Some(Place::Elsewhere(e)) => (None, None, Some(e)),
        None => (None, None, None),
    };
    if let Some(stay) = last {
        sqlx::query(
            "INSERT INTO adt_patients (patient_key, admission_id, status, ward_id, bed_id, elsewhere, \
             expected_discharge, last_event_time, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) \
             ON CONFLICT (patient_key) DO UPDATE SET admission_id = excluded.admission_id, status = excluded.status, \
             ward_id = excluded.ward_id, bed_id = excluded.bed_id, elsewhere = excluded.elsewhere, \
             expected_discharge = excluded.expected_discharge, last_event_time = excluded.last_event_time, \
             updated_at = excluded.updated_at",
        )
        .bind(&key)
        .bind(&stay.admission_id)
        .bind(stay.status.as_str())
        .bind(l_ward)
        .bind(l_bed)
        .bind(l_else)
        .bind(&stay.expected_discharge)
        .bind(latest_time)
        .bind(&received_at)
        .execute(&mut **tx)
        .await?;
    }
    audit::append(
        tx,
        NewAuditEntry {
            actor: format!("hl7:{}", msg.sender),
            role: "interface".into(),
            action: format!("hl7.adt.{}", msg.event_type.as_str()),
            meaning: None,
            // Bed and workflow ids only.
            reason: match (&contested, &admission_workflow) {
                (Some((bed, holder)), Some(w)) => Some(format!(
                    "bed {bed} is held for {holder}: the hold stands; the stay is on its ward and admission-{w} asks the bed manager"
                )),
                (None, Some(w)) => Some(format!("no bed given: admission-{w} chooses one")),
                _ => None,
            },
            workflow_id: last.map(Stay::workflow_id),
            step: Some(msg.event_type.as_str().into()),
            input_digest: Some(digests.digest(&(&key, &event))),
            output_digest: None,
            idempotency_key: format!("hl7/{id}"),
        },
    )
    .await?;
    Ok(Applied::Done(ended))
}

/// Whether a stay on a ward without a bed from the sender has a bed: an open one, or
/// the last one its choosing workflow gave it if that bed is free (it takes it again).
async fn ward_stay_has_bed(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    stay: &Stay,
) -> Result<bool> {
    let open = sqlx::query(
        "SELECT 1 AS one FROM bed_assignments WHERE admission_id = $1 AND released_at IS NULL",
    )
    .bind(&stay.admission_id)
    .fetch_optional(&mut **tx)
    .await?
    .is_some();
    if open {
        return Ok(true);
    }
    let Some(w) = &stay.choosing else {
        return Ok(false);
    };
    let Some(bed) = latest_bed_of(tx, &stay.admission_id, w).await? else {
        return Ok(false);
    };
    let free = sqlx::query(
        "SELECT 1 AS one FROM beds b WHERE b.bed_id = $1 AND b.in_service = 1 \
         AND NOT EXISTS (SELECT 1 FROM bed_assignments a WHERE a.bed_id = b.bed_id AND a.released_at IS NULL) \
         AND NOT EXISTS (SELECT 1 FROM bed_holds h WHERE h.bed_id = b.bed_id AND h.workflow_id <> $2)",
    )
    .bind(&bed)
    .bind(w)
    .fetch_optional(&mut **tx)
    .await?
    .is_some();
    Ok(free)
}

/// The bed workflow `workflow_id` last gave admission `admission_id` (released or not).
async fn latest_bed_of(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    admission_id: &str,
    workflow_id: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query(
        "SELECT bed_id FROM bed_assignments WHERE admission_id = $1 AND assignment_id LIKE $2 \
         ORDER BY assigned_at DESC LIMIT 1",
    )
    .bind(admission_id)
    .bind(format!("{workflow_id}/%"))
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| r.try_get("bed_id"))
    .transpose()?)
}

/// Keeps a refused message's position and reason (never its content) and audits it.
async fn record_refusal(db: &Db, msg: &AdtMessage, id: &str, r: &Refusal) -> Result<()> {
    let at = now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO adt_refusals (refused_at, sender, control_id, content_sha256, event_type, segment, field, \
         component, reason) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(&at)
    .bind(&msg.sender)
    .bind(&msg.control_id)
    .bind(&msg.content_sha256)
    .bind(msg.event_type.as_str())
    .bind(&r.segment)
    .bind(r.field as i64)
    .bind(r.component.map(i64::from))
    .bind(&r.reason)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: format!("hl7:{}", msg.sender),
            role: "interface".into(),
            action: "hl7.adt.refused".into(),
            meaning: None,
            reason: Some(format!(
                "{} at {}-{}: {}",
                msg.event_type.as_str(),
                r.segment,
                r.field,
                r.reason
            )),
            workflow_id: None,
            step: Some(msg.event_type.as_str().into()),
            input_digest: Some(id.to_owned()),
            output_digest: None,
            idempotency_key: format!("hl7-refused/{id}/{at}"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Where the feed last put one patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdtCensusRow {
    /// Pseudonym.
    pub patient_key: String,
    /// admitted, discharged or cancelled (the last stay).
    pub status: String,
    /// careflow's bed, when in one.
    pub bed_id: Option<String>,
    /// The sender's point of care, when elsewhere in the hospital.
    pub elsewhere: Option<String>,
}

/// Every patient the feed has placed, by pseudonym.
pub async fn census(db: &Db) -> Result<Vec<AdtCensusRow>> {
    // A stay careflow's admission workflow placed is in the bed that workflow gave it.
    let rows = sqlx::query(
        "SELECT p.patient_key, p.status, COALESCE(p.bed_id, (SELECT b.bed_id FROM bed_assignments b \
         WHERE b.admission_id = p.admission_id AND b.released_at IS NULL AND p.status = 'admitted')) AS bed_id, \
         p.elsewhere FROM adt_patients p ORDER BY p.patient_key",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AdtCensusRow {
                patient_key: r.try_get("patient_key")?,
                status: r.try_get("status")?,
                bed_id: r.try_get("bed_id")?,
                elsewhere: r.try_get("elsewhere")?,
            })
        })
        .collect()
}

/// Hourly emergency department arrivals, oldest first (`YYYY-MM-DDTHH:00:00Z`, count).
pub async fn ed_arrivals_hourly(db: &Db) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query("SELECT hour, arrivals FROM ed_arrivals_hourly ORDER BY hour")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("hour")?, r.try_get("arrivals")?)))
        .collect()
}

/// Refusals recorded, oldest first: (control id, segment, field, reason).
pub async fn refusals(db: &Db) -> Result<Vec<(String, String, i64, String)>> {
    let rows = sqlx::query(
        "SELECT control_id, segment, field, reason FROM adt_refusals ORDER BY refused_at",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("control_id")?,
                r.try_get("segment")?,
                r.try_get("field")?,
                r.try_get("reason")?,
            ))
        })
        .collect()
}

/// Beds the feed's admissions occupy now: (bed, patient pseudonym).
pub async fn occupied_beds(db: &Db) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT b.bed_id, a.patient_key FROM bed_assignments b JOIN admissions a ON a.admission_id = b.admission_id \
         WHERE b.released_at IS NULL AND a.admission_id LIKE 'ADT-%' ORDER BY b.bed_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("bed_id")?, r.try_get("patient_key")?)))
        .collect()
}

/// The pseudonym of the patient with identifier `patient_ref`, if registered (for
/// roles that may see identifiers, and for tests).
pub async fn patient_key_of(db: &Db, patient_ref: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query("SELECT patient_key FROM patients WHERE patient_ref = $1")
            .bind(patient_ref)
            .fetch_optional(db.pool())
            .await?
            .map(|r| r.try_get("patient_key"))
            .transpose()?,
    )
}
