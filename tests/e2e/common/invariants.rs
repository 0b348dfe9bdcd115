//! The invariants every scenario ends with, from the database, the API and the audit
//! verifier.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use careflow::client::ApiClient;
use careflow_store::Db;

use super::{admission_statuses, Accepted, Node, FINAL};

/// What the end-of-test checks found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub admitted: usize,
    pub declined: usize,
    pub other_final: usize,
    /// Patients with more than one admission (client retries of lost requests).
    pub duplicate_patients: Vec<usize>,
    /// Patients holding two beds at once (through such duplicates).
    pub patients_in_two_beds: usize,
}

/// The invariants every scenario ends with:
/// - every accepted admission has its row, in a final state (no patient lost);
/// - every admission row is final (nothing stuck half-way);
/// - no bed holds two active assignments, no admission holds two beds;
/// - an admitted admission holds exactly one bed and has exactly one `bed_assigned`
///   audit entry; a declined one holds none (no step ran twice);
/// - each workflow has exactly one `admission.requested` entry;
/// - one admission per patient, even where a request was lost in flight and retried
///   (the retry carries the same Idempotency-Key).
pub async fn check_invariants(
    db: &Db,
    accepted: &[Accepted],
    ambiguous: &HashSet<usize>,
) -> Outcome {
    let rows = sqlx::query(
        "SELECT a.admission_id, a.workflow_id, p.patient_ref, a.status FROM admissions a \
         JOIN patients p ON p.patient_key = a.patient_key",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let mut by_id = HashMap::new();
    let mut per_patient: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        let id: String = r.get(0);
        let status: String = r.get(3);
        assert!(
            FINAL.contains(&status.as_str()),
            "admission {id} ended in non-final status {status}"
        );
        *per_patient.entry(r.get::<String, _>(2)).or_default() += 1;
        by_id.insert(id, (r.get::<String, _>(1), status));
    }
    let mut out = Outcome::default();
    for a in accepted {
        let (wf, status) = by_id
            .get(&a.admission_id)
            .unwrap_or_else(|| panic!("accepted admission {} has no row", a.admission_id));
        assert_eq!(wf, &a.workflow_id);
        match status.as_str() {
            "admitted" => out.admitted += 1,
            "declined" => out.declined += 1,
            _ => out.other_final += 1,
        }
        let patient = format!("E2E-{:06}", a.n);
        let admissions_of_patient = per_patient.get(&patient).copied().unwrap_or(0);
        if admissions_of_patient > 1 {
            out.duplicate_patients.push(a.n);
        }
        assert_eq!(
            admissions_of_patient,
            1,
            "patient #{} has {admissions_of_patient} admissions (request lost and retried: {})",
            a.n,
            ambiguous.contains(&a.n)
        );
    }

    // No patient in two beds (a retried lost request must not admit twice).
    out.patients_in_two_beds = sqlx::query(
        "SELECT a.patient_key FROM bed_assignments b JOIN admissions a ON a.admission_id = b.admission_id \
         WHERE b.released_at IS NULL GROUP BY a.patient_key HAVING COUNT(*) > 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .len();
    assert_eq!(out.patients_in_two_beds, 0, "patients holding two beds");
    let double_beds = sqlx::query(
        "SELECT bed_id, COUNT(*) FROM bed_assignments WHERE released_at IS NULL \
         GROUP BY bed_id HAVING COUNT(*) > 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(
        double_beds.is_empty(),
        "{} beds assigned twice",
        double_beds.len()
    );
    let double_admissions = sqlx::query(
        "SELECT admission_id, COUNT(*) FROM bed_assignments WHERE released_at IS NULL \
         GROUP BY admission_id HAVING COUNT(*) > 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    assert!(
        double_admissions.is_empty(),
        "{} admissions hold two beds",
        double_admissions.len()
    );

    let active: HashMap<String, i64> = sqlx::query(
        "SELECT admission_id, COUNT(*) FROM bed_assignments WHERE released_at IS NULL GROUP BY admission_id",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
    .collect();
    let audit_counts = |action: &'static str| async move {
        sqlx::query(
            "SELECT workflow_id, COUNT(*) FROM audit_log WHERE action = $1 GROUP BY workflow_id",
        )
        .bind(action)
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect::<HashMap<String, i64>>()
    };
    let assigned = audit_counts("admission.bed_assigned").await;
    let requested = audit_counts("admission.requested").await;
    for (id, (wf, status)) in &by_id {
        let beds = active.get(id).copied().unwrap_or(0);
        let assigned_entries = assigned.get(wf).copied().unwrap_or(0);
        match status.as_str() {
            "admitted" => {
                assert_eq!(beds, 1, "admitted admission {id} holds {beds} beds");
                assert_eq!(
                    assigned_entries, 1,
                    "admission {id} has {assigned_entries} bed_assigned audit entries"
                );
            }
            "declined" | "cancelled" => {
                assert_eq!(beds, 0, "{status} admission {id} holds a bed");
                assert_eq!(
                    assigned_entries, 0,
                    "{status} admission {id} was assigned a bed"
                );
            }
            _ => {}
        }
        assert_eq!(
            requested.get(wf).copied().unwrap_or(0),
            1,
            "admission {id} must have exactly one admission.requested entry"
        );
    }
    out
}

/// Fails unless `careflow audit verify` exits 0 for the node's database.
pub async fn assert_audit_verifies(node: &Node) -> String {
    let out = node.cli(&["audit", "verify"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "careflow audit verify failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_owned()
}

/// Checks, through the API (the workflows' own status query), that each accepted
/// admission's workflow ended in the stage its database row says.
pub async fn assert_api_agrees(api: &ApiClient, db: &Db, accepted: &[Accepted]) {
    let statuses = admission_statuses(db).await;
    for chunk in accepted.chunks(8) {
        let answers =
            futures::future::join_all(chunk.iter().map(|a| api.admission_status(&a.workflow_id)))
                .await;
        for (a, answer) in chunk.iter().zip(answers) {
            let status =
                answer.unwrap_or_else(|e| panic!("status of {} unavailable: {e:?}", a.workflow_id));
            let stage = serde_json::to_value(status.stage).unwrap();
            let stage = stage.as_str().unwrap();
            let row = &statuses[&a.admission_id];
            let expected = match row.as_str() {
                "discharged" => "admitted",
                s => s,
            };
            assert_eq!(stage, expected, "workflow {} vs its row", a.workflow_id);
        }
    }
}
