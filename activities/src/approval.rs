//! Activities of the approval step every workflow shares: open a task in a role's
//! queue, escalate it at its deadline, record the decision that reached the workflow.
//!
//! Recording checks the decision again against the store (the decider is a user who
//! holds the task's role and its claim, did not ask for the work, and signed this very
//! decision with their password); a decision that fails is not recorded, its refusal is
//! audited, and the workflow keeps waiting. So a decision sent straight to Temporal,
//! past the API, cannot approve anything.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_store::tasks::{self, Recorded};
use careflow_store::Db;
use careflow_types::{Decision, NewTask, TaskKind};

pub use careflow_store::tasks::Escalation as EscalateInput;

use crate::store_failure;

/// The approval step's activities, holding the domain database.
pub struct ApprovalActivities {
    db: Db,
}

impl ApprovalActivities {
    /// Activities writing to `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// Input of [`ApprovalActivities::record_decision`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordDecisionInput {
    /// Workflow.
    pub workflow_id: String,
    /// Kind of the decided task.
    pub kind: TaskKind,
    /// The decision.
    pub decision: Decision,
}

// The activity names are those the admission workflow registered them under when the
// approval step was its own: histories recorded then replay against these activities.
#[activities]
impl ApprovalActivities {
    /// Opens an approval task in a role's queue (idempotent by task id).
    #[activity(name = "AdmissionActivities::open_task")]
    pub async fn open_task(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: NewTask,
    ) -> Result<(), ActivityError> {
        tasks::open(&self.db, &task).await.map_err(store_failure)
    }

    /// Moves an undecided task to a higher queue with a new deadline.
    #[activity(name = "AdmissionActivities::escalate_task")]
    pub async fn escalate_task(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: EscalateInput,
    ) -> Result<(), ActivityError> {
        tasks::escalate(&self.db, &input)
            .await
            .map_err(store_failure)
    }

    /// Records a person's decision on the task and in the audit trail, after checking
    /// it against the store. Returns `None` when recorded, or the reason it was
    /// refused (the workflow then discards the decision and keeps waiting).
    #[activity(name = "AdmissionActivities::record_decision")]
    pub async fn record_decision(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecordDecisionInput,
    ) -> Result<Option<String>, ActivityError> {
        match tasks::record_decision(&self.db, &input.workflow_id, input.kind, &input.decision)
            .await
            .map_err(store_failure)?
        {
            Recorded::Recorded => Ok(None),
            Recorded::Refused(reason) => {
                tracing::warn!(task_id = %input.decision.task_id, %reason, "decision refused");
                Ok(Some(reason))
            }
        }
    }
}
