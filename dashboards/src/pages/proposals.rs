//! What an approval task of the theatre, scanner and roster processes proposes, shown
//! on the inbox's task page against what is in force: who moves, who is deferred and
//! why (the stored decision step's explanation, the same as `careflow decision
//! explain`), the KPIs, and the model, solver and gap behind it. The department
//! dashboards draw the same proposals (the theatre Gantt rows, the roster grid).

use std::collections::BTreeMap;

use maud::{html, Markup};

use careflow_store::{rosters, scanner, theatre};
use careflow_types::{
    DecisionExplanation, ForecastProvenance, RosterProposal, ScannerBookingProposal, TaskView,
    TheatreListProposal,
};

use super::charts::{gantt, GanttBar, GanttRow};
use super::layout::num;
use crate::api::decisions::SharedDecisionService;
use crate::AppState;
use careflow_store::users::User;

/// `2026-12-07` + `day` as `Mon 07 Dec`; the bare day number if the date is not one.
pub(crate) fn day_label(start: &str, day: u32) -> String {
    chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d")
        .map(|d| {
            (d + chrono::Days::new(day.into()))
                .format("%a %d %b")
                .to_string()
        })
        .unwrap_or_else(|_| format!("day {day}"))
}

fn gap(g: Option<f64>) -> String {
    g.map(|g| format!("{:.2} %", g * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn model_line(what: &str, p: &ForecastProvenance) -> Markup {
    html! {
        p.muted.model { (what) " by " (p.model_name) " " (p.model_version)
            " (sha256 " (p.model_sha256.get(..12).unwrap_or(&p.model_sha256)) "…) on "
            (p.execution_provider) " from " (p.origin) "." }
    }
}

/// The Gantt rows of a week's lists: one per staffed session, its cases in order; a
/// case whose place differs from the list in force (if any) is highlighted.
pub(crate) fn theatre_rows(
    p: &TheatreListProposal,
    in_force: Option<&TheatreListProposal>,
) -> Vec<GanttRow> {
    let mut rows: BTreeMap<(u32, String), GanttRow> = p
        .sessions
        .iter()
        .map(|s| {
            (
                (s.day, s.theatre_id.clone()),
                GanttRow {
                    label: format!("{} {}", s.theatre_id, day_label(&p.week_start, s.day)),
                    capacity: f64::from(s.staffed_minutes),
                    bars: Vec::new(),
                },
            )
        })
        .collect();
    let mut booked: Vec<_> = p.booked.iter().collect();
    booked.sort_by_key(|c| (c.day, c.theatre_id.clone(), c.order));
    for c in booked {
        let moved = in_force.is_some_and(|f| {
            !f.booked
                .iter()
                .any(|o| o.case_id == c.case_id && o.theatre_id == c.theatre_id && o.day == c.day)
        });
        let row = rows
            .entry((c.day, c.theatre_id.clone()))
            .or_insert_with(|| GanttRow {
                label: format!("{} {}", c.theatre_id, day_label(&p.week_start, c.day)),
                capacity: 0.0,
                bars: Vec::new(),
            });
        let start = f64::from(c.start_minute);
        row.bars.push(GanttBar {
            label: format!("{} {} ({})", c.case_id, c.procedure, c.category),
            start,
            length: f64::from(c.planned_minutes),
            p90_end: Some(start + c.p90_minutes),
            highlight: moved,
        });
    }
    rows.into_values().collect()
}

/// The explanation of the workflow's last solver step, when the server has the
/// decision service and the user may read it; else why not, in words.
async fn explanation(
    svc: Option<&SharedDecisionService>,
    user: &User,
    workflow_id: &str,
) -> Result<DecisionExplanation, String> {
    let Some(svc) = svc else {
        return Err("this server runs without the decision explainer".into());
    };
    svc.explain(&user.name, user.role, workflow_id, None)
        .await
        .map_err(|e| e.to_string())
}

fn explanation_section(e: &Result<DecisionExplanation, String>) -> Markup {
    html! {
        h2 { "Why: the solver's explanation" }
        @match e {
            Err(why) => p.muted #explanation { "No explanation shown: " (why) ". The tables below come from the stored proposal." },
            Ok(x) => {
                div #explanation {
                    p { "Step " code { (x.step) } " (" (x.kind) ", input snapshot " code { (x.snapshot_sha256.get(..12).unwrap_or(&x.snapshot_sha256)) "…" } "): "
                        (x.solver_status) ", objective " (x.objective.map(|o| num(o, 1)).unwrap_or_else(|| "—".into()))
                        ", MIP gap " (gap(x.mip_gap)) "." }
                    @if !x.changes.is_empty() {
                        table #explained-changes {
                            caption { "Who moves or is deferred against what is in force, and why" }
                            thead { tr { th scope="col" { "Who" } th scope="col" { "Change" } th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Why" } } }
                            tbody { @for c in &x.changes { tr {
                                td { (c.subject) @if let Some(k) = &c.patient_key { " (" (k) ")" } }
                                td { (c.change) } td { (c.from.as_deref().unwrap_or("—")) } td { (c.to.as_deref().unwrap_or("—")) } td { (c.why) }
                            } } }
                        }
                    }
                    @if !x.cost_terms.is_empty() {
                        table #cost-terms {
                            caption { "The objective by term" }
                            thead { tr { th scope="col" { "Term" } th scope="col" { "Amount" } th scope="col" { "Weight" } th scope="col" { "Cost" } } }
                            tbody { @for t in &x.cost_terms { tr { td { (t.term) } td.num { (num(t.amount, 1)) } td.num { (num(t.weight, 2)) } td.num { (num(t.cost, 1)) } } } }
                        }
                    }
                    @if !x.binding.is_empty() {
                        h3 { "Rules that bind" }
                        ul { @for b in &x.binding { li { (b) } } }
                    }
                    @if !x.conflicts.is_empty() {
                        h3 { "Why no plan satisfies the rules" }
                        ul { @for c in &x.conflicts { li { (c) } } }
                    }
                }
            }
        }
    }
}

fn theatre_section(p: &TheatreListProposal, in_force: Option<&TheatreListProposal>) -> Markup {
    html! {
        h2 { "The proposal: theatre lists, week of " (p.week_start) }
        p { "List " (p.list_id) ", revision " (p.revision)
            @if p.from_day > 0 { ", re-planned from " (day_label(&p.week_start, p.from_day)) }
            @if !p.replanned_after.is_empty() { " after: " (p.replanned_after.join("; ")) }
            ". " @match in_force {
                Some(f) => { "Against revision " (f.revision) " in force." }
                None => { "No list is in force for this week yet." }
            } }
        ul.kpis aria-label="Key figures" {
            li { "Cases booked" b #kpi-booked { (p.booked.len()) } }
            li { "Deferred" b { (p.deferred.len()) } }
            li { "Booked patients moved" b { (p.changes.len()) } }
            li { "Utilisation" b { (format!("{:.0} %", p.utilisation * 100.0)) } " target " (format!("{:.0} %", p.target_utilisation * 100.0)) }
            li { "Sessions below target" b { (p.sessions_below_target) } }
            li { "Expected overtime" b { (num(p.expected_overtime_minutes, 0)) " min" } }
            li { "Solver status" b { (p.solver_status) } }
            li { "MIP gap" b { (gap(p.mip_gap)) } }
            li { "Solve time" b { (num(p.solve_seconds, 1)) " s" } }
        }
        (gantt("Proposed lists", &theatre_rows(p, in_force)))
        h2 { "Who moves against the list in force" }
        @if p.changes.is_empty() {
            p { "No booked patient moves." }
        } @else {
            table #changes {
                thead { tr { th scope="col" { "Case" } th scope="col" { "Patient (pseudonym)" } th scope="col" { "In force" } th scope="col" { "Proposed" } th scope="col" { "Why" } } }
                tbody { @for c in &p.changes { tr {
                    td { (c.case_id) } td { (c.patient_key) }
                    td { (c.from_theatre) " " (day_label(&p.week_start, c.from_day)) }
                    td { @match (&c.to_theatre, c.to_day) { (Some(t), Some(d)) => { (t) " " (day_label(&p.week_start, d)) } _ => { "deferred" } } }
                    td { (c.why) }
                } } }
            }
        }
        h2 { "Who is deferred, and why" }
        @if p.deferred.is_empty() {
            p { "Every case is booked." }
        } @else {
            table #deferred {
                thead { tr { th scope="col" { "Case" } th scope="col" { "Patient (pseudonym)" } th scope="col" { "Category" } th scope="col" { "Days waited" } th scope="col" { "Why" } } }
                tbody { @for d in &p.deferred { tr {
                    td { (d.case_id) } td { (d.patient_key) } td { (d.category) @if d.breaches_deadline { " — past its deadline" } }
                    td.num { (d.days_waited) } td { (d.reason) }
                } } }
            }
        }
        @if !p.conflicts.is_empty() {
            h2 { "Why no list satisfies the rules" }
            ul { @for c in &p.conflicts { li { (c) } } }
        }
        (model_line("Case durations forecast", &p.durations))
    }
}

fn scanner_section(p: &ScannerBookingProposal) -> Markup {
    html! {
        h2 { "The proposal: scanner bookings, week of " (p.week_start) }
        p { "Booking run " (p.booking_id) ", revision " (p.revision) ". Bookings have no list in force: this proposal is what will be booked." }
        ul.kpis aria-label="Key figures" {
            li { "Scans booked" b #kpi-booked { (p.booked.len()) } }
            li { "Still waiting" b { (p.waiting.len()) } }
            li { "Deadlines missed" b { (p.breaches.len()) } " policy ≤ " (p.policy.max_breached_deadlines) }
            li { "Overbooked slots" b { (p.overbooked_slots) } " policy ≤ " (p.policy.max_overbooked_slots) }
            li { "Expected overtime slots" b { (num(p.expected_overtime_slots, 1)) } }
            li { "Solver status" b { (p.solver_status) } }
            li { "MIP gap" b { (gap(p.mip_gap)) } }
            li { "Solve time" b { (num(p.solve_seconds, 1)) " s" } }
        }
        @if !p.over_policy.is_empty() {
            h2 { "Why this needs your approval" }
            ul #over-policy { @for o in &p.over_policy { li { (o) } } }
        }
        h2 { "Who is booked late or not at all, and why" }
        @if p.breaches.is_empty() {
            p { "Every request is booked by its deadline." }
        } @else {
            table #breaches {
                thead { tr { th scope="col" { "Request" } th scope="col" { "Urgency" } th scope="col" { "Modality" } th scope="col" { "Deadline" } th scope="col" { "Booked" } th scope="col" { "Why" } } }
                tbody { @for b in &p.breaches { tr {
                    td { (b.request_id) } td { (b.urgency.as_str()) } td { (b.modality.as_str()) }
                    td { (day_label(&p.week_start, b.deadline_day)) }
                    td { (b.booked_day.map(|d| day_label(&p.week_start, d)).unwrap_or_else(|| "not booked".into())) }
                    td { (b.why) }
                } } }
            }
        }
        h2 { "Bookings" }
        table #bookings {
            thead { tr { th scope="col" { "Request" } th scope="col" { "Patient (pseudonym)" } th scope="col" { "Scanner" } th scope="col" { "Day, slot" } th scope="col" { "Urgency" } th scope="col" { "No-show risk" } th scope="col" { "Overbooked" } } }
            tbody { @for b in &p.booked { tr {
                td { (b.request_id) } td { (b.patient_key) } td { (b.scanner_id) }
                td { (day_label(&p.week_start, b.day)) ", slot " (b.start_slot) }
                td { (b.urgency.as_str()) @if b.days_late > 0 { " (" (b.days_late) " day(s) late)" } }
                td.num { (format!("{:.0} %", b.no_show_probability * 100.0)) }
                td { @if b.overbooked { "yes" } @else { "no" } }
            } } }
        }
        @if !p.conflicts.is_empty() {
            h2 { "Why no booking satisfies the rules" }
            ul { @for c in &p.conflicts { li { (c) } } }
        }
        (model_line("No-show probabilities forecast", &p.no_show))
    }
}

