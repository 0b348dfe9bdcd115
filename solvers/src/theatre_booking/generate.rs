//! Seeded demo and test surgical weeks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Case, Priority, Surgeon, Theatre, TheatreInput, TheatreWeights};

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
