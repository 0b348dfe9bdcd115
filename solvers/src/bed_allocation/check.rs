//! An independent checker of bed plans: the hard rules recomputed from the input and the
//! plan alone, without the model.

use std::collections::HashMap;

use super::{BedInput, BedPlan, Room, Sex};
use crate::input::index_by_id;

/// Checks a plan against the hard rules; returns what is broken (empty when none).
pub fn violations(input: &BedInput, plan: &BedPlan) -> Vec<String> {
    let mut out = Vec::new();
    let h = input.horizon_days;
    let room_ix = index_by_id(&input.rooms, |r| &r.id);
    let ward_of = |room: &Room| input.wards.iter().find(|w| w.id == room.ward);
    let mut occ: HashMap<(usize, u32), Vec<Sex>> = HashMap::new();
    let mut beds_used: HashMap<(String, u32), u32> = HashMap::new();
    for p in &input.patients {
        let Some(a) = plan.assignments.iter().find(|a| a.patient == p.id) else {
            out.push(format!("patient {} has no bed", p.id));
            continue;
        };
        let Some(&r) = room_ix.get(a.room.as_str()) else {
            out.push(format!("patient {} in unknown room {}", p.id, a.room));
            continue;
        };
        let room = &input.rooms[r];
        if p.isolation && !room.is_single() {
            out.push(format!(
                "patient {} needs isolation, room {} is shared",
                p.id, room.id
            ));
        }
        if !p.equipment.iter().all(|e| room.equipment.contains(e)) {
            out.push(format!("patient {} lacks equipment in {}", p.id, room.id));
        }
        if let Some(w) = ward_of(room) {
            if w.min_age.is_some_and(|m| p.age < m) || w.max_age.is_some_and(|m| p.age > m) {
                out.push(format!(
                    "patient {} (age {}) not admitted by ward {}",
                    p.id, p.age, w.id
                ));
            }
        }
        for d in p.admit_day..p.discharge_day.min(h) {
            occ.entry((r, d)).or_default().push(p.sex);
            *beds_used.entry((a.bed.clone(), d)).or_default() += 1;
        }
    }
    for ((r, d), sexes) in &occ {
        let room = &input.rooms[*r];
        if sexes.len() as u32 > room.beds {
            out.push(format!("room {} over capacity on day {d}", room.id));
        }
        if sexes.iter().any(|s| *s != sexes[0]) {
            out.push(format!("room {} mixed-sex on day {d}", room.id));
        }
    }
    for ((bed, d), n) in beds_used {
        if n > 1 {
            out.push(format!("bed {bed} holds {n} patients on day {d}"));
        }
    }
    out.sort();
    out
}
