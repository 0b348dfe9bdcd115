//! Appointment, Slot and Schedule: the theatre sessions and booked cases of the
//! published theatre lists, and the scanner days and booked scans of the booked scanner
//! runs. Each theatre and scanner has one Schedule (its `actor` the theatre's or
//! scanner's Location); each theatre session and scanner day is a Slot of it; each
//! booked case or scan an Appointment in its Slot, `basedOn` the ServiceRequest it came
//! from when it was placed through FHIR.
//!
//! careflow plans days, minutes after a session opens and scanner slot numbers, not
//! clock times: a session and a scanner day open at `views::DAY_OPENS_MINUTE` and a
//! scanner slot lasts `views::SCAN_SLOT_MINUTES`, written as UTC instants (careflow keeps no time
//! zone).
//!
//! Roles as the theatre and scanner routes: a theatre administrator reads the theatre,
//! an imaging manager the scanners, the site manager, admin and auditor both; patients
//! by pseudonymous key, withheld from the auditor.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use careflow_store::{service_requests, views};
use careflow_types::{Role, ScannerBookingProposal, TheatreListProposal};

use crate::fhir::search::{self, Candidate, Query, Spec};
use crate::fhir::{caller_in, compound_id, FhirError, PatientView, ResolvedView};
use crate::AppState;

use careflow_store::views::{plan_instant as at, DAY_OPENS_MINUTE, SCAN_SLOT_MINUTES};

const READERS: &[Role] = &[
    Role::TheatreAdmin,
    Role::ImagingManager,
    Role::SiteManager,
    Role::Admin,
    Role::Auditor,
];

const APPOINTMENT: Spec = Spec {
    type_name: "Appointment",
    params: &[
        "_id",
        "identifier",
        "status",
        "date",
        "location",
        "based-on",
        "slot",
    ],
    statuses: &[
        "proposed",
        "pending",
        "booked",
        "arrived",
        "fulfilled",
        "cancelled",
        "noshow",
        "entered-in-error",
        "checked-in",
        "waitlist",
    ],
    date_param: "date",
};

const SLOT: Spec = Spec {
    type_name: "Slot",
    params: &["_id", "identifier", "status", "start", "schedule"],
    statuses: &[
        "busy",
        "free",
        "busy-unavailable",
        "busy-tentative",
        "entered-in-error",
    ],
    date_param: "start",
};

const SCHEDULE: Spec = Spec {
    type_name: "Schedule",
    params: &["_id", "identifier", "date", "actor"],
    statuses: &[],
    date_param: "date",
};

const PROCESS_SYSTEM: &str = "urn:careflow:process";
const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// Which processes a role reads.
fn reads(role: Role) -> (bool, bool) {
    match role {
        Role::TheatreAdmin => (true, false),
        Role::ImagingManager => (false, true),
        _ => (true, true),
    }
}

fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The DICOM modality code of careflow's modality name.
pub(crate) fn dicom_modality(modality: &str) -> &'static str {
    if modality == "mri" {
        "MR"
    } else {
        "CT"
    }
}

pub(crate) fn theatre_location(theatre: &str) -> String {
    format!("theatre-{theatre}")
}

pub(crate) fn scanner_location(scanner: &str) -> String {
    format!("scanner-{scanner}")
}

/// What the three types are read from.
struct Plans {
    lists: Vec<views::InForce<TheatreListProposal>>,
    runs: Vec<views::InForce<ScannerBookingProposal>>,
    scans: Vec<views::BookedScan>,
    /// Ids of orders placed through FHIR.
    placed: HashSet<String>,
}

async fn plans(state: &AppState, role: Role) -> Result<Plans, FhirError> {
    let (theatre, scanner) = reads(role);
    Ok(Plans {
        lists: if theatre {
            views::published_theatre_lists(&state.db).await?
        } else {
            Vec::new()
        },
        runs: if scanner {
            views::booked_scanner_days(&state.db).await?
        } else {
            Vec::new()
        },
        scans: if scanner {
            views::booked_scans(&state.db).await?
        } else {
            Vec::new()
        },
        placed: service_requests::all(&state.db)
            .await?
            .into_iter()
            .map(|o| o.request_id)
            .collect(),
    })
}

/// Where a published plan booked an order placed through FHIR.
pub(crate) struct Booking {
    /// The Appointment's id.
    pub appointment: String,
    /// Start and end of the booked slot, as the Appointment gives them.
    pub start: String,
    pub end: String,
    /// `booked`, `fulfilled` (the scan was attended) or `noshow`.
    pub status: &'static str,
}

