//! `careflow ethics ...`: the ethics committee's review through the API, one
//! subcommand per step. Signing steps (review, vote, decide, verify) ask for the
//! signer's password (or read it with `--password-stdin`); the server signs with it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::de::DeserializeOwned;

use careflow_types::ethics::{
    EthicsStepDone, Outcome, Recommendation, Route, SubmissionContent, Vote,
};
use careflow_types::{
    EthicsAssignRequest, EthicsCheckRequest, EthicsConflictRequest, EthicsDecisionRequest,
    EthicsMeetingRequest, EthicsMemberRequest, EthicsRenewRequest, EthicsRespondRequest,
    EthicsReviewRequest, EthicsRouteRequest, EthicsVerifyRequest, EthicsVoteRequest,
};

use crate::cli::login::PasswordSource;
use crate::cli::{print_json, AuthArgs, Global};

/// The ethics subcommands.
#[derive(Subcommand, Debug)]
pub enum EthicsCommand {
    /// What waits for you (`--as USER`), by due date: one line per item (due, state,
    /// what is asked, submission, title).
    Queue(QueueArgs),
    /// Show a submission (state, route, decision, letter, approval expiry).
    Show(IdArgs),
    /// Seat a committee member or chair (secretary or admin).
    AddMember(AddMemberArgs),
    /// Submit a project (a JSON file of the submission's sections and documents);
    /// prints the submission id.
    Submit(FileArgs),
    /// File an amendment to an approved project (JSON file); prints its id.
    Amend(ProjectFileArgs),
    /// Report an incident in a project (JSON file); prints its id.
    Incident(ProjectFileArgs),
    /// The secretary's completeness check.
    Check(CheckArgs),
    /// Resubmit a returned submission (JSON file).
    Resubmit(ResubmitArgs),
    /// Route a complete submission: exempt, expedited or full-committee.
    Route(RouteArgs),
    /// Declare a conflict of interest with the submission's project.
    Conflict(ReasonArgs),
    /// Assign reviewers (secretary).
    Assign(AssignArgs),
    /// Review, signed with your password.
    Review(ReviewArgs),
    /// Record who attends the meeting (secretary); says whether it is quorate.
    Meeting(MeetingArgs),
    /// Vote at a quorate meeting, signed with your password.
    Vote(VoteArgs),
    /// The chair's decision with its letter, signed with your password.
    Decide(DecideArgs),
    /// Answer requested modifications (applicant).
    Respond(RespondArgs),
    /// Verify the modifications (chair or reviewer), signed with your password.
    Verify(VerifyArgs),
    /// Continuing review: renew an approved project's approval for another period from
    /// its expiry (chair), on the lead's report, signed with your password.
    Renew(RenewArgs),
}

/// Options of `ethics queue`.
#[derive(Args, Debug)]
pub struct QueueArgs {
    #[command(flatten)]
    auth: AuthArgs,
}

