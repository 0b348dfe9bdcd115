//! Activities of the admission workflow: register the request, search for a bed, open
#![allow(missing_docs)] // the #[activities] macro generates undocumented items
//! / escalate / close approval tasks, record people's decisions, assign the bed.
//!
//! Each activity does its change and writes its audit entry in one transaction, keyed
//! by workflow id + step: a retry after a crash finds the work done and returns the
//! same answer instead of doing it twice.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::ApplicationFailure;

use careflow_types::{
    AdmissionInput, AdmissionStage, BedSearch, Decision, NewAuditEntry, NewTask, Role, TaskKind,
};

use crate::audit::{self, digest};
use crate::db::{now, Db};
use crate::hospital;

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

/// Input of [`AdmissionActivities::escalate_task`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EscalateInput {
    /// Task.
    pub task_id: String,
    /// Workflow.
    pub workflow_id: String,
    /// Queue that now owns the task.
    pub to_role: Role,
    /// New deadline (RFC 3339).
    pub due_at: String,
    /// Escalation number (1, 2...).
    pub escalation: u32,
}

/// Input of [`AdmissionActivities::record_decision`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordDecisionInput {
    /// Workflow.
    pub workflow_id: String,
    /// Kind of the decided task.
    pub kind: TaskKind,
    /// The decision.
    pub decision: Decision,
}

/// Input of [`AdmissionActivities::assign_bed`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignBedInput {
    /// Workflow.
    pub workflow_id: String,
    /// Admission.
    pub admission: AdmissionInput,
    /// Bed chosen.
    pub bed_id: String,
    /// Attempt number (a taken bed makes the workflow search again).
    pub attempt: u32,
    /// Who approved an exception, if a person did.
    pub approved_by: Option<String>,
}

/// Result of [`AdmissionActivities::assign_bed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignOutcome {
    /// The bed is the patient's.
    Assigned {
        /// Bed.
        bed_id: String,
    },
    /// Someone else got the bed first, or it no longer fits; search again.
    Unavailable {
        /// Why, in words.
        reason: String,
    },
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

/// An audit entry written by careflow itself for a workflow step, keyed by workflow id
/// and step so that a retried activity appends it once.
pub(crate) fn system_entry(workflow_id: &str, step: &str, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: "careflow".into(),
        role: "system".into(),
        action: action.into(),
        meaning: None,
        reason: None,
        workflow_id: Some(workflow_id.into()),
        step: Some(step.into()),
        input_digest: None,
        output_digest: None,
        idempotency_key: format!("{workflow_id}/{step}"),
    }
}

