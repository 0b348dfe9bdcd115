//! The sender's locations (PV1-3: point of care ^ room ^ bed) mapped to careflow's
//! wards and beds, from a JSON file:
//!
//! ```json
//! { "wards": [ { "point_of_care": "CARDA", "ward_id": "CARD-A" } ],
//!   "beds":  [ { "point_of_care": "CARDA", "room": "BAY1", "bed": "1",
//!                "bed_id": "CARD-A-BAY1-B1" } ] }
//! ```
//!
//! or from the hospital's FHIR Location export (a FHIR R4 Bundle of any type, or NDJSON
//! with one Location a line, told apart by content: a JSON object with `resourceType`):
//! careflow's own ids are identifiers in careflow's system ([`CAREFLOW_LOCATION_SYSTEM`],
//! as careflow's `GET /fhir/r4/Location` gives them), the sender's PV1-3 codes are
//! identifiers in the sender's system (`--hl7-location-system`; without it, the one
//! identifier that is not careflow's), and a ward (physicalType `wa`), its rooms (`ro`)
//! and their beds (`bd`) hang together by `partOf`. Locations without a careflow
//! identifier, or without a code of the sender, are not mapped (the sender's other
//! places, careflow's places the sender never names).
//!
//! A point of care that is not one of `wards` is somewhere careflow does not manage (an
//! ED chair, a clinic, another site): the patient is known to be there and no bed
//! changes. Loading checks every ward and bed against the store.

use std::collections::HashMap;
use std::path::Path;

use fhir_model::r4b::resources::{Location, Resource};
use serde::Deserialize;

use careflow_store::adt::Place;
use careflow_store::Db;

/// A mapped ward.
#[derive(Debug, Clone, Deserialize)]
pub struct WardEntry {
    /// PV1-3.1.
    pub point_of_care: String,
    /// careflow's ward.
    pub ward_id: String,
}

/// A mapped bed.
#[derive(Debug, Clone, Deserialize)]
pub struct BedEntry {
    /// PV1-3.1.
    pub point_of_care: String,
    /// PV1-3.2.
    pub room: String,
    /// PV1-3.3.
    pub bed: String,
    /// careflow's bed.
    pub bed_id: String,
}

/// The file's content.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationFile {
    /// Points of care careflow manages.
    pub wards: Vec<WardEntry>,
    /// Their beds.
    pub beds: Vec<BedEntry>,
}

/// What PV1-3 resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// A careflow bed, or a place careflow does not manage.
    Place(Place),
    /// A managed ward, without a bed.
    WardWithoutBed(String),
    /// A managed ward, with a room and bed the map does not know.
    UnknownBed(String),
}

/// The loaded map.
#[derive(Debug, Clone, Default)]
pub struct LocationMap {
    wards: HashMap<String, String>,
    beds: HashMap<(String, String, String), String>,
}

/// A map that cannot be used: which entry and why.
#[derive(Debug, thiserror::Error)]
#[error("location map {path}: {what}")]
pub struct MapError {
    path: String,
    what: String,
}

impl LocationMap {
    /// Reads and checks the file at `path` (the JSON map, or a FHIR Bundle or NDJSON of
    /// Locations whose sender codes are the one identifier that is not careflow's)
    /// against the store's wards and beds.
    pub async fn load(path: &Path, db: &Db) -> Result<Self, MapError> {
        Self::load_with(path, db, None).await
    }