/// The roster as a grid: a row per nurse, a column per day, the shift in each cell
/// (a cell changed against the roster in force marked), and the coverage row under it.
pub(crate) fn roster_grid(p: &RosterProposal, in_force: Option<&RosterProposal>) -> Markup {
    let mut nurses: Vec<&str> = p.loads.iter().map(|l| l.nurse_id.as_str()).collect();
    for a in &p.assignments {
        if !nurses.contains(&a.nurse_id.as_str()) {
            nurses.push(&a.nurse_id);
        }
    }
    let shift_of = |r: &RosterProposal, nurse: &str, day: u32| -> Vec<String> {
        r.assignments
            .iter()
            .filter(|a| a.nurse_id == nurse && a.day == day)
            .map(|a| a.shift_id.clone())
            .collect()
    };
    let mut shifts: Vec<&str> = p.coverage.iter().map(|c| c.shift_id.as_str()).collect();
    shifts.sort_unstable();
    shifts.dedup();
    html! {
        table.grid #roster-grid {
            thead { tr { th scope="col" { "Nurse" } @for d in 0..p.days { th scope="col" { (day_label(&p.start_date, d)) } } } }
            tbody {
                @for n in nurses.iter().copied() {
                    tr { th scope="row" { (n) }
                        @for d in 0..p.days {
                            @let now = shift_of(p, n, d);
                            @let changed = in_force.is_some_and(|f| shift_of(f, n, d) != now);
                            td.changed[changed] { (now.join(", ")) @if changed { " *" } }
                        }
                    }
                }
            }
            tfoot {
                @for s in &shifts {
                    tr { th scope="row" { "Cover " (s) }
                        @for d in 0..p.days {
                            @let c = p.coverage.iter().find(|c| c.day == d && c.shift_id == *s);
                            @match c {
                                Some(c) => td.short[c.rostered < c.required] { (c.rostered) "/" (c.required) },
                                None => td { "—" },
                            }
                        }
                    }
                }
            }
        }
        p.muted { "Cover: rostered/required nurses; red where short. " @if in_force.is_some() { "* a cell that differs from the roster in force." } }
    }
}

