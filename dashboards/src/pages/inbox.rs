//! The approval inbox: my queue's tasks by due time; a task with what it proposes, its
//! KPIs, the forecast and the models and solver behind it; claim; approve or reject
//! with a reason, signed with the password (the API's `decide`, so the same checks,
//! signature and workflow update apply).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

use careflow_store::{audit, bed_plans, decisions, tasks};
use careflow_types::{BedPlanRecord, DecisionRequest, Role, TaskView};

use super::charts::{fan_chart, poisson_quantile, FanPoint};
use super::layout::{num, page, respond};
use super::session::PageUser;
use super::{app_error_page, INBOX_ROLES};
use crate::api::decisions::SharedDecisionService;
use crate::api::DECIDER_ROLES;
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/inbox", get(inbox))
        .route("/inbox/{task_id}", get(task_page))
        .route("/inbox/{task_id}/claim", post(claim))
        .route("/inbox/{task_id}/decision", post(decision))
}

async fn inbox(State(state): State<AppState>, me: PageUser) -> Response {
    let user = match me.require(INBOX_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let listed = if user.role == Role::Admin {
        tasks::all(&state.db, 500).await
    } else {
        tasks::open_for_role(&state.db, user.role).await
    };
    let mut list = match listed {
        Ok(l) => l,
        Err(e) => return app_error_page(e.into()),
    };
    list.sort_by(|a, b| a.due_at.cmp(&b.due_at));
    let body = html! {
        p { "Tasks waiting for the role " (user.role) ", the soonest due first. Open a task to see what it proposes and to decide it." }
        @if list.is_empty() {
            p.notice { "Nothing is waiting for you." }
        } @else {
            table {
                caption.muted { (list.len()) " task(s)" }
                thead { tr { th scope="col" { "Due" } th scope="col" { "What" } th scope="col" { "Kind" } th scope="col" { "Status" } th scope="col" { "Claimed by" } th scope="col" { "Asked by" } } }
                tbody {
                    @for t in &list {
                        tr {
                            td { (t.due_at) @if t.escalations > 0 { " (escalated " (t.escalations) "×)" } }
                            td { a href={"/inbox/" (t.task_id)} { (t.summary) } }
                            td { (t.kind) }
                            td { (t.status) }
                            td { (t.claimed_by.as_deref().unwrap_or("—")) }
                            td { (t.requested_by.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(user, &me.csrf, "Approval inbox", body))
}

/// The bed plan behind a task, when it is one.
async fn plan_of(state: &AppState, task: &TaskView) -> Option<BedPlanRecord> {
    if task.kind != "bed_plan" {
        return None;
    }
    bed_plans::get(&state.db, &task.workflow_id)
        .await
        .ok()
        .flatten()
}

fn proposal_section(plan: &BedPlanRecord) -> Markup {
    let p = &plan.proposal;
    let d = &p.demand;
    let days = plan.horizon_days.max(1);
    let points: Vec<FanPoint> = (0..days)
        .map(|day| {
            // The site's emergency admissions: a sum of the wards' Poisson counts.
            let mean: f64 = d
                .wards
                .iter()
                .filter(|w| w.day == day)
                .map(|w| w.mean)
                .sum();
            FanPoint {
                label: format!("day {day}"),
                p10: poisson_quantile(mean, 0.1),
                p50: poisson_quantile(mean, 0.5),
                p90: poisson_quantile(mean, 0.9),
            }
        })
        .collect();
    html! {
        h2 { "The proposal" }
        p { "Bed plan " (plan.plan_id) " from " (plan.plan_date) " for " (plan.horizon_days) " day(s), asked for by " (plan.requested_by) "; now " (plan.status) "." }
        ul.kpis aria-label="Key figures" {
            li { "Patients placed" b { (p.patients) } }
            li { "Moves" b { (p.transfers) } }
            li { "Outlier patient-days" b { (p.outlier_days) } }
            li { "Reserve shortfall (bed-days)" b { (num(p.reserve_shortfall, 1)) } }
            li { "Solver status" b { (p.solver_status) } }
            li { "MIP gap" b { (p.mip_gap.map(|g| format!("{:.2} %", g * 100.0)).unwrap_or_else(|| "—".into())) } }
            li { "Weighted cost" b { (num(p.cost_total, 1)) } }
        }
        h2 { "Who moves, and why" }
        @if p.moves.is_empty() {
            p { "Nobody moves: the plan keeps every patient where they are." }
        } @else {
            table {
                thead { tr { th scope="col" { "Admission (pseudonymous)" } th scope="col" { "From room" } th scope="col" { "To room" } th scope="col" { "Why" } } }
                tbody { @for m in &p.moves { tr { td { (m.admission_id) } td { (m.from_room) } td { (m.to_room) } td { (m.why) } } } }
            }
        }
        @if !p.shortfalls.is_empty() {
            h2 { "Short of the emergency reserve" }
            ul { @for s in &p.shortfalls { li { (s) } } }
        }
        @if !p.conflicts.is_empty() {
            h2 { "Why no plan satisfies the rules" }
            ul { @for c in &p.conflicts { li { (c) } } }
        }
        h2 { "Forecast emergency admissions" }
        (fan_chart("Emergency admissions per day, whole site", &points, None))
        p.muted { "Forecast by " (d.provenance.model_name) " " (d.provenance.model_version)
            " (sha256 " (d.provenance.model_sha256.get(..12).unwrap_or(&d.provenance.model_sha256)) "…) on "
            (d.provenance.execution_provider) " from " (d.provenance.origin) "; the plan keeps the p90 free per ward." }
    }
}

async fn steps_section(state: &AppState, workflow_id: &str) -> Markup {
    let steps = decisions::steps(&state.db, workflow_id)
        .await
        .unwrap_or_default();
    html! {
        h2 { "Models and solver behind it" }
        @if steps.is_empty() {
            p.muted { "No forecasting or solving step recorded for this workflow." }
        } @else {
            table {
                thead { tr { th scope="col" { "Step" } th scope="col" { "Models (version, sha256)" } th scope="col" { "Solver" } th scope="col" { "Time limit" } th scope="col" { "careflow" } } }
                tbody {
                    @for s in &steps {
                        tr {
                            td { (s.step) }
                            td { @for m in &s.models { (m.name) " " (m.version) " (" (m.sha256.get(..12).unwrap_or(&m.sha256)) "…) " } }
                            td { (s.solver.as_deref().unwrap_or("—")) " " (s.solver_version.as_deref().unwrap_or("")) }
                            td { (s.time_limit_s.map(|t| format!("{t} s")).unwrap_or_else(|| "—".into())) }
                            td { (s.careflow_version) }
                        }
                    }
                }
            }
        }
    }
}

/// The task page; `notice` is the outcome of the form just sent (ok or not).
async fn render_task(
    state: &AppState,
    svc: Option<&SharedDecisionService>,
    me: &PageUser,
    task_id: &str,
    notice: Option<(bool, String)>,
    status: StatusCode,
) -> Response {
    let user = &me.user;
    let task = match tasks::get(&state.db, task_id).await {
        Ok(t) => t,
        Err(e) => return app_error_page(e.into()),
    };
    let plan = plan_of(state, &task).await;
    let other = super::proposals::section(state, svc, user, &task).await;
    let steps = steps_section(state, &task.workflow_id).await;
    let history = audit::entries_for_workflow(&state.db, &task.workflow_id)
        .await
        .unwrap_or_default();
    let open = task.status == "open" || task.status == "claimed";
    let may_decide = DECIDER_ROLES.contains(&user.role)
        && tasks::check_may_decide(&task, &user.name, user.role).is_ok();
    let body = html! {
        @if let Some((ok, text)) = &notice {
            p.notice.ok[*ok].error[!*ok] role=(if *ok { "status" } else { "alert" }) { (text) }
        }
        p { a href="/inbox" { "← Back to the inbox" } }
        table {
            tbody {
                tr { th scope="row" { "Asks" } td { (task.summary) } }
                tr { th scope="row" { "Kind" } td { (task.kind) } }
                tr { th scope="row" { "Queue" } td { (task.role) } }
                tr { th scope="row" { "Status" } td #task-status { (task.status) } }
                tr { th scope="row" { "Due" } td { (task.due_at) } }
                tr { th scope="row" { "Asked by" } td { (task.requested_by.as_deref().unwrap_or("—")) } }
                tr { th scope="row" { "Claimed by" } td #claimed-by { (task.claimed_by.as_deref().unwrap_or("—")) } }
                tr { th scope="row" { "Workflow" } td { (task.workflow_id) } }
                @if let Some(bed) = &task.proposed_bed { tr { th scope="row" { "Proposed bed" } td { (bed) } } }
                @if let Some(by) = &task.decided_by {
                    tr { th scope="row" { "Decided by" } td { (by) } }
                    tr { th scope="row" { "Reason" } td #decision-reason { (task.decision_reason.as_deref().unwrap_or("")) } }
                }
            }
        }
        @if let Some(plan) = &plan { (proposal_section(plan)) }
        @if let Some(other) = other { (other) }
        (steps)
        @if open && DECIDER_ROLES.contains(&user.role) {
            @if task.claimed_by.is_none() {
                form method="post" action={"/inbox/" (task.task_id) "/claim"} {
                    input type="hidden" name="csrf" value=(me.csrf);
                    button.secondary type="submit" { "Claim this task" }
                    " (others in your queue then see that you are deciding it)"
                }
            }
            @if may_decide {
                h2 { "Decide" }
                form method="post" action={"/inbox/" (task.task_id) "/decision"} {
                    input type="hidden" name="csrf" value=(me.csrf);
                    label for="reason" { "Reason (recorded in the audit trail)" }
                    textarea #reason name="reason" rows="3" required minlength="3" {}
                    @if task.kind == "no_bed" {
                        label for="bed_id" { "Bed to use (optional)" }
                        input #bed_id type="text" name="bed_id";
                    }
                    label for="password" { "Your password (signs the decision)" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    div.meaning #meaning {
                        strong { "The meaning of your signature. " }
                        "Approving signs “I approve what I signed”; rejecting signs “I reject what I signed”. "
                        (consequence(&task.kind)) " "
                        "Either way your signature binds this task (" (task.task_id) "), your decision and your reason, "
                        "and is recorded with your name, role and the time in the tamper-evident audit trail. "
                        "It has the weight of your handwritten signature."
                    }
                    button type="submit" name="verdict" value="approve" { "Approve and sign" }
                    " "
                    button.reject type="submit" name="verdict" value="reject" { "Reject and sign" }
                }
            } @else {
                p.notice { (tasks::check_may_decide(&task, &user.name, user.role).err().map(|e| e.to_string()).unwrap_or_default()) }
            }
        }
        h2 { "History of this workflow" }
        table #history {
            thead { tr { th scope="col" { "#" } th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Meaning" } th scope="col" { "Reason" } } }
            tbody {
                @for e in &history {
                    tr { td.num { (e.seq) } td { (e.recorded_at) } td { (e.actor) " (" (e.role) ")" } td { (e.action) } td { (e.meaning.as_deref().unwrap_or("")) } td { (e.reason.as_deref().unwrap_or("")) } }
                }
            }
        }
    };
    respond(
        status,
        page(user, &me.csrf, &format!("Task: {}", task.kind), body),
    )
}

async fn task_page(
    State(state): State<AppState>,
    ext: Option<Extension<SharedDecisionService>>,
    me: PageUser,
    Path(task_id): Path<String>,
) -> Response {
    if let Err(r) = me.require(INBOX_ROLES) {
        return r.into_response();
    }
    let svc = ext.map(|Extension(s)| s);
    render_task(&state, svc.as_ref(), &me, &task_id, None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct ClaimForm {
    #[serde(default)]
    csrf: Option<String>,
}

async fn claim(
    State(state): State<AppState>,
    me: PageUser,
    Path(task_id): Path<String>,
    Form(form): Form<ClaimForm>,
) -> Response {
    let user = match me.require(DECIDER_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = me.check_csrf(form.csrf.as_deref()) {
        return r.into_response();
    }
    match tasks::claim(&state.db, &task_id, &user.name, user.role).await {
        Ok(_) => Redirect::to(&format!("/inbox/{task_id}")).into_response(),
        Err(e) => app_error_page(e.into()),
    }
}

#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    bed_id: Option<String>,
}

async fn decision(
    State(state): State<AppState>,
    ext: Option<Extension<SharedDecisionService>>,
    me: PageUser,
    Path(task_id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    let user = match me.require(DECIDER_ROLES) {
        Ok(u) => u.clone(),
        Err(r) => return r.into_response(),
    };
    if let Err(r) = me.check_csrf(form.csrf.as_deref()) {
        return r.into_response();
    }
    let svc = ext.map(|Extension(s)| s);
    let svc = svc.as_ref();
    let approve = match form.verdict.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return render_task(
                &state,
                svc,
                &me,
                &task_id,
                Some((false, "Choose approve or reject.".into())),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    };
    let req = DecisionRequest {
        approve,
        reason: form.reason,
        bed_id: form.bed_id.filter(|b| !b.trim().is_empty()),
        password: form.password,
    };
    match crate::api::decide(&state, &user, task_id.clone(), req).await {
        Ok(outcome) => {
            let verb = if approve { "Approved" } else { "Rejected" };
            let text = format!(
                "{verb} and signed by {}. The workflow answered: {}",
                outcome.decided_by, outcome.result
            );
            render_task(
                &state,
                svc,
                &me,
                &task_id,
                Some((true, text)),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let message = match &e {
                crate::AppError::Invalid(f) => f
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                crate::AppError::Internal(_) => return app_error_page(e),
                other => other.to_string(),
            };
            let status = e.into_response().status();
            render_task(
                &state,
                svc,
                &me,
                &task_id,
                Some((false, format!("Not signed: {message}"))),
                status,
            )
            .await
        }
    }
}

/// What approving a task of `kind` sets in motion, for the signature's meaning.
fn consequence(kind: &str) -> &'static str {
    match kind {
        "bed_plan" => "Approving carries out the moves of this bed plan.",
        "theatre_list" => "Approving publishes these theatre lists for the week, replacing the lists in force; rejecting keeps the lists in force.",
        "scanner_booking" => "Approving books these scans, beyond the booking policy where the page says so; rejecting books none of them.",
        "roster" => "Approving publishes this roster for the ward, replacing the roster in force; rejecting keeps the roster in force.",
        _ => "Approving lets the workflow carry out what the task asks.",
    }
}
