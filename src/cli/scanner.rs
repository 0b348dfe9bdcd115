//! `careflow scanner book|status|attend|outcomes`: CT/MRI scanner bookings, through the
//! API.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use careflow_types::{AttendanceReport, ScanAttendance, ScannerWeekRequest};

use crate::cli::{print_json, AuthArgs, Global};

/// The scanner subcommands.
#[derive(Subcommand, Debug)]
pub enum ScannerCommand {
    /// Start a booking run from a week's scanners and requests (JSON file; prints the
    /// booking id).
    Book(BookArgs),
    /// Show where a booking run stands (stage, proposal, open task).
    Status(StatusArgs),
    /// Record whether a booked patient came.
    Attend(AttendArgs),
    /// Predicted no-show probability beside outcome, for every recorded attendance.
    Outcomes(OutcomesArgs),
}

/// Options of `scanner book`.
#[derive(Args, Debug)]
pub struct BookArgs {
    /// The week as JSON (`ScannerWeekRequest`: week_start, scanners, requests, policy).
    file: PathBuf,
    /// Retrying with the same key starts no second run.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `scanner status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Booking id printed by `scanner book`.
    booking_id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// What happened at a booked scan.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Outcome {
    /// Scanned.
    Attended,
    /// Did not come.
    NoShow,
}

/// Options of `scanner attend`.
#[derive(Args, Debug)]
pub struct AttendArgs {
    /// Booking id.
    booking_id: String,
    /// Request booked.
    #[arg(long)]
    request: String,
    /// What happened.
    #[arg(long, value_enum)]
    outcome: Outcome,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `scanner outcomes`.
#[derive(Args, Debug)]
pub struct OutcomesArgs {
    #[command(flatten)]
    auth: AuthArgs,
}

/// Runs a scanner subcommand.
pub async fn run(g: &Global, cmd: ScannerCommand) -> Result<()> {
    match cmd {
        ScannerCommand::Book(a) => {
            let text = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading {}", a.file.display()))?;
            let request: ScannerWeekRequest = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a scanner week", a.file.display()))?;
            let started = a
                .auth
                .client(g)?
                .create_scanner_booking(&request, a.idempotency_key.as_deref())
                .await?;
            println!("{}", started.booking_id);
            Ok(())
        }
        ScannerCommand::Status(a) => print_json(
            &a.auth.client(g)?.scanner_booking(&a.booking_id).await?,
            true,
        ),
        ScannerCommand::Attend(a) => {
            let report = AttendanceReport {
                request_id: a.request,
                outcome: match a.outcome {
                    Outcome::Attended => ScanAttendance::Attended,
                    Outcome::NoShow => ScanAttendance::NoShow,
                },
                // The server records whoever is signed in.
                recorded_by: String::new(),
            };
            let answer = a
                .auth
                .client(g)?
                .record_attendance(&a.booking_id, &report)
                .await?;
            println!("{}", answer.result);
            Ok(())
        }
        ScannerCommand::Outcomes(a) => {
            print_json(&a.auth.client(g)?.no_show_outcomes().await?, true)
        }
    }
}
