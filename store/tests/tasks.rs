//! Recording a decision checks it again against the store: only a user who holds the
//! task's role (and its claim, if claimed) and did not ask for the work may decide;
//! anything else is refused, the refusal audited, and the task left open.

mod common;

use careflow_store::tasks::{self, Escalation, Recorded};
use careflow_store::{audit, users, Db};
use careflow_types::{Decision, NewTask, Role, TaskKind};

fn task(id: &str) -> NewTask {
    NewTask {
        task_id: id.into(),
        workflow_id: format!("wf-{id}"),
        kind: TaskKind::BedPlan,
        role: Role::BedManager,
        summary: "bed plan for tomorrow".into(),
        proposed_bed: None,
        due_at: "2026-12-02T10:00:00Z".into(),
        requested_by: Some("bm.kim".into()),
    }
}

fn decision(task_id: &str, actor: &str, role: Role) -> Decision {
    Decision {
        task_id: task_id.into(),
        approve: true,
        actor: actor.into(),
        role,
        reason: "reserve agreed at the bed meeting".into(),
        bed_id: None,
    }
}

async fn refused(db: &Db, t: &str, d: Decision, why: &str) {
    let before = audit::entries(db).await.unwrap().len();
    match tasks::record_decision(db, &format!("wf-{t}"), TaskKind::BedPlan, &d)
        .await
        .unwrap()
    {
        Recorded::Refused(reason) => assert!(reason.contains(why), "{reason}"),
        Recorded::Recorded => panic!("{d:?} should be refused ({why})"),
    }
    let view = tasks::get(db, t).await.unwrap();
    assert!(
        view.status == "open" || view.status == "claimed",
        "{view:?}"
    );
    assert!(view.decided_by.is_none());
    let entries = audit::entries(db).await.unwrap();
    assert_eq!(entries.len(), before + 1);
    let last = entries.last().unwrap();
    assert_eq!(last.action, "task.decision_refused");
    assert!(last.reason.as_deref().unwrap().contains(why));
}

async fn decisions_are_checked_against_the_store(db: Db) {
    for (name, role) in [
        ("bm.kim", Role::BedManager),
        ("bm.lee", Role::BedManager),
        ("bm.ola", Role::BedManager),
        ("site.sam", Role::SiteManager),
        ("clerk.ana", Role::AdmissionsClerk),
    ] {
        users::upsert(&db, name, role, "test").await.unwrap();
    }
    tasks::open(&db, &task("t1")).await.unwrap();
    tasks::open(&db, &task("t1")).await.unwrap(); // idempotent
    assert_eq!(
        tasks::get(&db, "t1").await.unwrap().requested_by.as_deref(),
        Some("bm.kim")
    );

    // Someone careflow does not know, a role claimed falsely, the wrong queue, the
    // requester, a colleague while another holds the claim: all refused.
    refused(
        &db,
        "t1",
        decision("t1", "mallory", Role::BedManager),
        "not a careflow user",
    )
    .await;
    refused(
        &db,
        "t1",
        decision("t1", "clerk.ana", Role::BedManager),
        "holds role admissions_clerk",
    )
    .await;
    refused(
        &db,
        "t1",
        decision("t1", "site.sam", Role::SiteManager),
        "bed_manager queue",
    )
    .await;
    refused(
        &db,
        "t1",
        decision("t1", "bm.kim", Role::BedManager),
        "asked for",
    )
    .await;
    tasks::claim(&db, "t1", "bm.ola", Role::BedManager)
        .await
        .unwrap();
    refused(
        &db,
        "t1",
        decision("t1", "bm.lee", Role::BedManager),
        "claimed by bm.ola",
    )
    .await;

    // The claim holder decides; a retry of the same step changes nothing.
    let d = decision("t1", "bm.ola", Role::BedManager);
    assert_eq!(
        tasks::record_decision(&db, "wf-t1", TaskKind::BedPlan, &d)
            .await
            .unwrap(),
        Recorded::Recorded
    );
    let n = audit::entries(&db).await.unwrap().len();
    assert_eq!(
        tasks::record_decision(&db, "wf-t1", TaskKind::BedPlan, &d)
            .await
            .unwrap(),
        Recorded::Recorded
    );
    assert_eq!(audit::entries(&db).await.unwrap().len(), n);
    let view = tasks::get(&db, "t1").await.unwrap();
    assert_eq!(
        (view.status.as_str(), view.decided_by.as_deref()),
        ("approved", Some("bm.ola"))
    );
    let approved = audit::entries(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "task.approved")
        .unwrap();
    assert_eq!(approved.actor, "bm.ola");
    assert_eq!(
        approved.meaning.as_deref(),
        Some("approved bed plan for publication")
    );

    // After escalation the site manager's queue holds the task.
    tasks::open(&db, &task("t2")).await.unwrap();
    tasks::escalate(
        &db,
        &Escalation {
            task_id: "t2".into(),
            workflow_id: "wf-t2".into(),
            to_role: Role::SiteManager,
            due_at: "2026-12-02T12:00:00Z".into(),
            escalation: 1,
        },
    )
    .await
    .unwrap();
    refused(
        &db,
        "t2",
        decision("t2", "bm.lee", Role::BedManager),
        "site_manager queue",
    )
    .await;
    assert_eq!(
        tasks::record_decision(
            &db,
            "wf-t2",
            TaskKind::BedPlan,
            &decision("t2", "site.sam", Role::SiteManager)
        )
        .await
        .unwrap(),
        Recorded::Recorded
    );
    assert!(audit::verify(&db).await.unwrap().first_break.is_none());
}

#[tokio::test]
async fn decisions_are_checked_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    decisions_are_checked_against_the_store(db).await;
}

#[tokio::test]
async fn decisions_are_checked_on_postgres() {
    decisions_are_checked_against_the_store(common::postgres().await).await;
}
