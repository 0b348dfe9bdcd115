//! The evaluator: hard violations and soft costs of a solution, counted exactly as the
//! competition's validator does (checked against `reference/costs.csv` by
//! `tests/ihtc_evaluator.rs`). The solver uses it for its final figures, so the numbers it
//! reports are never those of its own incremental bookkeeping.

use serde::{Deserialize, Serialize};

use super::model::Model;
use super::{AdmissionDay, Error, Instance, Result, Solution, Weights};

/// Violations of each hard constraint; a solution is feasible when all are zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardViolations {
    /// Per room-day: min(#gender A, #gender B).
    pub gender_mix: u64,
    /// Admitted patients in one of their incompatible rooms.
    pub room_compatibility: u64,
    /// Minutes over the surgeon's daily limit, summed over surgeon-days.
    pub surgeon_overtime: u64,
    /// Minutes over the theatre's daily availability, summed over theatre-days.
    pub theater_overtime: u64,
    /// Mandatory patients not admitted.
    pub mandatory_unscheduled: u64,
    /// Admitted patients outside their admission window.
    pub admission_window: u64,
    /// Per room-day: people above the capacity.
    pub room_capacity: u64,
    /// Nurse assignments in shifts the nurse does not work.
    pub nurse_presence: u64,
    /// Occupied room-shifts without a nurse.
    pub uncovered_room: u64,
}

impl HardViolations {
    /// Sum of all violations.
    pub fn total(&self) -> u64 {
        self.terms().iter().map(|(_, v)| v).sum()
    }

    /// `(name, violations)` for each hard constraint, in the README's order.
    pub fn terms(&self) -> [(&'static str, u64); 9] {
        [
            ("gender_mix", self.gender_mix),
            ("room_compatibility", self.room_compatibility),
            ("surgeon_overtime", self.surgeon_overtime),
            ("theater_overtime", self.theater_overtime),
            ("mandatory_unscheduled", self.mandatory_unscheduled),
            ("admission_window", self.admission_window),
            ("room_capacity", self.room_capacity),
            ("nurse_presence", self.nurse_presence),
            ("uncovered_room", self.uncovered_room),
        ]
    }
}

/// One value per soft cost term: either raw counts or weighted costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// Age spread in room-days.
    pub room_mixed_age: u64,
    /// Missing nurse skill per person and shift.
    pub room_nurse_skill: u64,
    /// Distinct nurses per patient stay.
    pub continuity_of_care: u64,
    /// Nurse load above the shift maximum.
    pub nurse_excessive_workload: u64,
    /// Open theatre-days.
    pub open_operating_theater: u64,
    /// Extra theatres per surgeon-day.
    pub surgeon_transfer: u64,
    /// Admission days after release.
    pub patient_delay: u64,
    /// Optional patients not admitted.
    pub unscheduled_optional: u64,
}

impl CostBreakdown {
    /// `(name, value)` per term, in the README's order.
    pub fn terms(&self) -> [(&'static str, u64); 8] {
        [
            ("room_mixed_age", self.room_mixed_age),
            ("room_nurse_skill", self.room_nurse_skill),
            ("continuity_of_care", self.continuity_of_care),
            ("nurse_excessive_workload", self.nurse_excessive_workload),
            ("open_operating_theater", self.open_operating_theater),
            ("surgeon_transfer", self.surgeon_transfer),
            ("patient_delay", self.patient_delay),
            ("unscheduled_optional", self.unscheduled_optional),
        ]
    }

    /// Sum of the terms.
    pub fn total(&self) -> u64 {
        self.terms().iter().map(|(_, v)| v).sum()
    }

    /// Counts multiplied by the instance's weights.
    pub fn weighted(&self, w: &Weights) -> CostBreakdown {
        CostBreakdown {
            room_mixed_age: self.room_mixed_age * w.room_mixed_age,
            room_nurse_skill: self.room_nurse_skill * w.room_nurse_skill,
            continuity_of_care: self.continuity_of_care * w.continuity_of_care,
            nurse_excessive_workload: self.nurse_excessive_workload * w.nurse_eccessive_workload,
            open_operating_theater: self.open_operating_theater * w.open_operating_theater,
            surgeon_transfer: self.surgeon_transfer * w.surgeon_transfer,
            patient_delay: self.patient_delay * w.patient_delay,
            unscheduled_optional: self.unscheduled_optional * w.unscheduled_optional,
        }
    }
}

/// The full verdict on a solution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Hard constraint violations per type.
    pub hard: HardViolations,
    /// Unweighted soft counts.
    pub counts: CostBreakdown,
    /// Weighted soft costs.
    pub costs: CostBreakdown,
    /// Sum of the weighted soft costs (the competition's objective).
    pub total_cost: u64,
}

