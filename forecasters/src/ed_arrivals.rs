//! `ed-arrivals`: hourly emergency-department arrivals for the next hours
//! (168 by default) with p10/p50/p90.
//!
//! The ONNX model is a Poisson GLM: rate = exp(w . x + b), where x holds
//! calendar features of the target hour only (hour-of-week, annual Fourier
//! terms, holidays, a holiday x hour-of-day profile, a linear trend and, from
//! model 1.1.0 on, whether University of Iowa classes are in session). The
//! quantiles are Poisson quantiles of the rate. Because nothing observed at or
//! after the origin enters x, a forecast cannot leak the future. The layout
//! below must equal `features()` in `training/ed_arrivals.py`; a fixture
//! written by that script is compared in `tests/ed_arrivals.rs`. Models with
//! the 1.0.0 layout (the first [`N_FEATURES_V1`] features) still load.

use std::cell::RefCell;
use std::f64::consts::PI;
use std::path::Path;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike};

use crate::bundle::ModelBundle;
use crate::calendar::{holiday_flags, uiowa_in_session};
use crate::error::{Error, Result};
use crate::quantile::poisson_quantiles;
use crate::runtime::{OnnxModel, RuntimeOptions};
use crate::{Forecast, ForecastMetadata, ForecastRow, Forecaster};

/// Registry and directory name of the model.
pub const MODEL_NAME: &str = "ed-arrivals";
/// Quantile levels of every forecast row.
pub const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];
/// Number of features per target hour (layout of model 1.1.0 and later).
pub const N_FEATURES: usize = 209;
/// Number of features of the 1.0.0 layout: [`N_FEATURES`] without `uiowa_in_session`.
pub const N_FEATURES_V1: usize = 208;
const N_FOURIER: usize = 4;
const FOURIER_AT: usize = 168;
const HOLIDAY_AT: usize = FOURIER_AT + 2 * N_FOURIER;
const HOLIDAY_HOUR_AT: usize = HOLIDAY_AT + 7;
const TREND_AT: usize = HOLIDAY_HOUR_AT + 24;
const SESSION_AT: usize = TREND_AT + 1;
const HOURS_PER_YEAR: f64 = 24.0 * 365.25;
/// Hours are counted from here for the trend feature.
fn trend_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2013, 7, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date")
}

/// Timestamp format used in files and forecast keys: `YYYY-MM-DDTHH`.
pub const HOUR_FORMAT: &str = "%Y-%m-%dT%H";

/// One forecast: `horizon` hours starting at `origin` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdArrivalsRequest {
    /// First forecast hour; only information before it may be used.
    pub origin: NaiveDateTime,
    /// Number of hours to forecast.
    pub horizon: usize,
}

/// Feature names in model order (as in the card).
pub fn feature_names() -> Vec<String> {
    let mut v: Vec<String> = (0..168).map(|i| format!("how_{i}")).collect();
    for k in 1..=N_FOURIER {
        v.push(format!("sin{k}_doy"));
        v.push(format!("cos{k}_doy"));
    }
    v.extend(crate::calendar::HOLIDAY_NAMES.map(String::from));
    v.extend((0..24).map(|h| format!("holiday_x_hour_{h}")));
    v.push("trend_years".into());
    v.push("uiowa_in_session".into());
    v
}

/// Writes the features of target hour `ts` into `out`: length [`N_FEATURES`],
/// or [`N_FEATURES_V1`] for the 1.0.0 layout.
pub fn features(ts: NaiveDateTime, out: &mut [f32]) {
    assert!(
        out.len() == N_FEATURES || out.len() == N_FEATURES_V1,
        "feature buffer of length {}",
        out.len()
    );
    let day = ts.date();
    out.fill(0.0);
    let how = day.weekday().num_days_from_monday() as usize * 24 + ts.hour() as usize;
    out[how] = 1.0;
    day_features(day, &mut out[FOURIER_AT..HOLIDAY_HOUR_AT]);
    if out[HOLIDAY_AT..HOLIDAY_HOUR_AT].iter().any(|&f| f != 0.0) {
        out[HOLIDAY_HOUR_AT + ts.hour() as usize] = 1.0;
    }
    out[TREND_AT] = ((ts - trend_epoch()).num_hours() as f64 / HOURS_PER_YEAR) as f32;
    if out.len() > SESSION_AT {
        out[SESSION_AT] = f32::from(u8::from(uiowa_in_session(day)));
    }
}

