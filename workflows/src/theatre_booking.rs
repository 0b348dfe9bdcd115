//! The week's operating-theatre lists.
//!
//! The week's waiting-list cases (procedure, surgeon, urgency category, days waited)
//! and its theatre sessions (staffed minutes) are checked field by field; the
//! production `surgery-duration` model forecasts every case's duration quantiles (its
//! name, version and file hash recorded); the theatre MILP books the lists, filling
//! sessions, keeping overtime risk low by planning each case at an upper duration
//! quantile, and booking urgent cases inside their category's deadline. The theatre
//! administrator approves or rejects the proposal, seeing utilisation, expected
//! overtime and the cases deferred with the reason (escalating to the site manager at
//! the deadline); the person who asked for the list may not approve it. An approved
//! list is published and stays in force for the week.
//!
//! Day-of events (a case cancelled, an emergency case, a theatre closed, an extra
//! session) re-plan only the days still to come, warm-started from the list in force
//! with a change penalty. A re-plan that moves or defers a booked patient goes back to
//! the theatre administrator (a new task each time); one that moves nobody is published
//! at once, audited. A rejected list leaves no list in force until a change re-plans
//! it. The week ends at its last day or when it is closed; cancelling the workflow
//! withdraws an open proposal and leaves the list in force as it is.
//!
//! States: requested -> forecasting -> solving -> awaiting approval -> published |
//! rejected -> (day-of event -> forecasting ...) -> closed; or solving -> infeasible;
//! or cancelled at any point.

// The workflow macros generate undocumented items.
#![allow(missing_docs)]

use std::time::{Duration, SystemTime};

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, SyncWorkflowContext, WorkflowCancellationToken,
    WorkflowContext, WorkflowContextView, WorkflowResult,
};

use careflow_activities::theatre_booking::{
    ConcludeTheatreInput, ForecastDurationsInput, ProposeTheatreInput, TheatreActivities,
    WithdrawTheatreInput,
};
use careflow_types::{
    CloseWeek, DayOfChange, DayOfEvent, Decision, FieldError, ListConclusion, Role, TaskKind,
    TheatreBookingInput, TheatreListProposal, TheatreListStatus, TheatreStage, TheatreWeekOutcome,
    TheatreWeekRequest, MAX_WEEK_DAYS,
};

use crate::approval::{self, Approval, ApprovalRequest, AwaitsApproval};

/// How long the theatre administrator has to decide on a week's list before it
/// escalates.
pub const LIST_APPROVAL_DEADLINE: Duration = Duration::from_secs(4 * 60 * 60);
/// How long they have to decide on a day-of re-plan that moves booked patients: the
/// day's lists are waiting.
pub const REPLAN_APPROVAL_DEADLINE: Duration = Duration::from_secs(30 * 60);

/// One theatre week's state.
#[workflow]
pub struct TheatreBookingWorkflow {
    list_id: String,
    /// The week as it stands: the request with every accepted day-of event applied.
    week: TheatreWeekRequest,
    stage: TheatreStage,
    revision: u32,
    proposal: Option<TheatreListProposal>,
    in_force: Option<TheatreListProposal>,
    /// The latest day an event happened on; lists before it are done.
    today: u32,
    events: u32,
    /// Accepted events no revision has answered yet.
    unplanned: Vec<DayOfEvent>,
    closed: Option<CloseWeek>,
    approval: Approval,
}

impl AwaitsApproval for TheatreBookingWorkflow {
    fn approval(&self) -> &Approval {
        &self.approval
    }
    fn approval_mut(&mut self) -> &mut Approval {
        &mut self.approval
    }
}

