//! The week's operating-theatre lists: the waiting-list cases and the theatre sessions a
//! week starts from, the list proposed for a theatre administrator's approval, and the
//! day-of events (a cancellation, an emergency case, a theatre closed, an extra list
//! staffed) that re-plan it.
//!
//! Cases travel by reference: a case id and the patient's pseudonymous key, never a
//! hospital number or a name, so Temporal's history, tasks and the audit trail hold no
//! patient identifier.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::{Decision, FieldError, ForecastProvenance};

/// Most days a theatre week may plan.
pub const MAX_WEEK_DAYS: u32 = 7;
/// Longest solver time a list may ask for, in seconds.
pub const MAX_LIST_SOLVE_SECONDS: u32 = 300;
/// Longest staffed session, minutes (a 12-hour day).
pub const MAX_SESSION_MINUTES: u32 = 720;
/// Most overtime a theatre may allow per day, minutes.
pub const MAX_OVERTIME_MINUTES: u32 = 240;
/// Most cases one week may list.
pub const MAX_WEEK_CASES: usize = 500;
/// Longest wait a case may report, days (ten years: anything longer is a typing error).
pub const MAX_DAYS_WAITED: u32 = 3650;

/// Surgical prioritisation category of a case (the FSSA clinical guide to surgical
/// prioritisation that NHS England adopted in 2020).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum UrgencyCategory {
    /// Emergency or urgent: within 72 hours (P1a within 24 hours).
    P1,
    /// Within one month.
    P2,
    /// Within three months.
    P3,
    /// Can wait longer than three months.
    P4,
}

impl UrgencyCategory {
    /// Days from listing within which the case should be operated. P4 has no clinical
    /// limit in the guide; the 18-week (126-day) referral-to-treatment standard stands
    /// in for it, a planning assumption.
    pub fn deadline_days(self) -> u32 {
        match self {
            UrgencyCategory::P1 => 3,
            UrgencyCategory::P2 => 30,
            UrgencyCategory::P3 => 90,
            UrgencyCategory::P4 => 126,
        }
    }

    /// The category's name (`P1`...).
    pub fn as_str(self) -> &'static str {
        match self {
            UrgencyCategory::P1 => "P1",
            UrgencyCategory::P2 => "P2",
            UrgencyCategory::P3 => "P3",
            UrgencyCategory::P4 => "P4",
        }
    }
}

impl std::fmt::Display for UrgencyCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One staffed session of a theatre.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheatreSession {
    /// Day of the week planned (0 = `week_start`).
    pub day: u32,
    /// Minutes the session is staffed for (anaesthetist, scrub team, recovery).
    pub staffed_minutes: u32,
}

/// An operating theatre and its sessions this week; a day without a session is closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheatreWeek {
    /// Theatre id.
    pub theatre_id: String,
    /// Its staffed sessions, at most one per day.
    pub sessions: Vec<TheatreSession>,
    /// Overtime the team can stay on per day, minutes.
    #[serde(default = "default_overtime")]
    pub max_overtime_minutes: u32,
}

fn default_overtime() -> u32 {
    60
}

/// A surgeon's operating days this week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurgeonWeek {
    /// Surgeon id (the code the duration model knows, e.g. `S07`).
    pub surgeon_id: String,
    /// Days the surgeon operates (0 = `week_start`).
    pub days: Vec<u32>,
    /// Operating minutes per day at most.
    #[serde(default = "default_surgeon_minutes")]
    pub max_minutes_per_day: u32,
}

fn default_surgeon_minutes() -> u32 {
    540
}

/// A case on the waiting list, by reference: no patient identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitingCase {
    /// Case id (the waiting-list entry).
    pub case_id: String,
    /// The patient's pseudonymous key (from `patients.patient_key`), never an MRN.
    pub patient_key: String,
    /// Procedure code as the duration model knows it (e.g. `lap_cholecystectomy`).
    pub procedure: String,
    /// Specialty (e.g. `general_surgery`).
    pub specialty: String,
    /// Operating surgeon.
    pub surgeon_id: String,
    /// Urgency category.
    pub category: UrgencyCategory,
    /// Days since the case was listed, at `week_start`.
    pub days_waited: u32,
    /// ASA physical status 1-4 (duration feature).
    #[serde(default = "default_asa")]
    pub asa_class: u8,
    /// Body-mass index of 35 or more (duration feature).
    #[serde(default)]
    pub bmi_ge_35: bool,
    /// A resident operates (duration feature).
    #[serde(default)]
    pub teaching_case: bool,
    /// First day the case may be operated (pre-assessment done), 0 = `week_start`.
    #[serde(default)]
    pub release_day: u32,
}

