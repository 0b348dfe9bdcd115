//! careflow's users: roles, passwords (argon2id), expiring API tokens (stored as
//! SHA-256 only) and the lock-out that follows repeated failed passwords.
//!
//! Who may create a user: an existing administrator, or, on a site that has no
//! administrator yet, the local operator creating the first one ([`provision`]). The
//! check, the change and its audit entry happen in one write transaction.
//!
//! A password is checked the same way wherever it is entered (logging in, signing a
//! decision, changing it): an account locked by [`MAX_FAILED_ATTEMPTS`] wrong passwords
//! in a row is refused for [`LOCKOUT`] without looking at the password; a wrong one is
//! counted and audited (never its content); the right one resets the count. The slow
//! hash runs outside the database's writer lock, which is taken only to record the
//! outcome.

use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

use careflow_types::{NewAuditEntry, Role};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};

/// Wrong passwords in a row that lock an account.
pub const MAX_FAILED_ATTEMPTS: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// How long a token from [`login`] works unless revoked (a working day's shift).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (hashing cost must stay bounded).
pub const MAX_PASSWORD_CHARS: usize = 256;

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

/// A user as a password check found them: who signs, and under which printed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The name printed on their signatures.
    pub printed_name: String,
}

/// A token issued by [`login`].
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    /// The bearer token (only its SHA-256 is stored).
    pub token: String,
    /// Whose.
    pub user: User,
    /// When it stops working (RFC 3339, UTC).
    pub expires_at: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("token", &"<hidden>")
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn later(d: Duration) -> String {
    stamp(Utc::now() + chrono::Duration::from_std(d).expect("duration in range"))
}

fn bad_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
    (!ok).then(|| format!("user name '{name}' must be letters, digits, '.', '-' or '_'"))
}

/// Checks a new password against the rules, saying which one it breaks.
pub fn check_password_rules(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
            "password: must be at least {MIN_PASSWORD_CHARS} characters (got {n})"
        )));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
            "password: must be at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    if password.trim().is_empty() {
        return Err(Error::Invalid(
            "password: must not be only spaces".to_owned(),
        ));
    }
    Ok(())
}

/// argon2id with the parameters OWASP recommends (19 MiB, 2 passes, 1 lane: the
/// `argon2` crate's defaults), as a PHC string that carries its salt and parameters.
async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the OS provides randomness");
        let salt = SaltString::encode_b64(&salt).expect("16 bytes encode");
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Invalid(format!("password: cannot be hashed ({e})")))
    })
    .await
    .expect("password hashing does not panic")
}

/// Whether `password` matches the PHC string `phc` (on the blocking pool: it is slow
/// on purpose).
async fn password_matches(phc: &str, password: &str) -> Result<bool> {
    let (phc, password) = (phc.to_owned(), password.to_owned());
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc)
            .map_err(|e| Error::Corrupt(format!("stored password hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .expect("password check does not panic")
}

/// Spends what checking a real password costs, for a user who has none (or does not
/// exist), so that the refusal's timing does not tell which.
async fn spend_a_password_check(password: &str) -> Result<()> {
    static NO_ONES_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = match NO_ONES_HASH.get() {
        Some(h) => h.clone(),
        None => {
            let h = hash_password(&random_token()).await?;
            NO_ONES_HASH.get_or_init(|| h).clone()
        }
    };
    password_matches(&phc, password).await?;
    Ok(())
}

/// One audit entry about a user's account, by `actor` in `role`.
fn account_entry(
    actor: &str,
    role: &str,
    action: &str,
    meaning: String,
    reason: Option<String>,
) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.into(),
        role: role.into(),
        action: action.into(),
        meaning: Some(meaning),
        reason,
        workflow_id: None,
        step: None,
        input_digest: None,
        output_digest: None,
        idempotency_key: format!("{action}/{actor}/{}", uuid::Uuid::new_v4().simple()),
    }
}

