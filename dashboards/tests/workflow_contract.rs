//! The API talks to the workflows through names and payload types only
//! (`careflow_dashboards::workflows`); this test holds them to the workflow code, so a
//! renamed workflow, update or query, or a changed payload type, fails here and not in
//! a hospital.

use std::marker::PhantomData;

use temporalio_common::{
    HasWorkflowDefinition, QueryDefinition, UpdateDefinition, WorkflowDefinition,
};

use careflow_dashboards::workflows::{
    Admission, AdmissionStatusQuery, BedPlan, BedPlanStatusQuery, Decide, RecordAttendance,
    ScannerBooking, ScannerBookingStatusQuery,
};
use careflow_workflows::{AdmissionWorkflow, BedPlanWorkflow, ScannerBookingWorkflow};

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