fn default_asa() -> u8 {
    2
}

impl WaitingCase {
    /// The day (relative to `week_start`, negative when already past) by which the
    /// case's category says it should be operated.
    pub fn deadline_day(&self) -> i64 {
        i64::from(self.category.deadline_days()) - i64::from(self.days_waited)
    }
}

/// Body of the future `POST /api/theatre-weeks` and the CLI's theatre command: the
/// week's theatres and waiting list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheatreWeekRequest {
    /// First day of the week (`YYYY-MM-DD`).
    pub week_start: String,
    /// Days planned (1..=7).
    #[serde(default = "default_days")]
    pub days: u32,
    /// Theatres with their staffed sessions.
    pub theatres: Vec<TheatreWeek>,
    /// Surgeons with their operating days.
    pub surgeons: Vec<SurgeonWeek>,
    /// The waiting-list cases to book.
    pub cases: Vec<WaitingCase>,
    /// Share of staffed minutes the lists should fill (0 < t <= 1); sessions below it
    /// are named to the approver.
    #[serde(default = "default_target")]
    pub target_utilisation: f64,
    /// Solver time limit in seconds (1..=300).
    #[serde(default = "default_solve_seconds")]
    pub solve_seconds: u32,
    /// Seed of the solver's random choices (recorded with the decision).
    #[serde(default)]
    pub seed: u64,
    /// Who asked for the list (filled in from the caller's identity by the API); they
    /// may not approve it.
    #[serde(default)]
    pub requested_by: String,
}

fn default_days() -> u32 {
    5
}

fn default_target() -> f64 {
    0.85
}

fn default_solve_seconds() -> u32 {
    10
}

/// An id as careflow accepts it: 1-64 letters, digits, `-`, `_` or `.`.
fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

const ID_RULE: &str = "must be 1-64 characters of letters, digits, '-', '_' or '.'";

