//! CT/MRI scanner bookings: a week's scan requests and scanners, the proposal the
//! imaging manager sees, its conclusion and the attendance recorded per booking.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{Decision, FieldError, ForecastProvenance};

/// Most days one booking run plans.
pub const MAX_SCAN_DAYS: u32 = 7;
/// Most slots a scanner has in a day.
pub const MAX_SLOTS_PER_DAY: u32 = 48;
/// Most slots one scan takes.
pub const MAX_SCAN_SLOTS: u32 = 8;
/// Most requests in one booking run.
pub const MAX_SCAN_REQUESTS: usize = 1000;
/// Longest solver time limit, seconds.
pub const MAX_SCAN_SOLVE_SECONDS: u32 = 300;

/// Imaging modality a request needs and a scanner offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanModality {
    /// Computed tomography.
    Ct,
    /// Magnetic resonance imaging.
    Mri,
}

impl ScanModality {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanModality::Ct => "ct",
            ScanModality::Mri => "mri",
        }
    }
}

/// Clinical urgency of a scan request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanUrgency {
    /// Scanned on the day (hard deadline).
    Emergency,
    /// Scanned within days (hard deadline).
    Urgent,
    /// Should be scanned by its deadline; may be booked late or wait for a later week.
    Routine,
}

impl ScanUrgency {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanUrgency::Emergency => "emergency",
            ScanUrgency::Urgent => "urgent",
            ScanUrgency::Routine => "routine",
        }
    }

    /// Whether its deadline is hard (emergency and urgent).
    pub fn hard_deadline(self) -> bool {
        self != ScanUrgency::Routine
    }
}

/// A closed window of a scanner (maintenance, servicing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerClosure {
    /// Day (0 = `week_start`).
    pub day: u32,
    /// First slot closed.
    pub from_slot: u32,
    /// First slot open again.
    pub to_slot: u32,
}

/// A scanner and what it offers this week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerWeek {
    /// Scanner id (`CT1`).
    pub scanner_id: String,
    /// Modality.
    pub modality: ScanModality,
    /// Can give contrast (injector and staff).
    #[serde(default)]
    pub contrast: bool,
    /// Closed windows.
    #[serde(default)]
    pub closures: Vec<ScannerClosure>,
    /// Days an anaesthetist is on the scanner.
    #[serde(default)]
    pub anaesthesia_days: Vec<u32>,
}

/// A scan request, by reference: no patient identifier. The booking-time facts the
/// no-show model reads (age, neighbourhood income, commute, earlier no-shows, reminder)
/// travel with it; an inpatient is brought to the scanner and never misses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanRequestEntry {
    /// Request id (the radiology order).
    pub request_id: String,
    /// The patient's pseudonymous key (from `patients.patient_key`), never an MRN.
    pub patient_key: String,
    /// Modality.
    pub modality: ScanModality,
    /// Urgency.
    pub urgency: ScanUrgency,
    /// First day the scan may be done (0 = `week_start`).
    #[serde(default)]
    pub release_day: u32,
    /// Last day the scan should be done (may lie past the week).
    pub deadline_day: u32,
    /// Slots the scan takes.
    #[serde(default = "default_scan_slots")]
    pub slots: u32,
    /// Needs contrast.
    #[serde(default)]
    pub contrast: bool,
    /// Needs anaesthesia.
    #[serde(default)]
    pub anaesthesia: bool,
    /// An inpatient (no-show probability 0).
    #[serde(default)]
    pub inpatient: bool,
    /// Days between the order and `week_start` (the lead time grows from it).
    #[serde(default)]
    pub ordered_days_before: u32,
    /// Age in years.
    pub age_years: u32,
    /// Median household income of the patient's neighbourhood (USD).
    #[serde(default = "default_income")]
    pub median_income_usd: f64,
    /// Commute distance (miles).
    #[serde(default = "default_commute")]
    pub commute_miles: f64,
    /// The patient's earlier imaging no-shows.
    #[serde(default)]
    pub prior_no_shows: u32,
    /// Whether a reminder is sent.
    #[serde(default = "default_true")]
    pub reminder_sent: bool,
}

fn default_scan_slots() -> u32 {
    1
}
fn default_income() -> f64 {
    55_000.0
}
fn default_commute() -> f64 {
    10.0
}
fn default_true() -> bool {
    true
}

