//! Routes of the model release: a project lead starts the release of a committed model
//! version; the owner decides its promotion and an admin rolls it back, each signing
//! with their re-entered password; admins, auditors and the ethics committee's officers
//! see where releases stand.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use temporalio_client::{
    errors::WorkflowStartError, WorkflowExecuteUpdateOptions, WorkflowIdReusePolicy,
    WorkflowStartOptions,
};

use careflow_store::releases::{self, Release};
use careflow_store::{audit, ethics, tasks, users};
use careflow_types::{
    DecisionRequest, FieldError, ReleaseRequest, ReleaseStarted, ReleaseStepOutcome, ReleaseView,
    Role, RollbackBody, RollbackRequest, TruthRecorded, TruthRequest, TASK_QUEUE,
};

use super::{idempotency_key, Caller};
use crate::error::{parse_json, AppError};
use crate::workflows::{ModelRelease, RollBackRelease};
use crate::AppState;

/// Who may read releases: the admins who own models, auditors, and the project leads
/// and ethics officers whose sign-off they carry. No patient data is in a release.
pub(crate) const READERS: &[Role] = &[
    Role::Admin,
    Role::Auditor,
    Role::ProjectLead,
    Role::EthicsSecretary,
    Role::CommitteeChair,
];

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/releases", post(start_release).get(list_releases))
        .route("/api/releases/truth", post(record_truth))
        .route("/api/releases/{release_id}", get(release))
        .route(
            "/api/releases/{release_id}/promotion",
            post(decide_promotion),
        )
        .route("/api/releases/{release_id}/rollback", post(roll_back))
}

/// The promotion task of a release (opened by its workflow after the shadow period).
pub fn promotion_task_id(release_id: &str) -> String {
    format!("{release_id}-promote")
}

