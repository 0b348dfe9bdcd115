//! The demo's model release: `ed-arrivals` 1.1.0 replaces the installed 1.0.0 the way
//! every later model version must. The lead of the ED-forecasting AI project starts the
//! release through the API; the candidate is validated against production on the
//! held-out data and gated; the project's amendment goes to the ethics committee, which
//! approves it (expedited, one reviewer's signed review); the candidate then forecasts
//! beside production on tomorrow's live bed plan; the observed arrivals come in; after
//! the shadow period the model's owner promotes it, signing with the password.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Row;

use careflow_forecasters::ed_arrivals::MODEL_NAME;
use careflow_store::ethics::{self, Recommendation, Route, SubmissionContent};
use careflow_store::{registry, releases, Db};
use careflow_types::{BedPlanRequest, DecisionRequest, ReleaseRequest, ReleaseView, Role};

use super::DEMO_PASSWORD;
use crate::client::ApiClient;

/// The release's people: the project lead (the model's author) and the ethics
/// committee's secretary and reviewer. The owner is the site's `model.owner`.
pub(super) const USERS: [(&str, Role); 3] = [
    (AUTHOR, Role::ProjectLead),
    ("sec.sue", Role::EthicsSecretary),
    ("sci.sam", Role::CommitteeMember),
];
/// The lead of the ED-forecasting project, who built the candidate.
pub(super) const AUTHOR: &str = "lead.lu";
/// The model's owner, who alone promotes it.
pub(super) const OWNER: &str = "model.owner";
/// The version released in the demo (the site installs 1.0.0).
pub(super) const CANDIDATE: &str = "1.1.0";
/// The demo's shadow period: long enough for a live bed plan to forecast beside it.
const SHADOW_SECONDS: u64 = 40;

