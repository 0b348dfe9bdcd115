//! The model registry (`model_registry`): which forecasting model versions careflow
//! knows, by name, version and the sha256 of their file, and which one is in
//! production.
//!
//! Lifecycle: a model is registered as `candidate`. The first production version of a
//! name is installed with the site ([`install`]); every later one goes through a model
//! release (`releases`), which moves it to `shadow` (runs alongside, not used for
//! decisions) and then `production`, retiring the previous one in the same transaction;
//! a unique index keeps at most one in production per name. Every change is audited in
//! the transaction that makes it, and only an administrator may make one.
//!
//! The store records facts about a model file; reading the file and checking its hash
//! before use is the forecasters' job (`careflow_forecasters::bundle`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use careflow_types::{NewAuditEntry, Role};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};
use crate::users::require_admin;

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
            other => {
                let expected = "candidate, shadow, production or retired";
                return Err(Error::Invalid(format!(
                    "unknown model status {other:?}: expected {expected}"
                )));
            }
        })
    }
}

/// What the registry records of a model file when it is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFacts {
    /// Model name (from its card).
    pub name: String,
    /// Model version (from its card).
    pub version: String,
    /// sha256 of the .onnx file, computed from the file.
    pub sha256: String,
    /// The model card as JSON.
    pub card_json: String,
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
        status: row
            .try_get::<String, _>("status")?
            .parse()
            .map_err(|e: Error| Error::Corrupt(e.to_string()))?,
        registered_at: row.try_get("registered_at")?,
        promoted_by: row.try_get("promoted_by")?,
        promoted_at: row.try_get("promoted_at")?,
        promotion_reason: row.try_get("promotion_reason")?,
    })
}

/// Registers a model as a candidate, audited as `by`'s action (an admin).
pub async fn register(db: &Db, facts: &ModelFacts, by: &str) -> Result<RegistryEntry> {
    let mut tx = db.begin_write().await?;
    require_admin(&mut tx, by, "change the model registry").await?;
    let exists =
        sqlx::query("SELECT 1 AS one FROM model_registry WHERE name = $1 AND version = $2")
            .bind(&facts.name)
            .bind(&facts.version)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
    if exists {
        return Err(Error::Conflict(format!(
            "{} {} is already registered",
            facts.name, facts.version
        )));
    }
    let at = now();
    sqlx::query(
        "INSERT INTO model_registry (name, version, sha256, card_json, status, registered_at) \
         VALUES ($1, $2, $3, $4, 'candidate', $5)",
    )
    .bind(&facts.name)
    .bind(&facts.version)
    .bind(&facts.sha256)
    .bind(&facts.card_json)
    .bind(&at)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: by.into(),
            role: Role::Admin.as_str().into(),
            action: "model.registered".into(),
            meaning: Some(format!(
                "registered {} {} as a candidate",
                facts.name, facts.version
            )),
            reason: None,
            workflow_id: None,
            step: None,
            input_digest: Some(facts.sha256.clone()),
            output_digest: None,
            idempotency_key: format!("model/{}/{}/registered", facts.name, facts.version),
        },
    )
    .await?;
    let row = select_one(&mut tx, &facts.name, &facts.version).await?;
    tx.commit().await?;
    tracing::info!(model = %facts.name, version = %facts.version, sha256 = %facts.sha256, "model registered");
    entry(&row)
}

async fn select_one(conn: &mut sqlx::AnyConnection, name: &str, version: &str) -> Result<AnyRow> {
    Ok(sqlx::query(&format!(
        "SELECT {COLUMNS} FROM model_registry WHERE name = $1 AND version = $2"
    ))
    .bind(name)
    .bind(version)
    .fetch_one(&mut *conn)
    .await?)
}

/// Puts the first production version of `name` in place when a site is installed:
/// only an admin, only while `name` has no production version, saying why; audited in
/// the same transaction. Every later version reaches production through a model
/// release (`releases`: validation, ethics sign-off, shadow, the owner's signed
/// promotion), which alone changes the production model after that.
pub async fn install(
    db: &Db,
    name: &str,
    version: &str,
    by: &str,
    reason: &str,
) -> Result<RegistryEntry> {
    if by.trim().is_empty() || reason.trim().is_empty() {
        return Err(Error::Invalid(
            "installing a production model needs who (by) and why (reason)".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    require_admin(&mut tx, by, "install a production model").await?;
    let current: Option<String> =
        sqlx::query("SELECT version FROM model_registry WHERE name = $1 AND status = 'production'")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("version"))
            .transpose()?;
    if let Some(current) = current {
        if current == version {
            let row = select_one(&mut tx, name, version).await?;
            return entry(&row);
        }
        return Err(Error::Conflict(format!(
            "{name} {current} is in production: a new version reaches production only through \
             a model release (careflow release start)"
        )));
    }
    let at = now();
    let updated = sqlx::query(
        "UPDATE model_registry SET status = 'production', promoted_by = $1, promoted_at = $2, \
         promotion_reason = $3 WHERE name = $4 AND version = $5",
    )
    .bind(by)
    .bind(&at)
    .bind(reason)
    .bind(name)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound(format!("model {name} {version}")));
    }
    let row = select_one(&mut tx, name, version).await?;
    let e = entry(&row)?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: by.into(),
            role: Role::Admin.as_str().into(),
            action: "model.installed".into(),
            meaning: Some(format!(
                "installed {name} {version} as the first production version"
            )),
            reason: Some(reason.into()),
            workflow_id: None,
            step: None,
            input_digest: Some(e.sha256.clone()),
            output_digest: None,
            idempotency_key: format!("model/{name}/{version}/installed"),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(model = %name, version = %version, by = %by, "production model installed");
    Ok(e)
}

/// All entries, or those of `name`, ordered by name then registration time.
pub async fn list(db: &Db, name: Option<&str>) -> Result<Vec<RegistryEntry>> {
    let rows = match name {
        Some(n) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM model_registry WHERE name = $1 ORDER BY name, registered_at, version"
            ))
            .bind(n)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM model_registry ORDER BY name, registered_at, version"
            ))
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.iter().map(entry).collect()
}

/// The production entry of `name`.
pub async fn production(db: &Db, name: &str) -> Result<RegistryEntry> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM model_registry WHERE name = $1 AND status = 'production'"
    ))
    .bind(name)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| Error::NotFound(format!("production model named {name:?}")))?;
    entry(&row)
}
