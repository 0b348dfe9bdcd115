//! Patients and their pseudonyms.
//!
//! A patient's MRN enters careflow once, at the API, and is swapped here for a random
//! key; everything downstream (workflows, Temporal's event history and Web UI, tasks,
//! the audit trail, exports) works with the key only.

use sqlx::Row;

use careflow_types::{AgeGroup, NewAuditEntry, Sex};

use crate::audit;
use crate::db::{now, Db};
use crate::error::Result;

/// Prefix of pseudonymous patient keys, so they are never mistaken for an MRN.
pub const KEY_PREFIX: &str = "PK-";

/// The patient's pseudonymous key, created on first sight of the MRN.
pub async fn pseudonymise(
    db: &Db,
    patient_ref: &str,
    sex: Sex,
    age_group: AgeGroup,
) -> Result<String> {
    if let Some(row) = sqlx::query("SELECT patient_key FROM patients WHERE patient_ref = $1")
        .bind(patient_ref)
        .fetch_optional(db.pool())
        .await?
    {
        return Ok(row.try_get("patient_key")?);
    }
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).expect("the OS provides randomness");
    let key = format!("{KEY_PREFIX}{}", hex::encode(buf));
    let mut tx = db.begin_write().await?;
    // Another request may have registered the same MRN meanwhile; the unique MRN keeps
    // one key, and the second insert does nothing.
    sqlx::query(
        "INSERT INTO patients (patient_key, patient_ref, sex, age_group, created_at) VALUES ($1,$2,$3,$4,$5) \
         ON CONFLICT (patient_ref) DO NOTHING",
    )
    .bind(&key)
    .bind(patient_ref)
    .bind(sex.as_str())
    .bind(age_group.as_str())
    .bind(now())
    .execute(&mut *tx)
    .await?;
    let stored: String = sqlx::query("SELECT patient_key FROM patients WHERE patient_ref = $1")
        .bind(patient_ref)
        .fetch_one(&mut *tx)
        .await?
        .try_get("patient_key")?;
    if stored == key {
        audit::append(
            &mut tx,
            NewAuditEntry {
                actor: "careflow".into(),
                role: "system".into(),
                action: "patient.pseudonymised".into(),
                meaning: None,
                reason: None,
                workflow_id: None,
                step: None,
                input_digest: None,
                output_digest: Some(db.digest(&key)),
                idempotency_key: format!("patient/{key}"),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(stored)
}

/// Those of `keys` that are not a registered patient's pseudonym (in the order given,
/// once each): a waiting list names its patients by these keys only, so anything else
/// (a hospital number typed by mistake, a stale key) is refused before it is stored.
pub async fn unknown_keys(db: &Db, keys: &[&str]) -> Result<Vec<String>> {
    let mut unknown = Vec::new();
    for key in keys {
        if unknown.iter().any(|u| u == key) {
            continue;
        }
        let found = sqlx::query("SELECT 1 AS found FROM patients WHERE patient_key = $1")
            .bind(*key)
            .fetch_optional(db.pool())
            .await?;
        if found.is_none() {
            unknown.push((*key).to_owned());
        }
    }
    Ok(unknown)
}
