//! careflow-types: the plain data that crosses careflow's boundaries.
//!
//! Workflow inputs and outputs, approval decisions, audit entries and the JSON bodies
//! of the HTTP API live here so that the workflows, the activities, the HTTP API and
//! the CLI agree on one shape. No I/O, no async, no database or engine types.
//!
//! ```
//! use careflow_types::{AdmissionRequest, AdmissionKind, Sex, AgeGroup};
//! let req = AdmissionRequest {
//!     patient_ref: "MRN-0001".into(),
//!     kind: AdmissionKind::Emergency,
//!     sex: Sex::Female,
//!     age_group: AgeGroup::Adult,
//!     specialty: "cardiology".into(),
//!     isolation: false,
//!     expected_los_days: 3,
//!     requested_by: "clerk.ana".into(),
//! };
//! assert!(req.validate().is_ok());
//! ```
#![warn(missing_docs)]

mod admission;
mod api;
mod audit;
mod auth;
mod bed_plan;
mod decisions;
pub mod ethics;
mod release;
mod roster;
mod scanner;
mod tasks;
mod theatre;

pub use admission::*;
pub use api::*;
pub use audit::*;
pub use auth::*;
pub use bed_plan::*;
pub use decisions::*;
pub use release::*;
pub use roster::*;
pub use scanner::*;
pub use tasks::*;
pub use theatre::*;

/// Temporal task queue every careflow worker polls.
pub const TASK_QUEUE: &str = "careflow";

/// Task queue of the solver and forecaster steps (seconds to minutes of CPU each),
/// polled by a worker of its own with a concurrency limit, so that the short
/// admission steps on [`TASK_QUEUE`] never wait behind a solve.
pub const COMPUTE_TASK_QUEUE: &str = "careflow-compute";

/// Start-to-close timeout of an admission's workflow tasks (Temporal's default is
/// 10 s). A workflow task is milliseconds of the worker's time; one held by a worker
/// that died is handed to another (or the restarted one) only when this runs out, so
/// it bounds how long a SIGKILL stalls the admissions that were in its hands.
pub const WORKFLOW_TASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a workflow task waits on the sticky queue of the worker that ran the
/// workflow's last task before it goes to any worker: bounds the stall when that
/// worker died (SDK default 10 s).
pub const STICKY_QUEUE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Temporal error type of an activity failure that retrying cannot heal (the data or
/// the store refused the step); named in every retry policy's non-retryable types.
pub const REFUSED_ERROR_TYPE: &str = "careflow.Refused";

/// A problem with one field of an input, located by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Where the problem is, as a JSON path (`specialty`, `expected_los_days`).
    pub field: String,
    /// What is wrong, in words a clerk understands.
    pub message: String,
}

impl FieldError {
    /// A problem at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Roles of careflow's users. Each API call names the roles allowed to make it, so a
/// user sees and does only what their job needs (least privilege).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Registers admission requests.
    AdmissionsClerk,
    /// Works the bed approval queue.
    BedManager,
    /// Receives escalated approvals when a bed manager does not answer in time.
    SiteManager,
    /// Reads and verifies the audit trail; sees no patient identifiers.
    Auditor,
    /// Administers users.
    Admin,
    /// Approves the week's operating-theatre lists and their day-of re-plans.
    TheatreAdmin,
    /// Runs the CT/MRI department: approves scanner bookings whose overbooking or
    /// breached deadlines exceed policy, and records attendance.
    ImagingManager,
    /// Heads a clinical department: approves the four-week nurse roster of its wards.
    DepartmentHead,
    /// Runs a ward's shift: approves re-rosters after a sick call or a surge.
    NurseInCharge,
    /// Leads an AI project: submits it to the ethics committee and answers its requests.
    ProjectLead,
    /// Runs the ethics committee's office: completeness checks, routing, meetings.
    EthicsSecretary,
    /// Sits on the ethics committee: reviews submissions and votes at meetings.
    CommitteeMember,
    /// Chairs the ethics committee: verifies modifications and signs decision letters.
    CommitteeChair,
}

impl Role {
    /// All roles, for help texts and validation.
    pub const ALL: [Role; 13] = [
        Role::AdmissionsClerk,
        Role::BedManager,
        Role::SiteManager,
        Role::Auditor,
        Role::Admin,
        Role::TheatreAdmin,
        Role::ImagingManager,
        Role::DepartmentHead,
        Role::NurseInCharge,
        Role::ProjectLead,
        Role::EthicsSecretary,
        Role::CommitteeMember,
        Role::CommitteeChair,
    ];

    /// The stable name stored in the database and used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::AdmissionsClerk => "admissions_clerk",
            Role::BedManager => "bed_manager",
            Role::SiteManager => "site_manager",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::TheatreAdmin => "theatre_admin",
            Role::ImagingManager => "imaging_manager",
            Role::DepartmentHead => "department_head",
            Role::NurseInCharge => "nurse_in_charge",
            Role::ProjectLead => "project_lead",
            Role::EthicsSecretary => "ethics_secretary",
            Role::CommitteeMember => "committee_member",
            Role::CommitteeChair => "committee_chair",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role '{s}' (expected one of: {})", names.join(", "))
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
