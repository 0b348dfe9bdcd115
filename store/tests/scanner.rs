//! Scanner bookings on both databases: a proposal stored with its decision step, booked
//! within policy as careflow's own audited decision, attendance recorded once per
//! booked scan (a second, different outcome refused), predicted probability beside
//! outcome for validating the no-show model, a rejected revision booking nothing, and a
//! cancelled run withdrawing its open proposal.

mod common;

use careflow_store::decisions::{ModelUse, NewDecisionStep};
use careflow_store::releases::{self, ShadowPair};
use careflow_store::{audit, scanner, users, Db, Error};
use careflow_types::{
    AttendanceReport, Decision, ForecastProvenance, Role, ScanAttendance, ScanBooked,
    ScanBookingPolicy, ScanConclusion, ScanModality, ScanUrgency, ScannerBookingProposal,
};

fn booked(request_id: &str, p: f64) -> ScanBooked {
    ScanBooked {
        request_id: request_id.into(),
        patient_key: format!("PK-{request_id}"),
        modality: ScanModality::Mri,
        urgency: ScanUrgency::Routine,
        scanner_id: "MRI1".into(),
        day: 1,
        start_slot: 0,
        overbooked: false,
        no_show_probability: p,
        days_late: 0,
    }
}

fn proposal(booking_id: &str, revision: u32) -> ScannerBookingProposal {
    ScannerBookingProposal {
        booking_id: booking_id.into(),
        revision,
        week_start: "2027-03-01".into(),
        days: 5,
        solver_status: "optimal".into(),
        objective: 3.0,
        mip_gap: Some(0.0),
        solve_seconds: 0.1,
        booked: vec![booked("R1", 0.04), booked("R2", 0.12)],
        waiting: Vec::new(),
        breaches: Vec::new(),
        scanner_days: Vec::new(),
        overbooked_slots: 0,
        expected_overtime_slots: 0.0,
        over_policy: Vec::new(),
        policy: ScanBookingPolicy::default(),
        overbooking_allowed: true,
        conflicts: Vec::new(),
        no_show: ForecastProvenance {
            model_name: "scanner-no-show".into(),
            model_version: "1.0.0".into(),
            model_sha256: "ab".repeat(32),
            execution_provider: "CPUExecutionProvider".into(),
            origin: "2027-03-01".into(),
            horizon_hours: 120,
        },
        decision_step: format!("solve/r{revision}"),
        snapshot_sha256: String::new(),
    }
}

fn step(workflow_id: &str, revision: u32) -> NewDecisionStep {
    NewDecisionStep {
        workflow_id: workflow_id.into(),
        step: format!("solve/r{revision}"),
        kind: "scanner_booking.input".into(),
        snapshot_json: format!(r#"{{"days":5,"revision":{revision}}}"#),
        models: vec![ModelUse {
            name: "scanner-no-show".into(),
            version: "1.0.0".into(),
            sha256: "ab".repeat(32),
        }],
        solver: Some("HiGHS".into()),
        solver_version: Some("1.16.0".into()),
        careflow_version: "0.1.0".into(),
        seed: Some(3),
        time_limit_s: Some(5.0),
        threads: Some(1),
        result_digest: "cd".repeat(32),
    }
}

fn attended(request_id: &str, outcome: ScanAttendance) -> AttendanceReport {
    AttendanceReport {
        request_id: request_id.into(),
        outcome,
        recorded_by: "imaging.ivy".into(),
    }
}

async fn actions(db: &Db, workflow_id: &str) -> Vec<String> {
    audit::entries_for_workflow(db, workflow_id)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| e.action)
        .collect()
}

