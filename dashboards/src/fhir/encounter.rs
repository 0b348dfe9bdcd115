//! Encounter: each inpatient stay careflow knows (admissions through the API and stays
//! from the ADT feed), with its location history (every bed it held, and that bed's
//! ward, with the period it was there).
//!
//! Roles as `/api/beds` and the admission status, plus the auditor; the patient is
//! named by pseudonymous key, by hospital number only to the admissions clerk (who
//! matches a stay to the patient at the desk), and withheld from the auditor.

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use careflow_store::views;
use careflow_types::Role;

use crate::fhir::search::{self, date_range, Candidate, Query, Spec};
use crate::fhir::{caller_in, FhirError, PatientView};
use crate::AppState;

const SPEC: Spec = Spec {
    type_name: "Encounter",
    params: &["_id", "identifier", "status", "date", "location", "partof"],
    statuses: &[
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    ],
    date_param: "date",
};

const READERS: &[Role] = &[
    Role::AdmissionsClerk,
    Role::BedManager,
    Role::SiteManager,
    Role::Admin,
    Role::Auditor,
];

/// The system of careflow's admission ids.
pub(crate) const ADMISSION_SYSTEM: &str = "urn:careflow:admission";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const ACT_PRIORITY: &str = "http://terminology.hl7.org/CodeSystem/v3-ActPriority";
const PHYSICAL_TYPE: &str = "http://terminology.hl7.org/CodeSystem/location-physical-type";

/// The Encounter status of a stay's careflow status.
pub(crate) fn status_of(status: &str) -> &'static str {
    match status {
        "admitted" => "in-progress",
        "discharged" => "finished",
        "cancelled" | "declined" => "cancelled",
        _ => "planned",
    }
}

fn ended(status: &str) -> bool {
    matches!(status, "discharged" | "cancelled" | "declined")
}

fn candidate(stay: &views::Stay, patient: Value) -> Candidate {
    let status = status_of(&stay.status);
    let end = ended(&stay.status).then(|| stay.updated_at.clone());
    let mut locations = Vec::new();
    let mut refs = Vec::new();
    for spell in &stay.beds {
        let state = if spell.to.is_some() {
            "completed"
        } else {
            "active"
        };
        let mut period = json!({"start": spell.from});
        if let Some(to) = &spell.to {
            period["end"] = json!(to);
        }
        for (id, code, display) in [(&spell.ward_id, "wa", "Ward"), (&spell.bed_id, "bd", "Bed")] {
            locations.push(json!({
                "location": {"reference": format!("Location/{id}")},
                "status": state,
                "physicalType": {"coding": [{"system": PHYSICAL_TYPE, "code": code, "display": display}]},
                "period": period,
            }));
            refs.push(("location", format!("Location/{id}")));
        }
    }
    let mut period = json!({"start": stay.created_at});
    if let Some(e) = &end {
        period["end"] = json!(e);
    }
    let mut resource = json!({
        "resourceType": "Encounter",
        "id": stay.admission_id,
        "identifier": [{"system": ADMISSION_SYSTEM, "value": stay.admission_id}],
        "status": status,
        "class": {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "priority": {"coding": [if stay.kind == "emergency" {
            json!({"system": ACT_PRIORITY, "code": "EM", "display": "emergency"})
        } else {
            json!({"system": ACT_PRIORITY, "code": "EL", "display": "elective"})
        }]},
        "serviceType": {"coding": [{"system": "urn:careflow:specialty", "code": stay.specialty}]},
        "subject": patient,
        "period": period,
    });
    if !locations.is_empty() {
        resource["location"] = Value::Array(locations);
    }
    let start = date_range(&stay.created_at).map(|r| r.0);
    let stop = match &end {
        Some(e) => date_range(e).map(|r| r.1),
        None => Some(chrono::DateTime::<chrono::Utc>::MAX_UTC),
    };
    Candidate {
        id: stay.admission_id.clone(),
        identifiers: vec![(ADMISSION_SYSTEM.into(), stay.admission_id.clone())],
        status: status.into(),
        period: start.zip(stop),
        refs,
        resource: Box::new(move || resource),
    }
}

async fn candidates(state: &AppState, view: &PatientView) -> Result<Vec<Candidate>, FhirError> {
    let stays = views::stays(&state.db).await?;
    let keys: Vec<&str> = stays.iter().map(|s| s.patient_key.as_str()).collect();
    let view = view.resolve(state, &keys).await?;
    Ok(stays
        .iter()
        .map(|s| candidate(s, view.reference(&s.patient_key)))
        .collect())
}

/// `GET /fhir/r4/Encounter/{id}`.
pub(crate) async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    let view = PatientView::for_role(user.role, &[Role::AdmissionsClerk]);
    search::read(&SPEC, &id, candidates(&state, &view).await?)
}

/// `GET /fhir/r4/Encounter?...`.
pub(crate) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    let query = Query::parse(&SPEC, raw.as_deref())?;
    let view = PatientView::for_role(user.role, &[Role::AdmissionsClerk]);
    search::respond(&SPEC, &headers, &query, candidates(&state, &view).await?)
}