async fn wait_for(
    owner: &ApiClient,
    release_id: &str,
    what: &str,
    within: Duration,
    done: impl Fn(&ReleaseView) -> bool,
) -> Result<ReleaseView> {
    let started = Instant::now();
    loop {
        // Until the workflow's first step registers it, the release is not found.
        let v = match owner.release(release_id).await {
            Ok(v) => v,
            Err(e) if started.elapsed() > within => {
                return Err(
                    anyhow::Error::from(e).context(format!("release {release_id}: no {what}"))
                )
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if done(&v) {
            return Ok(v);
        }
        if matches!(v.stage.as_str(), "gate_failed" | "withdrawn") {
            bail!(
                "release {release_id} stopped ({}): {}",
                v.stage,
                v.gate_failures.join("; ")
            );
        }
        if started.elapsed() > within {
            bail!(
                "release {release_id}: no {what} within {within:?} (stage {})",
                v.stage
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn content(title: &str, plan: &str) -> SubmissionContent {
    SubmissionContent {
        title: title.into(),
        technical_plan: plan.into(),
        use_case: "emergency demand in the daily bed plan".into(),
        expected_benefit: "beds kept free for emergencies, fewer outlier placements".into(),
        risks: "forecast error on some hours or days; staff over-trusting the forecast".into(),
        data_used: "hourly ED arrival counts, no patient identifiers".into(),
        legal_basis: "public task (hospital operations)".into(),
        consent_plan: "counts only: no consent needed".into(),
        bias_assessment: "errors by hour block, weekday and holiday, each release gated".into(),
        documents: vec![],
    }
}

/// The secretary finds `id` complete and routes it expedited; the reviewer approves.
async fn expedited_review(db: &Db, id: &str) -> Result<()> {
    ethics::check_completeness(db, id, "sec.sue", true, "all sections present").await?;
    ethics::route(
        db,
        id,
        "sec.sue",
        Route::Expedited,
        "minimal risk: counts only",
    )
    .await?;
    ethics::assign_reviewers(db, id, "sec.sue", &["sci.sam".into()]).await?;
    ethics::review(
        db,
        id,
        "sci.sam",
        DEMO_PASSWORD,
        Recommendation::Approve,
        "bias report by hour block, weekday and holiday reviewed",
    )
    .await?;
    Ok(())
}

/// Releases [`CANDIDATE`] through shadow to production. `plan_requester` asks for
/// tomorrow's bed plan during the shadow period and `plan_approver` approves it.
pub(super) async fn run(
    db: &Db,
    lead: &ApiClient,
    owner: &ApiClient,
    plan_requester: &ApiClient,
    plan_approver: &ApiClient,
    seed: u64,
) -> Result<()> {
    if let Some(done) = releases::list(db, Some(MODEL_NAME)).await?.first() {
        eprintln!(
            "demo: release {} of {} {} is already {}",
            done.release_id, done.model_name, done.version, done.stage
        );
        return Ok(());
    }
    // The ED-forecasting project, approved by the committee when it started.
    ethics::add_member(db, OWNER, "sci.sam", false).await?;
    let project = ethics::submit(
        db,
        AUTHOR,
        &content(
            "ED arrivals forecasting for bed planning",
            "Poisson GLM of hourly ED arrivals (ed-arrivals) feeding the bed plan",
        ),
    )
    .await?;
    expedited_review(db, &project.submission_id).await?;

    let started = lead
        .start_release(
            &ReleaseRequest {
                model_name: MODEL_NAME.into(),
                version: CANDIDATE.into(),
                owner: OWNER.into(),
                project_id: project.submission_id.clone(),
                overall_margin: None,
                subgroup_margin: None,
                ethics_poll_seconds: Some(2),
                shadow_seconds: Some(SHADOW_SECONDS),
                rollback_window_seconds: Some(24 * 3600),
            },
            None,
        )
        .await?;
    let id = started.release_id;
    let v = wait_for(
        owner,
        &id,
        "ethics amendment",
        Duration::from_secs(120),
        |v| v.amendment_id.is_some(),
    )
    .await?;
    let amendment = v.amendment_id.context("amendment")?;
    eprintln!(
        "demo: release {id} of {MODEL_NAME} {CANDIDATE} validated against {} and through the \
         gate; ethics amendment {amendment} filed",
        v.production_version.as_deref().unwrap_or("-")
    );
    // The committee reviews the amendment (its own workflow drives this on a real site).
    expedited_review(db, &amendment).await?;
    wait_for(owner, &id, "shadow period", Duration::from_secs(60), |v| {
        v.stage == "shadow"
    })
    .await?;

    // A live call during the shadow period: tomorrow's bed plan.
    let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
    let plan_id = plan_requester
        .create_bed_plan(
            &BedPlanRequest {
                plan_date: tomorrow.format("%Y-%m-%d").to_string(),
                horizon_days: 1,
                solve_seconds: 10,
                requested_by: String::new(),
            },
            None,
        )
        .await?
        .plan_id;
    let since = Instant::now();
    let targets = loop {
        let rows = sqlx::query(
            "SELECT target_key, production_p50, candidate_p50 FROM shadow_forecasts \
             WHERE release_id = $1 AND call_id = $2 ORDER BY target_key",
        )
        .bind(&id)
        .bind(&plan_id)
        .fetch_all(db.pool())
        .await?;
        if !rows.is_empty() {
            break rows;
        }
        if since.elapsed() > Duration::from_secs(60) {
            bail!("bed plan {plan_id} recorded no shadow forecast");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The bed manager approves tomorrow's plan as any other.
    let since = Instant::now();
    loop {
        if let Some(t) = plan_approver
            .tasks()
            .await?
            .into_iter()
            .find(|t| t.workflow_id == plan_id && t.status == "open")
        {
            plan_approver
                .decide(
                    &t.task_id,
                    &DecisionRequest {
                        approve: true,
                        reason: "reserve fits tomorrow's expected demand".into(),
                        bed_id: None,
                        password: DEMO_PASSWORD.into(),
                    },
                )
                .await?;
            break;
        }
        if since.elapsed() > Duration::from_secs(120) {
            bail!("bed plan {plan_id} opened no approval task");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The observed arrivals of those hours come in. In the demo they are synthetic:
    // Poisson draws around the mean of the two forecasts, so neither is favoured.
    let mut rng = StdRng::seed_from_u64(seed);
    let truths: Vec<(String, f64)> = targets
        .iter()
        .map(|r| -> Result<(String, f64)> {
            let p: f64 = r.try_get("production_p50")?;
            let c: f64 = r.try_get("candidate_p50")?;
            Ok((r.try_get("target_key")?, poisson(&mut rng, (p + c) / 2.0)))
        })
        .collect::<Result<_>>()?;
    releases::record_truth(db, MODEL_NAME, &truths, OWNER).await?;

    let v = wait_for(
        owner,
        &id,
        "promotion task",
        Duration::from_secs(SHADOW_SECONDS + 60),
        |v| v.promotion_task_id.is_some(),
    )
    .await?;
    eprintln!(
        "demo: release {id}: {}",
        v.shadow.as_deref().unwrap_or("no shadow comparison")
    );
    let answer = owner
        .decide_promotion(
            &id,
            &DecisionRequest {
                approve: true,
                reason: "validated, signed off by the ethics committee, shadow comparison reviewed"
                    .into(),
                bed_id: None,
                password: DEMO_PASSWORD.into(),
            },
        )
        .await?;
    wait_for(owner, &id, "production", Duration::from_secs(30), |v| {
        v.stage == "production"
    })
    .await?;
    let production = registry::production(db, MODEL_NAME).await?;
    eprintln!(
        "demo: {} ({}); {MODEL_NAME} {} (sha256 {}…) is in production, {} retired \
         (`careflow release status {id} --as {OWNER}`)",
        answer.result,
        answer.signed_by,
        production.version,
        &production.sha256[..12],
        v.production_version.as_deref().unwrap_or("-"),
    );
    Ok(())
}

/// A Poisson draw (Knuth's method; the hourly rates are small).
fn poisson(rng: &mut StdRng, rate: f64) -> f64 {
    let limit = (-rate.max(0.0)).exp();
    let mut k = 0.0;
    let mut p: f64 = rng.random();
    while p > limit {
        k += 1.0;
        p *= rng.random::<f64>();
    }
    k
}
