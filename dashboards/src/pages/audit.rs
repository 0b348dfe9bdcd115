//! The audit viewer: the chain's status (verified on every view), a search by
//! pseudonym or any text, workflow, actor and dates, and the same search as a CSV or
//! JSON download for an inspector (the API's export, so an auditor never needs
//! database credentials). The trail holds digests, not patient identifiers.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;

use careflow_store::audit;

use super::layout::{page, respond};
use super::session::PageUser;
use super::{app_error_page, AUDIT_ROLES};
use crate::api::audit_export::{export_response, filtered, AuditFilter, EXPORT_ROLES};
use crate::AppState;

/// The most entries one page lists (the newest); the export has them all.
const SHOWN: usize = 300;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(viewer))
        .route("/audit/export", get(export))
}

fn query_string(f: &AuditFilter, format: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", &f.q),
        ("workflow", &f.workflow),
        ("actor", &f.actor),
        ("from", &f.from),
        ("to", &f.to),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            q.append_pair(k, v);
        }
    }
    q.append_pair("format", format);
    q.finish()
}

async fn viewer(
    State(state): State<AppState>,
    me: PageUser,
    Query(filter): Query<AuditFilter>,
) -> Response {
    let user = match me.require(AUDIT_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let verification = match audit::verify(&state.db).await {
        Ok(v) => v,
        Err(e) => return app_error_page(e.into()),
    };
    let (entries, problem) = match filtered(&state, &filter).await {
        Ok(e) => (e, None),
        Err(crate::AppError::Invalid(f)) => (
            Vec::new(),
            Some(
                f.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        Err(e) => return app_error_page(e),
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let shown = &entries[entries.len().saturating_sub(SHOWN)..];
    let body = html! {
        section aria-labelledby="chain" {
            h2 #chain { "The chain" }
            @match &verification.first_break {
                None => p.notice.ok #chain-status role="status" { "Intact: all " (verification.entries) " entries verified (each hash over its content and its predecessor's)." },
                Some(b) => p.notice.error #chain-status role="alert" { "BROKEN at entry " (b.seq) ": " (b.detail) },
            }
        }
        h2 { "Search" }
        form method="get" action="/audit" {
            label for="q" { "Pseudonym or any text (workflow id, step, reason, action)" }
            input #q type="text" name="q" value=(value(&filter.q));
            label for="workflow" { "Workflow id contains" }
            input #workflow type="text" name="workflow" value=(value(&filter.workflow));
            label for="actor" { "Actor (user name)" }
            input #actor type="text" name="actor" value=(value(&filter.actor));
            label for="from" { "From (date, UTC)" }
            input #from type="date" name="from" value=(value(&filter.from));
            label for="to" { "To (date, UTC)" }
            input #to type="date" name="to" value=(value(&filter.to));
            p { button type="submit" { "Search" } }
        }
        @if let Some(p) = &problem { p.notice.error role="alert" { (p) } }
        @if EXPORT_ROLES.contains(&user.role) {
            p { "Export these entries for an inspector: "
                a #export-csv href={"/audit/export?" (query_string(&filter, "csv"))} { "CSV" } " · "
                a #export-json href={"/audit/export?" (query_string(&filter, "json"))} { "JSON" } }
        }
        h2 { "Entries" }
        p.muted #entry-count { (entries.len()) " matching entries"
            @if entries.len() > SHOWN { ", the newest " (SHOWN) " shown; the export has them all" } "." }
        table #entries {
            thead { tr { th scope="col" { "#" } th scope="col" { "When (UTC)" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Meaning" } th scope="col" { "Reason" } th scope="col" { "Workflow" } th scope="col" { "Hash" } } }
            tbody {
                @for e in shown.iter().rev() {
                    tr {
                        td.num { (e.seq) }
                        td { (e.recorded_at) }
                        td { (e.actor) " (" (e.role) ")" }
                        td { (e.action) }
                        td { (e.meaning.as_deref().unwrap_or("")) }
                        td { (e.reason.as_deref().unwrap_or("")) }
                        td { (e.workflow_id.as_deref().unwrap_or("")) @if let Some(s) = &e.step { " / " (s) } }
                        td { code { (e.hash.get(..12).unwrap_or(&e.hash)) } }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(user, &me.csrf, "Audit trail", body))
}

/// `GET /audit/export`: the API's export for a browser session (auditor only).
async fn export(
    State(state): State<AppState>,
    me: PageUser,
    Query(filter): Query<AuditFilter>,
) -> Response {
    if let Err(r) = me.require(EXPORT_ROLES) {
        return r.into_response();
    }
    match export_response(&state, &filter).await {
        Ok(r) => r,
        Err(e) => app_error_page(e),
    }
}
