//! Answers of the HTTP API that are not domain records themselves: what a route
//! started or changed, and the one error body every route answers with on failure.
//! The server serialises these and the typed client reads them, so they agree on one
//! shape; field names are part of the wire format.

use serde::{Deserialize, Serialize};

use crate::{BedPlanRecord, BedPlanStatus, FieldError};

/// `GET /api/health`: 200 when the domain database and Temporal both answer, else 503
/// with the one that does not named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or `unavailable` when either part is down.
    pub status: String,
    /// `ok`, or `down: ` and why.
    #[serde(default)]
    pub database: String,
    /// `ok`, or `down: ` and why.
    #[serde(default)]
    pub temporal: String,
}

/// `POST /api/admissions`: the admission started (201), or the one an earlier request
/// with the same `Idempotency-Key` started (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionStarted {
    /// Admission id (stable per user and idempotency key).
    pub admission_id: String,
    /// Id of the workflow that runs it (`admission-ADMISSION_ID`).
    pub workflow_id: String,
}

/// `POST /api/admissions/{workflow_id}/cancel`: cancellation was requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequested {
    /// Who asked.
    pub cancel_requested_by: String,
    /// The admission's workflow.
    pub workflow_id: String,
}

/// `POST /api/admissions/{workflow_id}/discharge`: the patient left and the bed is free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discharged {
    /// The bed released.
    pub bed_released: String,
    /// The admission's workflow.
    pub workflow_id: String,
}

/// `POST /api/tasks/{task_id}/decision`: the waiting workflow accepted the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionOutcome {
    /// Who decided (the signed-in user).
    pub decided_by: String,
    /// The workflow's answer, in words.
    pub result: String,
    /// The task decided.
    pub task_id: String,
}

/// `POST /api/bed-plans`: the plan started (201), or the one an earlier request with
/// the same `Idempotency-Key` started (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BedPlanStarted {
    /// Plan id (the workflow id).
    pub plan_id: String,
}

/// `GET /api/bed-plans/{plan_id}`: `{"record": ...}` once the plan is stored (proposed
/// or concluded), `{"status": ...}` while its workflow is still working on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BedPlanView {
    /// The stored plan.
    Record(BedPlanRecord),
    /// Where the workflow stands before anything is stored.
    Status(BedPlanStatus),
}

/// The body of every error answer: `{"error": {"code", "message", "fields"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// What went wrong.
    pub error: ApiErrorDetail,
}

/// What went wrong, for people (`message`) and programs (`code`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    /// Stable code: `invalid_request`, `unauthenticated`, `bad_credentials` (a wrong
    /// password), `locked` (too many wrong passwords), `forbidden`, `not_found`,
    /// `conflict`, `internal`.
    pub code: String,
    /// What is wrong and where, in words.
    pub message: String,
    /// For `invalid_request`: each bad field, located.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
}

/// `POST /api/theatre-weeks`: the week's workflow started (201), or the one an earlier
/// request with the same `Idempotency-Key` started (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TheatreWeekStarted {
    /// List id (the workflow id): `theatre-WEEK_START-...`.
    pub list_id: String,
}

/// `GET /api/theatre-weeks/{list_id}`: where the week's workflow stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreWeekView {
    /// List id.
    pub list_id: String,
    /// Temporal's word for the execution: `running`, `completed`, `failed`,
    /// `cancelled`, `terminated` or `timed_out`.
    pub execution: String,
    /// The workflow's own account (stage, revisions, open task, latest proposal);
    /// absent for a week that failed before it had one.
    pub status: Option<crate::TheatreListStatus>,
    /// Why the week failed (a procedure the duration model does not know, ...),
    /// located by field.
    pub failure: Option<String>,
}

/// One stored revision of a week's list, in a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreRevisionLine {
    /// Revision.
    pub revision: u32,
    /// proposed, published, rejected, superseded, infeasible or cancelled.
    pub status: String,
    /// Who asked for it (the week's requester or the event's reporter).
    pub requested_by: String,
    /// Who decided (`careflow` when published without approval).
    pub decided_by: Option<String>,
    /// Cases booked.
    pub booked: usize,
    /// Booked patients moved or deferred against the list in force before it.
    pub changes: usize,
    /// The day-of events it answers, in words.
    pub replanned_after: Vec<String>,
}

/// `GET /api/theatre-weeks/{list_id}/list`: the list in force and the latest proposal
/// of a week, as stored (what was approved and what the approver sees now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreWeekLists {
    /// List id.
    pub list_id: String,
    /// The published revision, if one is in force.
    pub in_force: Option<crate::TheatreListRecord>,
    /// The most recent revision (the one in force, or one awaiting a decision,
    /// rejected or infeasible).
    pub latest: Option<crate::TheatreListRecord>,
    /// Every revision, oldest first.
    pub revisions: Vec<TheatreRevisionLine>,
}

/// `POST /api/theatre-weeks/{list_id}/events`: the week took the day-of event and
/// re-plans from its day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TheatreEventAccepted {
    /// List id.
    pub list_id: String,
    /// Who reported it (the signed-in user).
    pub reported_by: String,
    /// The workflow's answer, in words.
    pub result: String,
}

/// Body of `POST /api/theatre-weeks/{list_id}/close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseWeekRequest {
    /// Why the week's lists are final (recorded).
    pub reason: String,
}

