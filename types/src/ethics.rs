//! The ethics committee's review of AI projects: what a submission holds, the steps
//! people take on it (sent to its review workflow), and what the store returns. The
//! rules themselves live in `careflow_store::ethics`, which checks each step against
//! what is stored; these are only the shapes that cross the API and Temporal.

use serde::{Deserialize, Serialize};

/// What kind of review a submission asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionKind {
    /// A new project.
    Initial,
    /// A change to an approved project (a new model version's sign-off comes this way).
    Amendment,
    /// An incident in an approved project.
    Incident,
}

impl SubmissionKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionKind::Initial => "initial",
            SubmissionKind::Amendment => "amendment",
            SubmissionKind::Incident => "incident",
        }
    }
}

/// One document of a submission; its SHA-256 is computed when stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// File name.
    pub name: String,
    /// Its text.
    pub content: String,
}

/// What an applicant submits. Every field is required (an amendment or incident
/// report says what changes or happened in `technical_plan` and `risks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionContent {
    /// Project title.
    pub title: String,
    /// Technical plan.
    pub technical_plan: String,
    /// Use case.
    pub use_case: String,
    /// Expected benefit.
    pub expected_benefit: String,
    /// Risks.
    pub risks: String,
    /// Data used.
    pub data_used: String,
    /// Its legal basis.
    pub legal_basis: String,
    /// Consent plan.
    pub consent_plan: String,
    /// Algorithmic-bias assessment.
    pub bias_assessment: String,
    /// Documents.
    #[serde(default)]
    pub documents: Vec<Document>,
}

impl SubmissionContent {
    /// Every missing field, by name.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let fields = [
            ("title", &self.title),
            ("technical_plan", &self.technical_plan),
            ("use_case", &self.use_case),
            ("expected_benefit", &self.expected_benefit),
            ("risks", &self.risks),
            ("data_used", &self.data_used),
            ("legal_basis", &self.legal_basis),
            ("consent_plan", &self.consent_plan),
            ("bias_assessment", &self.bias_assessment),
        ];
        let mut missing: Vec<String> = fields
            .iter()
            .filter(|(_, v)| v.trim().is_empty())
            .map(|(k, _)| format!("{k}: must not be empty"))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for (i, d) in self.documents.iter().enumerate() {
            if d.name.trim().is_empty() {
                missing.push(format!("documents[{i}].name: must not be empty"));
            } else if !seen.insert(d.name.as_str()) {
                missing.push(format!("documents[{i}].name: {} appears twice", d.name));
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing.join("; "))
        }
    }
}

/// How the secretary routes a complete submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// No review needed (the reason is recorded).
    Exempt,
    /// One or two reviewers, who approve or refer to the full committee.
    Expedited,
    /// The full committee at a meeting.
    FullCommittee,
}

impl Route {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Exempt => "exempt",
            Route::Expedited => "expedited",
            Route::FullCommittee => "full_committee",
        }
    }
}

/// A reviewer's recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recommendation {
    /// Approve (an expedited reviewer's approval).
    Approve,
    /// Refer to the full committee (expedited only).
    Refer,
    /// Approve after modifications (full committee only).
    Modifications,
    /// Do not approve (full committee only: an expedited reviewer never disapproves).
    NotApprove,
}

impl Recommendation {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Recommendation::Approve => "approve",
            Recommendation::Refer => "refer",
            Recommendation::Modifications => "modifications",
            Recommendation::NotApprove => "not_approve",
        }
    }
}

/// A member's vote at a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vote {
    /// Approve.
    Approve,
    /// Approve after modifications.
    Modifications,
    /// Defer.
    Defer,
    /// Do not approve.
    NotApprove,
    /// Abstain.
    Abstain,
}

impl Vote {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Vote::Approve => "approve",
            Vote::Modifications => "modifications",
            Vote::Defer => "defer",
            Vote::NotApprove => "not_approve",
            Vote::Abstain => "abstain",
        }
    }
}

/// The committee's decision, signed by the chair with a decision letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Approved (continuing review starts).
    Approved,
    /// Approved once the applicant's modifications are verified.
    ApprovedAfterModifications,
    /// Deferred to a later meeting.
    Deferred,
    /// Not approved.
    NotApproved,
}

impl Outcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::ApprovedAfterModifications => "approved_after_modifications",
            Outcome::Deferred => "deferred",
            Outcome::NotApproved => "not_approved",
        }
    }
}

