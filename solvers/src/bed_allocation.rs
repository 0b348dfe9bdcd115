//! Bed allocation over a rolling horizon.
//!
//! Sets: patients p (in a bed now or admitted during the horizon), rooms r (each in a ward
//! w, with a number of beds, equipment, a single-room flag), days d in 0..H.
//! Decision: x[p,r] = 1 when p stays in room r for the part of the stay inside the horizon
//! (a stay is not split: moving a patient mid-stay is a transfer nobody plans ahead).
//! Hard constraints:
//! - every patient gets exactly one eligible room: equipment the patient needs is in the
//!   room, the patient's age is within the ward's age range (paediatric wards), and a
//!   patient who needs isolation gets a single room;
//! - room capacity: patients present on day d in room r <= beds of r;
//! - single-sex rooms: a multi-bed room holds one sex per day (z[r,d] picks which).
//!
//! Objective (each term reported apart in [`BedCost`]):
//! - outliers: patient-days in a ward whose specialties do not include the patient's;
//! - transfers: a patient already in a bed moved from their current room;
//! - changes: a patient placed in another room than in the previous plan (re-planning);
//! - emergency reserve: beds short of the ward/day quantile of forecast emergency demand
//!   (`reserve_level`, e.g. the 0.9 quantile), priced per bed-day.
//!
//! When the hard constraints cannot all hold, an elastic copy (each group with a priced
//! slack) is solved and [`SolveError::Infeasible`] names the constraints that give way:
//! "ward W3 capacity on day 2: 14 patients need beds, 12 available".

use std::collections::{BTreeMap, HashMap};

use good_lp::{Expression, Variable};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::highs::{HighsError, HighsSettings, Milp};
use crate::solve::{ProgressSink, SolveOptions, SolveStatus};

/// Patient sex, for single-sex rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
}

/// A ward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ward {
    /// Ward ID ("W3").
    pub id: String,
    /// Specialties the ward is for; a patient of another specialty is an outlier.
    pub specialties: Vec<String>,
    /// Youngest age admitted (e.g. 18 on adult wards).
    #[serde(default)]
    pub min_age: Option<u32>,
    /// Oldest age admitted (e.g. 17 on a paediatric ward).
    #[serde(default)]
    pub max_age: Option<u32>,
}

/// A room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Room {
    /// Room ID ("W3-R2").
    pub id: String,
    /// The ward's ID.
    pub ward: String,
    /// Beds in the room.
    pub beds: u32,
    /// Equipment available at every bed of the room ("telemetry", "oxygen").
    #[serde(default)]
    pub equipment: Vec<String>,
}

impl Room {
    /// A single room can isolate a patient.
    pub fn is_single(&self) -> bool {
        self.beds == 1
    }
}

/// A patient to place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// Patient ID.
    pub id: String,
    /// Sex.
    pub sex: Sex,
    /// Age in years.
    pub age: u32,
    /// Specialty caring for the patient.
    pub specialty: String,
    /// First day in a bed (0 for patients already in).
    pub admit_day: u32,
    /// Day of discharge (exclusive; the bed is free that day).
    pub discharge_day: u32,
    /// Needs a single room.
    #[serde(default)]
    pub isolation: bool,
    /// Equipment needed at the bed.
    #[serde(default)]
    pub equipment: Vec<String>,
    /// The room the patient is in now, if already in a bed.
    #[serde(default)]
    pub current_room: Option<String>,
}

/// Forecast emergency demand for one ward and day, as quantiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemandForecast {
    /// Ward ID.
    pub ward: String,
    /// Day.
    pub day: u32,
    /// (level, beds) pairs, e.g. [(0.5, 2.0), (0.9, 4.0)].
    pub quantiles: Vec<(f64, f64)>,
}

/// Prices of the objective terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedWeights {
    /// Per outlier patient-day.
    pub outlier: f64,
    /// Per patient moved from their current room.
    pub transfer: f64,
    /// Per patient whose room differs from the previous plan.
    pub change: f64,
    /// Per bed-day short of the emergency reserve.
    pub reserve_shortfall: f64,
    /// Forecast quantile level kept free for emergencies.
    pub reserve_level: f64,
}

impl Default for BedWeights {
    fn default() -> Self {
        Self {
            outlier: 10.0,
            transfer: 50.0,
            change: 5.0,
            reserve_shortfall: 20.0,
            reserve_level: 0.9,
        }
    }
}

/// A previous plan's room for a patient (warm start and change penalty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousAssignment {
    /// Patient ID.
    pub patient: String,
    /// Room ID.
    pub room: String,
}

