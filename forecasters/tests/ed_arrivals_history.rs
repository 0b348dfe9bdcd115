//! ed-arrivals 1.2.0: the day and hour feature rows, the ONNX outputs, the recent-level
//! correction and the nearest-tail quantiles reproduce `training/ed_arrivals.py`
//! (fixture `ed_arrivals_1_2_0.json`); a forecast depends on nothing at or after its
//! origin; a model that needs history fails clearly without it; bad history is an error.

mod common;

use careflow_forecasters::data::HourlySeries;
use careflow_forecasters::ed_arrivals::{
    day_row_features, feature_names_v3, features, level_correction, EdArrivals,
    EdArrivalsHistoryRequest, EdArrivalsRequest, HISTORY_DAYS, N_FEATURES, N_FEATURES_V3,
};
use careflow_forecasters::quantile::poisson_quantiles_nearest_tail;
use careflow_forecasters::{Forecast, Forecaster, RuntimeOptions};
use chrono::{NaiveDate, TimeDelta};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct DayRows {
    days: Vec<String>,
    rows: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Case {
    origin: String,
    history: Vec<f64>,
    day_features: DayRows,
    day_expected: Vec<f64>,
    hour_features: Vec<Vec<f64>>,
    hour_features_at: Vec<i64>,
    observed: f64,
    expected: f64,
    correction: f64,
    rate: Vec<f64>,
    p10: Vec<f64>,
    p50: Vec<f64>,
    p90: Vec<f64>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/ed_arrivals_1_2_0.json")).expect("fixture parses")
}

fn model() -> EdArrivals {
    EdArrivals::load(
        &common::model_dir("ed-arrivals", "1.2.0"),
        &RuntimeOptions::default(),
    )
    .expect("load ed-arrivals 1.2.0")
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1.0)
}

fn week(origin: &str) -> EdArrivalsRequest {
    EdArrivalsRequest {
        origin: common::hour(origin),
        horizon: 168,
    }
}

#[test]
fn day_and_hour_rows_match_python() {
    let fx = fixture();
    assert_eq!(fx.version, "1.2.0");
    assert_eq!(feature_names_v3().len(), N_FEATURES_V3);
    let mut buf = vec![0.0f32; N_FEATURES_V3];
    let mut checked = 0;
    for case in &fx.cases {
        for (day, want) in case.day_features.days.iter().zip(&case.day_features.rows) {
            day_row_features(
                NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap(),
                &mut buf,
            );
            for (i, (&g, &w)) in buf.iter().zip(want).enumerate() {
                assert!(
                    close(g as f64, w, 1e-6),
                    "{day} day feature {i}: rust {g} python {w}"
                );
            }
            checked += 1;
        }
        let origin = common::hour(&case.origin);
        for (&h, want) in case.hour_features_at.iter().zip(&case.hour_features) {
            let ts = origin + TimeDelta::hours(h);
            features(ts, &mut buf);
            for (i, (&g, &w)) in buf.iter().zip(want).enumerate() {
                assert!(
                    close(g as f64, w, 1e-6),
                    "{ts} hour feature {i}: rust {g} python {w}"
                );
            }
            // The hour row is the 1.1.0 row with the day-of-week block left at 0.
            let mut v2 = vec![0.0f32; N_FEATURES];
            features(ts, &mut v2);
            assert_eq!(v2[..], buf[..N_FEATURES]);
            assert!(buf[N_FEATURES..].iter().all(|&f| f == 0.0));
            checked += 1;
        }
    }
    assert!(checked >= 40);
}

