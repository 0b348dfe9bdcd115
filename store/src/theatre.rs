//! The week's operating-theatre lists: each revision as proposed (with the decision
//! step and input snapshot that made it), its publication or rejection, the list in
//! force that a re-plan starts from, and the withdrawal of an open proposal when the
//! week's workflow is cancelled.
//!
//! One list is in force per week (a unique index); publishing a revision supersedes the
//! one in force in the same transaction, and every change is audited in the
//! transaction that makes it. The SQL is the one in [`crate::proposals`], shared with
//! the scanner bookings and the nurse rosters.

use careflow_types::{ListConclusion, TheatreListProposal, TheatreListRecord};

use crate::db::Db;
use crate::decisions::NewDecisionStep;
use crate::error::Result;
use crate::proposals::{self, Conclusion, Kind, Proposed, Stored};

/// The theatre lists' table.
pub(crate) const KIND: Kind = Kind {
    table: "theatre_lists",
    id_column: "list_id",
    noun: "theatre list",
    action: "theatre_list",
    period: &["week_start"],
    concluded: "published",
    supersedes: true,
};

/// The proposal stored for `list_id` at `revision`, if a step stored one.
pub async fn stored_proposal(
    db: &Db,
    list_id: &str,
    revision: u32,
) -> Result<Option<TheatreListProposal>> {
    proposals::stored(db, &KIND, list_id, revision).await
}

/// Stores a proposed revision (or an infeasible one, when it names conflicts) together
/// with the decision step that made it and its input snapshot, audited, in one
/// transaction. The first proposal stored for a revision is the answer: a second
/// attempt's is dropped and the stored one returned.
pub async fn store_proposal(
    db: &Db,
    workflow_id: &str,
    requested_by: &str,
    proposal: &TheatreListProposal,
    step: &NewDecisionStep,
) -> Result<TheatreListProposal> {
    let revision = proposal.revision;
    let infeasible = proposal.is_infeasible();
    let summary = if infeasible {
        proposal.conflicts.join("; ")
    } else {
        format!(
            "revision {revision}: {} cases booked, {} deferred, {} booked patients moved, \
             utilisation {:.0}%, expected overtime {:.0} min ({})",
            proposal.booked.len(),
            proposal.deferred.len(),
            proposal.changes.len(),
            proposal.utilisation * 100.0,
            proposal.expected_overtime_minutes,
            proposal.solver_status
        )
    };
    let row = Proposed {
        workflow_id,
        requested_by,
        id: &proposal.list_id,
        revision,
        period: &[&proposal.week_start],
        days: proposal.days,
        infeasible,
        solver_status: &proposal.solver_status,
        objective: proposal.objective,
        summary,
    };
    proposals::store(db, &KIND, row, proposal, step).await
}

/// Publishes a proposed revision (the list in force for its week is superseded) or
/// marks it rejected, audited with the proposal's digest. A revision already concluded
/// is left as it is (an earlier attempt of the same step).
pub async fn conclude(
    db: &Db,
    workflow_id: &str,
    list_id: &str,
    revision: u32,
    conclusion: &ListConclusion,
) -> Result<()> {
    let c = match conclusion {
        ListConclusion::Decided(d) => Conclusion {
            approve: d.approve,
            actor: &d.actor,
            role: d.role.as_str(),
            reason: &d.reason,
            audit_reason: format!(
                "revision {revision} {} by {} ({})",
                if d.approve { "approved" } else { "rejected" },
                d.actor,
                d.role
            ),
            meaning: None,
        },
        ListConclusion::PublishedUnchanged { reason } => Conclusion {
            approve: true,
            actor: "careflow",
            role: "system",
            reason,
            audit_reason: format!("revision {revision} published without approval: {reason}"),
            meaning: None,
        },
    };
    proposals::conclude(db, &KIND, workflow_id, list_id, revision, c).await
}

/// The list in force for the week starting `week_start`: what a re-plan warm-starts
/// from and measures its changes against.
pub async fn plan_in_force(db: &Db, week_start: &str) -> Result<Option<TheatreListProposal>> {
    proposals::in_force(db, &KIND, &[week_start]).await
}

/// The week's workflow was cancelled: its open proposal is withdrawn (`cancelled`) and
/// its open approval tasks closed, audited once. A list already in force stays in force.
pub async fn withdraw(db: &Db, workflow_id: &str, reason: &str) -> Result<()> {
    proposals::withdraw(db, &KIND, workflow_id, reason).await
}