/// The bookings of published theatre lists and booked scanner runs, by order id (the
/// theatre case or scan request id, which is the ServiceRequest's id).
pub(crate) async fn bookings(
    state: &AppState,
) -> Result<std::collections::HashMap<String, Booking>, FhirError> {
    let mut out = std::collections::HashMap::new();
    for l in views::published_theatre_lists(&state.db).await? {
        let w = &l.proposal.week_start;
        for b in &l.proposal.booked {
            let start = at(w, b.day, DAY_OPENS_MINUTE + b.start_minute);
            let end = at(
                w,
                b.day,
                DAY_OPENS_MINUTE + b.start_minute + b.planned_minutes,
            );
            if let (Some(start), Some(end)) = (start, end) {
                out.insert(
                    b.case_id.clone(),
                    Booking {
                        appointment: plain_id("th", &[w, &b.case_id]),
                        start: instant(start),
                        end: instant(end),
                        status: "booked",
                    },
                );
            }
        }
    }
    for s in views::booked_scans(&state.db).await? {
        let minute = DAY_OPENS_MINUTE + s.start_slot * SCAN_SLOT_MINUTES;
        let (Some(start), Some(end)) = (
            at(&s.week_start, s.day, minute),
            at(&s.week_start, s.day, minute + SCAN_SLOT_MINUTES),
        ) else {
            continue;
        };
        out.insert(
            s.request_id.clone(),
            Booking {
                appointment: compound_id("sc", &[&s.booking_id, &s.request_id]),
                start: instant(start),
                end: instant(end),
                status: match s.attendance.as_deref() {
                    Some("attended") => "fulfilled",
                    Some("no_show") => "noshow",
                    _ => "booked",
                },
            },
        );
    }
    Ok(out)
}

/// The theatres and scanners of published plans (kind, id), for the Location view.
pub(crate) async fn rooms(state: &AppState) -> Result<Vec<(String, String)>, FhirError> {
    let (theatres, scanners) = views::planned_rooms(&state.db).await?;
    Ok(theatres
        .iter()
        .map(|t| (theatre_location(t), format!("Theatre {t}")))
        .chain(
            scanners
                .iter()
                .map(|s| (scanner_location(s), format!("Scanner {s}"))),
        )
        .collect())
}

/// A readable id where the parts make a FHIR id (`[A-Za-z0-9-.]`, at most 64), else
/// [`compound_id`]. Theatre ids are unique by week: one list is in force per week.
fn plain_id(prefix: &str, parts: &[&str]) -> String {
    let plain = format!("{prefix}-{}", parts.join("-"));
    if plain.len() <= 64
        && plain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
    {
        plain
    } else {
        compound_id(prefix, parts)
    }
}

fn theatre_slot_id(week_start: &str, theatre: &str, day: u32) -> String {
    plain_id("ts", &[week_start, theatre, &day.to_string()])
}

fn scanner_slot_id(booking_id: &str, scanner: &str, day: u32) -> String {
    compound_id("ss", &[booking_id, scanner, &day.to_string()])
}

