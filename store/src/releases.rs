//! Model releases (`model_releases`, `shadow_forecasts`): how a candidate model version
//! reaches production, step by step, with a way back.
//!
//! registered (the model file's facts, its author and its owner) -> validated against
//! the production version on the same held-out data, overall and per subgroup, and
//! gated ([`gate`]: a failure names the metric and the subgroup) -> signed off by the
//! ethics committee -> shadow (the candidate forecasts beside production on live calls,
//! both kept per target and compared when the truth is recorded) -> production,
//! promoted by the model's owner with a signature (the author cannot release it alone);
//! [`rollback`] returns the previous version with a reason, signed too.
//!
//! Every step is audited in the transaction that makes it, and each moves the
//! registry's status of the model in that same transaction: nothing else in careflow
//! should change which version is in production.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use careflow_types::{NewAuditEntry, Role, Signature, SignatureMeaning, TaskKind};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};
use crate::registry::ModelFacts;
use crate::signatures::{self, SignRequest};
use crate::users::require_admin;

/// Where a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Registered; not yet validated.
    Registered,
    /// Validated and through the gate.
    Validated,
    /// Validated and stopped by the gate.
    GateFailed,
    /// Signed off by the ethics committee.
    SignedOff,
    /// Forecasting beside production on live calls.
    Shadow,
    /// In production.
    Production,
    /// Was in production; the previous version was restored.
    RolledBack,
    /// Stopped before production (sign-off refused, promotion declined).
    Withdrawn,
}

impl Stage {
    /// The text stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Registered => "registered",
            Stage::Validated => "validated",
            Stage::GateFailed => "gate_failed",
            Stage::SignedOff => "signed_off",
            Stage::Shadow => "shadow",
            Stage::Production => "production",
            Stage::RolledBack => "rolled_back",
            Stage::Withdrawn => "withdrawn",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        [
            Stage::Registered,
            Stage::Validated,
            Stage::GateFailed,
            Stage::SignedOff,
            Stage::Shadow,
            Stage::Production,
            Stage::RolledBack,
            Stage::Withdrawn,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| Error::Corrupt(format!("unknown release stage {s:?}")))
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Forecast quality on a set of targets; lower is better for every error. A quantile
/// forecast (ED arrivals, surgery duration) is scored by `mae` and `pinball`, a
/// probability forecast of an event (a scanner no-show) by `brier`: each model is
/// judged by the errors that are proper for what it forecasts, and the gate compares
/// the errors production was scored on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Targets scored.
    pub n: usize,
    /// Mean absolute error of the median.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Mean pinball loss over the quantiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinball: Option<f64>,
    /// Brier score: mean squared difference between the probability and the outcome
    /// (1 happened, 0 did not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brier: Option<f64>,
}

impl Scores {
    /// Quantile-forecast scores.
    pub fn quantile(n: usize, mae: f64, pinball: f64) -> Self {
        Self {
            n,
            mae: Some(mae),
            pinball: Some(pinball),
            brier: None,
        }
    }

    /// Probability-forecast scores.
    pub fn probability(n: usize, brier: f64) -> Self {
        Self {
            n,
            mae: None,
            pinball: None,
            brier: Some(brier),
        }
    }

    /// Each error by name, `None` where it does not apply.
    pub fn metrics(&self) -> [(&'static str, Option<f64>); 3] {
        [
            ("mae", self.mae),
            ("pinball", self.pinball),
            ("brier", self.brier),
        ]
    }
}

impl std::fmt::Display for Scores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (name, value) in self.metrics() {
            if let Some(v) = value {
                let name = match name {
                    "mae" => "MAE",
                    "brier" => "Brier",
                    other => other,
                };
                write!(f, "{}{name} {v:.4}", if first { "" } else { ", " })?;
                first = false;
            }
        }
        write!(f, "{}n={}", if first { "" } else { " (" }, self.n)?;
        if !first {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// One subgroup of the bias report, candidate beside production.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupScores {
    /// `dimension=value`, e.g. `hour_block=18-23`, `weekday=Sat`, `holiday=yes`.
    pub subgroup: String,
    /// The production version's scores.
    pub production: Scores,
    /// The candidate's scores.
    pub candidate: Scores,
}

/// The offline validation: both versions on the same held-out data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// The held-out data, in words (file and period).
    pub data: String,
    /// The production version compared against.
    pub production_version: String,
    /// Overall, production.
    pub production: Scores,
    /// Overall, candidate.
    pub candidate: Scores,
    /// Per subgroup (the bias report).
    pub subgroups: Vec<SubgroupScores>,
}

/// How much worse than production the candidate may be, as a share of production's
/// error (0.02: 2 % worse).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Margins {
    /// Overall.
    pub overall: f64,
    /// In any subgroup.
    pub subgroup: f64,
}

/// Why the gate stopped a candidate: one metric in one subgroup (or `overall`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateFailure {
    /// `mae`, `pinball`, `brier` or `n`.
    pub metric: String,
    /// `overall` or the subgroup.
    pub subgroup: String,
    /// Production's value.
    pub production: f64,
    /// The candidate's value.
    pub candidate: f64,
    /// The margin that was exceeded.
    pub margin: f64,
}

impl std::fmt::Display for GateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} in {}: candidate {:.4} vs production {:.4} ({:+.1} %, margin {:.1} %)",
            self.metric,
            self.subgroup,
            self.candidate,
            self.production,
            relative(self.production, self.candidate) * 100.0,
            self.margin * 100.0
        )
    }
}

fn relative(production: f64, candidate: f64) -> f64 {
    if production > 0.0 {
        (candidate - production) / production
    } else if candidate > production {
        f64::INFINITY
    } else {
        0.0
    }
}

