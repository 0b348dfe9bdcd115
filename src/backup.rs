//! Backup and restore of a careflow site (`careflow backup`, `careflow restore`).
//!
//! A backup is one tar file: `manifest.json` first (format, version, when, which
//! backend, every file's SHA-256 and size, and the row count of every domain table),
//! then the files it names:
//!
//! - `careflow.db`: the SQLite domain database, copied with `VACUUM INTO`, which reads
//!   inside one transaction and so is consistent while admissions keep writing; or
//!   `careflow.pgdump`: `pg_dump --format=custom` of a PostgreSQL domain database (one
//!   repeatable-read snapshot).
//! - `temporal.db`: the embedded Temporal server's SQLite database, also by `VACUUM
//!   INTO`, when the data directory has one (a site on a Temporal cluster backs that up
//!   with the cluster's own tools).
//!
//! Temporal is copied *before* the domain database. A workflow step that wrote to the
//! domain database after Temporal's copy is then re-run after a restore, and every
//! step is keyed by workflow id and step, so it finds its work done; the other order
//! would restore histories that claim steps whose rows are missing.
//!
//! The audit trail's head (`audit_head`) lives in the domain database, so it travels in
//! the same snapshot as the chain it anchors. When the site has its audit key, the
//! backup also carries its anchors (`audit.anchors`, see [`careflow_store::anchor`]):
//! the live head is anchored just before the snapshot, the anchor file is copied then
//! (so every anchor in it names an entry the snapshot holds), and a SQLite snapshot's
//! own head is anchored on top, after the copy is checked against the earlier anchors.
//! The key itself never goes into a backup: restore asks for it (`--audit-key FILE`
//! or `CAREFLOW_AUDIT_KEY`), checks the restored chain against the anchors, and puts
//! anchors and key in place, so that `careflow audit verify` on the restored site
//! checks against them. Restore refuses a file that is not a
//! careflow backup, a manifest of an unknown version, a file whose checksum or size
//! differs, a file missing or not named in the manifest, a restored chain that does not
//! verify and counts that differ from the manifest's, each with the reason; it writes
//! into a staging directory and moves it into place only when all checks pass, so a
//! refused restore leaves nothing behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{ConnectOptions, Connection, Row};

use careflow_store::anchor::{self, AnchorKey};
use careflow_store::{audit, Backend, Db};

/// `format` of every careflow backup manifest.
pub const FORMAT: &str = "careflow-backup";
/// The manifest version this build writes and reads.
pub const VERSION: u32 = 1;
/// The first entry of the tar file.
pub const MANIFEST: &str = "manifest.json";
/// The domain database of a SQLite site, in the backup and in a data directory.
pub const DOMAIN_SQLITE: &str = "careflow.db";
/// The domain database of a PostgreSQL site, in the backup.
pub const DOMAIN_PGDUMP: &str = "careflow.pgdump";
/// The embedded Temporal server's database, in the backup and in a data directory.
pub const TEMPORAL_DB: &str = "temporal.db";
/// The audit anchors, in the backup and in a data directory.
pub const ANCHORS: &str = anchor::ANCHOR_FILE;

