//! Activities of the bed-plan workflow: forecast emergency demand with the production
//! `ed-arrivals` model, place every inpatient with the bed-allocation MILP while keeping
//! beds free for that demand, and publish or reject the plan after a person's decision.
//!
//! Each writes its rows and audit entry in one transaction keyed by the workflow id, so
//! a retry after a crash finds the work done and returns the stored answer.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_forecasters::ed_arrivals::{EdArrivals, EdArrivalsRequest, MODEL_NAME};
use careflow_forecasters::registry::Registry;
use careflow_forecasters::{Forecaster, RuntimeOptions};
use careflow_solvers::bed_allocation::{
    self as beds, BedInput, BedWeights, DemandForecast, PreviousAssignment, SolveError,
};
use careflow_solvers::solve::{Progress, SolveOptions};
use careflow_types::{
    BedPlanInput, BedPlanProposal, BedPlanRecord, Decision, EmergencyDemand, ForecastProvenance,
    PlannedMove, WardDemand,
};

use crate::admission::{non_retryable, system_entry};
use crate::audit::{self, digest};
use crate::db::{now, Db};

/// Share of emergency-department arrivals admitted to a ward: a planning assumption
/// (about one in eight US ED visits ends in an admission, CDC NHAMCS ED summary tables
/// 2019-2021), to be replaced by a site's own figure.
pub const ED_ADMISSION_RATE: f64 = 0.13;

/// The bed-plan workflow's activities.
pub struct BedPlanActivities {
    db: Db,
    models_dir: PathBuf,
}

impl BedPlanActivities {
    /// Activities reading models from `models_dir/<name>/<version>/` (checked against
    /// the registry's sha256 before use) and writing to `db`.
    pub fn new(db: Db, models_dir: PathBuf) -> Self {
        Self { db, models_dir }
    }
}

/// Input of [`BedPlanActivities::forecast_emergency_demand`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForecastDemandInput {
    /// Workflow id (idempotency and audit).
    pub workflow_id: String,
    /// The plan.
    pub plan: BedPlanInput,
}

/// Input of [`BedPlanActivities::propose_bed_plan`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeInput {
    /// Workflow id.
    pub workflow_id: String,
    /// The plan.
    pub plan: BedPlanInput,
    /// The demand to keep beds free for.
    pub demand: EmergencyDemand,
}

/// Input of [`BedPlanActivities::conclude_bed_plan`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConcludeInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Plan.
    pub plan_id: String,
    /// The approver's decision.
    pub decision: Decision,
}

/// Heartbeat details while the optimiser runs (visible in Temporal's UI and history).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SolveHeartbeat {
    /// Seconds since the solve started.
    pub elapsed_s: f64,
    /// Best plan's objective so far.
    pub incumbent: Option<f64>,
    /// Best proven bound.
    pub bound: Option<f64>,
}