impl TheatreWeekRequest {
    /// Checks every field and returns all problems at once, each located by its path
    /// (`cases[3].surgeon_id`).
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.date().is_none() {
            errors.push(FieldError::new(
                "week_start",
                format!("'{}' is not a date of the form YYYY-MM-DD", self.week_start),
            ));
        }
        if !(1..=MAX_WEEK_DAYS).contains(&self.days) {
            errors.push(FieldError::new(
                "days",
                format!("{} is outside 1..={MAX_WEEK_DAYS}", self.days),
            ));
        }
        if !(1..=MAX_LIST_SOLVE_SECONDS).contains(&self.solve_seconds) {
            errors.push(FieldError::new(
                "solve_seconds",
                format!(
                    "{} is outside 1..={MAX_LIST_SOLVE_SECONDS}",
                    self.solve_seconds
                ),
            ));
        }
        if !(self.target_utilisation > 0.0 && self.target_utilisation <= 1.0) {
            errors.push(FieldError::new(
                "target_utilisation",
                format!("{} is not in (0, 1]", self.target_utilisation),
            ));
        }
        if self.requested_by.trim().is_empty() {
            errors.push(FieldError::new(
                "requested_by",
                "must name the requesting user",
            ));
        }
        if self.theatres.is_empty() {
            errors.push(FieldError::new(
                "theatres",
                "must list at least one theatre",
            ));
        }
        let mut theatre_ids = HashSet::new();
        for (i, t) in self.theatres.iter().enumerate() {
            let at = format!("theatres[{i}]");
            if !valid_id(&t.theatre_id) {
                errors.push(FieldError::new(format!("{at}.theatre_id"), ID_RULE));
            } else if !theatre_ids.insert(t.theatre_id.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.theatre_id"),
                    format!("theatre {} is listed twice", t.theatre_id),
                ));
            }
            if t.max_overtime_minutes > MAX_OVERTIME_MINUTES {
                errors.push(FieldError::new(
                    format!("{at}.max_overtime_minutes"),
                    format!(
                        "{} is more than {MAX_OVERTIME_MINUTES}",
                        t.max_overtime_minutes
                    ),
                ));
            }
            let mut days = HashSet::new();
            for (j, s) in t.sessions.iter().enumerate() {
                let at = format!("{at}.sessions[{j}]");
                if s.day >= self.days {
                    errors.push(FieldError::new(
                        format!("{at}.day"),
                        format!("day {} is outside the week's {} days", s.day, self.days),
                    ));
                } else if !days.insert(s.day) {
                    errors.push(FieldError::new(
                        format!("{at}.day"),
                        format!("theatre {} has two sessions on day {}", t.theatre_id, s.day),
                    ));
                }
                if !(1..=MAX_SESSION_MINUTES).contains(&s.staffed_minutes) {
                    errors.push(FieldError::new(
                        format!("{at}.staffed_minutes"),
                        format!("{} is outside 1..={MAX_SESSION_MINUTES}", s.staffed_minutes),
                    ));
                }
            }
        }
        let mut surgeon_ids = HashSet::new();
        for (i, s) in self.surgeons.iter().enumerate() {
            let at = format!("surgeons[{i}]");
            if !valid_id(&s.surgeon_id) {
                errors.push(FieldError::new(format!("{at}.surgeon_id"), ID_RULE));
            } else if !surgeon_ids.insert(s.surgeon_id.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.surgeon_id"),
                    format!("surgeon {} is listed twice", s.surgeon_id),
                ));
            }
            if let Some(d) = s.days.iter().find(|&&d| d >= self.days) {
                errors.push(FieldError::new(
                    format!("{at}.days"),
                    format!("day {d} is outside the week's {} days", self.days),
                ));
            }
            if !(1..=MAX_SESSION_MINUTES).contains(&s.max_minutes_per_day) {
                errors.push(FieldError::new(
                    format!("{at}.max_minutes_per_day"),
                    format!(
                        "{} is outside 1..={MAX_SESSION_MINUTES}",
                        s.max_minutes_per_day
                    ),
                ));
            }
        }
        if self.cases.is_empty() {
            errors.push(FieldError::new("cases", "must list at least one case"));
        } else if self.cases.len() > MAX_WEEK_CASES {
            errors.push(FieldError::new(
                "cases",
                format!(
                    "{} cases is more than {MAX_WEEK_CASES} for one week",
                    self.cases.len()
                ),
            ));
        }
        let mut case_ids = HashSet::new();
        for (i, c) in self.cases.iter().enumerate() {
            let at = format!("cases[{i}]");
            if valid_id(&c.case_id) && !case_ids.insert(c.case_id.as_str()) {
                errors.push(FieldError::new(
                    format!("{at}.case_id"),
                    format!("case {} is listed twice", c.case_id),
                ));
            }
            self.check_case(c, &at, &mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The problems of one case at `at` (its JSON path).
    fn check_case(&self, c: &WaitingCase, at: &str, errors: &mut Vec<FieldError>) {
        if !valid_id(&c.case_id) {
            errors.push(FieldError::new(format!("{at}.case_id"), ID_RULE));
        }
        if !valid_id(&c.patient_key) {
            errors.push(FieldError::new(
                format!("{at}.patient_key"),
                format!("{ID_RULE} (the patient's pseudonymous key, never an MRN)"),
            ));
        }
        for (field, value) in [("procedure", &c.procedure), ("specialty", &c.specialty)] {
            if value.trim().is_empty() || value.len() > 64 {
                errors.push(FieldError::new(
                    format!("{at}.{field}"),
                    "must be 1-64 characters",
                ));
            }
        }
        if !self.surgeons.iter().any(|s| s.surgeon_id == c.surgeon_id) {
            errors.push(FieldError::new(
                format!("{at}.surgeon_id"),
                format!("surgeon {} is not among this week's surgeons", c.surgeon_id),
            ));
        }
        if !(1..=4).contains(&c.asa_class) {
            errors.push(FieldError::new(
                format!("{at}.asa_class"),
                format!("ASA class {} is not 1-4", c.asa_class),
            ));
        }
        if c.days_waited > MAX_DAYS_WAITED {
            errors.push(FieldError::new(
                format!("{at}.days_waited"),
                format!("{} is more than {MAX_DAYS_WAITED}", c.days_waited),
            ));
        }
        if c.release_day >= self.days {
            errors.push(FieldError::new(
                format!("{at}.release_day"),
                format!(
                    "day {} is outside the week's {} days",
                    c.release_day, self.days
                ),
            ));
        }
    }

    /// The parsed first day (call [`Self::validate`] first).
    pub fn date(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(&self.week_start, "%Y-%m-%d").ok()
    }

    /// Checks a day-of event against this week as it stands (events already applied,
    /// `today` the latest day one happened on), every problem located.
    pub fn check_event(&self, event: &DayOfEvent, today: u32) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if event.day >= self.days {
            errors.push(FieldError::new(
                "day",
                format!("day {} is outside the week's {} days", event.day, self.days),
            ));
        } else if event.day < today {
            errors.push(FieldError::new(
                "day",
                format!(
                    "day {} is before day {today}, when the last event was reported",
                    event.day
                ),
            ));
        }
        if event.reported_by.trim().is_empty() {
            errors.push(FieldError::new(
                "reported_by",
                "must name who reports the event",
            ));
        }
        let says_why = |reason: &str, errors: &mut Vec<FieldError>| {
            if reason.trim().len() < 3 {
                errors.push(FieldError::new(
                    "change.reason",
                    "must say why (at least 3 characters)",
                ));
            }
        };
        match &event.change {
            DayOfChange::CaseCancelled { case_id, reason } => {
                if !self.cases.iter().any(|c| &c.case_id == case_id) {
                    errors.push(FieldError::new(
                        "change.case_id",
                        format!("case {case_id} is not on this week's list"),
                    ));
                }
                says_why(reason, &mut errors);
            }
            DayOfChange::EmergencyCase { case } => {
                if self.cases.iter().any(|c| c.case_id == case.case_id) {
                    errors.push(FieldError::new(
                        "change.case.case_id",
                        format!("case {} is already on this week's list", case.case_id),
                    ));
                }
                if case.category != UrgencyCategory::P1 {
                    errors.push(FieldError::new(
                        "change.case.category",
                        format!("an emergency case is P1, not {}", case.category),
                    ));
                }
                // Its release day is the event's day: a value given is not checked.
                let case = WaitingCase {
                    release_day: 0,
                    ..case.clone()
                };
                self.check_case(&case, "change.case", &mut errors);
            }
            DayOfChange::TheatreClosed {
                theatre_id,
                session_day,
                reason,
            } => {
                self.check_session_day(event.day, *session_day, &mut errors);
                match self.theatres.iter().find(|t| &t.theatre_id == theatre_id) {
                    None => errors.push(FieldError::new(
                        "change.theatre_id",
                        format!("theatre {theatre_id} is not among this week's theatres"),
                    )),
                    Some(t) if !t.sessions.iter().any(|s| s.day == *session_day) => {
                        errors.push(FieldError::new(
                            "change.theatre_id",
                            format!("theatre {theatre_id} has no session on day {session_day}"),
                        ))
                    }
                    Some(_) => {}
                }
                says_why(reason, &mut errors);
            }
            DayOfChange::SessionAdded {
                theatre_id,
                session_day,
                staffed_minutes,
            } => {
                self.check_session_day(event.day, *session_day, &mut errors);
                match self.theatres.iter().find(|t| &t.theatre_id == theatre_id) {
                    None => errors.push(FieldError::new(
                        "change.theatre_id",
                        format!("theatre {theatre_id} is not among this week's theatres"),
                    )),
                    Some(t) if t.sessions.iter().any(|s| s.day == *session_day) => {
                        errors.push(FieldError::new(
                            "change.theatre_id",
                            format!(
                                "theatre {theatre_id} already has a session on day {session_day}"
                            ),
                        ))
                    }
                    Some(_) => {}
                }
                if !(1..=MAX_SESSION_MINUTES).contains(staffed_minutes) {
                    errors.push(FieldError::new(
                        "change.staffed_minutes",
                        format!("{staffed_minutes} is outside 1..={MAX_SESSION_MINUTES}"),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// A changed session must lie between the event's day and the week's end.
    fn check_session_day(&self, day: u32, session_day: u32, errors: &mut Vec<FieldError>) {
        if session_day >= self.days || session_day < day {
            errors.push(FieldError::new(
                "change.session_day",
                format!(
                    "day {session_day} is not between the event's day {day} and the week's last day {}",
                    self.days.saturating_sub(1)
                ),
            ));
        }
    }

    /// Applies a checked event: a cancelled case leaves the list, an emergency case
    /// joins it from the event's day, a closed theatre loses the session, an extra
    /// session is added.
    pub fn apply(&mut self, event: &DayOfEvent) {
        match &event.change {
            DayOfChange::CaseCancelled { case_id, .. } => {
                self.cases.retain(|c| &c.case_id != case_id);
            }
            DayOfChange::EmergencyCase { case } => self.cases.push(WaitingCase {
                release_day: event.day,
                ..case.clone()
            }),
            DayOfChange::TheatreClosed {
                theatre_id,
                session_day,
                ..
            } => {
                for t in self
                    .theatres
                    .iter_mut()
                    .filter(|t| &t.theatre_id == theatre_id)
                {
                    t.sessions.retain(|s| s.day != *session_day);
                }
            }
            DayOfChange::SessionAdded {
                theatre_id,
                session_day,
                staffed_minutes,
            } => {
                for t in self
                    .theatres
                    .iter_mut()
                    .filter(|t| &t.theatre_id == theatre_id)
                {
                    t.sessions.push(TheatreSession {
                        day: *session_day,
                        staffed_minutes: *staffed_minutes,
                    });
                }
            }
        }
    }
}

/// Input of the theatre-booking workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreBookingInput {
    /// List id (the key of every side effect; the workflow id by convention).
    pub list_id: String,
    /// The week (validated by the workflow before anything runs).
    pub request: TheatreWeekRequest,
}

/// What changed on the day, as reported to the workflow's `report_event` update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DayOfChange {
    /// A booked or waiting case will not be operated this week.
    CaseCancelled {
        /// The case.
        case_id: String,
        /// Why (patient unwell, did not attend...).
        reason: String,
    },
    /// A P1 case that must join this week's lists from the event's day.
    EmergencyCase {
        /// The case, by reference.
        case: WaitingCase,
    },
    /// A theatre's session is lost (equipment, staffing, infection).
    TheatreClosed {
        /// The theatre.
        theatre_id: String,
        /// The session's day (the event's day or later).
        session_day: u32,
        /// Why.
        reason: String,
    },
    /// An extra session is staffed.
    SessionAdded {
        /// The theatre.
        theatre_id: String,
        /// The session's day (the event's day or later).
        session_day: u32,
        /// Minutes staffed.
        staffed_minutes: u32,
    },
}

/// A day-of event: what changed, on which day of the week, reported by whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayOfEvent {
    /// Day of the week it happens on (0 = `week_start`); lists before it are done and
    /// are not re-planned.
    pub day: u32,
    /// Who reports it (they may not approve the re-plan it causes); the API fills it
    /// in from the caller's identity.
    #[serde(default)]
    pub reported_by: String,
    /// What changed.
    pub change: DayOfChange,
}

impl DayOfEvent {
    /// The event in words, for the approver and the trail.
    pub fn summary(&self) -> String {
        let what = match &self.change {
            DayOfChange::CaseCancelled { case_id, reason } => {
                format!("case {case_id} cancelled ({reason})")
            }
            DayOfChange::EmergencyCase { case } => format!(
                "emergency case {} ({}, surgeon {})",
                case.case_id, case.procedure, case.surgeon_id
            ),
            DayOfChange::TheatreClosed {
                theatre_id,
                session_day,
                reason,
            } => format!("theatre {theatre_id} closed for day {session_day} ({reason})"),
            DayOfChange::SessionAdded {
                theatre_id,
                session_day,
                staffed_minutes,
            } => format!(
                "extra {staffed_minutes}-minute session in theatre {theatre_id} on day {session_day}"
            ),
        };
        format!(
            "{what} on day {}, reported by {}",
            self.day, self.reported_by
        )
    }
}

/// Body of the workflow's `close_week` update: the week's lists are final.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseWeek {
    /// Who closes it.
    pub closed_by: String,
    /// Why (at least a few words).
    pub reason: String,
}

/// Where a theatre week stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TheatreStage {
    /// Started.
    Requested,
    /// Forecasting case durations.
    Forecasting,
    /// Running the optimiser.
    Solving,
    /// Waiting for the theatre administrator.
    AwaitingApproval,
    /// A list is in force; day-of events re-plan it.
    Published,
    /// The proposal was rejected and no list is in force; a day-of change re-plans.
    Rejected,
    /// No list satisfies the hard rules; the conflicts say why (final).
    Infeasible,
    /// The week ended or was closed (final).
    Closed,
    /// The workflow was cancelled; an open proposal was withdrawn (final).
    Cancelled,
}

impl TheatreStage {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            TheatreStage::Requested => "requested",
            TheatreStage::Forecasting => "forecasting",
            TheatreStage::Solving => "solving",
            TheatreStage::AwaitingApproval => "awaiting_approval",
            TheatreStage::Published => "published",
            TheatreStage::Rejected => "rejected",
            TheatreStage::Infeasible => "infeasible",
            TheatreStage::Closed => "closed",
            TheatreStage::Cancelled => "cancelled",
        }
    }
}

