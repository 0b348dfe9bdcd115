//! A ward roster's life in the store, on SQLite and PostgreSQL: proposed with its
//! decision step and content-addressed snapshot (a retried step changes nothing),
//! published (superseding the roster in force for the ward and period), re-rostered,
//! rejected, withdrawn when the workflow is cancelled; every change audited in its
//! transaction, the chain intact.

mod common;

use sqlx::Row;

use careflow_store::decisions::{self, ModelUse, NewDecisionStep};
use careflow_store::{audit, rosters, Db};
use careflow_types::{
    Decision, Fairness, ForecastProvenance, Role, RosterAssignment, RosterProposal,
};

const WF: &str = "roster-medicine-2027-03-01";

fn proposal(revision: u32) -> RosterProposal {
    RosterProposal {
        roster_id: WF.into(),
        revision,
        ward: "medicine".into(),
        start_date: "2027-03-01".into(),
        days: 28,
        replanned_days: Vec::new(),
        solver_status: "optimal".into(),
        objective: 120.0,
        mip_gap: Some(0.0),
        solve_seconds: 1.5,
        assignments: vec![RosterAssignment {
            nurse_id: "RN001".into(),
            day: 0,
            shift_id: "E".into(),
        }],
        coverage: Vec::new(),
        nurse_shifts_short: 1,
        nurse_shifts_over: 0,
        unmet_requests: Vec::new(),
        loads: Vec::new(),
        fairness: Fairness {
            nights_spread: 1,
            weekends_spread: 1,
            unmet_requests_spread: 0,
            hours_ratio_min: 0.95,
            hours_ratio_max: 1.02,
        },
        changes: Vec::new(),
        conflicts: Vec::new(),
        demand: ForecastProvenance {
            model_name: "bed-demand".into(),
            model_version: "1.0.0".into(),
            model_sha256: "ab".repeat(32),
            execution_provider: "CPUExecutionProvider".into(),
            origin: "2027-03-01".into(),
            horizon_hours: 28 * 24,
        },
        decision_step: format!("solve/r{revision}"),
        snapshot_sha256: String::new(),
        replanned_after: Vec::new(),
    }
}

fn step(revision: u32, json: &str) -> NewDecisionStep {
    NewDecisionStep {
        workflow_id: WF.into(),
        step: format!("solve/r{revision}"),
        kind: "nurse_rostering.input".into(),
        snapshot_json: json.into(),
        models: vec![ModelUse {
            name: "bed-demand".into(),
            version: "1.0.0".into(),
            sha256: "ab".repeat(32),
        }],
        solver: Some("HiGHS".into()),
        solver_version: Some("1.16.0".into()),
        careflow_version: "0.1.0".into(),
        seed: Some(3),
        time_limit_s: Some(20.0),
        threads: Some(1),
        result_digest: "cd".repeat(32),
    }
}

fn decision(approve: bool, actor: &str, role: Role) -> Decision {
    Decision {
        task_id: "t".into(),
        approve,
        actor: actor.into(),
        role,
        reason: "cover agreed with the matron".into(),
        bed_id: None,
        signature_id: None,
    }
}

async fn status(db: &Db, revision: u32) -> String {
    sqlx::query("SELECT status FROM rosters WHERE roster_id = $1 AND revision = $2")
        .bind(WF)
        .bind(i64::from(revision))
        .fetch_one(db.pool())
        .await
        .expect("row")
        .get("status")
}

