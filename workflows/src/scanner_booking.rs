//! A week of CT/MRI scanner bookings.
//!
//! The week's scan requests (modality, urgency, deadline; pseudonymous patient keys
//! only) and scanners are checked field by field; the production `scanner-no-show`
//! model gives every outpatient request its no-show probability (name, version and file
//! hash recorded); the scanner MILP books the slots, overbooking where no-shows make
//! room, bounded by expected overtime. A proposal within the week's stated policy
//! (overbooked slots and missed deadlines) is booked at once, recorded in the audit
//! trail as careflow's own decision "within policy"; beyond it the imaging manager
//! decides through the one approval step (escalating to the site manager at the
//! deadline; whoever asked for the booking may not decide it). A hard-deadline request
//! no scanner can take before its deadline escalates as a task of its own kind that
//! names the request and why. A rejection re-plans once without overbooking; a rejected
//! re-plan books nothing. Once booked, attendance (attended / no-show) is recorded per
//! booked scan through the `record_attendance` update, audited, so the no-show model can
//! be validated on outcomes; the run closes when every booked scan has its attendance or
//! the week is over. Cancelling the workflow withdraws an open proposal.
//!
//! States: requested -> forecasting -> solving -> (awaiting approval ->) booked ->
//! closed; or awaiting approval -> rejected -> solving (re-plan) -> ...; or solving ->
//! infeasible; or cancelled at any point.

// The workflow macros generate undocumented items.
#![allow(missing_docs)]

use std::time::{Duration, SystemTime};

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ApplicationFailure, SyncWorkflowContext, WorkflowCancellationToken,
    WorkflowContext, WorkflowContextView, WorkflowResult,
};

use careflow_activities::scanner_booking::{
    ConcludeScannerInput, ForecastNoShowsInput, ProposeScannerInput, RecordAttendanceInput,
    ScannerActivities, WithdrawScannerInput,
};
use careflow_types::{
    AttendanceReport, Decision, FieldError, Role, ScanConclusion, ScannerBookingInput,
    ScannerBookingOutcome, ScannerBookingProposal, ScannerBookingStatus, ScannerStage,
    ScannerWeekRequest, TaskKind, MAX_SCAN_DAYS,
};

use crate::approval::{self, Approval, ApprovalRequest, AwaitsApproval};

/// How long the imaging manager has to decide on a booking beyond policy before it
/// escalates.
pub const BOOKING_APPROVAL_DEADLINE: Duration = Duration::from_secs(2 * 60 * 60);
/// How long they have when a hard-deadline request cannot be scanned in time: the
/// patient needs another plan today.
pub const MISSED_DEADLINE_APPROVAL_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// Attendance may still be recorded this long after the week's last day.
pub const ATTENDANCE_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// One booking run's state.
#[workflow]
pub struct ScannerBookingWorkflow {
    booking_id: String,
    week: ScannerWeekRequest,
    stage: ScannerStage,
    revision: u32,
    proposal: Option<ScannerBookingProposal>,
    booked: Option<ScannerBookingProposal>,
    /// Requests whose attendance the store has recorded.
    attended: Vec<String>,
    /// Accepted reports the run loop has not recorded yet.
    unrecorded: Vec<AttendanceReport>,
    /// Reports the store refused.
    attendance_refused: u32,
    approval: Approval,
}

impl AwaitsApproval for ScannerBookingWorkflow {
    fn approval(&self) -> &Approval {
        &self.approval
    }
    fn approval_mut(&mut self) -> &mut Approval {
        &mut self.approval
    }
}

