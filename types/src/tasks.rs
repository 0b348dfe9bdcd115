//! Human approval tasks and the decisions people make on them.

use serde::{Deserialize, Serialize};

use crate::{FieldError, Role};

/// Why a workflow waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// The proposed bed breaks a soft rule (outlier ward, mixed ages...).
    OutlierBed,
    /// No bed satisfies the hard rules; the approver may name a bed or decline.
    NoBed,
    /// A proposed bed plan waits for approval before it is published.
    BedPlan,
    /// A proposed week of theatre lists (or a re-plan that moves booked patients)
    /// waits for approval before it is published.
    TheatreList,
    /// A proposed ward nurse roster waits for the department head's approval.
    Roster,
    /// A re-roster of the days a sick call or a surge affects waits for the ward's
    /// nurse in charge.
    Reroster,
    /// A scanner booking whose overbooking or breached deadlines exceed policy waits
    /// for the imaging manager.
    ScannerBooking,
    /// A scan request cannot be served before its deadline: the imaging manager decides.
    ScanDeadline,
    /// A model version that went through validation, the ethics sign-off and its shadow
    /// period waits for its owner's promotion to production.
    ModelPromotion,
}

impl TaskKind {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::OutlierBed => "outlier_bed",
            TaskKind::NoBed => "no_bed",
            TaskKind::BedPlan => "bed_plan",
            TaskKind::TheatreList => "theatre_list",
            TaskKind::Roster => "roster",
            TaskKind::Reroster => "reroster",
            TaskKind::ScannerBooking => "scanner_booking",
            TaskKind::ScanDeadline => "scan_deadline",
            TaskKind::ModelPromotion => "model_promotion",
        }
    }
}

/// What the workflow asks the task queue to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    /// Task id, derived from the workflow id and step (idempotent creation).
    pub task_id: String,
    /// Workflow waiting on it.
    pub workflow_id: String,
    /// Why.
    pub kind: TaskKind,
    /// Queue (role) that must decide.
    pub role: Role,
    /// What the approver is asked, in words (no patient identifiers).
    pub summary: String,
    /// Bed proposed, if any.
    pub proposed_bed: Option<String>,
    /// When the task escalates if nobody decides (RFC 3339, UTC).
    pub due_at: String,
    /// Who asked for the work this task approves; they may not decide it (separation
    /// of duties). Absent in tasks opened by workflow versions before this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// A person's decision on a task, as it reaches the workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The task decided.
    pub task_id: String,
    /// Approve or reject.
    pub approve: bool,
    /// Who decided (user name).
    pub actor: String,
    /// In which role.
    pub role: Role,
    /// Why (required: the audit trail must say).
    pub reason: String,
    /// For `no_bed` tasks: the bed the approver names.
    pub bed_id: Option<String>,
    /// The signature the decider made by re-entering their password (see
    /// [`crate::Signature`]); the store refuses a decision without a valid one. Absent
    /// in decisions recorded before signatures (saved histories replay unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_id: Option<String>,
}

impl Decision {
    /// What a signature on this decision means.
    pub fn signature_meaning(&self) -> crate::SignatureMeaning {
        if self.approve {
            crate::SignatureMeaning::Approved
        } else {
            crate::SignatureMeaning::Rejected
        }
    }

    /// The meaning of this signature, recorded in the audit trail.
    pub fn meaning(&self, kind: TaskKind) -> &'static str {
        match (kind, self.approve) {
            (TaskKind::OutlierBed, true) => "approved outlier bed assignment",
            (TaskKind::NoBed, true) => "approved bed assignment without a matching free bed",
            (TaskKind::BedPlan, true) => "approved bed plan for publication",
            (TaskKind::BedPlan, false) => "rejected proposed bed plan",
            (TaskKind::TheatreList, true) => "approved theatre list for publication",
            (TaskKind::TheatreList, false) => "rejected proposed theatre list",
            (TaskKind::Roster, true) => "approved nurse roster for publication",
            (TaskKind::Roster, false) => "rejected proposed nurse roster",
            (TaskKind::Reroster, true) => "approved re-roster for publication",
            (TaskKind::Reroster, false) => "rejected proposed re-roster",
            (TaskKind::ScannerBooking, true) => "approved scanner booking beyond policy",
            (TaskKind::ScannerBooking, false) => "rejected proposed scanner booking",
            (TaskKind::ScanDeadline, true) => "accepted scan requests missing their deadline",
            (TaskKind::ScanDeadline, false) => "rejected scanner booking missing deadlines",
            (TaskKind::ModelPromotion, true) => "approved model version for production",
            (TaskKind::ModelPromotion, false) => "declined model version for production",
            (_, false) => "declined admission",
        }
    }
}

/// Body of `POST /api/tasks/{id}/decision`. The decider signs it: `password` is their
/// own, re-entered for this decision (never stored, never logged: `Debug` hides it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Approve or reject.
    pub approve: bool,
    /// Why; at least a few words.
    pub reason: String,
    /// Bed the approver names (for `no_bed` tasks).
    #[serde(default)]
    pub bed_id: Option<String>,
    /// The decider's password: the decision is signed with it.
    pub password: String,
}

impl std::fmt::Debug for DecisionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionRequest")
            .field("approve", &self.approve)
            .field("reason", &self.reason)
            .field("bed_id", &self.bed_id)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl DecisionRequest {
    /// Checks the fields, each problem located.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.reason.trim().len() < 3 {
            errors.push(FieldError::new(
                "reason",
                "a decision must say why (at least 3 characters)",
            ));
        }
        if let Some(bed) = &self.bed_id {
            if bed.trim().is_empty() {
                errors.push(FieldError::new("bed_id", "must not be empty when given"));
            }
        }
        if self.password.is_empty() {
            errors.push(FieldError::new(
                "password",
                "a decision is signed: re-enter your password",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A task as the queue shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// Task id.
    pub task_id: String,
    /// Workflow waiting on it.
    pub workflow_id: String,
    /// Why.
    pub kind: String,
    /// Queue (role).
    pub role: String,
    /// `open`, `claimed`, `approved`, `rejected`, `cancelled`.
    pub status: String,
    /// What is asked.
    pub summary: String,
    /// Proposed bed.
    pub proposed_bed: Option<String>,
    /// Who claimed it.
    pub claimed_by: Option<String>,
    /// When it escalates.
    pub due_at: String,
    /// Times escalated.
    pub escalations: i64,
    /// When created.
    pub created_at: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// Why.
    pub decision_reason: Option<String>,
    /// Who asked for the work (may not decide it).
    #[serde(default)]
    pub requested_by: Option<String>,
    /// The signature of the decision, once decided with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_id: Option<String>,
}
