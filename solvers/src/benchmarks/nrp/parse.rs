//! Reader for the Curtois & Qu instance text format. Every error names the file, line,
//! section and field it comes from.

use std::collections::HashMap;
use std::path::Path;

use super::{Cover, Instance, NrpError, ParseError, Request, Shift, Staff};

const SECTIONS: [&str; 7] = [
    "SECTION_HORIZON",
    "SECTION_SHIFTS",
    "SECTION_STAFF",
    "SECTION_DAYS_OFF",
    "SECTION_SHIFT_ON_REQUESTS",
    "SECTION_SHIFT_OFF_REQUESTS",
    "SECTION_COVER",
];

/// Reads an instance file.
pub fn read_instance(path: &Path) -> Result<Instance, NrpError> {
    let text = std::fs::read_to_string(path).map_err(|source| NrpError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    parse_instance(&text, &name, path).map_err(NrpError::Parse)
}

/// One data line with where it came from.
struct Line<'a> {
    no: usize,
    section: &'static str,
    fields: Vec<&'a str>,
}

struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, line: &Line, field: &str, message: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_path_buf(),
            line: line.no,
            section: line.section.to_string(),
            field: field.to_string(),
            message: message.into(),
        }
    }

    fn field<'l>(&self, line: &'l Line, i: usize, name: &str) -> Result<&'l str, ParseError> {
        line.fields
            .get(i)
            .copied()
            .ok_or_else(|| self.err(line, name, format!("missing (field {} of the line)", i + 1)))
    }

    fn num(&self, line: &Line, i: usize, name: &str) -> Result<u32, ParseError> {
        let s = self.field(line, i, name)?;
        s.parse()
            .map_err(|_| self.err(line, name, format!("`{s}` is not a non-negative integer")))
    }
}

