//! Model releases on real databases: the author cannot own or promote their release,
//! the gate names the metric and subgroup that fail, the ethics sign-off needs the
//! committee's approval of the release's amendment to the project, shadow forecasts are compared once the truth is recorded,
//! the owner's signed promotion retires the previous version, rollback restores it;
//! every step audited and the chain intact.

mod common;

use careflow_store::ethics::{self, Recommendation, Route, SubmissionContent};
use careflow_store::registry::{self, ModelFacts};
use careflow_store::releases::{
    self, Margins, NewRelease, Scores, ShadowPair, Stage, SubgroupScores, ValidationReport,
};
use careflow_store::{audit, tasks, users, Db, Error};
use careflow_types::{Decision, NewTask, Role, TaskKind};
use sqlx::Row;

const PW: &str = "release test password";

fn facts(version: &str) -> ModelFacts {
    ModelFacts {
        name: "ed-arrivals".into(),
        version: version.into(),
        sha256: format!("{:0>64}", version.replace('.', "")),
        card_json: format!(r#"{{"name":"ed-arrivals","version":"{version}"}}"#),
    }
}

fn s(mae: f64, pinball: f64) -> Scores {
    Scores::quantile(100, mae, pinball)
}

fn report(sat_candidate_mae: f64) -> ValidationReport {
    ValidationReport {
        data: "held-out test".into(),
        production_version: "1.0.0".into(),
        production: s(2.0, 1.0),
        candidate: s(1.9, 0.95),
        subgroups: vec![
            SubgroupScores {
                subgroup: "weekday=Mon".into(),
                production: s(2.0, 1.0),
                candidate: s(1.8, 0.9),
            },
            SubgroupScores {
                subgroup: "weekday=Sat".into(),
                production: s(2.0, 1.0),
                candidate: s(sat_candidate_mae, 0.99),
            },
        ],
    }
}

fn content(title: &str) -> SubmissionContent {
    SubmissionContent {
        title: title.into(),
        technical_plan: "Poisson GLM of hourly ED arrivals".into(),
        use_case: "bed planning".into(),
        expected_benefit: "fewer outliers".into(),
        risks: "forecast error".into(),
        data_used: "ED arrival counts".into(),
        legal_basis: "public task".into(),
        consent_plan: "no identifiable data".into(),
        bias_assessment: "errors by hour block, weekday and holiday".into(),
        documents: vec![],
    }
}

/// Completeness, expedited route, one reviewer who approves (signed).
async fn expedited_approval(db: &Db, id: &str) {
    ethics::check_completeness(db, id, "sec.sue", true, "complete")
        .await
        .unwrap();
    ethics::route(db, id, "sec.sue", Route::Expedited, "low risk")
        .await
        .unwrap();
    ethics::assign_reviewers(db, id, "sec.sue", &["sci.sam".into()])
        .await
        .unwrap();
    let s = ethics::review(db, id, "sci.sam", PW, Recommendation::Approve, "fine")
        .await
        .unwrap();
    assert_eq!(s.state, "approved");
}

async fn approved_project(db: &Db, title: &str) -> String {
    ethics::add_member(db, "model.owner", "sci.sam", false)
        .await
        .unwrap();
    let p = ethics::submit(db, "lead.lu", &content(title))
        .await
        .unwrap();
    expedited_approval(db, &p.submission_id).await;
    p.submission_id
}

/// `actor` approves the task, signed with their password, as the approval step records it.
async fn decide_signed(db: &Db, task_id: &str, actor: &str) {
    let task = tasks::get(db, task_id).await.unwrap();
    let reason = "shadow better";
    let sig = tasks::sign_decision(db, &task, actor, PW, true, reason, None)
        .await
        .unwrap();
    let d = Decision {
        task_id: task_id.into(),
        approve: true,
        actor: actor.into(),
        role: Role::Admin,
        reason: reason.into(),
        bed_id: None,
        signature_id: Some(sig.signature_id),
    };
    assert_eq!(
        tasks::record_decision(db, "rel-b", TaskKind::ModelPromotion, &d)
            .await
            .unwrap(),
        tasks::Recorded::Recorded
    );
}

async fn lifecycle(db: Db) {
    for (name, role) in [
        ("dev.dana", Role::Admin),
        ("model.owner", Role::Admin),
        ("lead.lu", Role::ProjectLead),
        ("sec.sue", Role::EthicsSecretary),
        ("sci.sam", Role::CommitteeMember),
    ] {
        users::upsert_with_password(&db, name, role, Some(PW), "test")
            .await
            .unwrap();
    }
    registry::register(&db, &facts("1.0.0"), "model.owner")
        .await
        .unwrap();
    registry::install(&db, "ed-arrivals", "1.0.0", "model.owner", "bootstrap")
        .await
        .unwrap();

    // The author cannot be the owner.
    let alone = releases::register(
        &db,
        &NewRelease {
            release_id: "rel-x".into(),
            facts: facts("1.1.0"),
            author: "dev.dana".into(),
            owner: "dev.dana".into(),
        },
    )
    .await;
    assert!(
        matches!(&alone, Err(Error::Forbidden(m)) if m.contains("cannot release it alone")),
        "{alone:?}"
    );

    // A candidate worse on Saturdays beyond the margin fails the gate, naming it.
    let failing = releases::register(
        &db,
        &NewRelease {
            release_id: "rel-a".into(),
            facts: facts("1.1.0"),
            author: "dev.dana".into(),
            owner: "model.owner".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(failing.production_version.as_deref(), Some("1.0.0"));
    let margins = Margins {
        overall: 0.0,
        subgroup: 0.05,
    };
    let failures = releases::record_validation(&db, "rel-a", &report(2.2), &margins)
        .await
        .unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        (failures[0].metric.as_str(), failures[0].subgroup.as_str()),
        ("mae", "weekday=Sat")
    );
    assert!(
        failures[0].to_string().contains("mae in weekday=Sat"),
        "{}",
        failures[0]
    );
    assert_eq!(
        releases::get(&db, "rel-a").await.unwrap().stage,
        Stage::GateFailed
    );
    let trail = audit::entries_for_workflow(&db, "rel-a").await.unwrap();
    assert!(trail.iter().any(|e| e.action == "release.gate_failed"
        && e.meaning.as_deref().unwrap().contains("weekday=Sat")));

    // Within the margin: validated, signed off by the committee, shadowed.
    releases::register(
        &db,
        &NewRelease {
            release_id: "rel-b".into(),
            facts: facts("1.1.0"),
            author: "dev.dana".into(),
            owner: "model.owner".into(),
        },
    )
    .await
    .unwrap();
    assert!(
        releases::record_validation(&db, "rel-b", &report(2.05), &margins)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        releases::start_shadow(&db, "rel-b").await,
        Err(Error::Conflict(_))
    ));
    // The sign-off is an amendment to the approved project that owns the model, which
    // the committee reviews (here expedited: one reviewer's signed approval).
    let project = approved_project(&db, "ED forecasting").await;
    let amendment = ethics::file_amendment(&db, &project, "lead.lu", &content("ed-arrivals 1.1.0"))
        .await
        .unwrap();
    let amendment = amendment.submission_id;
    releases::note_amendment(&db, "rel-b", &amendment)
        .await
        .unwrap();
    assert!(
        matches!(
            releases::record_signoff(&db, "rel-b", &amendment).await,
            Err(Error::Forbidden(m)) if m.contains("not approved")
        ),
        "an amendment the committee has not approved does not sign off"
    );
    assert!(matches!(
        releases::record_signoff(&db, "rel-b", &project).await,
        Err(Error::Forbidden(_))
    ));
    expedited_approval(&db, &amendment).await;
    assert_eq!(
        releases::record_signoff(&db, "rel-b", &amendment)
            .await
            .unwrap()
            .stage,
        Stage::SignedOff
    );
    releases::start_shadow(&db, "rel-b").await.unwrap();
    assert_eq!(
        releases::shadow_release(&db, "ed-arrivals")
            .await
            .unwrap()
            .unwrap()
            .release_id,
        "rel-b"
    );

    // Shadow: both recorded, compared once the truth arrives.
    let pairs = [
        ShadowPair {
            target_key: "2026-12-01T00",
            production: [2.0, 4.0, 6.0],
            candidate: [3.0, 5.0, 7.0],
        },
        ShadowPair {
            target_key: "2026-12-01T01",
            production: [1.0, 3.0, 5.0],
            candidate: [1.0, 2.0, 4.0],
        },
    ];
    assert_eq!(
        releases::record_shadow(&db, "rel-b", "call-1", &pairs)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        releases::record_shadow(&db, "rel-b", "call-1", &pairs)
            .await
            .unwrap(),
        0
    );
    let before = releases::shadow_comparison(&db, "rel-b").await.unwrap();
    assert_eq!(
        (before.calls, before.targets, before.production),
        (1, 2, None)
    );
    let filled = releases::record_truth(
        &db,
        "ed-arrivals",
        &[("2026-12-01T00".into(), 5.0), ("2026-12-01T01".into(), 2.0)],
        "model.owner",
    )
    .await
    .unwrap();
    assert_eq!(filled, 2);
    let cmp = releases::shadow_comparison(&db, "rel-b").await.unwrap();
    // production |5-4| + |2-3| = 2 over 2; candidate |5-5| + |2-2| = 0.
    assert_eq!(cmp.production.unwrap().mae, Some(1.0));
    assert_eq!(cmp.candidate.unwrap().mae, Some(0.0));

    // The ADT feed's ED registrations are the truth of the hours it covers completely:
    // from its first registration's hour up to, not including, its latest (still
    // filling); an hour between them without a registration had none.
    let later: Vec<String> = (2..=5).map(|h| format!("2026-12-01T{h:02}")).collect();
    let later_pairs: Vec<ShadowPair<'_>> = later
        .iter()
        .map(|k| ShadowPair {
            target_key: k,
            production: [0.0, 1.0, 3.0],
            candidate: [0.0, 1.0, 2.0],
        })
        .collect();
    releases::record_shadow(&db, "rel-b", "call-2", &later_pairs)
        .await
        .unwrap();
    for (hour, n) in [("01", 3), ("03", 2), ("05", 1)] {
        sqlx::query("INSERT INTO ed_arrivals_hourly (hour, arrivals) VALUES ($1, $2)")
            .bind(format!("2026-12-01T{hour}:00:00Z"))
            .bind(n)
            .execute(db.pool())
            .await
            .unwrap();
    }
    assert_eq!(releases::record_truth_from_ed_feed(&db).await.unwrap(), 3);
    let truths: Vec<(String, Option<f64>)> = sqlx::query(
        "SELECT target_key, truth FROM shadow_forecasts WHERE release_id = 'rel-b' ORDER BY target_key",
    )
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("target_key"), r.get("truth")))
    .collect();
    let expect = |k: &str, t: Option<f64>| (format!("2026-12-01T{k}"), t);
    assert_eq!(
        truths,
        [
            expect("00", Some(5.0)),
            expect("01", Some(2.0)),
            expect("02", Some(0.0)),
            expect("03", Some(2.0)),
            expect("04", Some(0.0)),
            expect("05", None),
        ],
        "typed-in truths stay; the feed fills the complete hours only"
    );
    assert_eq!(releases::record_truth_from_ed_feed(&db).await.unwrap(), 0);
    let fed = audit::entries(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "release.truth_recorded" && e.actor == "careflow")
        .count();
    assert_eq!(fed, 1);
    assert_eq!(
        releases::shadow_comparison(&db, "rel-b")
            .await
            .unwrap()
            .production
            .unwrap()
            .n,
        5
    );

    // The promotion is the owner's signed approval of the release's promotion task;
    // the author's approval (were it recorded) does not promote.
    let task = |id: &str| NewTask {
        task_id: id.into(),
        workflow_id: "rel-b".into(),
        kind: TaskKind::ModelPromotion,
        role: Role::Admin,
        summary: "promote ed-arrivals 1.1.0".into(),
        proposed_bed: None,
        due_at: "2099-01-01T00:00:00Z".into(),
        requested_by: None,
    };
    tasks::open(&db, &task("rel-b-promote")).await.unwrap();
    assert!(matches!(
        releases::promote(&db, "rel-b", "rel-b-promote").await,
        Err(Error::Forbidden(m)) if m.contains("not an approved promotion")
    ));
    tasks::open(&db, &task("rel-b-by-author")).await.unwrap();
    decide_signed(&db, "rel-b-by-author", "dev.dana").await;
    let by_author = releases::promote(&db, "rel-b", "rel-b-by-author").await;
    assert!(
        matches!(&by_author, Err(Error::Forbidden(m)) if m.contains("author")),
        "{by_author:?}"
    );
    decide_signed(&db, "rel-b-promote", "model.owner").await;
    let promoted = releases::promote(&db, "rel-b", "rel-b-promote")
        .await
        .unwrap();
    assert_eq!(promoted.stage, Stage::Production);
    assert_eq!(
        registry::production(&db, "ed-arrivals")
            .await
            .unwrap()
            .version,
        "1.1.0"
    );

    // Rollback restores 1.0.0, with the reason.
    let sig = releases::sign_step(
        &db,
        "rel-b",
        "rollback",
        "model.owner",
        PW,
        "Saturday misses in live use",
    )
    .await
    .unwrap();
    let back = releases::rollback(
        &db,
        "rel-b",
        "model.owner",
        "Saturday misses in live use",
        Some(&sig.signature_id),
    )
    .await
    .unwrap();
    assert_eq!(
        (back.stage, back.rollback_reason.as_deref()),
        (Stage::RolledBack, Some("Saturday misses in live use"))
    );
    assert_eq!(
        registry::production(&db, "ed-arrivals")
            .await
            .unwrap()
            .version,
        "1.0.0"
    );
    let actions: Vec<String> = audit::entries_for_workflow(&db, "rel-b")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in [
        "release.registered",
        "release.validated",
        "release.signed_off",
        "release.shadow_started",
        "release.shadow_recorded",
        "release.promoted",
        "release.rolled_back",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    assert!(audit::verify(&db).await.unwrap().first_break.is_none());
}

#[tokio::test]
async fn releases_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    lifecycle(db).await;
}

#[tokio::test]
async fn releases_on_postgres() {
    lifecycle(common::postgres().await).await;
}
