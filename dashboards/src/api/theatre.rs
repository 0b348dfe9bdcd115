//! Routes of the operating-theatre week: start a week's lists, read where the week
//! stands and the list in force, report a day-of event, close the week. Decisions on a
//! proposed list go through the one task decision route (`/api/tasks/{id}/decision`).
//!
//! Patients are named by their pseudonymous keys only: a case whose key is not a
//! registered patient's pseudonym is refused before anything starts, and an auditor
//! reads every list with the keys withheld.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use temporalio_client::errors::{WorkflowStartError, WorkflowUpdateError};
use temporalio_client::{
    WorkflowDescribeOptions, WorkflowExecuteUpdateOptions, WorkflowExecutionStatus,
    WorkflowGetResultOptions, WorkflowIdReusePolicy, WorkflowQueryOptions, WorkflowStartOptions,
};

use temporalio_common::protos::temporal::api::failure::v1::Failure;

use careflow_store::{audit, patients, theatre};
use careflow_types::{
    CloseWeek, CloseWeekRequest, DayOfChange, DayOfEvent, FieldError, Role, TheatreBookingInput,
    TheatreEventAccepted, TheatreListProposal, TheatreListRecord, TheatreRevisionLine,
    TheatreWeekClosed, TheatreWeekLists, TheatreWeekRequest, TheatreWeekStarted, TheatreWeekView,
    TASK_QUEUE,
};

use super::{idempotency_key, Caller};
use crate::error::{parse_json, AppError};
use crate::workflows::{CloseTheatreWeek, ReportTheatreEvent, TheatreBooking, TheatreStatusQuery};
use crate::AppState;

/// Who asks for a week's lists and reports what changes on the day: the theatre
/// administrators, and the site manager who stands in for them.
const PLANNERS: [Role; 2] = [Role::TheatreAdmin, Role::SiteManager];
/// Who reads the lists: the planners, an administrator for oversight, and an auditor
/// (who sees no patient keys).
const READERS: [Role; 4] = [
    Role::TheatreAdmin,
    Role::SiteManager,
    Role::Admin,
    Role::Auditor,
];

/// What an auditor reads in place of a patient's pseudonymous key.
pub(crate) const WITHHELD: &str = "withheld";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/theatre-weeks",
            post(start_week).get(list_recent_revisions),
        )
        .route("/api/theatre-weeks/{list_id}", get(week_status))
        .route("/api/theatre-weeks/{list_id}/list", get(week_lists))
        .route("/api/theatre-weeks/{list_id}/events", post(report_event))
        .route("/api/theatre-weeks/{list_id}/close", post(close_week))
}

/// Starts a week: its cases' durations forecast, the lists optimised, then a theatre
/// administrator's approval. Every bad field is located and nothing is started.
#[utoipa::path(
    post,
    path = "/api/theatre-weeks",
    tag = "theatre",
    summary = "Start a week's theatre lists (Idempotency-Key honoured; patients by registered pseudonym)",
    description = "Roles: theatre_admin, site_manager.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn start_week(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<TheatreWeekStarted>), AppError> {
    let user = caller.require(&PLANNERS)?;
    let mut request: TheatreWeekRequest = parse_json(&body)?;
    // The week is asked for by whoever is signed in, whatever the body claims: they
    // may not approve it.
    request.requested_by = user.name.clone();
    // Waiting-list entries placed through FHIR (ServiceRequest) join the week they fit.
    let placed =
        careflow_store::service_requests::join_theatre_week(&state.db, &mut request).await?;
    // Every problem at once: the fields, then the keys that name no registered patient.
    let mut errors = request.validate().err().unwrap_or_default();
    let keys: Vec<(String, &str)> = request
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("cases[{i}].patient_key"), c.patient_key.as_str()))
        .filter(|(field, _)| !errors.iter().any(|e| &e.field == field))
        .collect();
    errors.extend(unregistered_pseudonyms(&state, &keys).await?);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let key = idempotency_key(&headers)?;
    let suffix = match &key {
        Some(k) => audit::sha256_json(&(user.name.as_str(), k.as_str()))[..16].to_owned(),
        None => uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(),
    };
    let list_id = format!("theatre-{}-{suffix}", request.week_start);
    let started = state
        .client
        .start_workflow(
            TheatreBooking,
            TheatreBookingInput {
                list_id: list_id.clone(),
                request,
            },
            WorkflowStartOptions::new(TASK_QUEUE, list_id.clone())
                .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                .build(),
        )
        .await;
    if started.is_ok() {
        careflow_store::service_requests::mark_taken(&state.db, &placed, &list_id).await?;
    }
    match started {
        Ok(_) => Ok((StatusCode::CREATED, Json(TheatreWeekStarted { list_id }))),
        // A retry of a request that already started its week: the same answer again.
        Err(WorkflowStartError::AlreadyStarted { .. }) if key.is_some() => {
            Ok((StatusCode::OK, Json(TheatreWeekStarted { list_id })))
        }
        Err(e) => Err(AppError::Internal(format!(
            "starting theatre week workflow: {e}"
        ))),
    }
}