#[test]
fn forecasts_match_python_rates_correction_and_quantiles() {
    let fx = fixture();
    let m = model();
    assert_eq!(m.metadata().model_version, "1.2.0");
    assert!(m.needs_history());
    let c = m.history_correction().expect("1.2.0 corrects with history");
    let (mut corrected, mut uncorrected, mut offset_p10) = (0, 0, 0);
    for case in &fx.cases {
        let req = week(&case.origin);
        assert_eq!(
            case.history.len(),
            m.history_hours(req.origin),
            "{}",
            case.origin
        );
        assert_eq!(case.day_expected.len(), HISTORY_DAYS);
        assert!(close(
            case.day_expected.iter().sum::<f64>(),
            case.expected,
            1e-9
        ));
        assert_eq!(
            case.history[..HISTORY_DAYS * 24].iter().sum::<f64>(),
            case.observed
        );
        let mult = level_correction(case.observed, case.expected, c.dead_band, c.clamp);
        assert!(
            close(mult, case.correction, 1e-12),
            "{}: {mult} vs {}",
            case.origin,
            case.correction
        );
        if case.correction == 1.0 {
            uncorrected += 1;
        } else {
            corrected += 1;
        }
        let f = m
            .forecast_with_history(&req, &case.history)
            .expect("forecast");
        assert_eq!(f.rows.len(), 168);
        for (h, row) in f.rows.iter().enumerate() {
            assert!(
                close(row.mean, case.rate[h], 2e-6),
                "{} +{h}: rate {} vs {}",
                case.origin,
                row.mean,
                case.rate[h]
            );
            assert_eq!(
                row.quantiles,
                vec![case.p10[h], case.p50[h], case.p90[h]],
                "{} +{h}",
                case.origin
            );
            offset_p10 += usize::from(row.quantiles[0].fract() != 0.0);
        }
        // Earlier history than needed is allowed and ignored.
        let mut longer = vec![3.0; 500];
        longer.extend_from_slice(&case.history);
        assert_eq!(m.forecast_with_history(&req, &longer).unwrap(), f);
    }
    assert!(
        corrected >= 1 && uncorrected >= 1,
        "fixture should exercise the dead band both ways"
    );
    assert!(
        offset_p10 > 100,
        "the nearest-tail p10 should move some p10s"
    );
}

#[test]
fn quantiles_are_monotone() {
    let mut q = [0.0; 3];
    let mut r = 0.0;
    while r < 80.0 {
        poisson_quantiles_nearest_tail(r, &[0.1, 0.5, 0.9], 0.01, &mut q);
        assert!(q[0] <= q[1] && q[1] <= q[2], "rate {r}: {q:?}");
        r += 0.013;
    }
    let fx = fixture();
    let m = model();
    for case in &fx.cases {
        let f = m
            .forecast_with_history(&week(&case.origin), &case.history)
            .unwrap();
        for row in &f.rows {
            assert!(row.quantiles[0] <= row.quantiles[1] && row.quantiles[1] <= row.quantiles[2]);
            assert!(row.quantiles[0] >= 0.0 && row.mean > 0.0);
        }
    }
}

fn series(days: usize) -> (tempfile::TempDir, HourlySeries, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = common::benchmark_csv(NaiveDate::from_ymd_opt(2017, 1, 2).unwrap(), days);
    let p = common::write(dir.path(), "s.csv", &text);
    let s = HourlySeries::read_csv(&p).unwrap();
    (dir, s, text)
}

fn forecast_from(m: &EdArrivals, s: &HourlySeries, origin: &str) -> Forecast {
    let req = week(origin);
    m.forecast_with_history(
        &req,
        s.before(req.origin).expect("history reaches the origin"),
    )
    .unwrap()
}

#[test]
fn no_look_ahead_rows_at_or_after_the_origin_change_nothing() {
    let m = model();
    let (dir, s, text) = series(70);
    for origin in ["2017-02-20T00", "2017-02-23T17"] {
        let base = forecast_from(&m, &s, origin);
        let o = common::hour(origin);
        let cut = (o - s.start).num_hours() as usize;
        // Every count at or after the origin multiplied by 3 (plus 1).
        let mut changed = s.clone();
        changed.values[cut..]
            .iter_mut()
            .for_each(|v| *v = *v * 3.0 + 1.0);
        assert_eq!(
            forecast_from(&m, &changed, origin),
            base,
            "{origin}: changed"
        );
        // Rows at and after the origin removed (the file ends at origin - 1 h).
        let mut removed = s.clone();
        removed.values.truncate(cut);
        assert_eq!(
            forecast_from(&m, &removed, origin),
            base,
            "{origin}: removed"
        );
        // The same through files: the CSV cut at the origin.
        let lines: Vec<&str> = text.lines().collect();
        let cut_text = lines[..cut + 1].join("\n") + "\n";
        let p = common::write(dir.path(), "cut.csv", &cut_text);
        let from_file = HourlySeries::read_csv(&p).unwrap();
        assert_eq!(
            forecast_from(&m, &from_file, origin),
            base,
            "{origin}: cut file"
        );
        // Rows older than the 28-day window do not matter either ...
        let first = (o.date() - TimeDelta::days(HISTORY_DAYS as i64))
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let old = (first - s.start).num_hours() as usize;
        let mut older = s.clone();
        older.values[..old].iter_mut().for_each(|v| *v += 5.0);
        assert_eq!(
            forecast_from(&m, &older, origin),
            base,
            "{origin}: older rows"
        );
        // ... but the window does: a much busier last fortnight raises the forecast.
        let mut busier = s.clone();
        busier.values[cut - 14 * 24..cut]
            .iter_mut()
            .for_each(|v| *v *= 2.0);
        let up = forecast_from(&m, &busier, origin);
        assert!(
            up.rows[0].mean > base.rows[0].mean * 1.2,
            "{origin}: the correction reacts"
        );
    }
}