#[activities]
impl BedPlanActivities {
    /// Forecasts ED arrivals for the plan's days with the production `ed-arrivals`
    /// model (its file checked against the registry's sha256) and turns them into
    /// emergency admissions per ward and day. Records which model ran.
    #[activity]
    pub async fn forecast_emergency_demand(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ForecastDemandInput,
    ) -> Result<EmergencyDemand, ActivityError> {
        // A retry recomputes the same numbers from the same file (checked by hash); the
        // row and the audit entry below are written once.
        let step = "forecast/emergency-demand";
        let date = input
            .plan
            .request
            .date()
            .ok_or_else(|| non_retryable("plan_date is not a date".into()))?;
        let origin = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        let horizon_days = input.plan.request.horizon_days;
        let registry = Registry::new(self.db.pool().clone());
        // No production model, a file whose hash differs from the registry's or a
        // missing runtime will not heal by retrying: fail the step with the reason.
        let bundle = registry
            .load_production(MODEL_NAME, &self.models_dir)
            .await
            .map_err(|e| non_retryable(format!("demand forecast: {e}")))?;
        let model = EdArrivals::from_bundle(&bundle, &RuntimeOptions::default())
            .map_err(|e| non_retryable(format!("demand forecast: {e}")))?;
        let horizon_hours = horizon_days * 24;
        let forecast = model
            .forecast(&EdArrivalsRequest {
                origin,
                horizon: horizon_hours as usize,
            })
            .map_err(|e| non_retryable(format!("demand forecast: {e}")))?;
        let per_day: Vec<f64> = forecast
            .rows
            .chunks(24)
            .map(|day| day.iter().map(|r| r.mean).sum())
            .collect();
        let wards = ward_beds(&self.db).await?;
        let demand = EmergencyDemand {
            provenance: ForecastProvenance {
                model_name: forecast.metadata.model_name.clone(),
                model_version: forecast.metadata.model_version.clone(),
                model_sha256: forecast.metadata.model_sha256.clone(),
                execution_provider: forecast.metadata.execution_provider.clone(),
                origin: origin.format("%Y-%m-%dT%H:%M:%S").to_string(),
                horizon_hours,
            },
            wards: split_by_ward(&per_day, &wards, ED_ADMISSION_RATE),
            ed_arrivals_per_day: per_day,
            admission_rate: ED_ADMISSION_RATE,
        };
        let p = &demand.provenance;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO forecast_runs (workflow_id, step, model_name, model_version, model_sha256, \
             execution_provider, origin, horizon_hours, output_digest, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (workflow_id, step) DO NOTHING",
        )
        .bind(&input.workflow_id)
        .bind(step)
        .bind(&p.model_name)
        .bind(&p.model_version)
        .bind(&p.model_sha256)
        .bind(&p.execution_provider)
        .bind(&p.origin)
        .bind(horizon_hours as i64)
        .bind(digest(&demand))
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let mut entry = system_entry(&input.workflow_id, step, "forecast.used");
        entry.reason = Some(format!(
            "{} {} (sha256 {}) on {} from {} for {} h",
            p.model_name,
            p.model_version,
            p.model_sha256,
            p.execution_provider,
            p.origin,
            p.horizon_hours
        ));
        entry.input_digest = Some(digest(&input.plan));
        entry.output_digest = Some(digest(&demand));
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(demand)
    }

