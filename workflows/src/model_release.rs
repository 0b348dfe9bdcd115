//! A model version's way to production, with a way back.
//!
//! registered (the candidate's file and card, its sha256 computed) -> offline
//! validation: candidate and production on the same held-out data, overall and per
//! subgroup -> gate (a failure names the metric and the subgroup, and the release stops)
//! -> ethics sign-off: an amendment to the project that owns the model, filed by the
//! author (its project lead); the workflow looks for the committee's decision on a
//! durable timer -> shadow period: live forecasting steps run the candidate beside production
//! and record both, compared at the end with the truth that arrived -> promotion: the
//! owner approves the promotion task with their password (the one approval step; the
//! author, who asked for it, may not decide it) -> production. Within the rollback
//! window an admin's signed `rollback` returns the previous version. Every step is
//! audited by the store in the transaction that makes it.
//!
//! States: registering -> validating -> gate failed | awaiting ethics -> withdrawn |
//! shadow -> awaiting promotion -> withdrawn | production -> rolled back.

// The workflow macros generate undocumented items.
#![allow(missing_docs)]

use std::time::{Duration, SystemTime};

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCancellationType, ActivityOptions, SyncWorkflowContext, WorkflowCancellationToken,
    WorkflowContext, WorkflowContextView, WorkflowResult,
};

use careflow_activities::model_release::{
    AmendmentInput, EthicsAnswer, PromoteInput, RegisterInput, ReleaseActivities, RollbackInput,
    SignoffInput, ValidateInput, WithdrawInput,
};
use careflow_types::{
    Decision, ReleaseInput, ReleaseOutcome, ReleaseStage, ReleaseStatus, Role, RollbackRequest,
    TaskKind,
};

use crate::approval::{self, Approval, ApprovalRequest, AwaitsApproval};

/// How long the owner has to decide the promotion before the task is due again.
pub const PROMOTION_DEADLINE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// One release's state.
#[workflow]
pub struct ModelReleaseWorkflow {
    input: ReleaseInput,
    stage: ReleaseStage,
    amendment_id: Option<String>,
    gate_failures: Vec<String>,
    approval: Approval,
    rollback: Option<RollbackRequest>,
}

impl AwaitsApproval for ModelReleaseWorkflow {
    fn approval(&self) -> &Approval {
        &self.approval
    }
    fn approval_mut(&mut self) -> &mut Approval {
        &mut self.approval
    }
}

#[workflow_methods]
impl ModelReleaseWorkflow {
    /// Starts the release of `input`.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: ReleaseInput) -> Self {
        Self {
            input,
            stage: ReleaseStage::Registering,
            amendment_id: None,
            gate_failures: Vec::new(),
            approval: Approval::default(),
            rollback: None,
        }
    }

    /// Runs the release to its end. Cancelled before production, the release is
    /// withdrawn (the candidate leaves its shadow period); cancelled in production, the
    /// rollback window closes and production stays.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<ReleaseOutcome> {
        let result = Self::release(ctx).await;
        if ctx.cancellation_token().is_cancelled() {
            return Self::finish_cancelled(ctx).await;
        }
        result
    }

    /// Where the release stands.
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> ReleaseStatus {
        ReleaseStatus {
            stage: self.stage,
            amendment_id: self.amendment_id.clone(),
            task_id: self.approval.pending_task_id(),
            gate_failures: self.gate_failures.clone(),
        }
    }

    /// Refuses a promotion decision that is not the owner's, or that the approval step
    /// refuses (wrong task or role, the author, no reason).
    #[update_validator(decide)]
    fn validate_decide(
        &self,
        _ctx: &WorkflowContextView,
        decision: &Decision,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if decision.actor == self.input.author {
            return Err(format!(
                "{} is the author of {} {}: a model's author cannot release it alone",
                decision.actor, self.input.model_name, self.input.version
            )
            .into());
        }
        self.approval.validate(decision)?;
        if decision.actor != self.input.owner {
            return Err(format!(
                "{} is not the owner of this release; {} decides its promotion",
                decision.actor, self.input.owner
            )
            .into());
        }
        Ok(())
    }

    /// The owner's promotion decision; reaches the workflow exactly once.
    #[update]
    pub fn decide(&mut self, _ctx: &mut SyncWorkflowContext<Self>, decision: Decision) -> String {
        let consequence = if decision.approve {
            ": the model version goes to production"
        } else {
            ": the release is withdrawn"
        };
        self.approval.accept(decision) + consequence
    }

    /// Refuses a rollback outside production, a second one while one is handled, or one
    /// without a reason.
    #[update_validator(rollback)]
    fn validate_rollback(
        &self,
        _ctx: &WorkflowContextView,
        request: &RollbackRequest,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.stage != ReleaseStage::Production {
            return Err(format!(
                "the release is {:?}; only a release in production is rolled back",
                self.stage
            )
            .into());
        }
        if self.rollback.is_some() {
            return Err("a rollback is already being recorded".into());
        }
        if request.reason.trim().len() < 3 {
            return Err("reason: a rollback must say why".into());
        }
        Ok(())
    }

    /// A signed rollback; the store checks the signer and the signature.
    #[update]
    pub fn rollback(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        request: RollbackRequest,
    ) -> String {
        let answer = format!("rollback by {} is being recorded", request.by);
        self.rollback = Some(request);
        answer
    }
}

