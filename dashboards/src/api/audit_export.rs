//! `GET /api/audit/export?format=csv|json` (role auditor): the audit trail for an
//! inspector through the API, so an auditor never needs database credentials. The
//! trail holds no patient identifiers (inputs and outputs are digests), so the export
//! is de-identified as stored. The same filters as the audit viewer page apply.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use careflow_store::audit;
use careflow_types::{AuditEntry, FieldError, Role};

use super::Caller;
use crate::error::AppError;
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/audit/export", get(export))
}

/// Which entries: every field optional; text matches are substrings, `from`/`to` are
/// inclusive dates (`YYYY-MM-DD`) on the UTC recording time.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditFilter {
    /// Any text of the entry (workflow id, step, reason): finds a pseudonym where it
    /// appears.
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub workflow: Option<String>,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl AuditFilter {
    /// Refuses malformed dates, naming the field.
    pub(crate) fn check(&self) -> Result<(), AppError> {
        let mut bad = Vec::new();
        for (name, v) in [("from", &self.from), ("to", &self.to)] {
            if let Some(d) = set(v) {
                if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() {
                    bad.push(FieldError::new(name, "must be a date YYYY-MM-DD"));
                }
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid(bad))
        }
    }

    pub(crate) fn matches(&self, e: &AuditEntry) -> bool {
        let day = e.recorded_at.get(..10).unwrap_or("");
        set(&self.workflow).is_none_or(|w| e.workflow_id.as_deref().is_some_and(|x| x.contains(w)))
            && set(&self.actor).is_none_or(|a| e.actor == a)
            && set(&self.from).is_none_or(|f| day >= f)
            && set(&self.to).is_none_or(|t| day <= t)
            && set(&self.q).is_none_or(|q| {
                [&e.workflow_id, &e.step, &e.reason, &Some(e.action.clone())]
                    .iter()
                    .any(|f| f.as_deref().is_some_and(|x| x.contains(q)))
            })
    }
}

/// The entries that match, in chain order.
pub(crate) async fn filtered(
    state: &AppState,
    filter: &AuditFilter,
) -> Result<Vec<AuditEntry>, AppError> {
    filter.check()?;
    Ok(audit::entries(&state.db)
        .await?
        .into_iter()
        .filter(|e| filter.matches(e))
        .collect())
}

/// A CSV field, quoted when it holds a separator, quote or line break (RFC 4180); a
/// leading `=`, `+`, `-` or `@` is prefixed with `'` so a spreadsheet never runs it.
fn csv_field(out: &mut String, v: &str) {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&v);
    }
}

pub(crate) fn to_csv(entries: &[AuditEntry]) -> String {
    let mut out = String::from("seq,recorded_at,actor,role,action,meaning,reason,workflow_id,step,input_digest,output_digest,prev_hash,hash\r\n");
    for e in entries {
        let cols: [&str; 13] = [
            &e.seq.to_string(),
            &e.recorded_at,
            &e.actor,
            &e.role,
            &e.action,
            e.meaning.as_deref().unwrap_or(""),
            e.reason.as_deref().unwrap_or(""),
            e.workflow_id.as_deref().unwrap_or(""),
            e.step.as_deref().unwrap_or(""),
            e.input_digest.as_deref().unwrap_or(""),
            e.output_digest.as_deref().unwrap_or(""),
            &e.prev_hash,
            &e.hash,
        ];
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            csv_field(&mut out, c);
        }
        out.push_str("\r\n");
    }
    out
}

/// Who may download the export (the API's route and the audit viewer's link).
pub(crate) const EXPORT_ROLES: &[Role] = &[Role::Auditor];

#[utoipa::path(
    get,
    path = "/api/audit/export",
    tag = "audit",
    summary = "The audit trail as CSV or JSON for an inspector (query: format=csv|json, q, workflow, actor, from, to)",
    description = "Roles: auditor.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Done"),
        (status = 400, description = "Malformed or invalid: the error names the field"),
        (status = 401, description = "No, an expired or a revoked token; or a wrong password"),
        (status = 403, description = "The caller's role may not do this"),
    )
)]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, AppError> {
    caller.require(EXPORT_ROLES)?;
    export_response(&state, &filter).await
}

/// The matching entries as a CSV or JSON download, as `filter.format` says.
pub(crate) async fn export_response(
    state: &AppState,
    filter: &AuditFilter,
) -> Result<Response, AppError> {
    let format = set(&filter.format).unwrap_or("json").to_owned();
    if format != "json" && format != "csv" {
        return Err(AppError::Invalid(vec![FieldError::new(
            "format",
            "must be csv or json",
        )]));
    }
    let entries = filtered(state, filter).await?;
    Ok(if format == "csv" {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"careflow-audit.csv\"",
                ),
            ],
            to_csv(&entries),
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"careflow-audit.json\"",
            )],
            axum::Json(entries),
        )
            .into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, actor: &str, reason: Option<&str>) -> AuditEntry {
        AuditEntry {
            seq,
            recorded_at: format!("2026-12-0{seq}T10:00:00.000000Z"),
            actor: actor.into(),
            role: "bed_manager".into(),
            action: "task.approved".into(),
            meaning: Some("approved".into()),
            reason: reason.map(Into::into),
            workflow_id: Some(format!("bedplan-{seq}")),
            step: None,
            input_digest: None,
            output_digest: None,
            idempotency_key: format!("k{seq}"),
            prev_hash: "0".repeat(64),
            hash: "a".repeat(64),
        }
    }

    #[test]
    fn csv_quotes_separators_and_defuses_formulas() {
        let csv = to_csv(&[entry(1, "ben", Some("=HYPERLINK(\"x\"), then, \"ok\""))]);
        let row = csv.lines().nth(1).expect("a data row");
        assert!(row
            .starts_with("1,2026-12-01T10:00:00.000000Z,ben,bed_manager,task.approved,approved,"));
        assert!(
            row.contains(r#""'=HYPERLINK(""x""), then, ""ok""""#),
            "{row}"
        );
        assert_eq!(csv.lines().count(), 2);
    }

    #[test]
    fn filters_by_actor_workflow_text_and_dates() {
        let all = [
            entry(1, "ben", Some("outlier agreed")),
            entry(2, "tess", None),
        ];
        let f = |filter: AuditFilter| {
            all.iter()
                .filter(|e| filter.matches(e))
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(f(AuditFilter::default()), vec![1, 2]);
        assert_eq!(
            f(AuditFilter {
                actor: Some("tess".into()),
                ..Default::default()
            }),
            vec![2]
        );
        assert_eq!(
            f(AuditFilter {
                workflow: Some("bedplan-1".into()),
                ..Default::default()
            }),
            vec![1]
        );
        assert_eq!(
            f(AuditFilter {
                q: Some("outlier".into()),
                ..Default::default()
            }),
            vec![1]
        );
        assert_eq!(
            f(AuditFilter {
                from: Some("2026-12-02".into()),
                ..Default::default()
            }),
            vec![2]
        );
        assert_eq!(
            f(AuditFilter {
                to: Some("2026-12-01".into()),
                ..Default::default()
            }),
            vec![1]
        );
        let bad = AuditFilter {
            from: Some("yesterday".into()),
            ..Default::default()
        };
        assert!(matches!(bad.check(), Err(AppError::Invalid(v)) if v[0].field == "from"));
    }
}