/// A case's forecast duration, minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDuration {
    /// Case.
    pub case_id: String,
    /// Expected minutes.
    pub mean_minutes: f64,
    /// 0.1 quantile.
    pub p10_minutes: f64,
    /// Median.
    pub p50_minutes: f64,
    /// 0.9 quantile: the overtime risk is read from it.
    pub p90_minutes: f64,
}

/// The week's duration forecasts with the model that made them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseDurations {
    /// The production `surgery-duration` model that ran, by hash.
    pub provenance: ForecastProvenance,
    /// One per case, in the week's case order.
    pub cases: Vec<CaseDuration>,
    /// The decision step that recorded this forecast (`forecast/r0`).
    pub decision_step: String,
}

/// A booked case in a proposed list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookedCase {
    /// Case.
    pub case_id: String,
    /// The patient's pseudonymous key.
    pub patient_key: String,
    /// Procedure.
    pub procedure: String,
    /// Surgeon.
    pub surgeon_id: String,
    /// Urgency category.
    pub category: UrgencyCategory,
    /// Theatre.
    pub theatre_id: String,
    /// Day of the week.
    pub day: u32,
    /// Place in the day's list (0 first).
    pub order: u32,
    /// Planned start, minutes after the session opens.
    pub start_minute: u32,
    /// Minutes planned (the solver's robust quantile).
    pub planned_minutes: u32,
    /// Median forecast minutes.
    pub p50_minutes: f64,
    /// 0.9 quantile forecast minutes.
    pub p90_minutes: f64,
}