/// A submission id.
#[derive(Args, Debug)]
pub struct IdArgs {
    /// Submission id.
    id: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics add-member`.
#[derive(Args, Debug)]
pub struct AddMemberArgs {
    /// User (committee member or chair role).
    user: String,
    /// A lay member (else scientific).
    #[arg(long)]
    lay: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// A submission's content file.
#[derive(Args, Debug)]
pub struct FileArgs {
    /// JSON: title, technical_plan, use_case, expected_benefit, risks, data_used,
    /// legal_basis, consent_plan, bias_assessment, documents [{name, content}].
    #[arg(long)]
    file: PathBuf,
    #[command(flatten)]
    auth: AuthArgs,
}

/// A project and a content file.
#[derive(Args, Debug)]
pub struct ProjectFileArgs {
    /// The project (its initial submission's id).
    project: String,
    /// JSON content, as for `submit`.
    #[arg(long)]
    file: PathBuf,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Submission id.
    id: String,
    /// Return it to the applicant instead of accepting it as complete.
    #[arg(long)]
    incomplete: bool,
    /// What was checked or what is missing.
    #[arg(long)]
    comments: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics resubmit`.
#[derive(Args, Debug)]
pub struct ResubmitArgs {
    /// Submission id.
    id: String,
    /// JSON content, as for `submit`.
    #[arg(long)]
    file: PathBuf,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics route`.
#[derive(Args, Debug)]
pub struct RouteArgs {
    /// Submission id.
    id: String,
    /// exempt, expedited or full-committee.
    #[arg(long, value_parser = parse_snake::<Route>)]
    route: Route,
    /// Why.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// A submission and a reason.
#[derive(Args, Debug)]
pub struct ReasonArgs {
    /// Submission id.
    id: String,
    /// What the conflict is.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics assign`.
#[derive(Args, Debug)]
pub struct AssignArgs {
    /// Submission id.
    id: String,
    /// A reviewer (repeat for more).
    #[arg(long = "reviewer", required = true)]
    reviewers: Vec<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics review`.
#[derive(Args, Debug)]
pub struct ReviewArgs {
    /// Submission id.
    id: String,
    /// approve, refer, modifications or not-approve.
    #[arg(long, value_parser = parse_snake::<Recommendation>)]
    recommendation: Recommendation,
    /// Your comments.
    #[arg(long)]
    comments: String,
    /// Read your password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics meeting`.
#[derive(Args, Debug)]
pub struct MeetingArgs {
    /// Submission id.
    id: String,
    /// A member present (repeat for each).
    #[arg(long = "present", required = true)]
    present: Vec<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics vote`.
#[derive(Args, Debug)]
pub struct VoteArgs {
    /// Submission id.
    id: String,
    /// Meeting id (printed by `ethics meeting`).
    #[arg(long)]
    meeting: String,
    /// approve, modifications, defer, not-approve or abstain.
    #[arg(long, value_parser = parse_snake::<Vote>)]
    vote: Vote,
    /// Read your password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics decide`.
#[derive(Args, Debug)]
pub struct DecideArgs {
    /// Submission id.
    id: String,
    /// Meeting id.
    #[arg(long)]
    meeting: String,
    /// approved, approved-after-modifications, deferred or not-approved.
    #[arg(long, value_parser = parse_snake::<Outcome>)]
    outcome: Outcome,
    /// The decision letter (or `--letter-file`).
    #[arg(long, required_unless_present = "letter_file")]
    letter: Option<String>,
    /// A file holding the decision letter.
    #[arg(long, conflicts_with = "letter")]
    letter_file: Option<PathBuf>,
    /// Read your password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics respond`.
#[derive(Args, Debug)]
pub struct RespondArgs {
    /// Submission id.
    id: String,
    /// What was modified.
    #[arg(long)]
    response: String,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Submission id.
    id: String,
    /// Ask for more modifications instead of accepting them.
    #[arg(long)]
    refuse: bool,
    /// What was verified.
    #[arg(long)]
    comments: String,
    /// Read your password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `ethics renew`.
#[derive(Args, Debug)]
pub struct RenewArgs {
    /// The project (its initial submission's id).
    id: String,
    /// What the lead's continuing-review report showed.
    #[arg(long)]
    report: String,
    /// Read your password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

/// `full-committee` or `full_committee` as the API's snake_case name.
fn parse_snake<T: DeserializeOwned>(s: &str) -> std::result::Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.replace('-', "_")))
        .map_err(|e| e.to_string())
}

fn read_content(file: &std::path::Path) -> Result<SubmissionContent> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    // serde_json names the field and the line and column.
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an ethics submission", file.display()))
}

fn password(stdin: bool, auth: &AuthArgs, what: &str) -> Result<String> {
    let who = auth.as_user.as_deref().unwrap_or("you");
    PasswordSource::new(stdin).read(&format!("password of {who} (signs {what})"))
}

/// Prints what a step did: the submission's state and, for a meeting, its id and quorum.
fn done(d: &EthicsStepDone) -> Result<()> {
    print_json(d, true)
}

/// Runs one ethics subcommand.
pub async fn run(g: &Global, cmd: EthicsCommand) -> Result<()> {
    match cmd {
        EthicsCommand::Queue(a) => {
            let items = a.auth.client(g)?.ethics_queue().await?;
            if items.is_empty() {
                eprintln!("nothing waits for you");
            }
            for q in items {
                println!(
                    "due {}\t{}\t{}\t{}\t{}",
                    q.due_at, q.state, q.action, q.submission_id, q.title
                );
            }
            Ok(())
        }
        EthicsCommand::Show(a) => {
            print_json(&a.auth.client(g)?.ethics_submission(&a.id).await?, true)
        }
        EthicsCommand::AddMember(a) => {
            let m = a
                .auth
                .client(g)?
                .ethics_add_member(&EthicsMemberRequest {
                    user: a.user,
                    lay: a.lay,
                })
                .await?;
            println!(
                "{} sits on the committee ({})",
                m.user,
                if m.lay { "lay" } else { "scientific" }
            );
            Ok(())
        }
        EthicsCommand::Submit(a) => {
            let s = a
                .auth
                .client(g)?
                .ethics_submit(&read_content(&a.file)?)
                .await?;
            println!("{}", s.submission_id);
            Ok(())
        }
        EthicsCommand::Amend(a) => {
            let s = a
                .auth
                .client(g)?
                .ethics_amend(&a.project, &read_content(&a.file)?)
                .await?;
            println!("{}", s.submission_id);
            Ok(())
        }
        EthicsCommand::Incident(a) => {
            let s = a
                .auth
                .client(g)?
                .ethics_report_incident(&a.project, &read_content(&a.file)?)
                .await?;
            println!("{}", s.submission_id);
            Ok(())
        }
        EthicsCommand::Check(a) => done(
            &a.auth
                .client(g)?
                .ethics_check(
                    &a.id,
                    &EthicsCheckRequest {
                        complete: !a.incomplete,
                        comments: a.comments,
                    },
                )
                .await?,
        ),
        EthicsCommand::Resubmit(a) => done(
            &a.auth
                .client(g)?
                .ethics_resubmit(&a.id, &read_content(&a.file)?)
                .await?,
        ),
        EthicsCommand::Route(a) => done(
            &a.auth
                .client(g)?
                .ethics_route(
                    &a.id,
                    &EthicsRouteRequest {
                        route: a.route,
                        reason: a.reason,
                    },
                )
                .await?,
        ),
        EthicsCommand::Conflict(a) => done(
            &a.auth
                .client(g)?
                .ethics_declare_conflict(&a.id, &EthicsConflictRequest { reason: a.reason })
                .await?,
        ),
        EthicsCommand::Assign(a) => done(
            &a.auth
                .client(g)?
                .ethics_assign(
                    &a.id,
                    &EthicsAssignRequest {
                        reviewers: a.reviewers,
                    },
                )
                .await?,
        ),
        EthicsCommand::Review(a) => {
            let api = a.auth.client(g)?;
            let password = password(
                a.password_stdin,
                &a.auth,
                &format!("the review of {} as reviewed", a.id),
            )?;
            done(
                &api.ethics_review(
                    &a.id,
                    &EthicsReviewRequest {
                        recommendation: a.recommendation,
                        comments: a.comments,
                        password,
                    },
                )
                .await?,
            )
        }
        EthicsCommand::Meeting(a) => done(
            &a.auth
                .client(g)?
                .ethics_meeting(&a.id, &EthicsMeetingRequest { present: a.present })
                .await?,
        ),
        EthicsCommand::Vote(a) => {
            let api = a.auth.client(g)?;
            let password = password(
                a.password_stdin,
                &a.auth,
                &format!("your vote at {} as reviewed", a.meeting),
            )?;
            done(
                &api.ethics_vote(
                    &a.id,
                    &EthicsVoteRequest {
                        meeting_id: a.meeting,
                        vote: a.vote,
                        password,
                    },
                )
                .await?,
            )
        }
        EthicsCommand::Decide(a) => {
            let api = a.auth.client(g)?;
            let letter = match (a.letter, a.letter_file) {
                (Some(l), _) => l,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?,
                (None, None) => unreachable!("clap requires one"),
            };
            let password = password(
                a.password_stdin,
                &a.auth,
                &format!("the decision on {} as responsible", a.id),
            )?;
            done(
                &api.ethics_decide(
                    &a.id,
                    &EthicsDecisionRequest {
                        meeting_id: a.meeting,
                        outcome: a.outcome,
                        letter,
                        password,
                    },
                )
                .await?,
            )
        }
        EthicsCommand::Respond(a) => done(
            &a.auth
                .client(g)?
                .ethics_respond(
                    &a.id,
                    &EthicsRespondRequest {
                        response: a.response,
                    },
                )
                .await?,
        ),
        EthicsCommand::Verify(a) => {
            let api = a.auth.client(g)?;
            let meaning = if a.refuse { "rejected" } else { "approved" };
            let password = password(
                a.password_stdin,
                &a.auth,
                &format!("the verification of {} as {meaning}", a.id),
            )?;
            done(
                &api.ethics_verify(
                    &a.id,
                    &EthicsVerifyRequest {
                        accept: !a.refuse,
                        comments: a.comments,
                        password,
                    },
                )
                .await?,
            )
        }
        EthicsCommand::Renew(a) => {
            let api = a.auth.client(g)?;
            let password = password(
                a.password_stdin,
                &a.auth,
                &format!("the renewal of {} as responsible", a.id),
            )?;
            done(
                &api.ethics_renew(
                    &a.id,
                    &EthicsRenewRequest {
                        report: a.report,
                        password,
                    },
                )
                .await?,
            )
        }
    }
}
