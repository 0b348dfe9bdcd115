//! `careflow login` and `careflow logout`, and how the CLI reads passwords.
//!
//! A password is read from the terminal without echo (`rpassword`), or, with
//! `--password-stdin`, one per line from standard input (for scripts). Never from the
//! command line or the environment, where other users and long-lived processes could
//! see it. A login's token is kept in the OS user's own configuration directory, in a
//! file only they can read ([`crate::client::session_file`]), or printed for
//! `CAREFLOW_TOKEN` with `--print-token`.

use std::io::BufRead;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::cli::{AuthArgs, Global};
use crate::client::{
    config_dir, load_session, save_session, session_file, ApiClient, SavedSession,
};

/// Where passwords come from.
#[derive(Debug)]
pub struct PasswordSource {
    from_stdin: bool,
    lines: Option<std::io::Lines<std::io::StdinLock<'static>>>,
}

impl PasswordSource {
    /// From standard input (`--password-stdin`: one per line) or the terminal.
    pub fn new(from_stdin: bool) -> Self {
        Self {
            from_stdin,
            lines: None,
        }
    }

    /// Reads one password, asking `prompt` on the terminal.
    pub fn read(&mut self, prompt: &str) -> Result<String> {
        let password = if self.from_stdin {
            let lines = self
                .lines
                .get_or_insert_with(|| std::io::stdin().lock().lines());
            match lines.next() {
                Some(line) => line.context("reading a password from standard input")?,
                None => {
                    bail!("--password-stdin: standard input ended before the password ({prompt})")
                }
            }
        } else {
            rpassword::prompt_password(format!("{prompt}: ")).context(
                "reading a password from the terminal (no terminal? use --password-stdin)",
            )?
        };
        let password = password.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("empty password ({prompt})");
        }
        Ok(password)
    }

    /// Reads a new password; on the terminal it is asked twice and must match.
    pub fn read_new(&mut self, prompt: &str) -> Result<String> {
        let password = self.read(prompt)?;
        if !self.from_stdin {
            let again = self.read(&format!("{prompt} (again)"))?;
            if again != password {
                bail!("the two passwords differ; nothing changed");
            }
        }
        careflow_store::users::check_password_rules(&password)?;
        Ok(password)
    }
}

/// Options of `login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The user to log in as.
    #[arg(long = "as")]
    as_user: String,
    /// Read the password from the first line of standard input instead of the terminal.
    #[arg(long)]
    password_stdin: bool,
    /// Print the token on stdout (for `CAREFLOW_TOKEN`) instead of saving the session.
    #[arg(long)]
    print_token: bool,
    /// API base URL (default: the one the running `careflow serve` wrote to DATA_DIR).
    #[arg(long, env = "CAREFLOW_API")]
    api: Option<String>,
}

/// Options of `logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[command(flatten)]
    auth: AuthArgs,
}

/// `careflow login --as NAME`: asks for the password, logs in and keeps the session.
pub async fn login(g: &Global, a: LoginArgs) -> Result<()> {
    let base = crate::cli::api_base(g, a.api.as_deref())?;
    let password =
        PasswordSource::new(a.password_stdin).read(&format!("password of {}", a.as_user))?;
    let answer = ApiClient::login(&base, &a.as_user, &password).await?;
    if a.print_token {
        println!("{}", answer.token);
        return Ok(());
    }
    let dir = config_dir().context("no home directory to keep the session in (set HOME or XDG_CONFIG_HOME, or use --print-token)")?;
    let path = session_file(&dir, &base, &a.as_user);
    save_session(
        &path,
        &SavedSession {
            token: answer.token,
            expires_at: answer.expires_at.clone(),
        },
    )
    .with_context(|| format!("saving the session to {}", path.display()))?;
    eprintln!(
        "logged in as {} ({}) until {}; session kept in {} (readable by you only)",
        answer.user,
        answer.role,
        answer.expires_at,
        path.display()
    );
    Ok(())
}

/// `careflow logout --as NAME`: revokes the session's token and forgets it.
pub async fn logout(g: &Global, a: LogoutArgs) -> Result<()> {
    let api = a.auth.client(g)?;
    let out = api.logout().await?;
    if let (Some(user), Some(dir)) = (&a.auth.as_user, config_dir()) {
        let _ = std::fs::remove_file(session_file(&dir, api.base(), user));
    }
    eprintln!("logged out {}", out.user);
    Ok(())
}

/// The saved session token of `user` on `base`, or what to do to get one.
pub fn session_token(base: &str, user: &str) -> Result<String> {
    let dir = config_dir().context(
        "no home directory to find sessions in (set HOME or XDG_CONFIG_HOME, or pass --token)",
    )?;
    let path = session_file(&dir, base, user);
    let saved = load_session(&path)
        .with_context(|| format!("reading the session at {}", path.display()))?;
    match saved {
        None => bail!("not logged in as '{user}' on {base}: run `careflow login --as {user}`"),
        Some(s)
            if !s.expires_at.is_empty()
                && s.expires_at.as_str() <= careflow_store::db::now().as_str() =>
        {
            bail!(
                "the session of '{user}' on {base} expired at {}: run `careflow login --as {user}`",
                s.expires_at
            )
        }
        Some(s) => Ok(s.token),
    }
}