/// Parses instance text; `file` is only used in error locations.
pub fn parse_instance(text: &str, name: &str, file: &Path) -> Result<Instance, ParseError> {
    let ctx = Ctx { file };
    let mut by_section: HashMap<&'static str, Vec<Line>> = HashMap::new();
    let mut current: Option<&'static str> = None;
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(&s) = SECTIONS.iter().find(|&&s| s == t) {
            current = Some(s);
            by_section.entry(s).or_default();
            continue;
        }
        if t.starts_with("SECTION_") {
            return Err(ParseError {
                file: file.to_path_buf(),
                line: i + 1,
                section: t.to_string(),
                field: "section".into(),
                message: "unknown section".into(),
            });
        }
        let Some(section) = current else {
            return Err(ParseError {
                file: file.to_path_buf(),
                line: i + 1,
                section: "(none)".into(),
                field: "line".into(),
                message: "data before the first SECTION_ header".into(),
            });
        };
        by_section.entry(section).or_default().push(Line {
            no: i + 1,
            section,
            fields: t.split(',').map(str::trim).collect(),
        });
    }
    let missing = |s: &str| ParseError {
        file: file.to_path_buf(),
        line: 0,
        section: s.to_string(),
        field: "section".into(),
        message: "section missing".into(),
    };
    let lines = |s: &'static str| by_section.get(s).map(|v| v.as_slice()).unwrap_or(&[]);

    let horizon_lines = by_section
        .get("SECTION_HORIZON")
        .ok_or_else(|| missing("SECTION_HORIZON"))?;
    let hl = horizon_lines
        .first()
        .ok_or_else(|| missing("SECTION_HORIZON"))?;
    let horizon = ctx.num(hl, 0, "horizon")? as usize;
    if horizon == 0 {
        return Err(ctx.err(hl, "horizon", "must be at least 1"));
    }

    // Shifts first (ids only) so successions may name shifts defined later.
    let shift_lines = by_section
        .get("SECTION_SHIFTS")
        .ok_or_else(|| missing("SECTION_SHIFTS"))?;
    let mut shift_ix: HashMap<String, usize> = HashMap::new();
    for l in shift_lines {
        let id = ctx.field(l, 0, "ShiftID")?;
        if id.is_empty() {
            return Err(ctx.err(l, "ShiftID", "empty"));
        }
        if shift_ix.insert(id.to_string(), shift_ix.len()).is_some() {
            return Err(ctx.err(l, "ShiftID", format!("shift `{id}` defined twice")));
        }
    }
    let lookup_shift = |l: &Line, field: &str, id: &str| {
        shift_ix
            .get(id)
            .copied()
            .ok_or_else(|| ctx.err(l, field, format!("unknown shift `{id}`")))
    };
    let mut shifts = Vec::new();
    for l in shift_lines {
        let minutes = ctx.num(l, 1, "Minutes")?;
        let mut forbidden_next = Vec::new();
        if let Some(list) = l.fields.get(2) {
            for id in list.split('|').map(str::trim).filter(|s| !s.is_empty()) {
                forbidden_next.push(lookup_shift(l, "cannot follow", id)?);
            }
        }
        shifts.push(Shift {
            id: l.fields[0].to_string(),
            minutes,
            forbidden_next,
        });
    }

    let mut staff = Vec::new();
    let mut staff_ix: HashMap<String, usize> = HashMap::new();
    for l in lines("SECTION_STAFF") {
        let id = ctx.field(l, 0, "ID")?;
        if staff_ix.insert(id.to_string(), staff_ix.len()).is_some() {
            return Err(ctx.err(l, "ID", format!("employee `{id}` defined twice")));
        }
        // A shift the line does not mention has no limit beyond the horizon.
        let mut max_shifts = vec![horizon as u32; shifts.len()];
        for part in ctx
            .field(l, 1, "MaxShifts")?
            .split('|')
            .filter(|s| !s.is_empty())
        {
            let (sid, n) = part
                .split_once('=')
                .ok_or_else(|| ctx.err(l, "MaxShifts", format!("`{part}` is not SHIFT=N")))?;
            let s = lookup_shift(l, "MaxShifts", sid.trim())?;
            max_shifts[s] = n.trim().parse().map_err(|_| {
                ctx.err(
                    l,
                    "MaxShifts",
                    format!("`{n}` is not a non-negative integer"),
                )
            })?;
        }
        staff.push(Staff {
            id: id.to_string(),
            max_shifts,
            max_minutes: ctx.num(l, 2, "MaxTotalMinutes")?,
            min_minutes: ctx.num(l, 3, "MinTotalMinutes")?,
            max_consecutive: ctx.num(l, 4, "MaxConsecutiveShifts")?,
            min_consecutive: ctx.num(l, 5, "MinConsecutiveShifts")?,
            min_days_off: ctx.num(l, 6, "MinConsecutiveDaysOff")?,
            max_weekends: ctx.num(l, 7, "MaxWeekends")?,
        });
    }
    if staff.is_empty() {
        return Err(missing("SECTION_STAFF"));
    }
    let lookup_staff = |l: &Line, id: &str| {
        staff_ix
            .get(id)
            .copied()
            .ok_or_else(|| ctx.err(l, "EmployeeID", format!("unknown employee `{id}`")))
    };
    let day = |l: &Line, i: usize, name: &str| -> Result<usize, ParseError> {
        let d = ctx.num(l, i, name)? as usize;
        if d >= horizon {
            return Err(ctx.err(
                l,
                name,
                format!("day {d} is outside the horizon 0..{}", horizon - 1),
            ));
        }
        Ok(d)
    };

    let mut days_off = vec![Vec::new(); staff.len()];
    for l in lines("SECTION_DAYS_OFF") {
        let e = lookup_staff(l, ctx.field(l, 0, "EmployeeID")?)?;
        for i in 1..l.fields.len() {
            if l.fields[i].is_empty() {
                continue;
            }
            days_off[e].push(day(l, i, "DayIndexes")?);
        }
    }

    let requests = |section: &'static str| -> Result<Vec<Request>, ParseError> {
        lines(section)
            .iter()
            .map(|l| {
                Ok(Request {
                    employee: lookup_staff(l, ctx.field(l, 0, "EmployeeID")?)?,
                    day: day(l, 1, "Day")?,
                    shift: lookup_shift(l, "ShiftID", ctx.field(l, 2, "ShiftID")?)?,
                    weight: ctx.num(l, 3, "Weight")?,
                })
            })
            .collect()
    };
    let on_requests = requests("SECTION_SHIFT_ON_REQUESTS")?;
    let off_requests = requests("SECTION_SHIFT_OFF_REQUESTS")?;

    let mut cover = Vec::new();
    for l in lines("SECTION_COVER") {
        cover.push(Cover {
            day: day(l, 0, "Day")?,
            shift: lookup_shift(l, "ShiftID", ctx.field(l, 1, "ShiftID")?)?,
            requirement: ctx.num(l, 2, "Requirement")?,
            under_weight: ctx.num(l, 3, "WeightUnder")?,
            over_weight: ctx.num(l, 4, "WeightOver")?,
        });
    }

    Ok(Instance {
        name: name.to_string(),
        horizon,
        shifts,
        staff,
        days_off,
        on_requests,
        off_requests,
        cover,
    })
}
