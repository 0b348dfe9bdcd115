//! Why a scanner booking is infeasible, in hospital words: urgent requests no scanner
//! offers, and the slacks an elastic copy of the model has to use.

use std::collections::HashMap;

use super::model::{allowed, build, open_slots};
use super::{Conflict, ConflictKind, ScannerInput, SolveError, Urgency};
use crate::highs::HighsSettings;

/// Solves the elastic model and names the slacks it had to use.
pub(super) fn explain(
    input: &ScannerInput,
    caps: &HashMap<(usize, u32), u32>,
    previous: &[Option<(usize, u32)>],
    settings: &HighsSettings,
) -> Result<Vec<Conflict>, SolveError> {
    let out = stranded_urgent(input);
    if !out.is_empty() {
        return Ok(out);
    }
    let mut out = Vec::new();
    let b = build(input, caps, previous, true);
    let r = b.milp.solve(settings, None, &mut |_| {})?;
    let Some(v) = r.values else {
        return Err(SolveError::NoPlanInTime);
    };
    for &(k, d, s) in &b.cap_slack {
        let extra = v.get(s);
        if extra > 0.5 {
            let open = open_slots(input, k, d);
            out.push(Conflict::new(
                ConflictKind::ScannerSlots,
                format!(
                    "scanner {} on day {d}: {:.0} slots of urgent scans, {open} open + {} overbooking allowed ({} closed for maintenance)",
                    input.scanners[k].id,
                    open as f64 + input.policy.max_overbooked_slots as f64 + extra,
                    input.policy.max_overbooked_slots,
                    input.slots_per_day - open
                ),
            ));
        }
    }
    for &(k, d, s) in &b.mean_slack {
        let extra = v.get(s);
        if extra > 1e-6 {
            let open = open_slots(input, k, d);
            let allowed = open as f64 + input.policy.max_expected_overtime_slots;
            out.push(Conflict::new(
                ConflictKind::ExpectedOvertime,
                format!(
                    "scanner {} on day {d}: {:.1} slots of scans expected to come, {open} open + {} expected overtime allowed",
                    input.scanners[k].id,
                    allowed + extra,
                    input.policy.max_expected_overtime_slots
                ),
            ));
        }
    }
    for &(ri, u) in &b.urgent_slack {
        if v.get(u) > 0.5 {
            let r = &input.requests[ri];
            out.push(Conflict::new(
                ConflictKind::UrgentScan,
                format!(
                    "{:?} request {} cannot be scanned by day {}: every suitable scanner-day is full",
                    r.urgency, r.id, r.deadline_day
                ),
            ));
        }
    }
    if out.is_empty() {
        out.push(Conflict::new(
            ConflictKind::ExpectedOvertime,
            "expected-overtime bound cannot be met with the urgent scans (loosen max_expected_overtime_slots)",
        ));
    }
    Ok(out)
}

/// Emergency and urgent requests that no scanner-day can take at all.
pub(super) fn stranded_urgent(input: &ScannerInput) -> Vec<Conflict> {
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
            out.push(Conflict::new(
                ConflictKind::UrgentScan,
                format!(
                    "{:?} request {} needs {} between day {} and day {} and no scanner offers it",
                    r.urgency,
                    r.id,
                    needs.join(" + "),
                    r.release_day,
                    r.deadline_day
                ),
            ));
        }
    }
    out
}
