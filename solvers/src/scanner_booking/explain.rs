//! Why a scanner booking is infeasible, in hospital words: urgent requests no scanner
//! offers, and the slacks an elastic copy of the model has to use.

use std::collections::HashMap;

use super::model::{allowed, build, open_slots};
use super::{Conflict, ConflictKind, ScannerInput, ScannerPlan, SolveError, Urgency};
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

/// The capacity rules that bind in `plan`: scanner-days whose open slots are all booked,
/// and those at the policy's expected-overtime limit.
pub fn binding(input: &ScannerInput, plan: &ScannerPlan) -> Vec<String> {
    let mut out = Vec::new();
    for sd in &plan.scanner_days {
        if sd.open_slots > 0 && sd.booked_slots >= sd.open_slots {
            out.push(format!(
                "scanner {} day {}: {} booked slots for {} open ({} overbooking allowed)",
                sd.scanner,
                sd.day,
                sd.booked_slots,
                sd.open_slots,
                input.policy.max_overbooked_slots
            ));
        }
        if input.policy.max_expected_overtime_slots > 0.0
            && sd.expected_overtime_slots >= input.policy.max_expected_overtime_slots - 1e-6
        {
            out.push(format!(
                "scanner {} day {}: {:.2} slots of expected overtime, the policy's limit",
                sd.scanner, sd.day, sd.expected_overtime_slots
            ));
        }
    }
    out
}

/// Why request `request_id` waits for next week (or, booked late, was not booked
/// earlier): no scanner offers what it needs in the planned days, or each scanner-day
/// that could take it is full, or a slot was free and waiting cost less.
pub fn why_waiting(input: &ScannerInput, plan: &ScannerPlan, request_id: &str) -> String {
    let Some(r) = input.requests.iter().find(|r| r.id == request_id) else {
        return format!("request {request_id} is not in the solver's input");
    };
    let booked_day = plan
        .bookings
        .iter()
        .find(|b| b.request == r.id)
        .map(|b| b.day);
    let mut suitable = Vec::new();
    for (k, s) in input.scanners.iter().enumerate() {
        for d in 0..input.days {
            if allowed(input, r, k, d) && booked_day.is_none_or(|b| d < b) {
                suitable.push((s.id.as_str(), d));
            }
        }
    }
    if suitable.is_empty() {
        let mut needs = vec![format!("{:?}", r.modality).to_uppercase()];
        if r.contrast {
            needs.push("contrast".into());
        }
        if r.anaesthesia {
            needs.push("anaesthesia".into());
        }
        return format!(
            "no scanner offers {} from day {} within the {} planned days",
            needs.join(" + "),
            r.release_day,
            input.days
        );
    }
    let mut full = Vec::new();
    let mut free = Vec::new();
    for (scanner, d) in suitable {
        let load = plan
            .scanner_days
            .iter()
            .find(|sd| sd.scanner == scanner && sd.day == d);
        match load {
            Some(sd) if sd.booked_slots + r.slots > sd.open_slots => full.push(format!(
                "{scanner} day {d} ({}/{} slots)",
                sd.booked_slots, sd.open_slots
            )),
            _ => free.push(format!("{scanner} day {d}")),
        }
    }
    if free.is_empty() {
        format!(
            "every scanner-day that could take it is full: {}",
            full.join(", ")
        )
    } else {
        format!(
            "slots were free ({}), but booking there cost more than waiting under the \
             week's prices (routine wait {}, day late {}, change {})",
            free.join(", "),
            input.policy.unbooked_routine,
            input.policy.late_day,
            input.policy.change
        )
    }
}
