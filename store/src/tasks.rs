//! Approval tasks: opened, escalated and decided by the workflows' one approval step;
//! listed, read and claimed by people.
//!
//! People claim a task here and decide through the workflow, so that each decision
//! reaches the workflow exactly once; the workflow then records it with
//! [`record_decision`], which checks again, against what is stored, that the decider
//! may decide (role, claim, not the requester) before anything is written.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use careflow_types::{Decision, NewAuditEntry, NewTask, Role, Signature, TaskKind, TaskView};

use crate::audit::{self, system_entry};
use crate::db::{now, Db};
use crate::error::{Error, Result};
use crate::signatures::{self, SignRequest};

/// What a signature on a task's decision is for.
pub fn signature_subject(task_id: &str) -> String {
    format!("task/{task_id}")
}

/// What the decider of a task signs: the task as its queue shows it (what is asked,
/// the proposal summarised with its figures and the model behind it, the bed proposed,
/// who asked) and their decision on it. Not the queue or the claim, which escalation
/// changes under a decision already signed.
#[derive(Serialize)]
struct SignedDecision<'a> {
    task_id: &'a str,
    workflow_id: &'a str,
    kind: &'a str,
    summary: &'a str,
    proposed_bed: Option<&'a str>,
    requested_by: Option<&'a str>,
    approve: bool,
    reason: &'a str,
    bed_id: Option<&'a str>,
}

/// SHA-256 of what the decider of `task` signs when deciding `approve` for `reason`
/// (naming `bed_id`).
pub fn signed_content_sha256(
    task: &TaskView,
    approve: bool,
    reason: &str,
    bed_id: Option<&str>,
) -> String {
    audit::sha256_json(&SignedDecision {
        task_id: &task.task_id,
        workflow_id: &task.workflow_id,
        kind: &task.kind,
        summary: &task.summary,
        proposed_bed: task.proposed_bed.as_deref(),
        requested_by: task.requested_by.as_deref(),
        approve,
        reason,
        bed_id,
    })
}

/// A decision on `task`, signed by `signer` with their password: checks the password
/// (lock-out, failures counted and audited) and writes the signature the decision must
/// then carry (`Decision::signature_id`) to be recorded.
pub async fn sign_decision(
    db: &Db,
    task: &TaskView,
    signer: &str,
    password: &str,
    approve: bool,
    reason: &str,
    bed_id: Option<&str>,
) -> Result<Signature> {
    signatures::sign(
        db,
        &SignRequest {
            signer,
            password,
            meaning: if approve {
                careflow_types::SignatureMeaning::Approved
            } else {
                careflow_types::SignatureMeaning::Rejected
            },
            subject: signature_subject(&task.task_id),
            signed_sha256: signed_content_sha256(task, approve, reason, bed_id),
            workflow_id: Some(task.workflow_id.clone()),
        },
    )
    .await
}

const COLUMNS: &str =
    "task_id, workflow_id, kind, role, status, summary, proposed_bed, claimed_by, \
                       due_at, escalations, created_at, decided_by, decision_reason, requested_by, \
                       signature_id";

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
        requested_by: row.try_get("requested_by")?,
        signature_id: row.try_get("signature_id")?,
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
    if task.requested_by.as_deref() == Some(user) {
        return Err(Error::Forbidden(format!(
            "task {} approves work that {user} asked for; someone else must decide it",
            task.task_id
        )));
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

/// Opens an approval task in a role's queue (idempotent by task id).
pub async fn open(db: &Db, task: &NewTask) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO tasks (task_id, workflow_id, kind, role, status, summary, proposed_bed, due_at, \
         escalations, created_at, requested_by) VALUES ($1,$2,$3,$4,'open',$5,$6,$7,0,$8,$9) \
         ON CONFLICT (task_id) DO NOTHING",
    )
    .bind(&task.task_id)
    .bind(&task.workflow_id)
    .bind(task.kind.as_str())
    .bind(task.role.as_str())
    .bind(&task.summary)
    .bind(&task.proposed_bed)
    .bind(&task.due_at)
    .bind(now())
    .bind(&task.requested_by)
    .execute(&mut *tx)
    .await?;
    let mut entry = system_entry(
        &task.workflow_id,
        &format!("task/{}", task.task_id),
        "task.opened",
    );
    entry.input_digest = Some(db.digest(task));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// An undecided task moving to a higher queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Escalation {
    /// Task.
    pub task_id: String,
    /// Workflow.
    pub workflow_id: String,
    /// Queue that now owns the task.
    pub to_role: Role,
    /// New deadline (RFC 3339).
    pub due_at: String,
    /// Escalation number (1, 2...).
    pub escalation: u32,
}

