//! Activities of the theatre-booking workflow: forecast every case's duration with the
//! production `surgery-duration` model, book the week's lists with the theatre MILP
//! (warm-started from the list in force, with a change penalty), and publish, reject or
//! withdraw a revision.
//!
//! Each solver and forecaster step stores what it used through `careflow_store::decisions`:
//! the whole input as a content-addressed snapshot, the model by name, version and
//! sha256, the solver and its version, careflow's version, seed, time limit and threads,
//! and the digest of the result. [`replay_solve`] runs a stored solver snapshot again.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_forecasters::surgery_duration::{SurgeryDuration, SurgicalCase, MODEL_NAME};
use careflow_forecasters::Forecaster;
use careflow_solvers::highs::{SOLVER, SOLVER_VERSION};
use careflow_solvers::solve::{SolveOptions, SolveStatus};
use careflow_solvers::theatre_booking::{
    self as tb, PreviousBooking, Priority, SolveError, TheatreInput, TheatrePlan, TheatreWeights,
};
use careflow_store::audit::sha256_json as digest;
use careflow_store::decisions::{self, DecisionStep, ModelUse, NewDecisionStep};
use careflow_store::{theatre, Db};
use careflow_types::{
    BookedCase, BookingChange, CaseDuration, CaseDurations, DeferredCase, ForecastProvenance,
    ListConclusion, SessionLoad, TheatreListProposal, TheatreWeek, TheatreWeekRequest,
    UrgencyCategory, WaitingCase,
};

use crate::{non_retryable, production_model, solve_with_heartbeats, store_failure};

/// Snapshot kind of a solver step's input.
pub const SOLVE_SNAPSHOT: &str = "theatre_booking.input";
/// Snapshot kind of a duration forecast's input.
pub const FORECAST_SNAPSHOT: &str = "surgery_duration.request";
/// Duration quantile each case is planned at: between the forecast median and 0.9
/// quantile, so every list carries a buffer against long operations.
pub const ROBUST_LEVEL: f64 = 0.8;
/// Threads HiGHS may use: one keeps a stored step reproducible.
pub const SOLVER_THREADS: u32 = 1;
/// Price of moving a booked patient: above an unbooked routine case, so a booked
/// patient gives up their slot only to more urgent or longer-waiting work.
pub const CHANGE_PENALTY: f64 = 150.0;

/// The theatre-booking workflow's activities.
pub struct TheatreActivities {
    db: Db,
    models_dir: PathBuf,
}

impl TheatreActivities {
    /// Activities reading models from `models_dir/<name>/<version>/` (checked against
    /// the registry's sha256 before use) and writing to `db`.
    pub fn new(db: Db, models_dir: PathBuf) -> Self {
        Self { db, models_dir }
    }
}

/// Input of [`TheatreActivities::forecast_durations`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForecastDurationsInput {
    /// Workflow id (idempotency and audit).
    pub workflow_id: String,
    /// Revision the forecast is for.
    pub revision: u32,
    /// The week as it stands.
    pub week: TheatreWeekRequest,
}

/// Input of [`TheatreActivities::propose_theatre_list`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeTheatreInput {
    /// Workflow id.
    pub workflow_id: String,
    /// List.
    pub list_id: String,
    /// Revision to propose.
    pub revision: u32,
    /// First day re-planned; lists before it are kept as the list in force has them.
    pub from_day: u32,
    /// The week as it stands (day-of events applied).
    pub week: TheatreWeekRequest,
    /// Every case's duration forecast.
    pub durations: CaseDurations,
    /// Who asked for this revision (the week's requester or the event's reporter).
    pub requested_by: String,
    /// The day-of events this revision answers, in words.
    pub replanned_after: Vec<String>,
}

/// Input of [`TheatreActivities::conclude_theatre_list`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConcludeTheatreInput {
    /// Workflow id.
    pub workflow_id: String,
    /// List.
    pub list_id: String,
    /// Revision.
    pub revision: u32,
    /// Approved, rejected, or published without approval.
    pub conclusion: ListConclusion,
}

/// Input of [`TheatreActivities::withdraw_theatre_list`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WithdrawTheatreInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Why.
    pub reason: String,
}

/// The input of a duration forecast, as its snapshot stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DurationRequest {
    model: String,
    cases: Vec<(String, SurgicalCase)>,
}

