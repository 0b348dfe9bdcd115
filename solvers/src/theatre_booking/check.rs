//! An independent checker of theatre plans: the hard rules recomputed from the input and
//! the plan alone, without the model.

use std::collections::HashMap;

use super::{Priority, TheatreInput, TheatrePlan};

/// A theatre-day's list: (start minute, planned minutes, case).
type List<'a> = Vec<(u32, u32, &'a str)>;

/// Checks a plan against the hard rules; returns what is broken (empty when none).
pub fn violations(input: &TheatreInput, plan: &TheatrePlan) -> Vec<String> {
    let mut out = Vec::new();
    let mut times_booked: HashMap<&str, u32> = HashMap::new();
    let mut theatre_minutes: HashMap<(&str, u32), u32> = HashMap::new();
    let mut surgeon_minutes: HashMap<(&str, u32), u32> = HashMap::new();
    let mut surgeon_theatres: HashMap<(&str, u32), Vec<&str>> = HashMap::new();
    let mut lists: HashMap<(&str, u32), List> = HashMap::new();
    for b in &plan.bookings {
        let Some(case) = input.cases.iter().find(|c| c.id == b.case) else {
            out.push(format!("booking of unknown case {}", b.case));
            continue;
        };
        *times_booked.entry(case.id.as_str()).or_default() += 1;
        if !input.theatres.iter().any(|t| t.id == b.theatre) {
            out.push(format!("case {} in unknown theatre {}", b.case, b.theatre));
            continue;
        }
        let Some(surgeon) = input.surgeons.iter().find(|s| s.id == case.surgeon) else {
            out.push(format!(
                "case {} names unknown surgeon {}",
                b.case, case.surgeon
            ));
            continue;
        };
        if !surgeon.available_days.contains(&b.day) {
            out.push(format!(
                "case {} on day {}, a day off of surgeon {}",
                b.case, b.day, surgeon.id
            ));
        }
        if b.day < case.release_day {
            out.push(format!(
                "case {} on day {} before its release day {}",
                b.case, b.day, case.release_day
            ));
        }
        if b.day >= input.days {
            out.push(format!("case {} on day {} past the horizon", b.case, b.day));
        }
        *theatre_minutes.entry((&b.theatre, b.day)).or_default() += b.planned_minutes;
        *surgeon_minutes.entry((&surgeon.id, b.day)).or_default() += b.planned_minutes;
        let ts = surgeon_theatres.entry((&surgeon.id, b.day)).or_default();
        if !ts.contains(&b.theatre.as_str()) {
            ts.push(&b.theatre);
        }
        lists.entry((&b.theatre, b.day)).or_default().push((
            b.start_minute,
            b.planned_minutes,
            &b.case,
        ));
    }
    for ((t, d), minutes) in &theatre_minutes {
        let th = input
            .theatres
            .iter()
            .find(|x| x.id == *t)
            .expect("checked above");
        let session = th.session_minutes.get(*d as usize).copied().unwrap_or(0);
        if session == 0 {
            out.push(format!("theatre {t} is closed on day {d} but has a list"));
        } else if *minutes > session + th.max_overtime_minutes {
            out.push(format!(
                "theatre {t} on day {d}: {minutes} planned minutes, {session} session + {} overtime",
                th.max_overtime_minutes
            ));
        }
    }
    for ((g, d), minutes) in &surgeon_minutes {
        let sg = input
            .surgeons
            .iter()
            .find(|s| s.id == *g)
            .expect("checked above");
        if *minutes > sg.max_minutes_per_day {
            out.push(format!(
                "surgeon {g} on day {d}: {minutes} minutes, limit {}",
                sg.max_minutes_per_day
            ));
        }
    }
    for ((g, d), ts) in &surgeon_theatres {
        if ts.len() > 1 {
            out.push(format!(
                "surgeon {g} on day {d}: list split over theatres {}",
                ts.join(", ")
            ));
        }
    }
    for ((t, d), list) in &mut lists {
        list.sort();
        for pair in list.windows(2) {
            let ((s0, m0, c0), (s1, _, c1)) = (pair[0], pair[1]);
            if s0 + m0 > s1 {
                out.push(format!(
                    "theatre {t} on day {d}: cases {c0} and {c1} overlap"
                ));
            }
        }
    }
    for c in &input.cases {
        let n = times_booked.get(c.id.as_str()).copied().unwrap_or(0);
        let waiting = plan.unbooked.iter().filter(|u| **u == c.id).count() as u32;
        if n > 1 {
            out.push(format!("case {} booked {n} times", c.id));
        }
        if n + waiting != 1 {
            out.push(format!(
                "case {} is {n} times booked and {waiting} times waiting",
                c.id
            ));
        }
        if c.priority == Priority::Urgent && n == 0 {
            out.push(format!("urgent case {} unbooked", c.id));
        }
    }
    out.sort();
    out
}
