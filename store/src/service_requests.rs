//! Orders placed through the FHIR API (ServiceRequest): an imaging request waits on the
//! scanner worklist, a surgical waiting-list entry on the theatre waiting list, until
//! the run of a week they fit in takes them (`POST /api/scanner-bookings`,
//! `POST /api/theatre-weeks`): the week's request gets them added to the requests or
//! cases it lists, and the order records which run took it.
//!
//! Orders name patients by pseudonymous key only; the placer's order number is kept to
//! recognise a resent order. Every order is stored with its audit entry in one
//! transaction, and a batch (a FHIR transaction Bundle) all or nothing.

use chrono::NaiveDate;
use sqlx::Row;

use careflow_types::{
    NewAuditEntry, ScanRequestEntry, ScannerWeekRequest, TheatreWeekRequest, WaitingCase,
};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};

/// Which process an order enters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// A surgical waiting-list entry: the theatre week.
    Theatre,
    /// An imaging request: the scanner booking run.
    Scanner,
}

impl Process {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Process::Theatre => "theatre",
            Process::Scanner => "scanner",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "theatre" => Ok(Process::Theatre),
            "scanner" => Ok(Process::Scanner),
            other => Err(Error::Corrupt(format!("service request process {other:?}"))),
        }
    }
}

/// The order as its process takes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "process", content = "entry", rename_all = "snake_case")]
pub enum Entry {
    /// A waiting-list case (`days_waited` and `release_day` are filled in per week).
    Theatre(WaitingCase),
    /// A scan request (its days are filled in per week).
    Scanner(ScanRequestEntry),
}

/// An order to store.
#[derive(Debug, Clone)]
pub struct NewServiceRequest {
    /// careflow's id (also the case or request id the process sees).
    pub request_id: String,
    /// The patient's pseudonymous key.
    pub patient_key: String,
    /// FHIR priority (`routine`, `urgent`, `asap`, `stat`).
    pub priority: String,
    /// The requested procedure or modality code.
    pub code: String,
    /// First day it may be done.
    pub earliest: NaiveDate,
    /// Last day it should be done by.
    pub latest: NaiveDate,
    /// The placer's order number: system.
    pub identifier_system: String,
    /// The placer's order number: value.
    pub identifier_value: String,
    /// What the process takes.
    pub entry: Entry,
}

/// A stored order.
#[derive(Debug, Clone)]
pub struct ServiceRequestRow {
    /// careflow's id.
    pub request_id: String,
    /// Process.
    pub process: Process,
    /// Pseudonymous key.
    pub patient_key: String,
    /// `active` until a run took it and booked it, then `completed`; `revoked`.
    pub status: String,
    /// FHIR priority.
    pub priority: String,
    /// Procedure or modality code.
    pub code: String,
    /// First day (YYYY-MM-DD).
    pub earliest: String,
    /// Last day (YYYY-MM-DD).
    pub latest: String,
    /// The placer's order number.
    pub identifier_system: String,
    /// The placer's order number.
    pub identifier_value: String,
    /// The order as its process takes it.
    pub entry: Entry,
    /// Who placed it.
    pub requested_by: String,
    /// When.
    pub created_at: String,
    /// The theatre list or scanner booking run that took it.
    pub taken_by: Option<String>,
}

const COLUMNS: &str = "request_id, process, patient_key, status, priority, code, earliest, \
    latest, identifier_system, identifier_value, entry_json, requested_by, created_at, taken_by";

fn from_row(r: &sqlx::any::AnyRow) -> Result<ServiceRequestRow> {
    let request_id: String = r.try_get("request_id")?;
    let entry = serde_json::from_str(&r.try_get::<String, _>("entry_json")?)
        .map_err(|e| Error::Corrupt(format!("service request {request_id}: {e}")))?;
    Ok(ServiceRequestRow {
        process: Process::parse(&r.try_get::<String, _>("process")?)?,
        patient_key: r.try_get("patient_key")?,
        status: r.try_get("status")?,
        priority: r.try_get("priority")?,
        code: r.try_get("code")?,
        earliest: r.try_get("earliest")?,
        latest: r.try_get("latest")?,
        identifier_system: r.try_get("identifier_system")?,
        identifier_value: r.try_get("identifier_value")?,
        entry,
        requested_by: r.try_get("requested_by")?,
        created_at: r.try_get("created_at")?,
        taken_by: r.try_get("taken_by")?,
        request_id,
    })
}

