//! The demo's imaging week: one CT and one MRI scanner of the solvers' demo generator,
//! its ~180 requests (emergency and urgent inpatients, routine outpatients), each
//! patient pseudonymised first. The imaging manager ian asks for the booking; the
//! production `scanner-no-show` model and the scanner MILP propose it; within policy it
//! is booked at once, beyond it ivy (another imaging manager) decides. Attendance is
//! then recorded for every booked scan, drawn from the model's own probabilities, and
//! the predicted rate is printed beside the observed one.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use careflow_solvers::scanner_booking as sb;
use careflow_store::{patients, Db};
use careflow_types::{
    AgeGroup, AttendanceReport, DecisionRequest, ScanAttendance, ScanBookingPolicy, ScanModality,
    ScanRequestEntry, ScanUrgency, ScannerClosure, ScannerStage, ScannerWeek, ScannerWeekRequest,
    Sex,
};

use crate::client::ApiClient;

/// Demo users of the imaging department: ian asks for bookings, ivy approves them.
pub const REQUESTER: &str = "imaging.ian";
/// See [`REQUESTER`].
pub const APPROVER: &str = "imaging.ivy";

/// The `scanner-no-show` version the demo site serves.
pub const SERVED_NO_SHOW: &str = "1.0.0";

/// Books the demo's imaging week through the API and prints the measured run.
pub async fn run(db: &Db, requester: &ApiClient, approver: &ApiClient) -> Result<()> {
    let week = demo_week(db, 11).await?;
    let requests = week.requests.len();
    let booking_id = requester
        .create_scanner_booking(&week, None)
        .await?
        .booking_id;
    let started = Instant::now();
    let status = loop {
        let s = requester.scanner_booking(&booking_id).await?;
        match s.stage {
            ScannerStage::AwaitingApproval => {
                if let Some(task) = &s.task_id {
                    let decision = DecisionRequest {
                        approve: true,
                        reason: "Overbooking checked against the week's no-show forecast: book"
                            .into(),
                        bed_id: None,
                        password: super::DEMO_PASSWORD.into(),
                    };
                    // Decided already on an earlier pass.
                    let _ = approver.decide(task, &decision).await;
                }
            }
            ScannerStage::Booked | ScannerStage::Closed => break s,
            ScannerStage::Infeasible | ScannerStage::Rejected | ScannerStage::Cancelled => {
                anyhow::bail!(
                    "demo scanner booking {booking_id} ended {}",
                    s.stage.as_str()
                )
            }
            _ => {}
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(180),
            "scanner booking {booking_id} was not booked within 3 minutes"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let p = status.proposal.context("a booked run has its proposal")?;
    eprintln!(
        "demo: scanner booking {booking_id}: {requests} requests, {} booked ({} overbooked \
         slot(s), expected overtime {:.2} slots), {} waiting for next week, {} missing their \
         deadline; {} (solver {} in {:.2} s, gap {}); no-show probabilities by {} {} \
         (sha256 {}…)",
        p.booked.len(),
        p.overbooked_slots,
        p.expected_overtime_slots,
        p.waiting.len(),
        p.breaches.len(),
        if p.needs_approval() {
            format!("approved by {APPROVER}: {}", p.over_policy.join("; "))
        } else {
            "booked within policy".to_owned()
        },
        p.solver_status,
        p.solve_seconds,
        p.mip_gap
            .map_or_else(|| "unknown".to_owned(), |g| format!("{:.2}%", g * 100.0)),
        p.no_show.model_name,
        p.no_show.model_version,
        &p.no_show.model_sha256[..12.min(p.no_show.model_sha256.len())],
    );

    // The week happens: each booked patient comes or not, as the model expects.
    let mut rng = StdRng::seed_from_u64(12);
    for b in &p.booked {
        let outcome = if rng.random_bool(b.no_show_probability.clamp(0.0, 1.0)) {
            ScanAttendance::NoShow
        } else {
            ScanAttendance::Attended
        };
        let report = AttendanceReport {
            request_id: b.request_id.clone(),
            outcome,
            recorded_by: String::new(),
        };
        approver.record_attendance(&booking_id, &report).await?;
    }
    // The workflow records each report after accepting it: wait until all are stored.
    let started = Instant::now();
    while requester.scanner_booking(&booking_id).await?.stage != ScannerStage::Closed {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "attendance of booking {booking_id} was not all recorded within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let outcomes = approver.no_show_outcomes().await?;
    let n = outcomes.len().max(1) as f64;
    eprintln!(
        "demo: attendance recorded for {} scans: predicted no-show rate {:.3}, observed {:.3}",
        outcomes.len(),
        outcomes.iter().map(|o| o.predicted).sum::<f64>() / n,
        outcomes.iter().filter(|o| o.no_show).count() as f64 / n
    );
    Ok(())
}

/// The solvers' demo week as the hospital would send it: the same scanners and
/// requests, each patient known by a pseudonym, with booking-time facts for the no-show
/// model (outpatients only; urgent work is inpatient).
async fn demo_week(db: &Db, seed: u64) -> Result<ScannerWeekRequest> {
    let generated = sb::generate(seed, 1);
    let mut rng = StdRng::seed_from_u64(seed);
    let modality = |m: sb::Modality| match m {
        sb::Modality::Ct => ScanModality::Ct,
        sb::Modality::Mri => ScanModality::Mri,
    };
    let scanners = generated
        .scanners
        .iter()
        .map(|s| ScannerWeek {
            scanner_id: s.id.clone(),
            modality: modality(s.modality),
            contrast: s.contrast,
            closures: s
                .maintenance
                .iter()
                .map(|m| ScannerClosure {
                    day: m.day,
                    from_slot: m.from_slot,
                    to_slot: m.to_slot,
                })
                .collect(),
            anaesthesia_days: s.anaesthesia_days.clone(),
        })
        .collect();
    let mut requests = Vec::new();
    for r in &generated.requests {
        let age_years = rng.random_range(18..90);
        let age_group = if age_years >= 65 {
            AgeGroup::Elderly
        } else {
            AgeGroup::Adult
        };
        let sex = if rng.random_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        };
        let patient_key =
            patients::pseudonymise(db, &format!("DEMO-SCAN-{}", r.id), sex, age_group).await?;
        requests.push(ScanRequestEntry {
            request_id: r.id.clone(),
            patient_key,
            modality: modality(r.modality),
            urgency: match r.urgency {
                sb::Urgency::Emergency => ScanUrgency::Emergency,
                sb::Urgency::Urgent => ScanUrgency::Urgent,
                sb::Urgency::Routine => ScanUrgency::Routine,
            },
            release_day: r.release_day,
            deadline_day: r.deadline_day,
            slots: r.slots,
            contrast: r.contrast,
            anaesthesia: r.anaesthesia,
            inpatient: r.urgency != sb::Urgency::Routine,
            ordered_days_before: rng.random_range(3..120),
            age_years,
            median_income_usd: rng.random_range(20_000.0..110_000.0),
            commute_miles: rng.random_range(1.0..45.0),
            prior_no_shows: if rng.random_bool(0.15) { 1 } else { 0 },
            reminder_sent: rng.random_bool(0.8),
        });
    }
    Ok(ScannerWeekRequest {
        week_start: (chrono::Utc::now().date_naive() + chrono::Days::new(7))
            .format("%Y-%m-%d")
            .to_string(),
        days: generated.days,
        slots_per_day: generated.slots_per_day,
        scanners,
        requests,
        policy: ScanBookingPolicy::default(),
        solve_seconds: 30,
        seed,
        requested_by: String::new(),
    })
}
