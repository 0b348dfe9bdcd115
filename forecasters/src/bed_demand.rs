//! `bed-demand`: daily admissions and end-of-day census of one ward for the
//! next days (14 by default), p10/p50/p90.
//!
//! The ONNX model has two GLM heads on features of (ward, target day, recent
//! admission level): the admission rate lambda_d and the probability p_d that a
//! patient in the ward is discharged that day. With C0 patients at the origin,
//! the census on day d is Binomial(C0, prod(1 - p)) (survivors) plus
//! Poisson(m_d), m_d = m_{d-1} (1 - p_d) + lambda_d (admitted since and still
//! there). Trained on seeded synthetic wards (see `training/bed_demand.py`).
//! Wards are read from the card, so a new version can change them.

use std::f64::consts::PI;
use std::path::Path;

use chrono::{Datelike, NaiveDate, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::bundle::ModelBundle;
use crate::error::{Error, Result};
use crate::quantile::{census_quantiles, poisson_quantiles};
use crate::runtime::{OnnxModel, RuntimeOptions};
use crate::{Forecast, ForecastMetadata, ForecastRow, Forecaster};

/// Registry and directory name of the model.
pub const MODEL_NAME: &str = "bed-demand";
/// Quantile levels.
pub const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];
/// Days of admission history the level feature uses.
pub const HISTORY_DAYS: usize = 28;
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// One ward's forecast request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WardRequest {
    /// Ward name as in the card, e.g. `medicine`.
    pub ward: String,
    /// First forecast day.
    pub origin: NaiveDate,
    /// Patients in the ward at the end of the day before `origin`.
    pub census_at_origin: u32,
    /// Admissions on each of the 28 days before `origin`, oldest first.
    pub admissions_last_28_days: Vec<u32>,
    /// Days to forecast.
    pub horizon_days: usize,
}

/// The bed-demand forecaster.
#[derive(Debug)]
pub struct BedDemand {
    model: OnnxModel,
    metadata: ForecastMetadata,
    wards: Vec<String>,
}

impl BedDemand {
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
        let names = bundle.check(MODEL_NAME, &model, 2)?;
        let mut wards: Vec<String> = Vec::new();
        for n in &names {
            if let Some(w) = n.strip_prefix("ward=").and_then(|r| r.split(';').next()) {
                if !wards.iter().any(|x| x == w) {
                    wards.push(w.to_string());
                }
            }
        }
        let bed = BedDemand {
            metadata: ForecastMetadata::new(&bundle.header, model.provider()),
            model,
            wards,
        };
        if names != bed.expected_names() {
            return Err(Error::Model {
                path: bundle.onnx_path.clone(),
                message: "feature layout differs from this code".into(),
            });
        }
        Ok(bed)
    }

    /// Wards the model knows.
    pub fn wards(&self) -> &[String] {
        &self.wards
    }

    fn n_features(&self) -> usize {
        self.wards.len() * 9 + 1
    }

    fn expected_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for w in &self.wards {
            v.extend(WEEKDAYS.iter().map(|d| format!("ward={w};weekday={d}")));
        }
        for w in &self.wards {
            v.push(format!("ward={w};sin_doy"));
            v.push(format!("ward={w};cos_doy"));
        }
        v.push("log_mean_admissions_28d".into());
        v
    }

    /// Features of each forecast day of `r`, appended to `out`.
    pub fn features(&self, r: &WardRequest, out: &mut Vec<f32>) -> Result<()> {
        let w = self
            .wards
            .iter()
            .position(|x| *x == r.ward)
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "unknown ward {:?}; known: {}",
                    r.ward,
                    self.wards.join(", ")
                ))
            })?;
        if r.admissions_last_28_days.len() != HISTORY_DAYS {
            return Err(Error::InvalidRequest(format!(
                "ward {}: {} days of admissions given, {HISTORY_DAYS} needed",
                r.ward,
                r.admissions_last_28_days.len()
            )));
        }
        let total: u64 = r
            .admissions_last_28_days
            .iter()
            .map(|&a| u64::from(a))
            .sum();
        let level = ((total as f64 + 1.0) / HISTORY_DAYS as f64).ln() as f32;
        let nw = self.wards.len();
        let f = self.n_features();
        for h in 0..r.horizon_days {
            let day = r.origin + TimeDelta::days(h as i64);
            let start = out.len();
            out.resize(start + f, 0.0);
            let row = &mut out[start..];
            row[w * 7 + day.weekday().num_days_from_monday() as usize] = 1.0;
            let a = 2.0 * PI * day.ordinal0() as f64 / 365.25;
            row[nw * 7 + 2 * w] = a.sin() as f32;
            row[nw * 7 + 2 * w + 1] = a.cos() as f32;
            row[nw * 9] = level;
        }
        Ok(())
    }
}

impl Forecaster<WardRequest> for BedDemand {
    fn metadata(&self) -> &ForecastMetadata {
        &self.metadata
    }

    /// Per day two rows: `YYYY-MM-DD/admissions` and `YYYY-MM-DD/census`.
    fn forecast_batch(&self, requests: &[WardRequest]) -> Result<Vec<Forecast>> {
        let mut buf = Vec::new();
        for r in requests {
            if r.horizon_days == 0 {
                return Err(Error::InvalidRequest(format!("ward {}: horizon 0", r.ward)));
            }
            self.features(r, &mut buf)?;
        }
        let rows: usize = requests.iter().map(|r| r.horizon_days).sum();
        let heads = self.model.run(&buf, rows)?;
        let metadata = self.metadata.for_plan(&self.model.plan(rows));
        let mut at = 0;
        let mut out = Vec::with_capacity(requests.len());
        for r in requests {
            let (mut surv, mut m) = (1.0f64, 0.0f64);
            let c0 = r.census_at_origin;
            let mut rows = Vec::with_capacity(2 * r.horizon_days);
            for h in 0..r.horizon_days {
                let (lambda, p) = (heads[2 * (at + h)] as f64, heads[2 * (at + h) + 1] as f64);
                surv *= 1.0 - p;
                m = m * (1.0 - p) + lambda;
                let day = (r.origin + TimeDelta::days(h as i64)).format("%Y-%m-%d");
                let mut qa = vec![0.0; 3];
                poisson_quantiles(lambda, &LEVELS, &mut qa);
                rows.push(ForecastRow {
                    key: format!("{day}/admissions"),
                    mean: lambda,
                    quantiles: qa,
                });
                let mut qc = vec![0.0; 3];
                census_quantiles(c0, surv, m, &LEVELS, &mut qc);
                rows.push(ForecastRow {
                    key: format!("{day}/census"),
                    mean: c0 as f64 * surv + m,
                    quantiles: qc,
                });
            }
            at += r.horizon_days;
            out.push(Forecast {
                metadata: metadata.clone(),
                levels: LEVELS.to_vec(),
                rows,
            });
        }
        Ok(out)
    }
}
