//! The approval step every process shares: a person must decide before the process
//! goes on.
//!
//! A task is opened in a role's queue with a deadline; the step waits for exactly one
//! valid decision on that task, or the deadline, at which the task escalates to the
//! next role and the wait starts again; the decision is then recorded. A decision is
//! checked three times: by the API (the signed-in user holds the task's role and
//! claim), by the workflow's update validator (the task is the one pending, its role,
//! not the requester, with a reason), and by the recording activity against the store
//! (the same, from the database, and the decider's signature: their unused signature of
//! this task and content, made by re-entering their password at the API). A decision
//! the store refuses is discarded, its refusal audited, and the step keeps waiting.
//!
//! A workflow embeds an [`Approval`] in its state, implements [`AwaitsApproval`],
//! calls [`ask`] where it needs a person, and routes its `decide` update and validator
//! to [`Approval::accept`] and [`Approval::validate`].

use std::time::Duration;

use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowResult};

use careflow_activities::approval::{ApprovalActivities, EscalateInput, RecordDecisionInput};
use careflow_types::{Decision, NewTask, Role, TaskKind};

/// What a workflow asks a person to decide.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    /// Task id, derived from the workflow id and step (idempotent creation).
    pub task_id: String,
    /// Why a person is asked.
    pub kind: TaskKind,
    /// The queue that decides first.
    pub role: Role,
    /// The queue the task moves to when nobody decides before the deadline.
    pub escalate_to: Role,
    /// How long each queue has.
    pub deadline: Duration,
    /// What the approver is asked, in words (no patient identifiers).
    pub summary: String,
    /// Bed proposed, if any.
    pub proposed_bed: Option<String>,
    /// Who asked for the work; they may not decide it.
    pub requested_by: Option<String>,
}

#[derive(Debug, Clone)]
struct PendingTask {
    task_id: String,
    role: Role,
    requested_by: Option<String>,
}

/// The approval step's part of a workflow's state.
#[derive(Debug, Clone, Default)]
pub struct Approval {
    pending: Option<PendingTask>,
    decision: Option<Decision>,
    escalations: u32,
}

/// A workflow whose state holds an [`Approval`].
pub trait AwaitsApproval {
    /// The approval state.
    fn approval(&self) -> &Approval;
    /// The approval state, to change.
    fn approval_mut(&mut self) -> &mut Approval;
}

impl Approval {
    /// The task waiting for a decision, if any.
    pub fn pending_task_id(&self) -> Option<String> {
        self.pending.as_ref().map(|p| p.task_id.clone())
    }

    /// Times the pending (or last) task escalated, over the workflow's life.
    pub fn escalations(&self) -> u32 {
        self.escalations
    }

    /// Refuses a decision that is not for the pending task, comes second, comes from a
    /// role that does not hold the task, comes from the person who asked for the work,
    /// or does not say why. Runs before the decision enters the workflow's history.
    pub fn validate(&self, d: &Decision) -> Result<(), String> {
        if let Some(done) = &self.decision {
            if done.task_id == d.task_id {
                return Err(format!(
                    "task {} was already decided by {}; a second decision is refused",
                    d.task_id, done.actor
                ));
            }
        }
        let Some(p) = &self.pending else {
            return Err(format!("task {} is not awaiting a decision", d.task_id));
        };
        if p.task_id != d.task_id {
            return Err(format!(
                "task {} is not the task this workflow waits on ({})",
                d.task_id, p.task_id
            ));
        }
        if d.role != p.role {
            return Err(format!(
                "task {} is in the {} queue; role {} may not decide it",
                d.task_id, p.role, d.role
            ));
        }
        if p.requested_by.as_deref() == Some(d.actor.as_str()) {
            return Err(format!(
                "task {} approves work that {} asked for; someone else must decide it",
                d.task_id, d.actor
            ));
        }
        if d.reason.trim().len() < 3 {
            return Err("a decision must say why".to_owned());
        }
        Ok(())
    }

    /// Withdraws the pending task (the workflow was cancelled): no decision is awaited.
    pub fn withdraw(&mut self) {
        self.pending = None;
    }

    /// Takes a validated decision; the waiting step goes on with it.
    pub fn accept(&mut self, d: Decision) -> String {
        let answer = format!(
            "task {} {}",
            d.task_id,
            if d.approve { "approved" } else { "rejected" }
        );
        self.decision = Some(d);
        answer
    }
}

/// Opens the task and waits for its decision, escalating at each deadline; returns the
/// decision once the store has recorded it.
pub async fn ask<W: AwaitsApproval + 'static>(
    ctx: &mut WorkflowContext<W>,
    req: ApprovalRequest,
) -> WorkflowResult<Decision> {
    let workflow_id = ctx.workflow_id().to_owned();
    ctx.state_mut(|s| s.approval_mut().decision = None);
    ctx.execute_activity(
        ApprovalActivities::open_task,
        NewTask {
            task_id: req.task_id.clone(),
            workflow_id: workflow_id.clone(),
            kind: req.kind,
            role: req.role,
            summary: req.summary.clone(),
            proposed_bed: req.proposed_bed.clone(),
            due_at: crate::due_at(ctx, req.deadline),
            requested_by: req.requested_by.clone(),
        },
        activity_opts(),
    )
    .await?;
    // Pending (and so shown in the status, and open to decisions) only once the store
    // holds the task: a reader who sees the task id can then always fetch the task.
    ctx.state_mut(|s| {
        s.approval_mut().pending = Some(PendingTask {
            task_id: req.task_id.clone(),
            role: req.role,
            requested_by: req.requested_by.clone(),
        })
    });
    loop {
        loop {
            let decided = temporalio_sdk::workflows::select! {
                // Only a decision that passes the validator sets it.
                r = ctx.wait_condition(|s: &W| s.approval().decision.is_some()) => { r?; true }
                _ = ctx.timer(req.deadline) => false
            };
            if decided {
                break;
            }
            let escalation = ctx.state_mut(|s| {
                let a = s.approval_mut();
                a.escalations += 1;
                if let Some(p) = a.pending.as_mut() {
                    p.role = req.escalate_to;
                }
                a.escalations
            });
            ctx.execute_activity(
                ApprovalActivities::escalate_task,
                EscalateInput {
                    task_id: req.task_id.clone(),
                    workflow_id: workflow_id.clone(),
                    to_role: req.escalate_to,
                    due_at: crate::due_at(ctx, req.deadline),
                    escalation,
                },
                activity_opts(),
            )
            .await?;
        }
        let decision = ctx
            .state(|s| s.approval().decision.clone())
            .expect("waited for it above");
        let refused = ctx
            .execute_activity(
                ApprovalActivities::record_decision,
                RecordDecisionInput {
                    workflow_id: workflow_id.clone(),
                    kind: req.kind,
                    decision: decision.clone(),
                },
                activity_opts(),
            )
            .await?;
        match refused {
            None => {
                ctx.state_mut(|s| s.approval_mut().pending = None);
                return Ok(decision);
            }
            // The store refused it (the refusal is audited): wait for a valid one.
            Some(_) => ctx.state_mut(|s| s.approval_mut().decision = None),
        }
    }
}

// Each activity is one short database transaction: 10 s is ample, and a worker killed
// mid-activity delays the retry by no more than that.
fn activity_opts() -> ActivityOptions {
    crate::step_opts(Duration::from_secs(10))
}
