//! Activities of the nurse-rostering workflow: forecast the ward's census with the
//! production `bed-demand` model and turn it into nurses required per shift (the 0.9
//! quantile of the census, plus any surge, over each shift's nurse-to-patient ratio),
//! roster the ward with the rostering MILP (or re-roster only the days a sick call or a
//! surge affects, warm-started from the roster in force with a change penalty), and
//! publish, reject or withdraw a revision.
//!
//! Each solver and forecaster step stores what it used through `careflow_store::decisions`
//! (the whole input as a content-addressed snapshot, the model by name, version and
//! sha256, the solver and its version, careflow's version, seed, time limit and
//! threads, and the digest of the result). [`replay_solve`] runs a stored solver step
//! again.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_forecasters::bed_demand::{BedDemand, WardRequest, MODEL_NAME};
use careflow_forecasters::{Forecaster, RuntimeOptions};
use careflow_solvers::highs::{SOLVER, SOLVER_VERSION};
use careflow_solvers::nurse_rostering::{
    self as nr, CoverNeed, Nurse, RosterCost, RosterInput, RosterPlan, RosterWeights,
    RosteredShift, ShiftType, SolveError,
};
use careflow_solvers::plan::PlanHeader;
use careflow_solvers::solve::{SolveOptions, SolveStatus};
use careflow_store::audit::sha256_json as digest;
use careflow_store::decisions::{self, DecisionStep, ModelUse, NewDecisionStep};
use careflow_store::{rosters, Db};
use careflow_types::{
    Decision, Fairness, ForecastProvenance, NurseLoad, RosterAssignment, RosterCellChange,
    RosterDemand, RosterProposal, RosterRequest, ShiftCoverage, ShiftDemand, UnmetRequest,
};

use crate::theatre_booking::ReplayedSolve;
use crate::{non_retryable, production_model, solve_with_heartbeats, store_failure};

/// Snapshot kind of a solver step's input.
pub const SOLVE_SNAPSHOT: &str = "nurse_rostering.input";
/// Snapshot kind of a demand forecast's input.
pub const FORECAST_SNAPSHOT: &str = "bed_demand.request";
/// Census quantile staffing is planned for: a ward staffed for its median census is
/// short one day in two.
pub const STAFFING_LEVEL: &str = "p90";
/// Threads HiGHS may use: one keeps a stored step reproducible.
pub const SOLVER_THREADS: u32 = 1;
/// Minutes a nurse may be rostered below or above their contracted minutes for the
/// period (one long shift either way), so that whole shifts can meet a contract.
pub const CONTRACT_TOLERANCE_MINUTES: u32 = 450;

/// The nurse-rostering workflow's activities.
pub struct RosterActivities {
    db: Db,
    models_dir: PathBuf,
}

impl RosterActivities {
    /// Activities reading models from `models_dir/<name>/<version>/` (checked against
    /// the registry's sha256 before use) and writing to `db`.
    pub fn new(db: Db, models_dir: PathBuf) -> Self {
        Self { db, models_dir }
    }
}

/// Input of [`RosterActivities::forecast_demand`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForecastDemandInput {
    /// Workflow id (idempotency and audit).
    pub workflow_id: String,
    /// Revision the forecast is for.
    pub revision: u32,
    /// The ward request as it stands.
    pub request: RosterRequest,
    /// Patients above the forecast on each day (reported surges), one per day.
    pub extra_patients: Vec<u32>,
}

/// Input of [`RosterActivities::propose_roster`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeRosterInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Roster.
    pub roster_id: String,
    /// Revision to propose.
    pub revision: u32,
    /// The ward request as it stands (sick days applied as leave).
    pub request: RosterRequest,
    /// Nurses required per shift.
    pub demand: RosterDemand,
    /// Days re-rostered from the roster in force; empty: plan the whole period.
    pub replan_days: Vec<u32>,
    /// Who asked for this revision.
    pub requested_by: String,
    /// The events this revision answers, in words.
    pub replanned_after: Vec<String>,
}

