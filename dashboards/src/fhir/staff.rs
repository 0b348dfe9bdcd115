//! Practitioner and PractitionerRole: the nurses of the published rosters. careflow
//! knows a nurse by staff number only (never a name), so a Practitioner is that number;
//! each published roster gives each of its nurses a PractitionerRole (a nurse on that
//! ward for the roster's period, with the shifts rostered as available times).
//!
//! Roles as the roster routes.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use serde_json::json;

use careflow_store::views;
use careflow_types::Role;

use crate::fhir::search::{self, date_range, ready, Candidate, Query, Spec};
use crate::fhir::{caller_in, compound_id, FhirError};
use crate::AppState;

const READERS: &[Role] = &[
    Role::DepartmentHead,
    Role::NurseInCharge,
    Role::SiteManager,
    Role::Admin,
    Role::Auditor,
];

const PRACTITIONER: Spec = Spec {
    type_name: "Practitioner",
    params: &["_id", "identifier"],
    statuses: &[],
    date_param: "",
};

const ROLE: Spec = Spec {
    type_name: "PractitionerRole",
    params: &["_id", "identifier", "date", "practitioner"],
    statuses: &[],
    date_param: "date",
};

/// The system of careflow's staff numbers.
const STAFF_SYSTEM: &str = "urn:careflow:staff-number";
const ROLE_CODES: &str = "http://terminology.hl7.org/CodeSystem/practitioner-role";

fn practitioner_id(nurse: &str) -> String {
    format!("nurse-{nurse}")
}

async fn rosters(
    state: &AppState,
) -> Result<Vec<views::InForce<careflow_types::RosterProposal>>, FhirError> {
    Ok(views::published_rosters(&state.db).await?)
}

fn practitioners(rosters: &[views::InForce<careflow_types::RosterProposal>]) -> Vec<Candidate> {
    let mut nurses = BTreeMap::new();
    for r in rosters {
        for l in &r.proposal.loads {
            nurses.insert(l.nurse_id.clone(), ());
        }
        for a in &r.proposal.assignments {
            nurses.insert(a.nurse_id.clone(), ());
        }
    }
    nurses
        .into_keys()
        .map(|nurse| {
            let id = practitioner_id(&nurse);
            Candidate {
                resource: ready(json!({
                    "resourceType": "Practitioner",
                    "id": id,
                    "identifier": [{"system": STAFF_SYSTEM, "value": nurse}],
                    "active": true,
                })),
                identifiers: vec![(STAFF_SYSTEM.into(), nurse)],
                status: String::new(),
                period: None,
                refs: Vec::new(),
                id,
            }
        })
        .collect()
}

fn roles(rosters: &[views::InForce<careflow_types::RosterProposal>]) -> Vec<Candidate> {
    let mut out = Vec::new();
    for r in rosters {
        let p = &r.proposal;
        let Some(first) = NaiveDate::parse_from_str(&p.start_date, "%Y-%m-%d").ok() else {
            continue;
        };
        let last = first + Duration::days(i64::from(p.days.max(1)) - 1);
        let mut nurses: BTreeMap<&str, u32> = BTreeMap::new();
        for l in &p.loads {
            nurses.insert(&l.nurse_id, l.shifts);
        }
        for a in &p.assignments {
            nurses.entry(&a.nurse_id).or_insert(0);
        }
        for (nurse, _) in nurses {
            let id = compound_id("pr", &[&r.id, nurse]);
            let practitioner = format!("Practitioner/{}", practitioner_id(nurse));
            let period = date_range(&first.to_string())
                .zip(date_range(&last.to_string()))
                .map(|(a, b)| (a.0, b.1));
            out.push(Candidate {
                resource: ready(json!({
                    "resourceType": "PractitionerRole",
                    "id": id,
                    "identifier": [{"system": "urn:careflow:roster", "value": r.id}],
                    "active": true,
                    "period": {"start": first.to_string(), "end": last.to_string()},
                    "practitioner": {"reference": practitioner},
                    "code": [{"coding": [{"system": ROLE_CODES, "code": "nurse", "display": "Nurse"}]}],
                    "specialty": [{"coding": [{"system": "urn:careflow:roster-ward", "code": p.ward}]}],
                })),
                identifiers: vec![("urn:careflow:roster".into(), r.id.clone())],
                status: String::new(),
                period,
                refs: vec![("practitioner", practitioner)],
                id,
            });
        }
    }
    out
}

/// `GET /fhir/r4/Practitioner?...`.
pub(crate) async fn search_practitioners(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, FhirError> {
    caller_in(&state, &headers, READERS).await?;
    let query = Query::parse(&PRACTITIONER, raw.as_deref())?;
    let all = practitioners(&rosters(&state).await?);
    search::respond(&PRACTITIONER, &headers, &query, all)
}

/// `GET /fhir/r4/Practitioner/{id}`.
pub(crate) async fn read_practitioner(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    caller_in(&state, &headers, READERS).await?;
    search::read(&PRACTITIONER, &id, practitioners(&rosters(&state).await?))
}

/// `GET /fhir/r4/PractitionerRole?...`.
pub(crate) async fn search_roles(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, FhirError> {
    caller_in(&state, &headers, READERS).await?;
    let query = Query::parse(&ROLE, raw.as_deref())?;
    search::respond(&ROLE, &headers, &query, roles(&rosters(&state).await?))
}

/// `GET /fhir/r4/PractitionerRole/{id}`.
pub(crate) async fn read_role(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    caller_in(&state, &headers, READERS).await?;
    search::read(&ROLE, &id, roles(&rosters(&state).await?))
}