impl Evaluation {
    /// True when no hard constraint is violated.
    pub fn is_feasible(&self) -> bool {
        self.hard.total() == 0
    }
}

/// Where a patient is, once admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Adm {
    pub day: usize,
    pub room: usize,
    pub theater: usize,
}

/// A solution with ids resolved: per patient its admission, per room and shift the nurses
/// that cover it.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub adm: Vec<Option<Adm>>,
    /// `[room][shift]`
    pub cover: Vec<Vec<Vec<usize>>>,
    /// Assignments found in shifts the nurse does not work (they are not in `cover`).
    pub nurse_presence: u64,
}

fn invalid(path: String, message: String) -> Error {
    Error::Invalid {
        file: "<solution>".into(),
        path,
        message,
    }
}

impl Plan {
    /// Resolves a solution's ids against the model.
    pub fn from_solution(m: &Model, sol: &Solution) -> Result<Self> {
        let mut adm = vec![None; m.patients.len()];
        let mut seen = vec![false; m.patients.len()];
        for (i, pd) in sol.patients.iter().enumerate() {
            let path = format!("patients[{i}]");
            let p = match m.patient_index.get(&pd.id) {
                Some(&p) if p < m.patients.len() => p,
                _ => {
                    return Err(invalid(
                        format!("{path}.id"),
                        format!("unknown patient `{}`", pd.id),
                    ))
                }
            };
            if std::mem::replace(&mut seen[p], true) {
                return Err(invalid(
                    format!("{path}.id"),
                    format!("patient `{}` listed twice", pd.id),
                ));
            }
            if let AdmissionDay::Day(day) = pd.admission_day {
                if day >= m.days {
                    return Err(invalid(
                        format!("{path}.admission_day"),
                        format!("day {day} is outside the horizon"),
                    ));
                }
                let room_id = pd.room.as_deref().ok_or_else(|| {
                    invalid(
                        format!("{path}.room"),
                        "an admitted patient needs a room".into(),
                    )
                })?;
                let room = *m.room_index.get(room_id).ok_or_else(|| {
                    invalid(format!("{path}.room"), format!("unknown room `{room_id}`"))
                })?;
                let t_id = pd.operating_theater.as_deref().ok_or_else(|| {
                    invalid(
                        format!("{path}.operating_theater"),
                        "an admitted patient needs a theatre".into(),
                    )
                })?;
                let theater = *m.theater_index.get(t_id).ok_or_else(|| {
                    invalid(
                        format!("{path}.operating_theater"),
                        format!("unknown theatre `{t_id}`"),
                    )
                })?;
                adm[p] = Some(Adm { day, room, theater });
            }
        }
        let mut cover = vec![vec![Vec::new(); m.shifts()]; m.rooms()];
        let mut nurse_presence = 0;
        for (i, ns) in sol.nurses.iter().enumerate() {
            let n = *m.nurse_index.get(&ns.id).ok_or_else(|| {
                invalid(
                    format!("nurses[{i}].id"),
                    format!("unknown nurse `{}`", ns.id),
                )
            })?;
            for (k, a) in ns.assignments.iter().enumerate() {
                let path = format!("nurses[{i}].assignments[{k}]");
                if a.day >= m.days {
                    return Err(invalid(
                        format!("{path}.day"),
                        format!("day {} is outside the horizon", a.day),
                    ));
                }
                let s = *m.shift_index.get(&a.shift).ok_or_else(|| {
                    invalid(
                        format!("{path}.shift"),
                        format!("unknown shift `{}`", a.shift),
                    )
                })?;
                let h = a.day * m.spd + s;
                if m.nurse_max_load[n][h].is_none() {
                    // The validator counts the assignment as a violation and ignores it.
                    nurse_presence += 1;
                    continue;
                }
                for (j, r_id) in a.rooms.iter().enumerate() {
                    let r = *m.room_index.get(r_id).ok_or_else(|| {
                        invalid(
                            format!("{path}.rooms[{j}]"),
                            format!("unknown room `{r_id}`"),
                        )
                    })?;
                    if !cover[r][h].contains(&n) {
                        cover[r][h].push(n);
                    }
                }
            }
        }
        Ok(Plan {
            adm,
            cover,
            nurse_presence,
        })
    }