/// Input of [`RosterActivities::conclude_roster`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConcludeRosterInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Roster.
    pub roster_id: String,
    /// Revision.
    pub revision: u32,
    /// The approver's decision.
    pub decision: Decision,
}

/// Input of [`RosterActivities::withdraw_roster`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WithdrawRosterInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Why.
    pub reason: String,
}

/// The input of a demand forecast, as its snapshot stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DemandRequest {
    model: String,
    ward: WardRequest,
    extra_patients: Vec<u32>,
}

#[activities]
impl RosterActivities {
    /// Forecasts the ward's census over the period with the production `bed-demand`
    /// model (its file checked against the registry's sha256), derives the nurses each
    /// shift needs, and records the step. A ward the model does not know fails the
    /// step, naming the field.
    #[activity]
    pub async fn forecast_demand(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ForecastDemandInput,
    ) -> Result<RosterDemand, ActivityError> {
        let req = &input.request;
        let bundle =
            production_model(&self.db, &self.models_dir, MODEL_NAME, "demand forecast").await?;
        let model = BedDemand::from_bundle(&bundle, &RuntimeOptions::default())
            .map_err(|e| non_retryable(format!("demand forecast: {e}")))?;
        if !model.wards().contains(&req.ward) {
            return Err(non_retryable(format!(
                "ward: the {MODEL_NAME} model does not know ward {:?} (known: {})",
                req.ward,
                model.wards().join(", ")
            )));
        }
        let origin = req.date().ok_or_else(|| {
            non_retryable(format!("start_date: {:?} is not a date", req.start_date))
        })?;
        let ward = WardRequest {
            ward: req.ward.clone(),
            origin,
            census_at_origin: req.census_at_origin,
            admissions_last_28_days: req.admissions_last_28_days.clone(),
            horizon_days: req.days as usize,
        };
        let forecast = crate::metrics::timed_forecast(MODEL_NAME, || {
            model.forecast_batch(std::slice::from_ref(&ward))
        })
        .map_err(|e| non_retryable(format!("demand forecast: {e}")))?
        .remove(0);
        let (mut p50, mut p90) = (Vec::new(), Vec::new());
        for d in 0..req.days {
            let day = (origin + TimeDelta::days(i64::from(d))).format("%Y-%m-%d");
            let row = forecast
                .rows
                .iter()
                .find(|r| r.key == format!("{day}/census"))
                .ok_or_else(|| non_retryable(format!("demand forecast: no census for {day}")))?;
            p50.push(row.quantiles[1]);
            p90.push(row.quantiles[2]);
        }
        let required = required_nurses(req, &p90, &input.extra_patients);
        let meta = model.metadata();
        let step = decisions::record(
            &self.db,
            &NewDecisionStep {
                workflow_id: input.workflow_id.clone(),
                step: format!("forecast/r{}", input.revision),
                kind: FORECAST_SNAPSHOT.into(),
                snapshot_json: serde_json::to_string(&DemandRequest {
                    model: MODEL_NAME.into(),
                    ward,
                    extra_patients: input.extra_patients.clone(),
                })
                .expect("request serialises"),
                models: vec![ModelUse {
                    name: meta.model_name.clone(),
                    version: meta.model_version.clone(),
                    sha256: meta.model_sha256.clone(),
                }],
                solver: None,
                solver_version: None,
                careflow_version: env!("CARGO_PKG_VERSION").into(),
                seed: None,
                time_limit_s: None,
                threads: None,
                result_digest: digest(&(&p50, &p90, &required)),
            },
        )
        .await
        .map_err(store_failure)?;
        Ok(RosterDemand {
            provenance: ForecastProvenance {
                model_name: meta.model_name.clone(),
                model_version: meta.model_version.clone(),
                model_sha256: meta.model_sha256.clone(),
                execution_provider: meta.execution_provider.clone(),
                origin: req.start_date.clone(),
                horizon_hours: req.days * 24,
            },
            census_p50: p50,
            census_p90: p90,
            required,
            decision_step: step.step,
        })
    }

