//! Routes: replay and explain a stored decision step.
//!
//! Replaying needs the solvers and ONNX Runtime, which this crate must not reach, so
//! the routes call a [`DecisionService`] that the `careflow` binary puts on the router
//! as an extension ([`crate::with_decisions`]). Without one, they answer 404 with why.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use careflow_types::{DecisionExplanation, ReplayReport, Role};

use super::Caller;
use crate::error::AppError;
use crate::AppState;

/// A boxed future the service returns (the trait stays object safe).
pub type ServiceFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, careflow_store::Error>> + Send + 'a>>;

/// Replays and explains stored decisions for a signed-in user, who must be an auditor,
/// an administrator or the step's process approver (the service checks, and audits
/// each replay).
pub trait DecisionService: Send + Sync + 'static {
    /// Runs the step again from its snapshot; `step` `None`: the last solver step.
    fn replay<'a>(
        &'a self,
        user: &'a str,
        role: Role,
        workflow_id: &'a str,
        step: Option<&'a str>,
    ) -> ServiceFuture<'a, ReplayReport>;
    /// Explains the step's result.
    fn explain<'a>(
        &'a self,
        user: &'a str,
        role: Role,
        workflow_id: &'a str,
        step: Option<&'a str>,
    ) -> ServiceFuture<'a, DecisionExplanation>;
}

/// The service as the routes find it.
pub type SharedDecisionService = Arc<dyn DecisionService>;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/decisions/{workflow_id}/replay", post(replay))
        .route("/api/decisions/{workflow_id}/explain", get(explain))
}

/// `?step=solve/r0`: steps hold slashes, so they travel as a query parameter.
#[derive(Debug, Deserialize)]
struct StepQuery {
    step: Option<String>,
}

fn service(
    ext: Option<Extension<SharedDecisionService>>,
) -> Result<SharedDecisionService, AppError> {
    ext.map(|Extension(s)| s).ok_or_else(|| {
        AppError::NotFound("decision replay (this server was started without it)".into())
    })
}

/// A snapshot whose content no longer matches its hash is the caller's answer, not an
/// internal failure: say so.
fn answer<T>(r: Result<T, careflow_store::Error>) -> Result<Json<T>, AppError> {
    match r {
        Ok(v) => Ok(Json(v)),
        Err(careflow_store::Error::Corrupt(m)) => Err(AppError::Conflict(m)),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    post,
    path = "/api/decisions/{workflow_id}/replay",
    tag = "decisions",
    summary = "Replay a recorded solver or forecaster step (query: step)",
    description = "Roles: auditor, admin, the process's approver role.",
    security(("bearer" = [])),
    params(("workflow_id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn replay(
    caller: Caller,
    ext: Option<Extension<SharedDecisionService>>,
    Path(workflow_id): Path<String>,
    Query(q): Query<StepQuery>,
) -> Result<Json<ReplayReport>, AppError> {
    let svc = service(ext)?;
    let user = &caller.0;
    answer(
        svc.replay(&user.name, user.role, &workflow_id, q.step.as_deref())
            .await,
    )
}

#[utoipa::path(
    get,
    path = "/api/decisions/{workflow_id}/explain",
    tag = "decisions",
    summary = "Explain a recorded step: cost by term, binding rules, who moved or was deferred (query: step)",
    description = "Roles: auditor, admin, the process's approver role.",
    security(("bearer" = [])),
    params(("workflow_id" = String, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn explain(
    caller: Caller,
    ext: Option<Extension<SharedDecisionService>>,
    Path(workflow_id): Path<String>,
    Query(q): Query<StepQuery>,
) -> Result<Json<DecisionExplanation>, AppError> {
    let svc = service(ext)?;
    let user = &caller.0;
    answer(
        svc.explain(&user.name, user.role, &workflow_id, q.step.as_deref())
            .await,
    )
}
