//! The demo's operating-theatre week: next week's elective lists for four theatres over
//! five days, from a waiting list of general, colorectal, orthopaedic, urological and
//! cardiac cases (procedure, surgeon, FSSA urgency category, days waited). One theatre
//! administrator (`theatre.tom`) asks for the lists and reports the day's changes; the
//! other (`theatre.tess`) approves them, since whoever asks does not approve. On
//! Tuesday a patient is cancelled (unwell); on Wednesday an emergency appendicectomy
//! joins the lists, and the re-plan, warm-started from the list in force, goes back to
//! `theatre.tess` when it moves booked patients. Everything goes through the API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::Datelike;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use careflow_store::{patients, Db};
use careflow_types::{
    AgeGroup, DayOfChange, DayOfEvent, DecisionRequest, Role, Sex, SurgeonWeek,
    TheatreListProposal, TheatreSession, TheatreStage, TheatreWeek, TheatreWeekRequest,
    UrgencyCategory, WaitingCase,
};

use crate::client::ApiClient;

/// The `surgery-duration` version the demo site serves (the one committed).
pub(crate) const SERVED_SURGERY_DURATION: &str = "1.0.0";

/// Asks for the lists and reports the day's changes.
pub(crate) const REQUESTER: (&str, Role) = ("theatre.tom", Role::TheatreAdmin);
/// Approves the lists and the re-plans that move booked patients.
pub(crate) const APPROVER: (&str, Role) = ("theatre.tess", Role::TheatreAdmin);

/// Cases on the week's waiting list: about what four theatres' staffed time holds, so
/// a few wait for next week.
const WAITING_CASES: u32 = 60;
/// Solver time limit per revision, seconds.
const SOLVE_SECONDS: u32 = 30;

/// A surgeon of the demo week: the procedures they do, the days they operate, and
/// their share of the waiting list.
struct Surgeon {
    id: &'static str,
    waiting_share: u32,
    specialty: &'static str,
    procedures: &'static [&'static str],
    days: &'static [u32],
}

const SURGEONS: [Surgeon; 10] = [
    Surgeon {
        id: "S01",
        waiting_share: 4,
        specialty: "general_surgery",
        procedures: &[
            "lap_cholecystectomy",
            "inguinal_hernia_repair",
            "lap_appendectomy",
        ],
        days: &[0, 2, 4],
    },
    Surgeon {
        id: "S02",
        waiting_share: 3,
        specialty: "general_surgery",
        procedures: &["lap_cholecystectomy", "inguinal_hernia_repair"],
        days: &[1, 3],
    },
    Surgeon {
        id: "S03",
        waiting_share: 3,
        specialty: "general_surgery",
        procedures: &["inguinal_hernia_repair", "lap_cholecystectomy"],
        days: &[0, 3],
    },
    Surgeon {
        id: "S04",
        waiting_share: 2,
        specialty: "orthopaedics",
        procedures: &["total_knee_arthroplasty", "total_hip_arthroplasty"],
        days: &[0, 2],
    },
    Surgeon {
        id: "S05",
        waiting_share: 3,
        specialty: "orthopaedics",
        procedures: &["total_hip_arthroplasty", "total_knee_arthroplasty"],
        days: &[1, 3, 4],
    },
    Surgeon {
        id: "S06",
        waiting_share: 3,
        specialty: "urology",
        procedures: &["cystoscopy_turbt"],
        days: &[1, 2, 4],
    },
    Surgeon {
        id: "S07",
        waiting_share: 2,
        specialty: "urology",
        procedures: &["cystoscopy_turbt"],
        days: &[0, 3],
    },
    Surgeon {
        id: "S08",
        waiting_share: 1,
        specialty: "cardiac_surgery",
        procedures: &["cabg"],
        days: &[1, 3],
    },
    Surgeon {
        id: "S09",
        waiting_share: 2,
        specialty: "colorectal_surgery",
        procedures: &["colectomy"],
        days: &[0, 2, 4],
    },
    Surgeon {
        id: "S10",
        waiting_share: 2,
        specialty: "general_surgery",
        procedures: &["lap_cholecystectomy", "colectomy"],
        days: &[1, 4],
    },
];

/// What the demo's theatre week measured, for the closing report.
#[derive(Debug)]
struct RevisionFigures {
    revision: u32,
    solver_status: String,
    solve_seconds: f64,
    mip_gap: Option<f64>,
    changes: usize,
    decided_by: String,
}

