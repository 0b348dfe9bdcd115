//! CT/MRI scanner bookings: each revision of a booking run as proposed (with the
//! decision step and input snapshot that made it), its booking (by a person, or by
//! careflow within policy) or rejection, the booked scans with the no-show probability
//! each was given, the attendance recorded per booked scan, and the withdrawal of an
//! open proposal when the run's workflow is cancelled.
//!
//! Every change is audited in the transaction that makes it. [`no_show_outcomes`]
//! returns predicted probability beside what happened, so the no-show model can be
//! validated on real outcomes.

use sqlx::Row;

use careflow_types::{
    AttendanceReport, NewAuditEntry, NoShowOutcome, Role, ScanConclusion, ScannerBookingProposal,
    ScannerBookingRecord,
};

use crate::audit;
use crate::db::{now, Db};
use crate::decisions::NewDecisionStep;
use crate::error::{Error, Result};
use crate::proposals::{self, Conclusion, Kind, Proposed, Stored};

/// The scanner bookings' table. A booked revision supersedes nothing: each run books
/// its own requests.
pub(crate) const KIND: Kind = Kind {
    table: "scanner_bookings",
    id_column: "booking_id",
    noun: "scanner booking",
    action: "scanner_booking",
    period: &["week_start"],
    concluded: "booked",
    supersedes: false,
};

/// The proposal stored for `booking_id` at `revision`, if a step stored one.
pub async fn stored_proposal(
    db: &Db,
    booking_id: &str,
    revision: u32,
) -> Result<Option<ScannerBookingProposal>> {
    proposals::stored(db, &KIND, booking_id, revision).await
}

/// Stores a proposed revision (or an infeasible one, when it names conflicts) together
/// with the decision step that made it and its input snapshot, audited, in one
/// transaction. The first proposal stored for a revision is the answer: a second
/// attempt's is dropped and the stored one returned.
pub async fn store_proposal(
    db: &Db,
    workflow_id: &str,
    requested_by: &str,
    proposal: &ScannerBookingProposal,
    step: &NewDecisionStep,
) -> Result<ScannerBookingProposal> {
    let revision = proposal.revision;
    let infeasible = proposal.is_infeasible();
    let summary = if infeasible {
        proposal.conflicts.join("; ")
    } else {
        format!(
            "revision {revision}: {} scans booked, {} overbooked slot(s), {} deadline(s) missed, \
             {} waiting for a later week, expected overtime {:.2} slots ({}){}",
            proposal.booked.len(),
            proposal.overbooked_slots,
            proposal.breaches.len(),
            proposal.waiting.len(),
            proposal.expected_overtime_slots,
            proposal.solver_status,
            if proposal.needs_approval() {
                format!("; beyond policy: {}", proposal.over_policy.join("; "))
            } else {
                "; within policy".to_owned()
            }
        )
    };
    let row = Proposed {
        workflow_id,
        requested_by,
        id: &proposal.booking_id,
        revision,
        period: &[&proposal.week_start],
        days: proposal.days,
        infeasible,
        solver_status: &proposal.solver_status,
        objective: proposal.objective,
        summary,
    };
    proposals::store(db, &KIND, row, proposal, step).await
}