    /// Rosters the ward with the rostering MILP (or re-rosters `replan_days` from the
    /// roster in force, every other day kept) and stores the proposal with the step's
    /// snapshot. A ward no roster can satisfy is stored as infeasible with the
    /// conflicting rules.
    #[activity]
    pub async fn propose_roster(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ProposeRosterInput,
    ) -> Result<RosterProposal, ActivityError> {
        if let Some(done) = rosters::stored_proposal(&self.db, &input.roster_id, input.revision)
            .await
            .map_err(store_failure)?
        {
            return Ok(done);
        }
        let in_force = if input.replan_days.is_empty() {
            None
        } else {
            rosters::roster_in_force(&self.db, &input.request.ward, &input.request.start_date)
                .await
                .map_err(store_failure)?
        };
        if !input.replan_days.is_empty() && in_force.is_none() {
            return Err(non_retryable(format!(
                "a re-roster of ward {} from {} needs a roster in force; none is published",
                input.request.ward, input.request.start_date
            )));
        }
        let solver_input = solver_input(
            &input.request,
            &input.demand,
            in_force.as_ref(),
            &input.replan_days,
        );
        let snapshot_json = serde_json::to_string(&solver_input).expect("input serialises");
        let opts = SolveOptions {
            time_limit: Duration::from_secs(input.request.solve_seconds.into()),
            mip_gap: None,
            threads: SOLVER_THREADS,
            seed: input.request.seed,
        };
        let (solve_input, solve_opts) = (solver_input.clone(), opts.clone());
        let result = solve_with_heartbeats(&ctx, "roster", move |sink| {
            nr::solve(&solve_input, &solve_opts, sink)
        })
        .await?;
        let snapshot_sha256 = decisions::sha256_hex(&snapshot_json);
        let (proposal, result_digest, plan) = match result {
            Ok(plan) => {
                // The independent checker sees every roster before anyone is asked to
                // approve it.
                let broken = nr::violations(&solver_input, &plan);
                if !broken.is_empty() {
                    return Err(non_retryable(format!(
                        "roster: the checker refuses the solver's roster: {}",
                        broken.join("; ")
                    )));
                }
                (
                    describe(
                        &input,
                        &solver_input,
                        &plan,
                        in_force.as_ref(),
                        &snapshot_sha256,
                    ),
                    plan_digest(&plan),
                    Some(plan),
                )
            }
            Err(SolveError::Infeasible { conflicts }) => {
                let conflicts: Vec<String> = conflicts.into_iter().map(|c| c.message).collect();
                let digest = digest(&conflicts);
                (
                    RosterProposal {
                        solver_status: "infeasible".into(),
                        conflicts,
                        ..empty_proposal(&input, &snapshot_sha256)
                    },
                    digest,
                    None,
                )
            }
            Err(e @ SolveError::NoPlanInTime) => {
                // Worth another attempt: the machine may have been busy.
                return Err(ActivityError::from(anyhow::anyhow!("roster: {e}")));
            }
            Err(e) => return Err(non_retryable(format!("roster: {e}"))),
        };
        let step = NewDecisionStep {
            workflow_id: input.workflow_id.clone(),
            step: proposal.decision_step.clone(),
            kind: SOLVE_SNAPSHOT.into(),
            snapshot_json,
            models: vec![ModelUse {
                name: input.demand.provenance.model_name.clone(),
                version: input.demand.provenance.model_version.clone(),
                sha256: input.demand.provenance.model_sha256.clone(),
            }],
            solver: Some(SOLVER.into()),
            solver_version: Some(SOLVER_VERSION.into()),
            careflow_version: env!("CARGO_PKG_VERSION").into(),
            seed: Some(opts.seed),
            time_limit_s: Some(opts.time_limit.as_secs_f64()),
            threads: Some(opts.threads),
            result_digest,
        };
        // Kept first, so that the proposal a retry finds stored always has its result
        // (what `decision explain` reads).
        let kept = RosterSolveResult {
            plan,
            proposal: proposal.clone(),
        }
        .to_record(
            &input.workflow_id,
            &proposal.decision_step,
            &proposal.solver_status,
            |p| &p.header,
        );
        decisions::record_result(&self.db, &kept)
            .await
            .map_err(store_failure)?;
        rosters::store_proposal(
            &self.db,
            &input.workflow_id,
            &input.requested_by,
            &proposal,
            &step,
        )
        .await
        .map_err(store_failure)
    }

