//! Routes of the ethics committee's review: submit a project (or an amendment or
//! incident report to one), and each person's step on it, sent to the submission's
//! review workflow (`EthicsReviewWorkflow`, started here if it is not running). Each
//! route names the roles that may take its step; the store checks again who may
//! (the applicant, an assigned reviewer, a member without a conflict...). Signing steps
//! (review, vote, decision, verification) carry the password in the body: the API
//! signs the step with it and sends only the signature on.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use temporalio_client::errors::{WorkflowStartError, WorkflowUpdateError};
use temporalio_client::{
    WorkflowExecuteUpdateOptions, WorkflowIdReusePolicy, WorkflowStartOptions,
};

use careflow_store::ethics;
use careflow_store::users::User;
use careflow_types::ethics::{
    EthicsReviewInput, EthicsStep, EthicsStepDone, QueueItem, Submission, SubmissionContent,
};
use careflow_types::{
    EthicsAssignRequest, EthicsCheckRequest, EthicsConflictRequest, EthicsDecisionRequest,
    EthicsMeetingRequest, EthicsMemberRequest, EthicsRenewRequest, EthicsRespondRequest,
    EthicsReviewRequest, EthicsRouteRequest, EthicsSubmitted, EthicsVerifyRequest,
    EthicsVoteRequest, FieldError, Role, TASK_QUEUE,
};

use super::Caller;
use crate::error::{parse_json, AppError};
use crate::workflows::{EthicsReview, EthicsStepUpdate};
use crate::AppState;

/// Everyone who takes part in a review, and those who oversee it.
pub(crate) const ETHICS_READERS: &[Role] = &[
    Role::ProjectLead,
    Role::EthicsSecretary,
    Role::CommitteeMember,
    Role::CommitteeChair,
    Role::Admin,
    Role::Auditor,
];
/// Whoever has a queue of review steps.
pub(crate) const ETHICS_QUEUE: &[Role] = &[
    Role::ProjectLead,
    Role::EthicsSecretary,
    Role::CommitteeMember,
    Role::CommitteeChair,
];
pub(crate) const APPLICANT: &[Role] = &[Role::ProjectLead];
pub(crate) const SECRETARY: &[Role] = &[Role::EthicsSecretary];
pub(crate) const MEMBERS: &[Role] = &[Role::CommitteeMember, Role::CommitteeChair];
pub(crate) const CHAIR: &[Role] = &[Role::CommitteeChair];

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/ethics/queue", get(queue))
        .route("/api/ethics/members", post(add_member))
        .route("/api/ethics/submissions", post(submit))
        .route("/api/ethics/submissions/{id}", get(submission))
        .route("/api/ethics/submissions/{id}/amendments", post(amend))
        .route("/api/ethics/submissions/{id}/incidents", post(incident))
        .route("/api/ethics/submissions/{id}/check", post(check))
        .route("/api/ethics/submissions/{id}/resubmit", post(resubmit))
        .route("/api/ethics/submissions/{id}/route", post(route))
        .route("/api/ethics/submissions/{id}/conflicts", post(conflict))
        .route("/api/ethics/submissions/{id}/reviewers", post(assign))
        .route("/api/ethics/submissions/{id}/review", post(review))
        .route("/api/ethics/submissions/{id}/meetings", post(meeting))
        .route("/api/ethics/submissions/{id}/votes", post(vote))
        .route("/api/ethics/submissions/{id}/decision", post(decision))
        .route("/api/ethics/submissions/{id}/respond", post(respond))
        .route("/api/ethics/submissions/{id}/verify", post(verify))
        .route("/api/ethics/submissions/{id}/renew", post(renew))
}

