//! The ethics review in the store, on SQLite and PostgreSQL: returned for completeness
//! and resubmitted; expedited reviewers never disapprove and a referral goes to the full
//! committee; a declared conflict excludes a member from assignment and from quorum; a
//! meeting without quorum cannot decide; the votes decide, the chair signs; the
//! modifications loop; an amendment to the approved project; the chair's renewal;
//! a lapse suspends it.

mod common;

use careflow_store::ethics::{
    self, Document, Outcome, Recommendation, Route, Signing, SubmissionContent, Vote,
};
use careflow_store::{audit, users, Db, Error};
use careflow_types::Role;
use chrono::Datelike;

const PW: &str = "committee password 2026";

fn content(title: &str) -> SubmissionContent {
    SubmissionContent {
        title: title.into(),
        technical_plan: "gradient boosted ED arrivals forecast".into(),
        use_case: "bed planning".into(),
        expected_benefit: "fewer outliers".into(),
        risks: "forecast error".into(),
        data_used: "ED attendance counts".into(),
        legal_basis: "public task".into(),
        consent_plan: "no identifiable data; no consent needed".into(),
        bias_assessment: "errors by hour block and weekday".into(),
        documents: vec![Document {
            name: "protocol.md".into(),
            content: "protocol".into(),
        }],
    }
}

async fn committee(db: &Db) {
    for (n, r) in [
        ("lead.lu", Role::ProjectLead),
        ("sec.sue", Role::EthicsSecretary),
        ("chair.cy", Role::CommitteeChair),
        ("sci.sam", Role::CommitteeMember),
        ("sci.sol", Role::CommitteeMember),
        ("lay.lee", Role::CommitteeMember),
        ("admin", Role::Admin),
    ] {
        users::upsert_with_password(db, n, r, Some(PW), "test")
            .await
            .expect("user");
    }
    for (m, lay) in [
        ("chair.cy", false),
        ("sci.sam", false),
        ("sci.sol", false),
        ("lay.lee", true),
    ] {
        ethics::add_member(db, "admin", m, lay)
            .await
            .expect("member");
    }
}

