//! The API talks to the workflows through names and payload types only
//! (`careflow_dashboards::workflows`); this test holds them to the workflow code, so a
//! renamed workflow, update or query, or a changed payload type, fails here and not in
//! a hospital.

use std::marker::PhantomData;

use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, UpdateDefinition, WorkflowDefinition,
};

use careflow_dashboards::workflows::{
    Admission, AdmissionStatusQuery, BedPlan, BedPlanStatusQuery, CloseTheatreWeek, Decide,
    EthicsReview, EthicsStepUpdate, NurseRostering, RecordAttendance, ReportRosterEvent,
    ReportTheatreEvent, RosterStatusQuery, ScannerBooking, ScannerBookingStatusQuery,
    TheatreBooking, TheatreStatusQuery,
};
use careflow_workflows::{
    AdmissionWorkflow, BedPlanWorkflow, EthicsReviewWorkflow, NurseRosteringWorkflow,
    ScannerBookingWorkflow, TheatreBookingWorkflow,
};

/// Compiles only when both type parameters are the same type.
fn same_type<T>(_: PhantomData<T>, _: PhantomData<T>) {}

type Run<W> = <W as HasWorkflowDefinition>::Run;

fn update_io<U: UpdateDefinition>(_: &U) -> PhantomData<(U::Input, U::Output)> {
    PhantomData
}

fn query_io<Q: QueryDefinition>(_: &Q) -> PhantomData<(Q::Input, Q::Output)> {
    PhantomData
}

#[test]
fn workflow_names_and_payloads_match_the_workflow_code() {
    assert_eq!(Admission.name(), AdmissionWorkflow::run.name());
    assert_eq!(BedPlan.name(), BedPlanWorkflow::run.name());
    assert_eq!(
        Decide::<Admission>::new().name(),
        AdmissionWorkflow::decide.name()
    );
    assert_eq!(
        Decide::<BedPlan>::new().name(),
        BedPlanWorkflow::decide.name()
    );
    assert_eq!(
        AdmissionStatusQuery.name(),
        AdmissionWorkflow::status.name()
    );
    assert_eq!(BedPlanStatusQuery.name(), BedPlanWorkflow::status.name());

    same_type(
        PhantomData::<<Admission as WorkflowDefinition>::Input>,
        PhantomData::<<Run<AdmissionWorkflow> as WorkflowDefinition>::Input>,
    );
    same_type(
        PhantomData::<<Admission as WorkflowDefinition>::Output>,
        PhantomData::<<Run<AdmissionWorkflow> as WorkflowDefinition>::Output>,
    );
    same_type(
        PhantomData::<<BedPlan as WorkflowDefinition>::Input>,
        PhantomData::<<Run<BedPlanWorkflow> as WorkflowDefinition>::Input>,
    );
    same_type(
        PhantomData::<<BedPlan as WorkflowDefinition>::Output>,
        PhantomData::<<Run<BedPlanWorkflow> as WorkflowDefinition>::Output>,
    );
    same_type(
        update_io(&Decide::<Admission>::new()),
        update_io(&AdmissionWorkflow::decide),
    );
    same_type(
        update_io(&Decide::<BedPlan>::new()),
        update_io(&BedPlanWorkflow::decide),
    );
    same_type(
        query_io(&AdmissionStatusQuery),
        query_io(&AdmissionWorkflow::status),
    );
    same_type(
        query_io(&BedPlanStatusQuery),
        query_io(&BedPlanWorkflow::status),
    );

    // Nurse rostering.
    assert_eq!(NurseRostering.name(), NurseRosteringWorkflow::run.name());
    assert_eq!(
        Decide::<NurseRostering>::new().name(),
        NurseRosteringWorkflow::decide.name()
    );
    assert_eq!(
        RosterStatusQuery.name(),
        NurseRosteringWorkflow::status.name()
    );
    assert_eq!(
        ReportRosterEvent.name(),
        NurseRosteringWorkflow::report_event.name()
    );
    same_type(
        PhantomData::<<NurseRostering as WorkflowDefinition>::Input>,
        PhantomData::<<Run<NurseRosteringWorkflow> as WorkflowDefinition>::Input>,
    );
    same_type(
        PhantomData::<<NurseRostering as WorkflowDefinition>::Output>,
        PhantomData::<<Run<NurseRosteringWorkflow> as WorkflowDefinition>::Output>,
    );
    same_type(
        update_io(&Decide::<NurseRostering>::new()),
        update_io(&NurseRosteringWorkflow::decide),
    );
    same_type(
        update_io(&ReportRosterEvent),
        update_io(&NurseRosteringWorkflow::report_event),
    );
    same_type(
        query_io(&RosterStatusQuery),
        query_io(&NurseRosteringWorkflow::status),
    );
}

