//! Routes: admissions, tasks, beds, audit; logging in and out (`auth`).

mod auth;

pub(crate) use auth::bearer;
pub use auth::AuthConfig;

pub(crate) mod bed_moves;
pub(crate) mod decisions;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use temporalio_client::{
    errors::WorkflowStartError, UntypedWorkflow, WorkflowCancelOptions,
    WorkflowExecuteUpdateOptions, WorkflowIdReusePolicy, WorkflowQueryOptions,
    WorkflowStartOptions,
};

use careflow_store::users::{self, User};
use careflow_store::{audit, bed_plans, hospital, patients, tasks};
use careflow_types::{
    AdmissionInput, AdmissionRequest, AdmissionStarted, BedPlanInput, BedPlanRequest,
    BedPlanStarted, BedPlanView, CancelRequested, Decision, DecisionOutcome, DecisionRequest,
    Discharged, FieldError, Health, Role, TASK_QUEUE,
};

use crate::error::{parse_json, AppError};
use crate::workflows::{Admission, AdmissionStatusQuery, BedPlan, BedPlanStatusQuery, Decide};
use crate::AppState;

pub(crate) mod audit_export;
pub(crate) mod ethics;
pub(crate) mod exports;
mod openapi;
pub(crate) mod releases;
mod roster;
mod scanner;
mod theatre;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/admissions", post(create_admission))
        .route("/api/admissions/{workflow_id}", get(admission_status))
        .route(
            "/api/admissions/{workflow_id}/cancel",
            post(cancel_admission),
        )
        .route("/api/admissions/{workflow_id}/discharge", post(discharge))
        .route("/api/tasks", get(list_tasks))
        .route("/api/tasks/{task_id}", get(get_task))
        .route("/api/tasks/{task_id}/claim", post(claim_task))
        .route("/api/tasks/{task_id}/decision", post(decide_task))
        .route("/api/beds", get(beds))
        .route("/api/bed-plans", post(create_bed_plan).get(list_bed_plans))
        .route("/api/bed-plans/{plan_id}", get(bed_plan))
        .route("/api/audit/verify", get(audit_verify))
        .merge(roster::router())
        .merge(decisions::router())
        .merge(theatre::router())
        .merge(bed_moves::router())
        .merge(scanner::router())
        .merge(releases::router())
        .merge(auth::router())
        .merge(audit_export::router())
        .merge(ethics::router())
        .merge(exports::router())
        .merge(openapi::router())
        .nest("/fhir/r4", crate::fhir::router())
}

/// The roles whose people decide approval tasks: each process's approver and the
/// roles its tasks escalate to. The store checks again that a decider holds the task's
/// own role.
pub(crate) const DECIDER_ROLES: &[Role] = &[
    Role::BedManager,
    Role::SiteManager,
    Role::TheatreAdmin,
    Role::ImagingManager,
    Role::DepartmentHead,
    Role::NurseInCharge,
];

/// The roles that may read the task queue: the deciders, and the admin (who sees every
/// queue).
pub(crate) const TASK_READER_ROLES: &[Role] = &[
    Role::BedManager,
    Role::SiteManager,
    Role::TheatreAdmin,
    Role::ImagingManager,
    Role::DepartmentHead,
    Role::NurseInCharge,
    Role::Admin,
];

/// The signed-in user, from `Authorization: Bearer TOKEN` (a token from
/// `POST /api/login`, not expired, not revoked).
pub(crate) struct Caller(User);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = auth::bearer(&parts.headers).ok_or(AppError::Unauthenticated)?;
        users::authenticate(&state.db, token)
            .await?
            .map(Caller)
            .ok_or(AppError::Unauthenticated)
    }
}

