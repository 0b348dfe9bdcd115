//! Admitting a patient to a bed.
//!
//! The clerk's request is registered, bed availability is checked and a bed is chosen
//! by the allocation rule. If the choice breaks a soft rule (an outlier ward, say) or
//! no bed satisfies the hard rules, a bed manager is asked to approve; if nobody
//! decides before the deadline the task escalates to the site manager. An approved or
//! rule-abiding bed is then assigned; a bed taken meanwhile sends the process back to
//! the search. A rejection ends the admission as declined; cancellation ends it at
//! any point, closing open tasks and freeing a held bed.
//!
//! States: requested -> checking beds -> (awaiting approval ->) assigning bed ->
//! admitted | declined | cancelled.

// The workflow macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Duration;

use temporalio_common::{data_converters::TemporalDeserializable, ActivityDefinition};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, LocalActivityOptions, SyncWorkflowContext,
    WorkflowCancellationToken, WorkflowContext, WorkflowContextView, WorkflowResult,
};

use careflow_activities::admission::{
    AdmissionActivities, AssignBedInput, AssignOutcome, CloseInput, FindBedInput,
};
use careflow_types::{
    AdmissionInput, AdmissionKind, AdmissionOutcome, AdmissionStage, AdmissionStatus, BedProposal,
    Decision, Role, TaskKind,
};

use crate::approval::{self, Approval, ApprovalRequest, AwaitsApproval};

/// How long a bed manager has before an approval escalates.
pub fn approval_deadline(kind: AdmissionKind) -> Duration {
    match kind {
        AdmissionKind::Emergency => Duration::from_secs(15 * 60),
        AdmissionKind::Elective => Duration::from_secs(2 * 60 * 60),
    }
}

/// A bed taken between search and assignment sends the process back to search; after
/// this many rounds it asks a person instead of looping.
const MAX_AUTOMATIC_ATTEMPTS: u32 = 5;

/// Version marker of the admissions whose database steps (register, find a bed, assign
/// it) run as local activities: inside the workflow task, recorded in the history as
/// markers, instead of each going through the server's activity queue. An admission that
/// needs no person then completes in one or two workflow tasks instead of four plus
/// three activity tasks, and after a worker dies it resumes as soon as its workflow task
/// times out. Histories from before the marker replay with ordinary activities.
pub const ADMISSION_LOCAL_STEPS_PATCH: &str = "admission-local-steps";

/// One admission's state.
#[workflow]
pub struct AdmissionWorkflow {
    input: AdmissionInput,
    stage: AdmissionStage,
    bed: Option<BedProposal>,
    approval: Approval,
}

impl AwaitsApproval for AdmissionWorkflow {
    fn approval(&self) -> &Approval {
        &self.approval
    }
    fn approval_mut(&mut self) -> &mut Approval {
        &mut self.approval
    }
}

#[workflow_methods]
impl AdmissionWorkflow {
    /// Starts an admission for `input`.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: AdmissionInput) -> Self {
        Self {
            input,
            stage: AdmissionStage::Requested,
            bed: None,
            approval: Approval::default(),
        }
    }

    /// Runs the admission to its end.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<AdmissionOutcome> {
        let result = Self::admit(ctx).await;
        if ctx.cancellation_token().is_cancelled() {
            return Self::finish_cancelled(ctx).await;
        }
        result
    }

    /// Where the admission stands (dashboards, CLI).
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> AdmissionStatus {
        AdmissionStatus {
            stage: self.stage,
            bed: self.bed.clone(),
            task_id: self.approval.pending_task_id(),
            escalations: self.approval.escalations(),
        }
    }

    /// Refuses a decision that is not for the pending task, comes second, or comes
    /// from the wrong role or the requesting clerk.
    #[update_validator(decide)]
    fn validate_decide(
        &self,
        _ctx: &WorkflowContextView,
        decision: &Decision,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.approval.validate(decision)?)
    }

    /// A person's decision on the pending task; reaches the workflow exactly once.
    #[update]
    pub fn decide(&mut self, _ctx: &mut SyncWorkflowContext<Self>, decision: Decision) -> String {
        self.approval.accept(decision)
    }
}

