//! The demo's ethics review: the ED arrivals forecaster, the AI project behind the bed
//! plan, goes before the committee.
//!
//! `lead.lena`, its project lead, submits it with its protocol and bias assessment;
//! `ethics.sue`, the secretary, checks it complete, routes it to the full committee and
//! assigns a scientific and a lay reviewer, who review it (signed with their
//! passwords); at the meeting all four members are present (quorate), each votes
//! (signed), and `chair.cyd` signs the approval with its letter. The approval then runs
//! under continuing review (12 months, a reminder before expiry). Everything goes
//! through the real API, the review workflow, the store's checks and the audit trail.

use anyhow::{bail, Result};

use careflow_types::ethics::{Document, Outcome, Recommendation, Route, SubmissionContent, Vote};
use careflow_types::{
    EthicsAssignRequest, EthicsCheckRequest, EthicsDecisionRequest, EthicsMeetingRequest,
    EthicsMemberRequest, EthicsReviewRequest, EthicsRouteRequest, EthicsVoteRequest, Role,
};

use super::DEMO_PASSWORD;
use crate::client::ApiClient;

const LEAD: &str = "lead.lena";
const SECRETARY: &str = "ethics.sue";
const CHAIR: &str = "chair.cyd";
/// The committee: the chair, two scientific members, one lay member.
const MEMBERS: [(&str, bool); 4] = [
    (CHAIR, false),
    ("member.mo", false),
    ("member.mia", false),
    ("lay.lou", true),
];

/// The ethics committee's people and the project lead.
pub const USERS: [(&str, Role); 6] = [
    (LEAD, Role::ProjectLead),
    (SECRETARY, Role::EthicsSecretary),
    (CHAIR, Role::CommitteeChair),
    ("member.mo", Role::CommitteeMember),
    ("member.mia", Role::CommitteeMember),
    ("lay.lou", Role::CommitteeMember),
];

fn ed_arrivals_project() -> SubmissionContent {
    SubmissionContent {
        title: "ED arrivals forecaster for the daily bed plan".into(),
        technical_plan: "Gradient-boosted quantile model of hourly emergency department \
            arrivals (ONNX, served by careflow); its 0.9 quantile of emergency admissions is \
            held free in the daily bed plan's optimisation."
            .into(),
        use_case: "Bed managers plan tomorrow's beds at the morning capacity meeting; the \
            forecast sets how many beds to keep for emergency admissions. A person approves \
            every plan."
            .into(),
        expected_benefit: "Fewer outlier placements and fewer elective cancellations on \
            surge days."
            .into(),
        risks: "An under-forecast (holidays, outbreaks) leaves too few beds; an over-forecast \
            delays electives. Mitigated by the bed manager's approval and monthly monitoring."
            .into(),
        data_used: "Hourly counts of ED arrivals, five years; calendar features. No patient \
            identifiers, no individual records."
            .into(),
        legal_basis: "UK GDPR art. 6(1)(e) public task; aggregate operational data.".into(),
        consent_plan: "Aggregate counts only: no consent needed; the use is published in the \
            trust's AI register."
            .into(),
        bias_assessment: "Errors compared by hour block, weekday and bank holiday on a \
            rolling-origin backtest; no subgroup more than 10% worse than overall."
            .into(),
        documents: vec![
            Document {
                name: "protocol.md".into(),
                content: "# Protocol\nRolling-origin backtest, 52 weekly origins; pinball loss \
                    at the 0.5 and 0.9 quantiles; monitoring monthly against observed arrivals."
                    .into(),
            },
            Document {
                name: "bias-assessment.md".into(),
                content: "# Bias assessment\nError by hour block (night, morning, afternoon, \
                    evening), weekday and bank holiday; holidays are the weakest subgroup and are \
                    watched."
                    .into(),
            },
        ],
    }
}

/// Runs the review through the API; `client(name)` is that demo user's client.
pub async fn run(client: impl Fn(&str) -> ApiClient) -> Result<()> {
    let secretary = client(SECRETARY);
    for (member, lay) in MEMBERS {
        secretary
            .ethics_add_member(&EthicsMemberRequest {
                user: member.into(),
                lay,
            })
            .await?;
    }
    let submitted = client(LEAD).ethics_submit(&ed_arrivals_project()).await?;
    let id = submitted.submission_id;
    let queue = secretary.ethics_queue().await?;
    if !queue.iter().any(|q| q.submission_id == id) {
        bail!("the secretary's queue does not show submission {id}");
    }
    secretary
        .ethics_check(
            &id,
            &EthicsCheckRequest {
                complete: true,
                comments: "all sections, protocol and bias assessment present".into(),
            },
        )
        .await?;
    secretary
        .ethics_route(
            &id,
            &EthicsRouteRequest {
                route: Route::FullCommittee,
                reason: "prospective use on live operational decisions".into(),
            },
        )
        .await?;
    let reviewers = ["member.mo", "lay.lou"];
    secretary
        .ethics_assign(
            &id,
            &EthicsAssignRequest {
                reviewers: reviewers.iter().map(|r| r.to_string()).collect(),
            },
        )
        .await?;
    for reviewer in reviewers {
        client(reviewer)
            .ethics_review(
                &id,
                &EthicsReviewRequest {
                    recommendation: Recommendation::Approve,
                    comments: format!(
                        "{reviewer}: aggregate data, a person approves every plan, holiday \
                         errors monitored"
                    ),
                    password: DEMO_PASSWORD.into(),
                },
            )
            .await?;
    }
    let held = secretary
        .ethics_meeting(
            &id,
            &EthicsMeetingRequest {
                present: MEMBERS.iter().map(|(m, _)| m.to_string()).collect(),
            },
        )
        .await?;
    let Some(meeting) = held.meeting.filter(|m| m.quorate) else {
        bail!("the demo committee's meeting was not quorate");
    };
    for member in &meeting.counted {
        client(member)
            .ethics_vote(
                &id,
                &EthicsVoteRequest {
                    meeting_id: meeting.meeting_id.clone(),
                    vote: Vote::Approve,
                    password: DEMO_PASSWORD.into(),
                },
            )
            .await?;
    }
    let decided = client(CHAIR)
        .ethics_decide(
            &id,
            &EthicsDecisionRequest {
                meeting_id: meeting.meeting_id.clone(),
                outcome: Outcome::Approved,
                letter: "Dear Dr Lena, the committee approves the ED arrivals forecaster for use \
                    in the daily bed plan for twelve months, subject to monthly monitoring of \
                    holiday errors and a report of any incident."
                    .into(),
                password: DEMO_PASSWORD.into(),
            },
        )
        .await?;
    eprintln!(
        "demo: ethics review of {id} ({}): {} at a quorate meeting ({}), approved until {}",
        decided.submission.title,
        decided.submission.state,
        meeting.quorum_note,
        decided.submission.approved_until.as_deref().unwrap_or("?")
    );
    Ok(())
}