/// Fourier and holiday features, which change once a day (computed once per day for speed).
fn day_features(day: NaiveDate, out: &mut [f32]) {
    let doy = day.ordinal0() as f64 / 365.25;
    for k in 1..=N_FOURIER {
        let a = 2.0 * PI * k as f64 * doy;
        out[2 * (k - 1)] = a.sin() as f32;
        out[2 * (k - 1) + 1] = a.cos() as f32;
    }
    for (o, f) in out[2 * N_FOURIER..].iter_mut().zip(holiday_flags(day)) {
        *o = f as u8 as f32;
    }
}

/// Features of `horizon` consecutive hours from `origin`, appended to `out`;
/// `n_features` is [`N_FEATURES`] or [`N_FEATURES_V1`].
fn request_features(req: &EdArrivalsRequest, n_features: usize, out: &mut Vec<f32>) {
    let start = out.len();
    out.resize(start + req.horizon * n_features, 0.0);
    let mut day_block = [0.0f32; 2 * N_FOURIER + 7];
    let mut session = 0.0f32;
    let mut current_day = None;
    let base_trend = (req.origin - trend_epoch()).num_hours();
    for h in 0..req.horizon {
        let ts = req.origin + TimeDelta::hours(h as i64);
        let row = &mut out[start + h * n_features..start + (h + 1) * n_features];
        let day = ts.date();
        if current_day != Some(day) {
            day_features(day, &mut day_block);
            session = f32::from(u8::from(uiowa_in_session(day)));
            current_day = Some(day);
        }
        row[day.weekday().num_days_from_monday() as usize * 24 + ts.hour() as usize] = 1.0;
        row[FOURIER_AT..HOLIDAY_HOUR_AT].copy_from_slice(&day_block);
        if day_block[2 * N_FOURIER..].iter().any(|&f| f != 0.0) {
            row[HOLIDAY_HOUR_AT + ts.hour() as usize] = 1.0;
        }
        row[TREND_AT] = ((base_trend + h as i64) as f64 / HOURS_PER_YEAR) as f32;
        if n_features > SESSION_AT {
            row[SESSION_AT] = session;
        }
    }
}

/// `YYYY-MM-DDTHH` without chrono's formatter, which dominated a 168-hour forecast.
fn hour_key(ts: NaiveDateTime) -> String {
    fn push(s: &mut String, v: u32, width: u32) {
        for p in (0..width).rev() {
            s.push(char::from(b'0' + (v / 10u32.pow(p) % 10) as u8));
        }
    }
    let mut s = String::with_capacity(13);
    push(&mut s, ts.year().clamp(0, 9999) as u32, 4);
    s.push('-');
    push(&mut s, ts.month(), 2);
    s.push('-');
    push(&mut s, ts.day(), 2);
    s.push('T');
    push(&mut s, ts.hour(), 2);
    s
}

/// The ED arrivals forecaster.
#[derive(Debug)]
pub struct EdArrivals {
    model: OnnxModel,
    metadata: ForecastMetadata,
    /// [`N_FEATURES`], or [`N_FEATURES_V1`] for a 1.0.0-layout model.
    n_features: usize,
}

/// Series per ONNX call in a batch: bounds the feature buffer (~140 kB per 168-hour series).
const BATCH_CHUNK: usize = 64;