fn roster_section(p: &RosterProposal, in_force: Option<&RosterProposal>) -> Markup {
    html! {
        h2 { "The proposal: roster for ward " (p.ward) " from " (p.start_date) }
        p { "Roster " (p.roster_id) ", revision " (p.revision)
            @if !p.replanned_after.is_empty() { ", re-rostered after: " (p.replanned_after.join("; ")) }
            ". " @match in_force {
                Some(f) => { "Against revision " (f.revision) " in force." }
                None => { "No roster is in force for this ward and period yet." }
            } }
        ul.kpis aria-label="Key figures" {
            li { "Shifts" b #kpi-booked { (p.assignments.len()) } }
            li { "Nurse-shifts short" b { (p.nurse_shifts_short) } }
            li { "Nurse-shifts over" b { (p.nurse_shifts_over) } }
            li { "Days off not granted" b { (p.unmet_requests.len()) } }
            li { "Cells changed" b { (p.changes.len()) } }
            li { "Nights spread" b { (p.fairness.nights_spread) } }
            li { "Hours ratio" b { (num(p.fairness.hours_ratio_min, 2)) "–" (num(p.fairness.hours_ratio_max, 2)) } }
            li { "Solver status" b { (p.solver_status) } }
            li { "MIP gap" b { (gap(p.mip_gap)) } }
        }
        (roster_grid(p, in_force))
        h2 { "Who moves against the roster in force" }
        @if p.changes.is_empty() {
            p { "No nurse's shift changes." }
        } @else {
            table #changes {
                thead { tr { th scope="col" { "Nurse" } th scope="col" { "Day" } th scope="col" { "In force" } th scope="col" { "Proposed" } } }
                tbody { @for c in &p.changes { tr {
                    td { (c.nurse_id) } td { (day_label(&p.start_date, c.day)) }
                    td { (c.from_shift.as_deref().unwrap_or("off")) } td { (c.to_shift.as_deref().unwrap_or("off")) }
                } } }
            }
        }
        @if !p.unmet_requests.is_empty() {
            h2 { "Requests not granted" }
            ul { @for u in &p.unmet_requests { li { (u.nurse_id) ": " (day_label(&p.start_date, u.day)) " " (u.shift_id) } } }
        }
        @if !p.conflicts.is_empty() {
            h2 { "Why no roster satisfies the rules" }
            ul { @for c in &p.conflicts { li { (c) } } }
        }
        (model_line("Census and staffing demand forecast", &p.demand))
    }
}