/// One session as the proposal fills it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionLoad {
    /// Theatre.
    pub theatre_id: String,
    /// Day.
    pub day: u32,
    /// Staffed minutes.
    pub staffed_minutes: u32,
    /// Cases booked.
    pub cases: u32,
    /// Minutes planned (robust quantiles).
    pub planned_minutes: u32,
    /// Expected operating minutes (sum of forecast means).
    pub expected_minutes: f64,
    /// Expected minutes over staffed minutes.
    pub utilisation: f64,
    /// Expected minutes past the session's end, from the duration quantiles.
    pub expected_overtime_minutes: f64,
    /// Probability that the list runs past the session's end.
    pub overtime_probability: f64,
}

/// A case the proposal does not book this week, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferredCase {
    /// Case.
    pub case_id: String,
    /// The patient's pseudonymous key.
    pub patient_key: String,
    /// Urgency category.
    pub category: UrgencyCategory,
    /// Days waited at the week's start.
    pub days_waited: u32,
    /// Whether deferring it takes it past its category's deadline.
    pub breaches_deadline: bool,
    /// Why, in words.
    pub reason: String,
}

/// A booked patient the proposal moves or defers, against the list in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingChange {
    /// Case.
    pub case_id: String,
    /// The patient's pseudonymous key.
    pub patient_key: String,
    /// Theatre booked in the list in force.
    pub from_theatre: String,
    /// Day booked in the list in force.
    pub from_day: u32,
    /// Theatre in the proposal; `None` when deferred.
    pub to_theatre: Option<String>,
    /// Day in the proposal; `None` when deferred.
    pub to_day: Option<u32>,
    /// Why, in words.
    pub why: String,
}

