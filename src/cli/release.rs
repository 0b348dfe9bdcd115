//! `careflow release start|status|promote|rollback|list|truth`: a model version's way to
//! production (validation and its gate, the ethics committee's sign-off, a shadow
//! period, the owner's signed promotion) and back, through the API. The signing steps
//! ask for the signer's password each time.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use careflow_types::{DecisionRequest, Observation, ReleaseRequest, RollbackBody, TruthRequest};

use crate::cli::login::PasswordSource;
use crate::cli::{print_json, AuthArgs, Global};

/// The release subcommands.
#[derive(Subcommand, Debug)]
pub enum ReleaseCommand {
    /// Start the release of a committed model version (you, a project lead, are its
    /// author; the owner is an admin who alone may promote it). Prints the release id.
    Start(StartArgs),
    /// Show where a release stands (stage, gate, amendment, shadow, promotion task).
    Status(IdArgs),
    /// As the model's owner, approve (or with --decline, refuse) the promotion of a
    /// release after its shadow period, signing with your password.
    Promote(PromoteArgs),
    /// Roll a release in production back to the version it replaced, signing the
    /// reason with your password (an admin).
    Rollback(RollbackArgs),
    /// List releases as JSON lines, newest first.
    List(ListArgs),
    /// Record what happened for targets of a model's shadow forecasts, from a CSV with
    /// the header `target,value` (an admin): the shadow comparison scores both versions
    /// on them.
    Truth(TruthArgs),
}

/// Options of `release truth`.
#[derive(Args, Debug)]
pub struct TruthArgs {
    /// Model name.
    #[arg(long)]
    model: String,
    /// CSV with the header `target,value` (target as the shadow forecasts name it, e.g.
    /// an hour `2026-12-04T07`).
    #[arg(long)]
    file: PathBuf,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Reads `target,value` rows; a bad row is named by its line.
fn observations(path: &Path) -> Result<Vec<Observation>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == "target,value" => {}
        other => bail!(
            "{}:1: the header must be `target,value`, not {:?}",
            path.display(),
            other.map(|(_, h)| h).unwrap_or("")
        ),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let Some((target, value)) = line.split_once(',') else {
            bail!(
                "{}:{}: expected `target,value`, got {line:?}",
                path.display(),
                i + 1
            );
        };
        let value: f64 = value.trim().parse().with_context(|| {
            format!(
                "{}:{}: value {:?} is not a number",
                path.display(),
                i + 1,
                value.trim()
            )
        })?;
        out.push(Observation {
            target: target.trim().to_owned(),
            value,
        });
    }
    Ok(out)
}

/// Options of `release start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Model name (a directory under the models directory).
    model: String,
    /// Candidate version (`models/<model>/<version>/`).
    version: String,
    /// The model's owner (an admin, not you).
    #[arg(long)]
    owner: String,
    /// The approved ethics project that owns the model (its amendment signs off).
    #[arg(long)]
    project: String,
    /// How much worse than production the candidate may be overall (0.02: 2 %).
    #[arg(long)]
    overall_margin: Option<f64>,
    /// How much worse it may be in any subgroup.
    #[arg(long)]
    subgroup_margin: Option<f64>,
    /// Length of the shadow period, in hours.
    #[arg(long)]
    shadow_hours: Option<u64>,
    /// Retrying with the same key starts no second release.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// A release id.
#[derive(Args, Debug)]
pub struct IdArgs {
    /// Release id printed by `release start`.
    release_id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `release promote`.
#[derive(Args, Debug)]
pub struct PromoteArgs {
    /// Release id.
    release_id: String,
    /// Why: recorded with your name, role and the time.
    #[arg(long)]
    reason: String,
    /// Refuse the promotion (the release is withdrawn).
    #[arg(long)]
    decline: bool,
    /// Read your password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `release rollback`.
#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// Release id.
    release_id: String,
    /// Why the previous version returns.
    #[arg(long)]
    reason: String,
    /// Read your password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `release list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    auth: AuthArgs,
}

/// Runs one release subcommand.
pub async fn run(g: &Global, cmd: ReleaseCommand) -> Result<()> {
    match cmd {
        ReleaseCommand::Start(a) => {
            let request = ReleaseRequest {
                model_name: a.model,
                version: a.version,
                owner: a.owner,
                project_id: a.project,
                overall_margin: a.overall_margin,
                subgroup_margin: a.subgroup_margin,
                ethics_poll_seconds: None,
                shadow_seconds: a.shadow_hours.map(|h| h * 3600),
                rollback_window_seconds: None,
            };
            let started = a
                .auth
                .client(g)?
                .start_release(&request, a.idempotency_key.as_deref())
                .await?;
            println!("{}", started.release_id);
            Ok(())
        }
        ReleaseCommand::Status(a) => {
            print_json(&a.auth.client(g)?.release(&a.release_id).await?, true)
        }
        ReleaseCommand::Promote(a) => {
            let api = a.auth.client(g)?;
            let who = a.auth.as_user.as_deref().unwrap_or("you");
            let meaning = if a.decline { "rejected" } else { "approved" };
            let password = PasswordSource::new(a.password_stdin).read(&format!(
                "password of {who} (signs the promotion of {} as {meaning})",
                a.release_id
            ))?;
            let decision = DecisionRequest {
                approve: !a.decline,
                reason: a.reason,
                bed_id: None,
                password,
            };
            let outcome = api.decide_promotion(&a.release_id, &decision).await?;
            println!("{}", outcome.result);
            Ok(())
        }
        ReleaseCommand::Rollback(a) => {
            let api = a.auth.client(g)?;
            let who = a.auth.as_user.as_deref().unwrap_or("you");
            let password = PasswordSource::new(a.password_stdin).read(&format!(
                "password of {who} (signs the rollback of {} as responsible)",
                a.release_id
            ))?;
            let body = RollbackBody {
                reason: a.reason,
                password,
            };
            let outcome = api.roll_back_release(&a.release_id, &body).await?;
            println!("{}", outcome.result);
            Ok(())
        }
        ReleaseCommand::Truth(a) => {
            let request = TruthRequest {
                model_name: a.model,
                observations: observations(&a.file)?,
            };
            let recorded = a.auth.client(g)?.record_truth(&request).await?;
            println!(
                "{} shadow forecast targets now have their truth",
                recorded.filled
            );
            Ok(())
        }
        ReleaseCommand::List(a) => {
            for r in a.auth.client(g)?.releases().await? {
                print_json(&r, false)?;
            }
            Ok(())
        }
    }
}
