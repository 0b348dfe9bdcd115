//! Anchoring the audit chain outside the database it protects.
//!
//! The chain's hashes are unkeyed: whoever can write the database can rebuild it with
//! forged, correctly hashed entries and move `audit_head`, and the chain alone still
//! verifies. An anchor is the head (seq and hash) at a moment, with an HMAC-SHA256 made
//! with a key the database never holds: the key file `audit.key` in the data directory
//! (32 random bytes, hex, mode 0600, created at first start) or `CAREFLOW_AUDIT_KEY`
//! (64 hex digits), which wins. Anchors are appended, one JSON line each, to the
//! append-only file `audit.anchors` beside it, on a schedule and at shutdown. A rewrite
//! of anything up to an anchored entry changes that entry's hash, which the anchor,
//! unforgeable without the key, still names.

use std::io::Write;
use std::path::{Path, PathBuf};

use ring::hmac;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use careflow_types::{AuditBreak, AuditBreakKind, AuditVerification};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};

/// Environment variable holding the anchor key (64 hex digits); wins over the file.
pub const KEY_ENV: &str = "CAREFLOW_AUDIT_KEY";
/// Name of the key file in the data directory.
pub const KEY_FILE: &str = "audit.key";
/// Name of the anchor file in the data directory.
pub const ANCHOR_FILE: &str = "audit.anchors";

/// Domain separation: an anchor MAC can never be mistaken for another use of the key.
const ANCHOR_CONTEXT: &str = "careflow-audit-anchor-v1";

/// The secret the anchors are made with.
#[derive(Clone)]
pub struct AnchorKey([u8; 32]);

impl std::fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnchorKey(..)")
    }
}

impl AnchorKey {
    /// Parses 64 hex digits; `source` names where they came from in the error.
    pub fn from_hex(text: &str, source: &str) -> Result<AnchorKey> {
        let bytes = hex::decode(text.trim())
            .map_err(|e| Error::Corrupt(format!("audit anchor key in {source}: not hex ({e})")))?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::Corrupt(format!(
                "audit anchor key in {source}: {} bytes, expected 32 (64 hex digits)",
                b.len()
            ))
        })?;
        Ok(AnchorKey(key))
    }

    /// The key from `CAREFLOW_AUDIT_KEY` or `DATA_DIR/audit.key`, or `None` when neither
    /// exists (a site that has never been served).
    pub fn load(data_dir: &Path) -> Result<Option<AnchorKey>> {
        if let Ok(text) = std::env::var(KEY_ENV) {
            return AnchorKey::from_hex(&text, KEY_ENV).map(Some);
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => AnchorKey::from_hex(&text, &path.display().to_string()).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io(format!("reading {}: {e}", path.display()))),
        }
    }

    /// The key, creating `DATA_DIR/audit.key` (0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<AnchorKey> {
        if let Some(key) = AnchorKey::load(data_dir)? {
            return Ok(key);
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS provides randomness");
        let path = data_dir.join(KEY_FILE);
        let mut opts = std::fs::OpenOptions::new();
        // create_new: two first starts at once must not overwrite each other's key.
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&path) {
            Ok(mut f) => {
                f.write_all(hex::encode(key).as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| Error::Io(format!("writing {}: {e}", path.display())))?;
                Ok(AnchorKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => AnchorKey::load(data_dir)?
                .ok_or_else(|| Error::Io(format!("{} vanished", path.display()))),
            Err(e) => Err(Error::Io(format!("creating {}: {e}", path.display()))),
        }
    }

    fn message(seq: i64, hash: &str, anchored_at: &str) -> String {
        format!("{ANCHOR_CONTEXT}\n{seq}\n{hash}\n{anchored_at}")
    }

    fn hmac_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.0)
    }

    fn sign(&self, seq: i64, hash: &str, anchored_at: &str) -> String {
        let tag = hmac::sign(
            &self.hmac_key(),
            AnchorKey::message(seq, hash, anchored_at).as_bytes(),
        );
        hex::encode(tag.as_ref())
    }

    /// Whether `tag` is the MAC of the anchor fields (constant time).
    fn verify(&self, seq: i64, hash: &str, anchored_at: &str, tag: &[u8]) -> bool {
        let msg = AnchorKey::message(seq, hash, anchored_at);
        hmac::verify(&self.hmac_key(), msg.as_bytes(), tag).is_ok()
    }

    /// The key of the trail's digests ([`audit::DigestKey`]): the same secret, used
    /// with its own context, so one key file serves anchors and digests.
    pub fn digest_key(&self) -> audit::DigestKey {
        audit::DigestKey::new(&self.0)
    }
}

/// One signed head of the chain, as a line of the anchor file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Sequence number of the head entry.
    pub seq: i64,
    /// Hash of the head entry.
    pub hash: String,
    /// When the anchor was made (UTC, RFC 3339).
    pub anchored_at: String,
    /// HMAC-SHA256 over the three fields above, hex.
    pub mac: String,
}

/// The anchor file of a data directory.
pub fn anchor_file(data_dir: &Path) -> PathBuf {
    data_dir.join(ANCHOR_FILE)
}

