//! `careflow backup` and `careflow restore`: an online snapshot of the site and its
//! restore into a fresh data directory ([`crate::backup`]).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::cli::Global;

/// Options of `backup`.
#[derive(Args, Clone, Debug)]
pub struct BackupArgs {
    /// The backup file to write (a tar file with a manifest of checksums).
    #[arg(long)]
    pub out: PathBuf,
}

/// Options of `restore`.
#[derive(Args, Clone, Debug)]
pub struct RestoreArgs {
    /// The backup file written by `careflow backup`.
    pub file: PathBuf,
    /// The site's audit key file (`audit.key` of the backed-up data directory), needed
    /// when the backup carries audit anchors (else `CAREFLOW_AUDIT_KEY`); copied into
    /// the restored data directory. Backups never hold the key.
    #[arg(long, value_name = "FILE")]
    pub audit_key: Option<PathBuf>,
}

/// `careflow backup --out FILE`: taken while careflow runs.
pub async fn backup(g: &Global, args: BackupArgs) -> Result<()> {
    let m = crate::backup::backup(&g.data_dir, &g.database_url(), &args.out).await?;
    let rows: i64 = m.counts.values().sum();
    let anchored = match m.anchored {
        Some(seq) => format!(" (anchored up to entry {seq})"),
        None => " (no audit key here: no anchors)".to_owned(),
    };
    println!(
        "backup {}: {} file(s), {} rows in {} tables, {} audit entries{anchored}, taken at {}",
        args.out.display(),
        m.files.len(),
        rows,
        m.counts.len(),
        m.audit_entries,
        m.created_at
    );
    Ok(())
}

/// `careflow restore FILE --data-dir DIR` (and `--database URL` for a PostgreSQL backup).
pub async fn restore(g: &Global, args: RestoreArgs) -> Result<()> {
    let key = match args.audit_key {
        Some(path) => crate::backup::RestoreKey::File(path),
        None => crate::backup::RestoreKey::Environment,
    };
    let m = crate::backup::restore(&args.file, &g.data_dir, g.database.as_deref(), &key).await?;
    let anchored = match m.anchored {
        Some(seq) => format!(", and matches its anchors (latest: entry {seq})"),
        None => String::new(),
    };
    println!(
        "restored {} into {}: checksums match, audit chain verifies ({} entries){anchored}, counts match the manifest; taken at {}",
        args.file.display(),
        g.data_dir.display(),
        m.audit_entries,
        m.created_at
    );
    Ok(())
}
