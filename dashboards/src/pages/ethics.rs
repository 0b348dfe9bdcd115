//! The ethics committee's pages: the review queue (what waits for me, and every
//! submission by state with its due date, continuing-review dates of approved
//! projects), a submission (documents with their SHA-256, reviewers, conflicts,
//! reviews, meetings, the decision letter, its history), and a meeting (attendance,
//! quorum, votes). Every form is a step sent to the submission's review workflow
//! through the API's own `take` (the same store checks and workflow update as the API
//! and CLI); a signing step (review, vote, decision, verification) carries the password.
//! A submission returned to its applicant shows them its content to edit and resubmit
//! as a new version (unsigned, as in the API).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup, PreEscaped};
use serde_json::{Map, Value};

use careflow_store::audit;
use careflow_store::ethics::{self, MeetingRecord};
use careflow_store::users::User;
use careflow_types::ethics::{Document, EthicsStep, Submission, SubmissionContent};
use careflow_types::{
    EthicsAssignRequest, EthicsCheckRequest, EthicsConflictRequest, EthicsDecisionRequest,
    EthicsMeetingRequest, EthicsRespondRequest, EthicsReviewRequest, EthicsRouteRequest,
    EthicsVerifyRequest, EthicsVoteRequest, Role,
};

use super::layout::{page, respond};
use super::session::PageUser;
use super::{app_error_page, ETHICS_ROLES};
use crate::api::ethics::{take, validated, APPLICANT, CHAIR, MEMBERS, SECRETARY};
use crate::error::{parse_json, AppError};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ethics", get(queue_page))
        .route("/ethics/{id}", get(submission_page))
        .route("/ethics/{id}/{step}", post(step))
        .route("/ethics/meetings/{meeting_id}", get(meeting_page))
}

/// The states in the order a review passes them, for the queue by state.
const STATE_ORDER: &[&str] = &[
    "submitted",
    "returned",
    "complete",
    "awaiting_assignment",
    "in_review",
    "awaiting_meeting",
    "in_meeting",
    "deferred",
    "modifications_requested",
    "modifications_submitted",
    "approved",
    "exempt",
    "not_approved",
    "suspended",
];

fn state_rank(state: &str) -> usize {
    STATE_ORDER
        .iter()
        .position(|s| *s == state)
        .unwrap_or(STATE_ORDER.len())
}

async fn queue_page(State(state): State<AppState>, me: PageUser) -> Response {
    let user = match me.require(ETHICS_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let mine = if crate::api::ethics::ETHICS_QUEUE.contains(&user.role) {
        match ethics::queue(&state.db, &user.name).await {
            Ok(q) => Some(q),
            Err(e) => return app_error_page(e.into()),
        }
    } else {
        None
    };
    let mut all = match ethics::all(&state.db).await {
        Ok(a) => a,
        Err(e) => return app_error_page(e.into()),
    };
    all.sort_by(|a, b| {
        state_rank(&a.state)
            .cmp(&state_rank(&b.state))
            .then_with(|| a.due_at.cmp(&b.due_at))
    });
    let approved: Vec<&Submission> = all
        .iter()
        .filter(|s| s.state == "approved" && s.approved_until.is_some())
        .collect();
    let body = html! {
        @if let Some(q) = &mine {
            h2 { "Waiting for you" }
            @if q.is_empty() {
                p.notice { "Nothing waits for you." }
            } @else {
                table #my-queue {
                    thead { tr { th scope="col" { "Due" } th scope="col" { "Submission" } th scope="col" { "State" } th scope="col" { "Your step" } } }
                    tbody { @for i in q { tr {
                        td { (i.due_at) }
                        td { a href={"/ethics/" (i.submission_id)} { (i.title) } " (" (i.submission_id) ")" }
                        td { (i.state) } td { (i.action) }
                    } } }
                }
            }
        }
        h2 { "Submissions by state" }
        @if all.is_empty() {
            p.muted { "No submission yet." }
        } @else {
            table #by-state {
                thead { tr { th scope="col" { "State" } th scope="col" { "Due" } th scope="col" { "Submission" } th scope="col" { "Kind" } th scope="col" { "Applicant" } th scope="col" { "Route" } } }
                tbody { @for s in &all { tr {
                    td { (s.state) } td { (s.due_at) }
                    td { a href={"/ethics/" (s.submission_id)} { (s.title) } " (" (s.submission_id) ", v" (s.version) ")" }
                    td { (s.kind) } td { (s.applicant) } td { (s.route.as_deref().unwrap_or("—")) }
                } } }
            }
        }
        h2 { "Continuing review" }
        @if approved.is_empty() {
            p.muted { "No approved project yet." }
        } @else {
            table #continuing {
                thead { tr { th scope="col" { "Approved until" } th scope="col" { "Project" } th scope="col" { "Renewal reminder from" } } }
                tbody { @for s in &approved { tr {
                    td { (s.approved_until.as_deref().unwrap_or("")) }
                    td { a href={"/ethics/" (s.submission_id)} { (s.title) } }
                    td { (reminder_from(s.approved_until.as_deref().unwrap_or(""))) }
                } } }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(user, &me.csrf, "Ethics review queue", body),
    )
}