    /// Publishes a revision (the roster in force for the ward and period is superseded)
    /// or marks it rejected, audited with the proposal's digest.
    #[activity]
    pub async fn conclude_roster(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ConcludeRosterInput,
    ) -> Result<(), ActivityError> {
        rosters::conclude(
            &self.db,
            &input.workflow_id,
            &input.roster_id,
            input.revision,
            &input.decision,
        )
        .await
        .map_err(store_failure)
    }

    /// Withdraws the roster's open proposal and closes its open tasks (the workflow was
    /// cancelled); the roster in force stays in force.
    #[activity]
    pub async fn withdraw_roster(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: WithdrawRosterInput,
    ) -> Result<(), ActivityError> {
        rosters::withdraw(&self.db, &input.workflow_id, &input.reason)
            .await
            .map_err(store_failure)
    }
}

/// What a rostering solver step produced, as `decision_results` keeps it: the roster
/// (none when the ward cannot be rostered) and the proposal the department head saw.
pub type RosterSolveResult = crate::decisions::SolveStepResult<RosterPlan, RosterProposal>;

/// Runs a recorded rostering solver step again from its snapshot (the JSON stored under
/// `step.snapshot_sha256`) with the step's seed, time limit and threads.
pub fn replay_solve(snapshot_json: &str, step: &DecisionStep) -> Result<ReplayedSolve, String> {
    let input = RosterInput::from_json(snapshot_json)
        .map_err(|e| format!("snapshot {}: {e}", step.snapshot_sha256))?;
    let opts = SolveOptions {
        time_limit: Duration::from_secs_f64(step.time_limit_s.unwrap_or(60.0)),
        mip_gap: None,
        threads: step.threads.unwrap_or(SOLVER_THREADS),
        seed: step.seed.unwrap_or(0),
    };
    let plan = nr::solve(&input, &opts, &mut |_| {}).map_err(|e| format!("replay: {e}"))?;
    Ok(ReplayedSolve {
        objective: plan.header.objective,
        solver_status: status_name(plan.header.status),
        mip_gap: plan.header.mip_gap,
        elapsed_s: plan.header.elapsed_s,
        result_digest: plan_digest(&plan),
    })
}

/// Checks a stored proposal against the solver input its step stored (the JSON under
/// `proposal.snapshot_sha256`) with the independent checker: every hard rule, the
/// re-roster window and the cost the approver was shown. Empty when all hold.
pub fn check_proposal(
    snapshot_json: &str,
    proposal: &RosterProposal,
) -> Result<Vec<String>, String> {
    let input = RosterInput::from_json(snapshot_json)
        .map_err(|e| format!("snapshot {}: {e}", proposal.snapshot_sha256))?;
    let shifts = proposal
        .assignments
        .iter()
        .map(|a| RosteredShift {
            nurse: a.nurse_id.clone(),
            day: a.day,
            shift: a.shift_id.clone(),
        })
        .collect();
    let plan = RosterPlan {
        header: PlanHeader::new(
            nr::MODEL,
            &SolveOptions::default(),
            SolveStatus::TimeLimit,
            proposal.objective,
            None,
            proposal.mip_gap,
            proposal.solve_seconds,
        ),
        shifts,
        cost: RosterCost {
            short: proposal.nurse_shifts_short,
            over: proposal.nurse_shifts_over,
            unmet_requests: proposal.unmet_requests.len() as u32,
            changes: proposal.changes.len() as u32,
            total: proposal.objective,
        },
    };
    Ok(nr::violations(&input, &plan))
}

