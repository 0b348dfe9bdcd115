//! The forecast device as configuration, on a machine without a usable GPU (CI's):
//! `cuda` is refused with its reasons, `auto` falls back to the CPU and records why,
//! and a batch (in calls sized for the provider, through IO binding or not) gives the
//! same numbers as one call per series.

mod common;

use careflow_forecasters::ed_arrivals::{EdArrivals, EdArrivalsHistoryRequest, EdArrivalsRequest};
use careflow_forecasters::runtime::{self, OnnxModel};
use careflow_forecasters::{Device, Error, Forecaster, Provider, RuntimeOptions};
use chrono::TimeDelta;

/// Facts of this machine the reasons must name: the CPU wheel, no NVIDIA driver.
fn expected_reasons() -> Vec<&'static str> {
    let mut v = Vec::new();
    if cfg!(not(feature = "cuda")) {
        v.push("built without the `cuda` feature");
    }
    let lib = runtime::init_for(Device::Cuda { device_id: 0 }).expect("ONNX Runtime loads");
    if lib.to_string_lossy().contains("/.tools/venv/") {
        // scripts/setup's wheel: onnxruntime, the CPU build.
        v.push("is a CPU-only build (CUDAExecutionProvider is not among its providers)");
    }
    if !std::path::Path::new("/proc/driver/nvidia/version").exists() {
        v.push("no NVIDIA driver");
    }
    v
}

#[test]
fn cuda_is_refused_with_its_reasons() {
    let reasons = expected_reasons();
    assert!(
        !reasons.is_empty(),
        "this test runs where CUDA cannot be used (CI)"
    );
    for device_id in [0, 1] {
        let err = EdArrivals::load_default(&RuntimeOptions::on(Device::Cuda { device_id }))
            .expect_err("CUDA cannot be used here: the model must not load on the CPU instead");
        let Error::ProviderUnavailable { provider, message } = &err else {
            panic!("not a provider error: {err}");
        };
        assert_eq!(
            provider,
            &format!("CUDAExecutionProvider (device cuda:{device_id})")
        );
        for r in &reasons {
            assert!(message.contains(r), "{message:?} lacks {r:?}");
        }
        assert!(err
            .to_string()
            .starts_with("execution provider CUDAExecutionProvider"));
    }
    // The same reasons are available without loading a model (gpu-check prints them).
    let obstacles = runtime::cuda_obstacles(0).join("; ");
    for r in &reasons {
        assert!(obstacles.contains(r), "{obstacles:?} lacks {r:?}");
    }
}

#[test]
fn auto_falls_back_to_the_cpu_and_records_why_in_every_forecast() {
    let reasons = expected_reasons();
    let model = EdArrivals::load_default(&RuntimeOptions::on(Device::Auto))
        .expect("auto loads on the CPU when CUDA cannot be used");
    let why = model_note(&model);
    for r in &reasons {
        assert!(why.contains(r), "{why:?} lacks {r:?}");
    }
    let history = vec![9.0; 40 * 24];
    let origin = common::hour("2017-04-01T00");
    let requests: Vec<EdArrivalsHistoryRequest> = (0..3)
        .map(|i| EdArrivalsHistoryRequest {
            request: EdArrivalsRequest {
                origin: origin + TimeDelta::hours(i),
                horizon: 24,
            },
            history: &history[..history.len() - 24 + i as usize],
        })
        .collect();
    for f in model.forecast_batch(&requests).unwrap() {
        assert_eq!(f.metadata.execution_provider, Provider::Cpu.ort_name());
        let note = f.metadata.device_note.as_deref().expect("auto records why");
        assert!(
            note.starts_with("auto: CUDA unavailable, ran on the CPU: ") && note.contains(&why),
            "{note}"
        );
    }
    // The note travels with the forecast's metadata (JSON), and `cpu` records none.
    let cpu = EdArrivals::load_default(&RuntimeOptions::on(Device::Cpu)).unwrap();
    let f = cpu.forecast(&requests[0]).unwrap();
    assert_eq!(f.metadata.device_note, None);
    let json = serde_json::to_string(&f.metadata).unwrap();
    assert!(!json.contains("device_note"), "{json}");
    let auto = model.forecast(&requests[0]).unwrap();
    assert!(serde_json::to_string(&auto.metadata)
        .unwrap()
        .contains("\"device_note\":\"auto: CUDA unavailable"));
    // Same numbers whichever way the CPU was chosen.
    assert_eq!(auto.rows, f.rows);
}

