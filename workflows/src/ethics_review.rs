//! The ethics committee's review of one submission (a new AI project, an amendment to
//! an approved one, or an incident report), from the secretary's completeness check to
//! the committee's decision and, for an approved project, its continuing review.
//!
//! The rules live in the store (`careflow_store::ethics`): each person's step reaches
//! the workflow as its `step` update, passes the validator (the step fits the state the
//! workflow last saw, a vote or decision names a quorate meeting of this submission, a
//! signing step carries its signature), and is then taken by an activity through the
//! store, which checks role, state, conflicts, quorum and signature again in the
//! transaction that writes the change and its audit entry; a refusal fails the update
//! with the store's reason and the review waits on. The signature was made at the API
//! by re-entering the password, which never reaches Temporal.
//!
//! Between steps the workflow keeps the store's due date with a durable timer: an
//! overdue step is reminded (audited), then again every [`OVERDUE_REMINDER_EVERY`].
//! An approved project stays under review: a reminder comes
//! `careflow_store::ethics::REMINDER_DAYS` before the approval expires, and at expiry
//! (by the workflow's clock, so the test server's time skipping drives it) a lapsed
//! approval suspends the project. Amendments and incident reports are submissions of
//! their own, each with its own review workflow, and end at their decision.
//!
//! States (the store's): submitted -> complete | returned -> submitted ...;
//! complete -> exempt | awaiting_assignment -> in_review -> (expedited) approved |
//! awaiting_meeting -> in_meeting -> approved | modifications_requested |
//! deferred -> awaiting_meeting ... | not_approved; modifications_requested ->
//! modifications_submitted -> approved | modifications_requested; approved -> suspended.

// The workflow macros generate undocumented items.
#![allow(missing_docs)]

use std::time::{Duration, SystemTime};

use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

use careflow_activities::ethics_review::{
    EthicsActivities, LapseInput, RemindInput, TakeStepInput,
};
use careflow_types::ethics::{
    EthicsReviewInput, EthicsReviewOutcome, EthicsReviewStatus, EthicsStep, EthicsStepDone,
    Meeting, Submission, ETHICS_FINAL_STATES,
};

/// How often an overdue step is reminded again after its first reminder.
pub const OVERDUE_REMINDER_EVERY: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// How long before expiry the continuing-review reminder comes.
pub const RENEWAL_REMINDER_BEFORE: Duration =
    Duration::from_secs(careflow_store::ethics::REMINDER_DAYS as u64 * 24 * 60 * 60);

type StepError = Box<dyn std::error::Error + Send + Sync>;

/// One submission's review.
#[workflow]
pub struct EthicsReviewWorkflow {
    input: EthicsReviewInput,
    submission: Option<Submission>,
    /// Meetings held on this submission, in order.
    meetings: Vec<Meeting>,
    /// Steps taken (each successful `step` update adds one): the run loop wakes on it.
    steps: u64,
    reminders: u32,
}

