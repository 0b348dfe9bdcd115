//! A ward's four-week nurse roster: the nurses (contracted hours, skills, requested days
//! off, leave) and shifts a roster starts from, the roster proposed for the department
//! head's approval, and the events (a sick call, a surge) that re-roster affected days.
//!
//! Nurses travel by staff number (`nurse_id`), never by name; the roster holds no
//! patient data at all (demand is a forecast count of patients).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{FieldError, ForecastProvenance};

/// Days a roster may cover: one to four whole weeks.
pub const ROSTER_DAY_CHOICES: [u32; 4] = [7, 14, 21, 28];
/// Longest solver time a roster may ask for, in seconds.
pub const MAX_ROSTER_SOLVE_SECONDS: u32 = 300;
/// Most nurses one ward roster may list.
pub const MAX_WARD_NURSES: usize = 200;
/// Longest shift, minutes (a 13-hour long day or night).
pub const MAX_SHIFT_MINUTES: u32 = 780;
/// Most contracted hours a week (the Working Time Regulations' 48-hour average).
pub const MAX_CONTRACTED_HOURS: f64 = 48.0;

/// One shift type of the ward's day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterShiftSpec {
    /// Shift id (`E`, `L`, `N`).
    pub shift_id: String,
    /// Paid minutes.
    pub minutes: u32,
    /// Patients one nurse looks after on this shift (the ward's nurse-to-patient ratio).
    pub patients_per_nurse: f64,
    /// Nurses on the shift whatever the demand (a safe minimum).
    #[serde(default = "default_min_nurses")]
    pub min_nurses: u32,
    /// A skill a nurse needs to work it (e.g. `nights`), if any.
    #[serde(default)]
    pub requires_skill: Option<String>,
    /// Shifts that may not be worked the day after this one (too short a rest).
    #[serde(default)]
    pub not_followed_by: Vec<String>,
}

fn default_min_nurses() -> u32 {
    1
}

/// The ward's usual day: early and late (7.5 h, one nurse per five patients) and night
/// (10 h, one per eight, only nurses with the `nights` skill); no early or late straight
/// after a night, no early after a late.
pub fn default_shifts() -> Vec<RosterShiftSpec> {
    let shift = |id: &str, minutes, ppn, min, skill: Option<&str>, next: &[&str]| RosterShiftSpec {
        shift_id: id.into(),
        minutes,
        patients_per_nurse: ppn,
        min_nurses: min,
        requires_skill: skill.map(Into::into),
        not_followed_by: next.iter().map(|s| (*s).into()).collect(),
    };
    vec![
        shift("E", 450, 5.0, 2, None, &[]),
        shift("L", 450, 5.0, 2, None, &["E"]),
        shift("N", 600, 8.0, 1, Some("nights"), &["E", "L"]),
    ]
}

/// One nurse of the ward and their contract for the roster period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WardNurse {
    /// Staff number (never a name).
    pub nurse_id: String,
    /// Contracted hours a week.
    pub contracted_hours_per_week: f64,
    /// Skills (`nights`, `iv`, `nurse_in_charge`...); a shift needing one is worked only by
    /// nurses who hold it.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Most shifts in a row.
    #[serde(default = "default_max_consecutive")]
    pub max_consecutive_shifts: u32,
    /// Most weekends worked in the period.
    #[serde(default = "default_max_weekends")]
    pub max_weekends: u32,
    /// Days the nurse asked to have off (soft: granted where cover allows).
    #[serde(default)]
    pub day_off_requests: Vec<u32>,
    /// Days of annual or study leave (hard: never rostered).
    #[serde(default)]
    pub leave_days: Vec<u32>,
}

fn default_max_consecutive() -> u32 {
    5
}

fn default_max_weekends() -> u32 {
    2
}

