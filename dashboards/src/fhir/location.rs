//! Location: the site, its wards, rooms and beds, each `partOf` the one above, with the
//! bed's operational status from HL7 table 0116 (occupied while a patient is assigned,
//! unoccupied when free, closed when out of service), and the theatres and scanners
//! of published plans as rooms of the site. careflow keeps no cleaning
//! state, so housekeeping is never reported. Locations carry no patient data: any
//! signed-in user may read them.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use fhir_model::r4b::codes::{LocationMode, LocationStatus};
use fhir_model::r4b::resources::{Location, Resource};
use fhir_model::r4b::types::{CodeableConcept, Coding, Identifier, Reference};

use crate::fhir::{base_url, caller, fhir_json, searchset_page, FhirError, Paging};
use crate::AppState;

/// The system of careflow's location identifiers (its own ids).
pub(crate) const LOCATION_SYSTEM: &str = "urn:careflow:location";
/// The one site careflow manages; wards are part of it.
pub(crate) const SITE_ID: &str = "site";
const PHYSICAL_TYPE: &str = "http://terminology.hl7.org/CodeSystem/location-physical-type";
const BED_STATUS: &str = "http://terminology.hl7.org/CodeSystem/v2-0116";

/// One place as stored: level, id, name, parent and (beds) status.
struct Place {
    level: Level,
    id: String,
    name: String,
    part_of: Option<String>,
    in_service: bool,
    occupied: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Site,
    Ward,
    Room,
    Bed,
}

impl Level {
    /// Code and display in the location-physical-type code system.
    fn physical_type(self) -> (&'static str, &'static str) {
        match self {
            Level::Site => ("si", "Site"),
            Level::Ward => ("wa", "Ward"),
            Level::Room => ("ro", "Room"),
            Level::Bed => ("bd", "Bed"),
        }
    }
}

async fn places(state: &AppState) -> Result<Vec<Place>, FhirError> {
    let mut out = vec![Place {
        level: Level::Site,
        id: SITE_ID.into(),
        name: "careflow hospital site".into(),
        part_of: None,
        in_service: true,
        occupied: false,
    }];
    let site = careflow_store::hospital::site_places(&state.db)
        .await
        .map_err(FhirError::internal)?;
    for (id, name) in site.wards {
        out.push(Place {
            level: Level::Ward,
            id,
            name,
            part_of: Some(SITE_ID.into()),
            in_service: true,
            occupied: false,
        });
    }
    for (id, ward) in site.rooms {
        out.push(Place {
            level: Level::Room,
            name: id.clone(),
            id,
            part_of: Some(ward),
            in_service: true,
            occupied: false,
        });
    }
    for b in site.beds {
        out.push(Place {
            level: Level::Bed,
            name: b.bed_id.clone(),
            id: b.bed_id,
            part_of: Some(b.room_id),
            in_service: b.in_service,
            occupied: b.occupied,
        });
    }
    // The theatres and scanners of published plans: what Appointments and Schedules
    // name as their place.
    for (id, name) in crate::fhir::scheduling::rooms(state).await? {
        out.push(Place {
            level: Level::Room,
            id,
            name,
            part_of: Some(SITE_ID.into()),
            in_service: true,
            occupied: false,
        });
    }
    Ok(out)
}

fn to_resource(place: &Place) -> Result<Location, FhirError> {
    let (code, display) = place.level.physical_type();
    let mut builder = Location::builder()
        .id(place.id.clone())
        .identifier(vec![Some(
            Identifier::builder()
                .system(LOCATION_SYSTEM.into())
                .value(place.id.clone())
                .build()?,
        )])
        .status(if place.in_service {
            LocationStatus::Active
        } else {
            LocationStatus::Suspended
        })
        .name(place.name.clone())
        .mode(LocationMode::Instance)
        .physical_type(
            CodeableConcept::builder()
                .coding(vec![Some(
                    Coding::builder()
                        .system(PHYSICAL_TYPE.into())
                        .code(code.into())
                        .display(display.into())
                        .build()?,
                )])
                .build()?,
        );
    if let Some(parent) = &place.part_of {
        builder = builder.part_of(
            Reference::builder()
                .reference(format!("Location/{parent}"))
                .build()?,
        );
    }
    if place.level == Level::Bed {
        let (code, display) = match (place.in_service, place.occupied) {
            (false, _) => ("C", "Closed"),
            (true, true) => ("O", "Occupied"),
            (true, false) => ("U", "Unoccupied"),
        };
        builder = builder.operational_status(
            Coding::builder()
                .system(BED_STATUS.into())
                .code(code.into())
                .display(display.into())
                .build()?,
        );
    }
    Ok(builder.build()?)
}

