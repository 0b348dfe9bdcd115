//! Bed plans and the forecasts behind them: the census a plan starts from, the
//! proposal as stored, its publication or rejection, and the record of which model
//! produced the demand it kept beds for.
//!
//! One plan is published at a time (a unique index); publishing supersedes the plan in
//! force in the same transaction.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use careflow_types::{
    BedPlanInput, BedPlanProposal, BedPlanRecord, Decision, EmergencyDemand, NewAuditEntry, Role,
};

use crate::audit::{self, system_entry};
use crate::db::{now, Db};
use crate::decisions::{self, DecisionResult, NewDecisionStep};
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
    .bind(db.digest(demand))
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
    entry.input_digest = Some(db.digest(plan));
    entry.output_digest = Some(db.digest(demand));
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
/// entry, and the solver step that made it (its whole input as a snapshot, and its
/// result) in the same transaction. The first proposal stored for a plan is the answer:
/// a second attempt's proposal is dropped and the stored one returned.
pub async fn store_proposal(
    db: &Db,
    workflow_id: &str,
    plan: &BedPlanInput,
    proposal: &BedPlanProposal,
    assignments: &[RoomAssignment],
    step: &NewDecisionStep,
    result: &DecisionResult,
) -> Result<BedPlanProposal> {
    let infeasible = !proposal.conflicts.is_empty();
    let p = &proposal.demand.provenance;
    let mut tx = db.begin_write().await?;
    let recorded = decisions::record_in(&mut tx, step).await?;
    decisions::record_result_in(&mut tx, result).await?;
    let solver_input_digest = recorded.snapshot_sha256;
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
    entry.output_digest = Some(db.digest(proposal));
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
    entry.output_digest = Some(db.digest_key().digest_bytes(proposal_json.as_bytes()));
    audit::append(&mut tx, entry).await?;
    if d.approve {
        order_moves(
            &mut tx,
            db.digest_key(),
            workflow_id,
            plan_id,
            &proposal_json,
            &ts,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The published plan's moves become move orders for the wards (a plan published
/// before them is superseded, so its open orders are void), audited in the
/// publication's transaction.
async fn order_moves(
    conn: &mut sqlx::AnyConnection,
    digests: &audit::DigestKey,
    workflow_id: &str,
    plan_id: &str,
    proposal_json: &str,
    ts: &str,
) -> Result<()> {
    let proposal: BedPlanProposal = serde_json::from_str(proposal_json)
        .map_err(|e| Error::Corrupt(format!("bed plan {plan_id}: {e}")))?;
    sqlx::query(
        "UPDATE bed_moves SET status = 'void', note = $1 WHERE status = 'ordered' AND plan_id <> $2",
    )
    .bind(format!("superseded by bed plan {plan_id}"))
    .bind(plan_id)
    .execute(&mut *conn)
    .await?;
    for m in &proposal.moves {
        let ward: Option<String> = sqlx::query("SELECT ward_id FROM rooms WHERE room_id = $1")
            .bind(&m.to_room)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("ward_id"))
            .transpose()?;
        sqlx::query(
            "INSERT INTO bed_moves (plan_id, admission_id, ward_id, from_room, to_room, why, status, ordered_at)              VALUES ($1,$2,$3,$4,$5,$6,'ordered',$7) ON CONFLICT (plan_id, admission_id) DO NOTHING",
        )
        .bind(plan_id)
        .bind(&m.admission_id)
        .bind(ward.unwrap_or_default())
        .bind(&m.from_room)
        .bind(&m.to_room)
        .bind(&m.why)
        .bind(ts)
        .execute(&mut *conn)
        .await?;
    }
    let mut entry = system_entry(workflow_id, "order-moves", "bed_move.ordered");
    entry.reason = Some(format!(
        "{} move(s) ordered by published bed plan {plan_id}: {}",
        proposal.moves.len(),
        proposal
            .moves
            .iter()
            .map(|m| format!("{} {} -> {}", m.admission_id, m.from_room, m.to_room))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    entry.output_digest = Some(digests.digest(&proposal.moves));
    audit::append(conn, entry).await?;
    Ok(())
}

/// A move a published plan ordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BedMove {
    /// Plan that ordered it.
    pub plan_id: String,
    /// Patient, by admission id.
    pub admission_id: String,
    /// Ward the patient goes to (whose staff carry it out).
    pub ward_id: String,
    /// Room now.
    pub from_room: String,
    /// Room to go to.
    pub to_room: String,
    /// Why, in words.
    pub why: String,
    /// `ordered`, `done` or `void`.
    pub status: String,
    /// Who did it.
    pub done_by: Option<String>,
    /// The bed the patient went to.
    pub to_bed: Option<String>,
    /// Why it was void.
    pub note: Option<String>,
}

/// The moves of a plan, or every open move order when `plan_id` is `None`.
pub async fn moves(db: &Db, plan_id: Option<&str>) -> Result<Vec<BedMove>> {
    let sql = "SELECT plan_id, admission_id, ward_id, from_room, to_room, why, status, done_by,                to_bed, note FROM bed_moves";
    let rows = match plan_id {
        Some(p) => {
            sqlx::query(&format!("{sql} WHERE plan_id = $1 ORDER BY admission_id"))
                .bind(p)
                .fetch_all(db.pool())
                .await?
        }
        None => {
            sqlx::query(&format!(
                "{sql} WHERE status = 'ordered' ORDER BY ward_id, admission_id"
            ))
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            Ok(BedMove {
                plan_id: r.try_get("plan_id")?,
                admission_id: r.try_get("admission_id")?,
                ward_id: r.try_get("ward_id")?,
                from_room: r.try_get("from_room")?,
                to_room: r.try_get("to_room")?,
                why: r.try_get("why")?,
                status: r.try_get("status")?,
                done_by: r.try_get("done_by")?,
                to_bed: r.try_get("to_bed")?,
                note: r.try_get("note")?,
            })
        })
        .collect()
}

/// Roles that carry out a ward move.
const MOVERS: &[Role] = &[Role::BedManager, Role::NurseInCharge, Role::Admin];

/// Carries out an ordered move: the patient leaves their bed for a free bed of the
/// target room, in one transaction with the order marked done and its audit entry
/// (`bed_move.done`), so the census shows the move. A patient no longer in the room
/// the plan moved them from (discharged, moved otherwise) voids the order instead.
/// Done twice, the second call changes nothing.
pub async fn complete_move(
    db: &Db,
    plan_id: &str,
    admission_id: &str,
    actor: &str,
    role: Role,
) -> Result<BedMove> {
    if !MOVERS.contains(&role) {
        return Err(Error::Forbidden(format!(
            "{actor} ({role}) may not move patients (allowed: bed_manager, nurse_in_charge, admin)"
        )));
    }
    let ts = now();
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT status, from_room, to_room FROM bed_moves WHERE plan_id = $1 AND admission_id = $2",
    )
    .bind(plan_id)
    .bind(admission_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("move of {admission_id} in bed plan {plan_id}")))?;
    let status: String = row.try_get("status")?;
    let from_room: String = row.try_get("from_room")?;
    let to_room: String = row.try_get("to_room")?;
    if status == "ordered" {
        let current = sqlx::query(
            "SELECT a.assignment_id, a.sex, a.isolation, b.room_id FROM bed_assignments a              JOIN beds b ON b.bed_id = a.bed_id WHERE a.admission_id = $1 AND a.released_at IS NULL",
        )
        .bind(admission_id)
        .fetch_optional(&mut *tx)
        .await?;
        let in_from_room = current
            .as_ref()
            .map(|r| r.try_get::<String, _>("room_id"))
            .transpose()?
            .is_some_and(|room| room == from_room);
        let workflow_id = format!("bed-move/{plan_id}/{admission_id}");
        if !in_from_room {
            sqlx::query(
                "UPDATE bed_moves SET status = 'void', note = $1 WHERE plan_id = $2 AND admission_id = $3",
            )
            .bind(format!("patient no longer in {from_room}"))
            .bind(plan_id)
            .bind(admission_id)
            .execute(&mut *tx)
            .await?;
            let mut entry = system_entry(&workflow_id, "void", "bed_move.void");
            entry.reason = Some(format!("{admission_id} is no longer in {from_room}"));
            audit::append(&mut tx, entry).await?;
        } else {
            let current = current.expect("checked above");
            let bed: Option<String> = sqlx::query(
                "SELECT b.bed_id FROM beds b WHERE b.room_id = $1 AND b.in_service = 1                  AND NOT EXISTS (SELECT 1 FROM bed_assignments a WHERE a.bed_id = b.bed_id AND a.released_at IS NULL)                  AND NOT EXISTS (SELECT 1 FROM bed_holds h WHERE h.bed_id = b.bed_id)                  ORDER BY b.bed_id LIMIT 1",
            )
            .bind(&to_room)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("bed_id"))
            .transpose()?;
            let bed = bed.ok_or_else(|| {
                Error::Conflict(format!(
                    "room {to_room} has no free bed for {admission_id}: the move waits"
                ))
            })?;
            let old: String = current.try_get("assignment_id")?;
            sqlx::query("UPDATE bed_assignments SET released_at = $1 WHERE assignment_id = $2")
                .bind(&ts)
                .bind(&old)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO bed_assignments (assignment_id, admission_id, bed_id, sex, isolation, assigned_at)                  VALUES ($1,$2,$3,$4,$5,$6)",
            )
            .bind(format!("{old}-move-{plan_id}"))
            .bind(admission_id)
            .bind(&bed)
            .bind(current.try_get::<String, _>("sex")?)
            .bind(current.try_get::<i64, _>("isolation")?)
            .bind(&ts)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE bed_moves SET status = 'done', done_by = $1, done_at = $2, to_bed = $3                  WHERE plan_id = $4 AND admission_id = $5",
            )
            .bind(actor)
            .bind(&ts)
            .bind(&bed)
            .bind(plan_id)
            .bind(admission_id)
            .execute(&mut *tx)
            .await?;
            audit::append(
                &mut tx,
                NewAuditEntry {
                    actor: actor.to_owned(),
                    role: role.as_str().to_owned(),
                    action: "bed_move.done".into(),
                    meaning: Some("moved the patient as the published bed plan ordered".into()),
                    reason: Some(format!("{admission_id}: {from_room} -> {bed}")),
                    workflow_id: Some(workflow_id.clone()),
                    step: Some("done".into()),
                    input_digest: None,
                    output_digest: None,
                    idempotency_key: format!("{workflow_id}/done"),
                },
            )
            .await?;
        }
    }
    tx.commit().await?;
    moves(db, Some(plan_id))
        .await?
        .into_iter()
        .find(|m| m.admission_id == admission_id)
        .ok_or_else(|| Error::NotFound(format!("move of {admission_id} in bed plan {plan_id}")))
}

