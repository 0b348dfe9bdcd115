//! The append-only, hash-chained audit trail.
//!
//! Each entry's hash is SHA-256(previous hash || canonical entry), where the canonical
//! entry is the JSON of every field but the hash, in a fixed order. Entries are only
//! ever inserted (the database refuses UPDATE and DELETE by trigger), under the
//! writer lock of [`Db::begin_write`], so concurrent writers build one chain. A
//! retried step passes the same idempotency key and gets the entry written the first
//! time instead of a second one.

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use careflow_types::{AuditBreak, AuditBreakKind, AuditEntry, AuditVerification, NewAuditEntry};

use crate::db::{now, Db};
use crate::error::{Error, Result};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed part of an entry, field order fixed by this declaration.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    recorded_at: &'a str,
    actor: &'a str,
    role: &'a str,
    action: &'a str,
    meaning: Option<&'a str>,
    reason: Option<&'a str>,
    workflow_id: Option<&'a str>,
    step: Option<&'a str>,
    input_digest: Option<&'a str>,
    output_digest: Option<&'a str>,
    idempotency_key: &'a str,
    prev_hash: &'a str,
}

/// The hash an entry must carry, computed from its content and `prev_hash`.
pub fn entry_hash(e: &AuditEntry) -> String {
    let canonical = Canonical {
        seq: e.seq,
        recorded_at: &e.recorded_at,
        actor: &e.actor,
        role: &e.role,
        action: &e.action,
        meaning: e.meaning.as_deref(),
        reason: e.reason.as_deref(),
        workflow_id: e.workflow_id.as_deref(),
        step: e.step.as_deref(),
        input_digest: e.input_digest.as_deref(),
        output_digest: e.output_digest.as_deref(),
        idempotency_key: &e.idempotency_key,
        prev_hash: &e.prev_hash,
    };
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(serde_json::to_vec(&canonical).expect("canonical entry serialises"));
    hex::encode(h.finalize())
}

/// Prefix of a keyed digest: HMAC-SHA256 (hex) under the audit digest key. Entries
/// written before digests were keyed carry 64 bare hex digits (SHA-256) instead; the
/// prefix is the scheme, so a verifier knows which is which.
pub const KEYED_PREFIX: &str = "hmac-sha256:";

/// Domain separation: a digest MAC is never mistaken for an anchor MAC made with the
/// same audit key.
const DIGEST_CONTEXT: &[u8] = b"careflow-audit-digest-v1\0";

/// How a stored digest was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestScheme {
    /// Bare SHA-256 of the value's JSON (entries written before keying).
    Sha256,
    /// HMAC-SHA256 of the value's JSON under the audit digest key ([`KEYED_PREFIX`]).
    HmacSha256,
}

impl DigestScheme {
    /// The scheme of a stored digest, or `None` when it is neither.
    pub fn of(stored: &str) -> Option<DigestScheme> {
        let hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        match stored.strip_prefix(KEYED_PREFIX) {
            Some(rest) if hex64(rest) => Some(DigestScheme::HmacSha256),
            None if hex64(stored) => Some(DigestScheme::Sha256),
            _ => None,
        }
    }
}

/// The key of the trail's digests of identifiers and step inputs and outputs. Those
/// values come from small spaces (hospital numbers, a patient key with a handful of
/// clinical categories): a bare SHA-256 of one can be reversed by trying them all, so
/// whoever holds the database or an audit export must not be able to compute them. The
/// key is derived from the audit key ([`crate::anchor::AnchorKey`]), which the database
/// never holds.
#[derive(Clone)]
pub struct DigestKey(ring::hmac::Key);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(..)")
    }
}

