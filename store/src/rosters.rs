//! A ward's nurse rosters: each revision as proposed (with the decision step and input
//! snapshot that made it), its publication or rejection, the roster in force that a
//! re-roster starts from, and the withdrawal of an open proposal when the roster's
//! workflow is cancelled.
//!
//! One roster is in force per ward and period (a unique index); publishing a revision
//! supersedes the one in force in the same transaction, and every change is audited in
//! the transaction that makes it.

use sha2::{Digest, Sha256};
use sqlx::Row;

use careflow_types::{Decision, RosterProposal, RosterRecord};

use crate::audit::{self, digest, system_entry};
use crate::db::{now, Db};
use crate::decisions::{self, NewDecisionStep};
use crate::error::{Error, Result};

/// The proposal stored for `roster_id` at `revision`, if a step stored one.
pub async fn stored_proposal(
    db: &Db,
    roster_id: &str,
    revision: u32,
) -> Result<Option<RosterProposal>> {
    let row =
        sqlx::query("SELECT proposal_json FROM rosters WHERE roster_id = $1 AND revision = $2")
            .bind(roster_id)
            .bind(i64::from(revision))
            .fetch_optional(db.pool())
            .await?;
    row.map(|r| {
        proposal_of(
            roster_id,
            revision,
            &r.try_get::<String, _>("proposal_json")?,
        )
    })
    .transpose()
}

fn proposal_of(roster_id: &str, revision: u32, json: &str) -> Result<RosterProposal> {
    serde_json::from_str(json)
        .map_err(|e| Error::Corrupt(format!("roster {roster_id} revision {revision}: {e}")))
}

/// Stores a proposed revision (or an infeasible one, when it names conflicts) together
/// with the decision step that made it and its input snapshot, audited, in one
/// transaction. The first proposal stored for a revision is the answer: a second
/// attempt's is dropped and the stored one returned.
pub async fn store_proposal(
    db: &Db,
    workflow_id: &str,
    requested_by: &str,
    proposal: &RosterProposal,
    step: &NewDecisionStep,
) -> Result<RosterProposal> {
    let (roster_id, revision) = (proposal.roster_id.as_str(), proposal.revision);
    let infeasible = proposal.is_infeasible();
    let mut tx = db.begin_write().await?;
    let recorded = decisions::record_in(&mut tx, step).await?;
    sqlx::query(
        "INSERT INTO rosters (roster_id, revision, workflow_id, ward, start_date, days, status, \
         requested_by, created_at, decision_step, snapshot_sha256, solver_status, objective, proposal_json) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) ON CONFLICT (roster_id, revision) DO NOTHING",
    )
    .bind(roster_id)
    .bind(i64::from(revision))
    .bind(workflow_id)
    .bind(&proposal.ward)
    .bind(&proposal.start_date)
    .bind(i64::from(proposal.days))
    .bind(if infeasible { "infeasible" } else { "proposed" })
    .bind(requested_by)
    .bind(now())
    .bind(&recorded.step)
    .bind(&recorded.snapshot_sha256)
    .bind(&proposal.solver_status)
    .bind(proposal.objective)
    .bind(serde_json::to_string(proposal).expect("proposal serialises"))
    .execute(&mut *tx)
    .await?;
    let mut entry = system_entry(
        workflow_id,
        &format!("propose/r{revision}"),
        if infeasible {
            "roster.infeasible"
        } else {
            "roster.proposed"
        },
    );
    entry.reason = Some(if infeasible {
        proposal.conflicts.join("; ")
    } else {
        format!(
            "revision {revision}: {} shifts, {} nurse-shifts short, {} requested days off not \
             granted, {} cells changed ({})",
            proposal.assignments.len(),
            proposal.nurse_shifts_short,
            proposal.unmet_requests.len(),
            proposal.changes.len(),
            proposal.solver_status
        )
    });
    entry.input_digest = Some(recorded.snapshot_sha256.clone());
    entry.output_digest = Some(digest(proposal));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(stored_proposal(db, roster_id, revision)
        .await?
        .unwrap_or_else(|| proposal.clone()))
}

