//! IHTC-2024: the Integrated Healthcare Timetabling Problem of the Integrated Healthcare
//! Timetabling Competition 2024.
//!
//! Sets: days `0..D` (3 shifts each), surgical patients (mandatory or optional), occupants
//! already in a room from day 0, rooms with a bed capacity, operating theatres with a daily
//! availability in minutes, surgeons with a daily surgery limit, and nurses with their
//! working shifts, skill level and maximum load per shift.
//!
//! Decisions: for each patient an admission day (or none), a room and a theatre (the surgery
//! is on the admission day); for each nurse and working shift the rooms it covers.
//!
//! Hard constraints: no gender mix in a room-day, no incompatible room, surgeon and theatre
//! time limits, every mandatory patient admitted inside its release..due window, room
//! capacity, and every occupied room covered by a working nurse in each shift.
//!
//! Objective: a weighted sum of age mix in rooms, missing nurse skill, continuity of care
//! (distinct nurses per patient), nurse overload, open theatres, surgeon theatre transfers,
//! admission delay and unscheduled optional patients. The exact counting rules are those of
//! `shared/benchmarks/ihtc2024/README.md`; [`evaluate`] reproduces the official validator.
//!
//! This module holds the competition JSON format ([`Instance`], [`Solution`]) with readers
//! whose errors name the file and the JSON path, the evaluator, the solver ([`solve`]) and
//! the cost table `careflow solve ihtc` prints ([`cost_table`]).

mod evaluate;
mod model;
mod search;
mod solve;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use evaluate::{evaluate, CostBreakdown, Evaluation, HardViolations};
pub use solve::{solve, solve_with, SearchParams, SolveOutcome};

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong reading, checking or solving an IHTC problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read at all.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The JSON is malformed or does not have the competition's shape.
    #[error("{file}:{line}:{column}: at `{path}`: {message}")]
    Parse {
        /// The file (`<input>` when parsed from a string).
        file: PathBuf,
        /// JSON path of the offending value, e.g. `patients[3].surgeon_id`.
        path: String,
        /// 1-based line in the file.
        line: usize,
        /// 1-based column in the file.
        column: usize,
        /// What serde found wrong.
        message: String,
    },
    /// The JSON has the right shape but its contents do not fit together
    /// (an unknown id, an array of the wrong length, ...).
    #[error("{file}: at `{path}`: {message}")]
    Invalid {
        /// The file (`<input>` when parsed from a string).
        file: PathBuf,
        /// JSON path of the offending value.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// HiGHS failed on a subproblem in a way that is not just "no solution".
    #[error("HiGHS: {0}")]
    Highs(String),
}

/// Patient gender. Only two values exist in the competition data; a room may not hold both
/// on the same day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gender {
    /// Gender `A`.
    A,
    /// Gender `B`.
    B,
}

/// A patient already in a room on day 0; not a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Occupant {
    /// Identifier, e.g. `a0`.
    pub id: String,
    /// Gender.
    pub gender: Gender,
    /// One of the instance's `age_groups`.
    pub age_group: String,
    /// Remaining days in the room from day 0.
    pub length_of_stay: usize,
    /// Workload per shift from shift 0 of day 0 (`3 * length_of_stay` entries).
    pub workload_produced: Vec<u32>,
    /// Skill level required per shift from shift 0 of day 0.
    pub skill_level_required: Vec<u32>,
    /// The room it is in.
    pub room_id: String,
}

/// A surgical patient to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// Identifier, e.g. `p00`.
    pub id: String,
    /// Mandatory patients must be admitted inside their window.
    pub mandatory: bool,
    /// Gender.
    pub gender: Gender,
    /// One of the instance's `age_groups`.
    pub age_group: String,
    /// Days in the room from the admission day.
    pub length_of_stay: usize,
    /// First possible admission (and surgery) day.
    pub surgery_release_day: usize,
    /// Last admission day for mandatory patients; optional ones have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surgery_due_day: Option<usize>,
    /// Surgery duration in minutes.
    pub surgery_duration: u32,
    /// The surgeon who operates.
    pub surgeon_id: String,
    /// Rooms this patient may not be placed in.
    #[serde(default)]
    pub incompatible_room_ids: Vec<String>,
    /// Workload per shift relative to the admission (`3 * length_of_stay` entries).
    pub workload_produced: Vec<u32>,
    /// Skill level required per shift relative to the admission.
    pub skill_level_required: Vec<u32>,
}

