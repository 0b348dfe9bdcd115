//! `scanner-no-show`: probability that an outpatient imaging appointment is
//! missed, from what is known at booking. A logistic GLM trained on seeded
//! synthetic appointments (see `training/scanner_no_show.py` and the card for
//! the published statistics and assumptions behind the generator).

use std::path::Path;

use chrono::Weekday;
use serde::{Deserialize, Serialize};

use crate::bundle::ModelBundle;
use crate::error::{Error, Result};
use crate::runtime::{OnnxModel, RuntimeOptions};
use crate::{Forecast, ForecastMetadata, ForecastRow, Forecaster};

/// Registry and directory name of the model.
pub const MODEL_NAME: &str = "scanner-no-show";
/// Features per appointment.
pub const N_FEATURES: usize = 23;

/// Imaging modality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Modality {
    /// Computed tomography.
    #[serde(rename = "CT")]
    Ct,
    /// Magnetic resonance imaging.
    #[serde(rename = "MRI")]
    Mri,
    /// Ultrasound.
    #[serde(rename = "US")]
    Us,
    /// Plain radiography.
    #[serde(rename = "XR")]
    Xr,
    /// Mammography.
    #[serde(rename = "MG")]
    Mg,
    /// Nuclear medicine.
    #[serde(rename = "NM")]
    Nm,
}

const MODALITIES: [&str; 6] = ["CT", "MRI", "US", "XR", "MG", "NM"];

/// One booked appointment, as known at booking time (no identifiers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Appointment {
    /// Modality.
    pub modality: Modality,
    /// Days between booking and appointment.
    pub lead_time_days: u32,
    /// Patient age in years.
    pub age_years: u32,
    /// Weekday of the appointment.
    pub weekday: Weekday,
    /// Median household income of the patient's neighbourhood (USD).
    pub median_income_usd: f64,
    /// Commute distance (miles).
    pub commute_miles: f64,
    /// The patient's earlier no-shows.
    pub prior_no_shows: u32,
    /// Whether a reminder is sent.
    pub reminder_sent: bool,
}

/// Expected card feature names, in order.
fn expected_names() -> Vec<String> {
    let mut v: Vec<String> = MODALITIES.iter().map(|m| format!("modality={m}")).collect();
    v.push("log1p_lead_weeks".into());
    v.extend(["age_lt_40", "age_40_59", "age_ge_60"].map(String::from));
    v.extend(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map(|d| format!("weekday={d}")));
    v.extend(
        [
            "income_10k_usd",
            "commute_10_miles",
            "prior_0",
            "prior_1",
            "prior_ge_2",
            "reminder_sent",
        ]
        .map(String::from),
    );
    v
}

/// Writes the features of `a` into `out` (length [`N_FEATURES`]).
pub fn features(a: &Appointment, out: &mut [f32]) {
    out.fill(0.0);
    out[a.modality as usize] = 1.0;
    out[6] = (a.lead_time_days as f64 / 7.0).ln_1p() as f32;
    out[7 + match a.age_years {
        0..40 => 0,
        40..60 => 1,
        _ => 2,
    }] = 1.0;
    out[10 + a.weekday.num_days_from_monday() as usize] = 1.0;
    out[17] = (a.median_income_usd / 10_000.0) as f32;
    out[18] = (a.commute_miles / 10.0) as f32;
    out[19 + a.prior_no_shows.min(2) as usize] = 1.0;
    out[22] = f32::from(u8::from(a.reminder_sent));
}

/// The no-show forecaster.
#[derive(Debug)]
pub struct ScannerNoShow {
    model: OnnxModel,
    metadata: ForecastMetadata,
}

impl ScannerNoShow {
    /// Loads the model in `dir`.
    pub fn load(dir: &Path, opts: &RuntimeOptions) -> Result<Self> {
        Self::from_bundle(&ModelBundle::open(dir)?, opts)
    }

    /// Loads the newest committed version.
    pub fn load_default(opts: &RuntimeOptions) -> Result<Self> {
        Self::load(
            &crate::bundle::latest_version_dir(&crate::bundle::models_dir()?, MODEL_NAME)?,
            opts,
        )
    }

    /// Loads an already verified bundle.
    pub fn from_bundle(bundle: &ModelBundle, opts: &RuntimeOptions) -> Result<Self> {
        let model = OnnxModel::load(&bundle.onnx_path, opts)?;
        if bundle.check(MODEL_NAME, &model, 1)? != expected_names() {
            return Err(Error::Model {
                path: bundle.onnx_path.clone(),
                message: "feature layout differs from this code".into(),
            });
        }
        Ok(ScannerNoShow {
            metadata: ForecastMetadata::new(&bundle.header, model.provider()),
            model,
        })
    }
}

impl Forecaster<Appointment> for ScannerNoShow {
    fn metadata(&self) -> &ForecastMetadata {
        &self.metadata
    }

    /// One forecast per appointment: a single row `no_show` whose `mean` is the probability.
    fn forecast_batch(&self, requests: &[Appointment]) -> Result<Vec<Forecast>> {
        for (i, a) in requests.iter().enumerate() {
            if !(a.median_income_usd.is_finite() && a.commute_miles.is_finite()) {
                return Err(Error::InvalidRequest(format!(
                    "appointment {i}: income and commute must be finite"
                )));
            }
        }
        let mut buf = vec![0.0f32; requests.len() * N_FEATURES];
        for (a, row) in requests.iter().zip(buf.chunks_mut(N_FEATURES)) {
            features(a, row);
        }
        let p = self.model.run(&buf, requests.len())?;
        let metadata = self.metadata.for_plan(&self.model.plan(requests.len()));
        Ok(p.into_iter()
            .map(|p| Forecast {
                metadata: metadata.clone(),
                levels: Vec::new(),
                rows: vec![ForecastRow {
                    key: "no_show".into(),
                    mean: p as f64,
                    quantiles: Vec::new(),
                }],
            })
            .collect())
    }
}