/// Body of `POST /api/rosters` and `careflow roster plan`: the ward, its nurses and the
/// recent admissions its demand is forecast from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterRequest {
    /// Ward as the `bed-demand` model knows it (`medicine`, `surgery`...).
    pub ward: String,
    /// First day of the roster, a Monday (`YYYY-MM-DD`).
    pub start_date: String,
    /// Days rostered: 7, 14, 21 or 28.
    #[serde(default = "default_days")]
    pub days: u32,
    /// Patients on the ward at the end of the day before `start_date`.
    pub census_at_origin: u32,
    /// Admissions on each of the 28 days before `start_date`, oldest first.
    pub admissions_last_28_days: Vec<u32>,
    /// The ward's shifts.
    #[serde(default = "default_shifts")]
    pub shifts: Vec<RosterShiftSpec>,
    /// The ward's nurses.
    pub nurses: Vec<WardNurse>,
    /// Solver time limit in seconds (1..=300).
    #[serde(default = "default_solve_seconds")]
    pub solve_seconds: u32,
    /// Seed of the solver's random choices (recorded with the decision).
    #[serde(default)]
    pub seed: u64,
    /// Who asked for the roster (filled in from the caller's identity by the API); they
    /// may not approve it.
    #[serde(default)]
    pub requested_by: String,
}

fn default_days() -> u32 {
    28
}

