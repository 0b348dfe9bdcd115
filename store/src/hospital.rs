//! Wards, rooms and beds: the hospital's structure, the bed rules and occupancy.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use careflow_types::{AdmissionRequest, AgeGroup, BedProposal, BedSearch, NewAuditEntry};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};

/// One ward of the demo hospital layout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WardSpec {
    /// Ward id, also the prefix of its rooms and beds.
    pub ward_id: String,
    /// Display name.
    pub name: String,
    /// Specialty the ward is for.
    pub specialty: String,
    /// Children's ward.
    pub paediatric: bool,
    /// Multi-bed bays: number of bays and beds per bay.
    pub bays: (u32, u32),
    /// Single side rooms (isolation).
    pub side_rooms: u32,
}

/// A mid-sized teaching hospital's adult and children's inpatient wards (about 200
/// beds): mostly 4- and 6-bed same-sex bays plus side rooms for isolation, the shape of
/// typical NHS acute wards.
pub fn demo_layout() -> Vec<WardSpec> {
    let w = |id: &str, name: &str, spec: &str, paed: bool, bays: (u32, u32), sides: u32| WardSpec {
        ward_id: id.into(),
        name: name.into(),
        specialty: spec.into(),
        paediatric: paed,
        bays,
        side_rooms: sides,
    };
    vec![
        w("CARD-A", "Cardiology A", "cardiology", false, (4, 4), 4),
        w("CARD-B", "Cardiology B", "cardiology", false, (3, 4), 2),
        w(
            "GMED-1",
            "General Medicine 1",
            "general_medicine",
            false,
            (4, 6),
            4,
        ),
        w(
            "GMED-2",
            "General Medicine 2",
            "general_medicine",
            false,
            (4, 6),
            4,
        ),
        w("RESP", "Respiratory", "respiratory", false, (3, 4), 6),
        w(
            "SURG",
            "General Surgery",
            "general_surgery",
            false,
            (4, 4),
            4,
        ),
        w("ORTH", "Orthopaedics", "orthopaedics", false, (3, 6), 2),
        w("ELDR", "Elderly Care", "elderly_care", false, (4, 6), 4),
        w("PAED", "Children's Ward", "paediatrics", true, (3, 4), 6),
    ]
}

