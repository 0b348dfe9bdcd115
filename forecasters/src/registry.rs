//! Model registry in the domain database (`model_registry` table, created by
//! the project's migrations). Works on any `sqlx::AnyPool` (SQLite or
//! PostgreSQL): `$n` placeholders, timestamps as RFC 3339 text.
//!
//! Lifecycle: a model is registered as `candidate`, may be moved to `shadow`
//! (runs alongside, not used for decisions) and promoted to `production`.
//! Promoting to production retires the previous production model of the same
//! name in the same transaction, so at most one is in production at a time.
//! Two promotions racing on PostgreSQL under READ COMMITTED could both commit
//! when no production row exists yet; the migration can close that with
//! `CREATE UNIQUE INDEX model_registry_one_production ON model_registry (name)
//! WHERE status = 'production'` (also valid on SQLite).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use crate::bundle::{sha256_file, CardHeader, ModelBundle};
use crate::error::{Error, Result};

/// The table's DDL, for tests and tools; the project's migrations own the real table.
pub const DDL: &str = "CREATE TABLE model_registry (name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, card_json TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('candidate','shadow','production','retired')), registered_at TEXT NOT NULL, promoted_by TEXT, promoted_at TEXT, promotion_reason TEXT, PRIMARY KEY (name, version));";

/// Lifecycle status of a registered model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Registered, not yet used.
    Candidate,
    /// Runs next to production for comparison; not used for decisions.
    Shadow,
    /// The model forecasts are taken from.
    Production,
    /// No longer used.
    Retired,
}

impl Status {
    /// The text stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Candidate => "candidate",
            Status::Shadow => "shadow",
            Status::Production => "production",
            Status::Retired => "retired",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "candidate" => Status::Candidate,
            "shadow" => Status::Shadow,
            "production" => Status::Production,
            "retired" => Status::Retired,
            other => return Err(Error::Registry(format!("unknown status {other:?}"))),
        })
    }
}

/// One row of `model_registry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEntry {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// sha256 of the .onnx file.
    pub sha256: String,
    /// The model card.
    pub card_json: String,
    /// Lifecycle status.
    pub status: Status,
    /// When it was registered (RFC 3339).
    pub registered_at: String,
    /// Who last changed its status.
    pub promoted_by: Option<String>,
    /// When its status last changed (RFC 3339).
    pub promoted_at: Option<String>,
    /// Why its status last changed.
    pub promotion_reason: Option<String>,
}

const COLUMNS: &str =
    "name, version, sha256, card_json, status, registered_at, promoted_by, promoted_at, promotion_reason";