fn default_solve_seconds() -> u32 {
    20
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const ID_RULE: &str = "must be 1-64 characters of letters, digits, '-', '_' or '.'";

impl RosterRequest {
    /// The first day, if it is a date.
    pub fn date(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(&self.start_date, "%Y-%m-%d").ok()
    }

    /// Checks every field and returns all problems at once, each located by its path
    /// (`nurses[3].leave_days[0]`).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        use chrono::Datelike;
        let mut errors = Vec::new();
        if !valid_id(&self.ward) {
            errors.push(FieldError::new("ward", ID_RULE));
        }
        match self.date() {
            None => errors.push(FieldError::new(
                "start_date",
                format!("'{}' is not a date of the form YYYY-MM-DD", self.start_date),
            )),
            Some(d) if d.weekday() != chrono::Weekday::Mon => errors.push(FieldError::new(
                "start_date",
                format!(
                    "{} is a {}; a roster starts on a Monday",
                    self.start_date,
                    d.weekday()
                ),
            )),
            Some(_) => {}
        }
        if !ROSTER_DAY_CHOICES.contains(&self.days) {
            errors.push(FieldError::new(
                "days",
                format!("{} is not one of 7, 14, 21 or 28", self.days),
            ));
        }
        if self.admissions_last_28_days.len() != 28 {
            errors.push(FieldError::new(
                "admissions_last_28_days",
                format!(
                    "{} days given; the 28 days before start_date are needed",
                    self.admissions_last_28_days.len()
                ),
            ));
        }
        if !(1..=MAX_ROSTER_SOLVE_SECONDS).contains(&self.solve_seconds) {
            errors.push(FieldError::new(
                "solve_seconds",
                format!(
                    "{} is outside 1..={MAX_ROSTER_SOLVE_SECONDS}",
                    self.solve_seconds
                ),
            ));
        }
        if self.requested_by.trim().is_empty() {
            errors.push(FieldError::new(
                "requested_by",
                "must name the requesting user",
            ));
        }
        if self.shifts.is_empty() {
            errors.push(FieldError::new("shifts", "must list at least one shift"));
        }
        let mut shift_ids = HashSet::new();
        for (i, s) in self.shifts.iter().enumerate() {
            let at = format!("shifts[{i}]");
            if !valid_id(&s.shift_id) {
                errors.push(FieldError::new(format!("{at}.shift_id"), ID_RULE));
            } else if !shift_ids.insert(s.shift_id.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.shift_id"),
                    format!("shift {} is listed twice", s.shift_id),
                ));
            }
            if !(60..=MAX_SHIFT_MINUTES).contains(&s.minutes) {
                errors.push(FieldError::new(
                    format!("{at}.minutes"),
                    format!("{} is outside 60..={MAX_SHIFT_MINUTES}", s.minutes),
                ));
            }
            if !(s.patients_per_nurse > 0.0 && s.patients_per_nurse <= 30.0) {
                errors.push(FieldError::new(
                    format!("{at}.patients_per_nurse"),
                    format!("{} is not in (0, 30]", s.patients_per_nurse),
                ));
            }
        }
        for (i, s) in self.shifts.iter().enumerate() {
            for (j, next) in s.not_followed_by.iter().enumerate() {
                if !shift_ids.contains(next.as_str()) {
                    errors.push(FieldError::new(
                        format!("shifts[{i}].not_followed_by[{j}]"),
                        format!("shift {next} is not among the ward's shifts"),
                    ));
                }
            }
        }
        if self.nurses.is_empty() || self.nurses.len() > MAX_WARD_NURSES {
            errors.push(FieldError::new(
                "nurses",
                format!(
                    "{} nurses listed; 1..={MAX_WARD_NURSES} expected",
                    self.nurses.len()
                ),
            ));
        }
        let mut nurse_ids = HashSet::new();
        for (i, n) in self.nurses.iter().enumerate() {
            let at = format!("nurses[{i}]");
            if !valid_id(&n.nurse_id) {
                errors.push(FieldError::new(format!("{at}.nurse_id"), ID_RULE));
            } else if !nurse_ids.insert(n.nurse_id.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.nurse_id"),
                    format!("nurse {} is listed twice", n.nurse_id),
                ));
            }
            if !(n.contracted_hours_per_week > 0.0
                && n.contracted_hours_per_week <= MAX_CONTRACTED_HOURS)
            {
                errors.push(FieldError::new(
                    format!("{at}.contracted_hours_per_week"),
                    format!(
                        "{} is not in (0, {MAX_CONTRACTED_HOURS}]",
                        n.contracted_hours_per_week
                    ),
                ));
            }
            if n.max_consecutive_shifts == 0 {
                errors.push(FieldError::new(
                    format!("{at}.max_consecutive_shifts"),
                    "must be at least 1",
                ));
            }
            for (field, days) in [
                ("day_off_requests", &n.day_off_requests),
                ("leave_days", &n.leave_days),
            ] {
                for (j, &d) in days.iter().enumerate() {
                    if d >= self.days {
                        errors.push(FieldError::new(
                            format!("{at}.{field}[{j}]"),
                            format!("day {d} is outside the roster's 0..{}", self.days),
                        ));
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Checks an event against the roster; each problem located by field.
    pub fn check_event(&self, event: &RosterEvent) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if event.reported_by.trim().is_empty() {
            errors.push(FieldError::new("reported_by", "must name who reports it"));
        }
        let (first, last) = match &event.change {
            RosterChange::SickCall {
                nurse_id,
                first_day,
                last_day,
            } => {
                if !self.nurses.iter().any(|n| &n.nurse_id == nurse_id) {
                    errors.push(FieldError::new(
                        "change.nurse_id",
                        format!("nurse {nurse_id} is not on the ward's roster"),
                    ));
                }
                (*first_day, *last_day)
            }
            RosterChange::Surge {
                first_day,
                last_day,
                extra_patients,
                reason,
            } => {
                if *extra_patients == 0 || *extra_patients > 100 {
                    errors.push(FieldError::new(
                        "change.extra_patients",
                        format!("{extra_patients} is outside 1..=100"),
                    ));
                }
                if reason.trim().len() < 3 {
                    errors.push(FieldError::new(
                        "change.reason",
                        "must say why (at least 3 characters)",
                    ));
                }
                (*first_day, *last_day)
            }
        };
        if first >= self.days {
            errors.push(FieldError::new(
                "change.first_day",
                format!("day {first} is outside the roster's 0..{}", self.days),
            ));
        }
        if last >= self.days || last < first {
            errors.push(FieldError::new(
                "change.last_day",
                format!(
                    "day {last} must be within first_day..{} (first_day is {first})",
                    self.days
                ),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Applies an accepted sick call (the nurse's days become leave); a surge changes
    /// demand only, which the workflow keeps beside the request.
    pub fn apply(&mut self, event: &RosterEvent) {
        if let RosterChange::SickCall {
            nurse_id,
            first_day,
            last_day,
        } = &event.change
        {
            if let Some(n) = self.nurses.iter_mut().find(|n| &n.nurse_id == nurse_id) {
                for d in *first_day..=*last_day {
                    if !n.leave_days.contains(&d) {
                        n.leave_days.push(d);
                    }
                }
                n.leave_days.sort_unstable();
            }
        }
    }
}

/// Input of the nurse-rostering workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NurseRosteringInput {
    /// Roster id (also the workflow id).
    pub roster_id: String,
    /// The ward and period.
    pub request: RosterRequest,
}

/// Answer of `POST /api/rosters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterStarted {
    /// Roster id (also the workflow id).
    pub roster_id: String,
}

/// Answer of `POST /api/rosters/{id}/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEventAccepted {
    /// Roster.
    pub roster_id: String,
    /// Who reported it.
    pub reported_by: String,
    /// What the workflow answered.
    pub result: String,
}

/// What happened that re-rosters some days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RosterChange {
    /// A nurse cannot work `first_day..=last_day`.
    SickCall {
        /// Staff number.
        nurse_id: String,
        /// First day off sick (roster day).
        first_day: u32,
        /// Last day off sick.
        last_day: u32,
    },
    /// More patients than forecast on `first_day..=last_day`.
    Surge {
        /// First day.
        first_day: u32,
        /// Last day.
        last_day: u32,
        /// Patients above the forecast census on each of those days.
        extra_patients: u32,
        /// Why (an outbreak, a major incident, a ward opened).
        reason: String,
    },
}

/// Body of the workflow's `report_event` update and `POST /api/rosters/{id}/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEvent {
    /// Who reports it (filled in from the caller's identity by the API); they may not
    /// approve the re-roster.
    #[serde(default)]
    pub reported_by: String,
    /// What happened.
    pub change: RosterChange,
}

impl RosterEvent {
    /// The days it affects.
    pub fn days(&self) -> std::ops::RangeInclusive<u32> {
        match &self.change {
            RosterChange::SickCall {
                first_day,
                last_day,
                ..
            }
            | RosterChange::Surge {
                first_day,
                last_day,
                ..
            } => *first_day..=*last_day,
        }
    }

    /// In words, for the approver and the audit trail (staff numbers, no names).
    pub fn summary(&self) -> String {
        let days = self.days();
        match &self.change {
            RosterChange::SickCall { nurse_id, .. } => format!(
                "sick call: nurse {nurse_id} off days {}-{}, reported by {}",
                days.start(),
                days.end(),
                self.reported_by
            ),
            RosterChange::Surge {
                extra_patients,
                reason,
                ..
            } => format!(
                "surge: {extra_patients} more patients on days {}-{} ({reason}), reported by {}",
                days.start(),
                days.end(),
                self.reported_by
            ),
        }
    }
}

/// Body of the workflow's `revise` update: after a rejection, the roster asked for again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterRevision {
    /// The revised ward request (same ward and start date).
    pub request: RosterRequest,
}

