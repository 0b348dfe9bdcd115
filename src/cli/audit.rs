//! `careflow audit verify` and `careflow audit export`: read the audit trail straight
//! from the domain database (they change nothing).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use careflow_store::audit;

use crate::cli::Global;

/// Audit trail commands.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 1 and name the first broken entry if it is broken.
    Verify,
    /// Write the trail as JSON lines (it holds no patient identifiers: inputs and
    /// outputs appear as digests only).
    Export {
        /// File to write (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs one `careflow audit` subcommand.
pub async fn run(g: &Global, cmd: AuditCommand) -> Result<()> {
    let db = g.open_db().await?;
    match cmd {
        AuditCommand::Verify => {
            let v = audit::verify(&db).await?;
            match v.first_break {
                None => {
                    println!("audit trail intact: {} entries verified", v.entries);
                    Ok(())
                }
                Some(b) => {
                    println!(
                        "audit trail BROKEN at entry {} ({:?}): {}",
                        b.seq, b.kind, b.detail
                    );
                    std::process::exit(1);
                }
            }
        }
        AuditCommand::Export { out } => {
            let entries = audit::entries(&db).await?;
            let mut text = String::new();
            for e in &entries {
                text.push_str(&serde_json::to_string(e)?);
                text.push('\n');
            }
            match out {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("exported {} entries to {}", entries.len(), path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}
