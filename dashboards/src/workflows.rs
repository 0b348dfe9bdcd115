//! The workflows the API starts, queries and sends decisions to, described by their
//! Temporal names and payload types only. The API does not link the workflow code (nor
//! the solvers and forecasting runtime its activities use): these definitions are the
//! contract, and a test checks them against `careflow-workflows`.

use std::marker::PhantomData;

use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, UpdateDefinition, WorkflowDefinition,
};

use temporalio_client::{
    errors::{WorkflowInteractionError, WorkflowStartError},
    Client, WorkflowCancelOptions, WorkflowIdReusePolicy, WorkflowStartOptions,
};

use careflow_types::{
    AdmissionInput, AdmissionOutcome, AdmissionStatus, AttendanceReport, BedPlanInput,
    BedPlanOutcome, BedPlanStatus, Decision, NurseRosteringInput, RosterEvent, RosterOutcome,
    RosterStatus, ScannerBookingInput, ScannerBookingOutcome, ScannerBookingStatus, TASK_QUEUE,
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

/// Starts the admission workflow for `input` as `admission-<admission_id>`, never a
/// second one with that id (a workflow that ran or runs under it answers
/// `AlreadyStarted`). The API's admission requests and the HL7 feed's admissions without
/// a bed both start admissions here.
pub async fn start_admission(
    client: &Client,
    input: AdmissionInput,
) -> Result<String, WorkflowStartError> {
    let workflow_id = format!("admission-{}", input.admission_id);
    start_admission_as(client, workflow_id, input).await
}

/// [`start_admission`] under `workflow_id`: the HL7 feed's transfers hand a stay to a
/// new workflow whose id is the transfer's, not the stay's.
pub async fn start_admission_as(
    client: &Client,
    workflow_id: String,
    input: AdmissionInput,
) -> Result<String, WorkflowStartError> {
    client
        .start_workflow(
            Admission,
            input,
            WorkflowStartOptions::new(TASK_QUEUE, workflow_id.clone())
                .id_reuse_policy(WorkflowIdReusePolicy::RejectDuplicate)
                .task_timeout(careflow_types::WORKFLOW_TASK_TIMEOUT)
                .build(),
        )
        .await?;
    Ok(workflow_id)
}

/// The HL7 feed's way to start and cancel admissions ([`careflow_hl7::Admissions`]) on
/// a Temporal client: a start that finds the workflow already started (a resent message)
/// succeeds, and so does a cancel that finds it finished or never started.
pub struct AdtAdmissions(pub Client);

impl careflow_hl7::listener::Admissions for AdtAdmissions {
    fn start<'a>(
        &'a self,
        workflow_id: &'a str,
        input: &'a AdmissionInput,
    ) -> careflow_hl7::listener::StartFuture<'a> {
        Box::pin(async move {
            match start_admission_as(&self.0, workflow_id.to_owned(), input.clone()).await {
                Ok(workflow_id) => {
                    tracing::debug!(%workflow_id, "admission started for an HL7 message");
                    Ok(())
                }
                Err(WorkflowStartError::AlreadyStarted { .. }) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn cancel<'a>(
        &'a self,
        workflow_id: &'a str,
        reason: &'a str,
    ) -> careflow_hl7::listener::StartFuture<'a> {
        Box::pin(async move {
            let handle = self
                .0
                .get_workflow_handle::<temporalio_client::UntypedWorkflow>(workflow_id.to_owned());
            match handle
                .cancel(
                    WorkflowCancelOptions::builder()
                        .reason(reason)
                        // The same request for a resent message: the server takes it once.
                        .request_id(format!("careflow-hl7-cancel/{workflow_id}"))
                        .build(),
                )
                .await
            {
                Ok(()) => {
                    tracing::debug!(%workflow_id, "admission cancelled for an HL7 message");
                    Ok(())
                }
                // Finished already (the server says "not found" for a closed run) or never
                // started: nothing is left to cancel.
                Err(WorkflowInteractionError::NotFound(_)) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
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

/// The theatre-booking workflow (`TheatreBookingWorkflow`): one week's lists.
pub struct TheatreBooking;

impl WorkflowDefinition for TheatreBooking {
    type Input = careflow_types::TheatreBookingInput;
    type Output = careflow_types::TheatreWeekOutcome;
    fn name(&self) -> &str {
        "TheatreBookingWorkflow"
    }
}

impl HasWorkflowDefinition for TheatreBooking {
    type Run = Self;
}

/// The theatre week's `status` query.
pub struct TheatreStatusQuery;

impl QueryDefinition for TheatreStatusQuery {
    type Workflow = TheatreBooking;
    type Input = ();
    type Output = careflow_types::TheatreListStatus;
    fn name(&self) -> &str {
        "status"
    }
}

/// The theatre week's `report_event` update: a day-of event, checked by the workflow's
/// validator against the week as it stands.
pub struct ReportTheatreEvent;

impl UpdateDefinition for ReportTheatreEvent {
    type Workflow = TheatreBooking;
    type Input = careflow_types::DayOfEvent;
    type Output = String;
    fn name(&self) -> &str {
        "report_event"
    }
}

/// The theatre week's `close_week` update.
pub struct CloseTheatreWeek;

impl UpdateDefinition for CloseTheatreWeek {
    type Workflow = TheatreBooking;
    type Input = careflow_types::CloseWeek;
    type Output = String;
    fn name(&self) -> &str {
        "close_week"
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

/// The model-release workflow (`ModelReleaseWorkflow`).
pub struct ModelRelease;

impl WorkflowDefinition for ModelRelease {
    type Input = careflow_types::ReleaseInput;
    type Output = careflow_types::ReleaseOutcome;
    fn name(&self) -> &str {
        "ModelReleaseWorkflow"
    }
}

impl HasWorkflowDefinition for ModelRelease {
    type Run = Self;
}

/// The release's `status` query.
pub struct ReleaseStatusQuery;

impl QueryDefinition for ReleaseStatusQuery {
    type Workflow = ModelRelease;
    type Input = ();
    type Output = careflow_types::ReleaseStatus;
    fn name(&self) -> &str {
        "status"
    }
}

/// The release's `rollback` update.
pub struct RollBackRelease;

impl UpdateDefinition for RollBackRelease {
    type Workflow = ModelRelease;
    type Input = careflow_types::RollbackRequest;
    type Output = String;
    fn name(&self) -> &str {
        "rollback"
    }
}

/// The ethics review workflow (`EthicsReviewWorkflow`): one submission's review.
pub struct EthicsReview;

impl WorkflowDefinition for EthicsReview {
    type Input = careflow_types::ethics::EthicsReviewInput;
    type Output = careflow_types::ethics::EthicsReviewOutcome;
    fn name(&self) -> &str {
        "EthicsReviewWorkflow"
    }
}

impl HasWorkflowDefinition for EthicsReview {
    type Run = Self;
}

/// The ethics review's `step` update: a person's step, answered with what it did.
pub struct EthicsStepUpdate;

impl UpdateDefinition for EthicsStepUpdate {
    type Workflow = EthicsReview;
    type Input = careflow_types::ethics::EthicsStep;
    type Output = careflow_types::ethics::EthicsStepDone;
    fn name(&self) -> &str {
        "step"
    }
}