/// A failure that retrying cannot heal; the workflow sees `msg`.
pub(crate) fn non_retryable(msg: String) -> ActivityError {
    ActivityError::application(ApplicationFailure::non_retryable(msg))
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
        let req = &input.request;
        if let Err(errors) = req.validate() {
            let msg: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(non_retryable(format!(
                "invalid admission request: {}",
                msg.join("; ")
            )));
        }
        let ts = now();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO patients (patient_key, sex, age_group, created_at) VALUES ($1,$2,$3,$4) \
             ON CONFLICT (patient_key) DO NOTHING",
        )
        .bind(&req.patient_ref)
        .bind(req.sex.as_str())
        .bind(req.age_group.as_str())
        .bind(&ts)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO admissions (admission_id, workflow_id, patient_key, kind, sex, age_group, specialty, \
             isolation, expected_los_days, requested_by, status, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,'requested',$11,$11) ON CONFLICT (admission_id) DO NOTHING",
        )
        .bind(&input.admission_id)
        .bind(&workflow_id)
        .bind(&req.patient_ref)
        .bind(serde_json::to_value(req.kind)?.as_str().unwrap_or_default().to_owned())
        .bind(req.sex.as_str())
        .bind(req.age_group.as_str())
        .bind(&req.specialty)
        .bind(req.isolation as i64)
        .bind(req.expected_los_days as i64)
        .bind(&req.requested_by)
        .bind(&ts)
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            NewAuditEntry {
                actor: req.requested_by.clone(),
                role: Role::AdmissionsClerk.as_str().into(),
                action: "admission.requested".into(),
                meaning: Some("requested admission".into()),
                input_digest: Some(digest(&input)),
                ..system_entry(&workflow_id, "register", "")
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks bed availability and proposes a bed by the allocation rule.
    #[activity]
    pub async fn find_bed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: FindBedInput,
    ) -> Result<BedSearch, ActivityError> {
        let mut tx = self.db.begin_write().await?;
        let beds = hospital::bed_states(&mut *tx, Some(&input.workflow_id)).await?;
        let search = hospital::choose_bed(&input.admission.request, &beds);
        // The proposed bed is held for this admission until it is assigned or the
        // admission ends, so neither a concurrent admission nor the wait for a person's
        // approval loses it.
        hospital::hold_bed(
            &mut tx,
            &input.workflow_id,
            search.proposal.as_ref().map(|p| p.bed_id.as_str()),
            &input.admission.request,
        )
        .await?;
        let step = format!("find-bed/{}", input.attempt);
        let mut entry = system_entry(&input.workflow_id, &step, "admission.bed_search");
        entry.input_digest = Some(digest(&input.admission));
        entry.output_digest = Some(digest(&search));
        // A retried search may see other beds; the audit keeps the first answer's digest
        // and the workflow's history keeps whichever answer it used.
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(search)
    }

    /// Opens an approval task in a role's queue (idempotent by task id).
    #[activity]
    pub async fn open_task(
        self: Arc<Self>,
        _ctx: ActivityContext,
        task: NewTask,
    ) -> Result<(), ActivityError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO tasks (task_id, workflow_id, kind, role, status, summary, proposed_bed, due_at, \
             escalations, created_at) VALUES ($1,$2,$3,$4,'open',$5,$6,$7,0,$8) ON CONFLICT (task_id) DO NOTHING",
        )
        .bind(&task.task_id)
        .bind(&task.workflow_id)
        .bind(task.kind.as_str())
        .bind(task.role.as_str())
        .bind(&task.summary)
        .bind(&task.proposed_bed)
        .bind(&task.due_at)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        let mut entry = system_entry(
            &task.workflow_id,
            &format!("task/{}", task.task_id),
            "task.opened",
        );
        entry.input_digest = Some(digest(&task));
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves an undecided task to a higher queue with a new deadline.
    #[activity]
    pub async fn escalate_task(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: EscalateInput,
    ) -> Result<(), ActivityError> {
        let mut tx = self.db.begin_write().await?;
        // A claim by someone in the old queue lapses with the escalation.
        sqlx::query(
            "UPDATE tasks SET role = $1, due_at = $2, escalations = $3, status = 'open', claimed_by = NULL, \
             claimed_at = NULL WHERE task_id = $4 AND status IN ('open','claimed') AND escalations < $3",
        )
        .bind(input.to_role.as_str())
        .bind(&input.due_at)
        .bind(input.escalation as i64)
        .bind(&input.task_id)
        .execute(&mut *tx)
        .await?;
        let step = format!("task/{}/escalate/{}", input.task_id, input.escalation);
        let mut entry = system_entry(&input.workflow_id, &step, "task.escalated");
        entry.input_digest = Some(digest(&input));
        entry.reason = Some(format!(
            "no decision before the deadline; moved to {}",
            input.to_role
        ));
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a person's decision on the task and in the audit trail: who, what, when,
    /// why, and the meaning of the signature.
    #[activity]
    pub async fn record_decision(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RecordDecisionInput,
    ) -> Result<(), ActivityError> {
        let d = &input.decision;
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE tasks SET status = $1, decided_by = $2, decided_role = $3, decided_at = $4, \
             decision_reason = $5 WHERE task_id = $6 AND status IN ('open','claimed')",
        )
        .bind(if d.approve { "approved" } else { "rejected" })
        .bind(&d.actor)
        .bind(d.role.as_str())
        .bind(now())
        .bind(&d.reason)
        .bind(&d.task_id)
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            NewAuditEntry {
                actor: d.actor.clone(),
                role: d.role.as_str().into(),
                action: if d.approve {
                    "task.approved"
                } else {
                    "task.rejected"
                }
                .into(),
                meaning: Some(d.meaning(input.kind).into()),
                reason: Some(d.reason.clone()),
                workflow_id: Some(input.workflow_id.clone()),
                step: Some(format!("task/{}/decision", d.task_id)),
                input_digest: Some(digest(d)),
                output_digest: None,
                idempotency_key: format!("{}/task/{}/decision", input.workflow_id, d.task_id),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Assigns the bed. The same key always yields the same answer: a retry finds the
    /// assignment it made; a bed taken by another admission yields `Unavailable`.
    #[activity]
    pub async fn assign_bed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: AssignBedInput,
    ) -> Result<AssignOutcome, ActivityError> {
        let key = format!("{}/assign-bed/{}", input.workflow_id, input.attempt);
        let mut tx = self.db.begin_write().await?;
        if let Some(row) =
            sqlx::query("SELECT bed_id FROM bed_assignments WHERE assignment_id = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?
        {
            return Ok(AssignOutcome::Assigned {
                bed_id: row.try_get("bed_id").map_err(crate::Error::from)?,
            });
        }
        let beds = hospital::bed_states(&mut *tx, Some(&input.workflow_id)).await?;
        let req = &input.admission.request;
        let outcome = match beds.iter().find(|b| b.bed_id == input.bed_id) {
            None => AssignOutcome::Unavailable {
                reason: format!("bed {} does not exist or is out of service", input.bed_id),
            },
            Some(bed) => {
                let room: Vec<&hospital::BedState> =
                    beds.iter().filter(|b| b.room_id == bed.room_id).collect();
                match hospital::hard_rule_violation(req, bed, &room) {
                    Some(reason) => AssignOutcome::Unavailable { reason },
                    None => AssignOutcome::Assigned {
                        bed_id: bed.bed_id.clone(),
                    },
                }
            }
        };
        let ts = now();
        let step = format!("assign-bed/{}", input.attempt);
        let mut entry = system_entry(&input.workflow_id, &step, "admission.bed_unavailable");
        entry.input_digest = Some(digest(&input));
        entry.output_digest = Some(digest(&outcome));
        if let AssignOutcome::Assigned { bed_id } = &outcome {
            sqlx::query(
                "INSERT INTO bed_assignments (assignment_id, admission_id, bed_id, sex, isolation, assigned_at) \
                 VALUES ($1,$2,$3,$4,$5,$6)",
            )
            .bind(&key)
            .bind(&input.admission.admission_id)
            .bind(bed_id)
            .bind(req.sex.as_str())
            .bind(req.isolation as i64)
            .bind(&ts)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE admissions SET status = 'admitted', updated_at = $1 WHERE admission_id = $2")
                .bind(&ts)
                .bind(&input.admission.admission_id)
                .execute(&mut *tx)
                .await?;
            hospital::release_holds(&mut tx, &input.workflow_id).await?;
            entry.action = "admission.bed_assigned".into();
            entry.reason = input
                .approved_by
                .as_ref()
                .map(|who| format!("exception approved by {who}"));
        }
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Ends an admission without a bed (declined or cancelled): closes its open tasks
    /// and frees a bed it may hold.
    #[activity]
    pub async fn close_admission(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: CloseInput,
    ) -> Result<(), ActivityError> {
        let status = match input.stage {
            AdmissionStage::Declined => "declined",
            AdmissionStage::Cancelled => "cancelled",
            other => {
                return Err(non_retryable(format!(
                    "close_admission cannot end in {other:?}"
                )))
            }
        };
        let ts = now();
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE admissions SET status = $1, updated_at = $2 WHERE admission_id = $3")
            .bind(status)
            .bind(&ts)
            .bind(&input.admission_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE tasks SET status = 'cancelled' WHERE workflow_id = $1 AND status IN ('open','claimed')")
            .bind(&input.workflow_id)
            .execute(&mut *tx)
            .await?;
        hospital::release_holds(&mut tx, &input.workflow_id).await?;
        sqlx::query("UPDATE bed_assignments SET released_at = $1 WHERE admission_id = $2 AND released_at IS NULL")
            .bind(&ts)
            .bind(&input.admission_id)
            .execute(&mut *tx)
            .await?;
        let mut entry = system_entry(&input.workflow_id, "close", &format!("admission.{status}"));
        entry.actor = input.actor.clone();
        entry.reason = input.reason.clone();
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(())
    }
}