struct Stored {
    role: Role,
    printed_name: String,
    password_phc: Option<String>,
    failed_attempts: i64,
    locked_until: Option<String>,
}

async fn stored(conn: &mut sqlx::AnyConnection, name: &str) -> Result<Option<Stored>> {
    let row = sqlx::query(
        "SELECT role, printed_name, password_phc, failed_attempts, locked_until \
         FROM users WHERE user_name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| -> Result<Stored> {
        let role: String = r.try_get("role")?;
        Ok(Stored {
            role: role.parse().map_err(Error::Corrupt)?,
            printed_name: r.try_get("printed_name")?,
            password_phc: r.try_get("password_phc")?,
            failed_attempts: r.try_get("failed_attempts")?,
            locked_until: r.try_get("locked_until")?,
        })
    })
    .transpose()
}

/// Until when `s` is locked, if it is locked now.
fn locked_now(s: &Stored) -> Option<String> {
    s.locked_until
        .as_ref()
        .filter(|until| until.as_str() > now().as_str())
        .cloned()
}

fn locked_message(name: &str, until: &str) -> String {
    format!(
        "account {name} is locked until {until} after {MAX_FAILED_ATTEMPTS} wrong passwords in a row; \
         login and signing are refused until then (an admin can reset the password)"
    )
}

