//! `careflow db migrate` and `careflow db grant-app ROLE`: what the owner role of a
//! PostgreSQL database runs, so that careflow itself can run as a role that may not
//! change the schema or rewrite the audit trail (`--no-migrate`).

use anyhow::{Context, Result};
use clap::Subcommand;

use careflow_store::Db;

use crate::cli::Global;

/// Database administration (as the owner role).
#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply careflow's migrations to --database (as the role that owns the schema).
    Migrate,
    /// PostgreSQL: let ROLE (an existing login role) run careflow on --database with
    /// least privilege: only INSERT and SELECT on the audit trail, no schema changes,
    /// no way to disable the audit triggers. Run as the owner role after `db migrate`.
    GrantApp {
        /// The application's role.
        role: String,
    },
}

/// Runs one `careflow db` subcommand.
pub async fn run(g: &Global, cmd: DbCommand) -> Result<()> {
    std::fs::create_dir_all(&g.data_dir)
        .with_context(|| format!("creating data directory {}", g.data_dir.display()))?;
    let db = Db::connect(&g.database_url())
        .await
        .context("migrating the domain database")?;
    match cmd {
        DbCommand::Migrate => eprintln!("domain database migrated"),
        DbCommand::GrantApp { role } => {
            db.grant_application_role(&role).await?;
            eprintln!("role {role} may now run careflow with --no-migrate");
        }
    }
    db.close().await;
    Ok(())
}