/// The search parameters Location understands; any other is refused by name.
const PARAMS: &[&str] = &[
    "_id",
    "identifier",
    "status",
    "partof",
    "operational-status",
    "_count",
    "_offset",
];

/// `GET /fhir/r4/Location/{id}`.
pub(crate) async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, FhirError> {
    caller(&state, &headers).await?;
    let place = places(&state)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| FhirError::not_found(format!("Location/{id} is not known")))?;
    Ok(fhir_json(
        StatusCode::OK,
        &Resource::from(to_resource(&place)?),
    ))
}

/// `GET /fhir/r4/Location?...`: a searchset Bundle, paged by `_count` and `_offset`.
pub(crate) async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, FhirError> {
    caller(&state, &headers).await?;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let mut given: HashMap<&str, &str> = HashMap::new();
    for (k, v) in &pairs {
        if !PARAMS.contains(&k.as_str()) {
            return Err(FhirError::invalid(
                k,
                format!(
                    "unknown search parameter {k:?} for Location (supported: {})",
                    PARAMS.join(", ")
                ),
            ));
        }
        if given.insert(k.as_str(), v.as_str()).is_some() {
            return Err(FhirError::invalid(
                k,
                format!("search parameter {k:?} given twice (use a comma for OR)"),
            ));
        }
    }
    let paging = Paging::parse(given.get("_count").copied(), given.get("_offset").copied())?;
    // Each token parameter may list alternatives separated by commas (FHIR OR).
    let any_of = |name: &str| -> Option<Vec<String>> {
        given
            .get(name)
            .map(|v| v.split(',').map(str::to_owned).collect())
    };
    let ids = any_of("_id");
    let identifiers = match any_of("identifier") {
        Some(list) => Some(
            list.into_iter()
                .map(|tok| match tok.split_once('|') {
                    Some((system, value)) if system.is_empty() || system == LOCATION_SYSTEM => {
                        Ok(Some(value.to_owned()))
                    }
                    // Another system's identifier matches nothing careflow holds.
                    Some(_) => Ok(None),
                    None => Ok(Some(tok)),
                })
                .collect::<Result<Vec<_>, FhirError>>()?
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        ),
        None => None,
    };
    let statuses = any_of("status");
    if let Some(list) = &statuses {
        if let Some(bad) = list
            .iter()
            .find(|s| !["active", "suspended", "inactive"].contains(&s.as_str()))
        {
            return Err(FhirError::invalid(
                "status",
                format!("status must be active, suspended or inactive, not {bad:?}"),
            ));
        }
    }
    let operational = any_of("operational-status");
    if let Some(list) = &operational {
        if let Some(bad) = list.iter().find(|s| {
            let code = s.rsplit('|').next().unwrap_or(s);
            !["O", "U", "C", "H"].contains(&code)
        }) {
            return Err(FhirError::invalid(
                "operational-status",
                format!("operational-status must be O, U, C or H (HL7 v2 table 0116), not {bad:?}"),
            ));
        }
    }
    let parents = any_of("partof").map(|list| {
        list.into_iter()
            .map(|r| r.strip_prefix("Location/").unwrap_or(&r).to_owned())
            .collect::<Vec<_>>()
    });
    let base = base_url(&headers);
    let mut matches = Vec::new();
    for place in places(&state).await? {
        if ids.as_ref().is_some_and(|l| !l.contains(&place.id))
            || identifiers.as_ref().is_some_and(|l| !l.contains(&place.id))
            || parents
                .as_ref()
                .is_some_and(|l| place.part_of.as_ref().is_none_or(|p| !l.contains(p)))
        {
            continue;
        }
        let status = if place.in_service {
            "active"
        } else {
            "suspended"
        };
        if statuses
            .as_ref()
            .is_some_and(|l| !l.iter().any(|s| s == status))
        {
            continue;
        }
        if let Some(list) = &operational {
            let code = match (place.level, place.in_service, place.occupied) {
                (Level::Bed, false, _) => "C",
                (Level::Bed, true, true) => "O",
                (Level::Bed, true, false) => "U",
                _ => "",
            };
            if !list.iter().any(|s| s.rsplit('|').next() == Some(code)) {
                continue;
            }
        }
        matches.push(place);
    }
    let query: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| k != "_count" && k != "_offset")
        .collect();
    // Only the page's Locations are built.
    let total = matches.len();
    let mut page = Vec::new();
    for place in matches.iter().skip(paging.offset).take(paging.count) {
        let url = format!("{base}/Location/{}", place.id);
        page.push((url, Resource::from(to_resource(place)?)));
    }
    let bundle = searchset_page(&format!("{base}/Location"), &query, &paging, total, page)?;
    Ok(fhir_json(StatusCode::OK, &Resource::from(bundle)))
}
