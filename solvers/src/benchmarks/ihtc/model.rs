//! The instance with ids resolved to indices, checked once, shared by the evaluator and
//! the solver. Occupants and patients both become [`Person`]s so that room, skill and
//! continuity rules are written once.

use std::collections::HashMap;

use super::{Gender, Instance, Weights};

/// Someone who occupies a bed: an occupant or an admitted patient.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    /// 0 = gender A, 1 = gender B.
    pub gender: usize,
    /// Index in `age_groups`.
    pub age: usize,
    pub los: usize,
    /// Per shift of the stay, from the first shift of the first day.
    pub workload: Vec<u32>,
    pub skill: Vec<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct Occupant {
    pub person: Person,
    pub room: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Patient {
    pub person: Person,
    pub mandatory: bool,
    pub release: usize,
    /// Last allowed admission day: the due day for mandatory patients, `D - 1` otherwise.
    pub last_day: usize,
    pub duration: u32,
    pub surgeon: usize,
    /// `incompatible[r]`: the patient may not be placed in room `r`.
    pub incompatible: Vec<bool>,
}

/// The indexed instance.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub days: usize,
    /// Shifts per day.
    pub spd: usize,
    pub age_groups: usize,
    pub room_capacity: Vec<u32>,
    pub occupants: Vec<Occupant>,
    pub patients: Vec<Patient>,
    /// `[surgeon][day]`
    pub surgeon_max: Vec<Vec<u32>>,
    /// `[theatre][day]`
    pub theater_avail: Vec<Vec<u32>>,
    pub nurse_skill: Vec<u32>,
    /// `[nurse][shift]`: the max load when the nurse works that shift.
    pub nurse_max_load: Vec<Vec<Option<u32>>>,
    /// `[shift]`: nurses working it.
    pub nurses_in_shift: Vec<Vec<usize>>,
    pub weights: Weights,
    pub room_ids: Vec<String>,
    pub theater_ids: Vec<String>,
    pub nurse_ids: Vec<String>,
    pub shift_names: Vec<String>,
    pub patient_index: HashMap<String, usize>,
    pub room_index: HashMap<String, usize>,
    pub theater_index: HashMap<String, usize>,
    pub nurse_index: HashMap<String, usize>,
    pub shift_index: HashMap<String, usize>,
}

type Located = (String, String);

fn index_of(
    ids: impl Iterator<Item = String>,
    what: &str,
    path: &str,
) -> Result<HashMap<String, usize>, Located> {
    let mut map = HashMap::new();
    for (i, id) in ids.enumerate() {
        if map.insert(id.clone(), i).is_some() {
            return Err((
                format!("{path}[{i}].id"),
                format!("duplicate {what} id `{id}`"),
            ));
        }
    }
    Ok(map)
}

fn lookup(
    map: &HashMap<String, usize>,
    id: &str,
    what: &str,
    path: String,
) -> Result<usize, Located> {
    map.get(id)
        .copied()
        .ok_or_else(|| (path, format!("unknown {what} `{id}`")))
}

fn check_len(len: usize, want: usize, path: String) -> Result<(), Located> {
    if len == want {
        Ok(())
    } else {
        Err((path, format!("has {len} entries, expected {want}")))
    }
}

