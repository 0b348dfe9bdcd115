//! `--forecast-device` (and `CAREFLOW_FORECAST_DEVICE`) through the real binary on a
//! machine where CUDA cannot be used (CI's): `cuda` refuses to forecast and says why,
//! `auto` forecasts on the CPU and says why, a bad value is refused naming it, and
//! `cpu` and `auto` give the same numbers.

#[path = "../forecasters/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use chrono::NaiveDate;

fn careflow(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_careflow"));
    c.arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("CAREFLOW_DATABASE")
        .env_remove("CAREFLOW_FORECAST_DEVICE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("careflow runs")
}

fn predict_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "forecast",
        "predict",
        "--model",
        "ed-arrivals",
        "--data",
        data,
        "--origin",
        "2017-03-10T00",
        "--horizon",
        "48",
        "--out",
        out,
    ]
}

#[test]
fn cuda_is_refused_auto_falls_back_and_both_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("careflow-data");
    let text = common::benchmark_csv(NaiveDate::from_ymd_opt(2017, 2, 1).unwrap(), 70);
    let data = common::write(dir.path(), "data.csv", &text);
    let data = data.to_str().unwrap();
    let out = |name: &str| dir.path().join(name).to_str().unwrap().to_string();

    // cuda, from the flag and from the environment: exit 1, the reason, nothing written.
    let refused = out("refused.csv");
    let mut args = vec!["--forecast-device", "cuda"];
    args.extend(predict_args(data, &refused));
    for o in [
        careflow(&data_dir, &[], &args),
        careflow(
            &data_dir,
            &[("CAREFLOW_FORECAST_DEVICE", "cuda:0")],
            &predict_args(data, &refused),
        ),
    ] {
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("execution provider CUDAExecutionProvider (device cuda:0) unavailable"),
            "{err}"
        );
        if cfg!(not(feature = "cuda")) {
            assert!(err.contains("built without the `cuda` feature"), "{err}");
        }
        assert!(
            !Path::new(&refused).exists(),
            "a refused forecast writes nothing"
        );
    }

    // auto (the default): the CPU, and why.
    let auto = out("auto.csv");
    let o = careflow(&data_dir, &[], &predict_args(data, &auto));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("on CPUExecutionProvider; auto: CUDA unavailable, ran on the CPU: "),
        "{err}"
    );

    // cpu: the same numbers, no note.
    let cpu = out("cpu.csv");
    let mut args = vec!["--forecast-device", "cpu"];
    args.extend(predict_args(data, &cpu));
    let o = careflow(&data_dir, &[], &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("auto:"));
    let (a, c) = (
        std::fs::read_to_string(&auto).unwrap(),
        std::fs::read_to_string(&cpu).unwrap(),
    );
    assert_eq!(a.lines().count(), 49);
    assert_eq!(a, c);

    // A value careflow does not know: refused, naming it.
    let mut args = vec!["--forecast-device", "gpu"];
    let bad = out("bad.csv");
    args.extend(predict_args(data, &bad));
    let o = careflow(&data_dir, &[], &args);
    assert_eq!(o.status.code(), Some(64), "a usage error");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("\"gpu\"") && err.contains("auto, cpu, cuda or cuda:N"),
        "{err}"
    );
}