/// Starts a release: the signed-in project lead is its author, and names its owner.
async fn start_release(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ReleaseStarted>), AppError> {
    let user = caller.require(&[Role::ProjectLead])?;
    let request: ReleaseRequest = parse_json(&body)?;
    let key = idempotency_key(&headers)?;
    let suffix = match &key {
        Some(k) => audit::sha256_json(&(user.name.as_str(), k.as_str()))[..12].to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
    };
    let release_id = format!(
        "release-{}-{}-{suffix}",
        request.model_name, request.version
    );
    let input = request.into_input(release_id.clone(), user.name.clone());
    let mut errors = input.validate().err().unwrap_or_default();
    // What the workflow would only find out later, said now and located.
    if errors.iter().all(|e| e.field != "project_id") {
        match ethics::get(&state.db, &input.project_id).await {
            Ok(p) if p.kind != "initial" => errors.push(FieldError::new(
                "project_id",
                format!(
                    "{} is an {} submission, not a project",
                    p.submission_id, p.kind
                ),
            )),
            Ok(p) if p.state != "approved" => errors.push(FieldError::new(
                "project_id",
                format!(
                    "project {} is {}; only an approved project can be amended",
                    p.submission_id, p.state
                ),
            )),
            Ok(_) => {}
            Err(careflow_store::Error::NotFound(_)) => errors.push(FieldError::new(
                "project_id",
                format!("no ethics project {}", input.project_id),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    if errors.iter().all(|e| e.field != "owner") {
        match users::account(&state.db, &input.owner).await {
            Ok(a) if a.role == Role::Admin => {}
            Ok(a) => errors.push(FieldError::new(
                "owner",
                format!(
                    "{} holds role {}; a model's owner is an admin",
                    input.owner, a.role
                ),
            )),
            Err(careflow_store::Error::NotFound(_)) => errors.push(FieldError::new(
                "owner",
                format!("{} is not a careflow user", input.owner),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let started = state
        .client
        .start_workflow(
            ModelRelease,
            input,
            WorkflowStartOptions::new(TASK_QUEUE, release_id.clone())
                .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                .build(),
        )
        .await;
    match started {
        Ok(_) => Ok((StatusCode::CREATED, Json(ReleaseStarted { release_id }))),
        Err(WorkflowStartError::AlreadyStarted { .. }) if key.is_some() => {
            Ok((StatusCode::OK, Json(ReleaseStarted { release_id })))
        }
        Err(e) => Err(AppError::Internal(format!(
            "starting model-release workflow: {e}"
        ))),
    }
}

async fn view(state: &AppState, r: Release) -> Result<ReleaseView, AppError> {
    let shadow = if r.stage == releases::Stage::Shadow
        || r.stage == releases::Stage::Production
        || r.stage == releases::Stage::RolledBack
    {
        Some(
            releases::shadow_comparison(&state.db, &r.release_id)
                .await?
                .summary(),
        )
    } else {
        None
    };
    let task_id = promotion_task_id(&r.release_id);
    let promotion_task_id = match tasks::get(&state.db, &task_id).await {
        Ok(t) if t.status == "open" || t.status == "claimed" => Some(task_id),
        Ok(_) | Err(careflow_store::Error::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(ReleaseView {
        gate_failures: r
            .gate_failures
            .iter()
            .flatten()
            .map(ToString::to_string)
            .collect(),
        release_id: r.release_id,
        model_name: r.model_name,
        version: r.version,
        sha256: r.sha256,
        production_version: r.production_version,
        author: r.author,
        owner: r.owner,
        stage: r.stage.as_str().to_owned(),
        amendment_id: r.signoff_submission_id,
        shadow,
        promotion_task_id,
        rollback_reason: r.rollback_reason,
        updated_at: r.updated_at,
    })
}

/// Every release, newest first.
async fn list_releases(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ReleaseView>>, AppError> {
    caller.require(READERS)?;
    let mut out = Vec::new();
    for r in releases::list(&state.db, None).await? {
        out.push(view(&state, r).await?);
    }
    Ok(Json(out))
}

/// One release: stage, gate, amendment, shadow comparison, open promotion task.
async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(release_id): Path<String>,
) -> Result<Json<ReleaseView>, AppError> {
    caller.require(READERS)?;
    let r = releases::get(&state.db, &release_id).await?;
    Ok(Json(view(&state, r).await?))
}

/// The owner's promotion decision, signed with their password (the approval step's
/// decision on the release's promotion task; the workflow refuses anyone but the
/// owner, and the author above all).
async fn decide_promotion(
    State(state): State<AppState>,
    caller: Caller,
    Path(release_id): Path<String>,
    body: Bytes,
) -> Result<Json<ReleaseStepOutcome>, AppError> {
    let user = caller.require(&[Role::Admin])?;
    let req: DecisionRequest = parse_json(&body)?;
    let r = releases::get(&state.db, &release_id).await?;
    if user.name != r.owner {
        return Err(AppError::Forbidden(format!(
            "{} is not the owner of release {release_id}; {} decides its promotion",
            user.name, r.owner
        )));
    }
    let outcome = super::decide(&state, user, promotion_task_id(&release_id), req).await?;
    Ok(Json(ReleaseStepOutcome {
        release_id,
        signed_by: outcome.decided_by,
        result: outcome.result,
    }))
}

/// An admin rolls a release in production back to the version it replaced, signing
/// the rollback and its reason with their password.
async fn roll_back(
    State(state): State<AppState>,
    caller: Caller,
    Path(release_id): Path<String>,
    body: Bytes,
) -> Result<Json<ReleaseStepOutcome>, AppError> {
    let user = caller.require(&[Role::Admin])?;
    let req: RollbackBody = parse_json(&body)?;
    req.validate().map_err(AppError::Invalid)?;
    let r = releases::get(&state.db, &release_id).await?;
    if r.stage != releases::Stage::Production {
        return Err(AppError::Conflict(format!(
            "release {release_id} is {}; only a release in production is rolled back",
            r.stage
        )));
    }
    let signature = releases::sign_step(
        &state.db,
        &release_id,
        "rollback",
        &user.name,
        &req.password,
        &req.reason,
    )
    .await?;
    let result = state
        .client
        .get_workflow_handle::<ModelRelease>(release_id.clone())
        .execute_update(
            RollBackRelease,
            RollbackRequest {
                by: user.name.clone(),
                reason: req.reason,
                signature_id: Some(signature.signature_id),
            },
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| AppError::Conflict(format!("rollback refused: {e}")))?;
    Ok(Json(ReleaseStepOutcome {
        release_id,
        signed_by: user.name.clone(),
        result,
    }))
}

/// What happened for targets of a model's shadow forecasts (the observed arrivals of
/// hours, the minutes of cases), recorded by an admin (audited): the shadow comparison
/// scores both versions on them.
async fn record_truth(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<TruthRecorded>, AppError> {
    let user = caller.require(&[Role::Admin])?;
    let req: TruthRequest = parse_json(&body)?;
    req.validate().map_err(AppError::Invalid)?;
    let truths: Vec<(String, f64)> = req
        .observations
        .into_iter()
        .map(|o| (o.target, o.value))
        .collect();
    let filled = releases::record_truth(&state.db, &req.model_name, &truths, &user.name).await?;
    Ok(Json(TruthRecorded { filled }))
}