async fn lifecycle(db: &Db) {
    users::upsert(db, "imaging.ivy", Role::ImagingManager, "test")
        .await
        .expect("imaging manager");
    users::upsert(db, "imaging.ian", Role::ImagingManager, "test")
        .await
        .expect("imaging manager");
    // Booked within policy: careflow's own decision, with the reason.
    let wf = "wf-scan-a";
    scanner::store_proposal(db, wf, "imaging.ian", &proposal("scan-a", 0), &step(wf, 0))
        .await
        .expect("store");
    // A retried step keeps the first proposal.
    let mut second = proposal("scan-a", 0);
    second.objective = 99.0;
    let again = scanner::store_proposal(db, wf, "imaging.ian", &second, &step(wf, 0))
        .await
        .expect("store again");
    assert_eq!(again.objective, 3.0);
    let within = ScanConclusion::WithinPolicy {
        reason: "no overbooking and every deadline met".into(),
    };
    scanner::conclude(db, wf, "scan-a", 0, &within)
        .await
        .expect("book");
    scanner::conclude(db, wf, "scan-a", 0, &within)
        .await
        .expect("a retried conclusion changes nothing");
    let records = scanner::revisions(db, "scan-a").await.expect("revisions");
    assert_eq!(records[0].status, "booked");
    assert_eq!(records[0].decided_by.as_deref(), Some("careflow"));
    let booked_entry = audit::entries_for_workflow(db, wf)
        .await
        .expect("audit")
        .into_iter()
        .find(|e| e.action == "scanner_booking.booked")
        .expect("booked entry");
    assert_eq!(
        (booked_entry.actor.as_str(), booked_entry.role.as_str()),
        ("careflow", "system")
    );
    assert!(
        booked_entry
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("within policy")),
        "{booked_entry:?}"
    );

    // A no-show candidate in its shadow period forecast these scans beside production
    // when they were booked: the attendance below becomes the truth of those targets.
    sqlx::query(
        "INSERT INTO model_releases (release_id, model_name, version, sha256, production_version, \
         author, owner, stage, created_at, updated_at) VALUES ('rel-ns', 'scanner-no-show', \
         '1.1.0', $1, '1.0.0', 'lead.lu', 'model.owner', 'shadow', '2026-12-01T00:00:00Z', \
         '2026-12-01T00:00:00Z')",
    )
    .bind("ab".repeat(32))
    .execute(db.pool())
    .await
    .expect("a release in shadow");
    let keys = [
        scanner::no_show_shadow_key(wf, "R1"),
        scanner::no_show_shadow_key(wf, "R2"),
    ];
    releases::record_shadow(
        db,
        "rel-ns",
        wf,
        &[
            ShadowPair::probability(&keys[0], 0.04, 0.02),
            ShadowPair::probability(&keys[1], 0.12, 0.30),
        ],
    )
    .await
    .expect("shadow recorded");
    // Attendance: once per booked scan; the same report again is a no-op, a
    // different outcome and an unbooked request are refused.
    scanner::record_attendance(db, wf, "scan-a", &attended("R1", ScanAttendance::Attended))
        .await
        .expect("R1 attended");
    scanner::record_attendance(db, wf, "scan-a", &attended("R1", ScanAttendance::Attended))
        .await
        .expect("retried");
    let err = scanner::record_attendance(db, wf, "scan-a", &attended("R1", ScanAttendance::NoShow))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    let mut clerk = attended("R2", ScanAttendance::NoShow);
    clerk.recorded_by = "clerk.ana".into();
    users::upsert(db, "clerk.ana", Role::AdmissionsClerk, "test")
        .await
        .expect("clerk");
    let err = scanner::record_attendance(db, wf, "scan-a", &clerk)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Forbidden(_)),
        "only imaging managers record it: {err}"
    );
    let err = scanner::record_attendance(db, wf, "scan-a", &attended("R9", ScanAttendance::NoShow))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    scanner::record_attendance(db, wf, "scan-a", &attended("R2", ScanAttendance::NoShow))
        .await
        .expect("R2 no-show");
    // Compared by the Brier score: production (0.04^2 + 0.88^2) / 2, the candidate
    // (0.02^2 + 0.70^2) / 2.
    let cmp = releases::shadow_comparison(db, "rel-ns")
        .await
        .expect("comparison");
    let brier = |s: Option<releases::Scores>| s.and_then(|s| s.brier).expect("Brier");
    assert!((brier(cmp.production) - (0.04f64.powi(2) + 0.88f64.powi(2)) / 2.0).abs() < 1e-12);
    assert!((brier(cmp.candidate) - (0.02f64.powi(2) + 0.70f64.powi(2)) / 2.0).abs() < 1e-12);
    assert_eq!(cmp.production.unwrap().mae, None);
    let outcomes = scanner::no_show_outcomes(db, "scanner-no-show")
        .await
        .expect("outcomes");
    let pairs: Vec<(&str, f64, bool)> = outcomes
        .iter()
        .map(|o| (o.request_id.as_str(), o.predicted, o.no_show))
        .collect();
    assert_eq!(pairs, [("R1", 0.04, false), ("R2", 0.12, true)]);
    assert!(outcomes.iter().all(|o| o.model_version == "1.0.0"));
    let who: Vec<(String, String)> = audit::entries_for_workflow(db, wf)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "scan.attendance_recorded")
        .map(|e| (e.actor, e.role))
        .collect();
    assert_eq!(
        who,
        vec![("imaging.ivy".into(), "imaging_manager".into()); 2]
    );
    assert_eq!(
        actions(db, wf).await,
        [
            "decision.recorded",
            "scanner_booking.proposed",
            "scanner_booking.booked",
            "scan.attendance_recorded",
            "scan.attendance_recorded",
        ]
    );

    // Rejected by a person: nothing is booked; a cancelled run withdraws its re-plan.
    let wf = "wf-scan-b";
    scanner::store_proposal(db, wf, "imaging.ian", &proposal("scan-b", 0), &step(wf, 0))
        .await
        .expect("store b0");
    let reject = Decision {
        task_id: "t".into(),
        approve: false,
        actor: "imaging.ivy".into(),
        role: Role::ImagingManager,
        reason: "too much overbooking on Monday".into(),
        bed_id: None,
        signature_id: None,
    };
    scanner::conclude(db, wf, "scan-b", 0, &ScanConclusion::Decided(reject))
        .await
        .expect("reject");
    scanner::store_proposal(db, wf, "imaging.ian", &proposal("scan-b", 1), &step(wf, 1))
        .await
        .expect("store b1");
    scanner::withdraw(db, wf, "cancelled by the imaging manager")
        .await
        .expect("withdraw");
    let statuses: Vec<String> = scanner::revisions(db, "scan-b")
        .await
        .expect("revisions")
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, ["rejected", "cancelled"]);
    let err =
        scanner::record_attendance(db, wf, "scan-b", &attended("R1", ScanAttendance::Attended))
            .await
            .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(_)),
        "nothing of scan-b was booked: {err}"
    );
    assert_eq!(audit::verify(db).await.expect("verify").first_break, None);
}

#[tokio::test]
async fn a_booking_is_concluded_and_its_attendance_recorded_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    lifecycle(&db).await;
}

#[tokio::test]
async fn a_booking_is_concluded_and_its_attendance_recorded_on_postgres() {
    let db = common::postgres().await;
    lifecycle(&db).await;
}