/// What a backup holds, written first in the tar file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] of the writer.
    pub version: u32,
    /// When the snapshot started (RFC 3339, UTC).
    pub created_at: String,
    /// careflow version that wrote it.
    pub careflow_version: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Every file after the manifest.
    pub files: Vec<ManifestFile>,
    /// Rows per domain table in the snapshot.
    pub counts: BTreeMap<String, i64>,
    /// Entries in the audit chain of the snapshot.
    pub audit_entries: i64,
    /// The entry of the latest anchor in the backup's `audit.anchors`, when the site's
    /// audit key was there to anchor with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchored: Option<i64>,
}

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ManifestFile {
    /// Name in the tar file.
    pub name: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// Takes an online backup of the site in `data_dir` (domain database `database_url`)
/// into `out`; returns its manifest.
pub async fn backup(data_dir: &Path, database_url: &str, out: &Path) -> Result<Manifest> {
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let staging = staging_dir(out)?;
    let result = async {
        let mut files = Vec::new();
        let temporal = data_dir.join(TEMPORAL_DB);
        if temporal.is_file() {
            let copy = staging.join(TEMPORAL_DB);
            vacuum_into(&Db::sqlite_url(&temporal), &copy)
                .await
                .context("copying the embedded Temporal database")?;
            files.push(copy);
        }
        let db = Db::connect(database_url)
            .await
            .context("opening the domain database")?;
        let backend = db.backend();
        // Anchors: the live head now, then the file as it stands, before the snapshot,
        // so that the snapshot holds every entry an anchor of the backup names.
        let key = AnchorKey::load(data_dir).context("loading the audit key")?;
        let anchors = staging.join(ANCHORS);
        if let Some(key) = &key {
            let live = anchor::anchor_file(data_dir);
            anchor::write_anchor(&db, key, &live)
                .await
                .context("anchoring the audit head before the snapshot")?;
            if live.is_file() {
                std::fs::copy(&live, &anchors)
                    .with_context(|| format!("copying {}", live.display()))?;
            }
        }
        db.close().await;
        let domain = match backend {
            Backend::Sqlite => {
                let copy = staging.join(DOMAIN_SQLITE);
                vacuum_into(database_url, &copy)
                    .await
                    .context("copying the domain database")?;
                copy
            }
            Backend::Postgres => {
                let copy = staging.join(DOMAIN_PGDUMP);
                pg_dump(database_url, &copy)?;
                copy
            }
        };
        files.push(domain.clone());
        // Counts and the chain are read from the copy, not the live database that has
        // moved on since.
        let (counts, audit_entries) = match backend {
            Backend::Sqlite => snapshot_facts(&Db::sqlite_url(&domain)).await?,
            // The dump is a consistent snapshot, but reading it back needs a server:
            // the live database's counts may have moved on, so none are claimed.
            Backend::Postgres => (BTreeMap::new(), -1),
        };
        let mut anchored = None;
        if let Some(key) = &key {
            if backend == Backend::Sqlite {
                // The copy's own head, anchored once the copy checks against the
                // anchors taken before it (write_anchor refuses otherwise).
                let copy = Db::connect(&Db::sqlite_url(&domain)).await?;
                let written = anchor::write_anchor(&copy, key, &anchors).await;
                copy.close().await;
                written.context("anchoring the snapshot's audit head")?;
            }
            if anchors.is_file() {
                anchored = anchor::read_anchors(&anchors, key)?.last().map(|a| a.seq);
                files.push(anchors.clone());
            }
        }
        let mut manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            created_at: created_at.clone(),
            careflow_version: env!("CARGO_PKG_VERSION").into(),
            backend: match backend {
                Backend::Sqlite => "sqlite".into(),
                Backend::Postgres => "postgres".into(),
            },
            files: Vec::new(),
            counts,
            audit_entries,
            anchored,
        };
        for f in &files {
            let (sha256, bytes) = file_digest(f)?;
            manifest.files.push(ManifestFile {
                name: f.file_name().unwrap().to_string_lossy().into_owned(),
                sha256,
                bytes,
            });
        }
        write_tar(out, &manifest, &files)?;
        Ok(manifest)
    }
    .await;
    let _ = std::fs::remove_dir_all(&staging);
    result
}

/// Where restore finds the site's audit key.
#[derive(Debug, Clone, Default)]
pub enum RestoreKey {
    /// `CAREFLOW_AUDIT_KEY`, or none.
    #[default]
    Environment,
    /// A key file (the `audit.key` of the backed-up data directory), copied into the
    /// restored data directory.
    File(PathBuf),
}

