//! Incremental state for local search: every decision (patient admission, nurse per room
//! and shift) can be changed in time proportional to the stay it touches, and each change
//! returns the exact change of the search objective.
//!
//! The search objective is the competition cost plus [`HARD`] per unit of hard violation
//! plus, when re-planning, a penalty per changed decision. Each room-shift is covered by
//! exactly one nurse: a second nurse never lowers the competition cost (it adds to
//! continuity and skill terms and duplicates the load), so this loses nothing.

use super::evaluate::{Adm, Plan};
use super::model::{Model, Person};

/// Search weight of one unit of hard violation: far above any soft sum, so that a cost
/// splits exactly into hard units (`cost / HARD`, rounded) and soft cost, and small enough
/// for millions of units to fit an `i64`.
pub(crate) const HARD: i64 = 1 << 40;

const NONE: u32 = u32::MAX;

pub(crate) struct State<'m> {
    pub m: &'m Model,
    pub adm: Vec<Option<Adm>>,
    /// `[r * H + h]`: the covering nurse, `NONE` when nobody works that shift.
    pub nurse: Vec<u32>,
    /// `[(r * D + d)]`: counts per gender.
    gender: Vec<[u32; 2]>,
    /// `[(r * D + d) * A + a]`
    ages: Vec<u32>,
    /// `[r * D + d]`: persons present (occupants first, then patients offset by #occupants).
    pub present: Vec<Vec<u32>>,
    /// `[r * H + h]`
    room_load: Vec<u32>,
    /// `[(r * H + h) * L + l]`: persons requiring skill level `l`.
    room_skill: Vec<u32>,
    /// `[n * H + h]`
    nurse_load: Vec<u32>,
    /// `[s * D + d]`
    surgeon_load: Vec<u32>,
    /// `[t * D + d]`
    theater_load: Vec<u32>,
    theater_count: Vec<u32>,
    /// `[(s * D + d) * T + t]`
    surgeon_theater: Vec<u32>,
    /// `[s * D + d]`: theatres with at least one of the surgeon's patients.
    surgeon_used: Vec<u32>,
    /// Per person: distinct nurses over the stay.
    cont: Vec<u32>,
    /// Search objective.
    pub cost: i64,
    mark: Vec<u32>,
    stamp: u32,
    /// Re-planning reference and the weight of one changed decision.
    reference: Option<Vec<Option<Adm>>>,
    change_weight: i64,
    levels: usize,
    occ_n: usize,
}

fn w(x: u64) -> i64 {
    x as i64
}

impl<'m> State<'m> {
    /// An empty plan (only occupants), nurses assigned by a simple rotation that keeps the
    /// same nurse on a room from one day to the next when it can.
    pub fn new(m: &'m Model, reference: Option<Vec<Option<Adm>>>, change_weight: i64) -> Self {
        let (d_n, h_n, r_n) = (m.days, m.shifts(), m.rooms());
        let levels = m
            .occupants
            .iter()
            .map(|o| &o.person)
            .chain(m.patients.iter().map(|p| &p.person))
            .flat_map(|p| p.skill.iter())
            .copied()
            .max()
            .unwrap_or(0) as usize
            + 1;
        let occ_n = m.occupants.len();
        let mut s = State {
            m,
            adm: vec![None; m.patients.len()],
            nurse: vec![NONE; r_n * h_n],
            gender: vec![[0; 2]; r_n * d_n],
            ages: vec![0; r_n * d_n * m.age_groups.max(1)],
            present: vec![Vec::new(); r_n * d_n],
            room_load: vec![0; r_n * h_n],
            room_skill: vec![0; r_n * h_n * levels],
            nurse_load: vec![0; m.nurses() * h_n],
            surgeon_load: vec![0; m.surgeons() * d_n],
            theater_load: vec![0; m.theaters() * d_n],
            theater_count: vec![0; m.theaters() * d_n],
            surgeon_theater: vec![0; m.surgeons() * d_n * m.theaters()],
            surgeon_used: vec![0; m.surgeons() * d_n],
            cont: vec![0; occ_n + m.patients.len()],
            cost: 0,
            mark: vec![0; m.nurses()],
            stamp: 0,
            reference,
            change_weight,
            levels,
            occ_n,
        };
        for h in 0..h_n {
            let avail = &m.nurses_in_shift[h];
            if avail.is_empty() {
                continue;
            }
            let mut taken = vec![0usize; m.nurses()];
            let fair = r_n.div_ceil(avail.len());
            for r in 0..r_n {
                let prev = (h >= m.spd)
                    .then(|| s.nurse[r * h_n + h - m.spd])
                    .filter(|&n| n != NONE);
                let n = match prev {
                    Some(n)
                        if m.nurse_max_load[n as usize][h].is_some()
                            && taken[n as usize] < fair =>
                    {
                        n as usize
                    }
                    _ => *avail
                        .iter()
                        .min_by_key(|&&n| (taken[n], n))
                        .unwrap_or(&avail[0]),
                };
                taken[n] += 1;
                s.nurse[r * h_n + h] = n as u32;
            }
        }
        // The cost of the empty plan: every patient unscheduled (and changed, if re-planning).
        for p in 0..m.patients.len() {
            s.cost += s.own_cost(p);
        }
        for (i, o) in m.occupants.iter().enumerate() {
            s.cost += s.place_person(i, &o.person, o.room, 0, 1);
        }
        s
    }

