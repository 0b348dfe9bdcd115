//! Seeded instances of the Curtois & Qu family at any scale, for development and tests:
//! more nurses, longer horizons and more shift types than the twelve instances held here,
//! with the same rule types and the same proportions as those (measured on Instance1-12):
//!
//! - shift types in families early < day < late < night; a shift forbids the next day
//!   every shift of an earlier family (as in Instance8 and Instance12); nights may last
//!   600 minutes (Instance9, 10), the others 480;
//! - four contracts, per 28 days: full time 8640/7560 minutes, at most 5 (or 6) in a row,
//!   runs of at least 2, at least 2 (or 3) days off, 2 weekends; part time 5160/4080 and
//!   3 weekends; short part time 3420/2340, runs and rests of 1, 3 weekends. Minutes and
//!   weekends scale with the horizon (a year is 13 blocks of 28 days);
//! - each nurse may work most types (a capped night quota, some types capped at half
//!   the horizon, some forbidden), always at least one uncapped non-night type;
//! - one or two fixed days off per nurse and 28 days; about 5 shift-on and 2.5 shift-off
//!   requests per nurse and 28 days, in short blocks, weights 1-3;
//! - cover for every (day, shift): total demand about the staff's total capacity (92-100%,
//!   as in Instance1-12), split over the types by who can work them, lower at weekends,
//!   with noise; 100 per nurse missing, 1 per nurse too many.
//!
//! Every generated instance has a roster that meets all hard rules, by construction: each
//! nurse's witness row is built first (runs of one uncapped day type placed greedily
//! within the nurse's rules; a contract it cannot meet gets the minimum it reached), and
//! the fixed days off are drawn among the witness's days off. The generator shares no
//! code with the solver, so an instance stays the same when the solver changes. [`instance_text`] writes any instance in the benchmark's text format, so a
//! generated one can be saved and read back like Instance1-12.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Cover, Instance, Request, Roster, Shift, Staff};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenParams {
    /// Nurses.
    pub nurses: usize,
    /// Days (rounded up to whole weeks).
    pub days: usize,
    /// Shift types (1..=32).
    pub shifts: usize,
    /// Seed; the same parameters give the same instance.
    pub seed: u64,
}

impl GenParams {
    /// The instance name: `Gen<nurses>x<days>s<shifts>-<seed>`.
    pub fn name(&self) -> String {
        format!(
            "Gen{}x{}s{}-{}",
            self.nurses,
            self.days.div_ceil(7) * 7,
            self.shifts,
            self.seed
        )
    }
}

/// Shift families in day order; a later family may not be followed by an earlier one.
const FAMILIES: [(&str, &str); 4] = [("E", "a"), ("D", "d"), ("L", "p"), ("N", "n")];

/// The family of each of `n` shift types: early, day, late, night as in Instance1-12 for
/// up to four, then extra early, day and late types and (from eight) a second night.
fn families(n: usize) -> Vec<usize> {
    match n {
        1 => vec![1],
        2 => vec![0, 2],
        3 => vec![0, 1, 2],
        _ => {
            let nights = if n >= 8 { 2 } else { 1 };
            let mut f: Vec<usize> = (0..n - nights).map(|i| i % 3).collect();
            f.sort_unstable();
            f.extend(std::iter::repeat_n(3, nights));
            f
        }
    }
}

/// A contract per 28 days: max minutes, min minutes, max consecutive, min consecutive,
/// min days off, max weekends, and its share of the staff.
const CONTRACTS: [(u32, u32, u32, u32, u32, u32, f64); 5] = [
    (8640, 7560, 5, 2, 2, 2, 0.50),
    (8640, 7560, 6, 2, 3, 2, 0.20),
    (6480, 5400, 4, 2, 3, 2, 0.05),
    (5160, 4080, 5, 2, 2, 3, 0.15),
    (3420, 2340, 5, 1, 1, 3, 0.10),
];

/// A generated instance (see the module documentation).
pub fn generate(p: &GenParams) -> Instance {
    generate_with_witness(p).0
}