    /// Places every inpatient (and every patient a bed is held for) over the plan's
    /// days with the bed-allocation MILP, keeping the forecast 0.9 quantile of
    /// emergency admissions free where it can, and stores the proposal. An input no
    /// plan can satisfy is stored as infeasible with the conflicting constraints.
    #[activity]
    pub async fn propose_bed_plan(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ProposeInput,
    ) -> Result<BedPlanProposal, ActivityError> {
        let plan_id = input.plan.plan_id.clone();
        if let Some(done) = stored_proposal(&self.db, &plan_id).await? {
            return Ok(done);
        }
        let date = input
            .plan
            .request
            .date()
            .ok_or_else(|| non_retryable("plan_date is not a date".into()))?;
        let snapshot = snapshot(&self.db, date, &input.plan, &input.demand).await?;
        let opts = SolveOptions {
            time_limit: Duration::from_secs(input.plan.request.solve_seconds.into()),
            ..SolveOptions::default()
        };
        // The MILP runs on a blocking thread; its progress becomes activity heartbeats.
        let (tx_progress, mut rx_progress) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let bed_input = snapshot.input.clone();
        let solving = tokio::task::spawn_blocking(move || {
            let mut sink = |p: Progress| {
                let _ = tx_progress.send(p);
            };
            beds::solve(&bed_input, &opts, &mut sink)
        });
        tokio::pin!(solving);
        let result = loop {
            tokio::select! {
                r = &mut solving => break r.map_err(|e| non_retryable(format!("bed plan solver panicked: {e}")))?,
                Some(p) = rx_progress.recv() => {
                    let _ = ctx.record_heartbeat(SolveHeartbeat {
                        elapsed_s: p.elapsed_s, incumbent: p.incumbent, bound: p.bound,
                    }).await;
                }
            }
        };
        let (proposal, assignments) = match result {
            Ok(plan) => {
                let proposal = describe(&plan_id, &snapshot, &plan, input.demand.clone());
                let rooms: Vec<PreviousAssignment> = plan
                    .assignments
                    .iter()
                    .map(|a| PreviousAssignment {
                        patient: a.patient.clone(),
                        room: a.room.clone(),
                    })
                    .collect();
                (proposal, rooms)
            }
            Err(SolveError::Infeasible { conflicts }) => (
                BedPlanProposal {
                    plan_id: plan_id.clone(),
                    solver_status: "infeasible".into(),
                    cost_total: 0.0,
                    outlier_days: 0,
                    transfers: 0,
                    reserve_shortfall: 0.0,
                    mip_gap: None,
                    patients: snapshot.input.patients.len() as u32,
                    moves: Vec::new(),
                    shortfalls: Vec::new(),
                    conflicts: conflicts.into_iter().map(|c| c.message).collect(),
                    demand: input.demand.clone(),
                },
                Vec::new(),
            ),
            Err(e @ SolveError::NoPlanInTime) => {
                // Worth another attempt: the machine may have been busy.
                return Err(ActivityError::from(anyhow::anyhow!("bed plan: {e}")));
            }
            Err(e) => return Err(non_retryable(format!("bed plan: {e}"))),
        };
        let infeasible = proposal.solver_status == "infeasible";
        let p = &proposal.demand.provenance;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO bed_plans (plan_id, plan_date, horizon_days, status, requested_by, created_at, \
             model_name, model_version, model_sha256, solver_status, cost_total, proposal_json, assignments_json) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (plan_id) DO NOTHING",
        )
        .bind(&plan_id)
        .bind(&input.plan.request.plan_date)
        .bind(input.plan.request.horizon_days as i64)
        .bind(if infeasible { "infeasible" } else { "proposed" })
        .bind(&input.plan.request.requested_by)
        .bind(now())
        .bind(&p.model_name)
        .bind(&p.model_version)
        .bind(&p.model_sha256)
        .bind(&proposal.solver_status)
        .bind(proposal.cost_total)
        .bind(serde_json::to_string(&proposal).expect("proposal serialises"))
        .bind(serde_json::to_string(&assignments).expect("assignments serialise"))
        .execute(&mut *tx)
        .await?;
        let mut entry = system_entry(&input.workflow_id, "propose", "bed_plan.proposed");
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
        entry.input_digest = Some(digest(&snapshot.input));
        entry.output_digest = Some(digest(&proposal));
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        // Another attempt may have stored its proposal first: the stored one is the answer.
        Ok(stored_proposal(&self.db, &plan_id)
            .await?
            .unwrap_or(proposal))
    }

    /// Publishes an approved plan (the previous published plan is superseded) or marks
    /// a rejected one, audited with the plan's digest.
    #[activity]
    pub async fn conclude_bed_plan(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ConcludeInput,
    ) -> Result<(), ActivityError> {
        let d = &input.decision;
        let ts = now();
        let mut tx = self.db.begin_write().await?;
        let row = sqlx::query("SELECT status, proposal_json FROM bed_plans WHERE plan_id = $1")
            .bind(&input.plan_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| non_retryable(format!("bed plan {} not found", input.plan_id)))?;
        let status: String = row.try_get("status").map_err(crate::Error::from)?;
        if status != "proposed" {
            // Already concluded by an earlier attempt.
            return Ok(());
        }
        let proposal_json: String = row.try_get("proposal_json").map_err(crate::Error::from)?;
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
        .bind(&input.plan_id)
        .execute(&mut *tx)
        .await?;
        let action = if d.approve {
            "bed_plan.published"
        } else {
            "bed_plan.rejected"
        };
        let mut entry = system_entry(&input.workflow_id, "conclude", action);
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
}

