//! careflow-activities: the side-effecting steps of careflow's workflows, as thin
//! Temporal activity adapters over the store, the solvers and the forecasters.
//!
//! One file per process (`admission.rs`, `bed_plan.rs`) plus the one approval step
//! every process shares (`approval.rs`). An activity reads or writes through
//! `careflow-store`, whose functions write their audit entry in the same transaction
//! as the change and are keyed by workflow id and step, so a retried activity never
//! does its work twice. What retrying cannot heal (bad input, a refused check, a model
//! file whose hash differs) becomes a non-retryable failure that names the problem.
#![warn(missing_docs)]

pub mod admission;
pub mod approval;
pub mod bed_plan;
pub mod decisions;
pub mod ethics_review;
pub mod model_release;
pub mod nurse_rostering;
pub mod scanner_booking;
pub mod theatre_booking;

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::ApplicationFailure;

use careflow_forecasters::bundle::{open_verified, ModelBundle};
use careflow_forecasters::RuntimeOptions;
use careflow_solvers::solve::Progress;
use careflow_store::{registry, Db};

/// A failure that retrying cannot heal; the workflow sees `msg`.
pub(crate) fn non_retryable(msg: String) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(msg)
            .type_name(careflow_types::REFUSED_ERROR_TYPE.to_owned())
            .non_retryable(true)
            .build(),
    )
}

/// A store error as the workflow sees it: a database that failed is retried (it may
/// come back), anything the data itself refuses is not.
pub(crate) fn store_failure(e: careflow_store::Error) -> ActivityError {
    use careflow_store::Error as E;
    match e {
        E::Database(_) => ActivityError::from(e),
        other => non_retryable(other.to_string()),
    }
}

/// How often a short step that is still running tells Temporal it is alive. Its
/// workflow gives it a heartbeat timeout a few times this (see the admission workflow):
/// a step whose worker died is retried after that timeout instead of its whole
/// start-to-close timeout, while one merely queued behind other writers keeps going.
pub const SHORT_STEP_HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs `step` (one store transaction), heartbeating every [`SHORT_STEP_HEARTBEAT`]
/// while it runs. The first heartbeat comes only after one period: most steps finish
/// well within it and cost Temporal no heartbeat at all.
pub(crate) async fn heartbeating<F: std::future::Future>(
    ctx: &ActivityContext,
    step: F,
) -> F::Output {
    tokio::pin!(step);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + SHORT_STEP_HEARTBEAT,
        SHORT_STEP_HEARTBEAT,
    );
    loop {
        tokio::select! {
            out = &mut step => return out,
            _ = tick.tick() => {
                if let Err(e) = ctx.record_heartbeat(()).await {
                    tracing::debug!(error = %e, "heartbeat not recorded");
                }
            }
        }
    }
}

/// The registry's production model `name`, opened from `models_dir/<name>/<version>/`
/// and checked against the sha256 the registry recorded. No production model, or a file
/// whose hash differs, will not heal by retrying: the step fails with the reason, `what`
/// naming it ("demand forecast").
pub(crate) async fn production_model(
    db: &Db,
    models_dir: &Path,
    name: &str,
    what: &str,
) -> Result<ModelBundle, ActivityError> {
    let production = registry::production(db, name).await.map_err(|e| match e {
        careflow_store::Error::NotFound(_) => non_retryable(format!(
            "{what}: no production model named {name:?} in the registry"
        )),
        other => store_failure(other),
    })?;
    let dir = models_dir.join(&production.name).join(&production.version);
    open_verified(
        &dir,
        &production.name,
        &production.version,
        &production.sha256,
    )
    .map_err(|e| non_retryable(format!("{what}: {e}")))
}

static FORECAST_RUNTIME: OnceLock<RuntimeOptions> = OnceLock::new();