#[test]
fn theatre_week_names_and_payloads_match_the_workflow_code() {
    assert_eq!(TheatreBooking.name(), TheatreBookingWorkflow::run.name());
    assert_eq!(
        Decide::<TheatreBooking>::new().name(),
        TheatreBookingWorkflow::decide.name()
    );
    assert_eq!(
        TheatreStatusQuery.name(),
        TheatreBookingWorkflow::status.name()
    );
    assert_eq!(
        ReportTheatreEvent.name(),
        TheatreBookingWorkflow::report_event.name()
    );
    assert_eq!(
        CloseTheatreWeek.name(),
        TheatreBookingWorkflow::close_week.name()
    );
    same_type(
        PhantomData::<<TheatreBooking as WorkflowDefinition>::Input>,
        PhantomData::<<Run<TheatreBookingWorkflow> as WorkflowDefinition>::Input>,
    );
    same_type(
        PhantomData::<<TheatreBooking as WorkflowDefinition>::Output>,
        PhantomData::<<Run<TheatreBookingWorkflow> as WorkflowDefinition>::Output>,
    );
    same_type(
        update_io(&Decide::<TheatreBooking>::new()),
        update_io(&TheatreBookingWorkflow::decide),
    );
    same_type(
        update_io(&ReportTheatreEvent),
        update_io(&TheatreBookingWorkflow::report_event),
    );
    same_type(
        update_io(&CloseTheatreWeek),
        update_io(&TheatreBookingWorkflow::close_week),
    );
    same_type(
        query_io(&TheatreStatusQuery),
        query_io(&TheatreBookingWorkflow::status),
    );
}

#[test]
fn scanner_booking_names_and_payloads_match_the_workflow_code() {
    assert_eq!(ScannerBooking.name(), ScannerBookingWorkflow::run.name());
    assert_eq!(
        Decide::<ScannerBooking>::new().name(),
        ScannerBookingWorkflow::decide.name()
    );
    assert_eq!(
        ScannerBookingStatusQuery.name(),
        ScannerBookingWorkflow::status.name()
    );
    assert_eq!(
        RecordAttendance.name(),
        ScannerBookingWorkflow::record_attendance.name()
    );
    same_type(
        PhantomData::<<ScannerBooking as WorkflowDefinition>::Input>,
        PhantomData::<<Run<ScannerBookingWorkflow> as WorkflowDefinition>::Input>,
    );
    same_type(
        PhantomData::<<ScannerBooking as WorkflowDefinition>::Output>,
        PhantomData::<<Run<ScannerBookingWorkflow> as WorkflowDefinition>::Output>,
    );
    same_type(
        update_io(&Decide::<ScannerBooking>::new()),
        update_io(&ScannerBookingWorkflow::decide),
    );
    same_type(
        query_io(&ScannerBookingStatusQuery),
        query_io(&ScannerBookingWorkflow::status),
    );
    same_type(
        update_io(&RecordAttendance),
        update_io(&ScannerBookingWorkflow::record_attendance),
    );
}

#[test]
fn model_release_names_and_payloads_match_the_workflow_code() {
    use careflow_dashboards::workflows::{ModelRelease, ReleaseStatusQuery, RollBackRelease};
    use careflow_workflows::ModelReleaseWorkflow;
    assert_eq!(ModelRelease.name(), ModelReleaseWorkflow::run.name());
    assert_eq!(
        Decide::<ModelRelease>::new().name(),
        ModelReleaseWorkflow::decide.name()
    );
    assert_eq!(
        ReleaseStatusQuery.name(),
        ModelReleaseWorkflow::status.name()
    );
    assert_eq!(
        RollBackRelease.name(),
        ModelReleaseWorkflow::rollback.name()
    );
    same_type(
        PhantomData::<<ModelRelease as WorkflowDefinition>::Input>,
        PhantomData::<<Run<ModelReleaseWorkflow> as WorkflowDefinition>::Input>,
    );
    same_type(
        PhantomData::<<ModelRelease as WorkflowDefinition>::Output>,
        PhantomData::<<Run<ModelReleaseWorkflow> as WorkflowDefinition>::Output>,
    );
    same_type(
        update_io(&Decide::<ModelRelease>::new()),
        update_io(&ModelReleaseWorkflow::decide),
    );
    same_type(
        query_io(&ReleaseStatusQuery),
        query_io(&ModelReleaseWorkflow::status),
    );
    same_type(
        update_io(&RollBackRelease),
        update_io(&ModelReleaseWorkflow::rollback),
    );
}

#[test]
fn ethics_review_names_and_payloads_match_the_workflow_code() {
    assert_eq!(EthicsReview.name(), EthicsReviewWorkflow::run.name());
    assert_eq!(EthicsStepUpdate.name(), EthicsReviewWorkflow::step.name());
    same_type(
        PhantomData::<<EthicsReview as WorkflowDefinition>::Input>,
        PhantomData::<<Run<EthicsReviewWorkflow> as WorkflowDefinition>::Input>,
    );
    same_type(
        PhantomData::<<EthicsReview as WorkflowDefinition>::Output>,
        PhantomData::<<Run<EthicsReviewWorkflow> as WorkflowDefinition>::Output>,
    );
    same_type(
        update_io(&EthicsStepUpdate),
        update_io(&EthicsReviewWorkflow::step),
    );
}
