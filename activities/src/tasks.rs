//! The approval task queue as people see it: list, read, claim.
//!
//! Tasks are created, escalated and decided by the workflow's activities (see
//! [`crate::admission`]); people claim them here and decide through the workflow, so
//! that each decision reaches the workflow exactly once.

use sqlx::Row;

use careflow_types::{NewAuditEntry, Role, TaskView};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};

const COLUMNS: &str =
    "task_id, workflow_id, kind, role, status, summary, proposed_bed, claimed_by, \
                       due_at, escalations, created_at, decided_by, decision_reason";

fn from_row(row: &sqlx::any::AnyRow) -> Result<TaskView> {
    Ok(TaskView {
        task_id: row.try_get("task_id")?,
        workflow_id: row.try_get("workflow_id")?,
        kind: row.try_get("kind")?,
        role: row.try_get("role")?,
        status: row.try_get("status")?,
        summary: row.try_get("summary")?,
        proposed_bed: row.try_get("proposed_bed")?,
        claimed_by: row.try_get("claimed_by")?,
        due_at: row.try_get("due_at")?,
        escalations: row.try_get("escalations")?,
        created_at: row.try_get("created_at")?,
        decided_by: row.try_get("decided_by")?,
        decision_reason: row.try_get("decision_reason")?,
    })
}

/// Open and claimed tasks of a role's queue, oldest due first.
pub async fn open_for_role(db: &Db, role: Role) -> Result<Vec<TaskView>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE role = $1 AND status IN ('open','claimed') ORDER BY due_at, task_id"
    ))
    .bind(role.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Every task of every queue (most recent first), for oversight.
pub async fn all(db: &Db, limit: i64) -> Result<Vec<TaskView>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks ORDER BY created_at DESC, task_id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// One task.
pub async fn get(db: &Db, task_id: &str) -> Result<TaskView> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tasks WHERE task_id = $1"))
        .bind(task_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
    from_row(&row)
}

/// Checks that `user` in `role` may decide `task` now, and says why not otherwise.
pub fn check_may_decide(task: &TaskView, user: &str, role: Role) -> Result<()> {
    match task.status.as_str() {
        "open" | "claimed" => {}
        "approved" | "rejected" => {
            return Err(Error::Conflict(format!(
                "task {} was already decided ({}) by {}; a second decision is refused",
                task.task_id,
                task.status,
                task.decided_by.as_deref().unwrap_or("someone")
            )));
        }
        other => {
            return Err(Error::Conflict(format!(
                "task {} is {other} and can no longer be decided",
                task.task_id
            )));
        }
    }
    if task.role != role.as_str() {
        return Err(Error::Forbidden(format!(
            "task {} is in the {} queue; role {} may not decide it",
            task.task_id, task.role, role
        )));
    }
    if let Some(holder) = &task.claimed_by {
        if holder != user {
            return Err(Error::Conflict(format!(
                "task {} is claimed by {holder}",
                task.task_id
            )));
        }
    }
    Ok(())
}

/// Claims a task for `user` so colleagues see who is working on it (audited).
pub async fn claim(db: &Db, task_id: &str, user: &str, role: Role) -> Result<TaskView> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tasks WHERE task_id = $1"))
        .bind(task_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("task {task_id}")))?;
    let task = from_row(&row)?;
    check_may_decide(&task, user, role)?;
    if task.claimed_by.as_deref() == Some(user) {
        return Ok(task);
    }
    let ts = now();
    sqlx::query(
        "UPDATE tasks SET status = 'claimed', claimed_by = $1, claimed_at = $2 WHERE task_id = $3",
    )
    .bind(user)
    .bind(&ts)
    .bind(task_id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: user.into(),
            role: role.as_str().into(),
            action: "task.claimed".into(),
            meaning: Some("took responsibility for deciding this task".into()),
            reason: None,
            workflow_id: Some(task.workflow_id.clone()),
            step: Some(format!("claim/{task_id}")),
            input_digest: None,
            output_digest: None,
            idempotency_key: format!("{task_id}/claim/{user}/{ts}"),
        },
    )
    .await?;
    tx.commit().await?;
    get(db, task_id).await
}
