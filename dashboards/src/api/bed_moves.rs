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
