//! Electronic signatures: a person re-enters their password to sign something, with a
//! meaning (approved, rejected, reviewed, responsible), and the record keeps who (user,
//! printed name, role), when (UTC), the meaning, what (`subject`) and the SHA-256 of the
//! content they signed.
//!
//! The password is checked as at login ([`crate::users`]: wrong ones counted and
//! audited, the lock-out honoured). A signature is written with its audit entry
//! (`signature.signed`) and is used once: the change it signs links it, in the change's
//! own transaction, after checking it is the actor's, for that subject and content, and
//! unused ([`check_unused_in`], [`mark_used_in`]).

use sqlx::{AnyConnection, Row};

use careflow_types::{Signature, SignatureMeaning};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};
use crate::users::verify_password;

/// What a signer signs.
#[derive(Clone, PartialEq, Eq)]
pub struct SignRequest<'a> {
    /// User name of the signer.
    pub signer: &'a str,
    /// Their password, re-entered for this signature (never stored).
    pub password: &'a str,
    /// What signing means.
    pub meaning: SignatureMeaning,
    /// What is signed (`task/ID`).
    pub subject: String,
    /// SHA-256 (hex) of the content signed.
    pub signed_sha256: String,
    /// The workflow the signed content belongs to, for the audit trail.
    pub workflow_id: Option<String>,
}

impl std::fmt::Debug for SignRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignRequest")
            .field("signer", &self.signer)
            .field("password", &"<hidden>")
            .field("meaning", &self.meaning)
            .field("subject", &self.subject)
            .field("signed_sha256", &self.signed_sha256)
            .finish()
    }
}

const COLUMNS: &str = "signature_id, signer, printed_name, signer_role, signed_at, meaning, \
                       subject, signed_sha256, used_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Signature> {
    let meaning: String = row.try_get("meaning")?;
    Ok(Signature {
        signature_id: row.try_get("signature_id")?,
        signer: row.try_get("signer")?,
        printed_name: row.try_get("printed_name")?,
        signer_role: row.try_get("signer_role")?,
        signed_at: row.try_get("signed_at")?,
        meaning: meaning.parse().map_err(Error::Corrupt)?,
        subject: row.try_get("subject")?,
        signed_sha256: row.try_get("signed_sha256")?,
        used_at: row.try_get("used_at")?,
    })
}

/// Checks the signer's password and writes the signature with its audit entry.
///
/// Refused, with nothing signed: [`Error::Locked`] (the account is locked) or
/// [`Error::BadCredentials`] (a wrong password: counted and audited).
pub async fn sign(db: &Db, req: &SignRequest<'_>) -> Result<Signature> {
    if req.signed_sha256.len() != 64 || !req.signed_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(
            "signed_sha256: must be 64 hex digits".to_owned(),
        ));
    }
    let purpose = format!("sign {} as {}", req.subject, req.meaning);
    let (mut tx, account) = verify_password(db, req.signer, req.password, &purpose).await?;
    let signature = Signature {
        signature_id: format!("sig-{}", uuid::Uuid::new_v4().simple()),
        signer: account.name.clone(),
        printed_name: account.printed_name.clone(),
        signer_role: account.role.as_str().to_owned(),
        signed_at: now(),
        meaning: req.meaning,
        subject: req.subject.clone(),
        signed_sha256: req.signed_sha256.clone(),
        used_at: None,
    };
    sqlx::query(&format!(
        "INSERT INTO signatures ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,NULL)"
    ))
    .bind(&signature.signature_id)
    .bind(&signature.signer)
    .bind(&signature.printed_name)
    .bind(&signature.signer_role)
    .bind(&signature.signed_at)
    .bind(signature.meaning.as_str())
    .bind(&signature.subject)
    .bind(&signature.signed_sha256)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        careflow_types::NewAuditEntry {
            actor: signature.signer.clone(),
            role: signature.signer_role.clone(),
            action: "signature.signed".into(),
            meaning: Some(format!(
                "{}: signed {} by {}",
                signature.meaning, signature.subject, signature.printed_name
            )),
            reason: None,
            workflow_id: req.workflow_id.clone(),
            step: Some(format!("signature/{}", signature.signature_id)),
            input_digest: Some(signature.signed_sha256.clone()),
            output_digest: None,
            idempotency_key: format!("signature/{}", signature.signature_id),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(signature)
}

/// One signature, if it exists.
pub async fn get(db: &Db, signature_id: &str) -> Result<Option<Signature>> {
    let mut conn = db.pool().acquire().await?;
    get_in(&mut conn, signature_id).await
}

/// One signature, read inside the caller's transaction.
pub async fn get_in(conn: &mut AnyConnection, signature_id: &str) -> Result<Option<Signature>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM signatures WHERE signature_id = $1"
    ))
    .bind(signature_id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// What a change expects of the signature that signs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected<'a> {
    /// Who makes the change (must be the signer).
    pub actor: &'a str,
    /// What the change is to (the signature's subject).
    pub subject: &'a str,
    /// What the change means.
    pub meaning: SignatureMeaning,
    /// SHA-256 of the content the change acts on, as the signer must have seen it.
    pub signed_sha256: &'a str,
}

/// Inside the change's transaction: `None` when `signature_id` names an unused
/// signature by the actor for exactly this subject, meaning and content, else why not.
pub async fn check_unused_in(
    conn: &mut AnyConnection,
    signature_id: Option<&str>,
    expected: &Expected<'_>,
) -> Result<Option<String>> {
    let Some(id) = signature_id else {
        return Ok(Some(format!(
            "the decision is not signed: {} must re-enter their password to sign it",
            expected.actor
        )));
    };
    let Some(s) = get_in(conn, id).await? else {
        return Ok(Some(format!("signature {id} does not exist")));
    };
    let why = if s.signer != expected.actor {
        Some(format!(
            "signature {id} was made by {}, not by {}",
            s.signer, expected.actor
        ))
    } else if s.used_at.is_some() {
        Some(format!(
            "signature {id} was already used (at {}); each decision needs its own",
            s.used_at.as_deref().unwrap_or_default()
        ))
    } else if s.subject != expected.subject {
        Some(format!(
            "signature {id} signs {}, not {}",
            s.subject, expected.subject
        ))
    } else if s.meaning != expected.meaning {
        Some(format!(
            "signature {id} means {}, but the decision is {}",
            s.meaning, expected.meaning
        ))
    } else if s.signed_sha256 != expected.signed_sha256 {
        Some(format!(
            "signature {id} signed other content (sha256 {}…) than this decision (sha256 {}…)",
            &s.signed_sha256[..12.min(s.signed_sha256.len())],
            &expected.signed_sha256[..12.min(expected.signed_sha256.len())]
        ))
    } else {
        None
    };
    Ok(why)
}

/// Marks a signature used inside the change's transaction; `false` if it was used
/// meanwhile (the change must then be refused).
pub async fn mark_used_in(conn: &mut AnyConnection, signature_id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE signatures SET used_at = $1 WHERE signature_id = $2 AND used_at IS NULL",
    )
    .bind(now())
    .bind(signature_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
