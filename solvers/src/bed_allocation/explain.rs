//! Why a bed allocation is infeasible, in hospital words: the patients no room suits,
//! and the slacks an elastic copy of the model has to use.

use std::collections::BTreeMap;

use super::model::{build, Index};
use super::{BedInput, Conflict, ConflictKind, Sex, SolveError};
use crate::highs::HighsSettings;

pub(super) fn no_room_reason(input: &BedInput, p: usize) -> String {
    let pat = &input.patients[p];
    let mut needs = Vec::new();
    if pat.isolation {
        needs.push("isolation (a single room)".to_string());
    }
    if !pat.equipment.is_empty() {
        needs.push(format!("equipment {}", pat.equipment.join(", ")));
    }
    needs.push(format!("a ward admitting age {}", pat.age));
    format!(
        "patient {} needs {} and no room has all of it",
        pat.id,
        needs.join(" and ")
    )
}

/// Solves the elastic model and names the slacks it had to use.
pub(super) fn explain(ix: &Index, settings: &HighsSettings) -> Result<Vec<Conflict>, SolveError> {
    let input = ix.input;
    let model = build(ix, true);
    let r = model.milp.solve(settings, None, &mut |_| {})?;
    let Some(values) = r.values else {
        return Err(SolveError::NoPlanInTime);
    };
    let el = model.elastic.expect("elastic model has slacks");
    let mut conflicts = Vec::new();
    let mut isolation_named = Vec::new();
    // Overflowing rooms, summed per ward and day; single rooms used by isolation patients
    // are isolation conflicts.
    let mut ward_over: BTreeMap<(usize, u32), f64> = BTreeMap::new();
    for &(r, d, o) in &el.overflow {
        let over = values.get(o);
        if over < 0.5 {
            continue;
        }
        let room = &input.rooms[r];
        let iso: Vec<usize> = model
            .x
            .iter()
            .enumerate()
            .filter(|(p, row)| {
                input.patients[*p].isolation
                    && ix.present(*p, d)
                    && row.iter().any(|&(rr, v)| rr == r && values.is_one(v))
            })
            .map(|(p, _)| p)
            .collect();
        if room.is_single() && !iso.is_empty() {
            for p in iso {
                if !isolation_named.contains(&p) {
                    isolation_named.push(p);
                    let days = &ix.days[p];
                    conflicts.push(Conflict {
                        kind: ConflictKind::Isolation,
                        message: format!(
                            "patient {} requires isolation but no single room free on days {}-{}",
                            input.patients[p].id,
                            days.start,
                            days.end - 1
                        ),
                    });
                }
            }
        } else {
            *ward_over.entry((ix.ward_of_room[r], d)).or_default() += over;
        }
    }
    for ((w, d), _) in ward_over {
        let beds: u32 = input
            .rooms
            .iter()
            .enumerate()
            .filter(|(r, _)| ix.ward_of_room[*r] == w)
            .map(|(_, room)| room.beds)
            .sum();
        let need = model
            .x
            .iter()
            .enumerate()
            .filter(|(p, row)| {
                ix.present(*p, d)
                    && row
                        .iter()
                        .any(|&(r, v)| ix.ward_of_room[r] == w && values.is_one(v))
            })
            .count();
        conflicts.push(Conflict {
            kind: ConflictKind::WardCapacity,
            message: format!(
                "ward {} capacity on day {d}: {need} patients need beds, {beds} available",
                input.wards[w].id
            ),
        });
    }
    for &(r, d, s) in &el.mixed {
        if values.get(s) < 0.5 {
            continue;
        }
        let (mut f, mut mm) = (0, 0);
        for (p, row) in model.x.iter().enumerate() {
            if ix.present(p, d) && row.iter().any(|&(rr, v)| rr == r && values.is_one(v)) {
                match input.patients[p].sex {
                    Sex::Female => f += 1,
                    Sex::Male => mm += 1,
                }
            }
        }
        conflicts.push(Conflict {
            kind: ConflictKind::SingleSex,
            message: format!(
                "room {} on day {d} would be mixed-sex: {f} female and {mm} male patients",
                input.rooms[r].id
            ),
        });
    }
    for &(p, u) in &el.unplaced {
        if values.get(u) < 0.5 {
            continue;
        }
        let pat = &input.patients[p];
        let days = &ix.days[p];
        let (kind, what) = if pat.isolation {
            (
                ConflictKind::Isolation,
                "requires isolation but no single room",
            )
        } else {
            (ConflictKind::Unplaced, "has no eligible bed")
        };
        conflicts.push(Conflict {
            kind,
            message: format!(
                "patient {} {what} free on days {}-{}",
                pat.id,
                days.start,
                days.end - 1
            ),
        });
    }
    if conflicts.is_empty() {
        conflicts.push(Conflict {
            kind: ConflictKind::Unplaced,
            message: "HiGHS proved the plan infeasible but the elastic model needs no slack".into(),
        });
    }
    Ok(conflicts)
}
