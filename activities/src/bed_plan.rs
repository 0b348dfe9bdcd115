//! Activities of the bed-plan workflow: forecast emergency demand with the production
//! `ed-arrivals` model, place every inpatient with the bed-allocation MILP while keeping
//! beds free for that demand, and publish or reject the plan after a person's decision.
//!
//! The activities compute (forecast, MILP) and turn store rows into model inputs; the
//! store writes each result with its audit entry in one transaction keyed by the
//! workflow id, so a retry after a crash finds the work done and returns the stored
//! answer.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_forecasters::bundle::open_verified;
use careflow_forecasters::ed_arrivals::{EdArrivals, EdArrivalsRequest, MODEL_NAME};
use careflow_forecasters::Forecaster;
use careflow_solvers::bed_allocation::{
    self as beds, BedInput, BedWeights, DemandForecast, PreviousAssignment, SolveError,
};
use careflow_solvers::highs::{SOLVER, SOLVER_VERSION};
use careflow_solvers::solve::{SolveOptions, SolveStatus};
use careflow_store::audit::sha256_json as digest;
use careflow_store::bed_plans::{self, Census, RoomAssignment};
use careflow_store::decisions::{self, DecisionResult, DecisionStep, ModelUse, NewDecisionStep};
use careflow_store::Db;
use careflow_types::{
    BedPlanInput, BedPlanProposal, Decision, EmergencyDemand, ForecastProvenance, PlannedMove,
    WardDemand,
};

use crate::{non_retryable, production_model, solve_with_heartbeats, store_failure};

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
        // No production model, a file whose hash differs from the registry's or a
        // missing runtime will not heal by retrying: fail the step with the reason.
        let bundle =
            production_model(&self.db, &self.models_dir, MODEL_NAME, "demand forecast").await?;
        let model = EdArrivals::from_bundle(&bundle, &crate::forecast_runtime())
            .map_err(|e| non_retryable(format!("demand forecast: {e}")))?;
        let horizon_hours = horizon_days * 24;
        let request = EdArrivalsRequest {
            origin,
            horizon: horizon_hours as usize,
        };
        let forecast = crate::metrics::timed_forecast(MODEL_NAME, || model.forecast(&request))
            .map_err(|e| non_retryable(format!("demand forecast: {e}")))?;
        // A candidate in its shadow period forecasts the same hours beside production.
        crate::model_release::shadow_ed_arrivals(
            &self.db,
            &self.models_dir,
            &input.workflow_id,
            &request,
            &forecast,
        )
        .await;
        let per_day: Vec<f64> = forecast
            .rows
            .chunks(24)
            .map(|day| day.iter().map(|r| r.mean).sum())
            .collect();
        let wards = bed_plans::ward_beds(&self.db)
            .await
            .map_err(store_failure)?;
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
        bed_plans::record_forecast_run(&self.db, &input.workflow_id, step, &input.plan, &demand)
            .await
            .map_err(store_failure)?;
        record_forecast_decision(&self.db, &input.workflow_id, step, &demand)
            .await
            .map_err(store_failure)?;
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
        if let Some(done) = bed_plans::stored_proposal(&self.db, &plan_id)
            .await
            .map_err(store_failure)?
        {
            return Ok(done);
        }
        let date = input
            .plan
            .request
            .date()
            .ok_or_else(|| non_retryable("plan_date is not a date".into()))?;
        let census = bed_plans::census(&self.db).await.map_err(store_failure)?;
        let previous = bed_plans::published_assignments(&self.db)
            .await
            .map_err(store_failure)?;
        let snapshot = snapshot(census, previous, date, &input.plan, &input.demand);
        let opts = SolveOptions {
            time_limit: Duration::from_secs(input.plan.request.solve_seconds.into()),
            threads: SOLVER_THREADS,
            seed: SOLVER_SEED,
            ..SolveOptions::default()
        };
        let bed_input = snapshot.input.clone();
        let solve_opts = opts.clone();
        let result = solve_with_heartbeats(&ctx, "bed plan", move |sink| {
            beds::solve(&bed_input, &solve_opts, sink)
        })
        .await?;
        let result = match result {
            Ok(plan) => Ok(plan),
            Err(SolveError::Infeasible { conflicts }) => Err(conflicts),
            Err(e @ SolveError::NoPlanInTime) => {
                // Worth another attempt: the machine may have been busy.
                return Err(ActivityError::from(anyhow::anyhow!("bed plan: {e}")));
            }
            Err(e) => return Err(non_retryable(format!("bed plan: {e}"))),
        };
        let (step, step_result) = solve_decision(&input, &snapshot.input, &opts, &result);
        let (proposal, assignments) = match result {
            Ok(plan) => {
                let proposal = describe(&plan_id, &snapshot, &plan, input.demand.clone());
                let rooms: Vec<RoomAssignment> = plan
                    .assignments
                    .iter()
                    .map(|a| RoomAssignment {
                        patient: a.patient.clone(),
                        room: a.room.clone(),
                    })
                    .collect();
                (proposal, rooms)
            }
            Err(conflicts) => (
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
        };
        bed_plans::store_proposal(
            &self.db,
            &input.workflow_id,
            &input.plan,
            &proposal,
            &assignments,
            &step,
            &step_result,
        )
        .await
        .map_err(store_failure)
    }

    /// Publishes an approved plan (the previous published plan is superseded) or marks
    /// a rejected one, audited with the plan's digest.
    #[activity]
    pub async fn conclude_bed_plan(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ConcludeInput,
    ) -> Result<(), ActivityError> {
        bed_plans::conclude(
            &self.db,
            &input.workflow_id,
            &input.plan_id,
            &input.decision,
        )
        .await
        .map_err(store_failure)
    }
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

