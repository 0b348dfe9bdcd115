//! Seeded demo and test hospitals.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{BedInput, BedWeights, DemandForecast, Patient, Room, Sex, Ward};

/// A realistic demo hospital: `size` wards' worth of rooms (4-bed bays, 2-bed rooms and
/// single rooms; cardiology has telemetry, one paediatric ward), about 85% occupancy over
/// a week, a few isolation and equipment needs, patients already in beds, and emergency
/// demand quantiles per ward and day. The same seed gives the same hospital.
pub fn generate(seed: u64, size: usize) -> BedInput {
    let mut rng = StdRng::seed_from_u64(seed);
    let h = 7u32;
    let specialties = ["medicine", "surgery", "cardiology", "orthopaedics"];
    let n_wards = size.max(2);
    let mut wards = Vec::new();
    let mut rooms = Vec::new();
    for w in 0..n_wards {
        // The last ward of a hospital with 3+ wards is paediatric.
        let paediatric = n_wards >= 3 && w == n_wards - 1;
        let spec = if paediatric {
            "paediatrics"
        } else {
            specialties[w % specialties.len()]
        };
        let id = format!("W{}", w + 1);
        wards.push(Ward {
            id: id.clone(),
            specialties: vec![spec.to_string()],
            min_age: (!paediatric).then_some(18),
            max_age: paediatric.then_some(17),
        });
        let layout: &[u32] = if paediatric {
            &[4, 2, 1, 1]
        } else {
            &[4, 4, 4, 2, 2, 1, 1, 1]
        };
        for (k, &beds) in layout.iter().enumerate() {
            let mut equipment = vec!["oxygen".to_string()];
            if spec == "cardiology" && k % 2 == 0 {
                equipment.push("telemetry".into());
            }
            rooms.push(Room {
                id: format!("{id}-R{}", k + 1),
                ward: id.clone(),
                beds,
                equipment,
            });
        }
    }
    let mut patients = Vec::new();
    let mut occupancy = vec![vec![0u32; h as usize]; n_wards];
    let ward_beds: Vec<u32> = (0..n_wards)
        .map(|w| {
            rooms
                .iter()
                .filter(|r| r.ward == wards[w].id)
                .map(|r| r.beds)
                .sum()
        })
        .collect();
    let mut next_id = 1;
    // Fill each ward's natural demand to ~85% of its beds so that plans exist but are
    // tight enough for outliers and sex separation to matter.
    for w in 0..n_wards {
        let target = (ward_beds[w] as f64 * 0.8) as u32;
        let spec = wards[w].specialties[0].clone();
        let paediatric = wards[w].max_age.is_some();
        let mut tries = 0;
        while tries < 400 {
            tries += 1;
            let already_in = rng.random_bool(0.5);
            let admit = if already_in {
                0
            } else {
                rng.random_range(0..h)
            };
            let stay = rng.random_range(1..=6);
            let discharge = admit + stay;
            let fits = (admit..discharge.min(h)).all(|d| occupancy[w][d as usize] < target);
            if !fits {
                continue;
            }
            for d in admit..discharge.min(h) {
                occupancy[w][d as usize] += 1;
            }
            let isolation = rng.random_bool(0.06);
            let equipment = if spec == "cardiology" && rng.random_bool(0.3) {
                vec!["telemetry".to_string()]
            } else {
                Vec::new()
            };
            patients.push(Patient {
                id: format!("P{next_id}"),
                sex: if rng.random_bool(0.5) {
                    Sex::Female
                } else {
                    Sex::Male
                },
                age: if paediatric {
                    rng.random_range(0..18)
                } else {
                    rng.random_range(18..95)
                },
                specialty: spec.clone(),
                admit_day: admit,
                discharge_day: discharge,
                isolation,
                equipment,
                current_room: None,
            });
            next_id += 1;
        }
    }
    // Patients already in a bed sit in a room that suits them, chosen greedily; a patient
    // no room can take (rare) is left to be placed by the solver.
    let mut room_occ = vec![vec![Vec::<Sex>::new(); h as usize]; rooms.len()];
    for p in patients.iter_mut().filter(|p| p.admit_day == 0) {
        let ward_id = wards
            .iter()
            .find(|w| w.specialties[0] == p.specialty)
            .map(|w| w.id.clone());
        let spot = rooms.iter().enumerate().find(|(r, room)| {
            Some(&room.ward) == ward_id.as_ref()
                && (!p.isolation || room.is_single())
                && p.equipment.iter().all(|e| room.equipment.contains(e))
                && (0..p.discharge_day.min(h)).all(|d| {
                    let o = &room_occ[*r][d as usize];
                    (o.len() as u32) < room.beds && o.iter().all(|s| *s == p.sex)
                })
        });
        if let Some((r, room)) = spot {
            for d in 0..p.discharge_day.min(h) {
                room_occ[r][d as usize].push(p.sex);
            }
            p.current_room = Some(room.id.clone());
        }
    }
    let emergency_forecast = wards
        .iter()
        .enumerate()
        .flat_map(|(w, ward)| {
            let base = ward_beds[w] as f64 * 0.08;
            (0..h).map(move |d| DemandForecast {
                ward: ward.id.clone(),
                day: d,
                quantiles: vec![(0.5, base.round()), (0.9, (base * 1.8).round())],
            })
        })
        .collect();
    BedInput {
        horizon_days: h,
        wards,
        rooms,
        patients,
        emergency_forecast,
        weights: BedWeights::default(),
        previous: Vec::new(),
    }
}
