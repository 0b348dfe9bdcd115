//! Scanner booking: CT and MRI requests to a scanner, a day and slots.
//!
//! Sets: requests r (modality, urgency, release day, deadline, length in slots, contrast,
//! anaesthesia, no-show probability), scanners k (modality, contrast capable, maintenance
//! windows, days with an anaesthetist), days d, slots per day.
//! Decision: x[r,k,d] = 1 when r is scanned on k on d (matching modality, contrast
//! capable if needed, an anaesthetist present if needed, no earlier than release).
//! Hard: emergency and urgent requests booked by their deadline; each request at most
//! once; booked slots <= open slots (slots minus maintenance) + overbooking allowance;
//! anaesthesia cases per scanner-day <= limit; expected overtime
//! E[(shown-up slots - open slots)+] <= `max_expected_overtime_slots`, with show-ups
//! independent Bernoulli(1 - no_show). That last bound is not linear: the MILP bounds
//! the mean load, then the exact expectation is computed for each scanner-day of the
//! plan and any day over the bound gets a tighter booking cap and is solved again.
//! Objective (terms in [`ScannerCost`]): unbooked routine requests, days late (routine
//! past deadline), changes against the previous plan, overbooked slots (a small price so
//! overbooking is used only where it books someone).
//! After the MILP each day's list is laid out on the open slots, most urgent first;
//! overbooked requests share a slot with the request least likely to come.
//!
//! Files: this one holds the input and plan types and [`solve`]; `model.rs` the MILP,
//! the exact expected overtime and the slot layout, `explain.rs` the conflicts of an
//! impossible input, `check.rs` the independent checker [`violations`], `generate.rs`
//! the demo/test generator [`generate`].

mod check;
mod explain;
mod generate;
mod model;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use crate::error::{Conflict, ConflictKind, SolveError};
use crate::highs::HighsSettings;
use crate::input::{from_json, index_by_id};
use crate::plan::PlanHeader;
use crate::solve::{ProgressSink, SolveOptions, SolveStatus};
pub use check::violations;
pub use explain::{binding, why_waiting};
pub use generate::generate;

/// The model's name in plan headers.
pub const MODEL: &str = "scanner_booking";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Computed tomography.
    Ct,
    /// Magnetic resonance.
    Mri,
}

/// Clinical urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    /// Must be scanned by the deadline (hours).
    Emergency,
    /// Must be scanned by the deadline (days).
    Urgent,
    /// Should be scanned by the deadline.
    Routine,
}

/// A maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Maintenance {
    /// Day.
    pub day: u32,
    /// First slot closed.
    pub from_slot: u32,
    /// First slot open again.
    pub to_slot: u32,
}

/// A scanner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scanner {
    /// ID.
    pub id: String,
    /// Modality.
    pub modality: Modality,
    /// Can give contrast (injector and staff).
    pub contrast: bool,
    /// Closed windows.
    #[serde(default)]
    pub maintenance: Vec<Maintenance>,
    /// Days an anaesthetist is on the scanner.
    #[serde(default)]
    pub anaesthesia_days: Vec<u32>,
}

/// A scan request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// ID.
    pub id: String,
    /// Modality.
    pub modality: Modality,
    /// Urgency.
    pub urgency: Urgency,
    /// Earliest day.
    #[serde(default)]
    pub release_day: u32,
    /// Last day (hard for emergency and urgent).
    pub deadline_day: u32,
    /// Slots the scan takes.
    pub slots: u32,
    /// Needs contrast.
    #[serde(default)]
    pub contrast: bool,
    /// Needs anaesthesia.
    #[serde(default)]
    pub anaesthesia: bool,
    /// Probability the patient does not come (0 for inpatients).
    #[serde(default)]
    pub no_show_probability: f64,
}

/// Limits and prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerPolicy {
    /// Booked slots beyond the open ones per scanner-day.
    pub max_overbooked_slots: u32,
    /// Bound on expected overtime slots per scanner-day.
    pub max_expected_overtime_slots: f64,
    /// Anaesthesia cases per scanner-day.
    pub max_anaesthesia_cases: u32,
    /// Per unbooked routine request.
    pub unbooked_routine: f64,
    /// Per day a routine request is late.
    pub late_day: f64,
    /// Per request moved from its previous booking.
    pub change: f64,
    /// Per overbooked slot.
    pub overbooked_slot: f64,
}

impl Default for ScannerPolicy {
    fn default() -> Self {
        Self {
            max_overbooked_slots: 2,
            max_expected_overtime_slots: 0.5,
            max_anaesthesia_cases: 3,
            unbooked_routine: 100.0,
            late_day: 10.0,
            change: 5.0,
            overbooked_slot: 1.0,
        }
    }
}

/// A previous booking (warm start and change penalty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousScan {
    /// Request ID.
    pub request: String,
    /// Scanner ID.
    pub scanner: String,
    /// Day.
    pub day: u32,
}

