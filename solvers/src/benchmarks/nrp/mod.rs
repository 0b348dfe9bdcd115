//! Curtois & Qu nurse rostering (schedulingbenchmarks.org Instance1..24): assign each
//! employee at most one shift a day over the horizon so that nine hard rules hold
//! (successions, per-type limits, total minutes, consecutive shifts and days off with the
//! end-of-horizon exemptions, weekends, days off) and the weight of unmet shift requests
//! plus the cover penalty is least. The rules are stated in
//! `shared/benchmarks/nrp-curtois/README.md`; [`model`] states the MILP, [`check`] scores a
//! roster independently of it.

mod bound;
pub mod check;
mod construct;
pub mod generate;
mod model;
pub mod parse;
pub mod planted;
mod requests;
mod swap;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::highs::{HighsError, HighsSettings, OptionValue};
use crate::solve::{ProgressSink, SolveOptions, SolveStatus};

pub use check::{check, check_file, HardCounts, Report};
pub use parse::{parse_instance, read_instance};

/// A shift type.
#[derive(Debug, Clone, PartialEq)]
pub struct Shift {
    /// ShiftID.
    pub id: String,
    /// Length in minutes.
    pub minutes: u32,
    /// Shifts (indices) that may not be worked the day after this one.
    pub forbidden_next: Vec<usize>,
}

/// One employee's contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Staff {
    /// Employee ID.
    pub id: String,
    /// Maximum shifts of each type (by shift index); 0 forbids the type.
    pub max_shifts: Vec<u32>,
    /// MaxTotalMinutes.
    pub max_minutes: u32,
    /// MinTotalMinutes.
    pub min_minutes: u32,
    /// MaxConsecutiveShifts.
    pub max_consecutive: u32,
    /// MinConsecutiveShifts.
    pub min_consecutive: u32,
    /// MinConsecutiveDaysOff.
    pub min_days_off: u32,
    /// MaxWeekends.
    pub max_weekends: u32,
}

/// A shift-on or shift-off request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Employee index.
    pub employee: usize,
    /// Day.
    pub day: usize,
    /// Shift index.
    pub shift: usize,
    /// Penalty when not granted.
    pub weight: u32,
}

/// Cover requirement for one (day, shift).
#[derive(Debug, Clone, PartialEq)]
pub struct Cover {
    /// Day.
    pub day: usize,
    /// Shift index.
    pub shift: usize,
    /// Employees wanted.
    pub requirement: u32,
    /// Penalty per employee missing.
    pub under_weight: u32,
    /// Penalty per employee too many.
    pub over_weight: u32,
}

/// A parsed instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// File name without `.txt`.
    pub name: String,
    /// Days; day 0 is a Monday.
    pub horizon: usize,
    /// Shift types.
    pub shifts: Vec<Shift>,
    /// Employees.
    pub staff: Vec<Staff>,
    /// Days each employee must not work (by employee index).
    pub days_off: Vec<Vec<usize>>,
    /// Shift-on requests.
    pub on_requests: Vec<Request>,
    /// Shift-off requests.
    pub off_requests: Vec<Request>,
    /// Cover requirements.
    pub cover: Vec<Cover>,
}

/// A roster: `cells[employee][day]` is the shift index worked, `None` for a day off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// Shift per employee and day.
    pub cells: Vec<Vec<Option<usize>>>,
}

impl Roster {
    /// Everyone off every day.
    pub fn empty(inst: &Instance) -> Self {
        Self {
            cells: vec![vec![None; inst.horizon]; inst.staff.len()],
        }
    }

    /// The solution-file form (README "Solution file").
    pub fn to_file(&self, inst: &Instance) -> RosterFile {
        let mut assignments = Vec::new();
        for (e, row) in self.cells.iter().enumerate() {
            for (d, s) in row.iter().enumerate() {
                if let Some(s) = s {
                    assignments.push(Assignment {
                        employee: inst.staff[e].id.clone(),
                        day: d.into(),
                        shift: inst.shifts[*s].id.clone(),
                    });
                }
            }
        }
        RosterFile {
            instance: Some(inst.name.clone()),
            assignments,
        }
    }
}