    /// [`LocationMap::load`]; a FHIR export's sender codes are the identifiers in
    /// `sender_system` when given.
    pub async fn load_with(
        path: &Path,
        db: &Db,
        sender_system: Option<&str>,
    ) -> Result<Self, MapError> {
        let err = |what: String| MapError {
            path: path.display().to_string(),
            what,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let (file, origins) = parse(&text, sender_system).map_err(err)?;
        let places = careflow_store::hospital::site_places(db)
            .await
            .map_err(|e| err(format!("reading careflow's beds: {e}")))?;
        let room_ward: HashMap<&str, &str> = places
            .rooms
            .iter()
            .map(|(r, w)| (r.as_str(), w.as_str()))
            .collect();
        let bed_ward: HashMap<&str, &str> = places
            .beds
            .iter()
            .filter_map(|b| Some((b.bed_id.as_str(), *room_ward.get(b.room_id.as_str())?)))
            .collect();
        for (i, w) in file.wards.iter().enumerate() {
            if !places.wards.iter().any(|(id, _)| id == &w.ward_id) {
                return Err(err(format!(
                    "{}: {} is not a careflow ward",
                    origins.ward_id[i], w.ward_id
                )));
            }
        }
        for (i, b) in file.beds.iter().enumerate() {
            let ward = file
                .wards
                .iter()
                .find(|w| w.point_of_care == b.point_of_care)
                .ok_or_else(|| {
                    err(format!(
                        "{}: {} is not one of `wards`",
                        origins.bed_ward[i], b.point_of_care
                    ))
                })?;
            match bed_ward.get(b.bed_id.as_str()) {
                None => {
                    return Err(err(format!(
                        "{}: {} is not a careflow bed",
                        origins.bed_id[i], b.bed_id
                    )))
                }
                Some(w) if *w != ward.ward_id => {
                    return Err(err(format!(
                        "{}: bed {} is on careflow's ward {w}, not on {} (point of care {})",
                        origins.bed_ward[i], b.bed_id, ward.ward_id, b.point_of_care
                    )))
                }
                Some(_) => {}
            }
        }
        Self::from_file(file).map_err(|e| err(origins.rename(e)))
    }

    /// Builds the map from entries (checks only that no code is mapped twice).
    pub fn from_file(file: LocationFile) -> Result<Self, String> {
        let mut map = LocationMap::default();
        for (i, w) in file.wards.into_iter().enumerate() {
            if map
                .wards
                .insert(w.point_of_care.clone(), w.ward_id)
                .is_some()
            {
                return Err(format!(
                    "wards[{i}]: point_of_care {} is mapped twice",
                    w.point_of_care
                ));
            }
        }
        for (i, b) in file.beds.into_iter().enumerate() {
            let key = (b.point_of_care, b.room, b.bed);
            if map.beds.insert(key.clone(), b.bed_id).is_some() {
                return Err(format!(
                    "beds[{i}]: {}^{}^{} is mapped twice",
                    key.0, key.1, key.2
                ));
            }
        }
        Ok(map)
    }

    /// What PV1-3 (`point_of_care`^`room`^`bed`) is in careflow.
    pub fn resolve(&self, point_of_care: &str, room: Option<&str>, bed: Option<&str>) -> Mapped {
        let Some(ward) = self.wards.get(point_of_care) else {
            return Mapped::Place(Place::Elsewhere(point_of_care.to_owned()));
        };
        let (Some(room), Some(bed)) = (room, bed) else {
            return Mapped::WardWithoutBed(ward.clone());
        };
        match self
            .beds
            .get(&(point_of_care.to_owned(), room.to_owned(), bed.to_owned()))
        {
            Some(bed_id) => Mapped::Place(Place::Bed {
                ward_id: ward.clone(),
                bed_id: bed_id.clone(),
            }),
            None => Mapped::UnknownBed(ward.clone()),
        }
    }
}

/// The system of careflow's own location identifiers, as careflow's FHIR API gives
/// them (`GET /fhir/r4/Location`).
pub const CAREFLOW_LOCATION_SYSTEM: &str = "urn:careflow:location";

/// Where each entry of a [`LocationFile`] came from, to name it in errors.
#[derive(Debug, Default)]
struct Origins {
    /// Each ward's careflow id.
    ward_id: Vec<String>,
    /// Each bed's careflow id.
    bed_id: Vec<String>,
    /// Each bed's ward.
    bed_ward: Vec<String>,
    /// `wards[i]` and `beds[i]` as the file names them.
    ward_at: Vec<String>,
    bed_at: Vec<String>,
}

impl Origins {
    /// [`LocationMap::from_file`]'s errors name `wards[i]` and `beds[i]`: the file's own
    /// places instead.
    fn rename(&self, e: String) -> String {
        for (list, names) in [("wards", &self.ward_at), ("beds", &self.bed_at)] {
            for (i, name) in names.iter().enumerate() {
                let tag = format!("{list}[{i}]:");
                if let Some(rest) = e.strip_prefix(&tag) {
                    return format!("{name}:{rest}");
                }
            }
        }
        e
    }
}

/// The map from the file's text, by its content: a JSON object with `resourceType` (a
/// FHIR Bundle, or one Location), NDJSON of FHIR resources, or careflow's JSON map.
fn parse(text: &str, sender_system: Option<&str>) -> Result<(LocationFile, Origins), String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.get("resourceType").is_some() => {
            let kind = v["resourceType"].as_str().unwrap_or_default().to_owned();
            match kind.as_str() {
                "Bundle" => {
                    let entries = match v.get("entry") {
                        None => Vec::new(),
                        Some(serde_json::Value::Array(a)) => a.clone(),
                        Some(_) => return Err("entry: must be an array".into()),
                    };
                    let resources = entries
                        .into_iter()
                        .enumerate()
                        .map(|(i, e)| {
                            let full_url =
                                e.get("fullUrl").and_then(|u| u.as_str()).map(str::to_owned);
                            (
                                format!("entry[{i}].resource"),
                                full_url,
                                e.get("resource").cloned(),
                            )
                        })
                        .collect();
                    from_fhir(resources, sender_system)
                }
                _ => from_fhir(vec![("resource".into(), None, Some(v))], sender_system),
            }
        }
        Ok(v) => {
            let file: LocationFile = serde_json::from_value(v).map_err(|e| e.to_string())?;
            let origins = Origins {
                ward_id: (0..file.wards.len())
                    .map(|i| format!("wards[{i}].ward_id"))
                    .collect(),
                bed_id: (0..file.beds.len())
                    .map(|i| format!("beds[{i}].bed_id"))
                    .collect(),
                bed_ward: (0..file.beds.len())
                    .map(|i| format!("beds[{i}].point_of_care"))
                    .collect(),
                ward_at: (0..file.wards.len())
                    .map(|i| format!("wards[{i}]"))
                    .collect(),
                bed_at: (0..file.beds.len()).map(|i| format!("beds[{i}]")).collect(),
            };
            Ok((file, origins))
        }
        Err(whole) => {
            // NDJSON: one resource a line (blank lines skipped).
            let mut resources = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                    if n == 0 {
                        format!("neither JSON nor NDJSON: {whole}")
                    } else {
                        format!("line {}: {e}", n + 1)
                    }
                })?;
                if v.get("resourceType").is_none() {
                    return Err(format!(
                        "line {}: not a FHIR resource (no resourceType)",
                        n + 1
                    ));
                }
                resources.push((format!("line {}", n + 1), None, Some(v)));
            }
            from_fhir(resources, sender_system)
        }
    }
}

