//! Activities of the scanner-booking workflow: forecast every outpatient request's
//! no-show probability with the production `scanner-no-show` model, book the week's
//! CT/MRI slots with the scanner MILP (overbooking bounded by expected overtime), and
//! book, reject or withdraw a revision; record a booked scan's attendance.
//!
//! Each solver and forecaster step stores what it used through `careflow_store::decisions`
//! (the whole input as a content-addressed snapshot, the model by name, version and
//! sha256, solver, versions, seed, time limit, threads, and the digest of the result).
//! [`replay_solve`] runs a stored solver snapshot again.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_forecasters::scanner_no_show::{self as nsm, Appointment, ScannerNoShow, MODEL_NAME};
use careflow_forecasters::{Forecaster, RuntimeOptions};
use careflow_solvers::highs::{SOLVER, SOLVER_VERSION};
use careflow_solvers::scanner_booking::{
    self as sb, Maintenance, Modality, ScanRequest, Scanner, ScannerInput, ScannerPlan,
    ScannerPolicy, SolveError, Urgency,
};
use careflow_solvers::solve::SolveOptions;
use careflow_store::audit::sha256_json as digest;
use careflow_store::decisions::{self, DecisionStep, ModelUse, NewDecisionStep};
use careflow_store::{scanner, Db};
use careflow_types::{
    AttendanceReport, ForecastProvenance, NoShowForecasts, NoShowProbability, ScanBooked,
    ScanBreach, ScanConclusion, ScanModality, ScanRequestEntry, ScanUrgency,
    ScannerBookingProposal, ScannerDayLoad, ScannerWeekRequest,
};

use crate::theatre_booking::{status_name, ReplayedSolve};
use crate::{non_retryable, production_model, solve_with_heartbeats, store_failure};

/// Snapshot kind of a solver step's input.
pub const SOLVE_SNAPSHOT: &str = "scanner_booking.input";
/// Snapshot kind of a no-show forecast's input.
pub const FORECAST_SNAPSHOT: &str = "scanner_no_show.request";
/// Threads HiGHS may use: one keeps a stored step reproducible.
pub const SOLVER_THREADS: u32 = 1;

/// The scanner-booking workflow's activities.
pub struct ScannerActivities {
    db: Db,
    models_dir: PathBuf,
}

impl ScannerActivities {
    /// Activities reading models from `models_dir/<name>/<version>/` (checked against
    /// the registry's sha256 before use) and writing to `db`.
    pub fn new(db: Db, models_dir: PathBuf) -> Self {
        Self { db, models_dir }
    }
}

/// Input of [`ScannerActivities::forecast_no_shows`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForecastNoShowsInput {
    /// Workflow id (idempotency and audit).
    pub workflow_id: String,
    /// The week.
    pub week: ScannerWeekRequest,
}

/// Input of [`ScannerActivities::propose_scanner_booking`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeScannerInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Booking run.
    pub booking_id: String,
    /// Revision to propose.
    pub revision: u32,
    /// The week.
    pub week: ScannerWeekRequest,
    /// Every request's no-show probability.
    pub no_shows: NoShowForecasts,
    /// Whether the solver may overbook (a re-plan after a rejection may not).
    pub overbooking_allowed: bool,
}

/// Input of [`ScannerActivities::conclude_scanner_booking`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConcludeScannerInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Booking run.
    pub booking_id: String,
    /// Revision.
    pub revision: u32,
    /// Decided by a person, or booked within policy.
    pub conclusion: ScanConclusion,
}

/// Input of [`ScannerActivities::withdraw_scanner_booking`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WithdrawScannerInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Why.
    pub reason: String,
}

/// Input of [`ScannerActivities::record_scan_attendance`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordAttendanceInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Booking run.
    pub booking_id: String,
    /// What happened.
    pub report: AttendanceReport,
}

/// The input of a no-show forecast, as its snapshot stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NoShowRequest {
    model: String,
    appointments: Vec<(String, Appointment)>,
}

