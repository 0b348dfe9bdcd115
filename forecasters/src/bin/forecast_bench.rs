//! Latency and throughput of the forecasters on this machine, and the
//! ed-arrivals rolling-year validation (2014-15, 2015-16, 2016-17, each with the
//! 1.2.0 recipe trained only on the data before the year) rerun in Rust.
//!
//! Run with: `nice -n 10 cargo run --release -p forecasters --bin forecast-bench [-- DATA.csv]`
//! (DATA defaults to the shared UIHC benchmark file). `ED_MODEL_DIR=DIR` times
//! another ed-arrivals model directory (e.g. `models/ed-arrivals/1.0.0`) instead
//! of the newest committed one, for A/B latency runs under the same load.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use careflow_forecasters::backtest::score;
use careflow_forecasters::bed_demand::{BedDemand, WardRequest};
use careflow_forecasters::data::HourlySeries;
use careflow_forecasters::ed_arrivals::{
    self, EdArrivals, EdArrivalsHistoryRequest, EdArrivalsRequest,
};
use careflow_forecasters::scanner_no_show::{Appointment, Modality, ScannerNoShow};
use careflow_forecasters::surgery_duration::{SurgeryDuration, SurgicalCase};
use careflow_forecasters::{Forecaster, RuntimeOptions};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta, Weekday};

const DEFAULT_DATA: &str = "/work/shared/benchmarks/ed-arrivals/uihc_ed_arrivals_train.csv";

fn hour(y: i32, m: u32, d: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date")
}

/// Times `f` `n` times after a warm-up; returns (median, mean, p99) in microseconds.
fn time_it(n: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    for _ in 0..n / 10 + 10 {
        f();
    }
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = t.iter().map(|&d| us(d)).sum::<f64>() / n as f64;
    (us(t[n / 2]), mean, us(t[n * 99 / 100]))
}

fn report(what: &str, (median, mean, p99): (f64, f64, f64)) {
    println!("{what:<58} median {median:>8.1} us  mean {mean:>8.1} us  p99 {p99:>8.1} us");
}