impl DigestKey {
    /// A key from 32 secret bytes.
    pub fn new(secret: &[u8; 32]) -> DigestKey {
        DigestKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    /// A random key held by nobody: digests made with it hide their values but can be
    /// recomputed by no one. What a [`Db`] uses until it is given the audit key.
    pub fn ephemeral() -> DigestKey {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the OS provides randomness");
        DigestKey::new(&secret)
    }

    /// The keyed digest of a value's JSON: `hmac-sha256:` and 64 hex digits.
    pub fn digest<T: Serialize + ?Sized>(&self, value: &T) -> String {
        let bytes = serde_json::to_vec(value).expect("value serialises");
        self.digest_bytes(&bytes)
    }

    /// The keyed digest of raw bytes (a stored JSON document as it is stored).
    pub fn digest_bytes(&self, bytes: &[u8]) -> String {
        let mut ctx = ring::hmac::Context::with_key(&self.0);
        ctx.update(DIGEST_CONTEXT);
        ctx.update(bytes);
        format!("{KEYED_PREFIX}{}", hex::encode(ctx.sign().as_ref()))
    }

    /// Whether `stored` is the digest of `value` under the scheme it names: keyed with
    /// this key, or (entries written before keying) bare SHA-256.
    pub fn matches<T: Serialize + ?Sized>(&self, stored: &str, value: &T) -> bool {
        let bytes = serde_json::to_vec(value).expect("value serialises");
        match DigestScheme::of(stored) {
            Some(DigestScheme::HmacSha256) => {
                let tag = hex::decode(&stored[KEYED_PREFIX.len()..]).unwrap_or_default();
                // Constant time: the comparison leaks nothing of the expected tag.
                ring::hmac::verify(&self.0, &[DIGEST_CONTEXT, &bytes].concat(), &tag).is_ok()
            }
            Some(DigestScheme::Sha256) => hex::encode(Sha256::digest(&bytes)) == stored,
            None => false,
        }
    }
}

/// Bare SHA-256 of a value's JSON, hex: the content address of a whole document
/// (a solver snapshot, a plan compared by `decision replay`, a signed decision) that is
/// stored beside its digest anyway, or an id derived from a high-entropy token. Never
/// for an identifier or a step's input or output in the audit trail: those take
/// [`Db::digest`] (keyed).
pub fn sha256_json<T: Serialize + ?Sized>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).expect("value serialises");
    hex::encode(Sha256::digest(bytes))
}

/// An audit entry written by careflow itself for a workflow step, keyed by workflow id
/// and step so that a retried step appends it once.
pub fn system_entry(workflow_id: &str, step: &str, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: "careflow".into(),
        role: "system".into(),
        action: action.into(),
        meaning: None,
        reason: None,
        workflow_id: Some(workflow_id.into()),
        step: Some(step.into()),
        input_digest: None,
        output_digest: None,
        idempotency_key: format!("{workflow_id}/{step}"),
    }
}

const COLUMNS: &str = "seq, recorded_at, actor, role, action, meaning, reason, workflow_id, step, \
                       input_digest, output_digest, idempotency_key, prev_hash, hash";

fn from_row(row: &sqlx::any::AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        recorded_at: row.try_get("recorded_at")?,
        actor: row.try_get("actor")?,
        role: row.try_get("role")?,
        action: row.try_get("action")?,
        meaning: row.try_get("meaning")?,
        reason: row.try_get("reason")?,
        workflow_id: row.try_get("workflow_id")?,
        step: row.try_get("step")?,
        input_digest: row.try_get("input_digest")?,
        output_digest: row.try_get("output_digest")?,
        idempotency_key: row.try_get("idempotency_key")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Appends an entry inside a write transaction from [`Db::begin_write`]. If an entry
/// with the same idempotency key exists, returns it and writes nothing.
pub async fn append(conn: &mut AnyConnection, new: NewAuditEntry) -> Result<AuditEntry> {
    let existing = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE idempotency_key = $1"
    ))
    .bind(&new.idempotency_key)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = existing {
        return from_row(&row);
    }
    let last = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (prev_seq, prev_hash) = match last {
        Some(row) => (
            row.try_get::<i64, _>("seq")?,
            row.try_get::<String, _>("hash")?,
        ),
        None => (0, GENESIS_HASH.to_owned()),
    };
    let mut entry = AuditEntry {
        seq: prev_seq + 1,
        recorded_at: now(),
        actor: new.actor,
        role: new.role,
        action: new.action,
        meaning: new.meaning,
        reason: new.reason,
        workflow_id: new.workflow_id,
        step: new.step,
        input_digest: new.input_digest,
        output_digest: new.output_digest,
        idempotency_key: new.idempotency_key,
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry_hash(&entry);
    sqlx::query(&format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)"
    ))
    .bind(entry.seq)
    .bind(&entry.recorded_at)
    .bind(&entry.actor)
    .bind(&entry.role)
    .bind(&entry.action)
    .bind(&entry.meaning)
    .bind(&entry.reason)
    .bind(&entry.workflow_id)
    .bind(&entry.step)
    .bind(&entry.input_digest)
    .bind(&entry.output_digest)
    .bind(&entry.idempotency_key)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut *conn)
    .await?;
    // On PostgreSQL the database moves the head itself (trigger audit_log_advance_head,
    // run as the owner role), so the application's role needs no write on audit_head.
    if conn.backend_name() != "PostgreSQL" {
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(entry.seq)
        .bind(&entry.hash)
        .execute(&mut *conn)
        .await?;
    }
    Ok(entry)
}