#[activities]
impl TheatreActivities {
    /// Forecasts every case's duration quantiles with the production `surgery-duration`
    /// model (its file checked against the registry's sha256) and records the step. A
    /// procedure the model does not know fails the step, naming the case's field.
    #[activity]
    pub async fn forecast_durations(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ForecastDurationsInput,
    ) -> Result<CaseDurations, ActivityError> {
        let bundle =
            production_model(&self.db, &self.models_dir, MODEL_NAME, "duration forecast").await?;
        let model = SurgeryDuration::from_bundle(&bundle, &crate::forecast_runtime())
            .map_err(|e| non_retryable(format!("duration forecast: {e}")))?;
        let known = model.procedures();
        let mut requests = Vec::new();
        for (i, c) in input.week.cases.iter().enumerate() {
            if !known.contains(&c.procedure.as_str()) {
                return Err(non_retryable(format!(
                    "cases[{i}].procedure: case {} names procedure {:?}, which the {MODEL_NAME} \
                     model does not know (known: {})",
                    c.case_id,
                    c.procedure,
                    known.join(", ")
                )));
            }
            requests.push((
                c.case_id.clone(),
                SurgicalCase {
                    procedure: c.procedure.clone(),
                    surgeon: c.surgeon_id.clone(),
                    asa_class: c.asa_class,
                    bmi_ge_35: c.bmi_ge_35,
                    teaching_case: c.teaching_case,
                },
            ));
        }
        let batch: Vec<SurgicalCase> = requests.iter().map(|(_, c)| c.clone()).collect();
        let forecasts = crate::metrics::timed_forecast(MODEL_NAME, || model.forecast_batch(&batch))
            .map_err(|e| non_retryable(format!("duration forecast: {e}")))?;
        crate::model_release::shadow_surgery_durations(
            &self.db,
            &self.models_dir,
            &input.workflow_id,
            &requests,
            &forecasts,
        )
        .await;
        let cases = case_durations(&requests, &forecasts);
        let meta = model.metadata();
        let step = decisions::record(
            &self.db,
            &NewDecisionStep {
                workflow_id: input.workflow_id.clone(),
                step: format!("forecast/r{}", input.revision),
                kind: FORECAST_SNAPSHOT.into(),
                snapshot_json: serde_json::to_string(&DurationRequest {
                    model: MODEL_NAME.into(),
                    cases: requests,
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
                result_digest: digest(&cases),
            },
        )
        .await
        .map_err(store_failure)?;
        Ok(CaseDurations {
            provenance: ForecastProvenance {
                model_name: meta.model_name.clone(),
                model_version: meta.model_version.clone(),
                model_sha256: meta.model_sha256.clone(),
                execution_provider: meta.execution_provider.clone(),
                origin: input.week.week_start.clone(),
                horizon_hours: input.week.days * 24,
            },
            cases,
            decision_step: step.step,
        })
    }

    /// Books the week's lists from `from_day` with the theatre MILP, warm-started from
    /// the list in force with a change penalty, and stores the proposal with the step's
    /// snapshot. An input no list can satisfy is stored as infeasible with the
    /// conflicting constraints.
    #[activity]
    pub async fn propose_theatre_list(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ProposeTheatreInput,
    ) -> Result<TheatreListProposal, ActivityError> {
        if let Some(done) = theatre::stored_proposal(&self.db, &input.list_id, input.revision)
            .await
            .map_err(store_failure)?
        {
            return Ok(done);
        }
        let in_force = theatre::plan_in_force(&self.db, &input.week.week_start)
            .await
            .map_err(store_failure)?;
        let built = solver_input(
            &input.week,
            &input.durations,
            input.from_day,
            in_force.as_ref(),
        )
        .map_err(non_retryable)?;
        let snapshot_json = serde_json::to_string(&built.input).expect("input serialises");
        let opts = SolveOptions {
            time_limit: Duration::from_secs(input.week.solve_seconds.into()),
            mip_gap: None,
            threads: SOLVER_THREADS,
            seed: input.week.seed,
        };
        let solver_input = built.input.clone();
        let solve_opts = opts.clone();
        let result = solve_with_heartbeats(&ctx, "theatre", move |sink| {
            tb::solve(&solver_input, &solve_opts, sink)
        })
        .await?;
        let snapshot_sha256 = decisions::sha256_hex(&snapshot_json);
        let plan = result.as_ref().ok().cloned();
        let (proposal, result_digest) = match result {
            Ok(plan) => (
                describe(&input, &built, &plan, in_force.as_ref(), &snapshot_sha256),
                plan_digest(&plan),
            ),
            Err(SolveError::Infeasible { conflicts }) => {
                let conflicts: Vec<String> = conflicts.into_iter().map(|c| c.message).collect();
                let digest = digest(&conflicts);
                (
                    TheatreListProposal {
                        solver_status: "infeasible".into(),
                        conflicts,
                        ..empty_proposal(&input, &snapshot_sha256)
                    },
                    digest,
                )
            }
            Err(e @ SolveError::NoPlanInTime) => {
                // Worth another attempt: the machine may have been busy.
                return Err(ActivityError::from(anyhow::anyhow!("theatre list: {e}")));
            }
            Err(e) => return Err(non_retryable(format!("theatre list: {e}"))),
        };
        let step = NewDecisionStep {
            workflow_id: input.workflow_id.clone(),
            step: proposal.decision_step.clone(),
            kind: SOLVE_SNAPSHOT.into(),
            snapshot_json,
            models: vec![ModelUse {
                name: input.durations.provenance.model_name.clone(),
                version: input.durations.provenance.model_version.clone(),
                sha256: input.durations.provenance.model_sha256.clone(),
            }],
            solver: Some(SOLVER.into()),
            solver_version: Some(SOLVER_VERSION.into()),
            careflow_version: env!("CARGO_PKG_VERSION").into(),
            seed: Some(opts.seed),
            time_limit_s: Some(opts.time_limit.as_secs_f64()),
            threads: Some(opts.threads),
            result_digest,
        };
        // Kept first, so that the proposal a retry finds stored always has its result.
        let kept = TheatreSolveResult {
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
        theatre::store_proposal(
            &self.db,
            &input.workflow_id,
            &input.requested_by,
            &proposal,
            &step,
        )
        .await
        .map_err(store_failure)
    }

    /// Publishes a revision (the list in force for the week is superseded) or marks it
    /// rejected, audited with the proposal's digest.
    #[activity]
    pub async fn conclude_theatre_list(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ConcludeTheatreInput,
    ) -> Result<(), ActivityError> {
        theatre::conclude(
            &self.db,
            &input.workflow_id,
            &input.list_id,
            input.revision,
            &input.conclusion,
        )
        .await
        .map_err(store_failure)
    }

    /// Withdraws the week's open proposal and closes its open tasks (the workflow was
    /// cancelled); the list in force stays in force.
    #[activity]
    pub async fn withdraw_theatre_list(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: WithdrawTheatreInput,
    ) -> Result<(), ActivityError> {
        theatre::withdraw(&self.db, &input.workflow_id, &input.reason)
            .await
            .map_err(store_failure)
    }
}

/// A stored solver step run again: how it ended and the digest of what it booked, to
/// compare with the step's recorded `result_digest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayedSolve {
    /// Weighted objective.
    pub objective: f64,
    /// `optimal` or `time_limit`.
    pub solver_status: String,
    /// Relative MIP gap where HiGHS knows it.
    pub mip_gap: Option<f64>,
    /// Seconds the solve took.
    pub elapsed_s: f64,
    /// Digest of the bookings, the cases left unbooked and the cost.
    pub result_digest: String,
}

/// Runs a recorded theatre solver step again from its snapshot (the JSON stored under
/// `step.snapshot_sha256`) with the step's seed, time limit and threads.
pub fn replay_solve(snapshot_json: &str, step: &DecisionStep) -> Result<ReplayedSolve, String> {
    let input = TheatreInput::from_json(snapshot_json)
        .map_err(|e| format!("snapshot {}: {e}", step.snapshot_sha256))?;
    let opts = SolveOptions {
        time_limit: Duration::from_secs_f64(step.time_limit_s.unwrap_or(60.0)),
        mip_gap: None,
        threads: step.threads.unwrap_or(SOLVER_THREADS),
        seed: step.seed.unwrap_or(0),
    };
    let plan = tb::solve(&input, &opts, &mut |_| {}).map_err(|e| format!("replay: {e}"))?;
    Ok(ReplayedSolve {
        objective: plan.header.objective,
        solver_status: status_name(plan.header.status),
        mip_gap: plan.header.mip_gap,
        elapsed_s: plan.header.elapsed_s,
        result_digest: plan_digest(&plan),
    })
}

/// Runs a recorded duration forecast again: the model file named by the step (checked
/// against the recorded sha256) from `models_dir/<name>/<version>/`. Returns the digest
/// of the durations, the step's `result_digest` when the forecast reproduced.
pub fn replay_forecast(
    models_dir: &std::path::Path,
    snapshot_json: &str,
    step: &DecisionStep,
) -> Result<String, String> {
    let request: DurationRequest = serde_json::from_str(snapshot_json)
        .map_err(|e| format!("snapshot {}: {e}", step.snapshot_sha256))?;
    let model_use = step
        .models
        .iter()
        .find(|m| m.name == request.model)
        .ok_or_else(|| format!("step {} names no {} model", step.step, request.model))?;
    let dir = models_dir.join(&model_use.name).join(&model_use.version);
    let bundle = careflow_forecasters::bundle::open_verified(
        &dir,
        &model_use.name,
        &model_use.version,
        &model_use.sha256,
    )
    .map_err(|e| format!("replay: {e}"))?;
    let model = SurgeryDuration::from_bundle(&bundle, &crate::forecast_runtime())
        .map_err(|e| format!("replay: {e}"))?;
    let batch: Vec<SurgicalCase> = request.cases.iter().map(|(_, c)| c.clone()).collect();
    let forecasts = model
        .forecast_batch(&batch)
        .map_err(|e| format!("replay: {e}"))?;
    Ok(digest(&case_durations(&request.cases, &forecasts)))
}

/// Each case's forecast quantiles (0.1, 0.5, 0.9) and mean, in the request's order.
fn case_durations(
    requests: &[(String, SurgicalCase)],
    forecasts: &[careflow_forecasters::Forecast],
) -> Vec<CaseDuration> {
    requests
        .iter()
        .zip(forecasts)
        .map(|((id, _), f)| {
            let row = &f.rows[0];
            CaseDuration {
                case_id: id.clone(),
                mean_minutes: row.mean,
                p10_minutes: row.quantiles[0],
                p50_minutes: row.quantiles[1],
                p90_minutes: row.quantiles[2],
            }
        })
        .collect()
}

/// What a theatre solver step produced, as `decision_results` keeps it: the plan (none
/// when the input was infeasible) and the proposal the administrator saw, whose
/// deferrals and changes carry their reasons.
pub type TheatreSolveResult = crate::decisions::SolveStepResult<TheatrePlan, TheatreListProposal>;

/// What a solve booked, without its timings (which differ run to run).
pub fn plan_digest(plan: &TheatrePlan) -> String {
    digest(&(&plan.bookings, &plan.unbooked, &plan.cost))
}

pub(crate) fn status_name(s: SolveStatus) -> String {
    match s {
        SolveStatus::Optimal => "optimal".into(),
        SolveStatus::TimeLimit => "time_limit".into(),
        SolveStatus::Infeasible => "infeasible".into(),
    }
}

/// The solver's input and what the proposal needs to describe it in hospital words.
pub struct SolverInput {
    /// The MILP's input (the step's snapshot).
    pub input: TheatreInput,
    /// Bookings of the list in force on days before `from_day`: done, kept as they were.
    pub frozen: Vec<BookedCase>,
    durations: HashMap<String, CaseDuration>,
}

/// Builds the theatre MILP's input from the week, the duration forecasts and the list
/// in force. Days before `from_day` are done: their sessions are closed to the solver
/// and their bookings kept. Urgency: P1 cases, and P2 cases whose deadline falls before
/// the week ends, must be booked (a week that cannot book them is infeasible and says
/// which); other P2 and P3 cases, P4 cases past their deadline and booked patients are
/// priced as `soon`; the other P4 cases as `routine`. Cases are planned at their
/// [`ROBUST_LEVEL`] duration quantile.
pub fn solver_input(
    week: &TheatreWeekRequest,
    durations: &CaseDurations,
    from_day: u32,
    in_force: Option<&TheatreListProposal>,
) -> Result<SolverInput, String> {
    let by_case: HashMap<String, CaseDuration> = durations
        .cases
        .iter()
        .map(|d| (d.case_id.clone(), d.clone()))
        .collect();
    let on_list: HashSet<&str> = week.cases.iter().map(|c| c.case_id.as_str()).collect();
    let booked_before: Vec<&BookedCase> = in_force
        .map(|p| {
            p.booked
                .iter()
                .filter(|b| on_list.contains(b.case_id.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let frozen: Vec<BookedCase> = booked_before
        .iter()
        .filter(|b| b.day < from_day)
        .map(|b| (*b).clone())
        .collect();
    let frozen_ids: HashSet<&str> = frozen.iter().map(|b| b.case_id.as_str()).collect();
    let previous: Vec<PreviousBooking> = booked_before
        .iter()
        .filter(|b| b.day >= from_day)
        .map(|b| PreviousBooking {
            case: b.case_id.clone(),
            theatre: b.theatre_id.clone(),
            day: b.day,
        })
        .collect();
    let theatres = week
        .theatres
        .iter()
        .map(|t| tb::Theatre {
            id: t.theatre_id.clone(),
            session_minutes: (0..week.days)
                .map(|d| {
                    t.sessions
                        .iter()
                        .find(|s| s.day == d && d >= from_day)
                        .map_or(0, |s| s.staffed_minutes)
                })
                .collect(),
            max_overtime_minutes: t.max_overtime_minutes,
        })
        .collect();
    let surgeons = week
        .surgeons
        .iter()
        .map(|s| tb::Surgeon {
            id: s.surgeon_id.clone(),
            available_days: s.days.clone(),
            max_minutes_per_day: s.max_minutes_per_day,
        })
        .collect();
    let mut cases = Vec::new();
    for c in week
        .cases
        .iter()
        .filter(|c| !frozen_ids.contains(c.case_id.as_str()))
    {
        let d = by_case
            .get(&c.case_id)
            .ok_or_else(|| format!("case {} has no duration forecast", c.case_id))?;
        let deadline = c.deadline_day();
        let in_week = deadline < i64::from(week.days);
        let was_booked = previous.iter().any(|p| p.case == c.case_id);
        let priority = match c.category {
            UrgencyCategory::P1 => Priority::Urgent,
            UrgencyCategory::P2 if in_week => Priority::Urgent,
            UrgencyCategory::P2 | UrgencyCategory::P3 => Priority::Soon,
            UrgencyCategory::P4 if in_week || was_booked => Priority::Soon,
            UrgencyCategory::P4 => Priority::Routine,
        };
        cases.push(tb::Case {
            id: c.case_id.clone(),
            surgeon: c.surgeon_id.clone(),
            procedure: c.procedure.clone(),
            priority,
            release_day: c.release_day.max(from_day),
            due_day: deadline.clamp(0, i64::from(u32::MAX)) as u32,
            duration_quantiles: vec![
                (0.1, d.p10_minutes),
                (0.5, d.p50_minutes),
                (0.9, d.p90_minutes),
            ],
        });
    }
    Ok(SolverInput {
        input: TheatreInput {
            days: week.days,
            theatres,
            surgeons,
            cases,
            weights: TheatreWeights {
                change: CHANGE_PENALTY,
                robust_level: ROBUST_LEVEL,
                ..TheatreWeights::default()
            },
            previous,
        },
        frozen,
        durations: by_case,
    })
}

fn empty_proposal(input: &ProposeTheatreInput, snapshot_sha256: &str) -> TheatreListProposal {
    TheatreListProposal {
        list_id: input.list_id.clone(),
        revision: input.revision,
        week_start: input.week.week_start.clone(),
        days: input.week.days,
        from_day: input.from_day,
        solver_status: String::new(),
        objective: 0.0,
        mip_gap: None,
        solve_seconds: 0.0,
        booked: Vec::new(),
        sessions: Vec::new(),
        deferred: Vec::new(),
        changes: Vec::new(),
        utilisation: 0.0,
        target_utilisation: input.week.target_utilisation,
        sessions_below_target: 0,
        expected_overtime_minutes: 0.0,
        conflicts: Vec::new(),
        durations: input.durations.provenance.clone(),
        decision_step: format!("solve/r{}", input.revision),
        snapshot_sha256: snapshot_sha256.to_owned(),
        replanned_after: input.replanned_after.clone(),
    }
}

/// The proposal as the theatre administrator reads it.
fn describe(
    input: &ProposeTheatreInput,
    built: &SolverInput,
    plan: &TheatrePlan,
    in_force: Option<&TheatreListProposal>,
    snapshot_sha256: &str,
) -> TheatreListProposal {
    let week = &input.week;
    let case_of: HashMap<&str, &WaitingCase> =
        week.cases.iter().map(|c| (c.case_id.as_str(), c)).collect();
    let mut booked = built.frozen.clone();
    for b in &plan.bookings {
        let c = case_of[b.case.as_str()];
        let d = &built.durations[&b.case];
        booked.push(BookedCase {
            case_id: c.case_id.clone(),
            patient_key: c.patient_key.clone(),
            procedure: c.procedure.clone(),
            surgeon_id: c.surgeon_id.clone(),
            category: c.category,
            theatre_id: b.theatre.clone(),
            day: b.day,
            order: b.order,
            start_minute: b.start_minute,
            planned_minutes: b.planned_minutes,
            p50_minutes: d.p50_minutes,
            p90_minutes: d.p90_minutes,
        });
    }
    booked.sort_by(|a, b| (&a.theatre_id, a.day, a.order).cmp(&(&b.theatre_id, b.day, b.order)));

    let mut sessions = Vec::new();
    for t in &week.theatres {
        let mut days: Vec<_> = t.sessions.iter().collect();
        days.sort_by_key(|s| s.day);
        for s in days {
            let list: Vec<&BookedCase> = booked
                .iter()
                .filter(|b| b.theatre_id == t.theatre_id && b.day == s.day)
                .collect();
            let (expected, var) = list.iter().fold((0.0, 0.0), |(m, v), b| {
                let d = &built.durations[&b.case_id];
                let (_, cv) = lognormal_moments(d.p50_minutes, d.p90_minutes);
                (m + d.mean_minutes, v + cv)
            });
            let (overtime, p_over) =
                overtime_risk(expected, var.sqrt(), f64::from(s.staffed_minutes));
            sessions.push(SessionLoad {
                theatre_id: t.theatre_id.clone(),
                day: s.day,
                staffed_minutes: s.staffed_minutes,
                cases: list.len() as u32,
                planned_minutes: list.iter().map(|b| b.planned_minutes).sum(),
                expected_minutes: expected,
                utilisation: expected / f64::from(s.staffed_minutes),
                expected_overtime_minutes: overtime,
                overtime_probability: p_over,
            });
        }
    }

    let booked_now: HashMap<&str, &BookedCase> =
        booked.iter().map(|b| (b.case_id.as_str(), b)).collect();
    let before: HashMap<&str, &BookedCase> = in_force
        .map(|p| p.booked.iter().map(|b| (b.case_id.as_str(), b)).collect())
        .unwrap_or_default();
    let deferred: Vec<DeferredCase> = week
        .cases
        .iter()
        .filter(|c| !booked_now.contains_key(c.case_id.as_str()))
        .map(|c| DeferredCase {
            case_id: c.case_id.clone(),
            patient_key: c.patient_key.clone(),
            category: c.category,
            days_waited: c.days_waited,
            breaches_deadline: c.deadline_day() < i64::from(week.days),
            reason: deferral_reason(
                week,
                c,
                input.from_day,
                &booked,
                planned_minutes(&built.durations[&c.case_id]),
            ),
        })
        .collect();
    let mut changes = Vec::new();
    for c in &week.cases {
        let Some(old) = before.get(c.case_id.as_str()) else {
            continue;
        };
        let now = booked_now.get(c.case_id.as_str());
        if now.is_some_and(|b| b.theatre_id == old.theatre_id && b.day == old.day) {
            continue;
        }
        let session_gone = !week
            .theatres
            .iter()
            .any(|t| t.theatre_id == old.theatre_id && t.sessions.iter().any(|s| s.day == old.day));
        let why = match now {
            None => format!(
                "deferred: {}",
                deferral_reason(
                    week,
                    c,
                    input.from_day,
                    &booked,
                    planned_minutes(&built.durations[&c.case_id]),
                )
            ),
            Some(_) if session_gone => format!(
                "theatre {} has no session on day {} any more",
                old.theatre_id, old.day
            ),
            Some(_) => "moved to make room for more urgent work".to_owned(),
        };
        changes.push(BookingChange {
            case_id: c.case_id.clone(),
            patient_key: c.patient_key.clone(),
            from_theatre: old.theatre_id.clone(),
            from_day: old.day,
            to_theatre: now.map(|b| b.theatre_id.clone()),
            to_day: now.map(|b| b.day),
            why,
        });
    }

    let staffed: f64 = sessions.iter().map(|s| f64::from(s.staffed_minutes)).sum();
    let expected: f64 = sessions.iter().map(|s| s.expected_minutes).sum();
    TheatreListProposal {
        solver_status: status_name(plan.header.status),
        objective: plan.header.objective,
        mip_gap: plan.header.mip_gap,
        solve_seconds: plan.header.elapsed_s,
        utilisation: if staffed > 0.0 {
            expected / staffed
        } else {
            0.0
        },
        sessions_below_target: sessions
            .iter()
            .filter(|s| s.utilisation < week.target_utilisation)
            .count() as u32,
        expected_overtime_minutes: sessions.iter().map(|s| s.expected_overtime_minutes).sum(),
        booked,
        sessions,
        deferred,
        changes,
        ..empty_proposal(input, snapshot_sha256)
    }
}

/// Minutes the solver plans for a case: its [`ROBUST_LEVEL`] duration quantile,
/// interpolated between the median and the 0.9 quantile as the solver reads them.
fn planned_minutes(d: &CaseDuration) -> u32 {
    let q = d.p50_minutes + (ROBUST_LEVEL - 0.5) / 0.4 * (d.p90_minutes - d.p50_minutes);
    q.ceil().max(0.0) as u32
}

/// Why a case is not booked this week, in words: for each day its surgeon operates
/// from its first possible day, what left no room for it: the surgeon's daily limit,
/// the session of the theatre their list is in, every theatre of the day (when they
/// have no list that day), or nothing binding (room was left, and deferring cost less).
fn deferral_reason(
    week: &TheatreWeekRequest,
    c: &WaitingCase,
    from_day: u32,
    booked: &[BookedCase],
    planned: u32,
) -> String {
    let from = c.release_day.max(from_day);
    let surgeon = week.surgeons.iter().find(|s| s.surgeon_id == c.surgeon_id);
    fn session(t: &TheatreWeek, d: u32) -> Option<&careflow_types::TheatreSession> {
        t.sessions.iter().find(|x| x.day == d)
    }
    let used = |theatre: &str, d: u32| -> u32 {
        booked
            .iter()
            .filter(|b| b.theatre_id == theatre && b.day == d)
            .map(|b| b.planned_minutes)
            .sum()
    };
    let theatre_full = |t: &TheatreWeek, d: u32| -> Option<String> {
        let staffed = session(t, d)?.staffed_minutes;
        let u = used(&t.theatre_id, d);
        (u + planned > staffed + t.max_overtime_minutes).then(|| {
            format!(
                "{} {u} of {staffed} min + {} overtime",
                t.theatre_id, t.max_overtime_minutes
            )
        })
    };
    let mut days: Vec<u32> = surgeon
        .map(|s| {
            s.days
                .iter()
                .copied()
                .filter(|&d| d >= from && week.theatres.iter().any(|t| session(t, d).is_some()))
                .collect()
        })
        .unwrap_or_default();
    days.sort_unstable();
    let mut why = match surgeon {
        Some(s) if !days.is_empty() => {
            let per_day: Vec<String> = days
                .iter()
                .map(|&d| {
                    let mine: Vec<&BookedCase> = booked
                        .iter()
                        .filter(|b| b.surgeon_id == c.surgeon_id && b.day == d)
                        .collect();
                    let minutes: u32 = mine.iter().map(|b| b.planned_minutes).sum();
                    let over_limit = minutes + planned > s.max_minutes_per_day;
                    let limit = format!(
                        "{minutes} of the surgeon's {}-minute daily limit planned",
                        s.max_minutes_per_day
                    );
                    let list_theatre = mine
                        .first()
                        .and_then(|b| week.theatres.iter().find(|t| t.theatre_id == b.theatre_id));
                    match list_theatre {
                        Some(t) => match (over_limit, theatre_full(t, d)) {
                            (true, Some(full)) => {
                                format!("day {d}: {limit}, and the session in {full}")
                            }
                            (true, None) => format!("day {d}: {limit}"),
                            (false, Some(full)) => {
                                format!("day {d}: the list's session is full ({full})")
                            }
                            (false, None) => format!(
                                "day {d}: room in {}'s session and within the limit, but \
                                 booking it there cost more than deferring",
                                t.theatre_id
                            ),
                        },
                        None if over_limit => format!("day {d}: {limit}"),
                        None => {
                            let open: Vec<&TheatreWeek> = week
                                .theatres
                                .iter()
                                .filter(|t| session(t, d).is_some())
                                .collect();
                            let full: Vec<String> =
                                open.iter().filter_map(|t| theatre_full(t, d)).collect();
                            if full.len() == open.len() {
                                format!(
                                    "day {d}: no list; every session is full ({})",
                                    full.join(", ")
                                )
                            } else {
                                format!(
                                    "day {d}: no list; a session had room, but opening a list \
                                     there cost more than deferring"
                                )
                            }
                        }
                    }
                })
                .collect();
            format!(
                "surgeon {} has no room for its {planned} planned minutes: {}",
                c.surgeon_id,
                per_day.join("; ")
            )
        }
        _ => format!(
            "surgeon {} has no theatre session on their operating days from day {from}",
            c.surgeon_id
        ),
    };
    if c.deadline_day() < i64::from(week.days) {
        why.push_str(&format!(
            "; this takes it past its {} deadline of {} days (waited {})",
            c.category,
            c.category.deadline_days(),
            c.days_waited
        ));
    }
    why
}

/// z of the 0.9 quantile of the standard normal.
const Z90: f64 = 1.281_551_565_545;

/// Mean and variance of a log-normal duration given its median and 0.9 quantile.
fn lognormal_moments(p50: f64, p90: f64) -> (f64, f64) {
    let mu = p50.max(1e-9).ln();
    let sigma = ((p90.max(p50) / p50.max(1e-9)).ln() / Z90).max(1e-9);
    let s2 = sigma * sigma;
    (
        (mu + s2 / 2.0).exp(),
        (s2.exp() - 1.0) * (2.0 * mu + s2).exp(),
    )
}

/// Expected minutes past `capacity` and the probability of running past it, for a list
/// whose total duration is taken as normal with mean `m` and deviation `sd` (a sum of
/// independent case durations).
fn overtime_risk(m: f64, sd: f64, capacity: f64) -> (f64, f64) {
    if m <= 0.0 {
        return (0.0, 0.0);
    }
    if sd <= 1e-9 {
        return ((m - capacity).max(0.0), f64::from(u8::from(m > capacity)));
    }
    let z = (capacity - m) / sd;
    let pdf = (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let tail = 1.0 - normal_cdf(z);
    (sd * pdf + (m - capacity) * tail, tail)
}

/// Standard normal distribution function (Abramowitz and Stegun 7.1.26, error < 1.5e-7).
fn normal_cdf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_and_overtime_match_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-6);
        // E[(X - c)+] for X ~ N(c, 1) is 1/sqrt(2 pi).
        let (e, p) = overtime_risk(100.0, 1.0, 100.0);
        assert!((e - 0.398_942).abs() < 1e-5 && (p - 0.5).abs() < 1e-7);
        assert_eq!(overtime_risk(0.0, 0.0, 100.0), (0.0, 0.0));
        let (m, v) = lognormal_moments(100.0, 100.0 * Z90.exp());
        // sigma = 1: mean e^{mu + 1/2}, variance (e - 1) e^{2 mu + 1}.
        assert!((m - 100.0 * 0.5f64.exp()).abs() < 1e-6);
        assert!((v - (1f64.exp() - 1.0) * 1e4 * 1f64.exp()).abs() < 1e-3);
    }

    /// Surgeon A operates days 0 and 1 in T1 (480 + 60 min), limit 540 min a day. Day 0:
    /// T1 holds 450 min of B's list and 60 of A's; day 1: A has 500 min in T1.
    fn deferral_week() -> (TheatreWeekRequest, Vec<BookedCase>) {
        let week: TheatreWeekRequest = serde_json::from_value(serde_json::json!({
            "week_start": "2026-12-07",
            "days": 2,
            "theatres": [{"theatre_id": "T1", "max_overtime_minutes": 60,
                          "sessions": [{"day": 0, "staffed_minutes": 480},
                                       {"day": 1, "staffed_minutes": 480}]}],
            "surgeons": [{"surgeon_id": "A", "days": [0, 1], "max_minutes_per_day": 540},
                         {"surgeon_id": "B", "days": [0], "max_minutes_per_day": 540}],
            "cases": [{"case_id": "C9", "patient_key": "PK-9", "procedure": "hernia",
                       "specialty": "general", "surgeon_id": "A", "category": "P4",
                       "days_waited": 10}]
        }))
        .expect("week");
        let case = |id: &str, surgeon: &str, day: u32, minutes: u32| BookedCase {
            case_id: id.into(),
            patient_key: format!("PK-{id}"),
            procedure: "x".into(),
            surgeon_id: surgeon.into(),
            category: UrgencyCategory::P4,
            theatre_id: "T1".into(),
            day,
            order: 0,
            start_minute: 0,
            planned_minutes: minutes,
            p50_minutes: f64::from(minutes),
            p90_minutes: f64::from(minutes),
        };
        let booked = vec![
            case("B1", "B", 0, 450),
            case("A1", "A", 0, 60),
            case("A2", "A", 1, 500),
        ];
        (week, booked)
    }

    #[test]
    fn a_deferral_names_what_bound_each_day_the_session_or_the_surgeons_limit() {
        let (week, booked) = deferral_week();
        let why = deferral_reason(&week, &week.cases[0], 0, &booked, 90);
        // Day 0: A has 60 + 90 of 540 min, but T1 holds 510 + 90 > 540.
        assert!(
            why.contains("day 0: the list's session is full (T1 510 of 480 min + 60 overtime)"),
            "{why}"
        );
        // Day 1: 500 + 90 passes A's 540-minute limit (the session would hold it too).
        assert!(
            why.contains("day 1: 500 of the surgeon's 540-minute daily limit planned, and the session in T1 500 of 480 min + 60 overtime"),
            "{why}"
        );
        // A short case fits day 0's session by the numbers: nothing binds, deferring
        // cost less.
        let why = deferral_reason(&week, &week.cases[0], 0, &booked, 20);
        assert!(
            why.contains("day 0: room in T1's session and within the limit"),
            "{why}"
        );
        assert!(why.contains("day 1: room in T1's session"), "{why}");
    }
}
