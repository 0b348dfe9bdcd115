//! The one error type of the hospital models (bed allocation, theatre booking, scanner
//! booking): what a caller must handle when no plan comes back.

use serde::{Deserialize, Serialize};

use crate::highs::HighsError;
use crate::input::InputError;

/// Result type of the hospital models.
pub type Result<T, E = SolveError> = std::result::Result<T, E>;

/// Why a hospital plan could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// The input contradicts itself (unknown ward, empty stay, a probability out of range...).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The input JSON is malformed; located by line, column and field path.
    #[error("malformed input: {0}")]
    // Not a `source`: the message already carries the location, and error chains
    // would print it twice.
    Parse(InputError),
    /// The hard constraints cannot all hold; these are the ones that give way.
    #[error("infeasible: {}", conflicts.iter().map(|c| c.message.as_str()).collect::<Vec<_>>().join("; "))]
    Infeasible {
        /// The constraints that cannot all hold.
        conflicts: Vec<Conflict>,
    },
    /// No plan was found within the time limit (none proven impossible either).
    #[error("no plan found within the time limit")]
    NoPlanInTime,
    /// HiGHS failed.
    #[error(transparent)]
    Highs(#[from] HighsError),
}

impl From<InputError> for SolveError {
    fn from(e: InputError) -> Self {
        SolveError::Parse(e)
    }
}

/// Which constraint group gives way in an infeasible input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictKind {
    /// Beds: no room at all meets a patient's needs.
    NoEligibleRoom,
    /// Beds: a patient needing isolation finds no single room free.
    Isolation,
    /// Beds: a ward has more patients than beds on a day.
    WardCapacity,
    /// Beds: a room would have to hold both sexes.
    SingleSex,
    /// Beds: a patient cannot be placed for another reason.
    Unplaced,
    /// Theatres: an urgent case has no list that can take it.
    UrgentCase,
    /// Theatres: a theatre-day needs more minutes than session plus overtime.
    TheatreMinutes,
    /// Theatres: a surgeon's urgent work exceeds the daily limit.
    SurgeonMinutes,
    /// Scanners: an emergency or urgent request cannot be scanned by its deadline.
    UrgentScan,
    /// Scanners: a scanner-day needs more slots than open plus overbooking.
    ScannerSlots,
    /// Scanners: the expected-overtime bound cannot be met.
    ExpectedOvertime,
    /// Rostering: a nurse's own rules (contracted hours, leave, shifts in a row) admit
    /// no roster.
    NurseRules,
    /// HiGHS proved infeasibility but the elastic model names no single group.
    Unexplained,
}

/// One constraint that cannot hold together with the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The group.
    pub kind: ConflictKind,
    /// In hospital words ("ward W3 capacity on day 2: 14 patients need beds, 12 available").
    pub message: String,
}

impl Conflict {
    /// A conflict of `kind` described by `message`.
    pub fn new(kind: ConflictKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}