#[workflow_methods]
impl EthicsReviewWorkflow {
    /// Starts the review of the stored submission `input`.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, input: EthicsReviewInput) -> Self {
        Self {
            input,
            submission: None,
            meetings: Vec::new(),
            steps: 0,
            reminders: 0,
        }
    }

    /// Runs the review to its end: a decision that ends it, or a lapsed approval.
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<EthicsReviewOutcome> {
        let id = ctx.state(|s| s.input.submission_id.clone());
        let loaded = ctx
            .execute_activity(EthicsActivities::load_submission, id.clone(), short())
            .await?;
        ctx.state_mut(|s| s.submission = Some(loaded));
        // Reminder rounds for the step awaited since the last step, and whether the
        // renewal reminder went for the current approval.
        let mut overdue_round = 0u32;
        let mut renewal_reminded_for: Option<String> = None;
        let mut last_steps = 0u64;
        loop {
            let (s, steps) = ctx.state(|w| (w.submission.clone(), w.steps));
            let s = s.expect("loaded above");
            if steps != last_steps {
                overdue_round = 0;
                last_steps = steps;
            }
            if review_ended(&s) {
                break;
            }
            let now = clock(ctx);
            if s.state == "approved" {
                let until = s.approved_until.clone().unwrap_or_else(|| s.due_at.clone());
                let expiry = parse_time(&until);
                let reminder_at = expiry
                    .checked_sub(RENEWAL_REMINDER_BEFORE)
                    .unwrap_or(expiry);
                if renewal_reminded_for.as_deref() != Some(until.as_str()) {
                    if now < reminder_at
                        && Self::step_or_timer(ctx, steps, wait_until(now, reminder_at)).await?
                    {
                        continue;
                    }
                    renewal_reminded_for = Some(until.clone());
                    Self::remind(
                        ctx,
                        &id,
                        &s.state,
                        1,
                        format!("continuing review: the approval expires at {until}"),
                    )
                    .await?;
                    continue;
                }
                if Self::step_or_timer(ctx, steps, wait_until(now, expiry)).await? {
                    continue;
                }
                let at = rfc3339(clock(ctx));
                let after = ctx
                    .execute_activity(
                        EthicsActivities::suspend_if_lapsed,
                        LapseInput {
                            submission_id: id.clone(),
                            at,
                        },
                        short(),
                    )
                    .await?;
                ctx.state_mut(|w| w.submission = Some(after));
            } else {
                let wait = if overdue_round == 0 {
                    wait_until(now, parse_time(&s.due_at))
                } else {
                    OVERDUE_REMINDER_EVERY
                };
                if Self::step_or_timer(ctx, steps, wait).await? {
                    continue;
                }
                overdue_round += 1;
                Self::remind(
                    ctx,
                    &id,
                    &s.state,
                    overdue_round,
                    format!("overdue: the step awaited in state {}", s.state),
                )
                .await?;
            }
        }
        let s = ctx.state(|w| w.submission.clone()).expect("loaded above");
        Ok(EthicsReviewOutcome {
            submission_id: s.submission_id,
            state: s.state,
            decision: s.decision,
            reminders: ctx.state(|w| w.reminders),
        })
    }

    /// Where the review stands.
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> EthicsReviewStatus {
        EthicsReviewStatus {
            submission: self.submission.clone(),
            reminders: self.reminders,
        }
    }

    /// Refuses a step that does not fit the state this review last saw, is unsigned
    /// where it must be signed, or votes or decides at a meeting that is not a quorate
    /// meeting of this submission. The store checks everything again.
    #[update_validator(step)]
    fn validate_step(
        &self,
        _ctx: &WorkflowContextView,
        step: &EthicsStep,
    ) -> Result<(), StepError> {
        let Some(s) = &self.submission else {
            return Err("the review is starting; try again in a moment".into());
        };
        if review_ended(s) {
            return Err(format!(
                "the review of {} has ended ({}); nothing more can be done on it",
                s.submission_id, s.state
            )
            .into());
        }
        if step.actor().trim().is_empty() {
            return Err(format!("the {} names nobody who takes it", step.name()).into());
        }
        if let EthicsStep::Vote { meeting_id, .. } | EthicsStep::Decide { meeting_id, .. } = step {
            match self.meetings.iter().find(|m| &m.meeting_id == meeting_id) {
                None => {
                    return Err(format!(
                        "meeting {meeting_id} is not a meeting on submission {}",
                        s.submission_id
                    )
                    .into())
                }
                Some(m) if !m.quorate => {
                    return Err(format!(
                        "meeting {meeting_id} was not quorate ({}): it cannot {}",
                        m.quorum_note,
                        if step.name() == "vote" {
                            "vote"
                        } else {
                            "decide"
                        }
                    )
                    .into())
                }
                Some(m) if self.meetings.last().map(|l| &l.meeting_id) != Some(&m.meeting_id) => {
                    return Err(format!(
                        "meeting {meeting_id} is not the submission's latest meeting"
                    )
                    .into())
                }
                Some(_) => {}
            }
        }
        if step.is_signed() && step.signature_id().is_none() {
            return Err(format!(
                "the {} is not signed: {} must re-enter their password to sign it",
                step.name(),
                step.actor()
            )
            .into());
        }
        if let Some(states) = step.states() {
            if !states.contains(&s.state.as_str()) {
                return Err(format!(
                    "submission {} is {}; the {} needs it {}",
                    s.submission_id,
                    s.state,
                    step.name(),
                    states.join(" or ")
                )
                .into());
            }
        }
        Ok(())
    }

    /// A person's step: taken through the store, which may still refuse it (the
    /// update then fails with its reason). Answers what the step did.
    #[update]
    pub async fn step(
        ctx: &mut WorkflowContext<Self>,
        step: EthicsStep,
    ) -> Result<EthicsStepDone, StepError> {
        let submission_id = ctx.state(|s| s.input.submission_id.clone());
        let done = ctx
            .execute_activity(
                EthicsActivities::take_step,
                TakeStepInput {
                    submission_id,
                    step,
                },
                short(),
            )
            .await
            .map_err(refusal)?;
        ctx.state_mut(|s| {
            s.submission = Some(done.submission.clone());
            if let Some(m) = &done.meeting {
                s.meetings.push(m.clone());
            }
            s.steps += 1;
        });
        Ok(done)
    }
}

