//! Bed allocation over a rolling horizon.
//!
//! Sets: patients p (in a bed now or admitted during the horizon), rooms r (each in a ward
//! w, with a number of beds, equipment, a single-room flag), days d in 0..H.
//! Decision: x[p,r] = 1 when p stays in room r for the part of the stay inside the horizon
//! (a stay is not split: moving a patient mid-stay is a transfer nobody plans ahead).
//! Hard constraints:
//! - every patient gets exactly one eligible room: equipment the patient needs is in the
//!   room, the patient's age is within the ward's age range (paediatric wards), and a
//!   patient who needs isolation gets a single room;
//! - room capacity: patients present on day d in room r <= beds of r;
//! - single-sex rooms: a multi-bed room holds one sex per day (z[r,d] picks which).
//!
//! Objective (each term reported apart in [`BedCost`]):
//! - outliers: patient-days in a ward whose specialties do not include the patient's;
//! - transfers: a patient already in a bed moved from their current room;
//! - changes: a patient placed in another room than in the previous plan (re-planning);
//! - emergency reserve: beds short of the ward/day quantile of forecast emergency demand
//!   (`reserve_level`, e.g. the 0.9 quantile), priced per bed-day.
//!
//! When the hard constraints cannot all hold, an elastic copy (each group with a priced
//! slack) is solved and [`SolveError::Infeasible`] names the constraints that give way:
//! "ward W3 capacity on day 2: 14 patients need beds, 12 available".
//!
//! Files: this one holds the input and plan types and [`solve`]; `model.rs` the MILP,
//! `explain.rs` the elastic re-solve that names conflicts, `check.rs` the independent
//! checker [`violations`], `generate.rs` the demo/test generator [`generate`].

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
pub const MODEL: &str = "bed_allocation";

/// Patient sex, for single-sex rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
}

/// A ward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ward {
    /// Ward ID ("W3").
    pub id: String,
    /// Specialties the ward is for; a patient of another specialty is an outlier.
    pub specialties: Vec<String>,
    /// Youngest age admitted (e.g. 18 on adult wards).
    #[serde(default)]
    pub min_age: Option<u32>,
    /// Oldest age admitted (e.g. 17 on a paediatric ward).
    #[serde(default)]
    pub max_age: Option<u32>,
}

/// A room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Room {
    /// Room ID ("W3-R2").
    pub id: String,
    /// The ward's ID.
    pub ward: String,
    /// Beds in the room.
    pub beds: u32,
    /// Equipment available at every bed of the room ("telemetry", "oxygen").
    #[serde(default)]
    pub equipment: Vec<String>,
}

impl Room {
    /// A single room can isolate a patient.
    pub fn is_single(&self) -> bool {
        self.beds == 1
    }
}

/// A patient to place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// Patient ID.
    pub id: String,
    /// Sex.
    pub sex: Sex,
    /// Age in years.
    pub age: u32,
    /// Specialty caring for the patient.
    pub specialty: String,
    /// First day in a bed (0 for patients already in).
    pub admit_day: u32,
    /// Day of discharge (exclusive; the bed is free that day).
    pub discharge_day: u32,
    /// Needs a single room.
    #[serde(default)]
    pub isolation: bool,
    /// Equipment needed at the bed.
    #[serde(default)]
    pub equipment: Vec<String>,
    /// The room the patient is in now, if already in a bed.
    #[serde(default)]
    pub current_room: Option<String>,
}

/// Forecast emergency demand for one ward and day, as quantiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandForecast {
    /// Ward ID.
    pub ward: String,
    /// Day.
    pub day: u32,
    /// (level, beds) pairs, e.g. [(0.5, 2.0), (0.9, 4.0)].
    pub quantiles: Vec<(f64, f64)>,
}

/// Prices of the objective terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedWeights {
    /// Per outlier patient-day.
    pub outlier: f64,
    /// Per patient moved from their current room.
    pub transfer: f64,
    /// Per patient whose room differs from the previous plan.
    pub change: f64,
    /// Per bed-day short of the emergency reserve.
    pub reserve_shortfall: f64,
    /// Forecast quantile level kept free for emergencies.
    pub reserve_level: f64,
}

impl Default for BedWeights {
    fn default() -> Self {
        Self {
            outlier: 10.0,
            transfer: 50.0,
            change: 5.0,
            reserve_shortfall: 20.0,
            reserve_level: 0.9,
        }
    }
}

