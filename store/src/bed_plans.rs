//! Bed plans and the forecasts behind them: the census a plan starts from, the
//! proposal as stored, its publication or rejection, and the record of which model
//! produced the demand it kept beds for.
//!
//! One plan is published at a time (a unique index); publishing supersedes the plan in
//! force in the same transaction.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use careflow_types::{BedPlanInput, BedPlanProposal, BedPlanRecord, Decision, EmergencyDemand};

use crate::audit::{self, digest, system_entry};
use crate::db::{now, Db};
use crate::error::{Error, Result};

/// In-service beds per ward, in ward order.
pub async fn ward_beds(db: &Db) -> Result<Vec<(String, u32)>> {
    let rows = sqlx::query(
        "SELECT r.ward_id, COUNT(*) AS beds FROM beds b JOIN rooms r ON r.room_id = b.room_id \
         WHERE b.in_service = 1 GROUP BY r.ward_id ORDER BY r.ward_id",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("ward_id")?,
                r.try_get::<i64, _>("beds")? as u32,
            ))
        })
        .collect()
}

/// Records which model produced a workflow step's demand forecast, with its audit
/// entry `forecast.used` (once per workflow and step).
pub async fn record_forecast_run(
    db: &Db,
    workflow_id: &str,
    step: &str,
    plan: &BedPlanInput,
    demand: &EmergencyDemand,
) -> Result<()> {
    let p = &demand.provenance;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO forecast_runs (workflow_id, step, model_name, model_version, model_sha256, \
         execution_provider, origin, horizon_hours, output_digest, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (workflow_id, step) DO NOTHING",
    )
    .bind(workflow_id)
    .bind(step)
    .bind(&p.model_name)
    .bind(&p.model_version)
    .bind(&p.model_sha256)
    .bind(&p.execution_provider)
    .bind(&p.origin)
    .bind(p.horizon_hours as i64)
    .bind(digest(demand))
    .bind(now())
    .execute(&mut *tx)
    .await?;
    let mut entry = system_entry(workflow_id, step, "forecast.used");
    entry.reason = Some(format!(
        "{} {} (sha256 {}) on {} from {} for {} h",
        p.model_name,
        p.model_version,
        p.model_sha256,
        p.execution_provider,
        p.origin,
        p.horizon_hours
    ));
    entry.input_digest = Some(digest(plan));
    entry.output_digest = Some(digest(demand));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// A ward as a plan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CensusWard {
    /// Ward.
    pub ward_id: String,
    /// Its specialty.
    pub specialty: String,
    /// Children's ward.
    pub paediatric: bool,
}

/// A room with its in-service beds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CensusRoom {
    /// Room.
    pub room_id: String,
    /// Its ward.
    pub ward_id: String,
    /// In-service beds.
    pub beds: u32,
}

/// A patient in a bed now, or one a bed is held for (arriving today).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CensusPatient {
    /// Admission id (the plan's patient id; never an MRN).
    pub admission_id: String,
    /// `female` or `male`.
    pub sex: String,
    /// Age band as stored (`child`, `adult`, `elderly`).
    pub age_group: String,
    /// Specialty.
    pub specialty: String,
    /// Needs a single room.
    pub isolation: bool,
    /// Expected length of stay in days.
    pub expected_los_days: i64,
    /// Since when (RFC 3339): assignment or hold time.
    pub since: String,
    /// Room now.
    pub room_id: String,
}

/// Everything a bed plan starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    /// Wards, in ward order.
    pub wards: Vec<CensusWard>,
    /// Rooms with at least one bed in service, in room order.
    pub rooms: Vec<CensusRoom>,
    /// Patients in beds and patients beds are held for, by admission id.
    pub patients: Vec<CensusPatient>,
}

