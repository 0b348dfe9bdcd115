//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

pub fn hour(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(&format!("{s}:00"), "%Y-%m-%dT%H:%M").expect("test timestamp")
}

/// `days` days of hourly rows in the benchmark CSV layout, with counts from a
/// fixed linear congruential sequence so files are reproducible.
pub fn benchmark_csv(start: NaiveDate, days: usize) -> String {
    let mut s =
        String::from("date,hour,arrivals,temp_f,xmas,xmas2,nye,nyd,thx,thx1,ind,game_day\n");
    let mut state: u64 = 12345;
    let t0 = start.and_hms_opt(0, 0, 0).expect("midnight");
    for h in 0..days * 24 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ts = t0 + TimeDelta::hours(h as i64);
        let count = 2 + (state >> 33) % 11;
        let _ = writeln!(
            s,
            "{},{},{},50.0,0,0,0,0,0,0,0,0",
            ts.format("%Y-%m-%d"),
            ts.format("%-H"),
            count
        );
    }
    s
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

pub fn committed_model_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
        .join("1.0.0")
}

/// The committed `version` of `name`.
pub fn model_dir(name: &str, version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name)
        .join(version)
}

/// The newest committed version of `name` (what `--model NAME` serves).
pub fn latest_model_dir(name: &str) -> PathBuf {
    careflow_forecasters::bundle::latest_version_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
        name,
    )
    .expect("committed model")
}