/// Runs the demo's theatre week against the API at `base`; `close` ends the week when
/// done (the demo exits), otherwise it stays open for people to report events.
pub(crate) async fn run(
    db: &Db,
    base: &str,
    tokens: &BTreeMap<&str, String>,
    seed: u64,
    close: bool,
) -> Result<()> {
    let requester = ApiClient::new(base, tokens[REQUESTER.0].clone());
    let approver = ApiClient::new(base, tokens[APPROVER.0].clone());
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7468_6561_7472_6521);
    let week = waiting_list(db, &mut rng).await?;
    let started = requester.create_theatre_week(&week, None).await?;
    let list_id = started.list_id;
    eprintln!(
        "demo: {} asks for the theatre lists of the week of {} ({} theatres, {} sessions, {} \
         waiting cases, {} surgeons): {list_id}",
        REQUESTER.0,
        week.week_start,
        week.theatres.len(),
        week.theatres
            .iter()
            .map(|t| t.sessions.len())
            .sum::<usize>(),
        week.cases.len(),
        week.surgeons.len()
    );
    let mut figures = Vec::new();
    let r0 = conclude(&approver, &list_id, 0, &mut figures).await?;
    print_list(&r0);

    // Tuesday morning: a patient on Tuesday's list is unwell and cancelled.
    let cancelled = r0
        .booked
        .iter()
        .filter(|b| b.day == 1)
        .max_by_key(|b| b.planned_minutes)
        .context("the list books no case on Tuesday")?;
    let answer = requester
        .report_theatre_event(
            &list_id,
            &DayOfEvent {
                day: 1,
                reported_by: String::new(),
                change: DayOfChange::CaseCancelled {
                    case_id: cancelled.case_id.clone(),
                    reason: "patient unwell at pre-operative check".into(),
                },
            },
        )
        .await?;
    eprintln!("demo: {}: {}", REQUESTER.0, answer.result);
    let r1 = conclude(&approver, &list_id, 1, &mut figures).await?;

    // Wednesday: an emergency appendicectomy for S01, whose Wednesday list is booked.
    let emergency_key =
        patients::pseudonymise(db, "DEMO-EM-000001", Sex::Female, AgeGroup::Adult).await?;
    let answer = requester
        .report_theatre_event(
            &list_id,
            &DayOfEvent {
                day: 2,
                reported_by: String::new(),
                change: DayOfChange::EmergencyCase {
                    case: WaitingCase {
                        case_id: "EM-001".into(),
                        patient_key: emergency_key,
                        procedure: "lap_appendectomy".into(),
                        specialty: "general_surgery".into(),
                        surgeon_id: "S01".into(),
                        category: UrgencyCategory::P1,
                        days_waited: 0,
                        asa_class: 2,
                        bmi_ge_35: false,
                        teaching_case: false,
                        release_day: 2,
                    },
                },
            },
        )
        .await?;
    eprintln!("demo: {}: {}", REQUESTER.0, answer.result);
    let r2 = conclude(&approver, &list_id, 2, &mut figures).await?;
    let em = r2
        .booked
        .iter()
        .find(|b| b.case_id == "EM-001")
        .context("the emergency case is not booked")?;
    eprintln!(
        "demo: emergency case EM-001 booked in {} on day {} at minute {} ({} booked patients \
         moved or deferred against revision {})",
        em.theatre_id,
        em.day,
        em.start_minute,
        r2.changes.len(),
        r1.revision
    );
    for c in r2.changes.iter().take(6) {
        eprintln!(
            "  {} {} day {} -> {}: {}",
            c.case_id,
            c.from_theatre,
            c.from_day,
            match (&c.to_theatre, c.to_day) {
                (Some(t), Some(d)) => format!("{t} day {d}"),
                _ => "deferred".into(),
            },
            c.why
        );
    }
    for f in &figures {
        eprintln!(
            "demo: theatre revision {}: solver {} in {:.2} s, gap {}, {} booked patient(s) \
             moved or deferred, published by {}",
            f.revision,
            f.solver_status,
            f.solve_seconds,
            f.mip_gap
                .map_or_else(|| "unknown".to_owned(), |g| format!("{:.3}%", g * 100.0)),
            f.changes,
            f.decided_by
        );
    }
    if close {
        let closed = approver
            .close_theatre_week(&list_id, "demo week done: lists final")
            .await?;
        eprintln!("demo: {}", closed.result);
    } else {
        eprintln!(
            "demo: theatre week {list_id} stays open: `careflow theatre list {list_id} --as {}`",
            APPROVER.0
        );
    }
    Ok(())
}