    /// Copies nurses of a plan (first one listed per room-shift) where they work the shift.
    pub fn load_nurses(&mut self, plan: &Plan) {
        let h_n = self.m.shifts();
        for r in 0..self.m.rooms() {
            for h in 0..h_n {
                if let Some(&n) = plan.cover[r][h].first() {
                    self.set_nurse(r, h, n as u32);
                }
            }
        }
    }

    fn room_day_cost(&self, r: usize, d: usize) -> i64 {
        let m = self.m;
        let i = r * m.days + d;
        let [a, b] = self.gender[i];
        let mut c = HARD * i64::from(a.min(b))
            + HARD * i64::from((a + b).saturating_sub(m.room_capacity[r]));
        if a + b > 0 {
            let ages = &self.ages[i * m.age_groups..(i + 1) * m.age_groups];
            let lo = ages.iter().position(|&x| x > 0).unwrap_or(0);
            let hi = ages.iter().rposition(|&x| x > 0).unwrap_or(0);
            c += w(m.weights.room_mixed_age) * (hi - lo) as i64;
        }
        c
    }

    /// Skill shortfall of the covering nurse, or a hard violation if nobody covers an
    /// occupied room.
    fn room_shift_cost(&self, r: usize, h: usize) -> i64 {
        let m = self.m;
        let d = h / m.spd;
        let [a, b] = self.gender[r * m.days + d];
        if a + b == 0 {
            return 0;
        }
        let n = self.nurse[r * m.shifts() + h];
        if n == NONE {
            return HARD;
        }
        let ns = m.nurse_skill[n as usize] as usize;
        let base = (r * m.shifts() + h) * self.levels;
        let mut c = 0;
        for l in ns + 1..self.levels {
            c += i64::from(self.room_skill[base + l]) * (l - ns) as i64;
        }
        c * w(m.weights.room_nurse_skill)
    }

    fn nurse_shift_cost(&self, n: u32, h: usize) -> i64 {
        if n == NONE {
            return 0;
        }
        let m = self.m;
        let max = m.nurse_max_load[n as usize][h].unwrap_or(0);
        w(m.weights.nurse_eccessive_workload)
            * i64::from(self.nurse_load[n as usize * m.shifts() + h].saturating_sub(max))
    }

    fn surgery_cost(&self, s: usize, t: usize, d: usize) -> i64 {
        let m = self.m;
        let sd = s * m.days + d;
        let td = t * m.days + d;
        HARD * i64::from(self.surgeon_load[sd].saturating_sub(m.surgeon_max[s][d]))
            + w(m.weights.surgeon_transfer) * i64::from(self.surgeon_used[sd].saturating_sub(1))
            + HARD * i64::from(self.theater_load[td].saturating_sub(m.theater_avail[t][d]))
            + w(m.weights.open_operating_theater) * i64::from(self.theater_count[td] > 0)
    }

    /// Costs that belong to the patient alone (continuity included).
    fn own_cost(&self, p: usize) -> i64 {
        let m = self.m;
        let pat = &m.patients[p];
        let mut c = match self.adm[p] {
            None if pat.mandatory => HARD,
            None => w(m.weights.unscheduled_optional),
            Some(a) => {
                let mut c = w(m.weights.patient_delay) * a.day.saturating_sub(pat.release) as i64
                    + w(m.weights.continuity_of_care) * i64::from(self.cont[self.occ_n + p]);
                if pat.incompatible[a.room] {
                    c += HARD;
                }
                if a.day < pat.release || a.day > pat.last_day {
                    c += HARD;
                }
                c
            }
        };
        if let Some(reference) = &self.reference {
            c += self.change_weight * changes(reference[p], self.adm[p]) as i64;
        }
        c
    }