/// Appends one entry in a transaction of its own.
pub async fn append_one(db: &Db, new: NewAuditEntry) -> Result<AuditEntry> {
    let mut tx = db.begin_write().await?;
    let entry = append(&mut tx, new).await?;
    tx.commit().await?;
    Ok(entry)
}

/// All entries in chain order.
pub async fn entries(db: &Db) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Entries of one workflow, in chain order.
pub async fn entries_for_workflow(db: &Db, workflow_id: &str) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE workflow_id = $1 ORDER BY seq"
    ))
    .bind(workflow_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Walks the whole chain and reports the first break, naming the entry.
pub async fn verify(db: &Db) -> Result<AuditVerification> {
    let (all, head) = snapshot(db).await?;
    Ok(verify_entries(
        &all,
        head.as_ref().map(|(s, h)| (*s, h.as_str())),
    ))
}

/// Every entry and the recorded head, read in one transaction so that an append
/// between the two reads cannot look like tampering (SQLite's WAL reader keeps the
/// snapshot of its first read; PostgreSQL needs REPEATABLE READ for that).
pub async fn snapshot(db: &Db) -> Result<(Vec<AuditEntry>, Option<(i64, String)>)> {
    let mut tx = db.pool().begin().await?;
    if db.backend() == crate::Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
        .fetch_all(&mut *tx)
        .await?;
    let all = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| -> Result<(i64, String)> { Ok((r.try_get("seq")?, r.try_get("hash")?)) })
        .transpose()?;
    tx.rollback().await?;
    Ok((all, head))
}

/// How far from its stored seq the verifier looks for the seq an altered entry's hash
/// holds under: enough for any honest renumbering diagnosis, and bounded so that a
/// hostile row (seq near i64::MAX) costs a few thousand hashes, not forever.
const MAX_SEQ_SEARCH: i64 = 4096;