fn model_note(model: &EdArrivals) -> String {
    let f = model
        .forecast_with_history(
            &EdArrivalsRequest {
                origin: common::hour("2017-04-01T00"),
                horizon: 1,
            },
            &[9.0; 29 * 24],
        )
        .unwrap();
    f.metadata.device_note.expect("auto records why")
}

/// Hourly counts from a fixed sequence, long enough for every origin below.
fn history(hours: usize) -> Vec<f64> {
    let mut state: u64 = 7;
    (0..hours)
        .map(|h| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (4 + (h % 24) / 3) as f64 + ((state >> 33) % 5) as f64
        })
        .collect()
}

#[test]
fn a_batch_gives_the_numbers_of_one_call_per_series() {
    let start = common::hour("2016-01-01T00");
    let series = history(400 * 24);
    // 1.2.0 (history and day rows) and 1.1.0 (calendar only); calls of 500 or 700 rows
    // force many calls (series longer than a call, 600 h, are calls of their own), on
    // the caller's thread and spread over 3 threads.
    for version in ["1.2.0", "1.1.0"] {
        let dir = common::model_dir("ed-arrivals", version);
        let one = EdArrivals::load(&dir, &RuntimeOptions::default()).unwrap();
        let small_calls = EdArrivals::load(
            &dir,
            &RuntimeOptions {
                max_rows_per_call: Some(500),
                ..RuntimeOptions::on(Device::Auto)
            },
        )
        .unwrap();
        let requests: Vec<EdArrivalsHistoryRequest> = (0..120)
            .map(|i| {
                let at = 40 * 24 + i * 61;
                EdArrivalsHistoryRequest {
                    request: EdArrivalsRequest {
                        origin: start + TimeDelta::hours(at as i64),
                        horizon: [1, 24, 168, 600, 37][i % 5],
                    },
                    history: &series[..at],
                }
            })
            .collect();
        let threaded = EdArrivals::load(
            &dir,
            &RuntimeOptions {
                max_rows_per_call: Some(700),
                batch_threads: 3,
                ..RuntimeOptions::default()
            },
        )
        .unwrap();
        let singles: Vec<_> = requests.iter().map(|r| one.forecast(r).unwrap()).collect();
        for model in [&one, &small_calls, &threaded] {
            let batch = model.forecast_batch(&requests).unwrap();
            assert_eq!(batch.len(), singles.len());
            for (b, s) in batch.iter().zip(&singles) {
                assert_eq!(b.rows, s.rows, "{version}");
                assert_eq!(b.levels, s.levels);
                assert_eq!(b.metadata.model_sha256, s.metadata.model_sha256);
            }
        }
        // Bad input anywhere in the batch fails it, naming the request, before any call.
        let mut bad = requests.clone();
        bad[77].request.horizon = 0;
        let e = threaded.forecast_batch(&bad).unwrap_err().to_string();
        assert!(e.contains("horizon 0 at origin"), "{e}");
    }
}

#[test]
fn io_binding_gives_the_numbers_of_a_plain_run() {
    let dir = common::model_dir("ed-arrivals", "1.2.0");
    let model = OnnxModel::load(&dir.join("model.onnx"), &RuntimeOptions::default()).unwrap();
    let (rows, f) = (777, model.n_features());
    let features: Vec<f32> = (0..rows * f)
        .map(|i| {
            if i % 7 == 0 {
                (i % 13) as f32 / 13.0
            } else {
                0.0
            }
        })
        .collect();
    let plain = model.run(&features, rows).unwrap();
    let bound = model
        .run_bound_on_cpu(rows, |buf| {
            assert!(buf.iter().all(|&v| v == 0.0), "the buffer starts zeroed");
            buf.copy_from_slice(&features);
            Ok(())
        })
        .unwrap();
    assert_eq!(plain.len(), rows * model.n_outputs());
    assert_eq!(plain, bound);
    let filled = model
        .run_filled(Provider::Cpu, rows, |buf| {
            buf.copy_from_slice(&features);
            Ok(())
        })
        .unwrap();
    assert_eq!(plain, filled);
    // The plan: the CPU in calls of the CPU chunk, no note for `cpu`.
    let plan = model.plan(rows);
    assert_eq!(plan.provider, Provider::Cpu);
    assert_eq!(plan.chunk_rows, runtime::CPU_CHUNK_ROWS);
    assert_eq!(plan.note, None);
    // A failing fill fails the call with its error.
    let e = model
        .run_filled(Provider::Cpu, 2, |_| {
            Err(Error::InvalidRequest("bad row".into()))
        })
        .unwrap_err();
    assert!(e.to_string().contains("bad row"), "{e}");
}