/// What a solve rostered, without its timings (which differ run to run).
fn plan_digest(plan: &RosterPlan) -> String {
    digest(&(&plan.shifts, &plan.cost))
}

fn status_name(s: SolveStatus) -> String {
    match s {
        SolveStatus::Optimal => "optimal".into(),
        SolveStatus::TimeLimit => "time_limit".into(),
        SolveStatus::Infeasible => "infeasible".into(),
    }
}

/// Nurses each shift needs: the patients planned for (the census's 0.9 quantile plus
/// the day's surge) over the shift's patients per nurse, rounded up, at least the
/// shift's minimum.
pub fn required_nurses(req: &RosterRequest, census_p90: &[f64], extra: &[u32]) -> Vec<ShiftDemand> {
    let mut out = Vec::new();
    for (d, p) in census_p90.iter().enumerate() {
        let patients = p + f64::from(extra.get(d).copied().unwrap_or(0));
        for s in &req.shifts {
            let nurses = ((patients / s.patients_per_nurse) - 1e-9).ceil().max(0.0) as u32;
            out.push(ShiftDemand {
                day: d as u32,
                shift_id: s.shift_id.clone(),
                patients,
                nurses_required: nurses.max(s.min_nurses),
            });
        }
    }
    out
}

/// Minutes of a nurse's contract over the period, leave deducted.
fn contracted_minutes(hours_per_week: f64, days: u32, leave_days: usize) -> u32 {
    let working = f64::from(days).max(0.0) - leave_days as f64;
    (hours_per_week * 60.0 / 7.0 * working.max(0.0)).round() as u32
}