impl ModelReleaseWorkflow {
    async fn release(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<ReleaseOutcome> {
        let input = ctx.state(|s| s.input.clone());
        let release_id = input.release_id.clone();
        ctx.execute_activity(
            ReleaseActivities::register_candidate,
            RegisterInput {
                release_id: release_id.clone(),
                model_name: input.model_name.clone(),
                version: input.version.clone(),
                author: input.author.clone(),
                owner: input.owner.clone(),
            },
            short(),
        )
        .await?;

        ctx.state_mut(|s| s.stage = ReleaseStage::Validating);
        let failures = ctx
            .execute_activity(
                ReleaseActivities::validate_candidate,
                ValidateInput {
                    release_id: release_id.clone(),
                    overall_margin: input.overall_margin,
                    subgroup_margin: input.subgroup_margin,
                },
                // Both models forecast 14 weeks of held-out hours.
                ActivityOptions::start_to_close_timeout(Duration::from_secs(120)),
            )
            .await?;
        if !failures.is_empty() {
            ctx.state_mut(|s| {
                s.stage = ReleaseStage::GateFailed;
                s.gate_failures = failures.clone();
            });
            return Ok(ReleaseOutcome {
                stage: ReleaseStage::GateFailed,
                reason: Some(format!("the gate stopped the release: {}", failures[0])),
                gate_failures: failures,
                shadow_summary: None,
                decided_by: None,
            });
        }

        ctx.state_mut(|s| s.stage = ReleaseStage::AwaitingEthics);
        let amendment = ctx
            .execute_activity(
                ReleaseActivities::file_amendment,
                AmendmentInput {
                    release_id: release_id.clone(),
                    project_id: input.project_id.clone(),
                },
                short(),
            )
            .await?;
        ctx.state_mut(|s| s.amendment_id = Some(amendment.clone()));
        loop {
            let answer = ctx
                .execute_activity(
                    ReleaseActivities::ethics_answer,
                    amendment.clone(),
                    ethics_poll_opts(ctx),
                )
                .await?;
            match answer {
                EthicsAnswer::Approved => break,
                EthicsAnswer::Refused(letter) => {
                    let why = format!("ethics amendment {amendment} not approved: {letter}");
                    return Self::withdraw(ctx, "ethics committee", why).await;
                }
                EthicsAnswer::Pending(_) => {
                    ctx.timer(Duration::from_secs(input.ethics_poll_seconds))
                        .await;
                }
            }
        }
        ctx.execute_activity(
            ReleaseActivities::record_signoff,
            SignoffInput {
                release_id: release_id.clone(),
                submission_id: amendment,
            },
            short(),
        )
        .await?;

        ctx.state_mut(|s| s.stage = ReleaseStage::Shadow);
        ctx.execute_activity(ReleaseActivities::start_shadow, release_id.clone(), short())
            .await?;
        ctx.timer(Duration::from_secs(input.shadow_seconds)).await;
        let shadow_summary = ctx
            .execute_activity(
                ReleaseActivities::compare_shadow,
                release_id.clone(),
                short(),
            )
            .await?;

        ctx.state_mut(|s| s.stage = ReleaseStage::AwaitingPromotion);
        let task_id = format!("{release_id}-promote");
        let decision = approval::ask(
            ctx,
            ApprovalRequest {
                task_id: task_id.clone(),
                kind: TaskKind::ModelPromotion,
                role: Role::Admin,
                escalate_to: Role::Admin,
                deadline: PROMOTION_DEADLINE,
                summary: format!(
                    "Promote {} {} to production? Owner: {}. {shadow_summary}.",
                    input.model_name, input.version, input.owner
                ),
                proposed_bed: None,
                // Separation of duties: the author asked for the release.
                requested_by: Some(input.author.clone()),
            },
        )
        .await?;
        if !decision.approve {
            let mut outcome = Self::withdraw(ctx, &decision.actor, decision.reason.clone()).await?;
            outcome.shadow_summary = Some(shadow_summary);
            outcome.decided_by = Some(decision.actor);
            return Ok(outcome);
        }
        ctx.execute_activity(
            ReleaseActivities::promote_release,
            PromoteInput {
                release_id: release_id.clone(),
                task_id,
            },
            short(),
        )
        .await?;
        ctx.state_mut(|s| s.stage = ReleaseStage::Production);

        // The rollback window: a signed rollback the store accepts ends the release
        // rolled back; one it refuses is discarded and the window goes on.
        let window_ends = ctx.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH)
            + Duration::from_secs(input.rollback_window_seconds);
        loop {
            let now = ctx.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH);
            let Ok(left) = window_ends.duration_since(now) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            let asked = temporalio_sdk::workflows::select! {
                r = ctx.wait_condition(|s: &Self| s.rollback.is_some()) => { r?; true }
                _ = ctx.timer(left) => false
            };
            if !asked {
                break;
            }
            let request = ctx
                .state(|s| s.rollback.clone())
                .expect("waited for it above");
            let refused = ctx
                .execute_activity(
                    ReleaseActivities::roll_back_release,
                    RollbackInput {
                        release_id: release_id.clone(),
                        by: request.by.clone(),
                        reason: request.reason.clone(),
                        signature_id: request.signature_id.clone(),
                    },
                    short(),
                )
                .await?;
            if refused.is_none() {
                ctx.state_mut(|s| s.stage = ReleaseStage::RolledBack);
                return Ok(ReleaseOutcome {
                    stage: ReleaseStage::RolledBack,
                    gate_failures: Vec::new(),
                    shadow_summary: Some(shadow_summary),
                    decided_by: Some(request.by),
                    reason: Some(request.reason),
                });
            }
            ctx.state_mut(|s| s.rollback = None);
        }
        Ok(ReleaseOutcome {
            stage: ReleaseStage::Production,
            gate_failures: Vec::new(),
            shadow_summary: Some(shadow_summary),
            decided_by: Some(decision.actor),
            reason: Some(decision.reason),
        })
    }

    async fn finish_cancelled(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<ReleaseOutcome> {
        let reason = ctx
            .cancellation_token()
            .reason()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "cancelled".to_owned());
        let stage = ctx.state(|s| s.stage);
        if matches!(
            stage,
            ReleaseStage::Production
                | ReleaseStage::RolledBack
                | ReleaseStage::GateFailed
                | ReleaseStage::Withdrawn
        ) {
            return Ok(ReleaseOutcome {
                stage,
                gate_failures: ctx.state(|s| s.gate_failures.clone()),
                shadow_summary: None,
                decided_by: None,
                reason: Some(reason),
            });
        }
        // The clean-up must run although the workflow's own token is cancelled.
        let opts = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .cancellation_token(WorkflowCancellationToken::new())
            .build();
        ctx.execute_activity(
            ReleaseActivities::withdraw_release,
            WithdrawInput {
                release_id: ctx.state(|s| s.input.release_id.clone()),
                by: "careflow".into(),
                why: format!("release cancelled: {reason}"),
            },
            opts,
        )
        .await?;
        ctx.state_mut(|s| {
            s.stage = ReleaseStage::Withdrawn;
            s.approval.withdraw();
        });
        Ok(ReleaseOutcome {
            stage: ReleaseStage::Withdrawn,
            gate_failures: Vec::new(),
            shadow_summary: None,
            decided_by: None,
            reason: Some(reason),
        })
    }

    async fn withdraw(
        ctx: &mut WorkflowContext<Self>,
        by: &str,
        why: String,
    ) -> WorkflowResult<ReleaseOutcome> {
        let release_id = ctx.state(|s| s.input.release_id.clone());
        ctx.execute_activity(
            ReleaseActivities::withdraw_release,
            WithdrawInput {
                release_id,
                by: by.to_owned(),
                why: why.clone(),
            },
            short(),
        )
        .await?;
        ctx.state_mut(|s| s.stage = ReleaseStage::Withdrawn);
        Ok(ReleaseOutcome {
            stage: ReleaseStage::Withdrawn,
            gate_failures: Vec::new(),
            shadow_summary: None,
            decided_by: None,
            reason: Some(why),
        })
    }
}

// Database-only steps: 10 s is ample.
fn short() -> ActivityOptions {
    ActivityOptions::start_to_close_timeout(Duration::from_secs(10))
}

/// Version marker of the releases whose ethics poll is abandoned, not cancelled, when
/// the release is cancelled. The poll only reads the amendment's state, so there is
/// nothing to stop; asking the server to cancel it raced the poll's dispatch, and
/// Temporal's test server then refused the whole workflow task (`ACTIVITY_UNKNOWN`),
/// which left the withdrawal waiting for a task timeout. Releases from before the marker
/// replay with the cancel request they recorded.
pub const ETHICS_POLL_ABANDON_PATCH: &str = "ethics-poll-abandon";

fn ethics_poll_opts(ctx: &WorkflowContext<ModelReleaseWorkflow>) -> ActivityOptions {
    let mut opts = short();
    if ctx.patched(ETHICS_POLL_ABANDON_PATCH) {
        opts.cancellation_type = ActivityCancellationType::Abandon;
    }
    opts
}