/// A submission as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// Id.
    pub submission_id: String,
    /// Kind.
    pub kind: String,
    /// The project it belongs to (itself for an initial submission).
    pub project_id: String,
    /// Who submitted it (the project lead).
    pub applicant: String,
    /// Title.
    pub title: String,
    /// Version (1, then one more per resubmission).
    pub version: i64,
    /// Where the review stands.
    pub state: String,
    /// Route chosen.
    pub route: Option<String>,
    /// Why (for an exemption).
    pub route_reason: Option<String>,
    /// SHA-256 of the current version's content.
    pub content_sha256: String,
    /// When the next step is due.
    pub due_at: String,
    /// Until when an approval holds.
    pub approved_until: Option<String>,
    /// The committee's decision.
    pub decision: Option<String>,
    /// The decision letter.
    pub decision_letter: Option<String>,
    /// The latest comments to the applicant (completeness, modifications).
    pub comments: Option<String>,
}

/// What the meeting's attendance amounts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    /// Id.
    pub meeting_id: String,
    /// Submission discussed.
    pub submission_id: String,
    /// Members present who count (conflicted members leave and do not).
    pub counted: Vec<String>,
    /// Whether the meeting may decide.
    pub quorate: bool,
    /// Why (counts and the lay member), in words.
    pub quorum_note: String,
}

/// One item of someone's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueItem {
    /// Submission.
    pub submission_id: String,
    /// Title.
    pub title: String,
    /// State.
    pub state: String,
    /// What is asked of this person.
    pub action: String,
    /// When due.
    pub due_at: String,
}

/// Input of the review workflow (`EthicsReviewWorkflow`): the stored submission it
/// drives. The workflow id is `ethics-ID` (`careflow_store::ethics::workflow_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthicsReviewInput {
    /// The submission (initial, amendment or incident), already stored.
    pub submission_id: String,
}

/// One person's step on a submission, as the API sends it to the review workflow's
/// `step` update. The actor is the signed-in user. A signing step carries the id of
/// the signature its actor made by re-entering their password at the API (the
/// password itself never reaches Temporal); the store uses that signature once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum EthicsStep {
    /// The secretary's completeness check.
    CheckCompleteness {
        /// Secretary.
        secretary: String,
        /// Complete (on to routing) or returned to the applicant.
        complete: bool,
        /// What was checked or what is missing.
        comments: String,
    },
    /// The applicant's new version of a returned submission.
    Resubmit {
        /// Applicant.
        applicant: String,
        /// The new content.
        content: SubmissionContent,
    },
    /// The secretary routes a complete submission.
    Route {
        /// Secretary.
        secretary: String,
        /// Route.
        route: Route,
        /// Why (required for an exemption).
        reason: String,
    },
    /// A member declares a conflict of interest with the project.
    DeclareConflict {
        /// Member.
        member: String,
        /// What the conflict is.
        reason: String,
    },
    /// The secretary assigns reviewers.
    AssignReviewers {
        /// Secretary.
        secretary: String,
        /// Reviewers (committee members).
        reviewers: Vec<String>,
    },
    /// An assigned reviewer's signed comments.
    Review {
        /// Reviewer.
        reviewer: String,
        /// Recommendation.
        recommendation: Recommendation,
        /// Comments.
        comments: String,
        /// The reviewer's signature (`reviewed`).
        signature_id: Option<String>,
    },
    /// The secretary records a meeting's attendance.
    HoldMeeting {
        /// Secretary.
        secretary: String,
        /// Members present.
        present: Vec<String>,
    },
    /// A member's signed vote at a quorate meeting.
    Vote {
        /// Meeting.
        meeting_id: String,
        /// Member.
        member: String,
        /// Vote.
        vote: Vote,
        /// The member's signature (`reviewed`).
        signature_id: Option<String>,
    },
    /// The chair's signed decision with its letter.
    Decide {
        /// Meeting.
        meeting_id: String,
        /// Chair.
        chair: String,
        /// Outcome (what the votes decided).
        outcome: Outcome,
        /// Decision letter.
        letter: String,
        /// The chair's signature (`responsible`).
        signature_id: Option<String>,
    },
    /// The applicant answers requested modifications.
    Respond {
        /// Applicant.
        applicant: String,
        /// What was modified.
        response: String,
    },
    /// The chair or a reviewer verifies the modifications, signed.
    Verify {
        /// Chair or reviewer.
        verifier: String,
        /// Accepted (approves) or not (asks again).
        accept: bool,
        /// What was verified.
        comments: String,
        /// The verifier's signature (`approved` or `rejected`).
        signature_id: Option<String>,
    },
    /// Continuing review: the chair renews an approved project's approval for another
    /// period from its expiry, on the lead's continuing-review report, signed.
    Renew {
        /// Chair.
        chair: String,
        /// What the continuing-review report showed (progress, incidents, changes).
        report: String,
        /// The chair's signature (`responsible`).
        signature_id: Option<String>,
    },
}

