//! The department dashboards beside the bed dashboard, drawn from the store on every
//! view: the theatre lists as a Gantt chart with utilisation and overruns, the
//! scanners' waiting times and no-shows, the ward rosters as grids with their cover;
//! and the model board (releases, validation and bias report, shadow comparison, who
//! released what and when).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;

use careflow_store::{audit, releases, rosters, scanner, theatre};
use careflow_types::ScannerBookingRecord;

use super::charts::{bar_chart, gantt};
use super::layout::{num, page, respond};
use super::proposals::{day_label, roster_grid, theatre_rows};
use super::session::PageUser;
use super::{
    app_error_page, IMAGING_BOARD_ROLES, MODEL_BOARD_ROLES, ROSTER_BOARD_ROLES, THEATRE_BOARD_ROLES,
};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard/theatre", get(theatre_board))
        .route("/dashboard/scanner", get(scanner_board))
        .route("/dashboard/roster", get(roster_board))
        .route("/models", get(model_board))
}

/// The recent weeks' lists: the list in force of each week, or the newest proposal of
/// a week with none in force yet (said so).
async fn theatre_board(State(state): State<AppState>, me: PageUser) -> Response {
    let user = match me.require(THEATRE_BOARD_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let recent = match theatre::list(&state.db, 50).await {
        Ok(r) => r,
        Err(e) => return app_error_page(e.into()),
    };
    // Newest week first, each once.
    let mut weeks: Vec<String> = Vec::new();
    for r in &recent {
        if !weeks.contains(&r.week_start) {
            weeks.push(r.week_start.clone());
        }
    }
    weeks.sort_unstable();
    weeks.reverse();
    weeks.truncate(4);
    let mut shown = Vec::new();
    for w in &weeks {
        let in_force = match theatre::plan_in_force(&state.db, w).await {
            Ok(f) => f,
            Err(e) => return app_error_page(e.into()),
        };
        match in_force {
            Some(p) => shown.push((true, p)),
            None => {
                if let Some(r) = recent.iter().find(|r| &r.week_start == w) {
                    shown.push((false, r.proposal.clone()));
                }
            }
        }
    }
    let body = html! {
        @if shown.is_empty() {
            p.notice { "No theatre list has been proposed yet." }
        }
        @for (in_force, p) in &shown {
            section.week {
                h2 { "Week of " (p.week_start) ": " @if *in_force { "lists in force (revision " (p.revision) ")" } @else { "proposed, not in force yet (revision " (p.revision) ")" } }
                ul.kpis aria-label="Key figures" {
                    li { "Utilisation" b { (format!("{:.0} %", p.utilisation * 100.0)) } " target " (format!("{:.0} %", p.target_utilisation * 100.0)) }
                    li { "Cases booked" b { (p.booked.len()) } }
                    li { "Deferred" b { (p.deferred.len()) } }
                    li { "Expected overtime" b { (num(p.expected_overtime_minutes, 0)) " min" } }
                    li { "Sessions below target" b { (p.sessions_below_target) } }
                }
                (gantt(&format!("Theatre lists, week of {}", p.week_start), &theatre_rows(p, None)))
                table.sessions {
                    caption { "Sessions: utilisation and overruns" }
                    thead { tr { th scope="col" { "Session" } th scope="col" { "Cases" } th scope="col" { "Staffed (min)" } th scope="col" { "Expected (min)" } th scope="col" { "Utilisation" } th scope="col" { "Expected overrun (min)" } th scope="col" { "P(overrun)" } } }
                    tbody { @for s in &p.sessions { tr {
                        td { (s.theatre_id) " " (day_label(&p.week_start, s.day)) } td.num { (s.cases) } td.num { (s.staffed_minutes) }
                        td.num { (num(s.expected_minutes, 0)) } td.num { (format!("{:.0} %", s.utilisation * 100.0)) }
                        td.num.short[s.expected_overtime_minutes > 0.0] { (num(s.expected_overtime_minutes, 0)) }
                        td.num { (format!("{:.0} %", s.overtime_probability * 100.0)) }
                    } } }
                }
                p.muted { "Case durations by " (p.durations.model_name) " " (p.durations.model_version) "." }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(user, &me.csrf, "Theatre dashboard", body),
    )
}

/// The newest revision of each booking run that is booked.
fn booked_runs(recent: &[ScannerBookingRecord]) -> Vec<&ScannerBookingRecord> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for r in recent {
        if r.status == "booked" && !seen.contains(&r.booking_id.as_str()) {
            seen.push(&r.booking_id);
            out.push(r);
        }
    }
    out
}

async fn scanner_board(State(state): State<AppState>, me: PageUser) -> Response {
    let user = match me.require(IMAGING_BOARD_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let recent = match scanner::list(&state.db, 200).await {
        Ok(r) => r,
        Err(e) => return app_error_page(e.into()),
    };
    let runs = booked_runs(&recent);
    // Days from the week's start to the scan, by modality and urgency.
    let mut waits: BTreeMap<String, (f64, u32, u32)> = BTreeMap::new();
    let mut waiting_list = 0usize;
    let mut breaches = 0usize;
    for r in &runs {
        waiting_list += r.proposal.waiting.len();
        breaches += r.proposal.breaches.len();
        for b in &r.proposal.booked {
            let e = waits
                .entry(format!("{} {}", b.modality.as_str(), b.urgency.as_str()))
                .or_insert((0.0, 0, 0));
            e.0 += f64::from(b.day);
            e.1 += 1;
            e.2 += b.days_late;
        }
    }
    let wait_bars: Vec<(String, f64)> = waits
        .iter()
        .map(|(k, (sum, n, _))| (k.clone(), sum / f64::from((*n).max(1))))
        .collect();
    let mut models: Vec<String> = recent
        .iter()
        .map(|r| r.proposal.no_show.model_name.clone())
        .collect();
    models.sort_unstable();
    models.dedup();
    // Predicted against observed no-shows, by modality.
    let mut by_modality: BTreeMap<String, (u32, u32, f64)> = BTreeMap::new();
    for m in &models {
        let outcomes = match scanner::no_show_outcomes(&state.db, m).await {
            Ok(o) => o,
            Err(e) => return app_error_page(e.into()),
        };
        for o in outcomes {
            let e = by_modality.entry(o.modality.clone()).or_insert((0, 0, 0.0));
            e.0 += 1;
            e.1 += u32::from(o.no_show);
            e.2 += o.predicted;
        }
    }
    let no_show_bars: Vec<(String, f64)> = by_modality
        .iter()
        .map(|(k, (n, missed, _))| {
            (
                k.clone(),
                100.0 * f64::from(*missed) / f64::from((*n).max(1)),
            )
        })
        .collect();
    let body = html! {
        ul.kpis aria-label="Key figures" {
            li { "Booking runs booked" b { (runs.len()) } }
            li { "Scans booked" b #scans-booked { (runs.iter().map(|r| r.proposal.booked.len()).sum::<usize>()) } }
            li { "Requests still waiting" b { (waiting_list) } }
            li { "Deadlines missed" b { (breaches) } }
        }
        h2 { "Waiting times" }
        @if wait_bars.is_empty() {
            p.notice { "No scans booked yet." }
        } @else {
            (bar_chart("Mean days from the week's start to the scan, by modality and urgency", &wait_bars, "days"))
            table #waits {
                thead { tr { th scope="col" { "Modality, urgency" } th scope="col" { "Scans" } th scope="col" { "Mean days to scan" } th scope="col" { "Days late, all scans" } } }
                tbody { @for (k, (sum, n, late)) in &waits { tr { td { (k) } td.num { (n) } td.num { (num(sum / f64::from((*n).max(1)), 1)) } td.num { (late) } } } }
            }
        }
        h2 { "No-shows" }
        @if by_modality.is_empty() {
            p.notice { "No attendance recorded yet." }
        } @else {
            (bar_chart("Observed no-show rate by modality", &no_show_bars, "%"))
            table #no-shows {
                thead { tr { th scope="col" { "Modality" } th scope="col" { "Scans recorded" } th scope="col" { "No-shows" } th scope="col" { "Observed rate" } th scope="col" { "Mean predicted" } } }
                tbody { @for (k, (n, missed, predicted)) in &by_modality { tr {
                    td { (k) } td.num { (n) } td.num { (missed) }
                    td.num { (format!("{:.0} %", 100.0 * f64::from(*missed) / f64::from((*n).max(1)))) }
                    td.num { (format!("{:.0} %", 100.0 * predicted / f64::from((*n).max(1)))) }
                } } }
            }
            p.muted { "Predicted by " (models.join(", ")) "." }
        }
    };
    respond(
        StatusCode::OK,
        page(user, &me.csrf, "Imaging dashboard", body),
    )
}

async fn roster_board(State(state): State<AppState>, me: PageUser) -> Response {
    let user = match me.require(ROSTER_BOARD_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let recent = match rosters::list(&state.db, 50).await {
        Ok(r) => r,
        Err(e) => return app_error_page(e.into()),
    };
    // Per ward, the newest period: its roster in force, or the newest proposal.
    let mut periods: Vec<(String, String)> = Vec::new();
    for r in &recent {
        if !periods.iter().any(|(w, _)| *w == r.ward) {
            periods.push((r.ward.clone(), r.start_date.clone()));
        }
    }
    let mut shown = Vec::new();
    for (ward, start) in &periods {
        match rosters::roster_in_force(&state.db, ward, start).await {
            Ok(Some(p)) => shown.push((true, p)),
            Ok(None) => {
                if let Some(r) = recent
                    .iter()
                    .find(|r| &r.ward == ward && &r.start_date == start)
                {
                    shown.push((false, r.proposal.clone()));
                }
            }
            Err(e) => return app_error_page(e.into()),
        }
    }
    let body = html! {
        @if shown.is_empty() { p.notice { "No roster has been proposed yet." } }
        @for (in_force, p) in &shown {
            section.roster {
                h2 { "Ward " (p.ward) " from " (p.start_date) ": " @if *in_force { "roster in force" } @else { "proposed, not in force yet" } " (revision " (p.revision) ")" }
                @let required: u32 = p.coverage.iter().map(|c| c.required).sum();
                @let covered: u32 = p.coverage.iter().map(|c| c.rostered.min(c.required)).sum();
                ul.kpis aria-label="Key figures" {
                    li { "Cover" b { (if required > 0 { format!("{:.0} %", 100.0 * f64::from(covered) / f64::from(required)) } else { "—".into() }) } }
                    li { "Nurse-shifts short" b { (p.nurse_shifts_short) } }
                    li { "Days off not granted" b { (p.unmet_requests.len()) } }
                }
                (roster_grid(p, None))
            }
        }
    };
    respond(StatusCode::OK, page(user, &me.csrf, "Ward rosters", body))
}

async fn model_board(State(state): State<AppState>, me: PageUser) -> Response {
    let user = match me.require(MODEL_BOARD_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let all = match releases::list(&state.db, None).await {
        Ok(a) => a,
        Err(e) => return app_error_page(e.into()),
    };
    let mut details = Vec::new();
    for r in &all {
        let shadow = if matches!(
            r.stage,
            releases::Stage::Shadow | releases::Stage::Production | releases::Stage::RolledBack
        ) {
            match releases::shadow_comparison(&state.db, &r.release_id).await {
                Ok(s) => Some(s.summary()),
                Err(e) => return app_error_page(e.into()),
            }
        } else {
            None
        };
        let history = match audit::entries_for_workflow(&state.db, &r.release_id).await {
            Ok(h) => h,
            Err(e) => return app_error_page(e.into()),
        };
        details.push((r, shadow, history));
    }
    let body = html! {
        @if all.is_empty() { p.notice { "No model release yet." } } @else {
            table #releases {
                thead { tr { th scope="col" { "Model" } th scope="col" { "Version" } th scope="col" { "Stage" } th scope="col" { "Replaces" } th scope="col" { "Author" } th scope="col" { "Owner" } th scope="col" { "Registered" } th scope="col" { "Last step" } } }
                tbody { @for r in &all { tr {
                    td { a href={"#" (r.release_id)} { (r.model_name) } } td { (r.version) } td { (r.stage.as_str()) }
                    td { (r.production_version.as_deref().unwrap_or("—")) } td { (r.author) } td { (r.owner) }
                    td { (r.created_at) } td { (r.updated_at) }
                } } }
            }
        }
        @for (r, shadow, history) in &details {
            section.release id=(r.release_id) {
                h2 { (r.model_name) " " (r.version) " (" (r.stage.as_str()) ")" }
                p.muted { "sha256 " code { (r.sha256) } @if let Some(s) = &r.signoff_submission_id { "; ethics sign-off " a href={"/ethics/" (s)} { (s) } } }
                @match &r.validation {
                    None => p { "Not validated yet." },
                    Some(v) => {
                        @let metrics: Vec<&str> = v.production.metrics().into_iter().filter(|m| m.1.is_some()).map(|m| m.0).collect();
                        p { "Validated on " (v.data) " against production " (v.production_version) ": candidate " (v.candidate.to_string())
                            " (production " (v.production.to_string()) ")." }
                        table.bias {
                            caption { "Bias report: each subgroup, candidate beside production (lower is better)" }
                            thead { tr { th scope="col" { "Subgroup" } th scope="col" { "n" }
                                @for m in &metrics { th scope="col" { (metric_label(m)) " production" } th scope="col" { (metric_label(m)) " candidate" } } } }
                            tbody { @for g in &v.subgroups { tr {
                                td { (g.subgroup) } td.num { (g.candidate.n) }
                                @for m in &metrics {
                                    @let (p, c) = (metric_value(&g.production, m), metric_value(&g.candidate, m));
                                    td.num { (opt_num(p)) } td.num.short[c.zip(p).is_some_and(|(c, p)| c > p)] { (opt_num(c)) }
                                }
                            } } }
                        }
                    }
                }
                @if let Some(f) = &r.gate_failures {
                    @if f.is_empty() { p { "Through the gate." } } @else {
                        p { "Stopped by the gate:" } ul { @for g in f { li { (g.to_string()) } } }
                    }
                }
                @if let Some(s) = shadow { p.shadow { "Shadow comparison: " (s) } }
                @if let Some(why) = &r.rollback_reason { p.notice.error { "Rolled back: " (why) } }
                table.history {
                    caption { "Who did what, when" }
                    thead { tr { th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Meaning" } th scope="col" { "Reason" } } }
                    tbody { @for e in history.iter() { tr {
                        td { (e.recorded_at) } td { (e.actor) " (" (e.role) ")" } td { (e.action) }
                        td { (e.meaning.as_deref().unwrap_or("")) } td { (e.reason.as_deref().unwrap_or("")) }
                    } } }
                }
            }
        }
    };
    respond(StatusCode::OK, page(user, &me.csrf, "Model board", body))
}

/// A validation metric's name as a column heading.
fn metric_label(metric: &str) -> &str {
    match metric {
        "mae" => "MAE",
        "pinball" => "Pinball",
        "brier" => "Brier",
        other => other,
    }
}

/// One metric of `scores`, if it was scored.
fn metric_value(scores: &releases::Scores, metric: &str) -> Option<f64> {
    scores
        .metrics()
        .into_iter()
        .find(|m| m.0 == metric)
        .and_then(|m| m.1)
}

fn opt_num(v: Option<f64>) -> String {
    v.map(|v| num(v, 3)).unwrap_or_else(|| "—".into())
}
