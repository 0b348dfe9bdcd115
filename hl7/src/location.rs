//! The sender's locations (PV1-3: point of care ^ room ^ bed) mapped to careflow's
//! wards and beds, from a JSON file:
//!
//! ```json
//! { "wards": [ { "point_of_care": "CARDA", "ward_id": "CARD-A" } ],
//!   "beds":  [ { "point_of_care": "CARDA", "room": "BAY1", "bed": "1",
//!                "bed_id": "CARD-A-BAY1-B1" } ] }
//! ```
//!
//! A point of care that is not one of `wards` is somewhere careflow does not manage (an
//! ED chair, a clinic, another site): the patient is known to be there and no bed
//! changes. Loading checks every ward and bed against the store.

use std::collections::HashMap;
use std::path::Path;

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
    /// Reads and checks the file at `path` against the store's wards and beds.
    pub async fn load(path: &Path, db: &Db) -> Result<Self, MapError> {
        let err = |what: String| MapError {
            path: path.display().to_string(),
            what,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: LocationFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
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
                    "wards[{i}]: ward_id {} is not a careflow ward",
                    w.ward_id
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
                        "beds[{i}]: point_of_care {} is not one of `wards`",
                        b.point_of_care
                    ))
                })?;
            match bed_ward.get(b.bed_id.as_str()) {
                None => {
                    return Err(err(format!(
                        "beds[{i}]: bed_id {} is not a careflow bed",
                        b.bed_id
                    )))
                }
                Some(w) if *w != ward.ward_id => {
                    return Err(err(format!(
                        "beds[{i}]: bed {} is on ward {w}, not on {} that point of care {} maps to",
                        b.bed_id, ward.ward_id, b.point_of_care
                    )))
                }
                Some(_) => {}
            }
        }
        Self::from_file(file).map_err(err)
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
