//! The demo's nurse roster: a surgical ward of 24 nurses over the next four weeks.
//!
//! The department head `head.hana` asks for the roster; the production `bed-demand`
//! model forecasts the ward's census and the rostering MILP proposes the roster;
//! `head.dev`, the other department head, approves it. Then `nic.nia`, a nurse in
//! charge, reports a nurse off sick for two days: only those days are re-rostered, and
//! `nic.noor`, the other nurse in charge, approves the re-roster. Everything goes through
//! the real API, workflow, approval step and audit trail.

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Datelike;

use careflow_types::{
    default_shifts, DecisionRequest, Role, RosterChange, RosterProposal, RosterRequest,
    RosterStage, RosterStatus, WardNurse,
};

use crate::client::ApiClient;

/// The ward's people: two department heads (one asks, the other approves) and two
/// nurses in charge (one reports the sick call, the other approves the re-roster).
pub const USERS: [(&str, Role); 4] = [
    ("head.hana", Role::DepartmentHead),
    ("head.dev", Role::DepartmentHead),
    ("nic.nia", Role::NurseInCharge),
    ("nic.noor", Role::NurseInCharge),
];

/// The `bed-demand` version the demo site serves.
pub const SERVED_BED_DEMAND: &str = "1.0.0";

/// The next Monday on or after today.
fn next_monday() -> String {
    let today = chrono::Utc::now().date_naive();
    let ahead = (7 - today.weekday().num_days_from_monday()) % 7;
    (today + chrono::Days::new(u64::from(ahead)))
        .format("%Y-%m-%d")
        .to_string()
}

/// A surgical ward of 24 nurses (18 full time, 6 part time, 20 on nights), two on a
/// week's annual leave, a dozen requested days off; about 20 patients.
pub fn demo_ward() -> RosterRequest {
    let nurses = (1..=24u32)
        .map(|i| WardNurse {
            nurse_id: format!("SW{i:02}"),
            contracted_hours_per_week: if i % 4 == 0 { 22.5 } else { 37.5 },
            skills: if i % 6 == 5 {
                vec!["iv".into()]
            } else {
                vec!["nights".into(), "iv".into()]
            },
            max_consecutive_shifts: 5,
            max_weekends: 2,
            day_off_requests: if i % 3 == 0 {
                vec![(i * 5) % 28, (i * 5 + 1) % 28]
            } else {
                Vec::new()
            },
            leave_days: match i {
                7 => (7..14).collect(),
                16 => (21..28).collect(),
                _ => Vec::new(),
            },
        })
        .collect();
    RosterRequest {
        ward: "surgery".into(),
        start_date: next_monday(),
        days: 28,
        census_at_origin: 18,
        admissions_last_28_days: [3, 4, 2, 3, 5, 1, 2].into_iter().cycle().take(28).collect(),
        shifts: default_shifts(),
        nurses,
        solve_seconds: 30,
        seed: 1,
        requested_by: String::new(),
    }
}

async fn until(
    api: &ApiClient,
    roster_id: &str,
    what: &str,
    done: impl Fn(&RosterStatus) -> bool,
) -> Result<RosterStatus> {
    let started = std::time::Instant::now();
    loop {
        let s = api.roster_status(roster_id).await?;
        if done(&s) {
            return Ok(s);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(240),
            "roster {roster_id}: {what} did not happen within 4 minutes (stage {})",
            s.stage.as_str()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn figures(p: &RosterProposal) -> String {
    format!(
        "solver {} in {:.1} s, gap {}, {} shifts, {} nurse-shifts short, {} requested days off \
         not granted, nights spread {}, weekends spread {}, hours {:.0}%-{:.0}% of contract",
        p.solver_status,
        p.solve_seconds,
        p.mip_gap
            .map_or_else(|| "unknown".to_owned(), |g| format!("{:.1}%", g * 100.0)),
        p.assignments.len(),
        p.nurse_shifts_short,
        p.unmet_requests.len(),
        p.fairness.nights_spread,
        p.fairness.weekends_spread,
        p.fairness.hours_ratio_min * 100.0,
        p.fairness.hours_ratio_max * 100.0,
    )
}

/// Runs the ward's roster and a sick call through the API, as `USERS` (clients made
/// from their tokens by `client`).
pub async fn run(client: impl Fn(&str) -> ApiClient) -> Result<()> {
    let (hana, dev, nia, noor) = (
        client("head.hana"),
        client("head.dev"),
        client("nic.nia"),
        client("nic.noor"),
    );
    let request = demo_ward();
    let roster_id = hana.create_roster(&request, None).await?.roster_id;
    // The workflow shows the stage a moment before its approval task exists (the task is
    // created by the step that follows), so both are waited for, as the theatre and
    // scanner demos do.
    let s = until(&hana, &roster_id, "the roster's proposal", |s| {
        (s.stage == RosterStage::AwaitingApproval && s.task_id.is_some()) || s.stage.is_final()
    })
    .await?;
    let task = s
        .task_id
        .with_context(|| format!("roster {roster_id} has no approval task ({:?})", s.stage))?;
    let decision = DecisionRequest {
        approve: true,
        reason: "Cover, leave and requests reviewed with the ward manager: publish".into(),
        bed_id: None,
        password: super::DEMO_PASSWORD.into(),
    };
    dev.decide(&task, &decision).await?;
    let s = until(&hana, &roster_id, "publication", |s| {
        s.stage == RosterStage::Published
    })
    .await?;
    let r0 = s.proposal.context("published roster")?;
    eprintln!(
        "demo: roster {roster_id} for ward {} from {} published by head.dev: {}",
        r0.ward,
        r0.start_date,
        figures(&r0)
    );

    // A nurse rostered on days 10 and 11 calls in sick for both.
    let works = |n: &str, d: u32| r0.assignments.iter().any(|a| a.nurse_id == n && a.day == d);
    let sick = r0
        .loads
        .iter()
        .map(|l| l.nurse_id.clone())
        .find(|n| works(n, 10) && works(n, 11))
        .context("a nurse rostered on days 10 and 11")?;
    let change = RosterChange::SickCall {
        nurse_id: sick.clone(),
        first_day: 10,
        last_day: 11,
    };
    nia.report_roster_event(&roster_id, &change).await?;
    let s = until(&nia, &roster_id, "the re-roster's proposal", |s| {
        s.revision == 1 && s.stage == RosterStage::AwaitingApproval && s.task_id.is_some()
    })
    .await?;
    let r1 = s.proposal.context("re-roster proposal")?;
    let task = s.task_id.context("re-roster task")?;
    let decision = DecisionRequest {
        approve: true,
        reason: "Cover for the sick call agreed with the nurses moved".into(),
        bed_id: None,
        password: super::DEMO_PASSWORD.into(),
    };
    noor.decide(&task, &decision).await?;
    until(&nia, &roster_id, "the re-roster's publication", |s| {
        s.revision == 1 && s.stage == RosterStage::Published
    })
    .await?;
    eprintln!(
        "demo: sick call ({sick} off days 10-11) re-rostered days {:?} and published by nic.noor: \
         {} cells changed, {}",
        r1.replanned_days,
        r1.changes.len(),
        figures(&r1)
    );
    for c in &r1.changes {
        eprintln!(
            "  {} day {}: {} -> {}",
            c.nurse_id,
            c.day,
            c.from_shift.as_deref().unwrap_or("off"),
            c.to_shift.as_deref().unwrap_or("off")
        );
    }
    Ok(())
}