/// The gate: every metric, overall and in each subgroup, where the candidate is worse
/// than production by more than its margin. Empty: the candidate passes. A subgroup
/// the candidate was not scored on (n = 0) fails: the report must cover it.
pub fn gate(report: &ValidationReport, margins: &Margins) -> Vec<GateFailure> {
    let mut failures = Vec::new();
    let groups = std::iter::once((
        "overall",
        &report.production,
        &report.candidate,
        margins.overall,
    ))
    .chain(report.subgroups.iter().map(|g| {
        (
            g.subgroup.as_str(),
            &g.production,
            &g.candidate,
            margins.subgroup,
        )
    }));
    for (name, p, c, margin) in groups {
        if c.n == 0 || p.n == 0 {
            failures.push(GateFailure {
                metric: "n".into(),
                subgroup: name.into(),
                production: p.n as f64,
                candidate: c.n as f64,
                margin,
            });
            continue;
        }
        for ((metric, pv), (_, cv)) in p.metrics().into_iter().zip(c.metrics()) {
            // Production's errors are the yardstick; a candidate not scored on one of
            // them fails on it.
            let Some(pv) = pv else { continue };
            let cv = cv.unwrap_or(f64::NAN);
            if !cv.is_finite() || relative(pv, cv) > margin {
                failures.push(GateFailure {
                    metric: metric.into(),
                    subgroup: name.into(),
                    production: pv,
                    candidate: cv,
                    margin,
                });
            }
        }
    }
    failures
}

/// One release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Id.
    pub release_id: String,
    /// Model name.
    pub model_name: String,
    /// Candidate version.
    pub version: String,
    /// sha256 of the candidate's .onnx.
    pub sha256: String,
    /// The production version when it was registered (what rollback returns to).
    pub production_version: Option<String>,
    /// Who registered it.
    pub author: String,
    /// Who may promote it (not the author).
    pub owner: String,
    /// Where it stands.
    pub stage: Stage,
    /// The validation report.
    pub validation: Option<ValidationReport>,
    /// The gate's failures (empty: passed), once validated.
    pub gate_failures: Option<Vec<GateFailure>>,
    /// The ethics amendment (a submission to the committee) that signs it off, once
    /// filed.
    pub signoff_submission_id: Option<String>,
    /// The owner's promotion signature.
    pub promotion_signature_id: Option<String>,
    /// The rollback signature.
    pub rollback_signature_id: Option<String>,
    /// Why it was rolled back.
    pub rollback_reason: Option<String>,
    /// Registered at (RFC 3339).
    pub created_at: String,
    /// Last step at (RFC 3339).
    pub updated_at: String,
}

/// What registering a release needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRelease {
    /// Id (the workflow's id).
    pub release_id: String,
    /// The candidate's facts (from its file and card).
    pub facts: ModelFacts,
    /// Who built it and registers it.
    pub author: String,
    /// The model's owner, who alone may promote it (an admin, not the author).
    pub owner: String,
}

const COLUMNS: &str =
    "release_id, model_name, version, sha256, production_version, author, owner, \
     stage, validation_json, gate_json, signoff_submission_id, promotion_signature_id, \
     rollback_signature_id, rollback_reason, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Release> {
    let json = |col: &str| -> Result<Option<String>> { Ok(row.try_get(col)?) };
    let validation = json("validation_json")?
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| Error::Corrupt(format!("validation_json: {e}")))?;
    let gate_failures = json("gate_json")?
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| Error::Corrupt(format!("gate_json: {e}")))?;
    Ok(Release {
        release_id: row.try_get("release_id")?,
        model_name: row.try_get("model_name")?,
        version: row.try_get("version")?,
        sha256: row.try_get("sha256")?,
        production_version: row.try_get("production_version")?,
        author: row.try_get("author")?,
        owner: row.try_get("owner")?,
        stage: Stage::parse(&row.try_get::<String, _>("stage")?)?,
        validation,
        gate_failures,
        signoff_submission_id: row.try_get("signoff_submission_id")?,
        promotion_signature_id: row.try_get("promotion_signature_id")?,
        rollback_signature_id: row.try_get("rollback_signature_id")?,
        rollback_reason: row.try_get("rollback_reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn get_in(conn: &mut AnyConnection, release_id: &str) -> Result<Release> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM model_releases WHERE release_id = $1"
    ))
    .bind(release_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("release {release_id}")))?;
    from_row(&row)
}

/// One release.
pub async fn get(db: &Db, release_id: &str) -> Result<Release> {
    let mut conn = db.pool().acquire().await?;
    get_in(&mut conn, release_id).await
}

/// All releases (of `model_name`), newest first.
pub async fn list(db: &Db, model_name: Option<&str>) -> Result<Vec<Release>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM model_releases WHERE ($1 = '' OR model_name = $1) \
         ORDER BY created_at DESC, release_id"
    ))
    .bind(model_name.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

async fn role_of(conn: &mut AnyConnection, user: &str) -> Result<Option<String>> {
    Ok(sqlx::query("SELECT role FROM users WHERE user_name = $1")
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()?)
}

fn entry(r: &Release, actor: &str, role: &str, action: &str, meaning: String) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.into(),
        role: role.into(),
        action: action.into(),
        meaning: Some(meaning),
        reason: None,
        workflow_id: Some(r.release_id.clone()),
        step: Some(format!("release/{action}")),
        input_digest: Some(r.sha256.clone()),
        output_digest: None,
        idempotency_key: format!("release/{}/{action}", r.release_id),
    }
}

