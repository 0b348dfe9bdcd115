//! The department dashboard: bed occupancy now, the occupancy forecast from the latest
//! bed plan's demand forecast as a p10-p90 fan chart, the admissions waiting for a bed
//! (admission ids, never a patient identifier), and the workflows waiting on people
//! (which queue, who has it, since when, for how long). Drawn from the database on
//! every view.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;

use careflow_store::{bed_plans, hospital, tasks, views};

use super::charts::{fan_chart, poisson_quantile, FanPoint};
use super::layout::{page, respond};
use super::session::PageUser;
use super::{app_error_page, DASHBOARD_ROLES};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/dashboard", get(dashboard))
}

/// Admissions listed at most (the count says how many wait in all): keeps the page small.
const ADMISSIONS_SHOWN: u32 = 200;

/// How long ago `since` (RFC 3339) was, in days, hours and minutes; empty if unreadable.
pub(crate) fn waited(since: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(since) else {
        return String::new();
    };
    let m = (now - t.with_timezone(&chrono::Utc)).num_minutes().max(0);
    match (m / (24 * 60), (m / 60) % 24, m % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m:02} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// The occupancy forecast: today's occupied beds, then for each plan day the occupied
/// beds plus that day's forecast emergency admissions (a sum of the wards' Poisson
/// counts, so Poisson itself); planned discharges are not subtracted, so the fan is the
/// pressure on beds the bed plan reserves for.
fn occupancy_fan(occupied: i64, plan: &careflow_types::BedPlanRecord) -> Vec<FanPoint> {
    let now = occupied as f64;
    let mut points = vec![FanPoint {
        label: "now".into(),
        p10: now,
        p50: now,
        p90: now,
    }];
    for day in 0..plan.horizon_days {
        let mean: f64 = plan
            .proposal
            .demand
            .wards
            .iter()
            .filter(|w| w.day == day)
            .map(|w| w.mean)
            .sum();
        let date = chrono::NaiveDate::parse_from_str(&plan.plan_date, "%Y-%m-%d")
            .map(|d| {
                (d + chrono::Days::new(day.into()))
                    .format("%d %b")
                    .to_string()
            })
            .unwrap_or_else(|_| format!("day {day}"));
        points.push(FanPoint {
            label: date,
            p10: now + poisson_quantile(mean, 0.1),
            p50: now + poisson_quantile(mean, 0.5),
            p90: now + poisson_quantile(mean, 0.9),
        });
    }
    points
}

async fn dashboard(State(state): State<AppState>, me: PageUser) -> Response {
    let user = match me.require(DASHBOARD_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let wards = match hospital::occupancy(&state.db).await {
        Ok(w) => w,
        Err(e) => return app_error_page(e.into()),
    };
    let plans = match bed_plans::list(&state.db, 20).await {
        Ok(p) => p,
        Err(e) => return app_error_page(e.into()),
    };
    let (admissions, admissions_total) =
        match views::waiting_admissions(&state.db, ADMISSIONS_SHOWN).await {
            Ok(a) => a,
            Err(e) => return app_error_page(e.into()),
        };
    let now = chrono::Utc::now();
    let waiting: Vec<_> = match tasks::all(&state.db, 500).await {
        Ok(t) => t
            .into_iter()
            .filter(|t| t.status == "open" || t.status == "claimed")
            .collect(),
        Err(e) => return app_error_page(e.into()),
    };
    let beds: i64 = wards.iter().map(|w| w.beds).sum();
    let occupied: i64 = wards.iter().map(|w| w.occupied).sum();
    // The newest plan with a demand forecast (infeasible ones carry one too).
    let plan = plans.iter().find(|p| !p.proposal.demand.wards.is_empty());
    let fan = plan.map(|p| occupancy_fan(occupied, p)).unwrap_or_default();
    let pct = |o: i64, b: i64| {
        if b > 0 {
            100.0 * o as f64 / b as f64
        } else {
            0.0
        }
    };
    let body = html! {
        h2 { "Beds now" }
        p #occupancy-total { strong { (occupied) " of " (beds) " beds occupied" } " (" (format!("{:.0}", pct(occupied, beds))) " %)." }
        table #wards {
            thead { tr { th scope="col" { "Ward" } th scope="col" { "Specialty" } th scope="col" { "Occupied" } th scope="col" { "Beds" } th scope="col" { "Occupancy" } } }
            tbody {
                @for w in &wards {
                    tr {
                        td { (w.ward_id) } td { (w.specialty) }
                        td.num { (w.occupied) } td.num { (w.beds) }
                        td {
                            svg width="120" height="12" role="img" aria-label={(format!("{:.0}", pct(w.occupied, w.beds))) " % occupied"} {
                                rect width="120" height="12" fill="#d0d7de" {}
                                rect width=(format!("{:.1}", 1.2 * pct(w.occupied, w.beds))) height="12" fill="#0b5cad" {}
                            }
                            " " (format!("{:.0}", pct(w.occupied, w.beds))) " %"
                        }
                    }
                }
            }
        }
        h2 { "Occupancy forecast" }
        @match plan {
            Some(p) => {
                (fan_chart("Occupied beds: now and forecast", &fan, Some(("beds in service", beds as f64))))
                p.muted { "From bed plan " (p.plan_id) " (" (p.status) "): today's occupied beds plus the forecast emergency admissions of each day by "
                    (p.proposal.demand.provenance.model_name) " " (p.proposal.demand.provenance.model_version)
                    "; planned discharges not subtracted." }
                table #forecast {
                    thead { tr { th scope="col" { "Day" } th scope="col" { "p10" } th scope="col" { "median" } th scope="col" { "p90" } } }
                    tbody { @for f in &fan { tr { td { (f.label) } td.num { (f.p10) } td.num { (f.p50) } td.num { (f.p90) } } } }
                }
            }
            None => p.muted { "No bed plan has forecast demand yet; the forecast appears with the first plan." },
        }
        h2 { "Admissions waiting for a bed" }
        p #admissions-waiting-total { strong { (admissions_total) } " admission(s) waiting"
            @if let Some(a) = admissions.first() { "; the longest since " (a.created_at) " (" (waited(&a.created_at, now)) ")" } "." }
        @if !admissions.is_empty() {
            table #admissions-waiting {
                thead { tr { th scope="col" { "Waiting since" } th scope="col" { "For" } th scope="col" { "Admission" } th scope="col" { "Kind" } th scope="col" { "Specialty" } th scope="col" { "Sex" } th scope="col" { "Age group" } } }
                tbody { @for a in &admissions { tr {
                    td { (a.created_at) } td.num { (waited(&a.created_at, now)) } td { (a.admission_id) }
                    td { (a.kind) } td { (a.specialty) } td { (a.sex) } td { (a.age_group) }
                } } }
            }
            @if admissions_total > i64::from(ADMISSIONS_SHOWN) { p.muted { "The " (ADMISSIONS_SHOWN) " waiting longest are listed." } }
        }
        h2 { "Workflows waiting on people" }
        @if waiting.is_empty() {
            p.notice { "No workflow is waiting on a person." }
        } @else {
            table #waiting {
                thead { tr { th scope="col" { "Waiting since" } th scope="col" { "For" } th scope="col" { "On (queue)" } th scope="col" { "Who has it" } th scope="col" { "What" } th scope="col" { "Due" } th scope="col" { "Workflow" } } }
                tbody {
                    @for t in &waiting {
                        tr {
                            td { (t.created_at) } td.num { (waited(&t.created_at, now)) } td { (t.role) }
                            td { (t.claimed_by.as_deref().unwrap_or("nobody yet")) }
                            td { (t.summary) } td { (t.due_at) } td { (t.workflow_id) }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(user, &me.csrf, "Department dashboard", body),
    )
}
