//! careflow's users, their roles and API tokens (stored as SHA-256 only).
//!
//! Who may create a user: an existing administrator, or, on a site that has no
//! administrator yet, the local operator creating the first one ([`provision`]). The
//! check, the change and its audit entry happen in one write transaction.

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

fn bad_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
    (!ok).then(|| format!("user name '{name}' must be letters, digits, '.', '-' or '_'"))
}

/// Creates (or re-keys) a user and returns the new token; only its hash is stored.
///
/// Checks nobody's right to do so: it seeds tests and benchmarks. Commands that people
/// run go through [`provision`].
pub async fn upsert(db: &Db, name: &str, role: Role, by: &str) -> Result<String> {
    if let Some(m) = bad_name(name) {
        return Err(Error::Conflict(m));
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

/// Checks, inside the caller's transaction, that `user` holds the admin role: the one
/// who may `action` (`"provision users"`, `"change the model registry"`). Refusals are
/// [`Error::Forbidden`], naming the role `user` holds or that they are not a user.
pub(crate) async fn require_admin(
    conn: &mut sqlx::AnyConnection,
    user: &str,
    action: &str,
) -> Result<()> {
    let role: Option<String> = sqlx::query("SELECT role FROM users WHERE user_name = $1")
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()?;
    match role {
        Some(r) if r == Role::Admin.as_str() => Ok(()),
        Some(r) => Err(Error::Forbidden(format!(
            "{user} holds role {r}; only an admin may {action}"
        ))),
        None => Err(Error::Forbidden(format!("{user} is not a careflow user"))),
    }
}

/// Who provisions a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioner<'a> {
    /// An existing careflow user; must hold the admin role.
    Admin(&'a str),
    /// Whoever runs careflow on this installation (they can reach its database),
    /// creating the site's first administrator. Allowed only while no user holds the
    /// admin role, and only for an admin.
    LocalOperator,
}

/// Name the local operator is recorded under in the audit trail.
pub const LOCAL_OPERATOR: &str = "local-operator";

/// Creates (or re-keys, or changes the role of) user `name` with `role` and returns
/// the new token; only its hash is stored.
///
/// `by` must be an administrator, or the [`Provisioner::LocalOperator`] creating the
/// first admin of a site that has none. An admin may not take the admin role away
/// from the last admin (the site would have nobody to provision users). The check,
/// the change and the `user.provisioned` audit entry (who, what, and `reason` or the
/// bootstrap as why) commit together or not at all. Refusals are
/// [`Error::Forbidden`] (or [`Error::Conflict`] for the last admin) and change nothing.
pub async fn provision(
    db: &Db,
    name: &str,
    role: Role,
    by: Provisioner<'_>,
    reason: Option<&str>,
) -> Result<String> {
    if let Some(m) = bad_name(name) {
        return Err(Error::Invalid(m));
    }
    let mut tx = db.begin_write().await?;
    let admins: Vec<String> =
        sqlx::query("SELECT user_name FROM users WHERE role = $1 ORDER BY user_name")
            .bind(Role::Admin.as_str())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("user_name"))
            .collect::<Result<_, _>>()?;
    let previous: Option<String> = sqlx::query("SELECT role FROM users WHERE user_name = $1")
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()?;
    let (actor, actor_role, why) = match by {
        Provisioner::Admin(admin) => {
            require_admin(&mut tx, admin, "provision users").await?;
            let demotes_last_admin = previous.as_deref() == Some(Role::Admin.as_str())
                && role != Role::Admin
                && admins.len() == 1;
            if demotes_last_admin {
                return Err(Error::Conflict(format!(
                    "{name} is the only admin; make another user admin first"
                )));
            }
            (admin, Role::Admin.as_str(), reason.map(str::to_owned))
        }
        Provisioner::LocalOperator => {
            if !admins.is_empty() {
                return Err(Error::Forbidden(format!(
                    "the site has an admin already ({}); only an admin may provision users now",
                    admins.join(", ")
                )));
            }
            if role != Role::Admin {
                return Err(Error::Forbidden(format!(
                    "a site without an admin may only create its first admin, not a {role}"
                )));
            }
            let why = match reason {
                Some(r) => format!("first admin of the site (no admin existed): {r}"),
                None => "first admin of the site (no admin existed)".to_owned(),
            };
            (LOCAL_OPERATOR, "local_operator", Some(why))
        }
    };
    if let Some(why) = &why {
        if why.trim().is_empty() {
            return Err(Error::Invalid("reason must not be blank when given".into()));
        }
    }
    let token = random_token();
    let ts = now();
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
    let meaning = match previous.as_deref() {
        None => format!("created user {name} with role {role}"),
        Some(r) if r == role.as_str() => format!("issued a new token to {name} ({role})"),
        Some(r) => format!("changed {name}'s role from {r} to {role} and issued a new token"),
    };
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: actor.into(),
            role: actor_role.into(),
            action: "user.provisioned".into(),
            meaning: Some(meaning),
            reason: why,
            workflow_id: None,
            step: None,
            input_digest: None,
            output_digest: None,
            idempotency_key: format!("user/{name}/{ts}"),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user = %name, %role, by = %actor, "user provisioned");
    Ok(token)
}

/// Names of the users who hold the admin role, sorted.
pub async fn admins(db: &Db) -> Result<Vec<String>> {
    sqlx::query("SELECT user_name FROM users WHERE role = $1 ORDER BY user_name")
        .bind(Role::Admin.as_str())
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| Ok(r.try_get("user_name")?))
        .collect()
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
