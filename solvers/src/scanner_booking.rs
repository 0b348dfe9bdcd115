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

use std::collections::HashMap;

use good_lp::{Expression, Variable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::bed_allocation::{from_json, InputError};
use crate::highs::{HighsError, HighsSettings, Milp};
use crate::solve::{ProgressSink, SolveOptions, SolveStatus};

/// Imaging modality.
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
    pub fn from_json(text: &str) -> Result<Self, ScannerError> {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScannerPlan {
    /// Optimal or time limit.
    pub status: SolveStatus,
    /// Booked scans.
    pub bookings: Vec<ScanBooking>,
    /// Requests left for a later plan.
    pub unbooked: Vec<String>,
    /// Load per scanner-day.
    pub scanner_days: Vec<ScannerDay>,
    /// Cost by term.
    pub cost: ScannerCost,
    /// Lower bound on the total (of the last MILP).
    pub bound: Option<f64>,
    /// Relative MIP gap (of the last MILP).
    pub mip_gap: Option<f64>,
}

/// Why a scanner plan could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScannerError {
    /// The input contradicts itself.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Malformed JSON.
    #[error("malformed input: {0}")]
    // Not a `source`: the message already carries the location, and error chains
    // would print it twice.
    Parse(InputError),
    /// These constraints cannot all hold.
    #[error("infeasible: {}", conflicts.join("; "))]
    Infeasible {
        /// In hospital words.
        conflicts: Vec<String>,
    },
    /// No plan within the time limit.
    #[error("no plan found within the time limit")]
    NoPlanInTime,
    /// HiGHS failed.
    #[error(transparent)]
    Highs(#[from] HighsError),
}

fn open_slots(input: &ScannerInput, k: usize, d: u32) -> u32 {
    let closed: u32 = input.scanners[k]
        .maintenance
        .iter()
        .filter(|m| m.day == d)
        .map(|m| {
            m.to_slot
                .min(input.slots_per_day)
                .saturating_sub(m.from_slot)
        })
        .sum();
    input.slots_per_day.saturating_sub(closed)
}

fn allowed(input: &ScannerInput, r: &ScanRequest, k: usize, d: u32) -> bool {
    let s = &input.scanners[k];
    let hard_deadline = r.urgency != Urgency::Routine;
    s.modality == r.modality
        && (!r.contrast || s.contrast)
        && (!r.anaesthesia || s.anaesthesia_days.contains(&d))
        && d >= r.release_day
        && (!hard_deadline || d <= r.deadline_day)
}

struct Built {
    milp: Milp,
    x: Vec<Vec<(usize, u32, Variable)>>,
    urgent_slack: Vec<(usize, Variable)>,
    cap_slack: Vec<(usize, u32, Variable)>,
    mean_slack: Vec<(usize, u32, Variable)>,
    hint: Vec<(Variable, f64)>,
}

// Elastic prices: a missing urgent scan is the last resort; a slot over the limit names
// the full scanner-day first.
const ELASTIC_REQUEST: f64 = 1e5;
const ELASTIC_SLOT: f64 = 1e3;

fn build(
    input: &ScannerInput,
    caps: &HashMap<(usize, u32), u32>,
    previous: &[Option<(usize, u32)>],
    elastic: bool,
) -> Built {
    let p = &input.policy;
    let mut m = Milp::new();
    let mut x = Vec::new();
    let mut hint = Vec::new();
    let mut urgent_slack = Vec::new();
    let mut cap_slack = Vec::new();
    let mut mean_slack = Vec::new();
    let nk = input.scanners.len();
    let mut booked: HashMap<(usize, u32), Expression> = HashMap::new();
    let mut expected: HashMap<(usize, u32), Expression> = HashMap::new();
    let mut anaesthesia: HashMap<(usize, u32), Expression> = HashMap::new();
    for (ri, r) in input.requests.iter().enumerate() {
        let mut row = Vec::new();
        let mut once = Expression::from(0.0);
        for k in 0..nk {
            for d in 0..input.days {
                if !allowed(input, r, k, d) {
                    continue;
                }
                let v = m.binary();
                row.push((k, d, v));
                once += v;
                *booked.entry((k, d)).or_default() += r.slots as f64 * v;
                *expected.entry((k, d)).or_default() +=
                    r.slots as f64 * (1.0 - r.no_show_probability) * v;
                if r.anaesthesia {
                    *anaesthesia.entry((k, d)).or_default() += v;
                }
                if d > r.deadline_day {
                    m.minimise(p.late_day * (d - r.deadline_day) as f64 * v);
                }
                if previous[ri].is_some_and(|q| q != (k, d)) {
                    m.minimise(p.change * v);
                }
                hint.push((v, f64::from(u8::from(previous[ri] == Some((k, d))))));
            }
        }
        if r.urgency == Urgency::Routine {
            m.minimise(p.unbooked_routine - p.unbooked_routine * once.clone());
            m.constrain(once.leq(1.0));
        } else {
            if elastic {
                let u = m.continuous(0.0, 1.0);
                m.minimise(ELASTIC_REQUEST * u);
                urgent_slack.push((ri, u));
                once += u;
            }
            m.constrain(once.eq(1.0));
        }
        x.push(row);
    }
    let mut keys: Vec<(usize, u32)> = booked.keys().copied().collect();
    keys.sort();
    for key in keys {
        let open = open_slots(input, key.0, key.1) as f64;
        let over = m.continuous(0.0, f64::INFINITY);
        let b = booked[&key].clone();
        // over >= booked - open: the overbooked slots, priced.
        m.constrain((Expression::from(over) - b.clone()).geq(-open));
        m.minimise(p.overbooked_slot * over);
        let cap = caps
            .get(&key)
            .map_or(open + p.max_overbooked_slots as f64, |&c| c as f64);
        let mut lhs = b;
        if elastic {
            let s = m.continuous(0.0, f64::INFINITY);
            m.minimise(ELASTIC_SLOT * s);
            cap_slack.push((key.0, key.1, s));
            lhs -= s;
        }
        m.constrain(lhs.leq(cap));
        // The mean load bounds the expected overtime from below; the exact check follows.
        let mut mean = expected[&key].clone();
        if elastic {
            let s = m.continuous(0.0, f64::INFINITY);
            m.minimise(ELASTIC_SLOT * s);
            mean_slack.push((key.0, key.1, s));
            mean -= s;
        }
        m.constrain(mean.leq(open + p.max_expected_overtime_slots));
        if let Some(a) = anaesthesia.get(&key) {
            m.constrain(a.clone().leq(p.max_anaesthesia_cases as f64));
        }
    }
    Built {
        milp: m,
        x,
        urgent_slack,
        cap_slack,
        mean_slack,
        hint,
    }
}

/// E[(S - open)+] where S = sum of slots of the requests that show up, each independently.
fn expected_overtime(input: &ScannerInput, list: &[usize], open: u32) -> f64 {
    let total: usize = list.iter().map(|&r| input.requests[r].slots as usize).sum();
    let mut dist = vec![0.0; total + 1];
    dist[0] = 1.0;
    for &r in list {
        let req = &input.requests[r];
        let q = 1.0 - req.no_show_probability;
        let s = req.slots as usize;
        for v in (0..=total).rev() {
            let came = if v >= s { dist[v - s] * q } else { 0.0 };
            dist[v] = dist[v] * (1.0 - q) + came;
        }
    }
    dist.iter()
        .enumerate()
        .map(|(v, pr)| pr * (v as f64 - open as f64).max(0.0))
        .sum()
}

/// Books scans. Infeasible inputs are explained.
pub fn solve(
    input: &ScannerInput,
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<ScannerPlan, ScannerError> {
    for r in &input.requests {
        if !(0.0..1.0).contains(&r.no_show_probability) {
            return Err(ScannerError::Invalid(format!(
                "request {}: no_show_probability must be in [0, 1)",
                r.id
            )));
        }
        if r.slots == 0 {
            return Err(ScannerError::Invalid(format!(
                "request {}: zero slots",
                r.id
            )));
        }
    }
    let scanner_ix: HashMap<&str, usize> = input
        .scanners
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
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
    let stranded = stranded_urgent(input);
    if !stranded.is_empty() {
        return Err(ScannerError::Infeasible {
            conflicts: stranded,
        });
    }
    let mut caps: HashMap<(usize, u32), u32> = HashMap::new();
    // Each round either meets every expected-overtime bound or lowers one booking cap, so
    // the loop ends; the bound of 50 only guards against a pathological input.
    for _ in 0..50 {
        let remaining = (opts.time_limit.as_secs_f64() - settings.elapsed_s()).max(0.1);
        let built = build(input, &caps, &previous, false);
        let hint = (!input.previous.is_empty()).then(|| built.hint.clone());
        let r = built.milp.solve(
            &settings.with_time_limit(remaining),
            hint.as_deref(),
            progress,
        )?;
        let Some(values) = r.values else {
            if r.status == SolveStatus::Infeasible {
                return Err(ScannerError::Infeasible {
                    conflicts: explain(input, &caps, &previous, &settings)?,
                });
            }
            return Err(ScannerError::NoPlanInTime);
        };
        let mut lists: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
        for (ri, row) in built.x.iter().enumerate() {
            if let Some(&(k, d, _)) = row.iter().find(|(_, _, v)| values.is_one(*v)) {
                lists.entry((k, d)).or_default().push(ri);
            }
        }
        let mut tightened = false;
        for (&key, list) in &lists {
            let open = open_slots(input, key.0, key.1);
            let e = expected_overtime(input, list, open);
            if e > input.policy.max_expected_overtime_slots + 1e-9 {
                let booked: u32 = list.iter().map(|&r| input.requests[r].slots).sum();
                caps.insert(key, booked - 1);
                tightened = true;
            }
        }
        if !tightened {
            return Ok(plan(input, &lists, &previous, r.status, r.bound, r.mip_gap));
        }
    }
    Err(ScannerError::NoPlanInTime)
}

fn plan(
    input: &ScannerInput,
    lists: &HashMap<(usize, u32), Vec<usize>>,
    previous: &[Option<(usize, u32)>],
    status: SolveStatus,
    bound: Option<f64>,
    mip_gap: Option<f64>,
) -> ScannerPlan {
    let p = &input.policy;
    let mut cost = ScannerCost::default();
    let mut bookings = Vec::new();
    let mut scanner_days = Vec::new();
    let mut booked_ids = vec![false; input.requests.len()];
    let mut keys: Vec<&(usize, u32)> = lists.keys().collect();
    keys.sort();
    for &key in keys {
        let (k, d) = key;
        let mut list = lists[&key].clone();
        // Most urgent first; among equals, the likeliest to come first so that those
        // pushed into shared slots are the likeliest no-shows.
        list.sort_by(|&a, &b| {
            let (ra, rb) = (&input.requests[a], &input.requests[b]);
            ra.urgency
                .cmp(&rb.urgency)
                .then(ra.no_show_probability.total_cmp(&rb.no_show_probability))
        });
        let open: Vec<u32> = (0..input.slots_per_day)
            .filter(|s| {
                !input.scanners[k]
                    .maintenance
                    .iter()
                    .any(|m| m.day == d && (m.from_slot..m.to_slot).contains(s))
            })
            .collect();
        let mut next = 0usize;
        let mut booked_slots = 0;
        for &r in &list {
            let req = &input.requests[r];
            let overbooked = next >= open.len();
            let at = if overbooked {
                // Shares the slot of the request least likely to come.
                (next - open.len()) % open.len().max(1)
            } else {
                next
            };
            bookings.push(ScanBooking {
                request: req.id.clone(),
                scanner: input.scanners[k].id.clone(),
                day: d,
                start_slot: open.get(at).copied().unwrap_or(0),
                overbooked,
            });
            next += req.slots as usize;
            booked_slots += req.slots;
            booked_ids[r] = true;
            if d > req.deadline_day {
                cost.late_days += d - req.deadline_day;
            }
            if previous[r].is_some_and(|q| q != (k, d)) {
                cost.changes += 1;
            }
        }
        let open_n = open.len() as u32;
        cost.overbooked_slots += booked_slots.saturating_sub(open_n);
        scanner_days.push(ScannerDay {
            scanner: input.scanners[k].id.clone(),
            day: d,
            open_slots: open_n,
            booked_slots,
            expected_overtime_slots: expected_overtime(input, &list, open_n),
        });
    }
    let unbooked: Vec<String> = input
        .requests
        .iter()
        .zip(&booked_ids)
        .filter(|(_, b)| !**b)
        .map(|(r, _)| r.id.clone())
        .collect();
    cost.unbooked = unbooked.len() as u32;
    cost.total = p.unbooked_routine * cost.unbooked as f64
        + p.late_day * cost.late_days as f64
        + p.change * cost.changes as f64
        + p.overbooked_slot * cost.overbooked_slots as f64;
    ScannerPlan {
        status,
        bookings,
        unbooked,
        scanner_days,
        cost,
        bound,
        mip_gap,
    }
}

fn explain(
    input: &ScannerInput,
    caps: &HashMap<(usize, u32), u32>,
    previous: &[Option<(usize, u32)>],
    settings: &HighsSettings,
) -> Result<Vec<String>, ScannerError> {
    let out = stranded_urgent(input);
    if !out.is_empty() {
        return Ok(out);
    }
    let mut out = Vec::new();
    let b = build(input, caps, previous, true);
    let r = b.milp.solve(settings, None, &mut |_| {})?;
    let Some(v) = r.values else {
        return Err(ScannerError::NoPlanInTime);
    };
    for &(k, d, s) in &b.cap_slack {
        let extra = v.get(s);
        if extra > 0.5 {
            let open = open_slots(input, k, d);
            out.push(format!(
                "scanner {} on day {d}: {:.0} slots of urgent scans, {open} open + {} overbooking allowed ({} closed for maintenance)",
                input.scanners[k].id,
                open as f64 + input.policy.max_overbooked_slots as f64 + extra,
                input.policy.max_overbooked_slots,
                input.slots_per_day - open
            ));
        }
    }
    for &(k, d, s) in &b.mean_slack {
        let extra = v.get(s);
        if extra > 1e-6 {
            let open = open_slots(input, k, d);
            let allowed = open as f64 + input.policy.max_expected_overtime_slots;
            out.push(format!(
                "scanner {} on day {d}: {:.1} slots of scans expected to come, {open} open + {} expected overtime allowed",
                input.scanners[k].id,
                allowed + extra,
                input.policy.max_expected_overtime_slots
            ));
        }
    }
    for &(ri, u) in &b.urgent_slack {
        if v.get(u) > 0.5 {
            let r = &input.requests[ri];
            out.push(format!(
                "{:?} request {} cannot be scanned by day {}: every suitable scanner-day is full",
                r.urgency, r.id, r.deadline_day
            ));
        }
    }
    if out.is_empty() {
        out.push(
            "expected-overtime bound cannot be met with the urgent scans (loosen max_expected_overtime_slots)"
                .into(),
        );
    }
    Ok(out)
}

fn stranded_urgent(input: &ScannerInput) -> Vec<String> {
    let mut out = Vec::new();
    for r in &input.requests {
        if r.urgency == Urgency::Routine {
            continue;
        }
        let any =
            (0..input.scanners.len()).any(|k| (0..input.days).any(|d| allowed(input, r, k, d)));
        if !any {
            let mut needs = vec![format!("{:?}", r.modality).to_uppercase()];
            if r.contrast {
                needs.push("contrast".into());
            }
            if r.anaesthesia {
                needs.push("anaesthesia".into());
            }
            out.push(format!(
                "{:?} request {} needs {} between day {} and day {} and no scanner offers it",
                r.urgency,
                r.id,
                needs.join(" + "),
                r.release_day,
                r.deadline_day
            ));
        }
    }
    out
}

/// A demo imaging week: `size` scanners of each modality (the first of each gives
/// contrast, MRI 1 has anaesthesia on two days, one maintenance window), 16 slots a day,
/// requests at about 110% of capacity with outpatient no-show rates of 5-20%.
pub fn generate(seed: u64, size: usize) -> ScannerInput {
    let mut rng = StdRng::seed_from_u64(seed);
    let days = 5;
    let slots_per_day = 16;
    let n = size.max(1);
    let mut scanners = Vec::new();
    for (modality, name) in [(Modality::Ct, "CT"), (Modality::Mri, "MRI")] {
        for i in 0..n {
            scanners.push(Scanner {
                id: format!("{name}{}", i + 1),
                modality,
                contrast: i == 0,
                maintenance: if i == n - 1 {
                    vec![Maintenance {
                        day: rng.random_range(0..days),
                        from_slot: 8,
                        to_slot: 12,
                    }]
                } else {
                    Vec::new()
                },
                anaesthesia_days: if modality == Modality::Mri && i == 0 {
                    vec![1, 3]
                } else {
                    Vec::new()
                },
            });
        }
    }
    let capacity = 2 * n as u32 * days * slots_per_day;
    let mut requests = Vec::new();
    let mut load = 0;
    let mut urgent_load = [[0u32; 5]; 2];
    let mut i = 0;
    while load < capacity * 11 / 10 {
        i += 1;
        let modality = if rng.random_bool(0.5) {
            Modality::Ct
        } else {
            Modality::Mri
        };
        let urgency = match rng.random_range(0..20) {
            0 => Urgency::Emergency,
            1..=4 => Urgency::Urgent,
            _ => Urgency::Routine,
        };
        let slots = if modality == Modality::Mri {
            rng.random_range(1..=3)
        } else {
            1
        };
        let release_day = rng.random_range(0..days);
        // Urgent work is kept under half of a modality's daily slots so the week is
        // always feasible; the excess joins the routine list.
        let per_day = &mut urgent_load[modality as usize][release_day as usize];
        let urgency = if urgency != Urgency::Routine && *per_day + slots <= n as u32 * 6 {
            *per_day += slots;
            urgency
        } else {
            Urgency::Routine
        };
        let inpatient = urgency != Urgency::Routine;
        requests.push(ScanRequest {
            id: format!("R{i}"),
            modality,
            urgency,
            release_day,
            deadline_day: match urgency {
                Urgency::Emergency => release_day,
                Urgency::Urgent => release_day + 1,
                Urgency::Routine => release_day + rng.random_range(2..10),
            },
            slots,
            contrast: urgency == Urgency::Routine && rng.random_bool(0.25),
            anaesthesia: modality == Modality::Mri
                && urgency == Urgency::Routine
                && rng.random_bool(0.03),
            no_show_probability: if inpatient {
                0.0
            } else {
                rng.random_range(0.05..0.2)
            },
        });
        load += slots;
    }
    ScannerInput {
        days,
        slots_per_day,
        scanners,
        requests,
        policy: ScannerPolicy::default(),
        previous: Vec::new(),
    }
}

impl From<InputError> for ScannerError {
    fn from(e: InputError) -> Self {
        ScannerError::Parse(e)
    }
}
