//! `careflow roster plan|status|sick-call|surge`: a ward's nurse roster, through the API.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use careflow_types::{RosterChange, RosterRequest};

use crate::cli::{print_json, AuthArgs, Global};

/// The roster subcommands.
#[derive(Subcommand, Debug)]
pub enum RosterCommand {
    /// Propose a ward's roster from a JSON file (the ward's nurses, shifts and recent
    /// admissions): demand forecast, rostering MILP, then the department head's
    /// approval. Prints the roster id.
    Plan(PlanArgs),
    /// Show where a roster stands (stage, revision in force, open task, proposal).
    Status(StatusArgs),
    /// Report a nurse off sick: the affected days are re-rostered for the nurse in charge.
    SickCall(SickCallArgs),
    /// Report a surge of patients: the affected days are re-rostered for the nurse in
    /// charge.
    Surge(SurgeArgs),
}

/// Options of `roster plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The ward request as JSON (fields of `RosterRequest`; `requested_by` is you).
    #[arg(long)]
    file: PathBuf,
    /// Retrying with the same key starts no second roster.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `roster status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Roster id printed by `roster plan`.
    roster_id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `roster sick-call`.
#[derive(Args, Debug)]
pub struct SickCallArgs {
    /// Roster id.
    roster_id: String,
    /// Staff number of the nurse off sick.
    #[arg(long)]
    nurse: String,
    /// First roster day off sick (0 = the roster's first day).
    #[arg(long)]
    from: u32,
    /// Last roster day off sick (default: the first).
    #[arg(long)]
    to: Option<u32>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `roster surge`.
#[derive(Args, Debug)]
pub struct SurgeArgs {
    /// Roster id.
    roster_id: String,
    /// First roster day of the surge.
    #[arg(long)]
    from: u32,
    /// Last roster day of the surge (default: the first).
    #[arg(long)]
    to: Option<u32>,
    /// Patients above the forecast on each of those days.
    #[arg(long)]
    extra_patients: u32,
    /// Why (an outbreak, a major incident...).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Runs one roster subcommand.
pub async fn run(g: &Global, cmd: RosterCommand) -> Result<()> {
    match cmd {
        RosterCommand::Plan(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading {}", a.file.display()))?;
            let request: RosterRequest = careflow_solvers::input::from_json(&text)
                .with_context(|| format!("{} is not a ward roster request", a.file.display()))?;
            let started = a
                .auth
                .client(g)?
                .create_roster(&request, a.idempotency_key.as_deref())
                .await?;
            println!("{}", started.roster_id);
            Ok(())
        }
        RosterCommand::Status(a) => {
            print_json(&a.auth.client(g)?.roster_status(&a.roster_id).await?, true)
        }
        RosterCommand::SickCall(a) => {
            let change = RosterChange::SickCall {
                nurse_id: a.nurse,
                first_day: a.from,
                last_day: a.to.unwrap_or(a.from),
            };
            let answer = a
                .auth
                .client(g)?
                .report_roster_event(&a.roster_id, &change)
                .await?;
            println!("{}", answer.result);
            Ok(())
        }
        RosterCommand::Surge(a) => {
            let change = RosterChange::Surge {
                first_day: a.from,
                last_day: a.to.unwrap_or(a.from),
                extra_patients: a.extra_patients,
                reason: a.reason,
            };
            let answer = a
                .auth
                .client(g)?
                .report_roster_event(&a.roster_id, &change)
                .await?;
            println!("{}", answer.result);
            Ok(())
        }
    }
}
