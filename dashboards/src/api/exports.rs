//! `POST /api/exports/deid`: the de-identified research export over the API, the same
//! files as `careflow export deid --out DIR` (FHIR Bulk Data NDJSON, the aggregate
//! table with small cells suppressed, the manifest), returned as one JSON object.
//!
//! The export needs the de-identification key, which lives beside the data directory
//! and never in the database, so the route calls an [`ExportService`] that the
//! `careflow` binary puts on the router ([`crate::with_exports`]). Without one, 404 says
//! so. The service checks the role again and audits every export before returning it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use careflow_store::users::User;
use careflow_types::{FieldError, Role};

use super::decisions::ServiceFuture;
use super::Caller;
use crate::error::AppError;
use crate::AppState;

/// Who may export de-identified data (as `careflow export deid`): the administrator.
pub const EXPORT_ROLES: &[Role] = &[Role::Admin];

/// One export: file name -> content (`Patient.ndjson`, ..., `manifest.json`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeidExport {
    /// The files, as `careflow export deid` writes them to its directory.
    pub files: BTreeMap<String, String>,
}

/// Makes the de-identified export for a signed-in user (checks their role again and
/// audits the export before answering).
pub trait ExportService: Send + Sync + 'static {
    /// The export with aggregate cells under `min_cell` suppressed.
    fn deid<'a>(&'a self, user: &'a User, min_cell: u64) -> ServiceFuture<'a, DeidExport>;
}

/// The service as the route finds it.
pub type SharedExportService = Arc<dyn ExportService>;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/exports/deid", post(deid))
}

/// The request body: optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeidRequest {
    /// Smallest count an aggregate cell shows (default 5, at least 1).
    min_cell: Option<u64>,
}

#[utoipa::path(
    post,
    path = "/api/exports/deid",
    tag = "exports",
    summary = "De-identified research export (FHIR NDJSON files, aggregate table, manifest); audited",
    description = "Roles: admin. Body (optional): {\"min_cell\": 5}.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The files by name", body = DeidExport),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
        (status = 404, description = "This server was started without the export"),
    )
)]
pub(crate) async fn deid(
    caller: Caller,
    ext: Option<Extension<SharedExportService>>,
    body: Bytes,
) -> Result<Json<DeidExport>, AppError> {
    let user = caller.require(EXPORT_ROLES)?;
    let request: DeidRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeidRequest::default()
    } else {
        crate::error::parse_json(&body)?
    };
    let min_cell = request.min_cell.unwrap_or(5);
    if min_cell == 0 {
        return Err(AppError::Invalid(vec![FieldError::new(
            "min_cell",
            "must be at least 1",
        )]));
    }
    let Some(Extension(svc)) = ext else {
        return Err(AppError::NotFound(
            "the de-identified export (this server was started without it)".into(),
        ));
    };
    Ok(Json(svc.deid(user, min_cell).await?))
}