/// Sets how this process's activities run forecasts (`--forecast-device` and the GPU
/// threshold), once, before the worker starts; a later, different setting is refused
/// and logged (a worker's forecasts must not change device mid-run).
pub fn configure_forecasts(opts: RuntimeOptions) {
    if let Err(refused) = FORECAST_RUNTIME.set(opts) {
        if FORECAST_RUNTIME.get() != Some(&refused) {
            tracing::warn!(?refused, kept = ?FORECAST_RUNTIME.get(), "forecast runtime already configured");
        }
    }
}

/// How activities run forecasts: as configured, else ONNX Runtime's CPU provider.
pub(crate) fn forecast_runtime() -> RuntimeOptions {
    FORECAST_RUNTIME.get().cloned().unwrap_or_default()
}

/// Heartbeat details while the optimiser runs (visible in Temporal's UI and history).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SolveHeartbeat {
    /// Seconds since the solve started.
    pub elapsed_s: f64,
    /// Best plan's objective so far.
    pub incumbent: Option<f64>,
    /// Best proven bound.
    pub bound: Option<f64>,
}

/// This process's solver and forecast times as Prometheus histograms, in the default
/// registry (`careflow serve`'s `/metrics` shows them beside the API's own metrics; a
/// worker of its own keeps them in its process). Labels name the problem or the model,
/// never a patient or a workflow.
pub mod metrics {
    use std::sync::LazyLock;
    use std::time::Instant;

    use prometheus::{register_histogram_vec, HistogramVec};

    const BUCKETS: &[f64] = &[
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    ];

    static SOLVES: LazyLock<HistogramVec> = LazyLock::new(|| {
        register_histogram_vec!(
            "careflow_solver_duration_seconds",
            "Optimiser run times by problem (bed plan, theatre, scanner, roster)",
            &["problem"],
            BUCKETS.to_vec()
        )
        .expect("solver metric registers once")
    });
    static FORECASTS: LazyLock<HistogramVec> = LazyLock::new(|| {
        register_histogram_vec!(
            "careflow_forecast_duration_seconds",
            "Forecast run times of the production models, by model",
            &["model"],
            BUCKETS.to_vec()
        )
        .expect("forecast metric registers once")
    });

    /// Records a solve of `problem` ("bed plan" is labelled `bed_plan`) that took
    /// `seconds`.
    pub fn solved(problem: &str, seconds: f64) {
        SOLVES
            .with_label_values(&[&problem.replace(' ', "_")])
            .observe(seconds);
    }

    /// Runs `forecast` of `model`, recording how long it took.
    pub fn timed_forecast<T>(model: &str, forecast: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = forecast();
        FORECASTS
            .with_label_values(&[model])
            .observe(started.elapsed().as_secs_f64());
        out
    }
}

/// Runs a MILP `solve` on a blocking thread, so the activity's task stays free, and
/// sends its progress as activity heartbeats. A panic in the solver fails the step,
/// `what` naming it; the solve's time goes to the metrics under `what`.
pub(crate) async fn solve_with_heartbeats<T: Send + 'static>(
    ctx: &ActivityContext,
    what: &str,
    solve: impl FnOnce(&mut dyn FnMut(Progress)) -> T + Send + 'static,
) -> Result<T, ActivityError> {
    let (tx_progress, mut rx_progress) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let problem = what.to_owned();
    let solving = tokio::task::spawn_blocking(move || {
        let mut sink = |p: Progress| {
            let _ = tx_progress.send(p);
        };
        let started = std::time::Instant::now();
        let out = solve(&mut sink);
        metrics::solved(&problem, started.elapsed().as_secs_f64());
        out
    });
    tokio::pin!(solving);
    loop {
        tokio::select! {
            r = &mut solving => {
                return r.map_err(|e| non_retryable(format!("{what} solver panicked: {e}")));
            }
            Some(p) = rx_progress.recv() => {
                let _ = ctx
                    .record_heartbeat(SolveHeartbeat {
                        elapsed_s: p.elapsed_s,
                        incumbent: p.incumbent,
                        bound: p.bound,
                    })
                    .await;
            }
        }
    }
}