/// The proposal of a theatre, scanner or roster task (the revision the task asks
/// about: the newest one proposed), with the explanation; `None` for other kinds, and
/// a notice saying why when the proposal cannot be read.
pub(crate) async fn section(
    state: &AppState,
    svc: Option<&SharedDecisionService>,
    user: &User,
    task: &TaskView,
) -> Option<Markup> {
    let id = task.workflow_id.as_str();
    let body = match task.kind.as_str() {
        "theatre_list" => theatre_proposal(state, id).await,
        "scanner_booking" => scanner::revisions(&state.db, id).await.map(|revs| {
            newest_proposed(&revs, |r| &r.status).map(|r| scanner_section(&r.proposal))
        }),
        "roster" => roster_proposal(state, id).await,
        _ => return None,
    };
    Some(match body {
        Ok(Some(body)) => {
            let why = explanation(svc, user, id).await;
            html! { (body) (explanation_section(&why)) }
        }
        Ok(None) => html! { p.notice #proposal { "No proposal is stored for " (id) " yet." } },
        Err(e) => {
            tracing::error!(error = %e, workflow_id = id, "reading a task's proposal");
            html! { p.notice.error #proposal role="alert" { "The proposal could not be read; the error has been logged." } }
        }
    })
}

/// The newest revision still proposed, else the newest one.
fn newest_proposed<T>(revs: &[T], status: impl Fn(&T) -> &String) -> Option<&T> {
    revs.iter()
        .rev()
        .find(|r| status(r) == "proposed")
        .or(revs.last())
}

async fn theatre_proposal(
    state: &AppState,
    id: &str,
) -> Result<Option<Markup>, careflow_store::Error> {
    let revs = theatre::revisions(&state.db, id).await?;
    let Some(r) = newest_proposed(&revs, |r| &r.status) else {
        return Ok(None);
    };
    let in_force = theatre::plan_in_force(&state.db, &r.week_start)
        .await?
        .filter(|f| f.list_id != r.list_id || f.revision != r.revision);
    Ok(Some(theatre_section(&r.proposal, in_force.as_ref())))
}

async fn roster_proposal(
    state: &AppState,
    id: &str,
) -> Result<Option<Markup>, careflow_store::Error> {
    let revs = rosters::revisions(&state.db, id).await?;
    let Some(r) = newest_proposed(&revs, |r| &r.status) else {
        return Ok(None);
    };
    let in_force = rosters::roster_in_force(&state.db, &r.ward, &r.start_date)
        .await?
        .filter(|f| f.roster_id != r.roster_id || f.revision != r.revision);
    Ok(Some(roster_section(&r.proposal, in_force.as_ref())))
}
