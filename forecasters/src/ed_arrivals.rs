//! `ed-arrivals`: hourly emergency-department arrivals for the next hours
//! (168 by default) with p10/p50/p90.
//!
//! The ONNX model is a Poisson GLM: rate = exp(w . x + b), where x holds
//! calendar features of the target hour only (hour-of-week, annual Fourier
//! terms, holidays, a holiday x hour-of-day profile, a linear trend and, from
//! model 1.1.0 on, whether University of Iowa classes are in session).
//!
//! Model 1.2.0 adds a second head (the expected arrivals of a whole day, over
//! day rows of the same 216-wide layout) and corrects the hourly rates with the
//! arrivals of the 28 days before the origin: l = ln(observed / expected) over
//! those days, rate x clamp(exp(sign(l) max(|l| - dead band, 0)), 0.5, 2).
//! Such a model needs that history ([`EdArrivalsHistoryRequest`],
//! [`EdArrivals::forecast_with_history`]); asked through
//! `Forecaster<EdArrivalsRequest>` (no history) it fails with an error naming
//! what to pass, rather than quietly serving its calendar part. Only values
//! before the origin are ever read, so a forecast cannot leak the future. Its
//! p10 follows the nearest-tail rule ([`poisson_quantiles_nearest_tail`]).
//!
//! Models 1.0.0 and 1.1.0 use the calendar only and Poisson quantiles; they
//! accept history requests too (and ignore the history). The layouts must equal
//! `hour_features()` / `day_features()` in `training/ed_arrivals.py` (and
//! `features()` in `training/ed_arrivals_1_1_0.py`); fixtures written by those
//! scripts are compared in `tests/ed_arrivals.rs`.

use std::f64::consts::PI;
use std::path::Path;

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Timelike};

use crate::bundle::ModelBundle;
use crate::calendar::{holiday_flags, uiowa_in_session};
use crate::error::{Error, Result};
use crate::quantile::{poisson_quantiles, poisson_quantiles_nearest_tail};
use crate::runtime::{OnnxModel, RunPlan, RuntimeOptions};
use crate::{Forecast, ForecastMetadata, ForecastRow, Forecaster};

/// Registry and directory name of the model.
pub const MODEL_NAME: &str = "ed-arrivals";
/// Quantile levels of every forecast row.
pub const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];
/// Number of features per target hour of the 1.1.0 layout.
pub const N_FEATURES: usize = 209;
/// Number of features of the 1.0.0 layout: [`N_FEATURES`] without `uiowa_in_session`.
pub const N_FEATURES_V1: usize = 208;
/// Number of features of the 1.2.0 layout: [`N_FEATURES`] plus the day-of-week one-hot
/// `dow_0..dow_6` used by day rows (zero in hour rows).
pub const N_FEATURES_V3: usize = 216;
/// Days of history before the origin's date that the 1.2.0 level correction reads.
pub const HISTORY_DAYS: usize = 28;
const N_FOURIER: usize = 4;
const FOURIER_AT: usize = 168;
const HOLIDAY_AT: usize = FOURIER_AT + 2 * N_FOURIER;
const HOLIDAY_HOUR_AT: usize = HOLIDAY_AT + 7;
const TREND_AT: usize = HOLIDAY_HOUR_AT + 24;
const SESSION_AT: usize = TREND_AT + 1;
const DOW_AT: usize = SESSION_AT + 1;
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

/// A request with the arrivals observed before its origin (needed by model 1.2.0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdArrivalsHistoryRequest<'a> {
    /// Origin and horizon.
    pub request: EdArrivalsRequest,
    /// Hourly arrivals of consecutive hours ending at the hour before the origin (the
    /// last value is `origin - 1 h`); at least [`EdArrivals::history_hours`] of them
    /// (the 28 whole days before the origin's date and the origin's day up to it).
    /// Earlier values are allowed and ignored. [`crate::data::HourlySeries::before`]
    /// gives exactly this slice from a file.
    pub history: &'a [f64],
}

/// Feature names of the 1.1.0 layout in model order (as in the card).
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

/// Feature names of the 1.2.0 layout: [`feature_names`] then `dow_0..dow_6`.
pub fn feature_names_v3() -> Vec<String> {
    let mut v = feature_names();
    v.extend((0..7).map(|d| format!("dow_{d}")));
    v
}

