//! The ethics review workflow against the official Temporal test server and a real
//! SQLite database: every step goes through the workflow's `step` update and the store;
//! signing steps are signed with the person's password first, as the API does, and
//! only the signature travels. Returned for completeness and resubmitted; an expedited
//! referral to the full committee; a conflict excluded from assignment and quorum; a
//! meeting without quorum that cannot decide; the modifications loop; a lapse found by
//! the continuing review's timer under time skipping; the chair's renewal carrying the
//! project past its first expiry; an amendment reviewed on its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use temporalio_client::errors::WorkflowUpdateError;
use temporalio_client::{
    Client, WorkflowExecuteUpdateOptions, WorkflowGetResultOptions, WorkflowHistory,
    WorkflowQueryOptions, WorkflowStartOptions,
};
use temporalio_common::protos::temporal::api::testservice::v1::SleepRequest;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

use careflow_store::ethics::{
    self, Document, Outcome, Recommendation, Route, SubmissionContent, Vote,
};
use careflow_store::Db;
use careflow_types::ethics::{EthicsReviewInput, EthicsReviewOutcome, EthicsStep, EthicsStepDone};
use careflow_types::{Role, TASK_QUEUE};
use careflow_workflows::EthicsReviewWorkflow;

mod common;
use common::{actions, maybe_record, staff_user, start_server, with_worker, STAFF_PASSWORD};

const LEAD: &str = "lead.lu";
const SECRETARY: &str = "sec.sue";
const CHAIR: &str = "chair.cy";

/// The committee: a chair and two scientific members, one lay member; a project lead,
/// the secretary.
async fn committee(db: &Db) {
    for (n, r) in [
        (LEAD, Role::ProjectLead),
        (SECRETARY, Role::EthicsSecretary),
        (CHAIR, Role::CommitteeChair),
        ("sci.sam", Role::CommitteeMember),
        ("sci.sol", Role::CommitteeMember),
        ("lay.lee", Role::CommitteeMember),
    ] {
        staff_user(db, n, r).await;
    }
    for (m, lay) in [
        (CHAIR, false),
        ("sci.sam", false),
        ("sci.sol", false),
        ("lay.lee", true),
    ] {
        ethics::add_member(db, SECRETARY, m, lay)
            .await
            .expect("member");
    }
}

fn content(title: &str) -> SubmissionContent {
    SubmissionContent {
        title: title.into(),
        technical_plan: "gradient-boosted hourly ED arrivals forecast with quantiles".into(),
        use_case: "bed planning holds back beds for the forecast emergency demand".into(),
        expected_benefit: "fewer outliers and cancelled electives".into(),
        risks: "under-forecast on holidays leaves too few beds".into(),
        data_used: "hourly ED attendance counts, no patient identifiers".into(),
        legal_basis: "public task (GDPR art. 6(1)(e))".into(),
        consent_plan: "aggregate counts only; no consent needed".into(),
        bias_assessment: "error by hour block, weekday and holiday".into(),
        documents: vec![Document {
            name: "protocol.md".into(),
            content: "# Protocol\nrolling-origin backtest".into(),
        }],
    }
}