/// The day a continuing-review reminder falls due: `REMINDER_DAYS` before expiry.
fn reminder_from(until: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(until)
        .map(|t| {
            (t - chrono::Duration::days(ethics::REMINDER_DAYS))
                .format("%Y-%m-%d")
                .to_string()
        })
        .unwrap_or_default()
}

/// A form posting `step` on submission `id`, with the CSRF token and, for a signing
/// step, the password and what the signature means.
fn step_form(
    csrf: &str,
    id: &str,
    step: &str,
    title: &str,
    meaning: Option<&str>,
    fields: Markup,
) -> Markup {
    html! {
        section.step {
            h3 { (title) }
            form method="post" action={"/ethics/" (id) "/" (step)} {
                input type="hidden" name="csrf" value=(csrf);
                (fields)
                @if let Some(m) = meaning {
                    label for={(step) "-password"} { "Your password (signs this step)" }
                    input id={(step) "-password"} type="password" name="password" autocomplete="current-password" required;
                    div.meaning { strong { "The meaning of your signature. " } (m)
                        " Your signature is recorded with your name, role and the time in the tamper-evident audit trail, and has the weight of your handwritten signature." }
                }
                p { button type="submit" { (title) } }
            }
        }
    }
}

fn text_field(name: &str, label: &str, required: bool) -> Markup {
    text_area(name, name, label, required, "")
}

/// A labelled text area holding `value` (shown as text, never as markup).
fn text_area(id: &str, name: &str, label: &str, required: bool, value: &str) -> Markup {
    html! {
        label for=(id) { (label) }
        textarea id=(id) name=(name) rows="3" required[required] { (value) }
    }
}

/// The fields of a submission's content: form name, label, value.
fn content_fields(c: &SubmissionContent) -> [(&'static str, &'static str, &str); 9] {
    [
        ("title", "Project title", &c.title),
        ("technical_plan", "Technical plan", &c.technical_plan),
        ("use_case", "Use case", &c.use_case),
        ("expected_benefit", "Expected benefit", &c.expected_benefit),
        ("risks", "Risks", &c.risks),
        ("data_used", "Data used", &c.data_used),
        ("legal_basis", "Legal basis", &c.legal_basis),
        ("consent_plan", "Consent plan", &c.consent_plan),
        (
            "bias_assessment",
            "Algorithmic-bias assessment",
            &c.bias_assessment,
        ),
    ]
}

/// The resubmission form's fields: the content to edit (as stored, or as the applicant
/// last sent it when it was refused) and its documents, with one empty slot for a new
/// document. Repeated `doc_name`/`doc_content` pairs, in order.
fn resubmit_fields(s: &Submission, c: &SubmissionContent) -> Markup {
    let blank = Document {
        name: String::new(),
        content: String::new(),
    };
    html! {
        p #returned-because { "Returned to you: " (s.comments.as_deref().unwrap_or("see the history below")) }
        p.muted { "Change what was asked for and send the new version; it is checked for completeness again. Every field is required." }
        @for (name, label, value) in content_fields(c) {
            (text_area(name, name, label, true, value))
        }
        fieldset #resubmit-documents {
            legend { "Documents (empty a document's name and text to leave it out)" }
            @for (i, d) in c.documents.iter().chain(std::iter::once(&blank)).enumerate() {
                @let n = i + 1;
                @let new = i == c.documents.len();
                label for={"doc-name-" (n)} { @if new { "New document: name" } @else { "Document " (n) ": name" } }
                input id={"doc-name-" (n)} type="text" name="doc_name" value=(d.name);
                (text_area(&format!("doc-content-{n}"), "doc_content", &if new { "New document: text".to_owned() } else { format!("Document {n}: text") }, false, &d.content))
            }
        }
    }
}