/// Writes the features of target hour `ts` into `out`: length [`N_FEATURES`],
/// [`N_FEATURES_V1`] for the 1.0.0 layout or [`N_FEATURES_V3`] for the 1.2.0 layout
/// (an hour row: the `dow_*` columns stay 0).
pub fn features(ts: NaiveDateTime, out: &mut [f32]) {
    assert!(
        out.len() == N_FEATURES || out.len() == N_FEATURES_V1 || out.len() == N_FEATURES_V3,
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

/// The features of day row `day` of the 1.2.0 layout (length [`N_FEATURES_V3`]), the
/// input of the daily head: `how_*` and `holiday_x_hour_*` 0; annual terms, holidays
/// and `uiowa_in_session` of the day; `trend_years` at the day's 00:00; `dow_*` one-hot.
/// Mirrors `day_features()` in `training/ed_arrivals.py`.
pub fn day_row_features(day: NaiveDate, out: &mut [f32]) {
    assert_eq!(
        out.len(),
        N_FEATURES_V3,
        "feature buffer of length {}",
        out.len()
    );
    out.fill(0.0);
    day_row(day, out);
}

/// Fills a zeroed day row.
fn day_row(day: NaiveDate, out: &mut [f32]) {
    day_features(day, &mut out[FOURIER_AT..HOLIDAY_HOUR_AT]);
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight");
    out[TREND_AT] = ((midnight - trend_epoch()).num_hours() as f64 / HOURS_PER_YEAR) as f32;
    out[SESSION_AT] = f32::from(u8::from(uiowa_in_session(day)));
    out[DOW_AT + day.weekday().num_days_from_monday() as usize] = 1.0;
}

/// sin/cos of k 2 pi doy for each day of the year (ordinal0 0..=365), computed once
/// with the same expression as before the table existed (bit-identical features).
fn fourier_table() -> &'static [[f32; 2 * N_FOURIER]] {
    static TABLE: std::sync::OnceLock<Vec<[f32; 2 * N_FOURIER]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..366u32)
            .map(|ord0| {
                let doy = ord0 as f64 / 365.25;
                let mut row = [0.0f32; 2 * N_FOURIER];
                for k in 1..=N_FOURIER {
                    let a = 2.0 * PI * k as f64 * doy;
                    row[2 * (k - 1)] = a.sin() as f32;
                    row[2 * (k - 1) + 1] = a.cos() as f32;
                }
                row
            })
            .collect()
    })
}

/// Fourier and holiday features, which change once a day (computed once per day for speed).
fn day_features(day: NaiveDate, out: &mut [f32]) {
    out[..2 * N_FOURIER].copy_from_slice(&fourier_table()[day.ordinal0() as usize]);
    for (o, f) in out[2 * N_FOURIER..].iter_mut().zip(holiday_flags(day)) {
        *o = f as u8 as f32;
    }
}

/// Features of `horizon` consecutive hours from `origin` into the zeroed `out`
/// (`horizon * n_features` values); `n_features` is [`N_FEATURES`], [`N_FEATURES_V1`]
/// or [`N_FEATURES_V3`].
fn request_features(req: &EdArrivalsRequest, n_features: usize, out: &mut [f32]) {
    let mut day_block = [0.0f32; 2 * N_FOURIER + 7];
    let mut session = 0.0f32;
    let mut current_day = None;
    let base_trend = (req.origin - trend_epoch()).num_hours();
    for (h, row) in out.chunks_exact_mut(n_features).enumerate() {
        let ts = req.origin + TimeDelta::hours(h as i64);
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

/// Day rows of the [`HISTORY_DAYS`] days before the origin's date into the zeroed `out`
/// (`HISTORY_DAYS * N_FEATURES_V3` values).
fn history_day_rows(origin: NaiveDateTime, out: &mut [f32]) {
    let first = origin.date() - TimeDelta::days(HISTORY_DAYS as i64);
    for (i, row) in out.chunks_exact_mut(N_FEATURES_V3).enumerate() {
        day_row(first + TimeDelta::days(i as i64), row);
    }
}

/// The 1.2.0 recent-level multiplier from the arrivals `observed` and the daily head's
/// `expected` arrivals over the history window: l = ln(observed / expected),
/// exp(sign(l) max(|l| - dead_band, 0)) clamped to `clamp`. Mirrors
/// `level_correction()` in `training/ed_arrivals.py`.
pub fn level_correction(observed: f64, expected: f64, dead_band: f64, clamp: (f64, f64)) -> f64 {
    let l = (observed / expected).ln();
    let c = if l.is_finite() {
        (l.signum() * (l.abs() - dead_band).max(0.0)).exp()
    } else if l < 0.0 {
        clamp.0
    } else {
        clamp.1
    };
    c.clamp(clamp.0, clamp.1)
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

/// How a 1.2.0-layout model uses the history (from its card's `serving` section).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryCorrection {
    /// Dead band of the level correction (|ln(observed/expected)| below it: no change).
    pub dead_band: f64,
    /// Bounds of the multiplier.
    pub clamp: (f64, f64),
    /// Offset of the nearest-tail p10 ([`poisson_quantiles_nearest_tail`]).
    pub p10_offset: f64,
}

/// One ONNX Runtime call of a batch: whole series and their rows in all.
type Call<'r, 'h> = (&'r [(EdArrivalsRequest, Option<&'h [f64]>)], usize);