impl EthicsReviewWorkflow {
    /// Waits for the next step or `wait`, whichever comes first: true for a step.
    async fn step_or_timer(
        ctx: &mut WorkflowContext<Self>,
        seen: u64,
        wait: Duration,
    ) -> WorkflowResult<bool> {
        Ok(temporalio_sdk::workflows::select! {
            r = ctx.wait_condition(move |s: &Self| s.steps != seen) => { r?; true }
            _ = ctx.timer(wait) => false
        })
    }

    async fn remind(
        ctx: &mut WorkflowContext<Self>,
        id: &str,
        state: &str,
        round: u32,
        note: String,
    ) -> WorkflowResult<()> {
        let now = ctx
            .execute_activity(
                EthicsActivities::remind,
                RemindInput {
                    submission_id: id.to_owned(),
                    state: state.to_owned(),
                    round,
                    note,
                },
                short(),
            )
            .await?;
        ctx.state_mut(|w| {
            w.reminders += 1;
            // A step taken meanwhile has already set a newer view (and the count).
            if w.submission.as_ref().map(|s| s.state.as_str()) == Some(state) {
                w.submission = Some(now);
            }
        });
        Ok(())
    }
}

/// Whether nothing more is awaited: a final state, or an amendment or incident report
/// decided (only a project stays under continuing review).
fn review_ended(s: &Submission) -> bool {
    ETHICS_FINAL_STATES.contains(&s.state.as_str())
        || (s.state == "approved" && s.kind != "initial")
}

/// The refusal the person sees: the store's reason (the innermost failure's message).
fn refusal(e: temporalio_sdk::ActivityExecutionError) -> StepError {
    let mut message = e.to_string();
    if let Some(mut f) = e.failure() {
        while let Some(cause) = f.cause.as_deref() {
            f = cause;
        }
        message = f.message.clone();
    }
    message.into()
}

fn clock<W>(ctx: &WorkflowContext<W>) -> SystemTime {
    ctx.workflow_time().unwrap_or(SystemTime::UNIX_EPOCH)
}

fn parse_time(rfc3339: &str) -> SystemTime {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| SystemTime::from(t.with_timezone(&chrono::Utc)))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// From `now` until `then`, at least a second (a timer must wait for something).
fn wait_until(now: SystemTime, then: SystemTime) -> Duration {
    then.duration_since(now)
        .unwrap_or_default()
        .max(Duration::from_secs(1))
}

// Each activity is one short database transaction.
fn short() -> ActivityOptions {
    ActivityOptions::start_to_close_timeout(Duration::from_secs(30))
}
