//! careflow-dashboards: the HTTP API and the web pages over careflow.
//!
//! `app(state)` builds the router; `careflow serve` binds it. Every call but
//! `POST /api/login` needs a bearer token (from that login, expiring); each route names
//! the roles allowed to use it (least privilege). Decisions are signed: the decider
//! re-enters their password. The web pages (`pages`) are served on the same port with
//! a session cookie from a login form instead of a bearer token.
//! Responses never carry patient identifiers except the admission endpoint's echo to
//! the clerk who registered it.
#![warn(missing_docs)]

mod api;
pub mod error;
mod fhir;
mod metrics;
mod pages;
pub mod rate_limit;
pub mod workflows;

use axum::Router;
use temporalio_client::Client;

use careflow_store::Db;

pub use api::decisions::{DecisionService, ServiceFuture, SharedDecisionService};
pub use api::exports::{DeidExport, ExportService, SharedExportService, EXPORT_ROLES};
pub use api::AuthConfig;
pub use error::AppError;
pub use rate_limit::{with_rate_limits, Rate, RateLimits};

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    /// Domain database.
    pub db: Db,
    /// Temporal client (namespace-bound).
    pub client: Client,
}

/// The API router, issuing tokens with the default [`AuthConfig`].
pub fn app(state: AppState) -> Router {
    app_with(state, AuthConfig::default())
}

/// The largest request body the API reads (1 MiB): the biggest real requests (a
/// theatre week, a roster's ward) are tens of kilobytes; a larger body is refused with
/// 413 before it is buffered.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The API router, issuing tokens as `auth` says.
pub fn app_with(state: AppState, auth: AuthConfig) -> Router {
    api::router()
        .merge(pages::router())
        .route("/metrics", axum::routing::get(metrics::scrape))
        // Runs after routing, so requests are labelled by route template.
        .route_layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::Extension(auth))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The router with the service that replays and explains decisions (it needs the
/// solvers, so the binary provides it).
pub fn with_decisions(router: Router, service: SharedDecisionService) -> Router {
    router.layer(axum::Extension(service))
}

/// The router with the service that makes de-identified exports (it needs the key
/// beside the data directory, so the binary provides it).
pub fn with_exports(router: Router, service: SharedExportService) -> Router {
    router.layer(axum::Extension(service))
}
