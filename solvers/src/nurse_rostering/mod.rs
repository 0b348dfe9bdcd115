//! Nurse rostering on the hospital's data: a ward's nurses over one to four weeks, each
//! at most one shift a day, covering the nurses each shift needs.
//!
//! The model is the Curtois & Qu rostering MILP of [`crate::nrp`], not a copy: a ward is
//! stated as an NRP [`Instance`](crate::nrp::Instance) and solved by its search. The
//! ward's rules map onto the benchmark's rules:
//! - shifts a nurse may work (skills): the benchmark's per-type maximum (0 forbids);
//! - contracted hours: minimum and maximum total minutes (hard);
//! - most shifts in a row, most weekends: the benchmark's rules as they are; runs of work
//!   and of days off have no minimum length (1), so a sick call never strands a nurse
//!   in a run that became too short;
//! - rest between shifts (no early after a night...): the forbidden successions;
//! - leave (and sick days): the benchmark's days off (hard);
//! - requested days off: shift-off requests priced [`RosterWeights::day_off_request`];
//! - nurses required per shift: cover rows priced per nurse short and over.
//!
//! A re-roster (after a sick call or a surge) re-optimises only the affected days,
//! every other cell kept as the roster in force has it, warm-started from it, with each
//! changed cell priced [`RosterWeights::change`]: the change penalty is stated as
//! requests (a shift-on request for the shift in force, shift-off requests where the
//! nurse was off), so the NRP objective prices it exactly once per changed cell.
//!
//! Files: this one holds the input and plan types and [`solve`]; `model.rs` the mapping
//! to and from the NRP instance, `explain.rs` the conflicts of an impossible ward,
//! `check.rs` the independent checker [`violations`], `generate.rs` a seeded ward
//! [`generate`].

mod check;
mod explain;
mod generate;
mod model;

use serde::{Deserialize, Serialize};

pub use crate::error::{Conflict, ConflictKind, SolveError};
use crate::input::from_json;
use crate::nrp::{self, NrpError};
use crate::plan::PlanHeader;
use crate::solve::{ProgressSink, SolveOptions};
pub use check::violations;
pub use explain::{binding, why_short, ShortShift};
pub use generate::generate;

/// The model's name in plan headers.
pub const MODEL: &str = "nurse_rostering";

/// A shift type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftType {
    /// ID.
    pub id: String,
    /// Paid minutes.
    pub minutes: u32,
    /// Shifts that may not be worked the day after this one.
    #[serde(default)]
    pub not_followed_by: Vec<String>,
}

/// A nurse and their rules for the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nurse {
    /// ID (staff number).
    pub id: String,
    /// Shifts the nurse may work.
    pub shifts: Vec<String>,
    /// Fewest minutes to roster (contracted hours, leave deducted, less a tolerance).
    pub min_minutes: u32,
    /// Most minutes to roster.
    pub max_minutes: u32,
    /// Most shifts in a row.
    pub max_consecutive_shifts: u32,
    /// Most weekends worked.
    pub max_weekends: u32,
    /// Days never rostered (leave, sick).
    #[serde(default)]
    pub leave_days: Vec<u32>,
    /// Days the nurse asked to have off.
    #[serde(default)]
    pub day_off_requests: Vec<u32>,
}

/// Nurses one shift of one day needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverNeed {
    /// Day.
    pub day: u32,
    /// Shift ID.
    pub shift: String,
    /// Nurses required.
    pub nurses: u32,
}

/// Prices of the objective terms (integers: the NRP's costs are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterWeights {
    /// Per nurse short on a shift.
    pub cover_under: u32,
    /// Per nurse above a shift's requirement.
    pub cover_over: u32,
    /// Per requested day off not granted.
    pub day_off_request: u32,
    /// Per cell changed against the roster in force (a re-roster).
    pub change: u32,
}

impl Default for RosterWeights {
    fn default() -> Self {
        Self {
            cover_under: 100,
            cover_over: 5,
            day_off_request: 10,
            change: 20,
        }
    }
}

/// One rostered shift.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RosteredShift {
    /// Nurse ID.
    pub nurse: String,
    /// Day.
    pub day: u32,
    /// Shift ID.
    pub shift: String,
}

/// Everything a roster needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterInput {
    /// Days rostered; day 0 is a Monday.
    pub days: u32,
    /// Shift types.
    pub shifts: Vec<ShiftType>,
    /// Nurses.
    pub nurses: Vec<Nurse>,
    /// Nurses required per day and shift (a shift not listed needs none).
    pub cover: Vec<CoverNeed>,
    /// Prices.
    #[serde(default)]
    pub weights: RosterWeights,
    /// The roster in force (warm start and change penalty).
    #[serde(default)]
    pub previous: Vec<RosteredShift>,
    /// Days re-rostered; every other day keeps `previous`. Empty: the whole period.
    #[serde(default)]
    pub replan_days: Vec<u32>,
}

impl RosterInput {
    /// Reads an input from JSON (errors located by line, column and field path).
    pub fn from_json(text: &str) -> Result<Self, SolveError> {
        Ok(from_json(text)?)
    }

    /// Whether `day` is re-rostered (every day when no re-roster window is given).
    pub fn replans(&self, day: u32) -> bool {
        self.replan_days.is_empty() || self.replan_days.contains(&day)
    }
}

/// The objective by term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RosterCost {
    /// Nurse-shifts short of the requirement.
    pub short: u32,
    /// Nurse-shifts above it.
    pub over: u32,
    /// Requested days off not granted.
    pub unmet_requests: u32,
    /// Cells changed against the roster in force.
    pub changes: u32,
    /// Weighted total.
    pub total: f64,
}

/// A roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterPlan {
    /// Model, status, objective, bound, gap, time and solver settings.
    #[serde(flatten)]
    pub header: PlanHeader,
    /// Every rostered shift, by nurse then day.
    pub shifts: Vec<RosteredShift>,
    /// Cost by term.
    pub cost: RosterCost,
}

/// Rosters the ward (or re-rosters `replan_days`). Impossible inputs are explained.
pub fn solve(
    input: &RosterInput,
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<RosterPlan, SolveError> {
    let ix = model::Index::new(input)?;
    let conflicts = explain::contract_conflicts(&ix);
    if !conflicts.is_empty() {
        return Err(SolveError::Infeasible { conflicts });
    }
    let started = std::time::Instant::now();
    let outcome = if input.replan_days.is_empty() {
        nrp::solve(&ix.instance, opts, progress)
    } else {
        let free: Vec<bool> = (0..input.days).map(|d| input.replans(d)).collect();
        nrp::solve_days(&ix.instance, &ix.previous, &free, opts, progress)
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(NrpError::Infeasible { reason }) => {
            return Err(SolveError::Infeasible {
                conflicts: explain::explain(&ix, &reason),
            })
        }
        Err(NrpError::NoRoster { .. }) => return Err(SolveError::NoPlanInTime),
        Err(NrpError::Highs(e)) => return Err(SolveError::Highs(e)),
        Err(e) => return Err(SolveError::Invalid(e.to_string())),
    };
    let (shifts, cost) = model::decode(&ix, &outcome.roster);
    Ok(RosterPlan {
        header: PlanHeader::new(
            MODEL,
            opts,
            outcome.status,
            outcome.objective as f64,
            outcome.bound,
            outcome.mip_gap,
            started.elapsed().as_secs_f64(),
        ),
        shifts,
        cost,
    })
}