/// A surgeon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Surgeon {
    /// Identifier.
    pub id: String,
    /// Minutes of surgery allowed per day (one entry per day).
    pub max_surgery_time: Vec<u32>,
}

/// An operating theatre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Theater {
    /// Identifier.
    pub id: String,
    /// Minutes available per day (one entry per day).
    pub availability: Vec<u32>,
}

/// A room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Room {
    /// Identifier.
    pub id: String,
    /// Number of beds.
    pub capacity: u32,
}

/// One shift a nurse works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkingShift {
    /// Day.
    pub day: usize,
    /// One of the instance's `shift_types`.
    pub shift: String,
    /// Workload above which the nurse is overloaded.
    pub max_load: u32,
}

/// A nurse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nurse {
    /// Identifier.
    pub id: String,
    /// Skill level.
    pub skill_level: u32,
    /// The shifts it works.
    pub working_shifts: Vec<WorkingShift>,
}

/// Weights of the soft cost terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    /// Per room-day: max age group minus min age group.
    pub room_mixed_age: u64,
    /// Per person and shift: missing skill of the covering nurse.
    pub room_nurse_skill: u64,
    /// Per patient: distinct nurses during the stay.
    pub continuity_of_care: u64,
    /// Per nurse and shift: load above the maximum (the competition's spelling).
    pub nurse_eccessive_workload: u64,
    /// Per theatre-day with a surgery.
    pub open_operating_theater: u64,
    /// Per surgeon-day: theatres used minus one.
    pub surgeon_transfer: u64,
    /// Per admitted patient: days after release.
    pub patient_delay: u64,
    /// Per optional patient not admitted.
    pub unscheduled_optional: u64,
}

/// An IHTC-2024 instance in the competition's JSON format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Number of days of the horizon.
    pub days: usize,
    /// Number of skill levels (levels are `0..skill_levels`).
    pub skill_levels: u32,
    /// Shift names in day order (early, late, night).
    pub shift_types: Vec<String>,
    /// Age group names, youngest first; a person's age value is its index here.
    pub age_groups: Vec<String>,
    /// Patients already in rooms.
    pub occupants: Vec<Occupant>,
    /// Patients to plan.
    pub patients: Vec<Patient>,
    /// Surgeons.
    pub surgeons: Vec<Surgeon>,
    /// Operating theatres.
    pub operating_theaters: Vec<Theater>,
    /// Rooms.
    pub rooms: Vec<Room>,
    /// Nurses.
    pub nurses: Vec<Nurse>,
    /// Soft cost weights.
    pub weights: Weights,
}

/// A patient's admission day in a solution: a day, or the string `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdmissionDay {
    /// Admitted (and operated) on this day.
    Day(usize),
    /// Not admitted.
    #[default]
    None,
}

impl Serialize for AdmissionDay {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            AdmissionDay::Day(d) => s.serialize_u64(*d as u64),
            AdmissionDay::None => s.serialize_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for AdmissionDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AdmissionDay;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a day number or \"none\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                Ok(AdmissionDay::Day(v as usize))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                usize::try_from(v)
                    .map(AdmissionDay::Day)
                    .map_err(|_| E::custom(format!("negative day {v}")))
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                if v == "none" {
                    Ok(AdmissionDay::None)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One patient's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientDecision {
    /// Patient id.
    pub id: String,
    /// Admission day or `"none"`.
    pub admission_day: AdmissionDay,
    /// Room, when admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Theatre of the surgery, when admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_theater: Option<String>,
}

/// The rooms a nurse covers in one of its shifts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NurseAssignment {
    /// Day.
    pub day: usize,
    /// Shift name.
    pub shift: String,
    /// Rooms covered.
    pub rooms: Vec<String>,
}