async fn stored_proposal(db: &Db, plan_id: &str) -> Result<Option<BedPlanProposal>, ActivityError> {
    let row = sqlx::query("SELECT proposal_json FROM bed_plans WHERE plan_id = $1")
        .bind(plan_id)
        .fetch_optional(db.pool())
        .await
        .map_err(crate::Error::from)?;
    match row {
        None => Ok(None),
        Some(row) => {
            let json: String = row.try_get("proposal_json").map_err(crate::Error::from)?;
            serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| non_retryable(format!("stored bed plan {plan_id} is unreadable: {e}")))
        }
    }
}

/// A stored plan, or `None`.
pub async fn get(db: &Db, plan_id: &str) -> crate::Result<Option<BedPlanRecord>> {
    let rows = sqlx::query(&format!("{RECORD_SQL} WHERE plan_id = $1"))
        .bind(plan_id)
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(record)
        .collect::<crate::Result<Vec<_>>>()?
        .pop())
}

/// The most recent plans, newest first.
pub async fn list(db: &Db, limit: i64) -> crate::Result<Vec<BedPlanRecord>> {
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

fn record(row: &sqlx::any::AnyRow) -> crate::Result<BedPlanRecord> {
    let plan_id: String = row.try_get("plan_id")?;
    let json: String = row.try_get("proposal_json")?;
    let proposal = serde_json::from_str(&json)
        .map_err(|e| crate::Error::Corrupt(format!("bed plan {plan_id}: {e}")))?;
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

/// In-service beds per ward, in ward order.
async fn ward_beds(db: &Db) -> Result<Vec<(String, u32)>, ActivityError> {
    let rows = sqlx::query(
        "SELECT r.ward_id, COUNT(*) AS beds FROM beds b JOIN rooms r ON r.room_id = b.room_id \
         WHERE b.in_service = 1 GROUP BY r.ward_id ORDER BY r.ward_id",
    )
    .fetch_all(db.pool())
    .await
    .map_err(crate::Error::from)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("ward_id")
                    .map_err(crate::Error::from)?,
                r.try_get::<i64, _>("beds").map_err(crate::Error::from)? as u32,
            ))
        })
        .collect()
}

/// Emergency admissions per ward and day: the day's expected ED arrivals times the
/// admission rate, shared between wards by bed count, Poisson around that mean.
fn split_by_ward(per_day: &[f64], wards: &[(String, u32)], rate: f64) -> Vec<WardDemand> {
    let total: u32 = wards.iter().map(|w| w.1).sum();
    let mut out = Vec::new();
    for (w, beds) in wards {
        for (d, arrivals) in per_day.iter().enumerate() {
            let mean = arrivals * rate * f64::from(*beds) / f64::from(total.max(1));
            out.push(WardDemand {
                ward_id: w.clone(),
                day: d as u32,
                mean,
                p50: poisson_quantile(mean, 0.5),
                p90: poisson_quantile(mean, 0.9),
            });
        }
    }
    out
}

/// Smallest k with P(Poisson(mean) <= k) >= q.
fn poisson_quantile(mean: f64, q: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    let mut pmf = (-mean).exp();
    let mut cdf = pmf;
    let mut k = 0u32;
    while cdf < q && k < 10_000 {
        k += 1;
        pmf *= mean / f64::from(k);
        cdf += pmf;
    }
    f64::from(k)
}

/// The solver's input built from the domain database, plus what the proposal needs
/// to describe moves in hospital words.
struct Snapshot {
    input: BedInput,
    /// Current room of each patient (admission id) and its ward.
    current_room: HashMap<String, String>,
    ward_of_room: HashMap<String, String>,
    specialty_of_ward: HashMap<String, String>,
}

/// Ages stand in for the stored age band (the model's wards take age ranges).
fn age_of_band(band: &str) -> u32 {
    match band {
        "child" => 8,
        "elderly" => 80,
        _ => 45,
    }
}

