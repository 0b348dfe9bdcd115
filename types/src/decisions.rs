//! Replaying and explaining a stored decision step (`careflow decision replay|explain`
//! and `/api/decisions/...`). Patients appear by admission id, case id or pseudonymous
//! key only.

use serde::{Deserialize, Serialize};

/// How a replay compares with the recorded result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayVerdict {
    /// The same result, digest for digest.
    Identical,
    /// A different plan whose objective lies within the recorded (or replayed) MIP gap
    /// of the recorded one: as good as the solver could prove.
    WithinGap,
    /// A different result outside the gap: the decision did not reproduce.
    Differs,
}

impl ReplayVerdict {
    /// Whether the replay reproduced the decision (identical or within the gap).
    pub fn reproduced(self) -> bool {
        !matches!(self, ReplayVerdict::Differs)
    }
}

/// A stored step run again from its snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Workflow.
    pub workflow_id: String,
    /// Step.
    pub step: String,
    /// Snapshot kind (`bed_allocation.input`, `theatre_booking.input`, ...).
    pub kind: String,
    /// Key of the input snapshot (its hash was checked before the replay).
    pub snapshot_sha256: String,
    /// The verdict.
    pub verdict: ReplayVerdict,
    /// Digest of the result when recorded.
    pub recorded_digest: String,
    /// Digest of the replayed result.
    pub replayed_digest: String,
    /// Objective when recorded, where the step has one and it was kept.
    pub recorded_objective: Option<f64>,
    /// Objective of the replay.
    pub replayed_objective: Option<f64>,
    /// MIP gap when recorded.
    pub recorded_gap: Option<f64>,
    /// MIP gap of the replay.
    pub replayed_gap: Option<f64>,
    /// Seconds the replay took.
    pub elapsed_s: f64,
    /// The verdict in words.
    pub summary: String,
}

/// One term of a plan's objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostTerm {
    /// What the term counts (`outlier patient-days`, `overtime minutes`...).
    pub term: String,
    /// How much of it the plan has.
    pub amount: f64,
    /// Its price per unit in the objective.
    pub weight: f64,
    /// amount x weight.
    pub cost: f64,
}

/// A patient or case the plan changes against the plan before it, or leaves out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainedChange {
    /// Admission id (beds) or case id (theatre).
    pub subject: String,
    /// Pseudonymous patient key where the step knows it.
    pub patient_key: Option<String>,
    /// `moved` or `deferred`.
    pub change: String,
    /// Where it was (room, or theatre/day), if anywhere.
    pub from: Option<String>,
    /// Where it is now, if anywhere.
    pub to: Option<String>,
    /// Why, in words.
    pub why: String,
}

/// Why a stored step decided what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionExplanation {
    /// Workflow.
    pub workflow_id: String,
    /// Step.
    pub step: String,
    /// Snapshot kind.
    pub kind: String,
    /// Key of the input snapshot.
    pub snapshot_sha256: String,
    /// How the solve ended (`optimal`, `time_limit`, `infeasible`).
    pub solver_status: String,
    /// Weighted objective.
    pub objective: Option<f64>,
    /// MIP gap.
    pub mip_gap: Option<f64>,
    /// The objective by term.
    pub cost_terms: Vec<CostTerm>,
    /// Constraints that bind (full wards, full sessions, reserves not met...), in words.
    pub binding: Vec<String>,
    /// What changed against the plan before it: who moved, who was deferred and why.
    pub changes: Vec<ExplainedChange>,
    /// For an infeasible input: the constraints that cannot all hold.
    pub conflicts: Vec<String>,
}