fn entry(row: &AnyRow) -> Result<RegistryEntry> {
    Ok(RegistryEntry {
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        sha256: row.try_get("sha256")?,
        card_json: row.try_get("card_json")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        registered_at: row.try_get("registered_at")?,
        promoted_by: row.try_get("promoted_by")?,
        promoted_at: row.try_get("promoted_at")?,
        promotion_reason: row.try_get("promotion_reason")?,
    })
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The model registry over a database pool.
#[derive(Debug, Clone)]
pub struct Registry {
    pool: AnyPool,
}

impl Registry {
    /// Uses an existing pool (the table must exist).
    pub fn new(pool: AnyPool) -> Self {
        Registry { pool }
    }

    /// Connects to `url` (`sqlite://...` or `postgres://...`).
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        Ok(Registry {
            pool: AnyPool::connect(url).await?,
        })
    }

    /// The underlying pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Registers the model in `dir` (`card.json` + .onnx) as a candidate. The
    /// hash is computed from the file and must equal the card's.
    pub async fn register(&self, dir: &Path) -> Result<RegistryEntry> {
        let bundle = ModelBundle::open(dir)?;
        let e = RegistryEntry {
            name: bundle.header.name.clone(),
            version: bundle.header.version.clone(),
            sha256: sha256_file(&bundle.onnx_path)?,
            card_json: bundle.card_json.clone(),
            status: Status::Candidate,
            registered_at: now(),
            promoted_by: None,
            promoted_at: None,
            promotion_reason: None,
        };
        let res = sqlx::query(
            "INSERT INTO model_registry (name, version, sha256, card_json, status, registered_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&e.name)
        .bind(&e.version)
        .bind(&e.sha256)
        .bind(&e.card_json)
        .bind(e.status.as_str())
        .bind(&e.registered_at)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => {
                tracing::info!(model = %e.name, version = %e.version, sha256 = %e.sha256, "model registered");
                Ok(e)
            }
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(Error::Registry(
                format!("{} {} is already registered", e.name, e.version),
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Moves `name` `version` to `status`, recording who and why. Promoting to
    /// production retires the current production model of `name` in the same transaction.
    pub async fn promote(
        &self,
        name: &str,
        version: &str,
        status: Status,
        by: &str,
        reason: &str,
    ) -> Result<RegistryEntry> {
        if by.trim().is_empty() || reason.trim().is_empty() {
            return Err(Error::Registry(
                "a promotion needs who (by) and why (reason)".into(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        let at = now();
        if status == Status::Production {
            let retired = sqlx::query(
                "UPDATE model_registry SET status = 'retired', promoted_by = $1, promoted_at = $2, promotion_reason = $3 WHERE name = $4 AND status = 'production' AND version <> $5",
            )
            .bind(by)
            .bind(&at)
            .bind(format!("replaced by {version}: {reason}"))
            .bind(name)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            if retired.rows_affected() > 0 {
                tracing::info!(model = %name, "previous production model retired");
            }
        }
        let updated = sqlx::query(
            "UPDATE model_registry SET status = $1, promoted_by = $2, promoted_at = $3, promotion_reason = $4 WHERE name = $5 AND version = $6",
        )
        .bind(status.as_str())
        .bind(by)
        .bind(&at)
        .bind(reason)
        .bind(name)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // Dropping the transaction rolls back the retirement above.
            return Err(Error::Registry(format!(
                "{name} {version} is not registered"
            )));
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM model_registry WHERE name = $1 AND version = $2"
        ))
        .bind(name)
        .bind(version)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(model = %name, version = %version, status = %status, by = %by, "model status changed");
        entry(&row)
    }

    /// All entries, or those of `name`, ordered by name then registration time.
    pub async fn list(&self, name: Option<&str>) -> Result<Vec<RegistryEntry>> {
        let rows = match name {
            Some(n) => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM model_registry WHERE name = $1 ORDER BY name, registered_at, version"))
                    .bind(n)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM model_registry ORDER BY name, registered_at, version"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(entry).collect()
    }

    /// The production entry of `name`.
    pub async fn production(&self, name: &str) -> Result<RegistryEntry> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM model_registry WHERE name = $1 AND status = 'production'"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::Registry(format!("no production model named {name:?}")))?;
        entry(&row)
    }

    /// Opens the production model of `name` from `models_dir/<name>/<version>/`,
    /// checking that the file's sha256 equals the registry's.
    pub async fn load_production(&self, name: &str, models_dir: &Path) -> Result<ModelBundle> {
        let e = self.production(name).await?;
        open_verified(&e, &models_dir.join(&e.name).join(&e.version))
    }
}

/// Opens the bundle in `dir` and checks it against registry entry `e`.
pub fn open_verified(e: &RegistryEntry, dir: &Path) -> Result<ModelBundle> {
    let card: CardHeader = serde_json::from_str(&e.card_json).map_err(|err| {
        Error::Registry(format!(
            "{} {}: stored card is not valid: {err}",
            e.name, e.version
        ))
    })?;
    let onnx = dir.join(&card.onnx_file);
    let actual = sha256_file(&onnx)?;
    if actual != e.sha256 {
        return Err(Error::HashMismatch {
            path: onnx,
            name: e.name.clone(),
            version: e.version.clone(),
            expected: e.sha256.clone(),
            actual,
        });
    }
    ModelBundle::open(dir)
}
