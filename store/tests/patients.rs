//! Pseudonymisation: one stable random key per MRN, never derived from it.

mod common;

use careflow_store::patients::{pseudonymise, KEY_PREFIX};
use careflow_types::{AgeGroup, Sex};

#[tokio::test]
async fn one_stable_key_per_patient_that_does_not_reveal_the_mrn() {
    let (_dir, db) = common::sqlite().await;
    let a1 = pseudonymise(&db, "MRN-0001", Sex::Female, AgeGroup::Adult)
        .await
        .expect("key");
    let a2 = pseudonymise(&db, "MRN-0001", Sex::Female, AgeGroup::Adult)
        .await
        .expect("key");
    let b = pseudonymise(&db, "MRN-0002", Sex::Male, AgeGroup::Elderly)
        .await
        .expect("key");
    assert_eq!(a1, a2, "the same patient keeps one key");
    assert_ne!(a1, b);
    assert!(a1.starts_with(KEY_PREFIX) && !a1.contains("0001"), "{a1}");
    // Keys are random, not a hash of the MRN: a fresh database gives another key.
    let (_dir2, db2) = common::sqlite().await;
    let other = pseudonymise(&db2, "MRN-0001", Sex::Female, AgeGroup::Adult)
        .await
        .expect("key");
    assert_ne!(a1, other);
    // The audit trail records the pseudonymisation without the MRN.
    let entries = careflow_store::audit::entries(&db).await.expect("audit");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "patient.pseudonymised")
            .count(),
        2
    );
    assert!(!serde_json::to_string(&entries)
        .expect("json")
        .contains("MRN-"));
}

#[tokio::test]
async fn concurrent_first_sightings_agree_on_one_key() {
    let db = common::postgres().await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(
                async move { pseudonymise(&db, "MRN-9", Sex::Male, AgeGroup::Adult).await },
            )
        })
        .collect();
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(t.await.expect("task").expect("key"));
    }
    keys.dedup();
    assert_eq!(keys.len(), 1, "{keys:?}");
}
