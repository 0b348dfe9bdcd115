//! The theatre-booking MILP: checked indices of the input, the model (with an elastic
//! variant whose slacks [`super::explain`] reads), and the lists decoded from a solution.

use std::collections::HashMap;

use good_lp::{Expression, Variable};

use super::{Booking, Priority, SolveError, TheatreCost, TheatreInput};
use crate::highs::{Assignment, Milp};
use crate::input::{index_by_id, quantile};

/// Checked indices of the input.
pub(super) struct Index<'a> {
    pub(super) input: &'a TheatreInput,
    /// The surgeon (index) of each case.
    pub(super) surgeon_of: Vec<usize>,
    /// Planned minutes of each case: its `robust_level` duration quantile.
    pub(super) dur: Vec<u32>,
    /// The previous plan's (theatre, day) of each case.
    pub(super) previous: Vec<Option<(usize, u32)>>,
}

impl<'a> Index<'a> {
    pub(super) fn new(input: &'a TheatreInput) -> Result<Self, SolveError> {
        let surgeon_ix = index_by_id(&input.surgeons, |s| &s.id);
        let theatre_ix = index_by_id(&input.theatres, |t| &t.id);
        let surgeon_of = input
            .cases
            .iter()
            .map(|c| {
                surgeon_ix.get(c.surgeon.as_str()).copied().ok_or_else(|| {
                    SolveError::Invalid(format!(
                        "case {} names unknown surgeon {}",
                        c.id, c.surgeon
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dur: Vec<u32> = input
            .cases
            .iter()
            .map(|c| {
                quantile(&c.duration_quantiles, input.weights.robust_level)
                    .ceil()
                    .max(0.0) as u32
            })
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
        Ok(Self {
            input,
            surgeon_of,
            dur,
            previous,
        })
    }
}

pub(super) struct Built {
    pub(super) milp: Milp,
    /// (theatre, day, x[c,t,d]) per case, open lists only.
    pub(super) x: Vec<Vec<(usize, u32, Variable)>>,
    pub(super) over: Vec<(usize, u32, Variable)>,
    /// Elastic slacks: urgent case unbooked, theatre minutes beyond overtime, surgeon
    /// minutes beyond the daily limit.
    pub(super) urgent_slack: Vec<(usize, Variable)>,
    pub(super) room_slack: Vec<(usize, u32, Variable)>,
    pub(super) surgeon_slack: Vec<(usize, u32, Variable)>,
    pub(super) hint: Vec<(Variable, f64)>,
}

// Elastic prices: an unbooked urgent case costs as much as 1000 minutes over a limit, so
// the explanation names the full list when minutes are short and the case when no list
// can take it at all.
const ELASTIC_PENALTY: f64 = 1e5;
const ELASTIC_MINUTE: f64 = 100.0;

pub(super) fn build(ix: &Index, elastic: bool) -> Built {
    let (input, surgeon_of, dur, previous) = (ix.input, &ix.surgeon_of, &ix.dur, &ix.previous);
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
    // Symmetry: among identical theatres, daily planned minutes do not increase. Not on
    // a re-plan: identical theatres are no longer interchangeable once patients are booked
    // in them, and the ordering could force whole lists to swap theatres (each swap a
    // moved patient the change penalty should have avoided).
    let replan = previous.iter().any(Option::is_some);
    for t in (1..nt).filter(|_| !replan) {
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

/// The booked lists (ordered), the cases left waiting and the cost, from a solution.
pub(super) fn decode(
    ix: &Index,
    x: &[Vec<(usize, u32, Variable)>],
    over: &[(usize, u32, Variable)],
    values: &Assignment,
) -> (Vec<Booking>, Vec<String>, TheatreCost) {
    let (input, dur, previous) = (ix.input, &ix.dur, &ix.previous);
    let w = &input.weights;
    let mut cost = TheatreCost::default();
    let mut lists: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
    let mut unbooked = Vec::new();
    for (c, row) in x.iter().enumerate() {
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
    for &(t, d, _) in over {
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
    (bookings, unbooked, cost)
}
