//! The bed-allocation MILP: checked indices of the input, the model (with an elastic
//! variant whose slacks [`super::explain`] reads), and the plan decoded from its rooms.

use good_lp::{Expression, Variable};

use super::{BedAssignment, BedCost, BedInput, Sex, SolveError, WardDay};
use crate::highs::Milp;
use crate::input::{index_by_id, quantile};

/// Checked indices of the input.
pub(super) struct Index<'a> {
    pub(super) input: &'a BedInput,
    pub(super) ward_of_room: Vec<usize>,
    /// Days each patient is in a bed, inside the horizon.
    pub(super) days: Vec<std::ops::Range<u32>>,
    /// Eligible rooms per patient.
    pub(super) eligible: Vec<Vec<usize>>,
    pub(super) current: Vec<Option<usize>>,
    pub(super) previous: Vec<Option<usize>>,
    pub(super) reserve: Vec<Vec<f64>>,
}

impl<'a> Index<'a> {
    pub(super) fn new(input: &'a BedInput) -> Result<Self, SolveError> {
        let h = input.horizon_days;
        if h == 0 {
            return Err(SolveError::Invalid(
                "horizon_days must be at least 1".into(),
            ));
        }
        let ward_ix = index_by_id(&input.wards, |x| &x.id);
        let room_ix = index_by_id(&input.rooms, |x| &x.id);
        let ward_of_room = input
            .rooms
            .iter()
            .map(|r| {
                ward_ix.get(r.ward.as_str()).copied().ok_or_else(|| {
                    SolveError::Invalid(format!("room {} names unknown ward {}", r.id, r.ward))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut days = Vec::new();
        let mut eligible = Vec::new();
        let mut current = Vec::new();
        let mut previous = vec![None; input.patients.len()];
        let pat_ix = index_by_id(&input.patients, |x| &x.id);
        for p in &input.patients {
            if p.discharge_day <= p.admit_day || p.admit_day >= h {
                return Err(SolveError::Invalid(format!(
                    "patient {}: stay {}..{} is empty or starts after the horizon",
                    p.id, p.admit_day, p.discharge_day
                )));
            }
            days.push(p.admit_day..p.discharge_day.min(h));
            let rooms: Vec<usize> = input
                .rooms
                .iter()
                .enumerate()
                .filter(|(i, r)| {
                    let w = &input.wards[ward_of_room[*i]];
                    p.equipment.iter().all(|e| r.equipment.contains(e))
                        && w.min_age.is_none_or(|a| p.age >= a)
                        && w.max_age.is_none_or(|a| p.age <= a)
                        && (!p.isolation || r.is_single())
                })
                .map(|(i, _)| i)
                .collect();
            eligible.push(rooms);
            current.push(match &p.current_room {
                Some(r) => Some(room_ix.get(r.as_str()).copied().ok_or_else(|| {
                    SolveError::Invalid(format!("patient {} is in unknown room {r}", p.id))
                })?),
                None => None,
            });
        }
        for a in &input.previous {
            if let (Some(&p), Some(&r)) =
                (pat_ix.get(a.patient.as_str()), room_ix.get(a.room.as_str()))
            {
                previous[p] = Some(r);
            }
        }
        let mut reserve = vec![vec![0.0; h as usize]; input.wards.len()];
        for f in &input.emergency_forecast {
            let w = *ward_ix.get(f.ward.as_str()).ok_or_else(|| {
                SolveError::Invalid(format!("forecast names unknown ward {}", f.ward))
            })?;
            if f.day < h {
                reserve[w][f.day as usize] = quantile(&f.quantiles, input.weights.reserve_level);
            }
        }
        Ok(Self {
            input,
            ward_of_room,
            days,
            eligible,
            current,
            previous,
            reserve,
        })
    }

    pub(super) fn present(&self, p: usize, d: u32) -> bool {
        self.days[p].contains(&d)
    }
}

/// Slack variables of the elastic model, by group.
#[derive(Default)]
pub(super) struct Elastic {
    pub(super) unplaced: Vec<(usize, Variable)>,
    pub(super) overflow: Vec<(usize, u32, Variable)>,
    pub(super) mixed: Vec<(usize, u32, Variable)>,
}

pub(super) struct Model {
    pub(super) milp: Milp,
    /// (room, x[p,r]) per patient, eligible rooms only.
    pub(super) x: Vec<Vec<(usize, Variable)>>,
    pub(super) elastic: Option<Elastic>,
    pub(super) hint: Vec<(Variable, f64)>,
}

// Slack prices of the elastic model: an unplaced patient is the last resort, so the
// explanation names the tight beds rather than dropping patients.
const UNPLACED_PENALTY: f64 = 1000.0;
const OVERFLOW_PENALTY: f64 = 100.0;
const MIXED_PENALTY: f64 = 100.0;

pub(super) fn build(ix: &Index, elastic: bool) -> Model {
    let input = ix.input;
    let h = input.horizon_days;
    let wt = &input.weights;
    let mut m = Milp::new();
    let mut el = elastic.then(Elastic::default);
    let mut hint = Vec::new();
    let mut x: Vec<Vec<(usize, Variable)>> = Vec::new();
    for (p, pat) in input.patients.iter().enumerate() {
        let mut row = Vec::new();
        let mut one = Expression::from(0.0);
        for &r in &ix.eligible[p] {
            let v = m.binary();
            one += v;
            row.push((r, v));
            let ward = &input.wards[ix.ward_of_room[r]];
            if !ward.specialties.contains(&pat.specialty) {
                m.minimise(wt.outlier * ix.days[p].len() as f64 * v);
            }
            if ix.current[p].is_some_and(|c| c != r) {
                m.minimise(wt.transfer * v);
            }
            if ix.previous[p].is_some_and(|c| c != r) {
                m.minimise(wt.change * v);
            }
            let start = ix.previous[p].or(ix.current[p]);
            hint.push((v, f64::from(u8::from(start == Some(r)))));
        }
        if let Some(el) = el.as_mut() {
            let u = m.continuous(0.0, 1.0);
            one += u;
            m.minimise(UNPLACED_PENALTY * u);
            el.unplaced.push((p, u));
        }
        m.constrain(one.eq(1.0));
        x.push(row);
    }
    // Occupancy of each room per day.
    let mut occ: Vec<Vec<Expression>> = (0..input.rooms.len())
        .map(|_| (0..h).map(|_| Expression::from(0.0)).collect())
        .collect();
    for (p, row) in x.iter().enumerate() {
        for &(r, v) in row {
            for d in ix.days[p].clone() {
                occ[r][d as usize] += v;
            }
        }
    }
    for (r, room) in input.rooms.iter().enumerate() {
        for d in 0..h {
            let mut cap = occ[r][d as usize].clone();
            if let Some(el) = el.as_mut() {
                let o = m.continuous(0.0, f64::INFINITY);
                cap -= o;
                m.minimise(OVERFLOW_PENALTY * o);
                el.overflow.push((r, d, o));
            }
            m.constrain(cap.leq(room.beds as f64));
        }
        if room.is_single() {
            continue;
        }
        for d in 0..h {
            let here: Vec<(Sex, Variable)> = x
                .iter()
                .enumerate()
                .filter(|(p, _)| ix.present(*p, d))
                .flat_map(|(p, row)| {
                    row.iter()
                        .filter(|(rr, _)| *rr == r)
                        .map(move |&(_, v)| (input.patients[p].sex, v))
                })
                .collect();
            let both = here.iter().any(|(s, _)| *s == Sex::Female)
                && here.iter().any(|(s, _)| *s == Sex::Male);
            if !both {
                continue;
            }
            // z = 1: the room is female that day.
            let z = m.binary();
            let slack = el.as_mut().map(|el| {
                let s = m.continuous(0.0, 1.0);
                m.minimise(MIXED_PENALTY * s);
                el.mixed.push((r, d, s));
                s
            });
            for (sex, v) in here {
                let mut lhs = Expression::from(v);
                if let Some(s) = slack {
                    lhs -= s;
                }
                match sex {
                    Sex::Female => m.constrain(lhs.leq(z)),
                    Sex::Male => m.constrain(lhs.leq(1.0 - z)),
                }
            }
        }
    }
    // Emergency reserve: beds free in the ward against the forecast quantile.
    for (w, _) in input.wards.iter().enumerate() {
        let beds: u32 = input
            .rooms
            .iter()
            .enumerate()
            .filter(|(r, _)| ix.ward_of_room[*r] == w)
            .map(|(_, room)| room.beds)
            .sum();
        for d in 0..h {
            let need = ix.reserve[w][d as usize];
            if need <= 0.0 {
                continue;
            }
            let short = m.continuous(0.0, f64::INFINITY);
            let mut used = Expression::from(0.0);
            for (r, row) in occ.iter().enumerate() {
                if ix.ward_of_room[r] == w {
                    used += row[d as usize].clone();
                }
            }
            // free = beds - used; short >= need - free.
            m.constrain((Expression::from(short) - used).geq(need - beds as f64));
            m.minimise(wt.reserve_shortfall * short);
        }
    }
    Model {
        milp: m,
        x,
        elastic: el,
        hint,
    }
}

/// The plan (bed labels, cost terms, reserve) for a room per patient.
pub(super) fn decode(ix: &Index, rooms: &[usize]) -> (Vec<BedAssignment>, BedCost, Vec<WardDay>) {
    let input = ix.input;
    let h = input.horizon_days;
    let wt = &input.weights;
    let mut cost = BedCost::default();
    let mut assignments = Vec::new();
    // Beds of a room are handed out in admission order; capacity per day guarantees a
    // free bed (interval colouring).
    let mut order: Vec<usize> = (0..input.patients.len()).collect();
    order.sort_by_key(|&p| (ix.days[p].start, ix.days[p].end));
    let mut bed_free_from: Vec<Vec<u32>> = input
        .rooms
        .iter()
        .map(|r| vec![0; r.beds as usize])
        .collect();
    let mut bed_of = vec![0usize; input.patients.len()];
    for &p in &order {
        let r = rooms[p];
        let beds = &mut bed_free_from[r];
        // Keep a patient already in the room in a bed of their own first.
        let b = beds
            .iter()
            .position(|&f| f <= ix.days[p].start)
            .unwrap_or(0);
        if let Some(slot) = beds.get_mut(b) {
            *slot = ix.days[p].end;
        }
        bed_of[p] = b;
    }
    for (p, pat) in input.patients.iter().enumerate() {
        let r = rooms[p];
        let room = &input.rooms[r];
        let ward = &input.wards[ix.ward_of_room[r]];
        let outlier = !ward.specialties.contains(&pat.specialty);
        let transfer = ix.current[p].is_some_and(|c| c != r);
        if outlier {
            cost.outlier_days += ix.days[p].len() as u32;
        }
        cost.transfers += u32::from(transfer);
        cost.changes += u32::from(ix.previous[p].is_some_and(|c| c != r));
        assignments.push(BedAssignment {
            patient: pat.id.clone(),
            ward: ward.id.clone(),
            room: room.id.clone(),
            bed: format!("{}/{}", room.id, bed_of[p] + 1),
            from_day: ix.days[p].start,
            to_day: ix.days[p].end,
            outlier,
            transfer,
        });
    }
    let mut ward_days = Vec::new();
    for (w, ward) in input.wards.iter().enumerate() {
        let beds: u32 = input
            .rooms
            .iter()
            .enumerate()
            .filter(|(r, _)| ix.ward_of_room[*r] == w)
            .map(|(_, room)| room.beds)
            .sum();
        for d in 0..h {
            let used = (0..input.patients.len())
                .filter(|&p| ix.present(p, d) && ix.ward_of_room[rooms[p]] == w)
                .count() as u32;
            let free = beds.saturating_sub(used);
            let reserve = ix.reserve[w][d as usize];
            cost.reserve_shortfall += (reserve - free as f64).max(0.0);
            ward_days.push(WardDay {
                ward: ward.id.clone(),
                day: d,
                reserve,
                free,
            });
        }
    }
    cost.total = wt.outlier * cost.outlier_days as f64
        + wt.transfer * cost.transfers as f64
        + wt.change * cost.changes as f64
        + wt.reserve_shortfall * cost.reserve_shortfall;
    (assignments, cost, ward_days)
}
