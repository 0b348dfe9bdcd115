//! Why a ward cannot be rostered, in the words of the nurses' contracts. The hard rules
//! never couple nurses (cover is priced, not required), so a ward is impossible exactly
//! when one nurse's own rules are: the contracted minimum cannot be worked on the days
//! leave, the limit on shifts in a row and the weekend limit leave.

use super::model::Index;
use super::{Conflict, ConflictKind};

/// Conflicts found before any solve: a nurse whose contracted minimum exceeds what the
/// days they can work could hold, even with the longest shift they may work every time.
pub(super) fn contract_conflicts(ix: &Index) -> Vec<Conflict> {
    let inst = &ix.instance;
    let h = inst.horizon;
    let mut out = Vec::new();
    for (e, st) in inst.staff.iter().enumerate() {
        let longest = inst
            .shifts
            .iter()
            .enumerate()
            .filter(|(s, _)| st.max_shifts[*s] > 0)
            .map(|(_, sh)| sh.minutes)
            .max()
            .unwrap_or(0);
        let workable = most_working_days(ix, e);
        let most = workable as u64 * u64::from(longest);
        if most < u64::from(st.min_minutes) {
            out.push(Conflict::new(
                ConflictKind::NurseRules,
                format!(
                    "nurse {}: the contracted minimum of {} h cannot be worked: {} of {h} days \
                     are leave, at most {} shifts in a row and {} weekends leave {workable} \
                     working days, at most {} h",
                    st.id,
                    f64::from(st.min_minutes) / 60.0,
                    inst.days_off[e].len(),
                    st.max_consecutive,
                    st.max_weekends,
                    most as f64 / 60.0
                ),
            ));
        }
    }
    out
}

/// An upper bound on the days nurse `e` can work, so that a conflict is named only when
/// proven: the most days leave and the limit on shifts in a row allow (greedy from day
/// 0, exact for that rule as runs have no minimum length), and at most the weekdays not
/// on leave plus two days of each weekend the limit allows.
fn most_working_days(ix: &Index, e: usize) -> u32 {
    let inst = &ix.instance;
    let st = &inst.staff[e];
    if st.max_shifts.iter().all(|&m| m == 0) {
        return 0;
    }
    let (mut run, mut in_a_row) = (0u32, 0u32);
    let mut weekdays = 0u32;
    for d in 0..inst.horizon {
        let leave = inst.days_off[e].contains(&d);
        if !leave && d % 7 < 5 {
            weekdays += 1;
        }
        if leave || run >= st.max_consecutive {
            run = 0;
            continue;
        }
        run += 1;
        in_a_row += 1;
    }
    in_a_row.min(weekdays + 2 * st.max_weekends)
}

/// The conflicts behind an infeasibility the NRP search proved (`reason` says how): the
/// contract conflicts if any name it, else the proof as HiGHS gave it.
pub(super) fn explain(ix: &Index, reason: &str) -> Vec<Conflict> {
    let named = contract_conflicts(ix);
    if !named.is_empty() {
        return named;
    }
    vec![Conflict::new(
        ConflictKind::NurseRules,
        format!("no roster meets every nurse's rules: {reason}"),
    )]
}