/// When a booking needs the imaging manager: beyond these limits a person decides,
/// within them careflow books directly (recorded as a system decision).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanBookingPolicy {
    /// Overbooked slots the whole week may hold without approval.
    #[serde(default = "default_policy_overbooked")]
    pub max_overbooked_slots: u32,
    /// Requests that may miss their deadline without approval (a hard-deadline request
    /// that misses it always needs a person).
    #[serde(default)]
    pub max_breached_deadlines: u32,
}

fn default_policy_overbooked() -> u32 {
    2
}

impl Default for ScanBookingPolicy {
    fn default() -> Self {
        Self {
            max_overbooked_slots: default_policy_overbooked(),
            max_breached_deadlines: 0,
        }
    }
}

/// Body of `POST /api/scanner-bookings` and the CLI's `scanner book`: the week's
/// scanners and requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerWeekRequest {
    /// First day planned (`YYYY-MM-DD`).
    pub week_start: String,
    /// Days planned (1..=7).
    #[serde(default = "default_scan_days")]
    pub days: u32,
    /// Slots per scanner-day.
    #[serde(default = "default_slots_per_day")]
    pub slots_per_day: u32,
    /// Scanners.
    pub scanners: Vec<ScannerWeek>,
    /// Requests to book.
    pub requests: Vec<ScanRequestEntry>,
    /// When a person must approve.
    #[serde(default)]
    pub policy: ScanBookingPolicy,
    /// Solver time limit in seconds (1..=300).
    #[serde(default = "default_scan_solve_seconds")]
    pub solve_seconds: u32,
    /// Seed of the solver's random choices (recorded with the decision).
    #[serde(default)]
    pub seed: u64,
    /// Who asked for the booking (filled in from the caller's identity by the API); they
    /// may not approve it.
    #[serde(default)]
    pub requested_by: String,
}

