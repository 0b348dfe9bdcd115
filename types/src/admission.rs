//! The admission process's inputs, states and outcome.

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Elective admissions are planned; emergencies arrive through the ED and get shorter
/// approval deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionKind {
    /// Planned admission.
    Elective,
    /// Unplanned admission from the emergency department.
    Emergency,
}

/// Sex as recorded for same-sex room rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
}

impl Sex {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
        }
    }
}

/// Age band; children are only placed on paediatric wards and adults never are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeGroup {
    /// Under 16.
    Child,
    /// 16 to 74.
    Adult,
    /// 75 and over.
    Elderly,
}

impl AgeGroup {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AgeGroup::Child => "child",
            AgeGroup::Adult => "adult",
            AgeGroup::Elderly => "elderly",
        }
    }
}

/// A request to admit one patient, as a clerk or the ED registers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionRequest {
    /// The hospital's patient identifier (MRN) as the clerk gives it. Sensitive: the
    /// API stores it in the domain database and replaces it with the patient's
    /// pseudonymous key before the request reaches a workflow, so Temporal's history,
    /// tasks, logs and the audit trail never hold it.
    pub patient_ref: String,
    /// Elective or emergency.
    pub kind: AdmissionKind,
    /// Sex, for same-sex rooms.
    pub sex: Sex,
    /// Age band, for paediatric rules.
    pub age_group: AgeGroup,
    /// Specialty whose ward should take the patient (e.g. `cardiology`).
    pub specialty: String,
    /// Whether the patient needs a single room (infection control).
    pub isolation: bool,
    /// Expected length of stay in days (1 to 365).
    pub expected_los_days: u32,
    /// User who registered the request (the API fills in the signed-in user).
    #[serde(default)]
    pub requested_by: String,
}

/// Longest stay a request may announce; longer stays are planned differently.
pub const MAX_LOS_DAYS: u32 = 365;

impl AdmissionRequest {
    /// Checks every field and returns all problems at once, each located.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let ref_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ref_ok(&self.patient_ref) {
            errors.push(FieldError::new(
                "patient_ref",
                "must be 1-64 characters of letters, digits, '-' or '_'",
            ));
        }
        if self.specialty.trim().is_empty() {
            errors.push(FieldError::new("specialty", "must not be empty"));
        } else if self.specialty.len() > 64 {
            errors.push(FieldError::new(
                "specialty",
                "must be at most 64 characters",
            ));
        }
        if self.expected_los_days == 0 || self.expected_los_days > MAX_LOS_DAYS {
            errors.push(FieldError::new(
                "expected_los_days",
                format!(
                    "must be between 1 and {MAX_LOS_DAYS}, got {}",
                    self.expected_los_days
                ),
            ));
        }
        if self.requested_by.trim().is_empty() {
            errors.push(FieldError::new(
                "requested_by",
                "must name the requesting user",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Input of the admission workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmissionInput {
    /// Stable id of this admission (also the key of every side effect it makes).
    pub admission_id: String,
    /// What was asked.
    pub request: AdmissionRequest,
    /// Set when the hospital's patient administration system (HL7 ADT) admitted the
    /// patient into a bed that careflow holds for another admission: the bed stays with
    /// that admission and the bed manager is asked about this one first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contested_bed: Option<ContestedBed>,
}

/// A bed the patient administration system put a patient in while careflow held it for
/// another admission (no patient data: bed and workflow ids only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContestedBed {
    /// The bed the sender named.
    pub bed_id: String,
    /// The admission workflow that holds it.
    pub held_for: String,
}

/// A bed the allocation rule proposes, with the soft rules it would break.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BedProposal {
    /// Bed id (e.g. `CARD-R2-B1`).
    pub bed_id: String,
    /// Ward of the bed.
    pub ward_id: String,
    /// Room of the bed.
    pub room_id: String,
    /// Soft rules the choice breaks, in words (empty: no approval needed).
    pub soft_breaks: Vec<String>,
}

/// What the availability check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BedSearch {
    /// Best bed, if any bed satisfies the hard rules.
    pub proposal: Option<BedProposal>,
    /// Free beds on the requested specialty's wards when the search ran.
    pub free_beds_on_specialty: u32,
    /// Why beds were excluded, summarised (for the approver).
    pub summary: String,
}

/// Where an admission stands; answered by the workflow's `status` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionStage {
    /// Registered, nothing decided yet.
    Requested,
    /// Looking for a bed.
    CheckingBeds,
    /// Waiting for a person to approve (see `task_id`).
    AwaitingApproval,
    /// Assigning the chosen bed.
    AssigningBed,
    /// Bed assigned: done.
    Admitted,
    /// A person declined the admission: done.
    Declined,
    /// Cancelled: done.
    Cancelled,
}

impl AdmissionStage {
    /// Whether the workflow has finished.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            AdmissionStage::Admitted | AdmissionStage::Declined | AdmissionStage::Cancelled
        )
    }
}

/// The workflow's answer to the `status` query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionStatus {
    /// Current stage.
    pub stage: AdmissionStage,
    /// Bed proposed or assigned.
    pub bed: Option<BedProposal>,
    /// Open approval task, if waiting for a person.
    pub task_id: Option<String>,
    /// How many times the open task was escalated.
    pub escalations: u32,
}

/// The workflow's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionOutcome {
    /// Final stage: admitted, declined or cancelled.
    pub stage: AdmissionStage,
    /// Assigned bed (admitted only).
    pub bed_id: Option<String>,
    /// The human reason for a decline or cancellation.
    pub reason: Option<String>,
}