/// Books a proposed revision (its scans stored with the no-show probability each was
/// given) or marks it rejected, audited with the proposal's digest: a person's decision
/// by who, in which role and why; a booking within policy as careflow's own decision
/// with the reason "within policy". A revision already concluded is left as it is (an
/// earlier attempt of the same step).
pub async fn conclude(
    db: &Db,
    workflow_id: &str,
    booking_id: &str,
    revision: u32,
    conclusion: &ScanConclusion,
) -> Result<()> {
    // Booked within policy, the stated reason is both the stored and the audited one.
    let within_policy;
    let c = match conclusion {
        ScanConclusion::Decided(d) => Conclusion {
            approve: d.approve,
            actor: &d.actor,
            role: d.role.as_str(),
            reason: &d.reason,
            audit_reason: format!(
                "revision {revision} {} by {} ({}): {}",
                if d.approve { "approved" } else { "rejected" },
                d.actor,
                d.role,
                d.reason
            ),
            meaning: None,
        },
        ScanConclusion::WithinPolicy { reason } => {
            within_policy = format!("within policy: {reason}");
            Conclusion {
                approve: true,
                actor: "careflow",
                role: "system",
                reason: &within_policy,
                audit_reason: within_policy.clone(),
                meaning: Some("system decision: booked without approval, within policy".into()),
            }
        }
    };
    let book = c.approve;
    let mut tx = db.begin_write().await?;
    let Some(proposal_json) = proposals::conclude_in(
        &mut tx,
        db.digest_key(),
        &KIND,
        workflow_id,
        booking_id,
        revision,
        c,
    )
    .await?
    else {
        return Ok(());
    };
    if book {
        let proposal: ScannerBookingProposal =
            serde_json::from_str(&proposal_json).map_err(|e| {
                Error::Corrupt(format!(
                    "scanner booking {booking_id} revision {revision}: {e}"
                ))
            })?;
        for b in &proposal.booked {
            sqlx::query(
                "INSERT INTO scan_appointments (booking_id, request_id, revision, workflow_id, \
                 patient_key, modality, urgency, scanner_id, day, start_slot, overbooked, \
                 no_show_probability, model_name, model_version, model_sha256) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)",
            )
            .bind(booking_id)
            .bind(&b.request_id)
            .bind(i64::from(revision))
            .bind(workflow_id)
            .bind(&b.patient_key)
            .bind(b.modality.as_str())
            .bind(b.urgency.as_str())
            .bind(&b.scanner_id)
            .bind(i64::from(b.day))
            .bind(i64::from(b.start_slot))
            .bind(i64::from(u8::from(b.overbooked)))
            .bind(b.no_show_probability)
            .bind(&proposal.no_show.model_name)
            .bind(&proposal.no_show.model_version)
            .bind(&proposal.no_show.model_sha256)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The run's workflow was cancelled: its open proposal is withdrawn (`cancelled`) and
/// its open approval tasks closed, audited once. Scans already booked stay booked.
pub async fn withdraw(db: &Db, workflow_id: &str, reason: &str) -> Result<()> {
    proposals::withdraw(db, &KIND, workflow_id, reason).await
}

/// Who may record attendance: the imaging department's managers.
pub const ATTENDANCE_ROLE: Role = Role::ImagingManager;

/// Records whether a booked patient came, audited with who recorded it and in which
/// role. The recorder must be a user holding [`ATTENDANCE_ROLE`] (checked here, against
/// the users table, whatever the caller checked). Recording the same outcome again (a
/// retried step) changes nothing; a different outcome for a booking already recorded,
/// or a request that is not booked, is refused.
pub async fn record_attendance(
    db: &Db,
    workflow_id: &str,
    booking_id: &str,
    report: &AttendanceReport,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let holder: Option<String> = sqlx::query("SELECT role FROM users WHERE user_name = $1")
        .bind(&report.recorded_by)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()?;
    if holder.as_deref() != Some(ATTENDANCE_ROLE.as_str()) {
        return Err(Error::Forbidden(format!(
            "{} may not record scan attendance: it takes a user holding role {ATTENDANCE_ROLE}",
            report.recorded_by
        )));
    }
    let row = sqlx::query(
        "SELECT attendance FROM scan_appointments WHERE booking_id = $1 AND request_id = $2",
    )
    .bind(booking_id)
    .bind(&report.request_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        Error::NotFound(format!(
            "booked scan {} of booking {booking_id}",
            report.request_id
        ))
    })?;
    match row.try_get::<Option<String>, _>("attendance")? {
        Some(done) if done == report.outcome.as_str() => return Ok(()),
        Some(done) => {
            return Err(Error::Conflict(format!(
                "attendance of request {} is already recorded as {done}",
                report.request_id
            )))
        }
        None => {}
    }
    sqlx::query(
        "UPDATE scan_appointments SET attendance = $1, attendance_recorded_by = $2, \
         attendance_recorded_at = $3 WHERE booking_id = $4 AND request_id = $5",
    )
    .bind(report.outcome.as_str())
    .bind(&report.recorded_by)
    .bind(now())
    .bind(booking_id)
    .bind(&report.request_id)
    .execute(&mut *tx)
    .await?;
    // The outcome is the truth of a no-show model's shadow forecast of this scan, if a
    // candidate was in shadow when it was booked.
    sqlx::query(
        "UPDATE shadow_forecasts SET truth = $1 WHERE target_key = $2 AND truth IS NULL \
         AND release_id IN (SELECT release_id FROM model_releases WHERE model_name = $3)",
    )
    .bind(if report.outcome.as_str() == "no_show" {
        1.0
    } else {
        0.0
    })
    .bind(no_show_shadow_key(workflow_id, &report.request_id))
    .bind(NO_SHOW_MODEL)
    .execute(&mut *tx)
    .await?;
    let step = format!("attendance/{}", report.request_id);
    audit::append(
        &mut tx,
        NewAuditEntry {
            actor: report.recorded_by.clone(),
            role: ATTENDANCE_ROLE.as_str().into(),
            action: "scan.attendance_recorded".into(),
            meaning: Some("recorded scan attendance".into()),
            reason: Some(format!(
                "request {}: {}",
                report.request_id,
                report.outcome.as_str()
            )),
            workflow_id: Some(workflow_id.into()),
            input_digest: Some(db.digest(report)),
            output_digest: None,
            idempotency_key: format!("{workflow_id}/{step}"),
            step: Some(step),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The no-show model's registry name (the forecasters crate's `MODEL_NAME`).
const NO_SHOW_MODEL: &str = "scanner-no-show";

/// The shadow target of a request's no-show forecast in a booking workflow: the
/// workflow and the request, so a request id reused in another week is another target.
pub fn no_show_shadow_key(workflow_id: &str, request_id: &str) -> String {
    format!("{workflow_id}/{request_id}")
}

/// Every booked scan whose attendance is recorded, with the probability the model
/// `model_name` gave it: predicted probability beside outcome, oldest booking first.
pub async fn no_show_outcomes(db: &Db, model_name: &str) -> Result<Vec<NoShowOutcome>> {
    let rows = sqlx::query(
        "SELECT booking_id, request_id, modality, no_show_probability, attendance, model_version, \
         model_sha256 FROM scan_appointments WHERE model_name = $1 AND attendance IS NOT NULL \
         ORDER BY attendance_recorded_at, booking_id, request_id",
    )
    .bind(model_name)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(NoShowOutcome {
                booking_id: r.try_get("booking_id")?,
                request_id: r.try_get("request_id")?,
                modality: r.try_get("modality")?,
                predicted: r.try_get("no_show_probability")?,
                no_show: r.try_get::<String, _>("attendance")? == "no_show",
                model_version: r.try_get("model_version")?,
                model_sha256: r.try_get("model_sha256")?,
            })
        })
        .collect()
}

fn record(s: Stored<ScannerBookingProposal>) -> ScannerBookingRecord {
    ScannerBookingRecord {
        booking_id: s.id,
        revision: s.revision,
        workflow_id: s.workflow_id,
        status: s.status,
        requested_by: s.requested_by,
        created_at: s.created_at,
        proposal: s.proposal,
        decided_by: s.decided_by,
        decision_reason: s.decision_reason,
    }
}

/// Every revision of a booking run, oldest first.
pub async fn revisions(db: &Db, booking_id: &str) -> Result<Vec<ScannerBookingRecord>> {
    let rows = proposals::revisions(db, &KIND, booking_id).await?;
    Ok(rows.into_iter().map(record).collect())
}

/// The most recently proposed revisions of all booking runs, newest first (the
/// imaging dashboard).
pub async fn list(db: &Db, limit: i64) -> Result<Vec<ScannerBookingRecord>> {
    let rows = proposals::latest(db, &KIND, limit).await?;
    Ok(rows.into_iter().map(record).collect())
}