fn appointments(p: &Arc<Plans>, view: &Arc<ResolvedView>) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (li, l) in p.lists.iter().enumerate() {
        let w = &l.proposal.week_start;
        for (bi, b) in l.proposal.booked.iter().enumerate() {
            let (Some(start), Some(end)) = (
                at(w, b.day, DAY_OPENS_MINUTE + b.start_minute),
                at(
                    w,
                    b.day,
                    DAY_OPENS_MINUTE + b.start_minute + b.planned_minutes,
                ),
            ) else {
                continue;
            };
            let id = plain_id("th", &[w, &b.case_id]);
            let slot = theatre_slot_id(w, &b.theatre_id, b.day);
            let room = theatre_location(&b.theatre_id);
            let mut refs = vec![
                ("location", format!("Location/{room}")),
                ("slot", format!("Slot/{slot}")),
            ];
            let placed = p.placed.contains(&b.case_id);
            if placed {
                refs.push(("based-on", format!("ServiceRequest/{}", b.case_id)));
            }
            // Built only if the appointment is on the page returned.
            let (plans, view, resource_id) = (Arc::clone(p), Arc::clone(view), id.clone());
            let resource = move || {
                let l = &plans.lists[li];
                let b = &l.proposal.booked[bi];
                let mut resource = json!({
                    "resourceType": "Appointment",
                    "id": resource_id,
                    "identifier": [
                        {"system": "urn:careflow:theatre-case", "value": b.case_id},
                        {"system": "urn:careflow:theatre-list", "value": l.id},
                    ],
                    "status": "booked",
                    "serviceCategory": [{"coding": [{"system": PROCESS_SYSTEM, "code": "theatre"}]}],
                    "serviceType": [{"coding": [{"system": "urn:careflow:procedure", "code": b.procedure}]}],
                    "priority": b.category.as_str()[1..].parse::<u32>().unwrap_or(4),
                    "start": instant(start),
                    "end": instant(end),
                    "slot": [{"reference": format!("Slot/{slot}")}],
                    "participant": [
                        {"actor": view.reference(&b.patient_key), "status": "accepted"},
                        {"actor": {"reference": format!("Location/{room}")}, "status": "accepted"},
                        {"actor": {"identifier": {"system": "urn:careflow:surgeon", "value": b.surgeon_id}},
                         "status": "accepted"},
                    ],
                });
                if b.planned_minutes > 0 {
                    resource["minutesDuration"] = json!(b.planned_minutes);
                }
                if placed {
                    resource["basedOn"] =
                        json!([{"reference": format!("ServiceRequest/{}", b.case_id)}]);
                }
                resource
            };
            out.push(Candidate {
                id,
                identifiers: vec![
                    ("urn:careflow:theatre-case".into(), b.case_id.clone()),
                    ("urn:careflow:theatre-list".into(), l.id.clone()),
                ],
                status: "booked".into(),
                period: Some((start, end)),
                refs,
                resource: Box::new(resource),
            });
        }
    }
    for s in &p.scans {
        let (Some(start), Some(end)) = (
            at(
                &s.week_start,
                s.day,
                DAY_OPENS_MINUTE + s.start_slot * SCAN_SLOT_MINUTES,
            ),
            at(
                &s.week_start,
                s.day,
                DAY_OPENS_MINUTE + (s.start_slot + 1) * SCAN_SLOT_MINUTES,
            ),
        ) else {
            continue;
        };
        let status = match s.attendance.as_deref() {
            Some("attended") => "fulfilled",
            Some("no_show") => "noshow",
            _ => "booked",
        };
        let slot = scanner_slot_id(&s.booking_id, &s.scanner_id, s.day);
        let room = scanner_location(&s.scanner_id);
        let mut refs = vec![
            ("location", format!("Location/{room}")),
            ("slot", format!("Slot/{slot}")),
        ];
        let mut resource = json!({
            "resourceType": "Appointment",
            "id": compound_id("sc", &[&s.booking_id, &s.request_id]),
            "identifier": [
                {"system": "urn:careflow:scan-request", "value": s.request_id},
                {"system": "urn:careflow:scanner-booking", "value": s.booking_id},
            ],
            "status": status,
            "serviceCategory": [{"coding": [{"system": PROCESS_SYSTEM, "code": "scanner"}]}],
            "serviceType": [{"coding": [{"system": DICOM, "code": dicom_modality(&s.modality)}]}],
            "start": instant(start),
            "end": instant(end),
            "minutesDuration": SCAN_SLOT_MINUTES,
            "slot": [{"reference": format!("Slot/{slot}")}],
            "participant": [
                {"actor": view.reference(&s.patient_key), "status": "accepted"},
                {"actor": {"reference": format!("Location/{room}")}, "status": "accepted"},
            ],
        });
        if p.placed.contains(&s.request_id) {
            resource["basedOn"] =
                json!([{"reference": format!("ServiceRequest/{}", s.request_id)}]);
            refs.push(("based-on", format!("ServiceRequest/{}", s.request_id)));
        }
        out.push(Candidate {
            id: resource["id"].as_str().unwrap_or_default().to_owned(),
            identifiers: vec![
                ("urn:careflow:scan-request".into(), s.request_id.clone()),
                ("urn:careflow:scanner-booking".into(), s.booking_id.clone()),
            ],
            status: status.into(),
            period: Some((start, end)),
            refs,
            resource: Box::new(move || resource),
        });
    }
    out
}

/// One slot: its Candidate and the schedule (Location id) it belongs to.
fn slots(p: &Plans) -> Vec<(Candidate, String)> {
    let mut out = Vec::new();
    let mut slot = |id: String,
                    schedule: String,
                    start: DateTime<Utc>,
                    end: DateTime<Utc>,
                    busy: bool,
                    overbooked: bool,
                    process: &str| {
        let status = if busy { "busy" } else { "free" };
        let resource = json!({
            "resourceType": "Slot",
            "id": id,
            "serviceCategory": [{"coding": [{"system": PROCESS_SYSTEM, "code": process}]}],
            "schedule": {"reference": format!("Schedule/{schedule}")},
            "status": status,
            "start": instant(start),
            "end": instant(end),
            "overbooked": overbooked,
        });
        out.push((
            Candidate {
                id,
                identifiers: Vec::new(),
                status: status.into(),
                period: Some((start, end)),
                refs: vec![("schedule", format!("Schedule/{schedule}"))],
                resource: Box::new(move || resource),
            },
            schedule,
        ));
    };
    for l in &p.lists {
        for s in &l.proposal.sessions {
            let w = &l.proposal.week_start;
            if let (Some(start), Some(end)) = (
                at(w, s.day, DAY_OPENS_MINUTE),
                at(w, s.day, DAY_OPENS_MINUTE + s.staffed_minutes),
            ) {
                slot(
                    theatre_slot_id(&l.proposal.week_start, &s.theatre_id, s.day),
                    theatre_location(&s.theatre_id),
                    start,
                    end,
                    s.cases > 0,
                    false,
                    "theatre",
                );
            }
        }
    }
    for r in &p.runs {
        for d in &r.proposal.scanner_days {
            let w = &r.proposal.week_start;
            if let (Some(start), Some(end)) = (
                at(w, d.day, DAY_OPENS_MINUTE),
                at(
                    w,
                    d.day,
                    DAY_OPENS_MINUTE + d.open_slots * SCAN_SLOT_MINUTES,
                ),
            ) {
                slot(
                    scanner_slot_id(&r.id, &d.scanner_id, d.day),
                    scanner_location(&d.scanner_id),
                    start,
                    end,
                    d.booked_slots >= d.open_slots,
                    d.booked_slots > d.open_slots,
                    "scanner",
                );
            }
        }
    }
    out
}