/// Every key of `keys` (field path, key) that is not a registered patient's pseudonym,
/// located by its field.
async fn unregistered_pseudonyms(
    state: &AppState,
    keys: &[(String, &str)],
) -> Result<Vec<FieldError>, AppError> {
    let plain: Vec<&str> = keys.iter().map(|(_, k)| *k).collect();
    let unknown = patients::unknown_keys(&state.db, &plain).await?;
    Ok(keys
        .iter()
        .filter(|(_, k)| unknown.iter().any(|u| u == k))
        .map(|(field, _)| {
            FieldError::new(
                field.clone(),
                format!(
                    "is not a registered patient's pseudonymous key ({}...): name patients \
                         by their key, never by a hospital number",
                    patients::KEY_PREFIX
                ),
            )
        })
        .collect())
}

/// The most recently proposed revisions of every week, newest first.
#[utoipa::path(
    get,
    path = "/api/theatre-weeks",
    tag = "theatre",
    summary = "Recent theatre weeks",
    description = "Roles: theatre_admin, site_manager, admin, auditor.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn list_recent_revisions(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TheatreListRecord>>, AppError> {
    let user = caller.require(&READERS)?;
    let mut records = theatre::list(&state.db, 50).await?;
    if user.role == Role::Auditor {
        records
            .iter_mut()
            .for_each(|r| withhold_patient_keys(&mut r.proposal));
    }
    Ok(Json(records))
}

