//! `careflow decision replay|explain WORKFLOW_ID [STEP]`: run a stored solver or
//! forecaster step again from its snapshot, or explain what it decided and why. They
//! work on the domain database directly (a replay needs the solver, which the API
//! server may lack the time for); the user named by `--as` must be an auditor, an
//! administrator or the process's approver, and each replay is audited.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use careflow_activities::decisions::Decisions;
use careflow_store::decisions::role_of;

use crate::cli::{print_json, Global};

/// Decision commands.
#[derive(Subcommand, Debug)]
pub enum DecisionCommand {
    /// Re-run a stored step from its snapshot and say whether the result is identical
    /// or within the recorded gap (exit 3 when it is neither).
    Replay(DecisionArgs),
    /// Cost by term, the constraints that bind, and what changed against the plan
    /// before: who moved, who was deferred and why.
    Explain(DecisionArgs),
}

/// Which step, and who asks.
#[derive(Args, Debug)]
pub struct DecisionArgs {
    /// Workflow id.
    pub workflow_id: String,
    /// Step (`solve/bed-plan`, `solve/r0`, `forecast/r0`...); default: the workflow's
    /// last solver step.
    pub step: Option<String>,
    /// Who asks (an auditor, an administrator or the process's approver).
    #[arg(long = "as")]
    pub as_user: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Exit status of a replay that did not reproduce its decision.
pub const EXIT_DIFFERS: i32 = 3;

/// Runs one `careflow decision` subcommand.
pub async fn run(g: &Global, cmd: DecisionCommand) -> Result<()> {
    let db = g.open_db().await?;
    let service = Decisions::new(db.clone(), g.models_dir()?);
    match cmd {
        DecisionCommand::Replay(a) => {
            let role = role_of(&db, &a.as_user).await?;
            let report = service
                .replay(&a.as_user, role, &a.workflow_id, a.step.as_deref())
                .await
                .with_context(|| format!("replaying a decision of {}", a.workflow_id))?;
            if a.json {
                print_json(&report, true)?;
            } else {
                println!("{}", report.summary);
                println!(
                    "step {} ({}), snapshot {}",
                    report.step, report.kind, report.snapshot_sha256
                );
                if let (Some(was), Some(now)) =
                    (report.recorded_objective, report.replayed_objective)
                {
                    println!("objective recorded {was:.4}, replayed {now:.4}");
                }
                println!("replayed in {:.2} s", report.elapsed_s);
            }
            if !report.verdict.reproduced() {
                std::process::exit(EXIT_DIFFERS);
            }
            Ok(())
        }
        DecisionCommand::Explain(a) => {
            let role = role_of(&db, &a.as_user).await?;
            let e = service
                .explain(&a.as_user, role, &a.workflow_id, a.step.as_deref())
                .await
                .with_context(|| format!("explaining a decision of {}", a.workflow_id))?;
            if a.json {
                return print_json(&e, true);
            }
            println!(
                "step {} of {} ({}), snapshot {}",
                e.step, e.workflow_id, e.kind, e.snapshot_sha256
            );
            let objective = e.objective.map_or("-".to_owned(), |o| format!("{o:.2}"));
            let gap = e
                .mip_gap
                .map_or("-".to_owned(), |g| format!("{:.4}%", g * 100.0));
            println!(
                "status {}, objective {objective}, gap {gap}",
                e.solver_status
            );
            if !e.conflicts.is_empty() {
                println!("infeasible: these constraints cannot all hold:");
                for c in &e.conflicts {
                    println!("  - {c}");
                }
            }
            if !e.cost_terms.is_empty() {
                println!("cost by term:");
                for t in &e.cost_terms {
                    println!(
                        "  {:>10.2} = {:>8.2} x {:<7} {}",
                        t.cost, t.amount, t.weight, t.term
                    );
                }
            }
            println!("binding constraints:");
            if e.binding.is_empty() {
                println!("  (none)");
            }
            for b in &e.binding {
                println!("  - {b}");
            }
            println!("changes against the plan before, and deferrals:");
            if e.changes.is_empty() {
                println!("  (none)");
            }
            for c in &e.changes {
                let key = c
                    .patient_key
                    .as_ref()
                    .map_or(String::new(), |k| format!(" [{k}]"));
                let from = c.from.clone().unwrap_or_else(|| "-".into());
                let to = c.to.clone().unwrap_or_else(|| "-".into());
                println!(
                    "  {} {}{key}: {from} -> {to}: {}",
                    c.change, c.subject, c.why
                );
            }
            Ok(())
        }
    }
}

/// The replay service the API server calls ([`careflow_dashboards::DecisionService`]):
/// the same [`Decisions`] as the command line, so both check and audit alike.
pub struct ApiDecisions(pub Decisions);

impl careflow_dashboards::DecisionService for ApiDecisions {
    fn replay<'a>(
        &'a self,
        user: &'a str,
        role: careflow_types::Role,
        workflow_id: &'a str,
        step: Option<&'a str>,
    ) -> careflow_dashboards::ServiceFuture<'a, careflow_types::ReplayReport> {
        Box::pin(self.0.replay(user, role, workflow_id, step))
    }

    fn explain<'a>(
        &'a self,
        user: &'a str,
        role: careflow_types::Role,
        workflow_id: &'a str,
        step: Option<&'a str>,
    ) -> careflow_dashboards::ServiceFuture<'a, careflow_types::DecisionExplanation> {
        Box::pin(self.0.explain(user, role, workflow_id, step))
    }
}