/// The resubmission form as a submission's content, unchecked: documents from the
/// `doc_name`/`doc_content` pairs, those with neither left out.
fn content_of_form(fields: &[(String, String)]) -> SubmissionContent {
    fn of<'a>(fields: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a String> {
        fields.iter().filter(move |(k, _)| k == key).map(|(_, v)| v)
    }
    let documents = of(fields, "doc_name")
        .zip(of(fields, "doc_content"))
        .filter(|(n, c)| !n.trim().is_empty() || !c.trim().is_empty())
        .map(|(n, c)| Document {
            name: n.trim().to_owned(),
            content: c.clone(),
        })
        .collect();
    SubmissionContent {
        title: field(fields, "title"),
        technical_plan: field(fields, "technical_plan"),
        use_case: field(fields, "use_case"),
        expected_benefit: field(fields, "expected_benefit"),
        risks: field(fields, "risks"),
        data_used: field(fields, "data_used"),
        legal_basis: field(fields, "legal_basis"),
        consent_plan: field(fields, "consent_plan"),
        bias_assessment: field(fields, "bias_assessment"),
        documents,
    }
}

fn choice(name: &str, label: &str, options: &[(&str, &str)]) -> Markup {
    html! {
        label for=(name) { (label) }
        select id=(name) name=(name) required {
            @for (v, l) in options { option value=(v) { (l) } }
        }
    }
}

const VOTES: &[(&str, &str)] = &[
    ("approve", "Approve"),
    ("modifications", "Approve after modifications"),
    ("defer", "Defer"),
    ("not_approve", "Do not approve"),
    ("abstain", "Abstain"),
];
const OUTCOMES: &[(&str, &str)] = &[
    ("approved", "Approved"),
    (
        "approved_after_modifications",
        "Approved after modifications",
    ),
    ("deferred", "Deferred"),
    ("not_approved", "Not approved"),
];

/// The attendance form: a box per member, the quorum recomputed as boxes are ticked
/// (the store decides it again when the form is sent).
fn attendance_form(
    csrf: &str,
    s: &Submission,
    members: &[(String, String)],
    conflicted: &[String],
) -> Markup {
    let total = members.len();
    let fields = html! {
        fieldset #attendance data-members=(total) {
            legend { "Members present" }
            @for (m, kind) in members {
                @let out = conflicted.contains(m) || *m == s.applicant;
                label {
                    input type="checkbox" name="present" value=(m) data-lay=(if kind == "lay" { "1" } else { "0" }) data-excluded=(if out { "1" } else { "0" });
                    " " (m) " (" (kind) ")" @if out { " — leaves: conflict of interest or applicant; does not count" }
                }
            }
        }
        p { "Quorum: " output #quorum aria-live="polite" { "0 of " (total) " members count (more than half needed), 0 lay (one needed): not quorate" } }
    };
    html! {
        (step_form(csrf, &s.submission_id, "meeting", "Record the meeting's attendance", None, fields))
        script { (PreEscaped(QUORUM_SCRIPT)) }
    }
}

/// Recomputes the quorum line as boxes are ticked: more than half of all members
/// counting, one of them lay; conflicted members and the applicant do not count.
const QUORUM_SCRIPT: &str = r#"(function(){var f=document.getElementById('attendance');if(!f)return;var o=document.getElementById('quorum');function u(){var n=+f.dataset.members,c=0,l=0;f.querySelectorAll('input[name=present]').forEach(function(b){if(b.checked&&b.dataset.excluded!=='1'){c++;if(b.dataset.lay==='1')l++;}});var q=c*2>n&&l>=1;o.textContent=c+' of '+n+' members count (more than half needed), '+l+' lay (one needed): '+(q?'quorate':'not quorate');o.className=q?'ok':'short';}f.addEventListener('change',u);u();})();"#;

async fn submission_page(
    State(state): State<AppState>,
    me: PageUser,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = me.require(ETHICS_ROLES) {
        return r.into_response();
    }
    render_submission(&state, &me, &id, None, StatusCode::OK, None).await
}