fn record(s: Stored<TheatreListProposal>) -> TheatreListRecord {
    let [week_start]: [String; 1] = s.period.try_into().expect("one period column");
    TheatreListRecord {
        list_id: s.id,
        revision: s.revision,
        workflow_id: s.workflow_id,
        week_start,
        status: s.status,
        requested_by: s.requested_by,
        created_at: s.created_at,
        proposal: s.proposal,
        decided_by: s.decided_by,
        decided_at: s.decided_at,
        decision_reason: s.decision_reason,
    }
}

/// Every revision of a list, oldest first.
pub async fn revisions(db: &Db, list_id: &str) -> Result<Vec<TheatreListRecord>> {
    let rows = proposals::revisions(db, &KIND, list_id).await?;
    Ok(rows.into_iter().map(record).collect())
}

/// The most recently proposed revisions of all lists, newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<TheatreListRecord>> {
    let rows = proposals::latest(db, &KIND, limit).await?;
    Ok(rows.into_iter().map(record).collect())
}

#[cfg(test)]
mod tests {
    use careflow_types::{Decision, ForecastProvenance, Role};

    use sqlx::Row;

    use super::*;
    use crate::audit;
    use crate::decisions::{self, ModelUse, NewDecisionStep};

    fn proposal(revision: u32, week_start: &str) -> TheatreListProposal {
        TheatreListProposal {
            list_id: "week-1".into(),
            revision,
            week_start: week_start.into(),
            days: 5,
            from_day: 0,
            solver_status: "optimal".into(),
            objective: 42.0,
            mip_gap: Some(0.0),
            solve_seconds: 0.1,
            booked: Vec::new(),
            sessions: Vec::new(),
            deferred: Vec::new(),
            changes: Vec::new(),
            utilisation: 0.8,
            target_utilisation: 0.85,
            sessions_below_target: 1,
            expected_overtime_minutes: 12.0,
            conflicts: Vec::new(),
            durations: ForecastProvenance {
                model_name: "surgery-duration".into(),
                model_version: "1.0.0".into(),
                model_sha256: "ab".repeat(32),
                execution_provider: "CPUExecutionProvider".into(),
                origin: week_start.into(),
                horizon_hours: 120,
            },
            decision_step: format!("solve/r{revision}"),
            snapshot_sha256: String::new(),
            replanned_after: Vec::new(),
        }
    }

    fn step(revision: u32, json: &str) -> NewDecisionStep {
        NewDecisionStep {
            workflow_id: "wf-week-1".into(),
            step: format!("solve/r{revision}"),
            kind: "theatre_booking.input".into(),
            snapshot_json: json.into(),
            models: vec![ModelUse {
                name: "surgery-duration".into(),
                version: "1.0.0".into(),
                sha256: "ab".repeat(32),
            }],
            solver: Some("HiGHS".into()),
            solver_version: Some("1.16.0".into()),
            careflow_version: "0.1.0".into(),
            seed: Some(u64::MAX),
            time_limit_s: Some(5.0),
            threads: Some(1),
            result_digest: "cd".repeat(32),
        }
    }

    async fn status(db: &Db, revision: u32) -> String {
        sqlx::query("SELECT status FROM theatre_lists WHERE list_id = 'week-1' AND revision = $1")
            .bind(i64::from(revision))
            .fetch_one(db.pool())
            .await
            .expect("row")
            .get("status")
    }