/// A previous plan's room for a patient (warm start and change penalty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousAssignment {
    /// Patient ID.
    pub patient: String,
    /// Room ID.
    pub room: String,
}

/// Everything a bed-allocation solve needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedInput {
    /// Days planned; day 0 is today.
    pub horizon_days: u32,
    /// Wards.
    pub wards: Vec<Ward>,
    /// Rooms.
    pub rooms: Vec<Room>,
    /// Patients.
    pub patients: Vec<Patient>,
    /// Emergency demand forecasts.
    #[serde(default)]
    pub emergency_forecast: Vec<DemandForecast>,
    /// Objective prices.
    #[serde(default)]
    pub weights: BedWeights,
    /// The plan being revised, if any.
    #[serde(default)]
    pub previous: Vec<PreviousAssignment>,
}

/// One patient's bed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedAssignment {
    /// Patient ID.
    pub patient: String,
    /// Ward ID.
    pub ward: String,
    /// Room ID.
    pub room: String,
    /// Bed label ("W3-R2/1"); beds of a room are numbered so stays never overlap.
    pub bed: String,
    /// First day in the bed (within the horizon).
    pub from_day: u32,
    /// Day the bed is freed (exclusive, capped at the horizon).
    pub to_day: u32,
    /// The ward is not for the patient's specialty.
    pub outlier: bool,
    /// The patient moves from their current room.
    pub transfer: bool,
}

/// The objective, term by term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BedCost {
    /// Outlier patient-days.
    pub outlier_days: u32,
    /// Patients moved from their current room.
    pub transfers: u32,
    /// Patients placed differently from the previous plan.
    pub changes: u32,
    /// Bed-days short of the emergency reserve.
    pub reserve_shortfall: f64,
    /// Weighted total.
    pub total: f64,
}

/// Free beds against the emergency reserve, per ward and day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WardDay {
    /// Ward ID.
    pub ward: String,
    /// Day.
    pub day: u32,
    /// Beds kept for emergencies (forecast quantile).
    pub reserve: f64,
    /// Beds free in the plan.
    pub free: u32,
}

/// A bed plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedPlan {
    /// Model, status, objective, bound, gap, time and solver settings.
    #[serde(flatten)]
    pub header: PlanHeader,
    /// One entry per patient.
    pub assignments: Vec<BedAssignment>,
    /// Cost by term.
    pub cost: BedCost,
    /// Reserve against free beds.
    pub ward_days: Vec<WardDay>,
}

impl BedInput {
    /// Reads an input from JSON (errors located by line, column and field path).
    pub fn from_json(text: &str) -> Result<Self, SolveError> {
        Ok(from_json(text)?)
    }
}

/// Solves a bed allocation. Infeasible inputs are explained (see [`SolveError::Infeasible`]).
pub fn solve(
    input: &BedInput,
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<BedPlan, SolveError> {
    let ix = model::Index::new(input)?;
    let conflicts: Vec<Conflict> = ix
        .eligible
        .iter()
        .enumerate()
        .filter(|(_, rooms)| rooms.is_empty())
        .map(|(p, _)| {
            Conflict::new(
                ConflictKind::NoEligibleRoom,
                explain::no_room_reason(input, p),
            )
        })
        .collect();
    if !conflicts.is_empty() {
        return Err(SolveError::Infeasible { conflicts });
    }
    let settings = HighsSettings::new(opts);
    let model = model::build(&ix, false);
    let hint = model.hint.clone();
    let has_hint = !input.previous.is_empty() || ix.current.iter().any(Option::is_some);
    let r = model
        .milp
        .solve(&settings, has_hint.then_some(hint.as_slice()), progress)?;
    match (&r.values, r.status) {
        (Some(values), _) => {
            let rooms: Vec<usize> = model
                .x
                .iter()
                .map(|row| {
                    row.iter()
                        .find(|(_, v)| values.is_one(*v))
                        .map_or(row[0].0, |(r, _)| *r)
                })
                .collect();
            let (assignments, cost, ward_days) = model::decode(&ix, &rooms);
            Ok(BedPlan {
                header: PlanHeader::new(
                    MODEL,
                    opts,
                    r.status,
                    cost.total,
                    r.bound,
                    r.mip_gap,
                    settings.elapsed_s(),
                ),
                assignments,
                cost,
                ward_days,
            })
        }
        (None, SolveStatus::Infeasible) => Err(SolveError::Infeasible {
            conflicts: explain::explain(&ix, &settings)?,
        }),
        (None, _) => Err(SolveError::NoPlanInTime),
    }
}
