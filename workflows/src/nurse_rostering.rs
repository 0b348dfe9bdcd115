//! A ward's nurse roster over one to four weeks.
//!
//! The ward's nurses (contracted hours, skills, requested days off, leave) and shifts
//! are checked field by field; the production `bed-demand` model forecasts the ward's
//! census (its name, version and file hash recorded) and each shift needs the census's
//! 0.9 quantile over its nurse-to-patient ratio; the rostering MILP rosters the ward.
//! The department head approves or rejects the roster, seeing its cover, the requested
//! days off it does not grant and how evenly nights, weekends and hours fall between
//! nurses (escalating to the site manager at the deadline); whoever asked for the
//! roster may not approve it. An approved roster is published and stays in force for
//! the period; a rejected one leaves none in force until a revised request (or an
//! event) plans it again.
//!
//! A sick call or a surge re-rosters only the days it affects, warm-started from the
//! roster in force with a change penalty (fewest changes); the ward's nurse in charge
//! approves the re-roster (escalating to the department head); rejected, the roster in
//! force stays as it is. The workflow ends when the period does; cancelling it
//! withdraws an open proposal and leaves the roster in force as it is.
//!
//! States: requested -> forecasting -> solving -> awaiting approval -> published |
//! rejected -> (sick call, surge or revised request -> forecasting ...) -> ended; or
//! solving -> infeasible; or cancelled at any point.

// The workflow macros generate undocumented items.
#![allow(missing_docs)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, SyncWorkflowContext, WorkflowCancellationToken,
    WorkflowContext, WorkflowContextView, WorkflowResult,
};

use careflow_activities::nurse_rostering::{
    ConcludeRosterInput, ForecastDemandInput, ProposeRosterInput, RosterActivities,
    WithdrawRosterInput,
};
use careflow_types::{
    Decision, FieldError, NurseRosteringInput, Role, RosterChange, RosterEvent, RosterOutcome,
    RosterProposal, RosterRequest, RosterRevision, RosterStage, RosterStatus, TaskKind,
};

use crate::approval::{self, Approval, ApprovalRequest, AwaitsApproval};

/// How long the department head has to decide on a period's roster before it
/// escalates: rosters are published weeks ahead, so a working day.
pub const ROSTER_APPROVAL_DEADLINE: Duration = Duration::from_secs(24 * 60 * 60);
/// How long the nurse in charge has to decide on a re-roster: the shift is short now.
pub const REROSTER_APPROVAL_DEADLINE: Duration = Duration::from_secs(60 * 60);

/// One ward roster's state.
#[workflow]
pub struct NurseRosteringWorkflow {
    roster_id: String,
    /// The request as it stands: sick days applied as leave, or the revised request.
    request: RosterRequest,
    /// Patients above the forecast on each day (surges reported so far).
    extra_patients: Vec<u32>,
    stage: RosterStage,
    revision: u32,
    proposal: Option<RosterProposal>,
    in_force: Option<RosterProposal>,
    events: u32,
    /// Accepted events no revision has answered yet.
    unplanned: Vec<RosterEvent>,
    /// A revised request no revision has answered yet.
    revised: Option<RosterRequest>,
    approval: Approval,
}

impl AwaitsApproval for NurseRosteringWorkflow {
    fn approval(&self) -> &Approval {
        &self.approval
    }
    fn approval_mut(&mut self) -> &mut Approval {
        &mut self.approval
    }
}