/// Where a ward roster stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterStage {
    /// Started.
    Requested,
    /// Forecasting demand.
    Forecasting,
    /// Running the optimiser.
    Solving,
    /// Waiting for the department head or the nurse in charge.
    AwaitingApproval,
    /// A roster is in force; sick calls and surges re-roster it.
    Published,
    /// The proposal was rejected and no roster is in force; a revised request re-plans.
    Rejected,
    /// No roster satisfies the hard rules; the conflicts say why (final).
    Infeasible,
    /// The roster period ended (final).
    Ended,
    /// The workflow was cancelled; an open proposal was withdrawn (final).
    Cancelled,
}

impl RosterStage {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            RosterStage::Requested => "requested",
            RosterStage::Forecasting => "forecasting",
            RosterStage::Solving => "solving",
            RosterStage::AwaitingApproval => "awaiting_approval",
            RosterStage::Published => "published",
            RosterStage::Rejected => "rejected",
            RosterStage::Infeasible => "infeasible",
            RosterStage::Ended => "ended",
            RosterStage::Cancelled => "cancelled",
        }
    }

    /// Whether the workflow is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RosterStage::Infeasible | RosterStage::Ended | RosterStage::Cancelled
        )
    }
}

/// Nurses one shift needs, from the forecast census.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShiftDemand {
    /// Roster day.
    pub day: u32,
    /// Shift.
    pub shift_id: String,
    /// Patients planned for (the forecast census's 0.9 quantile plus any surge).
    pub patients: f64,
    /// Nurses required: patients over the shift's ratio, rounded up, at least its minimum.
    pub nurses_required: u32,
}