impl EdArrivals {
    /// Loads the model in `dir` (containing `model.onnx` and `card.json`).
    pub fn load(dir: &Path, opts: &RuntimeOptions) -> Result<Self> {
        Self::from_bundle(&ModelBundle::open(dir)?, opts)
    }

    /// Loads the newest committed version from `forecasters/models/ed-arrivals`.
    pub fn load_default(opts: &RuntimeOptions) -> Result<Self> {
        let dir = crate::bundle::latest_version_dir(&crate::bundle::models_dir()?, MODEL_NAME)?;
        Self::load(&dir, opts)
    }

    /// Loads an already verified bundle.
    pub fn from_bundle(bundle: &ModelBundle, opts: &RuntimeOptions) -> Result<Self> {
        let model = OnnxModel::load(&bundle.onnx_path, opts)?;
        let names = bundle.check(MODEL_NAME, &model, 1)?;
        let ours = feature_names();
        let n_features = if names == ours {
            N_FEATURES
        } else if names == ours[..N_FEATURES_V1] {
            N_FEATURES_V1
        } else {
            return Err(Error::Model {
                path: bundle.onnx_path.clone(),
                message: format!(
                    "feature layout differs from this code's {N_FEATURES} ed-arrivals features (or the {N_FEATURES_V1} of 1.0.0)"
                ),
            });
        };
        let metadata = ForecastMetadata::new(&bundle.header, model.provider());
        Ok(EdArrivals {
            model,
            metadata,
            n_features,
        })
    }

    /// Features per hour this model takes: [`N_FEATURES`], or [`N_FEATURES_V1`] for 1.0.0.
    pub fn n_features(&self) -> usize {
        self.n_features
    }
}

impl Forecaster<EdArrivalsRequest> for EdArrivals {
    fn metadata(&self) -> &ForecastMetadata {
        &self.metadata
    }

    fn forecast_batch(&self, requests: &[EdArrivalsRequest]) -> Result<Vec<Forecast>> {
        if let Some(r) = requests.iter().find(|r| r.horizon == 0) {
            return Err(Error::InvalidRequest(format!(
                "horizon 0 at origin {}",
                r.origin.format(HOUR_FORMAT)
            )));
        }
        let mut out = Vec::with_capacity(requests.len());
        // A week of features is 140 kB, above glibc's mmap threshold: reusing the buffer
        // per thread avoids an mmap/munmap and page faults on every forecast.
        let mut buf = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        for chunk in requests.chunks(BATCH_CHUNK) {
            buf.clear();
            for r in chunk {
                request_features(r, self.n_features, &mut buf);
            }
            let rows: usize = chunk.iter().map(|r| r.horizon).sum();
            let rates = self.model.run(&buf, rows)?;
            let mut at = 0;
            for r in chunk {
                let mut rows = Vec::with_capacity(r.horizon);
                for h in 0..r.horizon {
                    let rate = rates[at + h] as f64;
                    let mut q = vec![0.0; LEVELS.len()];
                    poisson_quantiles(rate, &LEVELS, &mut q);
                    let ts = r.origin + TimeDelta::hours(h as i64);
                    rows.push(ForecastRow {
                        key: hour_key(ts),
                        mean: rate,
                        quantiles: q,
                    });
                }
                at += r.horizon;
                out.push(Forecast {
                    metadata: self.metadata.clone(),
                    levels: LEVELS.to_vec(),
                    rows,
                });
            }
        }
        SCRATCH.with(|s| *s.borrow_mut() = buf);
        Ok(out)
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_key_matches_chrono_format() {
        for s in ["2017-04-01T00", "0999-12-31T23", "2016-02-29T09"] {
            let ts = NaiveDateTime::parse_from_str(&format!("{s}:00"), "%Y-%m-%dT%H:%M").unwrap();
            assert_eq!(hour_key(ts), ts.format(HOUR_FORMAT).to_string());
            assert_eq!(hour_key(ts), s);
        }
    }
}