#[workflow_methods]
impl NurseRosteringWorkflow {
    /// Starts the roster for `input`.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: NurseRosteringInput) -> Self {
        Self {
            roster_id: input.roster_id,
            extra_patients: vec![0; input.request.days as usize],
            request: input.request,
            stage: RosterStage::Requested,
            revision: 0,
            proposal: None,
            in_force: None,
            events: 0,
            unplanned: Vec::new(),
            revised: None,
            approval: Approval::default(),
        }
    }

    /// Runs the roster to the end of its period.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<RosterOutcome> {
        let result = Self::roster_period(ctx).await;
        if ctx.cancellation_token().is_cancelled() {
            return Self::finish_cancelled(ctx).await;
        }
        result
    }

    /// Where the roster stands (dashboards, CLI).
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> RosterStatus {
        RosterStatus {
            stage: self.stage,
            revision: self.revision,
            in_force: self.in_force.as_ref().map(|p| p.revision),
            task_id: self.approval.pending_task_id(),
            escalations: self.approval.escalations(),
            proposal: self.proposal.clone(),
            events: self.events,
        }
    }

    /// Refuses a decision that is not for the open task, comes second, or comes from
    /// the wrong role or the person who asked for the roster or reported the event.
    #[update_validator(decide)]
    fn validate_decide(
        &self,
        _ctx: &WorkflowContextView,
        decision: &Decision,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.approval.validate(decision)?)
    }

    /// The approver's decision; reaches the workflow exactly once.
    #[update]
    pub fn decide(&mut self, _ctx: &mut SyncWorkflowContext<Self>, decision: Decision) -> String {
        let consequence = if decision.approve {
            ": the roster is published"
        } else {
            ": the roster is not published"
        };
        self.approval.accept(decision) + consequence
    }

    /// Refuses an event the roster cannot take: a nurse not on the ward, a day outside
    /// the period, a surge without a reason, or a roster already over. Each problem is
    /// located by field.
    #[update_validator(report_event)]
    fn validate_report_event(
        &self,
        _ctx: &WorkflowContextView,
        event: &RosterEvent,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.stage.is_final() {
            return Err(format!("the roster is {}; no event is taken", self.stage.as_str()).into());
        }
        self.request
            .check_event(event)
            .map_err(|errors| located("invalid roster event", &errors).into())
    }

    /// A sick call or a surge: applied at once, re-rostered by the run loop.
    #[update]
    pub fn report_event(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        event: RosterEvent,
    ) -> String {
        self.request.apply(&event);
        if let RosterChange::Surge { extra_patients, .. } = &event.change {
            for d in event.days() {
                if let Some(x) = self.extra_patients.get_mut(d as usize) {
                    *x += extra_patients;
                }
            }
        }
        self.events += 1;
        let days = event.days();
        let answer = format!(
            "{}: days {}-{} are re-rostered",
            event.summary(),
            days.start(),
            days.end()
        );
        self.unplanned.push(event);
        answer
    }

    /// Refuses a revised request unless the last proposal was rejected and no roster is
    /// in force, or when it is for another ward or period or has bad fields (located).
    #[update_validator(revise)]
    fn validate_revise(
        &self,
        _ctx: &WorkflowContextView,
        revision: &RosterRevision,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.stage != RosterStage::Rejected || self.revised.is_some() {
            return Err(format!(
                "the roster is {}; a revised request is taken only after a rejection",
                self.stage.as_str()
            )
            .into());
        }
        let r = &revision.request;
        let mut errors = r.validate().err().unwrap_or_default();
        if r.ward != self.request.ward {
            errors.push(FieldError::new(
                "request.ward",
                format!("this roster is for ward {}", self.request.ward),
            ));
        }
        if r.start_date != self.request.start_date || r.days != self.request.days {
            errors.push(FieldError::new(
                "request.start_date",
                format!(
                    "this roster covers {} days from {}",
                    self.request.days, self.request.start_date
                ),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(located("invalid revised roster request", &errors).into())
        }
    }

    /// A revised request after a rejection: the run loop plans it as the next revision.
    #[update]
    pub fn revise(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        revision: RosterRevision,
    ) -> String {
        let answer = format!(
            "revised request from {}: the roster is planned again",
            revision.request.requested_by
        );
        self.revised = Some(revision.request);
        answer
    }
}

impl NurseRosteringWorkflow {
    async fn roster_period(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<RosterOutcome> {
        let (roster_id, request) = ctx.state(|s| (s.roster_id.clone(), s.request.clone()));
        if let Err(errors) = request.validate() {
            // Nothing has run: a bad request stores nothing.
            return Err(ApplicationFailure::non_retryable(located(
                "invalid roster request",
                &errors,
            ))
            .into());
        }
        let workflow_id = ctx.workflow_id().to_owned();
        let period_end = period_end(&request);
        let mut requested_by = request.requested_by.clone();
        loop {
            let (revision, request, extra_patients, answered, in_force) = ctx.state_mut(|s| {
                (
                    s.revision,
                    s.request.clone(),
                    s.extra_patients.clone(),
                    std::mem::take(&mut s.unplanned),
                    s.in_force.is_some(),
                )
            });
            if let Some(e) = answered.last() {
                requested_by = e.reported_by.clone();
            }
            // A re-roster touches only the days the events affect; with no roster in
            // force the whole period is planned.
            let replan_days: Vec<u32> = if in_force {
                answered
                    .iter()
                    .flat_map(RosterEvent::days)
                    .collect::<BTreeSet<u32>>()
                    .into_iter()
                    .collect()
            } else {
                Vec::new()
            };
            ctx.state_mut(|s| s.stage = RosterStage::Forecasting);
            let demand = ctx
                .execute_activity(
                    RosterActivities::forecast_demand,
                    ForecastDemandInput {
                        workflow_id: workflow_id.clone(),
                        revision,
                        request: request.clone(),
                        extra_patients,
                    },
                    crate::compute_opts(ctx, Duration::from_secs(60)),
                )
                .await?;
            ctx.state_mut(|s| s.stage = RosterStage::Solving);
            // The solver's own limit plus time to read the roster in force and store.
            let solve_timeout = Duration::from_secs(u64::from(request.solve_seconds) + 60);
            let proposal = ctx
                .execute_activity(
                    RosterActivities::propose_roster,
                    ProposeRosterInput {
                        workflow_id: workflow_id.clone(),
                        roster_id: roster_id.clone(),
                        revision,
                        request: request.clone(),
                        demand,
                        replan_days: replan_days.clone(),
                        requested_by: requested_by.clone(),
                        replanned_after: answered.iter().map(RosterEvent::summary).collect(),
                    },
                    crate::compute_opts(ctx, solve_timeout),
                )
                .await?;
            ctx.state_mut(|s| s.proposal = Some(proposal.clone()));
            if proposal.is_infeasible() {
                if !in_force {
                    ctx.state_mut(|s| s.stage = RosterStage::Infeasible);
                    return Ok(Self::outcome(ctx, RosterStage::Infeasible, None));
                }
                // The roster in force stays; the nurse in charge covers by hand.
                ctx.state_mut(|s| s.stage = RosterStage::Published);
            } else {
                let reroster = !replan_days.is_empty();
                let decision = Self::ask_approver(
                    ctx,
                    &workflow_id,
                    &proposal,
                    reroster,
                    requested_by.clone(),
                )
                .await?;
                ctx.execute_activity(
                    RosterActivities::conclude_roster,
                    ConcludeRosterInput {
                        workflow_id: workflow_id.clone(),
                        roster_id: roster_id.clone(),
                        revision,
                        decision: decision.clone(),
                    },
                    short(),
                )
                .await?;
                ctx.state_mut(|s| {
                    if decision.approve {
                        s.in_force = Some(proposal.clone());
                    }
                    s.stage = if s.in_force.is_some() {
                        RosterStage::Published
                    } else {
                        RosterStage::Rejected
                    };
                });
            }

            // Wait for an event or a revised request, or the end of the period.
            let remaining = match (period_end, ctx.workflow_time()) {
                (Some(end), Some(now)) => end
                    .duration_since(now)
                    .unwrap_or_default()
                    .max(Duration::from_secs(1)),
                // Without a clock reading the roster waits out the longest period.
                _ => Duration::from_secs(28 * 24 * 60 * 60),
            };
            let ended = temporalio_sdk::workflows::select! {
                r = ctx.wait_condition(|s: &Self| !s.unplanned.is_empty() || s.revised.is_some()) => { r?; false }
                _ = ctx.timer(remaining) => true
            };
            if ended {
                ctx.state_mut(|s| s.stage = RosterStage::Ended);
                return Ok(Self::outcome(
                    ctx,
                    RosterStage::Ended,
                    Some("the roster period ended".to_owned()),
                ));
            }
            ctx.state_mut(|s| {
                if let Some(r) = s.revised.take() {
                    requested_by = r.requested_by.clone();
                    // Sick days and surges already reported still hold.
                    let mut r = r;
                    for e in &s.unplanned {
                        r.apply(e);
                    }
                    s.request = r;
                }
                s.revision += 1;
            });
        }
    }

    /// Asks the department head (a re-roster: the ward's nurse in charge) to decide on a
    /// revision, escalating after each deadline; whoever asked for it may not.
    async fn ask_approver(
        ctx: &mut WorkflowContext<Self>,
        workflow_id: &str,
        proposal: &RosterProposal,
        reroster: bool,
        requested_by: String,
    ) -> WorkflowResult<Decision> {
        ctx.state_mut(|s| s.stage = RosterStage::AwaitingApproval);
        let (kind, role, escalate_to, deadline) = if reroster {
            (
                TaskKind::Reroster,
                Role::NurseInCharge,
                Role::DepartmentHead,
                REROSTER_APPROVAL_DEADLINE,
            )
        } else {
            (
                TaskKind::Roster,
                Role::DepartmentHead,
                Role::SiteManager,
                ROSTER_APPROVAL_DEADLINE,
            )
        };
        approval::ask(
            ctx,
            ApprovalRequest {
                task_id: format!("{workflow_id}-r{}-approve", proposal.revision),
                kind,
                role,
                escalate_to,
                deadline,
                summary: summary(proposal),
                proposed_bed: None,
                requested_by: Some(requested_by),
            },
        )
        .await
    }

    fn outcome(
        ctx: &WorkflowContext<Self>,
        stage: RosterStage,
        reason: Option<String>,
    ) -> RosterOutcome {
        ctx.state(|s| RosterOutcome {
            stage,
            roster_id: s.roster_id.clone(),
            revisions: s.revision + u32::from(s.proposal.is_some()),
            in_force: s.in_force.clone(),
            last_proposal: s.proposal.clone(),
            reason: reason.or_else(|| {
                s.proposal
                    .as_ref()
                    .filter(|p| p.is_infeasible())
                    .map(|p| p.conflicts.join("; "))
            }),
        })
    }

    async fn finish_cancelled(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<RosterOutcome> {
        let reason = ctx
            .cancellation_token()
            .reason()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "cancelled".to_owned());
        // The clean-up must run although the workflow's own token is cancelled.
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
            .retry_policy(crate::step_retry())
            .cancellation_token(WorkflowCancellationToken::new())
            .build();
        ctx.execute_activity(
            RosterActivities::withdraw_roster,
            WithdrawRosterInput {
                workflow_id: ctx.workflow_id().to_owned(),
                reason: reason.clone(),
            },
            opts,
        )
        .await?;
        ctx.state_mut(|s| {
            s.stage = RosterStage::Cancelled;
            s.approval.withdraw();
        });
        Ok(Self::outcome(ctx, RosterStage::Cancelled, Some(reason)))
    }
}

/// Every problem of an input in one message, each located by its field path.
fn located(what: &str, errors: &[FieldError]) -> String {
    let each: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{what}: {}", each.join("; "))
}

/// Midnight (UTC) after the period's last day.
fn period_end(r: &RosterRequest) -> Option<SystemTime> {
    let last = r.date()? + chrono::Days::new(u64::from(r.days));
    let end = last.and_hms_opt(0, 0, 0)?.and_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(end.timestamp()).ok()?))
}