/// Checks `password` for user `name`, who enters it to `purpose` ("log in", "sign
/// task/T1", "change their password"). Returns the account and the write transaction
/// in which the caller records what the password allowed (and commits), or the
/// refusal, already recorded and committed:
///
/// - [`Error::Locked`]: the account is locked (the password is not even checked);
/// - [`Error::BadCredentials`]: unknown user, no password set, or a wrong password
///   (counted: the [`MAX_FAILED_ATTEMPTS`]th in a row locks the account for
///   [`LOCKOUT`]).
///
/// Every refusal of a known user is audited (`user.password_failed`, `user.locked`,
/// `user.password_refused_locked`), without the password.
pub(crate) async fn verify_password(
    db: &Db,
    name: &str,
    password: &str,
    purpose: &str,
) -> Result<(Transaction<'static, Any>, Account)> {
    let before = {
        let mut conn = db.pool().acquire().await?;
        stored(&mut conn, name).await?
    };
    let Some(before) = before else {
        spend_a_password_check(password).await?;
        tracing::warn!("password entered for an unknown user name");
        return Err(Error::BadCredentials(
            "wrong user name or password".to_owned(),
        ));
    };
    let matched = match (&before.password_phc, locked_now(&before)) {
        (_, Some(_)) => false,
        (Some(phc), None) => password_matches(phc, password).await?,
        (None, None) => {
            spend_a_password_check(password).await?;
            false
        }
    };
    let mut tx = db.begin_write().await?;
    // Read again under the writer lock: attempts counted meanwhile, a lock set
    // meanwhile, or a password changed meanwhile all decide the outcome.
    let current = stored(&mut tx, name)
        .await?
        .ok_or_else(|| Error::BadCredentials("wrong user name or password".to_owned()))?;
    let role = current.role.as_str().to_owned();
    if let Some(until) = locked_now(&current) {
        audit::append(
            &mut tx,
            account_entry(
                name,
                &role,
                "user.password_refused_locked",
                format!("password entered to {purpose} while the account is locked"),
                Some(format!("locked until {until}")),
            ),
        )
        .await?;
        tx.commit().await?;
        return Err(Error::Locked(locked_message(name, &until)));
    }
    let unchanged = current.password_phc == before.password_phc;
    if matched && unchanged {
        if current.failed_attempts > 0 || current.locked_until.is_some() {
            sqlx::query(
                "UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE user_name = $1",
            )
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        return Ok((
            tx,
            Account {
                name: name.to_owned(),
                role: current.role,
                printed_name: current.printed_name,
            },
        ));
    }
    if current.password_phc.is_none() {
        audit::append(
            &mut tx,
            account_entry(
                name,
                &role,
                "user.password_failed",
                format!("password entered to {purpose}, but {name} has no password set"),
                None,
            ),
        )
        .await?;
        tx.commit().await?;
        return Err(Error::BadCredentials(format!(
            "{name} has no password yet: an admin sets one (careflow user add {name} --role {role} --by ADMIN)"
        )));
    }
    // A wrong password (or one checked against a hash that changed meanwhile).
    let failures = current.failed_attempts + 1;
    let locks = failures >= MAX_FAILED_ATTEMPTS;
    let until = locks.then(|| later(LOCKOUT));
    sqlx::query("UPDATE users SET failed_attempts = $1, locked_until = $2 WHERE user_name = $3")
        .bind(if locks { 0 } else { failures })
        .bind(&until)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        account_entry(
            name,
            &role,
            "user.password_failed",
            format!("wrong password entered to {purpose}"),
            Some(format!(
                "failed attempt {failures} of {MAX_FAILED_ATTEMPTS} in a row"
            )),
        ),
    )
    .await?;
    if let Some(until) = &until {
        audit::append(
            &mut tx,
            account_entry(
                name,
                &role,
                "user.locked",
                format!("account locked until {until}"),
                Some(format!("{MAX_FAILED_ATTEMPTS} wrong passwords in a row")),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    tracing::warn!(user = %name, failures, locked = locks, "wrong password");
    Err(match until {
        Some(until) => Error::Locked(locked_message(name, &until)),
        None => Error::BadCredentials(format!(
            "wrong user name or password ({} attempts left before the account locks for {} minutes)",
            MAX_FAILED_ATTEMPTS - failures,
            LOCKOUT.as_secs() / 60
        )),
    })
}

/// Issues a token for `name` valid for `ttl` inside the caller's transaction.
async fn issue_token(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    ttl: Duration,
) -> Result<(String, String)> {
    let token = random_token();
    let expires_at = later(ttl);
    sqlx::query(
        "INSERT INTO api_tokens (token_sha256, user_name, issued_at, expires_at) VALUES ($1,$2,$3,$4)",
    )
    .bind(token_hash(&token))
    .bind(name)
    .bind(now())
    .bind(&expires_at)
    .execute(&mut *conn)
    .await?;
    Ok((token, expires_at))
}

/// Revokes every live token of `name` inside the caller's transaction; returns how many.
async fn revoke_all(conn: &mut sqlx::AnyConnection, name: &str, by: &str) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 \
         WHERE user_name = $3 AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now())
    .bind(by)
    .bind(name)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

async fn write_user(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    role: Role,
    printed_name: &str,
    password_phc: Option<&str>,
) -> Result<()> {
    let ts = now();
    sqlx::query(
        "INSERT INTO users (user_name, role, created_at, printed_name) VALUES ($1,$2,$3,$4) \
         ON CONFLICT (user_name) DO UPDATE SET role = excluded.role, printed_name = excluded.printed_name",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(&ts)
    .bind(printed_name)
    .execute(&mut *conn)
    .await?;
    if let Some(phc) = password_phc {
        sqlx::query(
            "UPDATE users SET password_phc = $1, password_changed_at = $2, failed_attempts = 0, \
             locked_until = NULL WHERE user_name = $3",
        )
        .bind(phc)
        .bind(&ts)
        .bind(name)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Creates (or changes the role of) a user and returns a fresh token valid for
/// [`DEFAULT_TOKEN_TTL`]; with `password`, also sets it. Existing tokens stay valid.
///
/// Checks nobody's right to do so: it seeds tests and benchmarks. Commands that people
/// run go through [`provision`].
pub async fn upsert_with_password(
    db: &Db,
    name: &str,
    role: Role,
    password: Option<&str>,
    by: &str,
) -> Result<String> {
    if let Some(m) = bad_name(name) {
        return Err(Error::Conflict(m));
    }
    let phc = match password {
        Some(p) => {
            check_password_rules(p)?;
            Some(hash_password(p).await?)
        }
        None => None,
    };
    let mut tx = db.begin_write().await?;
    write_user(&mut tx, name, role, name, phc.as_deref()).await?;
    let (token, _) = issue_token(&mut tx, name, DEFAULT_TOKEN_TTL).await?;
    audit::append(
        &mut tx,
        account_entry(
            by,
            "admin",
            "user.provisioned",
            format!("granted role {role} to {name}"),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// [`upsert_with_password`] without a password: the user can use the returned token
/// but cannot log in or sign until a password is set.
pub async fn upsert(db: &Db, name: &str, role: Role, by: &str) -> Result<String> {
    upsert_with_password(db, name, role, None, by).await
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

/// Confirms that `name` is an administrator present at the command line: their
/// password is checked as at login (a wrong one counted and audited, the lock-out
/// honoured) and they must hold the admin role. The CLI's admin commands (`user add
/// --by`, `user revoke-tokens`, `forecast register | install`) reach the database
/// directly, so a name typed after `--by` proves nothing until its password is
/// entered; the change itself is audited under `name` by the store function that
/// makes it.
pub async fn confirm_admin(db: &Db, name: &str, password: &str, purpose: &str) -> Result<()> {
    let (tx, account) = verify_password(db, name, password, purpose).await?;
    // The password was right: its failed-attempt count is cleared whatever the role.
    tx.commit().await?;
    if account.role != Role::Admin {
        return Err(Error::Forbidden(format!(
            "{name} holds role {}; only an admin may {purpose}",
            account.role
        )));
    }
    Ok(())
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

/// A user to provision.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser<'a> {
    /// User name (letters, digits, '.', '-', '_').
    pub name: &'a str,
    /// Role.
    pub role: Role,
    /// Name printed on their signatures (default: the user name).
    pub printed_name: Option<&'a str>,
    /// Their password (at least [`MIN_PASSWORD_CHARS`] characters); only its argon2id
    /// hash is stored.
    pub password: &'a str,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("printed_name", &self.printed_name)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Creates a user with a role and password, or changes an existing user's role and
/// resets their password (which clears a lock-out and revokes their tokens).
///
/// `by` must be an administrator, or the [`Provisioner::LocalOperator`] creating the
/// first admin of a site that has none. An admin may not take the admin role away
/// from the last admin (the site would have nobody to provision users). The check,
/// the change and the `user.provisioned` audit entry (who, what, and `reason` or the
/// bootstrap as why) commit together or not at all. Refusals are
/// [`Error::Forbidden`], [`Error::Invalid`] (name, password rules) or
/// [`Error::Conflict`] (the last admin), and change nothing.
pub async fn provision(
    db: &Db,
    user: NewUser<'_>,
    by: Provisioner<'_>,
    reason: Option<&str>,
) -> Result<()> {
    let (name, role) = (user.name, user.role);
    if let Some(m) = bad_name(name) {
        return Err(Error::Invalid(m));
    }
    let printed_name = user.printed_name.unwrap_or(name).trim();
    if printed_name.is_empty() || printed_name.chars().count() > 200 {
        return Err(Error::Invalid(
            "printed name: must be 1-200 characters".to_owned(),
        ));
    }
    check_password_rules(user.password)?;
    let phc = hash_password(user.password).await?;
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
    write_user(&mut tx, name, role, printed_name, Some(&phc)).await?;
    let revoked = revoke_all(&mut tx, name, actor).await?;
    let meaning = match previous.as_deref() {
        None => format!("created user {name} with role {role}"),
        Some(r) if r == role.as_str() => format!("reset the password of {name} ({role})"),
        Some(r) => format!("changed {name}'s role from {r} to {role} and reset the password"),
    };
    let meaning = if revoked > 0 {
        format!("{meaning}; revoked {revoked} token(s)")
    } else {
        meaning
    };
    let mut entry = account_entry(actor, actor_role, "user.provisioned", meaning, why);
    entry.idempotency_key = format!("user/{name}/{}", uuid::Uuid::new_v4().simple());
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    tracing::info!(user = %name, %role, by = %actor, "user provisioned");
    Ok(())
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

/// Logs `name` in with their password: a new token valid for `ttl` (audited as
/// `user.logged_in`). Refusals as [`verify_password`] describes them.
pub async fn login(db: &Db, name: &str, password: &str, ttl: Duration) -> Result<Session> {
    let (mut tx, account) = verify_password(db, name, password, "log in").await?;
    let (token, expires_at) = issue_token(&mut tx, name, ttl).await?;
    audit::append(
        &mut tx,
        account_entry(
            name,
            account.role.as_str(),
            "user.logged_in",
            format!("logged in; token valid until {expires_at}"),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Session {
        token,
        user: User {
            name: account.name,
            role: account.role,
        },
        expires_at,
    })
}

/// The user a bearer token belongs to, if the token is known, not revoked and not
/// expired.
pub async fn authenticate(db: &Db, token: &str) -> Result<Option<User>> {
    let row = sqlx::query(
        "SELECT u.user_name, u.role FROM api_tokens t JOIN users u ON u.user_name = t.user_name \
         WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND t.expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(now())
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

/// Revokes the token the caller holds (logging out; audited). Returns whose it was, or
/// `None` for a token that was unknown, expired or revoked already.
pub async fn logout(db: &Db, token: &str) -> Result<Option<User>> {
    let Some(user) = authenticate(db, token).await? else {
        return Ok(None);
    };
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 WHERE token_sha256 = $3 AND revoked_at IS NULL",
    )
    .bind(now())
    .bind(&user.name)
    .bind(token_hash(token))
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        account_entry(
            &user.name,
            user.role.as_str(),
            "user.logged_out",
            "logged out; token revoked".to_owned(),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(user))
}

/// Revokes every live token of `name`, by the admin `by` (audited with `reason`);
/// returns how many were revoked.
pub async fn revoke_tokens(db: &Db, name: &str, by: &str, reason: Option<&str>) -> Result<u64> {
    let mut tx = db.begin_write().await?;
    require_admin(&mut tx, by, "revoke users' tokens").await?;
    if stored(&mut tx, name).await?.is_none() {
        return Err(Error::NotFound(format!("user {name}")));
    }
    let revoked = revoke_all(&mut tx, name, by).await?;
    audit::append(
        &mut tx,
        account_entry(
            by,
            Role::Admin.as_str(),
            "user.tokens_revoked",
            format!("revoked {revoked} token(s) of {name}"),
            reason.map(str::to_owned),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Changes `name`'s password after checking the current one (a wrong one counts
/// towards the lock-out); every token of theirs is revoked, so sessions elsewhere end.
pub async fn change_password(db: &Db, name: &str, current: &str, new: &str) -> Result<()> {
    check_password_rules(new)?;
    let phc = hash_password(new).await?;
    let (mut tx, account) = verify_password(db, name, current, "change their password").await?;
    sqlx::query(
        "UPDATE users SET password_phc = $1, password_changed_at = $2 WHERE user_name = $3",
    )
    .bind(&phc)
    .bind(now())
    .bind(name)
    .execute(&mut *tx)
    .await?;
    let revoked = revoke_all(&mut tx, name, name).await?;
    audit::append(
        &mut tx,
        account_entry(
            name,
            account.role.as_str(),
            "user.password_changed",
            format!("changed their password; revoked {revoked} token(s)"),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The account of `name`: role and printed name.
pub async fn account(db: &Db, name: &str) -> Result<Account> {
    let mut conn = db.pool().acquire().await?;
    let s = stored(&mut conn, name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("user {name}")))?;
    Ok(Account {
        name: name.to_owned(),
        role: s.role,
        printed_name: s.printed_name,
    })
}