async fn set_stage(conn: &mut AnyConnection, release_id: &str, stage: Stage) -> Result<()> {
    sqlx::query("UPDATE model_releases SET stage = $1, updated_at = $2 WHERE release_id = $3")
        .bind(stage.as_str())
        .bind(now())
        .bind(release_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn set_registry_status(
    conn: &mut AnyConnection,
    name: &str,
    version: &str,
    status: &str,
    by: &str,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE model_registry SET status = $1, promoted_by = $2, promoted_at = $3, promotion_reason = $4 \
         WHERE name = $5 AND version = $6",
    )
    .bind(status)
    .bind(by)
    .bind(now())
    .bind(reason)
    .bind(name)
    .bind(version)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Registers a release of a candidate: the model is registered (as a candidate) if it
/// is not yet, and the production version it will be compared with is noted. The
/// author must be a careflow user; the owner an admin other than the author.
/// Idempotent by release id (the workflow's first step).
pub async fn register(db: &Db, new: &NewRelease) -> Result<Release> {
    if new.release_id.trim().is_empty() {
        return Err(Error::Invalid("release_id: must not be empty".into()));
    }
    if new.author == new.owner {
        return Err(Error::Forbidden(format!(
            "{} is the author of {} {}; its owner must be someone else (a model's author \
             cannot release it alone)",
            new.author, new.facts.name, new.facts.version
        )));
    }
    let mut tx = db.begin_write().await?;
    if let Ok(done) = get_in(&mut tx, &new.release_id).await {
        return Ok(done);
    }
    let author_role = role_of(&mut tx, &new.author)
        .await?
        .ok_or_else(|| Error::Forbidden(format!("{} is not a careflow user", new.author)))?;
    require_admin(&mut tx, &new.owner, "own a model release").await?;
    let open: Option<String> = sqlx::query(
        "SELECT release_id FROM model_releases WHERE model_name = $1 AND version = $2 \
         AND stage NOT IN ('gate_failed','withdrawn','rolled_back')",
    )
    .bind(&new.facts.name)
    .bind(&new.facts.version)
    .fetch_optional(&mut *tx)
    .await?
    .map(|r| r.try_get("release_id"))
    .transpose()?;
    if let Some(other) = open {
        return Err(Error::Conflict(format!(
            "{} {} is already being released ({other})",
            new.facts.name, new.facts.version
        )));
    }
    let registered: Option<(String, String)> =
        sqlx::query("SELECT sha256, status FROM model_registry WHERE name = $1 AND version = $2")
            .bind(&new.facts.name)
            .bind(&new.facts.version)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| -> Result<_> { Ok((r.try_get("sha256")?, r.try_get("status")?)) })
            .transpose()?;
    let at = now();
    match registered {
        Some((sha, _)) if sha != new.facts.sha256 => {
            return Err(Error::Conflict(format!(
                "{} {} is registered with sha256 {}…, not {}…: a changed file needs a new version",
                new.facts.name,
                new.facts.version,
                &sha[..12.min(sha.len())],
                &new.facts.sha256[..12.min(new.facts.sha256.len())]
            )));
        }
        Some((_, status)) if status == "production" => {
            return Err(Error::Conflict(format!(
                "{} {} is already in production",
                new.facts.name, new.facts.version
            )));
        }
        Some(_) => {}
        None => {
            sqlx::query(
                "INSERT INTO model_registry (name, version, sha256, card_json, status, registered_at) \
                 VALUES ($1, $2, $3, $4, 'candidate', $5)",
            )
            .bind(&new.facts.name)
            .bind(&new.facts.version)
            .bind(&new.facts.sha256)
            .bind(&new.facts.card_json)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
    }
    let production: Option<String> =
        sqlx::query("SELECT version FROM model_registry WHERE name = $1 AND status = 'production'")
            .bind(&new.facts.name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("version"))
            .transpose()?;
    sqlx::query(&format!(
        "INSERT INTO model_releases ({COLUMNS}) VALUES \
         ($1,$2,$3,$4,$5,$6,$7,'registered',NULL,NULL,NULL,NULL,NULL,NULL,$8,$8)"
    ))
    .bind(&new.release_id)
    .bind(&new.facts.name)
    .bind(&new.facts.version)
    .bind(&new.facts.sha256)
    .bind(&production)
    .bind(&new.author)
    .bind(&new.owner)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    let r = get_in(&mut tx, &new.release_id).await?;
    let meaning = format!(
        "registered release of {} {} (sha256 {}), owner {}, against production {}",
        r.model_name,
        r.version,
        r.sha256,
        r.owner,
        production.as_deref().unwrap_or("(none)")
    );
    audit::append(
        &mut tx,
        entry(&r, &new.author, &author_role, "release.registered", meaning),
    )
    .await?;
    tx.commit().await?;
    Ok(r)
}

/// Records the validation report and the gate's verdict on it: `validated` when the
/// gate passes, `gate_failed` (each failure named in the audit entry) when not.
/// Returns the failures. Idempotent: a release already validated returns its verdict.
pub async fn record_validation(
    db: &Db,
    release_id: &str,
    report: &ValidationReport,
    margins: &Margins,
) -> Result<Vec<GateFailure>> {
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    if r.stage != Stage::Registered {
        return r.gate_failures.ok_or_else(|| {
            Error::Conflict(format!(
                "release {release_id} is {}, not registered",
                r.stage
            ))
        });
    }
    if r.production_version.as_deref() != Some(report.production_version.as_str()) {
        return Err(Error::Invalid(format!(
            "validation compares with {} {}, but the release was registered against {}",
            r.model_name,
            report.production_version,
            r.production_version
                .as_deref()
                .unwrap_or("no production version")
        )));
    }
    let failures = gate(report, margins);
    let stage = if failures.is_empty() {
        Stage::Validated
    } else {
        Stage::GateFailed
    };
    let report_json = serde_json::to_string(report).map_err(|e| Error::Invalid(e.to_string()))?;
    let gate_json = serde_json::to_string(&failures).map_err(|e| Error::Invalid(e.to_string()))?;
    sqlx::query(
        "UPDATE model_releases SET validation_json = $1, gate_json = $2, stage = $3, updated_at = $4 \
         WHERE release_id = $5",
    )
    .bind(&report_json)
    .bind(&gate_json)
    .bind(stage.as_str())
    .bind(now())
    .bind(release_id)
    .execute(&mut *tx)
    .await?;
    let meaning = if failures.is_empty() {
        format!(
            "validated {} {} against {} on {}: gate passed (overall margin {:.1} %, subgroup margin {:.1} %, {} subgroups)",
            r.model_name,
            r.version,
            report.production_version,
            report.data,
            margins.overall * 100.0,
            margins.subgroup * 100.0,
            report.subgroups.len()
        )
    } else {
        format!(
            "validated {} {} against {} on {}: gate failed: {}",
            r.model_name,
            r.version,
            report.production_version,
            report.data,
            failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let mut e = entry(
        &r,
        "careflow",
        "system",
        if failures.is_empty() {
            "release.validated"
        } else {
            "release.gate_failed"
        },
        meaning,
    );
    e.output_digest = Some(db.digest(report));
    audit::append(&mut tx, e).await?;
    tx.commit().await?;
    Ok(failures)
}

/// Notes the ethics amendment filed for the release's sign-off (while it waits for the
/// committee), audited. Idempotent; a release has one amendment.
pub async fn note_amendment(db: &Db, release_id: &str, submission_id: &str) -> Result<Release> {
    let submission = crate::ethics::get(db, submission_id).await?;
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    match r.signoff_submission_id.as_deref() {
        Some(filed) if filed == submission_id => return Ok(r),
        Some(filed) => {
            return Err(Error::Conflict(format!(
                "release {release_id} already has the ethics amendment {filed}"
            )))
        }
        None => {}
    }
    if r.stage != Stage::Validated {
        return Err(Error::Conflict(format!(
            "release {release_id} is {}; the ethics amendment follows validation",
            r.stage
        )));
    }
    if submission.kind != "amendment" {
        return Err(Error::Invalid(format!(
            "submission {submission_id} is an {} submission, not an amendment",
            submission.kind
        )));
    }
    sqlx::query(
        "UPDATE model_releases SET signoff_submission_id = $1, updated_at = $2 WHERE release_id = $3",
    )
    .bind(submission_id)
    .bind(now())
    .bind(release_id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        entry(
            &r,
            &submission.applicant,
            Role::ProjectLead.as_str(),
            "release.amendment_filed",
            format!(
                "ethics amendment {submission_id} to project {} filed for {} {}",
                submission.project_id, r.model_name, r.version
            ),
        ),
    )
    .await?;
    let r = get_in(&mut tx, release_id).await?;
    tx.commit().await?;
    Ok(r)
}

/// Records the ethics committee's sign-off: the release's amendment was approved (by
/// an expedited review, or the committee's signed decision) or routed exempt by the
/// secretary with the reason recorded. Then the release is `signed_off`.
pub async fn record_signoff(db: &Db, release_id: &str, submission_id: &str) -> Result<Release> {
    // Read before the write transaction: the committee's decision is already committed.
    let s = crate::ethics::get(db, submission_id).await?;
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    if r.signoff_submission_id.as_deref() != Some(submission_id) {
        return Err(Error::Forbidden(format!(
            "submission {submission_id} is not the ethics amendment of release {release_id}"
        )));
    }
    if r.stage == Stage::SignedOff {
        return Ok(r);
    }
    if r.stage != Stage::Validated {
        return Err(Error::Conflict(format!(
            "release {release_id} is {}; only a validated release is signed off",
            r.stage
        )));
    }
    if !matches!(s.state.as_str(), "approved" | "exempt") {
        return Err(Error::Forbidden(format!(
            "ethics amendment {submission_id} is {}, not approved",
            s.state
        )));
    }
    set_stage(&mut tx, release_id, Stage::SignedOff).await?;
    let how = match s.state.as_str() {
        "exempt" => format!(
            "routed exempt by the secretary: {}",
            s.route_reason.as_deref().unwrap_or("")
        ),
        _ => format!(
            "{} (route {})",
            s.decision.as_deref().unwrap_or("approved"),
            s.route.as_deref().unwrap_or("full_committee")
        ),
    };
    audit::append(
        &mut tx,
        entry(
            &r,
            "careflow",
            "system",
            "release.signed_off",
            format!(
                "ethics committee sign-off of {} {}: amendment {submission_id} {how}",
                r.model_name, r.version
            ),
        ),
    )
    .await?;
    let r = get_in(&mut tx, release_id).await?;
    tx.commit().await?;
    Ok(r)
}

/// Ends a release before production (`why`: the sign-off or the promotion was
/// refused, or the release was cancelled); a candidate in shadow goes back to
/// `candidate` in the registry and an open promotion task is cancelled.
pub async fn withdraw(db: &Db, release_id: &str, by: &str, why: &str) -> Result<Release> {
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    if matches!(
        r.stage,
        Stage::Withdrawn | Stage::Production | Stage::RolledBack | Stage::GateFailed
    ) {
        return Ok(r);
    }
    if r.stage == Stage::Shadow {
        set_registry_status(&mut tx, &r.model_name, &r.version, "candidate", by, why).await?;
    }
    // A promotion task still open has nothing left to decide.
    sqlx::query(
        "UPDATE tasks SET status = 'cancelled' WHERE workflow_id = $1 AND status IN ('open','claimed')",
    )
    .bind(release_id)
    .execute(&mut *tx)
    .await?;
    set_stage(&mut tx, release_id, Stage::Withdrawn).await?;
    let mut e = entry(
        &r,
        by,
        "system",
        "release.withdrawn",
        format!("release of {} {} withdrawn", r.model_name, r.version),
    );
    e.reason = Some(why.into());
    audit::append(&mut tx, e).await?;
    let r = get_in(&mut tx, release_id).await?;
    tx.commit().await?;
    Ok(r)
}

/// Starts the shadow period: the registry marks the candidate `shadow`, so the live
/// forecasting steps run it beside production ([`shadow_release`]).
pub async fn start_shadow(db: &Db, release_id: &str) -> Result<Release> {
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    if r.stage == Stage::Shadow {
        return Ok(r);
    }
    if r.stage != Stage::SignedOff {
        return Err(Error::Conflict(format!(
            "release {release_id} is {}; the shadow period follows the ethics sign-off",
            r.stage
        )));
    }
    let other: Option<String> = sqlx::query(
        "SELECT release_id FROM model_releases WHERE model_name = $1 AND stage = 'shadow'",
    )
    .bind(&r.model_name)
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| row.try_get("release_id"))
    .transpose()?;
    if let Some(other) = other {
        return Err(Error::Conflict(format!(
            "{} already has a release in shadow ({other})",
            r.model_name
        )));
    }
    set_registry_status(
        &mut tx,
        &r.model_name,
        &r.version,
        "shadow",
        "careflow",
        &format!("shadow period of release {release_id}"),
    )
    .await?;
    set_stage(&mut tx, release_id, Stage::Shadow).await?;
    audit::append(
        &mut tx,
        entry(
            &r,
            "careflow",
            "system",
            "release.shadow_started",
            format!(
                "{} {} forecasts beside production on live calls",
                r.model_name, r.version
            ),
        ),
    )
    .await?;
    let r = get_in(&mut tx, release_id).await?;
    tx.commit().await?;
    Ok(r)
}

/// The release of `model_name` now in shadow, if any: a live forecasting step runs its
/// candidate beside production and records both with [`record_shadow`].
pub async fn shadow_release(db: &Db, model_name: &str) -> Result<Option<Release>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM model_releases WHERE model_name = $1 AND stage = 'shadow'"
    ))
    .bind(model_name)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// One target of a live call: production's and the candidate's p10/p50/p90.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShadowPair<'a> {
    /// What is forecast (an hour `YYYY-MM-DDTHH`, a case).
    pub target_key: &'a str,
    /// Production's quantiles.
    pub production: [f64; 3],
    /// The candidate's quantiles.
    pub candidate: [f64; 3],
}

