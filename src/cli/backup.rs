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
}

/// `careflow backup --out FILE`: taken while careflow runs.
pub async fn backup(g: &Global, args: BackupArgs) -> Result<()> {
    let m = crate::backup::backup(&g.data_dir, &g.database_url(), &args.out).await?;
    let rows: i64 = m.counts.values().sum();
    println!(
        "backup {}: {} file(s), {} rows in {} tables, {} audit entries, taken at {}",
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
    let m = crate::backup::restore(&args.file, &g.data_dir, g.database.as_deref()).await?;
    println!(
        "restored {} into {}: checksums match, audit chain verifies ({} entries), counts match the manifest; taken at {}",
        args.file.display(),
        g.data_dir.display(),
        m.audit_entries,
        m.created_at
    );
    Ok(())
}
