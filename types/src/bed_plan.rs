//! The daily bed plan: forecast emergency demand, an optimised placement of every
//! inpatient that keeps beds free for it, and a bed manager's approval.

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// Longest horizon a bed plan may cover, in days.
pub const MAX_PLAN_HORIZON_DAYS: u32 = 14;
/// Longest solver time a plan may ask for, in seconds.
pub const MAX_PLAN_SOLVE_SECONDS: u32 = 300;

/// Body of `POST /api/bed-plans` and the CLI's `plan-beds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedPlanRequest {
    /// First day of the plan (`YYYY-MM-DD`); the forecast origin is its midnight.
    pub plan_date: String,
    /// Days planned (1..=14).
    #[serde(default = "default_horizon")]
    pub horizon_days: u32,
    /// Solver time limit in seconds (1..=300).
    #[serde(default = "default_solve_seconds")]
    pub solve_seconds: u32,
    /// Who asked for the plan (filled in from the caller's identity by the API).
    #[serde(default)]
    pub requested_by: String,
}

fn default_horizon() -> u32 {
    3
}

fn default_solve_seconds() -> u32 {
    20
}

impl BedPlanRequest {
    /// Checks every field, naming each that is wrong.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if chrono::NaiveDate::parse_from_str(&self.plan_date, "%Y-%m-%d").is_err() {
            errors.push(FieldError::new(
                "plan_date",
                format!("'{}' is not a date of the form YYYY-MM-DD", self.plan_date),
            ));
        }
        if !(1..=MAX_PLAN_HORIZON_DAYS).contains(&self.horizon_days) {
            errors.push(FieldError::new(
                "horizon_days",
                format!(
                    "{} is outside 1..={MAX_PLAN_HORIZON_DAYS}",
                    self.horizon_days
                ),
            ));
        }
        if !(1..=MAX_PLAN_SOLVE_SECONDS).contains(&self.solve_seconds) {
            errors.push(FieldError::new(
                "solve_seconds",
                format!(
                    "{} is outside 1..={MAX_PLAN_SOLVE_SECONDS}",
                    self.solve_seconds
                ),
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The parsed plan date (call [`Self::validate`] first).
    pub fn date(&self) -> Option<chrono::NaiveDate> {
        chrono::NaiveDate::parse_from_str(&self.plan_date, "%Y-%m-%d").ok()
    }
}

/// Input of the bed-plan workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedPlanInput {
    /// Plan id (also the workflow id).
    pub plan_id: String,
    /// The validated request.
    pub request: BedPlanRequest,
}

/// Which model produced a forecast: enough to load the very same file again and
/// reproduce the decision that used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForecastProvenance {
    /// Registry name, e.g. `ed-arrivals`.
    pub model_name: String,
    /// Registry version.
    pub model_version: String,
    /// sha256 of the .onnx file that ran (checked against the registry before use).
    pub model_sha256: String,
    /// ONNX Runtime execution provider that ran it.
    pub execution_provider: String,
    /// Forecast origin (`YYYY-MM-DDTHH:MM:SS`).
    pub origin: String,
    /// Hours forecast.
    pub horizon_hours: u32,
}

/// Forecast emergency admissions of one ward on one plan day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WardDemand {
    /// Ward id.
    pub ward_id: String,
    /// Plan day (0 = plan date).
    pub day: u32,
    /// Expected emergency admissions.
    pub mean: f64,
    /// 0.5 quantile.
    pub p50: f64,
    /// 0.9 quantile: the beds the plan tries to keep free.
    pub p90: f64,
}

/// The emergency demand a plan reserves beds for, with the model that forecast it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmergencyDemand {
    /// The forecaster.
    pub provenance: ForecastProvenance,
    /// Expected ED arrivals per plan day.
    pub ed_arrivals_per_day: Vec<f64>,
    /// Share of ED arrivals admitted to a ward (planning assumption).
    pub admission_rate: f64,
    /// Per ward and day.
    pub wards: Vec<WardDemand>,
}