#[workflow_methods]
impl ScannerBookingWorkflow {
    /// Starts the run for `input`.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: ScannerBookingInput) -> Self {
        Self {
            booking_id: input.booking_id,
            week: input.request,
            stage: ScannerStage::Requested,
            revision: 0,
            proposal: None,
            booked: None,
            attended: Vec::new(),
            unrecorded: Vec::new(),
            attendance_refused: 0,
            approval: Approval::default(),
        }
    }

    /// Runs the booking to its end.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<ScannerBookingOutcome> {
        let result = Self::book_week(ctx).await;
        if ctx.cancellation_token().is_cancelled() {
            return Self::finish_cancelled(ctx).await;
        }
        result
    }

    /// Where the run stands (dashboards, CLI).
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> ScannerBookingStatus {
        ScannerBookingStatus {
            stage: self.stage,
            revision: self.revision,
            task_id: self.approval.pending_task_id(),
            escalations: self.approval.escalations(),
            proposal: self.proposal.clone(),
            attendance_recorded: self.attended.len() as u32,
            attendance_refused: self.attendance_refused,
        }
    }

    /// Refuses a decision that is not for the open task, comes second, or comes from
    /// the wrong role or the person who asked for the booking.
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
        let consequence = match (decision.approve, self.revision) {
            (true, _) => ": the scans are booked",
            (false, 0) => ": the week is re-planned without overbooking",
            (false, _) => ": nothing is booked",
        };
        self.approval.accept(decision) + consequence
    }

    /// Refuses attendance for a request that is not booked or already has it, before
    /// the week is booked, or without saying who records it.
    #[update_validator(record_attendance)]
    fn validate_record_attendance(
        &self,
        _ctx: &WorkflowContextView,
        report: &AttendanceReport,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(booked) = self
            .booked
            .as_ref()
            .filter(|_| self.stage == ScannerStage::Booked)
        else {
            return Err(format!(
                "the booking is {}; attendance is recorded only while it is booked",
                self.stage.as_str()
            )
            .into());
        };
        let mut errors = Vec::new();
        if !booked
            .booked
            .iter()
            .any(|b| b.request_id == report.request_id)
        {
            errors.push(FieldError::new(
                "request_id",
                format!("request {} has no booked scan", report.request_id),
            ));
        } else if self.attended.contains(&report.request_id)
            || self
                .unrecorded
                .iter()
                .any(|r| r.request_id == report.request_id)
        {
            errors.push(FieldError::new(
                "request_id",
                format!(
                    "attendance of request {} is already recorded",
                    report.request_id
                ),
            ));
        }
        if report.recorded_by.trim().is_empty() {
            errors.push(FieldError::new(
                "recorded_by",
                "must name who records the attendance",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(located("invalid attendance", &errors).into())
        }
    }

    /// A booked scan's attendance: recorded in the store by the run loop.
    #[update]
    pub fn record_attendance(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        report: AttendanceReport,
    ) -> String {
        let answer = format!(
            "attendance of request {} ({}) is recorded",
            report.request_id,
            report.outcome.as_str()
        );
        self.unrecorded.push(report);
        answer
    }
}

impl ScannerBookingWorkflow {
    async fn book_week(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<ScannerBookingOutcome> {
        let (booking_id, week) = ctx.state(|s| (s.booking_id.clone(), s.week.clone()));
        if let Err(errors) = week.validate() {
            // Nothing has run: a bad week stores nothing.
            return Err(ApplicationFailure::non_retryable(located(
                "invalid scanner week",
                &errors,
            ))
            .into());
        }
        let workflow_id = ctx.workflow_id().to_owned();
        ctx.state_mut(|s| s.stage = ScannerStage::Forecasting);
        let no_shows = ctx
            .execute_activity(
                ScannerActivities::forecast_no_shows,
                ForecastNoShowsInput {
                    workflow_id: workflow_id.clone(),
                    week: week.clone(),
                },
                crate::compute_opts(ctx, Duration::from_secs(60)),
            )
            .await?;
        loop {
            let revision = ctx.state(|s| s.revision);
            ctx.state_mut(|s| s.stage = ScannerStage::Solving);
            // The solver's own limit plus time to store.
            let solve_timeout = Duration::from_secs(u64::from(week.solve_seconds) + 60);
            let proposal = ctx
                .execute_activity(
                    ScannerActivities::propose_scanner_booking,
                    ProposeScannerInput {
                        workflow_id: workflow_id.clone(),
                        booking_id: booking_id.clone(),
                        revision,
                        week: week.clone(),
                        no_shows: no_shows.clone(),
                        // The re-plan after a rejection books no overbooking.
                        overbooking_allowed: revision == 0,
                    },
                    crate::compute_opts(ctx, solve_timeout),
                )
                .await?;
            ctx.state_mut(|s| s.proposal = Some(proposal.clone()));
            if proposal.is_infeasible() {
                ctx.state_mut(|s| s.stage = ScannerStage::Infeasible);
                return Ok(Self::outcome(ctx, ScannerStage::Infeasible, None));
            }
            let conclusion = if proposal.needs_approval() {
                let decision = Self::ask_imaging_manager(ctx, &workflow_id, &proposal).await?;
                ScanConclusion::Decided(decision)
            } else {
                ScanConclusion::WithinPolicy {
                    reason: within_policy(&proposal),
                }
            };
            ctx.execute_activity(
                ScannerActivities::conclude_scanner_booking,
                ConcludeScannerInput {
                    workflow_id: workflow_id.clone(),
                    booking_id: booking_id.clone(),
                    revision,
                    conclusion: conclusion.clone(),
                },
                short(),
            )
            .await?;
            let booked = match &conclusion {
                ScanConclusion::Decided(d) => d.approve,
                ScanConclusion::WithinPolicy { .. } => true,
            };
            if booked {
                ctx.state_mut(|s| {
                    s.booked = Some(proposal.clone());
                    s.stage = ScannerStage::Booked;
                });
                break;
            }
            if revision > 0 {
                ctx.state_mut(|s| s.stage = ScannerStage::Rejected);
                return Ok(Self::outcome(
                    ctx,
                    ScannerStage::Rejected,
                    Some("the booking and its re-plan without overbooking were rejected".into()),
                ));
            }
            ctx.state_mut(|s| {
                s.stage = ScannerStage::Rejected;
                s.revision += 1;
            });
        }
        Self::record_attendance_until_closed(ctx, &workflow_id, &booking_id, &week).await
    }

    /// Records each accepted attendance report until every booked scan has one or the
    /// week (and its grace day) is over.
    async fn record_attendance_until_closed(
        ctx: &mut WorkflowContext<Self>,
        workflow_id: &str,
        booking_id: &str,
        week: &ScannerWeekRequest,
    ) -> WorkflowResult<ScannerBookingOutcome> {
        let end = week_end(week);
        loop {
            let all_recorded = ctx.state(|s| {
                s.booked
                    .as_ref()
                    .is_some_and(|b| b.booked.len() <= s.attended.len())
            });
            if all_recorded {
                ctx.state_mut(|s| s.stage = ScannerStage::Closed);
                return Ok(Self::outcome(
                    ctx,
                    ScannerStage::Closed,
                    Some("every booked scan's attendance is recorded".into()),
                ));
            }
            let remaining = match (end, ctx.workflow_time()) {
                (Some(end), Some(now)) => end
                    .duration_since(now)
                    .unwrap_or_default()
                    .max(Duration::from_secs(1)),
                // Without a clock reading, the longest week and its grace day.
                _ => {
                    Duration::from_secs(u64::from(MAX_SCAN_DAYS) * 24 * 60 * 60) + ATTENDANCE_GRACE
                }
            };
            let ended = temporalio_sdk::workflows::select! {
                r = ctx.wait_condition(|s: &Self| !s.unrecorded.is_empty()) => { r?; false }
                _ = ctx.timer(remaining) => true
            };
            if ended {
                ctx.state_mut(|s| s.stage = ScannerStage::Closed);
                return Ok(Self::outcome(
                    ctx,
                    ScannerStage::Closed,
                    Some("the week is over".into()),
                ));
            }
            let reports = ctx.state_mut(|s| std::mem::take(&mut s.unrecorded));
            for report in reports {
                let refused = ctx
                    .execute_activity(
                        ScannerActivities::record_scan_attendance,
                        RecordAttendanceInput {
                            workflow_id: workflow_id.to_owned(),
                            booking_id: booking_id.to_owned(),
                            report: report.clone(),
                        },
                        short(),
                    )
                    .await?;
                // A report the store refused (the recorder holds no imaging role) is
                // dropped; the scan waits for a valid one.
                ctx.state_mut(|s| match refused {
                    None => s.attended.push(report.request_id.clone()),
                    Some(_) => s.attendance_refused += 1,
                });
            }
        }
    }

    /// Asks the imaging manager (the site manager after the deadline) to decide on a
    /// booking beyond policy; whoever asked for the booking may not.
    async fn ask_imaging_manager(
        ctx: &mut WorkflowContext<Self>,
        workflow_id: &str,
        proposal: &ScannerBookingProposal,
    ) -> WorkflowResult<Decision> {
        ctx.state_mut(|s| s.stage = ScannerStage::AwaitingApproval);
        let requested_by = ctx.state(|s| s.week.requested_by.clone());
        let breach_over_policy = !proposal.breaches.is_empty()
            && (proposal.breaches_hard_deadline()
                || proposal.breaches.len() as u32 > proposal.policy.max_breached_deadlines);
        let (kind, deadline) = if breach_over_policy {
            (TaskKind::ScanDeadline, MISSED_DEADLINE_APPROVAL_DEADLINE)
        } else {
            (TaskKind::ScannerBooking, BOOKING_APPROVAL_DEADLINE)
        };
        approval::ask(
            ctx,
            ApprovalRequest {
                task_id: format!("{workflow_id}-r{}-approve", proposal.revision),
                kind,
                role: Role::ImagingManager,
                escalate_to: Role::SiteManager,
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
        stage: ScannerStage,
        reason: Option<String>,
    ) -> ScannerBookingOutcome {
        ctx.state(|s| ScannerBookingOutcome {
            stage,
            booking_id: s.booking_id.clone(),
            revisions: s.revision + u32::from(s.proposal.is_some()),
            booked: s.booked.clone(),
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
    ) -> WorkflowResult<ScannerBookingOutcome> {
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
            ScannerActivities::withdraw_scanner_booking,
            WithdrawScannerInput {
                workflow_id: ctx.workflow_id().to_owned(),
                reason: reason.clone(),
            },
            opts,
        )
        .await?;
        ctx.state_mut(|s| {
            s.stage = ScannerStage::Cancelled;
            s.approval.withdraw();
        });
        Ok(Self::outcome(ctx, ScannerStage::Cancelled, Some(reason)))
    }
}

/// Every problem of an input in one message, each located by its field path.
fn located(what: &str, errors: &[FieldError]) -> String {
    let each: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("{what}: {}", each.join("; "))
}

/// The end of attendance recording: midnight (UTC) after the week's last day, plus the
/// grace period.
fn week_end(week: &ScannerWeekRequest) -> Option<SystemTime> {
    let last = week.date()? + chrono::Days::new(u64::from(week.days));
    let end = last.and_hms_opt(0, 0, 0)?.and_utc();
    Some(
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(end.timestamp()).ok()?)
            + ATTENDANCE_GRACE,
    )
}

/// Why a proposal needed nobody, in words (the audit trail's reason).
fn within_policy(p: &ScannerBookingProposal) -> String {
    format!(
        "revision {}: {} overbooked slot(s) (policy {}), {} missed deadline(s) (policy {})",
        p.revision,
        p.overbooked_slots,
        p.policy.max_overbooked_slots,
        p.breaches.len(),
        p.policy.max_breached_deadlines
    )
}

/// What the approver is asked, in words (request ids and counts, no patient keys).
fn summary(p: &ScannerBookingProposal) -> String {
    let mut s = format!(
        "Scanner bookings for the {} days from {} (revision {}{}): beyond policy because {}. ",
        p.days,
        p.week_start,
        p.revision,
        if p.overbooking_allowed {
            ""
        } else {
            ", re-planned without overbooking"
        },
        p.over_policy.join("; ")
    );
    if !p.breaches.is_empty() {
        s.push_str(&format!(
            "Missing their deadline: {}. ",
            p.breaches
                .iter()
                .map(|b| format!(
                    "{} ({} {}, due day {}): {}",
                    b.request_id,
                    b.urgency.as_str(),
                    b.modality.as_str().to_uppercase(),
                    b.deadline_day,
                    b.why
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let overbooked: Vec<String> = p
        .scanner_days
        .iter()
        .filter(|d| d.booked_slots > d.open_slots)
        .map(|d| {
            format!(
                "{} day {} {} booked for {} open (expected overtime {:.2} slots)",
                d.scanner_id, d.day, d.booked_slots, d.open_slots, d.expected_overtime_slots
            )
        })
        .collect();
    if !overbooked.is_empty() {
        s.push_str(&format!("Overbooked: {}. ", overbooked.join(", ")));
    }
    s.push_str(&format!(
        "{} scans booked, {} waiting for a later week; {} overbooked slot(s), expected \
         overtime {:.2} slots. Solver {} in {:.1} s (gap {}). No-show probabilities from {} \
         {} (sha256 {}).",
        p.booked.len(),
        p.waiting.len(),
        p.overbooked_slots,
        p.expected_overtime_slots,
        p.solver_status,
        p.solve_seconds,
        p.mip_gap
            .map_or_else(|| "unknown".to_owned(), |g| format!("{:.2}%", g * 100.0)),
        p.no_show.model_name,
        p.no_show.model_version,
        &p.no_show.model_sha256[..p.no_show.model_sha256.len().min(12)],
    ));
    s
}

// Database-only steps: 10 s is ample.
fn short() -> ActivityOptions {
    crate::step_opts(Duration::from_secs(10))
}