/// What the optimiser proposes for the week, as the theatre administrator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreListProposal {
    /// List.
    pub list_id: String,
    /// 0 for the week's first plan, then one per re-plan.
    pub revision: u32,
    /// First day of the week.
    pub week_start: String,
    /// Days planned.
    pub days: u32,
    /// First day re-planned (lists before it were done and are kept as they were).
    pub from_day: u32,
    /// `optimal` or `time_limit`; `infeasible` when no list exists.
    pub solver_status: String,
    /// Weighted objective.
    pub objective: f64,
    /// Relative MIP gap where HiGHS knows it.
    pub mip_gap: Option<f64>,
    /// Seconds the solve took.
    pub solve_seconds: f64,
    /// Booked cases, by theatre, day and order.
    pub booked: Vec<BookedCase>,
    /// Every staffed session with its load.
    pub sessions: Vec<SessionLoad>,
    /// Cases not booked this week, with the reason.
    pub deferred: Vec<DeferredCase>,
    /// Booked patients moved or deferred against the list in force.
    pub changes: Vec<BookingChange>,
    /// Expected minutes over staffed minutes, all sessions.
    pub utilisation: f64,
    /// The utilisation sessions are filled toward.
    pub target_utilisation: f64,
    /// Sessions whose utilisation is below the target.
    pub sessions_below_target: u32,
    /// Expected minutes past the sessions' ends, all sessions.
    pub expected_overtime_minutes: f64,
    /// For an infeasible week: the constraints that cannot all hold.
    pub conflicts: Vec<String>,
    /// The duration model that fed the solver.
    pub durations: ForecastProvenance,
    /// The decision step that made this proposal (`solve/r0`).
    pub decision_step: String,
    /// sha256 of the solver input stored for that step.
    pub snapshot_sha256: String,
    /// The day-of events this revision answers, in words.
    pub replanned_after: Vec<String>,
}

