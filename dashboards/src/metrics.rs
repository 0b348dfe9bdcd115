//! Prometheus metrics at `GET /metrics` (text exposition format): request latency and
//! counts per route template (never a concrete path, so no id appears), workflows the
//! API started, decisions sent, the queues of tasks waiting on people (how many, and
//! the oldest's age) and each workflow's records by outcome (state) read from the
//! database at each scrape, and the solver and forecast times of this process's worker
//! (`careflow_activities::metrics`). No patient data.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use careflow_store::{tasks, views};
use careflow_types::Role;

use crate::AppState;

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    workflow_starts: IntCounterVec,
    decisions: IntCounterVec,
    tasks_open: IntGaugeVec,
    task_oldest: IntGaugeVec,
    outcomes: IntGaugeVec,
}

/// The routes whose success starts a workflow, and which.
const STARTS: &[(&str, &str)] = &[
    ("/api/admissions", "admission"),
    ("/api/bed-plans", "bed_plan"),
    ("/api/theatre-weeks", "theatre_booking"),
    ("/api/scanner-bookings", "scanner_booking"),
    ("/api/rosters", "nurse_rostering"),
];

/// The routes that send a signed decision to a workflow.
const DECISIONS: &[&str] = &["/api/tasks/{task_id}/decision", "/inbox/{task_id}/decision"];

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let registry =
            Registry::new_custom(Some("careflow".into()), None).expect("a valid metrics prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template and method",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method"],
        )
        .expect("metric");
        let workflow_starts = IntCounterVec::new(
            Opts::new("workflow_starts_total", "Workflows started through the API"),
            &["workflow"],
        )
        .expect("metric");
        let decisions = IntCounterVec::new(
            Opts::new(
                "decisions_total",
                "Signed decisions sent to workflows, by outcome of the request (accepted, refused)",
            ),
            &["outcome"],
        )
        .expect("metric");
        let tasks_open = IntGaugeVec::new(
            Opts::new(
                "tasks_waiting",
                "Tasks waiting on a person, by queue (role)",
            ),
            &["role"],
        )
        .expect("metric");
        let task_oldest = IntGaugeVec::new(
            Opts::new(
                "task_oldest_age_seconds",
                "Age of the oldest task waiting on a person, by queue (role)",
            ),
            &["role"],
        )
        .expect("metric");
        let outcomes = IntGaugeVec::new(
            Opts::new(
                "workflow_records",
                "Records of each workflow by state: admissions, revisions of plans, lists, \
                 bookings and rosters, ethics submissions, model releases",
            ),
            &["workflow", "state"],
        )
        .expect("metric");
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(workflow_starts.clone()),
            Box::new(decisions.clone()),
            Box::new(tasks_open.clone()),
            Box::new(task_oldest.clone()),
            Box::new(outcomes.clone()),
        ] {
            registry.register(m).expect("metrics registered once");
        }
        Metrics {
            registry,
            requests,
            latency,
            workflow_starts,
            decisions,
            tasks_open,
            task_oldest,
            outcomes,
        }
    })
}

/// Middleware: times and counts every request by its route template.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let m = metrics();
    let status = response.status();
    m.latency
        .with_label_values(&[route.as_str(), method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
        .inc();
    if method == Method::POST {
        if let Some((_, workflow)) = STARTS.iter().find(|(r, _)| *r == route) {
            if status == StatusCode::CREATED {
                m.workflow_starts.with_label_values(&[*workflow]).inc();
            }
        }
        if DECISIONS.contains(&route.as_str()) {
            let outcome = if status.is_success() {
                "accepted"
            } else {
                "refused"
            };
            m.decisions.with_label_values(&[outcome]).inc();
        }
    }
    response
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let m = metrics();
    let now = chrono::Utc::now();
    for role in Role::ALL {
        let waiting = match tasks::open_for_role(&state.db, role).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "reading task queues for metrics");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        let oldest = waiting
            .iter()
            .filter_map(|t| chrono::DateTime::parse_from_rfc3339(&t.created_at).ok())
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0))
            .max()
            .unwrap_or(0);
        m.tasks_open
            .with_label_values(&[role.as_str()])
            .set(waiting.len() as i64);
        m.task_oldest
            .with_label_values(&[role.as_str()])
            .set(oldest);
    }
    match views::workflow_outcomes(&state.db).await {
        Ok(rows) => {
            m.outcomes.reset();
            for (workflow, state, n) in rows {
                m.outcomes.with_label_values(&[&workflow, &state]).set(n);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "reading workflow outcomes for metrics");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    // The API's own metrics, then the worker's solver and forecast times.
    let mut families = m.registry.gather();
    families.extend(prometheus::gather());
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
        tracing::error!(error = %e, "encoding metrics");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], out).into_response()
}