/// Creates the wards, rooms and beds of `layout` (idempotent: existing ones stay).
pub async fn seed_layout(db: &Db, layout: &[WardSpec]) -> Result<u32> {
    let mut tx = db.begin_write().await?;
    let mut beds = 0;
    for ward in layout {
        sqlx::query(
            "INSERT INTO wards (ward_id, name, specialty, paediatric) VALUES ($1,$2,$3,$4) \
             ON CONFLICT (ward_id) DO NOTHING",
        )
        .bind(&ward.ward_id)
        .bind(&ward.name)
        .bind(&ward.specialty)
        .bind(ward.paediatric as i64)
        .execute(&mut *tx)
        .await?;
        let mut rooms: Vec<(String, u32)> = (1..=ward.bays.0)
            .map(|b| (format!("{}-BAY{b}", ward.ward_id), ward.bays.1))
            .collect();
        rooms.extend((1..=ward.side_rooms).map(|s| (format!("{}-SR{s}", ward.ward_id), 1)));
        for (room_id, capacity) in rooms {
            sqlx::query(
                "INSERT INTO rooms (room_id, ward_id, capacity) VALUES ($1,$2,$3) \
                 ON CONFLICT (room_id) DO NOTHING",
            )
            .bind(&room_id)
            .bind(&ward.ward_id)
            .bind(capacity as i64)
            .execute(&mut *tx)
            .await?;
            for b in 1..=capacity {
                let equipment = if room_id.contains("-SR") {
                    "negative_pressure"
                } else {
                    ""
                };
                sqlx::query(
                    "INSERT INTO beds (bed_id, room_id, equipment) VALUES ($1,$2,$3) \
                     ON CONFLICT (bed_id) DO NOTHING",
                )
                .bind(format!("{room_id}-B{b}"))
                .bind(&room_id)
                .bind(equipment)
                .execute(&mut *tx)
                .await?;
                beds += 1;
            }
        }
    }
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: "careflow".into(),
            role: "system".into(),
            action: "hospital.layout_seeded".into(),
            meaning: None,
            reason: None,
            workflow_id: None,
            step: None,
            input_digest: Some(db.digest(layout)),
            output_digest: None,
            idempotency_key: format!("layout/{}", db.digest(layout)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(beds)
}

/// One bed with its room, ward and current occupant.
#[derive(Debug, Clone)]
pub struct BedState {
    /// Bed.
    pub bed_id: String,
    /// Room.
    pub room_id: String,
    /// Ward.
    pub ward_id: String,
    /// Beds in the room.
    pub room_capacity: i64,
    /// Ward specialty.
    pub specialty: String,
    /// Children's ward.
    pub paediatric: bool,
    /// Occupant's sex, if occupied.
    pub occupant_sex: Option<String>,
    /// Occupant needs isolation.
    pub occupant_isolated: bool,
}

const BED_STATE_SQL: &str =
    "SELECT b.bed_id, b.room_id, r.ward_id, r.capacity, w.specialty, w.paediatric, \
            a.sex AS occ_sex, a.isolation AS occ_iso, \
            h.workflow_id AS held_by, h.sex AS hold_sex, h.isolation AS hold_iso \
     FROM beds b JOIN rooms r ON r.room_id = b.room_id JOIN wards w ON w.ward_id = r.ward_id \
     LEFT JOIN bed_assignments a ON a.bed_id = b.bed_id AND a.released_at IS NULL \
     LEFT JOIN bed_holds h ON h.bed_id = b.bed_id \
     WHERE b.in_service = 1";

fn bed_state(row: &sqlx::any::AnyRow, me: Option<&str>) -> Result<BedState> {
    let held_by: Option<String> = row.try_get("held_by")?;
    let mut occupant_sex: Option<String> = row.try_get("occ_sex")?;
    let mut occupant_isolated = row.try_get::<Option<i64>, _>("occ_iso")?.unwrap_or(0) != 0;
    // A bed held for another admission counts as taken by that patient (for the
    // same-sex and isolation rules too); a bed held for `me` counts as free.
    if occupant_sex.is_none() && held_by.is_some() && held_by.as_deref() != me {
        occupant_sex = row.try_get("hold_sex")?;
        occupant_isolated = row.try_get::<Option<i64>, _>("hold_iso")?.unwrap_or(0) != 0;
    }
    Ok(BedState {
        bed_id: row.try_get("bed_id")?,
        room_id: row.try_get("room_id")?,
        ward_id: row.try_get("ward_id")?,
        room_capacity: row.try_get("capacity")?,
        specialty: row.try_get("specialty")?,
        paediatric: row.try_get::<i64, _>("paediatric")? != 0,
        occupant_sex,
        occupant_isolated,
    })
}

/// Every in-service bed, ordered by ward, room, bed, as admission `me` sees them
/// (beds held for other admissions are taken; `None`: every hold counts as taken).
pub async fn bed_states<'c, E>(exec: E, me: Option<&str>) -> Result<Vec<BedState>>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let rows = sqlx::query(&format!(
        "{BED_STATE_SQL} ORDER BY r.ward_id, b.room_id, b.bed_id"
    ))
    .fetch_all(exec)
    .await?;
    rows.iter().map(|r| bed_state(r, me)).collect()
}

/// Why `bed` cannot take the patient (hard rules), or `None` if it can.
pub fn hard_rule_violation(
    request: &AdmissionRequest,
    bed: &BedState,
    room: &[&BedState],
) -> Option<String> {
    if bed.occupant_sex.is_some() {
        return Some(format!("bed {} is occupied", bed.bed_id));
    }
    if (request.age_group == AgeGroup::Child) != bed.paediatric {
        return Some(format!(
            "{} takes {} only",
            bed.ward_id,
            if bed.paediatric { "children" } else { "adults" }
        ));
    }
    let occupants: Vec<&&BedState> = room.iter().filter(|b| b.occupant_sex.is_some()).collect();
    if occupants.iter().any(|b| b.occupant_isolated) {
        return Some(format!("room {} holds an isolated patient", bed.room_id));
    }
    if request.isolation && !occupants.is_empty() {
        return Some(format!(
            "isolation needs an empty room; {} is shared",
            bed.room_id
        ));
    }
    if occupants
        .iter()
        .any(|b| b.occupant_sex.as_deref() != Some(request.sex.as_str()))
    {
        return Some(format!(
            "room {} is a same-sex bay of the other sex",
            bed.room_id
        ));
    }
    None
}