/// Starts the review of a stored submission and waits until it has read it.
async fn start_review(client: &Client, submission_id: &str) -> String {
    let wf = ethics::workflow_id(submission_id);
    client
        .start_workflow(
            EthicsReviewWorkflow::run,
            EthicsReviewInput {
                submission_id: submission_id.into(),
            },
            WorkflowStartOptions::new(TASK_QUEUE, wf.clone()).build(),
        )
        .await
        .expect("start review");
    let handle = client.get_workflow_handle::<EthicsReviewWorkflow>(wf.clone());
    for _ in 0..300 {
        let status = handle
            .query(
                EthicsReviewWorkflow::status,
                (),
                WorkflowQueryOptions::default(),
            )
            .await
            .expect("status");
        if status.submission.is_some() {
            return wf;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the review of {submission_id} never read its submission");
}

/// Sends one step as the API would: a signing step signed first with its actor's
/// password. The refusal, if any, as the person would read it.
async fn step(
    client: &Client,
    db: &Db,
    id: &str,
    step: EthicsStep,
) -> Result<EthicsStepDone, String> {
    let step = ethics::sign_step(db, id, STAFF_PASSWORD, &step)
        .await
        .map_err(|e| e.to_string())?;
    send(client, id, step).await
}

/// Sends a step as it is (unsigned: what a forger past the API would send).
async fn send(client: &Client, id: &str, step: EthicsStep) -> Result<EthicsStepDone, String> {
    client
        .get_workflow_handle::<EthicsReviewWorkflow>(ethics::workflow_id(id))
        .execute_update(
            EthicsReviewWorkflow::step,
            step,
            WorkflowExecuteUpdateOptions::default(),
        )
        .await
        .map_err(|e| match e {
            WorkflowUpdateError::Failed(f) => f.message,
            other => other.to_string(),
        })
}

async fn ok(client: &Client, db: &Db, id: &str, s: EthicsStep) -> EthicsStepDone {
    let name = s.name();
    step(client, db, id, s)
        .await
        .unwrap_or_else(|e| panic!("{name} refused: {e}"))
}

async fn outcome(client: &Client, wf: &str) -> EthicsReviewOutcome {
    client
        .get_workflow_handle::<EthicsReviewWorkflow>(wf.to_owned())
        .get_result(WorkflowGetResultOptions::default())
        .await
        .expect("review result")
}

fn check(complete: bool, comments: &str) -> EthicsStep {
    EthicsStep::CheckCompleteness {
        secretary: SECRETARY.into(),
        complete,
        comments: comments.into(),
    }
}

fn route(route: Route, reason: &str) -> EthicsStep {
    EthicsStep::Route {
        secretary: SECRETARY.into(),
        route,
        reason: reason.into(),
    }
}

fn assign(reviewers: &[&str]) -> EthicsStep {
    EthicsStep::AssignReviewers {
        secretary: SECRETARY.into(),
        reviewers: reviewers.iter().map(|r| r.to_string()).collect(),
    }
}

fn review(reviewer: &str, recommendation: Recommendation) -> EthicsStep {
    EthicsStep::Review {
        reviewer: reviewer.into(),
        recommendation,
        comments: format!("{reviewer}: read the protocol and the bias table"),
        signature_id: None,
    }
}

fn meeting(present: &[&str]) -> EthicsStep {
    EthicsStep::HoldMeeting {
        secretary: SECRETARY.into(),
        present: present.iter().map(|r| r.to_string()).collect(),
    }
}

fn vote(meeting_id: &str, member: &str, vote: Vote) -> EthicsStep {
    EthicsStep::Vote {
        meeting_id: meeting_id.into(),
        member: member.into(),
        vote,
        signature_id: None,
    }
}

fn decide(meeting_id: &str, outcome: Outcome) -> EthicsStep {
    EthicsStep::Decide {
        meeting_id: meeting_id.into(),
        chair: CHAIR.into(),
        outcome,
        letter: format!(
            "The committee's decision: {}. Reasons are in the minutes.",
            outcome.as_str()
        ),
        signature_id: None,
    }
}

fn respond(response: &str) -> EthicsStep {
    EthicsStep::Respond {
        applicant: LEAD.into(),
        response: response.into(),
    }
}

fn renew(chair: &str) -> EthicsStep {
    EthicsStep::Renew {
        chair: chair.into(),
        report: "a year of use: no incidents, error within the protocol's bounds".into(),
        signature_id: None,
    }
}

/// Lets the test server's clock run `days` ahead (time skipping).
async fn skip_days(client: &Client, days: i64) {
    let sleep = SleepRequest {
        duration: Some(prost_wkt_types::Duration {
            seconds: days * 24 * 3600,
            nanos: 0,
        }),
    };
    client
        .connection()
        .test_service()
        .unlock_time_skipping_with_sleep(temporalio_client::tonic::Request::new(sleep))
        .await
        .expect("skip time");
}

fn verify(verifier: &str, accept: bool, comments: &str) -> EthicsStep {
    EthicsStep::Verify {
        verifier: verifier.into(),
        accept,
        comments: comments.into(),
        signature_id: None,
    }
}

/// A submission checked complete and routed `r`.
async fn routed(client: &Client, db: &Db, title: &str, r: Route) -> (String, String) {
    let s = ethics::submit(db, LEAD, &content(title))
        .await
        .expect("submit");
    let wf = start_review(client, &s.submission_id).await;
    ok(
        client,
        db,
        &s.submission_id,
        check(true, "all nine sections and the protocol present"),
    )
    .await;
    ok(
        client,
        db,
        &s.submission_id,
        route(r, "prospective use on live operational data"),
    )
    .await;
    (s.submission_id, wf)
}

/// A quorate meeting whose present members all vote `v`, and the chair's decision.
async fn meeting_decides(
    client: &Client,
    db: &Db,
    id: &str,
    present: &[&str],
    v: Vote,
    o: Outcome,
) -> EthicsStepDone {
    let held = ok(client, db, id, meeting(present)).await;
    let m = held.meeting.expect("meeting recorded");
    assert!(m.quorate, "{}", m.quorum_note);
    for member in &m.counted {
        ok(client, db, id, vote(&m.meeting_id, member, v)).await;
    }
    ok(client, db, id, decide(&m.meeting_id, o)).await
}

async fn sqlite() -> (tempfile::TempDir, Db) {
    careflow_testkit::db::sqlite().await
}

#[tokio::test(flavor = "multi_thread")]
async fn returned_for_completeness_then_resubmitted_and_exempted() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let s = ethics::submit(&db, LEAD, &content("ED arrivals forecaster"))
            .await
            .expect("submit");
        let id = s.submission_id.clone();
        let wf = start_review(&client, &id).await;
        let done = ok(
            &client,
            &db,
            &id,
            check(false, "the consent plan lacks the opt-out notice"),
        )
        .await;
        assert_eq!(done.submission.state, "returned");
        assert_eq!(
            done.submission.comments.as_deref(),
            Some("the consent plan lacks the opt-out notice")
        );
        // The workflow refuses what does not fit the state; the store what the person
        // may not do.
        let err = step(
            &client,
            &db,
            &id,
            route(Route::Exempt, "aggregate data only"),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("is returned; the route needs it complete"),
            "{err}"
        );
        let err = step(
            &client,
            &db,
            &id,
            EthicsStep::Resubmit {
                applicant: "sci.sam".into(),
                content: content("ED arrivals forecaster"),
            },
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("only the applicant lead.lu may resubmit"),
            "{err}"
        );
        let mut v2 = content("ED arrivals forecaster");
        v2.consent_plan = "aggregate counts only; opt-out notice on the hospital website".into();
        let done = ok(
            &client,
            &db,
            &id,
            EthicsStep::Resubmit {
                applicant: LEAD.into(),
                content: v2,
            },
        )
        .await;
        assert_eq!(
            (done.submission.state.as_str(), done.submission.version),
            ("submitted", 2)
        );
        assert_ne!(done.submission.content_sha256, s.content_sha256);
        ok(&client, &db, &id, check(true, "version 2 is complete")).await;
        let done = ok(
            &client,
            &db,
            &id,
            route(
                Route::Exempt,
                "aggregate counts, no decision about a person",
            ),
        )
        .await;
        assert_eq!(done.submission.state, "exempt");
        let end = outcome(&client, &wf).await;
        assert_eq!(end.state, "exempt");
        maybe_record(&client, &wf, "ethics_returned_resubmitted_exempt").await;
        let a = actions(&db, &wf).await;
        for expected in [
            "ethics.returned",
            "ethics.resubmitted",
            "ethics.complete",
            "ethics.routed",
        ] {
            assert!(a.contains(&expected.to_owned()), "{expected} in {a:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expedited_reviewer_refers_to_the_full_committee() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let (id, wf) = routed(&client, &db, "No-show predictor", Route::Expedited).await;
        let err = step(
            &client,
            &db,
            &id,
            assign(&["sci.sam", "sci.sol", "lay.lee"]),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("reviewers: an expedited review needs one or two, got 3"),
            "{err}"
        );
        ok(&client, &db, &id, assign(&["sci.sam"])).await;
        // Unsigned, the review does not pass the workflow; an expedited reviewer never
        // disapproves.
        let err = send(&client, &id, review("sci.sam", Recommendation::Refer))
            .await
            .unwrap_err();
        assert!(err.contains("the review is not signed"), "{err}");
        let err = step(
            &client,
            &db,
            &id,
            review("sci.sam", Recommendation::NotApprove),
        )
        .await
        .unwrap_err();
        assert!(err.contains("never not_approve"), "{err}");
        let done = ok(&client, &db, &id, review("sci.sam", Recommendation::Refer)).await;
        assert_eq!(done.submission.state, "awaiting_meeting");
        assert_eq!(done.submission.route.as_deref(), Some("full_committee"));
        let held = ok(
            &client,
            &db,
            &id,
            meeting(&[CHAIR, "sci.sam", "sci.sol", "lay.lee"]),
        )
        .await;
        let m = held.meeting.expect("meeting");
        for (member, v) in [
            (CHAIR, Vote::NotApprove),
            ("sci.sam", Vote::NotApprove),
            ("sci.sol", Vote::NotApprove),
            ("lay.lee", Vote::Approve),
        ] {
            ok(&client, &db, &id, vote(&m.meeting_id, member, v)).await;
        }
        // The chair signs what the votes decided, nothing else.
        let err = step(&client, &db, &id, decide(&m.meeting_id, Outcome::Approved))
            .await
            .unwrap_err();
        assert!(err.contains("decide not_approved, not approved"), "{err}");
        let done = ok(
            &client,
            &db,
            &id,
            decide(&m.meeting_id, Outcome::NotApproved),
        )
        .await;
        assert_eq!(done.submission.state, "not_approved");
        assert!(done
            .submission
            .decision_letter
            .as_deref()
            .unwrap_or_default()
            .contains("not_approved"));
        let end = outcome(&client, &wf).await;
        assert_eq!(
            (end.state.as_str(), end.decision.as_deref()),
            ("not_approved", Some("not_approved"))
        );
        maybe_record(&client, &wf, "ethics_expedited_referred_not_approved").await;
        let a = actions(&db, &wf).await;
        for expected in [
            "ethics.referred",
            "ethics.meeting_quorate",
            "ethics.voted",
            "ethics.decided",
        ] {
            assert!(a.contains(&expected.to_owned()), "{expected} in {a:?}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conflicted_member_is_excluded_from_assignment_and_quorum() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let (id, wf) = routed(&client, &db, "Surgery duration model", Route::FullCommittee).await;
        ok(
            &client,
            &db,
            &id,
            EthicsStep::DeclareConflict {
                member: "sci.sol".into(),
                reason: "co-author of the model".into(),
            },
        )
        .await;
        let err = step(&client, &db, &id, assign(&["sci.sol"]))
            .await
            .unwrap_err();
        assert!(
            err.contains("reviewers[0]: sci.sol declared a conflict of interest"),
            "{err}"
        );
        ok(&client, &db, &id, assign(&["sci.sam", "lay.lee"])).await;
        ok(
            &client,
            &db,
            &id,
            review("sci.sam", Recommendation::Approve),
        )
        .await;
        let done = ok(
            &client,
            &db,
            &id,
            review("lay.lee", Recommendation::Approve),
        )
        .await;
        assert_eq!(done.submission.state, "awaiting_meeting");
        // sci.sol leaves the room: two of four count, no quorum.
        let held = ok(&client, &db, &id, meeting(&[CHAIR, "sci.sol", "lay.lee"])).await;
        let m = held.meeting.expect("meeting");
        assert!(!m.quorate);
        assert_eq!(m.counted, vec![CHAIR.to_owned(), "lay.lee".to_owned()]);
        assert!(
            m.quorum_note
                .contains("left for a conflict of interest: sci.sol"),
            "{}",
            m.quorum_note
        );
        let held = ok(
            &client,
            &db,
            &id,
            meeting(&[CHAIR, "sci.sam", "sci.sol", "lay.lee"]),
        )
        .await;
        let m = held.meeting.expect("meeting");
        assert!(m.quorate, "{}", m.quorum_note);
        assert!(!m.counted.contains(&"sci.sol".to_owned()));
        let err = step(
            &client,
            &db,
            &id,
            vote(&m.meeting_id, "sci.sol", Vote::Approve),
        )
        .await
        .unwrap_err();
        assert!(err.contains("sci.sol may not vote"), "{err}");
        for member in [CHAIR, "sci.sam", "lay.lee"] {
            ok(
                &client,
                &db,
                &id,
                vote(&m.meeting_id, member, Vote::Approve),
            )
            .await;
        }
        let done = ok(&client, &db, &id, decide(&m.meeting_id, Outcome::Approved)).await;
        assert_eq!(done.submission.state, "approved");
        assert!(done.submission.approved_until.is_some());
        maybe_record(&client, &wf, "ethics_conflict_excluded_approved").await;
        assert!(actions(&db, &wf)
            .await
            .contains(&"ethics.conflict_declared".to_owned()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_meeting_without_quorum_cannot_decide() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let (id, wf) = routed(&client, &db, "Scanner demand model", Route::FullCommittee).await;
        ok(&client, &db, &id, assign(&["sci.sam"])).await;
        ok(
            &client,
            &db,
            &id,
            review("sci.sam", Recommendation::Approve),
        )
        .await;
        // Three of four, but no lay member.
        let held = ok(&client, &db, &id, meeting(&[CHAIR, "sci.sam", "sci.sol"])).await;
        let m = held.meeting.expect("meeting");
        assert!(!m.quorate);
        assert!(
            m.quorum_note.contains("0 lay (one needed)"),
            "{}",
            m.quorum_note
        );
        assert_eq!(held.submission.state, "awaiting_meeting");
        let err = step(
            &client,
            &db,
            &id,
            vote(&m.meeting_id, "sci.sam", Vote::Approve),
        )
        .await
        .unwrap_err();
        assert!(err.contains("was not quorate"), "{err}");
        let err = step(&client, &db, &id, decide(&m.meeting_id, Outcome::Approved))
            .await
            .unwrap_err();
        assert!(
            err.contains("was not quorate") && err.contains("cannot decide"),
            "{err}"
        );
        // The store refuses it too, past the workflow.
        let err = ethics::decide(
            &db,
            &m.meeting_id,
            CHAIR,
            STAFF_PASSWORD,
            Outcome::Approved,
            "approved without quorum",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("was not quorate: it cannot decide"), "{err}");
        let done = meeting_decides(
            &client,
            &db,
            &id,
            &[CHAIR, "sci.sam", "lay.lee"],
            Vote::Defer,
            Outcome::Deferred,
        )
        .await;
        assert_eq!(done.submission.state, "deferred");
        let queue = ethics::queue(&db, SECRETARY).await.expect("queue");
        assert!(
            queue
                .iter()
                .any(|q| q.submission_id == id && q.action == "hold the meeting"),
            "{queue:?}"
        );
        maybe_record(&client, &wf, "ethics_not_quorate_then_deferred").await;
        assert!(actions(&db, &wf)
            .await
            .contains(&"ethics.meeting_not_quorate".to_owned()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn modifications_are_answered_and_verified_until_accepted() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let (id, wf) = routed(&client, &db, "Bed demand model", Route::FullCommittee).await;
        ok(&client, &db, &id, assign(&["sci.sam"])).await;
        ok(
            &client,
            &db,
            &id,
            review("sci.sam", Recommendation::Modifications),
        )
        .await;
        let done = meeting_decides(
            &client,
            &db,
            &id,
            &[CHAIR, "sci.sam", "lay.lee"],
            Vote::Modifications,
            Outcome::ApprovedAfterModifications,
        )
        .await;
        assert_eq!(done.submission.state, "modifications_requested");
        let err = step(
            &client,
            &db,
            &id,
            verify(CHAIR, true, "nothing to verify yet"),
        )
        .await
        .unwrap_err();
        assert!(err.contains("needs it modifications_submitted"), "{err}");
        ok(&client, &db, &id, respond("added the weekday error table")).await;
        // The applicant does not verify their own modifications.
        let err = step(&client, &db, &id, verify(LEAD, true, "done"))
            .await
            .unwrap_err();
        assert!(err.contains("is the applicant"), "{err}");
        let done = ok(
            &client,
            &db,
            &id,
            verify(CHAIR, false, "the holiday errors are still missing"),
        )
        .await;
        assert_eq!(done.submission.state, "modifications_requested");
        ok(&client, &db, &id, respond("added the holiday error table")).await;
        let done = ok(
            &client,
            &db,
            &id,
            verify("sci.sam", true, "both tables present and plausible"),
        )
        .await;
        assert_eq!(done.submission.state, "approved");
        assert_eq!(
            done.submission.decision.as_deref(),
            Some("approved_after_modifications")
        );
        maybe_record(&client, &wf, "ethics_modifications_loop_approved").await;
        let a = actions(&db, &wf).await;
        assert!(
            a.contains(&"ethics.modifications_refused".to_owned()),
            "{a:?}"
        );
        assert!(
            a.contains(&"ethics.modifications_verified".to_owned()),
            "{a:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lapsed_approval_suspends_the_project() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let (id, wf) = routed(&client, &db, "ED arrivals forecaster", Route::Expedited).await;
        ok(&client, &db, &id, assign(&["sci.sam"])).await;
        let done = ok(
            &client,
            &db,
            &id,
            review("sci.sam", Recommendation::Approve),
        )
        .await;
        assert_eq!(done.submission.state, "approved");
        // Nobody renews for 13 months of (skipped) server time.
        skip_days(&client, 395).await;
        let end = outcome(&client, &wf).await;
        assert_eq!(end.state, "suspended");
        assert!(end.reminders >= 1, "{end:?}");
        let s = ethics::get(&db, &id).await.expect("submission");
        assert_eq!(s.state, "suspended");
        maybe_record(&client, &wf, "ethics_lapse_suspended").await;
        let a = actions(&db, &wf).await;
        let reminder = a
            .iter()
            .position(|x| x == "ethics.reminder")
            .expect("a reminder before expiry");
        let suspended = a
            .iter()
            .position(|x| x == "ethics.suspended")
            .expect("suspended");
        assert!(reminder < suspended, "{a:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renewed_approval_outlives_its_first_expiry_and_lapses_at_the_next() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let (id, wf) = routed(&client, &db, "ED arrivals forecaster", Route::Expedited).await;
        ok(&client, &db, &id, assign(&["sci.sam"])).await;
        let done = ok(
            &client,
            &db,
            &id,
            review("sci.sam", Recommendation::Approve),
        )
        .await;
        let first_expiry = done.submission.approved_until.clone().expect("expiry");
        // Only the chair renews; a member's renewal is refused and changes nothing.
        let refused = step(&client, &db, &id, renew("sci.sol")).await;
        assert!(refused.is_err(), "{refused:?}");
        let renewed = ok(&client, &db, &id, renew(CHAIR)).await;
        let second_expiry = renewed.submission.approved_until.clone().expect("expiry");
        assert!(
            second_expiry > first_expiry,
            "{first_expiry} -> {second_expiry}"
        );
        // Thirteen months on, past the first expiry: still approved, still watched.
        skip_days(&client, 395).await;
        let s = ethics::get(&db, &id).await.expect("submission");
        assert_eq!(
            (s.state.as_str(), s.approved_until.as_deref()),
            ("approved", Some(second_expiry.as_str()))
        );
        assert!(!actions(&db, &wf)
            .await
            .contains(&"ethics.suspended".to_owned()));
        // Nobody renews again: at the second expiry the project is suspended.
        skip_days(&client, 365).await;
        let end = outcome(&client, &wf).await;
        assert_eq!(end.state, "suspended");
        let a = actions(&db, &wf).await;
        let renewed_at = a
            .iter()
            .position(|x| x == "ethics.renewed")
            .expect("renewed");
        let suspended_at = a
            .iter()
            .position(|x| x == "ethics.suspended")
            .expect("suspended");
        assert!(renewed_at < suspended_at, "{a:?}");
        let reminded_at = a
            .iter()
            .position(|x| x == "ethics.reminder")
            .expect("reminded");
        assert!(
            renewed_at < reminded_at && reminded_at < suspended_at,
            "the renewed period's reminder comes before its expiry: {a:?}"
        );
        maybe_record(&client, &wf, "ethics_renewed_then_lapsed").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_amendment_is_reviewed_as_a_submission_of_its_own() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let (project, _wf) = routed(&client, &db, "ED arrivals forecaster", Route::Expedited).await;
        ok(&client, &db, &project, assign(&["sci.sam"])).await;
        ok(
            &client,
            &db,
            &project,
            review("sci.sam", Recommendation::Approve),
        )
        .await;
        let mut change = content("ED arrivals forecaster 1.2.0");
        change.technical_plan = "new version adds the arrivals history as a feature".into();
        let amendment = ethics::file_amendment(&db, &project, LEAD, &change)
            .await
            .expect("amendment");
        assert_eq!(
            (amendment.kind.as_str(), amendment.project_id.as_str()),
            ("amendment", project.as_str())
        );
        let id = amendment.submission_id.clone();
        let wf = start_review(&client, &id).await;
        ok(
            &client,
            &db,
            &id,
            check(true, "change described, validation attached"),
        )
        .await;
        ok(
            &client,
            &db,
            &id,
            route(Route::Expedited, "a model version within the approved use"),
        )
        .await;
        ok(&client, &db, &id, assign(&["lay.lee"])).await;
        let done = ok(
            &client,
            &db,
            &id,
            review("lay.lee", Recommendation::Approve),
        )
        .await;
        assert_eq!(done.submission.state, "approved");
        // The amendment's review ends at its decision; the project stays approved.
        let end = outcome(&client, &wf).await;
        assert_eq!(end.state, "approved");
        assert_eq!(
            ethics::get(&db, &project).await.expect("project").state,
            "approved"
        );
        maybe_record(&client, &wf, "ethics_amendment_approved").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overdue_step_is_reminded_and_the_review_goes_on() {
    let (_server, client) = start_server().await;
    let (_dir, db) = sqlite().await;
    with_worker(&client, &db, async {
        committee(&db).await;
        let s = ethics::submit(&db, LEAD, &content("Discharge predictor"))
            .await
            .expect("submit");
        let id = s.submission_id.clone();
        let wf = start_review(&client, &id).await;
        // The secretary has five days for the completeness check; six pass.
        skip_days(&client, 6).await;
        let handle = client.get_workflow_handle::<EthicsReviewWorkflow>(wf.clone());
        let mut reminders = 0;
        for _ in 0..300 {
            reminders = handle
                .query(
                    EthicsReviewWorkflow::status,
                    (),
                    WorkflowQueryOptions::default(),
                )
                .await
                .expect("status")
                .reminders;
            if reminders > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(reminders, 1);
        let entries = careflow_store::audit::entries_for_workflow(&db, &wf)
            .await
            .expect("audit");
        let reminder = entries
            .iter()
            .find(|e| e.action == "ethics.reminder")
            .expect("an audited reminder");
        assert!(
            reminder
                .reason
                .as_deref()
                .unwrap_or_default()
                .contains("overdue: the step awaited in state submitted"),
            "{reminder:?}"
        );
        // The late check still goes through.
        let done = ok(&client, &db, &id, check(true, "complete, checked late")).await;
        assert_eq!(done.submission.state, "complete");
        maybe_record(&client, &wf, "ethics_overdue_reminded").await;
    })
    .await;
}

/// The saved ethics histories replay against the workflow as it is now.
#[tokio::test]
async fn ethics_histories_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("histories dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("ethics_") && n.ends_with(".json"))
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 7,
        "expected the saved ethics histories in {}",
        dir.display()
    );
    let replayer = WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .register_workflow::<EthicsReviewWorkflow>()
            .expect("register")
            .build(),
    )
    .expect("replayer");
    for f in files {
        let history =
            WorkflowHistory::from_json(&std::fs::read(&f).expect("read")).expect("history json");
        replayer
            .replay_workflow(history)
            .await
            .unwrap_or_else(|e| panic!("{} no longer replays: {e}", f.display()));
    }
}