    fn continuity(&mut self, pid: usize, room: usize, first: usize, los: usize) -> u32 {
        let m = self.m;
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.mark.iter_mut().for_each(|x| *x = 0);
            self.stamp = 1;
        }
        let end = ((first + los).min(m.days)) * m.spd;
        let base = room * m.shifts();
        let mut count = 0;
        for h in first * m.spd..end {
            let n = self.nurse[base + h];
            if n != NONE && self.mark[n as usize] != self.stamp {
                self.mark[n as usize] = self.stamp;
                count += 1;
            }
        }
        let _ = pid;
        count
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) a person's bed use; returns the change of
    /// room, nurse and continuity costs.
    fn place_person(
        &mut self,
        pid: usize,
        person: &Person,
        r: usize,
        first: usize,
        sign: i32,
    ) -> i64 {
        let m = self.m;
        let (d_n, h_n, spd) = (m.days, m.shifts(), m.spd);
        let mut delta = 0;
        for k in 0..person.los {
            let d = first + k;
            if d >= d_n {
                break;
            }
            let i = r * d_n + d;
            delta -= self.room_day_cost(r, d);
            for s in 0..spd {
                let h = d * spd + s;
                delta -=
                    self.room_shift_cost(r, h) + self.nurse_shift_cost(self.nurse[r * h_n + h], h);
            }
            let gi = &mut self.gender[i][person.gender];
            *gi = gi.wrapping_add_signed(sign);
            let ai = &mut self.ages[i * m.age_groups + person.age];
            *ai = ai.wrapping_add_signed(sign);
            if sign > 0 {
                self.present[i].push(pid as u32);
            } else if let Some(pos) = self.present[i].iter().position(|&x| x == pid as u32) {
                self.present[i].swap_remove(pos);
            }
            for s in 0..spd {
                let h = d * spd + s;
                let rh = r * h_n + h;
                let wl = person.workload[k * spd + s] as i32 * sign;
                self.room_load[rh] = self.room_load[rh].wrapping_add_signed(wl);
                let sk =
                    &mut self.room_skill[rh * self.levels + person.skill[k * spd + s] as usize];
                *sk = sk.wrapping_add_signed(sign);
                let n = self.nurse[rh];
                if n != NONE {
                    let nl = &mut self.nurse_load[n as usize * h_n + h];
                    *nl = nl.wrapping_add_signed(wl);
                }
            }
            delta += self.room_day_cost(r, d);
            for s in 0..spd {
                let h = d * spd + s;
                delta +=
                    self.room_shift_cost(r, h) + self.nurse_shift_cost(self.nurse[r * h_n + h], h);
            }
        }
        if pid < self.occ_n {
            // Occupants' continuity is counted here; patients' in `own_cost`.
            let old = self.cont[pid];
            let new = if sign > 0 {
                self.continuity(pid, r, first, person.los)
            } else {
                0
            };
            self.cont[pid] = new;
            delta += w(m.weights.continuity_of_care) * (i64::from(new) - i64::from(old));
        } else {
            self.cont[pid] = if sign > 0 {
                self.continuity(pid, r, first, person.los)
            } else {
                0
            };
        }
        delta
    }

    fn surgery(&mut self, p: usize, a: Adm, sign: i32) -> i64 {
        let m = self.m;
        let pat = &m.patients[p];
        let (s, t, d) = (pat.surgeon, a.theater, a.day);
        let before = self.surgery_cost(s, t, d);
        let sd = s * m.days + d;
        let td = t * m.days + d;
        let dur = pat.duration as i32 * sign;
        self.surgeon_load[sd] = self.surgeon_load[sd].wrapping_add_signed(dur);
        self.theater_load[td] = self.theater_load[td].wrapping_add_signed(dur);
        self.theater_count[td] = self.theater_count[td].wrapping_add_signed(sign);
        let st = &mut self.surgeon_theater[sd * m.theaters() + t];
        let was = *st > 0;
        *st = st.wrapping_add_signed(sign);
        let is = *st > 0;
        if is && !was {
            self.surgeon_used[sd] += 1;
        } else if was && !is {
            self.surgeon_used[sd] -= 1;
        }
        self.surgery_cost(s, t, d) - before
    }

    /// The change of the surgery terms (surgeon, theatre) if patient `p` were operated as in
    /// `a`; the state is left as it was.
    pub fn surgery_probe(&mut self, p: usize, a: Adm) -> i64 {
        let delta = self.surgery(p, a, 1);
        self.surgery(p, a, -1);
        delta
    }

    /// Whether putting patient `p` in room `r` on day `d` breaks a room rule that day
    /// (incompatible, full, or the other gender present).
    pub fn room_blocked(&self, p: usize, r: usize, d: usize) -> bool {
        let m = self.m;
        let pat = &m.patients[p];
        let g = self.gender[r * m.days + d];
        pat.incompatible[r] || g[0] + g[1] >= m.room_capacity[r] || g[1 - pat.person.gender] > 0
    }

    /// Sets patient `p`'s admission (or none); returns the change of the search objective.
    pub fn assign(&mut self, p: usize, to: Option<Adm>) -> i64 {
        let from = self.adm[p];
        if from == to {
            return 0;
        }
        let m = self.m;
        let pid = self.occ_n + p;
        let mut delta = -self.own_cost(p);
        if let Some(a) = from {
            delta += self.surgery(p, a, -1);
            delta += self.place_person(pid, &m.patients[p].person, a.room, a.day, -1);
        }
        self.adm[p] = to;
        if let Some(a) = to {
            delta += self.surgery(p, a, 1);
            delta += self.place_person(pid, &m.patients[p].person, a.room, a.day, 1);
        }
        delta += self.own_cost(p);
        self.cost += delta;
        delta
    }

    fn person_stay(&self, pid: usize) -> (usize, usize, usize) {
        if pid < self.occ_n {
            let o = &self.m.occupants[pid];
            (o.room, 0, o.person.los)
        } else {
            let a = self.adm[pid - self.occ_n].expect("present patients are admitted");
            (a.room, a.day, self.m.patients[pid - self.occ_n].person.los)
        }
    }

    /// Puts nurse `n` on room `r` in shift `h`; returns the change of the search objective.
    pub fn set_nurse(&mut self, r: usize, h: usize, n: u32) -> i64 {
        let m = self.m;
        let h_n = m.shifts();
        let rh = r * h_n + h;
        let old = self.nurse[rh];
        if old == n {
            return 0;
        }
        let d = h / m.spd;
        let wc = w(m.weights.continuity_of_care);
        let mut delta = -(self.room_shift_cost(r, h)
            + self.nurse_shift_cost(old, h)
            + self.nurse_shift_cost(n, h));
        let load = self.room_load[rh];
        if old != NONE {
            self.nurse_load[old as usize * h_n + h] -= load;
        }
        if n != NONE {
            self.nurse_load[n as usize * h_n + h] += load;
        }
        self.nurse[rh] = n;
        delta += self.room_shift_cost(r, h)
            + self.nurse_shift_cost(old, h)
            + self.nurse_shift_cost(n, h);
        let present = std::mem::take(&mut self.present[r * m.days + d]);
        for &pid in &present {
            let pid = pid as usize;
            let (room, first, los) = self.person_stay(pid);
            let new = self.continuity(pid, room, first, los);
            delta += wc * (i64::from(new) - i64::from(self.cont[pid]));
            self.cont[pid] = new;
        }
        self.present[r * m.days + d] = present;
        self.cost += delta;
        delta
    }

    pub fn nurse_at(&self, r: usize, h: usize) -> u32 {
        self.nurse[r * self.m.shifts() + h]
    }

    pub fn occupied(&self, r: usize, d: usize) -> bool {
        let [a, b] = self.gender[r * self.m.days + d];
        a + b > 0
    }

    /// The plan, with nurses listed only on occupied room-shifts.
    pub fn plan(&self) -> Plan {
        let m = self.m;
        let mut cover = vec![vec![Vec::new(); m.shifts()]; m.rooms()];
        for (r, row) in cover.iter_mut().enumerate() {
            for (h, c) in row.iter_mut().enumerate() {
                let n = self.nurse_at(r, h);
                if n != NONE && self.occupied(r, h / m.spd) {
                    c.push(n as usize);
                }
            }
        }
        Plan {
            adm: self.adm.clone(),
            cover,
            nurse_presence: 0,
        }
    }

    /// Number of changed decisions (day, room, theatre) against the reference plan.
    pub fn changes(&self) -> usize {
        match &self.reference {
            Some(r) => r.iter().zip(&self.adm).map(|(&a, &b)| changes(a, b)).sum(),
            None => 0,
        }
    }
}

/// Changed fields between two admissions; admitting or dropping a patient changes all three.
pub(crate) fn changes(a: Option<Adm>, b: Option<Adm>) -> usize {
    match (a, b) {
        (None, None) => 0,
        (Some(a), Some(b)) => {
            usize::from(a.day != b.day)
                + usize::from(a.room != b.room)
                + usize::from(a.theater != b.theater)
        }
        _ => 3,
    }
}