fn default_scan_days() -> u32 {
    5
}
fn default_slots_per_day() -> u32 {
    16
}
fn default_scan_solve_seconds() -> u32 {
    10
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const ID_RULE: &str = "must be 1-64 characters of letters, digits, '-', '_' or '.'";

impl ScannerWeekRequest {
    /// The first day as a date.
    pub fn date(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(&self.week_start, "%Y-%m-%d").ok()
    }

    /// Checks every field and returns all problems at once, each located by its path
    /// (`requests[3].deadline_day`).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut err = |field: String, message: String| errors.push(FieldError::new(field, message));
        if self.date().is_none() {
            err(
                "week_start".into(),
                format!("'{}' is not a date of the form YYYY-MM-DD", self.week_start),
            );
        }
        if !(1..=MAX_SCAN_DAYS).contains(&self.days) {
            err(
                "days".into(),
                format!("{} is outside 1..={MAX_SCAN_DAYS}", self.days),
            );
        }
        if !(1..=MAX_SLOTS_PER_DAY).contains(&self.slots_per_day) {
            err(
                "slots_per_day".into(),
                format!("{} is outside 1..={MAX_SLOTS_PER_DAY}", self.slots_per_day),
            );
        }
        if !(1..=MAX_SCAN_SOLVE_SECONDS).contains(&self.solve_seconds) {
            err(
                "solve_seconds".into(),
                format!(
                    "{} is outside 1..={MAX_SCAN_SOLVE_SECONDS}",
                    self.solve_seconds
                ),
            );
        }
        if self.requested_by.trim().is_empty() {
            err(
                "requested_by".into(),
                "must name the requesting user".into(),
            );
        }
        if self.scanners.is_empty() {
            err("scanners".into(), "must list at least one scanner".into());
        }
        let mut scanner_ids = HashSet::new();
        for (i, s) in self.scanners.iter().enumerate() {
            let at = format!("scanners[{i}]");
            if !valid_id(&s.scanner_id) {
                err(format!("{at}.scanner_id"), ID_RULE.into());
            } else if !scanner_ids.insert(s.scanner_id.as_str()) {
                err(
                    format!("{at}.scanner_id"),
                    format!("scanner {} is listed twice", s.scanner_id),
                );
            }
            for (j, c) in s.closures.iter().enumerate() {
                let at = format!("{at}.closures[{j}]");
                if c.day >= self.days {
                    err(
                        format!("{at}.day"),
                        format!("day {} is outside the {} days planned", c.day, self.days),
                    );
                }
                if c.from_slot >= c.to_slot || c.to_slot > self.slots_per_day {
                    err(
                        format!("{at}.to_slot"),
                        format!(
                            "slots {}..{} are not a window inside the day's {} slots",
                            c.from_slot, c.to_slot, self.slots_per_day
                        ),
                    );
                }
            }
            if let Some(d) = s.anaesthesia_days.iter().find(|&&d| d >= self.days) {
                err(
                    format!("{at}.anaesthesia_days"),
                    format!("day {d} is outside the {} days planned", self.days),
                );
            }
        }
        if self.requests.is_empty() {
            err("requests".into(), "must list at least one request".into());
        } else if self.requests.len() > MAX_SCAN_REQUESTS {
            err(
                "requests".into(),
                format!(
                    "{} requests is more than {MAX_SCAN_REQUESTS} for one run",
                    self.requests.len()
                ),
            );
        }
        let mut request_ids = HashSet::new();
        for (i, r) in self.requests.iter().enumerate() {
            let at = format!("requests[{i}]");
            if !valid_id(&r.request_id) {
                err(format!("{at}.request_id"), ID_RULE.into());
            } else if !request_ids.insert(r.request_id.as_str()) {
                err(
                    format!("{at}.request_id"),
                    format!("request {} is listed twice", r.request_id),
                );
            }
            if !valid_id(&r.patient_key) || !r.patient_key.starts_with("PK-") {
                err(
                    format!("{at}.patient_key"),
                    "must be a pseudonymous patient key (PK-...), never an MRN".into(),
                );
            }
            if r.release_day >= self.days {
                err(
                    format!("{at}.release_day"),
                    format!(
                        "day {} is outside the {} days planned",
                        r.release_day, self.days
                    ),
                );
            }
            if r.deadline_day < r.release_day {
                err(
                    format!("{at}.deadline_day"),
                    format!(
                        "day {} is before the release day {}",
                        r.deadline_day, r.release_day
                    ),
                );
            }
            if !(1..=MAX_SCAN_SLOTS).contains(&r.slots) {
                err(
                    format!("{at}.slots"),
                    format!("{} is outside 1..={MAX_SCAN_SLOTS}", r.slots),
                );
            }
            if r.age_years > 120 {
                err(
                    format!("{at}.age_years"),
                    format!("{} is more than 120", r.age_years),
                );
            }
            if !(r.median_income_usd.is_finite() && r.median_income_usd >= 0.0) {
                err(
                    format!("{at}.median_income_usd"),
                    "must be a finite amount of 0 or more".into(),
                );
            }
            if !(r.commute_miles.is_finite() && r.commute_miles >= 0.0) {
                err(
                    format!("{at}.commute_miles"),
                    "must be a finite distance of 0 or more".into(),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Input of the scanner-booking workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerBookingInput {
    /// Booking run id (the key of every side effect; the workflow id by convention).
    pub booking_id: String,
    /// The week (validated by the workflow before anything runs).
    pub request: ScannerWeekRequest,
}

/// Where a scanner booking run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScannerStage {
    /// Started.
    Requested,
    /// Forecasting no-shows.
    Forecasting,
    /// Running the optimiser.
    Solving,
    /// Waiting for the imaging manager.
    AwaitingApproval,
    /// Booked; attendance is being recorded.
    Booked,
    /// Every booked scan's attendance is recorded, or the week is over (final).
    Closed,
    /// The proposal and its re-plan were rejected: nothing booked (final).
    Rejected,
    /// No booking meets the hard rules; the conflicts say why (final).
    Infeasible,
    /// The workflow was cancelled; an open proposal was withdrawn (final).
    Cancelled,
}

impl ScannerStage {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScannerStage::Requested => "requested",
            ScannerStage::Forecasting => "forecasting",
            ScannerStage::Solving => "solving",
            ScannerStage::AwaitingApproval => "awaiting_approval",
            ScannerStage::Booked => "booked",
            ScannerStage::Closed => "closed",
            ScannerStage::Rejected => "rejected",
            ScannerStage::Infeasible => "infeasible",
            ScannerStage::Cancelled => "cancelled",
        }
    }
}

/// One request's forecast no-show probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoShowProbability {
    /// Request.
    pub request_id: String,
    /// Probability the patient does not come.
    pub probability: f64,
}

/// Every request's no-show probability and the model that gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoShowForecasts {
    /// Model name, version, sha256, execution provider.
    pub provenance: ForecastProvenance,
    /// Per request (inpatients 0 without running the model).
    pub requests: Vec<NoShowProbability>,
    /// The decision step that stored the forecast's input.
    pub decision_step: String,
}