/// What waits for the signed-in user, by due date.
async fn queue(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<QueueItem>>, AppError> {
    let user = caller.require(ETHICS_QUEUE)?;
    Ok(Json(ethics::queue(&state.db, &user.name).await?))
}

/// Seats a committee member or chair; answers the membership recorded.
async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<EthicsMemberRequest>, AppError> {
    let user = caller.require(&[Role::Admin, Role::EthicsSecretary])?;
    let req: EthicsMemberRequest = parse_json(&body)?;
    ethics::add_member(&state.db, &user.name, &req.user, req.lay).await?;
    Ok(Json(req))
}

async fn submission(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Submission>, AppError> {
    caller.require(ETHICS_READERS)?;
    Ok(Json(ethics::get(&state.db, &id).await?))
}

/// A submission's content, each missing field located.
fn content(body: &[u8]) -> Result<SubmissionContent, AppError> {
    validated(parse_json(body)?)
}

/// `content` unless a field is missing or a document unnamed or named twice, each
/// problem located (the API's bodies and the resubmission form alike).
pub(crate) fn validated(content: SubmissionContent) -> Result<SubmissionContent, AppError> {
    content.validate().map_err(|all| {
        AppError::Invalid(
            all.split("; ")
                .map(|p| match p.split_once(": ") {
                    Some((field, message)) => FieldError::new(field, message),
                    None => FieldError::new("body", p),
                })
                .collect(),
        )
    })?;
    Ok(content)
}

/// Stores a new project (the signed-in project lead is its applicant) and starts its
/// review.
async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<EthicsSubmitted>), AppError> {
    let user = caller.require(APPLICANT)?;
    let c = content(&body)?;
    let s = ethics::submit(&state.db, &user.name, &c).await?;
    started(&state, s).await
}

/// An amendment to approved project `id` (a new model version comes this way),
/// reviewed on its own.
async fn amend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<EthicsSubmitted>), AppError> {
    let user = caller.require(APPLICANT)?;
    let c = content(&body)?;
    let s = ethics::file_amendment(&state.db, &id, &user.name, &c).await?;
    started(&state, s).await
}

/// An incident report on project `id`, reviewed on its own.
async fn incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<EthicsSubmitted>), AppError> {
    let user = caller.require(APPLICANT)?;
    let c = content(&body)?;
    let s = ethics::report_incident(&state.db, &id, &user.name, &c).await?;
    started(&state, s).await
}

async fn started(
    state: &AppState,
    s: Submission,
) -> Result<(StatusCode, Json<EthicsSubmitted>), AppError> {
    let workflow_id = ensure_review(state, &s.submission_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(EthicsSubmitted {
            submission_id: s.submission_id,
            workflow_id,
        }),
    ))
}

/// Starts the submission's review workflow unless it runs (or ran) already: a
/// submission filed straight into the store (a model release's amendment) gets its
/// review at its first step.
async fn ensure_review(state: &AppState, id: &str) -> Result<String, AppError> {
    let workflow_id = ethics::workflow_id(id);
    let started = state
        .client
        .start_workflow(
            EthicsReview,
            EthicsReviewInput {
                submission_id: id.to_owned(),
            },
            WorkflowStartOptions::new(TASK_QUEUE, workflow_id.clone())
                .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                .build(),
        )
        .await;
    match started {
        Ok(_) | Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(workflow_id),
        Err(e) => Err(AppError::Internal(format!(
            "starting ethics review {workflow_id}: {e}"
        ))),
    }
}

/// Signs the step with `password` if it is a signing step, and sends it to the
/// submission's review; the refusal of the workflow or the store, if any, in words.
pub(crate) async fn take(
    state: &AppState,
    id: &str,
    step: EthicsStep,
    password: Option<&str>,
) -> Result<Json<EthicsStepDone>, AppError> {
    // Known submission first (404), before anything is signed or started.
    ethics::get(&state.db, id).await?;
    let step = match password {
        Some(p) => ethics::sign_step(&state.db, id, p, &step).await?,
        None => step,
    };
    let workflow_id = ensure_review(state, id).await?;
    let handle = state
        .client
        .get_workflow_handle::<EthicsReview>(workflow_id.clone());
    // A review just started reads its submission first; the step waits for that.
    for _ in 0..50 {
        match handle
            .execute_update(
                EthicsStepUpdate,
                step.clone(),
                WorkflowExecuteUpdateOptions::default(),
            )
            .await
        {
            Ok(done) => return Ok(Json(done)),
            Err(WorkflowUpdateError::Failed(f)) if f.message.contains("review is starting") => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(WorkflowUpdateError::Failed(f)) => {
                return Err(AppError::Conflict(format!(
                    "{} refused: {}",
                    step.name(),
                    f.message
                )))
            }
            Err(e) => {
                return Err(AppError::Conflict(format!(
                    "{} refused: the review {workflow_id} does not take it ({e})",
                    step.name()
                )))
            }
        }
    }
    Err(AppError::Internal(format!(
        "ethics review {workflow_id} did not start"
    )))
}

