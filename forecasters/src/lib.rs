//! careflow-forecasters: quantile forecasts for hospital operations, served by
//! ONNX Runtime from small models trained in `forecasters/training/`.
//!
//! Every forecaster implements [`Forecaster`] for its request type and returns
//! [`Forecast`]s whose [`ForecastMetadata`] names the model, its version, the
//! sha256 of the .onnx that produced it and the execution provider that ran.
//! Activities hold a `Box<dyn Forecaster<R>>` so tests can swap in a fake.
//!
//! ```no_run
//! use careflow_forecasters::{ed_arrivals::{EdArrivals, EdArrivalsRequest}, Forecaster, RuntimeOptions};
//! let model = EdArrivals::load_default(&RuntimeOptions::default())?;
//! let origin = chrono::NaiveDate::from_ymd_opt(2017, 4, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
//! // The hourly arrivals before the origin (the newest model corrects by the last 28 days).
//! let history: Vec<f64> = vec![9.0; 28 * 24];
//! let f = model.forecast_with_history(&EdArrivalsRequest { origin, horizon: 168 }, &history)?;
//! println!("{} p50={} via {}", f.rows[0].key, f.rows[0].quantiles[1], f.metadata.execution_provider);
//! # Ok::<(), careflow_forecasters::Error>(())
//! ```
#![warn(missing_docs)]

pub mod backtest;
pub mod bed_demand;
pub mod bundle;
pub mod calendar;
pub mod data;
pub mod ed_arrivals;
pub mod error;
pub mod quantile;
pub mod runtime;
pub mod scanner_no_show;
pub mod surgery_duration;

use serde::{Deserialize, Serialize};

pub use error::{Error, Result};
pub use runtime::{Device, Provider, RuntimeOptions};

/// Where a forecast came from; stored with every forecast for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastMetadata {
    /// Model name, e.g. `ed-arrivals`.
    pub model_name: String,
    /// Model version, e.g. `1.0.0`.
    pub model_version: String,
    /// sha256 of the .onnx file that ran.
    pub model_sha256: String,
    /// ONNX Runtime execution provider that ran it, e.g. `CPUExecutionProvider`.
    pub execution_provider: String,
    /// With `--forecast-device auto`: why that provider ran (CUDA unavailable and why,
    /// or the call's size against the GPU threshold). `None` for `cpu` and `cuda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_note: Option<String>,
}

impl ForecastMetadata {
    pub(crate) fn new(header: &bundle::CardHeader, provider: Provider) -> Self {
        ForecastMetadata {
            model_name: header.name.clone(),
            model_version: header.version.clone(),
            model_sha256: header.sha256.clone(),
            execution_provider: provider.ort_name().into(),
            device_note: None,
        }
    }

    /// This metadata for a call run as `plan` says (the provider that ran it and why).
    pub(crate) fn for_plan(&self, plan: &runtime::RunPlan) -> Self {
        ForecastMetadata {
            execution_provider: plan.provider.ort_name().into(),
            device_note: plan.note.clone(),
            ..self.clone()
        }
    }
}

/// One forecast row: a target (hour, ward-day, case...) with its mean and quantiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastRow {
    /// What the row is about, e.g. `2017-04-01T05` or `ward=ICU;day=3;census`.
    pub key: String,
    /// Expected value (a rate, a probability or a mean duration).
    pub mean: f64,
    /// Values at the forecast's `levels`, in the same order.
    pub quantiles: Vec<f64>,
}

/// A forecast for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Model and execution provider that made it.
    pub metadata: ForecastMetadata,
    /// Quantile levels, ascending (empty for a probability model).
    pub levels: Vec<f64>,
    /// The forecast rows.
    pub rows: Vec<ForecastRow>,
}

/// A forecaster for requests of type `R`.
pub trait Forecaster<R>: Send + Sync {
    /// Model and provider of this forecaster.
    fn metadata(&self) -> &ForecastMetadata;

    /// Forecasts many requests at once: the whole batch goes to one provider (with
    /// `auto`, CUDA when the batch's rows reach the GPU threshold), in ONNX Runtime
    /// calls sized for it (see [`runtime::OnnxModel::plan`]). Pass everything a step
    /// needs in one batch (a plan's wards, days and quantiles; a backtest's origins):
    /// the numbers equal one call per request.
    fn forecast_batch(&self, requests: &[R]) -> Result<Vec<Forecast>>;

    /// Forecasts one request.
    fn forecast(&self, request: &R) -> Result<Forecast> {
        self.forecast_batch(std::slice::from_ref(request))?
            .pop()
            .ok_or_else(|| Error::InvalidRequest("forecaster returned no forecast".into()))
    }
}