async fn lifecycle(db: &Db) {
    let json = r#"{"days":28,"nurses":[]}"#;
    let stored = rosters::store_proposal(db, WF, "head.hana", &proposal(0), &step(0, json))
        .await
        .expect("store");
    assert_eq!(stored.objective, 120.0);
    let mut second = proposal(0);
    second.objective = 1.0;
    let again = rosters::store_proposal(db, WF, "head.hana", &second, &step(0, "{}"))
        .await
        .expect("store again");
    assert_eq!(again.objective, 120.0, "a retried step changes nothing");
    let recorded = decisions::step(db, WF, "solve/r0")
        .await
        .expect("read")
        .expect("step");
    assert_eq!(recorded.snapshot_sha256, decisions::sha256_hex(json));
    assert!(rosters::roster_in_force(db, "medicine", "2027-03-01")
        .await
        .expect("read")
        .is_none());

    rosters::conclude(
        db,
        WF,
        WF,
        0,
        &decision(true, "head.dev", Role::DepartmentHead),
    )
    .await
    .expect("publish");
    assert_eq!(status(db, 0).await, "published");
    let in_force = rosters::roster_in_force(db, "medicine", "2027-03-01")
        .await
        .expect("read")
        .expect("in force");
    assert_eq!(in_force.assignments[0].nurse_id, "RN001");
    // Another ward's or period's roster is not this one's.
    assert!(rosters::roster_in_force(db, "surgery", "2027-03-01")
        .await
        .expect("read")
        .is_none());

    // A re-roster approved by the nurse in charge supersedes revision 0.
    rosters::store_proposal(db, WF, "nic.nia", &proposal(1), &step(1, json))
        .await
        .expect("store r1");
    rosters::conclude(
        db,
        WF,
        WF,
        1,
        &decision(true, "nic.noor", Role::NurseInCharge),
    )
    .await
    .expect("publish r1");
    assert_eq!(
        (status(db, 0).await, status(db, 1).await),
        ("superseded".into(), "published".into())
    );
    // Concluding again (a retried step) changes nothing.
    rosters::conclude(
        db,
        WF,
        WF,
        1,
        &decision(false, "nic.noor", Role::NurseInCharge),
    )
    .await
    .expect("again");
    assert_eq!(status(db, 1).await, "published");

    // A rejected re-roster leaves the roster in force as it is.
    rosters::store_proposal(db, WF, "nic.nia", &proposal(2), &step(2, "[2]"))
        .await
        .expect("store r2");
    rosters::conclude(
        db,
        WF,
        WF,
        2,
        &decision(false, "nic.noor", Role::NurseInCharge),
    )
    .await
    .expect("reject r2");
    assert_eq!(
        (status(db, 1).await, status(db, 2).await),
        ("published".into(), "rejected".into())
    );

    // A cancelled workflow withdraws its open proposal; the roster in force stays.
    rosters::store_proposal(db, WF, "nic.nia", &proposal(3), &step(3, "[3]"))
        .await
        .expect("store r3");
    rosters::withdraw(db, WF, "ward closed for refurbishment")
        .await
        .expect("withdraw");
    assert_eq!(
        (status(db, 1).await, status(db, 3).await),
        ("published".into(), "cancelled".into())
    );
    let records = rosters::revisions(db, WF).await.expect("revisions");
    assert_eq!(records.len(), 4);
    assert_eq!(records[1].decided_by.as_deref(), Some("nic.noor"));

    let actions: Vec<String> = audit::entries_for_workflow(db, WF)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "decision.recorded",
            "roster.proposed",
            "roster.published",
            "decision.recorded",
            "roster.proposed",
            "roster.published",
            "decision.recorded",
            "roster.proposed",
            "roster.rejected",
            "decision.recorded",
            "roster.proposed",
            "roster.withdrawn",
        ]
    );
    assert_eq!(audit::verify(db).await.expect("verify").first_break, None);
}

/// A second roster for a ward and period that another roster has in force is refused,
/// naming the one in force, and stores nothing (no revision, no decision step); the
/// same ward's next period is free.
async fn one_roster_per_ward_and_period(db: &Db) {
    const OTHER: &str = "roster-medicine-2027-03-01-second";
    rosters::store_proposal(db, WF, "head.hana", &proposal(0), &step(0, "[10]"))
        .await
        .expect("store r0");
    rosters::conclude(
        db,
        WF,
        WF,
        0,
        &decision(true, "head.dev", Role::DepartmentHead),
    )
    .await
    .expect("publish r0");
    let second = RosterProposal {
        roster_id: OTHER.into(),
        ..proposal(0)
    };
    let other_step = NewDecisionStep {
        workflow_id: OTHER.into(),
        ..step(0, "[11]")
    };
    let err = rosters::store_proposal(db, OTHER, "head.hana", &second, &other_step)
        .await
        .expect_err("a second roster for the same ward and period");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "roster {WF} is already published for ward medicine, start_date 2027-03-01"
        )),
        "{msg}"
    );
    assert!(rosters::revisions(db, OTHER)
        .await
        .expect("revisions")
        .is_empty());
    assert!(decisions::step(db, OTHER, "solve/r0")
        .await
        .expect("read")
        .is_none());

    // Another period of the same ward is free.
    let next_period = RosterProposal {
        start_date: "2027-03-29".into(),
        ..second.clone()
    };
    rosters::store_proposal(db, OTHER, "head.hana", &next_period, &other_step)
        .await
        .expect("another period");
}

#[tokio::test]
async fn one_roster_per_ward_and_period_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    one_roster_per_ward_and_period(&db).await;
}

#[tokio::test]
async fn one_roster_per_ward_and_period_on_postgres() {
    let db = common::postgres().await;
    one_roster_per_ward_and_period(&db).await;
}

#[tokio::test]
async fn a_roster_is_proposed_published_rerostered_and_withdrawn_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    lifecycle(&db).await;
}

#[tokio::test]
async fn a_roster_is_proposed_published_rerostered_and_withdrawn_on_postgres() {
    let db = common::postgres().await;
    lifecycle(&db).await;
}