/// Beds the published plan holds back for emergencies today, per ward: the forecast
/// 0.9 quantile of emergency admissions (what the plan reserved) for the plan's day
/// that is `today`. `None` when no plan is published or its days are over.
pub async fn emergency_reserve(
    conn: &mut sqlx::AnyConnection,
    today: chrono::NaiveDate,
) -> Result<Option<(String, Vec<(String, u32)>)>> {
    let row = sqlx::query(
        "SELECT plan_id, plan_date, horizon_days, proposal_json FROM bed_plans WHERE status = 'published'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let plan_id: String = row.try_get("plan_id")?;
    let plan_date: String = row.try_get("plan_date")?;
    let horizon: i64 = row.try_get("horizon_days")?;
    let date = chrono::NaiveDate::parse_from_str(&plan_date, "%Y-%m-%d")
        .map_err(|e| Error::Corrupt(format!("bed plan {plan_id} date {plan_date}: {e}")))?;
    let day = (today - date).num_days();
    if !(0..horizon).contains(&day) {
        return Ok(None);
    }
    let proposal: BedPlanProposal =
        serde_json::from_str(&row.try_get::<String, _>("proposal_json")?)
            .map_err(|e| Error::Corrupt(format!("bed plan {plan_id}: {e}")))?;
    let wards = proposal
        .demand
        .wards
        .iter()
        .filter(|w| i64::from(w.day) == day)
        .map(|w| (w.ward_id.clone(), w.p90.max(0.0).ceil() as u32))
        .collect();
    Ok(Some((plan_id, wards)))
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
