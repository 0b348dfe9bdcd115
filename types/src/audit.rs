//! Entries of the hash-chained audit trail.

use serde::{Deserialize, Serialize};

/// One audit entry as written. The hash covers every field but `hash` itself, in the
/// order declared here (the canonical form is this struct's JSON without `hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, 1, 2, 3... without gaps.
    pub seq: i64,
    /// When (RFC 3339, UTC, microseconds).
    pub recorded_at: String,
    /// Who: a user name, or `careflow` for automatic steps.
    pub actor: String,
    /// In which role (`system` for automatic steps).
    pub role: String,
    /// What happened (`admission.bed_assigned`, `task.approved`...).
    pub action: String,
    /// For human decisions: the meaning of the signature.
    pub meaning: Option<String>,
    /// For human decisions: why.
    pub reason: Option<String>,
    /// Workflow the entry belongs to.
    pub workflow_id: Option<String>,
    /// Step of that workflow.
    pub step: Option<String>,
    /// SHA-256 of the step's input (canonical JSON), hex.
    pub input_digest: Option<String>,
    /// SHA-256 of the step's output (canonical JSON), hex.
    pub output_digest: Option<String>,
    /// Key that makes a retried step write its entry once.
    pub idempotency_key: String,
    /// Hash of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256(prev_hash || canonical entry), hex.
    pub hash: String,
}

/// An entry to append; the store fills in seq, time and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// Who.
    pub actor: String,
    /// Role.
    pub role: String,
    /// What.
    pub action: String,
    /// Meaning of the signature (human decisions).
    pub meaning: Option<String>,
    /// Why (human decisions).
    pub reason: Option<String>,
    /// Workflow.
    pub workflow_id: Option<String>,
    /// Step.
    pub step: Option<String>,
    /// Input digest.
    pub input_digest: Option<String>,
    /// Output digest.
    pub output_digest: Option<String>,
    /// Idempotency key.
    pub idempotency_key: String,
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: i64,
    /// `None` when the chain is intact; else the first break found.
    pub first_break: Option<AuditBreak>,
}

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBreak {
    /// Sequence number of the entry at which the break shows.
    pub seq: i64,
    /// What kind of break.
    pub kind: AuditBreakKind,
    /// Explanation naming the entry.
    pub detail: String,
}

/// Kinds of tampering the verifier tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditBreakKind {
    /// The entry's content no longer matches its hash.
    Edited,
    /// One or more entries before this one are missing.
    Deleted,
    /// The entry is intact but does not follow its predecessor.
    Reordered,
    /// An entry that was never part of the chain.
    Inserted,
    /// Entries at the end of the chain are missing.
    Truncated,
}