/// Soft rules the bed would break (outlier ward, isolation in a bay).
pub fn soft_rule_breaks(request: &AdmissionRequest, bed: &BedState) -> Vec<String> {
    let mut breaks = Vec::new();
    if bed.specialty != request.specialty {
        breaks.push(format!(
            "outlier: {} is a {} ward, the patient needs {}",
            bed.ward_id, bed.specialty, request.specialty
        ));
    }
    if request.isolation && bed.room_capacity > 1 {
        breaks.push(format!(
            "isolation in bay {} blocks its other {} beds",
            bed.room_id,
            bed.room_capacity - 1
        ));
    }
    breaks
}

/// The simple allocation rule (the MILP of the solver work replaces it later): among
/// beds that satisfy every hard rule, take one that breaks no soft rule, preferring
/// rooms already partly occupied (keeps empty rooms for isolation and the other sex),
/// then the first by ward, room and bed id so the choice is reproducible.
pub fn choose_bed(request: &AdmissionRequest, beds: &[BedState]) -> BedSearch {
    let mut best: Option<(usize, i64, &BedState, Vec<String>)> = None;
    let mut excluded = std::collections::BTreeMap::<String, u32>::new();
    let mut free_on_specialty = 0;
    for bed in beds {
        let room: Vec<&BedState> = beds.iter().filter(|b| b.room_id == bed.room_id).collect();
        if bed.occupant_sex.is_none() && bed.specialty == request.specialty {
            free_on_specialty += 1;
        }
        if let Some(why) = hard_rule_violation(request, bed, &room) {
            if bed.occupant_sex.is_none() {
                *excluded
                    .entry(why.split(':').next().unwrap_or(&why).to_owned())
                    .or_default() += 1;
            }
            continue;
        }
        let breaks = soft_rule_breaks(request, bed);
        let occupied_in_room = room.iter().filter(|b| b.occupant_sex.is_some()).count() as i64;
        let key = (breaks.len(), -occupied_in_room);
        if best.as_ref().is_none_or(|(n, occ, _, _)| key < (*n, *occ)) {
            best = Some((key.0, key.1, bed, breaks));
        }
    }
    let summary = if excluded.is_empty() {
        format!(
            "{free_on_specialty} free bed(s) on {} wards",
            request.specialty
        )
    } else {
        format!(
            "{free_on_specialty} free bed(s) on {} wards; free beds excluded: {}",
            request.specialty,
            excluded
                .iter()
                .map(|(why, n)| format!("{n} ({why})"))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    BedSearch {
        proposal: best.map(|(_, _, bed, breaks)| BedProposal {
            bed_id: bed.bed_id.clone(),
            ward_id: bed.ward_id.clone(),
            room_id: bed.room_id.clone(),
            soft_breaks: breaks,
        }),
        free_beds_on_specialty: free_on_specialty,
        summary,
    }
}

/// Occupancy of one ward, for dashboards (beds held for an admission in progress
/// count as occupied).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WardOccupancy {
    /// Ward.
    pub ward_id: String,
    /// Specialty.
    pub specialty: String,
    /// In-service beds.
    pub beds: i64,
    /// Occupied beds.
    pub occupied: i64,
}

/// Holds `bed_id` for the admission run by `workflow_id`, replacing any bed it held
/// before (idempotent: a retried search holds the same way).
pub async fn hold_bed(
    conn: &mut sqlx::AnyConnection,
    workflow_id: &str,
    bed_id: Option<&str>,
    request: &AdmissionRequest,
) -> Result<()> {
    release_holds(conn, workflow_id).await?;
    if let Some(bed_id) = bed_id {
        sqlx::query(
            "INSERT INTO bed_holds (bed_id, workflow_id, sex, isolation, held_at) VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(bed_id)
        .bind(workflow_id)
        .bind(request.sex.as_str())
        .bind(request.isolation as i64)
        .bind(now())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Releases every bed held for the admission run by `workflow_id`.
pub async fn release_holds(conn: &mut sqlx::AnyConnection, workflow_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM bed_holds WHERE workflow_id = $1")
        .bind(workflow_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Occupancy by ward.
pub async fn occupancy(db: &Db) -> Result<Vec<WardOccupancy>> {
    let beds = bed_states(db.pool(), None).await?;
    let mut out: Vec<WardOccupancy> = Vec::new();
    for b in &beds {
        if out.last().is_none_or(|w| w.ward_id != b.ward_id) {
            out.push(WardOccupancy {
                ward_id: b.ward_id.clone(),
                specialty: b.specialty.clone(),
                beds: 0,
                occupied: 0,
            });
        }
        let w = out.last_mut().expect("pushed above");
        w.beds += 1;
        w.occupied += b.occupant_sex.is_some() as i64;
    }
    Ok(out)
}

/// The admission a workflow runs.
pub async fn admission_id_of(db: &Db, workflow_id: &str) -> Result<String> {
    let row = sqlx::query("SELECT admission_id FROM admissions WHERE workflow_id = $1")
        .bind(workflow_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("admission {workflow_id}")))?;
    Ok(row.try_get("admission_id")?)
}

/// Discharges the patient of an admission: frees the bed, audited.
pub async fn discharge(db: &Db, admission_id: &str, actor: &str, role: &str) -> Result<String> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT a.bed_id, ad.workflow_id FROM bed_assignments a JOIN admissions ad ON ad.admission_id = a.admission_id \
         WHERE a.admission_id = $1 AND a.released_at IS NULL",
    )
    .bind(admission_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("occupied bed for admission {admission_id}")))?;
    let bed_id: String = row.try_get("bed_id")?;
    let workflow_id: String = row.try_get("workflow_id")?;
    let ts = now();
    sqlx::query("UPDATE bed_assignments SET released_at = $1 WHERE admission_id = $2 AND released_at IS NULL")
        .bind(&ts)
        .bind(admission_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE admissions SET status = 'discharged', updated_at = $1 WHERE admission_id = $2",
    )
    .bind(&ts)
    .bind(admission_id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: actor.into(),
            role: role.into(),
            action: "admission.discharged".into(),
            meaning: Some("discharged patient, bed released".into()),
            reason: None,
            workflow_id: Some(workflow_id.clone()),
            step: Some("discharge".into()),
            input_digest: None,
            output_digest: Some(db.digest(&bed_id)),
            idempotency_key: format!("{workflow_id}/discharge"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(bed_id)
}

/// The site's layout as the FHIR Location view serves it: wards, rooms and beds, each
/// bed with whether it is in service and occupied now. No patient data.
#[derive(Debug, Clone, Default)]
pub struct SitePlaces {
    /// (ward id, ward name)
    pub wards: Vec<(String, String)>,
    /// (room id, ward id)
    pub rooms: Vec<(String, String)>,
    /// Every bed with its room and state.
    pub beds: Vec<PlacedBed>,
}

/// One bed of [`SitePlaces`].
#[derive(Debug, Clone)]
pub struct PlacedBed {
    /// Bed id.
    pub bed_id: String,
    /// The room it stands in.
    pub room_id: String,
    /// Open for patients (false: closed).
    pub in_service: bool,
    /// Someone is assigned to it now.
    pub occupied: bool,
}

/// Every ward, room and bed in id order (read in one snapshot of the tables).
pub async fn site_places(db: &Db) -> Result<SitePlaces> {
    let mut tx = db.pool().begin().await?;
    let wards = sqlx::query("SELECT ward_id, name FROM wards ORDER BY ward_id")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get("ward_id")?, r.try_get("name")?)))
        .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
    let rooms = sqlx::query("SELECT room_id, ward_id FROM rooms ORDER BY room_id")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get("room_id")?, r.try_get("ward_id")?)))
        .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
    let beds = sqlx::query(
        "SELECT b.bed_id, b.room_id, b.in_service, \
                (SELECT COUNT(*) FROM bed_assignments a \
                 WHERE a.bed_id = b.bed_id AND a.released_at IS NULL) AS occupants \
         FROM beds b ORDER BY b.bed_id",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|b| {
        Ok(PlacedBed {
            bed_id: b.try_get("bed_id")?,
            room_id: b.try_get("room_id")?,
            in_service: b.try_get::<i64, _>("in_service")? != 0,
            occupied: b.try_get::<i64, _>("occupants")? > 0,
        })
    })
    .collect::<std::result::Result<Vec<_>, sqlx::Error>>()?;
    tx.commit().await?;
    Ok(SitePlaces { wards, rooms, beds })
}