impl TheatreListProposal {
    /// Whether the proposal moves or defers a patient the list in force booked: such a
    /// re-plan goes back to the theatre administrator.
    pub fn moves_booked_patients(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Whether no list satisfies the hard rules.
    pub fn is_infeasible(&self) -> bool {
        !self.conflicts.is_empty()
    }
}

/// How a proposed revision is concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListConclusion {
    /// A person approved or rejected it.
    Decided(Decision),
    /// Published without approval: the re-plan moves no booked patient.
    PublishedUnchanged {
        /// Why no approval was needed, in words.
        reason: String,
    },
}

/// Where a theatre week stands (the workflow's `status` query).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreListStatus {
    /// Stage.
    pub stage: TheatreStage,
    /// Revision being worked on or last made.
    pub revision: u32,
    /// The revision in force, if any.
    pub in_force: Option<u32>,
    /// Approval task, while one is open.
    pub task_id: Option<String>,
    /// Times approval tasks escalated.
    pub escalations: u32,
    /// The latest proposal.
    pub proposal: Option<TheatreListProposal>,
    /// Day-of events applied so far.
    pub events: u32,
}

/// How a theatre week ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreWeekOutcome {
    /// Closed, infeasible or cancelled.
    pub stage: TheatreStage,
    /// List.
    pub list_id: String,
    /// Revisions made.
    pub revisions: u32,
    /// The list in force at the end, if any.
    pub in_force: Option<TheatreListProposal>,
    /// The last proposal (the infeasible one, for an infeasible week).
    pub last_proposal: Option<TheatreListProposal>,
    /// Why it ended, in words.
    pub reason: Option<String>,
}

