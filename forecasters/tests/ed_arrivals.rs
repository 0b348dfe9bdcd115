//! The Rust feature builder, ONNX Runtime and the Poisson quantiles reproduce
//! what the Python training script computed for the same hours.

mod common;

use careflow_forecasters::ed_arrivals::{features, EdArrivals, EdArrivalsRequest, N_FEATURES};
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
    }
    assert!(holidays_seen >= 4, "fixture should include holiday hours");
}

#[test]
fn forecasts_match_python_onnx_rates_and_quantiles() {
    let fx = fixture();
    let model = EdArrivals::load(
        &common::committed_model_dir("ed-arrivals"),
        &RuntimeOptions::default(),
    )
    .expect("load committed model with the project's ONNX Runtime");
    let meta = model.metadata().clone();
    assert_eq!(meta.model_name, "ed-arrivals");
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
fn cuda_request_is_an_error_not_a_silent_cpu_fallback() {
    let opts = RuntimeOptions {
        provider: Provider::Cuda { device_id: 0 },
        ..RuntimeOptions::default()
    };
    // Without the `cuda` feature, or with the CPU-only wheel, asking for CUDA must fail loudly.
    match EdArrivals::load(&common::committed_model_dir("ed-arrivals"), &opts) {
        Err(e) => assert!(e.to_string().contains("CUDAExecutionProvider"), "{e}"),
        Ok(m) => assert_eq!(m.metadata().execution_provider, "CUDAExecutionProvider"),
    }
}
