//! What the week/roster/booking processes share in the store: withdrawing a cancelled
//! workflow's open proposal together with its open approval tasks.

use crate::audit::{self, system_entry};
use crate::{Db, Result};

/// The workflow was cancelled: its open proposal in `table` is withdrawn (`cancelled`)
/// and its open approval tasks closed, audited once as `action`. A plan already in
/// force stays. `table` is one of the store's own table names, never caller input.
pub(crate) async fn withdraw(
    db: &Db,
    table: &'static str,
    action: &'static str,
    workflow_id: &str,
    reason: &str,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let withdrawn = sqlx::query(&format!(
        "UPDATE {table} SET status = 'cancelled', decision_reason = $1 \
         WHERE workflow_id = $2 AND status = 'proposed'"
    ))
    .bind(reason)
    .bind(workflow_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let tasks = sqlx::query(
        "UPDATE tasks SET status = 'cancelled' WHERE workflow_id = $1 AND status IN ('open','claimed')",
    )
    .bind(workflow_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let mut entry = system_entry(workflow_id, "withdraw", action);
    entry.reason = Some(format!(
        "{reason}: {withdrawn} open proposal(s) withdrawn, {tasks} open task(s) closed"
    ));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}