/// The ward's forecast demand with the model that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterDemand {
    /// The production `bed-demand` model that ran, by hash.
    pub provenance: ForecastProvenance,
    /// Forecast census (p50) per day.
    pub census_p50: Vec<f64>,
    /// Forecast census (p90) per day: what staffing is planned for.
    pub census_p90: Vec<f64>,
    /// Nurses required per day and shift (surges included).
    pub required: Vec<ShiftDemand>,
    /// The decision step that recorded this forecast (`forecast/r0`).
    pub decision_step: String,
}

/// One rostered shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterAssignment {
    /// Staff number.
    pub nurse_id: String,
    /// Roster day.
    pub day: u32,
    /// Shift.
    pub shift_id: String,
}

/// How one shift is covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftCoverage {
    /// Day.
    pub day: u32,
    /// Shift.
    pub shift_id: String,
    /// Nurses required.
    pub required: u32,
    /// Nurses rostered.
    pub rostered: u32,
}

/// A requested day off the roster does not grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmetRequest {
    /// Staff number.
    pub nurse_id: String,
    /// Day asked for.
    pub day: u32,
    /// The shift rostered instead.
    pub shift_id: String,
}

/// One nurse's share of the roster, for fairness between nurses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NurseLoad {
    /// Staff number.
    pub nurse_id: String,
    /// Minutes rostered.
    pub minutes: u32,
    /// Contracted minutes for the period, leave deducted.
    pub contracted_minutes: u32,
    /// Shifts rostered.
    pub shifts: u32,
    /// Night shifts (shifts needing the `nights` skill).
    pub nights: u32,
    /// Weekends with a shift.
    pub weekends: u32,
    /// Days off asked for and not granted.
    pub unmet_requests: u32,
}

/// How evenly the roster shares the hard parts between nurses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fairness {
    /// Most minus fewest nights among nurses who may work nights.
    pub nights_spread: u32,
    /// Most minus fewest weekends worked.
    pub weekends_spread: u32,
    /// Most minus fewest unmet day-off requests among nurses who asked.
    pub unmet_requests_spread: u32,
    /// Lowest and highest rostered over contracted minutes.
    pub hours_ratio_min: f64,
    /// Highest rostered over contracted minutes.
    pub hours_ratio_max: f64,
}

/// A cell of the roster in force that the proposal changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterCellChange {
    /// Staff number.
    pub nurse_id: String,
    /// Day.
    pub day: u32,
    /// Shift in force (`None`: off).
    pub from_shift: Option<String>,
    /// Shift proposed (`None`: off).
    pub to_shift: Option<String>,
}

/// What the optimiser proposes, as the approver sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterProposal {
    /// Roster.
    pub roster_id: String,
    /// 0 for the first roster, then one per re-plan or re-roster.
    pub revision: u32,
    /// Ward.
    pub ward: String,
    /// First day.
    pub start_date: String,
    /// Days rostered.
    pub days: u32,
    /// Days re-rostered (empty: the whole period was planned).
    pub replanned_days: Vec<u32>,
    /// `optimal` or `time_limit`; `infeasible` when no roster exists.
    pub solver_status: String,
    /// Weighted objective.
    pub objective: f64,
    /// Relative MIP gap where HiGHS knows it.
    pub mip_gap: Option<f64>,
    /// Seconds the solve took.
    pub solve_seconds: f64,
    /// Every rostered shift, by nurse and day.
    pub assignments: Vec<RosterAssignment>,
    /// Every shift's cover.
    pub coverage: Vec<ShiftCoverage>,
    /// Nurse-shifts short of the requirement, all shifts.
    pub nurse_shifts_short: u32,
    /// Nurse-shifts above the requirement, all shifts.
    pub nurse_shifts_over: u32,
    /// Requested days off not granted.
    pub unmet_requests: Vec<UnmetRequest>,
    /// Each nurse's share.
    pub loads: Vec<NurseLoad>,
    /// How evenly it is shared.
    pub fairness: Fairness,
    /// Cells changed against the roster in force.
    pub changes: Vec<RosterCellChange>,
    /// For an infeasible roster: the rules that cannot all hold.
    pub conflicts: Vec<String>,
    /// The demand model that fed the solver.
    pub demand: ForecastProvenance,
    /// The decision step that made this proposal (`solve/r0`).
    pub decision_step: String,
    /// sha256 of the solver input stored for that step.
    pub snapshot_sha256: String,
    /// The events this revision answers, in words.
    pub replanned_after: Vec<String>,
}