/// A generated instance and its witness: a roster that meets every hard rule of it.
pub fn generate_with_witness(p: &GenParams) -> (Instance, Roster) {
    let mut rng = StdRng::seed_from_u64(p.seed ^ 0x6e72_7067_656e);
    let h = p.days.max(7).div_ceil(7) * 7;
    let ns = p.shifts.clamp(1, 32);
    let n = p.nurses.max(1);
    let scale = h as f64 / 28.0;

    let fam = families(ns);
    let night_len = if rng.random_bool(0.5) { 600 } else { 480 };
    let mut count = [0usize; 4];
    let shifts: Vec<Shift> = fam
        .iter()
        .map(|&f| {
            count[f] += 1;
            let id = if ns <= 4 {
                FAMILIES[f].0.to_string()
            } else {
                format!("{}{}", FAMILIES[f].1, count[f])
            };
            Shift {
                id,
                minutes: if f == 3 { night_len } else { 480 },
                forbidden_next: (0..ns).filter(|&t| fam[t] < f).collect(),
            }
        })
        .collect();

    let mut staff = Vec::with_capacity(n);
    for e in 0..n {
        let mut r = rng.random_range(0.0..1.0);
        let c = CONTRACTS
            .iter()
            .find(|c| {
                r -= c.6;
                r < 0.0
            })
            .unwrap_or(&CONTRACTS[0]);
        let part_time = c.0 < 8000;
        let mut max_shifts = vec![h as u32; ns];
        // One uncapped type that is not a night, so the minimum is always reachable.
        let day_types: Vec<usize> = (0..ns).filter(|&s| fam[s] != 3).collect();
        let anchor = if day_types.is_empty() {
            0
        } else {
            day_types[rng.random_range(0..day_types.len())]
        };
        for s in 0..ns {
            if s == anchor {
                continue;
            }
            max_shifts[s] = if fam[s] == 3 {
                if rng.random_bool(0.6) {
                    let quota = if part_time { 2.0 } else { 4.0 };
                    ((quota * scale).round() as u32).max(1)
                } else {
                    0
                }
            } else if rng.random_bool(0.25) {
                0
            } else if rng.random_bool(0.2) {
                (h / 2) as u32
            } else {
                h as u32
            };
        }
        staff.push(Staff {
            id: staff_id(e),
            max_shifts,
            max_minutes: (c.0 as f64 * scale).round() as u32,
            min_minutes: (c.1 as f64 * scale).round() as u32,
            max_consecutive: c.2,
            min_consecutive: c.3,
            min_days_off: c.4,
            max_weekends: ((c.5 as f64 * scale).floor() as u32).max(1),
        });
    }

    // A witness row per nurse (runs of the nurse's uncapped day type placed greedily
    // within the run, weekend and minute rules; a contract it cannot meet gets the
    // minimum it reached). The fixed days off then go only on the witness's days off, so
    // the witness roster meets every hard rule of the finished instance: it is feasible
    // by construction.
    let mut witness = Roster {
        cells: vec![vec![None; h]; n],
    };
    for (e, st) in staff.iter_mut().enumerate() {
        let anchor = (0..ns)
            .find(|&s| st.max_shifts[s] >= h as u32 && fam[s] != 3)
            .unwrap_or(0);
        let (row, worked) = witness_row(st, h, anchor, shifts[anchor].minutes, &mut rng);
        let minutes = worked * shifts[anchor].minutes;
        if minutes < st.min_minutes {
            st.min_minutes = minutes;
        }
        witness.cells[e] = row;
    }

    // One or two fixed days off per 28 days (sometimes two in a row), on the witness's
    // days off.
    let blocks = h.div_ceil(28);
    let mut days_off = vec![Vec::new(); n];
    for (e, row) in days_off.iter_mut().enumerate() {
        let off: Vec<usize> = (0..h).filter(|&d| witness.cells[e][d].is_none()).collect();
        for b in 0..blocks {
            let lo = 28 * b;
            let hi = (lo + 28).min(h);
            let here: Vec<usize> = off.iter().copied().filter(|&d| d >= lo && d < hi).collect();
            if here.is_empty() {
                continue;
            }
            let k = rng.random_range(1..=2usize);
            for _ in 0..k {
                let d = here[rng.random_range(0..here.len())];
                let len = if rng.random_bool(0.3) { 2 } else { 1 };
                for x in d..(d + len).min(hi) {
                    if witness.cells[e][x].is_none() && !row.contains(&x) {
                        row.push(x);
                    }
                }
            }
        }
        row.sort_unstable();
    }

    // Requests in short blocks of one allowed shift, never on a fixed day off.
    let mut on_requests = Vec::new();
    let mut off_requests = Vec::new();
    for e in 0..n {
        let allowed: Vec<usize> = (0..ns).filter(|&s| staff[e].max_shifts[s] > 0).collect();
        let mut taken = vec![false; h];
        for &d in &days_off[e] {
            taken[d] = true;
        }
        for (target, max_len, list) in [
            (5.0 * scale, 5usize, &mut on_requests),
            (2.5 * scale, 2usize, &mut off_requests),
        ] {
            let target = target.round() as usize;
            let mut made = 0;
            let mut tries = 0;
            while made < target && tries < 20 * target + 20 {
                tries += 1;
                let d0 = rng.random_range(0..h);
                let len = rng.random_range(1..=max_len);
                let s = allowed[rng.random_range(0..allowed.len())];
                let w = rng.random_range(1..=3u32);
                let end = (d0 + len).min(h);
                for (d, slot) in taken.iter_mut().enumerate().take(end).skip(d0) {
                    if *slot || made >= target {
                        break;
                    }
                    *slot = true;
                    made += 1;
                    list.push(Request {
                        employee: e,
                        day: d,
                        shift: s,
                        weight: w,
                    });
                }
            }
        }
    }
    on_requests.sort_by_key(|q| (q.employee, q.day));
    off_requests.sort_by_key(|q| (q.employee, q.day));

    // Cover: total demand near total capacity, by who can work each type.
    let capacity: f64 = staff
        .iter()
        .map(|st| st.max_minutes as f64 / 480.0)
        .sum::<f64>();
    let demand = capacity * rng.random_range(0.92..1.0);
    let weight: Vec<f64> = (0..ns)
        .map(|s| {
            staff
                .iter()
                .map(|st| st.max_shifts[s].min(h as u32) as f64 / h as f64)
                .sum::<f64>()
        })
        .collect();
    let total_weight: f64 = weight.iter().sum::<f64>().max(1e-9);
    let dow = [1.05, 1.05, 1.05, 1.05, 1.05, 0.875, 0.875];
    let mut cover = Vec::with_capacity(h * ns);
    for d in 0..h {
        for (s, w) in weight.iter().enumerate().take(ns) {
            let mean = demand * w / total_weight / h as f64 * dow[d % 7];
            let req = (mean * rng.random_range(0.7..1.3)).round().max(0.0) as u32;
            cover.push(Cover {
                day: d,
                shift: s,
                requirement: req,
                under_weight: 100,
                over_weight: 1,
            });
        }
    }

    let inst = Instance {
        name: p.name(),
        horizon: h,
        shifts,
        staff,
        days_off,
        on_requests,
        off_requests,
        cover,
    };
    (inst, witness)
}

