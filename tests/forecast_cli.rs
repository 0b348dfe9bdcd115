//! `careflow forecast backtest|predict|register|promote|list` end to end through the
//! binary, on files: the no-look-ahead rule, the located errors for bad input, and the
//! registry (only an admin changes it; predictions from the production model).

// The forecasters' own test helpers (benchmark-layout CSVs, committed model dirs).
#[path = "../forecasters/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;

use chrono::NaiveDate;

/// The password the users these tests provision get (`user add --password-stdin`).
const PASSWORD: &str = "forecast cli test password";

/// Runs `careflow --data-dir DATA_DIR ARGS...` with [`PASSWORD`] on its standard input
/// (read by `--password-stdin`); Ok(stdout) on success, Err(stderr) otherwise.
fn careflow(data_dir: &Path, args: &[&str]) -> Result<String, String> {
    // Every user here has PASSWORD; a command reads at most two (the acting admin's,
    // then a new user's).
    careflow_with_stdin(data_dir, args, &format!("{PASSWORD}\n{PASSWORD}\n"))
}

/// Runs `careflow --data-dir DATA_DIR ARGS...` with `input` on its standard input.
fn careflow_with_stdin(data_dir: &Path, args: &[&str], input: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_careflow"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("CAREFLOW_DATABASE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("careflow runs");
    // A command that reads no password may exit before the write: ignore a closed pipe.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes());
    let out = child.wait_with_output().expect("careflow runs");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn predict_with(
    data_dir: &Path,
    extra: &[&str],
    data: &Path,
    origin: &str,
    horizon: &str,
    out: &Path,
) -> Result<String, String> {
    let mut args = vec![
        "forecast",
        "predict",
        "--model",
        "ed-arrivals",
        "--provider",
        "cpu",
        "--threads",
        "1",
        "--data",
        data.to_str().unwrap(),
        "--origin",
        origin,
        "--horizon",
        horizon,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    careflow(data_dir, &args)?;
    Ok(std::fs::read_to_string(out).expect("prediction written"))
}

fn predict(data: &Path, origin: &str, out: &Path) -> Result<String, String> {
    let data_dir = out.parent().unwrap().join("careflow-data");
    predict_with(&data_dir, &[], data, origin, "168", out)
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
        careflow(
            &dir.path().join("careflow-data"),
            &[
                "forecast",
                "backtest",
                "--model",
                "ed-arrivals",
                "--provider",
                "cpu",
                "--data",
                data.to_str().unwrap(),
                "--start",
                "2017-03-01",
                "--horizon",
                "168",
                "--step",
                "24",
                "--out",
                out.to_str().unwrap(),
            ],
        )
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
    // 40 days: the newest model corrects by the 28 days before the origin.
    let good = common::benchmark_csv(NaiveDate::from_ymd_opt(2017, 1, 1).unwrap(), 40);
    let out = dir.path().join("out.csv");
    let err_for = |name: &str, text: &str| {
        let p = common::write(dir.path(), name, text);
        predict(&p, "2017-02-05", &out).unwrap_err()
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
    let e = predict(&good_path, "2016-12-31", &out).unwrap_err();
    assert!(e.contains("no data before"), "{e}");
    assert!(predict(&good_path, "2017-02-05T07", &out).is_ok());
}

#[test]
fn registry_commands_and_predict_from_the_production_model() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("careflow-data");
    let data = common::write(
        dir.path(),
        "d.csv",
        &common::benchmark_csv(NaiveDate::from_ymd_opt(2017, 1, 1).unwrap(), 40),
    );
    let out = dir.path().join("p.csv");
    let predict_reg = || predict_with(&data_dir, &["--registry"], &data, "2017-02-05", "24", &out);
    let e = predict_reg().unwrap_err();
    assert!(e.contains("no production model"), "{e}");

    careflow(
        &data_dir,
        &[
            "user",
            "add",
            "model.owner",
            "--role",
            "admin",
            "--password-stdin",
        ],
    )
    .unwrap();
    // Once the site has an admin, only an admin provisions users.
    let e = careflow(
        &data_dir,
        &[
            "user",
            "add",
            "beds.ben",
            "--role",
            "bed_manager",
            "--password-stdin",
        ],
    )
    .unwrap_err();
    assert!(e.contains("only an admin"), "{e}");
    careflow(
        &data_dir,
        &[
            "user",
            "add",
            "beds.ben",
            "--role",
            "bed_manager",
            "--by",
            "model.owner",
            "--password-stdin",
        ],
    )
    .unwrap();
    // The newest committed version, which `--model ed-arrivals` without a registry serves too.
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("forecasters/models");
    let latest = careflow_forecasters::bundle::latest_version_dir(&models, "ed-arrivals")
        .expect("a committed ed-arrivals model");
    let version = latest.file_name().unwrap().to_string_lossy().to_string();
    let latest = latest.to_str().unwrap();
    // A name after --by proves nothing: the admin's own password must follow it, and a
    // wrong one is refused and counted against the account.
    let e = careflow_with_stdin(
        &data_dir,
        &[
            "forecast",
            "register",
            latest,
            "--by",
            "model.owner",
            "--password-stdin",
        ],
        "not the owner's password\n",
    )
    .unwrap_err();
    assert!(e.contains("wrong user name or password"), "{e}");
    let (failed, registered): (i64, i64) =
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let url = careflow_store::Db::sqlite_url(&data_dir.join("careflow.db"));
            let db = careflow_store::Db::connect(&url).await.unwrap();
            let failed = sqlx::query_scalar(
                "SELECT failed_attempts FROM users WHERE user_name = 'model.owner'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            let registered = sqlx::query_scalar("SELECT COUNT(*) FROM model_registry")
                .fetch_one(db.pool())
                .await
                .unwrap();
            (failed, registered)
        });
    assert_eq!(
        (failed, registered),
        (1, 0),
        "one failure counted, nothing registered"
    );
    // Only an administrator registers or installs.
    let e = careflow(
        &data_dir,
        &[
            "forecast",
            "register",
            latest,
            "--by",
            "beds.ben",
            "--password-stdin",
        ],
    )
    .unwrap_err();
    assert!(e.contains("only an admin"), "{e}");
    careflow(
        &data_dir,
        &[
            "forecast",
            "register",
            latest,
            "--by",
            "model.owner",
            "--password-stdin",
        ],
    )
    .unwrap();
    let install = |by: &str, version: &str| {
        careflow(
            &data_dir,
            &[
                "forecast",
                "install",
                "ed-arrivals",
                version,
                "--by",
                by,
                "--reason",
                "registry CLI test",
                "--password-stdin",
            ],
        )
    };
    let e = install("beds.ben", &version).unwrap_err();
    assert!(e.contains("only an admin"), "{e}");
    install("model.owner", &version).unwrap();
    let listed = careflow(&data_dir, &["forecast", "list"]).unwrap();
    let entry: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(entry["status"], "production");
    assert_eq!(entry["promoted_by"], "model.owner");

    let from_registry = predict_reg().unwrap();
    let committed = predict_with(&data_dir, &[], &data, "2017-02-05", "24", &out).unwrap();
    assert_eq!(from_registry, committed);
    assert_eq!(from_registry.lines().count(), 25);
    // Once a version is in production, another reaches it only through a release.
    let older = careflow_forecasters::bundle::latest_version_dir(&models, "ed-arrivals")
        .unwrap()
        .with_file_name("1.0.0");
    careflow(
        &data_dir,
        &[
            "forecast",
            "register",
            older.to_str().unwrap(),
            "--by",
            "model.owner",
            "--password-stdin",
        ],
    )
    .unwrap();
    let e = install("model.owner", "1.0.0").unwrap_err();
    assert!(e.contains("careflow release start"), "{e}");

    // The installation is in the audit trail with who and why, and the chain verifies.
    let audit = careflow(&data_dir, &["audit", "export"]).unwrap();
    let installed = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["action"] == "model.installed")
        .expect("installation audited");
    assert_eq!(installed["actor"], "model.owner");
    assert_eq!(installed["reason"], "registry CLI test");
    careflow(&data_dir, &["audit", "verify"]).unwrap();
}