#[test]
fn a_model_that_needs_history_fails_clearly_without_it() {
    let m = model();
    let req = week("2017-03-01T00");
    let e = m.forecast(&req).unwrap_err().to_string();
    assert!(
        e.contains("1.2.0") && e.contains("28 days") && e.contains("forecast_with_history"),
        "{e}"
    );
    let e = m.forecast_batch(&[req, req]).unwrap_err().to_string();
    assert!(e.contains("28 days"), "{e}");
    // Too little history names the hours needed.
    let short = vec![5.0; 100];
    let e = m
        .forecast_with_history(&req, &short)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("needs the arrivals from 2017-02-01T00")
            && e.contains("672 hours")
            && e.contains("got 100"),
        "{e}"
    );
    // Bad counts name the hour.
    let mut bad = vec![5.0; 672];
    bad[671] = f64::NAN;
    let e = m.forecast_with_history(&req, &bad).unwrap_err().to_string();
    assert!(
        e.contains("2017-02-28T23") && e.contains("not a non-negative count"),
        "{e}"
    );
    bad[671] = -1.0;
    assert!(m.forecast_with_history(&req, &bad).is_err());
    bad[671] = 5.0;
    assert!(m.forecast_with_history(&req, &bad).is_ok());
    let zero = EdArrivalsRequest { horizon: 0, ..req };
    let e = m
        .forecast_with_history(&zero, &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("horizon 0"), "{e}");
    // A file that stops before the origin has no history for it.
    let (_dir, s, _) = series(40);
    assert!(s.before(s.end() + TimeDelta::hours(1)).is_none());
    assert_eq!(s.before(s.end()).unwrap().len(), s.values.len());
    assert!(s.before(s.start).unwrap().is_empty());
}

#[test]
fn batches_equal_singles_and_calendar_models_ignore_history() {
    let m = model();
    let (_dir, s, _) = series(60);
    let origins = [
        "2017-02-10T00",
        "2017-02-11T00",
        "2017-02-15T09",
        "2017-02-28T23",
    ];
    let reqs: Vec<EdArrivalsRequest> = origins.iter().map(|o| week(o)).collect();
    let with: Vec<EdArrivalsHistoryRequest> = reqs
        .iter()
        .map(|r| EdArrivalsHistoryRequest {
            request: *r,
            history: s.before(r.origin).unwrap(),
        })
        .collect();
    let batch = m.forecast_batch(&with).unwrap();
    for (b, r) in batch.iter().zip(&with) {
        assert_eq!(b, &m.forecast(r).unwrap());
    }
    // A 1-hour forecast is the first hour of the week's.
    let one = m
        .forecast_with_history(
            &EdArrivalsRequest {
                horizon: 1,
                ..reqs[2]
            },
            with[2].history,
        )
        .unwrap();
    assert_eq!(one.rows[0], batch[2].rows[0]);
    // 1.1.0 serves the same forecast with or without history.
    let v2 = EdArrivals::load(
        &common::model_dir("ed-arrivals", "1.1.0"),
        &RuntimeOptions::default(),
    )
    .unwrap();
    assert!(!v2.needs_history());
    assert_eq!(
        v2.forecast_batch(&with).unwrap(),
        v2.forecast_batch(&reqs).unwrap()
    );
}
