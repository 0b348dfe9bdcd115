//! A published bed plan's moves are ordered for the wards and, once a ward moves the
//! patient, the census shows it; an elective admission is not given the beds the
//! published plan holds back for emergencies, an emergency is. On SQLite and
//! PostgreSQL.

mod common;

use careflow_store::decisions::{self, DecisionResult, NewDecisionStep};
use careflow_store::hospital::{seed_layout, WardSpec};
use careflow_store::{admissions, audit, bed_plans, Db, Error};
use careflow_types::{
    AdmissionInput, AdmissionKind, AdmissionRequest, AgeGroup, BedPlanInput, BedPlanProposal,
    BedPlanRequest, Decision, EmergencyDemand, ForecastProvenance, PlannedMove, Role, Sex,
    WardDemand,
};

fn ward(id: &str, specialty: &str) -> WardSpec {
    WardSpec {
        ward_id: id.into(),
        name: id.into(),
        specialty: specialty.into(),
        paediatric: false,
        bays: (2, 2),
        side_rooms: 0,
    }
}

/// CARD (two bays of two) with a woman in CARD-BAY2-B1, GMED with a male cardiology
/// outlier (adm-0) in GMED-BAY1-B1.
async fn seed(db: &Db) {
    seed_layout(
        db,
        &[ward("CARD", "cardiology"), ward("GMED", "general_medicine")],
    )
    .await
    .expect("seed");
    let now = careflow_store::db::now();
    for (id, sex, bed) in [
        ("adm-0", "male", "GMED-BAY1-B1"),
        ("adm-1", "female", "CARD-BAY2-B1"),
    ] {
        let key = format!("PK-{id}");
        sqlx::query("INSERT INTO patients (patient_key, patient_ref, sex, age_group, created_at) VALUES ($1,NULL,$2,'adult',$3)")
            .bind(&key).bind(sex).bind(&now).execute(db.pool()).await.expect("patient");
        sqlx::query(
            "INSERT INTO admissions (admission_id, workflow_id, patient_key, kind, sex, age_group, specialty, \
             isolation, expected_los_days, requested_by, status, created_at, updated_at) \
             VALUES ($1,$2,$3,'emergency',$4,'adult','cardiology',0,4,'clerk.ana','admitted',$5,$5)",
        )
        .bind(id).bind(format!("wf-{id}")).bind(&key).bind(sex).bind(&now)
        .execute(db.pool()).await.expect("admission");
        sqlx::query(
            "INSERT INTO bed_assignments (assignment_id, admission_id, bed_id, sex, isolation, assigned_at) \
             VALUES ($1,$2,$3,$4,0,$5)",
        )
        .bind(format!("as-{id}")).bind(id).bind(bed).bind(sex).bind(&now)
        .execute(db.pool()).await.expect("assignment");
    }
}

/// A plan for today moving adm-0 back to cardiology and keeping 3 CARD beds free.
async fn publish_plan(db: &Db) {
    let today = chrono::Utc::now().date_naive().to_string();
    let plan = BedPlanInput {
        plan_id: "plan-1".into(),
        request: BedPlanRequest {
            plan_date: today.clone(),
            horizon_days: 2,
            solve_seconds: 5,
            requested_by: "bm.kim".into(),
        },
    };
    let proposal = BedPlanProposal {
        plan_id: "plan-1".into(),
        solver_status: "optimal".into(),
        cost_total: 50.0,
        outlier_days: 0,
        transfers: 1,
        reserve_shortfall: 0.0,
        mip_gap: Some(0.0),
        patients: 2,
        moves: vec![PlannedMove {
            admission_id: "adm-0".into(),
            from_room: "GMED-BAY1".into(),
            to_room: "CARD-BAY1".into(),
            why: "back to a cardiology ward".into(),
        }],
        shortfalls: Vec::new(),
        conflicts: Vec::new(),
        demand: EmergencyDemand {
            provenance: ForecastProvenance {
                model_name: "ed-arrivals".into(),
                model_version: "1.1.0".into(),
                model_sha256: "ab".repeat(32),
                execution_provider: "CPUExecutionProvider".into(),
                origin: format!("{today}T00:00:00"),
                horizon_hours: 48,
            },
            wards: vec![
                WardDemand {
                    ward_id: "CARD".into(),
                    day: 0,
                    mean: 1.8,
                    p50: 2.0,
                    p90: 3.0,
                },
                WardDemand {
                    ward_id: "GMED".into(),
                    day: 0,
                    mean: 0.2,
                    p50: 0.0,
                    p90: 1.0,
                },
            ],
            ed_arrivals_per_day: vec![15.0, 15.0],
            admission_rate: 0.13,
        },
    };
    let step = NewDecisionStep {
        workflow_id: "wf-plan-1".into(),
        step: "solve/bed-plan".into(),
        kind: "bed_allocation.input".into(),
        snapshot_json: "{\"horizon_days\":2}".into(),
        models: Vec::new(),
        solver: Some("HiGHS".into()),
        solver_version: Some("1.16".into()),
        careflow_version: "0.1.0".into(),
        seed: Some(0),
        time_limit_s: Some(5.0),
        threads: Some(1),
        result_digest: "r".into(),
    };
    let result = DecisionResult {
        workflow_id: "wf-plan-1".into(),
        step: "solve/bed-plan".into(),
        solver_status: "optimal".into(),
        objective: Some(50.0),
        mip_gap: Some(0.0),
        result_json: "{}".into(),
    };
    bed_plans::store_proposal(db, "wf-plan-1", &plan, &proposal, &[], &step, &result)
        .await
        .expect("proposal");
    assert!(decisions::result(db, "wf-plan-1", "solve/bed-plan")
        .await
        .expect("read")
        .is_some());
    bed_plans::conclude(
        db,
        "wf-plan-1",
        "plan-1",
        &Decision {
            task_id: "wf-plan-1-approve".into(),
            approve: true,
            actor: "bm.lee".into(),
            role: Role::BedManager,
            reason: "ok".into(),
            bed_id: None,
            signature_id: None,
        },
    )
    .await
    .expect("publish");
}