#[activities]
impl ScannerActivities {
    /// Forecasts every outpatient request's no-show probability with the production
    /// `scanner-no-show` model (its file checked against the registry's sha256) and
    /// records the step. Inpatients are brought to the scanner: probability 0, the
    /// model not asked.
    #[activity]
    pub async fn forecast_no_shows(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ForecastNoShowsInput,
    ) -> Result<NoShowForecasts, ActivityError> {
        let bundle =
            production_model(&self.db, &self.models_dir, MODEL_NAME, "no-show forecast").await?;
        let model = ScannerNoShow::from_bundle(&bundle, &RuntimeOptions::default())
            .map_err(|e| non_retryable(format!("no-show forecast: {e}")))?;
        let start = input
            .week
            .date()
            .ok_or_else(|| non_retryable("week_start: not a date".to_owned()))?;
        let appointments: Vec<(String, Appointment)> = input
            .week
            .requests
            .iter()
            .filter(|r| !r.inpatient)
            .map(|r| (r.request_id.clone(), appointment(r, start)))
            .collect();
        let batch: Vec<Appointment> = appointments.iter().map(|(_, a)| a.clone()).collect();
        let forecasts = if batch.is_empty() {
            Vec::new()
        } else {
            crate::metrics::timed_forecast(MODEL_NAME, || model.forecast_batch(&batch))
                .map_err(|e| non_retryable(format!("no-show forecast: {e}")))?
        };
        let by_request: HashMap<&str, f64> = appointments
            .iter()
            .zip(&forecasts)
            .map(|((id, _), f)| (id.as_str(), f.rows[0].mean))
            .collect();
        crate::model_release::shadow_no_shows(
            &self.db,
            &self.models_dir,
            &input.workflow_id,
            &appointments,
            &by_request,
        )
        .await;
        let requests: Vec<NoShowProbability> = input
            .week
            .requests
            .iter()
            .map(|r| NoShowProbability {
                request_id: r.request_id.clone(),
                probability: by_request
                    .get(r.request_id.as_str())
                    .copied()
                    .unwrap_or(0.0),
            })
            .collect();
        let meta = model.metadata();
        let step = decisions::record(
            &self.db,
            &NewDecisionStep {
                workflow_id: input.workflow_id.clone(),
                step: "forecast/r0".into(),
                kind: FORECAST_SNAPSHOT.into(),
                snapshot_json: serde_json::to_string(&NoShowRequest {
                    model: MODEL_NAME.into(),
                    appointments,
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
                result_digest: digest(&requests),
            },
        )
        .await
        .map_err(store_failure)?;
        Ok(NoShowForecasts {
            provenance: ForecastProvenance {
                model_name: meta.model_name.clone(),
                model_version: meta.model_version.clone(),
                model_sha256: meta.model_sha256.clone(),
                execution_provider: meta.execution_provider.clone(),
                origin: input.week.week_start.clone(),
                horizon_hours: input.week.days * 24,
            },
            requests,
            decision_step: step.step,
        })
    }

    /// Books the week with the scanner MILP and stores the proposal with the step's
    /// snapshot, measured against the week's policy. Hard-deadline requests no scanner
    /// can take before their deadline are left out of the solve and named as breaches
    /// with the reason; an input no booking can satisfy is stored as infeasible with
    /// the conflicting constraints.
    #[activity]
    pub async fn propose_scanner_booking(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ProposeScannerInput,
    ) -> Result<ScannerBookingProposal, ActivityError> {
        if let Some(done) = scanner::stored_proposal(&self.db, &input.booking_id, input.revision)
            .await
            .map_err(store_failure)?
        {
            return Ok(done);
        }
        let built = solver_input(&input.week, &input.no_shows, input.overbooking_allowed)
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
        let result = solve_with_heartbeats(&ctx, "scanner", move |sink| {
            sb::solve(&solver_input, &solve_opts, sink)
        })
        .await?;
        let snapshot_sha256 = decisions::sha256_hex(&snapshot_json);
        let (proposal, result_digest, plan) = match result {
            Ok(plan) => (
                describe(&input, &built, &plan, &snapshot_sha256),
                plan_digest(&plan),
                Some(plan),
            ),
            Err(SolveError::Infeasible { conflicts }) => {
                let conflicts: Vec<String> = conflicts.into_iter().map(|c| c.message).collect();
                let digest = digest(&conflicts);
                (
                    ScannerBookingProposal {
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
                return Err(ActivityError::from(anyhow::anyhow!("scanner booking: {e}")));
            }
            Err(e) => return Err(non_retryable(format!("scanner booking: {e}"))),
        };
        let step = NewDecisionStep {
            workflow_id: input.workflow_id.clone(),
            step: proposal.decision_step.clone(),
            kind: SOLVE_SNAPSHOT.into(),
            snapshot_json,
            models: vec![ModelUse {
                name: input.no_shows.provenance.model_name.clone(),
                version: input.no_shows.provenance.model_version.clone(),
                sha256: input.no_shows.provenance.model_sha256.clone(),
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
        let kept = ScannerSolveResult {
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
        scanner::store_proposal(
            &self.db,
            &input.workflow_id,
            &input.week.requested_by,
            &proposal,
            &step,
        )
        .await
        .map_err(store_failure)
    }

    /// Books a revision (its scans stored with their no-show probabilities) or marks
    /// it rejected, audited.
    #[activity]
    pub async fn conclude_scanner_booking(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ConcludeScannerInput,
    ) -> Result<(), ActivityError> {
        scanner::conclude(
            &self.db,
            &input.workflow_id,
            &input.booking_id,
            input.revision,
            &input.conclusion,
        )
        .await
        .map_err(store_failure)
    }

    /// Withdraws the run's open proposal and closes its open tasks (the workflow was
    /// cancelled); scans already booked stay booked.
    #[activity]
    pub async fn withdraw_scanner_booking(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: WithdrawScannerInput,
    ) -> Result<(), ActivityError> {
        scanner::withdraw(&self.db, &input.workflow_id, &input.reason)
            .await
            .map_err(store_failure)
    }

    /// Records a booked scan's attendance after checking it against the store (the
    /// recorder holds the imaging manager's role; the scan is booked and has no other
    /// outcome yet), audited. Returns `None` when recorded, or why it was refused (the
    /// workflow then drops the report).
    #[activity]
    pub async fn record_scan_attendance(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecordAttendanceInput,
    ) -> Result<Option<String>, ActivityError> {
        use careflow_store::Error as E;
        match scanner::record_attendance(
            &self.db,
            &input.workflow_id,
            &input.booking_id,
            &input.report,
        )
        .await
        {
            Ok(()) => Ok(None),
            Err(e @ (E::Forbidden(_) | E::Conflict(_) | E::NotFound(_))) => {
                tracing::warn!(request_id = %input.report.request_id, reason = %e, "attendance refused");
                Ok(Some(e.to_string()))
            }
            Err(e) => Err(store_failure(e)),
        }
    }
}

/// The no-show model's view of a request. The appointment day is not known before the
/// solve, so the request is forecast for its release day (its earliest possible scan):
/// the lead time and weekday the booking would most likely have.
fn appointment(r: &ScanRequestEntry, week_start: chrono::NaiveDate) -> Appointment {
    let day = week_start + chrono::Days::new(u64::from(r.release_day));
    Appointment {
        modality: match r.modality {
            ScanModality::Ct => nsm::Modality::Ct,
            ScanModality::Mri => nsm::Modality::Mri,
        },
        lead_time_days: r.ordered_days_before + r.release_day,
        age_years: r.age_years,
        weekday: day.weekday(),
        median_income_usd: r.median_income_usd,
        commute_miles: r.commute_miles,
        prior_no_shows: r.prior_no_shows,
        reminder_sent: r.reminder_sent,
    }
}

/// What a scanner solver step produced, as `decision_results` keeps it: the booking
/// (none when the week cannot be booked) and the proposal the imaging manager saw.
pub type ScannerSolveResult =
    crate::decisions::SolveStepResult<ScannerPlan, ScannerBookingProposal>;

/// Runs a recorded scanner solver step again from its snapshot (the JSON stored under
/// `step.snapshot_sha256`) with the step's seed, time limit and threads.
pub fn replay_solve(snapshot_json: &str, step: &DecisionStep) -> Result<ReplayedSolve, String> {
    let input = ScannerInput::from_json(snapshot_json)
        .map_err(|e| format!("snapshot {}: {e}", step.snapshot_sha256))?;
    let opts = SolveOptions {
        time_limit: Duration::from_secs_f64(step.time_limit_s.unwrap_or(60.0)),
        mip_gap: None,
        threads: step.threads.unwrap_or(SOLVER_THREADS),
        seed: step.seed.unwrap_or(0),
    };
    let plan = sb::solve(&input, &opts, &mut |_| {}).map_err(|e| format!("replay: {e}"))?;
    Ok(ReplayedSolve {
        objective: plan.header.objective,
        solver_status: status_name(plan.header.status),
        mip_gap: plan.header.mip_gap,
        elapsed_s: plan.header.elapsed_s,
        result_digest: plan_digest(&plan),
    })
}

/// What a solve booked, without its timings (which differ run to run).
fn plan_digest(plan: &ScannerPlan) -> String {
    digest(&(&plan.bookings, &plan.unbooked, &plan.cost))
}

/// The solver's input and the requests left out of it.
pub struct SolverInput {
    /// The MILP's input (the step's snapshot).
    pub input: ScannerInput,
    /// Hard-deadline requests no scanner can take before their deadline, with why.
    pub unservable: Vec<ScanBreach>,
}

/// Builds the scanner MILP's input from the week and the no-show forecasts. A
/// hard-deadline request that no open scanner-day of its modality (with contrast or an
/// anaesthetist where it needs them) offers between its release day and its deadline is
/// left out (it would make every booking infeasible) and returned as unservable.
pub fn solver_input(
    week: &ScannerWeekRequest,
    no_shows: &NoShowForecasts,
    overbooking_allowed: bool,
) -> Result<SolverInput, String> {
    let p: HashMap<&str, f64> = no_shows
        .requests
        .iter()
        .map(|n| (n.request_id.as_str(), n.probability))
        .collect();
    let scanners: Vec<Scanner> = week
        .scanners
        .iter()
        .map(|s| Scanner {
            id: s.scanner_id.clone(),
            modality: modality(s.modality),
            contrast: s.contrast,
            maintenance: s
                .closures
                .iter()
                .map(|c| Maintenance {
                    day: c.day,
                    from_slot: c.from_slot,
                    to_slot: c.to_slot,
                })
                .collect(),
            anaesthesia_days: s.anaesthesia_days.clone(),
        })
        .collect();
    let mut requests = Vec::new();
    let mut unservable = Vec::new();
    for r in &week.requests {
        let probability = *p
            .get(r.request_id.as_str())
            .ok_or_else(|| format!("request {} has no no-show forecast", r.request_id))?;
        if r.urgency.hard_deadline() && !servable(week, r) {
            let scanner = format!(
                "{}{} scanner{}",
                r.modality.as_str().to_uppercase(),
                if r.contrast { " contrast-capable" } else { "" },
                if r.anaesthesia {
                    " with an anaesthetist"
                } else {
                    ""
                },
            );
            let last = week.days.saturating_sub(1);
            unservable.push(ScanBreach {
                request_id: r.request_id.clone(),
                urgency: r.urgency,
                modality: r.modality,
                deadline_day: r.deadline_day,
                booked_day: None,
                why: if r.deadline_day <= last {
                    format!(
                        "no {scanner} is open between day {} and its deadline, day {}",
                        r.release_day, r.deadline_day
                    )
                } else {
                    format!(
                        "no {scanner} is open between day {} and day {last}, the last day \
                         planned (its deadline is day {})",
                        r.release_day, r.deadline_day
                    )
                },
            });
            continue;
        }
        requests.push(ScanRequest {
            id: r.request_id.clone(),
            modality: modality(r.modality),
            urgency: match r.urgency {
                ScanUrgency::Emergency => Urgency::Emergency,
                ScanUrgency::Urgent => Urgency::Urgent,
                ScanUrgency::Routine => Urgency::Routine,
            },
            release_day: r.release_day,
            deadline_day: r.deadline_day,
            slots: r.slots,
            contrast: r.contrast,
            anaesthesia: r.anaesthesia,
            no_show_probability: probability,
        });
    }
    let mut policy = ScannerPolicy::default();
    if !overbooking_allowed {
        policy.max_overbooked_slots = 0;
    }
    Ok(SolverInput {
        input: ScannerInput {
            days: week.days,
            slots_per_day: week.slots_per_day,
            scanners,
            requests,
            policy,
            previous: Vec::new(),
        },
        unservable,
    })
}

fn modality(m: ScanModality) -> Modality {
    match m {
        ScanModality::Ct => Modality::Ct,
        ScanModality::Mri => Modality::Mri,
    }
}

/// Whether some scanner offers `r` an open slot on a day it may be scanned by its
/// deadline (within the days planned).
fn servable(week: &ScannerWeekRequest, r: &ScanRequestEntry) -> bool {
    let last = r.deadline_day.min(week.days.saturating_sub(1));
    week.scanners.iter().any(|s| {
        s.modality == r.modality
            && (!r.contrast || s.contrast)
            && (r.release_day..=last).any(|d| {
                (!r.anaesthesia || s.anaesthesia_days.contains(&d)) && {
                    let closed: u32 = s
                        .closures
                        .iter()
                        .filter(|c| c.day == d)
                        .map(|c| {
                            c.to_slot
                                .min(week.slots_per_day)
                                .saturating_sub(c.from_slot)
                        })
                        .sum();
                    closed < week.slots_per_day
                }
            })
    })
}

fn empty_proposal(input: &ProposeScannerInput, snapshot_sha256: &str) -> ScannerBookingProposal {
    ScannerBookingProposal {
        booking_id: input.booking_id.clone(),
        revision: input.revision,
        week_start: input.week.week_start.clone(),
        days: input.week.days,
        solver_status: String::new(),
        objective: 0.0,
        mip_gap: None,
        solve_seconds: 0.0,
        booked: Vec::new(),
        waiting: Vec::new(),
        breaches: Vec::new(),
        scanner_days: Vec::new(),
        overbooked_slots: 0,
        expected_overtime_slots: 0.0,
        over_policy: Vec::new(),
        policy: input.week.policy.clone(),
        overbooking_allowed: input.overbooking_allowed,
        conflicts: Vec::new(),
        no_show: input.no_shows.provenance.clone(),
        decision_step: format!("solve/r{}", input.revision),
        snapshot_sha256: snapshot_sha256.to_owned(),
    }
}

/// The proposal as the imaging manager reads it, measured against the week's policy.
fn describe(
    input: &ProposeScannerInput,
    built: &SolverInput,
    plan: &ScannerPlan,
    snapshot_sha256: &str,
) -> ScannerBookingProposal {
    let week = &input.week;
    let request_of: HashMap<&str, &ScanRequestEntry> = week
        .requests
        .iter()
        .map(|r| (r.request_id.as_str(), r))
        .collect();
    let probability: HashMap<&str, f64> = built
        .input
        .requests
        .iter()
        .map(|r| (r.id.as_str(), r.no_show_probability))
        .collect();
    let booked: Vec<ScanBooked> = plan
        .bookings
        .iter()
        .map(|b| {
            let r = request_of[b.request.as_str()];
            ScanBooked {
                request_id: r.request_id.clone(),
                patient_key: r.patient_key.clone(),
                modality: r.modality,
                urgency: r.urgency,
                scanner_id: b.scanner.clone(),
                day: b.day,
                start_slot: b.start_slot,
                overbooked: b.overbooked,
                no_show_probability: probability[b.request.as_str()],
                days_late: b.day.saturating_sub(r.deadline_day),
            }
        })
        .collect();
    let mut breaches = built.unservable.clone();
    for b in booked.iter().filter(|b| b.days_late > 0) {
        let r = request_of[b.request_id.as_str()];
        breaches.push(ScanBreach {
            request_id: b.request_id.clone(),
            urgency: b.urgency,
            modality: b.modality,
            deadline_day: r.deadline_day,
            booked_day: Some(b.day),
            why: format!(
                "booked on day {}, {} day(s) after its deadline: the {} slots before it hold \
                 more urgent or earlier-due scans",
                b.day,
                b.days_late,
                r.modality.as_str().to_uppercase()
            ),
        });
    }
    let mut waiting = Vec::new();
    for id in &plan.unbooked {
        let r = request_of[id.as_str()];
        if r.deadline_day < week.days {
            breaches.push(ScanBreach {
                request_id: r.request_id.clone(),
                urgency: r.urgency,
                modality: r.modality,
                deadline_day: r.deadline_day,
                booked_day: None,
                why: format!(
                    "not booked this week although due by day {}: every {} slot from day {} \
                     holds a scan at least as urgent, within the overbooking the expected \
                     overtime allows",
                    r.deadline_day,
                    r.modality.as_str().to_uppercase(),
                    r.release_day
                ),
            });
        } else {
            waiting.push(id.clone());
        }
    }
    let scanner_days: Vec<ScannerDayLoad> = plan
        .scanner_days
        .iter()
        .map(|d| ScannerDayLoad {
            scanner_id: d.scanner.clone(),
            day: d.day,
            open_slots: d.open_slots,
            booked_slots: d.booked_slots,
            expected_overtime_slots: d.expected_overtime_slots,
        })
        .collect();
    let overbooked_slots = plan.cost.overbooked_slots;
    let policy = &week.policy;
    let mut over_policy = Vec::new();
    if overbooked_slots > policy.max_overbooked_slots {
        over_policy.push(format!(
            "{overbooked_slots} overbooked slot(s); policy books up to {} without approval",
            policy.max_overbooked_slots
        ));
    }
    if breaches.len() as u32 > policy.max_breached_deadlines {
        over_policy.push(format!(
            "{} request(s) miss their deadline; policy allows {} without approval",
            breaches.len(),
            policy.max_breached_deadlines
        ));
    }
    for b in breaches.iter().filter(|b| b.urgency.hard_deadline()) {
        over_policy.push(format!(
            "{} request {} cannot be scanned by its deadline",
            b.urgency.as_str(),
            b.request_id
        ));
    }
    ScannerBookingProposal {
        solver_status: status_name(plan.header.status),
        objective: plan.header.objective,
        mip_gap: plan.header.mip_gap,
        solve_seconds: plan.header.elapsed_s,
        expected_overtime_slots: scanner_days.iter().map(|d| d.expected_overtime_slots).sum(),
        booked,
        waiting,
        breaches,
        scanner_days,
        overbooked_slots,
        over_policy,
        ..empty_proposal(input, snapshot_sha256)
    }
}
