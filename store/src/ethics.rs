//! The ethics committee's review of AI projects: submissions (initial, amendment,
//! incident) with their documents and SHA-256s, the secretary's completeness check,
//! routing (exempt / expedited / full committee), reviewer assignment that excludes
//! declared conflicts of interest, signed review comments, meetings with quorum, signed
//! votes, the chair's signed decision with its letter, the modifications loop, and the
//! continuing-review expiry that suspends a lapsed project.
//!
//! Every rule is checked here, against what is stored, in the transaction that writes
//! the change and its audit entry, so whichever front end (workflow, API, CLI) calls it
//! cannot skip one. Signing steps (reviews, votes, decisions, verification) take the
//! person's re-entered password: [`signatures::sign`] checks it (lock-out honoured) and
//! the change then uses that signature once. Nothing here names a patient: a
//! submission describes a project.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use careflow_types::ethics::EthicsStep;
use careflow_types::{NewAuditEntry, Role, SignatureMeaning};

// The shapes cross the API and Temporal, so they live in careflow-types; their paths
// here stay as they were.
pub use careflow_types::ethics::{
    Document, Meeting, Outcome, QueueItem, Recommendation, Route, Submission, SubmissionContent,
    SubmissionKind, Vote,
};

use crate::audit;
use crate::db::{now, Db};
use crate::error::{Error, Result};
use crate::signatures::{self, SignRequest};

/// How long an approval lasts unless the committee says otherwise.
pub const DEFAULT_APPROVAL_MONTHS: u32 = 12;
/// Days the secretary has for the completeness check.
const CHECK_DAYS: i64 = 5;
/// Days reviewers have for their comments.
const REVIEW_DAYS: i64 = 14;
/// Days the applicant has to answer returned submissions or modifications.
const RESPONSE_DAYS: i64 = 30;
/// Days before expiry that a continuing-review reminder is due.
pub const REMINDER_DAYS: i64 = 60;

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

const COLUMNS: &str = "submission_id, kind, project_id, applicant, title, version, state, route, \
    route_reason, content_sha256, due_at, approved_until, decision, decision_letter, comments";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Submission> {
    Ok(Submission {
        submission_id: r.try_get("submission_id")?,
        kind: r.try_get("kind")?,
        project_id: r.try_get("project_id")?,
        applicant: r.try_get("applicant")?,
        title: r.try_get("title")?,
        version: r.try_get("version")?,
        state: r.try_get("state")?,
        route: r.try_get("route")?,
        route_reason: r.try_get("route_reason")?,
        content_sha256: r.try_get("content_sha256")?,
        due_at: r.try_get("due_at")?,
        approved_until: r.try_get("approved_until")?,
        decision: r.try_get("decision")?,
        decision_letter: r.try_get("decision_letter")?,
        comments: r.try_get("comments")?,
    })
}

/// One submission.
pub async fn get(db: &Db, submission_id: &str) -> Result<Submission> {
    let mut conn = db.pool().acquire().await?;
    get_in(&mut conn, submission_id).await
}

async fn get_in(conn: &mut AnyConnection, id: &str) -> Result<Submission> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ethics_submissions WHERE submission_id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("ethics submission {id}")))?;
    from_row(&row)
}

async fn role_in(conn: &mut AnyConnection, user: &str) -> Result<Role> {
    let role: String = sqlx::query("SELECT role FROM users WHERE user_name = $1")
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::Forbidden(format!("{user} is not a careflow user")))?
        .try_get("role")?;
    role.parse().map_err(Error::Corrupt)
}

async fn require_role(conn: &mut AnyConnection, user: &str, allowed: &[Role]) -> Result<Role> {
    let role = role_in(conn, user).await?;
    if allowed.contains(&role) {
        Ok(role)
    } else {
        Err(Error::Forbidden(format!(
            "{user} holds role {role}; this step needs {}",
            allowed
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        )))
    }
}

fn require_state(s: &Submission, allowed: &[&str], step: &str) -> Result<()> {
    if allowed.contains(&s.state.as_str()) {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "submission {} is {}; {step} needs it {}",
            s.submission_id,
            s.state,
            allowed.join(" or ")
        )))
    }
}

async fn member_kind_in(conn: &mut AnyConnection, user: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query("SELECT member_kind FROM ethics_members WHERE user_name = $1")
            .bind(user)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("member_kind"))
            .transpose()?,
    )
}

async fn conflicted_in(conn: &mut AnyConnection, project_id: &str, user: &str) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 AS x FROM ethics_conflicts WHERE project_id = $1 AND member = $2")
            .bind(project_id)
            .bind(user)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

#[allow(clippy::too_many_arguments)]
fn entry(
    actor: &str,
    role: Role,
    action: &str,
    meaning: Option<String>,
    reason: Option<String>,
    s: &Submission,
    step: String,
    input_digest: Option<String>,
) -> NewAuditEntry {
    let workflow_id = workflow_id(&s.submission_id);
    NewAuditEntry {
        actor: actor.to_owned(),
        role: role.as_str().to_owned(),
        action: action.to_owned(),
        meaning,
        reason,
        idempotency_key: format!("{workflow_id}/{step}"),
        workflow_id: Some(workflow_id),
        step: Some(step),
        input_digest,
        output_digest: None,
    }
}

/// The workflow id of a submission's review (`ethics-ID`).
pub fn workflow_id(submission_id: &str) -> String {
    format!("ethics-{submission_id}")
}

async fn set_state(
    conn: &mut AnyConnection,
    id: &str,
    state: &str,
    due_at: &str,
    comments: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE ethics_submissions SET state = $1, due_at = $2, comments = $3, updated_at = $4 \
         WHERE submission_id = $5",
    )
    .bind(state)
    .bind(due_at)
    .bind(comments)
    .bind(now())
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Adds (or changes) a committee member, scientific or lay; `user` must hold the
/// committee member or chair role. Audited as `ethics.member_added` by `by` (an admin
/// or the secretary).
pub async fn add_member(db: &Db, by: &str, user: &str, lay: bool) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let by_role = require_role(&mut tx, by, &[Role::Admin, Role::EthicsSecretary]).await?;
    require_role(
        &mut tx,
        user,
        &[Role::CommitteeMember, Role::CommitteeChair],
    )
    .await?;
    let kind = if lay { "lay" } else { "scientific" };
    sqlx::query("DELETE FROM ethics_members WHERE user_name = $1")
        .bind(user)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO ethics_members (user_name, member_kind, added_at, added_by) VALUES ($1,$2,$3,$4)",
    )
    .bind(user)
    .bind(kind)
    .bind(now())
    .bind(by)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: by.to_owned(),
            role: by_role.as_str().to_owned(),
            action: "ethics.member_added".into(),
            meaning: Some(format!(
                "{user} sits on the ethics committee as a {kind} member"
            )),
            reason: None,
            workflow_id: None,
            step: None,
            input_digest: None,
            output_digest: None,
            idempotency_key: format!(
                "ethics/member/{user}/{kind}/{}",
                uuid::Uuid::new_v4().simple()
            ),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_documents(
    conn: &mut AnyConnection,
    id: &str,
    version: i64,
    docs: &[Document],
) -> Result<()> {
    for d in docs {
        sqlx::query(
            "INSERT INTO ethics_documents (submission_id, version, name, sha256, content) \
             VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(id)
        .bind(version)
        .bind(&d.name)
        .bind(sha256_hex(d.content.as_bytes()))
        .bind(&d.content)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// SHA-256 (hex) of a document's bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// The documents of a submission's version: name and SHA-256.
pub async fn documents(
    db: &Db,
    submission_id: &str,
    version: i64,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT name, sha256 FROM ethics_documents WHERE submission_id = $1 AND version = $2 ORDER BY name",
    )
    .bind(submission_id)
    .bind(version)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("sha256")?)))
        .collect()
}

