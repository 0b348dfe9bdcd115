//! Seeded demo and test imaging weeks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Maintenance, Modality, ScanRequest, Scanner, ScannerInput, ScannerPolicy, Urgency};

/// A demo imaging week: `size` scanners of each modality (the first of each gives
/// contrast, MRI 1 has anaesthesia on two days, one maintenance window), 16 slots a day,
/// requests at about 110% of capacity with outpatient no-show rates of 5-20%.
pub fn generate(seed: u64, size: usize) -> ScannerInput {
    let mut rng = StdRng::seed_from_u64(seed);
    let days = 5;
    let slots_per_day = 16;
    let n = size.max(1);
    let mut scanners = Vec::new();
    for (modality, name) in [(Modality::Ct, "CT"), (Modality::Mri, "MRI")] {
        for i in 0..n {
            scanners.push(Scanner {
                id: format!("{name}{}", i + 1),
                modality,
                contrast: i == 0,
                maintenance: if i == n - 1 {
                    vec![Maintenance {
                        day: rng.random_range(0..days),
                        from_slot: 8,
                        to_slot: 12,
                    }]
                } else {
                    Vec::new()
                },
                anaesthesia_days: if modality == Modality::Mri && i == 0 {
                    vec![1, 3]
                } else {
                    Vec::new()
                },
            });
        }
    }
    let capacity = 2 * n as u32 * days * slots_per_day;
    let mut requests = Vec::new();
    let mut load = 0;
    let mut urgent_load = [[0u32; 5]; 2];
    let mut i = 0;
    while load < capacity * 11 / 10 {
        i += 1;
        let modality = if rng.random_bool(0.5) {
            Modality::Ct
        } else {
            Modality::Mri
        };
        let urgency = match rng.random_range(0..20) {
            0 => Urgency::Emergency,
            1..=4 => Urgency::Urgent,
            _ => Urgency::Routine,
        };
        let slots = if modality == Modality::Mri {
            rng.random_range(1..=3)
        } else {
            1
        };
        let release_day = rng.random_range(0..days);
        // Urgent work is kept under half of a modality's daily slots so the week is
        // always feasible; the excess joins the routine list.
        let per_day = &mut urgent_load[modality as usize][release_day as usize];
        let urgency = if urgency != Urgency::Routine && *per_day + slots <= n as u32 * 6 {
            *per_day += slots;
            urgency
        } else {
            Urgency::Routine
        };
        let inpatient = urgency != Urgency::Routine;
        requests.push(ScanRequest {
            id: format!("R{i}"),
            modality,
            urgency,
            release_day,
            deadline_day: match urgency {
                Urgency::Emergency => release_day,
                Urgency::Urgent => release_day + 1,
                Urgency::Routine => release_day + rng.random_range(2..10),
            },
            slots,
            contrast: urgency == Urgency::Routine && rng.random_bool(0.25),
            anaesthesia: modality == Modality::Mri
                && urgency == Urgency::Routine
                && rng.random_bool(0.03),
            no_show_probability: if inpatient {
                0.0
            } else {
                rng.random_range(0.05..0.2)
            },
        });
        load += slots;
    }
    ScannerInput {
        days,
        slots_per_day,
        scanners,
        requests,
        policy: ScannerPolicy::default(),
        previous: Vec::new(),
    }
}