/// Where a bed plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BedPlanStage {
    /// Started.
    Requested,
    /// Running the demand forecast.
    Forecasting,
    /// Running the optimiser.
    Solving,
    /// Waiting for a bed manager.
    AwaitingApproval,
    /// Approved: the plan is the one in force.
    Published,
    /// Rejected by a bed manager.
    Rejected,
    /// No plan satisfies the hard rules; the conflicts say why.
    Infeasible,
}

impl BedPlanStage {
    /// The stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            BedPlanStage::Requested => "requested",
            BedPlanStage::Forecasting => "forecasting",
            BedPlanStage::Solving => "solving",
            BedPlanStage::AwaitingApproval => "awaiting_approval",
            BedPlanStage::Published => "published",
            BedPlanStage::Rejected => "rejected",
            BedPlanStage::Infeasible => "infeasible",
        }
    }
}

/// A patient's room in a proposed plan (pseudonymous admission id, never an MRN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMove {
    /// Admission.
    pub admission_id: String,
    /// Room now.
    pub from_room: String,
    /// Room in the plan.
    pub to_room: String,
    /// Why the optimiser moves the patient, in words.
    pub why: String,
}

/// What the optimiser proposes, as the approver sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedPlanProposal {
    /// Plan id.
    pub plan_id: String,
    /// `optimal` or `time_limit`; `infeasible` when no plan exists.
    pub solver_status: String,
    /// Weighted objective.
    pub cost_total: f64,
    /// Patient-days on a ward not of their specialty.
    pub outlier_days: u32,
    /// Patients the plan moves.
    pub transfers: u32,
    /// Bed-days short of the emergency reserve (forecast 0.9 quantile).
    pub reserve_shortfall: f64,
    /// Relative MIP gap where HiGHS knows it.
    pub mip_gap: Option<f64>,
    /// Patients placed.
    pub patients: u32,
    /// Moves the plan asks for.
    pub moves: Vec<PlannedMove>,
    /// Wards and days short of their emergency reserve, in words.
    pub shortfalls: Vec<String>,
    /// For an infeasible input: the constraints that cannot all hold.
    pub conflicts: Vec<String>,
    /// The demand forecast the plan reserves beds for.
    pub demand: EmergencyDemand,
}

/// Where a bed plan stands (the workflow's `status` query).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedPlanStatus {
    /// Stage.
    pub stage: BedPlanStage,
    /// Approval task, while one is open.
    pub task_id: Option<String>,
    /// The proposal once made.
    pub proposal: Option<BedPlanProposal>,
}

/// How a bed plan ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedPlanOutcome {
    /// Published, rejected or infeasible.
    pub stage: BedPlanStage,
    /// The proposal (with the forecast's provenance).
    pub proposal: BedPlanProposal,
    /// Who decided, when a person did.
    pub decided_by: Option<String>,
    /// Their reason.
    pub reason: Option<String>,
}

/// A stored bed plan (`GET /api/bed-plans/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BedPlanRecord {
    /// Plan id (the workflow id).
    pub plan_id: String,
    /// First day planned.
    pub plan_date: String,
    /// Days planned.
    pub horizon_days: u32,
    /// proposed, published, rejected, superseded or infeasible.
    pub status: String,
    /// Who asked for it.
    pub requested_by: String,
    /// When it was proposed.
    pub created_at: String,
    /// What the approver saw, with the forecast's provenance.
    pub proposal: BedPlanProposal,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Why.
    pub decision_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_named() {
        let req = BedPlanRequest {
            plan_date: "2026-13-01".into(),
            horizon_days: 0,
            solve_seconds: 301,
            requested_by: String::new(),
        };
        let fields: Vec<String> = req
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["plan_date", "horizon_days", "solve_seconds"]);
    }

    #[test]
    fn defaults_fill_the_optional_fields() {
        let req: BedPlanRequest = serde_json::from_str(r#"{"plan_date":"2026-11-28"}"#).unwrap();
        assert_eq!((req.horizon_days, req.solve_seconds), (3, 20));
        assert!(req.validate().is_ok());
        assert_eq!(req.date().unwrap().to_string(), "2026-11-28");
    }
}
