//! The model-release workflow's input, status and outcome (`workflows/src/model_release.rs`).

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Input of the model-release workflow: the candidate's files are
/// `models_dir/<model_name>/<version>/` (model.onnx and card.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseInput {
    /// Release id (also the workflow id).
    pub release_id: String,
    /// Model name, e.g. `ed-arrivals`.
    pub model_name: String,
    /// Candidate version, e.g. `1.1.0`.
    pub version: String,
    /// Who built the candidate and starts its release (the lead of the AI project that
    /// owns the model: they file its ethics amendment).
    pub author: String,
    /// The model's owner, an admin other than the author, who alone may promote it.
    pub owner: String,
    /// The approved ethics project that owns the model (its amendment signs off).
    pub project_id: String,
    /// How much worse than production the candidate may be overall (share of
    /// production's error: 0.02 is 2 %).
    pub overall_margin: f64,
    /// How much worse than production it may be in any subgroup.
    pub subgroup_margin: f64,
    /// How often the workflow looks for the ethics committee's decision on the
    /// amendment (seconds of workflow time).
    pub ethics_poll_seconds: u64,
    /// How long the candidate forecasts beside production before its owner decides
    /// (seconds of workflow time).
    pub shadow_seconds: u64,
    /// How long after promotion a rollback is accepted (seconds of workflow time).
    pub rollback_window_seconds: u64,
}

impl ReleaseInput {
    /// Every field that is wrong, located.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        for (field, v) in [
            ("release_id", &self.release_id),
            ("model_name", &self.model_name),
            ("version", &self.version),
            ("author", &self.author),
            ("owner", &self.owner),
            ("project_id", &self.project_id),
        ] {
            if v.trim().is_empty() {
                errors.push(FieldError::new(field, "must not be empty"));
            }
        }
        for (field, v) in [("model_name", &self.model_name), ("version", &self.version)] {
            // Both name a directory under the models directory.
            if v.contains(['/', '\\']) || v.starts_with('.') {
                errors.push(FieldError::new(
                    field,
                    format!("{v:?} is not a model name or version"),
                ));
            }
        }
        if !self.owner.trim().is_empty() && self.owner == self.author {
            errors.push(FieldError::new(
                "owner",
                format!(
                    "{} is the author: a model's author cannot release it alone; name its owner",
                    self.author
                ),
            ));
        }
        for (field, v) in [
            ("overall_margin", self.overall_margin),
            ("subgroup_margin", self.subgroup_margin),
        ] {
            if !(0.0..=1.0).contains(&v) {
                errors.push(FieldError::new(
                    field,
                    format!("{v} is not a share between 0 and 1"),
                ));
            }
        }
        for (field, v) in [
            ("ethics_poll_seconds", self.ethics_poll_seconds),
            ("shadow_seconds", self.shadow_seconds),
        ] {
            if v == 0 {
                errors.push(FieldError::new(field, "must be at least 1"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Body of `POST /api/releases`: the signed-in project lead (the author) asks for the
/// release of a committed model version. Omitted margins and periods take the
/// defaults below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// Model name.
    pub model_name: String,
    /// Candidate version.
    pub version: String,
    /// The model's owner (an admin, not the author).
    pub owner: String,
    /// The approved ethics project that owns the model.
    pub project_id: String,
    /// Overall margin (default 0.02).
    #[serde(default)]
    pub overall_margin: Option<f64>,
    /// Subgroup margin (default 0.05).
    #[serde(default)]
    pub subgroup_margin: Option<f64>,
    /// Seconds between looks at the ethics decision (default an hour).
    #[serde(default)]
    pub ethics_poll_seconds: Option<u64>,
    /// Shadow period in seconds (default 7 days).
    #[serde(default)]
    pub shadow_seconds: Option<u64>,
    /// Rollback window in seconds (default 30 days).
    #[serde(default)]
    pub rollback_window_seconds: Option<u64>,
}

impl ReleaseRequest {
    /// The workflow's input for release `release_id` by `author`, defaults filled in.
    pub fn into_input(self, release_id: String, author: String) -> ReleaseInput {
        ReleaseInput {
            release_id,
            model_name: self.model_name,
            version: self.version,
            author,
            owner: self.owner,
            project_id: self.project_id,
            overall_margin: self.overall_margin.unwrap_or(0.02),
            subgroup_margin: self.subgroup_margin.unwrap_or(0.05),
            ethics_poll_seconds: self.ethics_poll_seconds.unwrap_or(3600),
            shadow_seconds: self.shadow_seconds.unwrap_or(7 * 24 * 3600),
            rollback_window_seconds: self.rollback_window_seconds.unwrap_or(30 * 24 * 3600),
        }
    }
}

/// Answer of `POST /api/releases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseStarted {
    /// The release (and workflow) id.
    pub release_id: String,
}

/// Body of `POST /api/releases/{id}/rollback`. The signer re-enters their password
/// (never stored, never logged: `Debug` hides it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// Why.
    pub reason: String,
    /// The signer's password.
    pub password: String,
}

impl std::fmt::Debug for RollbackBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RollbackBody")
            .field("reason", &self.reason)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl RollbackBody {
    /// Checks the fields, each problem located.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.reason.trim().len() < 3 {
            errors.push(FieldError::new(
                "reason",
                "a rollback must say why (at least 3 characters)",
            ));
        }
        if self.password.is_empty() {
            errors.push(FieldError::new(
                "password",
                "a rollback is signed: re-enter your password",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// A release as the API shows it: the store's record and, while it runs, the
/// workflow's stage and open task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseView {
    /// Id.
    pub release_id: String,
    /// Model name.
    pub model_name: String,
    /// Candidate version.
    pub version: String,
    /// sha256 of the candidate's .onnx.
    pub sha256: String,
    /// The production version it replaces (and rollback returns to).
    pub production_version: Option<String>,
    /// Author.
    pub author: String,
    /// Owner.
    pub owner: String,
    /// The store's stage (`registered`, `validated`, `gate_failed`, `signed_off`,
    /// `shadow`, `production`, `rolled_back`, `withdrawn`).
    pub stage: String,
    /// The gate's failures, each naming metric and subgroup.
    pub gate_failures: Vec<String>,
    /// The ethics amendment.
    pub amendment_id: Option<String>,
    /// The shadow comparison so far, in words.
    pub shadow: Option<String>,
    /// The owner's promotion task while it waits.
    pub promotion_task_id: Option<String>,
    /// Why it was rolled back.
    pub rollback_reason: Option<String>,
    /// Last step at.
    pub updated_at: String,
}

/// Answer of the signed release steps (promotion decision, rollback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseStepOutcome {
    /// The release.
    pub release_id: String,
    /// Who signed.
    pub signed_by: String,
    /// What the workflow answered.
    pub result: String,
}

/// Where a release workflow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStage {
    /// Registering the candidate.
    Registering,
    /// Running candidate and production on the held-out data.
    Validating,
    /// Stopped by the gate (the outcome names metric and subgroup).
    GateFailed,
    /// Waiting for the ethics committee's decision on the amendment.
    AwaitingEthics,
    /// Forecasting beside production on live calls.
    Shadow,
    /// Waiting for the owner's promotion.
    AwaitingPromotion,
    /// In production (a rollback is accepted within the window).
    Production,
    /// Rolled back to the previous version.
    RolledBack,
    /// Stopped before production (ethics refused, owner declined).
    Withdrawn,
}

/// A signed rollback, sent to a release in production (the `rollback` update). The
/// signer re-entered their password at the API, which made `signature_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// Who rolls back (an admin).
    pub by: String,
    /// Why.
    pub reason: String,
    /// Their signature of this rollback.
    pub signature_id: Option<String>,
}

