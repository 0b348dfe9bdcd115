//! Why a theatre booking is infeasible, in hospital words: urgent cases no list can take,
//! and the slacks an elastic copy of the model has to use.

use super::model::{build, Index};
use super::{Conflict, ConflictKind, Priority, SolveError};
use crate::highs::HighsSettings;

/// Urgent cases whose surgeon has no open theatre list at all from their release day.
pub(super) fn stranded_urgent(ix: &Index) -> Vec<Conflict> {
    let (input, surgeon_of) = (ix.input, &ix.surgeon_of);
    input
        .cases
        .iter()
        .zip(surgeon_of)
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
            Conflict::new(
                ConflictKind::UrgentCase,
                format!(
                    "urgent case {} cannot be booked: surgeon {} has no theatre list from day {} to day {}",
                    c.id,
                    c.surgeon,
                    c.release_day,
                    input.days.saturating_sub(1)
                ),
            )
        })
        .collect()
}

/// Solves the elastic model and names the slacks it had to use.
pub(super) fn explain(ix: &Index, settings: &HighsSettings) -> Result<Vec<Conflict>, SolveError> {
    let (input, surgeon_of) = (ix.input, &ix.surgeon_of);
    let b = build(ix, true);
    let r = b.milp.solve(settings, None, &mut |_| {})?;
    let Some(v) = r.values else {
        return Err(SolveError::NoPlanInTime);
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
            out.push(Conflict::new(
                ConflictKind::UrgentCase,
                format!(
                    "urgent case {} cannot be booked: surgeon {} operates on days [{}] from day {} and those lists are full",
                    case.id,
                    g.id,
                    days.join(", "),
                    case.release_day
                ),
            ));
        }
    }
    for &(t, d, s) in &b.room_slack {
        let extra = v.get(s);
        if extra > 0.5 {
            let th = &input.theatres[t];
            let session = th.session_minutes.get(d as usize).copied().unwrap_or(0);
            out.push(Conflict::new(
                ConflictKind::TheatreMinutes,
                format!(
                    "theatre {} on day {d}: {:.0} planned minutes, {} session + {} overtime available",
                    th.id,
                    session as f64 + th.max_overtime_minutes as f64 + extra,
                    session,
                    th.max_overtime_minutes
                ),
            ));
        }
    }
    for &(g, d, s) in &b.surgeon_slack {
        let extra = v.get(s);
        if extra > 0.5 {
            let sg = &input.surgeons[g];
            out.push(Conflict::new(
                ConflictKind::SurgeonMinutes,
                format!(
                    "surgeon {} on day {d}: {:.0} minutes of urgent work, limit {}",
                    sg.id,
                    sg.max_minutes_per_day as f64 + extra,
                    sg.max_minutes_per_day
                ),
            ));
        }
    }
    if out.is_empty() {
        out.push(Conflict::new(
            ConflictKind::Unexplained,
            "HiGHS proved the booking infeasible but no single group gives way",
        ));
    }
    Ok(out)
}
