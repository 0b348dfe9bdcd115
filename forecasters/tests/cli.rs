//! `careflow forecast backtest|predict` end to end on files, including the
//! no-look-ahead rule and the located errors for bad input.

mod common;

use std::path::Path;

use careflow_forecasters::cli::{run, ForecastCommand, ModelArgs};
use chrono::NaiveDate;

fn model_args() -> ModelArgs {
    ModelArgs {
        model: "ed-arrivals".into(),
        registry: None,
        provider: "cpu".into(),
        threads: 1,
    }
}

fn predict(data: &Path, origin: &str, out: &Path) -> anyhow::Result<String> {
    run(ForecastCommand::Predict {
        model: model_args(),
        data: data.into(),
        origin: origin.into(),
        horizon: 168,
        out: Some(out.into()),
    })?;
    Ok(std::fs::read_to_string(out)?)
}

#[test]
fn forecast_ignores_rows_at_and_after_the_origin() {
    let dir = tempfile::tempdir().unwrap();
    let text = common::benchmark_csv(NaiveDate::from_ymd_opt(2017, 2, 1).unwrap(), 70);
    let full = common::write(dir.path(), "full.csv", &text);
    let origin = "2017-03-10T00";
    let base = predict(&full, origin, &dir.path().join("a.csv")).unwrap();
    let lines: Vec<&str> = base.lines().collect();
    assert_eq!(lines[0], "origin,target,p10,p50,p90");
    assert_eq!(lines.len(), 169);
    assert!(lines[1].starts_with("2017-03-10T00,2017-03-10T00,"));
    assert!(lines[168].starts_with("2017-03-10T00,2017-03-16T23,"));

    // Change every count at/after the origin.
    let cut = text.find("2017-03-10,0,").unwrap();
    let mut changed = text[..cut].to_string();
    for line in text[cut..].lines() {
        let mut f: Vec<String> = line.split(',').map(String::from).collect();
        f[2] = (f[2].parse::<u32>().unwrap() * 3 + 1).to_string();
        changed.push_str(&f.join(","));
        changed.push('\n');
    }
    let changed = common::write(dir.path(), "changed.csv", &changed);
    assert_eq!(
        predict(&changed, origin, &dir.path().join("b.csv")).unwrap(),
        base
    );
    // Remove them.
    let removed = common::write(dir.path(), "removed.csv", &text[..cut]);
    assert_eq!(
        predict(&removed, origin, &dir.path().join("c.csv")).unwrap(),
        base
    );

    // The backtest gives the same forecast for that origin, with or without the future rows.
    let bt = |data: &Path, out: &str| {
        let out = dir.path().join(out);
        run(ForecastCommand::Backtest {
            model: model_args(),
            data: data.into(),
            start: "2017-03-01".into(),
            horizon: 168,
            step: 24,
            out: out.clone(),
        })
        .unwrap();
        std::fs::read_to_string(out).unwrap()
    };
    let bt_full = bt(&full, "bt_full.csv");
    let bt_removed = bt(&removed, "bt_removed.csv");
    let rows_for = |s: &str, o: &str| {
        s.lines()
            .filter(|l| l.starts_with(o))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows_for(&bt_full, origin),
        base.lines().skip(1).map(String::from).collect::<Vec<_>>()
    );
    // An origin whose week runs past the truncated file forecasts the same as with the full file.
    assert_eq!(rows_for(&bt_removed, "2017-03-05T00").len(), 168);
    assert_eq!(
        rows_for(&bt_removed, "2017-03-05T00"),
        rows_for(&bt_full, "2017-03-05T00")
    );
    // Origins step by 24 h from --start while the file has data: Mar 1..Apr 11 (70 days from Feb 1).
    assert_eq!(bt_full.lines().count() - 1, 42 * 168);
    assert_eq!(bt_removed.lines().count() - 1, 9 * 168);
}

