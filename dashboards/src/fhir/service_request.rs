//! ServiceRequest: orders placed through FHIR, read, searched and created (by `POST` or
//! in a transaction Bundle posted to the base). An imaging request (category SNOMED
//! 363679005, code a DICOM modality CT or MR) waits on the scanner worklist; a surgical
//! waiting-list entry (category SNOMED 387713003, code careflow's procedure code, the
//! operating surgeon as performer) on the theatre waiting list. The next run of a week
//! the order fits in (`POST /api/scanner-bookings`, `POST /api/theatre-weeks`) takes it
//! into its requests or cases; its Appointment then names it in `basedOn`.
//!
//! Every order is checked in full before anything is stored, and a transaction Bundle
//! is stored all or nothing; a refusal is an OperationOutcome naming the element.
//! Who may place an order is who may start its process: an imaging manager (or admin)
//! for imaging, a theatre administrator (or site manager) for surgery.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};
use serde_json::{json, Value};

use careflow_store::service_requests::{
    self, Entry, NewServiceRequest, Process, ServiceRequestRow,
};
use careflow_store::users::User;
use careflow_store::{adt, patients, views};
use careflow_types::{Role, ScanRequestEntry, UrgencyCategory, WaitingCase};

use crate::fhir::scheduling::dicom_modality;
use crate::fhir::search::{self, date_range, typed, Candidate, Query, Spec};
use crate::fhir::{
    base_url, caller, caller_in, fhir_json, FhirError, PatientView, ResolvedView, MRN_SYSTEM,
    PATIENT_KEY_SYSTEM,
};
use crate::AppState;

const SPEC: Spec = Spec {
    type_name: "ServiceRequest",
    params: &["_id", "identifier", "status", "date", "category"],
    statuses: &[
        "draft",
        "active",
        "on-hold",
        "revoked",
        "completed",
        "entered-in-error",
        "unknown",
    ],
    date_param: "date",
};

const READERS: &[Role] = &[
    Role::TheatreAdmin,
    Role::ImagingManager,
    Role::SiteManager,
    Role::Admin,
    Role::Auditor,
];
const IMAGING_PLACERS: &[Role] = &[Role::ImagingManager, Role::Admin];
const SURGICAL_PLACERS: &[Role] = &[Role::TheatreAdmin, Role::SiteManager];

const SNOMED: &str = "http://snomed.info/sct";
/// SNOMED CT "Imaging" (servicerequest-category).
const IMAGING: &str = "363679005";
/// SNOMED CT "Surgical procedure" (servicerequest-category).
const SURGICAL: &str = "387713003";
const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const PROCEDURE_SYSTEM: &str = "urn:careflow:procedure";
const SPECIALTY_SYSTEM: &str = "urn:careflow:specialty";
const SURGEON_SYSTEM: &str = "urn:careflow:surgeon";
/// The system of careflow's own order ids.
const ORDER_SYSTEM: &str = "urn:careflow:service-request";

fn category_json(process: Process) -> Value {
    let (code, display) = match process {
        Process::Scanner => (IMAGING, "Imaging"),
        Process::Theatre => (SURGICAL, "Surgical procedure"),
    };
    json!([{"coding": [{"system": SNOMED, "code": code, "display": display}]}])
}

/// Extension on a ServiceRequest that a published plan booked: the Appointment.
pub(crate) const BOOKED_EXTENSION: &str = "urn:careflow:fhir:booked-appointment";