/// Moves an undecided task to a higher queue with a new deadline; a claim by someone
/// in the old queue lapses with it. Idempotent by escalation number.
pub async fn escalate(db: &Db, input: &Escalation) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE tasks SET role = $1, due_at = $2, escalations = $3, status = 'open', claimed_by = NULL, \
         claimed_at = NULL WHERE task_id = $4 AND status IN ('open','claimed') AND escalations < $3",
    )
    .bind(input.to_role.as_str())
    .bind(&input.due_at)
    .bind(input.escalation as i64)
    .bind(&input.task_id)
    .execute(&mut *tx)
    .await?;
    let step = format!("task/{}/escalate/{}", input.task_id, input.escalation);
    let mut entry = system_entry(&input.workflow_id, &step, "task.escalated");
    entry.input_digest = Some(db.digest(input));
    entry.reason = Some(format!(
        "no decision before the deadline; moved to {}",
        input.to_role
    ));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// What [`record_decision`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The decision is on the task and in the audit trail (or already was: a retry).
    Recorded,
    /// The decision was refused, and the refusal audited; the task stays open.
    Refused(String),
}

/// Records a person's decision on the task and in the audit trail: who, what, when,
/// why, and the meaning of the signature.
///
/// Checks again, against what is stored, what the API and the workflow checked before
/// the decision reached the workflow: the task is undecided, the decider is a user
/// who holds the task's role, holds the claim if there is one, and did not ask for the
/// work; and the decision carries the decider's unused signature for this task and
/// this content ([`sign_decision`]), which it then uses up. A decision that fails is
/// not recorded; its refusal is audited, so a forged update sent straight to Temporal
/// leaves a trace and changes nothing.
pub async fn record_decision(
    db: &Db,
    workflow_id: &str,
    kind: TaskKind,
    d: &Decision,
) -> Result<Recorded> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tasks WHERE task_id = $1"))
        .bind(&d.task_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("task {}", d.task_id)))?;
    let task = from_row(&row)?;
    let decided_status = if d.approve { "approved" } else { "rejected" };
    if task.status == decided_status && task.decided_by.as_deref() == Some(d.actor.as_str()) {
        // Recorded by an earlier attempt of this step.
        return Ok(Recorded::Recorded);
    }
    let holder_role: Option<String> = sqlx::query("SELECT role FROM users WHERE user_name = $1")
        .bind(&d.actor)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()?;
    let refusal = match holder_role {
        None => Some(format!("{} is not a careflow user", d.actor)),
        Some(r) if r != d.role.as_str() => Some(format!(
            "{} holds role {r}, not {} as the decision claims",
            d.actor, d.role
        )),
        Some(_) => check_may_decide(&task, &d.actor, d.role)
            .err()
            .map(|e| e.to_string()),
    };
    let refusal = match refusal {
        Some(r) => Some(r),
        None => {
            let subject = signature_subject(&d.task_id);
            let content = signed_content_sha256(&task, d.approve, &d.reason, d.bed_id.as_deref());
            let expected = signatures::Expected {
                actor: &d.actor,
                subject: &subject,
                meaning: d.signature_meaning(),
                signed_sha256: &content,
            };
            signatures::check_unused_in(&mut tx, d.signature_id.as_deref(), &expected).await?
        }
    };
    if let Some(reason) = refusal {
        let mut entry = system_entry(
            workflow_id,
            &format!("task/{}/refused/{}", d.task_id, db.digest(d)),
            "task.decision_refused",
        );
        entry.reason = Some(reason.clone());
        entry.input_digest = Some(db.digest(d));
        audit::append(&mut tx, entry).await?;
        tx.commit().await?;
        return Ok(Recorded::Refused(reason));
    }
    let signature_id = d.signature_id.as_deref().expect("checked above");
    if !signatures::mark_used_in(&mut tx, signature_id).await? {
        return Err(Error::Conflict(format!(
            "signature {signature_id} was used meanwhile"
        )));
    }
    sqlx::query(
        "UPDATE tasks SET status = $1, decided_by = $2, decided_role = $3, decided_at = $4, \
         decision_reason = $5, signature_id = $6 WHERE task_id = $7 AND status IN ('open','claimed')",
    )
    .bind(decided_status)
    .bind(&d.actor)
    .bind(d.role.as_str())
    .bind(now())
    .bind(&d.reason)
    .bind(signature_id)
    .bind(&d.task_id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: d.actor.clone(),
            role: d.role.as_str().into(),
            action: if d.approve {
                "task.approved"
            } else {
                "task.rejected"
            }
            .into(),
            meaning: Some(d.meaning(kind).into()),
            reason: Some(d.reason.clone()),
            workflow_id: Some(workflow_id.to_owned()),
            step: Some(format!("task/{}/decision", d.task_id)),
            input_digest: Some(db.digest(d)),
            output_digest: None,
            idempotency_key: format!("{workflow_id}/task/{}/decision", d.task_id),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Recorded::Recorded)
}