/// Restores the backup `file` into `data_dir` (which must not exist or be empty).
/// A PostgreSQL backup is restored into `database_url`, an empty database. A backup
/// with anchors needs the site's audit key (`key`): the restored chain is checked
/// against them. Returns the manifest once every check has passed.
pub async fn restore(
    file: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    key: &RestoreKey,
) -> Result<Manifest> {
    if data_dir.exists() {
        let mut entries = std::fs::read_dir(data_dir)
            .with_context(|| format!("reading {}", data_dir.display()))?;
        ensure!(
            entries.next().is_none(),
            "--data-dir {}: not empty; restore only into a fresh data directory",
            data_dir.display()
        );
    }
    let staging = staging_dir(data_dir)?;
    let result = async {
        let manifest = unpack(file, &staging)?;
        let anchors = staging.join(ANCHORS);
        let key = if anchors.is_file() {
            let key = match key {
                RestoreKey::File(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading the audit key {}", path.display()))?;
                    let key = AnchorKey::from_hex(&text, &path.display().to_string())?;
                    copy_key(path, &staging.join(anchor::KEY_FILE))?;
                    key
                }
                RestoreKey::Environment => match std::env::var(anchor::KEY_ENV) {
                    Ok(text) => AnchorKey::from_hex(&text, anchor::KEY_ENV)?,
                    Err(_) => bail!(
                        "this backup's audit trail is anchored: give the site's audit key                          (--audit-key FILE, the audit.key of the backed-up data directory,                          or {}) so that the restored chain is checked against its anchors",
                        anchor::KEY_ENV
                    ),
                },
            };
            // A wrong key or an edited anchor file is refused here, by its MAC.
            anchor::read_anchors(&anchors, &key)?;
            Some(key)
        } else {
            None
        };
        let check_anchors = |db: Db| {
            let (key, anchors) = (key.clone(), anchors.clone());
            async move {
                let Some(key) = key else { return Ok(()) };
                let v = anchor::verify(&db, &key, &anchors).await;
                db.close().await;
                if let Some(b) = v?.verification.first_break {
                    bail!(
                        "the restored audit trail does not match the backup's anchors at entry {}: {}",
                        b.seq,
                        b.detail
                    );
                }
                Ok(())
            }
        };
        match manifest.backend.as_str() {
            "sqlite" => {
                let url = Db::sqlite_url(&staging.join(DOMAIN_SQLITE));
                let (counts, entries) = snapshot_facts(&url).await?;
                ensure!(
                    entries == manifest.audit_entries,
                    "the restored audit trail has {entries} entries, the manifest says {}",
                    manifest.audit_entries
                );
                for (table, n) in &manifest.counts {
                    let got = counts.get(table).copied();
                    ensure!(
                        got == Some(*n),
                        "table {table}: the restored database has {got:?} rows, the manifest says {n}"
                    );
                }
                check_anchors(Db::connect(&url).await?).await?;
            }
            "postgres" => {
                let url = database_url.context(
                    "this is a PostgreSQL backup: say which empty database to restore it into with --database",
                )?;
                pg_restore(&staging.join(DOMAIN_PGDUMP), url).await?;
                std::fs::remove_file(staging.join(DOMAIN_PGDUMP))?;
                let db = Db::connect(url).await?;
                let v = audit::verify(&db).await?;
                if let Some(b) = v.first_break {
                    db.close().await;
                    bail!("the restored audit trail is broken at entry {}: {}", b.seq, b.detail);
                }
                check_anchors(db).await?;
            }
            other => bail!("manifest backend '{other}' is neither sqlite nor postgres"),
        }
        Ok(manifest)
    }
    .await;
    match result {
        Ok(manifest) => {
            if data_dir.exists() {
                std::fs::remove_dir(data_dir)?;
            }
            std::fs::rename(&staging, data_dir)
                .with_context(|| format!("moving the restored files to {}", data_dir.display()))?;
            Ok(manifest)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// Reads the tar file into `dir`, checking it against its manifest.
fn unpack(file: &Path, dir: &Path) -> Result<Manifest> {
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut archive = tar::Archive::new(BufReader::new(f));
    let mut entries = archive
        .entries()
        .with_context(|| format!("{}: not a careflow backup (not a tar file)", file.display()))?;
    let not_ours = || format!("{}: not a careflow backup", file.display());
    let mut first = entries
        .next()
        .with_context(|| format!("{}: empty file", not_ours()))?
        .with_context(|| format!("{} (not a tar file)", not_ours()))?;
    let name = first.path()?.to_string_lossy().into_owned();
    ensure!(
        name == MANIFEST,
        "{}: its first entry is '{name}', not {MANIFEST}",
        not_ours()
    );
    let mut text = String::new();
    first
        .read_to_string(&mut text)
        .with_context(|| format!("{}: reading {MANIFEST}", file.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{}: {MANIFEST} is not a careflow manifest", not_ours()))?;
    ensure!(
        manifest.format == FORMAT,
        "{}: manifest format is '{}', not '{FORMAT}'",
        not_ours(),
        manifest.format
    );
    ensure!(
        manifest.version == VERSION,
        "{}: manifest version {} (this careflow reads version {VERSION})",
        file.display(),
        manifest.version
    );
    let mut seen = Vec::new();
    for entry in entries {
        let mut entry = entry.with_context(|| format!("{}: damaged tar file", file.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let Some(expected) = manifest.files.iter().find(|f| f.name == name) else {
            bail!(
                "{}: holds '{name}', which its manifest does not name",
                file.display()
            );
        };
        ensure!(!seen.contains(&name), "{}: '{name}' twice", file.display());
        let mut out = BufWriter::new(File::create(dir.join(&expected.name))?);
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = entry
                .read(&mut buf)
                .with_context(|| format!("{}: damaged (reading {name})", file.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            bytes += n as u64;
        }
        out.flush()?;
        let sha256 = hex::encode(hasher.finalize());
        ensure!(
            bytes == expected.bytes && sha256 == expected.sha256,
            "{}: damaged: {name} has {bytes} bytes with SHA-256 {sha256}, the manifest says {} bytes with {}",
            file.display(),
            expected.bytes,
            expected.sha256
        );
        seen.push(name);
    }
    for f in &manifest.files {
        ensure!(
            seen.contains(&f.name),
            "{}: damaged or cut short: {} is missing",
            file.display(),
            f.name
        );
    }
    Ok(manifest)
}

/// A fresh directory beside `target` (same file system, so the final move is a rename).
fn staging_dir(target: &Path) -> Result<PathBuf> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let dir = parent.join(format!(
        ".{name}.careflow-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// `VACUUM INTO`: a consistent copy of a live SQLite database (one read transaction;
/// writers in WAL mode carry on, others wait at most the busy timeout).
async fn vacuum_into(url: &str, dest: &Path) -> Result<()> {
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .busy_timeout(std::time::Duration::from_secs(60))
        .connect()
        .await?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest.display().to_string())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// Rows per table and audit entries of a SQLite copy; the copy's chain must verify.
async fn snapshot_facts(url: &str) -> Result<(BTreeMap<String, i64>, i64)> {
    let db = Db::connect(url)
        .await
        .context("opening the copied database")?;
    let tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| r.get::<String, _>(0))
    .collect();
    let mut counts = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM \"{t}\""))
            .fetch_one(db.pool())
            .await?
            .get(0);
        counts.insert(t, n);
    }
    let v = audit::verify(&db).await?;
    db.close().await;
    if let Some(b) = v.first_break {
        bail!(
            "the audit trail in the copy is broken at entry {}: {}",
            b.seq,
            b.detail
        );
    }
    Ok((counts, v.entries as i64))
}

fn pg_dump(url: &str, dest: &Path) -> Result<()> {
    let status = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(dest)
        .arg(url)
        .status()
        .context("running pg_dump (Debian package postgresql-client)")?;
    ensure!(status.success(), "pg_dump failed ({status})");
    Ok(())
}

async fn pg_restore(dump: &Path, url: &str) -> Result<()> {
    let mut conn = sqlx::postgres::PgConnection::connect(url)
        .await
        .context("connecting to the --database to restore into")?;
    let tables: i64 =
        sqlx::query("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_one(&mut conn)
            .await?
            .get(0);
    conn.close().await?;
    ensure!(
        tables == 0,
        "--database has {tables} tables already; restore only into an empty database"
    );
    let status = std::process::Command::new("pg_restore")
        .args([
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
        ])
        .arg(url)
        .arg(dump)
        .status()
        .context("running pg_restore (Debian package postgresql-client)")?;
    ensure!(status.success(), "pg_restore failed ({status})");
    Ok(())
}

/// Copies the audit key file into the restored data directory, readable by its owner
/// only.
fn copy_key(from: &Path, to: &Path) -> Result<()> {
    let text = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(to)
        .and_then(|mut f| {
            f.write_all(&text)?;
            f.sync_all()
        })
        .with_context(|| format!("writing {}", to.display()))
}

fn file_digest(path: &Path) -> Result<(String, u64)> {
    let mut f = BufReader::new(File::open(path)?);
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut f, &mut hasher)?;
    Ok((hex::encode(hasher.finalize()), bytes))
}

/// Writes the tar file next to `out` and renames it into place, so a crash never
/// leaves a half-written file under the final name.
fn write_tar(out: &Path, manifest: &Manifest, files: &[PathBuf]) -> Result<()> {
    let partial = out.with_extension("partial");
    {
        let f =
            File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
        let mut tar = tar::Builder::new(BufWriter::new(f));
        let json = serde_json::to_vec_pretty(manifest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json.as_slice())?;
        for f in files {
            let name = f.file_name().unwrap();
            tar.append_path_with_name(f, name)?;
        }
        let mut w = tar.into_inner()?;
        w.flush()?;
        w.into_inner()?.sync_all()?;
    }
    std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
