//! bed-demand, surgery-duration and scanner-no-show: Rust features, ONNX
//! Runtime outputs and the Rust-side quantiles reproduce the training script.

mod common;

use std::path::PathBuf;

use careflow_forecasters::bed_demand::{BedDemand, WardRequest};
use careflow_forecasters::scanner_no_show::{self, Appointment, ScannerNoShow};
use careflow_forecasters::surgery_duration::{SurgeryDuration, SurgicalCase};
use careflow_forecasters::{Forecaster, RuntimeOptions};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

fn assert_features(got: &[f32], want: &Value, what: &str) {
    let want: Vec<f64> = serde_json::from_value(want.clone()).unwrap();
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
        assert!(
            close(g as f64, w, 1e-6),
            "{what} feature {i}: rust {g} python {w}"
        );
    }
}

#[test]
fn scanner_no_show_matches_training() {
    let model = ScannerNoShow::load(
        &common::committed_model_dir("scanner-no-show"),
        &RuntimeOptions::default(),
    )
    .unwrap();
    let fx = fixture("scanner_no_show.json");
    let rows = fx["rows"].as_array().unwrap();
    let appts: Vec<Appointment> = rows
        .iter()
        .map(|r| Appointment::deserialize(r).unwrap())
        .collect();
    let mut buf = vec![0.0f32; scanner_no_show::N_FEATURES];
    for (a, r) in appts.iter().zip(rows) {
        scanner_no_show::features(a, &mut buf);
        assert_features(&buf, &r["features"], "no-show");
    }
    let out = model.forecast_batch(&appts).unwrap();
    for (f, r) in out.iter().zip(rows) {
        let p = f.rows[0].mean;
        assert!(
            close(p, r["probability"].as_f64().unwrap(), 1e-5),
            "{p} vs {}",
            r["probability"]
        );
        assert!((0.0..1.0).contains(&p));
        assert_eq!(f.metadata.model_name, "scanner-no-show");
        assert_eq!(f.metadata.execution_provider, "CPUExecutionProvider");
    }
    // A patient with two earlier no-shows and a long lead time is riskier than the same patient without.
    let mut risky = appts[0].clone();
    risky.prior_no_shows = 2;
    risky.lead_time_days = 200;
    let mut safe = appts[0].clone();
    safe.prior_no_shows = 0;
    safe.lead_time_days = 2;
    let both = model.forecast_batch(&[risky, safe]).unwrap();
    assert!(both[0].rows[0].mean > both[1].rows[0].mean);
}

#[test]
fn surgery_duration_matches_training() {
    let model = SurgeryDuration::load(
        &common::committed_model_dir("surgery-duration"),
        &RuntimeOptions::default(),
    )
    .unwrap();
    let fx = fixture("surgery_duration.json");
    let rows = fx["rows"].as_array().unwrap();
    let cases: Vec<SurgicalCase> = rows
        .iter()
        .map(|r| SurgicalCase {
            procedure: r["procedure"].as_str().unwrap().into(),
            surgeon: r["surgeon"].as_str().unwrap().into(),
            asa_class: r["asa"].as_u64().unwrap() as u8,
            bmi_ge_35: r["bmi_ge_35"].as_bool().unwrap(),
            teaching_case: r["teaching_case"].as_bool().unwrap(),
        })
        .collect();
    let mut buf = vec![0.0f32; rows[0]["features"].as_array().unwrap().len()];
    for (c, r) in cases.iter().zip(rows) {
        model.features(c, &mut buf).unwrap();
        assert_features(&buf, &r["features"], &c.procedure);
    }
    let out = model.forecast_batch(&cases).unwrap();
    for (f, r) in out.iter().zip(rows) {
        let want: Vec<f64> = serde_json::from_value(r["quantiles"].clone()).unwrap();
        for (g, w) in f.rows[0].quantiles.iter().zip(&want) {
            assert!(close(*g, *w, 1e-5), "{g} vs {w}");
        }
        assert!(
            f.rows[0].quantiles[0] < f.rows[0].quantiles[1]
                && f.rows[0].quantiles[1] < f.rows[0].quantiles[2]
        );
    }
    // Unknown surgeon: allowed (average surgeon); unknown procedure and ASA 5: errors naming the value.
    let mut c = cases[0].clone();
    c.surgeon = "S99".into();
    assert!(model.forecast(&c).is_ok());
    c.procedure = "heart_transplant".into();
    assert!(model
        .forecast(&c)
        .unwrap_err()
        .to_string()
        .contains("heart_transplant"));
    let mut c = cases[0].clone();
    c.asa_class = 5;
    assert!(model
        .forecast(&c)
        .unwrap_err()
        .to_string()
        .contains("ASA class 5"));
}

#[test]
fn bed_demand_matches_training() {
    let model = BedDemand::load(
        &common::committed_model_dir("bed-demand"),
        &RuntimeOptions::default(),
    )
    .unwrap();
    assert_eq!(
        model.wards(),
        ["medicine", "surgery", "icu", "paediatrics", "maternity"]
    );
    let fx = fixture("bed_demand.json");
    for req in fx["requests"].as_array().unwrap() {
        let r = WardRequest {
            ward: req["ward"].as_str().unwrap().into(),
            origin: NaiveDate::parse_from_str(req["origin"].as_str().unwrap(), "%Y-%m-%d").unwrap(),
            census_at_origin: req["census_at_origin"].as_u64().unwrap() as u32,
            admissions_last_28_days: serde_json::from_value(req["admissions_last_28_days"].clone())
                .unwrap(),
            horizon_days: 14,
        };
        let mut buf = Vec::new();
        model.features(&r, &mut buf).unwrap();
        let want_rows = req["features"].as_array().unwrap();
        let f = buf.len() / 14;
        for (h, w) in want_rows.iter().enumerate() {
            assert_features(&buf[h * f..(h + 1) * f], w, &r.ward);
        }
        let fc = model.forecast(&r).unwrap();
        assert_eq!(fc.rows.len(), 28);
        for (h, day) in req["days"].as_array().unwrap().iter().enumerate() {
            let adm = &fc.rows[2 * h];
            let cen = &fc.rows[2 * h + 1];
            assert!(adm.key.ends_with("/admissions") && cen.key.ends_with("/census"));
            assert!(close(
                adm.mean,
                day["admission_rate"].as_f64().unwrap(),
                1e-5
            ));
            assert!(close(cen.mean, day["census_mean"].as_f64().unwrap(), 1e-5));
            let qa: Vec<f64> = serde_json::from_value(day["admissions_q"].clone()).unwrap();
            let qc: Vec<f64> = serde_json::from_value(day["census_q"].clone()).unwrap();
            assert_eq!(adm.quantiles, qa, "{} {}", r.ward, adm.key);
            assert_eq!(cen.quantiles, qc, "{} {}", r.ward, cen.key);
        }
    }
    let bad = WardRequest {
        ward: "oncology".into(),
        origin: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        census_at_origin: 10,
        admissions_last_28_days: vec![3; 28],
        horizon_days: 14,
    };
    assert!(model
        .forecast(&bad)
        .unwrap_err()
        .to_string()
        .contains("oncology"));
    let short = WardRequest {
        ward: "icu".into(),
        admissions_last_28_days: vec![3; 7],
        ..bad
    };
    assert!(model
        .forecast(&short)
        .unwrap_err()
        .to_string()
        .contains("28 needed"));
}