    /// The plan in the competition format; nurses are listed for every working shift.
    pub fn to_solution(&self, m: &Model, inst: &Instance) -> Solution {
        let patients = inst
            .patients
            .iter()
            .zip(&self.adm)
            .map(|(p, a)| match a {
                Some(a) => super::PatientDecision {
                    id: p.id.clone(),
                    admission_day: AdmissionDay::Day(a.day),
                    room: Some(m.room_ids[a.room].clone()),
                    operating_theater: Some(m.theater_ids[a.theater].clone()),
                },
                None => super::PatientDecision {
                    id: p.id.clone(),
                    admission_day: AdmissionDay::None,
                    room: None,
                    operating_theater: None,
                },
            })
            .collect();
        let nurses = (0..m.nurses())
            .map(|n| super::NurseSchedule {
                id: m.nurse_ids[n].clone(),
                assignments: (0..m.shifts())
                    .filter(|&h| m.nurse_max_load[n][h].is_some())
                    .map(|h| super::NurseAssignment {
                        day: h / m.spd,
                        shift: m.shift_names[h % m.spd].clone(),
                        rooms: (0..m.rooms())
                            .filter(|&r| self.cover[r][h].contains(&n))
                            .map(|r| m.room_ids[r].clone())
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        Solution { patients, nurses }
    }
}

/// Evaluates a solution of `instance`. Unknown ids or out-of-horizon days are errors
/// (located by JSON path); everything else is counted as a violation or a cost.
pub fn evaluate(instance: &Instance, solution: &Solution) -> Result<Evaluation> {
    let m = Model::new(instance).map_err(|(path, message)| Error::Invalid {
        file: "<instance>".into(),
        path,
        message,
    })?;
    let plan = Plan::from_solution(&m, solution)?;
    Ok(evaluate_plan(&m, &plan))
}

/// The evaluator proper, on resolved indices.
pub(crate) fn evaluate_plan(m: &Model, plan: &Plan) -> Evaluation {
    let (d_n, spd, h_n, r_n) = (m.days, m.spd, m.shifts(), m.rooms());
    let mut hard = HardViolations {
        nurse_presence: plan.nurse_presence,
        ..Default::default()
    };
    let mut c = CostBreakdown::default();

    // Everyone in a bed: (person, room, first day).
    let mut stays: Vec<(&super::model::Person, usize, usize)> = Vec::new();
    for o in &m.occupants {
        stays.push((&o.person, o.room, 0));
    }
    let mut surgeon_load = vec![vec![0u64; d_n]; m.surgeons()];
    let mut theater_load = vec![vec![0u64; d_n]; m.theaters()];
    let mut surgeon_theaters = vec![vec![vec![false; m.theaters()]; d_n]; m.surgeons()];
    for (p, a) in m.patients.iter().zip(&plan.adm) {
        match a {
            None if p.mandatory => hard.mandatory_unscheduled += 1,
            None => c.unscheduled_optional += 1,
            Some(a) => {
                stays.push((&p.person, a.room, a.day));
                if p.incompatible[a.room] {
                    hard.room_compatibility += 1;
                }
                if a.day < p.release || a.day > p.last_day {
                    hard.admission_window += 1;
                }
                c.patient_delay += a.day.saturating_sub(p.release) as u64;
                surgeon_load[p.surgeon][a.day] += u64::from(p.duration);
                theater_load[a.theater][a.day] += u64::from(p.duration);
                surgeon_theaters[p.surgeon][a.day][a.theater] = true;
            }
        }
    }
    for (s, loads) in surgeon_load.iter().enumerate() {
        for (d, &l) in loads.iter().enumerate() {
            hard.surgeon_overtime += l.saturating_sub(u64::from(m.surgeon_max[s][d]));
            let used = surgeon_theaters[s][d].iter().filter(|&&u| u).count() as u64;
            c.surgeon_transfer += used.saturating_sub(1);
        }
    }
    for (t, loads) in theater_load.iter().enumerate() {
        for (d, &l) in loads.iter().enumerate() {
            hard.theater_overtime += l.saturating_sub(u64::from(m.theater_avail[t][d]));
        }
    }
    // Open theatres count theatre-days with a surgery, even a zero-minute one.
    let mut open = vec![vec![false; d_n]; m.theaters()];
    for a in plan.adm.iter().flatten() {
        open[a.theater][a.day] = true;
    }
    c.open_operating_theater = open.iter().flatten().filter(|&&o| o).count() as u64;

    // Room-days and room-shifts.
    let mut gender = vec![vec![[0u64; 2]; d_n]; r_n];
    let mut age_min = vec![vec![usize::MAX; d_n]; r_n];
    let mut age_max = vec![vec![0usize; d_n]; r_n];
    let mut room_load = vec![vec![0u64; h_n]; r_n];
    for &(person, r, first) in &stays {
        for k in 0..person.los {
            let d = first + k;
            if d >= d_n {
                break;
            }
            gender[r][d][person.gender] += 1;
            age_min[r][d] = age_min[r][d].min(person.age);
            age_max[r][d] = age_max[r][d].max(person.age);
            for s in 0..spd {
                let h = d * spd + s;
                let req = person.skill[k * spd + s];
                room_load[r][h] += u64::from(person.workload[k * spd + s]);
                for &n in &plan.cover[r][h] {
                    c.room_nurse_skill += u64::from(req.saturating_sub(m.nurse_skill[n]));
                }
            }
        }
        let mut nurses: Vec<usize> = (0..person.los.min(d_n.saturating_sub(first)) * spd)
            .flat_map(|i| plan.cover[r][first * spd + i].iter().copied())
            .collect();
        nurses.sort_unstable();
        nurses.dedup();
        c.continuity_of_care += nurses.len() as u64;
    }
    for r in 0..r_n {
        for d in 0..d_n {
            let [a, b] = gender[r][d];
            hard.gender_mix += a.min(b);
            hard.room_capacity += (a + b).saturating_sub(u64::from(m.room_capacity[r]));
            if a + b > 0 {
                c.room_mixed_age += (age_max[r][d] - age_min[r][d]) as u64;
                for s in 0..spd {
                    if plan.cover[r][d * spd + s].is_empty() {
                        hard.uncovered_room += 1;
                    }
                }
            }
        }
    }
    let mut nurse_load = vec![vec![0u64; h_n]; m.nurses()];
    for (cover, loads) in plan.cover.iter().zip(&room_load) {
        for (h, nurses) in cover.iter().enumerate() {
            for &n in nurses {
                nurse_load[n][h] += loads[h];
            }
        }
    }
    for (n, loads) in nurse_load.iter().enumerate() {
        for (h, &l) in loads.iter().enumerate() {
            if let Some(max) = m.nurse_max_load[n][h] {
                c.nurse_excessive_workload += l.saturating_sub(u64::from(max));
            }
        }
    }
    let costs = c.weighted(&m.weights);
    Evaluation {
        hard,
        counts: c,
        costs,
        total_cost: costs.total(),
    }
}