/// A row of `shift` only that meets `st`'s run, weekend and maximum-minute rules and
/// works at least its minimum when the greedy placement can: working runs of random
/// length between the minimum and maximum, each after at least the minimum days off,
/// pushed past a weekend when the weekend budget is spent. Returns the row and its
/// working days.
fn witness_row(
    st: &Staff,
    h: usize,
    shift: usize,
    minutes: u32,
    rng: &mut StdRng,
) -> (Vec<Option<usize>>, u32) {
    let mut row = vec![None; h];
    let max_on = st.max_consecutive as usize;
    if max_on == 0 || minutes == 0 {
        return (row, 0);
    }
    let min_on = (st.min_consecutive as usize).clamp(1, max_on);
    let min_off = (st.min_days_off as usize).max(1);
    let target = st
        .min_minutes
        .div_ceil(minutes)
        .min(st.max_minutes / minutes);
    let most = st.max_minutes / minutes;
    let weekend_of = |d: usize| (d % 7 >= 5).then_some(d / 7);
    let mut worked = 0u32;
    let mut weekends = 0u32;
    let mut d = 0;
    while d < h && worked < target {
        let want = rng.random_range(min_on..=max_on);
        // The longest run from d (at most `want`) whose new weekends fit the budget.
        let mut len = 0;
        let mut new_weekends = 0;
        let mut last_weekend = None;
        while len < want && d + len < h && worked + (len as u32) < most {
            if let Some(k) = weekend_of(d + len) {
                if last_weekend != Some(k) {
                    if weekends + new_weekends >= st.max_weekends {
                        break;
                    }
                    new_weekends += 1;
                    last_weekend = Some(k);
                }
            }
            len += 1;
        }
        // No further than the minimum needs, but never shorter than the run rules allow.
        let needed = (target - worked) as usize;
        if len > needed && needed >= min_on {
            len = needed;
            new_weekends = (d..d + len)
                .filter_map(weekend_of)
                .collect::<std::collections::BTreeSet<_>>()
                .len() as u32;
        }
        if len == 0 || (len < min_on && d + len < h) {
            d += 1;
            continue;
        }
        for c in &mut row[d..d + len] {
            *c = Some(shift);
        }
        worked += len as u32;
        weekends += new_weekends;
        d += len + min_off;
    }
    (row, worked)
}