/// The JSON solution file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterFile {
    /// Instance name (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Working (employee, day, shift) entries.
    pub assignments: Vec<Assignment>,
}

/// One working entry of a solution file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Employee ID.
    pub employee: String,
    /// Day; kept as raw JSON so a checker can count a non-integer day as invalid.
    pub day: serde_json::Value,
    /// ShiftID.
    pub shift: String,
}

impl RosterFile {
    /// Reads a solution file; errors give line, column and the field path.
    pub fn from_file(path: &Path) -> Result<Self, NrpError> {
        let text = std::fs::read_to_string(path).map_err(|source| NrpError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        crate::input::from_json(&text).map_err(|e| NrpError::Json {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            field: e.path,
            message: e.message,
        })
    }
}

/// Where and why an instance file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {section}, field {field}: {message}", file.display())]
pub struct ParseError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the problem is a missing section).
    pub line: usize,
    /// The section the line is in.
    pub section: String,
    /// The field of the line.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// NRP failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NrpError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The instance file is malformed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The solution JSON is malformed.
    #[error("{}:{line}:{column}: at `{field}`: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Field path inside the JSON.
        field: String,
        /// serde_json's message.
        message: String,
    },
    /// HiGHS failed.
    #[error(transparent)]
    Highs(#[from] HighsError),
    /// Proven: no roster meets the hard rules (HiGHS proves that one employee's own
    /// rules contradict each other, or the whole model infeasible). Never a time limit.
    #[error("no roster satisfies the hard rules: {reason}")]
    Infeasible {
        /// What proves it.
        reason: String,
    },
    /// No roster was found within the time limit, and none was proven impossible either.
    #[error("no roster found within the time limit: {tried}")]
    NoRoster {
        /// What was tried.
        tried: String,
    },
}

/// A solved roster.
#[derive(Debug, Clone)]
pub struct NrpOutcome {
    /// The roster.
    pub roster: Roster,
    /// Its cost (requests + cover).
    pub objective: u64,
    /// Optimal (proven) or TimeLimit.
    pub status: SolveStatus,
    /// Lower bound from the whole-instance MILP.
    pub bound: Option<f64>,
    /// (objective - bound) / objective.
    pub mip_gap: Option<f64>,
}