/// A booked scan as the imaging manager sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanBooked {
    /// Request.
    pub request_id: String,
    /// Pseudonymous patient key.
    pub patient_key: String,
    /// Modality.
    pub modality: ScanModality,
    /// Urgency.
    pub urgency: ScanUrgency,
    /// Scanner.
    pub scanner_id: String,
    /// Day (0 = `week_start`).
    pub day: u32,
    /// First slot.
    pub start_slot: u32,
    /// Shares its slot with another booking.
    pub overbooked: bool,
    /// Forecast no-show probability.
    pub no_show_probability: f64,
    /// Days past the request's deadline (0 when on time).
    pub days_late: u32,
}

/// A request that misses its deadline in the proposal, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanBreach {
    /// Request.
    pub request_id: String,
    /// Urgency.
    pub urgency: ScanUrgency,
    /// Modality.
    pub modality: ScanModality,
    /// Its deadline day.
    pub deadline_day: u32,
    /// The day it is booked on, if booked late.
    pub booked_day: Option<u32>,
    /// Why, in words.
    pub why: String,
}

/// One scanner-day's load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerDayLoad {
    /// Scanner.
    pub scanner_id: String,
    /// Day.
    pub day: u32,
    /// Open slots.
    pub open_slots: u32,
    /// Booked slots.
    pub booked_slots: u32,
    /// Expected slots run past the day under independent no-shows.
    pub expected_overtime_slots: f64,
}

/// A proposed booking (one revision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerBookingProposal {
    /// Booking run.
    pub booking_id: String,
    /// Revision (0 first; 1 the re-plan held to policy after a rejection).
    pub revision: u32,
    /// First day.
    pub week_start: String,
    /// Days planned.
    pub days: u32,
    /// `optimal`, `time_limit` or `infeasible`.
    pub solver_status: String,
    /// Weighted objective.
    pub objective: f64,
    /// Relative MIP gap, where known.
    pub mip_gap: Option<f64>,
    /// Seconds the solve took.
    pub solve_seconds: f64,
    /// Booked scans.
    pub booked: Vec<ScanBooked>,
    /// Requests left for a later week (deadline past this one).
    pub waiting: Vec<String>,
    /// Requests that miss their deadline.
    pub breaches: Vec<ScanBreach>,
    /// Load per scanner-day.
    pub scanner_days: Vec<ScannerDayLoad>,
    /// Overbooked slots over the week.
    pub overbooked_slots: u32,
    /// Expected overtime slots over the week.
    pub expected_overtime_slots: f64,
    /// Why a person must decide (empty: within policy).
    pub over_policy: Vec<String>,
    /// The policy it was measured against.
    pub policy: ScanBookingPolicy,
    /// Whether the solver could overbook (a re-plan after a rejection may not).
    pub overbooking_allowed: bool,
    /// Conflicts, when infeasible.
    pub conflicts: Vec<String>,
    /// The no-show model used.
    pub no_show: ForecastProvenance,
    /// The decision step that made it.
    pub decision_step: String,
    /// Its input snapshot.
    pub snapshot_sha256: String,
}

impl ScannerBookingProposal {
    /// No booking meets the hard rules.
    pub fn is_infeasible(&self) -> bool {
        self.solver_status == "infeasible"
    }

    /// Beyond policy: a person decides.
    pub fn needs_approval(&self) -> bool {
        !self.over_policy.is_empty()
    }

    /// A hard-deadline request misses its deadline.
    pub fn breaches_hard_deadline(&self) -> bool {
        self.breaches.iter().any(|b| b.urgency.hard_deadline())
    }
}

/// How a proposed revision is concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanConclusion {
    /// A person approved or rejected it.
    Decided(Decision),
    /// Booked without approval: within the stated policy.
    WithinPolicy {
        /// Why no approval was needed, in words.
        reason: String,
    },
}

/// Whether a booked patient came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanAttendance {
    /// Scanned.
    Attended,
    /// Did not come.
    NoShow,
}

impl ScanAttendance {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanAttendance::Attended => "attended",
            ScanAttendance::NoShow => "no_show",
        }
    }
}