/// One nurse's assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NurseSchedule {
    /// Nurse id.
    pub id: String,
    /// Its assignments.
    pub assignments: Vec<NurseAssignment>,
}

/// A solution in the competition's JSON format. Patients absent from `patients` are not
/// admitted. Extra fields such as the validator's `costs` line are ignored when read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Solution {
    /// Patient decisions.
    pub patients: Vec<PatientDecision>,
    /// Nurse assignments.
    pub nurses: Vec<NurseSchedule>,
}

/// Parses JSON text into `T`, naming `file` and the JSON path on error.
fn from_json_str<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T> {
    crate::input::from_json(text).map_err(|e| Error::Parse {
        file: file.to_path_buf(),
        path: e.path,
        line: e.line,
        column: e.column,
        message: e.message,
    })
}

fn read_text(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).map_err(|source| Error::Io {
        file: file.to_path_buf(),
        source,
    })
}

impl Instance {
    /// Reads and checks an instance file.
    pub fn from_file(file: impl AsRef<Path>) -> Result<Self> {
        let file = file.as_ref();
        Self::from_json(&read_text(file)?, file)
    }

    /// Parses and checks an instance; `file` only names the source in errors.
    pub fn from_json(text: &str, file: impl AsRef<Path>) -> Result<Self> {
        let file = file.as_ref();
        let instance: Instance = from_json_str(text, file)?;
        model::Model::new(&instance).map_err(|(path, message)| Error::Invalid {
            file: file.to_path_buf(),
            path,
            message,
        })?;
        Ok(instance)
    }
}

impl Solution {
    /// Reads a solution file (its ids are checked against an instance by [`evaluate`]).
    pub fn from_file(file: impl AsRef<Path>) -> Result<Self> {
        let file = file.as_ref();
        Self::from_json(&read_text(file)?, file)
    }

    /// Parses a solution; `file` only names the source in errors.
    pub fn from_json(text: &str, file: impl AsRef<Path>) -> Result<Self> {
        from_json_str(text, file.as_ref())
    }

    /// The solution as pretty JSON in the competition format.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The cost breakdown of a solve as a plain-text table (`careflow solve ihtc` prints it):
/// each soft term with its count, weight and cost, the total, any hard violation, the
/// status and, when re-planning, the decisions changed against the warm start.
pub fn cost_table(instance: &Instance, outcome: &SolveOutcome) -> String {
    use std::fmt::Write as _;
    let e = &outcome.evaluation;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<26} {:>8} {:>8} {:>10}",
        "term", "count", "weight", "cost"
    );
    let weights = [
        instance.weights.room_mixed_age,
        instance.weights.room_nurse_skill,
        instance.weights.continuity_of_care,
        instance.weights.nurse_eccessive_workload,
        instance.weights.open_operating_theater,
        instance.weights.surgeon_transfer,
        instance.weights.patient_delay,
        instance.weights.unscheduled_optional,
    ];
    for (((name, count), (_, cost)), weight) in
        e.counts.terms().iter().zip(e.costs.terms()).zip(weights)
    {
        let _ = writeln!(s, "{name:<26} {count:>8} {weight:>8} {cost:>10}");
    }
    let _ = writeln!(
        s,
        "{:<26} {:>8} {:>8} {:>10}",
        "total", "", "", e.total_cost
    );
    for (name, v) in e.hard.terms() {
        if v > 0 {
            let _ = writeln!(s, "hard violation: {name} = {v}");
        }
    }
    let _ = writeln!(
        s,
        "status: {:?}, hard violations: {}",
        outcome.status,
        e.hard.total()
    );
    if outcome.changes > 0 {
        let _ = writeln!(s, "changed decisions vs warm start: {}", outcome.changes);
    }
    s
}