/// Waits until revision `revision` is concluded, approving it as the second theatre
/// administrator when it asks for approval; returns the list then in force.
async fn conclude(
    approver: &ApiClient,
    list_id: &str,
    revision: u32,
    figures: &mut Vec<RevisionFigures>,
) -> Result<TheatreListProposal> {
    let started = Instant::now();
    loop {
        let view = approver.theatre_week(list_id).await?;
        if let Some(why) = &view.failure {
            bail!("theatre week {list_id} failed: {why}");
        }
        let status = view.status.context("theatre week without a status")?;
        match (status.stage, status.task_id.as_deref()) {
            (TheatreStage::AwaitingApproval, Some(task)) if status.revision == revision => {
                let p = status
                    .proposal
                    .as_ref()
                    .context("a task without a proposal")?;
                let reason = if revision == 0 {
                    "Lists reviewed at the weekly theatre scheduling meeting: utilisation, \
                     overtime risk and the deferred cases agreed with the surgeons"
                } else {
                    "Re-plan reviewed: the moved patients and their surgeons are told today"
                };
                let outcome = approver
                    .decide(
                        task,
                        &DecisionRequest {
                            approve: true,
                            reason: reason.into(),
                            bed_id: None,
                            password: super::DEMO_PASSWORD.into(),
                        },
                    )
                    .await?;
                eprintln!(
                    "demo: {} approves revision {revision} ({} booked patient(s) moved): {}",
                    APPROVER.0,
                    p.changes.len(),
                    outcome.result
                );
            }
            (TheatreStage::Published, _)
                if status.revision == revision && status.in_force != Some(revision) =>
            {
                // The list in force stays: no list satisfies the changed week.
                let conflicts = status
                    .proposal
                    .map(|p| p.conflicts.join("; "))
                    .unwrap_or_default();
                bail!("theatre week {list_id} revision {revision} is infeasible: {conflicts}");
            }
            (TheatreStage::Published, _) if status.revision == revision => {
                let p = status.proposal.context("a published week without a list")?;
                let lists = approver.theatre_lists(list_id).await?;
                let decided_by = lists
                    .in_force
                    .and_then(|r| r.decided_by)
                    .unwrap_or_else(|| "nobody".into());
                figures.push(RevisionFigures {
                    revision,
                    solver_status: p.solver_status.clone(),
                    solve_seconds: p.solve_seconds,
                    mip_gap: p.mip_gap,
                    changes: p.changes.len(),
                    decided_by,
                });
                return Ok(p);
            }
            (stage @ (TheatreStage::Infeasible | TheatreStage::Rejected), _) => {
                bail!(
                    "theatre week {list_id} revision {revision} ended {}: {}",
                    stage.as_str(),
                    status
                        .proposal
                        .map(|p| p.conflicts.join("; "))
                        .unwrap_or_default()
                );
            }
            _ => {}
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "theatre week {list_id} revision {revision} was not concluded within 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The published list in words: what the approver weighed.
fn print_list(p: &TheatreListProposal) {
    eprintln!(
        "demo: theatre lists for the week of {}: {} cases booked, {} deferred; utilisation {:.0}% \
         (target {:.0}%, {} of {} sessions below); expected overtime {:.0} min; solver {} in \
         {:.1} s; durations from {} {} (sha256 {}…)",
        p.week_start,
        p.booked.len(),
        p.deferred.len(),
        p.utilisation * 100.0,
        p.target_utilisation * 100.0,
        p.sessions_below_target,
        p.sessions.len(),
        p.expected_overtime_minutes,
        p.solver_status,
        p.solve_seconds,
        p.durations.model_name,
        p.durations.model_version,
        &p.durations.model_sha256[..12.min(p.durations.model_sha256.len())],
    );
    for s in &p.sessions {
        eprintln!(
            "  {} day {}: {} cases, {:.0}/{} min expected ({:.0}%), overtime risk {:.0}%",
            s.theatre_id,
            s.day,
            s.cases,
            s.expected_minutes,
            s.staffed_minutes,
            s.utilisation * 100.0,
            s.overtime_probability * 100.0
        );
    }
    for d in &p.deferred {
        eprintln!(
            "  deferred {} ({}, waited {} days{}): {}",
            d.case_id,
            d.category,
            d.days_waited,
            if d.breaches_deadline {
                ", past its deadline"
            } else {
                ""
            },
            d.reason
        );
    }
}

/// Next week's waiting list: the patients come from the hospital's patient
/// administration system, registered under pseudonymous keys (as a waiting-list feed
/// would), and only the keys go into the request.
async fn waiting_list(db: &Db, rng: &mut StdRng) -> Result<TheatreWeekRequest> {
    use UrgencyCategory::*;
    let today = chrono::Utc::now().date_naive();
    // The Monday after today.
    let monday = today + chrono::Days::new(u64::from(7 - today.weekday().num_days_from_monday()));
    // Four theatres: all-day (480-minute) lists, and half-day (240-minute) day-surgery
    // lists where a theatre is shared; no two theatres interchangeable.
    let week_sessions: [(&str, [u32; 5]); 4] = [
        ("TH1", [480, 480, 480, 480, 480]),
        ("TH2", [480, 480, 480, 480, 240]),
        ("TH3", [240, 240, 240, 240, 240]),
        ("TH4", [480, 240, 480, 240, 480]),
    ];
    let theatres = week_sessions
        .into_iter()
        .map(|(id, minutes)| TheatreWeek {
            theatre_id: id.into(),
            sessions: (0..5u32)
                .map(|day| TheatreSession {
                    day,
                    staffed_minutes: minutes[day as usize],
                })
                .collect(),
            max_overtime_minutes: 60,
        })
        .collect();
    let surgeons = SURGEONS
        .iter()
        .map(|s| SurgeonWeek {
            surgeon_id: s.id.into(),
            days: s.days.to_vec(),
            max_minutes_per_day: 540,
        })
        .collect();
    let mut cases = Vec::new();
    for n in 1..=WAITING_CASES {
        let surgeon = pick_surgeon(rng);
        let procedure = surgeon.procedures[rng.random_range(0..surgeon.procedures.len())];
        // About a fifth urgent (P2), the rest routine, some long past 18 weeks.
        let (category, days_waited) = match rng.random_range(0..100) {
            0..20 => (P2, rng.random_range(3..29)),
            20..65 => (P3, rng.random_range(10..88)),
            _ => (P4, rng.random_range(20..150)),
        };
        let sex = if rng.random_bool(0.5) {
            Sex::Female
        } else {
            Sex::Male
        };
        let age_group = if rng.random_bool(0.4) {
            AgeGroup::Elderly
        } else {
            AgeGroup::Adult
        };
        let patient_key =
            patients::pseudonymise(db, &format!("DEMO-WL-{:06}", 200_000 + n), sex, age_group)
                .await?;
        cases.push(WaitingCase {
            case_id: format!("WL-{n:03}"),
            patient_key,
            procedure: procedure.into(),
            specialty: surgeon.specialty.into(),
            surgeon_id: surgeon.id.into(),
            category,
            days_waited,
            asa_class: [1, 2, 2, 2, 3, 3][rng.random_range(0..6)],
            bmi_ge_35: rng.random_bool(0.15),
            teaching_case: rng.random_bool(0.2),
            // A few are still waiting for their pre-assessment results.
            release_day: if rng.random_bool(0.1) {
                rng.random_range(1..3)
            } else {
                0
            },
        });
    }
    Ok(TheatreWeekRequest {
        week_start: monday.format("%Y-%m-%d").to_string(),
        days: 5,
        theatres,
        surgeons,
        cases,
        target_utilisation: 0.85,
        solve_seconds: SOLVE_SECONDS,
        seed: 11,
        // The server records whoever is signed in.
        requested_by: String::new(),
    })
}

/// A surgeon drawn by their share of the waiting list.
fn pick_surgeon(rng: &mut StdRng) -> &'static Surgeon {
    let total: u32 = SURGEONS.iter().map(|s| s.waiting_share).sum();
    let mut pick = rng.random_range(0..total);
    for s in &SURGEONS {
        if pick < s.waiting_share {
            return s;
        }
        pick -= s.waiting_share;
    }
    &SURGEONS[0]
}