/// Builds the rostering MILP's input from the ward request, the demand and (for a
/// re-roster) the roster in force. Contracts become a band of one long shift around
/// the contracted minutes (leave deducted); a shift that needs a skill is open to the
/// nurses who hold it; requested days off are deduplicated. In a re-roster each nurse's
/// band is widened to what the roster in force gives them, less the shifts on their new
/// leave days: a sick nurse is not held to hours they cannot work, and nobody else is
/// forced to make them up.
pub fn solver_input(
    req: &RosterRequest,
    demand: &RosterDemand,
    in_force: Option<&RosterProposal>,
    replan_days: &[u32],
) -> RosterInput {
    let minutes_of: HashMap<&str, u32> = req
        .shifts
        .iter()
        .map(|s| (s.shift_id.as_str(), s.minutes))
        .collect();
    let previous: Vec<RosteredShift> = in_force
        .map(|p| {
            p.assignments
                .iter()
                .map(|a| RosteredShift {
                    nurse: a.nurse_id.clone(),
                    day: a.day,
                    shift: a.shift_id.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let nurses = req
        .nurses
        .iter()
        .map(|n| {
            let leave: BTreeSet<u32> = n.leave_days.iter().copied().collect();
            let requests: BTreeSet<u32> = n
                .day_off_requests
                .iter()
                .copied()
                .filter(|d| !leave.contains(d))
                .collect();
            let net = contracted_minutes(n.contracted_hours_per_week, req.days, leave.len());
            let mut min_minutes = net.saturating_sub(CONTRACT_TOLERANCE_MINUTES);
            let mut max_minutes = net + CONTRACT_TOLERANCE_MINUTES;
            if in_force.is_some() {
                let kept: u32 = previous
                    .iter()
                    .filter(|p| p.nurse == n.nurse_id && !leave.contains(&p.day))
                    .map(|p| minutes_of.get(p.shift.as_str()).copied().unwrap_or(0))
                    .sum();
                min_minutes = min_minutes.min(kept);
                max_minutes = max_minutes.max(kept);
            }
            Nurse {
                id: n.nurse_id.clone(),
                shifts: req
                    .shifts
                    .iter()
                    .filter(|s| {
                        s.requires_skill
                            .as_ref()
                            .is_none_or(|k| n.skills.contains(k))
                    })
                    .map(|s| s.shift_id.clone())
                    .collect(),
                min_minutes,
                max_minutes,
                max_consecutive_shifts: n.max_consecutive_shifts,
                max_weekends: n.max_weekends,
                leave_days: leave.into_iter().collect(),
                day_off_requests: requests.into_iter().collect(),
            }
        })
        .collect();
    RosterInput {
        days: req.days,
        shifts: req
            .shifts
            .iter()
            .map(|s| ShiftType {
                id: s.shift_id.clone(),
                minutes: s.minutes,
                not_followed_by: s.not_followed_by.clone(),
            })
            .collect(),
        nurses,
        cover: demand
            .required
            .iter()
            .map(|r| CoverNeed {
                day: r.day,
                shift: r.shift_id.clone(),
                nurses: r.nurses_required,
            })
            .collect(),
        weights: RosterWeights::default(),
        previous: if replan_days.is_empty() {
            Vec::new()
        } else {
            previous
        },
        replan_days: replan_days.to_vec(),
    }
}

fn empty_proposal(input: &ProposeRosterInput, snapshot_sha256: &str) -> RosterProposal {
    RosterProposal {
        roster_id: input.roster_id.clone(),
        revision: input.revision,
        ward: input.request.ward.clone(),
        start_date: input.request.start_date.clone(),
        days: input.request.days,
        replanned_days: input.replan_days.clone(),
        solver_status: String::new(),
        objective: 0.0,
        mip_gap: None,
        solve_seconds: 0.0,
        assignments: Vec::new(),
        coverage: Vec::new(),
        nurse_shifts_short: 0,
        nurse_shifts_over: 0,
        unmet_requests: Vec::new(),
        loads: Vec::new(),
        fairness: Fairness {
            nights_spread: 0,
            weekends_spread: 0,
            unmet_requests_spread: 0,
            hours_ratio_min: 0.0,
            hours_ratio_max: 0.0,
        },
        changes: Vec::new(),
        conflicts: Vec::new(),
        demand: input.demand.provenance.clone(),
        decision_step: format!("solve/r{}", input.revision),
        snapshot_sha256: snapshot_sha256.to_owned(),
        replanned_after: input.replanned_after.clone(),
    }
}

fn spread(values: impl Iterator<Item = u32>) -> u32 {
    let v: Vec<u32> = values.collect();
    match (v.iter().max(), v.iter().min()) {
        (Some(hi), Some(lo)) => hi - lo,
        _ => 0,
    }
}

/// The proposal as the approver reads it: cover per shift, unmet requests, each nurse's
/// share and how evenly it is spread, and the cells changed against the roster in force.
fn describe(
    input: &ProposeRosterInput,
    solver_input: &RosterInput,
    plan: &RosterPlan,
    in_force: Option<&RosterProposal>,
    snapshot_sha256: &str,
) -> RosterProposal {
    let req = &input.request;
    let assignments: Vec<RosterAssignment> = plan
        .shifts
        .iter()
        .map(|s| RosterAssignment {
            nurse_id: s.nurse.clone(),
            day: s.day,
            shift_id: s.shift.clone(),
        })
        .collect();
    let cell: HashMap<(&str, u32), &str> = assignments
        .iter()
        .map(|a| ((a.nurse_id.as_str(), a.day), a.shift_id.as_str()))
        .collect();
    let coverage: Vec<ShiftCoverage> = input
        .demand
        .required
        .iter()
        .map(|r| ShiftCoverage {
            day: r.day,
            shift_id: r.shift_id.clone(),
            required: r.nurses_required,
            rostered: assignments
                .iter()
                .filter(|a| a.day == r.day && a.shift_id == r.shift_id)
                .count() as u32,
        })
        .collect();
    let night_shifts: Vec<&str> = req
        .shifts
        .iter()
        .filter(|s| s.requires_skill.as_deref() == Some("nights"))
        .map(|s| s.shift_id.as_str())
        .collect();
    let minutes_of: HashMap<&str, u32> = req
        .shifts
        .iter()
        .map(|s| (s.shift_id.as_str(), s.minutes))
        .collect();
    let mut unmet_requests = Vec::new();
    let mut loads = Vec::new();
    for (n, sn) in req.nurses.iter().zip(&solver_input.nurses) {
        let mine: Vec<&RosterAssignment> = assignments
            .iter()
            .filter(|a| a.nurse_id == n.nurse_id)
            .collect();
        let unmet: Vec<UnmetRequest> = sn
            .day_off_requests
            .iter()
            .filter_map(|&d| {
                cell.get(&(n.nurse_id.as_str(), d)).map(|s| UnmetRequest {
                    nurse_id: n.nurse_id.clone(),
                    day: d,
                    shift_id: (*s).to_owned(),
                })
            })
            .collect();
        loads.push(NurseLoad {
            nurse_id: n.nurse_id.clone(),
            minutes: mine
                .iter()
                .map(|a| minutes_of.get(a.shift_id.as_str()).copied().unwrap_or(0))
                .sum(),
            contracted_minutes: contracted_minutes(
                n.contracted_hours_per_week,
                req.days,
                sn.leave_days.len(),
            ),
            shifts: mine.len() as u32,
            nights: mine
                .iter()
                .filter(|a| night_shifts.contains(&a.shift_id.as_str()))
                .count() as u32,
            weekends: (0..req.days / 7)
                .filter(|k| mine.iter().any(|a| a.day / 7 == *k && a.day % 7 >= 5))
                .count() as u32,
            unmet_requests: unmet.len() as u32,
        });
        unmet_requests.extend(unmet);
    }
    let night_nurses: Vec<&NurseLoad> = loads
        .iter()
        .zip(&solver_input.nurses)
        .filter(|(_, sn)| sn.shifts.iter().any(|s| night_shifts.contains(&s.as_str())))
        .map(|(l, _)| l)
        .collect();
    let askers: Vec<&NurseLoad> = loads
        .iter()
        .zip(&solver_input.nurses)
        .filter(|(_, sn)| !sn.day_off_requests.is_empty())
        .map(|(l, _)| l)
        .collect();
    let ratios: Vec<f64> = loads
        .iter()
        .filter(|l| l.contracted_minutes > 0)
        .map(|l| f64::from(l.minutes) / f64::from(l.contracted_minutes))
        .collect();
    let fairness = Fairness {
        nights_spread: spread(night_nurses.iter().map(|l| l.nights)),
        weekends_spread: spread(loads.iter().map(|l| l.weekends)),
        unmet_requests_spread: spread(askers.iter().map(|l| l.unmet_requests)),
        hours_ratio_min: ratios
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(1e9),
        hours_ratio_max: ratios.iter().copied().fold(0.0, f64::max),
    };
    let mut changes = Vec::new();
    if let Some(before) = in_force {
        let then: HashMap<(&str, u32), &str> = before
            .assignments
            .iter()
            .map(|a| ((a.nurse_id.as_str(), a.day), a.shift_id.as_str()))
            .collect();
        for n in &req.nurses {
            for d in 0..req.days {
                let key = (n.nurse_id.as_str(), d);
                let (old, new) = (then.get(&key), cell.get(&key));
                if old != new {
                    changes.push(RosterCellChange {
                        nurse_id: n.nurse_id.clone(),
                        day: d,
                        from_shift: old.map(|s| (*s).to_owned()),
                        to_shift: new.map(|s| (*s).to_owned()),
                    });
                }
            }
        }
    }
    RosterProposal {
        solver_status: status_name(plan.header.status),
        objective: plan.header.objective,
        mip_gap: plan.header.mip_gap,
        solve_seconds: plan.header.elapsed_s,
        nurse_shifts_short: plan.cost.short,
        nurse_shifts_over: plan.cost.over,
        assignments,
        coverage,
        unmet_requests,
        loads,
        fairness,
        changes,
        ..empty_proposal(input, snapshot_sha256)
    }
}