async fn snapshot(
    db: &Db,
    date: NaiveDate,
    plan: &BedPlanInput,
    demand: &EmergencyDemand,
) -> Result<Snapshot, ActivityError> {
    let e = |err: sqlx::Error| ActivityError::from(crate::Error::from(err));
    let horizon = plan.request.horizon_days;
    let ward_rows =
        sqlx::query("SELECT ward_id, specialty, paediatric FROM wards ORDER BY ward_id")
            .fetch_all(db.pool())
            .await
            .map_err(e)?;
    let mut wards = Vec::new();
    let mut specialty_of_ward = HashMap::new();
    for r in &ward_rows {
        let id: String = r.try_get("ward_id").map_err(e)?;
        let specialty: String = r.try_get("specialty").map_err(e)?;
        let paediatric = r.try_get::<i64, _>("paediatric").map_err(e)? != 0;
        specialty_of_ward.insert(id.clone(), specialty.clone());
        wards.push(beds::Ward {
            id,
            specialties: vec![specialty],
            min_age: (!paediatric).then_some(16),
            max_age: paediatric.then_some(15),
        });
    }
    let room_rows = sqlx::query(
        "SELECT r.room_id, r.ward_id, COUNT(b.bed_id) AS beds FROM rooms r \
         JOIN beds b ON b.room_id = r.room_id AND b.in_service = 1 \
         GROUP BY r.room_id, r.ward_id ORDER BY r.room_id",
    )
    .fetch_all(db.pool())
    .await
    .map_err(e)?;
    let mut rooms = Vec::new();
    let mut ward_of_room = HashMap::new();
    for r in &room_rows {
        let id: String = r.try_get("room_id").map_err(e)?;
        let ward: String = r.try_get("ward_id").map_err(e)?;
        ward_of_room.insert(id.clone(), ward.clone());
        rooms.push(beds::Room {
            id,
            ward,
            beds: r.try_get::<i64, _>("beds").map_err(e)? as u32,
            equipment: Vec::new(),
        });
    }
    // Patients in a bed now, and patients a bed is held for (they arrive today).
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
    .await
    .map_err(e)?;
    let mut patients = Vec::new();
    let mut current_room = HashMap::new();
    for r in &patient_rows {
        let id: String = r.try_get("admission_id").map_err(e)?;
        let since: String = r.try_get("since").map_err(e)?;
        let los = r.try_get::<i64, _>("expected_los_days").map_err(e)?;
        let room: String = r.try_get("room_id").map_err(e)?;
        // Expected discharge day relative to the plan date; a patient past their
        // expected stay is planned to stay at least the first day.
        let since_day = chrono::DateTime::parse_from_rfc3339(&since)
            .map(|t| t.date_naive())
            .unwrap_or(date);
        let end = (since_day - date).num_days() + los;
        let discharge_day = end.clamp(1, i64::from(horizon)) as u32;
        current_room.insert(id.clone(), room.clone());
        patients.push(beds::Patient {
            id,
            sex: match r.try_get::<String, _>("sex").map_err(e)?.as_str() {
                "female" => beds::Sex::Female,
                _ => beds::Sex::Male,
            },
            age: age_of_band(&r.try_get::<String, _>("age_group").map_err(e)?),
            specialty: r.try_get("specialty").map_err(e)?,
            admit_day: 0,
            discharge_day,
            isolation: r.try_get::<i64, _>("isolation").map_err(e)? != 0,
            equipment: Vec::new(),
            current_room: Some(room),
        });
    }
    let previous = published_assignments(db).await?;
    let emergency_forecast = demand
        .wards
        .iter()
        .map(|w| DemandForecast {
            ward: w.ward_id.clone(),
            day: w.day,
            quantiles: vec![(0.5, w.p50), (0.9, w.p90)],
        })
        .collect();
    Ok(Snapshot {
        input: BedInput {
            horizon_days: horizon,
            wards,
            rooms,
            patients,
            emergency_forecast,
            weights: BedWeights::default(),
            previous,
        },
        current_room,
        ward_of_room,
        specialty_of_ward,
    })
}