/// What a release workflow reports (query `status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseStatus {
    /// Where it stands.
    pub stage: ReleaseStage,
    /// The ethics amendment filed for the sign-off.
    pub amendment_id: Option<String>,
    /// The owner's promotion task, while it waits.
    pub task_id: Option<String>,
    /// The gate's failures, each naming metric and subgroup (empty: passed).
    pub gate_failures: Vec<String>,
}

/// How a release ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseOutcome {
    /// Final stage.
    pub stage: ReleaseStage,
    /// The gate's failures, each naming metric and subgroup (empty when it passed).
    pub gate_failures: Vec<String>,
    /// The shadow comparison in words, once made.
    pub shadow_summary: Option<String>,
    /// Who made the last human decision (ethics, owner, rollback), if any.
    pub decided_by: Option<String>,
    /// Why it ended so.
    pub reason: Option<String>,
}

/// One observed value of a shadow forecast's target (an hour `YYYY-MM-DDTHH` of ED
/// arrivals, a case's minutes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    /// The target, as the shadow forecasts name it.
    pub target: String,
    /// What happened (a count or minutes; not negative).
    pub value: f64,
}

/// Body of `POST /api/releases/truth`: what happened for targets of a model's shadow
/// forecasts, so that candidate and production can be compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthRequest {
    /// Model name.
    pub model_name: String,
    /// The observations.
    pub observations: Vec<Observation>,
}

impl TruthRequest {
    /// Checks the fields, each problem located.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.model_name.trim().is_empty() {
            errors.push(FieldError::new("model_name", "must not be empty"));
        }
        if self.observations.is_empty() {
            errors.push(FieldError::new("observations", "must not be empty"));
        }
        for (i, o) in self.observations.iter().enumerate() {
            if o.target.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("observations[{i}].target"),
                    "must not be empty",
                ));
            }
            if !o.value.is_finite() || o.value < 0.0 {
                errors.push(FieldError::new(
                    format!("observations[{i}].value"),
                    format!("{} is not a count or a duration", o.value),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Answer of `POST /api/releases/truth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TruthRecorded {
    /// Shadow forecast targets whose truth was filled.
    pub filled: u64,
}