/// A, B, ..., Z, AA, AB, ... as in the benchmark files.
fn staff_id(mut i: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap_or_default()
}

/// The instance in the benchmark's text format (`parse_instance` reads it back equal).
pub fn instance_text(inst: &Instance) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# {} (careflow nrp::generate)", inst.name);
    let _ = writeln!(
        t,
        "SECTION_HORIZON\n# All instances start on a Monday\n# The horizon length in days:\n{}\n",
        inst.horizon
    );
    let _ = writeln!(t, "SECTION_SHIFTS\n# ShiftID, Length in mins, Shifts which cannot follow this shift | separated");
    for sh in &inst.shifts {
        let next: Vec<&str> = sh
            .forbidden_next
            .iter()
            .map(|&t| inst.shifts[t].id.as_str())
            .collect();
        let _ = writeln!(t, "{},{},{}", sh.id, sh.minutes, next.join("|"));
    }
    let _ = writeln!(t, "\nSECTION_STAFF\n# ID, MaxShifts, MaxTotalMinutes, MinTotalMinutes, MaxConsecutiveShifts, MinConsecutiveShifts, MinConsecutiveDaysOff, MaxWeekends");
    for st in &inst.staff {
        let caps: Vec<String> = st
            .max_shifts
            .iter()
            .enumerate()
            .map(|(s, m)| format!("{}={m}", inst.shifts[s].id))
            .collect();
        let _ = writeln!(
            t,
            "{},{},{},{},{},{},{},{}",
            st.id,
            caps.join("|"),
            st.max_minutes,
            st.min_minutes,
            st.max_consecutive,
            st.min_consecutive,
            st.min_days_off,
            st.max_weekends
        );
    }
    let _ = writeln!(
        t,
        "\nSECTION_DAYS_OFF\n# EmployeeID, DayIndexes (start at zero)"
    );
    for (e, days) in inst.days_off.iter().enumerate() {
        if days.is_empty() {
            continue;
        }
        let list: Vec<String> = days.iter().map(|d| d.to_string()).collect();
        let _ = writeln!(t, "{},{}", inst.staff[e].id, list.join(","));
    }
    for (title, list) in [
        ("SECTION_SHIFT_ON_REQUESTS", &inst.on_requests),
        ("SECTION_SHIFT_OFF_REQUESTS", &inst.off_requests),
    ] {
        let _ = writeln!(t, "\n{title}\n# EmployeeID, Day, ShiftID, Weight");
        for q in list {
            let _ = writeln!(
                t,
                "{},{},{},{}",
                inst.staff[q.employee].id, q.day, inst.shifts[q.shift].id, q.weight
            );
        }
    }
    let _ = writeln!(
        t,
        "\nSECTION_COVER\n# Day, ShiftID, Requirement, Weight for under, Weight for over"
    );
    for c in &inst.cover {
        let _ = writeln!(
            t,
            "{},{},{},{},{}",
            c.day, inst.shifts[c.shift].id, c.requirement, c.under_weight, c.over_weight
        );
    }
    t
}
