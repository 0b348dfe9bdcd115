//! Replaying and explaining stored decision steps.
//!
//! Every solver and forecaster step stores its whole input as a snapshot
//! (`careflow_store::decisions`). [`STEP_KINDS`] maps a snapshot's kind to the process
//! that made it (whose approver may read it), the function that runs it again, and the
//! one that explains its result; a new process plugs in with one entry. [`Decisions`]
//! is the service the CLI and the API call: it checks who reads, loads the step (the
//! snapshot's hash checked), runs or explains it, and audits each replay.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use careflow_solvers::bed_allocation::{BedInput, BedPlan};
use careflow_solvers::nurse_rostering::{self as nr, RosterInput};
use careflow_solvers::plan::PlanHeader;
use careflow_solvers::scanner_booking::{self as sb, ScannerInput};
use careflow_solvers::theatre_booking::{Priority, TheatreInput};
use careflow_store::decisions::{self, DecisionResult, StoredDecision};
use careflow_store::{Db, Error, Result};
use careflow_types::{
    CostTerm, DecisionExplanation, ExplainedChange, ReplayReport, ReplayVerdict, Role,
};

use crate::bed_plan::{self, BedSolveResult};
use crate::nurse_rostering::{self, RosterSolveResult};
use crate::scanner_booking::{self, ScannerSolveResult};
use crate::theatre_booking::{self, TheatreSolveResult};

/// A step run again: what it produced, to compare with the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// Digest of the result, comparable with the step's `result_digest`.
    pub result_digest: String,
    /// Weighted objective, for solver steps that found a plan.
    pub objective: Option<f64>,
    /// MIP gap HiGHS reported.
    pub mip_gap: Option<f64>,
}

/// What a solver step produced, as `decision_results` keeps it for `explain`: the
/// solver's plan (none when the input was infeasible) and the proposal the approver saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolveStepResult<Plan, Proposal> {
    /// The solver's plan.
    pub plan: Option<Plan>,
    /// The proposal made of it.
    pub proposal: Proposal,
}

impl<Plan: Serialize, Proposal: Serialize> SolveStepResult<Plan, Proposal> {
    /// The row `decision_results` keeps for step `step` of `workflow_id`; `header`
    /// finds the plan's objective and gap.
    pub fn to_record(
        &self,
        workflow_id: &str,
        step: &str,
        solver_status: &str,
        header: fn(&Plan) -> &PlanHeader,
    ) -> DecisionResult {
        let h = self.plan.as_ref().map(header);
        DecisionResult {
            workflow_id: workflow_id.to_owned(),
            step: step.to_owned(),
            solver_status: solver_status.to_owned(),
            objective: h.map(|h| h.objective),
            mip_gap: h.and_then(|h| h.mip_gap),
            result_json: serde_json::to_string(self).expect("result serialises"),
        }
    }
}

/// Runs a stored step again from its snapshot (models read from the directory given).
pub type ReplayFn = fn(&Path, &StoredDecision) -> std::result::Result<Replayed, String>;
/// Explains a stored step from its snapshot and recorded result.
pub type ExplainFn = fn(&StoredDecision) -> std::result::Result<Explained, String>;

/// A step kind: the snapshot kind, the role that approves the process's decisions, and
/// how to replay and explain it.
pub struct StepKind {
    /// Snapshot kind, as `decision_snapshots.kind` stores it.
    pub kind: &'static str,
    /// The process's approver, who may read its decisions besides auditors and admins.
    pub approver: Role,
    /// Runs the step again.
    pub replay: ReplayFn,
    /// Explains it; `None` for forecaster steps, which have no objective or constraints.
    pub explain: Option<ExplainFn>,
}

/// The explanation a kind gives, before the step's identity is added.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Explained {
    /// How the solve ended.
    pub solver_status: String,
    /// Objective.
    pub objective: Option<f64>,
    /// MIP gap.
    pub mip_gap: Option<f64>,
    /// Objective by term.
    pub cost_terms: Vec<CostTerm>,
    /// Constraints that bind.
    pub binding: Vec<String>,
    /// Changes against the plan before, and deferrals.
    pub changes: Vec<ExplainedChange>,
    /// Conflicts of an infeasible input.
    pub conflicts: Vec<String>,
}