fn candidate(
    row: &ServiceRequestRow,
    view: &ResolvedView,
    booking: Option<&crate::fhir::scheduling::Booking>,
) -> Candidate {
    // Booked in a published plan: still `active` (in force) with the Appointment named;
    // `completed` once the scan was attended.
    let status = match booking {
        Some(b) if b.status == "fulfilled" && row.status == "active" => "completed".to_owned(),
        _ => row.status.clone(),
    };
    let (code, performer) = match &row.entry {
        Entry::Scanner(r) => (
            json!({"coding": [{"system": DICOM, "code": dicom_modality(r.modality.as_str())}]}),
            None,
        ),
        Entry::Theatre(c) => (
            json!({"coding": [{"system": PROCEDURE_SYSTEM, "code": c.procedure}]}),
            Some((c.surgeon_id.clone(), c.specialty.clone())),
        ),
    };
    let mut resource = json!({
        "resourceType": "ServiceRequest",
        "id": row.request_id,
        "identifier": [
            {"system": row.identifier_system, "value": row.identifier_value},
            {"system": ORDER_SYSTEM, "value": row.request_id},
        ],
        "status": status,
        "intent": "order",
        "category": category_json(row.process),
        "priority": row.priority,
        "code": code,
        "subject": view.reference(&row.patient_key),
        "occurrencePeriod": {"start": row.earliest, "end": row.latest},
        "authoredOn": row.created_at,
        "requester": {"identifier": {"system": "urn:careflow:user", "value": row.requested_by}},
    });
    if let Some(b) = booking {
        resource["extension"] = json!([{
            "url": BOOKED_EXTENSION,
            "extension": [
                {"url": "appointment", "valueReference": {"reference": format!("Appointment/{}", b.appointment)}},
                {"url": "start", "valueDateTime": b.start},
                {"url": "end", "valueDateTime": b.end},
                {"url": "status", "valueCode": b.status},
            ],
        }]);
    }
    if let Some((surgeon, specialty)) = performer {
        resource["performer"] =
            json!([{"identifier": {"system": SURGEON_SYSTEM, "value": surgeon}}]);
        resource["performerType"] =
            json!({"coding": [{"system": SPECIALTY_SYSTEM, "code": specialty}]});
    }
    let period = date_range(&row.earliest)
        .zip(date_range(&row.latest))
        .map(|(a, b)| (a.0, b.1));
    let category = match row.process {
        Process::Scanner => IMAGING,
        Process::Theatre => SURGICAL,
    };
    Candidate {
        id: row.request_id.clone(),
        identifiers: vec![
            (row.identifier_system.clone(), row.identifier_value.clone()),
            (ORDER_SYSTEM.into(), row.request_id.clone()),
        ],
        status,
        period,
        refs: vec![("category", category.into())],
        resource: Box::new(move || resource),
    }
}

async fn candidates(state: &AppState, role: Role) -> Result<Vec<Candidate>, FhirError> {
    let rows = service_requests::all(&state.db).await?;
    let view = PatientView::for_role(role, &[]).resolve(state, &[]).await?;
    let bookings = crate::fhir::scheduling::bookings(state).await?;
    Ok(rows
        .iter()
        .filter(|r| match role {
            Role::TheatreAdmin => r.process == Process::Theatre,
            Role::ImagingManager => r.process == Process::Scanner,
            _ => true,
        })
        .map(|r| candidate(r, &view, bookings.get(&r.request_id)))
        .collect())
}

/// `GET /fhir/r4/ServiceRequest/{id}`.
pub(crate) async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    search::read(&SPEC, &id, candidates(&state, user.role).await?)
}

/// `GET /fhir/r4/ServiceRequest?...` (`category` matches the SNOMED code, with or
/// without its system).
pub(crate) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, FhirError> {
    let user = caller_in(&state, &headers, READERS).await?;
    let query = Query::parse(&SPEC, raw.as_deref())?;
    let all = candidates(&state, user.role).await?;
    search::respond(&SPEC, &headers, &query, all)
}

