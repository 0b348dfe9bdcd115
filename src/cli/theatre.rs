//! `careflow theatre`: the operating-theatre week, through the API. `plan` starts a
//! week from a JSON file (the week request), `status` and `list` show where it stands
//! and the list in force, `event` reports what changed on the day, `close` ends the
//! week. Decisions on a proposed list are `careflow approve` / `reject` of its task.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Subcommand};

use careflow_types::{DayOfChange, DayOfEvent, WaitingCase};

use crate::cli::{print_json, AuthArgs, Global};

/// `careflow theatre ...`.
#[derive(Subcommand, Debug)]
pub enum TheatreCommand {
    /// Start a week's lists from FILE (theatres, sessions, surgeons, waiting cases by
    /// pseudonymous key); prints the list id. You may not approve what you ask for.
    Plan(PlanArgs),
    /// Where a week stands: stage, revision, open task, latest proposal (JSON).
    Status(WeekArgs),
    /// The list in force and the latest proposal, as stored (JSON).
    List(WeekArgs),
    /// Report a day-of event: a case cancelled, an emergency case, a theatre closed or
    /// an extra session; the week re-plans from the event's day.
    Event(EventArgs),
    /// Close the week: the list in force stays as published.
    Close(CloseArgs),
}

/// Options of `theatre plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The week request as JSON (`week_start`, `theatres`, `surgeons`, `cases`, ...).
    file: PathBuf,
    /// Retrying with the same key starts no second week.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `theatre status` and `theatre list`.
#[derive(Args, Debug)]
pub struct WeekArgs {
    /// List id printed by `theatre plan`.
    list_id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `theatre event`: exactly one kind of change.
#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("change")
        .required(true)
        .args(["cancel", "emergency", "close_theatre", "add_session", "json"])
))]
pub struct EventArgs {
    /// List id.
    list_id: String,
    /// Day of the week the event happens on (0 = the week's first day); lists before
    /// it are done and are not re-planned.
    #[arg(long)]
    day: Option<u32>,
    /// A case that will not be operated this week (needs --reason).
    #[arg(long, value_name = "CASE_ID")]
    cancel: Option<String>,
    /// A P1 case that joins the lists from --day, as JSON (a waiting case).
    #[arg(long, value_name = "CASE_FILE")]
    emergency: Option<PathBuf>,
    /// A theatre whose session is lost (needs --reason; --session-day, default --day).
    #[arg(long, value_name = "THEATRE_ID")]
    close_theatre: Option<String>,
    /// A theatre with an extra staffed session (needs --minutes; --session-day,
    /// default --day).
    #[arg(long, value_name = "THEATRE_ID")]
    add_session: Option<String>,
    /// The whole event as JSON (`day`, `change`), instead of the options above.
    #[arg(long, value_name = "EVENT_FILE")]
    json: Option<PathBuf>,
    /// Day of the closed or added session (default: --day).
    #[arg(long)]
    session_day: Option<u32>,
    /// Minutes the added session is staffed.
    #[arg(long)]
    minutes: Option<u32>,
    /// Why (a cancellation or a closed theatre).
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `theatre close`.
#[derive(Args, Debug)]
pub struct CloseArgs {
    /// List id.
    list_id: String,
    /// Why the week's lists are final (recorded).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Runs a `careflow theatre` command.
pub async fn run(g: &Global, cmd: TheatreCommand) -> Result<()> {
    match cmd {
        TheatreCommand::Plan(a) => {
            let json = std::fs::read_to_string(&a.file)
                .with_context(|| format!("reading the week from {}", a.file.display()))?;
            // Sent as written: the server locates every bad field (and records whoever
            // is signed in as the requester).
            let started = a
                .auth
                .client(g)?
                .create_theatre_week_json(&json, a.idempotency_key.as_deref())
                .await?;
            println!("{}", started.list_id);
            Ok(())
        }
        TheatreCommand::Status(a) => {
            print_json(&a.auth.client(g)?.theatre_week(&a.list_id).await?, true)
        }
        TheatreCommand::List(a) => {
            print_json(&a.auth.client(g)?.theatre_lists(&a.list_id).await?, true)
        }
        TheatreCommand::Event(a) => {
            let event = event_of(&a)?;
            let accepted = a
                .auth
                .client(g)?
                .report_theatre_event(&a.list_id, &event)
                .await?;
            println!("{}", accepted.result);
            Ok(())
        }
        TheatreCommand::Close(a) => {
            let closed = a
                .auth
                .client(g)?
                .close_theatre_week(&a.list_id, &a.reason)
                .await?;
            println!("{}", closed.result);
            Ok(())
        }
    }
}

/// The event the options describe (the server fills in who reports it).
fn event_of(a: &EventArgs) -> Result<DayOfEvent> {
    if let Some(path) = &a.json {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the event from {}", path.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not a day-of event", path.display()));
    }
    let Some(day) = a.day else {
        bail!("--day is required: the day of the week the event happens on (0 = first)");
    };
    let session_day = a.session_day.unwrap_or(day);
    let reason = || {
        a.reason
            .clone()
            .context("--reason is required: say why (recorded)")
    };
    let change = if let Some(case_id) = &a.cancel {
        DayOfChange::CaseCancelled {
            case_id: case_id.clone(),
            reason: reason()?,
        }
    } else if let Some(path) = &a.emergency {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the emergency case from {}", path.display()))?;
        let case: WaitingCase = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a waiting case", path.display()))?;
        DayOfChange::EmergencyCase { case }
    } else if let Some(theatre_id) = &a.close_theatre {
        DayOfChange::TheatreClosed {
            theatre_id: theatre_id.clone(),
            session_day,
            reason: reason()?,
        }
    } else if let Some(theatre_id) = &a.add_session {
        DayOfChange::SessionAdded {
            theatre_id: theatre_id.clone(),
            session_day,
            staffed_minutes: a
                .minutes
                .context("--minutes is required: the minutes the extra session is staffed")?,
        }
    } else {
        bail!("name the change: --cancel, --emergency, --close-theatre, --add-session or --json");
    };
    Ok(DayOfEvent {
        day,
        reported_by: String::new(),
        change,
    })
}
