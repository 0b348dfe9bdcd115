//! Routes: the move orders of the published bed plan, and a ward reporting a move done
//! (the census changes with it, audited in the same transaction).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};

use careflow_store::bed_plans::{self, BedMove};
use careflow_types::Role;

use super::Caller;
use crate::error::AppError;
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/bed-moves", get(open_moves))
        .route(
            "/api/bed-moves/{plan_id}/{admission_id}/done",
            post(move_done),
        )
}

/// Open move orders, by ward.
#[utoipa::path(
    get,
    path = "/api/bed-moves",
    tag = "bed plans",
    summary = "Open move orders of published bed plans",
    description = "Roles: bed_manager, nurse_in_charge, site_manager, admin.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn open_moves(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<BedMove>>, AppError> {
    caller.require(&[
        Role::BedManager,
        Role::NurseInCharge,
        Role::SiteManager,
        Role::Admin,
    ])?;
    Ok(Json(bed_plans::moves(&state.db, None).await?))
}

/// The ward moved the patient (the store checks the role and the patient's room).
#[utoipa::path(
    post,
    path = "/api/bed-moves/{plan_id}/{admission_id}/done",
    tag = "bed plans",
    summary = "The ward moved the patient",
    description = "Roles: bed_manager, nurse_in_charge, admin.",
    security(("bearer" = [])),
    params(("plan_id" = String, Path, description = "Bed plan id"), ("admission_id" = String, Path, description = "Admission id (pseudonymous)")),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn move_done(
    State(state): State<AppState>,
    caller: Caller,
    Path((plan_id, admission_id)): Path<(String, String)>,
) -> Result<Json<BedMove>, AppError> {
    let user = &caller.0;
    Ok(Json(
        bed_plans::complete_move(&state.db, &plan_id, &admission_id, &user.name, user.role).await?,
    ))
}