fn request(kind: AdmissionKind) -> AdmissionInput {
    AdmissionInput {
        admission_id: format!("adm-{kind:?}"),
        request: AdmissionRequest {
            patient_ref: "PK-new".into(),
            kind,
            sex: Sex::Male,
            age_group: AgeGroup::Adult,
            specialty: "cardiology".into(),
            isolation: false,
            expected_los_days: 2,
            requested_by: "clerk.ana".into(),
        },
        contested_bed: None,
    }
}

async fn room_of(db: &Db, admission: &str) -> String {
    bed_plans::census(db)
        .await
        .expect("census")
        .patients
        .into_iter()
        .find(|p| p.admission_id == admission)
        .expect("in a bed")
        .room_id
}

async fn moves_are_carried_out_and_the_reserve_is_kept(db: &Db) {
    seed(db).await;
    publish_plan(db).await;

    // Publishing ordered the move for the cardiology ward, audited.
    let ordered = bed_plans::moves(db, None).await.expect("moves");
    assert_eq!(ordered.len(), 1);
    assert_eq!(
        (
            ordered[0].admission_id.as_str(),
            ordered[0].ward_id.as_str(),
            ordered[0].status.as_str()
        ),
        ("adm-0", "CARD", "ordered")
    );

    // CARD has 3 free beds and the plan holds 3 back: an elective cardiology admission
    // is not given one (and is told why), an emergency is.
    let elective = admissions::find_bed(db, "wf-elective", &request(AdmissionKind::Elective), 0)
        .await
        .expect("search");
    assert!(
        elective
            .proposal
            .as_ref()
            .is_none_or(|p| p.ward_id != "CARD"),
        "{elective:?}"
    );
    assert!(
        elective
            .summary
            .contains("held back for emergencies by bed plan plan-1"),
        "{}",
        elective.summary
    );
    assert!(
        elective.summary.contains("CARD (reserve 3)"),
        "{}",
        elective.summary
    );
    let emergency = admissions::find_bed(db, "wf-emergency", &request(AdmissionKind::Emergency), 0)
        .await
        .expect("search");
    assert_eq!(emergency.proposal.expect("a bed").ward_id, "CARD");
    let mut conn = db.pool().acquire().await.expect("conn");
    careflow_store::hospital::release_holds(&mut conn, "wf-emergency")
        .await
        .expect("release");
    careflow_store::hospital::release_holds(&mut conn, "wf-elective")
        .await
        .expect("release");
    drop(conn);

    // A clerk may not move patients; the bed manager does, and the census shows it.
    let refused =
        bed_plans::complete_move(db, "plan-1", "adm-0", "clerk.ana", Role::AdmissionsClerk)
            .await
            .expect_err("clerk refused");
    assert!(matches!(refused, Error::Forbidden(_)), "{refused}");
    assert_eq!(room_of(db, "adm-0").await, "GMED-BAY1");
    let done = bed_plans::complete_move(db, "plan-1", "adm-0", "bm.lee", Role::BedManager)
        .await
        .expect("move");
    assert_eq!(done.status, "done");
    assert_eq!(done.to_bed.as_deref(), Some("CARD-BAY1-B1"));
    assert_eq!(room_of(db, "adm-0").await, "CARD-BAY1");
    // Done twice changes nothing.
    let again = bed_plans::complete_move(db, "plan-1", "adm-0", "bm.lee", Role::BedManager)
        .await
        .expect("again");
    assert_eq!(again, done);
    assert!(bed_plans::moves(db, None).await.expect("open").is_empty());

    let entries = audit::entries(db).await.expect("trail");
    let ordered = entries
        .iter()
        .find(|e| e.action == "bed_move.ordered")
        .expect("ordered entry");
    assert!(ordered
        .reason
        .as_deref()
        .unwrap_or_default()
        .contains("adm-0 GMED-BAY1 -> CARD-BAY1"));
    let moved: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "bed_move.done")
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(
        (moved[0].actor.as_str(), moved[0].role.as_str()),
        ("bm.lee", "bed_manager")
    );
    assert_eq!(audit::verify(db).await.expect("verify").first_break, None);
}

#[tokio::test]
async fn moves_and_reserve_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    moves_are_carried_out_and_the_reserve_is_kept(&db).await;
}

#[tokio::test]
async fn moves_and_reserve_on_postgres() {
    let db = common::postgres().await;
    moves_are_carried_out_and_the_reserve_is_kept(&db).await;
}
