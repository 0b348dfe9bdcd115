//! Routes of the nurse-rostering process: start a ward's roster, see where it stands,
//! report a sick call or a surge. Decisions on its tasks go through the task decision
//! route, like every process's.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use temporalio_client::{
    errors::WorkflowStartError, WorkflowExecuteUpdateOptions, WorkflowIdReusePolicy,
    WorkflowQueryOptions, WorkflowStartOptions,
};

use careflow_store::audit;
use careflow_types::{
    NurseRosteringInput, Role, RosterEvent, RosterEventAccepted, RosterRequest, RosterStarted,
    RosterStatus, TASK_QUEUE,
};

use super::{idempotency_key, Caller};
use crate::error::{parse_json, AppError};
use crate::workflows::{NurseRostering, ReportRosterEvent, RosterStatusQuery};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rosters", post(create_roster))
        .route("/api/rosters/{roster_id}", get(roster_status))
        .route("/api/rosters/{roster_id}/events", post(report_event))
}

/// Starts a ward's roster: demand forecast, rostering MILP, the department head's
/// approval. The caller asks for it and so may not approve it.
#[utoipa::path(
    post,
    path = "/api/rosters",
    tag = "rosters",
    summary = "Start a ward's four-week roster",
    description = "Roles: department_head, nurse_in_charge, admin.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn create_roster(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<RosterStarted>), AppError> {
    let user = caller.require(&[Role::DepartmentHead, Role::NurseInCharge, Role::Admin])?;
    let mut request: RosterRequest = parse_json(&body)?;
    request.requested_by = user.name.clone();
    request.validate().map_err(AppError::Invalid)?;
    let key = idempotency_key(&headers)?;
    let suffix = match &key {
        Some(k) => audit::sha256_json(&(user.name.as_str(), k.as_str()))[..12].to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
    };
    let roster_id = format!("roster-{}-{}-{suffix}", request.ward, request.start_date);
    let started = state
        .client
        .start_workflow(
            NurseRostering,
            NurseRosteringInput {
                roster_id: roster_id.clone(),
                request,
            },
            WorkflowStartOptions::new(TASK_QUEUE, roster_id.clone())
                .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                .build(),
        )
        .await;
    match started {
        Ok(_) => Ok((StatusCode::CREATED, Json(RosterStarted { roster_id }))),
        Err(WorkflowStartError::AlreadyStarted { .. }) if key.is_some() => {
            Ok((StatusCode::OK, Json(RosterStarted { roster_id })))
        }
        Err(e) => Err(AppError::Internal(format!(
            "starting nurse-rostering workflow: {e}"
        ))),
    }
}

/// Where a roster stands: stage, revision in force, open task, latest proposal.
#[utoipa::path(
    get,
    path = "/api/rosters/{roster_id}",
    tag = "rosters",
    summary = "Where a roster stands",
    description = "Roles: department_head, nurse_in_charge, site_manager, admin, auditor.",
    security(("bearer" = [])),
    params(("roster_id" = String, Path, description = "Roster id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn roster_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(roster_id): Path<String>,
) -> Result<Json<RosterStatus>, AppError> {
    caller.require(&[
        Role::DepartmentHead,
        Role::NurseInCharge,
        Role::SiteManager,
        Role::Admin,
        Role::Auditor,
    ])?;
    let status = state
        .client
        .get_workflow_handle::<NurseRostering>(roster_id.clone())
        .query(RosterStatusQuery, (), WorkflowQueryOptions::default())
        .await
        .map_err(|e| AppError::NotFound(format!("roster {roster_id} ({e})")))?;
    Ok(Json(status))
}

/// A sick call or a surge, reported by the signed-in user; the workflow's validator
/// refuses an event the roster cannot take, each field located.
#[utoipa::path(
    post,
    path = "/api/rosters/{roster_id}/events",
    tag = "rosters",
    summary = "Report a sick call or a surge",
    description = "Roles: nurse_in_charge, department_head.",
    security(("bearer" = [])),
    params(("roster_id" = String, Path, description = "Roster id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn report_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(roster_id): Path<String>,
    body: Bytes,
) -> Result<Json<RosterEventAccepted>, AppError> {
    let user = caller.require(&[Role::NurseInCharge, Role::DepartmentHead])?;
    let mut event: RosterEvent = parse_json(&body)?;
    event.reported_by = user.name.clone();
    let result = state
        .client
        .get_workflow_handle::<NurseRostering>(roster_id.clone())
        .execute_update(
            ReportRosterEvent,
            event,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| AppError::Conflict(format!("event refused: {e}")))?;
    Ok(Json(RosterEventAccepted {
        roster_id,
        reported_by: user.name.clone(),
        result,
    }))
}