/// Everything a bed-allocation solve needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedInput {
    /// Days planned; day 0 is today.
    pub horizon_days: u32,
    /// Wards.
    pub wards: Vec<Ward>,
    /// Rooms.
    pub rooms: Vec<Room>,
    /// Patients.
    pub patients: Vec<Patient>,
    /// Emergency demand forecasts.
    #[serde(default)]
    pub emergency_forecast: Vec<DemandForecast>,
    /// Objective prices.
    #[serde(default)]
    pub weights: BedWeights,
    /// The plan being revised, if any.
    #[serde(default)]
    pub previous: Vec<PreviousAssignment>,
}

/// One patient's bed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedAssignment {
    /// Patient ID.
    pub patient: String,
    /// Ward ID.
    pub ward: String,
    /// Room ID.
    pub room: String,
    /// Bed label ("W3-R2/1"); beds of a room are numbered so stays never overlap.
    pub bed: String,
    /// First day in the bed (within the horizon).
    pub from_day: u32,
    /// Day the bed is freed (exclusive, capped at the horizon).
    pub to_day: u32,
    /// The ward is not for the patient's specialty.
    pub outlier: bool,
    /// The patient moves from their current room.
    pub transfer: bool,
}

/// The objective, term by term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BedCost {
    /// Outlier patient-days.
    pub outlier_days: u32,
    /// Patients moved from their current room.
    pub transfers: u32,
    /// Patients placed differently from the previous plan.
    pub changes: u32,
    /// Bed-days short of the emergency reserve.
    pub reserve_shortfall: f64,
    /// Weighted total.
    pub total: f64,
}

/// Free beds against the emergency reserve, per ward and day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WardDay {
    /// Ward ID.
    pub ward: String,
    /// Day.
    pub day: u32,
    /// Beds kept for emergencies (forecast quantile).
    pub reserve: f64,
    /// Beds free in the plan.
    pub free: u32,
}

/// A bed plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedPlan {
    /// Optimal or stopped by the time limit.
    pub status: SolveStatus,
    /// One entry per patient.
    pub assignments: Vec<BedAssignment>,
    /// Cost by term.
    pub cost: BedCost,
    /// Best lower bound on the total.
    pub bound: Option<f64>,
    /// Relative MIP gap.
    pub mip_gap: Option<f64>,
    /// Reserve against free beds.
    pub ward_days: Vec<WardDay>,
}

/// Which constraint group gives way in an infeasible input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// No room at all meets a patient's needs.
    NoEligibleRoom,
    /// A patient needing isolation finds no single room free.
    Isolation,
    /// A ward has more patients than beds on a day.
    WardCapacity,
    /// A room would have to hold both sexes.
    SingleSex,
    /// A patient cannot be placed for another reason.
    Unplaced,
}

/// One constraint that cannot hold together with the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The group.
    pub kind: ConflictKind,
    /// In hospital words.
    pub message: String,
}

/// Where a JSON input is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}, at `{path}`: {message}")]
pub struct InputError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Field path ("patients[3].sex").
    pub path: String,
    /// serde_json's message.
    pub message: String,
}

/// Reads a JSON input, locating errors by line, column and field path.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, InputError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| InputError {
        line: e.inner().line(),
        column: e.inner().column(),
        path: e.path().to_string(),
        // serde_json appends "at line L column C", which the fields above say already.
        message: {
            let m = e.inner().to_string();
            match m.rfind(" at line ") {
                Some(i) => m[..i].to_owned(),
                None => m,
            }
        },
    })
}

/// Why a bed plan could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// The input contradicts itself (unknown ward, empty stay...).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The input JSON is malformed.
    #[error("malformed input: {0}")]
    // Not a `source`: the message already carries the location, and error chains
    // would print it twice.
    Parse(InputError),
    /// The hard constraints cannot all hold; these are the ones that give way.
    #[error("infeasible: {}", conflicts.iter().map(|c| c.message.as_str()).collect::<Vec<_>>().join("; "))]
    Infeasible {
        /// The constraints that cannot all hold.
        conflicts: Vec<Conflict>,
    },
    /// No plan was found within the time limit (none proven impossible either).
    #[error("no plan found within the time limit")]
    NoPlanInTime,
    /// HiGHS failed.
    #[error(transparent)]
    Highs(#[from] HighsError),
}

impl BedInput {
    /// Reads an input from JSON.
    pub fn from_json(text: &str) -> Result<Self, SolveError> {
        Ok(from_json(text)?)
    }
}

/// Checked indices of the input.
struct Index<'a> {
    input: &'a BedInput,
    ward_of_room: Vec<usize>,
    /// Days each patient is in a bed, inside the horizon.
    days: Vec<std::ops::Range<u32>>,
    /// Eligible rooms per patient.
    eligible: Vec<Vec<usize>>,
    current: Vec<Option<usize>>,
    previous: Vec<Option<usize>>,
    reserve: Vec<Vec<f64>>,
}

