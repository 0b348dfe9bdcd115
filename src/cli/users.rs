//! `careflow user add`: provisions a user in the domain database through the store's
//! checked, audited [`careflow_store::users::provision`].

use anyhow::Result;
use clap::Subcommand;

use careflow_store::users::{self, Provisioner};
use careflow_types::Role;

use crate::cli::Global;
use crate::client::save_token;

/// User commands.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user (or issue a new token) and print the token; it is also saved to
    /// DATA_DIR/tokens/NAME for `--as NAME`.
    ///
    /// Only an admin provisions users: name one with --by. Without --by, you act as
    /// the site's local operator, who may only create the first admin while the site
    /// has none (`careflow serve` creates the admin `admin` when it first starts).
    /// Every provisioning is recorded in the audit trail with who did it and why.
    Add {
        /// User name.
        name: String,
        /// Role: admissions_clerk, bed_manager, site_manager, auditor, admin.
        #[arg(long)]
        role: Role,
        /// The admin who provisions the user (must hold the admin role). Omit only to
        /// create the first admin of a site that has none.
        #[arg(long)]
        by: Option<String>,
        /// Why, recorded in the audit trail.
        #[arg(long)]
        reason: Option<String>,
    },
}

/// Runs one `careflow user` subcommand.
pub async fn run(g: &Global, cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            by,
            reason,
        } => {
            let db = g.open_db().await?;
            let by = match &by {
                Some(admin) => Provisioner::Admin(admin),
                None => Provisioner::LocalOperator,
            };
            let token = users::provision(&db, &name, role, by, reason.as_deref()).await?;
            save_token(&g.data_dir, &name, &token)?;
            println!("{token}");
            Ok(())
        }
    }
}