/// Stores `orders` (all or none), each audited as placed by `actor` in `role`. An order
/// whose placer number is already stored, or whose patient key is not registered, is
/// refused by its index in `orders` (`Error::Invalid("entry[i]: ...")`) and nothing is
/// stored.
pub async fn create_all(
    db: &Db,
    orders: &[NewServiceRequest],
    actor: &str,
    role: &str,
) -> Result<Vec<ServiceRequestRow>> {
    let mut tx = db.begin_write().await?;
    let at = now();
    for (i, o) in orders.iter().enumerate() {
        let known = sqlx::query("SELECT 1 AS found FROM patients WHERE patient_key = $1")
            .bind(&o.patient_key)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(Error::Invalid(format!(
                "{i}: the subject is not a registered patient"
            )));
        }
        let dup = sqlx::query(
            "SELECT request_id FROM service_requests WHERE identifier_system = $1 AND identifier_value = $2",
        )
        .bind(&o.identifier_system)
        .bind(&o.identifier_value)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = dup {
            let id: String = row.try_get("request_id")?;
            return Err(Error::Conflict(format!(
                "{i}: an order with this identifier is already stored as ServiceRequest/{id}"
            )));
        }
        let process = match o.entry {
            Entry::Theatre(_) => Process::Theatre,
            Entry::Scanner(_) => Process::Scanner,
        };
        let entry_json = serde_json::to_string(&o.entry).expect("an entry serialises");
        sqlx::query(
            "INSERT INTO service_requests (request_id, process, patient_key, status, priority, \
             code, earliest, latest, identifier_system, identifier_value, entry_json, \
             requested_by, created_at) VALUES ($1,$2,$3,'active',$4,$5,$6,$7,$8,$9,$10,$11,$12)",
        )
        .bind(&o.request_id)
        .bind(process.as_str())
        .bind(&o.patient_key)
        .bind(&o.priority)
        .bind(&o.code)
        .bind(o.earliest.to_string())
        .bind(o.latest.to_string())
        .bind(&o.identifier_system)
        .bind(&o.identifier_value)
        .bind(&entry_json)
        .bind(actor)
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            NewAuditEntry {
                actor: actor.into(),
                role: role.into(),
                action: format!("service_request.placed.{}", process.as_str()),
                meaning: None,
                reason: None,
                workflow_id: None,
                step: Some(format!("service_request/{}", o.request_id)),
                input_digest: Some(db.digest(&entry_json)),
                output_digest: None,
                idempotency_key: format!("service_request/{}", o.request_id),
            },
        )
        .await?;
    }
    let mut out = Vec::new();
    for o in orders {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM service_requests WHERE request_id = $1"
        ))
        .bind(&o.request_id)
        .fetch_one(&mut *tx)
        .await?;
        out.push(from_row(&r)?);
    }
    tx.commit().await?;
    Ok(out)
}

