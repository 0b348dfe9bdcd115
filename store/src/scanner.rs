//! CT/MRI scanner bookings: each revision of a booking run as proposed (with the
//! decision step and input snapshot that made it), its booking (by a person, or by
//! careflow within policy) or rejection, the booked scans with the no-show probability
//! each was given, the attendance recorded per booked scan, and the withdrawal of an
//! open proposal when the run's workflow is cancelled.
//!
//! Every change is audited in the transaction that makes it. [`no_show_outcomes`]
//! returns predicted probability beside what happened, so the no-show model can be
//! validated on real outcomes.

use sha2::{Digest, Sha256};
use sqlx::Row;

use careflow_types::{
    AttendanceReport, NewAuditEntry, NoShowOutcome, Role, ScanConclusion, ScannerBookingProposal,
    ScannerBookingRecord,
};

use crate::audit::{self, digest, system_entry};
use crate::db::{now, Db};
use crate::decisions::{self, NewDecisionStep};
use crate::error::{Error, Result};

/// The proposal stored for `booking_id` at `revision`, if a step stored one.
pub async fn stored_proposal(
    db: &Db,
    booking_id: &str,
    revision: u32,
) -> Result<Option<ScannerBookingProposal>> {
    let row = sqlx::query(
        "SELECT proposal_json FROM scanner_bookings WHERE booking_id = $1 AND revision = $2",
    )
    .bind(booking_id)
    .bind(i64::from(revision))
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        proposal_of(
            booking_id,
            revision,
            &r.try_get::<String, _>("proposal_json")?,
        )
    })
    .transpose()
}

fn proposal_of(booking_id: &str, revision: u32, json: &str) -> Result<ScannerBookingProposal> {
    serde_json::from_str(json).map_err(|e| {
        Error::Corrupt(format!(
            "scanner booking {booking_id} revision {revision}: {e}"
        ))
    })
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
    let (booking_id, revision) = (proposal.booking_id.as_str(), proposal.revision);
    let infeasible = proposal.is_infeasible();
    let mut tx = db.begin_write().await?;
    let recorded = decisions::record_in(&mut tx, step).await?;
    sqlx::query(
        "INSERT INTO scanner_bookings (booking_id, revision, workflow_id, week_start, days, status, \
         requested_by, created_at, decision_step, snapshot_sha256, solver_status, objective, proposal_json) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (booking_id, revision) DO NOTHING",
    )
    .bind(booking_id)
    .bind(i64::from(revision))
    .bind(workflow_id)
    .bind(&proposal.week_start)
    .bind(i64::from(proposal.days))
    .bind(if infeasible { "infeasible" } else { "proposed" })
    .bind(requested_by)
    .bind(now())
    .bind(&recorded.step)
    .bind(&recorded.snapshot_sha256)
    .bind(&proposal.solver_status)
    .bind(proposal.objective)
    .bind(serde_json::to_string(proposal).expect("proposal serialises"))
    .execute(&mut *tx)
    .await?;
    let mut entry = system_entry(
        workflow_id,
        &format!("propose/r{revision}"),
        if infeasible {
            "scanner_booking.infeasible"
        } else {
            "scanner_booking.proposed"
        },
    );
    entry.reason = Some(if infeasible {
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
    });
    entry.input_digest = Some(recorded.snapshot_sha256.clone());
    entry.output_digest = Some(digest(proposal));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(stored_proposal(db, booking_id, revision)
        .await?
        .unwrap_or_else(|| proposal.clone()))
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
    let ts = now();
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT status, proposal_json FROM scanner_bookings WHERE booking_id = $1 AND revision = $2",
    )
    .bind(booking_id)
    .bind(i64::from(revision))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("scanner booking {booking_id} revision {revision}")))?;
    let status: String = row.try_get("status")?;
    if status != "proposed" {
        return Ok(());
    }
    let proposal_json: String = row.try_get("proposal_json")?;
    let proposal = proposal_of(booking_id, revision, &proposal_json)?;
    let (book, actor, role, reason) = match conclusion {
        ScanConclusion::Decided(d) => (
            d.approve,
            d.actor.clone(),
            d.role.as_str().to_owned(),
            d.reason.clone(),
        ),
        ScanConclusion::WithinPolicy { reason } => (
            true,
            "careflow".to_owned(),
            "system".to_owned(),
            format!("within policy: {reason}"),
        ),
    };
    sqlx::query(
        "UPDATE scanner_bookings SET status = $1, decided_by = $2, decided_role = $3, decided_at = $4, \
         decision_reason = $5 WHERE booking_id = $6 AND revision = $7",
    )
    .bind(if book { "booked" } else { "rejected" })
    .bind(&actor)
    .bind(&role)
    .bind(&ts)
    .bind(&reason)
    .bind(booking_id)
    .bind(i64::from(revision))
    .execute(&mut *tx)
    .await?;
    if book {
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
    let mut entry = system_entry(
        workflow_id,
        &format!("conclude/r{revision}"),
        if book {
            "scanner_booking.booked"
        } else {
            "scanner_booking.rejected"
        },
    );
    entry.reason = Some(match conclusion {
        ScanConclusion::Decided(d) => format!(
            "revision {revision} {} by {} ({}): {}",
            if d.approve { "approved" } else { "rejected" },
            d.actor,
            d.role,
            d.reason
        ),
        ScanConclusion::WithinPolicy { .. } => reason.clone(),
    });
    if matches!(conclusion, ScanConclusion::WithinPolicy { .. }) {
        entry.meaning = Some("system decision: booked without approval, within policy".into());
    }
    entry.output_digest = Some(hex::encode(Sha256::digest(proposal_json.as_bytes())));
    audit::append(&mut tx, entry).await?;
    tx.commit().await?;
    Ok(())
}

/// The run's workflow was cancelled: its open proposal is withdrawn (`cancelled`) and
/// its open approval tasks closed, audited once. Scans already booked stay booked.
pub async fn withdraw(db: &Db, workflow_id: &str, reason: &str) -> Result<()> {
    crate::proposals::withdraw(
        db,
        "scanner_bookings",
        "scanner_booking.withdrawn",
        workflow_id,
        reason,
    )
    .await
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
            input_digest: Some(digest(report)),
            output_digest: None,
            idempotency_key: format!("{workflow_id}/{step}"),
            step: Some(step),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
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

const RECORD_SQL: &str =
    "SELECT booking_id, revision, workflow_id, status, requested_by, created_at, \
                          proposal_json, decided_by, decision_reason FROM scanner_bookings";

fn record(row: &sqlx::any::AnyRow) -> Result<ScannerBookingRecord> {
    let booking_id: String = row.try_get("booking_id")?;
    let revision = row.try_get::<i64, _>("revision")? as u32;
    let proposal = proposal_of(
        &booking_id,
        revision,
        &row.try_get::<String, _>("proposal_json")?,
    )?;
    Ok(ScannerBookingRecord {
        workflow_id: row.try_get("workflow_id")?,
        status: row.try_get("status")?,
        requested_by: row.try_get("requested_by")?,
        created_at: row.try_get("created_at")?,
        proposal,
        decided_by: row.try_get("decided_by")?,
        decision_reason: row.try_get("decision_reason")?,
        booking_id,
        revision,
    })
}

/// Every revision of a booking run, oldest first.
pub async fn revisions(db: &Db, booking_id: &str) -> Result<Vec<ScannerBookingRecord>> {
    let rows = sqlx::query(&format!(
        "{RECORD_SQL} WHERE booking_id = $1 ORDER BY revision"
    ))
    .bind(booking_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(record).collect()
}
