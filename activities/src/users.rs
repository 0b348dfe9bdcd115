//! careflow's users, their roles and API tokens (stored as SHA-256 only).

use sha2::{Digest, Sha256};
use sqlx::Row;

use careflow_types::{NewAuditEntry, Role};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};

/// 32 random bytes from the OS, hex: an unguessable bearer token.
fn random_token() -> String {
    let mut buf = [0u8; 32];
    getrandom::fill(&mut buf).expect("the OS provides randomness");
    hex::encode(buf)
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates (or re-keys) a user and returns the new token; only its hash is stored.
pub async fn upsert(db: &Db, name: &str, role: Role, by: &str) -> Result<String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    {
        return Err(Error::Conflict(format!(
            "user name '{name}' must be letters, digits, '.', '-' or '_'"
        )));
    }
    let token = random_token();
    let ts = now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO users (user_name, role, token_sha256, created_at) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (user_name) DO UPDATE SET role = excluded.role, token_sha256 = excluded.token_sha256",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(token_hash(&token))
    .bind(&ts)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: by.into(),
            role: "admin".into(),
            action: "user.provisioned".into(),
            meaning: Some(format!("granted role {role} to {name}")),
            reason: None,
            workflow_id: None,
            step: None,
            input_digest: None,
            output_digest: None,
            idempotency_key: format!("user/{name}/{ts}"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// The user a bearer token belongs to.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<User>> {
    let row = sqlx::query("SELECT user_name, role FROM users WHERE token_sha256 = $1")
        .bind(token_hash(token))
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| -> Result<User> {
        let role: String = r.try_get("role")?;
        Ok(User {
            name: r.try_get("user_name")?,
            role: role.parse().map_err(Error::Corrupt)?,
        })
    })
    .transpose()
}