/// Where the week's workflow stands: its stage, revisions, open task and latest
/// proposal, or why it failed.
#[utoipa::path(
    get,
    path = "/api/theatre-weeks/{list_id}",
    tag = "theatre",
    summary = "Where a theatre week stands",
    description = "Roles: theatre_admin, site_manager, admin, auditor (patient keys withheld).",
    security(("bearer" = [])),
    params(("list_id" = String, Path, description = "Theatre week id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn week_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(list_id): Path<String>,
) -> Result<Json<TheatreWeekView>, AppError> {
    let user = caller.require(&READERS)?;
    let handle = state
        .client
        .get_workflow_handle::<TheatreBooking>(list_id.clone());
    let description = handle
        .describe(WorkflowDescribeOptions::default())
        .await
        .map_err(|e| AppError::NotFound(format!("theatre week {list_id} ({e})")))?;
    let execution = description.status();
    let failure = if execution == WorkflowExecutionStatus::Failed {
        // Closed: the result is there at once.
        match handle.get_result(WorkflowGetResultOptions::default()).await {
            Err(temporalio_client::errors::WorkflowGetResultError::Failed(f)) => {
                Some(innermost_message(f.failure()))
            }
            _ => None,
        }
    } else {
        None
    };
    // A week that failed on its input never had a status worth showing.
    let status = if failure.is_some() {
        None
    } else {
        let mut status = handle
            .query(TheatreStatusQuery, (), WorkflowQueryOptions::default())
            .await
            .map_err(|e| AppError::Internal(format!("querying theatre week {list_id}: {e}")))?;
        if user.role == Role::Auditor {
            if let Some(p) = status.proposal.as_mut() {
                withhold_patient_keys(p);
            }
        }
        Some(status)
    };
    Ok(Json(TheatreWeekView {
        list_id,
        execution: execution_word(execution).into(),
        status,
        failure,
    }))
}

/// The list in force and the latest proposal of a week, as stored.
#[utoipa::path(
    get,
    path = "/api/theatre-weeks/{list_id}/list",
    tag = "theatre",
    summary = "The lists in force and the latest proposal",
    description = "Roles: theatre_admin, site_manager, admin, auditor (patient keys withheld).",
    security(("bearer" = [])),
    params(("list_id" = String, Path, description = "Theatre week id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn week_lists(
    State(state): State<AppState>,
    caller: Caller,
    Path(list_id): Path<String>,
) -> Result<Json<TheatreWeekLists>, AppError> {
    let user = caller.require(&READERS)?;
    let mut records = theatre::revisions(&state.db, &list_id).await?;
    if records.is_empty() {
        // The workflow may still be forecasting or solving its first revision.
        return Err(AppError::NotFound(format!(
            "no list of theatre week {list_id} is stored yet (see GET /api/theatre-weeks/{list_id})"
        )));
    }
    if user.role == Role::Auditor {
        records
            .iter_mut()
            .for_each(|r| withhold_patient_keys(&mut r.proposal));
    }
    let revisions = records
        .iter()
        .map(|r| TheatreRevisionLine {
            revision: r.revision,
            status: r.status.clone(),
            requested_by: r.requested_by.clone(),
            decided_by: r.decided_by.clone(),
            booked: r.proposal.booked.len(),
            changes: r.proposal.changes.len(),
            replanned_after: r.proposal.replanned_after.clone(),
        })
        .collect();
    Ok(Json(TheatreWeekLists {
        in_force: records.iter().find(|r| r.status == "published").cloned(),
        latest: records.last().cloned(),
        revisions,
        list_id,
    }))
}

/// A day-of event (a case cancelled, an emergency case, a theatre closed, an extra
/// session): the week re-plans from its day. The workflow checks it against the week
/// as it stands; every refusal is located by field and changes nothing.
#[utoipa::path(
    post,
    path = "/api/theatre-weeks/{list_id}/events",
    tag = "theatre",
    summary = "Report a day-of event (cancellation, emergency case...)",
    description = "Roles: theatre_admin, site_manager.",
    security(("bearer" = [])),
    params(("list_id" = String, Path, description = "Theatre week id")),
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
    Path(list_id): Path<String>,
    body: Bytes,
) -> Result<Json<TheatreEventAccepted>, AppError> {
    let user = caller.require(&PLANNERS)?;
    let mut event: DayOfEvent = parse_json(&body)?;
    // Reported by whoever is signed in: they may not approve the re-plan it causes.
    event.reported_by = user.name.clone();
    if let DayOfChange::EmergencyCase { case } = &event.change {
        let field = "change.case.patient_key".to_owned();
        let errors = unregistered_pseudonyms(&state, &[(field, case.patient_key.as_str())]).await?;
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
    }
    let result = state
        .client
        .get_workflow_handle::<TheatreBooking>(list_id.clone())
        .execute_update(
            ReportTheatreEvent,
            event,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| refused(&list_id, "invalid day-of event: ", e))?;
    Ok(Json(TheatreEventAccepted {
        list_id,
        reported_by: user.name.clone(),
        result,
    }))
}

/// Closes the week: the list in force stays as published and no event is taken after.
#[utoipa::path(
    post,
    path = "/api/theatre-weeks/{list_id}/close",
    tag = "theatre",
    summary = "Close the week",
    description = "Roles: theatre_admin, site_manager.",
    security(("bearer" = [])),
    params(("list_id" = String, Path, description = "Theatre week id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn close_week(
    State(state): State<AppState>,
    caller: Caller,
    Path(list_id): Path<String>,
    body: Bytes,
) -> Result<Json<TheatreWeekClosed>, AppError> {
    let user = caller.require(&PLANNERS)?;
    let req: CloseWeekRequest = parse_json(&body)?;
    let result = state
        .client
        .get_workflow_handle::<TheatreBooking>(list_id.clone())
        .execute_update(
            CloseTheatreWeek,
            CloseWeek {
                closed_by: user.name.clone(),
                reason: req.reason,
            },
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| refused(&list_id, "invalid close: ", e))?;
    Ok(Json(TheatreWeekClosed {
        list_id,
        closed_by: user.name.clone(),
        result,
    }))
}

/// An update the week refused. The workflow's validator locates bad fields as
/// `PREFIX field: message; field: message`: those become located field errors (400);
/// any other refusal (the week closed, a decision pending) is a conflict (409).
fn refused(list_id: &str, prefix: &str, e: WorkflowUpdateError) -> AppError {
    match e {
        WorkflowUpdateError::Failed(failure) => {
            let message = innermost_message(&failure);
            match message.strip_prefix(prefix) {
                Some(located) => AppError::Invalid(located_fields(located)),
                None => AppError::Conflict(message),
            }
        }
        WorkflowUpdateError::NotFound(_) => AppError::NotFound(format!("theatre week {list_id}")),
        other => AppError::Conflict(format!("theatre week {list_id}: {other}")),
    }
}

/// `field: message; field: message` as field errors (a part without a field path
/// keeps the whole text under `body`).
fn located_fields(text: &str) -> Vec<FieldError> {
    text.split("; ")
        .map(|part| match part.split_once(": ") {
            Some((field, message))
                if !field.is_empty()
                    && field.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']')
                    }) =>
            {
                FieldError::new(field, message)
            }
            _ => FieldError::new("body", part),
        })
        .collect()
}