impl AdmissionWorkflow {
    async fn admit(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<AdmissionOutcome> {
        let input = ctx.state(|s| s.input.clone());
        let workflow_id = ctx.workflow_id().to_owned();
        let local = ctx.patched(ADMISSION_LOCAL_STEPS_PATCH);
        step(
            ctx,
            local,
            AdmissionActivities::register_admission,
            input.clone(),
        )
        .await?;

        let mut attempt = 0;
        let mut approved_by = None;
        loop {
            attempt += 1;
            ctx.state_mut(|s| s.stage = AdmissionStage::CheckingBeds);
            let search = step(
                ctx,
                local,
                AdmissionActivities::find_bed,
                FindBedInput {
                    workflow_id: workflow_id.clone(),
                    admission: input.clone(),
                    attempt,
                },
            )
            .await?;
            // An admission the patient administration system made into a bed careflow
            // holds for another admission: the bed manager hears of it and decides the
            // first bed (the input alone decides this, so older histories replay alike).
            let contested = input.contested_bed.as_ref().filter(|_| attempt == 1);
            let needs_person = match &search.proposal {
                None => Some(TaskKind::NoBed),
                Some(_) if contested.is_some() => Some(TaskKind::OutlierBed),
                Some(p) if !p.soft_breaks.is_empty() => Some(TaskKind::OutlierBed),
                Some(_) if attempt > MAX_AUTOMATIC_ATTEMPTS => Some(TaskKind::NoBed),
                Some(_) => None,
            };
            ctx.state_mut(|s| s.bed = search.proposal.clone());
            let mut bed_id = search.proposal.as_ref().map(|p| p.bed_id.clone());
            if let Some(kind) = needs_person {
                let contest_note = contested
                    .map(|c| {
                        format!(
                            "The patient administration system (HL7 ADT) admitted this patient into bed {}, \
                             which careflow holds for admission {}; that bed stays with it. ",
                            c.bed_id, c.held_for
                        )
                    })
                    .unwrap_or_default();
                let summary = match (&search.proposal, kind) {
                    (Some(p), TaskKind::OutlierBed) if contested.is_some() => format!(
                        "{contest_note}{:?} {} admission: proposed bed {}{}. {}",
                        input.request.kind,
                        input.request.specialty,
                        p.bed_id,
                        if p.soft_breaks.is_empty() {
                            String::new()
                        } else {
                            format!(" breaks: {}", p.soft_breaks.join("; "))
                        },
                        search.summary
                    ),
                    (Some(p), TaskKind::OutlierBed) => format!(
                        "{:?} {} admission: proposed bed {} breaks: {}. {}",
                        input.request.kind,
                        input.request.specialty,
                        p.bed_id,
                        p.soft_breaks.join("; "),
                        search.summary
                    ),
                    (Some(_), _) => format!(
                        "{:?} {} admission: the beds chosen were taken by other admissions {} times; \
                         please name a bed or decline. {}",
                        input.request.kind,
                        input.request.specialty,
                        attempt - 1,
                        search.summary
                    ),
                    (None, _) => format!(
                        "{contest_note}{:?} {} admission: no bed satisfies the hard rules. {}",
                        input.request.kind, input.request.specialty, search.summary
                    ),
                };
                let decision = Self::ask_person(
                    ctx,
                    &workflow_id,
                    attempt,
                    kind,
                    search.proposal.clone(),
                    summary,
                )
                .await?;
                if !decision.approve {
                    ctx.execute_activity(
                        AdmissionActivities::close_admission,
                        CloseInput {
                            workflow_id: workflow_id.clone(),
                            admission_id: input.admission_id.clone(),
                            stage: AdmissionStage::Declined,
                            reason: Some(decision.reason.clone()),
                            actor: decision.actor.clone(),
                        },
                        activity_opts(),
                    )
                    .await?;
                    ctx.state_mut(|s| s.stage = AdmissionStage::Declined);
                    return Ok(AdmissionOutcome {
                        stage: AdmissionStage::Declined,
                        bed_id: None,
                        reason: Some(decision.reason),
                    });
                }
                approved_by = Some(decision.actor.clone());
                if decision.bed_id.is_some() {
                    bed_id = decision.bed_id.clone();
                }
            }
            let Some(bed_id) = bed_id else {
                // Approved without a bed to use: look again (a discharge may have freed one).
                continue;
            };
            ctx.state_mut(|s| s.stage = AdmissionStage::AssigningBed);
            let outcome = step(
                ctx,
                local,
                AdmissionActivities::assign_bed,
                AssignBedInput {
                    workflow_id: workflow_id.clone(),
                    admission: input.clone(),
                    bed_id,
                    attempt,
                    approved_by: approved_by.clone(),
                },
            )
            .await?;
            if let AssignOutcome::Assigned { bed_id } = outcome {
                ctx.state_mut(|s| s.stage = AdmissionStage::Admitted);
                return Ok(AdmissionOutcome {
                    stage: AdmissionStage::Admitted,
                    bed_id: Some(bed_id),
                    reason: None,
                });
            }
        }
    }

    /// Asks the bed manager (the site manager after each deadline) to decide.
    async fn ask_person(
        ctx: &mut WorkflowContext<Self>,
        workflow_id: &str,
        attempt: u32,
        kind: TaskKind,
        proposal: Option<BedProposal>,
        summary: String,
    ) -> WorkflowResult<Decision> {
        let (admission_kind, requested_by) =
            ctx.state(|s| (s.input.request.kind, s.input.request.requested_by.clone()));
        ctx.state_mut(|s| s.stage = AdmissionStage::AwaitingApproval);
        approval::ask(
            ctx,
            ApprovalRequest {
                task_id: format!("{workflow_id}-t{attempt}"),
                kind,
                role: Role::BedManager,
                escalate_to: Role::SiteManager,
                deadline: approval_deadline(admission_kind),
                summary,
                proposed_bed: proposal.as_ref().map(|p| p.bed_id.clone()),
                requested_by: Some(requested_by),
            },
        )
        .await
    }

    async fn finish_cancelled(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<AdmissionOutcome> {
        let admission_id = ctx.state(|s| s.input.admission_id.clone());
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
            AdmissionActivities::close_admission,
            CloseInput {
                workflow_id: ctx.workflow_id().to_owned(),
                admission_id,
                stage: AdmissionStage::Cancelled,
                reason: Some(reason.clone()),
                actor: "careflow".into(),
            },
            opts,
        )
        .await?;
        ctx.state_mut(|s| {
            s.stage = AdmissionStage::Cancelled;
            s.approval.withdraw();
        });
        Ok(AdmissionOutcome {
            stage: AdmissionStage::Cancelled,
            bed_id: None,
            reason: Some(reason),
        })
    }
}

/// Runs one of the admission's database steps: as a local activity in admissions past
/// [`ADMISSION_LOCAL_STEPS_PATCH`], else as an ordinary activity (older histories).
async fn step<AD>(
    ctx: &WorkflowContext<AdmissionWorkflow>,
    local: bool,
    activity: AD,
    input: AD::Input,
) -> Result<AD::Output, ActivityExecutionError>
where
    AD: ActivityDefinition,
    AD::Output: TemporalDeserializable,
{
    if local {
        ctx.execute_local_activity(activity, input, local_opts())
            .await
    } else {
        ctx.execute_activity(activity, input, activity_opts()).await
    }
}

/// A local step: the same retries as an ordinary one. Each attempt may take up to 10 s
/// (a write queued behind others); a step that would wait longer between retries than
/// a few seconds does so on a durable timer rather than inside the workflow task.
fn local_opts() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(10))
        .schedule_to_close_timeout(Duration::from_secs(5 * 60))
        .retry_policy(crate::step_retry())
        .timer_backoff_threshold(Duration::from_secs(2))
        .build()
}

/// Each activity is one short database transaction, heartbeating while it runs
/// ([`careflow_activities::SHORT_STEP_HEARTBEAT`]): a step on a worker that died
/// (SIGKILL, power loss) is retried after the heartbeat timeout, not after the whole
/// start-to-close timeout, which stays generous for a step queued behind other writers.
fn activity_opts() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .heartbeat_timeout(SHORT_STEP_HEARTBEAT_TIMEOUT)
        .retry_policy(crate::step_retry())
        .build()
}

/// Heartbeat timeout of a short step: several heartbeat periods, so that a heartbeat
/// delayed on a busy machine does not fail a live step.
const SHORT_STEP_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);