impl RosterProposal {
    /// Whether no roster satisfies the hard rules.
    pub fn is_infeasible(&self) -> bool {
        !self.conflicts.is_empty()
    }
}

/// Where a ward roster stands (the workflow's `status` query).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterStatus {
    /// Stage.
    pub stage: RosterStage,
    /// Revision being worked on or last made.
    pub revision: u32,
    /// The revision in force, if any.
    pub in_force: Option<u32>,
    /// Approval task, while one is open.
    pub task_id: Option<String>,
    /// Times approval tasks escalated.
    pub escalations: u32,
    /// The latest proposal.
    pub proposal: Option<RosterProposal>,
    /// Events taken so far.
    pub events: u32,
}

/// How a ward roster ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterOutcome {
    /// Ended, infeasible or cancelled.
    pub stage: RosterStage,
    /// Roster.
    pub roster_id: String,
    /// Revisions made.
    pub revisions: u32,
    /// The roster in force at the end, if any.
    pub in_force: Option<RosterProposal>,
    /// The last proposal.
    pub last_proposal: Option<RosterProposal>,
    /// Why it ended, in words.
    pub reason: Option<String>,
}

/// A stored revision of a ward roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterRecord {
    /// Roster.
    pub roster_id: String,
    /// Revision.
    pub revision: u32,
    /// Workflow that made it.
    pub workflow_id: String,
    /// Ward.
    pub ward: String,
    /// First day.
    pub start_date: String,
    /// proposed, published, rejected, superseded, infeasible or cancelled.
    pub status: String,
    /// Who asked for it.
    pub requested_by: String,
    /// When proposed.
    pub created_at: String,
    /// What the approver saw.
    pub proposal: RosterProposal,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Why.
    pub decision_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RosterRequest {
        serde_json::from_value(serde_json::json!({
            "ward": "medicine",
            "start_date": "2027-03-01",
            "census_at_origin": 20,
            "admissions_last_28_days": vec![5; 28],
            "nurses": [{"nurse_id": "N01", "contracted_hours_per_week": 37.5}],
            "requested_by": "head.hana"
        }))
        .expect("request")
    }

    #[test]
    fn defaults_fill_the_optional_fields() {
        let r = request();
        assert!(r.validate().is_ok(), "{:?}", r.validate());
        assert_eq!((r.days, r.solve_seconds, r.shifts.len()), (28, 20, 3));
        assert_eq!(r.nurses[0].max_consecutive_shifts, 5);
    }

    #[test]
    fn every_bad_field_is_located() {
        let mut r = request();
        r.start_date = "2027-03-02".into();
        r.nurses[0].leave_days = vec![3, 28];
        r.nurses.push(r.nurses[0].clone());
        r.shifts[1].not_followed_by.push("X".into());
        let fields: Vec<String> = r
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "start_date",
                "shifts[1].not_followed_by[1]",
                "nurses[0].leave_days[1]",
                "nurses[1].nurse_id",
                "nurses[1].leave_days[1]",
            ]
        );
    }

    #[test]
    fn a_sick_call_is_checked_and_becomes_leave() {
        let mut r = request();
        let sick = RosterEvent {
            reported_by: "nic.nia".into(),
            change: RosterChange::SickCall {
                nurse_id: "N09".into(),
                first_day: 5,
                last_day: 3,
            },
        };
        let fields: Vec<String> = r
            .check_event(&sick)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["change.nurse_id", "change.last_day"]);
        let sick = RosterEvent {
            change: RosterChange::SickCall {
                nurse_id: "N01".into(),
                first_day: 3,
                last_day: 4,
            },
            ..sick
        };
        assert!(r.check_event(&sick).is_ok());
        r.apply(&sick);
        assert_eq!(r.nurses[0].leave_days, [3, 4]);
        let e: RosterEvent = serde_json::from_str(
            r#"{"reported_by":"a","change":{"kind":"surge","first_day":1,"last_day":2,"extra_patients":4,"reason":"norovirus"}}"#,
        )
        .expect("surge");
        assert!(e.summary().contains("4 more patients on days 1-2"));
    }
}
