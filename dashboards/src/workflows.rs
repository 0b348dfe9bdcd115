//! The workflows the API starts, queries and sends decisions to, described by their
//! Temporal names and payload types only. The API does not link the workflow code (nor
//! the solvers and forecasting runtime its activities use): these definitions are the
//! contract, and a test checks them against `careflow-workflows`.

use std::marker::PhantomData;

use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, UpdateDefinition, WorkflowDefinition,
};

use careflow_types::{
    AdmissionInput, AdmissionOutcome, AdmissionStatus, AttendanceReport, BedPlanInput,
    BedPlanOutcome, BedPlanStatus, Decision, ScannerBookingInput, ScannerBookingOutcome,
    ScannerBookingStatus,
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

/// The scanner-booking workflow (`ScannerBookingWorkflow`).
pub struct ScannerBooking;

impl WorkflowDefinition for ScannerBooking {
    type Input = ScannerBookingInput;
    type Output = ScannerBookingOutcome;
    fn name(&self) -> &str {
        "ScannerBookingWorkflow"
    }
}

impl HasWorkflowDefinition for ScannerBooking {
    type Run = Self;
}

/// The scanner booking's `status` query.
pub struct ScannerBookingStatusQuery;

impl QueryDefinition for ScannerBookingStatusQuery {
    type Workflow = ScannerBooking;
    type Input = ();
    type Output = ScannerBookingStatus;
    fn name(&self) -> &str {
        "status"
    }
}

/// The scanner booking's `record_attendance` update.
pub struct RecordAttendance;

impl UpdateDefinition for RecordAttendance {
    type Workflow = ScannerBooking;
    type Input = AttendanceReport;
    type Output = String;
    fn name(&self) -> &str {
        "record_attendance"
    }
}