/// Every step kind careflow can replay. Scanner and roster steps add their entry here.
pub const STEP_KINDS: &[StepKind] = &[
    StepKind {
        kind: bed_plan::SOLVE_SNAPSHOT,
        approver: Role::BedManager,
        replay: replay_bed_solve,
        explain: Some(explain_bed_solve),
    },
    StepKind {
        kind: bed_plan::FORECAST_SNAPSHOT,
        approver: Role::BedManager,
        replay: replay_bed_forecast,
        explain: None,
    },
    StepKind {
        kind: theatre_booking::SOLVE_SNAPSHOT,
        approver: Role::TheatreAdmin,
        replay: replay_theatre_solve,
        explain: Some(explain_theatre_solve),
    },
    StepKind {
        kind: theatre_booking::FORECAST_SNAPSHOT,
        approver: Role::TheatreAdmin,
        replay: replay_theatre_forecast,
        explain: None,
    },
    StepKind {
        kind: nurse_rostering::SOLVE_SNAPSHOT,
        approver: Role::DepartmentHead,
        replay: replay_roster_solve,
        explain: Some(explain_roster_solve),
    },
    StepKind {
        kind: scanner_booking::SOLVE_SNAPSHOT,
        approver: Role::ImagingManager,
        replay: replay_scanner_solve,
        explain: Some(explain_scanner_solve),
    },
];