/// Attendance of one booking, as recorded through the workflow's `record_attendance`
/// update (body of `POST /api/scanner-bookings/{id}/attendance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceReport {
    /// Request booked.
    pub request_id: String,
    /// What happened.
    pub outcome: ScanAttendance,
    /// Who records it (filled in from the caller's identity by the API).
    #[serde(default)]
    pub recorded_by: String,
}

/// Answer of `POST /api/scanner-bookings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScannerBookingStarted {
    /// Booking run id (also its workflow id).
    pub booking_id: String,
}

/// Answer of `POST /api/scanner-bookings/{id}/attendance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendanceAccepted {
    /// Booking run.
    pub booking_id: String,
    /// The workflow's answer.
    pub result: String,
}

/// Where a booking run stands (the workflow's `status` query).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerBookingStatus {
    /// Stage.
    pub stage: ScannerStage,
    /// Revision being worked on or last made.
    pub revision: u32,
    /// Approval task, while one is open.
    pub task_id: Option<String>,
    /// Times approval tasks escalated.
    pub escalations: u32,
    /// The latest proposal.
    pub proposal: Option<ScannerBookingProposal>,
    /// Bookings whose attendance is recorded.
    pub attendance_recorded: u32,
    /// Attendance reports the store refused (the recorder holds no imaging role).
    pub attendance_refused: u32,
}

/// How a booking run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerBookingOutcome {
    /// Closed, rejected, infeasible or cancelled.
    pub stage: ScannerStage,
    /// Booking run.
    pub booking_id: String,
    /// Revisions made.
    pub revisions: u32,
    /// The booked revision, if any.
    pub booked: Option<ScannerBookingProposal>,
    /// Why it ended, in words.
    pub reason: Option<String>,
}

/// A stored revision of a booking run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerBookingRecord {
    /// Booking run.
    pub booking_id: String,
    /// Revision.
    pub revision: u32,
    /// Workflow that made it.
    pub workflow_id: String,
    /// proposed, booked, rejected, infeasible or cancelled.
    pub status: String,
    /// Who asked for it.
    pub requested_by: String,
    /// When proposed.
    pub created_at: String,
    /// What the approver saw.
    pub proposal: ScannerBookingProposal,
    /// Who decided (`careflow` when booked within policy).
    pub decided_by: Option<String>,
    /// Why.
    pub decision_reason: Option<String>,
}

/// A booking's predicted no-show probability beside what happened: the rows the
/// no-show model is validated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoShowOutcome {
    /// Booking run.
    pub booking_id: String,
    /// Request.
    pub request_id: String,
    /// Modality.
    pub modality: String,
    /// Predicted probability.
    pub predicted: f64,
    /// Whether the patient missed the scan.
    pub no_show: bool,
    /// Model version that predicted it.
    pub model_version: String,
    /// Its sha256.
    pub model_sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week() -> ScannerWeekRequest {
        serde_json::from_value(serde_json::json!({
            "week_start": "2027-03-01",
            "scanners": [{"scanner_id": "CT1", "modality": "ct", "contrast": true}],
            "requests": [{"request_id": "R1", "patient_key": "PK-1", "modality": "ct",
                          "urgency": "routine", "deadline_day": 3, "age_years": 50}],
            "requested_by": "imaging.ivy"
        }))
        .expect("week")
    }

    #[test]
    fn defaults_fill_the_optional_fields() {
        let w = week();
        assert!(w.validate().is_ok(), "{:?}", w.validate());
        assert_eq!((w.days, w.slots_per_day, w.solve_seconds), (5, 16, 10));
        assert_eq!(w.policy, ScanBookingPolicy::default());
        assert!(w.requests[0].reminder_sent);
    }

    #[test]
    fn every_problem_is_located() {
        let mut w = week();
        w.days = 9;
        w.requests[0].patient_key = "MRN-12345".into();
        w.requests[0].deadline_day = 0;
        w.requests[0].release_day = 2;
        w.requests[0].slots = 0;
        w.scanners[0].closures.push(ScannerClosure {
            day: 0,
            from_slot: 10,
            to_slot: 4,
        });
        let fields: Vec<String> = w
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "days",
                "scanners[0].closures[0].to_slot",
                "requests[0].patient_key",
                "requests[0].deadline_day",
                "requests[0].slots",
            ]
        );
    }
}