/// Models whose forecast is the probability of an event (kept in the p50 column of
/// a shadow row, the truth 1 if it happened, 0 if not) and compared by the Brier score.
pub const PROBABILITY_MODELS: &[&str] = &["scanner-no-show"];

impl<'a> ShadowPair<'a> {
    /// A probability forecast of an event (a no-show), both versions.
    pub fn probability(target_key: &'a str, production: f64, candidate: f64) -> Self {
        Self {
            target_key,
            production: [production; 3],
            candidate: [candidate; 3],
        }
    }
}

/// Records a live call's forecasts by both versions (idempotent by call and target).
pub async fn record_shadow(
    db: &Db,
    release_id: &str,
    call_id: &str,
    pairs: &[ShadowPair<'_>],
) -> Result<usize> {
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    if r.stage != Stage::Shadow {
        return Err(Error::Conflict(format!(
            "release {release_id} is {}, not in shadow",
            r.stage
        )));
    }
    let at = now();
    let mut added = 0;
    for p in pairs {
        let exists = sqlx::query(
            "SELECT 1 AS one FROM shadow_forecasts WHERE release_id = $1 AND call_id = $2 AND target_key = $3",
        )
        .bind(release_id)
        .bind(call_id)
        .bind(p.target_key)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if exists {
            continue;
        }
        sqlx::query(
            "INSERT INTO shadow_forecasts (release_id, call_id, target_key, production_p10, production_p50, \
             production_p90, candidate_p10, candidate_p50, candidate_p90, truth, recorded_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,NULL,$10)",
        )
        .bind(release_id)
        .bind(call_id)
        .bind(p.target_key)
        .bind(p.production[0])
        .bind(p.production[1])
        .bind(p.production[2])
        .bind(p.candidate[0])
        .bind(p.candidate[1])
        .bind(p.candidate[2])
        .bind(&at)
        .execute(&mut *tx)
        .await?;
        added += 1;
    }
    if added > 0 {
        let mut e = entry(
            &r,
            "careflow",
            "system",
            "release.shadow_recorded",
            format!(
                "{} {} forecast beside production on live call {call_id}: {added} targets",
                r.model_name, r.version
            ),
        );
        e.idempotency_key = format!("release/{release_id}/shadow/{call_id}");
        e.step = Some(format!("release/shadow/{call_id}"));
        audit::append(&mut tx, e).await?;
    }
    tx.commit().await?;
    Ok(added)
}

/// Records what happened for targets of `model_name`'s shadow forecasts (`key`,
/// value), filling the truth of rows that have none. Returns the rows filled.
pub async fn record_truth(
    db: &Db,
    model_name: &str,
    truths: &[(String, f64)],
    by: &str,
) -> Result<u64> {
    let mut tx = db.begin_write().await?;
    let role = role_of(&mut tx, by)
        .await?
        .ok_or_else(|| Error::Forbidden(format!("{by} is not a careflow user")))?;
    let mut filled = 0;
    for (key, value) in truths {
        if !value.is_finite() || *value < 0.0 {
            return Err(Error::Invalid(format!(
                "truth for {key}: {value} is not a count"
            )));
        }
        filled += sqlx::query(
            "UPDATE shadow_forecasts SET truth = $1 WHERE target_key = $2 AND truth IS NULL AND release_id IN \
             (SELECT release_id FROM model_releases WHERE model_name = $3)",
        )
        .bind(*value)
        .bind(key)
        .bind(model_name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    if filled > 0 {
        let at = now();
        audit::append(
            &mut tx,
            NewAuditEntry {
                actor: by.into(),
                role,
                action: "release.truth_recorded".into(),
                meaning: Some(format!(
                    "truth for {filled} shadow forecast targets of {model_name}"
                )),
                reason: None,
                workflow_id: None,
                step: None,
                input_digest: Some(db.digest(truths)),
                output_digest: None,
                idempotency_key: format!("release/truth/{model_name}/{at}/{}", db.digest(truths)),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(filled)
}

/// Fills the truth of `ed-arrivals` shadow targets (hours, `YYYY-MM-DDTHH`) from the
/// emergency department registrations the HL7 ADT feed counts (`ed_arrivals_hourly`),
/// so a shadow period is compared without anyone typing counts in. Only hours the feed
/// covers completely are filled: from the hour of its first registration up to, not
/// including, the hour of its latest (which may still be filling); an hour inside
/// that span without a registration had none. Audited as the system's
/// `release.truth_recorded`. Returns the rows filled (0 without a feed).
pub async fn record_truth_from_ed_feed(db: &Db) -> Result<u64> {
    let model_name = "ed-arrivals";
    let mut tx = db.begin_write().await?;
    let feed: std::collections::BTreeMap<String, i64> =
        sqlx::query("SELECT hour, arrivals FROM ed_arrivals_hourly")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| -> Result<(String, i64)> {
                let hour: String = r.try_get("hour")?;
                // `YYYY-MM-DDTHH:00:00Z` -> the forecast's target key `YYYY-MM-DDTHH`.
                let key = hour.get(..13).unwrap_or(&hour).to_owned();
                Ok((key, r.try_get("arrivals")?))
            })
            .collect::<Result<_>>()?;
    let (Some(first), Some(latest)) = (feed.keys().next(), feed.keys().next_back()) else {
        return Ok(0);
    };
    let waiting: Vec<String> = sqlx::query(
        "SELECT DISTINCT target_key FROM shadow_forecasts WHERE truth IS NULL AND release_id IN \
         (SELECT release_id FROM model_releases WHERE model_name = $1) ORDER BY target_key",
    )
    .bind(model_name)
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| r.try_get("target_key"))
    .collect::<std::result::Result<_, _>>()?;
    let truths: Vec<(String, f64)> = waiting
        .into_iter()
        .filter(|key| {
            key.len() == 13 && key.as_str() >= first.as_str() && key.as_str() < latest.as_str()
        })
        .map(|key| {
            let count = feed.get(&key).copied().unwrap_or(0);
            (key, count as f64)
        })
        .collect();
    let mut filled = 0;
    for (key, value) in &truths {
        filled += sqlx::query(
            "UPDATE shadow_forecasts SET truth = $1 WHERE target_key = $2 AND truth IS NULL AND release_id IN \
             (SELECT release_id FROM model_releases WHERE model_name = $3)",
        )
        .bind(*value)
        .bind(key)
        .bind(model_name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    if filled > 0 {
        audit::append(
            &mut tx,
            NewAuditEntry {
                actor: "careflow".into(),
                role: "system".into(),
                action: "release.truth_recorded".into(),
                meaning: Some(format!(
                    "truth for {filled} shadow forecast targets of {model_name} from the ADT \
                     feed's emergency registrations ({} .. {})",
                    truths.first().map(|t| t.0.as_str()).unwrap_or_default(),
                    truths.last().map(|t| t.0.as_str()).unwrap_or_default()
                )),
                reason: None,
                workflow_id: None,
                step: None,
                input_digest: Some(db.digest(&truths)),
                output_digest: None,
                idempotency_key: format!("release/truth/{model_name}/adt/{}", db.digest(&truths)),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(filled)
}

/// The shadow period so far: candidate beside production on the targets whose truth
/// is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowComparison {
    /// Live calls recorded.
    pub calls: i64,
    /// Targets recorded.
    pub targets: i64,
    /// Production on the targets with a truth (`None` before any truth).
    pub production: Option<Scores>,
    /// The candidate on the same targets.
    pub candidate: Option<Scores>,
}

/// Compares the candidate with production on the shadow targets whose truth arrived.
pub async fn shadow_comparison(db: &Db, release_id: &str) -> Result<ShadowComparison> {
    let model_name: String =
        sqlx::query_scalar("SELECT model_name FROM model_releases WHERE release_id = $1")
            .bind(release_id)
            .fetch_optional(db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("release {release_id}")))?;
    let probability = PROBABILITY_MODELS.contains(&model_name.as_str());
    let rows = sqlx::query(
        "SELECT call_id, production_p10, production_p50, production_p90, candidate_p10, candidate_p50, \
         candidate_p90, truth FROM shadow_forecasts WHERE release_id = $1",
    )
    .bind(release_id)
    .fetch_all(db.pool())
    .await?;
    let mut calls = std::collections::BTreeSet::new();
    let (mut p, mut c) = (Acc::default(), Acc::default());
    for row in &rows {
        calls.insert(row.try_get::<String, _>("call_id")?);
        let Some(y) = row.try_get::<Option<f64>, _>("truth")? else {
            continue;
        };
        let q = |prefix: &str| -> Result<[f64; 3]> {
            Ok([
                row.try_get(format!("{prefix}_p10").as_str())?,
                row.try_get(format!("{prefix}_p50").as_str())?,
                row.try_get(format!("{prefix}_p90").as_str())?,
            ])
        };
        if probability {
            p.add_probability(y, q("production")?[1]);
            c.add_probability(y, q("candidate")?[1]);
        } else {
            p.add(y, q("production")?);
            c.add(y, q("candidate")?);
        }
    }
    Ok(ShadowComparison {
        calls: calls.len() as i64,
        targets: rows.len() as i64,
        production: p.scores(),
        candidate: c.scores(),
    })
}

/// The shadow comparison at the end of the shadow period, recorded in the audit trail
/// (once per release) so the owner's promotion decision rests on a recorded fact.
pub async fn record_shadow_comparison(db: &Db, release_id: &str) -> Result<ShadowComparison> {
    let cmp = shadow_comparison(db, release_id).await?;
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    let mut e = entry(
        &r,
        "careflow",
        "system",
        "release.shadow_compared",
        format!("{} {}: {}", r.model_name, r.version, cmp.summary()),
    );
    e.output_digest = Some(db.digest(&cmp));
    audit::append(&mut tx, e).await?;
    tx.commit().await?;
    Ok(cmp)
}

impl ShadowComparison {
    /// The comparison in words.
    pub fn summary(&self) -> String {
        match (&self.production, &self.candidate) {
            (Some(p), Some(c)) => format!(
                "shadow on {} live calls, {} targets, {} with their truth: candidate {c} vs \
                 production {p}",
                self.calls, self.targets, c.n
            ),
            _ => format!(
                "shadow on {} live calls, {} targets, no truth recorded yet: no comparison",
                self.calls, self.targets
            ),
        }
    }
}

/// Running MAE and pinball over p10/p50/p90.
#[derive(Default)]
struct Acc {
    n: usize,
    abs: f64,
    pin: f64,
    /// Probability forecasts: squared errors, for the Brier score.
    squared: Option<f64>,
}

impl Acc {
    fn add(&mut self, y: f64, q: [f64; 3]) {
        self.n += 1;
        self.abs += (y - q[1]).abs();
        self.pin += [0.1, 0.5, 0.9]
            .iter()
            .zip(q)
            .map(|(&l, v)| {
                let d = y - v;
                if d >= 0.0 {
                    l * d
                } else {
                    (l - 1.0) * d
                }
            })
            .sum::<f64>()
            / 3.0;
    }

    fn add_probability(&mut self, y: f64, p: f64) {
        self.n += 1;
        *self.squared.get_or_insert(0.0) += (y - p).powi(2);
    }

    fn scores(&self) -> Option<Scores> {
        if let Some(squared) = self.squared {
            return (self.n > 0).then(|| Scores::probability(self.n, squared / self.n as f64));
        }
        (self.n > 0)
            .then(|| Scores::quantile(self.n, self.abs / self.n as f64, self.pin / self.n as f64))
    }
}

/// What a promotion or rollback signer signs: the release, the step and why.
#[derive(Serialize)]
struct SignedStep<'a> {
    release_id: &'a str,
    model_name: &'a str,
    version: &'a str,
    sha256: &'a str,
    step: &'a str,
    reason: &'a str,
}

/// The signature subject of a release's signed step (`promote`, `rollback`).
pub fn signature_subject(release_id: &str, step: &str) -> String {
    format!("release/{release_id}/{step}")
}

/// SHA-256 of what the signer of `step` on `r` signs, giving `reason`.
pub fn signed_content_sha256(r: &Release, step: &str, reason: &str) -> String {
    audit::sha256_json(&SignedStep {
        release_id: &r.release_id,
        model_name: &r.model_name,
        version: &r.version,
        sha256: &r.sha256,
        step,
        reason,
    })
}

/// The signer re-enters their password to sign `step` (`rollback`) of the release,
/// meaning `responsible`; the step then carries the signature id. (A promotion is
/// signed as the decision of the release's promotion task.)
pub async fn sign_step(
    db: &Db,
    release_id: &str,
    step: &str,
    signer: &str,
    password: &str,
    reason: &str,
) -> Result<Signature> {
    let r = get(db, release_id).await?;
    signatures::sign(
        db,
        &SignRequest {
            signer,
            password,
            meaning: SignatureMeaning::Responsible,
            subject: signature_subject(release_id, step),
            signed_sha256: signed_content_sha256(&r, step, reason),
            workflow_id: Some(release_id.to_owned()),
        },
    )
    .await
}

async fn use_signature(
    conn: &mut AnyConnection,
    r: &Release,
    step: &str,
    by: &str,
    reason: &str,
    signature_id: Option<&str>,
) -> Result<String> {
    let subject = signature_subject(&r.release_id, step);
    let content = signed_content_sha256(r, step, reason);
    let expected = signatures::Expected {
        actor: by,
        subject: &subject,
        meaning: SignatureMeaning::Responsible,
        signed_sha256: &content,
    };
    if let Some(why) = signatures::check_unused_in(conn, signature_id, &expected).await? {
        return Err(Error::Forbidden(why));
    }
    let id = signature_id.expect("checked above");
    if !signatures::mark_used_in(conn, id).await? {
        return Err(Error::Conflict(format!(
            "signature {id} was used meanwhile"
        )));
    }
    Ok(id.to_owned())
}

/// Records that the store refused a person's `step` (`rollback`) on the release, and
/// why, so that a refused attempt leaves a trace.
pub async fn record_refusal(
    db: &Db,
    release_id: &str,
    step: &str,
    by: &str,
    why: &str,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    let role = role_of(&mut tx, by)
        .await?
        .unwrap_or_else(|| "unknown".into());
    let action = format!("release.{step}_refused");
    let mut e = entry(
        &r,
        by,
        &role,
        &action,
        format!("{step} of {} {} refused", r.model_name, r.version),
    );
    e.reason = Some(why.into());
    e.idempotency_key = format!(
        "release/{release_id}/{step}_refused/{}",
        db.digest(&(by, why, now()))
    );
    audit::append(&mut tx, e).await?;
    tx.commit().await?;
    Ok(())
}

/// Promotes the release's candidate to production after the shadow period: the
/// release's promotion task (`task_id`, of its workflow) was approved by its owner (an
/// admin, not its author) with their password signature, recorded by the approval
/// step; the task's signature and reason become the promotion's. The previous
/// production version is retired in the same transaction.
pub async fn promote(db: &Db, release_id: &str, task_id: &str) -> Result<Release> {
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    if r.stage == Stage::Production {
        return Ok(r);
    }
    if r.stage != Stage::Shadow {
        return Err(Error::Conflict(format!(
            "release {release_id} is {}; promotion follows the shadow period",
            r.stage
        )));
    }
    let task = sqlx::query(
        "SELECT workflow_id, kind, status, decided_by, decision_reason, signature_id FROM tasks \
         WHERE task_id = $1",
    )
    .bind(task_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
    let by: String = task
        .try_get::<Option<String>, _>("decided_by")?
        .unwrap_or_default();
    let reason: String = task
        .try_get::<Option<String>, _>("decision_reason")?
        .unwrap_or_default();
    let signature: Option<String> = task.try_get("signature_id")?;
    if task.try_get::<String, _>("workflow_id")? != release_id
        || task.try_get::<String, _>("kind")? != TaskKind::ModelPromotion.as_str()
        || task.try_get::<String, _>("status")? != "approved"
    {
        return Err(Error::Forbidden(format!(
            "task {task_id} is not an approved promotion of release {release_id}"
        )));
    }
    let Some(signature) = signature else {
        return Err(Error::Forbidden(format!(
            "task {task_id} was decided without a signature"
        )));
    };
    let by = by.as_str();
    let reason = reason.as_str();
    if by == r.author {
        return Err(Error::Forbidden(format!(
            "{by} is the author of {} {}: a model's author cannot release it alone; its owner {} promotes it",
            r.model_name, r.version, r.owner
        )));
    }
    if by != r.owner {
        return Err(Error::Forbidden(format!(
            "{by} is not the owner of release {release_id}; {} promotes it",
            r.owner
        )));
    }
    require_admin(&mut tx, by, "promote a model").await?;
    let why = format!("release {release_id}: {reason}");
    sqlx::query(
        "UPDATE model_registry SET status = 'retired', promoted_by = $1, promoted_at = $2, promotion_reason = $3 \
         WHERE name = $4 AND status = 'production'",
    )
    .bind(by)
    .bind(now())
    .bind(format!("replaced by {}: {why}", r.version))
    .bind(&r.model_name)
    .execute(&mut *tx)
    .await?;
    set_registry_status(&mut tx, &r.model_name, &r.version, "production", by, &why).await?;
    sqlx::query(
        "UPDATE model_releases SET stage = 'production', promotion_signature_id = $1, updated_at = $2 \
         WHERE release_id = $3",
    )
    .bind(&signature)
    .bind(now())
    .bind(release_id)
    .execute(&mut *tx)
    .await?;
    let mut e = entry(
        &r,
        by,
        Role::Admin.as_str(),
        "release.promoted",
        format!(
            "promoted {} {} to production on the owner's signed approval (signature {signature}); retired {}",
            r.model_name,
            r.version,
            r.production_version.as_deref().unwrap_or("(none)")
        ),
    );
    e.reason = Some(reason.into());
    audit::append(&mut tx, e).await?;
    let r = get_in(&mut tx, release_id).await?;
    tx.commit().await?;
    Ok(r)
}

/// Rolls the release back: its version leaves production (retired) and the version
/// it replaced returns, with the reason and an admin's signature of this rollback.
pub async fn rollback(
    db: &Db,
    release_id: &str,
    by: &str,
    reason: &str,
    signature_id: Option<&str>,
) -> Result<Release> {
    if reason.trim().len() < 3 {
        return Err(Error::Invalid("reason: a rollback must say why".into()));
    }
    let mut tx = db.begin_write().await?;
    let r = get_in(&mut tx, release_id).await?;
    if r.stage == Stage::RolledBack {
        return Ok(r);
    }
    if r.stage != Stage::Production {
        return Err(Error::Conflict(format!(
            "release {release_id} is {}; only a release in production is rolled back",
            r.stage
        )));
    }
    let Some(previous) = r.production_version.clone() else {
        return Err(Error::Conflict(format!(
            "release {release_id} replaced no production version: there is nothing to return to"
        )));
    };
    require_admin(&mut tx, by, "roll back a model").await?;
    let signature = use_signature(&mut tx, &r, "rollback", by, reason, signature_id).await?;
    let why = format!("rollback of release {release_id}: {reason}");
    set_registry_status(&mut tx, &r.model_name, &r.version, "retired", by, &why).await?;
    set_registry_status(&mut tx, &r.model_name, &previous, "production", by, &why).await?;
    sqlx::query(
        "UPDATE model_releases SET stage = 'rolled_back', rollback_signature_id = $1, rollback_reason = $2, \
         updated_at = $3 WHERE release_id = $4",
    )
    .bind(&signature)
    .bind(reason)
    .bind(now())
    .bind(release_id)
    .execute(&mut *tx)
    .await?;
    let mut e = entry(
        &r,
        by,
        Role::Admin.as_str(),
        "release.rolled_back",
        format!(
            "responsible: rolled {} back from {} to {previous} (signature {signature})",
            r.model_name, r.version
        ),
    );
    e.reason = Some(reason.into());
    audit::append(&mut tx, e).await?;
    let r = get_in(&mut tx, release_id).await?;
    tx.commit().await?;
    Ok(r)
}
