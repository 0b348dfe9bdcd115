//! The domain database: one sqlx `AnyPool` over SQLite (embedded default) or
//! PostgreSQL (bigger sites), with the same SQL on both.
//!
//! Portability rules kept by every query in this crate: `$1`-style placeholders (SQLite
//! reads them as numbered parameters), timestamps as RFC 3339 text, flags as 0/1
//! integers, no backend-specific functions outside [`Db::begin_write`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

use crate::error::{Error, Result};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (embedded default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Handle to the domain database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// Where write transactions run. SQLite: a pool of one connection, so that writers
    /// queue in order in this process instead of sleeping in SQLite's busy handler
    /// (which backs off up to 100 ms a try and leaves the lock idle meanwhile: the
    /// largest cost of an admission under load). PostgreSQL: the same pool (its
    /// writers queue on the advisory lock, see [`Db::begin_write`]).
    writer: AnyPool,
    backend: Backend,
    /// The key of the audit trail's digests ([`Db::digest`]).
    digest_key: crate::audit::DigestKey,
}

/// Advisory-lock key that serialises writers on PostgreSQL, so that several workers
/// appending at once still build one unbroken audit chain.
const PG_WRITE_LOCK: i64 = 0x6361_7265_666c_6f77; // "careflow"

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        Db::open(url, true).await
    }

    /// Connects to `url` without migrating, as the application's PostgreSQL role does
    /// (it may not change the schema; the owner role migrates, see
    /// [`Db::grant_application_role`]); fails, saying so, when a migration is missing.
    pub async fn connect_migrated(url: &str) -> Result<Db> {
        Db::open(url, false).await
    }

    async fn open(url: &str, migrate: bool) -> Result<Db> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl(url.to_owned()));
        };
        let pool = match backend {
            Backend::Sqlite => {
                // Create the file if needed; WAL lets readers run beside the one writer,
                // and a generous busy timeout makes writers of other processes (the CLI)
                // queue instead of failing.
                let opts =
                    sqlx::sqlite::SqliteConnectOptions::from_str(url)?.create_if_missing(true);
                sqlx::SqliteConnection::connect_with(&opts)
                    .await?
                    .close()
                    .await?;
                sqlite_pool(url, 8).await?
            }
            Backend::Postgres => {
                // A server that is down fails a request after the acquire timeout
                // (the API answers 503, activities retry): short enough for a clear
                // answer, long enough for writers queued on the write lock.
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        if migrate {
            migrator.run(&pool).await.map_err(|e| {
                if e.to_string().contains("permission denied") {
                    Error::Invalid(format!(
                        "{e}: this role may not change the schema; migrate as the owner role \
                         (`careflow db migrate`) and run careflow with --no-migrate"
                    ))
                } else {
                    Error::Migration(e)
                }
            })?;
        } else {
            let applied: Vec<i64> = sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&pool)
            .await
            .map_err(|e| {
                Error::Invalid(format!(
                    "the database has no careflow schema readable by this role ({e}): \
                     migrate it as the owner role first (`careflow db migrate`)"
                ))
            })?;
            if let Some(m) = migrator
                .iter()
                .find(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            {
                return Err(Error::Invalid(format!(
                    "the database lacks migration {} ({}): migrate it as the owner role first \
                     (`careflow db migrate`)",
                    m.version, m.description
                )));
            }
        }
        let writer = match backend {
            Backend::Sqlite => sqlite_pool(url, 1).await?,
            Backend::Postgres => pool.clone(),
        };
        // The audit key from the environment when set; otherwise a key nobody holds
        // until the caller gives the site's ([`Db::with_audit_key`]): digests are
        // never bare.
        let digest_key = match std::env::var(crate::anchor::KEY_ENV) {
            Ok(text) => {
                crate::anchor::AnchorKey::from_hex(&text, crate::anchor::KEY_ENV)?.digest_key()
            }
            Err(_) => crate::audit::DigestKey::ephemeral(),
        };
        Ok(Db {
            pool,
            writer,
            backend,
            digest_key,
        })
    }

    /// This handle with the site's audit key (`DATA_DIR/audit.key` or
    /// `CAREFLOW_AUDIT_KEY`, see [`crate::anchor::AnchorKey`]) for its digests, so that
    /// every process of a site writes digests that whoever holds the key can recompute.
    pub fn with_audit_key(mut self, key: &crate::anchor::AnchorKey) -> Db {
        self.digest_key = key.digest_key();
        self
    }

    /// The keyed digest (HMAC-SHA256, `hmac-sha256:` and hex) of a value's JSON, as the
    /// audit trail records identifiers and a step's input or output.
    pub fn digest<T: serde::Serialize + ?Sized>(&self, value: &T) -> String {
        self.digest_key.digest(value)
    }

    /// The key behind [`Db::digest`], for checking a stored digest
    /// ([`crate::audit::DigestKey::matches`]).
    pub fn digest_key(&self) -> &crate::audit::DigestKey {
        &self.digest_key
    }

    /// PostgreSQL: lets `role` (an existing role, not the owner) run careflow on this
    /// database (the current schema) with least privilege: read and write the domain
    /// tables, but only INSERT and SELECT on `audit_log` and SELECT on `audit_head` (the
    /// database advances the head itself) and on the migrations table. Not being the
    /// tables' owner, the role can neither drop nor disable their triggers. Run as the
    /// owner role, after migrating.
    pub async fn grant_application_role(&self, role: &str) -> Result<()> {
        if self.backend != Backend::Postgres {
            return Err(Error::Invalid(
                "roles are a PostgreSQL matter: a SQLite file is protected by its file permissions"
                    .into(),
            ));
        }
        let valid = role.len() <= 63
            && role.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && role
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(Error::Invalid(format!(
                "role {role:?}: a PostgreSQL role name of lower-case letters, digits and _"
            )));
        }
        let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&self.pool)
            .await?;
        let schema = format!("\"{}\"", schema.replace('"', "\"\""));
        let mut tx = self.pool.begin().await?;
        for sql in [
            format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
            ),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}"),
            format!("REVOKE ALL ON audit_log, audit_head, _sqlx_migrations FROM {role}"),
            format!("GRANT SELECT, INSERT ON audit_log TO {role}"),
            format!("GRANT SELECT ON audit_head, _sqlx_migrations TO {role}"),
        ] {
            sqlx::query(&sql).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// URL of a SQLite file.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        format!("sqlite://{}", path.display())
    }

    /// The pool, for read queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction that holds the database's single writer lock until it
    /// commits or rolls back (dropped without commit: rolled back).
    ///
    /// Every write in careflow appends to the audit chain, and the chain needs one
    /// writer at a time to stay unbroken; taking the lock first also spares SQLite the
    /// deferred-transaction upgrade that fails instead of waiting.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        let mut tx = self.writer.begin().await?;
        match self.backend {
            Backend::Sqlite => {
                // A write statement as the first statement takes SQLite's RESERVED lock
                // (waiting up to busy_timeout) before anything is read.
                sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 0")
                    .execute(&mut *tx)
                    .await?;
            }
            Backend::Postgres => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PG_WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(tx)
    }

    /// Asks the database for `SELECT 1` (the health check): fails while it is down or
    /// the pool is closed, succeeds again once it is back.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pools.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// A pool of up to `size` connections to the SQLite file `url`, each in WAL mode with
/// foreign keys on; writes are durable at each checkpoint (synchronous=NORMAL: a power
/// cut may lose the last transactions, never corrupt the file).
async fn sqlite_pool(url: &str, size: u32) -> Result<AnyPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(size)
        // Writers queue for the one write connection: under a burst the queue is long.
        .acquire_timeout(Duration::from_secs(60))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=60000; \
                     PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

/// Current time as stored: RFC 3339, UTC, microseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
