//! `careflow plan-beds`, `careflow bed-plan` and `careflow bed-moves`: bed plans and the
//! moves a published plan orders, through the API.

use anyhow::Result;
use clap::Args;

use careflow_types::BedPlanRequest;

use crate::cli::{print_json, AuthArgs, Global};

/// Options of `plan-beds`.
#[derive(Args, Debug)]
pub struct PlanBedsArgs {
    /// First day of the plan (YYYY-MM-DD; default: today).
    #[arg(long)]
    date: Option<String>,
    /// Days planned (1-14).
    #[arg(long, default_value_t = 3)]
    horizon: u32,
    /// Solver time limit in seconds (1-300).
    #[arg(long, default_value_t = 20)]
    solve_seconds: u32,
    /// Retrying with the same key starts no second plan.
    #[arg(long)]
    idempotency_key: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `bed-plan`.
#[derive(Args, Debug)]
pub struct BedPlanArgs {
    /// Plan id printed by `plan-beds` (omit to list recent plans).
    plan_id: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// Options of `bed-moves`.
#[derive(Args, Debug)]
pub struct BedMovesArgs {
    /// Report a move done: the plan that ordered it and the patient's admission id
    /// (both as `bed-moves` lists them).
    #[arg(long, num_args = 2, value_names = ["PLAN_ID", "ADMISSION_ID"])]
    done: Option<Vec<String>>,
    #[command(flatten)]
    auth: AuthArgs,
}

/// `careflow bed-moves [--done PLAN ADMISSION]`: the open move orders as JSON, or the
/// order reported done (the patient moves in the census, audited).
pub async fn moves(g: &Global, a: BedMovesArgs) -> Result<()> {
    let api = a.auth.client(g)?;
    match a.done.as_deref() {
        Some([plan_id, admission_id]) => {
            print_json(&api.bed_move_done(plan_id, admission_id).await?, true)
        }
        _ => print_json(&api.bed_moves().await?, true),
    }
}

/// `careflow plan-beds`: prints the plan id.
pub async fn plan_beds(g: &Global, a: PlanBedsArgs) -> Result<()> {
    let request = BedPlanRequest {
        plan_date: a.date.unwrap_or_else(|| {
            chrono::Utc::now()
                .date_naive()
                .format("%Y-%m-%d")
                .to_string()
        }),
        horizon_days: a.horizon,
        solve_seconds: a.solve_seconds,
        // The server records whoever is signed in.
        requested_by: String::new(),
    };
    let started = a
        .auth
        .client(g)?
        .create_bed_plan(&request, a.idempotency_key.as_deref())
        .await?;
    println!("{}", started.plan_id);
    Ok(())
}

/// `careflow bed-plan [PLAN_ID]`: the plan (or the recent plans) as JSON.
pub async fn show(g: &Global, a: BedPlanArgs) -> Result<()> {
    let api = a.auth.client(g)?;
    match &a.plan_id {
        Some(id) => print_json(&api.bed_plan(id).await?, true),
        None => print_json(&api.bed_plans().await?, true),
    }
}