/// Reads `body` as JSON, or refuses it at `at`.
fn json_body(body: &[u8], at: &str) -> Result<Value, FhirError> {
    serde_json::from_slice(body).map_err(|e| {
        FhirError::invalid(
            at,
            format!(
                "the body is not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// The date part of a FHIR date or dateTime at `at`.
fn date_at(v: &Value, at: &str) -> Result<Option<NaiveDate>, FhirError> {
    match v.as_str() {
        None if v.is_null() => Ok(None),
        Some(s) if s.len() >= 10 => NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d")
            .map(Some)
            .map_err(|_| FhirError::invalid(at, format!("{s:?} is not a FHIR date"))),
        _ => Err(FhirError::invalid(
            at,
            "must be a date YYYY-MM-DD or a dateTime",
        )),
    }
}

fn coding_codes<'a>(v: &'a Value, system: &str) -> Vec<&'a str> {
    v["coding"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|c| c["system"] == system)
                .filter_map(|c| c["code"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A representative age for the no-show model where only the age group is known.
fn age_of_group(group: &str) -> u32 {
    match group {
        "child" => 10,
        "elderly" => 80,
        _ => 45,
    }
}

/// The FHIR model's refusal, located: the path of the element, and for a missing
/// element the element itself (serde names it only in the message).
fn model_refusal(at: &str, e: serde_path_to_error::Error<serde_json::Error>) -> FhirError {
    let path = e.path().to_string();
    let message = e.into_inner().to_string();
    let mut expression = if path == "." || path.is_empty() {
        at.to_owned()
    } else {
        format!("{at}.{path}")
    };
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        expression = format!("{expression}.{field}");
    }
    FhirError::invalid(&expression, message)
}

/// Checks one ServiceRequest (`v`, located under `at`, e.g. `ServiceRequest` or
/// `Bundle.entry[2].resource`) placed by `user`: every refusal names the element.
async fn check(
    state: &AppState,
    user: &User,
    v: &Value,
    at: &str,
) -> Result<NewServiceRequest, FhirError> {
    if v["resourceType"] != "ServiceRequest" {
        return Err(FhirError::unprocessable(
            &format!("{at}.resourceType"),
            format!(
                "careflow takes only ServiceRequest resources here, not {}",
                v["resourceType"]
            ),
        ));
    }
    // The resource must be a ServiceRequest as the FHIR model reads it.
    let de = v.clone();
    if let Err(e) =
        serde_path_to_error::deserialize::<_, fhir_model::r4b::resources::ServiceRequest>(de)
    {
        return Err(model_refusal(at, e));
    }
    let el = |name: &str| format!("{at}.{name}");
    if v["status"] != "active" {
        return Err(FhirError::unprocessable(
            &el("status"),
            format!("an order careflow takes is active, not {}", v["status"]),
        ));
    }
    if !matches!(v["intent"].as_str(), Some("order" | "original-order")) {
        return Err(FhirError::unprocessable(
            &el("intent"),
            format!(
                "an order careflow takes has intent order or original-order, not {}",
                v["intent"]
            ),
        ));
    }
    let categories: Vec<&str> = v["category"]
        .as_array()
        .map(|l| l.iter().flat_map(|c| coding_codes(c, SNOMED)).collect())
        .unwrap_or_default();
    let process = if categories.contains(&IMAGING) {
        Process::Scanner
    } else if categories.contains(&SURGICAL) {
        Process::Theatre
    } else {
        return Err(FhirError::unprocessable(
            &el("category"),
            format!(
                "careflow takes imaging requests (SNOMED {IMAGING}) and surgical waiting-list \
                 entries (SNOMED {SURGICAL}); the category names neither"
            ),
        ));
    };
    let placers = match process {
        Process::Scanner => IMAGING_PLACERS,
        Process::Theatre => SURGICAL_PLACERS,
    };
    if !placers.contains(&user.role) {
        return Err(FhirError::forbidden(format!(
            "role {} may not place {} orders",
            user.role,
            process.as_str()
        )));
    }
    // The patient: a registered pseudonym, or a hospital number careflow knows.
    let subject = &v["subject"];
    let key = if let Some(r) = subject["reference"].as_str() {
        r.strip_prefix("Patient/").map(str::to_owned)
    } else {
        let system = subject["identifier"]["system"].as_str().unwrap_or("");
        let value = subject["identifier"]["value"].as_str().unwrap_or("");
        match system {
            PATIENT_KEY_SYSTEM => Some(value.to_owned()),
            MRN_SYSTEM if !value.is_empty() => adt::patient_key_of(&state.db, value).await?,
            _ => None,
        }
    };
    let Some(patient_key) = key.filter(|k| k.starts_with(patients::KEY_PREFIX)) else {
        return Err(FhirError::unprocessable(
            &el("subject"),
            format!(
                "the subject must be a registered patient: Patient/{}... or an identifier of \
                 system {PATIENT_KEY_SYSTEM} or {MRN_SYSTEM}",
                patients::KEY_PREFIX
            ),
        ));
    };
    let Some(age_group) = views::age_group_of(&state.db, &patient_key).await? else {
        return Err(FhirError::unprocessable(
            &el("subject"),
            "the subject is not a registered patient (register them through an admission or the ADT feed first)",
        ));
    };
    let priority = v["priority"].as_str().unwrap_or("routine").to_owned();
    let today = Utc::now().date_naive();
    let (earliest, latest) = if !v["occurrencePeriod"].is_null() {
        (
            date_at(
                &v["occurrencePeriod"]["start"],
                &el("occurrencePeriod.start"),
            )?,
            date_at(&v["occurrencePeriod"]["end"], &el("occurrencePeriod.end"))?,
        )
    } else {
        let d = date_at(&v["occurrenceDateTime"], &el("occurrenceDateTime"))?;
        (d, d)
    };
    let earliest = earliest.unwrap_or(today);
    let request_id = format!("SR-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let (entry, code, default_days) = match process {
        Process::Scanner => {
            let codes = coding_codes(&v["code"], DICOM);
            let modality = match codes.first() {
                Some(&"CT") => "ct",
                Some(&"MR") => "mri",
                _ => {
                    return Err(FhirError::unprocessable(
                        &el("code"),
                        format!(
                            "an imaging request names its modality as a {DICOM} code, CT or MR"
                        ),
                    ))
                }
            };
            let urgency = match priority.as_str() {
                "stat" => "emergency",
                "urgent" | "asap" => "urgent",
                _ => "routine",
            };
            let entry: ScanRequestEntry = serde_json::from_value(json!({
                "request_id": request_id,
                "patient_key": patient_key,
                "modality": modality,
                "urgency": urgency,
                "deadline_day": 0,
                "inpatient": !v["encounter"].is_null(),
                "age_years": age_of_group(&age_group),
            }))
            .map_err(FhirError::internal)?;
            let days = match urgency {
                "emergency" => 0,
                "urgent" => 2,
                _ => 28,
            };
            (Entry::Scanner(entry), modality.to_owned(), days)
        }
        Process::Theatre => {
            let procedure = coding_codes(&v["code"], PROCEDURE_SYSTEM)
                .first()
                .map(|s| (*s).to_owned())
                .filter(|p| valid_id(p))
                .ok_or_else(|| {
                    FhirError::unprocessable(
                        &el("code"),
                        format!("a surgical waiting-list entry names its procedure as a {PROCEDURE_SYSTEM} code"),
                    )
                })?;
            let surgeon = v["performer"]
                .as_array()
                .and_then(|l| {
                    l.iter().find_map(|p| {
                        if p["identifier"]["system"] == SURGEON_SYSTEM {
                            p["identifier"]["value"].as_str().map(str::to_owned)
                        } else {
                            p["reference"]
                                .as_str()
                                .and_then(|r| r.strip_prefix("Practitioner/"))
                                .map(str::to_owned)
                        }
                    })
                })
                .filter(|s| valid_id(s))
                .ok_or_else(|| {
                    FhirError::unprocessable(
                        &el("performer"),
                        format!("a surgical waiting-list entry names its operating surgeon (identifier of system {SURGEON_SYSTEM})"),
                    )
                })?;
            let specialty = coding_codes(&v["performerType"], SPECIALTY_SYSTEM)
                .first()
                .map(|s| (*s).to_owned())
                .filter(|s| valid_id(s))
                .ok_or_else(|| {
                    FhirError::unprocessable(
                        &el("performerType"),
                        format!("a surgical waiting-list entry names its specialty as a {SPECIALTY_SYSTEM} code"),
                    )
                })?;
            // The urgency category from the FHIR priority: stat is P1 (within 72 hours),
            // asap P2, urgent P3, routine P4.
            let category = match priority.as_str() {
                "stat" => UrgencyCategory::P1,
                "asap" => UrgencyCategory::P2,
                "urgent" => UrgencyCategory::P3,
                _ => UrgencyCategory::P4,
            };
            let case: WaitingCase = serde_json::from_value(json!({
                "case_id": request_id,
                "patient_key": patient_key,
                "procedure": procedure,
                "specialty": specialty,
                "surgeon_id": surgeon,
                "category": category,
                "days_waited": 0,
            }))
            .map_err(FhirError::internal)?;
            (Entry::Theatre(case), procedure, category.deadline_days())
        }
    };
    let latest = latest.unwrap_or(earliest + Duration::days(i64::from(default_days)));
    if latest < earliest {
        return Err(FhirError::invalid(
            &el("occurrencePeriod.end"),
            format!("{latest} is before the start {earliest}"),
        ));
    }
    let placer = v["identifier"].as_array().and_then(|l| {
        l.iter().find_map(|i| {
            Some((
                i["system"].as_str()?.to_owned(),
                i["value"].as_str()?.to_owned(),
            ))
        })
    });
    let (identifier_system, identifier_value) =
        placer.unwrap_or_else(|| (ORDER_SYSTEM.to_owned(), request_id.clone()));
    Ok(NewServiceRequest {
        request_id,
        patient_key,
        priority,
        code,
        earliest,
        latest,
        identifier_system,
        identifier_value,
        entry,
    })
}

/// Stores checked orders (all or none); a store refusal is located at the order's
/// element under `at(i)`.
async fn store(
    state: &AppState,
    user: &User,
    orders: &[NewServiceRequest],
    at: impl Fn(usize) -> String,
) -> Result<Vec<ServiceRequestRow>, FhirError> {
    let located = |m: &str| -> (usize, String) {
        match m.split_once(": ") {
            Some((i, rest)) => (i.parse().unwrap_or(0), rest.to_owned()),
            None => (0, m.to_owned()),
        }
    };
    service_requests::create_all(&state.db, orders, &user.name, user.role.as_str())
        .await
        .map_err(|e| match e {
            careflow_store::Error::Conflict(m) => {
                let (i, why) = located(&m);
                FhirError::duplicate(&format!("{}.identifier", at(i)), why)
            }
            careflow_store::Error::Invalid(m) => {
                let (i, why) = located(&m);
                FhirError::unprocessable(&format!("{}.subject", at(i)), why)
            }
            other => other.into(),
        })
}

/// `POST /fhir/r4/ServiceRequest`: 201 with the order and `Location` to follow it.
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FhirError> {
    let user = caller(&state, &headers).await?;
    let v = json_body(&body, "ServiceRequest")?;
    let order = check(&state, &user, &v, "ServiceRequest").await?;
    let stored = store(&state, &user, &[order], |_| "ServiceRequest".to_owned()).await?;
    let row = &stored[0];
    let view = PatientView::for_role(user.role, &[])
        .resolve(&state, &[])
        .await?;
    let resource = typed((candidate(row, &view, None).resource)())?;
    let location = format!("{}/ServiceRequest/{}", base_url(&headers), row.request_id);
    let mut resp = fhir_json(StatusCode::CREATED, &resource);
    if let Ok(h) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, h);
    }
    Ok(resp)
}

/// `POST /fhir/r4` with a transaction Bundle of ServiceRequest creations: all stored,
/// or none and an OperationOutcome naming the entry's element.
pub(crate) async fn transaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, FhirError> {
    let user = caller(&state, &headers).await?;
    let v = json_body(&body, "Bundle")?;
    if v["resourceType"] != "Bundle" {
        return Err(FhirError::invalid(
            "Bundle.resourceType",
            "the base takes a transaction Bundle",
        ));
    }
    if let Err(e) =
        serde_path_to_error::deserialize::<_, fhir_model::r4b::resources::Bundle>(v.clone())
    {
        return Err(model_refusal("Bundle", e));
    }
    if v["type"] != "transaction" {
        return Err(FhirError::not_supported(
            "Bundle.type",
            format!("careflow processes transaction Bundles, not {}", v["type"]),
        ));
    }
    let entries = v["entry"].as_array().cloned().unwrap_or_default();
    let mut orders = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("Bundle.entry[{i}]");
        let method = entry["request"]["method"].as_str().unwrap_or("");
        let url = entry["request"]["url"].as_str().unwrap_or("");
        if entry["resource"]["resourceType"] != "ServiceRequest" {
            return Err(FhirError::unprocessable(
                &format!("{at}.resource.resourceType"),
                format!(
                    "careflow takes only ServiceRequest creations in a transaction, not {} \
                     (nothing of this Bundle was stored)",
                    entry["resource"]["resourceType"]
                ),
            ));
        }
        if method != "POST" || url.trim_start_matches('/') != "ServiceRequest" {
            return Err(FhirError::unprocessable(
                &format!("{at}.request"),
                format!(
                    "an entry creates a ServiceRequest: POST ServiceRequest, not {method} {url}"
                ),
            ));
        }
        orders.push(check(&state, &user, &entry["resource"], &format!("{at}.resource")).await?);
    }
    for (i, o) in orders.iter().enumerate() {
        if orders[..i].iter().any(|p| {
            p.identifier_system == o.identifier_system && p.identifier_value == o.identifier_value
        }) {
            return Err(FhirError::duplicate(
                &format!("Bundle.entry[{i}].resource.identifier"),
                "the Bundle places the same order twice",
            ));
        }
    }
    let stored = store(&state, &user, &orders, |i| {
        format!("Bundle.entry[{i}].resource")
    })
    .await?;
    let results: Vec<Value> = stored
        .iter()
        .map(|r| {
            json!({
                "fullUrl": format!("{}/ServiceRequest/{}", base_url(&headers), r.request_id),
                "response": {
                    "status": "201 Created",
                    "location": format!("ServiceRequest/{}", r.request_id),
                },
            })
        })
        .collect();
    let bundle = typed(json!({
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": results,
    }))?;
    Ok(fhir_json(StatusCode::OK, &bundle).into_response())
}