/// The plan in force: the warm start and the "do not reshuffle" reference.
async fn published_assignments(db: &Db) -> Result<Vec<PreviousAssignment>, ActivityError> {
    let row =
        sqlx::query("SELECT plan_id, assignments_json FROM bed_plans WHERE status = 'published'")
            .fetch_optional(db.pool())
            .await
            .map_err(crate::Error::from)?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let json: String = row
        .try_get("assignments_json")
        .map_err(crate::Error::from)?;
    let plan_id: String = row.try_get("plan_id").map_err(crate::Error::from)?;
    serde_json::from_str(&json)
        .map_err(|e| non_retryable(format!("published bed plan {plan_id} is unreadable: {e}")))
}

/// The proposal as the approver reads it.
fn describe(
    plan_id: &str,
    snap: &Snapshot,
    plan: &beds::BedPlan,
    demand: EmergencyDemand,
) -> BedPlanProposal {
    let moves = plan
        .assignments
        .iter()
        .filter(|a| a.transfer)
        .map(|a| {
            let from = snap
                .current_room
                .get(&a.patient)
                .cloned()
                .unwrap_or_default();
            let from_ward = snap.ward_of_room.get(&from).cloned().unwrap_or_default();
            let why = if !a.outlier
                && snap.specialty_of_ward.get(&from_ward) != snap.specialty_of_ward.get(&a.ward)
            {
                format!(
                    "back to a {} ward",
                    snap.specialty_of_ward
                        .get(&a.ward)
                        .cloned()
                        .unwrap_or_default()
                )
            } else {
                format!("frees a bed on {from_ward} for forecast emergency admissions")
            };
            PlannedMove {
                admission_id: a.patient.clone(),
                from_room: from,
                to_room: a.room.clone(),
                why,
            }
        })
        .collect();
    let shortfalls = plan
        .ward_days
        .iter()
        .filter(|w| f64::from(w.free) < w.reserve)
        .map(|w| {
            format!(
                "{} day {}: {} beds free, {:.0} kept for emergencies (forecast 0.9 quantile)",
                w.ward, w.day, w.free, w.reserve
            )
        })
        .collect();
    BedPlanProposal {
        plan_id: plan_id.to_owned(),
        solver_status: match plan.status {
            careflow_solvers::solve::SolveStatus::Optimal => "optimal".into(),
            other => format!("{other:?}").to_lowercase(),
        },
        cost_total: plan.cost.total,
        outlier_days: plan.cost.outlier_days,
        transfers: plan.cost.transfers,
        reserve_shortfall: plan.cost.reserve_shortfall,
        mip_gap: plan.mip_gap,
        patients: plan.assignments.len() as u32,
        moves,
        shortfalls,
        conflicts: Vec::new(),
        demand,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_quantiles_match_known_values() {
        // P(Poisson(2) <= 1) = 0.406, <= 2 = 0.677, <= 3 = 0.857, <= 4 = 0.947.
        assert_eq!(poisson_quantile(2.0, 0.5), 2.0);
        assert_eq!(poisson_quantile(2.0, 0.9), 4.0);
        assert_eq!(poisson_quantile(0.0, 0.9), 0.0);
    }

    #[test]
    fn demand_is_shared_by_beds() {
        let wards = vec![("A".to_string(), 30), ("B".to_string(), 10)];
        let d = split_by_ward(&[100.0, 200.0], &wards, 0.1);
        assert_eq!(d.len(), 4);
        assert!((d[0].mean - 7.5).abs() < 1e-9); // A day 0: 100 * 0.1 * 3/4
        assert!((d[3].mean - 5.0).abs() < 1e-9); // B day 1: 200 * 0.1 * 1/4
        assert!(d.iter().all(|w| w.p90 >= w.p50));
    }
}