/// One Location of the export.
struct FhirPlace {
    at: String,
    level: Option<&'static str>,
    careflow: Option<(String, usize)>,
    sender: Option<String>,
    part_of: Option<(String, String)>,
}

/// The map from FHIR resources `(where, fullUrl, resource)`; resources that are not
/// Locations are skipped.
fn from_fhir(
    resources: Vec<(String, Option<String>, Option<serde_json::Value>)>,
    sender_system: Option<&str>,
) -> Result<(LocationFile, Origins), String> {
    let mut places: Vec<FhirPlace> = Vec::new();
    // Reference (`Location/<id>` or an entry's fullUrl) to the place's index.
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    for (at, full_url, resource) in resources {
        let resource = resource.ok_or_else(|| format!("{at}: missing"))?;
        if resource.get("resourceType").and_then(|t| t.as_str()) != Some("Location") {
            continue;
        }
        let location: Location = match serde_json::from_value::<Resource>(resource) {
            Ok(Resource::Location(l)) => l,
            Ok(_) => continue,
            Err(e) => return Err(format!("{at}: not a valid FHIR Location: {e}")),
        };
        let l = &location.0;
        let mut careflow = None;
        let mut others = Vec::new();
        for (k, id) in l.identifier.iter().enumerate() {
            let Some(id) = id else { continue };
            let (system, value) = (id.system.as_deref(), id.value.clone());
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                continue;
            };
            if system == Some(CAREFLOW_LOCATION_SYSTEM) {
                if careflow.is_some() {
                    return Err(format!(
                        "{at}.identifier[{k}]: a second careflow identifier ({CAREFLOW_LOCATION_SYSTEM})"
                    ));
                }
                careflow = Some((value, k));
            } else {
                others.push((k, system.map(str::to_owned), value));
            }
        }
        let sender = match sender_system {
            Some(sys) => {
                let mut codes = others.iter().filter(|(_, s, _)| s.as_deref() == Some(sys));
                match (codes.next(), codes.next()) {
                    (Some(_), Some((k, _, _))) => {
                        return Err(format!(
                            "{at}.identifier[{k}]: a second identifier in the sender's system {sys}"
                        ))
                    }
                    (first, _) => first.map(|(_, _, v)| v.clone()),
                }
            }
            None => match others.as_slice() {
                [] => None,
                [(_, _, v)] => Some(v.clone()),
                [_, (k, _, _), ..] => {
                    return Err(format!(
                        "{at}.identifier[{k}]: more than one identifier besides careflow's; \
                         name the sender's system (--hl7-location-system URI)"
                    ))
                }
            },
        };
        let level = l
            .physical_type
            .iter()
            .flat_map(|t| t.coding.iter().flatten())
            .find_map(|c| match c.code.as_deref() {
                Some("wa") => Some("wa"),
                Some("ro") => Some("ro"),
                Some("bd") => Some("bd"),
                _ => None,
            });
        let part_of = match &l.part_of {
            None => None,
            Some(r) => match r.reference.as_deref() {
                Some(r) if !r.is_empty() => Some((format!("{at}.partOf"), r.to_owned())),
                _ => {
                    return Err(format!(
                        "{at}.partOf: only a literal reference (Location/<id> or an entry's fullUrl) is understood"
                    ))
                }
            },
        };
        let i = places.len();
        if let Some(id) = &l.id {
            by_ref.insert(format!("Location/{id}"), i);
        }
        if let Some(u) = full_url {
            by_ref.insert(u, i);
        }
        places.push(FhirPlace {
            at,
            level,
            careflow,
            sender,
            part_of,
        });
    }
    // The place a reference names (`Location/<id>`, a fullUrl, or an absolute URL ending
    // in `Location/<id>`).
    let parent = |p: &FhirPlace| -> Result<Option<usize>, String> {
        let Some((at, r)) = &p.part_of else {
            return Ok(None);
        };
        let hit = by_ref.get(r).copied().or_else(|| {
            r.rfind("Location/")
                .and_then(|i| by_ref.get(&r[i..]).copied())
        });
        match hit {
            Some(j) => Ok(Some(j)),
            None => Err(format!("{at}: {r} is not a Location of this export")),
        }
    };
    let mut file = LocationFile::default();
    let mut origins = Origins::default();
    // Wards: mapped when careflow's and the sender's.
    let mut ward_code: HashMap<usize, String> = HashMap::new();
    for (i, p) in places.iter().enumerate() {
        if p.level != Some("wa") {
            continue;
        }
        let (Some((id, k)), Some(code)) = (&p.careflow, &p.sender) else {
            continue;
        };
        ward_code.insert(i, code.clone());
        origins.ward_id.push(format!("{}.identifier[{k}]", p.at));
        origins.ward_at.push(p.at.clone());
        file.wards.push(WardEntry {
            point_of_care: code.clone(),
            ward_id: id.clone(),
        });
    }
    for p in &places {
        if p.level != Some("bd") {
            continue;
        }
        let (Some((id, k)), Some(code)) = (&p.careflow, &p.sender) else {
            continue;
        };
        let not_in_room = || {
            format!(
                "{}: a bed must be part of a room (physicalType ro) that is part of a ward (wa)",
                p.part_of
                    .as_ref()
                    .map(|(at, _)| at.clone())
                    .unwrap_or_else(|| format!("{}.partOf", p.at))
            )
        };
        let room = parent(p)?.ok_or_else(not_in_room)?;
        let room_place = &places[room];
        if room_place.level != Some("ro") {
            return Err(not_in_room());
        }
        let room_code = room_place.sender.clone().ok_or_else(|| {
            format!(
                "{}.identifier: the room of bed {id} has no code of the sender",
                room_place.at
            )
        })?;
        let ward = parent(room_place)?
            .filter(|w| places[*w].level == Some("wa"))
            .ok_or_else(|| {
                format!(
                    "{}.partOf: a room must be part of a ward (physicalType wa)",
                    room_place.at
                )
            })?;
        let ward_place = &places[ward];
        let point_of_care = match (&ward_place.careflow, ward_code.get(&ward)) {
            (Some(_), Some(code)) => code.clone(),
            (None, _) => {
                return Err(format!(
                    "{}.identifier: bed {id}'s ward has no careflow identifier ({CAREFLOW_LOCATION_SYSTEM})",
                    ward_place.at
                ))
            }
            (Some(_), None) => {
                return Err(format!(
                    "{}.identifier: bed {id}'s ward has no code of the sender",
                    ward_place.at
                ))
            }
        };
        origins.bed_id.push(format!("{}.identifier[{k}]", p.at));
        origins.bed_ward.push(format!("{}.partOf", p.at));
        origins.bed_at.push(p.at.clone());
        file.beds.push(BedEntry {
            point_of_care,
            room: room_code,
            bed: code.clone(),
            bed_id: id.clone(),
        });
    }
    Ok((file, origins))
}