/// Publishes a proposed revision (the roster in force for its ward and period is
/// superseded) or marks it rejected, as `decision` says, audited with the proposal's
/// digest. A revision already concluded is left as it is (an earlier attempt of the
/// same step).
pub async fn conclude(
    db: &Db,
    workflow_id: &str,
    roster_id: &str,
    revision: u32,
    decision: &Decision,
) -> Result<()> {
    let ts = now();
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT status, ward, start_date, proposal_json FROM rosters WHERE roster_id = $1 AND revision = $2",
    )
    .bind(roster_id)
    .bind(i64::from(revision))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("roster {roster_id} revision {revision}")))?;
    let status: String = row.try_get("status")?;
    if status != "proposed" {
        return Ok(());
    }
    let ward: String = row.try_get("ward")?;
    let start_date: String = row.try_get("start_date")?;
    let proposal_json: String = row.try_get("proposal_json")?;
    let publish = decision.approve;
    if publish {
        sqlx::query(
            "UPDATE rosters SET status = 'superseded' WHERE ward = $1 AND start_date = $2 AND status = 'published'",
        )
        .bind(&ward)
        .bind(&start_date)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE rosters SET status = $1, decided_by = $2, decided_role = $3, decided_at = $4, \
         decision_reason = $5 WHERE roster_id = $6 AND revision = $7",
    )
    .bind(if publish { "published" } else { "rejected" })
    .bind(&decision.actor)
    .bind(decision.role.as_str())
    .bind(&ts)
    .bind(&decision.reason)
    .bind(roster_id)
    .bind(i64::from(revision))
    .execute(&mut *tx)
    .await?;
    let mut entry = system_entry(
        workflow_id,
        &format!("conclude/r{revision}"),
        if publish {
            "roster.published"
        } else {
            "roster.rejected"
        },
    );
    entry.reason = Some(format!(
        "revision {revision} {} by {} ({})",
        if publish { "approved" } else { "rejected" },
        decision.actor,
        decision.role
    ));
    entry.output_digest = Some(hex::encode(Sha256::digest(proposal_json.as_bytes())));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// The roster in force for `ward` from `start_date`: what a re-roster warm-starts from
/// and counts its changes against.
pub async fn roster_in_force(
    db: &Db,
    ward: &str,
    start_date: &str,
) -> Result<Option<RosterProposal>> {
    let row = sqlx::query(
        "SELECT roster_id, revision, proposal_json FROM rosters \
         WHERE ward = $1 AND start_date = $2 AND status = 'published'",
    )
    .bind(ward)
    .bind(start_date)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let roster_id: String = row.try_get("roster_id")?;
    let revision = row.try_get::<i64, _>("revision")? as u32;
    proposal_of(
        &roster_id,
        revision,
        &row.try_get::<String, _>("proposal_json")?,
    )
    .map(Some)
}

/// The roster's workflow was cancelled: its open proposal is withdrawn (`cancelled`) and
/// its open approval tasks closed, audited once. A roster already in force stays.
pub async fn withdraw(db: &Db, workflow_id: &str, reason: &str) -> Result<()> {
    crate::proposals::withdraw(db, "rosters", "roster.withdrawn", workflow_id, reason).await
}

const RECORD_SQL: &str = "SELECT roster_id, revision, workflow_id, ward, start_date, status, \
                          requested_by, created_at, proposal_json, decided_by, decided_at, \
                          decision_reason FROM rosters";

fn record(row: &sqlx::any::AnyRow) -> Result<RosterRecord> {
    let roster_id: String = row.try_get("roster_id")?;
    let revision = row.try_get::<i64, _>("revision")? as u32;
    let proposal = proposal_of(
        &roster_id,
        revision,
        &row.try_get::<String, _>("proposal_json")?,
    )?;
    Ok(RosterRecord {
        workflow_id: row.try_get("workflow_id")?,
        ward: row.try_get("ward")?,
        start_date: row.try_get("start_date")?,
        status: row.try_get("status")?,
        requested_by: row.try_get("requested_by")?,
        created_at: row.try_get("created_at")?,
        proposal,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        decision_reason: row.try_get("decision_reason")?,
        roster_id,
        revision,
    })
}

/// Every revision of a roster, oldest first.
pub async fn revisions(db: &Db, roster_id: &str) -> Result<Vec<RosterRecord>> {
    let rows = sqlx::query(&format!(
        "{RECORD_SQL} WHERE roster_id = $1 ORDER BY revision"
    ))
    .bind(roster_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(record).collect()
}
