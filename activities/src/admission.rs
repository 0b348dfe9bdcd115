//! Activities of the admission workflow: register the request, search for a bed (and
//! hold it), assign it, or close an admission that gets none. Each is one store
//! transaction with its audit entry, keyed by workflow id + step.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_store::{admissions, Db};
use careflow_types::{AdmissionInput, AdmissionStage, BedSearch};

pub use careflow_store::admissions::{AssignBed as AssignBedInput, AssignOutcome};

use crate::{heartbeating, store_failure};

/// The admission workflow's activities, holding the domain database.
pub struct AdmissionActivities {
    db: Db,
}

impl AdmissionActivities {
    /// Activities writing to `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// Input of [`AdmissionActivities::find_bed`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindBedInput {
    /// Workflow id (audit and idempotency).
    pub workflow_id: String,
    /// The admission.
    pub admission: AdmissionInput,
    /// Search number within the workflow (1, 2...).
    pub attempt: u32,
}

/// Input of [`AdmissionActivities::close_admission`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloseInput {
    /// Workflow.
    pub workflow_id: String,
    /// Admission.
    pub admission_id: String,
    /// Declined or cancelled.
    pub stage: AdmissionStage,
    /// Why.
    pub reason: Option<String>,
    /// Who (a user for declines, `careflow` for cancellations it was told of).
    pub actor: String,
}

#[activities]
impl AdmissionActivities {
    /// Stores the patient and the admission request (idempotent), audited as the
    /// requesting clerk's action.
    #[activity]
    pub async fn register_admission(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: AdmissionInput,
    ) -> Result<(), ActivityError> {
        let workflow_id = ctx
            .info()
            .workflow_id
            .clone()
            .unwrap_or_else(|| format!("admission-{}", input.admission_id));
        heartbeating(&ctx, admissions::register(&self.db, &workflow_id, &input))
            .await
            .map_err(store_failure)
    }

    /// Checks bed availability and proposes (and holds) a bed by the allocation rule.
    #[activity]
    pub async fn find_bed(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: FindBedInput,
    ) -> Result<BedSearch, ActivityError> {
        let search = admissions::find_bed(
            &self.db,
            &input.workflow_id,
            &input.admission,
            input.attempt,
        );
        heartbeating(&ctx, search).await.map_err(store_failure)
    }

    /// Assigns the bed. The same key always yields the same answer: a retry finds the
    /// assignment it made; a bed taken by another admission yields `Unavailable`.
    #[activity]
    pub async fn assign_bed(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: AssignBedInput,
    ) -> Result<AssignOutcome, ActivityError> {
        heartbeating(&ctx, admissions::assign_bed(&self.db, &input))
            .await
            .map_err(store_failure)
    }

    /// Ends an admission without a bed (declined or cancelled): closes its open tasks
    /// and frees a bed it may hold.
    #[activity]
    pub async fn close_admission(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: CloseInput,
    ) -> Result<(), ActivityError> {
        let close = admissions::close(
            &self.db,
            &input.workflow_id,
            &input.admission_id,
            input.stage,
            input.reason.as_deref(),
            &input.actor,
        );
        heartbeating(&ctx, close).await.map_err(store_failure)
    }
}
