//! `careflow tasks`, `claim`, `approve` and `reject`: the approval queue, through the
//! API. A decision is signed: the decider re-enters their password for each one.

use anyhow::Result;
use clap::Args;

use careflow_types::DecisionRequest;

use crate::cli::login::PasswordSource;
use crate::cli::{AuthArgs, Global};

/// Options of `tasks`.
#[derive(Args, Debug)]
pub struct TasksArgs {
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `claim`.
#[derive(Args, Debug)]
pub struct ClaimArgs {
    /// Task id.
    task_id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `approve` and `reject`.
#[derive(Args, Debug)]
pub struct DecideArgs {
    /// Task id (see `careflow tasks`).
    task_id: String,
    /// Why: recorded with your name, role and the time.
    #[arg(long)]
    reason: String,
    /// For tasks without a matching bed: the bed to use.
    #[arg(long)]
    bed: Option<String>,
    /// Read your password (which signs the decision) from the first line of standard
    /// input instead of the terminal.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// `careflow tasks`: one line per task, tab-separated (id, kind, status, due, summary).
pub async fn list(g: &Global, a: TasksArgs) -> Result<()> {
    let tasks = a.auth.client(g)?.tasks().await?;
    if tasks.is_empty() {
        eprintln!("no open tasks in your queue");
    }
    for t in tasks {
        println!(
            "{}\t{}\t{}\tdue {}\t{}{}",
            t.task_id,
            t.kind,
            t.status,
            t.due_at,
            t.summary,
            t.claimed_by
                .map(|c| format!(" [claimed by {c}]"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `careflow claim`.
pub async fn claim(g: &Global, a: ClaimArgs) -> Result<()> {
    let t = a.auth.client(g)?.claim(&a.task_id).await?;
    println!(
        "{} claimed by {}",
        t.task_id,
        t.claimed_by.unwrap_or_default()
    );
    Ok(())
}

/// `careflow approve` / `careflow reject`: signs the decision with the decider's
/// password (asked for each decision) and prints the workflow's answer.
pub async fn decide(g: &Global, a: DecideArgs, approve: bool) -> Result<()> {
    let api = a.auth.client(g)?;
    let who = a.auth.as_user.as_deref().unwrap_or("you");
    let meaning = if approve { "approved" } else { "rejected" };
    let password = PasswordSource::new(a.password_stdin).read(&format!(
        "password of {who} (signs task {} as {meaning})",
        a.task_id
    ))?;
    let decision = DecisionRequest {
        approve,
        reason: a.reason,
        bed_id: a.bed,
        password,
    };
    let outcome = api.decide(&a.task_id, &decision).await?;
    println!("{}", outcome.result);
    Ok(())
}
