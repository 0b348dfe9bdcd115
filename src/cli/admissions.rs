//! `careflow admit`, `status`, `discharge` and `cancel`: admissions, through the API.

use anyhow::Result;
use clap::Args;

use careflow_types::{AdmissionKind, AdmissionRequest, AgeGroup, Sex};

use crate::cli::{print_json, AuthArgs, Global};

/// Options of `admit`.
#[derive(Args, Debug)]
pub struct AdmitArgs {
    /// Patient identifier (MRN).
    #[arg(long)]
    patient: String,
    /// elective or emergency.
    #[arg(long, value_parser = parse_enum::<AdmissionKind>)]
    kind: AdmissionKind,
    /// female or male.
    #[arg(long, value_parser = parse_enum::<Sex>)]
    sex: Sex,
    /// child, adult or elderly.
    #[arg(long, value_parser = parse_enum::<AgeGroup>)]
    age_group: AgeGroup,
    /// Specialty (cardiology, general_medicine, respiratory, general_surgery,
    /// orthopaedics, elderly_care, paediatrics).
    #[arg(long)]
    specialty: String,
    /// Needs a single room.
    #[arg(long)]
    isolation: bool,
    /// Expected length of stay in days.
    #[arg(long)]
    los: u32,
    /// Key that makes a repeated `admit` (after a lost answer) start no second
    /// admission, e.g. the ED attendance number.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Workflow id printed by `admit`.
    workflow_id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `discharge`.
#[derive(Args, Debug)]
pub struct DischargeArgs {
    /// Workflow id of the admission.
    workflow_id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `cancel`.
#[derive(Args, Debug)]
pub struct CancelArgs {
    /// Workflow id.
    workflow_id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Reads a snake_case enum value the way the API does.
fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| e.to_string())
}

/// `careflow admit`: prints the workflow id.
pub async fn admit(g: &Global, a: AdmitArgs) -> Result<()> {
    let request = AdmissionRequest {
        patient_ref: a.patient,
        kind: a.kind,
        sex: a.sex,
        age_group: a.age_group,
        specialty: a.specialty,
        isolation: a.isolation,
        expected_los_days: a.los,
        // The server records whoever is signed in.
        requested_by: String::new(),
    };
    let started = a
        .auth
        .client(g)?
        .create_admission(&request, a.idempotency_key.as_deref())
        .await?;
    println!("{}", started.workflow_id);
    Ok(())
}

/// `careflow status`: prints the admission's status as JSON.
pub async fn status(g: &Global, a: StatusArgs) -> Result<()> {
    let status = a.auth.client(g)?.admission_status(&a.workflow_id).await?;
    print_json(&status, true)
}

/// `careflow discharge`: prints the bed released.
pub async fn discharge(g: &Global, a: DischargeArgs) -> Result<()> {
    let done = a.auth.client(g)?.discharge(&a.workflow_id).await?;
    println!("{}", done.bed_released);
    Ok(())
}

/// `careflow cancel`: prints the server's answer as one line of JSON.
pub async fn cancel(g: &Global, a: CancelArgs) -> Result<()> {
    let requested = a.auth.client(g)?.cancel_admission(&a.workflow_id).await?;
    print_json(&requested, false)
}