/// The ED arrivals forecaster.
#[derive(Debug)]
pub struct EdArrivals {
    model: OnnxModel,
    metadata: ForecastMetadata,
    /// [`N_FEATURES`], [`N_FEATURES_V1`] for 1.0.0 or [`N_FEATURES_V3`] for 1.2.0.
    n_features: usize,
    /// Set for a 1.2.0-layout model: it needs the history before each origin.
    correction: Option<HistoryCorrection>,
}

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
        let names = bundle.feature_names()?;
        let v3 = names.len() == N_FEATURES_V3;
        bundle.check(MODEL_NAME, &model, if v3 { 2 } else { 1 })?;
        let ours = feature_names();
        let (n_features, correction) = if v3 && names == feature_names_v3() {
            (N_FEATURES_V3, Some(serving_rules(bundle)?))
        } else if names == ours {
            (N_FEATURES, None)
        } else if names == ours[..N_FEATURES_V1] {
            (N_FEATURES_V1, None)
        } else {
            return Err(Error::Model {
                path: bundle.onnx_path.clone(),
                message: format!(
                    "feature layout differs from this code's ed-arrivals layouts ({N_FEATURES_V3} features of 1.2.0, {N_FEATURES} of 1.1.0, {N_FEATURES_V1} of 1.0.0)"
                ),
            });
        };
        let metadata = ForecastMetadata::new(&bundle.header, model.provider());
        Ok(EdArrivals {
            model,
            metadata,
            n_features,
            correction,
        })
    }

    /// Model and provider (also through either `Forecaster` impl; this inherent method
    /// keeps `model.metadata()` unambiguous).
    pub fn metadata(&self) -> &ForecastMetadata {
        &self.metadata
    }

    /// Features per row this model takes: [`N_FEATURES_V3`] (1.2.0), [`N_FEATURES`]
    /// (1.1.0) or [`N_FEATURES_V1`] (1.0.0).
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The history correction of a 1.2.0-layout model; `None` for calendar-only models.
    pub fn history_correction(&self) -> Option<HistoryCorrection> {
        self.correction
    }

    /// Whether forecasts need the arrivals before the origin.
    pub fn needs_history(&self) -> bool {
        self.correction.is_some()
    }

    /// Hours of history a forecast from `origin` needs: the [`HISTORY_DAYS`] whole days
    /// before its date plus the hours of its day before it (0 for calendar-only models).
    pub fn history_hours(&self, origin: NaiveDateTime) -> usize {
        if self.needs_history() {
            HISTORY_DAYS * 24 + origin.hour() as usize
        } else {
            0
        }
    }

    /// Forecasts `request` from the arrivals `history` before its origin (see
    /// [`EdArrivalsHistoryRequest::history`]).
    pub fn forecast_with_history(
        &self,
        request: &EdArrivalsRequest,
        history: &[f64],
    ) -> Result<Forecast> {
        let r = EdArrivalsHistoryRequest {
            request: *request,
            history,
        };
        self.forecast(&r)
    }

    fn run_batch(&self, requests: &[(EdArrivalsRequest, Option<&[f64]>)]) -> Result<Vec<Forecast>> {
        for (r, history) in requests {
            if r.horizon == 0 {
                return Err(Error::InvalidRequest(format!(
                    "horizon 0 at origin {}",
                    r.origin.format(HOUR_FORMAT)
                )));
            }
            if self.correction.is_some() {
                self.check_history(r, *history)?;
            }
        }
        let day_rows = if self.correction.is_some() {
            HISTORY_DAYS
        } else {
            0
        };
        let rows_of = |r: &EdArrivalsRequest| r.horizon + day_rows;
        // The whole batch goes to one provider.
        let plan = self
            .model
            .plan(requests.iter().map(|(r, _)| rows_of(r)).sum());
        let metadata = self.metadata.for_plan(&plan);
        // Calls of whole series, each at most `chunk_rows` rows (a longer series is a call
        // of its own).
        let mut chunks: Vec<Call> = Vec::new();
        let mut rest = requests;
        while !rest.is_empty() {
            let (mut take, mut rows) = (0, 0);
            while take < rest.len()
                && (take == 0 || rows + rows_of(&rest[take].0) <= plan.chunk_rows)
            {
                rows += rows_of(&rest[take].0);
                take += 1;
            }
            let (chunk, tail) = rest.split_at(take);
            chunks.push((chunk, rows));
            rest = tail;
        }
        let run_chunk = |(chunk, rows): Call| self.run_call(&plan, &metadata, chunk, rows);
        let threads = self.model.batch_threads().min(chunks.len());
        if threads <= 1 {
            let mut out = Vec::with_capacity(requests.len());
            for c in chunks {
                out.extend(run_chunk(c)?);
            }
            return Ok(out);
        }
        // Workers take the next call in turn; each call's forecasts go back in its place.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let mut done: Vec<(usize, Result<Vec<Forecast>>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&c) = chunks.get(i) else { break };
                            let r = run_chunk(c);
                            let failed = r.is_err();
                            mine.push((i, r));
                            if failed {
                                // Stop handing out calls: the batch fails anyway.
                                next.store(chunks.len(), std::sync::atomic::Ordering::Relaxed);
                                break;
                            }
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("a batch worker panicked"))
                .collect()
        });
        done.sort_by_key(|(i, _)| *i);
        let mut out = Vec::with_capacity(requests.len());
        for (_, r) in done {
            out.extend(r?);
        }
        Ok(out)
    }

    /// One ONNX Runtime call for the series of `chunk` (`rows` rows in all, hour rows
    /// then day rows per series) and their forecasts.
    fn run_call(
        &self,
        plan: &RunPlan,
        metadata: &ForecastMetadata,
        chunk: &[(EdArrivalsRequest, Option<&[f64]>)],
        rows: usize,
    ) -> Result<Vec<Forecast>> {
        let day_rows = if self.correction.is_some() {
            HISTORY_DAYS
        } else {
            0
        };
        let n_out = if self.correction.is_some() { 2 } else { 1 };
        let mut out = Vec::with_capacity(chunk.len());
        let n_features = self.n_features;
        let values = self.model.run_filled(plan.provider, rows, |buf| {
            let mut at = 0;
            for (r, _) in chunk {
                let hours = r.horizon * n_features;
                request_features(r, n_features, &mut buf[at..at + hours]);
                at += hours;
                if day_rows > 0 {
                    let days = day_rows * N_FEATURES_V3;
                    history_day_rows(r.origin, &mut buf[at..at + days]);
                    at += days;
                }
            }
            Ok(())
        })?;
        let mut at = 0;
        for (r, history) in chunk {
            let mult = match (self.correction, history) {
                (Some(c), Some(h)) => {
                    let expected: f64 = (0..HISTORY_DAYS)
                        .map(|d| values[(at + r.horizon + d) * n_out + 1] as f64)
                        .sum();
                    let end = h.len() - r.origin.hour() as usize;
                    let observed: f64 = h[end - HISTORY_DAYS * 24..end].iter().sum();
                    level_correction(observed, expected, c.dead_band, c.clamp)
                }
                _ => 1.0,
            };
            let mut rows = Vec::with_capacity(r.horizon);
            for h in 0..r.horizon {
                let rate = values[(at + h) * n_out] as f64 * mult;
                let mut q = vec![0.0; LEVELS.len()];
                match self.correction {
                    Some(c) => poisson_quantiles_nearest_tail(rate, &LEVELS, c.p10_offset, &mut q),
                    None => poisson_quantiles(rate, &LEVELS, &mut q),
                }
                let ts = r.origin + TimeDelta::hours(h as i64);
                rows.push(ForecastRow {
                    key: hour_key(ts),
                    mean: rate,
                    quantiles: q,
                });
            }
            at += r.horizon + day_rows;
            out.push(Forecast {
                metadata: metadata.clone(),
                levels: LEVELS.to_vec(),
                rows,
            });
        }
        Ok(out)
    }

    fn check_history(&self, r: &EdArrivalsRequest, history: Option<&[f64]>) -> Result<()> {
        let need = self.history_hours(r.origin);
        let origin = r.origin.format(HOUR_FORMAT);
        let version = &self.metadata.model_version;
        let Some(h) = history else {
            return Err(Error::InvalidRequest(format!(
                "{MODEL_NAME} {version} corrects its rates with the arrivals of the {HISTORY_DAYS} days before the origin: \
                 forecast from {origin} with the {need} hourly counts before it \
                 (EdArrivalsHistoryRequest or EdArrivals::forecast_with_history)"
            )));
        };
        if h.len() < need {
            let from = (r.origin.date() - TimeDelta::days(HISTORY_DAYS as i64)).format("%Y-%m-%d");
            return Err(Error::InvalidRequest(format!(
                "{MODEL_NAME} {version} needs the arrivals from {from}T00 up to the origin {origin} \
                 ({need} hours), got {} hour(s) of history",
                h.len()
            )));
        }
        if let Some(i) = h[h.len() - need..]
            .iter()
            .position(|v| !v.is_finite() || *v < 0.0)
        {
            let at = r.origin - TimeDelta::hours((need - i) as i64);
            return Err(Error::InvalidRequest(format!(
                "history value {} at {} (before origin {origin}) is not a non-negative count",
                h[h.len() - need + i],
                at.format(HOUR_FORMAT)
            )));
        }
        Ok(())
    }
}

