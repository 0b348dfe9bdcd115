//! Reader for hourly arrival files with the columns of the shared benchmark
//! CSV (`date,hour,arrivals,...`). Every problem is reported with the file,
//! the 1-based line and the column, because these files are edited by hand.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use crate::error::{Error, Result};

/// Columns the ED forecaster needs; others (temp_f, holiday flags) may be present and are ignored.
pub const REQUIRED_COLUMNS: [&str; 3] = ["date", "hour", "arrivals"];

/// A gap-free hourly series read from a file.
#[derive(Debug, Clone)]
pub struct HourlySeries {
    /// The file it came from.
    pub path: PathBuf,
    /// Timestamp of `values[0]`.
    pub start: NaiveDateTime,
    /// One value per consecutive hour.
    pub values: Vec<f64>,
}

impl HourlySeries {
    /// Timestamp one hour after the last value.
    pub fn end(&self) -> NaiveDateTime {
        self.start + TimeDelta::hours(self.values.len() as i64)
    }

    /// The value at `ts`, if the file has it.
    pub fn get(&self, ts: NaiveDateTime) -> Option<f64> {
        let i = (ts - self.start).num_hours();
        if ts < self.start || (ts - self.start).num_minutes() % 60 != 0 {
            return None;
        }
        self.values.get(i as usize).copied()
    }

    /// The values of the hours strictly before `ts`, ending at `ts - 1 h`: the history
    /// a forecast from origin `ts` may use (empty if `ts` is at or before the first row).
    /// `None` if the file ends before `ts - 1 h` (the history does not reach the origin)
    /// or `ts` is not on an hour of the series. Rows at or after `ts` are never in it, so
    /// changing or removing them cannot change a forecast made from it.
    pub fn before(&self, ts: NaiveDateTime) -> Option<&[f64]> {
        if ts <= self.start {
            return Some(&[]);
        }
        let d = ts - self.start;
        if d.num_seconds() % 3600 != 0 || ts > self.end() {
            return None;
        }
        Some(&self.values[..d.num_hours() as usize])
    }

    /// Reads and validates `path`.
    pub fn read_csv(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        Self::parse_csv(&text, path)
    }

    /// Parses and validates the text of a CSV file; `path` names it in errors.
    pub fn parse_csv(text: &str, path: &Path) -> Result<Self> {
        let err = |row: usize, column: &str, message: String| Error::Data {
            path: path.into(),
            row,
            column: column.into(),
            message,
        };
        let mut lines = text.lines().enumerate();
        let header: Vec<&str> = match lines.next() {
            Some((_, h)) => h.split(',').map(str::trim).collect(),
            None => return Err(err(1, "header", "file is empty".into())),
        };
        let mut idx = [0usize; 3];
        for (slot, name) in idx.iter_mut().zip(REQUIRED_COLUMNS) {
            *slot = header.iter().position(|h| *h == name).ok_or_else(|| {
                err(
                    1,
                    name,
                    format!("missing column (header: {})", header.join(",")),
                )
            })?;
        }
        let [date_i, hour_i, arr_i] = idx;
        let mut start = None;
        let mut values = Vec::new();
        for (i, line) in lines {
            let row = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if cells.len() != header.len() {
                return Err(err(
                    row,
                    "*",
                    format!("{} fields, header has {}", cells.len(), header.len()),
                ));
            }
            let date = NaiveDate::parse_from_str(cells[date_i], "%Y-%m-%d").map_err(|e| {
                err(
                    row,
                    "date",
                    format!("{:?} is not YYYY-MM-DD ({e})", cells[date_i]),
                )
            })?;
            let hour: u32 = cells[hour_i]
                .parse()
                .ok()
                .filter(|h| *h < 24)
                .ok_or_else(|| {
                    err(
                        row,
                        "hour",
                        format!("{:?} is not an hour 0-23", cells[hour_i]),
                    )
                })?;
            let value: f64 = cells[arr_i]
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    err(
                        row,
                        "arrivals",
                        format!("{:?} is not a non-negative number", cells[arr_i]),
                    )
                })?;
            let ts = date.and_hms_opt(hour, 0, 0).expect("hour < 24");
            match start {
                None => start = Some(ts),
                Some(s) => {
                    let expected = s + TimeDelta::hours(values.len() as i64);
                    if ts != expected {
                        let fmt = "%Y-%m-%dT%H";
                        let message = if ts > expected {
                            format!(
                                "gap: expected {}, found {} ({} hour(s) missing)",
                                expected.format(fmt),
                                ts.format(fmt),
                                (ts - expected).num_hours()
                            )
                        } else {
                            format!(
                                "out of order or duplicate: expected {}, found {}",
                                expected.format(fmt),
                                ts.format(fmt)
                            )
                        };
                        return Err(err(row, "date/hour", message));
                    }
                }
            }
            values.push(value);
        }
        let start = start.ok_or_else(|| err(2, "*", "no data rows".into()))?;
        Ok(HourlySeries {
            path: path.into(),
            start,
            values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_in_order_with_errors_located() {
        let text = "date,hour,arrivals,temp_f\n2017-04-01,0,3,50\n2017-04-01,1,4,51\n";
        let s = HourlySeries::parse_csv(text, Path::new("a.csv")).unwrap();
        assert_eq!(s.values, vec![3.0, 4.0]);
        let gap = "date,hour,arrivals\n2017-04-01,0,3\n2017-04-01,2,4\n";
        let e = HourlySeries::parse_csv(gap, Path::new("a.csv")).unwrap_err();
        assert!(e.to_string().contains("gap"), "{e}");
    }
}