/// The chain check itself, on entries in stored order and the recorded head.
pub fn verify_entries(all: &[AuditEntry], head: Option<(i64, &str)>) -> AuditVerification {
    let count = all.len() as i64;
    let brk = |seq, kind, detail: String| AuditVerification {
        entries: count,
        first_break: Some(AuditBreak { seq, kind, detail }),
    };
    // Where each stored hash sits, to tell a reordered entry from a fabricated one.
    let position: HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(i, e)| (e.hash.as_str(), i))
        .collect();
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH;
    for (i, e) in all.iter().enumerate() {
        if entry_hash(e) != e.hash {
            // Each hash covers the entry's own seq: an entry whose hash holds under
            // another seq was moved, which tells renumbering apart from editing.
            let hash_at = |x: &AuditEntry, seq: i64| entry_hash(&AuditEntry { seq, ..x.clone() });
            let lo = e.seq.saturating_sub(MAX_SEQ_SEARCH).max(1);
            let hi = e.seq.saturating_add(MAX_SEQ_SEARCH);
            let original = (lo..=hi).find(|&s| s != e.seq && hash_at(e, s) == e.hash);
            return match original {
                None => brk(
                    e.seq,
                    AuditBreakKind::Edited,
                    format!(
                        "entry {} ({} by {}) was altered: its content no longer matches its hash",
                        e.seq, e.action, e.actor
                    ),
                ),
                Some(orig) if orig < e.seq => brk(
                    orig,
                    AuditBreakKind::Inserted,
                    format!(
                        "entries {orig}..{} were inserted: the entry now at {} was entry {orig} and was pushed back",
                        e.seq - 1,
                        e.seq
                    ),
                ),
                Some(orig) => {
                    let swapped = all
                        .iter()
                        .find(|x| x.seq == orig)
                        .is_some_and(|x| hash_at(x, e.seq) == x.hash);
                    if swapped {
                        brk(
                            e.seq,
                            AuditBreakKind::Reordered,
                            format!("entries {} and {orig} were swapped", e.seq),
                        )
                    } else {
                        brk(
                            e.seq,
                            AuditBreakKind::Deleted,
                            format!(
                                "entries {}..{} were deleted and the rest renumbered: the entry now at {} was entry {orig}",
                                e.seq,
                                orig - 1,
                                e.seq
                            ),
                        )
                    }
                }
            };
        }
        if e.seq != expected_seq {
            if e.seq > expected_seq {
                return brk(
                    expected_seq,
                    AuditBreakKind::Deleted,
                    format!(
                        "entries {}..{} are missing: entry {} follows entry {}",
                        expected_seq,
                        e.seq - 1,
                        e.seq,
                        expected_seq - 1
                    ),
                );
            }
            return brk(
                e.seq,
                AuditBreakKind::Inserted,
                format!("entry {} repeats a sequence number already used", e.seq),
            );
        }
        if e.prev_hash != prev_hash {
            let two_back = i
                .checked_sub(2)
                .map(|j| all[j].hash.as_str())
                .unwrap_or(GENESIS_HASH);
            return match position.get(e.prev_hash.as_str()) {
                _ if i >= 1 && e.prev_hash == two_back => brk(
                    e.seq - 1,
                    AuditBreakKind::Inserted,
                    format!(
                        "entry {} ({} by {}) was inserted: entry {} chains to entry {}",
                        e.seq - 1,
                        all[i - 1].action,
                        all[i - 1].actor,
                        e.seq,
                        e.seq - 2
                    ),
                ),
                Some(&j) => brk(
                    e.seq,
                    AuditBreakKind::Reordered,
                    format!(
                        "entry {} ({} by {}) is out of order: it chains to the entry now at {}",
                        e.seq, e.action, e.actor, all[j].seq
                    ),
                ),
                None => brk(
                    e.seq,
                    AuditBreakKind::Inserted,
                    format!(
                        "entry {} ({} by {}) was inserted: it chains to no entry of the trail",
                        e.seq, e.action, e.actor
                    ),
                ),
            };
        }
        prev_hash = &e.hash;
        expected_seq += 1;
    }
    let last_seq = expected_seq - 1;
    match head {
        Some((head_seq, _)) if head_seq > last_seq => brk(
            last_seq + 1,
            AuditBreakKind::Truncated,
            format!("entries {}..{head_seq} were cut off the end of the trail", last_seq + 1),
        ),
        Some((head_seq, _)) if head_seq < last_seq => brk(
            head_seq + 1,
            AuditBreakKind::Inserted,
            format!(
                "entries {}..{last_seq} were appended outside careflow (the recorded head is entry {head_seq})",
                head_seq + 1
            ),
        ),
        Some((_, head_hash)) if head_hash != prev_hash => brk(
            last_seq,
            AuditBreakKind::Edited,
            format!("entry {last_seq} differs from the recorded head of the trail"),
        ),
        None if last_seq > 0 => brk(
            1,
            AuditBreakKind::Inserted,
            "the trail has entries but no recorded head".to_owned(),
        ),
        _ => AuditVerification {
            entries: count,
            first_break: None,
        },
    }
}

/// Helper for tests and tools: fails unless the chain is intact.
pub async fn ensure_intact(db: &Db) -> Result<i64> {
    let v = verify(db).await?;
    match v.first_break {
        None => Ok(v.entries),
        Some(b) => Err(Error::Corrupt(b.detail)),
    }
}