    async fn lifecycle(db: &Db) {
        let json = r#"{"days":5,"cases":[]}"#;
        let stored = store_proposal(
            db,
            "wf-week-1",
            "theatre.tom",
            &proposal(0, "2026-12-07"),
            &step(0, json),
        )
        .await
        .expect("store");
        assert_eq!(stored.objective, 42.0);
        // A retried step changes nothing: the first proposal and step stand.
        let mut second = proposal(0, "2026-12-07");
        second.objective = 1.0;
        let again = store_proposal(db, "wf-week-1", "theatre.tom", &second, &step(0, "{}"))
            .await
            .expect("store again");
        assert_eq!(again.objective, 42.0);
        let recorded = decisions::step(db, "wf-week-1", "solve/r0")
            .await
            .expect("read")
            .expect("step");
        assert_eq!(recorded.snapshot_sha256, decisions::sha256_hex(json));
        assert_eq!(recorded.seed, Some(u64::MAX), "64-bit seeds survive BIGINT");
        assert_eq!(recorded.threads, Some(1));
        assert_eq!(recorded.models[0].name, "surgery-duration");
        let snap = decisions::snapshot(db, &recorded.snapshot_sha256)
            .await
            .expect("read")
            .expect("snapshot");
        assert_eq!(snap.json, json);
        assert!(plan_in_force(db, "2026-12-07")
            .await
            .expect("read")
            .is_none());

        let approve = Decision {
            task_id: "t".into(),
            approve: true,
            actor: "theatre.tess".into(),
            role: Role::TheatreAdmin,
            reason: "lists agreed at the weekly meeting".into(),
            bed_id: None,
            signature_id: None,
        };
        conclude(
            db,
            "wf-week-1",
            "week-1",
            0,
            &ListConclusion::Decided(approve.clone()),
        )
        .await
        .expect("publish");
        assert_eq!(status(db, 0).await, "published");
        assert_eq!(
            plan_in_force(db, "2026-12-07")
                .await
                .expect("read")
                .map(|p| p.revision),
            Some(0)
        );
        // A re-plan that moves nobody is published by careflow and supersedes revision 0.
        store_proposal(
            db,
            "wf-week-1",
            "nurse.nia",
            &proposal(1, "2026-12-07"),
            &step(1, json),
        )
        .await
        .expect("store r1");
        let unchanged = ListConclusion::PublishedUnchanged {
            reason: "no booked patient moves".into(),
        };
        conclude(db, "wf-week-1", "week-1", 1, &unchanged)
            .await
            .expect("publish r1");
        assert_eq!(
            (status(db, 0).await, status(db, 1).await),
            ("superseded".into(), "published".into())
        );
        // Concluding again (a retried step) changes nothing.
        let reject = ListConclusion::Decided(Decision {
            approve: false,
            ..approve
        });
        conclude(db, "wf-week-1", "week-1", 1, &reject)
            .await
            .expect("again");
        assert_eq!(status(db, 1).await, "published");
        // A cancelled week withdraws its open proposal; the list in force stays.
        store_proposal(
            db,
            "wf-week-1",
            "nurse.nia",
            &proposal(2, "2026-12-07"),
            &step(2, "[]"),
        )
        .await
        .expect("store r2");
        withdraw(db, "wf-week-1", "week cancelled")
            .await
            .expect("withdraw");
        assert_eq!(
            (status(db, 1).await, status(db, 2).await),
            ("published".into(), "cancelled".into())
        );
        let records = revisions(db, "week-1").await.expect("revisions");
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].decided_by.as_deref(), Some("careflow"));

        // Both snapshots used by three steps are stored once each.
        let snapshots: i64 = sqlx::query("SELECT COUNT(*) AS n FROM decision_snapshots")
            .fetch_one(db.pool())
            .await
            .expect("count")
            .get("n");
        assert_eq!(snapshots, 2);
        let actions: Vec<String> = audit::entries_for_workflow(db, "wf-week-1")
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                "decision.recorded",
                "theatre_list.proposed",
                "theatre_list.published",
                "decision.recorded",
                "theatre_list.proposed",
                "theatre_list.published",
                "decision.recorded",
                "theatre_list.proposed",
                "theatre_list.withdrawn",
            ]
        );
        assert_eq!(audit::verify(db).await.expect("verify").first_break, None);

        // An edited snapshot is refused on read.
        sqlx::query("UPDATE decision_snapshots SET json = '{}' WHERE sha256 = $1")
            .bind(&recorded.snapshot_sha256)
            .execute(db.pool())
            .await
            .expect("tamper");
        let err = decisions::snapshot(db, &recorded.snapshot_sha256)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("was altered"), "{err}");
    }

    #[tokio::test]
    async fn a_week_is_proposed_published_replanned_and_withdrawn_on_sqlite() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = Db::connect(&Db::sqlite_url(&dir.path().join("careflow.db")))
            .await
            .expect("db");
        lifecycle(&db).await;
    }

    #[tokio::test]
    async fn a_week_is_proposed_published_replanned_and_withdrawn_on_postgres() {
        let base = std::env::var("CAREFLOW_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!(
            "cf_theatre_{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_nanos()
        );
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&base)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let db = Db::connect(&format!("{base}?options=-c%20search_path%3D{schema}"))
            .await
            .expect("postgres schema");
        lifecycle(&db).await;
    }
}