impl Model {
    /// Resolves ids and checks array lengths; an error names the JSON path.
    pub fn new(inst: &Instance) -> Result<Self, Located> {
        let days = inst.days;
        if days == 0 {
            return Err(("days".into(), "must be at least 1".into()));
        }
        let spd = inst.shift_types.len();
        if spd == 0 {
            return Err(("shift_types".into(), "must not be empty".into()));
        }
        let shifts = days * spd;
        let room_index = index_of(inst.rooms.iter().map(|r| r.id.clone()), "room", "rooms")?;
        let theater_index = index_of(
            inst.operating_theaters.iter().map(|t| t.id.clone()),
            "theatre",
            "operating_theaters",
        )?;
        let surgeon_index = index_of(
            inst.surgeons.iter().map(|s| s.id.clone()),
            "surgeon",
            "surgeons",
        )?;
        let nurse_index = index_of(inst.nurses.iter().map(|n| n.id.clone()), "nurse", "nurses")?;
        let patient_index = index_of(
            inst.patients
                .iter()
                .map(|p| p.id.clone())
                .chain(inst.occupants.iter().map(|o| o.id.clone())),
            "patient/occupant",
            "patients",
        )?;
        let shift_index: HashMap<String, usize> = inst
            .shift_types
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        let age_index: HashMap<String, usize> = inst
            .age_groups
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();

        let person = |path: &str,
                      gender: Gender,
                      age_group: &str,
                      los: usize,
                      workload: &[u32],
                      skill: &[u32]|
         -> Result<Person, Located> {
            let age = lookup(
                &age_index,
                age_group,
                "age group",
                format!("{path}.age_group"),
            )?;
            check_len(
                workload.len(),
                los * spd,
                format!("{path}.workload_produced"),
            )?;
            check_len(
                skill.len(),
                los * spd,
                format!("{path}.skill_level_required"),
            )?;
            Ok(Person {
                gender: match gender {
                    Gender::A => 0,
                    Gender::B => 1,
                },
                age,
                los,
                workload: workload.to_vec(),
                skill: skill.to_vec(),
            })
        };

        let mut occupants = Vec::with_capacity(inst.occupants.len());
        for (i, o) in inst.occupants.iter().enumerate() {
            let path = format!("occupants[{i}]");
            occupants.push(Occupant {
                person: person(
                    &path,
                    o.gender,
                    &o.age_group,
                    o.length_of_stay,
                    &o.workload_produced,
                    &o.skill_level_required,
                )?,
                room: lookup(&room_index, &o.room_id, "room", format!("{path}.room_id"))?,
            });
        }
        let mut patients = Vec::with_capacity(inst.patients.len());
        for (i, p) in inst.patients.iter().enumerate() {
            let path = format!("patients[{i}]");
            let mut incompatible = vec![false; inst.rooms.len()];
            for (k, r) in p.incompatible_room_ids.iter().enumerate() {
                incompatible[lookup(
                    &room_index,
                    r,
                    "room",
                    format!("{path}.incompatible_room_ids[{k}]"),
                )?] = true;
            }
            let last_day = if p.mandatory {
                let due = p.surgery_due_day.ok_or_else(|| {
                    (
                        format!("{path}.surgery_due_day"),
                        "a mandatory patient needs a due day".to_string(),
                    )
                })?;
                if due < p.surgery_release_day {
                    return Err((
                        format!("{path}.surgery_due_day"),
                        "is before the release day".into(),
                    ));
                }
                due.min(days - 1)
            } else {
                days - 1
            };
            patients.push(Patient {
                person: person(
                    &path,
                    p.gender,
                    &p.age_group,
                    p.length_of_stay,
                    &p.workload_produced,
                    &p.skill_level_required,
                )?,
                mandatory: p.mandatory,
                release: p.surgery_release_day,
                last_day,
                duration: p.surgery_duration,
                surgeon: lookup(
                    &surgeon_index,
                    &p.surgeon_id,
                    "surgeon",
                    format!("{path}.surgeon_id"),
                )?,
                incompatible,
            });
        }
        for (i, s) in inst.surgeons.iter().enumerate() {
            check_len(
                s.max_surgery_time.len(),
                days,
                format!("surgeons[{i}].max_surgery_time"),
            )?;
        }
        for (i, t) in inst.operating_theaters.iter().enumerate() {
            check_len(
                t.availability.len(),
                days,
                format!("operating_theaters[{i}].availability"),
            )?;
        }
        let mut nurse_max_load = vec![vec![None; shifts]; inst.nurses.len()];
        let mut nurses_in_shift = vec![Vec::new(); shifts];
        for (n, nurse) in inst.nurses.iter().enumerate() {
            for (k, w) in nurse.working_shifts.iter().enumerate() {
                let path = format!("nurses[{n}].working_shifts[{k}]");
                if w.day >= days {
                    return Err((
                        format!("{path}.day"),
                        format!("day {} is outside the horizon", w.day),
                    ));
                }
                let s = lookup(&shift_index, &w.shift, "shift", format!("{path}.shift"))?;
                let h = w.day * spd + s;
                if nurse_max_load[n][h].is_none() {
                    nurses_in_shift[h].push(n);
                }
                nurse_max_load[n][h] = Some(w.max_load);
            }
        }
        Ok(Model {
            days,
            spd,
            age_groups: inst.age_groups.len(),
            room_capacity: inst.rooms.iter().map(|r| r.capacity).collect(),
            occupants,
            patients,
            surgeon_max: inst
                .surgeons
                .iter()
                .map(|s| s.max_surgery_time.clone())
                .collect(),
            theater_avail: inst
                .operating_theaters
                .iter()
                .map(|t| t.availability.clone())
                .collect(),
            nurse_skill: inst.nurses.iter().map(|n| n.skill_level).collect(),
            nurse_max_load,
            nurses_in_shift,
            weights: inst.weights,
            room_ids: inst.rooms.iter().map(|r| r.id.clone()).collect(),
            theater_ids: inst
                .operating_theaters
                .iter()
                .map(|t| t.id.clone())
                .collect(),
            nurse_ids: inst.nurses.iter().map(|n| n.id.clone()).collect(),
            shift_names: inst.shift_types.clone(),
            patient_index,
            room_index,
            theater_index,
            nurse_index,
            shift_index,
        })
    }

    pub fn shifts(&self) -> usize {
        self.days * self.spd
    }
    pub fn rooms(&self) -> usize {
        self.room_capacity.len()
    }
    pub fn theaters(&self) -> usize {
        self.theater_avail.len()
    }
    pub fn surgeons(&self) -> usize {
        self.surgeon_max.len()
    }
    pub fn nurses(&self) -> usize {
        self.nurse_skill.len()
    }
}
