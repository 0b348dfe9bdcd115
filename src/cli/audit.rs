//! `careflow audit verify` and `careflow audit export`: read the audit trail straight
//! from the domain database (they change nothing).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use careflow_store::anchor::{self, AnchorKey};
use careflow_store::audit;

use crate::cli::Global;

/// Audit trail commands.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain and check it against the anchors `careflow serve` writes
    /// (DATA_DIR/audit.anchors, MACed with DATA_DIR/audit.key or CAREFLOW_AUDIT_KEY);
    /// exit 1 and name the first broken entry, or the rewritten range, if it is broken.
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
    let db = g.open_db_to_read().await?;
    match cmd {
        AuditCommand::Verify => {
            // Without the key (a site never served, or an auditor's copy of the database
            // alone) only the chain itself can be checked, and the output says so.
            let (v, anchored) = match AnchorKey::load(&g.data_dir)? {
                Some(key) => {
                    let path = anchor::anchor_file(&g.data_dir);
                    let a = anchor::verify(&db, &key, &path).await?;
                    let note = match &a.latest {
                        Some(l) => format!(
                            "checked against {} (latest anchor: entry {} at {}, {} entries since)",
                            path.display(),
                            l.seq,
                            l.anchored_at,
                            a.unanchored
                        ),
                        None => format!(
                            "no anchors in {} yet: the chain alone was checked",
                            path.display()
                        ),
                    };
                    (a.verification, note)
                }
                None => (
                    audit::verify(&db).await?,
                    format!(
                        "no anchor key ({} or {}): the chain alone was checked",
                        g.data_dir.join(anchor::KEY_FILE).display(),
                        anchor::KEY_ENV
                    ),
                ),
            };
            match v.first_break {
                None => {
                    println!(
                        "audit trail intact: {} entries verified; {anchored}",
                        v.entries
                    );
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