/// Reads and checks the card's `serving` section of a 1.2.0-layout model.
fn serving_rules(bundle: &ModelBundle) -> Result<HistoryCorrection> {
    let bad = |message: String| Error::Model {
        path: bundle.onnx_path.clone(),
        message,
    };
    let card: serde_json::Value =
        serde_json::from_str(&bundle.card_json).map_err(|e| bad(format!("bad card: {e}")))?;
    let num = |ptr: &str| {
        card.pointer(ptr)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| bad(format!("card has no number at {ptr}")))
    };
    let window = num("/serving/level_correction/window_days")?;
    if window != HISTORY_DAYS as f64 {
        return Err(bad(format!(
            "card's level-correction window is {window} days; this code serves {HISTORY_DAYS}"
        )));
    }
    let rule = card.pointer("/serving/p10_rule").and_then(|v| v.as_str());
    if rule != Some("nearest_tail") {
        return Err(bad(format!(
            "card's p10_rule {rule:?} is not \"nearest_tail\""
        )));
    }
    let c = HistoryCorrection {
        dead_band: num("/serving/level_correction/dead_band")?,
        clamp: (
            num("/serving/level_correction/clamp/0")?,
            num("/serving/level_correction/clamp/1")?,
        ),
        p10_offset: num("/serving/p10_offset")?,
    };
    let ok = (0.0..0.5).contains(&c.dead_band)
        && 0.0 < c.clamp.0
        && c.clamp.0 <= 1.0
        && 1.0 <= c.clamp.1
        && (0.0..1.0).contains(&c.p10_offset)
        && c.p10_offset > 0.0;
    if !ok {
        return Err(bad(format!(
            "card's serving parameters are out of range: {c:?}"
        )));
    }
    Ok(c)
}

impl Forecaster<EdArrivalsRequest> for EdArrivals {
    fn metadata(&self) -> &ForecastMetadata {
        &self.metadata
    }

    /// Calendar-only forecasts. A model that needs history (1.2.0) returns
    /// [`Error::InvalidRequest`] saying what to pass instead.
    fn forecast_batch(&self, requests: &[EdArrivalsRequest]) -> Result<Vec<Forecast>> {
        let reqs: Vec<_> = requests.iter().map(|r| (*r, None)).collect();
        self.run_batch(&reqs)
    }
}

impl<'a> Forecaster<EdArrivalsHistoryRequest<'a>> for EdArrivals {
    fn metadata(&self) -> &ForecastMetadata {
        &self.metadata
    }

    /// Forecasts from the history before each origin; calendar-only models ignore it.
    fn forecast_batch(&self, requests: &[EdArrivalsHistoryRequest<'a>]) -> Result<Vec<Forecast>> {
        let reqs: Vec<_> = requests
            .iter()
            .map(|r| (r.request, Some(r.history)))
            .collect();
        self.run_batch(&reqs)
    }
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