/// The entry for a snapshot kind.
pub fn step_kind(kind: &str) -> Result<&'static StepKind> {
    STEP_KINDS.iter().find(|k| k.kind == kind).ok_or_else(|| {
        Error::Invalid(format!(
            "snapshot kind {kind:?} has no replay (known: {})",
            STEP_KINDS
                .iter()
                .map(|k| k.kind)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// Replays and explains stored decisions for a caller.
#[derive(Clone)]
pub struct Decisions {
    db: Db,
    models_dir: PathBuf,
}

impl Decisions {
    /// The service over `db`, replaying forecasts with the models in `models_dir`.
    pub fn new(db: Db, models_dir: PathBuf) -> Self {
        Self { db, models_dir }
    }

    async fn load_for(
        &self,
        user: &str,
        role: Role,
        workflow_id: &str,
        step: Option<&str>,
    ) -> Result<(StoredDecision, &'static StepKind)> {
        let stored = decisions::load(&self.db, workflow_id, step).await?;
        let kind = step_kind(&stored.snapshot.kind)?;
        decisions::check_may_read(user, role, kind.approver)?;
        Ok((stored, kind))
    }

    /// Runs a step again from its snapshot, with its seed, time limit and threads, and
    /// says whether the result is identical, within the recorded gap, or different.
    /// Audited (`decision.replayed`, with the verdict).
    pub async fn replay(
        &self,
        user: &str,
        role: Role,
        workflow_id: &str,
        step: Option<&str>,
    ) -> Result<ReplayReport> {
        let (stored, kind) = self.load_for(user, role, workflow_id, step).await?;
        let models_dir = self.models_dir.clone();
        let replay = kind.replay;
        let started = std::time::Instant::now();
        let (stored, replayed) = tokio::task::spawn_blocking(move || {
            let r = replay(&models_dir, &stored);
            (stored, r)
        })
        .await
        .map_err(|e| Error::Invalid(format!("replay panicked: {e}")))?;
        let elapsed_s = started.elapsed().as_secs_f64();
        let replayed = replayed.map_err(|e| {
            Error::Invalid(format!(
                "decision step {} of workflow {workflow_id}: {e}",
                stored.step.step
            ))
        })?;
        let report = report(&stored, replayed, elapsed_s);
        decisions::record_replay(
            &self.db,
            user,
            role,
            &stored.step,
            &report.summary,
            &report.replayed_digest,
        )
        .await?;
        Ok(report)
    }

    /// Explains a step from its snapshot and recorded result: cost by term, binding
    /// constraints, and what changed against the plan before (who moved, who was
    /// deferred and why).
    pub async fn explain(
        &self,
        user: &str,
        role: Role,
        workflow_id: &str,
        step: Option<&str>,
    ) -> Result<DecisionExplanation> {
        let (stored, kind) = self.load_for(user, role, workflow_id, step).await?;
        let explain = kind.explain.ok_or_else(|| {
            Error::Invalid(format!(
                "decision step {} ({}) has no explanation: forecasts have no objective or \
                 constraints; replay it to check it",
                stored.step.step, kind.kind
            ))
        })?;
        let e = explain(&stored).map_err(|e| {
            Error::Invalid(format!(
                "decision step {} of workflow {workflow_id}: {e}",
                stored.step.step
            ))
        })?;
        Ok(DecisionExplanation {
            workflow_id: stored.step.workflow_id.clone(),
            step: stored.step.step.clone(),
            kind: stored.snapshot.kind.clone(),
            snapshot_sha256: stored.snapshot.sha256.clone(),
            solver_status: e.solver_status,
            objective: e.objective,
            mip_gap: e.mip_gap,
            cost_terms: e.cost_terms,
            binding: e.binding,
            changes: e.changes,
            conflicts: e.conflicts,
        })
    }
}

/// Tolerance on an objective compared within a gap: rounding in the solver's sums.
const OBJECTIVE_TOLERANCE: f64 = 1e-6;

fn report(stored: &StoredDecision, replayed: Replayed, elapsed_s: f64) -> ReplayReport {
    let step = &stored.step;
    let recorded = stored.result.as_ref();
    let recorded_objective = recorded.and_then(|r| r.objective);
    let recorded_gap = recorded.and_then(|r| r.mip_gap);
    let (verdict, summary) = if replayed.result_digest == step.result_digest {
        (
            ReplayVerdict::Identical,
            format!(
                "replay of {} is identical to the recorded result",
                step.step
            ),
        )
    } else {
        match (recorded_objective, replayed.objective) {
            (Some(was), Some(now)) => {
                // Either solve's gap bounds how far from optimal it may be; two plans
                // inside the larger gap are equally good as far as the solver proved.
                let gap = recorded_gap
                    .unwrap_or(0.0)
                    .max(replayed.mip_gap.unwrap_or(0.0));
                let allowed = gap * was.abs().max(now.abs()) + OBJECTIVE_TOLERANCE;
                if (now - was).abs() <= allowed {
                    (
                        ReplayVerdict::WithinGap,
                        format!(
                            "replay of {} found a different plan with objective {now:.4} \
                             against the recorded {was:.4}, within the gap ({:.4}%)",
                            step.step,
                            gap * 100.0
                        ),
                    )
                } else {
                    (
                        ReplayVerdict::Differs,
                        format!(
                            "replay of {} DIFFERS: objective {now:.4} against the recorded \
                             {was:.4}, outside the gap ({:.4}%)",
                            step.step,
                            gap * 100.0
                        ),
                    )
                }
            }
            _ => (
                ReplayVerdict::Differs,
                format!(
                    "replay of {} DIFFERS: result digest {} against the recorded {}",
                    step.step, replayed.result_digest, step.result_digest
                ),
            ),
        }
    };
    ReplayReport {
        workflow_id: step.workflow_id.clone(),
        step: step.step.clone(),
        kind: stored.snapshot.kind.clone(),
        snapshot_sha256: stored.snapshot.sha256.clone(),
        verdict,
        recorded_digest: step.result_digest.clone(),
        replayed_digest: replayed.result_digest,
        recorded_objective,
        replayed_objective: replayed.objective,
        recorded_gap,
        replayed_gap: replayed.mip_gap,
        elapsed_s,
        summary,
    }
}

fn recorded_result(stored: &StoredDecision) -> std::result::Result<&DecisionResult, String> {
    stored.result.as_ref().ok_or_else(|| {
        "its result was not kept (recorded before careflow kept step results): replay it \
         to check it"
            .to_owned()
    })
}

fn replay_bed_solve(
    _models: &Path,
    stored: &StoredDecision,
) -> std::result::Result<Replayed, String> {
    let (outcome, _) = bed_plan::replay_solve(&stored.snapshot.json, &stored.step)?;
    Ok(match &outcome {
        BedSolveResult::Plan(plan) => Replayed {
            result_digest: outcome.digest(),
            objective: Some(plan.header.objective),
            mip_gap: plan.header.mip_gap,
        },
        BedSolveResult::Infeasible(_) => Replayed {
            result_digest: outcome.digest(),
            objective: None,
            mip_gap: None,
        },
    })
}

fn replay_bed_forecast(
    models: &Path,
    stored: &StoredDecision,
) -> std::result::Result<Replayed, String> {
    let demand = bed_plan::replay_forecast(models, &stored.snapshot.json, &stored.step)?;
    Ok(Replayed {
        result_digest: careflow_store::audit::sha256_json(&demand),
        objective: None,
        mip_gap: None,
    })
}

fn replay_theatre_solve(
    _models: &Path,
    stored: &StoredDecision,
) -> std::result::Result<Replayed, String> {
    let r = theatre_booking::replay_solve(&stored.snapshot.json, &stored.step)?;
    Ok(Replayed {
        result_digest: r.result_digest,
        objective: Some(r.objective),
        mip_gap: r.mip_gap,
    })
}

fn replay_theatre_forecast(
    models: &Path,
    stored: &StoredDecision,
) -> std::result::Result<Replayed, String> {
    Ok(Replayed {
        result_digest: theatre_booking::replay_forecast(
            models,
            &stored.snapshot.json,
            &stored.step,
        )?,
        objective: None,
        mip_gap: None,
    })
}

fn replay_roster_solve(
    _models: &Path,
    stored: &StoredDecision,
) -> std::result::Result<Replayed, String> {
    let r = nurse_rostering::replay_solve(&stored.snapshot.json, &stored.step)?;
    Ok(Replayed {
        result_digest: r.result_digest,
        objective: Some(r.objective),
        mip_gap: r.mip_gap,
    })
}

fn replay_scanner_solve(
    _models: &Path,
    stored: &StoredDecision,
) -> std::result::Result<Replayed, String> {
    let r = scanner_booking::replay_solve(&stored.snapshot.json, &stored.step)?;
    Ok(Replayed {
        result_digest: r.result_digest,
        objective: Some(r.objective),
        mip_gap: r.mip_gap,
    })
}

fn term(term: &str, amount: f64, weight: f64) -> CostTerm {
    CostTerm {
        term: term.to_owned(),
        amount,
        weight,
        cost: amount * weight,
    }
}

fn explain_bed_solve(stored: &StoredDecision) -> std::result::Result<Explained, String> {
    let input = BedInput::from_json(&stored.snapshot.json).map_err(|e| e.to_string())?;
    let result = recorded_result(stored)?;
    let outcome: BedSolveResult =
        serde_json::from_str(&result.result_json).map_err(|e| format!("recorded result: {e}"))?;
    let plan = match outcome {
        BedSolveResult::Infeasible(conflicts) => return Ok(unsolved("infeasible", &conflicts)),
        BedSolveResult::Plan(plan) => plan,
    };
    Ok(Explained {
        solver_status: result.solver_status.clone(),
        objective: Some(plan.header.objective),
        mip_gap: plan.header.mip_gap,
        cost_terms: bed_cost_terms(&input, &plan),
        binding: bed_binding(&input, &plan),
        changes: bed_changes(&input, &plan),
        conflicts: Vec::new(),
    })
}

fn bed_cost_terms(input: &BedInput, plan: &BedPlan) -> Vec<CostTerm> {
    let w = &input.weights;
    let c = &plan.cost;
    vec![
        term(
            "outlier patient-days (on a ward not of their specialty)",
            f64::from(c.outlier_days),
            w.outlier,
        ),
        term(
            "patients moved from their current room",
            f64::from(c.transfers),
            w.transfer,
        ),
        term(
            "patients in another room than the plan in force",
            f64::from(c.changes),
            w.change,
        ),
        term(
            "bed-days short of the emergency reserve",
            c.reserve_shortfall,
            w.reserve_shortfall,
        ),
    ]
}

/// Wards and days with every bed taken or their emergency reserve not met or just met.
fn bed_binding(input: &BedInput, plan: &BedPlan) -> Vec<String> {
    let level = input.weights.reserve_level;
    let mut out = Vec::new();
    for wd in &plan.ward_days {
        let free = f64::from(wd.free);
        if wd.free == 0 {
            out.push(format!(
                "ward {} day {}: every bed is taken",
                wd.ward, wd.day
            ));
        } else if free < wd.reserve {
            out.push(format!(
                "ward {} day {}: {} bed(s) free, {:.0} kept for emergencies (forecast {level} \
                 quantile): the reserve is not met",
                wd.ward, wd.day, wd.free, wd.reserve
            ));
        } else if wd.reserve > 0.0 && free - wd.reserve < 1.0 {
            out.push(format!(
                "ward {} day {}: {} bed(s) free, exactly the emergency reserve: no bed to spare",
                wd.ward, wd.day, wd.free
            ));
        }
    }
    out
}

/// Who the plan moves from their bed, and who lands in another room than the plan in
/// force gave them, with why.
fn bed_changes(input: &BedInput, plan: &BedPlan) -> Vec<ExplainedChange> {
    let ward_of = |room: &str| {
        input
            .rooms
            .iter()
            .find(|r| r.id == room)
            .map(|r| r.ward.clone())
            .unwrap_or_default()
    };
    let specialty_of = |ward: &str| {
        input
            .wards
            .iter()
            .find(|w| w.id == ward)
            .map(|w| w.specialties.join("/"))
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for a in &plan.assignments {
        let patient = input.patients.iter().find(|p| p.id == a.patient);
        let current = patient.and_then(|p| p.current_room.clone());
        let before = input
            .previous
            .iter()
            .find(|p| p.patient == a.patient)
            .map(|p| p.room.clone());
        if a.transfer {
            let from = current.clone().unwrap_or_default();
            let from_ward = ward_of(&from);
            let why = if !a.outlier && specialty_of(&from_ward) != specialty_of(&a.ward) {
                format!(
                    "back to a {} ward, the patient's specialty ({} is {})",
                    specialty_of(&a.ward),
                    from_ward,
                    specialty_of(&from_ward)
                )
            } else if a.outlier {
                format!(
                    "placed as an outlier on {}: no {} bed suits the patient",
                    a.ward,
                    patient.map(|p| p.specialty.as_str()).unwrap_or("")
                )
            } else {
                format!("frees a bed on {from_ward} for forecast emergency admissions")
            };
            out.push(ExplainedChange {
                subject: a.patient.clone(),
                patient_key: None,
                change: "moved".into(),
                from: Some(from),
                to: Some(a.room.clone()),
                why,
            });
        } else if before.as_ref().is_some_and(|b| *b != a.room) {
            out.push(ExplainedChange {
                subject: a.patient.clone(),
                patient_key: None,
                change: "moved".into(),
                from: before,
                to: Some(a.room.clone()),
                why: "stays in their current bed, which the plan in force had moved".into(),
            });
        }
    }
    out
}

/// A solver step's kept result (plan and proposal), read back for `explain`.
fn kept_solve<Plan: DeserializeOwned, Proposal: DeserializeOwned>(
    stored: &StoredDecision,
) -> std::result::Result<SolveStepResult<Plan, Proposal>, String> {
    serde_json::from_str(&recorded_result(stored)?.result_json)
        .map_err(|e| format!("recorded result: {e}"))
}

/// The explanation of a solver step that found no plan: its status and conflicts.
fn unsolved(solver_status: &str, conflicts: &[String]) -> Explained {
    Explained {
        solver_status: solver_status.to_owned(),
        conflicts: conflicts.to_vec(),
        ..Explained::default()
    }
}

fn explain_theatre_solve(stored: &StoredDecision) -> std::result::Result<Explained, String> {
    let input = TheatreInput::from_json(&stored.snapshot.json).map_err(|e| e.to_string())?;
    let recorded: TheatreSolveResult = kept_solve(stored)?;
    let proposal = &recorded.proposal;
    let Some(plan) = &recorded.plan else {
        return Ok(unsolved(&proposal.solver_status, &proposal.conflicts));
    };
    let w = &input.weights;
    let case = |id: &str| input.cases.iter().find(|c| c.id == id);
    let mut late = [0.0f64; 3];
    for b in &plan.bookings {
        if let Some(c) = case(&b.case) {
            late[c.priority as usize] += f64::from(b.day.saturating_sub(c.due_day));
        }
    }
    let (mut unbooked_soon, mut unbooked_routine) = (0.0, 0.0);
    for id in &plan.unbooked {
        match case(id).map(|c| c.priority) {
            Some(Priority::Soon) => unbooked_soon += 1.0,
            _ => unbooked_routine += 1.0,
        }
    }
    let cost_terms = vec![
        term(
            "planned overtime minutes",
            plan.cost.overtime_minutes,
            w.overtime_minute,
        ),
        term("soon cases left unbooked", unbooked_soon, w.unbooked_soon),
        term(
            "routine cases left unbooked",
            unbooked_routine,
            w.unbooked_routine,
        ),
        term("days late, urgent cases", late[0], w.late_day[0]),
        term("days late, soon cases", late[1], w.late_day[1]),
        term("days late, routine cases", late[2], w.late_day[2]),
        term(
            "booked patients moved from the list in force",
            f64::from(plan.cost.changes),
            w.change,
        ),
    ];

    // A session or a surgeon's day binds when the shortest case left out would not fit
    // in what it has left.
    let planned = |c: &careflow_solvers::theatre_booking::Case| {
        quantile(&c.duration_quantiles, w.robust_level).ceil()
    };
    let shortest_left = |surgeon: Option<&str>| {
        plan.unbooked
            .iter()
            .filter_map(|id| case(id))
            .filter(|c| surgeon.is_none_or(|s| c.surgeon == s))
            .map(planned)
            .fold(f64::INFINITY, f64::min)
    };
    let mut binding = Vec::new();
    let any_left = shortest_left(None);
    for t in &input.theatres {
        for (d, &minutes) in t.session_minutes.iter().enumerate() {
            if minutes == 0 {
                continue;
            }
            let used: u32 = plan
                .bookings
                .iter()
                .filter(|b| b.theatre == t.id && b.day == d as u32)
                .map(|b| b.planned_minutes)
                .sum();
            let room = f64::from(minutes + t.max_overtime_minutes) - f64::from(used);
            if used >= minutes || room < any_left {
                binding.push(format!(
                    "theatre {} day {d}: {used} of {minutes} staffed minutes planned (overtime \
                     allowed {}): no case left out fits",
                    t.id, t.max_overtime_minutes
                ));
            }
        }
    }
    for s in &input.surgeons {
        let left = shortest_left(Some(&s.id));
        if !left.is_finite() {
            continue;
        }
        for &d in &s.available_days {
            let used: u32 = plan
                .bookings
                .iter()
                .filter(|b| b.day == d && case(&b.case).is_some_and(|c| c.surgeon == s.id))
                .map(|b| b.planned_minutes)
                .sum();
            if used > 0 && f64::from(s.max_minutes_per_day) - f64::from(used) < left {
                binding.push(format!(
                    "surgeon {} day {d}: {used} of the {}-minute daily limit planned; their \
                     shortest case left out needs {left:.0}",
                    s.id, s.max_minutes_per_day
                ));
            }
        }
    }

    let mut changes: Vec<ExplainedChange> = proposal
        .changes
        .iter()
        .map(|c| ExplainedChange {
            subject: c.case_id.clone(),
            patient_key: Some(c.patient_key.clone()),
            change: if c.to_day.is_some() {
                "moved".into()
            } else {
                "deferred".into()
            },
            from: Some(format!("theatre {} day {}", c.from_theatre, c.from_day)),
            to: c
                .to_theatre
                .as_ref()
                .zip(c.to_day)
                .map(|(t, d)| format!("theatre {t} day {d}")),
            why: c.why.clone(),
        })
        .collect();
    for d in &proposal.deferred {
        if changes.iter().any(|c| c.subject == d.case_id) {
            continue;
        }
        changes.push(ExplainedChange {
            subject: d.case_id.clone(),
            patient_key: Some(d.patient_key.clone()),
            change: "deferred".into(),
            from: None,
            to: None,
            why: d.reason.clone(),
        });
    }
    Ok(Explained {
        solver_status: proposal.solver_status.clone(),
        objective: Some(plan.header.objective),
        mip_gap: plan.header.mip_gap,
        cost_terms,
        binding,
        changes,
        conflicts: Vec::new(),
    })
}

fn explain_roster_solve(stored: &StoredDecision) -> std::result::Result<Explained, String> {
    let input = RosterInput::from_json(&stored.snapshot.json).map_err(|e| e.to_string())?;
    let recorded: RosterSolveResult = kept_solve(stored)?;
    let proposal = &recorded.proposal;
    let Some(plan) = &recorded.plan else {
        return Ok(unsolved(&proposal.solver_status, &proposal.conflicts));
    };
    let w = &input.weights;
    let cost_terms = vec![
        term(
            "nurse-shifts short of the cover",
            f64::from(plan.cost.short),
            f64::from(w.cover_under),
        ),
        term(
            "nurse-shifts above the cover",
            f64::from(plan.cost.over),
            f64::from(w.cover_over),
        ),
        term(
            "requested days off not granted",
            f64::from(plan.cost.unmet_requests),
            f64::from(w.day_off_request),
        ),
        term(
            "cells changed against the roster in force",
            f64::from(plan.cost.changes),
            f64::from(w.change),
        ),
    ];
    let mut binding = nr::binding(&input, plan);
    binding.extend(nr::why_short(&input, plan).iter().map(|s| s.describe()));
    let after = if proposal.replanned_after.is_empty() {
        String::new()
    } else {
        format!(" after {}", proposal.replanned_after.join("; "))
    };
    let shift_name = |s: &Option<String>| s.clone().unwrap_or_else(|| "off".into());
    let mut changes: Vec<ExplainedChange> = proposal
        .changes
        .iter()
        .map(|c| ExplainedChange {
            subject: format!("nurse {} day {}", c.nurse_id, c.day),
            patient_key: None,
            change: "re-rostered".into(),
            from: Some(shift_name(&c.from_shift)),
            to: Some(shift_name(&c.to_shift)),
            why: format!("day {} re-rostered{after}", c.day),
        })
        .collect();
    changes.extend(proposal.unmet_requests.iter().map(|u| ExplainedChange {
        subject: format!("nurse {} day {}", u.nurse_id, u.day),
        patient_key: None,
        change: "day off refused".into(),
        from: None,
        to: Some(u.shift_id.clone()),
        why: format!(
            "the cover of shift {} needed them (a refused request costs {}, a nurse short {})",
            u.shift_id, w.day_off_request, w.cover_under
        ),
    }));
    Ok(Explained {
        solver_status: proposal.solver_status.clone(),
        objective: Some(plan.header.objective),
        mip_gap: plan.header.mip_gap,
        cost_terms,
        binding,
        changes,
        conflicts: Vec::new(),
    })
}

fn explain_scanner_solve(stored: &StoredDecision) -> std::result::Result<Explained, String> {
    let input = ScannerInput::from_json(&stored.snapshot.json).map_err(|e| e.to_string())?;
    let recorded: ScannerSolveResult = kept_solve(stored)?;
    let proposal = &recorded.proposal;
    let Some(plan) = &recorded.plan else {
        return Ok(unsolved(&proposal.solver_status, &proposal.conflicts));
    };
    let p = &input.policy;
    let cost_terms = vec![
        term(
            "routine requests waiting for next week",
            f64::from(plan.cost.unbooked),
            p.unbooked_routine,
        ),
        term(
            "days booked past a deadline",
            f64::from(plan.cost.late_days),
            p.late_day,
        ),
        term(
            "bookings moved from the week in force",
            f64::from(plan.cost.changes),
            p.change,
        ),
        term(
            "overbooked slots",
            f64::from(plan.cost.overbooked_slots),
            p.overbooked_slot,
        ),
    ];
    let mut changes: Vec<ExplainedChange> = proposal
        .waiting
        .iter()
        .map(|id| ExplainedChange {
            subject: id.clone(),
            patient_key: None,
            change: "waits for next week".into(),
            from: None,
            to: None,
            why: sb::why_waiting(&input, plan, id),
        })
        .collect();
    for b in proposal.booked.iter().filter(|b| b.days_late > 0) {
        changes.push(ExplainedChange {
            subject: b.request_id.clone(),
            patient_key: Some(b.patient_key.clone()),
            change: format!("booked {} days late", b.days_late),
            from: None,
            to: Some(format!("scanner {} day {}", b.scanner_id, b.day)),
            why: sb::why_waiting(&input, plan, &b.request_id),
        });
    }
    for breach in &proposal.breaches {
        if changes.iter().any(|c| c.subject == breach.request_id) {
            continue;
        }
        changes.push(ExplainedChange {
            subject: breach.request_id.clone(),
            patient_key: None,
            change: "deadline missed".into(),
            from: None,
            to: breach.booked_day.map(|d| format!("day {d}")),
            why: breach.why.clone(),
        });
    }
    Ok(Explained {
        solver_status: proposal.solver_status.clone(),
        objective: Some(plan.header.objective),
        mip_gap: plan.header.mip_gap,
        cost_terms,
        binding: sb::binding(&input, plan),
        changes,
        conflicts: Vec::new(),
    })
}

/// The `level` quantile of a duration, linear between the given quantiles (as the
/// theatre model reads them).
fn quantile(qs: &[(f64, f64)], level: f64) -> f64 {
    let mut sorted = qs.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in sorted.windows(2) {
        let ((l0, v0), (l1, v1)) = (pair[0], pair[1]);
        if level <= l1 {
            return v0 + (level - l0).max(0.0) / (l1 - l0) * (v1 - v0);
        }
    }
    sorted.last().map_or(0.0, |q| q.1)
}