/// Everything a scanner booking needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerInput {
    /// Days planned.
    pub days: u32,
    /// Slots per day.
    pub slots_per_day: u32,
    /// Scanners.
    pub scanners: Vec<Scanner>,
    /// Requests.
    pub requests: Vec<ScanRequest>,
    /// Limits and prices.
    #[serde(default)]
    pub policy: ScannerPolicy,
    /// The plan being revised.
    #[serde(default)]
    pub previous: Vec<PreviousScan>,
}

impl ScannerInput {
    /// Reads an input from JSON (errors located by line, column and field path).
    pub fn from_json(text: &str) -> Result<Self, SolveError> {
        Ok(from_json(text)?)
    }
}

/// A booked scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanBooking {
    /// Request ID.
    pub request: String,
    /// Scanner ID.
    pub scanner: String,
    /// Day.
    pub day: u32,
    /// First slot.
    pub start_slot: u32,
    /// Shares its slots with another booking (overbooking).
    pub overbooked: bool,
}

/// Expected load of one scanner-day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerDay {
    /// Scanner ID.
    pub scanner: String,
    /// Day.
    pub day: u32,
    /// Open slots.
    pub open_slots: u32,
    /// Booked slots.
    pub booked_slots: u32,
    /// Exact expected overtime slots under independent no-shows.
    pub expected_overtime_slots: f64,
}

/// The objective by term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScannerCost {
    /// Unbooked routine requests.
    pub unbooked: u32,
    /// Days late (routine).
    pub late_days: u32,
    /// Requests moved from the previous plan.
    pub changes: u32,
    /// Overbooked slots.
    pub overbooked_slots: u32,
    /// Weighted total.
    pub total: f64,
}

/// A scanner plan.
/// A scanner plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerPlan {
    /// Model, status, objective, bound and gap (of the last MILP), time and solver settings.
    #[serde(flatten)]
    pub header: PlanHeader,
    /// Booked scans.
    pub bookings: Vec<ScanBooking>,
    /// Requests left for a later plan.
    pub unbooked: Vec<String>,
    /// Load per scanner-day.
    pub scanner_days: Vec<ScannerDay>,
    /// Cost by term.
    pub cost: ScannerCost,
}

/// Books scans. Infeasible inputs are explained.
pub fn solve(
    input: &ScannerInput,
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<ScannerPlan, SolveError> {
    for r in &input.requests {
        if !(0.0..1.0).contains(&r.no_show_probability) {
            return Err(SolveError::Invalid(format!(
                "request {}: no_show_probability must be in [0, 1)",
                r.id
            )));
        }
        if r.slots == 0 {
            return Err(SolveError::Invalid(format!("request {}: zero slots", r.id)));
        }
    }
    let scanner_ix = index_by_id(&input.scanners, |s| &s.id);
    let mut previous = vec![None; input.requests.len()];
    for b in &input.previous {
        if let (Some(r), Some(&k)) = (
            input.requests.iter().position(|r| r.id == b.request),
            scanner_ix.get(b.scanner.as_str()),
        ) {
            previous[r] = Some((k, b.day));
        }
    }
    let settings = HighsSettings::new(opts);
    // Urgent requests no scanner-day can take are named before any solve (a row with no
    // variable would not reach HiGHS).
    let stranded = explain::stranded_urgent(input);
    if !stranded.is_empty() {
        return Err(SolveError::Infeasible {
            conflicts: stranded,
        });
    }
    let mut caps: HashMap<(usize, u32), u32> = HashMap::new();
    // Each round either meets every expected-overtime bound or lowers one booking cap, so
    // the loop ends; the bound of 50 only guards against a pathological input.
    for _ in 0..50 {
        let remaining = (opts.time_limit.as_secs_f64() - settings.elapsed_s()).max(0.1);
        let built = model::build(input, &caps, &previous, false);
        let hint = (!input.previous.is_empty()).then(|| built.hint.clone());
        let r = built.milp.solve(
            &settings.with_time_limit(remaining),
            hint.as_deref(),
            progress,
        )?;
        let Some(values) = r.values else {
            if r.status == SolveStatus::Infeasible {
                return Err(SolveError::Infeasible {
                    conflicts: explain::explain(input, &caps, &previous, &settings)?,
                });
            }
            return Err(SolveError::NoPlanInTime);
        };
        let mut lists: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
        for (ri, row) in built.x.iter().enumerate() {
            if let Some(&(k, d, _)) = row.iter().find(|(_, _, v)| values.is_one(*v)) {
                lists.entry((k, d)).or_default().push(ri);
            }
        }
        let mut tightened = false;
        for (&key, list) in &lists {
            let open = model::open_slots(input, key.0, key.1);
            let e = model::expected_overtime(input, list, open);
            if e > input.policy.max_expected_overtime_slots + 1e-9 {
                let booked: u32 = list.iter().map(|&r| input.requests[r].slots).sum();
                caps.insert(key, booked - 1);
                tightened = true;
            }
        }
        if !tightened {
            let (bookings, unbooked, scanner_days, cost) = model::layout(input, &lists, &previous);
            return Ok(ScannerPlan {
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
                scanner_days,
                cost,
            });
        }
    }
    Err(SolveError::NoPlanInTime)
}
