//! The Rust feature builder, ONNX Runtime and the Poisson quantiles reproduce
//! what the Python training script computed for the same hours: model 1.1.0
//! (fixture `ed_arrivals_features.json`, from `training/ed_arrivals_1_1_0.py`) and
//! the 1.0.0 layout. Model 1.2.0 (history correction) is in `ed_arrivals_history.rs`.

mod common;

use careflow_forecasters::ed_arrivals::{
    features, EdArrivals, EdArrivalsRequest, N_FEATURES, N_FEATURES_V1,
};
use careflow_forecasters::{Forecaster, Provider, RuntimeOptions};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    rows: Vec<FixtureRow>,
}

#[derive(Deserialize)]
struct FixtureRow {
    timestamp: String,
    features: Vec<f64>,
    rate: f64,
    p10: f64,
    p50: f64,
    p90: f64,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/ed_arrivals_features.json");
    serde_json::from_str(text).expect("fixture parses")
}

#[test]
fn features_match_python_training_features() {
    let fx = fixture();
    assert!(fx.rows.len() >= 10);
    let mut buf = vec![0.0f32; N_FEATURES];
    let mut holidays_seen = 0;
    let mut in_session = 0;
    for row in &fx.rows {
        assert_eq!(row.features.len(), N_FEATURES, "{}", row.timestamp);
        features(common::hour(&row.timestamp), &mut buf);
        for (i, (&got, &want)) in buf.iter().zip(&row.features).enumerate() {
            // Python builds in float64; ONNX sees float32, so compare at float32 precision.
            assert!(
                (got as f64 - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{} feature {i}: rust {got} python {want}",
                row.timestamp
            );
        }
        holidays_seen += usize::from(row.features[176..183].iter().any(|&f| f != 0.0));
        in_session += usize::from(row.features[N_FEATURES - 1] != 0.0);
        // The 1.0.0 layout is the same without the last feature.
        let mut v1 = vec![0.0f32; N_FEATURES_V1];
        features(common::hour(&row.timestamp), &mut v1);
        assert_eq!(v1[..], buf[..N_FEATURES_V1], "{}", row.timestamp);
    }
    assert!(holidays_seen >= 4, "fixture should include holiday hours");
    assert!(
        in_session >= 8 && fx.rows.len() - in_session >= 8,
        "fixture should include days in and out of the UIowa session"
    );
}

#[test]
fn forecasts_match_python_onnx_rates_and_quantiles() {
    let fx = fixture();
    let model = EdArrivals::load(
        &common::model_dir("ed-arrivals", "1.1.0"),
        &RuntimeOptions::default(),
    )
    .expect("load committed model with the project's ONNX Runtime");
    let meta = model.metadata().clone();
    assert_eq!(meta.model_name, "ed-arrivals");
    assert_eq!(meta.model_version, "1.1.0");
    assert!(!model.needs_history());
    assert_eq!(model.n_features(), N_FEATURES);
    assert_eq!(meta.execution_provider, Provider::Cpu.ort_name());
    assert_eq!(meta.model_sha256.len(), 64);

    let requests: Vec<EdArrivalsRequest> = fx
        .rows
        .iter()
        .map(|r| EdArrivalsRequest {
            origin: common::hour(&r.timestamp),
            horizon: 1,
        })
        .collect();
    let batch = model.forecast_batch(&requests).expect("batch forecast");
    assert_eq!(batch.len(), fx.rows.len());
    for (f, want) in batch.iter().zip(&fx.rows) {
        let row = &f.rows[0];
        assert_eq!(row.key, want.timestamp);
        assert!(
            (row.mean - want.rate).abs() <= 1e-5 * want.rate,
            "{}: rate {} vs {}",
            want.timestamp,
            row.mean,
            want.rate
        );
        assert_eq!(
            row.quantiles,
            vec![want.p10, want.p50, want.p90],
            "{}",
            want.timestamp
        );
        assert_eq!(f.metadata, meta);
    }

    // A 168-hour forecast equals the hour-by-hour forecasts, and batching does not change results.
    let origin = common::hour("2016-12-24T00");
    let week = model
        .forecast(&EdArrivalsRequest {
            origin,
            horizon: 168,
        })
        .expect("week");
    assert_eq!(week.rows.len(), 168);
    assert_eq!(week.levels, vec![0.1, 0.5, 0.9]);
    let singles: Vec<EdArrivalsRequest> = (0..168)
        .map(|h| EdArrivalsRequest {
            origin: origin + chrono::TimeDelta::hours(h),
            horizon: 1,
        })
        .collect();
    let hourly = model.forecast_batch(&singles).expect("hourly");
    for (a, b) in week.rows.iter().zip(hourly.iter().map(|f| &f.rows[0])) {
        assert_eq!(a, b);
        assert!(a.quantiles[0] <= a.quantiles[1] && a.quantiles[1] <= a.quantiles[2]);
    }
    // Christmas Day has its own (lower) rate than the same hour a week earlier.
    let xmas_noon = &week.rows[24 + 12];
    let week_before = model
        .forecast(&EdArrivalsRequest {
            origin: common::hour("2016-12-18T12"),
            horizon: 1,
        })
        .unwrap();
    assert_ne!(xmas_noon.mean, week_before.rows[0].mean);

    assert!(model
        .forecast(&EdArrivalsRequest { origin, horizon: 0 })
        .is_err());
}

#[test]
fn model_1_0_0_with_the_older_layout_still_serves() {
    let opts = RuntimeOptions::default();
    let v1 = EdArrivals::load(&common::committed_model_dir("ed-arrivals"), &opts).expect("1.0.0");
    assert_eq!(v1.metadata().model_version, "1.0.0");
    assert_eq!(v1.n_features(), N_FEATURES_V1);
    let latest =
        EdArrivals::load(&common::model_dir("ed-arrivals", "1.1.0"), &opts).expect("1.1.0");
    assert_eq!(latest.metadata().model_version, "1.1.0");
    // Mid-semester week and a summer week: both models give plausible, different rates.
    for origin in ["2017-04-03T00", "2017-07-10T00"] {
        let req = EdArrivalsRequest {
            origin: common::hour(origin),
            horizon: 168,
        };
        let (a, b) = (v1.forecast(&req).unwrap(), latest.forecast(&req).unwrap());
        let mean = |f: &careflow_forecasters::Forecast| {
            f.rows.iter().map(|r| r.mean).sum::<f64>() / f.rows.len() as f64
        };
        assert!((4.0..10.0).contains(&mean(&a)) && (4.0..10.0).contains(&mean(&b)));
        assert_ne!(a.rows, b.rows, "{origin}");
    }
}
