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

use std::collections::HashMap;

use good_lp::{Expression, Variable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::bed_allocation::{from_json, InputError};
use crate::highs::{HighsError, HighsSettings, Milp};
use crate::solve::{ProgressSink, SolveOptions, SolveStatus};

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
    pub fn from_json(text: &str) -> Result<Self, TheatreError> {
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
    /// Optimal or time limit.
    pub status: SolveStatus,
    /// Booked cases in theatre/day/order order.
    pub bookings: Vec<Booking>,
    /// Cases left for a later plan.
    pub unbooked: Vec<String>,
    /// Cost by term.
    pub cost: TheatreCost,
    /// Lower bound on the total.
    pub bound: Option<f64>,
    /// Relative MIP gap.
    pub mip_gap: Option<f64>,
}

/// Why a theatre plan could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TheatreError {
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

fn planned_minutes(c: &Case, level: f64) -> u32 {
    let mut qs = c.duration_quantiles.clone();
    qs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let v = match qs.iter().position(|q| q.0 >= level) {
        None => qs.last().map_or(0.0, |q| q.1),
        Some(0) => qs[0].1,
        Some(i) => {
            let (l0, v0) = qs[i - 1];
            let (l1, v1) = qs[i];
            v0 + (v1 - v0) * (level - l0) / (l1 - l0)
        }
    };
    v.ceil().max(0.0) as u32
}

struct Built {
    milp: Milp,
    x: Vec<Vec<(usize, u32, Variable)>>,
    over: Vec<(usize, u32, Variable)>,
    /// Elastic slacks: urgent case unbooked, theatre minutes beyond overtime, surgeon
    /// minutes beyond the daily limit.
    urgent_slack: Vec<(usize, Variable)>,
    room_slack: Vec<(usize, u32, Variable)>,
    surgeon_slack: Vec<(usize, u32, Variable)>,
    hint: Vec<(Variable, f64)>,
}

// Elastic prices: an unbooked urgent case costs as much as 1000 minutes over a limit, so
// the explanation names the full list when minutes are short and the case when no list
// can take it at all.
const ELASTIC_PENALTY: f64 = 1e5;
const ELASTIC_MINUTE: f64 = 100.0;

fn build(
    input: &TheatreInput,
    surgeon_of: &[usize],
    dur: &[u32],
    previous: &[Option<(usize, u32)>],
    elastic: bool,
) -> Built {
    let w = &input.weights;
    let mut m = Milp::new();
    let mut x = Vec::new();
    let mut hint = Vec::new();
    let mut urgent_slack = Vec::new();
    let mut room_slack = Vec::new();
    let mut surgeon_slack = Vec::new();
    let nt = input.theatres.len();
    let days = input.days;
    // Planned minutes per theatre/day and per surgeon/day.
    let mut load: Vec<Vec<Expression>> = (0..nt)
        .map(|_| (0..days).map(|_| Expression::from(0.0)).collect())
        .collect();
    let mut s_load: Vec<Vec<Expression>> = (0..input.surgeons.len())
        .map(|_| (0..days).map(|_| Expression::from(0.0)).collect())
        .collect();
    let mut s_vars: HashMap<(usize, usize, u32), Variable> = HashMap::new();
    for (c, case) in input.cases.iter().enumerate() {
        let g = surgeon_of[c];
        let mut row = Vec::new();
        let mut booked = Expression::from(0.0);
        let mut late = Expression::from(0.0);
        for (t, th) in input.theatres.iter().enumerate() {
            for d in case.release_day..days {
                if th.session_minutes.get(d as usize).copied().unwrap_or(0) == 0
                    || !input.surgeons[g].available_days.contains(&d)
                {
                    continue;
                }
                let v = m.binary();
                row.push((t, d, v));
                booked += v;
                load[t][d as usize] += dur[c] as f64 * v;
                s_load[g][d as usize] += dur[c] as f64 * v;
                let sv = *s_vars.entry((g, t, d)).or_insert_with(|| m.binary());
                m.constrain(Expression::from(v).leq(sv));
                if d > case.due_day {
                    late += (d - case.due_day) as f64 * v;
                }
                if previous[c].is_some_and(|p| p != (t, d)) {
                    m.minimise(w.change * v);
                }
                hint.push((v, f64::from(u8::from(previous[c] == Some((t, d))))));
            }
        }
        m.minimise(w.late_day[case.priority as usize] * late);
        match case.priority {
            Priority::Urgent => {
                if elastic {
                    let u = m.continuous(0.0, 1.0);
                    urgent_slack.push((c, u));
                    m.minimise(ELASTIC_PENALTY * u);
                    booked += u;
                }
                m.constrain(booked.eq(1.0));
            }
            p => {
                // Not booked costs the priority's price: price * (1 - booked).
                let price = if p == Priority::Soon {
                    w.unbooked_soon
                } else {
                    w.unbooked_routine
                };
                m.minimise(price - price * booked.clone());
                m.constrain(booked.leq(1.0));
            }
        }
        x.push(row);
    }
    // One theatre per surgeon and day.
    for (g, surgeon) in input.surgeons.iter().enumerate() {
        for d in 0..days {
            let sum: Expression = (0..nt)
                .filter_map(|t| s_vars.get(&(g, t, d)))
                .map(|&v| Expression::from(v))
                .sum();
            m.constrain(sum.leq(1.0));
            let mut l = s_load[g][d as usize].clone();
            if elastic {
                let sl = m.continuous(0.0, f64::INFINITY);
                surgeon_slack.push((g, d, sl));
                m.minimise(ELASTIC_MINUTE * sl);
                l -= sl;
            }
            m.constrain(l.leq(surgeon.max_minutes_per_day as f64));
        }
    }
    let mut over = Vec::new();
    for (t, th) in input.theatres.iter().enumerate() {
        for d in 0..days {
            let session = th.session_minutes.get(d as usize).copied().unwrap_or(0) as f64;
            let o = m.continuous(0.0, th.max_overtime_minutes as f64);
            over.push((t, d, o));
            m.minimise(w.overtime_minute * o);
            let mut l = load[t][d as usize].clone() - o;
            if elastic {
                let sl = m.continuous(0.0, f64::INFINITY);
                room_slack.push((t, d, sl));
                m.minimise(ELASTIC_MINUTE * sl);
                l -= sl;
            }
            m.constrain(l.leq(session));
        }
    }
    // Symmetry: among identical theatres, daily planned minutes do not increase.
    for t in 1..nt {
        let (a, b) = (&input.theatres[t - 1], &input.theatres[t]);
        if a.session_minutes == b.session_minutes
            && a.max_overtime_minutes == b.max_overtime_minutes
        {
            for (hi, lo) in load[t - 1].iter().zip(&load[t]) {
                m.constrain((hi.clone() - lo.clone()).geq(0.0));
            }
        }
    }
    Built {
        milp: m,
        x,
        over,
        urgent_slack,
        room_slack,
        surgeon_slack,
        hint,
    }
}

/// Books cases into theatres. Infeasible inputs are explained.
pub fn solve(
    input: &TheatreInput,
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<TheatrePlan, TheatreError> {
    let surgeon_ix: HashMap<&str, usize> = input
        .surgeons
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let theatre_ix: HashMap<&str, usize> = input
        .theatres
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let surgeon_of = input
        .cases
        .iter()
        .map(|c| {
            surgeon_ix.get(c.surgeon.as_str()).copied().ok_or_else(|| {
                TheatreError::Invalid(format!("case {} names unknown surgeon {}", c.id, c.surgeon))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let dur: Vec<u32> = input
        .cases
        .iter()
        .map(|c| planned_minutes(c, input.weights.robust_level))
        .collect();
    let mut previous = vec![None; input.cases.len()];
    for b in &input.previous {
        if let (Some(c), Some(&t)) = (
            input.cases.iter().position(|c| c.id == b.case),
            theatre_ix.get(b.theatre.as_str()),
        ) {
            previous[c] = Some((t, b.day));
        }
    }
    // Urgent cases with no open list at all are named before any solve (a row with no
    // variable would not reach HiGHS).
    let stranded: Vec<String> = input
        .cases
        .iter()
        .zip(&surgeon_of)
        .filter(|(c, &g)| {
            c.priority == Priority::Urgent
                && !(c.release_day..input.days).any(|d| {
                    input.surgeons[g].available_days.contains(&d)
                        && input.theatres.iter().any(|t| {
                            t.session_minutes.get(d as usize).copied().unwrap_or(0) > 0
                        })
                })
        })
        .map(|(c, _)| {
            format!(
                "urgent case {} cannot be booked: surgeon {} has no theatre list from day {} to day {}",
                c.id,
                c.surgeon,
                c.release_day,
                input.days.saturating_sub(1)
            )
        })
        .collect();
    if !stranded.is_empty() {
        return Err(TheatreError::Infeasible {
            conflicts: stranded,
        });
    }
    let settings = HighsSettings::new(opts);
    let built = build(input, &surgeon_of, &dur, &previous, false);
    let hint = (!input.previous.is_empty()).then(|| built.hint.clone());
    let r = built.milp.solve(&settings, hint.as_deref(), progress)?;
    let Some(values) = r.values else {
        if r.status == SolveStatus::Infeasible {
            return Err(TheatreError::Infeasible {
                conflicts: explain(input, &surgeon_of, &dur, &previous, &settings)?,
            });
        }
        return Err(TheatreError::NoPlanInTime);
    };
    let w = &input.weights;
    let mut cost = TheatreCost::default();
    let mut lists: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
    let mut unbooked = Vec::new();
    for (c, row) in built.x.iter().enumerate() {
        let case = &input.cases[c];
        match row.iter().find(|(_, _, v)| values.is_one(*v)) {
            Some(&(t, d, _)) => {
                lists.entry((t, d)).or_default().push(c);
                let late = d.saturating_sub(case.due_day);
                cost.late_days += late;
                cost.total += w.late_day[case.priority as usize] * late as f64;
                if previous[c].is_some_and(|p| p != (t, d)) {
                    cost.changes += 1;
                    cost.total += w.change;
                }
            }
            None => {
                unbooked.push(case.id.clone());
                cost.unbooked += 1;
                cost.total += match case.priority {
                    Priority::Soon => w.unbooked_soon,
                    _ => w.unbooked_routine,
                };
            }
        }
    }
    for &(t, d, _) in &built.over {
        let session = input.theatres[t]
            .session_minutes
            .get(d as usize)
            .copied()
            .unwrap_or(0);
        let planned: u32 = lists
            .get(&(t, d))
            .map_or(0, |l| l.iter().map(|&c| dur[c]).sum());
        let o = planned.saturating_sub(session) as f64;
        cost.overtime_minutes += o;
        cost.total += w.overtime_minute * o;
    }
    let mut keys: Vec<(usize, u32)> = lists.keys().copied().collect();
    keys.sort();
    let mut bookings = Vec::new();
    for key in keys {
        let mut list = lists[&key].clone();
        // Urgent first, then the longest (its overrun risk is best absorbed early).
        list.sort_by_key(|&c| (input.cases[c].priority, std::cmp::Reverse(dur[c])));
        let mut start = 0;
        for (i, c) in list.into_iter().enumerate() {
            bookings.push(Booking {
                case: input.cases[c].id.clone(),
                theatre: input.theatres[key.0].id.clone(),
                day: key.1,
                order: i as u32,
                start_minute: start,
                planned_minutes: dur[c],
            });
            start += dur[c];
        }
    }
    Ok(TheatrePlan {
        status: r.status,
        bookings,
        unbooked,
        cost,
        bound: r.bound,
        mip_gap: r.mip_gap,
    })
}

fn explain(
    input: &TheatreInput,
    surgeon_of: &[usize],
    dur: &[u32],
    previous: &[Option<(usize, u32)>],
    settings: &HighsSettings,
) -> Result<Vec<String>, TheatreError> {
    let b = build(input, surgeon_of, dur, previous, true);
    let r = b.milp.solve(settings, None, &mut |_| {})?;
    let Some(v) = r.values else {
        return Err(TheatreError::NoPlanInTime);
    };
    let mut out = Vec::new();
    for &(c, u) in &b.urgent_slack {
        if v.get(u) > 0.5 {
            let case = &input.cases[c];
            let g = &input.surgeons[surgeon_of[c]];
            let days: Vec<String> = g
                .available_days
                .iter()
                .filter(|&&d| d >= case.release_day && d < input.days)
                .map(|d| d.to_string())
                .collect();
            out.push(format!(
                "urgent case {} cannot be booked: surgeon {} operates on days [{}] from day {} and those lists are full",
                case.id,
                g.id,
                days.join(", "),
                case.release_day
            ));
        }
    }
    for &(t, d, s) in &b.room_slack {
        let extra = v.get(s);
        if extra > 0.5 {
            let th = &input.theatres[t];
            let session = th.session_minutes.get(d as usize).copied().unwrap_or(0);
            out.push(format!(
                "theatre {} on day {d}: {:.0} planned minutes, {} session + {} overtime available",
                th.id,
                session as f64 + th.max_overtime_minutes as f64 + extra,
                session,
                th.max_overtime_minutes
            ));
        }
    }
    for &(g, d, s) in &b.surgeon_slack {
        let extra = v.get(s);
        if extra > 0.5 {
            let sg = &input.surgeons[g];
            out.push(format!(
                "surgeon {} on day {d}: {:.0} minutes of urgent work, limit {}",
                sg.id,
                sg.max_minutes_per_day as f64 + extra,
                sg.max_minutes_per_day
            ));
        }
    }
    if out.is_empty() {
        out.push("HiGHS proved the booking infeasible but no single group gives way".into());
    }
    Ok(out)
}

/// A demo surgical week: `size` theatres (pairs identical), one surgeon per theatre plus
/// one, about 1.2 sessions' worth of cases per theatre-day (so some wait), a few urgent
/// ones, log-normal-like duration quantiles. Same seed, same week.
pub fn generate(seed: u64, size: usize) -> TheatreInput {
    let mut rng = StdRng::seed_from_u64(seed);
    let days = 5u32;
    let nt = size.max(1);
    let theatres: Vec<Theatre> = (0..nt)
        .map(|t| Theatre {
            id: format!("T{}", t + 1),
            session_minutes: vec![if t % 3 == 2 { 300 } else { 480 }; days as usize],
            max_overtime_minutes: 60,
        })
        .collect();
    let surgeons: Vec<Surgeon> = (0..=nt)
        .map(|g| {
            let mut available: Vec<u32> = (0..days).filter(|_| rng.random_bool(0.7)).collect();
            if available.is_empty() {
                available.push(rng.random_range(0..days));
            }
            Surgeon {
                id: format!("S{}", g + 1),
                available_days: available,
                max_minutes_per_day: 540,
            }
        })
        .collect();
    let procedures = [
        ("hernia repair", 60.0),
        ("cholecystectomy", 90.0),
        ("hip replacement", 120.0),
        ("knee arthroscopy", 45.0),
        ("colectomy", 180.0),
    ];
    let n_cases = (nt as f64 * days as f64 * 4.0) as usize;
    let cases = (0..n_cases)
        .map(|i| {
            let (name, median) = procedures[rng.random_range(0..procedures.len())];
            let median: f64 = median * rng.random_range(0.8..1.2);
            let priority = match rng.random_range(0..20) {
                0 => Priority::Urgent,
                1..=5 => Priority::Soon,
                _ => Priority::Routine,
            };
            let g = rng.random_range(0..surgeons.len());
            let first = surgeons[g].available_days[0];
            Case {
                id: format!("C{}", i + 1),
                surgeon: surgeons[g].id.clone(),
                procedure: name.into(),
                priority,
                release_day: if priority == Priority::Urgent {
                    0
                } else {
                    rng.random_range(0..2)
                },
                due_day: if priority == Priority::Urgent {
                    first
                } else {
                    rng.random_range(1..days + 3)
                },
                duration_quantiles: vec![
                    (0.5, median.round()),
                    (0.8, (median * 1.3).round()),
                    (0.95, (median * 1.7).round()),
                ],
            }
        })
        .collect();
    TheatreInput {
        days,
        theatres,
        surgeons,
        cases,
        weights: TheatreWeights::default(),
        previous: Vec::new(),
    }
}

impl From<InputError> for TheatreError {
    fn from(e: InputError) -> Self {
        TheatreError::Parse(e)
    }
}
