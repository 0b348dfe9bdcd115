//! `careflow user add | passwd | revoke-tokens`: users in the domain database, through
//! the store's checked, audited functions ([`careflow_store::users`]). Passwords are
//! asked on the terminal (twice for a new one) or read one per line from standard input
//! with `--password-stdin`; never taken from the command line or the environment. The
//! admin named by `--by` enters their own password first: a name alone proves nothing.

use anyhow::Result;
use clap::Subcommand;

use careflow_store::users::{self, NewUser, Provisioner};
use careflow_types::Role;

use crate::cli::login::PasswordSource;
use crate::cli::Global;

/// User commands.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user with a role and password, or change a user's role and reset their
    /// password (which ends their sessions and lifts a lock-out). The user then logs in
    /// with `careflow login --as NAME`.
    ///
    /// Only an admin provisions users: name one with --by, who enters their password
    /// (with --password-stdin: the admin's on the first line, the new user's on the
    /// second). Without --by, you act as
    /// the site's local operator, who may only create the first admin while the site
    /// has none (`careflow serve` creates the admin `admin` when it first starts).
    /// Every provisioning is recorded in the audit trail with who did it and why.
    Add {
        /// User name.
        name: String,
        /// Role (admissions_clerk, bed_manager, site_manager, auditor, admin, ...).
        #[arg(long)]
        role: Role,
        /// The name printed on their signatures (default: the user name).
        #[arg(long)]
        printed_name: Option<String>,
        /// The admin who provisions the user (must hold the admin role). Omit only to
        /// create the first admin of a site that has none.
        #[arg(long)]
        by: Option<String>,
        /// Why, recorded in the audit trail.
        #[arg(long)]
        reason: Option<String>,
        /// Read the passwords from standard input, one per line: the admin's (with
        /// --by), then the new user's.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change your password (the current one first); every session of yours ends.
    Passwd {
        /// User name.
        name: String,
        /// Read the current and the new password from the first two lines of standard
        /// input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Revoke every token of a user (a lost laptop, someone leaving): their sessions
    /// end at once. Audited with who and why.
    RevokeTokens {
        /// User name.
        name: String,
        /// The admin who revokes them; they enter their password.
        #[arg(long)]
        by: String,
        /// Why, recorded in the audit trail.
        #[arg(long)]
        reason: Option<String>,
        /// Read the admin's password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Runs one `careflow user` subcommand.
pub async fn run(g: &Global, cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            printed_name,
            by,
            reason,
            password_stdin,
        } => {
            let mut source = PasswordSource::new(password_stdin);
            let admin_password = match &by {
                Some(admin) => Some(source.read(&format!("password of {admin}"))?),
                None => None,
            };
            let password = source.read_new(&format!("new password of {name}"))?;
            let db = g.open_db().await?;
            let by = match (&by, &admin_password) {
                (Some(admin), Some(admin_password)) => {
                    users::confirm_admin(&db, admin, admin_password, "provision users").await?;
                    Provisioner::Admin(admin)
                }
                _ => Provisioner::LocalOperator,
            };
            let user = NewUser {
                name: &name,
                role,
                printed_name: printed_name.as_deref(),
                password: &password,
            };
            users::provision(&db, user, by, reason.as_deref()).await?;
            eprintln!("user {name} ({role}) ready: log in with `careflow login --as {name}`");
            Ok(())
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let mut source = PasswordSource::new(password_stdin);
            let current = source.read(&format!("current password of {name}"))?;
            let new = source.read_new(&format!("new password of {name}"))?;
            let db = g.open_db().await?;
            users::change_password(&db, &name, &current, &new).await?;
            eprintln!("password of {name} changed; every session of {name} has ended");
            Ok(())
        }
        UserCommand::RevokeTokens {
            name,
            by,
            reason,
            password_stdin,
        } => {
            let admin_password =
                PasswordSource::new(password_stdin).read(&format!("password of {by}"))?;
            let db = g.open_db().await?;
            users::confirm_admin(&db, &by, &admin_password, "revoke users' tokens").await?;
            let n = users::revoke_tokens(&db, &name, &by, reason.as_deref()).await?;
            eprintln!("revoked {n} token(s) of {name}");
            Ok(())
        }
    }
}
