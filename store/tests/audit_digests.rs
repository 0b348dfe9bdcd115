//! Keyed digests in the audit trail on real SQLite: the digest of an identifier is an
//! HMAC under the audit key, not its bare SHA-256 (which anyone could compute from a
//! guessed hospital number), it changes with the key, whoever holds the key can
//! recompute it, entries written before keying still verify and are told apart by
//! their scheme, and the chain verifies against its anchor.

mod common;

use careflow_store::anchor::{self, AnchorKey};
use careflow_store::audit::{self, DigestScheme, KEYED_PREFIX};
use careflow_store::patients;
use careflow_types::{AgeGroup, NewAuditEntry, Sex};

#[test]
fn digest_of_an_identifier_is_keyed() {
    let mrn = "MRN-1234567";
    let bare = audit::sha256_json(mrn);
    let site = careflow_testkit::db::test_audit_key().digest_key();
    let keyed = site.digest(mrn);
    assert!(keyed.starts_with(KEYED_PREFIX), "{keyed}");
    assert_eq!(DigestScheme::of(&keyed), Some(DigestScheme::HmacSha256));
    assert_eq!(DigestScheme::of(&bare), Some(DigestScheme::Sha256));
    assert!(
        !keyed.contains(&bare),
        "the keyed digest must not be the bare SHA-256"
    );
    // The same key gives the same digest; another key another one.
    assert_eq!(keyed, site.digest(mrn));
    let other = AnchorKey::from_hex(&"11".repeat(32), "test")
        .unwrap()
        .digest_key();
    assert_ne!(keyed, other.digest(mrn));
    // Recomputable with the key, under the scheme the stored digest names.
    assert!(site.matches(&keyed, mrn));
    assert!(!other.matches(&keyed, mrn));
    assert!(!site.matches(&keyed, "MRN-1234568"));
    assert!(
        site.matches(&bare, mrn),
        "a digest from before keying is still checked"
    );
    assert!(!site.matches("not a digest", mrn));
}

#[tokio::test]
async fn trail_digests_are_keyed_and_verify() {
    let (dir, db) = common::sqlite().await;
    // An entry written before digests were keyed: bare SHA-256.
    let legacy = audit::append_one(
        &db,
        NewAuditEntry {
            actor: "careflow".into(),
            role: "system".into(),
            action: "patient.pseudonymised".into(),
            meaning: None,
            reason: None,
            workflow_id: None,
            step: None,
            input_digest: None,
            output_digest: Some(audit::sha256_json("PK-legacy")),
            idempotency_key: "patient/PK-legacy".into(),
        },
    )
    .await
    .expect("legacy entry");
    let key = patients::pseudonymise(&db, "MRN-7654321", Sex::Female, AgeGroup::Adult)
        .await
        .expect("pseudonymise");
    let entries = audit::entries(&db).await.expect("entries");
    let e = entries
        .iter()
        .find(|e| e.action == "patient.pseudonymised" && e.seq > legacy.seq)
        .expect("the pseudonymisation is audited");
    let stored = e.output_digest.as_deref().expect("output digest");
    assert_eq!(stored, db.digest(&key));
    assert_ne!(stored, audit::sha256_json(&key));
    assert!(db.digest_key().matches(stored, &key));
    // The legacy entry is recognised by its scheme and still checks.
    let old = legacy.output_digest.as_deref().unwrap();
    assert_eq!(DigestScheme::of(old), Some(DigestScheme::Sha256));
    assert!(db.digest_key().matches(old, "PK-legacy"));
    // The chain, old and new entries alike, verifies, and against its anchor.
    assert_eq!(audit::ensure_intact(&db).await.expect("intact"), 2);
    let akey = careflow_testkit::db::test_audit_key();
    let path = anchor::anchor_file(dir.path());
    anchor::write_anchor(&db, &akey, &path)
        .await
        .expect("anchor")
        .expect("a new anchor");
    let v = anchor::verify(&db, &akey, &path).await.expect("verify");
    assert_eq!(v.verification.first_break, None);
    assert_eq!(v.unanchored, 0);
}