/// Every order, oldest first.
pub async fn all(db: &Db) -> Result<Vec<ServiceRequestRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM service_requests ORDER BY created_at, request_id"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// The open orders of `process` that may be done in the `days` days from `week_start`
/// (none taken by a run yet), oldest first.
async fn open_for_week(
    db: &Db,
    process: Process,
    week_start: NaiveDate,
    days: u32,
) -> Result<Vec<ServiceRequestRow>> {
    let last = week_start + chrono::Days::new(u64::from(days.max(1)) - 1);
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM service_requests WHERE process = $1 AND status = 'active' \
         AND taken_by IS NULL AND earliest <= $2 ORDER BY created_at, request_id"
    ))
    .bind(process.as_str())
    .bind(last.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

fn day_of(date: &str, week_start: NaiveDate) -> i64 {
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map(|d| (d - week_start).num_days())
        .unwrap_or(0)
}

/// The waiting-list cases placed through FHIR that the theatre week from `week_start`
/// can book, with their days counted from it. [`mark_taken`] records the week after it
/// started.
pub async fn theatre_cases_for_week(
    db: &Db,
    week_start: NaiveDate,
    days: u32,
) -> Result<Vec<WaitingCase>> {
    Ok(open_for_week(db, Process::Theatre, week_start, days)
        .await?
        .into_iter()
        .filter_map(|o| match o.entry {
            Entry::Theatre(mut case) => {
                let placed = day_of(&o.created_at[..10.min(o.created_at.len())], week_start);
                case.days_waited = u32::try_from(-placed).unwrap_or(0);
                case.release_day = u32::try_from(day_of(&o.earliest, week_start)).unwrap_or(0);
                Some(case)
            }
            Entry::Scanner(_) => None,
        })
        .collect())
}

/// The imaging requests placed through FHIR that the scanner run from `week_start`
/// can book, with their days counted from it.
pub async fn scan_requests_for_week(
    db: &Db,
    week_start: NaiveDate,
    days: u32,
) -> Result<Vec<ScanRequestEntry>> {
    Ok(open_for_week(db, Process::Scanner, week_start, days)
        .await?
        .into_iter()
        .filter_map(|o| match o.entry {
            Entry::Scanner(mut r) => {
                let placed = day_of(&o.created_at[..10.min(o.created_at.len())], week_start);
                r.ordered_days_before = u32::try_from(-placed).unwrap_or(0);
                r.release_day = u32::try_from(day_of(&o.earliest, week_start)).unwrap_or(0);
                r.deadline_day = u32::try_from(day_of(&o.latest, week_start))
                    .unwrap_or(0)
                    .max(r.release_day);
                Some(r)
            }
            Entry::Theatre(_) => None,
        })
        .collect())
}

/// Records that the run `taken_by` (a theatre list or scanner booking id) took the
/// orders `request_ids`, audited; an order already taken stays with its run.
pub async fn mark_taken(db: &Db, request_ids: &[String], taken_by: &str) -> Result<()> {
    if request_ids.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    let at = now();
    for id in request_ids {
        let n = sqlx::query(
            "UPDATE service_requests SET taken_by = $1, taken_at = $2 \
             WHERE request_id = $3 AND taken_by IS NULL",
        )
        .bind(taken_by)
        .bind(&at)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            let mut entry =
                audit::system_entry(taken_by, &format!("take/{id}"), "service_request.taken");
            entry.reason = Some(format!("ServiceRequest/{id} entered {taken_by}"));
            audit::append(&mut tx, entry).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Adds to `week` the waiting-list cases placed through FHIR that it can book (a case
/// the request already lists stays as listed); returns their ids for [`mark_taken`].
/// A week whose date does not parse is left alone (its validation says why).
pub async fn join_theatre_week(db: &Db, week: &mut TheatreWeekRequest) -> Result<Vec<String>> {
    let Some(start) = week.date() else {
        return Ok(Vec::new());
    };
    let mut ids = Vec::new();
    for case in theatre_cases_for_week(db, start, week.days).await? {
        // A case joins a week its surgeon operates in; it waits for another otherwise.
        let surgeon_operates = week
            .surgeons
            .iter()
            .any(|s| s.surgeon_id == case.surgeon_id);
        if surgeon_operates && !week.cases.iter().any(|c| c.case_id == case.case_id) {
            ids.push(case.case_id.clone());
            week.cases.push(case);
        }
    }
    Ok(ids)
}

/// Adds to `week` the imaging requests placed through FHIR that it can book; returns
/// their ids for [`mark_taken`].
pub async fn join_scanner_week(db: &Db, week: &mut ScannerWeekRequest) -> Result<Vec<String>> {
    let Some(start) = week.date() else {
        return Ok(Vec::new());
    };
    let mut ids = Vec::new();
    for r in scan_requests_for_week(db, start, week.days).await? {
        if !week.requests.iter().any(|q| q.request_id == r.request_id) {
            ids.push(r.request_id.clone());
            week.requests.push(r);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use careflow_types::{AgeGroup, Sex};

    use super::*;
    use crate::patients;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn surgical(id: &str, key: &str, placer: &str, surgeon: &str) -> NewServiceRequest {
        NewServiceRequest {
            request_id: id.into(),
            patient_key: key.into(),
            priority: "routine".into(),
            code: "hernia_repair".into(),
            earliest: date("2026-12-08"),
            latest: date("2027-03-01"),
            identifier_system: "urn:oid:1.2.3".into(),
            identifier_value: placer.into(),
            entry: Entry::Theatre(
                serde_json::from_value(serde_json::json!({
                    "case_id": id, "patient_key": key, "procedure": "hernia_repair",
                    "specialty": "general_surgery", "surgeon_id": surgeon, "category": "P4",
                    "days_waited": 0
                }))
                .expect("case"),
            ),
        }
    }

    fn week(surgeon: &str) -> TheatreWeekRequest {
        serde_json::from_value(serde_json::json!({
            "week_start": "2026-12-07",
            "theatres": [{"theatre_id": "T1", "sessions": [{"day": 1, "staffed_minutes": 480}]}],
            "surgeons": [{"surgeon_id": surgeon, "days": [1]}],
            "cases": [],
            "requested_by": "theatre.tom"
        }))
        .expect("week")
    }

    async fn lifecycle(db: &Db) {
        let key = patients::pseudonymise(db, "MRN-1", Sex::Male, AgeGroup::Adult)
            .await
            .expect("patient");
        let stored = create_all(
            db,
            &[
                surgical("SR-a", &key, "P-1", "S01"),
                surgical("SR-b", &key, "P-2", "S02"),
            ],
            "theatre.tom",
            "theatre_admin",
        )
        .await
        .expect("orders");
        assert_eq!(stored.len(), 2);
        // A resent order and an unknown patient are refused by index; nothing is stored.
        let err = create_all(
            db,
            &[
                surgical("SR-c", &key, "P-3", "S01"),
                surgical("SR-d", &key, "P-1", "S01"),
            ],
            "theatre.tom",
            "theatre_admin",
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::Conflict(m) if m.starts_with("1: ")),
            "{err}"
        );
        let err = create_all(
            db,
            &[surgical("SR-e", "PK-nobody", "P-4", "S01")],
            "theatre.tom",
            "theatre_admin",
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(m) if m.starts_with("0: ")),
            "{err}"
        );
        assert_eq!(all(db).await.expect("all").len(), 2);

        // The week takes the case whose surgeon operates in it, from its earliest day.
        let mut w = week("S01");
        let ids = join_theatre_week(db, &mut w).await.expect("join");
        assert_eq!(ids, ["SR-a"]);
        assert_eq!(w.cases.len(), 1);
        assert_eq!(w.cases[0].release_day, 1);
        mark_taken(db, &ids, "theatre-2026-12-07-x")
            .await
            .expect("taken");
        let mut again = week("S01");
        assert!(join_theatre_week(db, &mut again)
            .await
            .expect("join")
            .is_empty());
        let taken: Vec<_> = all(db)
            .await
            .expect("all")
            .into_iter()
            .filter_map(|o| o.taken_by)
            .collect();
        assert_eq!(taken, ["theatre-2026-12-07-x"]);
    }

    #[tokio::test]
    async fn orders_are_stored_whole_and_join_their_week_on_sqlite() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = Db::connect(&Db::sqlite_url(&dir.path().join("careflow.db")))
            .await
            .expect("db");
        lifecycle(&db).await;
    }

    #[tokio::test]
    async fn orders_are_stored_whole_and_join_their_week_on_postgres() {
        let base = std::env::var("CAREFLOW_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!(
            "cf_orders_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        );
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&base)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let db = Db::connect(&format!("{base}?options=-c%20search_path%3D{schema}"))
            .await
            .expect("postgres schema");
        lifecycle(&db).await;
    }
}