/// Solves an instance within `opts.time_limit`.
pub fn solve(
    inst: &Instance,
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<NrpOutcome, NrpError> {
    let settings = integer_cost_settings(opts);
    let found = model::search(inst, &settings, progress)?;
    Ok(outcome(found))
}

/// Re-rosters only the days marked in `free_days` (indexed by day; days past its end are
/// kept), every other cell kept as `start` has it and `start` the warm start: the hook
/// the hospital's nurse rostering uses after a sick call or a surge. Changes against
/// `start` are priced by whatever requests the caller put in `inst`.
pub fn solve_days(
    inst: &Instance,
    start: &Roster,
    free_days: &[bool],
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<NrpOutcome, NrpError> {
    let settings = integer_cost_settings(opts);
    let found = model::solve_days(inst, start, free_days, &settings, progress)?;
    Ok(outcome(found))
}

fn integer_cost_settings(opts: &SolveOptions) -> HighsSettings {
    let mut settings = HighsSettings::new(opts);
    if opts.mip_gap.is_none() {
        // Costs are integers: "optimal" should mean within one unit, not HiGHS's default
        // 0.01%, which on a cost of 20000 would allow 2.
        settings.mip_gap = Some(0.0);
        settings
            .extra
            .push(("mip_abs_gap".into(), OptionValue::Float(0.999)));
    }
    settings
}

fn outcome(found: model::Found) -> NrpOutcome {
    let obj = found.objective as f64;
    let mip_gap = found.bound.map(|b| {
        if obj <= 0.0 {
            0.0
        } else {
            ((obj - b) / obj).max(0.0)
        }
    });
    NrpOutcome {
        roster: found.roster,
        objective: found.objective,
        status: found.status,
        bound: found.bound,
        mip_gap,
    }
}

/// What `careflow solve nrp` prints for a solve: objective, status, bound, gap, and the
/// independent checker's report (each hard rule, each soft term, the totals), one line each.
pub fn cost_table(inst: &Instance, outcome: &NrpOutcome) -> String {
    use std::fmt::Write as _;
    let report = check(inst, &outcome.roster);
    let mut s = String::new();
    let _ = writeln!(s, "instance {}", inst.name);
    let _ = writeln!(s, "status {:?}", outcome.status);
    let _ = writeln!(s, "objective {}", outcome.objective);
    let _ = writeln!(
        s,
        "bound {}",
        outcome.bound.map_or("-".into(), |b| format!("{b:.2}"))
    );
    let _ = writeln!(
        s,
        "gap {}",
        outcome
            .mip_gap
            .map_or("-".into(), |g| format!("{:.2}%", 100.0 * g))
    );
    for (name, n) in report.hard.terms() {
        let _ = writeln!(s, "HARD {name}: {n}");
    }
    let _ = writeln!(s, "SOFT shift_on_requests: {}", report.shift_on_requests);
    let _ = writeln!(s, "SOFT shift_off_requests: {}", report.shift_off_requests);
    let _ = writeln!(s, "SOFT cover_under: {}", report.cover_under);
    let _ = writeln!(s, "SOFT cover_over: {}", report.cover_over);
    let _ = writeln!(s, "hard={} cost={}", report.hard_total(), report.cost());
    s
}

/// One benchmark row: the solve, its time and when the first roster came.
struct Row {
    outcome: NrpOutcome,
    report: Report,
    secs: f64,
    first_roster_s: Option<f64>,
}

fn run_one(inst: &Instance, opts: &SolveOptions) -> Result<Row, NrpError> {
    let started = Instant::now();
    let mut first_roster_s = None;
    let outcome = solve(inst, opts, &mut |p| {
        if first_roster_s.is_none() && p.incumbent.is_some() {
            first_roster_s = Some(started.elapsed().as_secs_f64());
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    let report = check(inst, &outcome.roster);
    if report.hard_total() > 0 {
        for (rule, n) in report.hard.terms() {
            if n > 0 {
                eprintln!("{}: HARD {rule}: {n}", inst.name);
            }
        }
    }
    Ok(Row {
        outcome,
        report,
        secs,
        first_roster_s,
    })
}

fn fmt_bound(b: Option<f64>) -> String {
    b.map_or("-".into(), |b| format!("{b:.1}"))
}

fn fmt_gap(g: Option<f64>) -> String {
    g.map_or("-".into(), |g| format!("{:.1}%", 100.0 * g))
}

/// Solves Instance1..12 of the benchmark folder (only those named in `only`, when it is
/// not empty, e.g. `["Instance8"]`) and prints a markdown table.
pub fn bench(dir: &Path, opts: &SolveOptions, only: &[String]) -> Result<(), NrpError> {
    let best_known: std::collections::HashMap<String, u64> =
        std::fs::read_to_string(dir.join("best_known.csv"))
            .map(|t| {
                t.lines()
                    .skip(1)
                    .filter_map(|l| {
                        let (n, v) = l.split_once(',')?;
                        Some((n.trim().to_string(), v.trim().parse().ok()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
    println!(
        "| instance | status | hard | cost | best known | ratio | bound | gap | first roster (s) | time (s) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for i in 1..=12 {
        let name = format!("Instance{i}");
        if !only.is_empty() && !only.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
            continue;
        }
        let path = dir.join("instances").join(format!("{name}.txt"));
        if !path.is_file() {
            continue;
        }
        let inst = read_instance(&path)?;
        let r = run_one(&inst, opts)?;
        let bk = best_known.get(&name).copied();
        println!(
            "| {name} | {:?} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            r.outcome.status,
            r.report.hard_total(),
            r.report.cost(),
            bk.map_or("-".into(), |b| b.to_string()),
            bk.map_or("-".into(), |b| format!(
                "{:.3}",
                r.report.cost() as f64 / b.max(1) as f64
            )),
            fmt_bound(r.outcome.bound),
            fmt_gap(r.outcome.mip_gap),
            r.first_roster_s.map_or("-".into(), |t| format!("{t:.2}")),
            r.secs,
        );
    }
    Ok(())
}

/// Writes a generated instance to `dir` in the benchmark's text format (so a row of a
/// bench table can be solved again from its file) and returns the row's first cells:
/// name, nurses, days, shifts.
fn write_instance(dir: &Path, inst: &Instance) -> Result<String, NrpError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NrpError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(format!("{}.txt", inst.name));
    std::fs::write(&path, generate::instance_text(inst)).map_err(io(&path))?;
    Ok(format!(
        "| {} | {} | {} | {} |",
        inst.name,
        inst.staff.len(),
        inst.horizon,
        inst.shifts.len()
    ))
}

/// Generates one instance per entry of `sizes` (`NURSESxDAYSxSHIFTS`, e.g. `50x364x10`),
/// writes it to `dir` in the benchmark's text format, solves it and prints a markdown
/// table: size, status, cost, the whole model's bound and the gap to it (no best-known
/// values exist for these), and when the first roster came. A solve that ends without a
/// roster is a row saying why.
pub fn bench_generated(
    dir: &Path,
    sizes: &[generate::GenParams],
    opts: &SolveOptions,
) -> Result<(), NrpError> {
    println!(
        "| instance | nurses | days | shifts | status | hard | cost | bound | gap | first roster (s) | time (s) |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|");
    for p in sizes {
        let inst = generate::generate(p);
        let head = write_instance(dir, &inst)?;
        match run_one(&inst, opts) {
            Ok(r) => println!(
                "{head} {:?} | {} | {} | {} | {} | {} | {:.1} |",
                r.outcome.status,
                r.report.hard_total(),
                r.report.cost(),
                fmt_bound(r.outcome.bound),
                fmt_gap(r.outcome.mip_gap),
                r.first_roster_s.map_or("-".into(), |t| format!("{t:.2}")),
                r.secs,
            ),
            Err(e @ (NrpError::Infeasible { .. } | NrpError::NoRoster { .. })) => {
                println!("{head} {e} | - | - | - | - | - | - |")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Generates one planted instance per entry of `sizes` ([`planted::generate_planted`]: a
/// known optimum), writes it to `dir`, solves it and prints a markdown table with the
/// cost against the planted optimum. Ends with the mean ratio over the rows solved.
pub fn bench_planted(
    dir: &Path,
    sizes: &[generate::GenParams],
    opts: &SolveOptions,
) -> Result<(), NrpError> {
    println!(
        "| instance | nurses | days | shifts | status | hard | cost | optimum | ratio | bound | first roster (s) | time (s) |"
    );
    println!("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for p in sizes {
        let planted = planted::generate_planted(p);
        let inst = &planted.instance;
        let head = write_instance(dir, inst)?;
        match run_one(inst, opts) {
            Ok(r) => {
                let ratio = r.report.cost() as f64 / planted.optimum.max(1) as f64;
                ratios.push(ratio);
                println!(
                    "{head} {:?} | {} | {} | {} | {:.3} | {} | {} | {:.1} |",
                    r.outcome.status,
                    r.report.hard_total(),
                    r.report.cost(),
                    planted.optimum,
                    ratio,
                    fmt_bound(r.outcome.bound),
                    r.first_roster_s.map_or("-".into(), |t| format!("{t:.2}")),
                    r.secs,
                )
            }
            Err(e @ (NrpError::Infeasible { .. } | NrpError::NoRoster { .. })) => {
                println!("{head} {e} | - | - | {} | - | - | - | - |", planted.optimum)
            }
            Err(e) => return Err(e),
        }
    }
    if !ratios.is_empty() {
        println!(
            "\nmean cost / optimum over {} rows: {:.3}",
            ratios.len(),
            ratios.iter().sum::<f64>() / ratios.len() as f64
        );
    }
    Ok(())
}
