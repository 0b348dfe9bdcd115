//! Theatre booking: elective and urgent cases to an operating theatre, a day and a place
//! in that day's list.
//!
//! Sets: cases c (surgeon, priority, release and due day, duration quantiles), theatres t
//! with a session length and an overtime limit per day, surgeons with the days they
//! operate and a daily limit, days d.
//! Decision: x[c,t,d] = 1 when c is operated in t on d; a case may stay unbooked (the
//! next plan picks it up) unless it is urgent. s[g,t,d] = 1 when surgeon g operates in
//! t on d: one theatre per surgeon and day, so a surgeon's list is never split.
//! Planned durations are the case's `robust_level` quantile (e.g. 0.8), so each list
//! carries a buffer against long operations.
//! Hard: each case at most once, urgent cases exactly once, on or after release, on
//! surgeon-available days; planned minutes <= session + overtime, overtime <= limit;
//! surgeon daily minutes <= limit.
//! Objective (terms in [`TheatreCost`]): overtime minutes, unbooked cases by priority,
//! days late past the due day by priority, changes against the previous plan.
//! Identical theatres (same sessions and limits) are interchangeable; their daily planned
//! minutes are ordered (first >= second >= ...) so HiGHS does not explore mirror images.
//! The order inside a list is decided after the MILP: by priority, then longest first.
//! Infeasible inputs are explained from an elastic copy, as in bed allocation.
//!
//! Files: this one holds the input and plan types and [`solve`]; `model.rs` the MILP,
//! `explain.rs` the conflicts of an impossible input, `check.rs` the independent checker
//! [`violations`], `generate.rs` the demo/test generator [`generate`].

mod check;
mod explain;
mod generate;
mod model;

use serde::{Deserialize, Serialize};

pub use crate::error::{Conflict, ConflictKind, SolveError};
use crate::highs::HighsSettings;
use crate::input::from_json;
use crate::plan::PlanHeader;
use crate::solve::{ProgressSink, SolveOptions, SolveStatus};
pub use check::violations;
pub use generate::generate;

/// The model's name in plan headers.
pub const MODEL: &str = "theatre_booking";

/// Clinical priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Must be booked within the horizon.
    Urgent,
    /// Should be booked soon.
    Soon,
    /// Routine.
    Routine,
}

/// An operating theatre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Theatre {
    /// ID.
    pub id: String,
    /// Session minutes per day (0: closed).
    pub session_minutes: Vec<u32>,
    /// Overtime allowed per day, minutes.
    pub max_overtime_minutes: u32,
}

/// A surgeon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Surgeon {
    /// ID.
    pub id: String,
    /// Days the surgeon operates.
    pub available_days: Vec<u32>,
    /// Operating minutes per day at most.
    pub max_minutes_per_day: u32,
}

/// A case waiting for theatre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// ID.
    pub id: String,
    /// Surgeon ID.
    pub surgeon: String,
    /// Procedure, for display.
    pub procedure: String,
    /// Priority.
    pub priority: Priority,
    /// Earliest day (pre-assessment done).
    #[serde(default)]
    pub release_day: u32,
    /// Day by which the case should be done.
    pub due_day: u32,
    /// Duration quantiles in minutes, e.g. [(0.5, 90), (0.8, 120)].
    pub duration_quantiles: Vec<(f64, f64)>,
}

/// Prices of the objective terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreWeights {
    /// Per planned overtime minute.
    pub overtime_minute: f64,
    /// Per unbooked case: soon, routine.
    pub unbooked_soon: f64,
    /// Per unbooked routine case.
    pub unbooked_routine: f64,
    /// Per day late: urgent, soon, routine.
    pub late_day: [f64; 3],
    /// Per case moved from its previous booking.
    pub change: f64,
    /// Quantile of duration planned (buffer against long operations).
    pub robust_level: f64,
}

impl Default for TheatreWeights {
    fn default() -> Self {
        Self {
            overtime_minute: 2.0,
            unbooked_soon: 400.0,
            unbooked_routine: 100.0,
            late_day: [300.0, 50.0, 10.0],
            change: 20.0,
            robust_level: 0.8,
        }
    }
}

/// A previous booking (warm start and change penalty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousBooking {
    /// Case ID.
    pub case: String,
    /// Theatre ID.
    pub theatre: String,
    /// Day.
    pub day: u32,
}

/// Everything a theatre booking needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreInput {
    /// Days planned.
    pub days: u32,
    /// Theatres.
    pub theatres: Vec<Theatre>,
    /// Surgeons.
    pub surgeons: Vec<Surgeon>,
    /// Cases.
    pub cases: Vec<Case>,
    /// Prices.
    #[serde(default)]
    pub weights: TheatreWeights,
    /// The plan being revised.
    #[serde(default)]
    pub previous: Vec<PreviousBooking>,
}

impl TheatreInput {
    /// Reads an input from JSON (errors located by line, column and field path).
    pub fn from_json(text: &str) -> Result<Self, SolveError> {
        Ok(from_json(text)?)
    }
}

/// A booked case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    /// Case ID.
    pub case: String,
    /// Theatre ID.
    pub theatre: String,
    /// Day.
    pub day: u32,
    /// Place in the day's list (0 first).
    pub order: u32,
    /// Planned start, minutes after the session opens.
    pub start_minute: u32,
    /// Planned (robust) minutes.
    pub planned_minutes: u32,
}

/// The objective by term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TheatreCost {
    /// Planned overtime minutes.
    pub overtime_minutes: f64,
    /// Unbooked cases.
    pub unbooked: u32,
    /// Days late, all cases.
    pub late_days: u32,
    /// Cases moved from the previous plan.
    pub changes: u32,
    /// Weighted total.
    pub total: f64,
}

/// A theatre plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatrePlan {
    /// Model, status, objective, bound, gap, time and solver settings.
    #[serde(flatten)]
    pub header: PlanHeader,
    /// Booked cases in theatre/day/order order.
    pub bookings: Vec<Booking>,
    /// Cases left for a later plan.
    pub unbooked: Vec<String>,
    /// Cost by term.
    pub cost: TheatreCost,
}

/// Books cases into theatres. Infeasible inputs are explained.
pub fn solve(
    input: &TheatreInput,
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<TheatrePlan, SolveError> {
    let ix = model::Index::new(input)?;
    // Urgent cases with no open list at all are named before any solve (a row with no
    // variable would not reach HiGHS).
    let stranded = explain::stranded_urgent(&ix);
    if !stranded.is_empty() {
        return Err(SolveError::Infeasible {
            conflicts: stranded,
        });
    }
    let settings = HighsSettings::new(opts);
    let built = model::build(&ix, false);
    let hint = (!input.previous.is_empty()).then(|| built.hint.clone());
    let r = built.milp.solve(&settings, hint.as_deref(), progress)?;
    let Some(values) = r.values else {
        if r.status == SolveStatus::Infeasible {
            return Err(SolveError::Infeasible {
                conflicts: explain::explain(&ix, &settings)?,
            });
        }
        return Err(SolveError::NoPlanInTime);
    };
    let (bookings, unbooked, cost) = model::decode(&ix, &built.x, &built.over, &values);
    Ok(TheatrePlan {
        header: PlanHeader::new(
            MODEL,
            opts,
            r.status,
            cost.total,
            r.bound,
            r.mip_gap,
            settings.elapsed_s(),
        ),
        bookings,
        unbooked,
        cost,
    })
}
