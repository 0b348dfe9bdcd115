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
    backend: Backend,
}

/// Advisory-lock key that serialises writers on PostgreSQL, so that several workers
/// appending at once still build one unbroken audit chain.
const PG_WRITE_LOCK: i64 = 0x6361_7265_666c_6f77; // "careflow"

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Connects to `url` (`sqlite://PATH` or `postgres://...`) and applies migrations.
    pub async fn connect(url: &str) -> Result<Db> {
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
                // and a generous busy timeout makes writers queue instead of failing.
                let opts =
                    sqlx::sqlite::SqliteConnectOptions::from_str(url)?.create_if_missing(true);
                sqlx::SqliteConnection::connect_with(&opts)
                    .await?
                    .close()
                    .await?;
                AnyPoolOptions::new()
                    .max_connections(8)
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
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect(url)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATOR.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATOR.run(&pool).await?,
        }
        Ok(Db { pool, backend })
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
        let mut tx = self.pool.begin().await?;
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

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Current time as stored: RFC 3339, UTC, microseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