impl<'a> Index<'a> {
    fn new(input: &'a BedInput) -> Result<Self, SolveError> {
        let h = input.horizon_days;
        if h == 0 {
            return Err(SolveError::Invalid(
                "horizon_days must be at least 1".into(),
            ));
        }
        let ward_ix: HashMap<&str, usize> = input
            .wards
            .iter()
            .enumerate()
            .map(|(i, w)| (w.id.as_str(), i))
            .collect();
        let room_ix: HashMap<&str, usize> = input
            .rooms
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
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
        let pat_ix: HashMap<&str, usize> = input
            .patients
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
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

    fn present(&self, p: usize, d: u32) -> bool {
        self.days[p].contains(&d)
    }
}

/// The forecast at `level`, interpolated linearly between the given quantiles.
fn quantile(qs: &[(f64, f64)], level: f64) -> f64 {
    let mut qs = qs.to_vec();
    qs.sort_by(|a, b| a.0.total_cmp(&b.0));
    match qs.iter().position(|q| q.0 >= level) {
        None => qs.last().map_or(0.0, |q| q.1),
        Some(0) => qs[0].1,
        Some(i) => {
            let (l0, v0) = qs[i - 1];
            let (l1, v1) = qs[i];
            v0 + (v1 - v0) * (level - l0) / (l1 - l0)
        }
    }
}

/// Slack variables of the elastic model, by group.
#[derive(Default)]
struct Elastic {
    unplaced: Vec<(usize, Variable)>,
    overflow: Vec<(usize, u32, Variable)>,
    mixed: Vec<(usize, u32, Variable)>,
}

struct Model {
    milp: Milp,
    x: Vec<Vec<(usize, Variable)>>,
    elastic: Option<Elastic>,
    hint: Vec<(Variable, f64)>,
}

// Slack prices of the elastic model: an unplaced patient is the last resort, so the
// explanation names the tight beds rather than dropping patients.
const UNPLACED_PENALTY: f64 = 1000.0;
const OVERFLOW_PENALTY: f64 = 100.0;
const MIXED_PENALTY: f64 = 100.0;

fn build(ix: &Index, elastic: bool) -> Model {
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

/// Solves a bed allocation. Infeasible inputs are explained (see [`SolveError::Infeasible`]).
pub fn solve(
    input: &BedInput,
    opts: &SolveOptions,
    progress: ProgressSink,
) -> Result<BedPlan, SolveError> {
    let ix = Index::new(input)?;
    let mut conflicts = Vec::new();
    for (p, rooms) in ix.eligible.iter().enumerate() {
        if rooms.is_empty() {
            conflicts.push(Conflict {
                kind: ConflictKind::NoEligibleRoom,
                message: no_room_reason(input, p),
            });
        }
    }
    if !conflicts.is_empty() {
        return Err(SolveError::Infeasible { conflicts });
    }
    let settings = HighsSettings::new(opts);
    let model = build(&ix, false);
    let hint = model.hint.clone();
    let has_hint = !input.previous.is_empty() || ix.current.iter().any(Option::is_some);
    let r = model
        .milp
        .solve(&settings, has_hint.then_some(hint.as_slice()), progress)?;
    match (&r.values, r.status) {
        (Some(values), _) => {
            let rooms: Vec<usize> = model
                .x
                .iter()
                .map(|row| {
                    row.iter()
                        .find(|(_, v)| values.is_one(*v))
                        .map_or(row[0].0, |(r, _)| *r)
                })
                .collect();
            let mut plan = plan_from_rooms(&ix, &rooms);
            plan.status = r.status;
            plan.bound = r.bound;
            plan.mip_gap = r.mip_gap;
            Ok(plan)
        }
        (None, SolveStatus::Infeasible) => Err(SolveError::Infeasible {
            conflicts: explain(&ix, &settings)?,
        }),
        (None, _) => Err(SolveError::NoPlanInTime),
    }
}

fn no_room_reason(input: &BedInput, p: usize) -> String {
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
fn explain(ix: &Index, settings: &HighsSettings) -> Result<Vec<Conflict>, SolveError> {
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

/// The plan (bed labels, cost terms, reserve) for a room per patient.
fn plan_from_rooms(ix: &Index, rooms: &[usize]) -> BedPlan {
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
    BedPlan {
        status: SolveStatus::Optimal,
        assignments,
        cost,
        bound: None,
        mip_gap: None,
        ward_days,
    }
}

/// Checks a plan against the hard rules; returns what is broken (empty when none).
pub fn violations(input: &BedInput, plan: &BedPlan) -> Vec<String> {
    let mut out = Vec::new();
    let h = input.horizon_days;
    let room_ix: HashMap<&str, usize> = input
        .rooms
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
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

impl From<InputError> for SolveError {
    fn from(e: InputError) -> Self {
        SolveError::Parse(e)
    }
}