/// What the approver is asked, in words (staff numbers and counts; no patient data).
fn summary(p: &RosterProposal) -> String {
    let shifts = p.coverage.len();
    let covered = p
        .coverage
        .iter()
        .filter(|c| c.rostered >= c.required)
        .count();
    let mut s = if p.replanned_days.is_empty() {
        format!(
            "Nurse roster for ward {}, {} days from {} (revision {}). ",
            p.ward, p.days, p.start_date, p.revision
        )
    } else {
        format!(
            "Re-roster {} of ward {} for days {:?} after {}: {} cell(s) changed ({}). ",
            p.revision,
            p.ward,
            p.replanned_days,
            p.replanned_after.join("; "),
            p.changes.len(),
            p.changes
                .iter()
                .map(|c| format!(
                    "{} day {} {} -> {}",
                    c.nurse_id,
                    c.day,
                    c.from_shift.as_deref().unwrap_or("off"),
                    c.to_shift.as_deref().unwrap_or("off")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let worst_hours = p
        .loads
        .iter()
        .filter(|l| l.contracted_minutes > 0)
        .min_by(|a, b| {
            (f64::from(a.minutes) / f64::from(a.contracted_minutes))
                .total_cmp(&(f64::from(b.minutes) / f64::from(b.contracted_minutes)))
        });
    s.push_str(&format!(
        "Coverage: {covered} of {shifts} shifts fully staffed, {} nurse-shift(s) short, {} over. \
         Requested days off not granted: {}{}. Fairness: nights spread {}, weekends spread {}, \
         unmet requests spread {}, hours {:.0}%-{:.0}% of contract{}. Solver {} in {:.1} s \
         (gap {}). Demand from {} {} (sha256 {}).",
        p.nurse_shifts_short,
        p.nurse_shifts_over,
        p.unmet_requests.len(),
        if p.unmet_requests.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                p.unmet_requests
                    .iter()
                    .map(|u| format!("{} day {}", u.nurse_id, u.day))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        p.fairness.nights_spread,
        p.fairness.weekends_spread,
        p.fairness.unmet_requests_spread,
        p.fairness.hours_ratio_min * 100.0,
        p.fairness.hours_ratio_max * 100.0,
        worst_hours
            .map(|l| format!(" (lowest {})", l.nurse_id))
            .unwrap_or_default(),
        p.solver_status,
        p.solve_seconds,
        p.mip_gap
            .map_or_else(|| "unknown".to_owned(), |g| format!("{:.2}%", g * 100.0)),
        p.demand.model_name,
        p.demand.model_version,
        &p.demand.model_sha256[..p.demand.model_sha256.len().min(12)],
    ));
    s
}

// Database-only steps: 10 s is ample.
fn short() -> ActivityOptions {
    crate::step_opts(Duration::from_secs(10))
}