/// Reads the census a plan starts from.
pub async fn census(db: &Db) -> Result<Census> {
    let ward_rows =
        sqlx::query("SELECT ward_id, specialty, paediatric FROM wards ORDER BY ward_id")
            .fetch_all(db.pool())
            .await?;
    let mut wards = Vec::new();
    for r in &ward_rows {
        wards.push(CensusWard {
            ward_id: r.try_get("ward_id")?,
            specialty: r.try_get("specialty")?,
            paediatric: r.try_get::<i64, _>("paediatric")? != 0,
        });
    }
    let room_rows = sqlx::query(
        "SELECT r.room_id, r.ward_id, COUNT(b.bed_id) AS beds FROM rooms r \
         JOIN beds b ON b.room_id = r.room_id AND b.in_service = 1 \
         GROUP BY r.room_id, r.ward_id ORDER BY r.room_id",
    )
    .fetch_all(db.pool())
    .await?;
    let mut rooms = Vec::new();
    for r in &room_rows {
        rooms.push(CensusRoom {
            room_id: r.try_get("room_id")?,
            ward_id: r.try_get("ward_id")?,
            beds: r.try_get::<i64, _>("beds")? as u32,
        });
    }
    let patient_rows = sqlx::query(
        "SELECT ad.admission_id, ad.sex, ad.age_group, ad.specialty, ad.isolation, \
                ad.expected_los_days, a.assigned_at AS since, b.room_id \
         FROM bed_assignments a JOIN admissions ad ON ad.admission_id = a.admission_id \
         JOIN beds b ON b.bed_id = a.bed_id WHERE a.released_at IS NULL \
         UNION ALL \
         SELECT ad.admission_id, ad.sex, ad.age_group, ad.specialty, ad.isolation, \
                ad.expected_los_days, h.held_at AS since, b.room_id \
         FROM bed_holds h JOIN admissions ad ON ad.workflow_id = h.workflow_id \
         JOIN beds b ON b.bed_id = h.bed_id \
         ORDER BY 1",
    )
    .fetch_all(db.pool())
    .await?;
    let mut patients = Vec::new();
    for r in &patient_rows {
        patients.push(CensusPatient {
            admission_id: r.try_get("admission_id")?,
            sex: r.try_get("sex")?,
            age_group: r.try_get("age_group")?,
            specialty: r.try_get("specialty")?,
            isolation: r.try_get::<i64, _>("isolation")? != 0,
            expected_los_days: r.try_get("expected_los_days")?,
            since: r.try_get("since")?,
            room_id: r.try_get("room_id")?,
        });
    }
    Ok(Census {
        wards,
        rooms,
        patients,
    })
}

/// A patient's room in a plan: what a published plan keeps as the next plan's warm
/// start and "do not reshuffle" reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomAssignment {
    /// Admission id.
    pub patient: String,
    /// Room.
    pub room: String,
}

/// The rooms of the plan in force (empty when none is published).
pub async fn published_assignments(db: &Db) -> Result<Vec<RoomAssignment>> {
    let row =
        sqlx::query("SELECT plan_id, assignments_json FROM bed_plans WHERE status = 'published'")
            .fetch_optional(db.pool())
            .await?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let json: String = row.try_get("assignments_json")?;
    let plan_id: String = row.try_get("plan_id")?;
    serde_json::from_str(&json)
        .map_err(|e| Error::Corrupt(format!("published bed plan {plan_id}: {e}")))
}

/// The proposal stored for `plan_id`, if a step stored one.
pub async fn stored_proposal(db: &Db, plan_id: &str) -> Result<Option<BedPlanProposal>> {
    let row = sqlx::query("SELECT proposal_json FROM bed_plans WHERE plan_id = $1")
        .bind(plan_id)
        .fetch_optional(db.pool())
        .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let json: String = row.try_get("proposal_json")?;
            serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("stored bed plan {plan_id}: {e}")))
        }
    }
}

