//! An independent checker of scanner plans: the hard rules recomputed from the input and
//! the plan alone, without the model (the expected overtime included).

use std::collections::HashMap;

use super::{ScanRequest, ScannerInput, ScannerPlan, Urgency};

/// Checks a plan against the hard rules; returns what is broken (empty when none).
pub fn violations(input: &ScannerInput, plan: &ScannerPlan) -> Vec<String> {
    let mut out = Vec::new();
    let p = &input.policy;
    let mut times_booked: HashMap<&str, u32> = HashMap::new();
    let mut lists: HashMap<(usize, u32), Vec<&ScanRequest>> = HashMap::new();
    for b in &plan.bookings {
        let Some(r) = input.requests.iter().find(|r| r.id == b.request) else {
            out.push(format!("booking of unknown request {}", b.request));
            continue;
        };
        *times_booked.entry(r.id.as_str()).or_default() += 1;
        let Some(k) = input.scanners.iter().position(|s| s.id == b.scanner) else {
            out.push(format!("request {} on unknown scanner {}", r.id, b.scanner));
            continue;
        };
        let s = &input.scanners[k];
        if r.modality != s.modality {
            out.push(format!("request {} on a scanner of another modality", r.id));
        }
        if r.contrast && !s.contrast {
            out.push(format!(
                "request {} needs contrast, {} gives none",
                r.id, s.id
            ));
        }
        if r.anaesthesia && !s.anaesthesia_days.contains(&b.day) {
            out.push(format!(
                "request {} needs anaesthesia, none on {} on day {}",
                r.id, s.id, b.day
            ));
        }
        if b.day < r.release_day || b.day >= input.days {
            out.push(format!(
                "request {} on day {} outside day {}..{}",
                r.id, b.day, r.release_day, input.days
            ));
        }
        if r.urgency != Urgency::Routine && b.day > r.deadline_day {
            out.push(format!(
                "{:?} request {} on day {}, past its deadline day {}",
                r.urgency, r.id, b.day, r.deadline_day
            ));
        }
        if s.maintenance
            .iter()
            .any(|m| m.day == b.day && (m.from_slot..m.to_slot).contains(&b.start_slot))
        {
            out.push(format!("request {} starts in maintenance", r.id));
        }
        if b.start_slot >= input.slots_per_day {
            out.push(format!("request {} starts after the day's last slot", r.id));
        }
        lists.entry((k, b.day)).or_default().push(r);
    }
    for ((k, d), list) in &lists {
        let s = &input.scanners[*k];
        let open = (0..input.slots_per_day)
            .filter(|slot| {
                !s.maintenance
                    .iter()
                    .any(|m| m.day == *d && (m.from_slot..m.to_slot).contains(slot))
            })
            .count() as u32;
        let booked: u32 = list.iter().map(|r| r.slots).sum();
        if booked > open + p.max_overbooked_slots {
            out.push(format!(
                "scanner {} on day {d}: {booked} slots booked, {open} open + {} overbooking",
                s.id, p.max_overbooked_slots
            ));
        }
        let anaesthesia = list.iter().filter(|r| r.anaesthesia).count() as u32;
        if anaesthesia > p.max_anaesthesia_cases {
            out.push(format!(
                "scanner {} on day {d}: {anaesthesia} anaesthesia cases, limit {}",
                s.id, p.max_anaesthesia_cases
            ));
        }
        // Distribution of the slots that come, request by request.
        let mut dist = vec![1.0];
        for r in list {
            let come = 1.0 - r.no_show_probability;
            let mut next = vec![0.0; dist.len() + r.slots as usize];
            for (v, pr) in dist.iter().enumerate() {
                next[v] += pr * (1.0 - come);
                next[v + r.slots as usize] += pr * come;
            }
            dist = next;
        }
        let expected: f64 = dist
            .iter()
            .enumerate()
            .map(|(v, pr)| pr * (v as f64 - open as f64).max(0.0))
            .sum();
        if expected > p.max_expected_overtime_slots + 1e-9 {
            out.push(format!(
                "scanner {} on day {d}: {expected:.3} expected overtime slots, bound {}",
                s.id, p.max_expected_overtime_slots
            ));
        }
    }
    for r in &input.requests {
        let n = times_booked.get(r.id.as_str()).copied().unwrap_or(0);
        let waiting = plan.unbooked.iter().filter(|u| **u == r.id).count() as u32;
        if n + waiting != 1 {
            out.push(format!(
                "request {} is {n} times booked and {waiting} times waiting",
                r.id
            ));
        }
        if r.urgency != Urgency::Routine && n == 0 {
            out.push(format!("{:?} request {} unbooked", r.urgency, r.id));
        }
    }
    out.sort();
    out
}
