//! A ward's nurse rosters: each revision as proposed (with the decision step and input
//! snapshot that made it), its publication or rejection, the roster in force that a
//! re-roster starts from, and the withdrawal of an open proposal when the roster's
//! workflow is cancelled.
//!
//! One roster is in force per ward and period (a unique index); publishing a revision
//! supersedes the one in force in the same transaction, and every change is audited in
//! the transaction that makes it. The SQL is the one in [`crate::proposals`], shared
//! with the theatre lists and the scanner bookings.

use careflow_types::{Decision, RosterProposal, RosterRecord};

use crate::db::Db;
use crate::decisions::NewDecisionStep;
use crate::error::Result;
use crate::proposals::{self, Conclusion, Kind, Proposed, Stored};

/// The rosters' table: one in force per ward and first day.
pub(crate) const KIND: Kind = Kind {
    table: "rosters",
    id_column: "roster_id",
    noun: "roster",
    action: "roster",
    period: &["ward", "start_date"],
    concluded: "published",
    supersedes: true,
};

/// The proposal stored for `roster_id` at `revision`, if a step stored one.
pub async fn stored_proposal(
    db: &Db,
    roster_id: &str,
    revision: u32,
) -> Result<Option<RosterProposal>> {
    proposals::stored(db, &KIND, roster_id, revision).await
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
    let revision = proposal.revision;
    let infeasible = proposal.is_infeasible();
    let summary = if infeasible {
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
    };
    let row = Proposed {
        workflow_id,
        requested_by,
        id: &proposal.roster_id,
        revision,
        period: &[&proposal.ward, &proposal.start_date],
        days: proposal.days,
        infeasible,
        solver_status: &proposal.solver_status,
        objective: proposal.objective,
        summary,
    };
    proposals::store(db, &KIND, row, proposal, step).await
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
    let c = Conclusion {
        approve: decision.approve,
        actor: &decision.actor,
        role: decision.role.as_str(),
        reason: &decision.reason,
        audit_reason: format!(
            "revision {revision} {} by {} ({})",
            if decision.approve {
                "approved"
            } else {
                "rejected"
            },
            decision.actor,
            decision.role
        ),
        meaning: None,
    };
    proposals::conclude(db, &KIND, workflow_id, roster_id, revision, c).await
}

/// The roster in force for `ward` from `start_date`: what a re-roster warm-starts from
/// and counts its changes against.
pub async fn roster_in_force(
    db: &Db,
    ward: &str,
    start_date: &str,
) -> Result<Option<RosterProposal>> {
    proposals::in_force(db, &KIND, &[ward, start_date]).await
}

/// The roster's workflow was cancelled: its open proposal is withdrawn (`cancelled`) and
/// its open approval tasks closed, audited once. A roster already in force stays.
pub async fn withdraw(db: &Db, workflow_id: &str, reason: &str) -> Result<()> {
    proposals::withdraw(db, &KIND, workflow_id, reason).await
}

fn record(s: Stored<RosterProposal>) -> RosterRecord {
    let [ward, start_date]: [String; 2] = s.period.try_into().expect("two period columns");
    RosterRecord {
        roster_id: s.id,
        revision: s.revision,
        workflow_id: s.workflow_id,
        ward,
        start_date,
        status: s.status,
        requested_by: s.requested_by,
        created_at: s.created_at,
        proposal: s.proposal,
        decided_by: s.decided_by,
        decided_at: s.decided_at,
        decision_reason: s.decision_reason,
    }
}

/// Every revision of a roster, oldest first.
pub async fn revisions(db: &Db, roster_id: &str) -> Result<Vec<RosterRecord>> {
    let rows = proposals::revisions(db, &KIND, roster_id).await?;
    Ok(rows.into_iter().map(record).collect())
}

/// The most recently proposed revisions of all rosters, newest first (the ward
/// dashboard).
pub async fn list(db: &Db, limit: i64) -> Result<Vec<RosterRecord>> {
    let rows = proposals::latest(db, &KIND, limit).await?;
    Ok(rows.into_iter().map(record).collect())
}
