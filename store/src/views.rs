//! Read-only views for the interfaces that show careflow to other systems (the FHIR R4
//! API and the de-identified research export): inpatient stays with their bed history,
//! the published theatre lists and booked scans, the published nurse rosters.
//!
//! Patients appear by their pseudonymous key; [`patient_refs`] is the one reader of
//! their hospital numbers, for the roles that need them.

use std::collections::HashMap;

use sqlx::Row;

use careflow_types::{RosterProposal, TheatreListProposal};

use crate::db::Db;
use crate::error::Result;
use crate::proposals;

/// One inpatient stay (an `admissions` row: registered through the API, or from the
/// ADT feed) with the beds it was given, in the order given.
#[derive(Debug, Clone)]
pub struct Stay {
    /// Admission id (`ADT-...` for stays from the ADT feed).
    pub admission_id: String,
    /// The patient's pseudonymous key.
    pub patient_key: String,
    /// `elective` / `emergency` ... as registered.
    pub kind: String,
    /// Specialty the stay is under.
    pub specialty: String,
    /// `requested`, `admitted`, `discharged`, `declined`, `cancelled` ...
    pub status: String,
    /// Sex as registered (`female`, `male`, `unknown`).
    pub sex: String,
    /// Age group as registered (`child`, `adult`, `elderly`).
    pub age_group: String,
    /// When the stay was registered.
    pub created_at: String,
    /// When it last changed (its end once discharged).
    pub updated_at: String,
    /// Beds, oldest first.
    pub beds: Vec<BedSpell>,
}

/// A bed a stay held, from when to when.
#[derive(Debug, Clone)]
pub struct BedSpell {
    /// Bed.
    pub bed_id: String,
    /// Its ward.
    pub ward_id: String,
    /// Assigned at.
    pub from: String,
    /// Released at (open: still there).
    pub to: Option<String>,
}