impl Caller {
    fn require(&self, allowed: &[Role]) -> Result<&User, AppError> {
        if allowed.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            Err(AppError::Forbidden(format!(
                "role {} may not do this (allowed: {})",
                self.0.role,
                allowed
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// How long each part may take to answer a health check before it counts as down.
const HEALTH_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// Asks the domain database (`SELECT 1`) and Temporal's frontend (`GetSystemInfo`)
/// each time, so a part that went down shows at once and one that came back is
/// healthy again without restarting careflow.
#[utoipa::path(
    get,
    path = "/api/health",
    tag = "health",
    summary = "Health of the domain database and Temporal",
    description = "Roles: anyone, no login. 503 names the part that is down.",
    responses(
        (status = 200, description = "Both answer"),
        (status = 503, description = "The database or Temporal does not answer"),
    )
)]
async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = async { state.db.ping().await.map_err(|e| e.to_string()) };
    let temporal = async {
        let mut service = state.client.connection().workflow_service();
        service
            .get_system_info(temporalio_client::tonic::Request::new(
                temporalio_common::protos::temporal::api::workflowservice::v1::GetSystemInfoRequest::default(),
            ))
            .await
            .map(|_| ())
            .map_err(|s| format!("{}: {}", s.code(), s.message()))
    };
    let bounded = |r: Result<Result<(), String>, tokio::time::error::Elapsed>| match r {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("down: {e}"),
        Err(_) => format!("down: no answer within {}s", HEALTH_PATIENCE.as_secs()),
    };
    let (database, temporal) = tokio::join!(
        tokio::time::timeout(HEALTH_PATIENCE, database),
        tokio::time::timeout(HEALTH_PATIENCE, temporal)
    );
    let (database, temporal) = (bounded(database), bounded(temporal));
    let up = database == "ok" && temporal == "ok";
    let health = Health {
        status: if up { "ok" } else { "unavailable" }.into(),
        database,
        temporal,
    };
    if !up {
        tracing::warn!(database = %health.database, temporal = %health.temporal, "health check failed");
    }
    let code = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(health))
}

/// Header a client sets so that retrying a request whose answer it lost starts no
/// second admission: the same user and key always name the same workflow.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

#[utoipa::path(
    post,
    path = "/api/admissions",
    tag = "admissions",
    summary = "Start an admission (Idempotency-Key honoured); the patient is pseudonymised",
    description = "Roles: admissions_clerk, admin.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn create_admission(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<AdmissionStarted>), AppError> {
    let user = caller.require(&[Role::AdmissionsClerk, Role::Admin])?;
    let mut request: AdmissionRequest = parse_json(&body)?;
    // The request is made by whoever is signed in, whatever the body claims.
    request.requested_by = user.name.clone();
    request.validate().map_err(AppError::Invalid)?;
    // From here on the patient is known by a pseudonym only (workflow history, tasks,
    // logs, audit trail).
    request.patient_ref = patients::pseudonymise(
        &state.db,
        &request.patient_ref,
        request.sex,
        request.age_group,
    )
    .await?;
    let idempotency_key = idempotency_key(&headers)?;
    let admission_id = match &idempotency_key {
        Some(key) => audit::sha256_json(&(user.name.as_str(), key.as_str()))[..32].to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let workflow_id = format!("admission-{admission_id}");
    let started = crate::workflows::start_admission(
        &state.client,
        AdmissionInput {
            admission_id: admission_id.clone(),
            request,
            contested_bed: None,
        },
    )
    .await;
    match started {
        Ok(_) => {}
        // A retry of a request that already started its admission: same answer again.
        Err(WorkflowStartError::AlreadyStarted { .. }) if idempotency_key.is_some() => {
            return Ok((
                StatusCode::OK,
                Json(AdmissionStarted {
                    admission_id,
                    workflow_id,
                }),
            ));
        }
        Err(e) => {
            return Err(AppError::Internal(format!(
                "starting admission workflow: {e}"
            )))
        }
    }
    tracing::debug!(%workflow_id, "admission started");
    Ok((
        StatusCode::CREATED,
        Json(AdmissionStarted {
            admission_id,
            workflow_id,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/admissions/{workflow_id}",
    tag = "admissions",
    summary = "Where an admission stands",
    description = "Roles: admissions_clerk, bed_manager, site_manager, admin.",
    security(("bearer" = [])),
    params(("workflow_id" = String, Path, description = "Admission workflow id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn admission_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(workflow_id): Path<String>,
) -> Result<Json<careflow_types::AdmissionStatus>, AppError> {
    caller.require(&[
        Role::AdmissionsClerk,
        Role::BedManager,
        Role::SiteManager,
        Role::Admin,
    ])?;
    let handle = state
        .client
        .get_workflow_handle::<Admission>(workflow_id.clone());
    let status = handle
        .query(AdmissionStatusQuery, (), WorkflowQueryOptions::default())
        .await
        .map_err(|e| AppError::NotFound(format!("admission {workflow_id} ({e})")))?;
    Ok(Json(status))
}

#[utoipa::path(
    post,
    path = "/api/admissions/{workflow_id}/cancel",
    tag = "admissions",
    summary = "Cancel an admission",
    description = "Roles: admissions_clerk, bed_manager, admin.",
    security(("bearer" = [])),
    params(("workflow_id" = String, Path, description = "Admission workflow id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn cancel_admission(
    State(state): State<AppState>,
    caller: Caller,
    Path(workflow_id): Path<String>,
) -> Result<Json<CancelRequested>, AppError> {
    let user = caller.require(&[Role::AdmissionsClerk, Role::BedManager, Role::Admin])?;
    let handle = state
        .client
        .get_workflow_handle::<Admission>(workflow_id.clone());
    handle
        .cancel(
            WorkflowCancelOptions::builder()
                .reason(format!("cancelled by {}", user.name))
                .build(),
        )
        .await
        .map_err(|e| {
            AppError::Conflict(format!("admission {workflow_id} cannot be cancelled: {e}"))
        })?;
    Ok(Json(CancelRequested {
        cancel_requested_by: user.name.clone(),
        workflow_id,
    }))
}

#[utoipa::path(
    post,
    path = "/api/admissions/{workflow_id}/discharge",
    tag = "admissions",
    summary = "Discharge: release the bed",
    description = "Roles: bed_manager, site_manager.",
    security(("bearer" = [])),
    params(("workflow_id" = String, Path, description = "Admission workflow id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn discharge(
    State(state): State<AppState>,
    caller: Caller,
    Path(workflow_id): Path<String>,
) -> Result<Json<Discharged>, AppError> {
    let user = caller.require(&[Role::BedManager, Role::SiteManager])?;
    let admission_id = hospital::admission_id_of(&state.db, &workflow_id).await?;
    let bed = hospital::discharge(&state.db, &admission_id, &user.name, user.role.as_str()).await?;
    Ok(Json(Discharged {
        bed_released: bed,
        workflow_id,
    }))
}

#[utoipa::path(
    get,
    path = "/api/tasks",
    tag = "tasks",
    summary = "The caller's queue (admin: every queue)",
    description = "Roles: bed_manager, site_manager, theatre_admin, imaging_manager, department_head, nurse_in_charge, admin.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn list_tasks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<careflow_types::TaskView>>, AppError> {
    let user = caller.require(TASK_READER_ROLES)?;
    let list = if user.role == Role::Admin {
        tasks::all(&state.db, 500).await?
    } else {
        tasks::open_for_role(&state.db, user.role).await?
    };
    Ok(Json(list))
}

#[utoipa::path(
    get,
    path = "/api/tasks/{task_id}",
    tag = "tasks",
    summary = "One task",
    description = "Roles: bed_manager, site_manager, theatre_admin, imaging_manager, department_head, nurse_in_charge, admin.",
    security(("bearer" = [])),
    params(("task_id" = String, Path, description = "Task id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<careflow_types::TaskView>, AppError> {
    caller.require(TASK_READER_ROLES)?;
    Ok(Json(tasks::get(&state.db, &task_id).await?))
}

#[utoipa::path(
    post,
    path = "/api/tasks/{task_id}/claim",
    tag = "tasks",
    summary = "Claim a task of one's queue",
    description = "Roles: bed_manager, site_manager, theatre_admin, imaging_manager, department_head, nurse_in_charge.",
    security(("bearer" = [])),
    params(("task_id" = String, Path, description = "Task id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn claim_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
) -> Result<Json<careflow_types::TaskView>, AppError> {
    let user = caller.require(DECIDER_ROLES)?;
    Ok(Json(
        tasks::claim(&state.db, &task_id, &user.name, user.role).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/tasks/{task_id}/decision",
    tag = "tasks",
    summary = "Approve or reject, signed with the decider's password (body: approve, reason, password, bed_id)",
    description = "Roles: bed_manager, site_manager, theatre_admin, imaging_manager, department_head, nurse_in_charge.",
    security(("bearer" = [])),
    params(("task_id" = String, Path, description = "Task id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn decide_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<String>,
    body: Bytes,
) -> Result<Json<DecisionOutcome>, AppError> {
    let user = caller.require(DECIDER_ROLES)?;
    let req: DecisionRequest = parse_json(&body)?;
    Ok(Json(decide(&state, user, task_id, req).await?))
}

/// Signs and sends one decision (the API's and the pages' decision forms).
pub(crate) async fn decide(
    state: &AppState,
    user: &User,
    task_id: String,
    req: DecisionRequest,
) -> Result<DecisionOutcome, AppError> {
    req.validate().map_err(AppError::Invalid)?;
    let task = tasks::get(&state.db, &task_id).await?;
    tasks::check_may_decide(&task, &user.name, user.role)?;
    // The decider signs with their password (a wrong one is counted towards the
    // lock-out); the store then records the decision only with this signature.
    let signature = tasks::sign_decision(
        &state.db,
        &task,
        &user.name,
        &req.password,
        req.approve,
        &req.reason,
        req.bed_id.as_deref(),
    )
    .await?;
    let decision = Decision {
        task_id: task_id.clone(),
        approve: req.approve,
        actor: user.name.clone(),
        role: user.role,
        reason: req.reason,
        bed_id: req.bed_id,
        signature_id: Some(signature.signature_id),
    };
    // The workflow's validator is the arbiter: it accepts exactly one decision per task.
    let refused = |e: temporalio_client::errors::WorkflowUpdateError| {
        AppError::Conflict(format!("decision refused: {e}"))
    };
    // Every process waits through the one approval step and its `decide` update, which
    // goes to the task's workflow by id whatever the process.
    let answer = state
        .client
        .get_workflow_handle::<UntypedWorkflow>(task.workflow_id.clone())
        .execute_update(
            Decide::<UntypedWorkflow>::new(),
            decision,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(refused)?;
    Ok(DecisionOutcome {
        decided_by: user.name.clone(),
        result: answer,
        task_id,
    })
}

#[utoipa::path(
    get,
    path = "/api/beds",
    tag = "beds",
    summary = "Occupancy by ward",
    description = "Roles: admissions_clerk, bed_manager, site_manager, admin.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn beds(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<hospital::WardOccupancy>>, AppError> {
    caller.require(&[
        Role::BedManager,
        Role::SiteManager,
        Role::AdmissionsClerk,
        Role::Admin,
    ])?;
    Ok(Json(hospital::occupancy(&state.db).await?))
}

#[utoipa::path(
    get,
    path = "/api/audit/verify",
    tag = "audit",
    summary = "Verify the hash chain",
    description = "Roles: auditor, admin.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn audit_verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<careflow_types::AuditVerification>, AppError> {
    caller.require(&[Role::Auditor, Role::Admin])?;
    Ok(Json(audit::verify(&state.db).await?))
}

/// Starts a bed plan: forecast, optimise, then a bed manager's approval.
#[utoipa::path(
    post,
    path = "/api/bed-plans",
    tag = "bed plans",
    summary = "Start a bed plan: forecast, optimise, a bed manager's approval (Idempotency-Key honoured)",
    description = "Roles: bed_manager, site_manager, admin.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn create_bed_plan(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<BedPlanStarted>), AppError> {
    let user = caller.require(&[Role::BedManager, Role::SiteManager, Role::Admin])?;
    let mut request: BedPlanRequest = parse_json(&body)?;
    request.requested_by = user.name.clone();
    request.validate().map_err(AppError::Invalid)?;
    let key = idempotency_key(&headers)?;
    let plan_id = match &key {
        Some(k) => format!(
            "bedplan-{}-{}",
            request.plan_date,
            &audit::sha256_json(&(user.name.as_str(), k.as_str()))[..16]
        ),
        None => format!(
            "bedplan-{}-{}",
            request.plan_date,
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        ),
    };
    let started = state
        .client
        .start_workflow(
            BedPlan,
            BedPlanInput {
                plan_id: plan_id.clone(),
                request,
            },
            WorkflowStartOptions::new(TASK_QUEUE, plan_id.clone())
                .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                .build(),
        )
        .await;
    match started {
        Ok(_) => Ok((StatusCode::CREATED, Json(BedPlanStarted { plan_id }))),
        Err(WorkflowStartError::AlreadyStarted { .. }) if key.is_some() => {
            Ok((StatusCode::OK, Json(BedPlanStarted { plan_id })))
        }
        Err(e) => Err(AppError::Internal(format!(
            "starting bed plan workflow: {e}"
        ))),
    }
}

/// Recent bed plans, newest first.
#[utoipa::path(
    get,
    path = "/api/bed-plans",
    tag = "bed plans",
    summary = "Recent bed plans, newest first",
    description = "Roles: bed_manager, site_manager, admin, auditor.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn list_bed_plans(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<careflow_types::BedPlanRecord>>, AppError> {
    caller.require(&[
        Role::BedManager,
        Role::SiteManager,
        Role::Admin,
        Role::Auditor,
    ])?;
    Ok(Json(bed_plans::list(&state.db, 50).await?))
}

/// A plan: the stored record once proposed, else where its workflow stands.
#[utoipa::path(
    get,
    path = "/api/bed-plans/{plan_id}",
    tag = "bed plans",
    summary = "A plan: the stored record once proposed, else where its workflow stands",
    description = "Roles: bed_manager, site_manager, admin, auditor.",
    security(("bearer" = [])),
    params(("plan_id" = String, Path, description = "Bed plan id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn bed_plan(
    State(state): State<AppState>,
    caller: Caller,
    Path(plan_id): Path<String>,
) -> Result<Json<BedPlanView>, AppError> {
    caller.require(&[
        Role::BedManager,
        Role::SiteManager,
        Role::Admin,
        Role::Auditor,
    ])?;
    if let Some(record) = bed_plans::get(&state.db, &plan_id).await? {
        return Ok(Json(BedPlanView::Record(record)));
    }
    let status = state
        .client
        .get_workflow_handle::<BedPlan>(plan_id.clone())
        .query(BedPlanStatusQuery, (), WorkflowQueryOptions::default())
        .await
        .map_err(|e| AppError::NotFound(format!("bed plan {plan_id} ({e})")))?;
    Ok(Json(BedPlanView::Status(status)))
}

/// The `Idempotency-Key` header, if set and well-formed.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, AppError> {
    match headers.get(IDEMPOTENCY_KEY) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(k) if !k.trim().is_empty() && k.len() <= 200 => Ok(Some(k.trim().to_owned())),
            _ => Err(AppError::Invalid(vec![FieldError::new(
                "Idempotency-Key header",
                "must be 1-200 visible ASCII characters",
            )])),
        },
    }
}