/// `POST /api/theatre-weeks/{list_id}/close`: the week is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TheatreWeekClosed {
    /// List id.
    pub list_id: String,
    /// Who closed it (the signed-in user).
    pub closed_by: String,
    /// The workflow's answer, in words.
    pub result: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BedPlanStage;

    // These bodies replaced `json!` objects in the API; the bytes on the wire (keys in
    // alphabetical order, as serde_json's map wrote them) must not change.
    #[test]
    fn bodies_keep_their_wire_format() {
        let cancel = CancelRequested {
            cancel_requested_by: "ana".into(),
            workflow_id: "admission-1".into(),
        };
        assert_eq!(
            serde_json::to_string(&cancel).unwrap(),
            r#"{"cancel_requested_by":"ana","workflow_id":"admission-1"}"#
        );
        let outcome = DecisionOutcome {
            decided_by: "ben".into(),
            result: "approved".into(),
            task_id: "t1".into(),
        };
        assert_eq!(
            serde_json::to_string(&outcome).unwrap(),
            r#"{"decided_by":"ben","result":"approved","task_id":"t1"}"#
        );
        let view = BedPlanView::Status(BedPlanStatus {
            stage: BedPlanStage::Solving,
            task_id: None,
            proposal: None,
        });
        let json = serde_json::to_string(&view).unwrap();
        assert_eq!(
            json,
            r#"{"status":{"stage":"solving","task_id":null,"proposal":null}}"#
        );
        assert_eq!(serde_json::from_str::<BedPlanView>(&json).unwrap(), view);
        let error: ApiErrorBody = serde_json::from_str(
            r#"{"error":{"code":"invalid_request","message":"los: too short","fields":[{"field":"los","message":"too short"}]}}"#,
        )
        .unwrap();
        assert_eq!(error.error.fields.unwrap()[0].field, "los");
    }
}

/// `POST /api/ethics/submissions` (and an amendment's or incident's): the submission
/// stored and its review workflow started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EthicsSubmitted {
    /// Submission.
    pub submission_id: String,
    /// Its review workflow (`ethics-ID`).
    pub workflow_id: String,
}

/// `POST /api/ethics/members`: who sits on the committee, scientific or lay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsMemberRequest {
    /// User (committee member or chair).
    pub user: String,
    /// A lay member (else scientific).
    pub lay: bool,
}

/// `POST /api/ethics/submissions/{id}/check`: the secretary's completeness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsCheckRequest {
    /// Complete, or returned to the applicant.
    pub complete: bool,
    /// What was checked or what is missing.
    pub comments: String,
}

/// `POST /api/ethics/submissions/{id}/route`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsRouteRequest {
    /// Exempt, expedited or full committee.
    pub route: crate::ethics::Route,
    /// Why.
    pub reason: String,
}

/// `POST /api/ethics/submissions/{id}/conflicts`: the signed-in member's declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsConflictRequest {
    /// What the conflict is.
    pub reason: String,
}

/// `POST /api/ethics/submissions/{id}/reviewers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsAssignRequest {
    /// Reviewers.
    pub reviewers: Vec<String>,
}

/// `POST /api/ethics/submissions/{id}/meetings`: attendance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsMeetingRequest {
    /// Members present.
    pub present: Vec<String>,
}

/// `POST /api/ethics/submissions/{id}/respond`: the applicant's answer to requested
/// modifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsRespondRequest {
    /// What was modified.
    pub response: String,
}

/// Hides a password in `Debug` output.
struct Hidden;

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

fn password_error(password: &str) -> Result<(), Vec<FieldError>> {
    if password.is_empty() {
        Err(vec![FieldError::new(
            "password",
            "this step is signed: re-enter your password",
        )])
    } else {
        Ok(())
    }
}

/// `POST /api/ethics/submissions/{id}/review`: an assigned reviewer's comments, signed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsReviewRequest {
    /// Recommendation.
    pub recommendation: crate::ethics::Recommendation,
    /// Comments.
    pub comments: String,
    /// The reviewer's password (signs `reviewed`).
    pub password: String,
}

/// `POST /api/ethics/submissions/{id}/votes`: a member's vote at a meeting, signed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsVoteRequest {
    /// Meeting.
    pub meeting_id: String,
    /// Vote.
    pub vote: crate::ethics::Vote,
    /// The member's password (signs `reviewed`).
    pub password: String,
}

/// `POST /api/ethics/submissions/{id}/decision`: the chair's decision and letter, signed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsDecisionRequest {
    /// Meeting.
    pub meeting_id: String,
    /// Outcome.
    pub outcome: crate::ethics::Outcome,
    /// Decision letter.
    pub letter: String,
    /// The chair's password (signs `responsible`).
    pub password: String,
}

/// `POST /api/ethics/submissions/{id}/verify`: the chair's or a reviewer's verification
/// of the modifications, signed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsVerifyRequest {
    /// Accepted (approves) or not (asks again).
    pub accept: bool,
    /// What was verified.
    pub comments: String,
    /// The verifier's password (signs `approved` or `rejected`).
    pub password: String,
}

/// `POST /api/ethics/submissions/{id}/renew`: continuing review; the chair renews an
/// approved project's approval for another period, signed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EthicsRenewRequest {
    /// What the lead's continuing-review report showed.
    pub report: String,
    /// The chair's password (signs `responsible`).
    pub password: String,
}

macro_rules! signed_request {
    ($t:ident { $($f:ident),* }) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    $(.field(stringify!($f), &self.$f))*
                    .field("password", &Hidden)
                    .finish()
            }
        }
        impl $t {
            /// Checks that the step is signed (the password given), located.
            pub fn validate(&self) -> Result<(), Vec<FieldError>> {
                password_error(&self.password)
            }
        }
    };
}

signed_request!(EthicsReviewRequest {
    recommendation,
    comments
});
signed_request!(EthicsVoteRequest { meeting_id, vote });
signed_request!(EthicsDecisionRequest {
    meeting_id,
    outcome,
    letter
});
signed_request!(EthicsVerifyRequest { accept, comments });
signed_request!(EthicsRenewRequest { report });