/// Every stay with its bed history, oldest first.
pub async fn stays(db: &Db) -> Result<Vec<Stay>> {
    let mut tx = db.pool().begin().await?;
    let rows = sqlx::query(
        "SELECT admission_id, patient_key, kind, specialty, status, sex, age_group, created_at, \
         updated_at FROM admissions ORDER BY created_at, admission_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut out: Vec<Stay> = rows
        .iter()
        .map(stay_of)
        .collect::<std::result::Result<_, sqlx::Error>>()?;
    let spells = sqlx::query(
        "SELECT a.admission_id, a.bed_id, r.ward_id, a.assigned_at, a.released_at \
         FROM bed_assignments a JOIN beds b ON b.bed_id = a.bed_id \
         JOIN rooms r ON r.room_id = b.room_id ORDER BY a.assigned_at, a.assignment_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let index: HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, s)| (s.admission_id.clone(), i))
        .collect();
    for r in &spells {
        let admission: String = r.try_get("admission_id")?;
        if let Some(&i) = index.get(&admission) {
            out[i].beds.push(BedSpell {
                bed_id: r.try_get("bed_id")?,
                ward_id: r.try_get("ward_id")?,
                from: r.try_get("assigned_at")?,
                to: r.try_get("released_at")?,
            });
        }
    }
    Ok(out)
}

/// One row of `admissions` (the columns both stay queries select), its beds not read yet.
fn stay_of(r: &sqlx::any::AnyRow) -> std::result::Result<Stay, sqlx::Error> {
    Ok(Stay {
        admission_id: r.try_get("admission_id")?,
        patient_key: r.try_get("patient_key")?,
        kind: r.try_get("kind")?,
        specialty: r.try_get("specialty")?,
        status: r.try_get("status")?,
        sex: r.try_get("sex")?,
        age_group: r.try_get("age_group")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        beds: Vec::new(),
    })
}

/// The admissions waiting for a bed (registered, not yet admitted, declined or
/// cancelled), longest waiting first, at most `limit`; `beds` is empty. Also the number
/// waiting in all.
pub async fn waiting_admissions(db: &Db, limit: u32) -> Result<(Vec<Stay>, i64)> {
    let mut tx = db.pool().begin().await?;
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM admissions WHERE status = 'requested'")
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
    let rows = sqlx::query(
        "SELECT admission_id, patient_key, kind, specialty, status, sex, age_group, created_at, \
         updated_at FROM admissions WHERE status = 'requested' ORDER BY created_at, admission_id \
         LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let waiting = rows
        .iter()
        .map(stay_of)
        .collect::<std::result::Result<_, sqlx::Error>>()?;
    Ok((waiting, total))
}

/// How many of each workflow's records stand in each state (admissions by status, each
/// revision of bed plans, theatre lists, scanner bookings and rosters by status, ethics
/// submissions by state, model releases by stage): (workflow, state, count), for the
/// metrics' outcome counts.
pub async fn workflow_outcomes(db: &Db) -> Result<Vec<(String, String, i64)>> {
    const TABLES: [(&str, &str, &str); 7] = [
        ("admission", "admissions", "status"),
        ("bed_plan", "bed_plans", "status"),
        ("theatre_booking", "theatre_lists", "status"),
        ("scanner_booking", "scanner_bookings", "status"),
        ("nurse_rostering", "rosters", "status"),
        ("ethics_review", "ethics_submissions", "state"),
        ("model_release", "model_releases", "stage"),
    ];
    let sql = TABLES
        .iter()
        .map(|(workflow, table, column)| {
            format!(
                "SELECT '{workflow}' AS workflow, {column} AS state, COUNT(*) AS n FROM {table} \
                 GROUP BY {column}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = sqlx::query(&sql).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("workflow")?, r.try_get("state")?, r.try_get("n")?)))
        .collect()
}

/// A patient as the research export sees them: key, sex and age group, never the
/// hospital number.
#[derive(Debug, Clone)]
pub struct PatientRow {
    /// Pseudonymous key.
    pub patient_key: String,
    /// Sex as registered.
    pub sex: String,
    /// Age group as registered.
    pub age_group: String,
}

/// Every registered patient, by key.
pub async fn patients(db: &Db) -> Result<Vec<PatientRow>> {
    let rows = sqlx::query("SELECT patient_key, sex, age_group FROM patients ORDER BY patient_key")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(PatientRow {
                patient_key: r.try_get("patient_key")?,
                sex: r.try_get("sex")?,
                age_group: r.try_get("age_group")?,
            })
        })
        .collect()
}

/// The hospital numbers of `keys` (key -> number), for the roles whose work needs them
/// (an admissions clerk matching a stay to the patient in front of them).
pub async fn patient_refs(db: &Db, keys: &[&str]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for key in keys {
        if out.contains_key(*key) {
            continue;
        }
        if let Some(r) = sqlx::query("SELECT patient_ref FROM patients WHERE patient_key = $1")
            .bind(*key)
            .fetch_optional(db.pool())
            .await?
        {
            if let Some(mrn) = r.try_get::<Option<String>, _>("patient_ref")? {
                out.insert((*key).to_owned(), mrn);
            }
        }
    }
    Ok(out)
}

/// A concluded (published or booked) revision of a plan.
#[derive(Debug, Clone)]
pub struct InForce<T> {
    /// The list, booking run or roster.
    pub id: String,
    /// Its revision.
    pub revision: u32,
    /// The proposal as approved.
    pub proposal: T,
}

/// Every theatre list in force (one per week), oldest week first.
pub async fn published_theatre_lists(db: &Db) -> Result<Vec<InForce<TheatreListProposal>>> {
    let rows = proposals::concluded::<TheatreListProposal>(db, &crate::theatre::KIND).await?;
    Ok(rows
        .into_iter()
        .map(|s| InForce {
            id: s.id,
            revision: s.revision,
            proposal: s.proposal,
        })
        .collect())
}

/// Every roster in force (one per ward and period), oldest first.
pub async fn published_rosters(db: &Db) -> Result<Vec<InForce<RosterProposal>>> {
    let rows = proposals::concluded::<RosterProposal>(db, &crate::rosters::KIND).await?;
    Ok(rows
        .into_iter()
        .map(|s| InForce {
            id: s.id,
            revision: s.revision,
            proposal: s.proposal,
        })
        .collect())
}

/// A booked scan (`scan_appointments`) with its week.
#[derive(Debug, Clone)]
pub struct BookedScan {
    /// Booking run.
    pub booking_id: String,
    /// Request (the radiology order).
    pub request_id: String,
    /// First day of the run's week.
    pub week_start: String,
    /// Pseudonymous patient key.
    pub patient_key: String,
    /// `ct` / `mri`.
    pub modality: String,
    /// `emergency` / `urgent` / `routine`.
    pub urgency: String,
    /// Scanner.
    pub scanner_id: String,
    /// Day of the week (0 = week_start).
    pub day: u32,
    /// First slot.
    pub start_slot: u32,
    /// Shares its slot.
    pub overbooked: bool,
    /// `attended` / `no_show` once recorded.
    pub attendance: Option<String>,
}

/// Every booked scan, by week, scanner, day and slot.
pub async fn booked_scans(db: &Db) -> Result<Vec<BookedScan>> {
    let rows = sqlx::query(
        "SELECT a.booking_id, a.request_id, b.week_start, a.patient_key, a.modality, a.urgency, \
         a.scanner_id, a.day, a.start_slot, a.overbooked, a.attendance \
         FROM scan_appointments a JOIN scanner_bookings b \
           ON b.booking_id = a.booking_id AND b.revision = a.revision \
         ORDER BY b.week_start, a.scanner_id, a.day, a.start_slot, a.request_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(BookedScan {
                booking_id: r.try_get("booking_id")?,
                request_id: r.try_get("request_id")?,
                week_start: r.try_get("week_start")?,
                patient_key: r.try_get("patient_key")?,
                modality: r.try_get("modality")?,
                urgency: r.try_get("urgency")?,
                scanner_id: r.try_get("scanner_id")?,
                day: r.try_get::<i64, _>("day")? as u32,
                start_slot: r.try_get::<i64, _>("start_slot")? as u32,
                overbooked: r.try_get::<i64, _>("overbooked")? != 0,
                attendance: r.try_get("attendance")?,
            })
        })
        .collect()
}

/// Every booked revision's load per scanner-day, with its week: the scanners' slots.
pub async fn booked_scanner_days(
    db: &Db,
) -> Result<Vec<InForce<careflow_types::ScannerBookingProposal>>> {
    let rows =
        proposals::concluded::<careflow_types::ScannerBookingProposal>(db, &crate::scanner::KIND)
            .await?;
    Ok(rows
        .into_iter()
        .map(|s| InForce {
            id: s.id,
            revision: s.revision,
            proposal: s.proposal,
        })
        .collect())
}

/// The age group registered for the patient of `key`, if registered.
pub async fn age_group_of(db: &Db, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query("SELECT age_group FROM patients WHERE patient_key = $1")
            .bind(key)
            .fetch_optional(db.pool())
            .await?
            .map(|r| r.try_get("age_group"))
            .transpose()?,
    )
}

