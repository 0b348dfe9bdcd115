//! The workflows the API starts, queries and sends decisions to, described by their
//! Temporal names and payload types only. The API does not link the workflow code (nor
//! the solvers and forecasting runtime its activities use): these definitions are the
//! contract, and a test checks them against `careflow-workflows`.

use std::marker::PhantomData;

use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, UpdateDefinition, WorkflowDefinition,
};

use careflow_types::{
    AdmissionInput, AdmissionOutcome, AdmissionStatus, BedPlanInput, BedPlanOutcome, BedPlanStatus,
    Decision, NurseRosteringInput, RosterEvent, RosterOutcome, RosterStatus,
};

/// The admission workflow (`AdmissionWorkflow`).
pub struct Admission;

impl WorkflowDefinition for Admission {
    type Input = AdmissionInput;
    type Output = AdmissionOutcome;
    fn name(&self) -> &str {
        "AdmissionWorkflow"
    }
}

impl HasWorkflowDefinition for Admission {
    type Run = Self;
}

/// The bed-plan workflow (`BedPlanWorkflow`).
pub struct BedPlan;

impl WorkflowDefinition for BedPlan {
    type Input = BedPlanInput;
    type Output = BedPlanOutcome;
    fn name(&self) -> &str {
        "BedPlanWorkflow"
    }
}

impl HasWorkflowDefinition for BedPlan {
    type Run = Self;
}

/// The `decide` update every workflow that waits for a person has (the approval step).
pub struct Decide<W>(PhantomData<W>);

impl<W> Decide<W> {
    /// The update on workflow `W`.
    pub fn new() -> Self {
        Decide(PhantomData)
    }
}

impl<W> Default for Decide<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: WorkflowDefinition> UpdateDefinition for Decide<W> {
    type Workflow = W;
    type Input = Decision;
    type Output = String;
    fn name(&self) -> &str {
        "decide"
    }
}

/// The admission's `status` query.
pub struct AdmissionStatusQuery;

impl QueryDefinition for AdmissionStatusQuery {
    type Workflow = Admission;
    type Input = ();
    type Output = AdmissionStatus;
    fn name(&self) -> &str {
        "status"
    }
}

/// The bed plan's `status` query.
pub struct BedPlanStatusQuery;

impl QueryDefinition for BedPlanStatusQuery {
    type Workflow = BedPlan;
    type Input = ();
    type Output = BedPlanStatus;
    fn name(&self) -> &str {
        "status"
    }
}

/// The nurse-rostering workflow (`NurseRosteringWorkflow`).
pub struct NurseRostering;

impl WorkflowDefinition for NurseRostering {
    type Input = NurseRosteringInput;
    type Output = RosterOutcome;
    fn name(&self) -> &str {
        "NurseRosteringWorkflow"
    }
}

impl HasWorkflowDefinition for NurseRostering {
    type Run = Self;
}

/// The roster's `status` query.
pub struct RosterStatusQuery;

impl QueryDefinition for RosterStatusQuery {
    type Workflow = NurseRostering;
    type Input = ();
    type Output = RosterStatus;
    fn name(&self) -> &str {
        "status"
    }
}

/// The roster's `report_event` update (a sick call or a surge).
pub struct ReportRosterEvent;

impl UpdateDefinition for ReportRosterEvent {
    type Workflow = NurseRostering;
    type Input = RosterEvent;
    type Output = String;
    fn name(&self) -> &str {
        "report_event"
    }
}