/// The solver's input: the census as the bed-allocation model sees it, the plan in
/// force as warm start, and the forecast emergency demand as reserves.
fn snapshot(
    census: Census,
    previous: Vec<RoomAssignment>,
    date: NaiveDate,
    plan: &BedPlanInput,
    demand: &EmergencyDemand,
) -> Snapshot {
    let horizon = plan.request.horizon_days;
    let mut wards = Vec::new();
    let mut specialty_of_ward = HashMap::new();
    for w in census.wards {
        specialty_of_ward.insert(w.ward_id.clone(), w.specialty.clone());
        wards.push(beds::Ward {
            id: w.ward_id,
            specialties: vec![w.specialty],
            min_age: (!w.paediatric).then_some(16),
            max_age: w.paediatric.then_some(15),
        });
    }
    let mut rooms = Vec::new();
    let mut ward_of_room = HashMap::new();
    for r in census.rooms {
        ward_of_room.insert(r.room_id.clone(), r.ward_id.clone());
        rooms.push(beds::Room {
            id: r.room_id,
            ward: r.ward_id,
            beds: r.beds,
            equipment: Vec::new(),
        });
    }
    let mut patients = Vec::new();
    let mut current_room = HashMap::new();
    for p in census.patients {
        // Expected discharge day relative to the plan date; a patient past their
        // expected stay is planned to stay at least the first day.
        let since_day = chrono::DateTime::parse_from_rfc3339(&p.since)
            .map(|t| t.date_naive())
            .unwrap_or(date);
        let end = (since_day - date).num_days() + p.expected_los_days;
        let discharge_day = end.clamp(1, i64::from(horizon)) as u32;
        current_room.insert(p.admission_id.clone(), p.room_id.clone());
        patients.push(beds::Patient {
            id: p.admission_id,
            sex: match p.sex.as_str() {
                "female" => beds::Sex::Female,
                _ => beds::Sex::Male,
            },
            age: age_of_band(&p.age_group),
            specialty: p.specialty,
            admit_day: 0,
            discharge_day,
            isolation: p.isolation,
            equipment: Vec::new(),
            current_room: Some(p.room_id),
        });
    }
    let previous = previous
        .into_iter()
        .map(|a| PreviousAssignment {
            patient: a.patient,
            room: a.room,
        })
        .collect();
    let emergency_forecast = demand
        .wards
        .iter()
        .map(|w| DemandForecast {
            ward: w.ward_id.clone(),
            day: w.day,
            quantiles: vec![(0.5, w.p50), (0.9, w.p90)],
        })
        .collect();
    Snapshot {
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
    }
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
        solver_status: match plan.header.status {
            SolveStatus::Optimal => "optimal".into(),
            other => format!("{other:?}").to_lowercase(),
        },
        cost_total: plan.cost.total,
        outlier_days: plan.cost.outlier_days,
        transfers: plan.cost.transfers,
        reserve_shortfall: plan.cost.reserve_shortfall,
        mip_gap: plan.header.mip_gap,
        patients: plan.assignments.len() as u32,
        moves,
        shortfalls,
        conflicts: Vec::new(),
        demand,
    }
}