/// When a theatre session or a scanner day opens, minutes after midnight: careflow
/// plans days and minutes after a session opens (or scanner slot numbers), not clock
/// times, and the interfaces show them from this hour.
pub const DAY_OPENS_MINUTE: u32 = 8 * 60;
/// How long one scanner slot lasts, minutes.
pub const SCAN_SLOT_MINUTES: u32 = 30;

/// The instant `minute` minutes into day `day` of the week from `week_start`
/// (`YYYY-MM-DD`), as UTC (careflow keeps no time zone); `None` for a bad date.
pub fn plan_instant(
    week_start: &str,
    day: u32,
    minute: u32,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let d = chrono::NaiveDate::parse_from_str(week_start, "%Y-%m-%d").ok()?;
    let midnight = d.and_hms_opt(0, 0, 0)?.and_utc();
    Some(
        midnight
            + chrono::Duration::days(i64::from(day))
            + chrono::Duration::minutes(i64::from(minute)),
    )
}

/// The theatres of the published lists and the scanners of the booked runs (ids, each
/// once, sorted), read without parsing the whole of each plan.
pub async fn planned_rooms(db: &Db) -> Result<(Vec<String>, Vec<String>)> {
    #[derive(serde::Deserialize)]
    struct Session {
        theatre_id: String,
    }
    #[derive(serde::Deserialize)]
    struct List {
        sessions: Vec<Session>,
    }
    #[derive(serde::Deserialize)]
    struct Day {
        scanner_id: String,
    }
    #[derive(serde::Deserialize)]
    struct Run {
        scanner_days: Vec<Day>,
    }
    let mut theatres = std::collections::BTreeSet::new();
    for r in sqlx::query("SELECT proposal_json FROM theatre_lists WHERE status = 'published'")
        .fetch_all(db.pool())
        .await?
    {
        let list: List = serde_json::from_str(&r.try_get::<String, _>("proposal_json")?)
            .map_err(|e| crate::Error::Corrupt(format!("theatre list: {e}")))?;
        theatres.extend(list.sessions.into_iter().map(|s| s.theatre_id));
    }
    let mut scanners = std::collections::BTreeSet::new();
    for r in sqlx::query("SELECT proposal_json FROM scanner_bookings WHERE status = 'booked'")
        .fetch_all(db.pool())
        .await?
    {
        let run: Run = serde_json::from_str(&r.try_get::<String, _>("proposal_json")?)
            .map_err(|e| crate::Error::Corrupt(format!("scanner booking: {e}")))?;
        scanners.extend(run.scanner_days.into_iter().map(|d| d.scanner_id));
    }
    Ok((
        theatres.into_iter().collect(),
        scanners.into_iter().collect(),
    ))
}