/// The message of the deepest cause: what the workflow or its step said, without the
/// wrappers Temporal adds ("activity task failed", ...).
fn innermost_message(failure: &Failure) -> String {
    let mut f = failure;
    while let Some(cause) = f.cause.as_deref() {
        f = cause;
    }
    f.message.clone()
}

fn execution_word(status: WorkflowExecutionStatus) -> &'static str {
    match status {
        WorkflowExecutionStatus::Running => "running",
        WorkflowExecutionStatus::Completed => "completed",
        WorkflowExecutionStatus::Failed => "failed",
        WorkflowExecutionStatus::Canceled => "cancelled",
        WorkflowExecutionStatus::Terminated => "terminated",
        WorkflowExecutionStatus::TimedOut => "timed_out",
        WorkflowExecutionStatus::ContinuedAsNew => "continued_as_new",
        _ => "unknown",
    }
}

/// Replaces every patient key of a proposal by [`WITHHELD`]: an auditor follows the
/// decisions by case id, not by patient.
fn withhold_patient_keys(p: &mut TheatreListProposal) {
    for b in &mut p.booked {
        b.patient_key = WITHHELD.into();
    }
    for d in &mut p.deferred {
        d.patient_key = WITHHELD.into();
    }
    for c in &mut p.changes {
        c.patient_key = WITHHELD.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_messages_become_located_fields() {
        let fields = located_fields(
            "day: day 9 is outside the week's 5 days; change.case_id: case C99 is not on this week's list",
        );
        assert_eq!(
            fields,
            [
                FieldError::new("day", "day 9 is outside the week's 5 days"),
                FieldError::new("change.case_id", "case C99 is not on this week's list"),
            ]
        );
        let odd = located_fields("something else went wrong");
        assert_eq!(odd[0].field, "body");
    }
}
