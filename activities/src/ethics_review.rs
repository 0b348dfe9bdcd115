//! Activities of the ethics review workflow: read the submission, take a person's step
//! (the store checks it against what is stored, in the transaction that writes it and
//! its audit entry, signing steps with the signature the person made at the API),
//! record a reminder, and suspend a project whose approval lapsed.
#![allow(missing_docs)] // the #[activities] macro generates undocumented items

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use careflow_store::ethics::{self, Signing};
use careflow_store::Db;
use careflow_types::ethics::{EthicsStep, EthicsStepDone, Submission};

use crate::{non_retryable, store_failure};

/// The review workflow's activities, holding the domain database.
pub struct EthicsActivities {
    db: Db,
}

impl EthicsActivities {
    /// Activities writing to `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// Input of [`EthicsActivities::take_step`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TakeStepInput {
    /// Submission.
    pub submission_id: String,
    /// The person's step, as the workflow's validator let it in.
    pub step: EthicsStep,
}

/// Input of [`EthicsActivities::remind`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemindInput {
    /// Submission.
    pub submission_id: String,
    /// The state whose step is overdue (or `approved`: expiry approaching).
    pub state: String,
    /// Reminder number for this state (idempotency).
    pub round: u32,
    /// What the reminder says.
    pub note: String,
}

/// Input of [`EthicsActivities::suspend_if_lapsed`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LapseInput {
    /// Submission.
    pub submission_id: String,
    /// The workflow's clock when the expiry timer fired (RFC 3339).
    pub at: String,
}

/// The signature a signing step must carry: steps reach the workflow from the API,
/// which signs them; an unsigned one is what a forger past the API would send.
fn signature(step: &EthicsStep) -> Result<Signing<'_>, ActivityError> {
    step.signature_id().map(Signing::Signature).ok_or_else(|| {
        non_retryable(format!(
            "the {} is not signed: {} must re-enter their password to sign it",
            step.name(),
            step.actor()
        ))
    })
}

#[activities]
impl EthicsActivities {
    /// The submission as stored.
    #[activity]
    pub async fn load_submission(
        self: Arc<Self>,
        _ctx: ActivityContext,
        submission_id: String,
    ) -> Result<Submission, ActivityError> {
        ethics::get(&self.db, &submission_id)
            .await
            .map_err(store_failure)
    }

    /// Takes one person's step through the store, which checks role, state, conflicts,
    /// quorum and signature again; a refusal fails the step with the store's reason.
    #[activity]
    pub async fn take_step(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: TakeStepInput,
    ) -> Result<EthicsStepDone, ActivityError> {
        let db = &self.db;
        let id = input.submission_id.as_str();
        let mut meeting = None;
        let submission = match &input.step {
            EthicsStep::CheckCompleteness {
                secretary,
                complete,
                comments,
            } => ethics::check_completeness(db, id, secretary, *complete, comments).await,
            EthicsStep::Resubmit { applicant, content } => {
                ethics::resubmit(db, id, applicant, content).await
            }
            EthicsStep::Route {
                secretary,
                route,
                reason,
            } => ethics::route(db, id, secretary, *route, reason).await,
            EthicsStep::DeclareConflict { member, reason } => {
                match ethics::declare_conflict(db, id, member, reason).await {
                    Ok(()) => ethics::get(db, id).await,
                    Err(e) => Err(e),
                }
            }
            EthicsStep::AssignReviewers {
                secretary,
                reviewers,
            } => ethics::assign_reviewers(db, id, secretary, reviewers).await,
            EthicsStep::Review {
                reviewer,
                recommendation,
                comments,
                ..
            } => {
                let signing = signature(&input.step)?;
                ethics::review_by(db, id, reviewer, signing, *recommendation, comments).await
            }
            EthicsStep::HoldMeeting { secretary, present } => {
                match ethics::hold_meeting(db, id, secretary, present).await {
                    Ok(m) => {
                        meeting = Some(m);
                        ethics::get(db, id).await
                    }
                    Err(e) => Err(e),
                }
            }
            EthicsStep::Vote {
                meeting_id,
                member,
                vote,
                ..
            } => {
                let signing = signature(&input.step)?;
                match ethics::vote_by(db, meeting_id, member, signing, *vote).await {
                    Ok(()) => ethics::get(db, id).await,
                    Err(e) => Err(e),
                }
            }
            EthicsStep::Decide {
                meeting_id,
                chair,
                outcome,
                letter,
                ..
            } => {
                let signing = signature(&input.step)?;
                ethics::decide_by(db, meeting_id, chair, signing, *outcome, letter).await
            }
            EthicsStep::Respond {
                applicant,
                response,
            } => ethics::respond(db, id, applicant, response).await,
            EthicsStep::Verify {
                verifier,
                accept,
                comments,
                ..
            } => {
                let signing = signature(&input.step)?;
                ethics::verify_by(db, id, verifier, signing, *accept, comments).await
            }
            EthicsStep::Renew { chair, report, .. } => {
                let signing = signature(&input.step)?;
                ethics::renew_by(db, id, chair, signing, report).await
            }
        }
        .map_err(store_failure)?;
        Ok(EthicsStepDone {
            submission,
            meeting,
        })
    }

    /// Records a reminder (once per round) and returns the submission as it stands.
    #[activity]
    pub async fn remind(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: RemindInput,
    ) -> Result<Submission, ActivityError> {
        ethics::remind(
            &self.db,
            &input.submission_id,
            &input.state,
            input.round,
            &input.note,
        )
        .await
        .map_err(store_failure)
    }

    /// Suspends the project if its approval lapsed by the workflow's clock.
    #[activity]
    pub async fn suspend_if_lapsed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: LapseInput,
    ) -> Result<Submission, ActivityError> {
        ethics::suspend_if_lapsed(&self.db, &input.submission_id, &input.at)
            .await
            .map_err(store_failure)
    }
}
