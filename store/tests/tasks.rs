//! Recording a decision checks it again against the store: only a user who holds the
//! task's role (and its claim, if claimed) and did not ask for the work may decide, and
//! only with their own unused signature for this task and this content; anything else
//! (unsigned, another's signature, a signature reused, for another task, of another
//! meaning or content) is refused, the refusal audited, and the task left open.

mod common;

use careflow_store::tasks::{self, Escalation, Recorded};
use careflow_store::{audit, signatures, users, Db};
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
        signature_id: None,
    }
}

/// Everyone's password in these tests.
const PASSWORD: &str = "test password 1";

/// `d`, signed by its actor as the API signs it: password re-entered, the task's
/// content hashed.
async fn signed(db: &Db, d: Decision) -> Decision {
    let task = tasks::get(db, &d.task_id).await.unwrap();
    let sig = tasks::sign_decision(
        db,
        &task,
        &d.actor,
        PASSWORD,
        d.approve,
        &d.reason,
        d.bed_id.as_deref(),
    )
    .await
    .unwrap();
    Decision {
        signature_id: Some(sig.signature_id),
        ..d
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
        users::upsert_with_password(&db, name, role, Some(PASSWORD), "test")
            .await
            .unwrap();
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
    // The requester is refused even with a valid signature of their own.
    let own = signed(&db, decision("t1", "bm.kim", Role::BedManager)).await;
    refused(&db, "t1", own, "asked for").await;
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

    // Unsigned, signed by someone else, signed meaning a rejection, signed with another
    // reason: all refused, as a forged update sent straight to Temporal would be.
    refused(
        &db,
        "t1",
        decision("t1", "bm.ola", Role::BedManager),
        "not signed",
    )
    .await;
    let lee = signed(&db, decision("t1", "bm.lee", Role::BedManager)).await;
    refused(
        &db,
        "t1",
        Decision {
            actor: "bm.ola".into(),
            ..lee
        },
        "made by bm.lee, not by bm.ola",
    )
    .await;
    let rejection = signed(
        &db,
        Decision {
            approve: false,
            ..decision("t1", "bm.ola", Role::BedManager)
        },
    )
    .await;
    refused(
        &db,
        "t1",
        Decision {
            approve: true,
            ..rejection
        },
        "means rejected, but the decision is approved",
    )
    .await;
    let other_reason = signed(&db, decision("t1", "bm.ola", Role::BedManager)).await;
    refused(
        &db,
        "t1",
        Decision {
            reason: "a reason nobody signed".into(),
            ..other_reason
        },
        "signed other content",
    )
    .await;
    refused(
        &db,
        "t1",
        Decision {
            signature_id: Some("sig-made-up".into()),
            ..decision("t1", "bm.ola", Role::BedManager)
        },
        "does not exist",
    )
    .await;

    // The claim holder decides with their signature; a retry of the same step changes
    // nothing.
    let d = signed(&db, decision("t1", "bm.ola", Role::BedManager)).await;
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
    // The signature is linked to the task and used up.
    let used = d.signature_id.clone().unwrap();
    assert_eq!(view.signature_id.as_deref(), Some(used.as_str()));
    let sig = signatures::get(&db, &used).await.unwrap().unwrap();
    assert!(sig.used_at.is_some());
    assert_eq!(
        (sig.signer.as_str(), sig.subject.as_str()),
        ("bm.ola", "task/t1")
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
    // A used signature cannot sign again, not even the same person's next decision.
    let sam_first = signed(&db, decision("t2", "site.sam", Role::SiteManager)).await;
    tasks::open(&db, &task("t3")).await.unwrap();
    let sam_t3 = signed(&db, decision("t3", "site.sam", Role::SiteManager)).await;
    refused(
        &db,
        "t2",
        Decision {
            signature_id: sam_t3.signature_id.clone(),
            ..decision("t2", "site.sam", Role::SiteManager)
        },
        "signs task/t3, not task/t2",
    )
    .await;
    assert_eq!(
        tasks::record_decision(&db, "wf-t2", TaskKind::BedPlan, &sam_first)
            .await
            .unwrap(),
        Recorded::Recorded
    );
    tasks::escalate(
        &db,
        &Escalation {
            task_id: "t3".into(),
            workflow_id: "wf-t3".into(),
            to_role: Role::SiteManager,
            due_at: "2026-12-02T12:00:00Z".into(),
            escalation: 1,
        },
    )
    .await
    .unwrap();
    refused(
        &db,
        "t3",
        Decision {
            signature_id: sam_first.signature_id.clone(),
            ..decision("t3", "site.sam", Role::SiteManager)
        },
        "already used",
    )
    .await;
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