#[test]
fn bad_input_is_reported_with_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = common::benchmark_csv(NaiveDate::from_ymd_opt(2017, 1, 1).unwrap(), 10);
    let out = dir.path().join("out.csv");
    let err_for = |name: &str, text: &str| {
        let p = common::write(dir.path(), name, text);
        format!("{:#}", predict(&p, "2017-01-05", &out).unwrap_err())
    };

    let missing = good.replacen("arrivals", "arrivalz", 1);
    let e = err_for("missing.csv", &missing);
    assert!(
        e.contains("missing.csv")
            && e.contains("row 1")
            && e.contains("column arrivals")
            && e.contains("missing column"),
        "{e}"
    );

    // Drop 2017-01-02 hour 5 (line 30: header + 24 + 5 + 1).
    let gap: String = good
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 29)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    let e = err_for("gap.csv", &gap);
    assert!(
        e.contains("gap.csv")
            && e.contains("row 30")
            && e.contains("date/hour")
            && e.contains("expected 2017-01-02T04"),
        "{e}"
    );

    let bad_num = good.replacen("2017-01-01,3,", "2017-01-01,3,x", 1);
    let e = err_for("nonnumeric.csv", &bad_num);
    assert!(
        e.contains("nonnumeric.csv") && e.contains("row 5") && e.contains("column arrivals"),
        "{e}"
    );

    let bad_hour = good.replacen("2017-01-01,2,", "2017-01-01,two,", 1);
    let e = err_for("hour.csv", &bad_hour);
    assert!(e.contains("row 4") && e.contains("column hour"), "{e}");

    let good_path = common::write(dir.path(), "good.csv", &good);
    let e = format!("{:#}", predict(&good_path, "2016-12-31", &out).unwrap_err());
    assert!(e.contains("no data before"), "{e}");
    assert!(predict(&good_path, "2017-01-05T07", &out).is_ok());
}

#[test]
fn registry_commands_and_predict_from_the_production_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("registry.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    // The project's migrations own the table; here the test creates it with the same DDL.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let reg = careflow_forecasters::registry::Registry::connect(&url)
                .await
                .unwrap();
            sqlx::query(careflow_forecasters::registry::DDL)
                .execute(reg.pool())
                .await
                .unwrap();
            reg.pool().close().await;
        });
    let data = common::write(
        dir.path(),
        "d.csv",
        &common::benchmark_csv(NaiveDate::from_ymd_opt(2017, 1, 1).unwrap(), 10),
    );
    let with_registry = ModelArgs {
        registry: Some(url.clone()),
        ..model_args()
    };
    let out = dir.path().join("p.csv");
    let predict_reg = || {
        run(ForecastCommand::Predict {
            model: with_registry.clone(),
            data: data.clone(),
            origin: "2017-01-05".into(),
            horizon: 24,
            out: Some(out.clone()),
        })
    };
    let e = format!("{:#}", predict_reg().unwrap_err());
    assert!(e.contains("no production model"), "{e}");

    // The newest committed version, which `--model ed-arrivals` without a registry serves too.
    let latest = common::latest_model_dir("ed-arrivals");
    let version = latest.file_name().unwrap().to_string_lossy().to_string();
    run(ForecastCommand::Register {
        dir: latest,
        registry: url.clone(),
    })
    .unwrap();
    run(ForecastCommand::Promote {
        name: "ed-arrivals".into(),
        version: version.clone(),
        status: "production".into(),
        by: "test".into(),
        reason: "registry CLI test".into(),
        registry: url.clone(),
    })
    .unwrap();
    run(ForecastCommand::List {
        name: None,
        registry: url.clone(),
    })
    .unwrap();
    predict_reg().unwrap();
    let from_registry = std::fs::read_to_string(&out).unwrap();
    run(ForecastCommand::Predict {
        model: model_args(),
        data: data.clone(),
        origin: "2017-01-05".into(),
        horizon: 24,
        out: Some(out.clone()),
    })
    .unwrap();
    assert_eq!(from_registry, std::fs::read_to_string(&out).unwrap());
    assert_eq!(from_registry.lines().count(), 25);
    let bad_status = run(ForecastCommand::Promote {
        name: "ed-arrivals".into(),
        version,
        status: "live".into(),
        by: "x".into(),
        reason: "y".into(),
        registry: url,
    });
    assert!(format!("{:#}", bad_status.unwrap_err()).contains("unknown status"));
}