async fn review_life(db: Db) {
    committee(&db).await;
    let mut bad = content("x");
    bad.consent_plan = " ".into();
    let err = ethics::submit(&db, "lead.lu", &bad)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("consent_plan: must not be empty"), "{err}");

    let s = ethics::submit(&db, "lead.lu", &content("ED forecast"))
        .await
        .expect("submit");
    let docs = ethics::documents(&db, &s.submission_id, 1).await.unwrap();
    assert_eq!(
        docs,
        vec![("protocol.md".to_owned(), ethics::sha256_hex(b"protocol"))]
    );
    let id = s.submission_id.clone();
    let r = ethics::check_completeness(
        &db,
        &id,
        "sec.sue",
        false,
        "bias assessment lacks subgroups",
    )
    .await
    .unwrap();
    assert_eq!(r.state, "returned");
    assert_eq!(
        ethics::queue(&db, "lead.lu").await.unwrap()[0].action,
        "resubmit"
    );
    let r = ethics::resubmit(&db, &id, "lead.lu", &content("ED forecast v2"))
        .await
        .unwrap();
    assert_eq!((r.state.as_str(), r.version), ("submitted", 2));
    ethics::check_completeness(&db, &id, "sec.sue", true, "complete")
        .await
        .unwrap();
    ethics::route(&db, &id, "sec.sue", Route::Expedited, "low risk")
        .await
        .unwrap();

    // A conflict excludes the member from assignment.
    ethics::declare_conflict(&db, &id, "sci.sol", "co-author of the model")
        .await
        .unwrap();
    let err = ethics::assign_reviewers(&db, &id, "sec.sue", &["sci.sol".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("sci.sol declared a conflict"), "{err}");
    let err = ethics::assign_reviewers(&db, &id, "sec.sue", &["lead.lu".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("applicant"), "{err}");
    ethics::assign_reviewers(&db, &id, "sec.sue", &["sci.sam".into()])
        .await
        .unwrap();

    // Expedited: never disapproves; a wrong password signs nothing; referral.
    let err = ethics::review(
        &db,
        &id,
        "sci.sam",
        PW,
        Recommendation::NotApprove,
        "not safe enough",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("never not_approve"), "{err}");
    assert!(ethics::review(
        &db,
        &id,
        "sci.sam",
        "wrong password!",
        Recommendation::Refer,
        "needs committee"
    )
    .await
    .is_err());
    let r = ethics::review(
        &db,
        &id,
        "sci.sam",
        PW,
        Recommendation::Refer,
        "needs committee",
    )
    .await
    .unwrap();
    assert_eq!(
        (r.state.as_str(), r.route.as_deref()),
        ("awaiting_meeting", Some("full_committee"))
    );

    // Quorum: 4 members; the conflicted one leaves; chair + sci.sam without a lay member
    // is not quorate, and cannot decide.
    let m = ethics::hold_meeting(
        &db,
        &id,
        "sec.sue",
        &["chair.cy".into(), "sci.sam".into(), "sci.sol".into()],
    )
    .await
    .unwrap();
    assert!(!m.quorate, "{}", m.quorum_note);
    assert_eq!(m.counted, vec!["chair.cy".to_owned(), "sci.sam".to_owned()]);
    assert!(
        m.quorum_note
            .contains("left for a conflict of interest: sci.sol"),
        "{}",
        m.quorum_note
    );
    let err = ethics::decide(
        &db,
        &m.meeting_id,
        "chair.cy",
        PW,
        Outcome::Approved,
        "approved, see minutes",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("not quorate"), "{err}");
    let m = ethics::hold_meeting(
        &db,
        &id,
        "sec.sue",
        &[
            "chair.cy".into(),
            "sci.sam".into(),
            "lay.lee".into(),
            "sci.sol".into(),
        ],
    )
    .await
    .unwrap();
    assert!(m.quorate, "{}", m.quorum_note);
    let err = ethics::vote(&db, &m.meeting_id, "sci.sol", PW, Vote::Approve)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("may not vote"), "{err}");
    for who in ["chair.cy", "sci.sam", "lay.lee"] {
        ethics::vote(&db, &m.meeting_id, who, PW, Vote::Modifications)
            .await
            .unwrap();
    }
    assert!(
        ethics::vote(&db, &m.meeting_id, "lay.lee", PW, Vote::Approve)
            .await
            .is_err()
    );
    let err = ethics::decide(
        &db,
        &m.meeting_id,
        "chair.cy",
        PW,
        Outcome::Approved,
        "approved, see minutes",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("decide approved_after_modifications"), "{err}");
    let r = ethics::decide(
        &db,
        &m.meeting_id,
        "chair.cy",
        PW,
        Outcome::ApprovedAfterModifications,
        "add a subgroup table",
    )
    .await
    .unwrap();
    assert_eq!(r.state, "modifications_requested");

    // Modifications loop: refused once, then verified.
    ethics::respond(&db, &id, "lead.lu", "table added")
        .await
        .unwrap();
    assert!(ethics::verify(&db, &id, "lead.lu", PW, true, "fine")
        .await
        .is_err());
    let r = ethics::verify(&db, &id, "chair.cy", PW, false, "table lacks weekday")
        .await
        .unwrap();
    assert_eq!(r.state, "modifications_requested");
    ethics::respond(&db, &id, "lead.lu", "weekday added")
        .await
        .unwrap();
    let r = ethics::verify(&db, &id, "sci.sam", PW, true, "complete now")
        .await
        .unwrap();
    assert_eq!(r.state, "approved");
    let until = r.approved_until.clone().expect("expiry");

    // Amendment to the approved project: its own review, conflicts carried over.
    let a = ethics::file_amendment(&db, &id, "lead.lu", &content("model v2"))
        .await
        .unwrap();
    assert_eq!(
        (a.kind.as_str(), a.project_id.as_str(), a.state.as_str()),
        ("amendment", id.as_str(), "submitted")
    );
    ethics::check_completeness(&db, &a.submission_id, "sec.sue", true, "complete")
        .await
        .unwrap();
    ethics::route(&db, &a.submission_id, "sec.sue", Route::Expedited, "minor")
        .await
        .unwrap();
    assert!(
        ethics::assign_reviewers(&db, &a.submission_id, "sec.sue", &["sci.sol".into()])
            .await
            .is_err()
    );

    // Continuing review: only the chair renews, signed, for another period from the
    // expiry; the old expiry then no longer lapses the project.
    let report = "twelve months of use, no incidents, error within the protocol";
    assert!(matches!(
        ethics::renew_by(&db, &id, "sci.sol", Signing::Password(PW), report).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        ethics::renew_by(
            &db,
            &id,
            "chair.cy",
            Signing::Password("not the chair's"),
            report
        )
        .await,
        Err(Error::BadCredentials(_))
    ));
    assert!(matches!(
        ethics::renew_by(&db, &id, "chair.cy", Signing::Password(PW), "ok").await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        ethics::renew_by(
            &db,
            &a.submission_id,
            "chair.cy",
            Signing::Password(PW),
            report
        )
        .await,
        Err(Error::Invalid(_))
    ));
    let renewed = ethics::renew_by(&db, &id, "chair.cy", Signing::Password(PW), report)
        .await
        .unwrap();
    let new_until = renewed.approved_until.clone().expect("expiry");
    let months = |t: &str| {
        let t = chrono::DateTime::parse_from_rfc3339(t).unwrap();
        t.year() * 12 + t.month() as i32
    };
    assert_eq!(
        months(&new_until) - months(&until),
        12,
        "{until} -> {new_until}"
    );
    assert_eq!(renewed.state, "approved");
    assert!(ethics::suspend_lapsed(&db, &format!("{until}Z"))
        .await
        .unwrap()
        .is_empty());
    let until = new_until;

    // Lapse: past the expiry the project is suspended.
    assert!(ethics::suspend_lapsed(&db, "2026-01-01T00:00:00Z")
        .await
        .unwrap()
        .is_empty());
    let lapsed = ethics::suspend_lapsed(&db, &format!("{until}Z"))
        .await
        .unwrap();
    assert_eq!(lapsed, vec![id.clone()]);
    assert_eq!(ethics::get(&db, &id).await.unwrap().state, "suspended");

    let actions: Vec<String> = audit::entries_for_workflow(&db, &ethics::workflow_id(&id))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for a in [
        "ethics.returned",
        "ethics.referred",
        "ethics.meeting_not_quorate",
        "ethics.voted",
        "ethics.decided",
        "ethics.modifications_verified",
        "ethics.renewed",
        "ethics.suspended",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    assert!(
        audit::verify(&db).await.unwrap().first_break.is_none(),
        "audit chain intact"
    );
}

#[tokio::test]
async fn ethics_review_sqlite() {
    let (_dir, db) = common::sqlite().await;
    review_life(db).await;
}

#[tokio::test]
async fn ethics_review_postgres() {
    review_life(common::postgres().await).await;
}