fn name(user: &User) -> String {
    user.name.clone()
}

async fn check(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(SECRETARY)?;
    let r: EthicsCheckRequest = parse_json(&body)?;
    let step = EthicsStep::CheckCompleteness {
        secretary: name(user),
        complete: r.complete,
        comments: r.comments,
    };
    take(&state, &id, step, None).await
}

async fn resubmit(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(APPLICANT)?;
    let step = EthicsStep::Resubmit {
        applicant: name(user),
        content: content(&body)?,
    };
    take(&state, &id, step, None).await
}

async fn route(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(SECRETARY)?;
    let r: EthicsRouteRequest = parse_json(&body)?;
    let step = EthicsStep::Route {
        secretary: name(user),
        route: r.route,
        reason: r.reason,
    };
    take(&state, &id, step, None).await
}

async fn conflict(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(MEMBERS)?;
    let r: EthicsConflictRequest = parse_json(&body)?;
    let step = EthicsStep::DeclareConflict {
        member: name(user),
        reason: r.reason,
    };
    take(&state, &id, step, None).await
}

async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(SECRETARY)?;
    let r: EthicsAssignRequest = parse_json(&body)?;
    let step = EthicsStep::AssignReviewers {
        secretary: name(user),
        reviewers: r.reviewers,
    };
    take(&state, &id, step, None).await
}

async fn review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(MEMBERS)?;
    let r: EthicsReviewRequest = parse_json(&body)?;
    r.validate().map_err(AppError::Invalid)?;
    let step = EthicsStep::Review {
        reviewer: name(user),
        recommendation: r.recommendation,
        comments: r.comments,
        signature_id: None,
    };
    take(&state, &id, step, Some(&r.password)).await
}

async fn meeting(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(SECRETARY)?;
    let r: EthicsMeetingRequest = parse_json(&body)?;
    let step = EthicsStep::HoldMeeting {
        secretary: name(user),
        present: r.present,
    };
    take(&state, &id, step, None).await
}

async fn vote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(MEMBERS)?;
    let r: EthicsVoteRequest = parse_json(&body)?;
    r.validate().map_err(AppError::Invalid)?;
    let step = EthicsStep::Vote {
        meeting_id: r.meeting_id,
        member: name(user),
        vote: r.vote,
        signature_id: None,
    };
    take(&state, &id, step, Some(&r.password)).await
}

async fn decision(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(CHAIR)?;
    let r: EthicsDecisionRequest = parse_json(&body)?;
    r.validate().map_err(AppError::Invalid)?;
    let step = EthicsStep::Decide {
        meeting_id: r.meeting_id,
        chair: name(user),
        outcome: r.outcome,
        letter: r.letter,
        signature_id: None,
    };
    take(&state, &id, step, Some(&r.password)).await
}

async fn respond(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(APPLICANT)?;
    let r: EthicsRespondRequest = parse_json(&body)?;
    let step = EthicsStep::Respond {
        applicant: name(user),
        response: r.response,
    };
    take(&state, &id, step, None).await
}

async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(MEMBERS)?;
    let r: EthicsVerifyRequest = parse_json(&body)?;
    r.validate().map_err(AppError::Invalid)?;
    let step = EthicsStep::Verify {
        verifier: name(user),
        accept: r.accept,
        comments: r.comments,
        signature_id: None,
    };
    take(&state, &id, step, Some(&r.password)).await
}

async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<EthicsStepDone>, AppError> {
    let user = caller.require(&[Role::CommitteeChair])?;
    let r: EthicsRenewRequest = parse_json(&body)?;
    r.validate().map_err(AppError::Invalid)?;
    let step = EthicsStep::Renew {
        chair: name(user),
        report: r.report,
        signature_id: None,
    };
    take(&state, &id, step, Some(&r.password)).await
}