impl EthicsStep {
    /// Who takes the step.
    pub fn actor(&self) -> &str {
        match self {
            EthicsStep::CheckCompleteness { secretary, .. }
            | EthicsStep::Route { secretary, .. }
            | EthicsStep::AssignReviewers { secretary, .. }
            | EthicsStep::HoldMeeting { secretary, .. } => secretary,
            EthicsStep::Resubmit { applicant, .. } | EthicsStep::Respond { applicant, .. } => {
                applicant
            }
            EthicsStep::DeclareConflict { member, .. } | EthicsStep::Vote { member, .. } => member,
            EthicsStep::Review { reviewer, .. } => reviewer,
            EthicsStep::Decide { chair, .. } | EthicsStep::Renew { chair, .. } => chair,
            EthicsStep::Verify { verifier, .. } => verifier,
        }
    }

    /// The step's name, as in the API and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            EthicsStep::CheckCompleteness { .. } => "check_completeness",
            EthicsStep::Resubmit { .. } => "resubmit",
            EthicsStep::Route { .. } => "route",
            EthicsStep::DeclareConflict { .. } => "declare_conflict",
            EthicsStep::AssignReviewers { .. } => "assign_reviewers",
            EthicsStep::Review { .. } => "review",
            EthicsStep::HoldMeeting { .. } => "hold_meeting",
            EthicsStep::Vote { .. } => "vote",
            EthicsStep::Decide { .. } => "decide",
            EthicsStep::Respond { .. } => "respond",
            EthicsStep::Verify { .. } => "verify",
            EthicsStep::Renew { .. } => "renew",
        }
    }

    /// The submission states in which the step may come (`None`: any state in which
    /// the review is still open).
    pub fn states(&self) -> Option<&'static [&'static str]> {
        Some(match self {
            EthicsStep::CheckCompleteness { .. } => &["submitted"],
            EthicsStep::Resubmit { .. } => &["returned"],
            EthicsStep::Route { .. } => &["complete"],
            EthicsStep::DeclareConflict { .. } => return None,
            EthicsStep::AssignReviewers { .. } => &["awaiting_assignment"],
            EthicsStep::Review { .. } => &["in_review"],
            EthicsStep::HoldMeeting { .. } => &["awaiting_meeting", "deferred"],
            EthicsStep::Vote { .. } | EthicsStep::Decide { .. } => &["in_meeting"],
            EthicsStep::Respond { .. } => &["modifications_requested"],
            EthicsStep::Verify { .. } => &["modifications_submitted"],
            EthicsStep::Renew { .. } => &["approved"],
        })
    }

    /// The signature a signing step carries (`None` for a step that is not signed, or
    /// one not signed yet).
    pub fn signature_id(&self) -> Option<&str> {
        match self {
            EthicsStep::Review { signature_id, .. }
            | EthicsStep::Vote { signature_id, .. }
            | EthicsStep::Decide { signature_id, .. }
            | EthicsStep::Verify { signature_id, .. }
            | EthicsStep::Renew { signature_id, .. } => signature_id.as_deref(),
            _ => None,
        }
    }

    /// Whether the step is signed with the actor's password.
    pub fn is_signed(&self) -> bool {
        matches!(
            self,
            EthicsStep::Review { .. }
                | EthicsStep::Vote { .. }
                | EthicsStep::Decide { .. }
                | EthicsStep::Verify { .. }
                | EthicsStep::Renew { .. }
        )
    }
}

/// States in which a submission's review has ended (an approved initial submission
/// goes on into continuing review).
pub const ETHICS_FINAL_STATES: &[&str] = &["exempt", "not_approved", "suspended"];

/// What a step did: the submission as the store left it and, for a meeting, its
/// attendance and quorum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthicsStepDone {
    /// The submission after the step.
    pub submission: Submission,
    /// The meeting recorded (for `hold_meeting`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting: Option<Meeting>,
}

/// Where a review workflow stands (`status` query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthicsReviewStatus {
    /// The submission as the workflow last saw it (after its latest step).
    pub submission: Option<Submission>,
    /// Reminders sent for overdue steps and the approaching expiry.
    pub reminders: u32,
}

/// How a review workflow ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthicsReviewOutcome {
    /// Submission.
    pub submission_id: String,
    /// Final state (`exempt`, `not_approved`, `suspended`, or `approved` for an
    /// amendment or incident).
    pub state: String,
    /// The committee's decision, if any.
    pub decision: Option<String>,
    /// Reminders sent over the review.
    pub reminders: u32,
}