/// Stores a proposal (or an infeasible outcome, when it names conflicts) with its audit
/// entry. The first proposal stored for a plan is the answer: a second attempt's
/// proposal is dropped and the stored one returned.
pub async fn store_proposal(
    db: &Db,
    workflow_id: &str,
    plan: &BedPlanInput,
    proposal: &BedPlanProposal,
    assignments: &[RoomAssignment],
    solver_input_digest: String,
) -> Result<BedPlanProposal> {
    let infeasible = !proposal.conflicts.is_empty();
    let p = &proposal.demand.provenance;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO bed_plans (plan_id, plan_date, horizon_days, status, requested_by, created_at, \
         model_name, model_version, model_sha256, solver_status, cost_total, proposal_json, assignments_json) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (plan_id) DO NOTHING",
    )
    .bind(&plan.plan_id)
    .bind(&plan.request.plan_date)
    .bind(plan.request.horizon_days as i64)
    .bind(if infeasible { "infeasible" } else { "proposed" })
    .bind(&plan.request.requested_by)
    .bind(now())
    .bind(&p.model_name)
    .bind(&p.model_version)
    .bind(&p.model_sha256)
    .bind(&proposal.solver_status)
    .bind(proposal.cost_total)
    .bind(serde_json::to_string(proposal).expect("proposal serialises"))
    .bind(serde_json::to_string(assignments).expect("assignments serialise"))
    .execute(&mut *tx)
    .await?;
    let mut entry = system_entry(workflow_id, "propose", "bed_plan.proposed");
    if infeasible {
        entry.action = "bed_plan.infeasible".into();
        entry.reason = Some(proposal.conflicts.join("; "));
    } else {
        entry.reason = Some(format!(
            "{} patients, {} moves, {:.1} bed-days short of the emergency reserve ({})",
            proposal.patients,
            proposal.transfers,
            proposal.reserve_shortfall,
            proposal.solver_status
        ));
    }
    entry.input_digest = Some(solver_input_digest);
    entry.output_digest = Some(digest(proposal));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(stored_proposal(db, &plan.plan_id)
        .await?
        .unwrap_or_else(|| proposal.clone()))
}

/// Publishes an approved plan (the previous published plan is superseded) or marks a
/// rejected one, audited with the plan's digest. A plan already concluded is left as
/// it is (an earlier attempt of the same step).
pub async fn conclude(db: &Db, workflow_id: &str, plan_id: &str, d: &Decision) -> Result<()> {
    let ts = now();
    let mut tx = db.begin_write().await?;
    let row = sqlx::query("SELECT status, proposal_json FROM bed_plans WHERE plan_id = $1")
        .bind(plan_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("bed plan {plan_id}")))?;
    let status: String = row.try_get("status")?;
    if status != "proposed" {
        return Ok(());
    }
    let proposal_json: String = row.try_get("proposal_json")?;
    if d.approve {
        sqlx::query("UPDATE bed_plans SET status = 'superseded' WHERE status = 'published'")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE bed_plans SET status = $1, decided_by = $2, decided_role = $3, decided_at = $4, \
         decision_reason = $5 WHERE plan_id = $6",
    )
    .bind(if d.approve { "published" } else { "rejected" })
    .bind(&d.actor)
    .bind(d.role.as_str())
    .bind(&ts)
    .bind(&d.reason)
    .bind(plan_id)
    .execute(&mut *tx)
    .await?;
    let action = if d.approve {
        "bed_plan.published"
    } else {
        "bed_plan.rejected"
    };
    let mut entry = system_entry(workflow_id, "conclude", action);
    entry.reason = Some(format!(
        "{} by {} ({})",
        if d.approve { "approved" } else { "rejected" },
        d.actor,
        d.role
    ));
    entry.output_digest = Some(hex::encode(Sha256::digest(proposal_json.as_bytes())));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// A stored plan, or `None`.
pub async fn get(db: &Db, plan_id: &str) -> Result<Option<BedPlanRecord>> {
    let rows = sqlx::query(&format!("{RECORD_SQL} WHERE plan_id = $1"))
        .bind(plan_id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(record).collect::<Result<Vec<_>>>()?.pop())
}

/// The most recent plans, newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<BedPlanRecord>> {
    let rows = sqlx::query(&format!(
        "{RECORD_SQL} ORDER BY created_at DESC, plan_id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(record).collect()
}

const RECORD_SQL: &str =
    "SELECT plan_id, plan_date, horizon_days, status, requested_by, created_at, \
                          proposal_json, decided_by, decided_at, decision_reason FROM bed_plans";

fn record(row: &sqlx::any::AnyRow) -> Result<BedPlanRecord> {
    let plan_id: String = row.try_get("plan_id")?;
    let json: String = row.try_get("proposal_json")?;
    let proposal = serde_json::from_str(&json)
        .map_err(|e| Error::Corrupt(format!("bed plan {plan_id}: {e}")))?;
    Ok(BedPlanRecord {
        plan_date: row.try_get("plan_date")?,
        horizon_days: row.try_get::<i64, _>("horizon_days")? as u32,
        status: row.try_get("status")?,
        requested_by: row.try_get("requested_by")?,
        created_at: row.try_get("created_at")?,
        proposal,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        decision_reason: row.try_get("decision_reason")?,
        plan_id,
    })
}