/// A stored revision of a theatre list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheatreListRecord {
    /// List.
    pub list_id: String,
    /// Revision.
    pub revision: u32,
    /// Workflow that made it.
    pub workflow_id: String,
    /// First day of the week.
    pub week_start: String,
    /// proposed, published, rejected, superseded, infeasible or cancelled.
    pub status: String,
    /// Who asked for it (the week's requester or the event's reporter).
    pub requested_by: String,
    /// When proposed.
    pub created_at: String,
    /// What the approver saw.
    pub proposal: TheatreListProposal,
    /// Who decided (`careflow` when published without approval).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Why.
    pub decision_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week() -> TheatreWeekRequest {
        serde_json::from_value(serde_json::json!({
            "week_start": "2026-12-07",
            "theatres": [{"theatre_id": "T1", "sessions": [{"day": 0, "staffed_minutes": 480}]}],
            "surgeons": [{"surgeon_id": "S01", "days": [0]}],
            "cases": [{"case_id": "C1", "patient_key": "PK-1", "procedure": "colectomy",
                       "specialty": "general_surgery", "surgeon_id": "S01",
                       "category": "P2", "days_waited": 20}],
            "requested_by": "theatre.tom"
        }))
        .expect("week")
    }

    #[test]
    fn defaults_fill_the_optional_fields() {
        let w = week();
        assert!(w.validate().is_ok(), "{:?}", w.validate());
        assert_eq!((w.days, w.solve_seconds, w.seed), (5, 10, 0));
        assert_eq!(w.theatres[0].max_overtime_minutes, 60);
        assert_eq!(w.cases[0].asa_class, 2);
        assert_eq!(w.cases[0].deadline_day(), 10);
    }

    #[test]
    fn every_bad_field_is_located() {
        let mut w = week();
        w.week_start = "2026-02-30".into();
        w.theatres[0].sessions.push(TheatreSession {
            day: 0,
            staffed_minutes: 0,
        });
        w.cases[0].surgeon_id = "S99".into();
        w.cases.push(w.cases[0].clone());
        let fields: Vec<String> = w
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "week_start",
                "theatres[0].sessions[1].day",
                "theatres[0].sessions[1].staffed_minutes",
                "cases[0].surgeon_id",
                "cases[1].case_id",
                "cases[1].surgeon_id",
            ]
        );
    }

    #[test]
    fn events_are_checked_against_the_week_and_applied() {
        let mut w = week();
        let closed = DayOfEvent {
            day: 0,
            reported_by: "nurse.nia".into(),
            change: DayOfChange::TheatreClosed {
                theatre_id: "T1".into(),
                session_day: 0,
                reason: "laminar flow failed".into(),
            },
        };
        assert!(w.check_event(&closed, 0).is_ok());
        let late = DayOfEvent {
            day: 0,
            ..closed.clone()
        };
        assert_eq!(w.check_event(&late, 1).unwrap_err()[0].field, "day");
        w.apply(&closed);
        assert!(w.theatres[0].sessions.is_empty());
        let again = w.check_event(&closed, 0).unwrap_err();
        assert_eq!(again[0].field, "change.theatre_id");

        let mut case = w.cases[0].clone();
        case.case_id = "E1".into();
        let emergency = DayOfEvent {
            day: 2,
            reported_by: "dr.on.call".into(),
            change: DayOfChange::EmergencyCase { case },
        };
        let refused = w.check_event(&emergency, 0).unwrap_err();
        assert_eq!(refused[0].field, "change.case.category");
        let DayOfChange::EmergencyCase { case } = &emergency.change else {
            unreachable!()
        };
        let emergency = DayOfEvent {
            change: DayOfChange::EmergencyCase {
                case: WaitingCase {
                    category: UrgencyCategory::P1,
                    ..case.clone()
                },
            },
            ..emergency
        };
        assert!(w.check_event(&emergency, 0).is_ok());
        w.apply(&emergency);
        assert_eq!(w.cases[1].release_day, 2);
        assert!(emergency.summary().contains("emergency case E1"));
    }

    #[test]
    fn events_read_from_tagged_json() {
        let e: DayOfEvent = serde_json::from_str(
            r#"{"day":1,"reported_by":"a","change":{"kind":"case_cancelled","case_id":"C1","reason":"unwell"}}"#,
        )
        .expect("event");
        assert!(matches!(e.change, DayOfChange::CaseCancelled { .. }));
    }
}
