//! `careflow export deid --out DIR`: the de-identified research export
//! ([`crate::export`]), read straight from the domain database by a user whose role
//! may export (their token from `careflow login`, checked against the database).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};

use careflow_store::users;

use crate::cli::{api_base, login, print_json, AuthArgs, Global};
use crate::export::{self, DeidKey};

/// Export commands.
#[derive(Subcommand, Debug)]
pub enum ExportCommand {
    /// De-identified FHIR NDJSON (Patient, Encounter, ServiceRequest, Appointment) with
    /// keyed pseudonyms, per-patient date shifts, age bands and small cells suppressed.
    Deid(DeidArgs),
}

/// Options of `export deid`.
#[derive(Args, Debug)]
pub struct DeidArgs {
    /// Directory to write the NDJSON files and manifest.json into.
    #[arg(long)]
    out: PathBuf,
    /// Smallest count an aggregate cell shows; smaller ones are suppressed.
    #[arg(long, default_value_t = export::DEFAULT_MIN_CELL)]
    min_cell: u64,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Runs one `careflow export` subcommand.
pub async fn run(g: &Global, cmd: ExportCommand) -> Result<()> {
    let ExportCommand::Deid(args) = cmd;
    let token = match (&args.auth.token, &args.auth.as_user) {
        (Some(t), _) => t.clone(),
        (None, Some(user)) => login::session_token(&api_base(g, args.auth.api.as_deref())?, user)?,
        (None, None) => {
            bail!("say who you are: --as USER (after `careflow login --as USER`) or --token TOKEN")
        }
    };
    let db = g.open_db().await?;
    let Some(user) = users::authenticate(&db, &token).await? else {
        bail!("the token is not valid (expired or revoked): log in again");
    };
    let key = DeidKey::load_or_create(&g.data_dir)?;
    let summary = export::deid(&db, &key, &user, &args.out, args.min_cell).await?;
    print_json(&summary, false)
}