fn main() -> anyhow::Result<()> {
    let data = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let opts = RuntimeOptions::default();
    let lib = careflow_forecasters::runtime::init()?;
    println!("ONNX Runtime: {}", lib.display());
    println!(
        "threads: intra-op {} (machine has {} cores)",
        opts.intra_threads,
        std::thread::available_parallelism()?.get()
    );

    let ed = match std::env::var_os("ED_MODEL_DIR") {
        Some(dir) => EdArrivals::load(std::path::Path::new(&dir), &opts)?,
        None => EdArrivals::load_default(&opts)?,
    };
    println!(
        "ed-arrivals model: {} ({} features)",
        ed.metadata().model_version,
        ed.n_features()
    );
    println!("provider: {}", ed.metadata().execution_provider);
    // History before the forecasts: the data file (to 2017-03-31T23), so a forecast from
    // 2017-04-01T00 reads its last 28 days. Calendar-only models ignore it.
    let series = HourlySeries::read_csv(&data)?;
    let origin = hour(2017, 4, 1);
    let history = series
        .before(origin)
        .ok_or_else(|| anyhow::anyhow!("{} does not reach {origin}", data.display()))?;
    let week = EdArrivalsRequest {
        origin,
        horizon: 168,
    };
    let mut feats = vec![0.0f32; ed.n_features()];
    report(
        "ed-arrivals features() per hour, no day cache, 168 h",
        time_it(5000, || {
            for h in 0..168 {
                ed_arrivals::features(origin + TimeDelta::hours(h), &mut feats);
            }
        }),
    );
    report(
        "ed-arrivals single forecast, 1 h (features+ONNX+quantiles)",
        time_it(20000, || {
            ed.forecast_with_history(&EdArrivalsRequest { origin, horizon: 1 }, history)
                .expect("forecast");
        }),
    );
    report(
        "ed-arrivals single forecast, 168 h (features+ONNX+quantiles)",
        time_it(5000, || {
            ed.forecast_with_history(&week, history).expect("forecast");
        }),
    );
    // Different origins each call (no cache can help): every hour of a year.
    let mut i = 0i64;
    report(
        "ed-arrivals single forecast, 168 h, a new origin each call",
        time_it(5000, || {
            i += 1;
            let o = origin - TimeDelta::hours(i % 8000);
            let h = series.before(o).expect("in the file");
            ed.forecast_with_history(
                &EdArrivalsRequest {
                    origin: o,
                    horizon: 168,
                },
                h,
            )
            .expect("forecast");
        }),
    );
    let many: Vec<EdArrivalsHistoryRequest> = (0..10_000)
        .map(|i| {
            let o = origin - TimeDelta::hours(i % 8760);
            EdArrivalsHistoryRequest {
                request: EdArrivalsRequest {
                    origin: o,
                    horizon: 168,
                },
                history: series.before(o).expect("in the file"),
            }
        })
        .collect();
    let s = Instant::now();
    let out = ed.forecast_batch(&many)?;
    let dt = s.elapsed().as_secs_f64();
    println!(
        "ed-arrivals batch: 10,000 series x 168 h in {:.3} s = {:.0} series/s, {:.2} M hourly rows/s",
        dt,
        out.len() as f64 / dt,
        out.len() as f64 * 168.0 / dt / 1e6
    );

    let nos = ScannerNoShow::load_default(&opts)?;
    let appt = Appointment {
        modality: Modality::Mri,
        lead_time_days: 21,
        age_years: 45,
        weekday: Weekday::Mon,
        median_income_usd: 60_000.0,
        commute_miles: 12.0,
        prior_no_shows: 1,
        reminder_sent: true,
    };
    report(
        "scanner-no-show single appointment",
        time_it(20000, || {
            nos.forecast(&appt).expect("forecast");
        }),
    );
    let appts = vec![appt; 10_000];
    let s = Instant::now();
    nos.forecast_batch(&appts)?;
    println!(
        "scanner-no-show batch: 10,000 appointments in {:.2} ms",
        s.elapsed().as_secs_f64() * 1e3
    );

    let sd = SurgeryDuration::load_default(&opts)?;
    let case = SurgicalCase {
        procedure: "total_knee_arthroplasty".into(),
        surgeon: "S03".into(),
        asa_class: 2,
        bmi_ge_35: false,
        teaching_case: true,
    };
    report(
        "surgery-duration single case",
        time_it(20000, || {
            sd.forecast(&case).expect("forecast");
        }),
    );
    let cases = vec![case; 10_000];
    let s = Instant::now();
    sd.forecast_batch(&cases)?;
    println!(
        "surgery-duration batch: 10,000 cases in {:.2} ms",
        s.elapsed().as_secs_f64() * 1e3
    );

    let bd = BedDemand::load_default(&opts)?;
    let ward = WardRequest {
        ward: "medicine".into(),
        origin: NaiveDate::from_ymd_opt(2026, 1, 5).expect("date"),
        census_at_origin: 150,
        admissions_last_28_days: vec![25; 28],
        horizon_days: 14,
    };
    report(
        "bed-demand single ward, 14 days (census convolution)",
        time_it(2000, || {
            bd.forecast(&ward).expect("forecast");
        }),
    );
    let wards = vec![ward; 10_000];
    let s = Instant::now();
    bd.forecast_batch(&wards)?;
    println!(
        "bed-demand batch: 10,000 ward forecasts in {:.3} s",
        s.elapsed().as_secs_f64()
    );

    // The rolling validation years in Rust: each year's model trained only on the data
    // before it, origins every midnight of the year, 168 h truncated at the year's end,
    // each forecast given the rows before its origin.
    let val_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("training/validation-models");
    let mut sums = [0.0f64; 3];
    for (year, first) in [("2014-15", 2014), ("2015-16", 2015), ("2016-17", 2016)] {
        let val = EdArrivals::load(&val_root.join(format!("ed-arrivals-1.2.0-{year}")), &opts)?;
        let (start, end) = (hour(first, 4, 1), hour(first + 1, 4, 1));
        let end_i = ((end - series.start).num_hours() as usize).min(series.values.len());
        let truth = HourlySeries {
            path: series.path.clone(),
            start: series.start,
            values: series.values[..end_i].to_vec(),
        };
        let mut reqs = Vec::new();
        let mut o = start;
        while o < truth.end() {
            let horizon = (truth.end() - o).num_hours().min(168) as usize;
            reqs.push(EdArrivalsHistoryRequest {
                request: EdArrivalsRequest { origin: o, horizon },
                history: truth.before(o).expect("in the file"),
            });
            o += TimeDelta::hours(24);
        }
        let fc = val.forecast_batch(&reqs)?;
        if let Some(s) = score(&truth, &fc) {
            println!(
                "ed-arrivals 1.2.0 recipe, rolling year {year} (trained to {}-03-31): n={} MAE={:.4} pinball={:.4} coverage_10_90={:.4}",
                first, s.n, s.mae, s.pinball, s.coverage
            );
            sums[0] += s.mae / 3.0;
            sums[1] += s.pinball / 3.0;
            sums[2] += s.coverage / 3.0;
        }
    }
    println!(
        "ed-arrivals 1.2.0 recipe, mean of the three years: MAE={:.4} pinball={:.4} coverage_10_90={:.4}",
        sums[0], sums[1], sums[2]
    );
    Ok(())
}
