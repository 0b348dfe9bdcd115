//! What the domain database shows during and after a run: admission states, audit
//! sequence numbers, row counts and the approval tasks.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::Row;

use careflow_store::Db;
use careflow_testkit::poll;

use super::{Accepted, Node};

/// Waits until every accepted admission's row is final and no workflow runs any more
/// (the row turns final one step before the workflow completes).
pub async fn wait_until_all_final(node: &Node, db: &Db, accepted: &[Accepted], patience: Duration) {
    let ids: Vec<String> = accepted.iter().map(|a| a.admission_id.clone()).collect();
    poll(
        "every admission to finish",
        patience,
        Duration::from_millis(200),
        || async {
            node.assert_alive();
            let now = admission_statuses(db).await;
            ids.iter()
                .all(|id| now.get(id).is_some_and(|s| FINAL.contains(&s.as_str())))
                .then_some(())
        },
    )
    .await;
    poll(
        "every workflow to complete in Temporal",
        Duration::from_secs(120),
        Duration::from_millis(250),
        || async { (node.workflow_count("ExecutionStatus=\"Running\"").await == 0).then_some(()) },
    )
    .await;
}

/// Final admission states in the domain database.
pub const FINAL: [&str; 4] = ["admitted", "declined", "cancelled", "discharged"];

/// admission_id -> status, for every admission row.
pub async fn admission_statuses(db: &Db) -> BTreeMap<String, String> {
    sqlx::query("SELECT admission_id, status FROM admissions")
        .fetch_all(db.pool())
        .await
        .expect("read admissions")
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect()
}

/// Highest audit sequence number (0 when empty).
pub async fn audit_seq(db: &Db) -> i64 {
    sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
        .fetch_one(db.pool())
        .await
        .expect("read audit_log")
        .get::<i64, _>(0)
}

/// Highest sequence number of an audit entry written by a workflow's activity (the
/// API's own writes, such as pseudonymising a new patient, carry no workflow id).
pub async fn activity_seq(db: &Db) -> i64 {
    sqlx::query("SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE workflow_id IS NOT NULL")
        .fetch_one(db.pool())
        .await
        .expect("read audit_log")
        .get::<i64, _>(0)
}

/// Count of rows of a table.
pub async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(db.pool())
        .await
        .expect("count")
        .get::<i64, _>(0)
}

/// Approval tasks of kind `no_bed`, and how many of them were opened although the
/// search counted free beds on the patient's specialty (the bed was lost to a
/// concurrent admission `MAX_AUTOMATIC_ATTEMPTS` times, not missing).
pub async fn no_bed_tasks(db: &Db) -> (usize, usize) {
    let rows = sqlx::query("SELECT summary FROM tasks WHERE kind = 'no_bed'")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let with_free = rows
        .iter()
        .filter(|r| {
            let summary: String = r.get(0);
            // "... N free bed(s) on SPECIALTY wards ..."
            summary
                .split(" free bed(s)")
                .next()
                .and_then(|head| head.rsplit(' ').next())
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n > 0)
        })
        .count();
    (rows.len(), with_free)
}

/// Approval tasks by kind and status, and how many admissions had one: shows how much
/// of a run needed a person.
pub async fn task_summary(db: &Db) -> String {
    let rows = sqlx::query(
        "SELECT kind, status, COUNT(*), COUNT(DISTINCT workflow_id) FROM tasks GROUP BY kind, status",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let with_task: i64 = sqlx::query("SELECT COUNT(DISTINCT workflow_id) FROM tasks")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get(0);
    let parts: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{}/{}: {} tasks of {} admissions",
                r.get::<String, _>(0),
                r.get::<String, _>(1),
                r.get::<i64, _>(2),
                r.get::<i64, _>(3)
            )
        })
        .collect();
    // An approved bed is not held while the person decides: if it is gone by the
    // assignment, the workflow searches again and asks again.
    let unavailable = sqlx::query(
        "SELECT COUNT(*), COUNT(DISTINCT workflow_id), \
                SUM(CASE WHEN workflow_id IN (SELECT workflow_id FROM tasks) THEN 1 ELSE 0 END) \
         FROM audit_log WHERE action = 'admission.bed_unavailable'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    format!(
        "{with_task} admissions needed a person; {}; {} assignments found the chosen bed taken \
         ({} admissions; {} of these in admissions that had an approval task)",
        parts.join(", "),
        unavailable.get::<i64, _>(0),
        unavailable.get::<i64, _>(1),
        unavailable.get::<Option<i64>, _>(2).unwrap_or(0)
    )
}