/// Snapshot kind of the bed-allocation solver step's input.
pub const SOLVE_SNAPSHOT: &str = "bed_allocation.input";
/// Snapshot kind of the emergency-demand forecast's input.
pub const FORECAST_SNAPSHOT: &str = "ed_arrivals.request";
/// The solver step's name in `decision_steps`.
pub const SOLVE_STEP: &str = "solve/bed-plan";
/// Threads HiGHS may use: one keeps a stored step reproducible.
pub const SOLVER_THREADS: u32 = 1;
/// Seed of the solver's random choices.
pub const SOLVER_SEED: u64 = 0;

/// The input of an emergency-demand forecast, as its snapshot stores it: enough to run
/// the same model file again and share its arrivals out the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandForecastRequest {
    /// Model that ran (name, version; its sha256 is on the step).
    pub model_name: String,
    /// Its version.
    pub model_version: String,
    /// Forecast origin (`YYYY-MM-DDTHH:MM:SS`).
    pub origin: String,
    /// Hours forecast.
    pub horizon_hours: u32,
    /// In-service beds per ward, the key the demand is shared by.
    pub ward_beds: Vec<(String, u32)>,
    /// Share of ED arrivals admitted.
    pub admission_rate: f64,
}

/// Records the forecast step as a decision step: its request as the snapshot, the
/// model by name, version and sha256, and the digest of the demand it produced.
async fn record_forecast_decision(
    db: &Db,
    workflow_id: &str,
    step: &str,
    demand: &EmergencyDemand,
) -> careflow_store::Result<()> {
    let p = &demand.provenance;
    // The ward beds are read again: the demand carries them only shared out.
    let ward_beds = bed_plans::ward_beds(db).await?;
    let request = DemandForecastRequest {
        model_name: p.model_name.clone(),
        model_version: p.model_version.clone(),
        origin: p.origin.clone(),
        horizon_hours: p.horizon_hours,
        ward_beds,
        admission_rate: demand.admission_rate,
    };
    decisions::record(
        db,
        &NewDecisionStep {
            workflow_id: workflow_id.to_owned(),
            step: step.to_owned(),
            kind: FORECAST_SNAPSHOT.into(),
            snapshot_json: serde_json::to_string(&request).expect("request serialises"),
            models: vec![ModelUse {
                name: p.model_name.clone(),
                version: p.model_version.clone(),
                sha256: p.model_sha256.clone(),
            }],
            solver: None,
            solver_version: None,
            careflow_version: env!("CARGO_PKG_VERSION").into(),
            seed: None,
            time_limit_s: None,
            threads: None,
            result_digest: digest(demand),
        },
    )
    .await?;
    Ok(())
}

/// Runs a recorded demand forecast again: the model file named by the step (checked
/// against the recorded sha256) from `models_dir/<name>/<version>/`, shared out as the
/// step did. Returns the demand; its digest is the step's `result_digest` when the
/// forecast reproduced.
pub fn replay_forecast(
    models_dir: &Path,
    snapshot_json: &str,
    step: &DecisionStep,
) -> Result<EmergencyDemand, String> {
    let request: DemandForecastRequest = serde_json::from_str(snapshot_json)
        .map_err(|e| format!("snapshot {}: {e}", step.snapshot_sha256))?;
    let model_use = step
        .models
        .iter()
        .find(|m| m.name == request.model_name)
        .ok_or_else(|| format!("step {} names no {} model", step.step, request.model_name))?;
    let dir = models_dir
        .join(&request.model_name)
        .join(&request.model_version);
    let bundle = open_verified(
        &dir,
        &request.model_name,
        &request.model_version,
        &model_use.sha256,
    )
    .map_err(|e| format!("replay: {e}"))?;
    let model = EdArrivals::from_bundle(&bundle, &crate::forecast_runtime())
        .map_err(|e| format!("replay: {e}"))?;
    let origin = chrono::NaiveDateTime::parse_from_str(&request.origin, "%Y-%m-%dT%H:%M:%S")
        .map_err(|e| format!("snapshot origin {:?}: {e}", request.origin))?;
    let forecast = model
        .forecast(&EdArrivalsRequest {
            origin,
            horizon: request.horizon_hours as usize,
        })
        .map_err(|e| format!("replay: {e}"))?;
    let per_day: Vec<f64> = forecast
        .rows
        .chunks(24)
        .map(|day| day.iter().map(|r| r.mean).sum())
        .collect();
    Ok(EmergencyDemand {
        provenance: ForecastProvenance {
            model_name: forecast.metadata.model_name.clone(),
            model_version: forecast.metadata.model_version.clone(),
            model_sha256: forecast.metadata.model_sha256.clone(),
            execution_provider: forecast.metadata.execution_provider.clone(),
            origin: request.origin.clone(),
            horizon_hours: request.horizon_hours,
        },
        wards: split_by_ward(&per_day, &request.ward_beds, request.admission_rate),
        ed_arrivals_per_day: per_day,
        admission_rate: request.admission_rate,
    })
}