#[workflow_methods]
impl TheatreBookingWorkflow {
    /// Starts the week for `input`.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: TheatreBookingInput) -> Self {
        Self {
            list_id: input.list_id,
            week: input.request,
            stage: TheatreStage::Requested,
            revision: 0,
            proposal: None,
            in_force: None,
            today: 0,
            events: 0,
            unplanned: Vec::new(),
            closed: None,
            approval: Approval::default(),
        }
    }

    /// Runs the week to its end.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<TheatreWeekOutcome> {
        let result = Self::book_week(ctx).await;
        if ctx.cancellation_token().is_cancelled() {
            return Self::finish_cancelled(ctx).await;
        }
        result
    }

    /// Where the week stands (dashboards, CLI).
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> TheatreListStatus {
        TheatreListStatus {
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
    /// the wrong role or the person who asked for the list or reported the event.
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
            ": the theatre list is published"
        } else {
            ": the theatre list is not published"
        };
        self.approval.accept(decision) + consequence
    }

    /// Refuses an event the week cannot take: a field out of range, a case, theatre or
    /// session that is not there, a day before the last event, a case already
    /// operated, or a week already closed. Each problem is located by field.
    #[update_validator(report_event)]
    fn validate_report_event(
        &self,
        _ctx: &WorkflowContextView,
        event: &DayOfEvent,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.closed.is_some() || is_final(self.stage) {
            return Err(format!(
                "the week's lists are {}; no event is taken",
                self.stage.as_str()
            )
            .into());
        }
        let mut errors = self
            .week
            .check_event(event, self.today)
            .err()
            .unwrap_or_default();
        if let DayOfChange::CaseCancelled { case_id, .. } = &event.change {
            let operated = self.in_force.as_ref().and_then(|p| {
                p.booked
                    .iter()
                    .find(|b| &b.case_id == case_id && b.day < event.day)
            });
            if let Some(b) = operated {
                errors.push(FieldError::new(
                    "change.case_id",
                    format!(
                        "case {case_id} was operated on day {}; it cannot be cancelled on day {}",
                        b.day, event.day
                    ),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(located("invalid day-of event", &errors).into())
        }
    }

    /// A day-of event: applied to the week at once, re-planned by the run loop.
    #[update]
    pub fn report_event(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        event: DayOfEvent,
    ) -> String {
        self.week.apply(&event);
        self.today = event.day;
        self.events += 1;
        let answer = format!(
            "{}: the lists are re-planned from day {}",
            event.summary(),
            event.day
        );
        self.unplanned.push(event);
        answer
    }

    /// Refuses to close a week already closed, one whose list awaits a decision, or
    /// without saying who and why.
    #[update_validator(close_week)]
    fn validate_close_week(
        &self,
        _ctx: &WorkflowContextView,
        req: &CloseWeek,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.closed.is_some() || is_final(self.stage) {
            return Err("the week is already closed".into());
        }
        if let Some(task) = self.approval.pending_task_id() {
            return Err(format!(
                "task {task} awaits a decision; decide it before closing the week"
            )
            .into());
        }
        let mut errors = Vec::new();
        if req.closed_by.trim().is_empty() {
            errors.push(FieldError::new(
                "closed_by",
                "must name who closes the week",
            ));
        }
        if req.reason.trim().len() < 3 {
            errors.push(FieldError::new(
                "reason",
                "must say why (at least 3 characters)",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(located("invalid close", &errors).into())
        }
    }

    /// Ends the week: the list in force stays as published, no event is taken after.
    #[update]
    pub fn close_week(&mut self, _ctx: &mut SyncWorkflowContext<Self>, req: CloseWeek) -> String {
        let answer = format!("the week is closed by {}", req.closed_by);
        self.closed = Some(req);
        answer
    }
}

impl TheatreBookingWorkflow {
    async fn book_week(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<TheatreWeekOutcome> {
        let (list_id, week) = ctx.state(|s| (s.list_id.clone(), s.week.clone()));
        if let Err(errors) = week.validate() {
            // Nothing has run: a bad week stores nothing.
            return Err(ApplicationFailure::non_retryable(located(
                "invalid theatre week",
                &errors,
            ))
            .into());
        }
        let workflow_id = ctx.workflow_id().to_owned();
        let week_end = week_end(&week);
        loop {
            let (revision, week, from_day, answered) = ctx.state_mut(|s| {
                (
                    s.revision,
                    s.week.clone(),
                    s.today,
                    std::mem::take(&mut s.unplanned),
                )
            });
            let requested_by = answered
                .last()
                .map_or_else(|| week.requested_by.clone(), |e| e.reported_by.clone());
            ctx.state_mut(|s| s.stage = TheatreStage::Forecasting);
            let durations = ctx
                .execute_activity(
                    TheatreActivities::forecast_durations,
                    ForecastDurationsInput {
                        workflow_id: workflow_id.clone(),
                        revision,
                        week: week.clone(),
                    },
                    crate::compute_opts(ctx, Duration::from_secs(60)),
                )
                .await?;
            ctx.state_mut(|s| s.stage = TheatreStage::Solving);
            // The solver's own limit plus time to read the list in force and store.
            let solve_timeout = Duration::from_secs(u64::from(week.solve_seconds) + 60);
            let proposal = ctx
                .execute_activity(
                    TheatreActivities::propose_theatre_list,
                    ProposeTheatreInput {
                        workflow_id: workflow_id.clone(),
                        list_id: list_id.clone(),
                        revision,
                        from_day,
                        week: week.clone(),
                        durations,
                        requested_by: requested_by.clone(),
                        replanned_after: answered.iter().map(DayOfEvent::summary).collect(),
                    },
                    crate::compute_opts(ctx, solve_timeout),
                )
                .await?;
            ctx.state_mut(|s| s.proposal = Some(proposal.clone()));
            let in_force = ctx.state(|s| s.in_force.is_some());
            if proposal.is_infeasible() {
                if !in_force {
                    ctx.state_mut(|s| s.stage = TheatreStage::Infeasible);
                    return Ok(Self::outcome(ctx, TheatreStage::Infeasible, None));
                }
                // The list in force stays; a further change may make the week feasible.
                ctx.state_mut(|s| s.stage = TheatreStage::Published);
            } else {
                let conclusion = if !in_force || proposal.moves_booked_patients() {
                    let deadline = if in_force {
                        REPLAN_APPROVAL_DEADLINE
                    } else {
                        LIST_APPROVAL_DEADLINE
                    };
                    let decision = Self::ask_theatre_admin(
                        ctx,
                        &workflow_id,
                        &proposal,
                        in_force,
                        deadline,
                        requested_by,
                    )
                    .await?;
                    ListConclusion::Decided(decision)
                } else {
                    ListConclusion::PublishedUnchanged {
                        reason: format!(
                            "the re-plan after {} moves no booked patient",
                            proposal.replanned_after.join("; ")
                        ),
                    }
                };
                ctx.execute_activity(
                    TheatreActivities::conclude_theatre_list,
                    ConcludeTheatreInput {
                        workflow_id: workflow_id.clone(),
                        list_id: list_id.clone(),
                        revision,
                        conclusion: conclusion.clone(),
                    },
                    short(),
                )
                .await?;
                let published = match &conclusion {
                    ListConclusion::Decided(d) => d.approve,
                    ListConclusion::PublishedUnchanged { .. } => true,
                };
                ctx.state_mut(|s| {
                    if published {
                        s.in_force = Some(proposal.clone());
                    }
                    s.stage = if s.in_force.is_some() {
                        TheatreStage::Published
                    } else {
                        TheatreStage::Rejected
                    };
                });
            }

            // Wait for a change to re-plan, the week to be closed, or its end.
            let remaining = match (week_end, ctx.workflow_time()) {
                (Some(end), Some(now)) => end
                    .duration_since(now)
                    .unwrap_or_default()
                    .max(Duration::from_secs(1)),
                // Without a clock reading the week ends only when it is closed.
                _ => Duration::from_secs(u64::from(MAX_WEEK_DAYS) * 24 * 60 * 60),
            };
            let ended = temporalio_sdk::workflows::select! {
                r = ctx.wait_condition(|s: &Self| !s.unplanned.is_empty() || s.closed.is_some()) => { r?; false }
                _ = ctx.timer(remaining) => true
            };
            let closed = ctx.state(|s| s.closed.clone());
            if ended || closed.is_some() {
                let reason = closed.map_or_else(
                    || "the week ended".to_owned(),
                    |c| format!("closed by {}: {}", c.closed_by, c.reason),
                );
                ctx.state_mut(|s| s.stage = TheatreStage::Closed);
                return Ok(Self::outcome(ctx, TheatreStage::Closed, Some(reason)));
            }
            ctx.state_mut(|s| s.revision += 1);
        }
    }

    /// Asks the theatre administrator (the site manager after each deadline) to decide
    /// on a revision; whoever asked for it may not.
    async fn ask_theatre_admin(
        ctx: &mut WorkflowContext<Self>,
        workflow_id: &str,
        proposal: &TheatreListProposal,
        replan: bool,
        deadline: Duration,
        requested_by: String,
    ) -> WorkflowResult<Decision> {
        ctx.state_mut(|s| s.stage = TheatreStage::AwaitingApproval);
        approval::ask(
            ctx,
            ApprovalRequest {
                task_id: format!("{workflow_id}-r{}-approve", proposal.revision),
                kind: TaskKind::TheatreList,
                role: Role::TheatreAdmin,
                escalate_to: Role::SiteManager,
                deadline,
                summary: summary(proposal, replan),
                proposed_bed: None,
                requested_by: Some(requested_by),
            },
        )
        .await
    }

    fn outcome(
        ctx: &WorkflowContext<Self>,
        stage: TheatreStage,
        reason: Option<String>,
    ) -> TheatreWeekOutcome {
        ctx.state(|s| TheatreWeekOutcome {
            stage,
            list_id: s.list_id.clone(),
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

    async fn finish_cancelled(
        ctx: &mut WorkflowContext<Self>,
    ) -> WorkflowResult<TheatreWeekOutcome> {
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
            TheatreActivities::withdraw_theatre_list,
            WithdrawTheatreInput {
                workflow_id: ctx.workflow_id().to_owned(),
                reason: reason.clone(),
            },
            opts,
        )
        .await?;
        ctx.state_mut(|s| {
            s.stage = TheatreStage::Cancelled;
            s.approval.withdraw();
        });
        Ok(Self::outcome(ctx, TheatreStage::Cancelled, Some(reason)))
    }
}

fn is_final(stage: TheatreStage) -> bool {
    matches!(
        stage,
        TheatreStage::Closed | TheatreStage::Infeasible | TheatreStage::Cancelled
    )
}

/// Every problem of an input in one message, each located by its field path.
fn located(what: &str, errors: &[FieldError]) -> String {
    let each: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{what}: {}", each.join("; "))
}

/// Midnight (UTC) after the week's last day.
fn week_end(week: &TheatreWeekRequest) -> Option<SystemTime> {
    let last = week.date()? + chrono::Days::new(u64::from(week.days));
    let end = last.and_hms_opt(0, 0, 0)?.and_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(end.timestamp()).ok()?))
}

/// What the approver is asked, in words (case ids and counts, no patient identifiers).
fn summary(p: &TheatreListProposal, replan: bool) -> String {
    let mut s =
        if replan {
            format!(
            "Re-plan {} of the theatre lists for the week of {} from day {}, after {}: {} booked \
             patient(s) moved or deferred ({}). ",
            p.revision,
            p.week_start,
            p.from_day,
            p.replanned_after.join("; "),
            p.changes.len(),
            p.changes
                .iter()
                .map(|c| match (&c.to_theatre, c.to_day) {
                    (Some(t), Some(d)) => format!(
                        "{} {} day {} -> {t} day {d}",
                        c.case_id, c.from_theatre, c.from_day
                    ),
                    _ => format!("{} {} day {} -> deferred", c.case_id, c.from_theatre, c.from_day),
                })
                .collect::<Vec<_>>()
                .join(", ")
        )
        } else {
            format!(
                "Theatre lists for the week of {} ({} days, revision {}). ",
                p.week_start, p.days, p.revision
            )
        };
    let worst = p
        .sessions
        .iter()
        .max_by(|a, b| a.overtime_probability.total_cmp(&b.overtime_probability));
    s.push_str(&format!(
        "{} cases booked, {} deferred{}; utilisation {:.0}% (target {:.0}%, {} of {} sessions \
         below); expected overtime {:.0} min{}. Solver {} in {:.1} s (gap {}). Durations from {} \
         {} (sha256 {}).",
        p.booked.len(),
        p.deferred.len(),
        if p.deferred.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                p.deferred
                    .iter()
                    .map(|d| format!("{} {}: {}", d.case_id, d.category, d.reason))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
        p.utilisation * 100.0,
        p.target_utilisation * 100.0,
        p.sessions_below_target,
        p.sessions.len(),
        p.expected_overtime_minutes,
        worst
            .filter(|w| w.overtime_probability > 0.0)
            .map(|w| format!(
                ", highest risk {} day {} ({:.0}%)",
                w.theatre_id,
                w.day,
                w.overtime_probability * 100.0
            ))
            .unwrap_or_default(),
        p.solver_status,
        p.solve_seconds,
        p.mip_gap
            .map_or_else(|| "unknown".to_owned(), |g| format!("{:.2}%", g * 100.0)),
        p.durations.model_name,
        p.durations.model_version,
        &p.durations.model_sha256[..p.durations.model_sha256.len().min(12)],
    ));
    s
}

// Database-only steps: 10 s is ample.
fn short() -> ActivityOptions {
    crate::step_opts(Duration::from_secs(10))
}
