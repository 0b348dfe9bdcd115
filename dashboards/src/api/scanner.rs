//! Routes of the CT/MRI scanner bookings: start a booking run, see where it stands,
//! record a booked scan's attendance, and read predicted no-show probability beside
//! outcome. Decisions on a booking's tasks go through the shared task decision route.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use temporalio_client::{
    errors::WorkflowStartError, WorkflowExecuteUpdateOptions, WorkflowIdReusePolicy,
    WorkflowQueryOptions, WorkflowStartOptions,
};

use careflow_store::{audit, scanner};
use careflow_types::{
    AttendanceAccepted, AttendanceReport, NoShowOutcome, Role, ScannerBookingInput,
    ScannerBookingStarted, ScannerBookingStatus, ScannerWeekRequest, TASK_QUEUE,
};

use super::{idempotency_key, Caller};
use crate::error::{parse_json, AppError};
use crate::workflows::{RecordAttendance, ScannerBooking, ScannerBookingStatusQuery};
use crate::AppState;

/// Model whose outcomes `GET /api/scanner-bookings/no-show-outcomes` returns.
const NO_SHOW_MODEL: &str = "scanner-no-show";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/scanner-bookings", post(create_booking))
        .route(
            "/api/scanner-bookings/no-show-outcomes",
            get(no_show_outcomes),
        )
        .route("/api/scanner-bookings/{booking_id}", get(booking_status))
        .route(
            "/api/scanner-bookings/{booking_id}/attendance",
            post(record_attendance),
        )
}

/// Starts a booking run: no-show forecast, scanner MILP, then booked within policy or
/// sent to the imaging manager.
#[utoipa::path(
    post,
    path = "/api/scanner-bookings",
    tag = "scanner",
    summary = "Start a week's CT/MRI booking run (Idempotency-Key honoured)",
    description = "Roles: imaging_manager, admin.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn create_booking(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ScannerBookingStarted>), AppError> {
    let user = caller.require(&[Role::ImagingManager, Role::Admin])?;
    let mut request: ScannerWeekRequest = parse_json(&body)?;
    // Asked for by whoever is signed in, whatever the body claims.
    request.requested_by = user.name.clone();
    // Imaging requests placed through FHIR (ServiceRequest) join the week they fit.
    let placed =
        careflow_store::service_requests::join_scanner_week(&state.db, &mut request).await?;
    request.validate().map_err(AppError::Invalid)?;
    let key = idempotency_key(&headers)?;
    let suffix = match &key {
        Some(k) => audit::sha256_json(&(user.name.as_str(), k.as_str()))[..16].to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(),
    };
    let booking_id = format!("scan-{}-{suffix}", request.week_start);
    let started = state
        .client
        .start_workflow(
            ScannerBooking,
            ScannerBookingInput {
                booking_id: booking_id.clone(),
                request,
            },
            WorkflowStartOptions::new(TASK_QUEUE, booking_id.clone())
                .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                .build(),
        )
        .await;
    if started.is_ok() {
        careflow_store::service_requests::mark_taken(&state.db, &placed, &booking_id).await?;
    }
    match started {
        Ok(_) => Ok((
            StatusCode::CREATED,
            Json(ScannerBookingStarted { booking_id }),
        )),
        Err(WorkflowStartError::AlreadyStarted { .. }) if key.is_some() => {
            Ok((StatusCode::OK, Json(ScannerBookingStarted { booking_id })))
        }
        Err(e) => Err(AppError::Internal(format!(
            "starting scanner booking workflow: {e}"
        ))),
    }
}

/// Where a booking run stands.
#[utoipa::path(
    get,
    path = "/api/scanner-bookings/{booking_id}",
    tag = "scanner",
    summary = "Where a booking run stands",
    description = "Roles: imaging_manager, site_manager, admin, auditor.",
    security(("bearer" = [])),
    params(("booking_id" = String, Path, description = "Booking id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn booking_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(booking_id): Path<String>,
) -> Result<Json<ScannerBookingStatus>, AppError> {
    caller.require(&[
        Role::ImagingManager,
        Role::SiteManager,
        Role::Admin,
        Role::Auditor,
    ])?;
    let status = state
        .client
        .get_workflow_handle::<ScannerBooking>(booking_id.clone())
        .query(
            ScannerBookingStatusQuery,
            (),
            WorkflowQueryOptions::default(),
        )
        .await
        .map_err(|e| AppError::NotFound(format!("scanner booking {booking_id} ({e})")))?;
    Ok(Json(status))
}

/// Records whether a booked patient came; the workflow's validator and the store check
/// it again.
#[utoipa::path(
    post,
    path = "/api/scanner-bookings/{booking_id}/attendance",
    tag = "scanner",
    summary = "Record attended or no-show",
    description = "Roles: imaging_manager.",
    security(("bearer" = [])),
    params(("booking_id" = String, Path, description = "Booking id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn record_attendance(
    State(state): State<AppState>,
    caller: Caller,
    Path(booking_id): Path<String>,
    body: Bytes,
) -> Result<Json<AttendanceAccepted>, AppError> {
    let user = caller.require(&[Role::ImagingManager])?;
    let mut report: AttendanceReport = parse_json(&body)?;
    report.recorded_by = user.name.clone();
    let result = state
        .client
        .get_workflow_handle::<ScannerBooking>(booking_id.clone())
        .execute_update(
            RecordAttendance,
            report,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| AppError::Conflict(format!("attendance refused: {e}")))?;
    Ok(Json(AttendanceAccepted { booking_id, result }))
}

/// Every booked scan with its attendance recorded, beside the probability the no-show
/// model gave it.
#[utoipa::path(
    get,
    path = "/api/scanner-bookings/no-show-outcomes",
    tag = "scanner",
    summary = "Predicted no-show probability beside the outcome",
    description = "Roles: imaging_manager, admin, auditor.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn no_show_outcomes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<NoShowOutcome>>, AppError> {
    caller.require(&[Role::ImagingManager, Role::Admin, Role::Auditor])?;
    Ok(Json(
        scanner::no_show_outcomes(&state.db, NO_SHOW_MODEL).await?,
    ))
}