/// What the solver step produced, as `decision_results` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BedSolveResult {
    /// A plan.
    Plan(beds::BedPlan),
    /// No plan satisfies the input: the conflicting constraints, in words.
    Infeasible(Vec<String>),
}

impl BedSolveResult {
    /// Digest of what the step decided, without its timings (which differ run to run):
    /// the rooms and the cost, or the conflicts.
    pub fn digest(&self) -> String {
        match self {
            BedSolveResult::Plan(plan) => digest(&(&plan.assignments, &plan.cost)),
            BedSolveResult::Infeasible(conflicts) => digest(conflicts),
        }
    }
}

/// The solver step's record: its whole input as the snapshot, the model whose forecast
/// it reserved beds for, HiGHS and its settings, and its result.
fn solve_decision(
    input: &ProposeInput,
    bed_input: &BedInput,
    opts: &SolveOptions,
    result: &Result<beds::BedPlan, Vec<beds::Conflict>>,
) -> (NewDecisionStep, DecisionResult) {
    let outcome = match result {
        Ok(plan) => BedSolveResult::Plan(plan.clone()),
        Err(conflicts) => {
            BedSolveResult::Infeasible(conflicts.iter().map(|c| c.message.clone()).collect())
        }
    };
    let p = &input.demand.provenance;
    let step = NewDecisionStep {
        workflow_id: input.workflow_id.clone(),
        step: SOLVE_STEP.into(),
        kind: SOLVE_SNAPSHOT.into(),
        snapshot_json: serde_json::to_string(bed_input).expect("input serialises"),
        models: vec![ModelUse {
            name: p.model_name.clone(),
            version: p.model_version.clone(),
            sha256: p.model_sha256.clone(),
        }],
        solver: Some(SOLVER.into()),
        solver_version: Some(SOLVER_VERSION.into()),
        careflow_version: env!("CARGO_PKG_VERSION").into(),
        seed: Some(opts.seed),
        time_limit_s: Some(opts.time_limit.as_secs_f64()),
        threads: Some(opts.threads),
        result_digest: outcome.digest(),
    };
    let (solver_status, objective, mip_gap) = match &outcome {
        BedSolveResult::Plan(plan) => (
            status_name(plan.header.status),
            Some(plan.header.objective),
            plan.header.mip_gap,
        ),
        BedSolveResult::Infeasible(_) => ("infeasible".to_owned(), None, None),
    };
    let result = DecisionResult {
        workflow_id: input.workflow_id.clone(),
        step: SOLVE_STEP.into(),
        solver_status,
        objective,
        mip_gap,
        result_json: serde_json::to_string(&outcome).expect("result serialises"),
    };
    (step, result)
}

fn status_name(s: SolveStatus) -> String {
    match s {
        SolveStatus::Optimal => "optimal".into(),
        SolveStatus::TimeLimit => "time_limit".into(),
        SolveStatus::Infeasible => "infeasible".into(),
    }
}

/// Runs a recorded bed-allocation step again from its snapshot with the step's seed,
/// time limit and threads.
pub fn replay_solve(
    snapshot_json: &str,
    step: &DecisionStep,
) -> Result<(BedSolveResult, f64), String> {
    let input = BedInput::from_json(snapshot_json)
        .map_err(|e| format!("snapshot {}: {e}", step.snapshot_sha256))?;
    let opts = SolveOptions {
        time_limit: Duration::from_secs_f64(step.time_limit_s.unwrap_or(60.0)),
        mip_gap: None,
        threads: step.threads.unwrap_or(SOLVER_THREADS),
        seed: step.seed.unwrap_or(SOLVER_SEED),
    };
    let started = std::time::Instant::now();
    let outcome = match beds::solve(&input, &opts, &mut |_| {}) {
        Ok(plan) => BedSolveResult::Plan(plan),
        Err(SolveError::Infeasible { conflicts }) => {
            BedSolveResult::Infeasible(conflicts.into_iter().map(|c| c.message).collect())
        }
        Err(e) => return Err(format!("replay: {e}")),
    };
    Ok((outcome, started.elapsed().as_secs_f64()))
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
