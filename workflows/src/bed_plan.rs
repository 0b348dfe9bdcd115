//! The daily bed plan.
//!
//! The production `ed-arrivals` model forecasts emergency demand for the plan's days
//! (the model's name, version and file hash are recorded with the plan); the
//! bed-allocation MILP places every inpatient so that same-sex bays, isolation and
//! ward rules hold, outliers and moves are few and the forecast 0.9 quantile of
//! emergency admissions stays free where possible. A bed manager approves or rejects
//! the proposal (escalating to the site manager at the deadline); an approved plan is
//! published and becomes the reference the next plan avoids reshuffling. An input no
//! plan can satisfy ends as infeasible, naming the conflicting constraints.
//!
//! States: requested -> forecasting -> solving -> awaiting approval -> published |
//! rejected; or solving -> infeasible.

// The workflow macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Duration;

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult,
};

use careflow_activities::bed_plan::{
    BedPlanActivities, ConcludeInput, ForecastDemandInput, ProposeInput,
};
use careflow_types::{
    BedPlanInput, BedPlanOutcome, BedPlanProposal, BedPlanStage, BedPlanStatus, Decision, Role,
    TaskKind,
};

use crate::approval::{self, Approval, ApprovalRequest, AwaitsApproval};

/// How long a bed manager has to decide before the plan escalates.
pub const PLAN_APPROVAL_DEADLINE: Duration = Duration::from_secs(2 * 60 * 60);

/// One bed plan's state.
#[workflow]
pub struct BedPlanWorkflow {
    input: BedPlanInput,
    stage: BedPlanStage,
    proposal: Option<BedPlanProposal>,
    approval: Approval,
}

impl AwaitsApproval for BedPlanWorkflow {
    fn approval(&self) -> &Approval {
        &self.approval
    }
    fn approval_mut(&mut self) -> &mut Approval {
        &mut self.approval
    }
}

#[workflow_methods]
impl BedPlanWorkflow {
    /// Starts a plan for `input`.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: BedPlanInput) -> Self {
        Self {
            input,
            stage: BedPlanStage::Requested,
            proposal: None,
            approval: Approval::default(),
        }
    }

    /// Runs the plan to its end.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<BedPlanOutcome> {
        let plan = ctx.state(|s| s.input.clone());
        let workflow_id = ctx.workflow_id().to_owned();
        ctx.state_mut(|s| s.stage = BedPlanStage::Forecasting);
        let demand = ctx
            .execute_activity(
                BedPlanActivities::forecast_emergency_demand,
                ForecastDemandInput {
                    workflow_id: workflow_id.clone(),
                    plan: plan.clone(),
                },
                crate::compute_opts(ctx, Duration::from_secs(60)),
            )
            .await?;
        ctx.state_mut(|s| s.stage = BedPlanStage::Solving);
        // The solver's own limit plus time to read the snapshot and write the plan.
        let solve_timeout = Duration::from_secs(u64::from(plan.request.solve_seconds) + 60);
        let proposal = ctx
            .execute_activity(
                BedPlanActivities::propose_bed_plan,
                ProposeInput {
                    workflow_id: workflow_id.clone(),
                    plan: plan.clone(),
                    demand,
                },
                crate::compute_opts(ctx, solve_timeout),
            )
            .await?;
        ctx.state_mut(|s| s.proposal = Some(proposal.clone()));
        if !proposal.conflicts.is_empty() {
            ctx.state_mut(|s| s.stage = BedPlanStage::Infeasible);
            return Ok(BedPlanOutcome {
                stage: BedPlanStage::Infeasible,
                proposal,
                decided_by: None,
                reason: None,
            });
        }

        let decision = Self::ask_bed_manager(ctx, &workflow_id, &proposal).await?;
        ctx.execute_activity(
            BedPlanActivities::conclude_bed_plan,
            ConcludeInput {
                workflow_id: workflow_id.clone(),
                plan_id: plan.plan_id.clone(),
                decision: decision.clone(),
            },
            short(),
        )
        .await?;
        let stage = if decision.approve {
            BedPlanStage::Published
        } else {
            BedPlanStage::Rejected
        };
        ctx.state_mut(|s| s.stage = stage);
        Ok(BedPlanOutcome {
            stage,
            proposal,
            decided_by: Some(decision.actor),
            reason: Some(decision.reason),
        })
    }

    /// Where the plan stands.
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> BedPlanStatus {
        BedPlanStatus {
            stage: self.stage,
            task_id: self.approval.pending_task_id(),
            proposal: self.proposal.clone(),
        }
    }

    /// Refuses a decision that is not for the open task, comes second, or comes from
    /// the wrong role or the person who asked for the plan.
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
            ": the bed plan is published"
        } else {
            ": the bed plan is not published"
        };
        self.approval.accept(decision) + consequence
    }
}

impl BedPlanWorkflow {
    async fn ask_bed_manager(
        ctx: &mut WorkflowContext<Self>,
        workflow_id: &str,
        proposal: &BedPlanProposal,
    ) -> WorkflowResult<Decision> {
        let task_id = format!("{workflow_id}-approve");
        let p = &proposal.demand.provenance;
        let summary = format!(
            "Bed plan for {} ({} days): {} patients, {} moves, {} outlier patient-days, \
             {:.0} bed-days short of the emergency reserve; solver {}. Emergency demand from {} {} \
             (sha256 {}).",
            ctx.state(|s| s.input.request.plan_date.clone()),
            ctx.state(|s| s.input.request.horizon_days),
            proposal.patients,
            proposal.transfers,
            proposal.outlier_days,
            proposal.reserve_shortfall,
            proposal.solver_status,
            p.model_name,
            p.model_version,
            &p.model_sha256[..p.model_sha256.len().min(12)],
        );
        let requested_by = ctx.state(|s| s.input.request.requested_by.clone());
        ctx.state_mut(|s| s.stage = BedPlanStage::AwaitingApproval);
        approval::ask(
            ctx,
            ApprovalRequest {
                task_id,
                kind: TaskKind::BedPlan,
                role: Role::BedManager,
                escalate_to: Role::SiteManager,
                deadline: PLAN_APPROVAL_DEADLINE,
                summary,
                proposed_bed: None,
                requested_by: Some(requested_by),
            },
        )
        .await
    }
}

// Database-only steps: 10 s is ample.
fn short() -> ActivityOptions {
    crate::step_opts(Duration::from_secs(10))
}