/// The documents of every version of a submission: version, name and SHA-256, oldest
/// version first.
pub async fn documents_by_version(
    db: &Db,
    submission_id: &str,
) -> Result<Vec<(i64, String, String)>> {
    let rows = sqlx::query(
        "SELECT version, name, sha256 FROM ethics_documents WHERE submission_id = $1 \
         ORDER BY version, name",
    )
    .bind(submission_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("version")?,
                r.try_get("name")?,
                r.try_get("sha256")?,
            ))
        })
        .collect()
}

/// What the applicant submitted in the current version (its fields and documents), for
/// the applicant to start a resubmission from.
pub async fn content(db: &Db, submission_id: &str) -> Result<SubmissionContent> {
    let text: String =
        sqlx::query("SELECT content_json FROM ethics_submissions WHERE submission_id = $1")
            .bind(submission_id)
            .fetch_optional(db.pool())
            .await?
            .ok_or_else(|| Error::NotFound(format!("ethics submission {submission_id}")))?
            .try_get("content_json")?;
    serde_json::from_str(&text).map_err(|e| {
        Error::Corrupt(format!(
            "ethics submission {submission_id}: stored content does not parse: {e}"
        ))
    })
}

async fn insert_submission(
    db: &Db,
    kind: SubmissionKind,
    project_id: Option<&str>,
    applicant: &str,
    content: &SubmissionContent,
) -> Result<Submission> {
    content.validate().map_err(Error::Invalid)?;
    let mut tx = db.begin_write().await?;
    require_role(&mut tx, applicant, &[Role::ProjectLead]).await?;
    let id = format!("eth-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let project = match project_id {
        None => id.clone(),
        Some(p) => {
            let project = get_in(&mut tx, p).await?;
            if project.kind != "initial" {
                return Err(Error::Invalid(format!(
                    "project_id: {p} is an {} submission, not a project",
                    project.kind
                )));
            }
            // An incident is reported whatever the project's state; an amendment
            // changes a project the committee approved.
            if kind == SubmissionKind::Amendment && project.state != "approved" {
                return Err(Error::Conflict(format!(
                    "project {p} is {}; only an approved project can be amended",
                    project.state
                )));
            }
            p.to_owned()
        }
    };
    let json = serde_json::to_string(content).expect("content serialises");
    let sha = audit::sha256_json(content);
    let stamp = now();
    sqlx::query(
        "INSERT INTO ethics_submissions (submission_id, kind, project_id, applicant, title, version, \
         state, content_json, content_sha256, submitted_at, updated_at, due_at) \
         VALUES ($1,$2,$3,$4,$5,1,'submitted',$6,$7,$8,$8,$9)",
    )
    .bind(&id)
    .bind(kind.as_str())
    .bind(&project)
    .bind(applicant)
    .bind(&content.title)
    .bind(&json)
    .bind(&sha)
    .bind(&stamp)
    .bind(in_days(CHECK_DAYS))
    .execute(&mut *tx)
    .await?;
    insert_documents(&mut tx, &id, 1, &content.documents).await?;
    let s = get_in(&mut tx, &id).await?;
    audit::append(
        &mut tx,
        entry(
            applicant,
            Role::ProjectLead,
            &format!("ethics.{}_submitted", kind.as_str()),
            Some(format!("submitted {} for ethics review", kind.as_str())),
            None,
            &s,
            "submitted/v1".into(),
            Some(sha),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(s)
}

/// A new project submitted by its lead.
pub async fn submit(db: &Db, applicant: &str, content: &SubmissionContent) -> Result<Submission> {
    insert_submission(db, SubmissionKind::Initial, None, applicant, content).await
}

/// An amendment to the approved project `project_id`, reviewed as a submission of its
/// own (the model release routes a new model version's sign-off through here).
pub async fn file_amendment(
    db: &Db,
    project_id: &str,
    applicant: &str,
    content: &SubmissionContent,
) -> Result<Submission> {
    insert_submission(
        db,
        SubmissionKind::Amendment,
        Some(project_id),
        applicant,
        content,
    )
    .await
}

/// An incident report on project `project_id`, reviewed as a submission of its own.
pub async fn report_incident(
    db: &Db,
    project_id: &str,
    applicant: &str,
    content: &SubmissionContent,
) -> Result<Submission> {
    insert_submission(
        db,
        SubmissionKind::Incident,
        Some(project_id),
        applicant,
        content,
    )
    .await
}

/// The secretary's completeness check: complete goes on to routing; incomplete returns
/// it to the applicant with `comments`.
pub async fn check_completeness(
    db: &Db,
    id: &str,
    secretary: &str,
    complete: bool,
    comments: &str,
) -> Result<Submission> {
    if comments.trim().len() < 3 {
        return Err(Error::Invalid(
            "comments: say what was checked or what is missing".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    let role = require_role(&mut tx, secretary, &[Role::EthicsSecretary]).await?;
    let s = get_in(&mut tx, id).await?;
    require_state(&s, &["submitted"], "the completeness check")?;
    let (state, due, action) = if complete {
        ("complete", in_days(CHECK_DAYS), "ethics.complete")
    } else {
        ("returned", in_days(RESPONSE_DAYS), "ethics.returned")
    };
    set_state(&mut tx, id, state, &due, Some(comments)).await?;
    audit::append(
        &mut tx,
        entry(
            secretary,
            role,
            action,
            Some(format!(
                "completeness check of version {}: {state}",
                s.version
            )),
            Some(comments.to_owned()),
            &s,
            format!("check/v{}", s.version),
            Some(s.content_sha256.clone()),
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// The applicant's answer to a returned submission: a new version, checked again.
pub async fn resubmit(
    db: &Db,
    id: &str,
    applicant: &str,
    content: &SubmissionContent,
) -> Result<Submission> {
    content.validate().map_err(Error::Invalid)?;
    let mut tx = db.begin_write().await?;
    let s = get_in(&mut tx, id).await?;
    if s.applicant != applicant {
        return Err(Error::Forbidden(format!(
            "only the applicant {} may resubmit {id}",
            s.applicant
        )));
    }
    require_state(&s, &["returned"], "resubmission")?;
    let version = s.version + 1;
    let sha = audit::sha256_json(content);
    sqlx::query(
        "UPDATE ethics_submissions SET version = $1, title = $2, content_json = $3, content_sha256 = $4, \
         state = 'submitted', due_at = $5, updated_at = $6 WHERE submission_id = $7",
    )
    .bind(version)
    .bind(&content.title)
    .bind(serde_json::to_string(content).expect("content serialises"))
    .bind(&sha)
    .bind(in_days(CHECK_DAYS))
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    insert_documents(&mut tx, id, version, &content.documents).await?;
    audit::append(
        &mut tx,
        entry(
            applicant,
            Role::ProjectLead,
            "ethics.resubmitted",
            Some(format!("resubmitted as version {version}")),
            None,
            &s,
            format!("submitted/v{version}"),
            Some(sha),
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// The secretary routes a complete submission; an exemption needs its reason.
pub async fn route(
    db: &Db,
    id: &str,
    secretary: &str,
    route: Route,
    reason: &str,
) -> Result<Submission> {
    if reason.trim().len() < 3 {
        return Err(Error::Invalid("reason: say why this route".into()));
    }
    let mut tx = db.begin_write().await?;
    let role = require_role(&mut tx, secretary, &[Role::EthicsSecretary]).await?;
    let s = get_in(&mut tx, id).await?;
    require_state(&s, &["complete"], "routing")?;
    let state = match route {
        Route::Exempt => "exempt",
        Route::Expedited | Route::FullCommittee => "awaiting_assignment",
    };
    sqlx::query(
        "UPDATE ethics_submissions SET route = $1, route_reason = $2, state = $3, due_at = $4, \
         updated_at = $5 WHERE submission_id = $6",
    )
    .bind(route.as_str())
    .bind(reason)
    .bind(state)
    .bind(in_days(CHECK_DAYS))
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        entry(
            secretary,
            role,
            "ethics.routed",
            Some(format!("routed {}", route.as_str())),
            Some(reason.to_owned()),
            &s,
            format!("route/v{}", s.version),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// A member declares a conflict of interest with a submission's project: they cannot
/// be assigned to it, vote on it, or count towards its meetings' quorum.
pub async fn declare_conflict(db: &Db, id: &str, member: &str, reason: &str) -> Result<()> {
    if reason.trim().len() < 3 {
        return Err(Error::Invalid("reason: say what the conflict is".into()));
    }
    let mut tx = db.begin_write().await?;
    let role = require_role(
        &mut tx,
        member,
        &[Role::CommitteeMember, Role::CommitteeChair],
    )
    .await?;
    let s = get_in(&mut tx, id).await?;
    if !conflicted_in(&mut tx, &s.project_id, member).await? {
        sqlx::query(
            "INSERT INTO ethics_conflicts (project_id, member, reason, declared_at) VALUES ($1,$2,$3,$4)",
        )
        .bind(&s.project_id)
        .bind(member)
        .bind(reason)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        // Already assigned: the assignment goes.
        sqlx::query("DELETE FROM ethics_assignments WHERE submission_id = $1 AND reviewer = $2")
            .bind(id)
            .bind(member)
            .execute(&mut *tx)
            .await?;
        audit::append(
            &mut tx,
            entry(
                member,
                role,
                "ethics.conflict_declared",
                Some("declared a conflict of interest".into()),
                Some(reason.to_owned()),
                &s,
                format!("conflict/{member}"),
                None,
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The secretary assigns reviewers: committee members, not the applicant, none with a
/// declared conflict; an expedited review has one or two.
pub async fn assign_reviewers(
    db: &Db,
    id: &str,
    secretary: &str,
    reviewers: &[String],
) -> Result<Submission> {
    let mut tx = db.begin_write().await?;
    let role = require_role(&mut tx, secretary, &[Role::EthicsSecretary]).await?;
    let s = get_in(&mut tx, id).await?;
    require_state(&s, &["awaiting_assignment"], "reviewer assignment")?;
    let expedited = s.route.as_deref() == Some("expedited");
    if reviewers.is_empty() || (expedited && reviewers.len() > 2) {
        return Err(Error::Invalid(format!(
            "reviewers: {} needs {}, got {}",
            if expedited {
                "an expedited review"
            } else {
                "a committee review"
            },
            if expedited {
                "one or two"
            } else {
                "at least one"
            },
            reviewers.len()
        )));
    }
    let mut problems = Vec::new();
    for (i, r) in reviewers.iter().enumerate() {
        if r == &s.applicant {
            problems.push(format!(
                "reviewers[{i}]: {r} is the applicant and may not review their own project"
            ));
        } else if member_kind_in(&mut tx, r).await?.is_none() {
            problems.push(format!("reviewers[{i}]: {r} is not a committee member"));
        } else if conflicted_in(&mut tx, &s.project_id, r).await? {
            problems.push(format!(
                "reviewers[{i}]: {r} declared a conflict of interest with this project"
            ));
        } else if reviewers[..i].contains(r) {
            problems.push(format!("reviewers[{i}]: {r} appears twice"));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems.join("; ")));
    }
    for r in reviewers {
        sqlx::query(
            "INSERT INTO ethics_assignments (submission_id, reviewer, assigned_by, assigned_at) VALUES ($1,$2,$3,$4)",
        )
        .bind(id)
        .bind(r)
        .bind(secretary)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    }
    set_state(
        &mut tx,
        id,
        "in_review",
        &in_days(REVIEW_DAYS),
        s.comments.as_deref(),
    )
    .await?;
    audit::append(
        &mut tx,
        entry(
            secretary,
            role,
            "ethics.reviewers_assigned",
            Some(format!("assigned {}", reviewers.join(", "))),
            None,
            &s,
            format!("assign/v{}", s.version),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// The reviewers assigned to a submission.
pub async fn reviewers(db: &Db, id: &str) -> Result<Vec<String>> {
    let mut conn = db.pool().acquire().await?;
    reviewers_in(&mut conn, id).await
}

async fn reviewers_in(conn: &mut AnyConnection, id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT reviewer FROM ethics_assignments WHERE submission_id = $1 ORDER BY reviewer",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| Ok(r.try_get("reviewer")?)).collect()
}

/// What a signer signs for an ethics step: the submission's version and content hash,
/// the step and what they say.
#[derive(Serialize)]
struct Signed<'a> {
    submission_id: &'a str,
    version: i64,
    content_sha256: &'a str,
    step: &'a str,
    what: &'a str,
    text: &'a str,
}

/// How a signing step is signed: with the password re-entered now (the store signs
/// it), or with a signature made earlier for exactly this step ([`sign_step`], as the
/// API does before the step travels through the review workflow without the password).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signing<'a> {
    /// The signer's password.
    Password(&'a str),
    /// The id of the signer's unused signature of this step.
    Signature(&'a str),
}

impl std::fmt::Debug for Signing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Signing::Password(_) => f.write_str("Password(<hidden>)"),
            Signing::Signature(id) => write!(f, "Signature({id})"),
        }
    }
}

/// The subject and content digest a signature of an ethics step signs.
fn signed_terms(s: &Submission, step: &str, what: &str, text: &str) -> (String, String) {
    let subject = format!("ethics/{}/{step}", s.submission_id);
    let content = audit::sha256_json(&Signed {
        submission_id: &s.submission_id,
        version: s.version,
        content_sha256: &s.content_sha256,
        step,
        what,
        text,
    });
    (subject, content)
}

/// Signs an ethics step (with the password) or takes the signature made for it, and,
/// in the change's transaction, uses the signature: returns the open transaction and
/// the signature id.
#[allow(clippy::too_many_arguments)]
async fn signed_tx(
    db: &Db,
    s: &Submission,
    signer: &str,
    signing: Signing<'_>,
    meaning: SignatureMeaning,
    step: &str,
    what: &str,
    text: &str,
) -> Result<(sqlx::Transaction<'static, sqlx::Any>, String)> {
    let (subject, content) = signed_terms(s, step, what, text);
    let signature_id = match signing {
        Signing::Password(password) => {
            signatures::sign(
                db,
                &SignRequest {
                    signer,
                    password,
                    meaning,
                    subject: subject.clone(),
                    signed_sha256: content.clone(),
                    workflow_id: Some(workflow_id(&s.submission_id)),
                },
            )
            .await?
            .signature_id
        }
        Signing::Signature(id) => id.to_owned(),
    };
    let mut tx = db.begin_write().await?;
    let expected = signatures::Expected {
        actor: signer,
        subject: &subject,
        meaning,
        signed_sha256: &content,
    };
    if let Some(why) = signatures::check_unused_in(&mut tx, Some(&signature_id), &expected).await? {
        return Err(Error::Conflict(why));
    }
    if !signatures::mark_used_in(&mut tx, &signature_id).await? {
        return Err(Error::Conflict(format!(
            "signature {signature_id} was used meanwhile"
        )));
    }
    Ok((tx, signature_id))
}

/// Signs `step` (a review, vote, decision or verification of submission `id`) with its
/// actor's password, over the submission as stored now, and returns the step carrying
/// the signature: what the API does before sending the step to the review workflow, so
/// that the password never travels further. A wrong password is counted towards the
/// lock-out; a step that is not signed is returned as it is.
pub async fn sign_step(db: &Db, id: &str, password: &str, step: &EthicsStep) -> Result<EthicsStep> {
    let s = get(db, id).await?;
    let (meaning, name, what, text) = match step {
        EthicsStep::Review {
            reviewer,
            recommendation,
            comments,
            ..
        } => (
            SignatureMeaning::Reviewed,
            format!("review/v{}/{reviewer}", s.version),
            recommendation.as_str(),
            comments.as_str(),
        ),
        EthicsStep::Vote {
            meeting_id,
            member,
            vote,
            ..
        } => (
            SignatureMeaning::Reviewed,
            format!("vote/{meeting_id}/{member}"),
            vote.as_str(),
            "",
        ),
        EthicsStep::Decide {
            meeting_id,
            outcome,
            letter,
            ..
        } => (
            SignatureMeaning::Responsible,
            format!("decision/{meeting_id}"),
            outcome.as_str(),
            letter.as_str(),
        ),
        EthicsStep::Verify {
            accept, comments, ..
        } => (
            verify_meaning(*accept),
            format!("verify/v{}", s.version),
            if *accept { "accept" } else { "more" },
            comments.as_str(),
        ),
        EthicsStep::Renew { report, .. } => (
            SignatureMeaning::Responsible,
            renewal_step(&s),
            "renew",
            report.as_str(),
        ),
        other => return Ok(other.clone()),
    };
    let (subject, content) = signed_terms(&s, &name, what, text);
    let sig = signatures::sign(
        db,
        &SignRequest {
            signer: step.actor(),
            password,
            meaning,
            subject,
            signed_sha256: content,
            workflow_id: Some(workflow_id(id)),
        },
    )
    .await?;
    let mut signed = step.clone();
    match &mut signed {
        EthicsStep::Review { signature_id, .. }
        | EthicsStep::Vote { signature_id, .. }
        | EthicsStep::Decide { signature_id, .. }
        | EthicsStep::Verify { signature_id, .. }
        | EthicsStep::Renew { signature_id, .. } => *signature_id = Some(sig.signature_id),
        _ => unreachable!("only signing steps reach here"),
    }
    Ok(signed)
}

fn verify_meaning(accept: bool) -> SignatureMeaning {
    if accept {
        SignatureMeaning::Approved
    } else {
        SignatureMeaning::Rejected
    }
}

/// An assigned reviewer's signed comments (meaning `reviewed`). On an expedited review
/// a reviewer approves or refers to the full committee, never disapproves; once every
/// expedited reviewer has answered, all approving approves the submission (for the
/// default period) and any referral sends it to the full committee. On a committee
/// review the comments inform the meeting.
pub async fn review(
    db: &Db,
    id: &str,
    reviewer: &str,
    password: &str,
    recommendation: Recommendation,
    comments: &str,
) -> Result<Submission> {
    review_by(
        db,
        id,
        reviewer,
        Signing::Password(password),
        recommendation,
        comments,
    )
    .await
}

/// [`review`], signed either way.
pub async fn review_by(
    db: &Db,
    id: &str,
    reviewer: &str,
    signing: Signing<'_>,
    recommendation: Recommendation,
    comments: &str,
) -> Result<Submission> {
    if comments.trim().len() < 3 {
        return Err(Error::Invalid(
            "comments: a review must say something".into(),
        ));
    }
    let s = get(db, id).await?;
    require_state(&s, &["in_review"], "a review")?;
    let expedited = s.route.as_deref() == Some("expedited");
    if expedited
        && !matches!(
            recommendation,
            Recommendation::Approve | Recommendation::Refer
        )
    {
        return Err(Error::Invalid(format!(
            "recommendation: an expedited reviewer approves or refers to the full committee, never {}",
            recommendation.as_str()
        )));
    }
    if !expedited && recommendation == Recommendation::Refer {
        return Err(Error::Invalid(
            "recommendation: the full committee already reviews this".into(),
        ));
    }
    {
        let mut conn = db.pool().acquire().await?;
        if !reviewers_in(&mut conn, id)
            .await?
            .iter()
            .any(|r| r == reviewer)
        {
            return Err(Error::Forbidden(format!(
                "{reviewer} is not assigned to review {id}"
            )));
        }
    }
    let (mut tx, signature_id) = signed_tx(
        db,
        &s,
        reviewer,
        signing,
        SignatureMeaning::Reviewed,
        &format!("review/v{}/{reviewer}", s.version),
        recommendation.as_str(),
        comments,
    )
    .await?;
    // Checked again inside the transaction: a conflict declared meanwhile removes the
    // assignment.
    if !reviewers_in(&mut tx, id)
        .await?
        .iter()
        .any(|r| r == reviewer)
    {
        return Err(Error::Forbidden(format!(
            "{reviewer} is not assigned to review {id}"
        )));
    }
    let role = role_in(&mut tx, reviewer).await?;
    sqlx::query(
        "INSERT INTO ethics_reviews (submission_id, version, reviewer, recommendation, comments, signature_id, reviewed_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(id)
    .bind(s.version)
    .bind(reviewer)
    .bind(recommendation.as_str())
    .bind(comments)
    .bind(&signature_id)
    .bind(now())
    .execute(&mut *tx)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Conflict(format!("{reviewer} already reviewed version {} of {id}", s.version))
        }
        other => other.into(),
    })?;
    audit::append(
        &mut tx,
        entry(
            reviewer,
            role,
            "ethics.reviewed",
            Some(format!(
                "reviewed: recommends {} (signature {signature_id})",
                recommendation.as_str()
            )),
            Some(comments.to_owned()),
            &s,
            format!("review/v{}/{reviewer}", s.version),
            Some(s.content_sha256.clone()),
        ),
    )
    .await?;
    if expedited {
        let assigned = reviewers_in(&mut tx, id).await?;
        let rows = sqlx::query(
            "SELECT recommendation FROM ethics_reviews WHERE submission_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(s.version)
        .fetch_all(&mut *tx)
        .await?;
        let recs: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("recommendation"))
            .collect::<std::result::Result<_, _>>()?;
        if recs.iter().any(|r| r == "refer") {
            sqlx::query(
                "UPDATE ethics_submissions SET route = 'full_committee' WHERE submission_id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            set_state(
                &mut tx,
                id,
                "awaiting_meeting",
                &in_days(REVIEW_DAYS),
                s.comments.as_deref(),
            )
            .await?;
            audit::append(
                &mut tx,
                entry(
                    reviewer,
                    role,
                    "ethics.referred",
                    Some("referred to the full committee".into()),
                    None,
                    &s,
                    format!("referred/v{}", s.version),
                    None,
                ),
            )
            .await?;
        } else if recs.len() >= assigned.len() {
            approve_in(
                &mut tx,
                &s,
                DEFAULT_APPROVAL_MONTHS,
                "approved by expedited review",
                None,
            )
            .await?;
            audit::append(
                &mut tx,
                entry(
                    reviewer,
                    role,
                    "ethics.approved",
                    Some("approved by expedited review".into()),
                    None,
                    &s,
                    format!("decision/v{}", s.version),
                    None,
                ),
            )
            .await?;
        }
    } else {
        let assigned = reviewers_in(&mut tx, id).await?;
        let done: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM ethics_reviews WHERE submission_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(s.version)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if done as usize >= assigned.len() {
            set_state(
                &mut tx,
                id,
                "awaiting_meeting",
                &in_days(REVIEW_DAYS),
                s.comments.as_deref(),
            )
            .await?;
        }
    }
    tx.commit().await?;
    get(db, id).await
}

async fn approve_in(
    conn: &mut AnyConnection,
    s: &Submission,
    months: u32,
    decision: &str,
    letter: Option<&str>,
) -> Result<()> {
    let until = (chrono::Utc::now() + chrono::Months::new(months))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query(
        "UPDATE ethics_submissions SET state = 'approved', approved_until = $1, decision = $2, \
         decision_letter = COALESCE($3, decision_letter), due_at = $1, updated_at = $4 WHERE submission_id = $5",
    )
    .bind(&until)
    .bind(decision)
    .bind(letter)
    .bind(now())
    .bind(&s.submission_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Members and their kind (`scientific`, `lay`).
async fn members_in(conn: &mut AnyConnection) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT user_name, member_kind FROM ethics_members ORDER BY user_name")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("user_name")?, r.try_get("member_kind")?)))
        .collect()
}

/// The secretary records who attends the meeting that discusses a submission. Members
/// with a conflict leave and do not count; the applicant, if a member, does not count
/// either. Quorate when more than half of all members count and at least one of them is
/// lay. A meeting that is not quorate is recorded, and cannot decide.
pub async fn hold_meeting(
    db: &Db,
    id: &str,
    secretary: &str,
    present: &[String],
) -> Result<Meeting> {
    let mut tx = db.begin_write().await?;
    let role = require_role(&mut tx, secretary, &[Role::EthicsSecretary]).await?;
    let s = get_in(&mut tx, id).await?;
    require_state(&s, &["awaiting_meeting", "deferred"], "a meeting")?;
    let members = members_in(&mut tx).await?;
    let mut counted = Vec::new();
    let mut left = Vec::new();
    let mut problems = Vec::new();
    for (i, p) in present.iter().enumerate() {
        match members.iter().find(|(m, _)| m == p) {
            None => problems.push(format!("present[{i}]: {p} is not a committee member")),
            Some(_) if conflicted_in(&mut tx, &s.project_id, p).await? || p == &s.applicant => {
                left.push(p.clone())
            }
            Some(_) if counted.contains(p) => {}
            Some(_) => counted.push(p.clone()),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems.join("; ")));
    }
    let lay = counted
        .iter()
        .filter(|c| members.iter().any(|(m, k)| m == *c && k == "lay"))
        .count();
    let quorate = counted.len() * 2 > members.len() && lay >= 1;
    let mut note = format!(
        "{} of {} members count (more than half needed), {} lay (one needed)",
        counted.len(),
        members.len(),
        lay
    );
    if !left.is_empty() {
        note.push_str(&format!(
            "; left for a conflict of interest: {}",
            left.join(", ")
        ));
    }
    let meeting_id = format!("mtg-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    sqlx::query(
        "INSERT INTO ethics_meetings (meeting_id, submission_id, held_at, present_json, quorate, quorum_note) \
         VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(&meeting_id)
    .bind(id)
    .bind(now())
    .bind(serde_json::to_string(&counted).expect("names serialise"))
    .bind(i64::from(quorate))
    .bind(&note)
    .execute(&mut *tx)
    .await?;
    if quorate {
        set_state(
            &mut tx,
            id,
            "in_meeting",
            &in_days(1),
            s.comments.as_deref(),
        )
        .await?;
    }
    audit::append(
        &mut tx,
        entry(
            secretary,
            role,
            if quorate {
                "ethics.meeting_quorate"
            } else {
                "ethics.meeting_not_quorate"
            },
            Some(format!("meeting {meeting_id} attendance")),
            Some(note.clone()),
            &s,
            format!("meeting/{meeting_id}"),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Meeting {
        meeting_id,
        submission_id: id.to_owned(),
        counted,
        quorate,
        quorum_note: note,
    })
}

async fn meeting_in(
    conn: &mut AnyConnection,
    meeting_id: &str,
) -> Result<(String, Vec<String>, bool)> {
    let row = sqlx::query(
        "SELECT submission_id, present_json, quorate FROM ethics_meetings WHERE meeting_id = $1",
    )
    .bind(meeting_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("meeting {meeting_id}")))?;
    let present: String = row.try_get("present_json")?;
    let quorate: i64 = row.try_get("quorate")?;
    Ok((
        row.try_get("submission_id")?,
        serde_json::from_str(&present).map_err(|e| Error::Corrupt(e.to_string()))?,
        quorate != 0,
    ))
}

/// A member present (and counted) at a quorate meeting votes, signing it (`reviewed`).
pub async fn vote(
    db: &Db,
    meeting_id: &str,
    member: &str,
    password: &str,
    vote: Vote,
) -> Result<()> {
    vote_by(db, meeting_id, member, Signing::Password(password), vote).await
}

/// [`vote`], signed either way.
pub async fn vote_by(
    db: &Db,
    meeting_id: &str,
    member: &str,
    signing: Signing<'_>,
    vote: Vote,
) -> Result<()> {
    let (id, counted, quorate) = {
        let mut conn = db.pool().acquire().await?;
        meeting_in(&mut conn, meeting_id).await?
    };
    if !quorate {
        return Err(Error::Conflict(format!(
            "meeting {meeting_id} was not quorate: it cannot vote"
        )));
    }
    if !counted.iter().any(|c| c == member) {
        return Err(Error::Forbidden(format!(
            "{member} may not vote at meeting {meeting_id}: not present, not a member, conflicted or the applicant"
        )));
    }
    let s = get(db, &id).await?;
    require_state(&s, &["in_meeting"], "a vote")?;
    let (mut tx, signature_id) = signed_tx(
        db,
        &s,
        member,
        signing,
        SignatureMeaning::Reviewed,
        &format!("vote/{meeting_id}/{member}"),
        vote.as_str(),
        "",
    )
    .await?;
    if conflicted_in(&mut tx, &s.project_id, member).await? {
        return Err(Error::Forbidden(format!(
            "{member} declared a conflict of interest and may not vote"
        )));
    }
    let role = role_in(&mut tx, member).await?;
    sqlx::query("INSERT INTO ethics_votes (meeting_id, member, vote, signature_id, voted_at) VALUES ($1,$2,$3,$4,$5)")
        .bind(meeting_id)
        .bind(member)
        .bind(vote.as_str())
        .bind(&signature_id)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::Conflict(format!("{member} already voted at meeting {meeting_id}"))
            }
            other => other.into(),
        })?;
    audit::append(
        &mut tx,
        entry(
            member,
            role,
            "ethics.voted",
            Some(format!(
                "voted {} (signature {signature_id})",
                vote.as_str()
            )),
            None,
            &s,
            format!("vote/{meeting_id}/{member}"),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The chair records the committee's decision at a quorate meeting with its letter,
/// signing it (`responsible`). The decision must be what most votes cast (abstentions
/// aside) say; a tie defers.
pub async fn decide(
    db: &Db,
    meeting_id: &str,
    chair: &str,
    password: &str,
    outcome: Outcome,
    letter: &str,
) -> Result<Submission> {
    decide_by(
        db,
        meeting_id,
        chair,
        Signing::Password(password),
        outcome,
        letter,
    )
    .await
}

/// [`decide`], signed either way.
pub async fn decide_by(
    db: &Db,
    meeting_id: &str,
    chair: &str,
    signing: Signing<'_>,
    outcome: Outcome,
    letter: &str,
) -> Result<Submission> {
    if letter.trim().len() < 10 {
        return Err(Error::Invalid(
            "letter: the decision letter must say what was decided and why".into(),
        ));
    }
    let (id, _counted, quorate) = {
        let mut conn = db.pool().acquire().await?;
        meeting_in(&mut conn, meeting_id).await?
    };
    if !quorate {
        return Err(Error::Conflict(format!(
            "meeting {meeting_id} was not quorate: it cannot decide"
        )));
    }
    let s = get(db, &id).await?;
    require_state(&s, &["in_meeting"], "a decision")?;
    {
        let mut conn = db.pool().acquire().await?;
        require_role(&mut conn, chair, &[Role::CommitteeChair]).await?;
        if chair == s.applicant {
            return Err(Error::Forbidden(format!(
                "{chair} is the applicant and may not decide"
            )));
        }
        if conflicted_in(&mut conn, &s.project_id, chair).await? {
            return Err(Error::Forbidden(format!(
                "{chair} declared a conflict of interest and may not decide"
            )));
        }
        let rows = sqlx::query("SELECT vote FROM ethics_votes WHERE meeting_id = $1")
            .bind(meeting_id)
            .fetch_all(&mut *conn)
            .await?;
        let votes: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("vote"))
            .collect::<std::result::Result<_, _>>()?;
        let majority = majority(&votes);
        if majority != Some(outcome) {
            return Err(Error::Conflict(format!(
                "the votes ({}) decide {}, not {}",
                votes.join(", "),
                majority
                    .map(|o| o.as_str())
                    .unwrap_or("nothing yet (no votes)"),
                outcome.as_str()
            )));
        }
    }
    let (mut tx, signature_id) = signed_tx(
        db,
        &s,
        chair,
        signing,
        SignatureMeaning::Responsible,
        &format!("decision/{meeting_id}"),
        outcome.as_str(),
        letter,
    )
    .await?;
    match outcome {
        Outcome::Approved => {
            approve_in(
                &mut tx,
                &s,
                DEFAULT_APPROVAL_MONTHS,
                "approved",
                Some(letter),
            )
            .await?
        }
        other => {
            let state = match other {
                Outcome::ApprovedAfterModifications => "modifications_requested",
                Outcome::Deferred => "deferred",
                _ => "not_approved",
            };
            sqlx::query("UPDATE ethics_submissions SET state = $1, decision = $2, decision_letter = $3, due_at = $4, updated_at = $5 WHERE submission_id = $6")
                .bind(state)
                .bind(other.as_str())
                .bind(letter)
                .bind(in_days(RESPONSE_DAYS))
                .bind(now())
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        }
    }
    audit::append(
        &mut tx,
        entry(
            chair,
            Role::CommitteeChair,
            "ethics.decided",
            Some(format!(
                "responsible: committee decision {} (signature {signature_id})",
                outcome.as_str()
            )),
            Some(letter.to_owned()),
            &s,
            format!("decision/{meeting_id}"),
            Some(db.digest(letter)),
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, &id).await
}

/// What most votes say, abstentions aside; `None` without votes; a tie defers.
pub fn majority(votes: &[String]) -> Option<Outcome> {
    let count = |v: &str| votes.iter().filter(|x| x.as_str() == v).count();
    let tally = [
        (Outcome::Approved, count("approve")),
        (Outcome::ApprovedAfterModifications, count("modifications")),
        (Outcome::Deferred, count("defer")),
        (Outcome::NotApproved, count("not_approve")),
    ];
    let top = tally.iter().map(|(_, n)| *n).max()?;
    if top == 0 {
        return None;
    }
    let leaders: Vec<_> = tally.iter().filter(|(_, n)| *n == top).collect();
    Some(if leaders.len() == 1 {
        leaders[0].0
    } else {
        Outcome::Deferred
    })
}

/// The applicant answers the requested modifications.
pub async fn respond(db: &Db, id: &str, applicant: &str, response: &str) -> Result<Submission> {
    if response.trim().len() < 3 {
        return Err(Error::Invalid("response: say what was modified".into()));
    }
    let mut tx = db.begin_write().await?;
    let s = get_in(&mut tx, id).await?;
    if s.applicant != applicant {
        return Err(Error::Forbidden(format!(
            "only the applicant {} may respond on {id}",
            s.applicant
        )));
    }
    require_state(&s, &["modifications_requested"], "a response")?;
    set_state(
        &mut tx,
        id,
        "modifications_submitted",
        &in_days(REVIEW_DAYS),
        Some(response),
    )
    .await?;
    audit::append(
        &mut tx,
        entry(
            applicant,
            Role::ProjectLead,
            "ethics.modifications_submitted",
            None,
            Some(response.to_owned()),
            &s,
            format!("response/{}", uuid::Uuid::new_v4().simple()),
            Some(db.digest(response)),
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// The chair or an assigned reviewer verifies the applicant's modifications, signing it
/// (`approved`): accepted approves the project; not accepted asks again.
pub async fn verify(
    db: &Db,
    id: &str,
    verifier: &str,
    password: &str,
    accept: bool,
    comments: &str,
) -> Result<Submission> {
    verify_by(
        db,
        id,
        verifier,
        Signing::Password(password),
        accept,
        comments,
    )
    .await
}

/// [`verify`], signed either way.
pub async fn verify_by(
    db: &Db,
    id: &str,
    verifier: &str,
    signing: Signing<'_>,
    accept: bool,
    comments: &str,
) -> Result<Submission> {
    if comments.trim().len() < 3 {
        return Err(Error::Invalid("comments: say what was verified".into()));
    }
    let s = get(db, id).await?;
    require_state(&s, &["modifications_submitted"], "verification")?;
    if verifier == s.applicant {
        return Err(Error::Forbidden(format!(
            "{verifier} is the applicant and may not verify their own modifications"
        )));
    }
    {
        let mut conn = db.pool().acquire().await?;
        let role = role_in(&mut conn, verifier).await?;
        let is_reviewer = reviewers_in(&mut conn, id)
            .await?
            .iter()
            .any(|r| r == verifier);
        if role != Role::CommitteeChair && !is_reviewer {
            return Err(Error::Forbidden(format!(
                "{verifier} is neither the chair nor a reviewer of {id}"
            )));
        }
        if conflicted_in(&mut conn, &s.project_id, verifier).await? {
            return Err(Error::Forbidden(format!(
                "{verifier} declared a conflict of interest"
            )));
        }
    }
    let meaning = verify_meaning(accept);
    // The signature signs this version's verification (a single-use signature per
    // round); the audit step is one of its own per round.
    let step = format!("verify/{}", uuid::Uuid::new_v4().simple());
    let (mut tx, signature_id) = signed_tx(
        db,
        &s,
        verifier,
        signing,
        meaning,
        &format!("verify/v{}", s.version),
        if accept { "accept" } else { "more" },
        comments,
    )
    .await?;
    let role = role_in(&mut tx, verifier).await?;
    if accept {
        approve_in(
            &mut tx,
            &s,
            DEFAULT_APPROVAL_MONTHS,
            "approved_after_modifications",
            None,
        )
        .await?;
    } else {
        set_state(
            &mut tx,
            id,
            "modifications_requested",
            &in_days(RESPONSE_DAYS),
            Some(comments),
        )
        .await?;
    }
    audit::append(
        &mut tx,
        entry(
            verifier,
            role,
            if accept {
                "ethics.modifications_verified"
            } else {
                "ethics.modifications_refused"
            },
            Some(format!(
                "{meaning}: modifications (signature {signature_id})"
            )),
            Some(comments.to_owned()),
            &s,
            step,
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// What a renewal signs: the renewal of the approval that runs until `approved_until`
/// (so each period's renewal is signed once).
fn renewal_step(s: &Submission) -> String {
    format!("renew/{}", s.approved_until.as_deref().unwrap_or_default())
}

/// Continuing review: the chair renews project `id`'s approval for another
/// [`DEFAULT_APPROVAL_MONTHS`] from its current expiry, on the lead's
/// continuing-review report, signed (`responsible`). Only an approved project (one
/// that has not lapsed: a suspended project comes back as a new submission), only the
/// chair, who may not have declared a conflict with it. The new expiry and the
/// `ethics.renewed` entry commit together.
pub async fn renew_by(
    db: &Db,
    id: &str,
    chair: &str,
    signing: Signing<'_>,
    report: &str,
) -> Result<Submission> {
    if report.trim().chars().count() < 10 {
        return Err(Error::Invalid(
            "report: say what the continuing-review report showed (at least 10 characters)".into(),
        ));
    }
    let s = get(db, id).await?;
    if s.kind != "initial" {
        return Err(Error::Invalid(format!(
            "{id} is an {} submission; continuing review renews a project",
            s.kind
        )));
    }
    require_state(&s, &["approved"], "renewal")?;
    {
        let mut conn = db.pool().acquire().await?;
        if role_in(&mut conn, chair).await? != Role::CommitteeChair {
            return Err(Error::Forbidden(format!(
                "{chair} is not the committee's chair; only the chair renews an approval"
            )));
        }
        if conflicted_in(&mut conn, &s.project_id, chair).await? {
            return Err(Error::Forbidden(format!(
                "{chair} declared a conflict of interest and may not renew"
            )));
        }
    }
    let current = s
        .approved_until
        .as_deref()
        .ok_or_else(|| Error::Corrupt(format!("approved submission {id} has no expiry")))?;
    let from = chrono::DateTime::parse_from_rfc3339(current)
        .map_err(|e| Error::Corrupt(format!("{id}: approved_until {current}: {e}")))?;
    let until = (from + chrono::Months::new(DEFAULT_APPROVAL_MONTHS))
        .with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (mut tx, signature_id) = signed_tx(
        db,
        &s,
        chair,
        signing,
        SignatureMeaning::Responsible,
        &renewal_step(&s),
        "renew",
        report,
    )
    .await?;
    let renewed = sqlx::query(
        "UPDATE ethics_submissions SET approved_until = $1, due_at = $1, updated_at = $2 \
         WHERE submission_id = $3 AND state = 'approved' AND approved_until = $4",
    )
    .bind(&until)
    .bind(now())
    .bind(id)
    .bind(current)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if renewed == 0 {
        return Err(Error::Conflict(format!(
            "{id} changed meanwhile (no longer approved until {current})"
        )));
    }
    audit::append(
        &mut tx,
        entry(
            chair,
            Role::CommitteeChair,
            "ethics.renewed",
            Some(format!(
                "responsible: continuing review renewed the approval from {current} until {until} \
                 (signature {signature_id})"
            )),
            Some(report.to_owned()),
            &s,
            renewal_step(&s),
            None,
        ),
    )
    .await?;
    tx.commit().await?;
    get(db, id).await
}

/// Continuing review: suspends every approved project whose approval lapsed by `at`
/// (RFC 3339), audited; returns their ids.
pub async fn suspend_lapsed(db: &Db, at: &str) -> Result<Vec<String>> {
    suspend_lapsed_where(db, at, None).await
}

/// Continuing review of one project, as its review workflow's expiry timer fires:
/// suspends it if its approval lapsed by `at` (the workflow's clock), audited; returns
/// the submission as it then stands (still approved if it was renewed meanwhile).
pub async fn suspend_if_lapsed(db: &Db, id: &str, at: &str) -> Result<Submission> {
    suspend_lapsed_where(db, at, Some(id)).await?;
    get(db, id).await
}

async fn suspend_lapsed_where(db: &Db, at: &str, only: Option<&str>) -> Result<Vec<String>> {
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ethics_submissions WHERE state = 'approved' AND approved_until IS NOT NULL \
         AND approved_until <= $1 AND kind = 'initial' AND ($2 IS NULL OR submission_id = $2) \
         ORDER BY submission_id"
    ))
    .bind(at)
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    let lapsed: Vec<Submission> = rows.iter().map(from_row).collect::<Result<_>>()?;
    for s in &lapsed {
        set_state(
            &mut tx,
            &s.submission_id,
            "suspended",
            at,
            Some("approval lapsed: continuing review not renewed"),
        )
        .await?;
        let mut e = audit::system_entry(
            &workflow_id(&s.submission_id),
            &format!("lapsed/{}", s.approved_until.as_deref().unwrap_or_default()),
            "ethics.suspended",
        );
        e.reason = Some(format!(
            "approval expired at {}",
            s.approved_until.as_deref().unwrap_or_default()
        ));
        audit::append(&mut tx, e).await?;
    }
    tx.commit().await?;
    Ok(lapsed.into_iter().map(|s| s.submission_id).collect())
}

/// A reminder, from the review workflow's timer: the step awaited in `state` is
/// overdue, or (state `approved`) the approval's expiry approaches. Audited once per
/// `round` (`ethics.reminder`, with `note`) if the submission is still in `state`;
/// returns the submission as it stands.
pub async fn remind(db: &Db, id: &str, state: &str, round: u32, note: &str) -> Result<Submission> {
    let mut tx = db.begin_write().await?;
    let s = get_in(&mut tx, id).await?;
    if s.state == state {
        let mut e = audit::system_entry(
            &workflow_id(id),
            // The due date tells apart rounds of a state the review comes back to.
            &format!("reminder/{state}/v{}/{}/{round}", s.version, s.due_at),
            "ethics.reminder",
        );
        e.reason = Some(format!("{note} (due {})", s.due_at));
        audit::append(&mut tx, e).await?;
    }
    tx.commit().await?;
    Ok(s)
}

/// What waits for `user`: the secretary sees submissions to check, route, assign and
/// hold meetings for; a reviewer their reviews; the chair decisions and verifications;
/// an applicant what is returned to them and approvals due for renewal. By due date.
pub async fn queue(db: &Db, user: &str) -> Result<Vec<QueueItem>> {
    let mut conn = db.pool().acquire().await?;
    let role = role_in(&mut conn, user).await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ethics_submissions ORDER BY due_at, submission_id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let all: Vec<Submission> = rows.iter().map(from_row).collect::<Result<_>>()?;
    let reminder_from = in_days(REMINDER_DAYS);
    let mut out = Vec::new();
    for s in all {
        let action = match (role, s.state.as_str()) {
            (Role::EthicsSecretary, "submitted") => Some("check completeness"),
            (Role::EthicsSecretary, "complete") => Some("route"),
            (Role::EthicsSecretary, "awaiting_assignment") => Some("assign reviewers"),
            (Role::EthicsSecretary, "awaiting_meeting" | "deferred") => Some("hold the meeting"),
            (Role::CommitteeMember | Role::CommitteeChair, "in_review") => {
                let mine = reviewers_in(&mut conn, &s.submission_id)
                    .await?
                    .contains(&user.to_owned());
                let done = sqlx::query("SELECT 1 AS x FROM ethics_reviews WHERE submission_id = $1 AND version = $2 AND reviewer = $3")
                    .bind(&s.submission_id).bind(s.version).bind(user)
                    .fetch_optional(&mut *conn).await?.is_some();
                (mine && !done).then_some("review")
            }
            (Role::CommitteeMember | Role::CommitteeChair, "in_meeting") => Some("vote"),
            (Role::CommitteeChair, "modifications_submitted") => Some("verify modifications"),
            (Role::ProjectLead, "returned") if s.applicant == user => Some("resubmit"),
            (Role::ProjectLead, "modifications_requested") if s.applicant == user => {
                Some("respond to modifications")
            }
            (Role::ProjectLead, "approved")
                if s.applicant == user && s.kind == "initial" && s.due_at <= reminder_from =>
            {
                Some("send the continuing-review report to the chair")
            }
            (Role::CommitteeChair, "approved")
                if s.kind == "initial" && s.due_at <= reminder_from =>
            {
                Some("renew approval (continuing review)")
            }
            _ => None,
        };
        if let Some(a) = action {
            if matches!(role, Role::CommitteeMember | Role::CommitteeChair)
                && conflicted_in(&mut conn, &s.project_id, user).await?
            {
                continue;
            }
            out.push(QueueItem {
                submission_id: s.submission_id,
                title: s.title,
                state: s.state,
                action: a.to_owned(),
                due_at: s.due_at,
            });
        }
    }
    Ok(out)
}

// What the committee's pages read: every submission, the members, and a submission's
// conflicts, reviews and meetings with their votes. Reading only; every change goes
// through the steps above.

/// Every submission, by due date (the committee's queue by state).
pub async fn all(db: &Db) -> Result<Vec<Submission>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ethics_submissions ORDER BY due_at, submission_id"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// The committee: each member's user name and kind (`scientific`, `lay`).
pub async fn members(db: &Db) -> Result<Vec<(String, String)>> {
    let mut conn = db.pool().acquire().await?;
    members_in(&mut conn).await
}

/// A conflict of interest declared on a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictDeclared {
    /// Member.
    pub member: String,
    /// Why, as declared.
    pub reason: String,
    /// When (RFC 3339).
    pub declared_at: String,
}

/// The conflicts declared on `project_id` (they hold for its amendments too).
pub async fn conflicts(db: &Db, project_id: &str) -> Result<Vec<ConflictDeclared>> {
    let rows = sqlx::query(
        "SELECT member, reason, declared_at FROM ethics_conflicts WHERE project_id = $1 \
         ORDER BY declared_at, member",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ConflictDeclared {
                member: r.try_get("member")?,
                reason: r.try_get("reason")?,
                declared_at: r.try_get("declared_at")?,
            })
        })
        .collect()
}

/// A signed review of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRecorded {
    /// Version reviewed.
    pub version: i64,
    /// Reviewer.
    pub reviewer: String,
    /// `approve`, `refer`, `modifications`, `not_approve`.
    pub recommendation: String,
    /// The comments.
    pub comments: String,
    /// When (RFC 3339).
    pub reviewed_at: String,
}

/// The signed reviews of a submission, every version, oldest first.
pub async fn reviews(db: &Db, id: &str) -> Result<Vec<ReviewRecorded>> {
    let rows = sqlx::query(
        "SELECT version, reviewer, recommendation, comments, reviewed_at FROM ethics_reviews \
         WHERE submission_id = $1 ORDER BY reviewed_at, reviewer",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ReviewRecorded {
                version: r.try_get("version")?,
                reviewer: r.try_get("reviewer")?,
                recommendation: r.try_get("recommendation")?,
                comments: r.try_get("comments")?,
                reviewed_at: r.try_get("reviewed_at")?,
            })
        })
        .collect()
}

/// A meeting as held: attendance that counted, quorum, and the signed votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeetingRecord {
    /// Id.
    pub meeting_id: String,
    /// Submission discussed.
    pub submission_id: String,
    /// When (RFC 3339).
    pub held_at: String,
    /// Members who counted towards the quorum.
    pub counted: Vec<String>,
    /// Whether it was quorate.
    pub quorate: bool,
    /// The quorum in words.
    pub quorum_note: String,
    /// (member, vote, when), in the order cast.
    pub votes: Vec<(String, String, String)>,
}

const MEETING_COLUMNS: &str =
    "meeting_id, submission_id, held_at, present_json, quorate, quorum_note";

async fn meeting_record(db: &Db, row: &sqlx::any::AnyRow) -> Result<MeetingRecord> {
    let meeting_id: String = row.try_get("meeting_id")?;
    let present: String = row.try_get("present_json")?;
    let votes = sqlx::query(
        "SELECT member, vote, voted_at FROM ethics_votes WHERE meeting_id = $1 \
         ORDER BY voted_at, member",
    )
    .bind(&meeting_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|v| {
        Ok((
            v.try_get("member")?,
            v.try_get("vote")?,
            v.try_get("voted_at")?,
        ))
    })
    .collect::<Result<Vec<(String, String, String)>>>()?;
    Ok(MeetingRecord {
        submission_id: row.try_get("submission_id")?,
        held_at: row.try_get("held_at")?,
        counted: serde_json::from_str(&present)
            .map_err(|e| Error::Corrupt(format!("meeting {meeting_id} attendance: {e}")))?,
        quorate: row.try_get::<i64, _>("quorate")? != 0,
        quorum_note: row.try_get("quorum_note")?,
        votes,
        meeting_id,
    })
}

/// The meetings that discussed a submission, oldest first, with their votes.
pub async fn meetings(db: &Db, id: &str) -> Result<Vec<MeetingRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {MEETING_COLUMNS} FROM ethics_meetings WHERE submission_id = $1 \
         ORDER BY held_at, meeting_id"
    ))
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(meeting_record(db, r).await?);
    }
    Ok(out)
}

/// One meeting with its votes.
pub async fn meeting(db: &Db, meeting_id: &str) -> Result<MeetingRecord> {
    let row = sqlx::query(&format!(
        "SELECT {MEETING_COLUMNS} FROM ethics_meetings WHERE meeting_id = $1"
    ))
    .bind(meeting_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| Error::NotFound(format!("meeting {meeting_id}")))?;
    meeting_record(db, &row).await
}