/// The submission page, with `notice` (what a step did) above it; `draft` is a refused
/// resubmission, shown again in its form for the applicant to correct.
async fn render_submission(
    state: &AppState,
    me: &PageUser,
    id: &str,
    notice: Option<(bool, String)>,
    status: StatusCode,
    draft: Option<SubmissionContent>,
) -> Response {
    let user = &me.user;
    let s = match ethics::get(&state.db, id).await {
        Ok(s) => s,
        Err(e) => return app_error_page(e.into()),
    };
    // The applicant of a returned submission edits its content into a new version.
    let resubmission = if may_resubmit(user, &s) {
        match draft {
            Some(d) => Some(d),
            None => match ethics::content(&state.db, id).await {
                Ok(c) => Some(c),
                Err(e) => return app_error_page(e.into()),
            },
        }
    } else {
        None
    };
    let loaded = async {
        Ok::<_, careflow_store::Error>((
            ethics::documents(&state.db, id, s.version).await?,
            ethics::documents_by_version(&state.db, id).await?,
            ethics::reviewers(&state.db, id).await?,
            ethics::conflicts(&state.db, &s.project_id).await?,
            ethics::reviews(&state.db, id).await?,
            ethics::meetings(&state.db, id).await?,
            ethics::members(&state.db).await?,
            audit::entries_for_workflow(&state.db, &ethics::workflow_id(id)).await?,
        ))
    }
    .await;
    let (documents, versions, reviewers, conflicts, reviews, meetings, members, history) =
        match loaded {
            Ok(l) => l,
            Err(e) => return app_error_page(e.into()),
        };
    let conflicted: Vec<String> = conflicts.iter().map(|c| c.member.clone()).collect();
    let is_member = members.iter().any(|(m, _)| *m == user.name);
    let i_conflict = conflicted.contains(&user.name);
    let current_meeting = meetings.iter().rev().find(|m| m.quorate);
    let csrf = me.csrf.as_str();
    let body = html! {
        @if let Some((ok, text)) = &notice {
            p.notice.ok[*ok].error[!*ok] role=(if *ok { "status" } else { "alert" }) #step-notice { (text) }
        }
        p { a href="/ethics" { "← Back to the queue" } }
        table #submission {
            tbody {
                tr { th scope="row" { "Title" } td { (s.title) } }
                tr { th scope="row" { "Kind" } td { (s.kind) " of project " (s.project_id) } }
                tr { th scope="row" { "Applicant" } td { (s.applicant) } }
                tr { th scope="row" { "Version" } td { (s.version) " (content sha256 " code { (s.content_sha256.get(..16).unwrap_or(&s.content_sha256)) "…" } ")" } }
                tr { th scope="row" { "State" } td #state { (s.state) } }
                tr { th scope="row" { "Next step due" } td { (s.due_at) } }
                tr { th scope="row" { "Route" } td { (s.route.as_deref().unwrap_or("—")) @if let Some(r) = &s.route_reason { ": " (r) } } }
                @if let Some(u) = &s.approved_until { tr { th scope="row" { "Approved until (continuing review)" } td { (u) ", renewal reminder from " (reminder_from(u)) } } }
                @if let Some(c) = &s.comments { tr { th scope="row" { "Comments" } td { (c) } } }
                @if let Some(d) = &s.decision { tr { th scope="row" { "Decision" } td #decision { (d) } } }
            }
        }
        @if let Some(letter) = &s.decision_letter {
            h2 { "Decision letter" }
            blockquote #letter { (letter) }
        }
        h2 { "Documents (version " (s.version) ")" }
        @if documents.is_empty() { p.muted { "No documents." } } @else {
            table #documents {
                thead { tr { th scope="col" { "Name" } th scope="col" { "sha256" } } }
                tbody { @for (n, h) in &documents { tr { td { (n) } td { code { (h) } } } } }
            }
        }
        @if s.version > 1 {
            h2 { "Versions" }
            table #versions {
                thead { tr { th scope="col" { "Version" } th scope="col" { "Documents (sha256)" } } }
                tbody { @for v in (1..=s.version).rev() { tr {
                    td.num { (v) @if v == s.version { " (current)" } }
                    td { @for (_, n, h) in versions.iter().filter(|d| d.0 == v) {
                        (n) " " code { (h.get(..12).unwrap_or(h)) "…" } "; "
                    } }
                } } }
            }
        }
        h2 { "Reviewers and conflicts of interest" }
        p #reviewers { "Assigned reviewers: " @if reviewers.is_empty() { "none yet" } @else { (reviewers.join(", ")) } }
        @if conflicts.is_empty() { p.muted { "No conflict of interest declared on this project." } } @else {
            table #conflicts {
                thead { tr { th scope="col" { "Member" } th scope="col" { "Conflict" } th scope="col" { "Declared" } } }
                tbody { @for c in &conflicts { tr { td { (c.member) } td { (c.reason) } td { (c.declared_at) } } } }
            }
        }
        @if !reviews.is_empty() {
            h2 { "Signed reviews" }
            table #reviews {
                thead { tr { th scope="col" { "Version" } th scope="col" { "Reviewer" } th scope="col" { "Recommendation" } th scope="col" { "Comments" } th scope="col" { "When" } } }
                tbody { @for r in &reviews { tr { td.num { (r.version) } td { (r.reviewer) } td { (r.recommendation) } td { (r.comments) } td { (r.reviewed_at) } } } }
            }
        }
        @if !meetings.is_empty() {
            h2 { "Meetings" }
            ul #meetings { @for m in &meetings {
                li { a href={"/ethics/meetings/" (m.meeting_id)} { "Meeting " (m.meeting_id) } " on " (m.held_at) ": "
                    @if m.quorate { "quorate" } @else { "not quorate" } ", " (m.votes.len()) " vote(s)" }
            } }
        }
        h2 { "Your step" }
        @let forms = step_forms(csrf, user, &s, &members, &conflicted, &reviewers, current_meeting, is_member, i_conflict, resubmission.as_ref());
        @if forms.0.is_empty() { p.muted #no-step { "No step of this submission is yours now." } } @else { (forms) }
        h2 { "History" }
        table #history {
            thead { tr { th scope="col" { "#" } th scope="col" { "When (UTC)" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Meaning" } th scope="col" { "Reason" } } }
            tbody { @for e in &history { tr {
                td.num { (e.seq) } td { (e.recorded_at) } td { (e.actor) " (" (e.role) ")" } td { (e.action) }
                td { (e.meaning.as_deref().unwrap_or("")) } td { (e.reason.as_deref().unwrap_or("")) }
            } } }
        }
    };
    respond(
        status,
        page(user, &me.csrf, &format!("Ethics: {}", s.title), body),
    )
}

/// The forms of the steps that are the user's in the submission's state.
#[allow(clippy::too_many_arguments)]
fn step_forms(
    csrf: &str,
    user: &User,
    s: &Submission,
    members: &[(String, String)],
    conflicted: &[String],
    reviewers: &[String],
    meeting: Option<&MeetingRecord>,
    is_member: bool,
    i_conflict: bool,
    resubmission: Option<&SubmissionContent>,
) -> Markup {
    let id = s.submission_id.as_str();
    let role = user.role;
    let secretary = SECRETARY.contains(&role);
    let member = MEMBERS.contains(&role) && is_member && !i_conflict;
    let open = !careflow_types::ethics::ETHICS_FINAL_STATES.contains(&s.state.as_str());
    html! {
        @if secretary && s.state == "submitted" {
            (step_form(csrf, id, "check", "Record the completeness check", None, html! {
                (choice("complete", "Complete?", &[("yes", "Complete: on to routing"), ("no", "Incomplete: return to the applicant")]))
                (text_field("comments", "What was checked, or what is missing", true))
            }))
        }
        @if secretary && s.state == "complete" {
            (step_form(csrf, id, "route", "Route the submission", None, html! {
                (choice("route", "Route", &[("full_committee", "Full committee"), ("expedited", "Expedited review"), ("exempt", "Exempt")]))
                (text_field("reason", "Why (required for an exemption)", false))
            }))
        }
        @if secretary && s.state == "awaiting_assignment" {
            (step_form(csrf, id, "assign", "Assign reviewers", None, html! {
                fieldset { legend { "Reviewers" }
                    @for (m, kind) in members {
                        label { input type="checkbox" name="reviewers" value=(m) disabled[conflicted.contains(m) || *m == s.applicant];
                            " " (m) " (" (kind) ")" @if conflicted.contains(m) { " — conflict of interest" } }
                    }
                }
            }))
        }
        @if secretary && (s.state == "awaiting_meeting" || s.state == "deferred") {
            (attendance_form(csrf, s, members, conflicted))
        }
        @if member && s.state == "in_review" && reviewers.contains(&user.name) {
            (step_form(csrf, id, "review", "Sign your review", Some("You sign “I reviewed this submission” with this recommendation and these comments."), html! {
                (choice("recommendation", "Recommendation", &[("approve", "Approve (expedited)"), ("refer", "Refer to the full committee (expedited)"), ("modifications", "Approve after modifications"), ("not_approve", "Do not approve")]))
                (text_field("comments", "Comments", true))
            }))
        }
        @if member && s.state == "in_meeting" {
            @if let Some(m) = meeting {
                @if m.counted.contains(&user.name) && !m.votes.iter().any(|v| v.0 == user.name) {
                    (step_form(csrf, id, "vote", "Sign your vote", Some("You sign “I reviewed this submission” and cast this vote at the meeting."), html! {
                        input type="hidden" name="meeting_id" value=(m.meeting_id);
                        (choice("vote", "Vote", VOTES))
                    }))
                }
                @if CHAIR.contains(&role) {
                    (step_form(csrf, id, "decision", "Sign the committee's decision", Some("You sign “I am responsible for this decision” as chair: the outcome the votes decided, with this letter to the applicant."), html! {
                        input type="hidden" name="meeting_id" value=(m.meeting_id);
                        (choice("outcome", "Outcome", OUTCOMES))
                        (text_field("letter", "Decision letter", true))
                    }))
                }
            }
        }
        @if member && s.state == "modifications_submitted" && CHAIR.contains(&role) {
            (step_form(csrf, id, "verify", "Verify the modifications", Some("You sign “I approve” (accepted) or “I reject” (asked again) the applicant's modifications."), html! {
                (choice("accept", "Modifications", &[("yes", "Accepted: approve"), ("no", "Not accepted: ask again")]))
                (text_field("comments", "What was verified", true))
            }))
        }
        @if let Some(c) = resubmission.filter(|_| may_resubmit(user, s)) {
            (step_form(csrf, id, "resubmit", "Resubmit as a new version", None, resubmit_fields(s, c)))
        }
        @if APPLICANT.contains(&role) && s.applicant == user.name && s.state == "modifications_requested" {
            (step_form(csrf, id, "respond", "Send your response to the modifications", None, html! {
                (text_field("response", "What you modified", true))
            }))
        }
        @if MEMBERS.contains(&role) && is_member && !i_conflict && open {
            (step_form(csrf, id, "conflict", "Declare a conflict of interest", None, html! {
                (text_field("reason", "What the conflict is (you then take no part in this project's review)", true))
            }))
        }
    }
}

/// Whether `user` is the applicant of `s` and it waits for their resubmission.
fn may_resubmit(user: &User, s: &Submission) -> bool {
    APPLICANT.contains(&user.role) && s.applicant == user.name && s.state == "returned"
}

fn field(fields: &[(String, String)], name: &str) -> String {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn yes(fields: &[(String, String)], name: &str) -> Value {
    match field(fields, name).as_str() {
        "yes" => Value::Bool(true),
        "no" => Value::Bool(false),
        other => Value::String(other.to_owned()),
    }
}

/// The form as the API's JSON body for `step` (so the API's request types parse and
/// validate it), and the step the API would send.
fn step_of(
    user: &User,
    step: &str,
    fields: &[(String, String)],
) -> Result<(EthicsStep, Option<String>), AppError> {
    let text = |n: &str| Value::String(field(fields, n));
    let many = |n: &str| {
        Value::Array(
            fields
                .iter()
                .filter(|(k, v)| k == n && !v.is_empty())
                .map(|(_, v)| Value::String(v.clone()))
                .collect(),
        )
    };
    let body = |pairs: &[(&str, Value)]| -> Vec<u8> {
        let map: Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        serde_json::to_vec(&Value::Object(map)).expect("json")
    };
    let me = user.name.clone();
    Ok(match step {
        "check" => {
            let r: EthicsCheckRequest = parse_json(&body(&[
                ("complete", yes(fields, "complete")),
                ("comments", text("comments")),
            ]))?;
            (
                EthicsStep::CheckCompleteness {
                    secretary: me,
                    complete: r.complete,
                    comments: r.comments,
                },
                None,
            )
        }
        "route" => {
            let r: EthicsRouteRequest = parse_json(&body(&[
                ("route", text("route")),
                ("reason", text("reason")),
            ]))?;
            (
                EthicsStep::Route {
                    secretary: me,
                    route: r.route,
                    reason: r.reason,
                },
                None,
            )
        }
        "assign" => {
            let r: EthicsAssignRequest = parse_json(&body(&[("reviewers", many("reviewers"))]))?;
            (
                EthicsStep::AssignReviewers {
                    secretary: me,
                    reviewers: r.reviewers,
                },
                None,
            )
        }
        "meeting" => {
            let r: EthicsMeetingRequest = parse_json(&body(&[("present", many("present"))]))?;
            (
                EthicsStep::HoldMeeting {
                    secretary: me,
                    present: r.present,
                },
                None,
            )
        }
        "conflict" => {
            let r: EthicsConflictRequest = parse_json(&body(&[("reason", text("reason"))]))?;
            (
                EthicsStep::DeclareConflict {
                    member: me,
                    reason: r.reason,
                },
                None,
            )
        }
        "review" => {
            let r: EthicsReviewRequest = parse_json(&body(&[
                ("recommendation", text("recommendation")),
                ("comments", text("comments")),
                ("password", text("password")),
            ]))?;
            r.validate().map_err(AppError::Invalid)?;
            (
                EthicsStep::Review {
                    reviewer: me,
                    recommendation: r.recommendation,
                    comments: r.comments,
                    signature_id: None,
                },
                Some(r.password),
            )
        }
        "vote" => {
            let r: EthicsVoteRequest = parse_json(&body(&[
                ("meeting_id", text("meeting_id")),
                ("vote", text("vote")),
                ("password", text("password")),
            ]))?;
            r.validate().map_err(AppError::Invalid)?;
            (
                EthicsStep::Vote {
                    meeting_id: r.meeting_id,
                    member: me,
                    vote: r.vote,
                    signature_id: None,
                },
                Some(r.password),
            )
        }
        "decision" => {
            let r: EthicsDecisionRequest = parse_json(&body(&[
                ("meeting_id", text("meeting_id")),
                ("outcome", text("outcome")),
                ("letter", text("letter")),
                ("password", text("password")),
            ]))?;
            r.validate().map_err(AppError::Invalid)?;
            (
                EthicsStep::Decide {
                    meeting_id: r.meeting_id,
                    chair: me,
                    outcome: r.outcome,
                    letter: r.letter,
                    signature_id: None,
                },
                Some(r.password),
            )
        }
        "verify" => {
            let r: EthicsVerifyRequest = parse_json(&body(&[
                ("accept", yes(fields, "accept")),
                ("comments", text("comments")),
                ("password", text("password")),
            ]))?;
            r.validate().map_err(AppError::Invalid)?;
            (
                EthicsStep::Verify {
                    verifier: me,
                    accept: r.accept,
                    comments: r.comments,
                    signature_id: None,
                },
                Some(r.password),
            )
        }
        "resubmit" => (
            EthicsStep::Resubmit {
                applicant: me,
                content: validated(content_of_form(fields))?,
            },
            None,
        ),
        "respond" => {
            let r: EthicsRespondRequest = parse_json(&body(&[("response", text("response"))]))?;
            (
                EthicsStep::Respond {
                    applicant: me,
                    response: r.response,
                },
                None,
            )
        }
        _ => return Err(AppError::NotFound(format!("ethics step {step}"))),
    })
}

/// Who may take each step from a page: the API's roles for it.
fn step_roles(step: &str) -> Option<&'static [Role]> {
    match step {
        "check" | "route" | "assign" | "meeting" => Some(SECRETARY),
        "conflict" | "review" | "vote" | "verify" => Some(MEMBERS),
        "decision" => Some(CHAIR),
        "respond" | "resubmit" => Some(APPLICANT),
        _ => None,
    }
}

fn message_of(e: &AppError) -> String {
    match e {
        AppError::Invalid(f) => f
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// `POST /ethics/{id}/{step}`: the step, through the API's `take`; the submission page
/// again with what happened.
async fn step(
    State(state): State<AppState>,
    me: PageUser,
    Path((id, step)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let Some(roles) = step_roles(&step) else {
        return app_error_page(AppError::NotFound(format!("ethics step {step}")));
    };
    if let Err(r) = me.require(roles) {
        return r.into_response();
    }
    let csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    if let Err(r) = me.check_csrf(csrf) {
        return r.into_response();
    }
    // A refused resubmission comes back in its form as the applicant typed it.
    let draft = || (step == "resubmit").then(|| content_of_form(&fields));
    let (ethics_step, password) = match step_of(&me.user, &step, &fields) {
        Ok(s) => s,
        Err(e @ AppError::NotFound(_)) => return app_error_page(e),
        Err(e) => {
            let text = format!("Not done: {}", message_of(&e));
            let status = e.into_response().status();
            return render_submission(&state, &me, &id, Some((false, text)), status, draft()).await;
        }
    };
    let name = ethics_step.name();
    match take(&state, &id, ethics_step, password.as_deref()).await {
        Ok(done) => {
            let mut text = format!(
                "Done: {name}; the submission is now {}.",
                done.0.submission.state
            );
            if let Some(m) = &done.0.meeting {
                text.push_str(&format!(
                    " Meeting {}: {} ({}).",
                    m.meeting_id,
                    if m.quorate { "quorate" } else { "not quorate" },
                    m.quorum_note
                ));
            }
            render_submission(&state, &me, &id, Some((true, text)), StatusCode::OK, None).await
        }
        Err(AppError::Internal(m)) => app_error_page(AppError::Internal(m)),
        Err(e) => {
            let text = format!("Not done: {}", message_of(&e));
            let status = e.into_response().status();
            render_submission(&state, &me, &id, Some((false, text)), status, draft()).await
        }
    }
}

async fn meeting_page(
    State(state): State<AppState>,
    me: PageUser,
    Path(meeting_id): Path<String>,
) -> Response {
    let user = match me.require(ETHICS_ROLES) {
        Ok(u) => u,
        Err(r) => return r.into_response(),
    };
    let m = match ethics::meeting(&state.db, &meeting_id).await {
        Ok(m) => m,
        Err(e) => return app_error_page(e.into()),
    };
    let (s, members) = match (
        ethics::get(&state.db, &m.submission_id).await,
        ethics::members(&state.db).await,
    ) {
        (Ok(s), Ok(members)) => (s, members),
        (Err(e), _) | (_, Err(e)) => return app_error_page(e.into()),
    };
    let votes: Vec<String> = m.votes.iter().map(|v| v.1.clone()).collect();
    let majority = ethics::majority(&votes);
    let waiting: Vec<&String> = m
        .counted
        .iter()
        .filter(|c| !m.votes.iter().any(|v| &v.0 == *c))
        .collect();
    let body = html! {
        p { a href={"/ethics/" (s.submission_id)} { "← " (s.title) } " (now " (s.state) ")" }
        h2 { "Attendance and quorum" }
        p.notice.ok[m.quorate].error[!m.quorate] #quorum-status { @if m.quorate { "Quorate: " } @else { "Not quorate, cannot decide: " } (m.quorum_note) "." }
        table #attendance {
            thead { tr { th scope="col" { "Member" } th scope="col" { "Kind" } th scope="col" { "Counted" } th scope="col" { "Vote" } } }
            tbody { @for (member, kind) in &members { tr {
                td { (member) } td { (kind) }
                td { @if m.counted.contains(member) { "present, counted" } @else { "absent or left" } }
                td { (m.votes.iter().find(|v| &v.0 == member).map(|v| v.1.as_str()).unwrap_or("—")) }
            } } }
        }
        h2 { "Votes" }
        p #tally { (m.votes.len()) " of " (m.counted.len()) " counted members voted"
            @match majority { Some(o) => { "; the majority says " strong { (o.as_str()) } "." } None => { "; no majority yet." } } }
        @if !waiting.is_empty() { p.muted { "Not voted yet: " (waiting.iter().map(|w| w.as_str()).collect::<Vec<_>>().join(", ")) } }
        table #votes {
            thead { tr { th scope="col" { "Member" } th scope="col" { "Vote" } th scope="col" { "When (signed)" } } }
            tbody { @for (who, vote, at) in &m.votes { tr { td { (who) } td { (vote) } td { (at) } } } }
        }
        @if m.quorate && s.state == "in_meeting" {
            p { "Vote and decide on " a href={"/ethics/" (s.submission_id)} { "the submission's page" } "." }
        }
    };
    respond(
        StatusCode::OK,
        page(user, &me.csrf, &format!("Meeting {}", m.meeting_id), body),
    )
}