/// The anchors of `path` in file order, each one's MAC checked; an absent file has none.
/// A line that does not parse or whose MAC is wrong is an error naming the line: the
/// file was edited by someone without the key.
pub fn read_anchors(path: &Path, key: &AnchorKey) -> Result<Vec<Anchor>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Io(format!("reading {}: {e}", path.display()))),
    };
    let mut anchors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| Error::Corrupt(format!("{} line {}: {why}", path.display(), i + 1));
        let a: Anchor =
            serde_json::from_str(line).map_err(|e| bad(format!("not an anchor ({e})")))?;
        let tag = hex::decode(&a.mac).map_err(|_| bad("MAC is not hex".into()))?;
        if !key.verify(a.seq, &a.hash, &a.anchored_at, &tag) {
            return Err(bad(format!(
                "anchor of entry {} fails its MAC: forged or wrong key",
                a.seq
            )));
        }
        anchors.push(a);
    }
    Ok(anchors)
}

/// Chain verification against the anchors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredVerification {
    /// The chain check, with an anchor mismatch as its break when the chain holds.
    pub verification: AuditVerification,
    /// The latest anchor, if any.
    pub latest: Option<Anchor>,
    /// Entries after the latest anchor (not yet covered by one).
    pub unanchored: i64,
}

/// Checks the chain (one snapshot, see [`audit::verify`]) and then every anchor: the
/// anchored entry must still be there with the anchored hash. A mismatch names the
/// rewritten range: after the last anchor that still holds, up to the first that fails.
pub async fn verify(db: &Db, key: &AnchorKey, path: &Path) -> Result<AnchoredVerification> {
    let anchors = read_anchors(path, key)?;
    let (entries, head) = audit::snapshot(db).await?;
    let mut v = audit::verify_entries(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str())));
    let last_seq = entries.last().map(|e| e.seq).unwrap_or(0);
    if v.first_break.is_none() {
        let mut good: Option<&Anchor> = None;
        for a in &anchors {
            // Intact chain: seqs are 1..=n in order, so entry seq sits at index seq-1.
            let stored = usize::try_from(a.seq - 1)
                .ok()
                .and_then(|i| entries.get(i))
                .map(|e| e.hash.as_str());
            let since = good.map(|g| g.seq).unwrap_or(0);
            let found = match stored {
                None => Some(AuditBreak {
                    seq: last_seq + 1,
                    kind: AuditBreakKind::Truncated,
                    detail: format!(
                        "entries {}..{} were cut off: the anchor of {} names entry {} and the trail ends at {last_seq}",
                        last_seq + 1,
                        a.seq,
                        a.anchored_at,
                        a.seq
                    ),
                }),
                Some(h) if h != a.hash => Some(AuditBreak {
                    seq: since + 1,
                    kind: AuditBreakKind::Edited,
                    detail: format!(
                        "the trail was rewritten: entries {}..{} were replaced by correctly hashed forgeries \
                         (entry {}'s hash differs from its anchor of {})",
                        since + 1,
                        a.seq,
                        a.seq,
                        a.anchored_at
                    ),
                }),
                Some(_) => None,
            };
            if let Some(b) = found {
                v.first_break = Some(b);
                break;
            }
            good = Some(a);
        }
    }
    let latest = anchors.last().cloned();
    let unanchored = last_seq - latest.as_ref().map(|a| a.seq).unwrap_or(0);
    Ok(AnchoredVerification {
        verification: v,
        latest,
        unanchored: unanchored.max(0),
    })
}

/// Appends an anchor of the current head to `path`, unless the head is the latest
/// anchor already. Refuses (error) when the chain does not verify against the existing
/// anchors: a forged chain must never be signed.
pub async fn write_anchor(db: &Db, key: &AnchorKey, path: &Path) -> Result<Option<Anchor>> {
    let checked = verify(db, key, path).await?;
    if let Some(b) = checked.verification.first_break {
        return Err(Error::Corrupt(format!(
            "not anchoring a broken audit trail: entry {}: {}",
            b.seq, b.detail
        )));
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = head else { return Ok(None) };
    let (seq, hash): (i64, String) = (row.try_get("seq")?, row.try_get("hash")?);
    if checked
        .latest
        .as_ref()
        .is_some_and(|a| a.seq == seq && a.hash == hash)
    {
        return Ok(None);
    }
    let anchored_at = now();
    let mac = key.sign(seq, &hash, &anchored_at);
    let anchor = Anchor {
        seq,
        hash,
        anchored_at,
        mac,
    };
    let mut opts = std::fs::OpenOptions::new();
    // O_APPEND: each anchor is added at the end, never over an earlier one.
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut line = serde_json::to_string(&anchor).expect("anchor serialises");
    line.push('\n');
    opts.open(path)
        .and_then(|mut f| {
            f.write_all(line.as_bytes())?;
            f.sync_all()
        })
        .map_err(|e| Error::Io(format!("appending to {}: {e}", path.display())))?;
    Ok(Some(anchor))
}