fn schedules(p: &Plans) -> Vec<Candidate> {
    let mut horizon: BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for (c, schedule) in slots(p) {
        if let Some((s, e)) = c.period {
            let h = horizon.entry(schedule).or_insert((s, e));
            h.0 = h.0.min(s);
            h.1 = h.1.max(e);
        }
    }
    horizon
        .into_iter()
        .map(|(id, (s, e))| {
            let (process, system) = if id.starts_with("theatre-") {
                ("theatre", "urn:careflow:theatre")
            } else {
                ("scanner", "urn:careflow:scanner")
            };
            let own = id.split_once('-').map(|(_, x)| x).unwrap_or(&id).to_owned();
            let resource = json!({
                "resourceType": "Schedule",
                "id": id,
                "identifier": [{"system": system, "value": own}],
                "active": true,
                "serviceCategory": [{"coding": [{"system": PROCESS_SYSTEM, "code": process}]}],
                "actor": [{"reference": format!("Location/{id}")}],
                "planningHorizon": {"start": instant(s), "end": instant(e)},
            });
            Candidate {
                identifiers: vec![(system.into(), own)],
                status: String::new(),
                period: Some((s, e)),
                refs: vec![("actor", format!("Location/{id}"))],
                id,
                resource: Box::new(move || resource),
            }
        })
        .collect()
}

async fn appointment_candidates(state: &AppState, role: Role) -> Result<Vec<Candidate>, FhirError> {
    let p = Arc::new(plans(state, role).await?);
    let view = Arc::new(PatientView::for_role(role, &[]).resolve(state, &[]).await?);
    Ok(appointments(&p, &view))
}

async fn slot_candidates(state: &AppState, role: Role) -> Result<Vec<Candidate>, FhirError> {
    Ok(slots(&plans(state, role).await?)
        .into_iter()
        .map(|(c, _)| c)
        .collect())
}

fn parse(spec: &Spec, raw: Option<&str>) -> Result<Query, FhirError> {
    Query::parse(spec, raw)
}

/// `GET /fhir/r4/Appointment?...`.
pub(crate) async fn search_appointments(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    let query = parse(&APPOINTMENT, raw.as_deref())?;
    let all = appointment_candidates(&state, user.role).await?;
    search::respond(&APPOINTMENT, &headers, &query, all)
}

/// `GET /fhir/r4/Appointment/{id}`.
pub(crate) async fn read_appointment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    search::read(
        &APPOINTMENT,
        &id,
        appointment_candidates(&state, user.role).await?,
    )
}

/// `GET /fhir/r4/Slot?...`.
pub(crate) async fn search_slots(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    let query = parse(&SLOT, raw.as_deref())?;
    search::respond(
        &SLOT,
        &headers,
        &query,
        slot_candidates(&state, user.role).await?,
    )
}

/// `GET /fhir/r4/Slot/{id}`.
pub(crate) async fn read_slot(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    search::read(&SLOT, &id, slot_candidates(&state, user.role).await?)
}

/// `GET /fhir/r4/Schedule?...`.
pub(crate) async fn search_schedules(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    let query = parse(&SCHEDULE, raw.as_deref())?;
    let all = schedules(&plans(&state, user.role).await?);
    search::respond(&SCHEDULE, &headers, &query, all)
}

/// `GET /fhir/r4/Schedule/{id}`.
pub(crate) async fn read_schedule(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    search::read(&SCHEDULE, &id, schedules(&plans(&state, user.role).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_minutes_become_instants() {
        let t = at("2026-12-07", 2, DAY_OPENS_MINUTE + 90).unwrap();
        assert_eq!(instant(t), "2026-12-09T09:30:00Z");
        assert!(at("2026-13-07", 0, 0).is_none());
    }
}
